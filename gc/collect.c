#define _GNU_SOURCE
#include "collect.h"
#include "aging.h"
#include "debug.h"
#include "finalize.h"
#include "alloc.h"
#include "bookmark.h"
#include "chunk.h"
#include "lock.h"
#include "mark.h"
#include "nursery.h"
#include "options.h"
#include "os.h"
#include "pages.h"
#include "pressure.h"
#include "roots.h"
#include "stats.h"
#include "threads.h"
#include "tracking.h"
#include "report.h"
#include "verify.h"
#include "watch.h"
#include "block.h"
#include "incremental.h"
#include "regs.h"

static size_t since_last;      /* bytes handed out since the last collection */
static size_t used_since, freed_since;   /* taken by the program / freed explicitly, since */
static size_t since_full;      /* ... between the last full collection and the last one */
static size_t trigger;
static size_t paced_at;         /* since_last at the last paced marking step */
static uint64_t ncollections, nminor;
static unsigned markers;
static bool markers_chosen;      /* set by COGC_MARKERS / cogc_set_markers, not one per CPU */
static volatile bool ready;
static bool automatic = true;
void (*collect_inspect_fn)(void);

/* Generational mode: marks survive minor collections (sticky), so the
 * marked objects are the old generation. */
static bool generational;
static bool need_full = true;   /* marks are not (yet) the old generation */
static uint64_t full_live;      /* bytes live after the last full collection */
static uint64_t promoted;       /* bytes marked by minor collections since then */
static uint64_t held_back;      /* bytes of unmarked objects the last minor one held back */
static uint64_t held_since_full;   /* of `promoted`: held back, not marked */

bool collector_ready(void) { return __atomic_load_n(&ready, __ATOMIC_ACQUIRE); }

static size_t min_trigger(void) { return (size_t)option(OPT_MIN_TRIGGER); }

/* Young bytes between minor collections: at most COGC_MIN_TRIGGER, shrunk
 * while minor marking takes over a quarter of COGC_PAUSE_TARGET_US (the rest
 * of a pause, and a busy machine's delays, need the rest; a minor collection
 * costs what survives of them: all of it while a program builds a big
 * structure), grown back when they are well under it (nursery.c). */
static size_t nursery;
static size_t nursery_reach_now;    /* nursery_reach: 0 until the first full collection */
static size_t nursery_after_full;   /* sized by a minor collection that asked for a full one */

/* COGC_FREE_SPACE_DIVISOR: heap size (mapped, less what was given back)
 * / divisor, or 0 when off. */
static size_t divisor_floor(void)
{
    size_t divisor = (size_t)option(OPT_FREE_SPACE_DIVISOR);
    if (!divisor)
        return 0;
    return (chunk_mapped_bytes() - pages_released_count() * PAGE_SIZE) / divisor;
}

/* The young generation grows back to COGC_MIN_TRIGGER, or with the
 * free-space divisor to the old generation / divisor: fewer minor
 * collections, each costing what survives (bdwgc spaces its partial
 * collections by its heap).  Not heap / divisor: the heap holds the young
 * generation, which then grew the heap that sized it (Guile's
 * gcbench.scm with libgc.so.1's divisor 2: a 39 MB old generation, a young
 * one of up to 57 MB, 72-100 MB mapped, peak RSS 79 MB against bdwgc's
 * 46; sized by the old generation, 58 MB, with the wall time unchanged). */
static size_t nursery_cap(void)
{
    size_t divisor = (size_t)option(OPT_FREE_SPACE_DIVISOR);
    size_t d = divisor ? (size_t)((full_live + promoted) / divisor) : 0;
    size_t reach = nursery_reach_now > min_trigger() ? nursery_reach_now : min_trigger();
    return d > reach ? d : reach;
}

static void adapt_nursery(uint64_t mark_ns, uint64_t marked)
{
    if (!nursery)
        nursery = min_trigger();
    /* With a backend that reports more than was written (none), a minor
     * pause is the rescan of every watched page: a smaller young
     * generation would only mean more of them. */
    if (!tracking_precise())
        return;
    nursery = nursery_next(&(struct nursery_sample){
        .nursery = nursery,
        .mark_ns = mark_ns,
        .marked = marked,
        .target_ns = (uint64_t)option(OPT_PAUSE_TARGET_US) * 1000,
        .cap = nursery_cap(),
        .base = min_trigger(),
        .aging = aging_on,
    });
}

