#define _GNU_SOURCE
#include "mark.h"
#include "object.h"
#include "alloc.h"
#include "bookmark.h"
#include "chunk.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "sizeclass.h"
#include "threads.h"
#include "vec.h"
#include "vg.h"

#include <atomic_ops.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

/*
 * Parallel marking without atomic operations on the mark bitmap: every
 * 256 KiB region of the heap has an owner marker, and only the owner sets
 * its mark bits, with plain stores.  A marker that finds a pointer into
 * another marker's region appends the object to a packet for that owner,
 * and sends the packet to the owner's inbox when it is full, when another
 * marker is idle, or when it runs out of work.  Regions are dealt to owners
 * by a hash of their address, so a structure allocated contiguously is
 * split between markers and crosses owners only at region boundaries.
 * Scanning work itself is shared freely: an idle marker takes a packet of
 * ranges that a busy one gave away.
 */

#define MAX_MARKERS 64
#define PACKET_N 255
#define POOL_PACKETS ((size_t)1 << 20)
#define SPLIT_BYTES 4096   /* big objects are scanned in pieces, so they can be shared */
#define ATOMIC_TAG 1       /* in an inbox entry's lo: mark, but do not scan */

struct entry { uintptr_t lo, hi; };

struct packet {
    uint32_t next;          /* pool index + 1 of the next packet in a stack; 0 ends */
    uint32_t n;
    struct entry e[PACKET_N];
};

struct marker {
    struct entry *stack;
    size_t top, cap;
    uint64_t live;
    uint64_t black;
    unsigned id;
    bool overflowed;
    bool defer_fresh;           /* concurrent phase: objects of fresh blocks are deferred */
    bool revived_lost;          /* a push to `revived` failed */
    struct {
        struct page_desc **v;
        size_t n, cap;
    } revived;                  /* see mark_track_revived */
    int64_t out[MAX_MARKERS];   /* packet being filled for each owner, or -1 */
    volatile AO_t inbox;        /* packets of objects this marker must mark */
} __attribute__((aligned(64)));

static struct marker markers[MAX_MARKERS];
static unsigned nactive;

/* Packets live in one reserved array; a stack head is (tag << 32 | index+1),
 * the tag defeating ABA on the lock-free pop. */
static struct packet *pool;
static volatile AO_t pool_used, full_head, empty_head;
static volatile AO_t idle, activity, done;
/* mark_set_deadline: past it (0: none), the first marker to see so sets
 * `give_up`, and every marker leaves its work where it is, for the rest
 * of the phase. */
static uint64_t deadline;
static volatile AO_t give_up;

static int interior;
static bool track_revived;

/* Root ranges of this phase, kept to be rescanned after an overflow. */
static struct {
    struct entry *v;
    size_t n, cap;
} roots_log;

/* ---- packet stacks ------------------------------------------------- */

static void stack_push(volatile AO_t *head, uint32_t idx)
{
    AO_t old, new;
    do {
        old = AO_load_acquire(head);
        /* Atomic only for TSan's sake: a stale read is caught by the tag. */
        __atomic_store_n(&pool[idx].next, (uint32_t)old, __ATOMIC_RELAXED);
        new = (((old >> 32) + 1) << 32) | (idx + 1);
    } while (!AO_compare_and_swap_full(head, old, new));
}

static int64_t stack_pop(volatile AO_t *head)
{
    AO_t old, new;
    uint32_t idx;
    do {
        old = AO_load_acquire(head);
        if (!(uint32_t)old)
            return -1;
        idx = (uint32_t)old - 1;
        new = (((old >> 32) + 1) << 32) | __atomic_load_n(&pool[idx].next, __ATOMIC_RELAXED);
    } while (!AO_compare_and_swap_full(head, old, new));
    return idx;
}

static bool stack_empty(volatile AO_t *head) { return !(uint32_t)AO_load_acquire(head); }

static int64_t packet_get(void)
{
    int64_t idx = stack_pop(&empty_head);
    if (idx >= 0)
        return idx;
    AO_t n = AO_fetch_and_add1(&pool_used);
    if (n >= POOL_PACKETS) {
        AO_fetch_and_sub1(&pool_used);
        return -1;
    }
    return (int64_t)n;
}

/* ---- mark stacks --------------------------------------------------- */

