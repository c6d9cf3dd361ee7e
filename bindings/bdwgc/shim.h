/* What the files of the bdwgc binding share. */
#ifndef COGC_BDWGC_SHIM_H
#define COGC_BDWGC_SHIM_H

#define GC_BUILD 1
#define GC_NO_THREAD_REDIRECTS 1
#include "gc/gc.h"
#include "gc/gc_inline.h"
#include "gc/gc_mark.h"
#include "gc/gc_typed.h"
#include "gc/javaxfc.h"
#include <cogc.h>

extern int shim_ready;
/* compat.c: the program's GC_set_on_collection_event procedure. */
void shim_collection_event(void);
void shim_init(void);
static inline void shim_ensure(void)
{
    if (__builtin_expect(!__atomic_load_n(&shim_ready, __ATOMIC_ACQUIRE), 0))
        shim_init();
}

/* p, or what the out-of-memory function makes of a failed request. */
static inline void *shim_result(void *p, size_t lb)
{
    if (__builtin_expect(p != NULL, 1))
        return p;
    return GC_oom_fn ? GC_oom_fn(lb) : NULL;
}

#endif
