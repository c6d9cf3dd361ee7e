/* The conservative pointer test: from any word to the object it points
 * into, through the chunk table and page descriptors.  One definition for
 * marking, the heap verifier and object queries. */
#ifndef COGC_OBJECT_H
#define COGC_OBJECT_H

#include "chunk.h"
#include "sizeclass.h"

struct object_ref {
    struct chunk *chunk;
    struct page_desc *block;   /* head descriptor of the block or large object */
    uintptr_t start;
    size_t size;
};

enum object_miss { OBJ_FOUND, OBJ_NOT_HEAP, OBJ_FREE_PAGE, OBJ_OTHER };

/* Find the object containing v (or starting at v when !interior).  On a
 * miss, says whether v pointed into a free page (worth black-listing).
 * always_inline: marking calls it for every word it scans, and with a
 * dozen callers GCC kept it out of line, its result going back through
 * memory (GCBench depth 22, incremental and generational, interleaved
 * runs: 0.88 -> 0.71 s median of 7; stop-the-world 1.11 -> 0.92). */
static inline __attribute__((always_inline)) enum object_miss object_find(uintptr_t v, bool interior, struct object_ref *out)
{
    if (!heap_contains(v))
        return OBJ_NOT_HEAP;
    struct chunk *c = chunk_slot(v);
    if (!c)
        return OBJ_NOT_HEAP;
    size_t i = (v - (uintptr_t)c) >> PAGE_SHIFT;
    if (unlikely(i < c->first))
        return OBJ_OTHER;
    struct page_desc *pd = c->single ? &c->pd[c->first] : &c->pd[i];
    /* Acquire: a block is published by its state (concurrent marking). */
    unsigned st = __atomic_load_n(&pd->state, __ATOMIC_ACQUIRE);
    if (st == PS_CONT) {
        pd = &c->pd[pd->head];
        st = __atomic_load_n(&pd->state, __ATOMIC_ACQUIRE);
    }
    uintptr_t obj;
    size_t size;
    if (likely(st == PS_SMALL)) {
        uintptr_t base = pd_addr(pd);
        uint32_t idx = div_by_recip(v - base, pd->recip);
        if (unlikely(idx >= pd->nobjs))
            return OBJ_OTHER;
        size = pd->objsize;
        obj = base + (uintptr_t)idx * size;
    } else if (st == PS_LARGE) {
        obj = pd_addr(pd);
        size = (size_t)pd->npages * PAGE_SIZE;
    } else {
        out->chunk = c;   /* for black-listing the page */
        return st == PS_FREE ? OBJ_FREE_PAGE : OBJ_OTHER;
    }
    if (!interior && obj != v)
        return OBJ_OTHER;
    out->chunk = c;
    out->block = pd;
    out->start = obj;
    out->size = size;
    return OBJ_FOUND;
}

#endif
