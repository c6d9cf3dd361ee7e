#include "chunk.h"
#include "roots.h"
#include "bookmark.h"
#include "options.h"
#include "pressure.h"
#include "os.h"
#include "tracking.h"
#include "watch.h"
#include "incremental.h"

#include <errno.h>
#include <string.h>

#define TABLE_ENTRIES ((size_t)1 << (47 - CHUNK_SHIFT))

struct chunk **chunk_table;
uintptr_t heap_lo = UINTPTR_MAX, heap_hi = UINTPTR_MAX;
static struct chunk *chunks;
static size_t mapped_bytes;
static struct chunk *doomed;   /* deleted while marking ran concurrently */

int chunk_table_init(void)
{
    if (chunk_table)
        return 0;
    chunk_table = os_map_aligned(TABLE_ENTRIES * sizeof *chunk_table, PAGE_SIZE, true);
    return chunk_table ? 0 : -1;
}

static size_t bitmap_bytes(size_t npages) { return round_up(npages * GRANULES_PER_PAGE / 8, 64); }
static size_t page_bitmap_bytes(size_t npages) { return round_up((npages + 7) / 8, 64); }
static size_t age_bytes(size_t npages) { return round_up(npages * sizeof(uint16_t), 64); }

size_t chunk_header_bytes(size_t npages)
{
    size_t n = round_up(sizeof(struct chunk) + npages * sizeof(struct page_desc), 64);
    n += 4 * bitmap_bytes(npages);
    n += 5 * page_bitmap_bytes(npages);
    n += age_bytes(npages);
    n += round_up(npages * sizeof(struct out_page), 64);
    return round_up(n, PAGE_SIZE);
}

struct chunk *chunk_new(size_t data_pages, bool single)
{
    size_t npages = CHUNK_SIZE / PAGE_SIZE;
    if (single) {
        /* Grow until header + object fit; the header grows with the chunk. */
        npages = round_up(data_pages * PAGE_SIZE + chunk_header_bytes(data_pages + 1024), CHUNK_SIZE) / PAGE_SIZE;
        if (data_pages > ((size_t)1 << 35) / PAGE_SIZE) {
            errno = ENOMEM;
            return NULL;
        }
    }
    size_t size = npages * PAGE_SIZE;
    struct chunk *c = tracking_map(size, CHUNK_SIZE);
    if (!c)
        return NULL;
    size_t hdr = chunk_header_bytes(npages);
    if (option(OPT_HUGEPAGES) && !single)
        os_hugepage(c, size);
    char *meta = (char *)c + round_up(sizeof(struct chunk) + npages * sizeof(struct page_desc), 64);
    c->npages = (uint32_t)npages;
    c->first = (uint32_t)(hdr / PAGE_SIZE);
    c->single = single;
    c->size = size;
    /* The allocation, bookmark and aged bitmaps go last and are not
     * populated: only large and uncollectable objects use the first, only a
     * heap under memory pressure the second, only minor collections the
     * third (and only where the young blocks are). */
    size_t gb = bitmap_bytes(npages), pb = page_bitmap_bytes(npages);
    c->mark = (_Atomic uint64_t *)meta;
    meta += gb;
    c->black = (_Atomic uint64_t *)meta;
    c->watch = (uint64_t *)(meta + pb);
    c->rescan = (uint64_t *)(meta + 2 * pb);
    c->evicted = (uint64_t *)(meta + 3 * pb);
    c->recheck = (uint64_t *)(meta + 4 * pb);
    meta += 5 * pb;
    c->age = (uint16_t *)meta;
    meta += age_bytes(npages);
    c->alloc = (_Atomic uint64_t *)meta;
    c->bookmark = (uint64_t *)(meta + gb);
    c->aged = (uint64_t *)(meta + 2 * gb);
    c->out = (struct out_page *)(meta + 3 * gb);
    /* A new chunk is used at once (a growing heap), and one populate call
     * costs a fraction of the page faults it replaces. */
    size_t used = single ? hdr + data_pages * PAGE_SIZE : size;
    if (option(OPT_POPULATE) && used <= ((size_t)64 << 20) && pressure_may_populate(used)) {
        size_t alloc_off = (size_t)((char *)c->alloc - (char *)c);
        os_populate(c, round_up(alloc_off, PAGE_SIZE));
        os_populate((char *)c + hdr, used - hdr);
    }