static bool stack_grow(struct marker *m)
{
    size_t max = (size_t)option(OPT_MARK_STACK_MAX);
    if (m->cap >= max)
        return false;
    size_t ncap = m->cap ? m->cap * 2 : 4096;
    if (ncap > max)
        ncap = max;
    struct entry *s = os_map(ncap * sizeof *s);
    if (!s)
        return false;
    if (m->stack) {
        memcpy(s, m->stack, m->top * sizeof *s);
        os_unmap(m->stack, m->cap * sizeof *s);
    }
    m->stack = s;
    m->cap = ncap;
    return true;
}

static inline void push(struct marker *m, uintptr_t lo, uintptr_t hi)
{
    if (unlikely(m->top == m->cap) && !stack_grow(m)) {
        /* The object is marked but not scanned: found again by the rescan. */
        m->overflowed = true;
        return;
    }
    m->stack[m->top++] = (struct entry){lo, hi};
}

/* ---- marking ----------------------------------------------------------- */

/* Set obj's bit in a chunk this marker owns (or while no other marker runs). */
static inline void mark_owned(struct marker *m, struct chunk *c, uintptr_t obj, size_t size, bool scanned)
{
    size_t bit = (obj - (uintptr_t)c) >> GRANULE_SHIFT;
    uint64_t w = atomic_load_explicit(&c->mark[bit >> 6], memory_order_relaxed);
    uint64_t b = (uint64_t)1 << (bit & 63);
    if (w & b)
        return;
    atomic_store_explicit(&c->mark[bit >> 6], w | b, memory_order_relaxed);
    m->live += size;
    if (scanned)
        push(m, obj, obj + size);
}

static void send(struct marker *m, unsigned owner, uintptr_t obj, size_t size, bool scanned)
{
    int64_t idx = m->out[owner];
    if (idx < 0) {
        idx = packet_get();
        if (idx < 0) {
            /* No packet left: drop it and recover by a full rescan. */
            m->overflowed = true;
            return;
        }
        pool[idx].n = 0;
        m->out[owner] = idx;
    }
    struct packet *pk = &pool[idx];
    pk->e[pk->n++] = (struct entry){obj | (scanned ? 0 : ATOMIC_TAG), obj + size};
    if (pk->n == PACKET_N) {
        stack_push(&markers[owner].inbox, (uint32_t)idx);
        m->out[owner] = -1;
    }
}

static void flush_sends(struct marker *m)
{
    for (unsigned o = 0; o < nactive; o++) {
        int64_t idx = m->out[o];
        if (idx < 0)
            continue;
        m->out[o] = -1;
        if (pool[idx].n)
            stack_push(&markers[o].inbox, (uint32_t)idx);
        else
            stack_push(&empty_head, (uint32_t)idx);
    }
}

static bool take_inbox(struct marker *m)
{
    int64_t idx = stack_pop(&m->inbox);
    if (idx < 0)
        return false;
    struct packet *pk = &pool[idx];
    for (uint32_t k = 0; k < pk->n; k++) {
        uintptr_t obj = pk->e[k].lo & ~(uintptr_t)ATOMIC_TAG;
        mark_owned(m, chunk_slot(obj), obj, pk->e[k].hi - obj,
                   !(pk->e[k].lo & ATOMIC_TAG));
    }
    stack_push(&empty_head, (uint32_t)idx);
    return true;
}

#define REGION_SHIFT 18

/* The marker that owns obj's mark bits in this phase.  A region is at
 * least one word of the mark bitmap, so owners never share a word. */
static inline unsigned owner_of(uintptr_t obj)
{
    uint32_t h = (uint32_t)(obj >> REGION_SHIFT) * 0x9e3779b9u;
    return (unsigned)(((uint64_t)h * nactive) >> 32);
}

/* ---- concurrent marking: objects of fresh blocks ------------------------
 *
 * While the program runs, blocks it takes from free pages are *fresh*: not
 * armed for writes, so a fresh object the concurrent marker scanned could
 * be written behind its back unseen.  The concurrent marker leaves them
 * white and notes the pointer; the final pause marks them (mark.h). */
static struct {
    uintptr_t *v;
    size_t n, cap;
} deferred;
static bool deferred_lost;

static void defer(uintptr_t obj)
{
    if (!VEC_PUSH(deferred, obj))
        deferred_lost = true;   /* recovered by the final pause's full rescan */
}

/* Mark obj (and scan it when `scanned`) here if this marker owns its bits,
 * else through its owner's inbox. */
