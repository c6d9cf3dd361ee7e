#include "aging.h"
#include "object.h"
#include "vec.h"
#include "watch.h"

#include <string.h>

bool aging_on;
bool aging_pending;
bool aging_used;
static bool stopped;   /* pages went out: no more aging */

/* Blocks with aged objects (PF_AGED), and during a minor collection every
 * block it looks at: those and the young ones. */
static struct {
    struct page_desc **v;
    size_t n, cap;
} listed, work;
static size_t was_listed;   /* work.v[0..was_listed): listed before this collection */
static bool in_minor;       /* between aging_before_minor and aging_after_minor */

void aging_set(bool on) { aging_on = on && !stopped; }

static bool is_block(const struct page_desc *b) { return b->state == PS_SMALL || b->state == PS_LARGE; }

/* The mark-bitmap words of block b: a large object's mark is its first granule's. */
static size_t first_word(const struct page_desc *b) { return granule_bit(chunk_of_pd(b), pd_addr(b)) >> 6; }
static size_t nwords(const struct page_desc *b)
{
    return b->state == PS_LARGE ? 1 : (size_t)b->npages * GRANULES_PER_PAGE / 64;
}

static uint64_t block_bytes(const struct page_desc *b, uint64_t bits)
{
    return (uint64_t)__builtin_popcountll(bits) * b->objsize;
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
    memset(&chunk_of_pd(b)->aged[first_word(b)], 0, nwords(b) * 8);
    recheck_block(b);
    watch_young_block(b);
}

void aging_before_minor(void)
{
    work.n = 0;
    if (!aging_on)
        return;
    /* The listed blocks first: they may be young again too, and each
     * block's words must be visited once (the second visit would take
     * the old marks for aged ones). */
    for (size_t i = 0; i < listed.n; i++) {
        struct page_desc *b = listed.v[i];
        if (is_block(b) && !VEC_PUSH(work, b)) {
            b->flags &= (uint8_t)~PF_AGED;
            promote(b);   /* no room to look at it: its objects old from now */
        }
    }
    was_listed = work.n;
    listed.n = 0;
    struct page_desc **young;
    size_t nyoung = watch_young_list(&young);
    for (size_t i = 0; i < nyoung; i++) {
        struct page_desc *b = young[i];
        if (!is_block(b) || (b->flags & PF_AGED) || b->kind == KIND_UNCOLLECTABLE)
            continue;
        if (!VEC_PUSH(work, b))
            break;   /* the rest are promoted, as without aging */
        b->flags |= PF_AGED;
    }
    aging_used = true;
    for (size_t i = 0; i < work.n; i++) {
        struct page_desc *b = work.v[i];
        struct chunk *c = chunk_of_pd(b);
        for (size_t w = first_word(b), e = w + nwords(b); w < e; w++) {
            uint64_t m = atomic_load_explicit(&c->mark[w], memory_order_relaxed), a = c->aged[w];
            if (a)
                atomic_store_explicit(&c->mark[w], m & ~a, memory_order_relaxed);
            c->aged[w] = m;   /* the marks before this collection */
        }
        if (i < was_listed)
            watch_young_block(b);   /* its promoted objects' pages become watched */
    }
    /* Until aging_after_minor, the aged bits are the snapshot. */
    aging_pending = false;
    in_minor = true;
}

bool aging_newly_marked(uintptr_t v)
{
    struct object_ref o;
    if (!in_minor || object_find(v, true, &o) != OBJ_FOUND || !(o.block->flags & PF_AGED))
        return false;
    size_t bit = granule_bit(o.chunk, o.start);
    return bit_test(o.chunk->mark, bit) && !((o.chunk->aged[bit >> 6] >> (bit & 63)) & 1);
}

uint64_t aging_after_minor(uint64_t young)
{
    uint64_t bytes = 0;
    in_minor = false;
    for (size_t i = 0; i < work.n; i++) {
        struct page_desc *b = work.v[i];
        b->flags &= (uint8_t)~PF_AGED;
        if (!is_block(b))
            continue;   /* freed (a large object found dead) */
        struct chunk *c = chunk_of_pd(b);
        for (size_t w = first_word(b), e = w + nwords(b); w < e; w++) {
            uint64_t fresh = atomic_load_explicit(&c->mark[w], memory_order_relaxed) & ~c->aged[w];
            c->aged[w] = fresh;
            bytes += block_bytes(b, fresh);
        }
    }
    /* Most of the young generation survived: the program is building
     * what it keeps (a long-lived structure), and aging would only trace
     * it twice.  Promoted at once. */
    if (bytes > young / 2) {
        for (size_t i = 0; i < work.n; i++) {
            struct page_desc *b = work.v[i];
            if (is_block(b))
                memset(&chunk_of_pd(b)->aged[first_word(b)], 0, nwords(b) * 8);
        }
        bytes = 0;
    }
    for (size_t i = 0; bytes && i < work.n; i++) {
        struct page_desc *b = work.v[i];
        if (!is_block(b))
            continue;
        /* What it promoted was traced young: its pages were not armed
         * when its pointers were stored, and the next collection clears
         * the marks of what they may point to. */
        if (i < was_listed)
            recheck_block(b);
        const uint64_t *a = &chunk_of_pd(b)->aged[first_word(b)];
        uint64_t mine = 0;
        for (size_t w = 0; w < nwords(b); w++)
            mine += block_bytes(b, a[w]);
        if (!mine)
            continue;
        if (VEC_PUSH(listed, b)) {
            b->flags |= PF_AGED;
        } else {
            promote(b);   /* no room to list it */
            bytes -= mine;
        }
    }
    work.n = 0;
    aging_pending = listed.n != 0;
    return bytes;
}

void aging_forget(void)
{
    for (size_t i = 0; i < listed.n; i++) {
        struct page_desc *b = listed.v[i];
        if (!is_block(b))
            continue;
        memset(&chunk_of_pd(b)->aged[first_word(b)], 0, nwords(b) * 8);
        watch_young_block(b);
    }
    clear_listed();
    aging_pending = false;
    for (struct chunk *c = chunk_list(); c; c = c->next)
        memset(c->recheck, 0, (c->npages + 63) / 64 * 8);
}

void aging_stop(void)
{
    stopped = true;
    aging_on = false;
    for (size_t i = 0; i < listed.n; i++) {
        struct page_desc *b = listed.v[i];
        if (!is_block(b))
            continue;
        promote(b);   /* written since, unarmed */
    }
    clear_listed();
    aging_pending = false;
}

void aging_chunk_removed(struct chunk *c)
{
    size_t k = 0;
    for (size_t i = 0; i < listed.n; i++)
        if (chunk_of_pd(listed.v[i]) != c)
            listed.v[k++] = listed.v[i];
    listed.n = k;
}
