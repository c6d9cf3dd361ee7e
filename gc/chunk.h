/* Chunks: 4 MiB-aligned regions of heap.  Each starts with its metadata
 * (page descriptors, mark, allocation and black-list bitmaps) on pages of
 * its own, so marking never writes to an object's page.  A table maps any
 * address to its chunk in one load. */
#ifndef COGC_CHUNK_H
#define COGC_CHUNK_H

#include "config.h"
#include <stdatomic.h>
#include <stdbool.h>

enum page_state {
    PS_NONE = 0,   /* metadata page of the chunk */
    PS_FREE,       /* in a free run */
    PS_SMALL,      /* first page of a size-class block */
    PS_LARGE,      /* first page of a large object */
    PS_CONT,       /* later page of a block or large object: see head */
};

enum kind { KIND_NORMAL = 0, KIND_ATOMIC = 1, KIND_UNCOLLECTABLE = 2, NKINDS = 3 };

#define PF_ZERO     1u   /* free page known to read as zero */
#define PF_RELEASED 2u   /* free page given back to the kernel */
#define PF_YOUNG    4u   /* block head: handed to the allocator since the last collection */
#define PF_FRESH    8u   /* block head: made from free pages while concurrent marking runs */
#define PF_HELD     16u  /* block head: not swept until the next full collection (blocks_hold) */
#define PF_AGED     32u  /* block head: on the aging list (aging.c) */
#define PF_PARKED   64u  /* block head: parked, if swept since the last full collection (block.c) */

struct page_desc {
    uint8_t state;
    uint8_t kind;
    uint8_t sclass;
    uint8_t flags;
    uint32_t npages;        /* head of block or free run: its length */
    uint32_t head;          /* PS_CONT, and tail of a free run: index of its head */
    uint32_t objsize;       /* bytes per object (large: the object's size) */
    uint32_t nobjs;
    uint32_t recip;         /* see div_by_recip */
    _Atomic uint32_t swept; /* collection epoch in which the block was swept */
    uint32_t free_since;    /* free run: collection count when it became free;
                             * block head during a minor collection: its item in aging.c */
    struct page_desc *next, *prev;
};

/* Per page, for the bookmarking layer (bookmark.c): for a page sent out,
 * where the pages its pointers point into are listed, and the last mark
 * phase that reached one of its objects; for any page, the last phase that
 * marked the bookmarked objects on it. */
struct out_page {
    uint32_t off, n;
    _Atomic uint32_t reached;    /* as a page out */
    _Atomic uint32_t expanded;   /* as a target: its bookmarked objects marked */
};

struct chunk {
    uint32_t npages;        /* pages in the chunk, metadata included */
    uint32_t first;         /* first page that holds objects */
    bool single;            /* holds exactly one large object at page `first` */
    bool watch_stale;       /* watch bits may keep pages without old objects armed (watch.c) */
    size_t size;
    struct chunk *next;     /* every chunk */
    _Atomic uint64_t *mark; /* one bit per granule */
    _Atomic uint64_t *alloc;/* one bit per granule: object start, allocated */
    _Atomic uint64_t *black;/* one bit per page: hit by a false pointer */
    uint64_t *watch;        /* one bit per page: armed for writes, holds old objects (watch.c) */
    uint64_t *rescan;       /* one bit per page: watched and written since the last collection */
    uint64_t *evicted;      /* one bit per page: paged out by the bookmarking layer (bookmark.c) */
    uint16_t *age;          /* per page: collection count when last written or first watched */
    uint64_t *bookmark;     /* one bit per granule: pointed to from an evicted page (bookmark.c) */
    uint64_t *aged;         /* one bit per granule: survived one minor collection, marked, not old (aging.c) */
    uint64_t *recheck;      /* one bit per page: rescanned at the next minor collection, written or not (aging.c) */
    struct out_page *out;   /* per page, for evicted pages (bookmark.c) */
    struct page_desc pd[];
};

extern struct chunk **chunk_table;
/* The lowest and highest address of any chunk: written under the heap
 * lock when a chunk is added, read without it by the pointer test (a stale
 * pair only misses the chunk being added, which the reader cannot hold a
 * pointer into yet), hence relaxed atomic accesses (plain moves on x86-64). */
extern uintptr_t heap_lo, heap_hi;

#if defined(__SANITIZE_THREAD__)
/* Under ThreadSanitizer an atomic load is a call into its runtime, even in
 * the uninstrumented scan: one per scanned word made marking many times
 * slower (traced_incremental-verify passed 5 minutes).  There the loads
 * are plain ones TSan does not see (the stores stay atomic). */
