#include "watch.h"
#include "aging.h"
#include "block.h"
#include "bookmark.h"
#include "chunk.h"
#include "mark.h"
#include "os.h"
#include "report.h"
#include "tracking.h"
#include "vec.h"
#include "vg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool enabled;
static bool bridge_atomic;   /* see bridgeable() */
static size_t rescanned;
static uint16_t epoch;   /* takes of the written pages so far: the pages' age stamps */

/* Blocks handed to the allocator since the last collection (PF_YOUNG). */
static struct {
    struct page_desc **v;
    size_t n, cap;
} young;
static bool young_overflow;   /* a push failed: recompute every block */
static size_t settle_from;    /* young.v[settle_from..]: not yet looked at by watch_settle_fresh */
static size_t fresh_pages;    /* pages of the blocks made fresh since then (relaxed: read unlocked) */
static size_t stale_chunks;   /* chunks with watch_stale set, or more */
/* Every page that holds an old object is armed, or written and to be
 * rescanned: false until the first whole recompute after enabling. */
static bool old_armed;

bool watch_enable(void)
{
    if (enabled)
        return true;
    if (!tracking_can_watch()) {
        report_warn("generational/incremental collection needs a dirty-bit backend that can track "
                    "the heap (%s cannot); collections stay stop-the-world",
                    tracking_backend_name());
        return false;
    }
    if (vg_on && tracking_backend_uses_sigsegv()) {
        report_warn("generational/incremental collection with the %s backend under Valgrind: write "
                    "faults in Valgrind's own string functions are not delivered as page faults; "
                    "use COGC_DIRTY=uffd-async or uffd; collections stay stop-the-world",
                    tracking_backend_name());
        return false;
    }
    enabled = true;
    old_armed = false;
    bridge_atomic = !tracking_user_write_faults();
    for (struct chunk *c = chunk_list(); c; c = c->next)
        if (watch_chunk_added(c) != 0) {
            for (struct chunk *d = chunk_list(); d != c; d = d->next)
                watch_chunk_removed(d);
            enabled = false;
            report_warn("generational/incremental collection: cannot track the heap for writes (%s); "
                        "collections stay stop-the-world", strerror(errno));
            return false;
        }
    return true;
}

bool watch_enabled(void) { return enabled; }
uint16_t watch_epoch(void) { return epoch; }

static uintptr_t area_lo(const struct chunk *c) { return page_addr(c, c->first); }
static size_t area_len(const struct chunk *c) { return c->size - (area_lo(c) - chunk_base(c)); }
static size_t page_words(const struct chunk *c) { return (c->npages + 63) / 64; }

static bool page_bit(const uint64_t *map, size_t i) { return (map[i >> 6] >> (i & 63)) & 1; }
static void page_set(uint64_t *map, size_t i) { map[i >> 6] |= (uint64_t)1 << (i & 63); }

static uint64_t *want_bitmap(size_t bytes);

