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

#include <libunwind.h>

static size_t since_last;      /* bytes handed out since the last collection */
static size_t trigger;
static uint64_t ncollections;
static unsigned markers;
static volatile bool ready;
static bool automatic = true;
void (*collect_inspect_fn)(void);

bool collector_ready(void) { return __atomic_load_n(&ready, __ATOMIC_ACQUIRE); }

static void set_trigger(uint64_t live)
{
    size_t min = (size_t)option(OPT_MIN_TRIGGER);
    size_t t = (size_t)(live * (uint64_t)option(OPT_GROWTH) / 100);
    trigger = t > min ? t : min;
}

int collect_init(void)
{
    markers = (unsigned)option(OPT_MARKERS);
    if (markers == 0)
        markers = os_ncpus();
    set_trigger(0);
    __atomic_store_n(&ready, true, __ATOMIC_RELEASE);
    return 0;
}

void collect_set_markers(unsigned n) { markers = n ? n : os_ncpus(); }

void collect_set_automatic(bool on) { automatic = on; }

void collect_note_allocated(size_t bytes) { since_last += bytes; }

void collect_maybe_locked(void)
{
    if (since_last >= trigger && automatic)
        collect_locked(COLLECT_TRIGGER);
}

static const char *reason_name(enum collect_reason why)
{
    switch (why) {
    case COLLECT_EXPLICIT: return "explicit";
    case COLLECT_TRIGGER: return "allocation";
    case COLLECT_OUT_OF_MEMORY: return "out-of-memory";
    case COLLECT_INSPECT: return "inspect";
    }
    return "?";
}

/* noinline: the context captured here must stay on the stack, untouched,
 * until marking is over; so this frame marks and sweeps itself. */
__attribute__((noinline)) void collect_locked(enum collect_reason why)
{
    struct gc_record rec = {.reason = reason_name(why), .markers = markers};
    rec.mapped = chunk_mapped_bytes();
    rec.in_use_before = rec.mapped - pages_free_count() * PAGE_SIZE;

    roots_snapshot();
    chunk_clear_marks();
    uint64_t t0 = os_now_ns();
    threads_stop_world();

    /* Our own callee-saved registers, spilled where the stack scan sees them. */
    unw_context_t regs;
    unw_getcontext(&regs);
    mark_begin();
    roots_push();
    threads_push_roots((uintptr_t)&regs);
    alloc_mark_heap_roots();
    uint64_t t1 = os_now_ns();
    rec.live = mark_run(markers);
    rec.mark_ns = os_now_ns() - t1;
    rec.markers = mark_markers_used();
    if (option(OPT_VERIFY)) {
        size_t nroots;
        const struct verify_root *roots = mark_roots(&nroots);
        size_t bad = verify_heap(roots, nroots);
        if (bad)
            report_fatal("COGC_VERIFY: %zu reachable objects were not marked (see above)", bad);
    }
    if (why == COLLECT_INSPECT && collect_inspect_fn)
        collect_inspect_fn();
    else
        alloc_after_mark();
    tracking_at_collection();

    threads_start_world();
    rec.pause_ns = os_now_ns() - t0;
    __asm__ volatile("" : : "m"(regs) : "memory");

    ncollections++;
    since_last = 0;
    set_trigger(rec.live);
    pages_set_epoch(ncollections);
    uint64_t after = (uint64_t)option(OPT_RELEASE_AFTER);
    if (ncollections > after)
        pages_release_idle(ncollections - after);
    stats_collection(&rec);
}
