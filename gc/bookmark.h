/* Bookmarks (COGC_BOOKMARK=1, or cogc_bookmark_evict): collections that
 * never read a page the collector sent to swap.
 *
 * Under memory pressure, watched pages (they hold old objects and are armed
 * for writes, watch.c) that the program has not written for the longest
 * time are chosen as victims.  Each victim is scanned once: every object
 * it points to gets a bookmark bit (side metadata, never in the page), and
 * the victim keeps a short list of the pages those objects start on; then
 * the page goes to the kernel (MADV_PAGEOUT) and its `evicted` bit is set.
 *
 * Marking reads only the resident parts of objects.  When it reaches an
 * object with a part on an evicted page, that page is *reached*: the
 * bookmarked objects on the pages of its list are marked in its stead (a
 * superset of what its words point to, as a bookmark bit may have been set
 * from another page).  An evicted page keeps its contents: it stays armed,
 * so a write is reported, and the next collection's take of the written
 * pages brings it back (bookmark_page_back) to be scanned like any page.
 * Evicted pages that nothing reaches set no marks: a dead structure that
 * went to swap is freed, its blocks whole, from side metadata alone (the
 * sweep never reads an evicted page, and a block with one and something
 * marked is left until it is back).  Bookmark bits are forgotten with the
 * pages they sit on, and all of them once no page is out.
 *
 * Heap lock held throughout, but for bookmark_reached (markers). */
#ifndef COGC_BOOKMARK_H
#define COGC_BOOKMARK_H

#include "chunk.h"

#include <stdbool.h>
#include <stddef.h>

struct cogc_stats;

/* Pages out now: read by the markers (set only while nothing marks). */
extern size_t bookmark_pages_out;

static inline bool bookmark_page_is_out(const struct chunk *c, size_t i)
{
    return (c->evicted[i >> 6] >> (i & 63)) & 1;
}

/* Page out up to `pages` watched pages, those written least recently first
 * (by the age stamps of watch.c); the world may run.  Heap lock held;
 * with may_unlock (not from inside the allocator), released while each
 * batch goes to the kernel.  Returns the pages sent out; 0 when watching is
 * off.  During an incremental cycle, between two marking steps. */
size_t bookmark_evict(size_t pages, bool may_unlock, bool wait_for_marker);

/* From inside the allocator (heap lock held): choose and list up to
 * `pages` victims as bookmark_evict does, but only cool them (MADV_COLD)
 * and queue them; bookmark_send_pending writes queued pages to swap, at
 * most `max` of them (oldest first).  Returns the pages listed / sent. */
size_t bookmark_list_out(size_t pages);
size_t bookmark_send_pending(size_t max, bool may_unlock);
/* Pages listed out but still queued (resident until the kernel takes them). */
size_t bookmark_pending_pages(void);

/* Page i of c was reported written: it is resident again (watch.c). */
void bookmark_page_back(struct chunk *c, size_t i);

/* World stopped, before marking: a new mark phase (pages are reached once
 * per phase); with no page out, every bookmark is forgotten. */
void bookmark_begin_marking(void);

/* A marker met page i of c out while scanning an object: the first time
 * in this phase, fn(ctx, t, j) for every page j of chunk t it points into
 * whose bookmarked objects (t->bookmark) were not marked yet in this phase.
 * Any marker thread, concurrently. */
typedef void (*bookmark_page_fn)(void *ctx, struct chunk *t, size_t j);
void bookmark_reached(struct chunk *c, size_t i, bookmark_page_fn fn, void *ctx);

/* Pages [i, i + n) of c are being freed: their bookmarks go, and so do
 * their evicted bits.  Returns true when one of them was out (its swap
 * slot is to be dropped: pages.c releases the run). */
bool bookmark_pages_freed(struct chunk *c, size_t i, size_t n);

/* Block or large object b has a page out. */
bool bookmark_block_is_out(const struct page_desc *b);

void bookmark_fill_stats(struct cogc_stats *s);

#endif