__attribute__((no_sanitize("thread"), noinline)) static uintptr_t heap_bound_plain(const uintptr_t *b)
{
    return *(const volatile uintptr_t *)b;
}
static inline uintptr_t heap_lo_get(void) { return heap_bound_plain(&heap_lo); }
static inline uintptr_t heap_hi_get(void) { return heap_bound_plain(&heap_hi); }
#else
static inline uintptr_t heap_lo_get(void) { return __atomic_load_n(&heap_lo, __ATOMIC_RELAXED); }
static inline uintptr_t heap_hi_get(void) { return __atomic_load_n(&heap_hi, __ATOMIC_RELAXED); }
#endif
static inline bool heap_contains(uintptr_t a)
{
    uintptr_t lo = heap_lo_get();
    return a - lo < heap_hi_get() - lo;
}

/* The chunk whose 4 MiB slot holds a (a is within the heap's bounds).
 * Acquire: chunk_new publishes a chunk by its entries, its header written
 * first, while a concurrent marker may look words up. */
static inline struct chunk *chunk_slot(uintptr_t a)
{
    return __atomic_load_n(&chunk_table[a >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
}

static inline struct chunk *chunk_of(uintptr_t a)
{
    if (!heap_contains(a))
        return NULL;
    return chunk_slot(a);
}

static inline uintptr_t chunk_base(const struct chunk *c) { return (uintptr_t)c; }
static inline size_t page_index(const struct chunk *c, uintptr_t a) { return (a - chunk_base(c)) >> PAGE_SHIFT; }
static inline uintptr_t page_addr(const struct chunk *c, size_t i) { return chunk_base(c) + (i << PAGE_SHIFT); }
static inline struct chunk *chunk_of_pd(const struct page_desc *pd)
{
    return (struct chunk *)((uintptr_t)pd & ~(uintptr_t)CHUNK_MASK);
}
static inline size_t pd_index(const struct page_desc *pd) { return (size_t)(pd - chunk_of_pd(pd)->pd); }
static inline uintptr_t pd_addr(const struct page_desc *pd) { return page_addr(chunk_of_pd(pd), pd_index(pd)); }

/* The descriptor of the block or free run page i of c belongs to (its
 * head; a single chunk's object for every page), read without the acquire
 * a concurrent marker needs (object_find). */
static inline struct page_desc *page_block(struct chunk *c, size_t i)
{
    struct page_desc *pd = c->single ? &c->pd[c->first] : &c->pd[i];
    return pd->state == PS_CONT ? &c->pd[pd->head] : pd;
}

/* Drop the blocks of chunk c from the list v[0..n); returns the new n. */
static inline size_t pds_without_chunk(struct page_desc **v, size_t n, const struct chunk *c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (chunk_of_pd(v[i]) != c)
            v[k++] = v[i];
    return k;
}

/* ---- bitmaps, indexed by granule (mark, alloc) or page (black) ---- */
static inline size_t granule_bit(const struct chunk *c, uintptr_t a) { return (a - chunk_base(c)) >> GRANULE_SHIFT; }

static inline bool bit_test(_Atomic uint64_t *map, size_t bit)
{
    return (atomic_load_explicit(&map[bit >> 6], memory_order_relaxed) >> (bit & 63)) & 1;
}
/* Returns true if this call set the bit. */
static inline bool bit_set_atomic(_Atomic uint64_t *map, size_t bit)
{
    uint64_t m = (uint64_t)1 << (bit & 63);
    if (atomic_load_explicit(&map[bit >> 6], memory_order_relaxed) & m)
        return false;
    return !(atomic_fetch_or_explicit(&map[bit >> 6], m, memory_order_relaxed) & m);
}
/* Returns true if this call cleared the bit. */
static inline bool bit_clear_atomic(_Atomic uint64_t *map, size_t bit)
{
    uint64_t m = (uint64_t)1 << (bit & 63);
    return atomic_fetch_and_explicit(&map[bit >> 6], ~m, memory_order_relaxed) & m;
}

/* Map a chunk for `data_pages` pages of objects (a dedicated chunk for one
 * large object when `single`).  NULL with errno on failure. */
struct chunk *chunk_new(size_t data_pages, bool single);
void chunk_delete(struct chunk *c);
/* Unmap the chunks deleted while an incremental cycle marked (final pause). */
void chunk_unmap_deferred(void);
struct chunk *chunk_list(void);
size_t chunk_mapped_bytes(void);
/* Bytes of metadata at the start of a chunk of `npages` pages. */
size_t chunk_header_bytes(size_t npages);
int chunk_table_init(void);
/* Clear the mark bits of the granules of [a, a+len) (a granule aligned). */
void chunk_clear_mark_range(struct chunk *c, uintptr_t a, size_t len);
/* Clear every mark (and black-list) bit: the start of a full collection. */
void chunk_clear_marks(void);

#endif
