/* Allocation: per-thread free lists per kind and size class (no lock on
 * the fast path), blocks swept lazily when a list runs dry, large objects
 * on whole pages, explicit free. */
#ifndef COGC_ALLOC_H
#define COGC_ALLOC_H

#include "block.h"
#include "chunk.h"
#include "roots.h"
#include "sizeclass.h"
#include "vg.h"

#include <string.h>

struct thread;

/* Per-thread allocation state.  Objects on the lists are free as block.h
 * describes: link, tag, and zeros for scanned kinds. */
struct tl {
    void *fl[2][NCLASSES];     /* KIND_NORMAL and KIND_ATOMIC lists */
    size_t refilled;           /* bytes handed to this thread since last flush */
    size_t freed;              /* bytes freed to this thread's lists since last flush */
    size_t used;               /* bytes taken from this thread's lists since last flush */
    struct thread *self;       /* registry record, NULL while unregistered */
    int busy;                  /* in an allocation or free entry point (signal re-entry check) */
};

extern __thread struct tl tl_state __attribute__((tls_model("initial-exec")));

static inline void *alloc_fast(size_t size, enum kind k)
{
    if (unlikely(size > MAX_SMALL) || k > KIND_ATOMIC)
        return NULL;
    unsigned cls = size_to_class(size);
    void **head = &tl_state.fl[k][cls];
    void *p = *head;
    if (unlikely(!p))
        return NULL;
    *head = ((void **)p)[0];
    tl_state.used += size_classes[cls].size;   /* the trigger's net count (collect.c) */
    ((void **)p)[0] = NULL;
    ((void **)p)[1] = NULL;
    return p;
}

/* Up to n objects taken from the head of this thread's list of (size,
 * k) at once, still linked through their first words (the last one's
 * link NULL), their tags cleared; returns how many, *first and *last the
 * ends (0: the list is empty). */
static inline size_t alloc_fast_many(size_t size, enum kind k, size_t n, void **first, void **last_out)
{
    if (unlikely(size > MAX_SMALL) || k > KIND_ATOMIC || !n)
        return 0;
    unsigned cls = size_to_class(size);
    void **head = &tl_state.fl[k][cls];
    void *p = *head, *last = NULL;
    size_t got = 0;
    *first = p;
    while (p && got < n) {
        ((void **)p)[1] = NULL;
        last = p;
        p = ((void **)p)[0];
        got++;
    }
    if (!got)
        return 0;
    ((void **)last)[0] = NULL;
    *last_out = last;
    *head = p;
    tl_state.used += got * size_classes[cls].size;
    return got;
}

/* The slow path: initialises, registers the thread, refills, collects,
 * grows the heap; NULL with errno = ENOMEM. */
void *alloc_slow(size_t size, enum kind k);
void alloc_free(void *p);

/* The object's mark cleared; whether it had one.  Tested first: most
 * were never marked, and a locked instruction on every free costs more
 * than the test. */
static inline bool alloc_clear_mark(struct chunk *c, size_t bit)
{
    if (likely(!bit_test(c->mark, bit)))
        return false;
    bit_clear_atomic(c->mark, bit);
    return true;
}

/* A free object is not old any more (marks are sticky between full
 * collections in generational mode): its slot is reused as young, and a
 * static root word still holding its address must be scanned again
 * (roots_minor.c). */
static inline void alloc_forget_mark(struct chunk *c, size_t bit)
{
    if (alloc_clear_mark(c, bit))
        roots_note_unmarked();
}

/* p, a small object of block b in chunk c, was validly freed: it goes on
 * this thread's list. */
static inline void alloc_free_to_list(void *p, struct chunk *c, struct page_desc *b, size_t size)
{
    alloc_forget_mark(c, granule_bit(c, (uintptr_t)p));
    if (unlikely(vg_on)) {
        vg_free(p);
        vg_make_writable(p, size);
    }
    if (b->kind == KIND_NORMAL)
        memset(p, 0, size);
    void **head = &tl_state.fl[b->kind][b->sclass];
    make_free(p, *head);
    *head = p;
    tl_state.freed += size;   /* counted at the next refill: no atomic per free */
}

/* The common explicit free, lock-free: the start of an allocated small
 * normal or atomic object, in a block swept in this epoch, freed by a
 * registered thread onto its own list.  Anything else returns false having
 * done nothing, and alloc_free handles (and reports) it. */
static inline bool alloc_free_local(void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    struct chunk *c = chunk_of(p);
    if (unlikely(!c || !tl_state.self))
        return false;
    /* Metadata pages and a single large object's later pages are PS_NONE. */
    size_t i = page_index(c, p);
    struct page_desc *b = &c->pd[i];
    if (b->state == PS_CONT) {
        i = b->head;
        b = &c->pd[i];
    }
    if (unlikely(b->state != PS_SMALL || b->kind > KIND_ATOMIC))
        return false;
    uintptr_t base = page_addr(c, i);
    uint32_t idx = div_by_recip(p - base, b->recip);
    size_t size = b->objsize;
    if (unlikely(idx >= b->nobjs || base + idx * size != p || is_free(ptr) ||
                 atomic_load_explicit(&b->swept, memory_order_relaxed) !=
                     atomic_load_explicit(&gc_epoch, memory_order_relaxed)))
        return false;
    alloc_free_to_list(ptr, c, b, size);
    return true;
}
/* cogc_free's fast path (api.c), for the preload library's free: false
 * when cogc_free must run. */
bool api_free_fast(void *p);
void *alloc_realloc(void *p, size_t size);

/* Object lookup for a pointer anywhere into an allocated object. */
void *alloc_base(const void *p);
size_t alloc_size(const void *p);

/* tl.busy: BUSY_IN while the thread is in an entry point (api.c);
 * BUSY_DEBUG once it has seen COGC_DEBUG=1. */
#define BUSY_IN 1
#define BUSY_DEBUG 2

/* Called by the collector with the heap lock held and the world stopped:
 * thread t's free objects kept through the collection (marked), or, in
 * generational mode, given back (dropped and unmarked; the blocks' next
 * sweeps list them again).  `self`: t is the collecting thread. */
void alloc_settle_free_lists(struct tl *t, bool self);
/* Free lists held by the heap itself, and every uncollectable object.
 * drop_lists: the heap's own lists are dropped (their objects stay free
 * and are listed again by the next sweep); false at the start of an
 * incremental cycle, when no sweep can run until it ends. */
void alloc_mark_heap_roots(bool drop_lists);
void alloc_after_mark(bool full);   /* new epoch: blocks unswept, large objects swept */
void alloc_drop_free_lists(struct tl *t);   /* thread exit */
/* Heap lock held: refilled, taken and freed bytes to the collection
 * trigger, freed bytes to the statistics. */
void alloc_flush_counts(struct tl *t);

#endif