static inline void mark_via_owner(struct marker *m, struct chunk *c, uintptr_t obj, size_t size, bool scanned)
{
    unsigned owner = owner_of(obj);
    if (owner == m->id) {
        mark_owned(m, c, obj, size, scanned);
        return;
    }
    /* Marked already (its owner's store is seen or not: a bit is only
     * ever set while marking), it needs no packet.  Guile's objects all
     * point to a few shared ones (a record to its vtable): the first minor
     * collection of its gcbench sent 90k objects for 174k marked, 17k
     * with this test, and marked in 4.3-6.6 ms instead of 5-9.8 with two
     * markers. */
    if (bit_test(c->mark, granule_bit(c, obj)))
        return;
    send(m, owner, obj, size, scanned);
}

/* Block pd holds an object about to be marked outside the young
 * generation in a minor collection (mark_track_revived).  Consecutive
 * repeats are dropped; the rest are harmless. */
static COLD void note_revived(struct marker *m, struct page_desc *pd)
{
    if (m->revived.n && m->revived.v[m->revived.n - 1] == pd)
        return;
    if (!VEC_PUSH(m->revived, pd))
        m->revived_lost = true;
}

/* The conservative test.  v may come from anywhere; this reads only the
 * collector's metadata, but is annotated like scan() so it can be inlined
 * into it under a sanitizer too.  always_inline: scan_vg() uses it as well,
 * and scan() must keep its inlined copy (as it had with one caller). */
static inline __attribute__((always_inline)) COGC_SCANS_FOREIGN_MEMORY void mark_word(struct marker *m, uintptr_t v)
{
    struct object_ref o;
    enum object_miss r = object_find(v, interior, &o);
    if (likely(r != OBJ_FOUND)) {
        if (r == OBJ_FREE_PAGE && bit_set_atomic(o.chunk->black, (v - (uintptr_t)o.chunk) >> PAGE_SHIFT))
            m->black++;
        return;
    }
    struct chunk *c = o.chunk;
    struct page_desc *pd = o.block;
    uintptr_t obj = o.start;
    size_t size = o.size;
    bool scanned = pd->kind != KIND_ATOMIC;
    if (unlikely(m->defer_fresh) && scanned && (pd->flags & PF_FRESH)) {
        defer(obj);
        return;
    }
    /* A pointer-free object is only a bit to set: sending it to its
     * region's owner cost more than the owner's plain store saves (Guile's
     * gcbench: a vector filled with fresh flonums made a minor collection
     * with two markers twice as long as with one).  Blocks are whole pages
     * and a bitmap word covers 1 KiB, so no word holds bits of both kinds:
     * atomic objects' words are only ever set with atomic operations, the
     * others' only by their owner. */
    if (!scanned && nactive > 1) {
        if (bit_set_atomic(c->mark, granule_bit(c, obj)))
            m->live += size;
        return;
    }
    if (unlikely(track_revived) && scanned && !(pd->flags & PF_YOUNG) && !bit_test(c->mark, granule_bit(c, obj)))
        note_revived(m, pd);
    mark_via_owner(m, c, obj, size, scanned);
}

/* Under Valgrind: the conservative test branches on every word it reads,
 * and stacks, segments and objects hold words memcheck rightly considers
 * uninitialised (dead stack slots, struct padding).  Stacks also hold
 * words memcheck considers unaddressable: a stopped thread's signal frame
 * sits below the 128-byte red zone of the interrupted code, which memcheck
 * marks inaccessible because it is below that code's stack pointer, and
 * the collector must scan it (a leaf function may keep a pointer there).
 * So the words are copied into a buffer with this thread's error reports
 * off for the copy alone, and only the copy is declared defined: the
 * scanned memory keeps its state, so the program's own uses of it are
 * still checked, and so is the rest of the collector. */
static COLD COGC_SCANS_FOREIGN_MEMORY void scan_vg(struct marker *m, uintptr_t lo, uintptr_t hi)
{
    uintptr_t buf[64];
    for (const uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p < hi;) {
        size_t n = 0;
        VALGRIND_DISABLE_ERROR_REPORTING;
        while (n < sizeof buf / sizeof buf[0] && (uintptr_t)p < hi)
            buf[n++] = *(const volatile uintptr_t *)p++;
        VALGRIND_ENABLE_ERROR_REPORTING;
        VALGRIND_MAKE_MEM_DEFINED(buf, n * sizeof buf[0]);
        for (size_t i = 0; i < n; i++)
            mark_word(m, buf[i]);
    }
}

