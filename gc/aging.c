#include "aging.h"
#include "object.h"
#include "vec.h"
#include "watch.h"

#include <string.h>

bool aging_on;
bool aging_pending;

/* Blocks with aged objects (PF_AGED), their aged words written. */
static struct {
    struct page_desc **v;
    size_t n, cap;
} listed;

/* During a minor collection, every block it looks at (PF_AGED too, and
 * its index in free_since): the listed ones and the young ones.  The
 * marks they had before it are kept in `snap` (from `snap_at`; NO_SNAP:
 * none), not in the aged bitmap, which is not populated until used and
 * costs a first touch (5-14 us a page here) wherever it is written: after
 * Guile's first cycle, snapshots of its reused blocks there made the next
 * minor pause 0.9 ms longer.  `aged`: its aged words may be nonzero. */
#define NO_SNAP SIZE_MAX
struct work_item {
    struct page_desc *b;
    size_t snap_at;
    bool aged;
    uint64_t fresh;   /* after marking: bytes of its objects first marked now */
};
static struct {
    struct work_item *v;
    size_t n, cap;
} work;
static struct {
    uint64_t *v;
    size_t n, cap;
} snap;
static size_t was_listed;   /* work.v[0..was_listed): listed before this collection */
static size_t want_items, want_words;   /* blocks listed or young, and their mark words */
static bool in_minor;       /* between aging_before_minor and aging_after_minor */
static bool age_none;       /* this minor collection ages nothing (aging_revived_lost) */

void aging_set(bool on) { aging_on = on; }

static bool is_block(const struct page_desc *b) { return b->state == PS_SMALL || b->state == PS_LARGE; }

/* The mark-bitmap words of block b: a large object's mark is its first granule's. */
static size_t first_word(const struct page_desc *b) { return granule_bit(chunk_of_pd(b), pd_addr(b)) >> 6; }
static size_t nwords(const struct page_desc *b)
{
    return b->state == PS_LARGE ? 1 : (size_t)b->npages * GRANULES_PER_PAGE / 64;
}

/* Most words are 0 (a dead young block's): the baseline build's popcount
 * is a libgcc call, ~8000 of them per minor collection of GCBench depth
 * 16, ~1 % of its run. */
static uint64_t block_bytes(const struct page_desc *b, uint64_t bits)
{
    if (!bits)
        return 0;
    size_t size = b->state == PS_LARGE ? (size_t)b->npages * PAGE_SIZE : b->objsize;
    return (uint64_t)__builtin_popcountll(bits) * size;
}

static void clear_aged(struct page_desc *b)
{
    memset(&chunk_of_pd(b)->aged[first_word(b)], 0, nwords(b) * 8);
}

static void clear_listed(void)
{
    for (size_t i = 0; i < listed.n; i++)
        listed.v[i]->flags &= (uint8_t)~PF_AGED;
    listed.n = 0;
}

/* Every page of b to be rescanned at the next minor collection. */
static void recheck_block(struct page_desc *b)
{
    struct chunk *c = chunk_of_pd(b);
    size_t first = pd_index(b), n = c->single ? c->npages - first : b->npages;
    for (size_t i = first; i < first + n; i++)
        c->recheck[i >> 6] |= (uint64_t)1 << (i & 63);
}

/* b's aged objects old now, though not traced as such: its pages are
 * rescanned by the next minor collection (this one's, before marking)
 * and recomputed as a young block's. */
static void promote(struct page_desc *b)
{
    clear_aged(b);
    recheck_block(b);
    watch_young_block(b);
}

/* Make v (cap elements of elem bytes) hold `want`, the new part written
 * now: vec_reserve maps fresh pages, whose first touch in a pause was
 * most of the first minor pause after Guile's first cycle (0.5 ms for
 * the snapshot of a young generation that had taken the whole heap). */
static bool reserve_touched(void **v, size_t *cap, size_t want, size_t elem)
{
    while (*cap < want) {
        size_t old = *cap;
        if (!vec_reserve(v, old, cap, elem))
            return false;
        memset((char *)*v + old * elem, 0, (*cap - old) * elem);
    }
    return true;
}

void aging_young_added(struct page_desc *b)
{
    /* Listed young in a minor collection's pause (its aged blocks, to
     * have their pages recomputed; revived ones): such a listing ends with
     * this collection and needs no room at the next one, which the room
     * counted here would have grown in this pause (Guile's gcbench.scm:
     * 2.5 ms of a 3.5 ms minor pause mapping and clearing it). */
    if (in_minor)
        return;
    want_items++;
    want_words += nwords(b);
    /* Failing here, the pause grows them, or ages fewer blocks. */
    reserve_touched((void **)&work.v, &work.cap, want_items, sizeof *work.v);
    reserve_touched((void **)&snap.v, &snap.cap, want_words, sizeof *snap.v);
}