static void set_trigger(uint64_t live)
{
    size_t t = (size_t)(live * (uint64_t)option(OPT_GROWTH) / 100);
    /* COGC_FREE_SPACE_DIVISOR: while the heap is large for what lives
     * (after a peak), space collections by its size, as bdwgc does. */
    size_t floor = divisor_floor();
    if (floor > t)
        t = floor;
    if (!nursery)
        nursery = min_trigger();
    /* A minor collection's cost grows with the young bytes that survive,
     * not with the heap. */
    trigger = generational ? nursery : t < min_trigger() ? min_trigger() : t;
}

int collect_init(void)
{
    collect_set_markers((unsigned)option(OPT_MARKERS));
    if (option(OPT_GENERATIONAL))
        collect_set_generational(true);
    if (option(OPT_INCREMENTAL))
        incremental_set(true);
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
    aging_set(on && option(OPT_AGING));
    set_trigger(full_live + promoted);
    return true;
}

bool collect_generational(void) { return generational; }

bool collect_set_incremental(bool on)
{
    if (!on && incremental_marking())
        collect_locked(COLLECT_EXPLICIT);   /* finish the cycle first */
    return incremental_set(on);
}

void collect_set_markers(unsigned n)
{
    markers_chosen = n != 0;
    markers = n ? n : os_ncpus();
}

void collect_set_automatic(bool on) { automatic = on; }
void collect_min_trigger_set(void) { nursery_reach_now = 0; }

void collect_note_allocated(size_t bytes) { since_last += bytes; }
void collect_note_net(size_t used, size_t freed)
{
    used_since += used;
    freed_since += freed;
}

/* Allocation since the last collection that was not freed explicitly: all
 * a collection can find dead.  Refills alone would count a program that
 * frees everything (perl) again and again, as its frees wait on other size
 * classes' lists or give back pages for the next large object.  Frees are
 * subtracted from the larger of the bytes refilled and the bytes taken:
 * taking counts the reuse of freed objects that no refill sees (so a loop
 * of malloc and free cannot hide a leak elsewhere), refills count the lists
 * not used yet (so without frees the trigger is what it was). */
static bool trigger_reached(void)
{
    if (since_last < trigger)
        return false;
    size_t handed = since_last > used_since ? since_last : used_since;
    return handed > freed_since && handed - freed_since >= trigger;
}

size_t collect_allocated_since_full(void) { return since_full + since_last; }
size_t collect_promoted_since_full(void) { return generational ? (size_t)promoted : collect_allocated_since_full(); }

int collect_disabled;

/* Bytes the program may allocate while a cycle marks before the final
 * pause is forced: what a stop-the-world full collection would have let it
 * allocate after the last one (no minor collection runs during a cycle;
 * the bytes promoted since may have died, so they do not count). */
static size_t cycle_allowance(void)
{
    size_t t = (size_t)(full_live * (uint64_t)option(OPT_GROWTH) / 100);
    return t < min_trigger() ? min_trigger() : t;
}

void collect_maybe_locked(void)
{
    if (!incremental_marking()) {
        /* A chunk per allocation slow path: what the last cycle's final
         * pause left to disarm. */
        if (watch_refresh_pending())
            watch_refresh(1);
        if (trigger_reached() && !collect_disabled && automatic)
            collect_locked(COLLECT_TRIGGER);
        return;
    }
    /* A cycle runs.  Without a background marker, allocation pays for
     * marking.  With one, it pays too once half the allowance is spent: the
     * program is outrunning the marker (it builds a big structure faster
     * than one thread can trace it), and what is left unmarked would be the
     * final pause's.  If the program outruns the marker by the whole
     * allowance anyway, the final pause comes now. */
    size_t allowance = cycle_allowance();
    bool bg = incremental_background();
    if (((!bg || since_last > allowance / 2) && incremental_paced_step(since_last - paced_at, bg)) ||
        since_last >= allowance)
        collect_locked(COLLECT_TRIGGER);
    paced_at = since_last;
}