/* Reads every word of [lo, hi): a stack, a segment, TLS or an object. */
static COGC_SCANS_FOREIGN_MEMORY void scan(struct marker *m, uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t *p = (uintptr_t *)lo; (uintptr_t)p < hi; p++)
        mark_word(m, *p);
}


/* The bookmarked objects on page j of t, for an evicted page that points
 * there.  When t's page is out too, the objects within it are only marked
 * and the page itself is pushed once: scanning it reaches it in turn (and
 * reads nothing), which costs one stack entry instead of one per object. */
static void mark_bookmarked(void *ctx, struct chunk *t, size_t j)
{
    struct marker *m = ctx;
    struct page_desc *pd = page_block(t, j);
    uintptr_t pa = page_addr(t, j), pe = pa + PAGE_SIZE;
    bool out = pd->state == PS_SMALL && bookmark_page_is_out(t, j), any = false;
    uintptr_t base = pd_addr(pd);
    size_t g = granule_bit(t, pa);
    for (size_t w = g / 64; w < (g + GRANULES_PER_PAGE) / 64; w++)
        for (uint64_t bits = t->bookmark[w]; bits; bits &= bits - 1) {
            uintptr_t obj = chunk_base(t) + ((w * 64 + (size_t)__builtin_ctzll(bits)) << GRANULE_SHIFT);
            if (out && obj + pd->objsize <= pe && (obj - base) % pd->objsize == 0) {
                mark_via_owner(m, t, obj, pd->objsize, false);
                any = true;
            } else {
                mark_word(m, obj);
            }
        }
    if (any)
        push(m, pa, pe);
}

/* Scan [lo, hi), leaving out its words on pages the bookmarking layer sent
 * out (reading them would bring the pages back from swap): the objects
 * they point to are bookmarked, and are marked in their stead. */
static COLD void scan_resident(struct marker *m, uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t a = lo; a < hi;) {
        uintptr_t e = (a | (PAGE_SIZE - 1)) + 1;
        if (e > hi)
            e = hi;
        struct chunk *c = chunk_of(a);
        if (c && bookmark_page_is_out(c, page_index(c, a)))
            bookmark_reached(c, page_index(c, a), mark_bookmarked, m);
        else if (unlikely(vg_on))
            scan_vg(m, a, e);
        else
            scan(m, a, e);
        a = e;
    }
}

/* Every scan of a root range or an object goes through here. */
static inline void scan_range(struct marker *m, uintptr_t lo, uintptr_t hi)
{
    if (unlikely(bookmark_pages_out))
        scan_resident(m, lo, hi);
    else if (unlikely(vg_on))
        scan_vg(m, lo, hi);
    else
        scan(m, lo, hi);
}

/* ---- work sharing and termination ---------------------------------- */

static void share(struct marker *m)
{
    int64_t idx = packet_get();
    if (idx < 0)
        return;
    struct packet *pk = &pool[idx];
    /* Give away the oldest half: the biggest pieces of work (tree tops). */
    size_t n = m->top / 2 < PACKET_N ? m->top / 2 : PACKET_N;
    memcpy(pk->e, m->stack, n * sizeof(struct entry));
    pk->n = (uint32_t)n;
    m->top -= n;
    memmove(m->stack, m->stack + n, m->top * sizeof(struct entry));
    stack_push(&full_head, (uint32_t)idx);
}

static bool take_packet(struct marker *m)
{
    int64_t idx = stack_pop(&full_head);
    if (idx < 0)
        return false;
    struct packet *pk = &pool[idx];
    for (uint32_t k = 0; k < pk->n; k++)
        push(m, pk->e[k].lo, pk->e[k].hi);
    stack_push(&empty_head, (uint32_t)idx);
    return true;
}

static bool take_work(struct marker *m) { return take_inbox(m) || take_packet(m); }

static bool queues_empty(void)
{
    if (!stack_empty(&full_head))
        return false;
    for (unsigned i = 0; i < nactive; i++)
        if (!stack_empty(&markers[i].inbox))
            return false;
    return true;
}

/* Every 64 scans a marker reads the clock (28 ns here); every marker
 * then sees `give_up`. */
