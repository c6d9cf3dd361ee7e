#include "stats.h"
#include "bookmark.h"
#include "alloc.h"
#include "chunk.h"
#include "lock.h"
#include "mark.h"
#include "options.h"
#include "os.h"
#include "pages.h"
#include "pressure.h"
#include "report.h"
#include "threads.h"
#include "tracking.h"
#include "vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

_Atomic uint64_t stat_allocated, stat_freed, stat_reclaimed;

static uint64_t collections, minors, total_pause, max_pause, last_pause, total_mark, last_mark, last_live;
static uint64_t total_rescanned;
static uint64_t collection_faults;

uint64_t stats_major_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_majflt : 0;
}

void stats_collection_faults(uint64_t n) { collection_faults += n; }
static unsigned last_markers;

/* Every pause: its length, its kind, the dirty pages it took. */
static const char *const pause_kind_name[NPAUSE_KINDS] = {"full", "minor", "cycle-start", "cycle-final", "evict",
                                                                 "assist", "cycle-round", "minor-given-up"};
struct pause_rec {
    uint64_t ns;
    uint32_t kind;
    uint32_t rescanned;
};
static uint64_t given_up;
static struct pause_rec *pauses;
static size_t npauses, cap_pauses;

static void record_pause(uint64_t ns, enum pause_kind kind, size_t rescanned)
{
    if (vec_reserve((void **)&pauses, npauses, &cap_pauses, sizeof *pauses))
        pauses[npauses++] = (struct pause_rec){ns, kind, rescanned > UINT32_MAX ? UINT32_MAX : (uint32_t)rescanned};
}

static void sift(uint64_t *a, size_t i, size_t n)
{
    for (;;) {
        size_t l = 2 * i + 1, big = i;
        if (l < n && a[l] > a[big])
            big = l;
        if (l + 1 < n && a[l + 1] > a[big])
            big = l + 1;
        if (big == i)
            return;
        uint64_t t = a[i];
        a[i] = a[big];
        a[big] = t;
        i = big;
    }
}

/* Heap sort: no allocation, so it is safe under the heap lock. */
static void sort_u64(uint64_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t end = n; end-- > 1;) {
        uint64_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift(a, 0, end);
    }
}

uint64_t stats_pause_percentile(unsigned pct)
{
    if (!npauses)
        return 0;
    uint64_t *copy = os_map(npauses * sizeof *copy);
    if (!copy)
        return max_pause;
    for (size_t i = 0; i < npauses; i++)
        copy[i] = pauses[i].ns;
    sort_u64(copy, npauses);
    size_t rank = (npauses * pct + 99) / 100;   /* nearest rank, 1-based */
    if (rank < 1)
        rank = 1;
    uint64_t v = copy[rank - 1];
    os_unmap(copy, npauses * sizeof *copy);
    return v;
}

void stats_collection(const struct gc_record *r)
{
    collections++;
    total_pause += r->pause_ns;
    last_pause = r->pause_ns;
    if (r->pause_ns > max_pause)
        max_pause = r->pause_ns;
    total_mark += r->mark_ns;
    last_mark = r->mark_ns;
    last_live = r->live;
    last_markers = r->markers;
    minors += r->kind == PAUSE_MINOR;
    total_rescanned += r->rescanned;
    enum pause_kind kind = r->kind;
    record_pause(r->pause_ns, kind, r->rescanned);
    if (option(OPT_STATS))
        report_line("cogc: gc %llu kind=%s reason=%s pause_ms=%.3f mark_ms=%.3f heap_before_mb=%.1f "
                    "heap_after_mb=%.1f marked_mb=%.1f mapped_mb=%.1f markers=%u dirty_pages=%zu aged_mb=%.1f",
                    (unsigned long long)collections, pause_kind_name[kind], r->reason, r->pause_ns / 1e6,
                    r->mark_ns / 1e6, r->in_use_before / 1048576.0, r->live / 1048576.0,
                    r->marked / 1048576.0, r->mapped / 1048576.0, r->markers, r->rescanned,
                    r->aged / 1048576.0);
}

void stats_pause(enum pause_kind kind, const char *reason, uint64_t ns, size_t rescanned)
{
    total_pause += ns;
    last_pause = ns;
    if (ns > max_pause)
        max_pause = ns;
    total_rescanned += rescanned;
    given_up += kind == PAUSE_GIVEN_UP;
    record_pause(ns, kind, rescanned);
    if (option(OPT_STATS))
        report_line("cogc: pause kind=%s reason=%s pause_ms=%.3f", pause_kind_name[kind], reason, ns / 1e6);
}