static const char *reason_name(enum collect_reason why)
{
    switch (why) {
    case COLLECT_EXPLICIT: return "explicit";
    case COLLECT_EXPLICIT_MINOR: return "explicit-minor";
    case COLLECT_TRIGGER: return "allocation";
    case COLLECT_OUT_OF_MEMORY: return "out-of-memory";
    case COLLECT_CYCLE_DONE: return "marking-done";
    case COLLECT_INSPECT: return "inspect";
    case COLLECT_PRESSURE: return "pressure";
    }
    return "?";
}

/* What minor collections may promote between two full ones: COGC_GROWTH
 * percent of the old generation. */
static uint64_t promotion_budget(void)
{
    uint64_t budget = full_live * (uint64_t)option(OPT_GROWTH) / 100;
    return budget < min_trigger() ? min_trigger() : budget;
}

/* Minor unless: not generational, asked for a full one, the marks are not
 * the old generation, or the survivors promoted since the last full
 * collection have grown the old generation by COGC_GROWTH percent (then
 * the old generation holds enough garbage to be worth a full trace). */
static bool choose_minor(enum collect_reason why)
{
    if (!generational || need_full || why == COLLECT_EXPLICIT || why == COLLECT_OUT_OF_MEMORY ||
        why == COLLECT_INSPECT || why == COLLECT_PRESSURE)
        return false;
    return promoted < promotion_budget();
}

bool collect_would_be_minor(void) { return choose_minor(COLLECT_EXPLICIT_MINOR); }

/* Generational mode, before the heap grows by a chunk: a full collection
 * instead, when what minor collections promoted since the last one could
 * fill that chunk and the program has allocated since then what a
 * stop-the-world collector would have allocated between two full
 * collections of the heap's old generation (so a heap that grows because
 * its old generation lives, GCBench depth 22's long-lived tree, gets full
 * collections only as the heap doubles).  GCBench depth 16: the trees
 * caught half-built by minor collections are promoted and die; the chunk
 * mapped for them instead (1024 first touches, ~5 us each here) cost more
 * than the full collection that frees them. */
bool collect_before_growth(void)
{
    if (!generational || incremental_enabled() || collect_disabled || !automatic ||
        promoted < CHUNK_SIZE || since_last < nursery / 2)
        return false;
    uint64_t old = full_live + promoted;
    if (collect_allocated_since_full() < old * (uint64_t)option(OPT_GROWTH) / 100)
        return false;
    need_full = true;
    collect_locked(COLLECT_TRIGGER);
    return true;
}

/* A minor collection kept most of its young generation (`young` bytes
 * allocated since the last collection) while the old generation is small
 * next to it: the program is building what it keeps (see
 * finish_bookkeeping), and the next collection is full. */
static bool building(uint64_t marked, uint64_t young)
{
    return marked > young / 2 && full_live < 2 * marked;
}

/* Marking less than this is done by one marker: waking helpers and their
 * termination handshake cost more than they save, and on a loaded machine
 * waiting for a helper to be scheduled can cost milliseconds. */
#define PARALLEL_MIN_BYTES ((uint64_t)4 << 20)
static uint64_t last_minor_marked = UINT64_MAX;

static bool may_mark_in_parallel(uint64_t expect) { return expect >= PARALLEL_MIN_BYTES && markers > 1; }

/* Markers for a phase expected to mark `expect` bytes.  Unless the number
 * was chosen, only as many as there are CPUs no other thread wants: a
 * marker's regions wait for it while it is descheduled (mark.c), so on a
 * busy machine extra markers lengthen the pause (docs/bench.md: Guile at
 * load 4-6 on 2 CPUs, max pause 0.72-0.97x bdwgc's with one marker,
 * 1.48-1.84x with two).  Asked in the pause, where the program's own
 * threads are stopped; `awake`: helpers woken for it, running too. */
static unsigned markers_for(uint64_t expect, unsigned awake)
{
    if (!may_mark_in_parallel(expect))
        return 1;
    if (markers_chosen)
        return markers;
    unsigned busy = os_runnable(), ncpus = os_ncpus();
    if (busy <= awake)
        return markers;
    unsigned others = busy - awake - 1;
    unsigned free_cpus = others >= ncpus ? 1 : ncpus - others;
    return free_cpus < markers ? free_cpus : markers;
}