static bool past_deadline(unsigned scans)
{
    if (!(scans & 63) && os_now_ns() > deadline)
        AO_store(&give_up, 1);
    return AO_load(&give_up) != 0;
}

/* Out of local work: take an inbox packet or a shared one, or end the
 * phase.  Going idle, a marker first sends what it holds for others.  It
 * becomes busy again by decrementing `idle` and then bumping `activity`
 * before it takes anything, so a marker that saw every marker idle, every
 * queue empty, and `activity` unchanged across those reads knows that no
 * work exists anywhere: it declares the phase done. */
static bool find_work(struct marker *m)
{
    if (AO_load(&give_up))
        return false;
    if (take_work(m))
        return true;
    flush_sends(m);
    AO_fetch_and_add1(&idle);
    for (unsigned spins = 0;; spins++) {
        if (!stack_empty(&m->inbox) || !stack_empty(&full_head)) {
            AO_fetch_and_sub1(&idle);
            AO_fetch_and_add1(&activity);
            if (take_work(m))
                return true;
            AO_fetch_and_add1(&idle);
            continue;
        }
        if (AO_load_acquire(&done) || (deadline && past_deadline(0)))
            return false;
        AO_t seen = AO_load_acquire(&activity);
        if (AO_load_acquire(&idle) == nactive && queues_empty() && AO_load_acquire(&activity) == seen) {
            AO_store_release(&done, 1);
            return false;
        }
        if (spins > 64)
            sched_yield();
        else
            __builtin_ia32_pause();
    }
}

/* Popped entries wait in a small queue, prefetched, before they are
 * scanned: a scan's time is mostly the miss on the object's first line,
 * and the queue overlaps PREFETCH_DEPTH of those misses. */
#define PREFETCH_DEPTH 32

/* Marking under Valgrind runs one marker (mark_run), which marks every
 * object itself: no packets, no sharing, no prefetch queue. */
static COLD void drain_vg(struct marker *m)
{
    while (m->top) {
        struct entry e = m->stack[--m->top];
        if (e.hi - e.lo > SPLIT_BYTES) {
            push(m, e.lo + SPLIT_BYTES, e.hi);
            e.hi = e.lo + SPLIT_BYTES;
        }
        scan_range(m, e.lo, e.hi);
    }
}

static void drain(struct marker *m)
{
    if (unlikely(vg_on)) {
        drain_vg(m);
        return;
    }
    struct entry q[PREFETCH_DEPTH];
    unsigned qhead = 0, qlen = 0, scans = 0;
    do {
        while (m->top || qlen) {
            if (m->top && qlen < PREFETCH_DEPTH) {
                struct entry e = m->stack[--m->top];
                __builtin_prefetch((void *)e.lo);
                q[(qhead + qlen++) % PREFETCH_DEPTH] = e;
                continue;
            }
            struct entry e = q[qhead];
            qhead = (qhead + 1) % PREFETCH_DEPTH;
            qlen--;
            if (e.hi - e.lo > SPLIT_BYTES) {
                push(m, e.lo + SPLIT_BYTES, e.hi);
                e.hi = e.lo + SPLIT_BYTES;
            }
            scan_range(m, e.lo, e.hi);
            if (AO_load(&idle)) {
                /* Someone waits: hand over what we hold for others, and
                 * half of our own work. */
                flush_sends(m);
                if (m->top >= 2)
                    share(m);
            }
            if (unlikely(deadline) && past_deadline(++scans))
                return;
        }
    } while (nactive > 1 ? find_work(m) : false);
}

/* ---- helper threads ------------------------------------------------ */

static pthread_t helpers[MAX_MARKERS];
static unsigned nhelpers;
static volatile int phase;          /* bumped to start helpers on a mark phase */
static volatile int helpers_done;
static volatile int ring;           /* bumped before a pause: helpers wake and wait awake */
#define RING_SPIN_NS 1000000        /* how long they wait awake for the phase */

static void *helper_main(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    int seen = 0, rung = 0;
    for (;;) {
        while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) == seen) {
            int r = __atomic_load_n(&ring, __ATOMIC_ACQUIRE);
            if (r != rung) {
                rung = r;
                uint64_t end = os_now_ns() + RING_SPIN_NS;
                while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) == seen && os_now_ns() < end)
                    __builtin_ia32_pause();
                continue;
            }
            os_futex_wait(&phase, seen);
        }
        seen = __atomic_load_n(&phase, __ATOMIC_ACQUIRE);
        if (id < nactive)
            drain(&markers[id]);
        __atomic_add_fetch(&helpers_done, 1, __ATOMIC_RELEASE);
        os_futex_wake(&helpers_done, 1);
    }
    return NULL;
}