void aging_block_freed(struct page_desc *b)
{
    if (is_block(b))
        clear_aged(b);
}

/* The marks of item it's block before this collection, into snap; an
 * aged object's cleared.  False when there is no room for them. */
static bool take_snapshot(struct work_item *it)
{
    struct chunk *c = chunk_of_pd(it->b);
    size_t w0 = first_word(it->b), n = nwords(it->b);
    if (!it->aged) {
        uint64_t any = 0;
        for (size_t w = w0; w < w0 + n; w++)
            any |= atomic_load_explicit(&c->mark[w], memory_order_relaxed);
        if (!any)
            return true;   /* nothing marked: NO_SNAP */
    }
    if (!reserve_touched((void **)&snap.v, &snap.cap, snap.n + n, sizeof *snap.v))
        return false;
    it->snap_at = snap.n;
    for (size_t w = w0; w < w0 + n; w++) {
        uint64_t m = atomic_load_explicit(&c->mark[w], memory_order_relaxed);
        snap.v[snap.n++] = m;
        uint64_t a = it->aged ? c->aged[w] : 0;
        if (a)
            atomic_store_explicit(&c->mark[w], m & ~a, memory_order_relaxed);
    }
    return true;
}

/* Block b into the work of this collection, its snapshot taken; false
 * (b without PF_AGED) when there is no room. */
static bool add_work(struct page_desc *b, bool aged)
{
    if (!VEC_PUSH(work, ((struct work_item){.b = b, .snap_at = NO_SNAP, .aged = aged}))) {
        b->flags &= (uint8_t)~PF_AGED;
        return false;
    }
    if (!take_snapshot(&work.v[work.n - 1])) {
        work.n--;
        b->flags &= (uint8_t)~PF_AGED;
        return false;
    }
    b->flags |= PF_AGED;
    b->free_since = (uint32_t)(work.n - 1);
    return true;
}

static uint64_t snap_word(const struct work_item *it, size_t k)
{
    return it->snap_at == NO_SNAP ? 0 : snap.v[it->snap_at + k];
}

void aging_before_minor(void)
{
    work.n = snap.n = 0;
    if (!aging_on)
        return;
    /* The listed blocks first: they may be young again too, and each
     * block's words must be visited once (the second visit would take
     * the old marks for aged ones).  A listed block freed since lost its
     * flag (pages_free), and its aged bits with it. */
    for (size_t i = 0; i < listed.n; i++) {
        struct page_desc *b = listed.v[i];
        if (!is_block(b) || !(b->flags & PF_AGED))
            continue;
        if (!add_work(b, true))
            promote(b);   /* no room to look at it: its objects old from now */
    }
    was_listed = work.n;
    listed.n = 0;
    struct page_desc **young;
    size_t nyoung = watch_young_list(&young);
    for (size_t i = 0; i < nyoung; i++) {
        struct page_desc *b = young[i];
        if (!is_block(b) || (b->flags & PF_AGED) || b->kind == KIND_UNCOLLECTABLE)
            continue;
        if (!add_work(b, false))
            break;   /* no room: the rest are promoted, as without aging */
    }
    in_minor = true;
    for (size_t i = 0; i < was_listed; i++)
        watch_young_block(work.v[i].b);   /* its promoted objects' pages become watched */
    aging_pending = false;
    age_none = false;
}

void aging_abandon_minor(void)
{
    in_minor = false;
    for (size_t i = 0; i < work.n; i++) {
        struct work_item *it = &work.v[i];
        struct page_desc *b = it->b;
        if (!is_block(b))
            continue;
        struct chunk *c = chunk_of_pd(b);
        if (it->snap_at != NO_SNAP)
            for (size_t k = 0, w = first_word(b); k < nwords(b); k++, w++)
                atomic_fetch_or_explicit(&c->mark[w], snap_word(it, k), memory_order_relaxed);
        /* Listed again (aging_before_minor emptied the list, which had
         * room for them). */
        if (i < was_listed && VEC_PUSH(listed, b))
            continue;
        b->flags &= (uint8_t)~PF_AGED;
        if (it->aged)
            clear_aged(b);
    }
    work.n = 0;
    aging_pending = listed.n != 0;
}

