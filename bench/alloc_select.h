/* alloc_select.h - the allocation shim chosen at compile time
 * (alloc_common.h): -DBENCH_USE_COGC, -DBENCH_USE_BDWGC or -DBENCH_USE_MALLOC. */
#ifndef BENCH_ALLOC_SELECT_H
#define BENCH_ALLOC_SELECT_H

#if defined(BENCH_USE_COGC)
#include "alloc_cogc.h"
#elif defined(BENCH_USE_BDWGC)
#include "alloc_bdwgc.h"
#elif defined(BENCH_USE_MALLOC)
#include "alloc_malloc.h"
#else
#error "define one of BENCH_USE_COGC, BENCH_USE_BDWGC, BENCH_USE_MALLOC"
#endif

#endif