static void verify_marks(enum pause_kind kind)
{
    if (!option(OPT_VERIFY))
        return;
    size_t nroots;
    const struct verify_root *roots = mark_roots(&nroots);
    size_t bad = verify_heap(roots, nroots);
    /* A minor collection pushed only the changed static roots: trace from all. */
    if (kind == PAUSE_MINOR)
        bad += roots_minor_verify();
    if (bad)
        report_fatal("COGC_VERIFY: %zu reachable objects were not marked after a %s collection "
                     "(see above)",
                     bad, kind == PAUSE_MINOR ? "minor" : kind == PAUSE_FULL ? "full" : "incremental");
}

/* Bytes of the heap in blocks (mapped, less its free pages). */
static uint64_t heap_in_use(void) { return chunk_mapped_bytes() - (uint64_t)pages_free_count() * PAGE_SIZE; }

/* The most the heap held in use at the start of a collection, in this
 * full-collection period (since the last full collection) and the one
 * before: what the program filled lately. */
static uint64_t peak_in_use, peak_in_use_before;

static void note_in_use(uint64_t in_use, bool full)
{
    if (full) {
        peak_in_use_before = peak_in_use > in_use ? peak_in_use : in_use;
        peak_in_use = in_use;
    } else if (in_use > peak_in_use) {
        peak_in_use = in_use;
    }
}

/* Free pages the program is about to fill again are not idle, however
 * many collections they waited: up to what the heap held in use lately
 * (what they keep resident, the process had resident then), and no more
 * than the triggers let the heap grow to before the next full collection
 * (the old generation, the promotion budget and a young generation; or
 * what lived and the trigger).  Given back, each costs a first touch when
 * filled again: GCBench depth 16, generational, gave back 2-4 MB between
 * its minor collections and faulted it in again when its last phase
 * promoted half-built trees (500-1700 faults in that phase).  Under
 * COGC_BOOKMARK residency comes first: idle runs go back regardless.  And
 * pages are kept only by the rule that lets a new chunk be faulted in at
 * once (the heap within half the cgroup's limit, the pages within a
 * quarter of the available memory): else the kernel would swap their
 * garbage out and the allocator read it back. */
static size_t headroom_pages(uint64_t live)
{
    if (option(OPT_BOOKMARK))
        return 0;
    uint64_t ceiling = generational ? full_live + promotion_budget() + nursery : live + trigger;
    uint64_t lately = peak_in_use > peak_in_use_before ? peak_in_use : peak_in_use_before;
    if (lately < ceiling)
        ceiling = lately;
    uint64_t in_use = heap_in_use();
    if (ceiling <= in_use)
        return 0;
    uint64_t keep = ceiling - in_use;
    return pressure_may_populate((size_t)keep) ? (size_t)(keep >> PAGE_SHIFT) : 0;
}

