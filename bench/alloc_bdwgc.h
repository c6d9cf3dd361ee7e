/*
 * alloc_bdwgc.h - benchmark allocation shim for the Boehm-Demers-Weiser
 * collector (Debian libgc-dev 8.2.2, pkg-config bdw-gc).
 *
 * Nodes: GC_MALLOC (zeroed, scanned).  Array: GC_MALLOC_ATOMIC.  Dropped
 * trees are left to the collector.
 *
 * Pauses are timed here, with CLOCK_MONOTONIC, from the collector's event
 * callback (GC_set_on_collection_event).  In bdwgc 8.2.2 a collection
 * (GC_EVENT_START .. GC_EVENT_END) is not world-stopped from start to end:
 * it clears mark bits before stopping the world, marks with the world
 * stopped (GC_EVENT_PRE_STOP_WORLD .. GC_EVENT_POST_START_WORLD, sent by a
 * library built with thread support, as Debian's is), then finishes
 * (finalisation, free-list fix-up, queuing blocks for lazy sweeping) with
 * the world running again but with the allocation lock held.  The RESULT
 * line reports the world-stopped interval; the whole START..END interval,
 * which is what the single allocating thread of this benchmark waits for,
 * is printed on a human-readable line too.
 */
#ifndef BENCH_ALLOC_BDWGC_H
#define BENCH_ALLOC_BDWGC_H

#include <string.h>
#include <gc/gc.h>

#include "alloc_common.h"

#define BENCH_SYSTEM "bdwgc"

/* One growable array of durations (ns).  It lives in glibc malloc memory,
 * which bdwgc does not scan, and grows from inside the event callback:
 * allowed, since glibc malloc is not the collector's allocator and this
 * program has no other thread that could hold malloc's lock. */
struct bench_durations {
    uint64_t *v;
    size_t n, cap;
    int overflow;          /* 1 if a duration could not be stored */
};

static struct bench_durations bench_stw;      /* world stopped */
static struct bench_durations bench_gcs;      /* START .. END */
static uint64_t bench_stw_t0, bench_gc_t0;
static int bench_in_stw, bench_in_gc;
static GC_word bench_gc_no0;

static inline void bench_durations_add(struct bench_durations *d, uint64_t ns)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 1024;
        uint64_t *v = realloc(d->v, cap * sizeof *v);
        if (v == NULL) {
            d->overflow = 1;
            return;
        }
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = ns;
}

static void GC_CALLBACK bench_on_gc_event(GC_EventType ev)
{
    uint64_t now = bench_now_ns();

    switch (ev) {
    case GC_EVENT_START:
        bench_gc_t0 = now;
        bench_in_gc = 1;
        break;
    case GC_EVENT_END:
        if (bench_in_gc)
            bench_durations_add(&bench_gcs, now - bench_gc_t0);
        bench_in_gc = 0;
        break;
    case GC_EVENT_PRE_STOP_WORLD:
        bench_stw_t0 = now;
        bench_in_stw = 1;
        break;
    case GC_EVENT_POST_START_WORLD:
        if (bench_in_stw)
            bench_durations_add(&bench_stw, now - bench_stw_t0);
        bench_in_stw = 0;
        break;
    default:
        break;
    }
}

static inline void bench_init(void)
{
    GC_INIT();
    /* A single-threaded client gets parallel marking in bdwgc 8.2 only if
     * it asks for it; cogc marks in parallel by default, so ask.  GC_MARKERS=1
     * in the environment gives the single-marker collector. */
    GC_start_mark_threads();
    bench_gc_no0 = GC_get_gc_no();
    GC_set_on_collection_event(bench_on_gc_event);
}

BENCH_GC_ALLOCATORS(GC_MALLOC, GC_MALLOC_ATOMIC)

static int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sort d and give its maximum and nearest-rank p99, in ms. */
static inline void bench_durations_summary(struct bench_durations *d,
                                           double *max_ms, double *p99_ms)
{
    qsort(d->v, d->n, sizeof *d->v, bench_cmp_u64);
    *max_ms = d->v[d->n - 1] / 1e6;
    *p99_ms = bench_nearest_rank(d->v, d->n, 99) / 1e6;
}

static inline void bench_report(struct bench_report *r)
{
    double gmax = 0.0, gp99 = 0.0;
    GC_word gc_no;
    struct GC_prof_stats_s ps;

    /* Stop recording before summarising (GC_set_on_collection_event takes
     * the allocation lock, so no callback runs concurrently with us). */
    GC_set_on_collection_event(0);
    gc_no = GC_get_gc_no();
    memset(&ps, 0, sizeof ps);
    (void)GC_get_prof_stats(&ps, sizeof ps);

    r->have_collections = 1;
    r->collections = (uint64_t)(gc_no - bench_gc_no0);
    r->have_pauses = bench_stw.n > 0;
    r->max_pause_ms = r->p99_pause_ms = 0.0;
    if (bench_stw.n > 0)
        bench_durations_summary(&bench_stw, &r->max_pause_ms, &r->p99_pause_ms);
    if (bench_gcs.n > 0)
        bench_durations_summary(&bench_gcs, &gmax, &gp99);

    printf("bdwgc: collections %llu, world-stopped intervals %zu "
           "(max %.3f ms, p99 %.3f ms), whole collections %zu "
           "(max %.3f ms, p99 %.3f ms), heap %llu KiB, marker threads %d\n",
           (unsigned long long)r->collections, bench_stw.n,
           r->max_pause_ms, r->p99_pause_ms, bench_gcs.n, gmax, gp99,
           (unsigned long long)(ps.heapsize_full / 1024),
           (int)ps.markers_m1 + 1);
    if (bench_stw.overflow || bench_gcs.overflow)
        printf("bdwgc: warning: some pauses were not recorded (out of memory)\n");
    if (bench_stw.n != r->collections)
        printf("bdwgc: note: %zu world-stopped intervals for %llu collections\n",
               bench_stw.n, (unsigned long long)r->collections);
}

#endif /* BENCH_ALLOC_BDWGC_H */