void aging_revived(struct page_desc *b)
{
    if (aging_on && is_block(b))
        recheck_block(b);
}

void aging_revived_lost(void) { age_none = true; }

bool aging_newly_marked(uintptr_t v)
{
    struct object_ref o;
    if (!in_minor || object_find(v, true, &o) != OBJ_FOUND || !(o.block->flags & PF_AGED))
        return false;
    const struct work_item *it = &work.v[o.block->free_since];
    size_t bit = granule_bit(o.chunk, o.start);
    return bit_test(o.chunk->mark, bit) && !((snap_word(it, (bit >> 6) - first_word(o.block)) >> (bit & 63)) & 1);
}

uint64_t aging_after_minor(uint64_t young)
{
    uint64_t bytes = 0;
    in_minor = false;
    /* The fresh survivors' bytes first, the aged bits written after:
     * when they are promoted at once, writing them would only have
     * touched the aged bitmap (Guile gcbench's first minor collection,
     * 8 MB surviving: 0.3-0.45 ms). */
    for (size_t i = 0; i < work.n; i++) {
        struct work_item *it = &work.v[i];
        struct page_desc *b = it->b;
        if (!is_block(b))
            continue;   /* freed (a large object found dead): pages_free cleared it */
        b->flags &= (uint8_t)~PF_AGED;
        struct chunk *c = chunk_of_pd(b);
        it->fresh = 0;
        for (size_t k = 0, w = first_word(b); k < nwords(b); k++, w++)
            it->fresh += block_bytes(b, atomic_load_explicit(&c->mark[w], memory_order_relaxed) & ~snap_word(it, k));
        bytes += it->fresh;
    }
    /* Nothing to age; or most of the young generation survived: the
     * program is building what it keeps (a long-lived structure), and
     * aging would only trace it twice, so it is promoted at once. */
    bool none_aged = !bytes || bytes > young / 2 || age_none;
    if (none_aged)
        bytes = 0;
    for (size_t i = 0; i < work.n; i++) {
        struct work_item *it = &work.v[i];
        struct page_desc *b = it->b;
        if (!is_block(b))
            continue;
        if (none_aged) {
            if (it->aged)
                clear_aged(b);
            continue;
        }
        /* A young block with no fresh survivor: no aged word to write. */
        if (!it->aged && !it->fresh)
            continue;
        struct chunk *c = chunk_of_pd(b);
        for (size_t k = 0, w = first_word(b); k < nwords(b); k++, w++) {
            uint64_t fresh = atomic_load_explicit(&c->mark[w], memory_order_relaxed) & ~snap_word(it, k);
            if (it->aged || fresh)
                c->aged[w] = fresh;
        }
        /* What it promoted was traced young: its pages were not armed
         * when its pointers were stored, and the next collection clears
         * the marks of what they may point to. */
        if (i < was_listed)
            recheck_block(b);
        if (!it->fresh)
            continue;
        if (VEC_PUSH(listed, b)) {
            b->flags |= PF_AGED;
        } else {
            promote(b);   /* no room to list it */
            bytes -= it->fresh;
        }
    }
    work.n = 0;
    want_items = listed.n;
    want_words = 0;
    for (size_t i = 0; i < listed.n; i++)
        want_words += nwords(listed.v[i]);
    aging_pending = listed.n != 0;
    return bytes;
}

void aging_forget(void)
{
    for (size_t i = 0; i < listed.n; i++) {
        struct page_desc *b = listed.v[i];
        if (!is_block(b))
            continue;
        clear_aged(b);
        watch_young_block(b);
    }
    clear_listed();
    aging_pending = false;
    want_items = want_words = 0;
    for (struct chunk *c = chunk_list(); c; c = c->next)
        memset(c->recheck, 0, (c->npages + 63) / 64 * 8);
}

void aging_keep(struct page_desc *b)
{
    if (!(b->flags & PF_AGED) || !is_block(b))
        return;
    promote(b);
    b->flags &= (uint8_t)~PF_AGED;   /* its entry in `listed` is skipped */
}

void aging_chunk_removed(struct chunk *c)
{
    listed.n = pds_without_chunk(listed.v, listed.n, c);
    /* During a minor collection (a dead large object's own chunk). */
    size_t k = 0;
    size_t listed_before = 0;
    for (size_t i = 0; i < work.n; i++) {
        if (chunk_of_pd(work.v[i].b) == c)
            continue;
        listed_before += i < was_listed;
        work.v[i].b->free_since = (uint32_t)k;
        work.v[k++] = work.v[i];
    }
    work.n = k;
    was_listed = listed_before;
}
