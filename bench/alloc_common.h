/*
 * alloc_common.h - what every allocation shim of the benchmarks shares.
 *
 * A shim (alloc_cogc.h, alloc_bdwgc.h, alloc_malloc.h) defines, as static
 * inline functions with identical signatures:
 *
 *   void  bench_init(void);               start the allocator
 *   void *bench_alloc_node(size_t n);     zeroed memory scanned for pointers
 *   void *bench_alloc_atomic(size_t n);   memory never scanned (contents
 *                                         undefined)
 *   int   bench_free_tree_allowed(void);  1: the program must free what it
 *                                         drops (bench_free); 0: it just
 *                                         drops references (a collector)
 *   void  bench_free(void *p);            explicit free (no-op for GCs)
 *   void  bench_report(struct bench_report *r);
 *                                         collector statistics at the end
 *
 * and the macro BENCH_SYSTEM, the system's name in the RESULT line.
 * Allocation failure is fatal: bench_out_of_memory() exits with status 3.
 */
#ifndef BENCH_ALLOC_COMMON_H
#define BENCH_ALLOC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct bench_report {
    int      have_collections;   /* 0: "NA" in the RESULT line */
    uint64_t collections;
    int      have_pauses;        /* 0: "NA" for both pause fields */
    double   max_pause_ms;
    double   p99_pause_ms;
};

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_out_of_memory(size_t n)
{
    fprintf(stderr, "gcbench: allocation of %zu bytes failed\n", n);
    exit(3);
}

/* Nearest-rank percentile (0 < pct <= 100) of v[0..n-1], which must be
 * sorted in ascending order; n > 0.  Rank = ceil(pct/100 * n). */
static inline uint64_t bench_nearest_rank(const uint64_t *v, size_t n,
                                          unsigned pct)
{
    size_t rank = (n * pct + 99) / 100;   /* ceil(n * pct / 100) */
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/* The allocation half of a collector's shim: nodes from `scanned`,
 * pointer-free arrays from `atomic`, nothing freed explicitly. */
#define BENCH_GC_ALLOCATORS(scanned, atomic)                                   \
    static inline void *bench_alloc_node(size_t n)                             \
    {                                                                          \
        void *p = scanned(n);                                                  \
        if (p == NULL)                                                         \
            bench_out_of_memory(n);                                            \
        return p;                                                              \
    }                                                                          \
    static inline void *bench_alloc_atomic(size_t n)                           \
    {                                                                          \
        void *p = atomic(n);                                                   \
        if (p == NULL)                                                         \
            bench_out_of_memory(n);                                            \
        return p;                                                              \
    }                                                                          \
    static inline int bench_free_tree_allowed(void) { return 0; }              \
    static inline void bench_free(void *p) { (void)p; }

#endif /* BENCH_ALLOC_COMMON_H */