/* After every collection, the world running again. */
static void finish_bookkeeping(struct gc_record *rec)
{
    /* A cycle's objects allocated while it marked were born marked. */
    uint64_t born_marked = rec->kind == PAUSE_FINAL ? since_last : 0;
    ncollections++;
    since_full = rec->kind == PAUSE_MINOR ? since_full + since_last : 0;
    since_last = used_since = freed_since = 0;
    rec->marked = rec->live;
    if (rec->kind == PAUSE_MINOR) {
        last_minor_marked = rec->marked;
        nminor++;
        /* Most of the young generation survived, and the old generation
         * is small next to it (rec->building, decided in the pause): the
         * program is building what it keeps, and what the last full
         * collection saw live may be garbage by now
         * (GCBench depth 16: its stretch tree; kept until the next full
         * collection, it made the heap 36 MB against 25 stop-the-world).
         * A full collection then costs about what three minor ones do:
         * the next one is full.  A large old generation (depth 22's
         * long-lived tree, built in minor collections that keep all they
         * see) stays with minor collections.  Such a minor collection
         * sizes the young generation of the minor collections after the
         * full one, not the full one's trigger (GCBench depth 16's stretch
         * tree shrank it, and the full collection came early, before the
         * long-lived tree was built, and a second one after it); left
         * unsized, the next minor collection took the whole young
         * generation again (depth 22 and Guile's gcbench.scm: their two
         * longest pauses). */
        if (rec->building) {
            size_t now = nursery;
            need_full = true;
            adapt_nursery(rec->mark_ns, rec->marked);
            nursery_after_full = nursery;
            nursery = now;
        } else {
            adapt_nursery(rec->mark_ns, rec->marked);
        }
        /* The objects of held blocks wait for a full collection too;
         * aged ones wait for the next minor one. */
        promoted += rec->live - rec->aged + held_back;
        held_since_full += held_back;
        rec->live = full_live + promoted;   /* what the old generation now holds */
    } else {
        uint64_t marked_promoted = promoted - held_since_full;   /* held bytes were dead already */
        struct promotion_sample ps = {
            .reach = nursery_reach_now,
            .base = min_trigger(),
            .promoted = marked_promoted,
            .old_before = full_live + marked_promoted,
            .live_after = rec->live > born_marked ? rec->live - born_marked : 0,
        };
        nursery_reach_now = nursery_reach(&ps);
        full_live = rec->live;
        promoted = held_since_full = 0;
        need_full = false;
        if (nursery_after_full)
            nursery = nursery_after_full;
        nursery_after_full = 0;
        if (nursery_promoted_early(&ps) && nursery < nursery_reach_now)
            nursery = nursery_reach_now;
    }
    set_trigger(rec->live);
    note_in_use(rec->in_use_before, rec->kind != PAUSE_MINOR);
    pages_set_epoch(ncollections);
    uint64_t after = (uint64_t)option(OPT_RELEASE_AFTER);
    /* headroom_pages reads /proc files: only when a run is idle. */
    if (ncollections > after && pages_idle(ncollections - after))
        pages_release_idle(ncollections - after, headroom_pages(rec->live));
    stats_collection(rec);
}

/* Generational mode: a minor collection pushes only the blocks of the
 * static roots written since the last collection, a full one pushes all
 * and brings their copies up to date (gc/roots_minor.c). */
static void prepare_static_roots(void)
{
    if (generational)
        roots_minor_prepare();   /* copies of new ranges, outside the pause */
}

static void push_static_roots(bool minor)
{
    if (minor) {
        roots_push_minor();
    } else if (generational) {
        roots_push_refresh();
    } else {
        roots_push();
        roots_note_unmarked();   /* marks cleared, copies not kept up to date */
    }
}

/* Incremental mode: a minor collection is given up when its pause
 * passes half COGC_PAUSE_TARGET_US while the old generation is under
 * three young ones; the next collection, a young generation later, is a
 * cycle, which marks with the program running.  Such a minor collection
 * keeps a structure the program builds (Guile's gcbench.scm: the first
 * minor collection after its first cycle, 8 MB kept in 4.6-6.4 ms, old
 * generation 1.1-1.5 young ones; the one after the second cycle, the
 * long-lived tree, 2.1).  The bound keeps the cycles few: given up under
 * four young ones, gcbench.scm's late minor collections (old 3.8-4 young
 * ones, a short-lived tree half built) were given up too, each cycle
 * followed by another, and the run took 5 % longer than without giving
 * up (12 interleaved runs); under three, as long (0.72 s).  A large old
 * generation (GCBench depth 22's tree, built by minor collections) would
 * make the cycle cost more than the minor collections it replaces. */
static uint64_t minor_deadline(bool minor, enum collect_reason why, uint64_t t0)
{
    if (!minor || why != COLLECT_TRIGGER || !incremental_enabled() || option(OPT_BOOKMARK) ||
        full_live + promoted >= 3 * since_last)
        return 0;
    return t0 + (uint64_t)option(OPT_PAUSE_TARGET_US) * 1000 / 2;
}

/* The minor collection's marking was given up (world stopped): the marks
 * it set stay until the cycle's start clears them (more marked than
 * before it, which the sweeps until then read safely), the aged objects'
 * are given back, and every block is left to the cycle to arm. */
static void give_up_minor(struct gc_record *rec, uint64_t t0)
{
    mark_abandon();
    aging_abandon_minor();
    watch_defer_to_cycle();
    tracking_at_collection();
    threads_start_world();
    rec->pause_ns = os_now_ns() - t0;
    rec->given_up = true;
}