void stats_fill(struct cogc_stats *s)
{
    memset(s, 0, sizeof *s);
    heap_lock();
    s->collections = collections;
    s->pauses = npauses;
    s->minor_collections = minors;
    s->minors_given_up = given_up;
    s->dirty_pages_rescanned = total_rescanned;
    s->collection_major_faults = collection_faults;
    pressure_fill_stats(s);
    bookmark_fill_stats(s);
    s->heap_bytes = chunk_mapped_bytes();
    s->heap_free_bytes = pages_free_count() * PAGE_SIZE;
    s->released_bytes = pages_released_count() * PAGE_SIZE;
    s->live_bytes = last_live;
    s->total_pause_ns = total_pause;
    s->max_pause_ns = max_pause;
    s->last_pause_ns = last_pause;
    s->p50_pause_ns = stats_pause_percentile(50);
    s->p99_pause_ns = stats_pause_percentile(99);
    s->total_mark_ns = total_mark;
    s->last_mark_ns = last_mark;
    s->markers = last_markers;
    s->blacklisted_pages = mark_blacklisted();
    s->threads = threads_count();
    snprintf(s->dirty_backend, sizeof s->dirty_backend, "%s", tracking_backend_name());
    alloc_flush_counts(&tl_state);   /* this thread's frees; others' count from their next refill */
    heap_unlock();
    s->allocated_bytes = atomic_load(&stat_allocated);
    s->freed_bytes = atomic_load(&stat_freed);
    s->reclaimed_bytes = atomic_load(&stat_reclaimed);
}

/* Pause counts by duration, for the exit report. */
static void histogram(void)
{
    static const double upper_ms[] = {0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1e30};
    enum { NB = sizeof upper_ms / sizeof upper_ms[0] };
    size_t count[NPAUSE_KINDS][NB] = {{0}};
    heap_lock();
    for (size_t i = 0; i < npauses; i++) {
        size_t b = 0;
        while (pauses[i].ns / 1e6 > upper_ms[b])
            b++;
        count[pauses[i].kind][b]++;
    }
    heap_unlock();
    for (int k = 0; k < NPAUSE_KINDS; k++) {
        char line[512];
        int n = snprintf(line, sizeof line, "cogc: pause histogram kind=%s (ms)", pause_kind_name[k]);
        size_t total = 0;
        for (size_t b = 0; b < NB && n > 0 && (size_t)n < sizeof line; b++) {
            total += count[k][b];
            if (count[k][b])
                n += b + 1 < NB ? snprintf(line + n, sizeof line - (size_t)n, " <=%g:%zu", upper_ms[b], count[k][b])
                                : snprintf(line + n, sizeof line - (size_t)n, " >%g:%zu", upper_ms[b - 1],
                                           count[k][b]);
        }
        if (total)
            report_line("%s", line);
    }
}

static void summary(void)
{
    struct cogc_stats s;
    stats_fill(&s);
    histogram();
    report_line("cogc: summary backend=%s collections=%llu minor=%llu minors_given_up=%llu dirty_pages=%llu total_pause_ms=%.3f max_pause_ms=%.3f p50_pause_ms=%.3f "
                "p99_pause_ms=%.3f heap_mb=%.1f allocated_mb=%.1f freed_mb=%.1f reclaimed_mb=%.1f gc_major_faults=%llu "
                "notices_psi=%llu notices_cgv1=%llu notices_cgv2=%llu notices_residency=%llu pressure_collections=%llu "
                "pages_given_back=%llu heap_budget_mb=%.1f pages_evicted=%llu pages_out=%llu bookmarks=%llu memcg_folds=%llu",
                s.dirty_backend, (unsigned long long)s.collections, (unsigned long long)s.minor_collections,
                (unsigned long long)s.minors_given_up, (unsigned long long)s.dirty_pages_rescanned, s.total_pause_ns / 1e6, s.max_pause_ns / 1e6,
                s.p50_pause_ns / 1e6, s.p99_pause_ns / 1e6, s.heap_bytes / 1048576.0,
                s.allocated_bytes / 1048576.0, s.freed_bytes / 1048576.0, s.reclaimed_bytes / 1048576.0,
                (unsigned long long)s.collection_major_faults, (unsigned long long)s.notices_psi,
                (unsigned long long)s.notices_cgroup_v1, (unsigned long long)s.notices_cgroup_v2,
                (unsigned long long)s.notices_residency, (unsigned long long)s.pressure_collections,
                (unsigned long long)s.pages_given_back, s.heap_budget_bytes / 1048576.0,
                (unsigned long long)s.pages_evicted, (unsigned long long)s.pages_out,
                (unsigned long long)s.bookmarks_set, (unsigned long long)s.memcg_stat_folds);
}

uint64_t stats_live_bytes(void) { return last_live; }

void stats_init(void)
{
    if (option(OPT_STATS))
        atexit(summary);
}
