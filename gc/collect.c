#define _GNU_SOURCE
#include "collect.h"
#include "alloc.h"
#include "chunk.h"
#include "lock.h"
#include "mark.h"
#include "options.h"
#include "os.h"
#include "pages.h"
#include "roots.h"
#include "stats.h"
#include "threads.h"
#include "tracking.h"
#include "report.h"
#include "verify.h"
#include "watch.h"

#include <libunwind.h>

static size_t since_last;      /* bytes handed out since the last collection */
static size_t trigger;
static uint64_t ncollections, nminor;
static unsigned markers;
static volatile bool ready;

/* Generational mode: marks survive minor collections (sticky), so the
 * marked objects are the old generation. */
static bool generational;
static bool need_full = true;   /* marks are not (yet) the old generation */
static uint64_t full_live;      /* bytes live after the last full collection */
static uint64_t promoted;       /* bytes marked by minor collections since then */

bool collector_ready(void) { return __atomic_load_n(&ready, __ATOMIC_ACQUIRE); }

static size_t min_trigger(void) { return (size_t)option(OPT_MIN_TRIGGER); }

static void set_trigger(uint64_t live)
{
    size_t t = (size_t)(live * (uint64_t)option(OPT_GROWTH) / 100);
    /* A minor collection's cost grows with the young bytes that survive,
     * not with the heap: it runs every COGC_MIN_TRIGGER bytes. */
    trigger = generational || t < min_trigger() ? min_trigger() : t;
}

int collect_init(void)
{
    markers = (unsigned)option(OPT_MARKERS);
    if (markers == 0)
        markers = os_ncpus();
    if (option(OPT_GENERATIONAL))
        collect_set_generational(true);
    set_trigger(0);
    __atomic_store_n(&ready, true, __ATOMIC_RELEASE);
    return 0;
}

bool collect_set_generational(bool on)
{
    if (on && !watch_enable())
        return false;
    if (on && !generational)
        need_full = true;
    generational = on;
    set_trigger(full_live + promoted);
    return true;
}

bool collect_generational(void) { return generational; }

void collect_set_markers(unsigned n) { markers = n ? n : os_ncpus(); }

void collect_note_allocated(size_t bytes) { since_last += bytes; }

void collect_maybe_locked(void)
{
    if (since_last >= trigger)
        collect_locked(COLLECT_TRIGGER);
}

static const char *reason_name(enum collect_reason why)
{
    switch (why) {
    case COLLECT_EXPLICIT: return "explicit";
    case COLLECT_EXPLICIT_MINOR: return "explicit-minor";
    case COLLECT_TRIGGER: return "allocation";
    case COLLECT_OUT_OF_MEMORY: return "out-of-memory";
    }
    return "?";
}

/* Minor unless: not generational, asked for a full one, the marks are not
 * the old generation, or the survivors promoted since the last full
 * collection have grown the old generation by COGC_GROWTH percent (then
 * the old generation holds enough garbage to be worth a full trace). */
static bool choose_minor(enum collect_reason why)
{
    if (!generational || need_full || why == COLLECT_EXPLICIT || why == COLLECT_OUT_OF_MEMORY)
        return false;
    uint64_t budget = full_live * (uint64_t)option(OPT_GROWTH) / 100;
    if (budget < min_trigger())
        budget = min_trigger();
    return promoted < budget;
}

/* noinline: the context captured here must stay on the stack, untouched,
 * until marking is over; so this frame marks and sweeps itself. */
__attribute__((noinline)) void collect_locked(enum collect_reason why)
{
    bool minor = choose_minor(why);
    struct gc_record rec = {.reason = reason_name(why), .markers = markers, .minor = minor};
    rec.mapped = chunk_mapped_bytes();
    rec.in_use_before = rec.mapped - pages_free_count() * PAGE_SIZE;

    roots_snapshot();
    uint64_t t0 = os_now_ns();
    if (!minor)
        chunk_clear_marks();
    threads_stop_world();
    rec.rescanned = watch_take_dirty();

    /* Our own callee-saved registers, spilled where the stack scan sees them. */
    unw_context_t regs;
    unw_getcontext(&regs);
    mark_begin();
    roots_push();
    threads_push_roots((uintptr_t)&regs);
    alloc_mark_heap_roots();
    if (minor)
        watch_push_dirty();
    uint64_t t1 = os_now_ns();
    rec.live = mark_run(markers);
    rec.mark_ns = os_now_ns() - t1;
    rec.markers = mark_markers_used();
    if (option(OPT_VERIFY)) {
        size_t nroots;
        const struct verify_root *roots = mark_roots(&nroots);
        size_t bad = verify_heap(roots, nroots);
        if (bad)
            report_fatal("COGC_VERIFY: %zu reachable objects were not marked after a %s collection "
                         "(see above)", bad, minor ? "minor" : "full");
    }
    alloc_after_mark();
    watch_update(!minor);
    tracking_at_collection();

    threads_start_world();
    rec.pause_ns = os_now_ns() - t0;
    __asm__ volatile("" : : "m"(regs) : "memory");

    ncollections++;
    since_last = 0;
    if (minor) {
        nminor++;
        promoted += rec.live;
        rec.live = full_live + promoted;   /* what the old generation now holds */
    } else {
        full_live = rec.live;
        promoted = 0;
        need_full = false;
    }
    set_trigger(rec.live);
    pages_set_epoch(ncollections);
    uint64_t after = (uint64_t)option(OPT_RELEASE_AFTER);
    if (ncollections > after)
        pages_release_idle(ncollections - after);
    stats_collection(&rec);
}