/* noinline (here and below): the context captured here must stay on the
 * stack, untouched, until marking is over; so this frame marks itself. */
static __attribute__((noinline)) void stop_the_world_collection(bool minor, enum collect_reason why,
                                                              struct gc_record *rec)
{
    roots_snapshot();
    prepare_static_roots();
    /* At most what the last collection kept plus all allocated since. */
    uint64_t expect = minor ? last_minor_marked : full_live + promoted + since_last;
    /* Helpers woken before the stop when every program thread and every
     * helper has a CPU of its own; else once the world is stopped (a
     * helper spinning would keep a thread from answering: mark.c). */
    bool wake = may_mark_in_parallel(expect);
    bool early = wake && threads_count() + markers - 1 <= os_ncpus();
    unsigned awake = mark_prepare_helpers(markers, early);
    uint64_t t0 = os_now_ns();
    if (!minor) {
        chunk_clear_marks();
        aging_forget();
    }
    threads_stop_world();
    if (wake && !early)
        awake = mark_prepare_helpers(markers, true);
    rec->rescanned = watch_take_dirty();
    if (minor)
        aging_before_minor();

    /* Our own callee-saved registers, spilled where the stack scan sees them. */
    struct regs_spill regs;
    regs_spill(&regs);
    mark_begin();
    if (minor)
        mark_track_revived();
    push_static_roots(minor);
    threads_push_roots((uintptr_t)&regs, true);
    alloc_mark_heap_roots(true);
    bookmark_begin_marking();
    if (minor)
        watch_push_dirty();
    uint64_t t1 = os_now_ns();
    mark_set_deadline(minor_deadline(minor, why, t0));
    rec->live = mark_run(markers_for(expect, awake));
    rec->markers = mark_markers_used();
    rec->live = finalize_after_mark(rec->markers, rec->live, minor);
    if (mark_given_up()) {
        give_up_minor(rec, t0);
        regs_keep(&regs);
        return;
    }
    if (minor)
        watch_note_revived();
    /* Finalization marks too (what finalizable objects reach, links'
     * targets): the young generation is sized by all of it (Guile marks
     * most of its survivors through its VM stacks there). */
    rec->mark_ns = os_now_ns() - t1;
    verify_marks(rec->kind);
    debug_after_mark();
    if (why == COLLECT_INSPECT && collect_inspect_fn)
        collect_inspect_fn();
    else
        alloc_after_mark(!minor);
    rec->aged = minor ? aging_after_minor(since_last) : 0;
    rec->building = minor && building(rec->live, since_last);
    /* The next collection is then full (finish_bookkeeping, from the same
     * decision): an incremental cycle's start arms every page outside a
     * pause (not under COGC_BOOKMARK: sending pages out reads their writes
     * from the backend). */
    if (rec->building && incremental_enabled() && !option(OPT_BOOKMARK)) {
        watch_defer_to_cycle();
        held_back = 0;
    } else {
        held_back = watch_update(!minor);
    }
    tracking_at_collection();

    threads_start_world();
    rec->pause_ns = os_now_ns() - t0;
    regs_keep(&regs);
}

/* In a pause of an incremental cycle (its start, a round), after the
 * static roots were pushed: the threads' stacks (from sp for the caller)
 * and the heap's roots pushed, and what they all point to marked now,
 * their words changing once the world runs; then what traced objects'
 * procedures report, left pushed for the concurrent marker.  The threads'
 * free lists stay unmarked: a marked object counts as scanned, and no
 * sweep runs until the cycle ends. */
static void scan_cycle_roots(uintptr_t sp)
{
    threads_push_roots(sp, false);
    alloc_mark_heap_roots(false);
    mark_scan_roots();
    finalize_pretrace();
}

/* The first pause of an incremental cycle: every block swept (lazy
 * sweeping reads marks, which are being rebuilt from here on), marks
 * cleared, the roots scanned; then, with the world running again, every
 * page of a scanned block armed before the first object is scanned. */