    uintptr_t a = (uintptr_t)c;
    for (size_t off = 0; off < size; off += CHUNK_SIZE)
        __atomic_store_n(&chunk_table[(a + off) >> CHUNK_SHIFT], c, __ATOMIC_RELEASE);
    if (heap_lo == UINTPTR_MAX) {
        /* hi first: [UINTPTR_MAX, hi) wraps to [0, hi), which stays inside
         * the table; [a, UINTPTR_MAX) would not. */
        __atomic_store_n(&heap_hi, a + size, __ATOMIC_RELAXED);
        __atomic_store_n(&heap_lo, a, __ATOMIC_RELAXED);
    } else {
        if (a < heap_lo)
            __atomic_store_n(&heap_lo, a, __ATOMIC_RELAXED);
        if (a + size > heap_hi)
            __atomic_store_n(&heap_hi, a + size, __ATOMIC_RELAXED);
    }
    c->next = chunks;
    chunks = c;
    mapped_bytes += size;
    tracking_chunk_added(c);
    if (watch_chunk_added(c) != 0) {
        chunk_delete(c);
        errno = ENOMEM;
        return NULL;
    }
    roots_note_chunk(a, a + size);   /* a root word that pointed nowhere may now point into c */
    return c;
}

void chunk_delete(struct chunk *c)
{
    bookmark_pages_freed(c, c->first, c->npages - c->first);
    watch_chunk_removed(c);
    tracking_chunk_removed(c);
    struct chunk **pp = &chunks;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    uintptr_t a = (uintptr_t)c;
    for (size_t off = 0; off < c->size; off += CHUNK_SIZE)
        __atomic_store_n(&chunk_table[(a + off) >> CHUNK_SHIFT], NULL, __ATOMIC_RELAXED);
    mapped_bytes -= c->size;
    if (incremental_marking()) {
        /* The concurrent marker may be reading it: unmapped at the final pause. */
        c->next = doomed;
        doomed = c;
        return;
    }
    tracking_unmap(c, c->size);
}

void chunk_unmap_deferred(void)
{
    while (doomed) {
        struct chunk *c = doomed;
        doomed = c->next;
        tracking_unmap(c, c->size);
    }
}

struct chunk *chunk_list(void) { return chunks; }
size_t chunk_mapped_bytes(void) { return mapped_bytes; }

void chunk_clear_mark_range(struct chunk *c, uintptr_t a, size_t len)
{
    size_t bit = granule_bit(c, a), end = bit + (len >> GRANULE_SHIFT);
    for (; bit < end && (bit & 63); bit++)
        bit_clear_atomic(c->mark, bit);
    for (; bit + 64 <= end; bit += 64)
        if (atomic_load_explicit(&c->mark[bit >> 6], memory_order_relaxed))
            atomic_store_explicit(&c->mark[bit >> 6], 0, memory_order_relaxed);
    for (; bit < end; bit++)
        bit_clear_atomic(c->mark, bit);
}

void chunk_clear_marks(void)
{
    for (struct chunk *c = chunks; c; c = c->next) {
        if (c->single) {
            size_t bit = (size_t)c->first * GRANULES_PER_PAGE;
            atomic_store_explicit(&c->mark[bit >> 6], 0, memory_order_relaxed);
        } else {
            memset((void *)c->mark, 0, bitmap_bytes(c->npages));
        }
        memset((void *)c->black, 0, page_bitmap_bytes(c->npages));
    }
}