int watch_chunk_added(struct chunk *c)
{
    if (!enabled)
        return 0;
    memset(c->watch, 0, page_words(c) * 8);
    memset(c->rescan, 0, page_words(c) * 8);
    /* The recompute buffer is sized for the biggest chunk here, where
     * running out of memory is an allocation's ENOMEM, not in a collection
     * that cannot fail. */
    if (!want_bitmap(page_words(c) * 8) || tracking_watch_range(area_lo(c), area_len(c)) != 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void watch_chunk_removed(struct chunk *c)
{
    if (!enabled)
        return;
    young.n = pds_without_chunk(young.v, young.n, c);
    settle_from = 0;
    aging_chunk_removed(c);
    tracking_unwatch_range(area_lo(c), area_len(c));
}

void watch_young_block(struct page_desc *b)
{
    if (!enabled || (b->flags & PF_YOUNG))
        return;
    b->flags |= PF_YOUNG;
    if (!VEC_PUSH(young, b)) {
        young_overflow = true;
        return;
    }
    if (b->flags & PF_FRESH)
        __atomic_store_n(&fresh_pages, fresh_pages + b->npages, __ATOMIC_RELAXED);
    if (aging_on)
        aging_young_added(b);
}

size_t watch_young_list(struct page_desc ***v)
{
    *v = young.v;
    return young.n;
}

size_t watch_fresh_pages(void) { return __atomic_load_n(&fresh_pages, __ATOMIC_RELAXED); }

/* The young list's blocks have been settled (or are left to a recompute):
 * the list starts again empty. */
static void young_list_clear(void)
{
    young.n = 0;
    settle_from = 0;
    __atomic_store_n(&fresh_pages, 0, __ATOMIC_RELAXED);
    young_overflow = false;
}

/* A minor collection marked objects of b, a block outside the young
 * generation (mark.h: garbage a stale word revived): they are old now, and
 * their pages are watched like a young block's survivors' (watch_update)
 * and rescanned at the next minor collection (aging.h).  Without that, a
 * young object they point to, aged by this collection, was reached by
 * nothing at the next one and freed (gen_stress: about one run in a
 * hundred, eight mutators, their stale stack slots). */
static void revived(struct page_desc *b)
{
    watch_young_block(b);
    aging_revived(b);
}

void watch_note_revived(void)
{
    if (!enabled)
        return;
    if (!mark_revived_blocks(revived)) {
        young_overflow = true;   /* every block recomputed */
        aging_revived_lost();
    }
}

/* ---- taking the dirty pages ------------------------------------------- */

/* Mask of bits [from, to) of page-bitmap word w. */
static uint64_t word_mask(size_t w, size_t from, size_t to)
{
    uint64_t m = ~(uint64_t)0;
    if (w * 64 < from)
        m &= ~(uint64_t)0 << (from - w * 64);
    if (to - w * 64 < 64)
        m &= ((uint64_t)1 << (to - w * 64)) - 1;
    return m;
}

/* Pages [i, j) of c were written: stamped, back if they were out, and
 * the watched ones to be rescanned.  A bitmap word at a time: the backend
 * reports every page it does not watch as written too (the young
 * generation, 2000 pages and more at each minor collection). */
static void pages_written(struct chunk *c, size_t i, size_t j)
{
    for (size_t k = i; k < j; k++)
        c->age[k] = epoch;
    for (size_t w = i / 64; w * 64 < j; w++) {
        uint64_t m = word_mask(w, i, j);
        for (uint64_t out = c->evicted[w] & m; out; out &= out - 1)
            bookmark_page_back(c, w * 64 + (size_t)__builtin_ctzll(out));
        uint64_t now = c->watch[w] & ~c->rescan[w] & m;
        c->rescan[w] |= now;
        rescanned += (size_t)__builtin_popcountll(now);
    }
}

static void on_dirty(void *ctx, void *addr, size_t len)
{
    (void)ctx;
    for (uintptr_t a = (uintptr_t)addr, end = a + len; a < end;) {
        struct chunk *c = chunk_of(a);
        if (!c) {
            a += PAGE_SIZE;
            continue;
        }
        size_t i = page_index(c, a), j = c->npages;
        if (end < page_addr(c, j))
            j = page_index(c, end - 1) + 1;
        pages_written(c, i, j);
        a = page_addr(c, j);
    }
}

size_t watch_take_dirty(void)
{
    rescanned = 0;
    if (!enabled)
        return 0;
    epoch++;
    long taken = tracking_take(on_dirty, NULL);
    if (taken < 0) {
        /* The backend lost track, or the heap was armed whole while the
         * program ran: every watched page counts as written. */
        if (taken != TRACKING_ALL_WRITTEN)
            report_warn("dirty-bit backend %s failed to report; rescanning every watched page",
                        tracking_backend_name());
        for (struct chunk *c = chunk_list(); c; c = c->next)
            for (size_t w = 0; w < page_words(c); w++) {
                rescanned += (size_t)__builtin_popcountll(c->watch[w] & ~c->rescan[w]);
                c->rescan[w] |= c->watch[w];
                for (uint64_t out = c->watch[w] & c->evicted[w]; out; out &= out - 1)
                    bookmark_page_back(c, w * 64 + (size_t)__builtin_ctzll(out));
            }
    }
    return rescanned;
}

/* ---- rescanning -------------------------------------------------------- */

static bool marked(const struct chunk *c, uintptr_t obj)
{
    return bit_test(c->mark, granule_bit(c, obj));
}

/* The object's pointers that may have changed: the part of each marked
 * object on page i, adjacent parts merged into one root range. */
static void push_page(struct chunk *c, size_t i, uintptr_t *lo, uintptr_t *hi)
{
    struct page_desc *pd = page_block(c, i);
    if ((pd->state != PS_SMALL && pd->state != PS_LARGE) || pd->kind != KIND_NORMAL)
        return;
    uintptr_t pa = page_addr(c, i), pe = pa + PAGE_SIZE, base = pd_addr(pd);
    if (pd->state == PS_LARGE) {
        if (!marked(c, base))
            return;
        if (*hi != pa) {
            if (*lo < *hi)
                mark_push_marked_range(*lo, *hi);
            *lo = pa;
        }
        *hi = pe;
        return;
    }
    size_t size = pd->objsize;
    size_t k = pa > base ? (pa - base) / size : 0;
    for (; k < pd->nobjs; k++) {
        uintptr_t obj = base + k * size;
        if (obj >= pe)
            break;
        if (!marked(c, obj))
            continue;
        uintptr_t s = obj > pa ? obj : pa, e = obj + size < pe ? obj + size : pe;
        if (*hi != s) {
            if (*lo < *hi)
                mark_push_marked_range(*lo, *hi);
            *lo = s;
        }
        *hi = e;
    }
}

void watch_push_dirty(void)
{
    if (!enabled)
        return;
    for (struct chunk *c = chunk_list(); c; c = c->next) {
        uintptr_t lo = 0, hi = 0;
        for (size_t w = 0; w < page_words(c); w++) {
            /* The pages the last collection scanned that may point to
             * an object it aged (aging.h), written or not. */
            uint64_t pages = c->rescan[w] | c->recheck[w];
            c->recheck[w] = 0;
            for (uint64_t bits = pages; bits; bits &= bits - 1)
                push_page(c, w * 64 + (size_t)__builtin_ctzll(bits), &lo, &hi);
        }
        if (lo < hi)
            mark_push_marked_range(lo, hi);
    }
}

/* ---- precleaning ---------------------------------------------------------- */

static void on_preclean(void *ctx, void *addr, size_t len)
{
    size_t *pages = ctx;
    for (uintptr_t a = (uintptr_t)addr, end = a + len; a < end; a += PAGE_SIZE) {
        struct chunk *c = chunk_of(a);
        if (!c)
            continue;
        c->age[page_index(c, a)] = epoch;
        bookmark_page_back(c, page_index(c, a));
        if (!page_bit(c->watch, page_index(c, a)))
            continue;
        uintptr_t lo = 0, hi = 0;
        push_page(c, page_index(c, a), &lo, &hi);
        if (lo < hi)
            mark_push_marked_range(lo, hi);
        ++*pages;
    }
}

size_t watch_preclean(void)
{
    size_t pages = 0;
    if (enabled && tracking_collect_atomic(on_preclean, &pages) < 0)
        return SIZE_MAX;
    return pages;
}

/* ---- arming ------------------------------------------------------------ */

/* Any old object's mark bit in granules [from, to) of c (aged ones are
 * not watched: the next minor collection traces them again). */
static bool any_mark(const struct chunk *c, const struct page_desc *b, size_t from, size_t to)
{
    for (size_t w = from / 64; w * 64 < to; w++)
        if (aging_old_marks(c, b, w) & word_mask(w, from, to))
            return true;
    return false;
}

/* Pages of block b (head descriptor) that hold a marked normal object, as
 * bits in want (indexed by page in the chunk).  Marks sit on an object's
 * first granule: page i holds a marked object if a mark lies in the page
 * or less than one object size before it.  Word-wide tests, so a heap of
 * small objects costs a few loads a page. */
static void block_want(struct chunk *c, struct page_desc *b, uint64_t *want)
{
    size_t first = pd_index(b);
    if (b->kind != KIND_NORMAL)
        return;
    uintptr_t base = pd_addr(b);
    if (b->state == PS_LARGE) {
        if (any_mark(c, b, granule_bit(c, base), granule_bit(c, base) + 1))
            for (size_t i = first; i < first + b->npages; i++)
                page_set(want, i);
        return;
    }
    size_t g0 = granule_bit(c, base), reach = (b->objsize >> GRANULE_SHIFT) - 1;
    size_t end = g0 + (size_t)b->nobjs * (b->objsize >> GRANULE_SHIFT);
    for (size_t i = first; i < first + b->npages; i++) {
        size_t ps = i * GRANULES_PER_PAGE, pe = ps + GRANULES_PER_PAGE;
        size_t from = ps >= g0 + reach ? ps - reach : g0;
        if (pe > end)
            pe = end;
        if (from < pe && any_mark(c, b, from, pe))
            page_set(want, i);
    }
}

/* Pages to arm, gathered in address order.  Arming is a system call per
 * range, and the young blocks of a minor collection lie scattered among
 * old ones while the heap is small (GCBench depth 22: 2048 one-page
 * blocks, 1.6-3 ms of a minor pause, one range each): two runs separated
 * by a few pages that are watched anyway (armed, or about to be) go out as
 * one range.  Re-arming an armed page costs the kernel a PTE visit.
 *
 * Only while no watched page can have a write pending: arming a page drops
 * what the backend holds for it (mprotect clears its bit, uffd write-
 * protects it again), so a bridged page written since the last take would
 * lose that write.  That holds in a pause after the take, and at the start
 * of a cycle (nothing scanned yet); not when fresh blocks are settled or
 * stale chunks refreshed while the program runs (threads_mutate, one CPU,
 * incremental: about 1 run in 7 lost an object that way). */
#define BRIDGE_PAGES 16
static size_t bridge_gap;

/* A run of pages [lo, hi) of chunk c waiting to be armed or disarmed. */
struct page_run {
    struct chunk *c;
    size_t lo, hi;
};
static struct page_run to_arm, to_disarm;

/* Pages that a run being armed may take in: watched pages, and, when the
 * backend takes a write to an armed page in the kernel (tracking.h), the
 * pages of pointer-free blocks.  Those are never scanned, so a write the
 * arming hides loses nothing, and the program pays one fault at most for
 * a page of them it writes.  Guile's heap interleaves them with the
 * others: its first minor collection armed 180 pages in 26 ranges split by
 * one to three pages of strings and numbers. */
static bool bridgeable(struct chunk *c, size_t i)
{
    if (page_bit(c->watch, i))
        return true;
    if (!bridge_atomic)
        return false;
    const struct page_desc *pd = page_block(c, i);
    return (pd->state == PS_SMALL || pd->state == PS_LARGE) && pd->kind == KIND_ATOMIC;
}

static bool all_bridgeable(struct chunk *c, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (!bridgeable(c, i))
            return false;
    return true;
}

/* Pages [i, j) of c join run r when they follow it with at most `gap`
 * pages between, all watched; else false, and r is to be flushed and
 * started again (run_start). */
static bool run_join(struct page_run *r, struct chunk *c, size_t i, size_t j, size_t gap)
{
    if (r->c != c || i < r->hi || i - r->hi > gap || !all_bridgeable(c, r->hi, i))
        return false;
    if (j > r->hi)
        r->hi = j;
    return true;
}

static void run_start(struct page_run *r, struct chunk *c, size_t i, size_t j)
{
    r->c = c;
    r->lo = i;
    r->hi = j;
}

/* The kernel takes a changed range out of the TLB a page at a time up to
 * 33 pages (x86's default tlb_single_page_flush_ceiling), with one whole
 * flush above.  Each single-page flush traps to the hypervisor on the
 * machines we run on: one UFFDIO_WRITEPROTECT call over 16 present pages
 * costs 60 us, over 33 pages 124 us, over 34 pages 37 us, over 256 pages
 * 84 us.  So in a pause a run between WIDEN_MIN pages and the ceiling is
 * widened past it over neighbours it may take in (bridgeable: a watched
 * one is armed already, and costs a page-table visit). */
#define FLUSH_CEILING 33
#define WIDEN_MIN 10

static void widen(struct page_run *r)
{
    size_t n = r->hi - r->lo;
    if (!bridge_gap || n < WIDEN_MIN || n > FLUSH_CEILING)
        return;
    struct chunk *c = r->c;
    size_t hi = r->hi, lo = r->lo;
    while (hi - lo <= FLUSH_CEILING && hi < c->npages && bridgeable(c, hi))
        hi++;
    while (hi - lo <= FLUSH_CEILING && lo > c->first && bridgeable(c, lo - 1))
        lo--;
    if (hi - lo > FLUSH_CEILING) {
        r->lo = lo;
        r->hi = hi;
    }
}

static void arm_flush(void)
{
    if (to_arm.c) {
        widen(&to_arm);
        tracking_arm_later(page_addr(to_arm.c, to_arm.lo), (to_arm.hi - to_arm.lo) * PAGE_SIZE);
    }
    to_arm.c = NULL;
}

static void disarm_flush(void)
{
    if (to_disarm.c) {
        arm_flush();
        tracking_disarm_range(page_addr(to_disarm.c, to_disarm.lo), (to_disarm.hi - to_disarm.lo) * PAGE_SIZE);
    }
    to_disarm.c = NULL;
}

/* Arm pages [i, j) of c (queued; arm_commit sends them). */
static void arm_pages(struct chunk *c, size_t i, size_t j)
{
    if (!run_join(&to_arm, c, i, j, bridge_gap)) {
        arm_flush();
        run_start(&to_arm, c, i, j);
    }
}

/* Disarm runs join only when they touch (apply goes a bitmap word at a time). */
static void disarm_pages(struct chunk *c, size_t i, size_t j)
{
    if (!run_join(&to_disarm, c, i, j, 0)) {
        disarm_flush();
        run_start(&to_disarm, c, i, j);
    }
}

static void arm_commit(bool program_running)
{
    disarm_flush();
    arm_flush();
    tracking_arm_commit(program_running);
}

/* Runs of set bits of `bits` (word w of c's page bitmaps) to op. */
static void word_runs(struct chunk *c, size_t w, uint64_t bits, void (*op)(struct chunk *, size_t, size_t))
{
    while (bits) {
        unsigned lo = (unsigned)__builtin_ctzll(bits);
        uint64_t rest = bits >> lo;
        unsigned n = ~rest ? (unsigned)__builtin_ctzll(~rest) : 64 - lo;
        op(c, w * 64 + lo, w * 64 + lo + n);
        bits = lo + n >= 64 ? 0 : bits & ~((((uint64_t)1 << n) - 1) << lo);
    }
}

/* Bring pages [from, to) of c to the state `want`: arm what becomes
 * watched or was rescanned (take left it disarmed), disarm what no longer
 * holds an old object.  A word of pages at a time: a full collection
 * applies the whole heap in its pause. */
static void apply(struct chunk *c, const uint64_t *want, size_t from, size_t to)
{
    for (size_t w = from / 64; w * 64 < to; w++) {
        uint64_t m = word_mask(w, from, to);
        uint64_t wants = want[w] & m, was = c->watch[w] & m, dirty = c->rescan[w] & m;
        uint64_t arm = wants & (~was | dirty), disarm = ~wants & was;
        for (uint64_t fresh = wants & ~was; fresh; fresh &= fresh - 1)
            c->age[w * 64 + (size_t)__builtin_ctzll(fresh)] = epoch;
        c->watch[w] = (c->watch[w] & ~m) | wants;
        c->rescan[w] &= ~m;
        /* What they point to may have been aged (aging.h). */
        if (aging_pending)
            c->recheck[w] |= dirty;
        word_runs(c, w, arm, arm_pages);
        word_runs(c, w, disarm, disarm_pages);
    }
}

typedef void (*want_fn)(struct chunk *c, struct page_desc *b, uint64_t *want);

/* The bitmap recompute fills, kept between calls (heap lock held): mapping
 * one per call cost two system calls per young block of a chunk bigger
 * than CHUNK_SIZE, 2-3 ms of a minor pause with Guile's 64 MiB chunks. */
static uint64_t *want_buf;
static size_t want_bytes;

static uint64_t *want_bitmap(size_t bytes)
{
    if (bytes > want_bytes) {
        size_t nb = round_up(bytes, PAGE_SIZE);
        uint64_t *p = os_map(nb);
        if (!p)
            return NULL;
        if (want_buf)
            os_unmap(want_buf, want_bytes);
        want_buf = p;
        want_bytes = nb;
    }
    return want_buf;
}

/* Bring the pages of c (or of block `only` in it) to the watch state `fn`
 * wants for their blocks; with `settle`, the blocks stop being young or
 * fresh. */
static void recompute(struct chunk *c, struct page_desc *only, want_fn fn, bool settle)
{
    size_t from = c->first, to = c->npages;
    if (only) {
        from = pd_index(only);
        to = from + (c->single ? c->npages - from : only->npages);
    }
    /* Never NULL: watch_chunk_added made it big enough for c. */
    uint64_t *want = want_bitmap(page_words(c) * 8);
    memset(want + from / 64, 0, ((to + 63) / 64 - from / 64) * 8);
    for (size_t i = from; i < to;) {
        struct page_desc *b = only ? only : &c->pd[i];
        if (b->state == PS_SMALL || b->state == PS_LARGE) {
            fn(c, b, want);
            if (settle)
                b->flags &= ~(PF_YOUNG | PF_FRESH);
        }
        if (only || c->single)
            break;
        i += b->npages ? b->npages : 1;
    }
    apply(c, want, from, to);
    if (!only)
        c->watch_stale = false;
}

static void update_block(struct page_desc *b)
{
    if (b->state != PS_SMALL && b->state != PS_LARGE) {
        b->flags &= ~PF_YOUNG;
        return;   /* freed since, or now inside another block: that one is listed too */
    }
    recompute(chunk_of_pd(b), b, block_want, true);
}

/* A small block with no marked object and no watched page: what
 * update_block would do (nothing to arm or disarm), done without the
 * recompute. */
static bool settle_if_unmarked(struct page_desc *b)
{
    if (b->state != PS_SMALL)
        return false;
    struct chunk *c = chunk_of_pd(b);
    size_t first = pd_index(b), g0 = granule_bit(c, pd_addr(b));
    for (size_t w = first / 64; w * 64 < first + b->npages; w++)
        if (c->watch[w] & word_mask(w, first, first + b->npages))
            return false;
    if (any_mark(c, b, g0, g0 + (size_t)b->npages * GRANULES_PER_PAGE))
        return false;
    b->flags &= ~(PF_YOUNG | PF_FRESH);
    return true;
}

/* Watched pages rescanned outside young blocks still hold their old
 * objects (marks are sticky between full collections): arm them again. */
static void rearm_rescanned(struct chunk *c)
{
    for (size_t w = 0; w < page_words(c); w++) {
        uint64_t r = c->rescan[w] & c->watch[w];
        c->rescan[w] = r;
        /* What they point to may have been aged (aging.h). */
        if (aging_pending)
            c->recheck[w] |= r;
    }
    for (size_t w = 0; w < page_words(c); w++)
        word_runs(c, w, c->rescan[w], arm_pages);
    memset(c->rescan, 0, page_words(c) * 8);
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(struct page_desc *const *)a, y = (uintptr_t)*(struct page_desc *const *)b;
    return x < y ? -1 : x > y;
}

size_t watch_update(bool full)
{
    size_t held = 0;
    if (!enabled)
        return 0;
    bridge_gap = BRIDGE_PAGES;   /* a pause, after the take */
    if (young_overflow || (full && !old_armed)) {
        for (struct chunk *c = chunk_list(); c; c = c->next)
            recompute(c, NULL, block_want, true);
        old_armed = true;
    } else {
        /* Most young blocks end a minor collection with nothing marked
         * and nothing watched: they only stop being young.  The rest are
         * recomputed in address order, so that arm_pages joins their
         * ranges (sorting and recomputing all 2000 one-page blocks of a
         * GCBench minor collection cost 110 us of its pause). */
        size_t n = 0;
        for (size_t i = 0; i < young.n; i++)
            if (!settle_if_unmarked(young.v[i]))
                young.v[n++] = young.v[i];
        if (n > 1)   /* young.v is NULL before the first young block: not for qsort */
            qsort(young.v, n, sizeof young.v[0], by_address);
        for (size_t i = 0; i < n; i++) {
            struct page_desc *b = young.v[i];
            update_block(b);
            /* Aged objects keep no page armed, and die or are promoted
             * at the next minor collection: their blocks are not held. */
            if (!full && b->state == PS_SMALL && b->kind == KIND_NORMAL && !(b->flags & PF_AGED))
                held += blocks_hold(b);
        }
        for (struct chunk *c = chunk_list(); c; c = c->next) {
            rearm_rescanned(c);
            /* A full collection's new marks are a subset of the old ones
             * and the young blocks' (every live object is marked after
             * each collection in generational mode), so what it leaves to
             * do outside them is disarming its garbage's pages: later, a
             * chunk at a time, as after a cycle (recomputing a 32 MB heap
             * in the pause cost GCBench 2.5 ms per full collection, twice
             * its marking). */
            if (full && !c->watch_stale) {
                c->watch_stale = true;
                stale_chunks++;
            }
        }
    }
    young_list_clear();
    arm_commit(false);
    bridge_gap = 0;
    return held;
}

/* Arming a minor collection's survivors is most of its pause after
 * marking when the whole young generation survives (Guile's first minor
 * collection: 8 MB, 1.4-4 ms); a cycle that follows arms them anyway.
 * Between the two, writes to old objects need no watching: the cycle
 * clears the marks and traces everything again. */
void watch_defer_to_cycle(void)
{
    if (!enabled)
        return;
    for (size_t i = 0; i < young.n; i++)
        young.v[i]->flags &= ~(PF_YOUNG | PF_FRESH);
    young_list_clear();
    old_armed = false;   /* a full collection instead of the cycle recomputes every page */
}

/* The final pause of an incremental cycle leaves every page that can hold
 * an old object armed: blocks that existed at the cycle's start were all
 * armed then (watch_arm_all), a write since disarmed a page only to report
 * it (precleaning re-armed it at once; the final take's pages are the
 * rescanned ones, re-armed here), and the blocks made since are fresh:
 * settled here if no round did.  What the new marks leave without an old
 * object (the cycle's garbage) is disarmed later, a chunk at a time
 * (watch_refresh), rather than in the pause: recomputing a 330 MB heap is
 * 4-7 ms (GCBench depth 22), most of the final pause. */
void watch_finish_cycle(void)
{
    if (!enabled)
        return;
    if (young_overflow) {
        watch_update(true);   /* a fresh block may be missing from the list */
        return;
    }
    bridge_gap = BRIDGE_PAGES;   /* a pause, after the take */
    watch_settle_fresh();
    for (size_t i = 0; i < young.n; i++)
        young.v[i]->flags &= ~PF_YOUNG;
    young_list_clear();   /* young_overflow is false here (handled above) */
    for (struct chunk *c = chunk_list(); c; c = c->next) {
        rearm_rescanned(c);
        c->watch_stale = true;
        stale_chunks++;
    }
    arm_commit(false);
    bridge_gap = 0;
}

bool watch_refresh_pending(void) { return stale_chunks != 0; }

void watch_refresh(unsigned max_chunks)
{
    if (!enabled)
        return;
    unsigned n = 0;
    for (struct chunk *c = chunk_list(); c && n < max_chunks; c = c->next)
        if (c->watch_stale) {
            recompute(c, NULL, block_want, false);
            n++;
        }
    if (n < max_chunks)
        stale_chunks = 0;   /* none left (removed chunks included) */
    arm_commit(true);
}

/* Every page of a block of the normal kind: the start of an incremental
 * cycle, when any of them may be scanned before the program writes it. */
static void block_all(struct chunk *c, struct page_desc *b, uint64_t *want)
{
    if (b->kind != KIND_NORMAL)
        return;
    size_t first = pd_index(b), n = c->single ? c->npages - first : b->npages;
    for (size_t i = first; i < first + n; i++)
        page_set(want, i);
}

void watch_arm_all(void)
{
    if (!enabled)
        return;
    bridge_gap = BRIDGE_PAGES;   /* nothing scanned yet: a lost write is no loss */
    for (struct chunk *c = chunk_list(); c; c = c->next)
        recompute(c, NULL, block_all, true);
    arm_commit(false);
    bridge_gap = 0;
}

/* Settling is done in rounds, when the concurrent marker runs out of work,
 * not as each block fills: the program writes to a block after it has
 * moved on from it (a tree built top down fills a node's right child long
 * after the node's page is full), and each such write to an armed page is
 * a fault (GCBench depth 22: 21 thousand faults, 0.2 s, settling block by
 * block).  Between rounds only the pointers the recursion still holds are
 * written late. */
size_t watch_settle_fresh(void)
{
    if (!enabled)
        return 0;
    size_t pages = 0, from = settle_from;
    for (size_t i = from; i < young.n; i++) {
        struct page_desc *b = young.v[i];
        if (!(b->flags & PF_FRESH) || (b->state != PS_SMALL && b->state != PS_LARGE))
            continue;
        struct chunk *c = chunk_of_pd(b);
        size_t first = pd_index(b), n = c->single ? c->npages - first : b->npages;
        for (size_t j = first; j < first + n; j++)
            page_set(c->watch, j);
        arm_pages(c, first, first + n);
        pages += n;
    }
    arm_commit(true);
    /* Armed before the marker may scan them: writes from here on are seen. */
    for (size_t i = from; i < young.n; i++)
        __atomic_and_fetch(&young.v[i]->flags, (uint8_t)~PF_FRESH, __ATOMIC_RELEASE);
    settle_from = young.n;
    __atomic_store_n(&fresh_pages, 0, __ATOMIC_RELAXED);
    return pages;
}

void watch_describe_page(uintptr_t a, char *buf, size_t n)
{
    struct chunk *c = enabled ? chunk_of(a) : NULL;
    if (!c) {
        snprintf(buf, n, "page not watched");
        return;
    }
    size_t i = page_index(c, a);
    snprintf(buf, n, "page %swatched%s, written at take %u of %u", page_bit(c->watch, i) ? "" : "not ",
             page_bit(c->rescan, i) ? ", rescanned" : "", (unsigned)c->age[i], (unsigned)epoch);
}
