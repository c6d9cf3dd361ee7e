#include "block.h"
#include "bookmark.h"
#include "heap.h"
#include "mark.h"
#include "pages.h"
#include "pressure.h"
#include "stats.h"
#include "vg.h"
#include "watch.h"
#include "incremental.h"

#include <string.h>

uintptr_t free_secret;
_Atomic uint32_t gc_epoch = 1;

/* A list of blocks, its tail kept for splicing. */
struct blist {
    struct page_desc *head, *tail;
};

/* Every block by kind and class; the sweep cursor walks each list once
 * per epoch.  Blocks created in this epoch go in front of it. */
static struct blist blocks[NKINDS][NCLASSES];
static struct page_desc *cursor[NKINDS][NCLASSES];
/* Blocks a sweep found with every object live, off the cursor's way until
 * the marks are rebuilt: in generational mode marks stay between minor
 * collections, so such a block has nothing to sweep until the next full
 * collection, and the cursor passed every block of an old generation in
 * every epoch that allocated more than the free space before them
 * (GCBench depth 22, incremental and generational: reading their mark
 * words was a tenth of the run).  A parked block counts as swept in every
 * epoch: its objects stay marked.  Nothing else clears a mark but a full
 * collection or a cycle's start, which unpark at their end; aging, whose
 * blocks are not parked; and an explicit free, which unparks the block
 * first (blocks_sweep_if_unswept) unless it takes the lock-free path (the
 * block was parked in this epoch, so it counts as swept): then the slot
 * goes on the thread's own list, and the collection that drops that list
 * unparks the block (blocks_unpark_slot), whose next sweep relists it.
 *
 * Parked is PF_PARKED set and swept since the last full unparking: a
 * full collection unparks every block without touching one (a cycle's
 * final pause walked 30 thousand of them for GCBench depth 22's tree, a
 * few ms), and a sweep clears the stale flag before it reads a block. */
static struct blist parked[NKINDS][NCLASSES];
static uint32_t unparked_at;   /* epoch of the last unpark_all */
/* Free objects found by bulk sweeping, waiting for a thread to want them. */
static struct flist spare[NKINDS][NCLASSES];
static size_t held_blocks;   /* blocks with PF_HELD */

static uint32_t epoch_now(void) { return atomic_load_explicit(&gc_epoch, memory_order_relaxed); }

void blocks_init(void)
{
    /* High bits set: a tag is never a canonical address, so scanning a free
     * object never keeps anything alive through it. */
    free_secret = ((uintptr_t)&free_secret * 0x9e3779b97f4a7c15u) | 0xa5c3000000000000u;
}

static void list_push(struct blist *list, struct page_desc *pd)
{
    pd->prev = NULL;
    pd->next = list->head;
    if (list->head)
        list->head->prev = pd;
    else
        list->tail = pd;
    list->head = pd;
}

static void list_remove(struct blist *list, struct page_desc *pd)
{
    if (pd->prev)
        pd->prev->next = pd->next;
    else
        list->head = pd->next;
    if (pd->next)
        pd->next->prev = pd->prev;
    else
        list->tail = pd->prev;
    pd->next = pd->prev = NULL;
}

