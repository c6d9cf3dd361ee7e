/*
 * alloc_malloc.h - benchmark allocation shim for glibc malloc.
 *
 * Nodes come from calloc (zeroed, like the collectors' scanned objects),
 * the array from malloc.  Nothing is collected: the benchmark frees every
 * tree explicitly once it is done with it (bench_free_tree_allowed() == 1).
 * There are no collections or pauses to report.
 */
#ifndef BENCH_ALLOC_MALLOC_H
#define BENCH_ALLOC_MALLOC_H

#include "alloc_common.h"

#define BENCH_SYSTEM "malloc"

static inline void bench_init(void)
{
}

static inline void *bench_alloc_node(size_t n)
{
    void *p = calloc(1, n);
    if (p == NULL)
        bench_out_of_memory(n);
    return p;
}

static inline void *bench_alloc_atomic(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        bench_out_of_memory(n);
    return p;
}

static inline int bench_free_tree_allowed(void)
{
    return 1;
}

static inline void bench_free(void *p)
{
    free(p);
}

static inline void bench_report(struct bench_report *r)
{
    r->have_collections = 0;
    r->collections = 0;
    r->have_pauses = 0;
    r->max_pause_ms = 0.0;
    r->p99_pause_ms = 0.0;
}

#endif /* BENCH_ALLOC_MALLOC_H */