static __attribute__((noinline)) void start_cycle(const char *reason)
{
    blocks_sweep_all();
    roots_snapshot();
    prepare_static_roots();
    uint64_t t0 = os_now_ns();
    threads_stop_world();
    watch_take_dirty();   /* stale: the marks are about to be rebuilt */
    chunk_clear_marks();
    aging_forget();
    struct regs_spill regs;
    regs_spill(&regs);
    mark_begin_concurrent();
    bookmark_begin_marking();
    push_static_roots(false);
    scan_cycle_roots((uintptr_t)&regs);
    threads_start_world();
    uint64_t pause = os_now_ns() - t0;
    regs_keep(&regs);
    watch_arm_all();
    since_last = 0;
    stats_pause(PAUSE_START, reason, pause, 0);
    incremental_cycle_started();
}

/* A round of a cycle's marking (incremental.c), the world running and
 * nothing pending: the roots scanned again in a short pause, so that what
 * the program hung from them since (a structure it builds, held by its
 * stack or by what traced objects' procedures report, such as Guile's VM
 * stack) is marked while it runs rather than in the final pause, which
 * still scans them all.  Marking early is safe once every block is armed:
 * the blocks made fresh since the last round are settled first, in the
 * pause, as a traced object's procedure marks what it reports without
 * deferring fresh objects. */
__attribute__((noinline)) void collect_cycle_roots(void)
{
    roots_snapshot();
    uint64_t t0 = os_now_ns();
    threads_stop_world();
    watch_settle_fresh();
    struct regs_spill regs;
    regs_spill(&regs);
    roots_push();
    scan_cycle_roots((uintptr_t)&regs);
    threads_start_world();
    uint64_t pause = os_now_ns() - t0;
    regs_keep(&regs);
    stats_pause(PAUSE_ROUND, "roots", pause, 0);
}

/* The final pause: the deferred objects, the roots, and every marked
 * object on a page written since the cycle started, marked through. */
static __attribute__((noinline)) void finish_cycle(struct gc_record *rec)
{
    incremental_enter_final();
    roots_snapshot();
    mark_prepare_helpers(markers, false);
    uint64_t t0 = os_now_ns();
    threads_stop_world();
    rec->rescanned = watch_take_dirty();
    struct regs_spill regs;
    regs_spill(&regs);
    mark_begin_final();
    roots_push();
    threads_push_roots((uintptr_t)&regs, true);
    alloc_mark_heap_roots(true);
    watch_push_dirty();
    uint64_t t1 = os_now_ns();
    /* Marking done concurrently leaves little: helpers would cost more to
     * wake (and, on a busy machine, to get scheduled) than they save. */
    rec->live = mark_run(markers_for(mark_pending_bytes(), 0));
    rec->markers = mark_markers_used();
    rec->live = finalize_after_mark(rec->markers, rec->live, false);
    rec->mark_ns = os_now_ns() - t1;
    verify_marks(rec->kind);
    debug_after_mark();
    alloc_after_mark(true);
    watch_finish_cycle();
    chunk_unmap_deferred();
    threads_start_world();
    rec->pause_ns = os_now_ns() - t0;
    regs_keep(&regs);
    incremental_cycle_finished();
}

void collect_locked(enum collect_reason why)
{
    uint64_t faults = stats_major_faults();
    struct gc_record rec = {.reason = reason_name(why), .markers = markers};
    rec.mapped = chunk_mapped_bytes();
    rec.in_use_before = heap_in_use();
    if (incremental_marking()) {
        rec.kind = PAUSE_FINAL;
        finish_cycle(&rec);
        if (why == COLLECT_INSPECT) {
            /* The report wants marks of its own, taken now. */
            finish_bookkeeping(&rec);
            collect_locked(why);
            return;
        }
    } else if (why == COLLECT_CYCLE_DONE) {
        return;
    } else {
        bool minor = choose_minor(why);
        if (!minor && incremental_enabled() && (why == COLLECT_TRIGGER || why == COLLECT_PRESSURE)) {
            start_cycle(rec.reason);
            return;
        }
        rec.kind = minor ? PAUSE_MINOR : PAUSE_FULL;
        stop_the_world_collection(minor, why, &rec);
        if (rec.given_up) {
            stats_pause(PAUSE_GIVEN_UP, rec.reason, rec.pause_ns, rec.rescanned);
            need_full = true;
            since_last = 0;
            return;
        }
    }
    finish_bookkeeping(&rec);
    stats_collection_faults(stats_major_faults() - faults);
    pressure_after_collection();
}