static void start_helpers(unsigned want)
{
    while (nhelpers < want) {
        if (threads_create_unregistered(&helpers[nhelpers], helper_main,
                                        (void *)(uintptr_t)(nhelpers + 1)) != 0)
            break;
        nhelpers++;
    }
}

/* Created in the pause, the helpers cost the first parallel one about
 * 1 ms here (GCBench depth 16, generational, first collection, 8 runs
 * each: medians 5.8 ms created inside, 4.9 ms created before).  Woken
 * only when the phase starts, a helper that slept long took as long
 * again on these machines (Guile binary-trees' first minor collection:
 * 0.9-1.3 ms of marking with two markers, 0.23 ms with one); woken
 * earlier, it waits awake (RING_SPIN_NS at most) and the same marking
 * took 0.5-0.7 ms.  But a helper spinning while the program's threads
 * are signalled takes a CPU one of them may need to answer (Guile's first
 * minor collections on two CPUs: the stop took 1.1-1.2 ms, the spin's
 * length, against 0.04-0.19 ms woken after it): the caller wakes them
 * before the stop only when there are CPUs for all (collect.c). */
unsigned mark_prepare_helpers(unsigned n, bool wake)
{
    if (n > MAX_MARKERS)
        n = MAX_MARKERS;
    if (n <= 1 || vg_on)
        return 0;
    start_helpers(n - 1);
    if (!wake)
        return 0;
    __atomic_add_fetch(&ring, 1, __ATOMIC_RELEASE);
    os_futex_wake(&phase, MAX_MARKERS);
    return nhelpers;
}

void mark_after_fork_child(void)
{
    nhelpers = 0;
    phase = 0;
    helpers_done = 0;
}

/* ---- the phase --------------------------------------------------------- */

int mark_init(void)
{
    if (pool)
        return 0;
    pool = os_map_aligned(POOL_PACKETS * sizeof(struct packet), PAGE_SIZE, true);
    for (unsigned i = 0; i < MAX_MARKERS; i++) {
        markers[i].id = i;
        for (unsigned o = 0; o < MAX_MARKERS; o++)
            markers[i].out[o] = -1;
    }
    return pool ? 0 : -1;
}

static unsigned overflows, used;
static uint64_t blacklisted;

void mark_begin(void)
{
    interior = (int)option(OPT_INTERIOR);
    for (unsigned i = 0; i < MAX_MARKERS; i++) {
        markers[i].top = 0;
        markers[i].live = 0;
        markers[i].black = 0;
        markers[i].overflowed = false;
        markers[i].revived.n = 0;
        markers[i].revived_lost = false;
    }
    track_revived = false;
    roots_log.n = 0;
    overflows = 0;
    blacklisted = 0;
    deadline = 0;
    AO_store(&give_up, 0);
}

void mark_push_root_range(uintptr_t lo, uintptr_t hi)
{
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    hi &= ~(uintptr_t)(sizeof(uintptr_t) - 1);
    if (lo >= hi)
        return;
    if (!VEC_PUSH(roots_log, ((struct entry){lo, hi})))
        markers[0].overflowed = true;   /* unlogged: a rescan would miss it */
    push(&markers[0], lo, hi);
}

void mark_push_marked_range(uintptr_t lo, uintptr_t hi)
{
    push(&markers[0], lo, hi);
}

/* Before the markers run: atomic sets, as any marker may own the chunk. */
void mark_push_root_object(uintptr_t obj, size_t size)
{
    if (!VEC_PUSH(roots_log, ((struct entry){obj, obj + size})))
        markers[0].overflowed = true;
    struct chunk *c = chunk_of(obj);
    if (bit_set_atomic(c->mark, granule_bit(c, obj)))
        markers[0].live += size;
    push(&markers[0], obj, obj + size);
}

void mark_root_unscanned(uintptr_t obj, size_t size)
{
    struct chunk *c = chunk_of(obj);
    if (bit_set_atomic(c->mark, granule_bit(c, obj)))
        markers[0].live += size;
}

void mark_set(uintptr_t obj)
{
    struct chunk *c = chunk_of(obj);
    if (c)
        bit_set_atomic(c->mark, granule_bit(c, obj));
}

