/* The collector's side of memory-pressure notices. */
#define _GNU_SOURCE
#include "pressure.h"
#include "../include/cogc.h"
#include "block.h"
#include "bookmark.h"
#include "chunk.h"
#include "collect.h"
#include "incremental.h"
#include "lock.h"
#include "memcg_fold.h"
#include "notice.h"
#include "options.h"
#include "os.h"
#include "pages.h"
#include "report.h"
#include "stats.h"
#include "threads.h"
#include "watch.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SOURCES 8
#define TICK_MS 1000                      /* budget refresh, timer sources */
#define MIN_GAP_NS (250 * 1000000ull)     /* pressure collections at most this often */

static const struct notice_source *open_src[MAX_SOURCES];
static int open_fd[MAX_SOURCES];
static size_t nopen;
static _Atomic size_t budget;
static uint64_t notices[MAX_SOURCES];     /* heap lock */
static uint64_t pressure_collections, pages_given_back;
static bool bookmarks;                   /* the write watch is on: pages can be sent out */
static uint64_t last_gc_ns;

size_t pressure_budget_rule(uint64_t limit, uint64_t nonheap, uint64_t avail, uint64_t heap_resident)
{
    uint64_t b = UINT64_MAX;
    if (limit)
        b = limit > nonheap ? limit - nonheap : 0;
    if (avail != PRESSURE_UNKNOWN && avail + heap_resident < b)
        b = avail + heap_resident;
    if (b == UINT64_MAX)
        return 0;
    b = b / 10 * 9;
    return b ? (size_t)b : 1;   /* 1: no room at all, still "a budget" */
}

static uint64_t cgroup_limit(void)
{
    struct notice_memcg m;
    return notice_memcg_find(&m) == 0 ? m.limit : 0;
}