/* from's blocks after to's; from left empty. */
static void list_append(struct blist *to, struct blist *from)
{
    if (!from->head)
        return;
    if (to->tail) {
        to->tail->next = from->head;
        from->head->prev = to->tail;
    } else {
        to->head = from->head;
    }
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

bool block_parked(const struct page_desc *b)
{
    return (b->flags & PF_PARKED) &&
           (int32_t)(atomic_load_explicit(&b->swept, memory_order_relaxed) - unparked_at) >= 0;
}

/* b off its list, the cursor moved past it first: a block freed while it
 * was the cursor (an explicit free sweeps its block wherever the cursor
 * is) would end the walk, or send it down the list of whatever class
 * the block's pages go to next. */
static void unlist(struct page_desc *b)
{
    if (cursor[b->kind][b->sclass] == b)
        cursor[b->kind][b->sclass] = b->next;
    list_remove(block_parked(b) ? &parked[b->kind][b->sclass] : &blocks[b->kind][b->sclass], b);
}

/* b, being swept (its flag cleared), was found with every object live.
 * Uncollectable blocks stay listed: their objects are roots
 * (blocks_mark_roots). */
static void park(struct page_desc *b)
{
    if (b->kind == KIND_UNCOLLECTABLE || (b->flags & (PF_AGED | PF_HELD)))
        return;
    unlist(b);
    list_push(&parked[b->kind][b->sclass], b);
    b->flags |= PF_PARKED;
}

/* Back in front of the cursor, swept in this epoch (it has nothing to sweep). */
static void unpark(struct page_desc *b)
{
    list_remove(&parked[b->kind][b->sclass], b);
    list_push(&blocks[b->kind][b->sclass], b);
    b->flags &= (uint8_t)~PF_PARKED;
    atomic_store_explicit(&b->swept, epoch_now(), memory_order_relaxed);
}

void blocks_unpark_slot(struct chunk *c, uintptr_t p)
{
    struct page_desc *b = page_block(c, page_index(c, p));
    if (b->state == PS_SMALL && block_parked(b))
        unpark(b);
}

size_t blocks_parked_count(void)
{
    size_t n = 0;
    for (int k = 0; k < NKINDS; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++)
            for (struct page_desc *b = parked[k][cls].head; b; b = b->next)
                n++;
    return n;
}

/* The marks were rebuilt (the epoch just began): every parked block back
 * on its list, behind the others (the sweep keeps reaching first the
 * blocks it reached first before), to be swept.  Their flags go stale:
 * each was swept before this epoch. */
static void unpark_all(void)
{
    for (int k = 0; k < NKINDS; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++)
            list_append(&blocks[k][cls], &parked[k][cls]);
    unparked_at = epoch_now();
}

static void flist_append(struct flist *to, struct flist *from)
{
    if (!from->n)
        return;
    if (to->n)
        make_free(to->tail, from->head);
    else
        to->head = from->head;
    to->tail = from->tail;
    to->n += from->n;
}

/* What follows an object's link and tag, zeroed (make_free writes those). */
static inline __attribute__((always_inline)) void zero_tail(void *obj, size_t size)
{
    if (size > 2 * sizeof(uintptr_t))
        memset((uintptr_t *)obj + 2, 0, size - 2 * sizeof(uintptr_t));
}

/* Objects [0, n) of `size` bytes from base linked in order, the last to
 * NULL, zeroed when `clear`.  Inlined with the common sizes as constants,
 * so that zeroing an object is a store or two, not a call. */
static inline __attribute__((always_inline)) void link_objects(uintptr_t base, size_t size, size_t n, bool clear)
{
    for (size_t i = 0; i < n; i++) {
        void *o = (void *)(base + i * size);
        make_free(o, i + 1 < n ? (void *)(base + (i + 1) * size) : NULL);
        if (clear)
            zero_tail(o, size);
    }
}

/* All n objects of a block as one free list, in one pass: zeroing the
 * block first and linking after wrote every object twice (GCBench depth
 * 16, generational: 5 % of the run). */
static void build_list(uintptr_t base, size_t size, size_t n, enum kind k, bool zero, struct flist *out)
{
    vg_make_writable((void *)base, n * size);
    bool clear = !zero && k != KIND_ATOMIC;
    switch (size) {
    case 16: link_objects(base, 16, n, clear); break;
    case 32: link_objects(base, 32, n, clear); break;
    case 48: link_objects(base, 48, n, clear); break;
    case 64: link_objects(base, 64, n, clear); break;
    default: link_objects(base, size, n, clear); break;
    }
    out->head = (void *)base;
    out->tail = (void *)(base + (n - 1) * size);
    out->n = n;
}

#define MAX_BLOCK_WORDS (16 * GRANULES_PER_PAGE / 64)

/* The build targets baseline x86-64, whose popcount is a libgcc loop;
 * the machine's instruction is picked at load time. */
COGC_TARGET_CLONES("popcnt", "default")
static size_t count_bits(const uint64_t *w, size_t n)
{
    size_t bits = 0;
    for (size_t i = 0; i < n; i++)
        bits += (size_t)__builtin_popcountll(w[i]);
    return bits;
}

/* The live bits of small block b (its marks; uncollectable objects live by
 * their allocation bit), one per object at its first granule, into
 * live[]: returns how many there are. */
static size_t block_live(struct page_desc *b, uint64_t *live)
{
    struct chunk *c = chunk_of_pd(b);
    size_t w0 = granule_bit(c, pd_addr(b)) >> 6, nw = (size_t)b->npages * GRANULES_PER_PAGE / 64;
    bool uncollectable = b->kind == KIND_UNCOLLECTABLE;
    for (size_t w = 0; w < nw; w++) {
        live[w] = atomic_load_explicit(&c->mark[w0 + w], memory_order_relaxed);
        if (uncollectable)
            live[w] |= atomic_load_explicit(&c->alloc[w0 + w], memory_order_relaxed);
    }
    return count_bits(live, nw);
}

/* Sweep b, a bitmap word at a time, into *out.  A block with nothing live
 * is rebuilt whole when `reuse`, else its pages go back (out stays empty). */
static void sweep_block(struct page_desc *b, bool reuse, struct flist *out)
{
    uintptr_t base = pd_addr(b);
    size_t size = b->objsize, n = b->nobjs, stride = size >> GRANULE_SHIFT;
    uint64_t live[MAX_BLOCK_WORDS];
    b->flags &= (uint8_t)~PF_PARKED;   /* stale (unpark_all): before the stamp makes it count */
    atomic_store_explicit(&b->swept, epoch_now(), memory_order_relaxed);
    out->head = out->tail = NULL;
    out->n = 0;

    size_t nlive = block_live(b, live);
    bool any_live = nlive != 0;
    /* Every object live (a bit marks only an object's first granule): done
     * without visiting them (GCBench depth 22, generational: a third of
     * the run had gone to visiting the long-lived tree's objects), and
     * parked, so that later epochs do not read its marks again. */
    if (nlive == n) {
        park(b);
        return;
    }

    /* A page out is not read: a block with one is swept when it is back,
     * or, with nothing in it marked, freed whole (pages.c drops its swap). */
    if (unlikely(bookmark_pages_out) && bookmark_block_is_out(b)) {
        if (!any_live) {
            unlist(b);
            pages_free(b, b->npages);
        }
        return;
    }

    size_t reclaimed = 0;
    if (!any_live) {
        if (!vg_on) {
            /* Counted whole, free slots included, and not read: reading
             * each slot's tag only to count them was a pass over the block
             * before the one that rebuilds it (GCBench depth 16,
             * generational: 2.6 % of the run), and a dead block freed
             * under a memory budget may be in swap. */
            reclaimed = (size_t)n * size;
        } else {
            for (size_t i = 0; i < n; i++) {
                void *obj = (void *)(base + i * size);
                if (!is_free(obj)) {
                    vg_free(obj);
                    reclaimed += size;
                }
            }
        }
        stats_reclaimed(reclaimed);
        if (reuse) {
            build_list(base, size, n, (enum kind)b->kind, false, out);
            return;
        }
        unlist(b);
        pages_free(b, b->npages);
        return;
    }

    void *prev = NULL;
    for (size_t i = 0, bit = 0; i < n; i++, bit += stride) {
        if (live[bit >> 6] & ((uint64_t)1 << (bit & 63)))
            continue;
        void *obj = (void *)(base + i * size);
        if (!is_free(obj)) {
            /* garbage: its contents must not leak into the next object */
            vg_free(obj);
            reclaimed += size;
        }
        vg_make_writable(obj, size);
        if (b->kind != KIND_ATOMIC)
            zero_tail(obj, size);
        make_free(obj, NULL);
        if (prev)
            make_free(prev, obj);
        else
            out->head = obj;
        prev = obj;
        out->n++;
    }
    out->tail = prev;
    stats_reclaimed(reclaimed);
}

/* log2 of the pages of the next new block of each kind and class, until
 * it reaches the class's block size. */
static uint8_t growth[NKINDS][NCLASSES];

/* The first blocks of a class are small and each new one doubles, up to
 * the class's block size: building a block's free list writes every object
 * in it, so a process that allocates a few objects of a class would
 * otherwise fault in up to 16 pages for them (a short-lived program under
 * the preload library uses dozens of classes). */
static uint32_t new_block_pages(enum kind k, unsigned cls)
{
    const struct size_class *sc = &size_classes[cls];
    uint32_t want = (uint32_t)1 << growth[k][cls];
    if (want >= sc->pages)
        return sc->pages;
    growth[k][cls]++;
    uint32_t one = (uint32_t)(round_up(sc->size, PAGE_SIZE) >> PAGE_SHIFT);   /* one object at least */
    return want > one ? want : one;
}

static bool new_block(enum kind k, unsigned cls, struct flist *out)
{
    const struct size_class *sc = &size_classes[cls];
    uint32_t npages = new_block_pages(k, cls);
    bool zero;
    struct page_desc *b = heap_get_pages(npages, false, &zero);
    if (!b)
        return false;
    b->kind = (uint8_t)k;
    b->sclass = (uint8_t)cls;
    b->npages = npages;
    b->objsize = sc->size;
    b->nobjs = (uint32_t)(npages * PAGE_SIZE / sc->size);
    b->recip = sc->recip;
    if (incremental_marking())
        b->flags |= PF_FRESH;
    /* Published last: a concurrent marker reads the fields after the state. */
    __atomic_store_n(&b->state, PS_SMALL, __ATOMIC_RELEASE);
    atomic_store_explicit(&b->swept, epoch_now(), memory_order_relaxed);
    /* Marks are sticky in generational mode: a large object freed while
     * marked would leave its bit to a new object here. */
    chunk_clear_mark_range(chunk_of_pd(b), pd_addr(b), (size_t)npages * PAGE_SIZE);
    list_push(&blocks[k][cls], b);
    build_list(pd_addr(b), sc->size, b->nobjs, k, zero, out);
    watch_young_block(b);
    return true;
}

bool blocks_refill(enum kind k, unsigned cls, struct flist *out)
{
    if (spare[k][cls].n) {
        /* Spare objects come from blocks swept in this epoch, which were
         * noted young when swept (blocks_sweep_if_unswept). */
        *out = spare[k][cls];
        spare[k][cls] = (struct flist){0};
        return true;
    }
    struct page_desc *b;
    while ((b = cursor[k][cls])) {
        cursor[k][cls] = b->next;
        if (atomic_load_explicit(&b->swept, memory_order_relaxed) == epoch_now() || (b->flags & PF_HELD))
            continue;
        sweep_block(b, true, out);
        if (out->n) {
            watch_young_block(b);
            return true;
        }
    }
    return new_block(k, cls, out);
}

void blocks_sweep_if_unswept(struct page_desc *b)
{
    if (b->state == PS_SMALL && block_parked(b))
        unpark(b);
    if (b->state != PS_SMALL || atomic_load_explicit(&b->swept, memory_order_relaxed) == epoch_now() ||
        (b->flags & PF_HELD))
        return;
    struct flist got;
    sweep_block(b, false, &got);
    if (got.n)
        watch_young_block(b);
    flist_append(&spare[b->kind][b->sclass], &got);
}

size_t blocks_sweep_all(void)
{
    size_t before = pages_free_count();
    for (int k = 0; k < NKINDS; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++) {
            struct page_desc *b;
            while ((b = cursor[k][cls])) {
                cursor[k][cls] = b->next;
                blocks_sweep_if_unswept(b);
            }
        }
    return pages_free_count() - before;
}

void blocks_mark_roots(bool drop_spares)
{
    /* The spare lists are only the heap's: dropped, not kept, so that their
     * blocks can empty (the objects stay tagged free; sweeps relist them). */
    if (drop_spares)
        memset(spare, 0, sizeof spare);
    for (unsigned cls = 0; cls < NCLASSES; cls++) {
        for (struct page_desc *b = blocks[KIND_UNCOLLECTABLE][cls].head; b; b = b->next) {
            struct chunk *c = chunk_of_pd(b);
            uintptr_t base = pd_addr(b);
            size_t stride = b->objsize >> GRANULE_SHIFT, bit = granule_bit(c, base);
            for (size_t i = 0; i < b->nobjs; i++, bit += stride)
                if (bit_test(c->alloc, bit))
                    mark_push_root_object(base + i * b->objsize, b->objsize);
        }
    }
}

/* Blocks with a page out are swept at once: it reads no page, and a dead
 * one gives its swap back now rather than when allocation reaches it. */
static void sweep_out_blocks(void)
{
    struct flist none;
    for (unsigned cls = 0; cls < NCLASSES; cls++)
        for (struct page_desc *b = blocks[KIND_NORMAL][cls].head, *next; b; b = next) {
            next = b->next;
            if (!(b->flags & PF_HELD) && bookmark_block_is_out(b))
                sweep_block(b, false, &none);
        }
}

/* Held blocks wait for a full collection: their unmarked objects then
 * are what the sweep finds of them, and the pages with old objects are
 * written once per full collection rather than after every minor one.
 * What they hold back counts towards the next full collection
 * (collect.c). */
size_t blocks_hold(struct page_desc *b)
{
    uint64_t live[MAX_BLOCK_WORDS];
    size_t nlive = block_live(b, live);
    if (nlive >= b->nobjs)
        return 0;
    if (!(b->flags & PF_HELD))
        held_blocks++;
    b->flags |= PF_HELD;
    return (b->nobjs - nlive) * (size_t)b->objsize;
}

static void release_held(void)
{
    for (int k = 0; k < NKINDS; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++)
            for (struct page_desc *b = blocks[k][cls].head; b; b = b->next)
                b->flags &= (uint8_t)~PF_HELD;
    held_blocks = 0;
}

void blocks_new_epoch(bool full)
{
    atomic_fetch_add_explicit(&gc_epoch, 1, memory_order_relaxed);
    if (full)
        unpark_all();
    if (full && held_blocks)
        release_held();
    for (int k = 0; k < NKINDS; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++)
            cursor[k][cls] = blocks[k][cls].head;
    if (bookmark_pages_out)
        sweep_out_blocks();
}
