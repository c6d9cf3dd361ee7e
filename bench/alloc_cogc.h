/*
 * alloc_cogc.h - benchmark allocation shim for cogc.
 *
 * Nodes: cogc_malloc (zeroed, scanned).  Array: cogc_malloc_atomic.
 * Dropped trees are left to the collector.  Collections and pauses come
 * from cogc_get_stats (the collector times its own stop-the-world pauses).
 */
#ifndef BENCH_ALLOC_COGC_H
#define BENCH_ALLOC_COGC_H

#include <errno.h>
#include <string.h>

#include "cogc.h"
#include "alloc_common.h"

#define BENCH_SYSTEM "cogc"

static inline void bench_init(void)
{
    if (cogc_init() != 0) {
        fprintf(stderr, "gcbench: cogc_init failed: %s\n", strerror(errno));
        exit(2);
    }
}

BENCH_GC_ALLOCATORS(cogc_malloc, cogc_malloc_atomic)

static inline void bench_report(struct bench_report *r)
{
    struct cogc_stats s;

    memset(&s, 0, sizeof s);
    if (cogc_get_stats(&s, sizeof s) != 0) {
        fprintf(stderr, "gcbench: cogc_get_stats failed: %s\n", strerror(errno));
        r->have_collections = 0;
        r->have_pauses = 0;
        return;
    }
    r->have_collections = 1;
    r->collections = s.collections;
    r->have_pauses = s.collections > 0;
    r->max_pause_ms = s.max_pause_ns / 1e6;
    r->p99_pause_ms = s.p99_pause_ns / 1e6;

    printf("cogc: collections %llu, pauses total %.3f ms (max %.3f ms, "
           "p50 %.3f ms, p99 %.3f ms), marking total %.3f ms, "
           "heap %llu KiB (%llu KiB free, %llu KiB released), "
           "live %llu KiB, markers %u, dirty backend \"%.*s\"\n",
           (unsigned long long)s.collections, s.total_pause_ns / 1e6,
           s.max_pause_ns / 1e6, s.p50_pause_ns / 1e6, s.p99_pause_ns / 1e6,
           s.total_mark_ns / 1e6,
           (unsigned long long)(s.heap_bytes / 1024),
           (unsigned long long)(s.heap_free_bytes / 1024),
           (unsigned long long)(s.released_bytes / 1024),
           (unsigned long long)(s.live_bytes / 1024), s.markers,
           (int)sizeof s.dirty_backend, s.dirty_backend);
}

#endif /* BENCH_ALLOC_COGC_H */