/* After an overflow (a push or a send dropped), with one marker: scan the
 * roots and every marked, scanned-kind object again until nothing new is
 * marked. */
static void rescan(struct marker *m)
{
    for (size_t i = 0; i < roots_log.n; i++) {
        push(m, roots_log.v[i].lo, roots_log.v[i].hi);
        drain(m);
    }
    for (struct chunk *c = chunk_list(); c; c = c->next) {
        for (size_t i = c->first; i < c->npages; i++) {
            if (AO_load(&give_up))
                return;
            struct page_desc *pd = &c->pd[i];
            if (pd->state != PS_SMALL && pd->state != PS_LARGE)
                continue;
            if (pd->kind == KIND_ATOMIC)
                continue;
            uintptr_t base = pd_addr(pd);
            size_t size = pd->state == PS_LARGE ? (size_t)pd->npages * PAGE_SIZE : pd->objsize;
            for (size_t k = 0; k < pd->nobjs; k++) {
                uintptr_t obj = base + k * size;
                if (bit_test(c->mark, granule_bit(c, obj))) {
                    push(m, obj, obj + size);
                    drain(m);
                }
            }
            if (c->single)
                break;
        }
    }
}

static void run_parallel(unsigned n)
{
    if (n > 1) {
        start_helpers(n - 1);
        if (nhelpers < n - 1)
            n = nhelpers + 1;
    }
    nactive = n;
    used = n;
    AO_store(&idle, 0);
    AO_store(&done, 0);
    if (n > 1) {
        __atomic_store_n(&helpers_done, 0, __ATOMIC_RELEASE);
        __atomic_add_fetch(&phase, 1, __ATOMIC_RELEASE);
        os_futex_wake(&phase, MAX_MARKERS);
    }
    drain(&markers[0]);
    if (n > 1) {
        /* Awake, the helpers finish within microseconds of us: asleep, we
         * would wait for a wake-up as long as theirs. */
        uint64_t end = os_now_ns() + RING_SPIN_NS / 4;
        int done_count;
        while ((done_count = __atomic_load_n(&helpers_done, __ATOMIC_ACQUIRE)) < (int)nhelpers) {
            if (os_now_ns() < end)
                __builtin_ia32_pause();
            else
                os_futex_wait(&helpers_done, done_count);
        }
    }
}

/* A phase given up: the markers' stacks emptied and every packet back in
 * the pool (a packet left queued would be taken by the next phase, its
 * ranges no longer objects perhaps). */
void mark_abandon(void)
{
    int64_t idx;
    for (unsigned i = 0; i < MAX_MARKERS; i++) {
        struct marker *m = &markers[i];
        m->top = 0;
        m->overflowed = false;
        for (unsigned o = 0; o < MAX_MARKERS; o++) {
            if (m->out[o] >= 0)
                stack_push(&empty_head, (uint32_t)m->out[o]);
            m->out[o] = -1;
        }
        while ((idx = stack_pop(&m->inbox)) >= 0)
            stack_push(&empty_head, (uint32_t)idx);
    }
    while ((idx = stack_pop(&full_head)) >= 0)
        stack_push(&empty_head, (uint32_t)idx);
}

void mark_set_deadline(uint64_t ns) { deadline = vg_on ? 0 : ns; }
bool mark_given_up(void) { return AO_load(&give_up) != 0; }

static uint64_t live_sum(void)
{
    uint64_t live = 0;
    for (unsigned i = 0; i < MAX_MARKERS; i++)
        live += markers[i].live;
    return live;
}

uint64_t mark_run(unsigned n)
{
    if (n < 1)
        n = 1;
    if (n > MAX_MARKERS)
        n = MAX_MARKERS;
    if (unlikely(vg_on))
        n = 1;   /* drain_vg() marks alone; Valgrind runs one thread at a time anyway */
    if (!AO_load(&give_up))
        run_parallel(n);
    for (;;) {
        if (AO_load(&give_up)) {
            mark_abandon();   /* an overflow's rescan too: it would only overflow again */
            return live_sum();
        }
        bool overflow = false;
        for (unsigned i = 0; i < MAX_MARKERS; i++) {
            overflow |= markers[i].overflowed;
            markers[i].overflowed = false;
        }
        if (!overflow)
            break;
        overflows++;
        nactive = 1;
        /* The parallel phase ended with every marker idle.  Left as it is,
         * `idle` would make drain() share half of the rescan's stack into
         * a packet that no one takes with one marker: those objects would
         * go unscanned (their children freed while reachable), and the
         * packet would be scanned at the next collection, when its ranges
         * may no longer be objects. */
        AO_store(&idle, 0);
        rescan(&markers[0]);
    }
    for (unsigned i = 0; i < MAX_MARKERS; i++)
        blacklisted += markers[i].black;
    return live_sum();
}