static uint64_t resident_bytes(void)
{
    char text[128];
    unsigned long size, rss;
    if (notice_read_file("/proc/self/statm", text, sizeof text) <= 0 || sscanf(text, "%lu %lu", &size, &rss) != 2)
        return 0;
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* MemAvailable of /proc/meminfo in bytes; PRESSURE_UNKNOWN when not readable.  Until 2026-11-28 that was 0, and so
 * was a machine with no memory left: the budget then came out as "none",
 * and the heap unbounded just when memory ran out (the qemu guest's
 * pressure-gcdev test, 4.1 GiB of 4.4 taken outside the heap). */
static uint64_t mem_available(void)
{
    char text[4096];
    if (notice_read_file("/proc/meminfo", text, sizeof text) <= 0 || !strstr(text, "MemAvailable:"))
        return PRESSURE_UNKNOWN;
    return notice_meminfo_bytes(text, "MemAvailable:");
}

/* The heap's pages not given back, out or not: what the program's own
 * allocation makes grow (reading pages back from swap does not). */
static uint64_t heap_footprint(void)
{
    return chunk_mapped_bytes() - (uint64_t)pages_released_count() * PAGE_SIZE;
}

/* The heap's pages in memory as far as the collector knows: not given
 * back, not out (pages listed out but still queued are in memory: counted
 * out, they made the rest of the process look bigger, and the collector
 * send out more, GCBench depth 22 at 290 MiB: 18 MB more). */
static uint64_t heap_in_memory(void)
{
    return heap_footprint() - (bookmark_pages_out - bookmark_pending_pages()) * (uint64_t)PAGE_SIZE;
}

/* Heap lock held. */
static void refresh_budget(void)
{
    uint64_t avail = mem_available();
    uint64_t heap = heap_in_memory();
    uint64_t rss = resident_bytes();
    uint64_t nonheap = rss > heap ? rss - heap : 0;
    atomic_store(&budget, pressure_budget_rule(cgroup_limit(), nonheap, avail, heap));
}

bool pressure_populate_rule(uint64_t limit, uint64_t available, size_t mapped, size_t bytes)
{
    if (limit && mapped + bytes > limit / 2)
        return false;
    return available == PRESSURE_UNKNOWN || bytes <= available / 4;
}

bool pressure_may_populate(size_t bytes)
{
    return pressure_populate_rule(cgroup_limit(), mem_available(), chunk_mapped_bytes(), bytes);
}

size_t pressure_heap_budget(void) { return atomic_load_explicit(&budget, memory_order_relaxed); }

/* Heap lock held, after a collection on a pressure notice: marking read
 * every live page, which the kernel takes for use; left so, reclaim finds
 * no page to take and the cgroup's OOM killer fires although swap has room
 * (GCBench depth 22 at 290 MiB: killed 6 runs of 6 without this, 0 of 6
 * with it).  Not after the budget's collections: cooling the pages the
 * program is using made it fault them back in (2.3 million major faults
 * at 200 MiB instead of 0.4). */
static void cool_heap(void)
{
    for (struct chunk *c = chunk_list(); c; c = c->next)
        os_cold((void *)page_addr(c, c->first), (size_t)(c->npages - c->first) * PAGE_SIZE);
}

/* The heap's resident part: pages sent out do not count (marking does
 * not read them). */
static size_t heap_resident(void) { return chunk_mapped_bytes() - bookmark_pages_out * PAGE_SIZE; }

/* A (full) collection pays only when there is garbage to find: when little
 * was allocated since the last full one, most of the heap is live, and marking it
 * (past the budget, partly swapped out) would only read pages back in.
 * Measured (GCBench depth 22, 200 MiB cgroup): collecting for the budget
 * every budget/8 of allocation with 260 MB live made 22 collections of
 * 1-1.7 s and 1.2 million major faults. */
static bool worth_collecting(void)
{
    if (incremental_enabled())
        return collect_promoted_since_full() >= heap_resident() / 8;
    return collect_allocated_since_full() >= heap_resident() / 4;
}

/* Heap lock held: while the process uses nearly all it may (its cgroup
 * limit, else what it holds plus what is available; keep_within),
 * send the pages written least recently to swap, bookmarked (bookmark.h),
 * rather than leave the choice to the kernel, whose victims the next full
 * collection would read back. */
/* Close to the limit: whatever goes out early the program may read back
 * (GCBench checks its long-lived tree at the end), but past it the kernel
 * picks the victims.  The headroom covers the growth between two checks
 * (a chunk at a time, and what a collection's sweep has not freed yet). */
#define HEADROOM ((uint64_t)24 << 20)
/* When what the program keeps fits (the live bytes of the last collection,
 * what is resident outside the heap, and twice this for a nursery), pages go
 * out only this close to the limit: they would all be read back, and the
 * kernel takes little.  GCBench depth 22 at 290 MiB (260 MiB live): 6.0k
 * major faults with the wide headroom, 1.3k with this (wall 1.2 -> 1.0 s).
 * When it does not fit, the wide one: sending out early is what lets the
 * collector choose the victims (GCBench at 200 MiB: 47k faults wide, 66k
 * narrow; cold-heap at 200 MiB: 3.4 s wide, 4.9 s narrow). */
#define HEADROOM_FITS ((uint64_t)6 << 20)

static uint64_t keep_within(uint64_t rss)
{
    uint64_t limit = cgroup_limit(), room = limit;
    if (!limit) {
        uint64_t avail = mem_available();
        if (avail == PRESSURE_UNKNOWN)
            return UINT64_MAX;   /* nothing to keep within */
        room = avail + rss;
    }
    uint64_t headroom = room / 16 > HEADROOM ? room / 16 : HEADROOM;
    uint64_t heap = heap_in_memory();
    uint64_t nonheap = rss > heap ? rss - heap : 0;
    /* Between the two by how far it does not fit: GCBench at 290 MiB
     * fits but for a few MB of promoted garbage, and the wide headroom
     * there sent 18 MB more of its tree out (4-5k more major faults). */
    uint64_t need = stats_live_bytes() + nonheap + 2 * HEADROOM_FITS;
    if (need <= room)
        headroom = HEADROOM_FITS;
    else if (need - room + HEADROOM_FITS < headroom)
        headroom = need - room + HEADROOM_FITS;
    return room > headroom ? room - headroom : 0;
}

/* Every free page run back to the kernel, whatever its age (they leave
 * the residency source's ranges).  Returns the pages given back. */
static size_t give_back(void)
{
    size_t given = pages_release_idle(UINT64_MAX, 0);
    pages_given_back += given;
    return given;
}

/* Pages an allocating thread writes to swap per call (~5-15 ms here; a
 * chunk's worth took 20-90 ms on a loaded machine, the longest pauses
 * left under pressure, and 256 left the cold-heap workload at 200 MiB
 * with more of the kernel's own victims: 146k major faults against 87k).
 * The rest it lists and cools at once (a list of 1024 pages is ~2 ms),
 * and they go at its next calls or on the notice thread, which looks
 * every PENDING_TICK_MS while any wait. */
#define SEND_STEP 512
#define PENDING_TICK_MS 20

static void evict_cold(bool from_allocator)
{
    if (!bookmarks)
        return;
    static uint64_t footprint_seen;
    uint64_t footprint = heap_footprint();
    bool grew = footprint > footprint_seen;
    footprint_seen = footprint;
    uint64_t t0 = os_now_ns();
    size_t sent = 0;
    if (from_allocator)
        sent = bookmark_send_pending(SEND_STEP, false);
    else
        while (bookmark_send_pending(SIZE_MAX, true))
            sent++;
    /* Queued pages count as gone: cooled, they are the kernel's first
     * victims, and they are on their way out. */
    uint64_t rss = resident_bytes(), keep = keep_within(rss);
    uint64_t queued = (uint64_t)bookmark_pending_pages() * PAGE_SIZE;
    rss = rss > queued ? rss - queued : 0;
    size_t want = 0, listed = 0;
    if (rss <= keep)
        goto done;
    /* Free pages first: left to the kernel, they go to swap and their
     * reuse reads garbage back. */
    if (give_back()) {
        rss = resident_bytes();
        rss = rss > queued ? rss - queued : 0;
        if (rss <= keep)
            goto done;
    }
    /* The notice thread lists nothing new while the heap has not grown
     * since the last look: the process then grew by reading pages back
     * (GCBench's final check of its tree), and the victims the collector
     * would choose, the oldest written, are the pages such a reader has
     * not reached yet; the kernel's reclaim, which sees the reads, takes
     * the ones it has passed.  GCBench depth 22 at 200 MiB: 19k pages
     * were sent out during the check, and read back by it; with this,
     * 45-57k major faults against 50-66k (4 rounds of 3 runs). */
    if (!from_allocator && !grew)
        goto done;
    want = (size_t)((rss - keep) / PAGE_SIZE);
    /* An allocating thread lists at most a chunk's worth per call: it is
     * back at the next growth or collection, and the notice thread does
     * the rest each second. */
    if (from_allocator && want > CHUNK_SIZE / PAGE_SIZE)
        want = CHUNK_SIZE / PAGE_SIZE;
    if (from_allocator) {
        listed = bookmark_list_out(want);
        if (sent < SEND_STEP)
            sent += bookmark_send_pending(SEND_STEP - sent, false);
    } else {
        listed = bookmark_evict(want, true, true);
        sent += listed;
    }
    /* Nothing old enough left to send: the kernel must choose, and with
     * every heap page active (marked, just written) its reclaim finds none
     * and the cgroup's OOM killer fires although swap has room (cold-heap
     * workload at 200 MiB: 2 runs of 3 killed).  At most every MIN_GAP_NS:
     * a walk of the heap's page tables. */
    static uint64_t cooled_ns;
    if (listed < want && os_now_ns() - cooled_ns >= MIN_GAP_NS) {
        cool_heap();
        cooled_ns = os_now_ns();
    }
done:
    if (from_allocator && (sent || listed))
        stats_pause(PAUSE_EVICT, "pressure", os_now_ns() - t0, 0);
    if (option(OPT_STATS) && (want || sent))
        report_line("cogc: bookmark: rss %.1f MB over %.1f MB: %zu of %zu pages listed, %zu sent out, %zu queued, "
                    "in %.1f ms",
                    rss / 1048576.0, keep / 1048576.0, listed, want, sent, bookmark_pending_pages(),
                    (os_now_ns() - t0) / 1e6);
}

/* Synchronously: left to the notice thread, on a loaded machine eviction
 * came late, after the kernel had swapped out pages of its own choosing
 * (GCBench depth 22 at 290 MiB: 26k to 73k major faults from run to run).
 * The kernel would make an allocating thread at the limit reclaim by
 * itself anyway. */
static bool pressure_collecting;
/* The heap's resident bytes when the running cycle first met the budget
 * (or the budget, if more); 0: not yet, or no cycle. */
static size_t cycle_base;

/* A collection for the budget or a notice, then its garbage freed (a full
 * collection frees most of what it finds in whole dead blocks) and given
 * back before anything is sent out: sending live pages out first, and
 * sweeping after, left the garbage resident or read it back from swap to
 * sweep it, at the cgroup's limit (cold-heap workload at 200 MiB: the
 * memcg OOM killer fired in 3 runs of 3). */
/* In incremental mode a pressure collection is a cycle (a stop-the-world
 * full collection of a heap at the limit is all marking: 115-210 ms for
 * GCBench depth 22 at 290 MiB); what follows the collection (the sweep,
 * giving back, sending out) waits for the cycle's end. */
static bool cycle_for_pressure;

static void after_pressure_collection(bool from_allocator)
{
    blocks_sweep_all();
    give_back();
    evict_cold(from_allocator);
}


void pressure_after_collection(void)
{
    cycle_base = 0;
    if (cycle_for_pressure && !incremental_marking()) {
        cycle_for_pressure = false;
        after_pressure_collection(true);
    } else if (!pressure_collecting) {
        evict_cold(true);
    }
}

static void pressure_collection(bool from_allocator)
{
    if (incremental_enabled()) {
        /* A cycle that runs already is left to end by itself: forcing its
         * final pause now would do its marking there. */
        if (incremental_marking())
            return;
        /* The young generation's garbage first: no minor collection runs
         * during the cycle, so all it allocates meanwhile stays, and the
         * room that leaves is what keeps the live data in memory. */
        if (collect_would_be_minor()) {
            pressure_collecting = true;
            collect_locked(COLLECT_EXPLICIT_MINOR);
            pressure_collecting = false;
        }
        collect_locked(COLLECT_PRESSURE);
        cycle_for_pressure = incremental_marking();
        if (cycle_for_pressure)
            return;
    }
    pressure_collecting = true;
    collect_locked(COLLECT_PRESSURE);
    pressure_collecting = false;
    after_pressure_collection(from_allocator);
}

/* Incremental mode: a cycle for the budget starts this far below it, so
 * that it can end before the heap reaches it (no minor collection runs
 * during a cycle: the heap grows by all the program allocates). */
#define EARLY_DIVISOR 8
/* A cycle must end before the heap's resident part passes its budget (or
 * where it was when the cycle first met the budget) by more than this
 * (the room a narrow headroom leaves under the cgroup limit): each growth
 * past the budget, the allocating thread marks its
 * share of what is left (the old generation's size less what was
 * scanned) for the room that is left, the background marker the rest. */
#define OVERSHOOT ((size_t)3 * CHUNK_SIZE)
#define ASSIST_STEP ((size_t)1 << 20)
/* At most this long per assist: concurrent marking is one thread (the
 * assist takes turns with the background marker), ~1-2 GB/s here, so a
 * cycle over a 260 MB heap that met the budget late cannot be finished
 * within the room; the rest of its floating garbage makes the heap grow,
 * and the sending out of cold pages keeps the process within its limit
 * (GCBench depth 22 at 290 MiB: one assist of 170-180 ms without the cap). */
#define ASSIST_MAX_NS (30 * 1000000ull)

/* Heap lock held, a cycle marking, the heap about to grow past its budget:
 * mark a share of what is left, and when nothing is, end the cycle and
 * sweep.  true when the cycle ended (its garbage is free pages now). */
static bool assist_cycle(size_t extra)
{
    uint64_t t0 = os_now_ns();
    size_t live = stats_live_bytes(), scanned = incremental_scanned();
    size_t left = live > scanned ? live - scanned : ASSIST_STEP;
    /* Pages out count: sending the cold ones to swap to make room for what
     * the program allocates during the cycle (no minor collection runs)
     * would leave them out after it, although its garbage is freed (GCBench
     * depth 22 at 200 MiB: pages out ratcheted up from 25k to 49k, and the
     * final check read every one back). */
    size_t resident = (size_t)heap_footprint();
    if (!cycle_base)
        cycle_base = resident > pressure_heap_budget() ? resident : pressure_heap_budget();
    size_t limit = cycle_base + OVERSHOOT;
    size_t room = limit > resident ? limit - resident : 0;
    size_t share = room > extra ? (size_t)((uint64_t)left * extra / room) : SIZE_MAX;
    bool done = false;
    /* Not waiting on the step lock: the background marker can hold it for
     * tens of milliseconds at the limit (its own page faults reclaim). */
    for (size_t marked = 0; !done && marked < share && os_now_ns() - t0 < ASSIST_MAX_NS;) {
        if (!incremental_hold_steps(false)) {
            sched_yield();
            continue;
        }
        incremental_resume_steps();
        done = incremental_paced_step(ASSIST_STEP / 4, false);
        marked += ASSIST_STEP;
    }
    stats_pause(PAUSE_ASSIST, "pressure", os_now_ns() - t0, 0);
    if (!done)
        return false;
    collect_locked(COLLECT_TRIGGER);
    if (incremental_marking())
        return false;
    if (cycle_for_pressure) {
        cycle_for_pressure = false;
        after_pressure_collection(true);
    } else {
        blocks_sweep_all();
    }
    return true;
}

bool pressure_collect_before_growth(size_t extra)
{
    evict_cold(true);
    size_t b = pressure_heap_budget();
    if (!b || collect_disabled)
        return false;
    if (incremental_enabled()) {
        if (incremental_marking())
            return heap_resident() + extra > b && assist_cycle(extra);
        if (heap_resident() + extra + b / EARLY_DIVISOR <= b || !worth_collecting())
            return false;
        if (option(OPT_STATS))
            report_line("cogc: pressure: cycle at heap %.1f MB resident, budget %.1f MB",
                        heap_resident() / 1048576.0, b / 1048576.0);
        pressure_collection(true);
        return false;
    }
    if (heap_resident() + extra <= b || !worth_collecting())
        return false;
    pressure_collection(true);
    return true;
}

/* For the residency source: the heap's pages in use that are not sent
 * out, in runs as long as they go.  Pages given back or sent out leave
 * them, so a drop the source sees within them is the kernel's doing. */
struct run { notice_range_fn fn; void *ctx; uintptr_t lo, hi; };

static void run_add(struct run *r, uintptr_t lo, uintptr_t hi)
{
    if (lo == r->hi) {
        r->hi = hi;
        return;
    }
    if (r->hi > r->lo)
        r->fn(r->ctx, (void *)r->lo, r->hi - r->lo);
    r->lo = lo;
    r->hi = hi;
}

static void ranges(notice_range_fn fn, void *ctx)
{
    struct run r = {fn, ctx, 0, 0};
    heap_lock();
    bool any_out = bookmark_pages_out != 0;
    for (struct chunk *c = chunk_list(); c; c = c->next)
        for (size_t i = c->first; i < c->npages;) {
            const struct page_desc *pd = c->single ? &c->pd[c->first] : &c->pd[i];
            size_t end = c->single ? c->npages : i + (pd->npages ? pd->npages : 1);
            if (end > c->npages)
                end = c->npages;
            if (pd->state == PS_SMALL || pd->state == PS_LARGE)
                for (; i < end; i++)
                    if (!any_out || !bookmark_page_is_out(c, i))
                        run_add(&r, page_addr(c, i), page_addr(c, i) + PAGE_SIZE);
            i = end;
        }
    run_add(&r, 0, 0);
    heap_unlock();
}

/* Heap lock held. */
/* A notice that came when a collection was not worth it stays pending
 * until one is (checked each second): a source may say it only once
 * (cgroup v1's "low" level fires on entering reclaim). */
static bool notice_pending;

static void on_notice(void)
{
    uint64_t now = os_now_ns();
    if ((last_gc_ns && now - last_gc_ns < MIN_GAP_NS) || collect_disabled) {
        notice_pending = true;
        return;
    }
    notice_pending = !worth_collecting();
    if (!notice_pending) {
        pressure_collections++;
        pressure_collection(false);
        cool_heap();
    }
    evict_cold(false);
    give_back();
    refresh_budget();
    last_gc_ns = os_now_ns();
}

static void *notice_main(void *arg)
{
    (void)arg;
    uint64_t last_tick_ns = os_now_ns();
    struct pollfd p[MAX_SOURCES];
    for (;;) {
        size_t np = 0;
        for (size_t i = 0; i < nopen; i++)
            if (open_fd[i] >= 0)
                p[np++] = (struct pollfd){.fd = open_fd[i], .events = open_src[i]->events};
        heap_lock();
        bool queued = bookmark_pending_pages() != 0;
        heap_unlock();
        int r = poll(p, np, queued ? PENDING_TICK_MS : TICK_MS);
        if (r == 0 && queued) {
            heap_lock();
            while (bookmark_send_pending(SIZE_MAX, true))
                ;
            heap_unlock();
            /* the sources' ticks stay once a second */
            if (os_now_ns() - last_tick_ns < (uint64_t)TICK_MS * 1000000)
                continue;
        }
        bool tick = r == 0;
        if (tick)
            last_tick_ns = os_now_ns();
        for (size_t i = 0, k = 0; i < nopen; i++) {
            bool fired;
            if (open_fd[i] >= 0)
                fired = r > 0 && (p[k++].revents & (open_src[i]->events | POLLERR));
            else
                fired = tick && open_src[i] != NULL;
            if (!fired)
                continue;
            long n = open_src[i]->check();
            if (n < 0) {
                report_warn("COGC_BOOKMARK: notice source %s failed; closed", open_src[i]->name);
                open_src[i]->close();
                open_src[i] = NULL;   /* keeps the index of the others */
                open_fd[i] = -1;
                continue;
            }
            if (n > 0) {
                heap_lock();
                notices[i] += 1;
                on_notice();
                heap_unlock();
            }
        }
        if (tick) {
            heap_lock();
            refresh_budget();
            if (notice_pending)
                on_notice();
            else
                evict_cold(false);
            heap_unlock();
        }
    }
    return NULL;
}

static bool started;

/* COGC_NOTICES, when every name in it is a source's; NULL: every source. */
static const char *wanted_sources(void)
{
    const char *list = option_string(OPT_NOTICES);
    char bad[64], names[128];
    if (!list || notice_list_check(list, bad, sizeof bad) == 0)
        return list;
    size_t n = 0;
    for (size_t i = 0; notice_sources[i] && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s, ", notice_sources[i]->name);
    report_warn("COGC_NOTICES=\"%s\": \"%s\" is not a notice source (%snone); ignored, every available source is opened",
                list, bad, names);
    return NULL;
}

/* Opens every available source (or those COGC_NOTICES names) and starts
 * the notice thread. */
static void start(void)
{
    struct notice_config cfg = {.psi_stall_us = 150000, .psi_window_us = 1000000, .period_ms = TICK_MS,
                                .ranges = ranges};
    nopen = 0;
    const char *list = wanted_sources();
    for (size_t i = 0; notice_sources[i] && nopen < MAX_SOURCES; i++) {
        char why[256] = "";
        const struct notice_source *s = notice_sources[i];
        if (!notice_list_has(list, s->name)) {
            if (option(OPT_STATS))
                report_line("cogc: notice source %s not opened (COGC_NOTICES)", s->name);
            continue;
        }
        int fd = s->probe(why, sizeof why) == 0 ? s->open(&cfg, why, sizeof why) : -1;
        if (fd == -1) {
            if (option(OPT_STATS))
                report_line("cogc: notice source unavailable: %s", why);
            continue;
        }
        open_src[nopen] = s;
        open_fd[nopen] = fd >= 0 ? fd : -1;
        nopen++;
        if (option(OPT_STATS))
            report_line("cogc: notice source %s open", s->name);
    }
    memcg_fold_start();
    pthread_t t;
    if (threads_create_unregistered(&t, notice_main, NULL) != 0)
        report_warn("COGC_BOOKMARK: no notice thread; the heap budget still applies");
    else
        started = true;
}

void pressure_init(void)
{
    if (!option(OPT_BOOKMARK))
        return;
    /* Generational unless said otherwise: minor collections leave the old
     * generation alone, resident or not, so its pages are neither read nor
     * kept hot (GCBench depth 22 at 290 MiB: 12-17k major faults, against
     * 27-49k stop-the-world with the same bookmarks). */
    if (!option_given(OPT_GENERATIONAL))
        collect_set_generational(true);
    if (!option_given(OPT_INCREMENTAL))
        collect_set_incremental(true);
    bookmarks = watch_enable();
    refresh_budget();
    start();
}

void pressure_after_fork_child(void)
{
    if (!started)
        return;
    started = false;
    /* The parent's thread is gone; the descriptors are copies of the
     * parent's (an eventfd would share its events): open our own. */
    for (size_t i = 0; i < nopen; i++)
        if (open_src[i])
            open_src[i]->close();
    last_gc_ns = 0;
    notice_pending = false;
    start();
}

static uint64_t count_of(const char *name)
{
    for (size_t i = 0; i < nopen; i++)
        if (open_src[i] && strcmp(open_src[i]->name, name) == 0)
            return notices[i];
    return 0;
}

void pressure_fill_stats(struct cogc_stats *s)
{
    s->notices_psi = count_of("psi") + count_of("psi-cgroup");
    s->notices_cgroup_v1 = count_of("cgroup-v1");
    s->notices_cgroup_v2 = count_of("cgroup-v2");
    s->notices_residency = count_of("residency");
    s->notices_gcdev = count_of("gcdev");
    s->pressure_collections = pressure_collections;
    s->pages_given_back = pages_given_back;
    s->heap_budget_bytes = pressure_heap_budget();
    s->memcg_stat_folds = memcg_fold_count();
}
