/* Allocation: per-thread free lists per kind and size class (no lock on
 * the fast path), blocks swept lazily when a list runs dry, large objects
 * on whole pages, explicit free. */
#ifndef COGC_ALLOC_H
#define COGC_ALLOC_H

#include "block.h"
#include "chunk.h"
#include "sizeclass.h"

struct thread;

/* Per-thread allocation state.  Objects on the lists are free as block.h
 * describes: link, tag, and zeros for scanned kinds. */
struct tl {
    void *fl[2][NCLASSES];     /* KIND_NORMAL and KIND_ATOMIC lists */
    /* During an incremental cycle: the fresh block each list came from,
     * armed when the thread moves on to the next (watch_settle_fresh). */
    struct page_desc *fresh[NCLASSES];
    size_t refilled;           /* bytes handed to this thread since last flush */
    struct thread *self;       /* registry record, NULL while unregistered */
    int busy;                  /* in an allocation or free entry point (signal re-entry check) */
};

extern __thread struct tl tl_state __attribute__((tls_model("initial-exec")));

static inline void *alloc_fast(size_t size, enum kind k)
{
    if (unlikely(size > MAX_SMALL) || k > KIND_ATOMIC)
        return NULL;
    void **head = &tl_state.fl[k][size_to_class(size)];
    void *p = *head;
    if (unlikely(!p))
        return NULL;
    *head = ((void **)p)[0];
    ((void **)p)[0] = NULL;
    ((void **)p)[1] = NULL;
    return p;
}

/* The slow path: initialises, registers the thread, refills, collects,
 * grows the heap; NULL with errno = ENOMEM. */
void *alloc_slow(size_t size, enum kind k);
void alloc_free(void *p);
void *alloc_realloc(void *p, size_t size);

/* Object lookup for a pointer anywhere into an allocated object. */
void *alloc_base(const void *p);
size_t alloc_size(const void *p);

/* Called by the collector with the heap lock held and the world stopped. */
void alloc_mark_free_lists(struct tl *t);
/* Free lists held by the heap itself, and every uncollectable object.
 * drop_lists: the heap's own lists are dropped (their objects stay free
 * and are listed again by the next sweep); false at the start of an
 * incremental cycle, when no sweep can run until it ends. */
void alloc_mark_heap_roots(bool drop_lists);
void alloc_after_mark(void);   /* new epoch: blocks unswept, large objects swept */
void alloc_drop_free_lists(struct tl *t);   /* thread exit */
void alloc_flush_counts(struct tl *t);

#endif