unsigned mark_overflows(void) { return overflows; }

void mark_track_revived(void) { track_revived = true; }

bool mark_revived_blocks(void (*fn)(struct page_desc *))
{
    bool complete = true;
    for (unsigned i = 0; i < MAX_MARKERS; i++) {
        for (size_t k = 0; k < markers[i].revived.n; k++)
            fn(markers[i].revived.v[k]);
        complete &= !markers[i].revived_lost;
    }
    track_revived = false;
    return complete;
}

const struct verify_root *mark_roots(size_t *n)
{
    _Static_assert(sizeof(struct verify_root) == sizeof(struct entry), "same layout");
    *n = roots_log.n;
    return (const struct verify_root *)roots_log.v;
}
unsigned mark_markers_used(void) { return used; }
uint64_t mark_blacklisted(void) { return blacklisted; }

/* ---- concurrent phase ----------------------------------------------------- */

void mark_begin_concurrent(void)
{
    mark_begin();
    deferred.n = 0;
    deferred_lost = false;
    nactive = 1;
    AO_store(&idle, 0);
    markers[0].defer_fresh = true;
}

/* World stopped, roots pushed: scan them now (their words change when the
 * world runs); what they point to stays on the stack for mark_step.  In
 * place: what a root pushes goes above the roots (re-read by index, as the
 * stack may grow), then moves down over them.  Marking objects through
 * here would scan them before their pages are armed, which happens only
 * once the world runs again (collect.c, start_cycle). */
void mark_scan_roots(void)
{
    struct marker *m = &markers[0];
    size_t n = m->top;
    for (size_t i = 0; i < n; i++) {
        struct entry e = m->stack[i];
        scan_range(m, e.lo, e.hi);
    }
    memmove(m->stack, m->stack + n, (m->top - n) * sizeof *m->stack);
    m->top -= n;
}

size_t mark_step(size_t budget)
{
    struct marker *m = &markers[0];
    size_t done = 0;
    while (m->top && done < budget) {
        struct entry e = m->stack[--m->top];
        if (e.hi - e.lo > SPLIT_BYTES) {
            push(m, e.lo + SPLIT_BYTES, e.hi);
            e.hi = e.lo + SPLIT_BYTES;
        }
        scan_range(m, e.lo, e.hi);
        done += e.hi - e.lo;
    }
    return done;
}

bool mark_pending(void) { return markers[0].top != 0; }

uint64_t mark_pending_bytes(void)
{
    uint64_t n = 0;
    for (size_t i = 0; i < markers[0].top; i++)
        n += markers[0].stack[i].hi - markers[0].stack[i].lo;
    return n + (uint64_t)deferred.n * 64;
}

/* Mark the deferred objects whose block is no longer fresh (all of them
 * when `all`); the others stay deferred. */
static void undefer(bool all)
{
    size_t keep = 0;
    for (size_t i = 0; i < deferred.n; i++) {
        struct object_ref o;
        /* Explicit frees may have reused the memory since: whatever object
         * is there now is kept (conservatively). */
        if (object_find(deferred.v[i], true, &o) != OBJ_FOUND)
            continue;
        if (!all && (__atomic_load_n(&o.block->flags, __ATOMIC_ACQUIRE) & PF_FRESH)) {
            deferred.v[keep++] = deferred.v[i];
            continue;
        }
        if (bit_set_atomic(o.chunk->mark, granule_bit(o.chunk, o.start))) {
            markers[0].live += o.size;
            if (o.block->kind != KIND_ATOMIC)
                push(&markers[0], o.start, o.start + o.size);
        }
    }
    deferred.n = keep;
}

void mark_undefer_settled(void) { undefer(false); }

void mark_begin_final(void)
{
    markers[0].defer_fresh = false;
    roots_log.n = 0;
    if (deferred_lost)
        markers[0].overflowed = true;
    undefer(true);
}

