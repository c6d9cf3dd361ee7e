/* The write watch over old objects, for minor and incremental collections.
 *
 * A page is *watched* when it holds a marked object of the normal (scanned)
 * kind: only such a page can come to hold the one pointer to an object the
 * marker will not otherwise reach (a young object in a minor collection, a
 * white object behind the marker's back in an incremental one).  Watched
 * pages are armed through the dirty-bit backend; every other heap page is
 * left disarmed, so allocating and initialising new objects costs no write
 * fault.  Uncollectable objects are scanned as roots by every collection
 * and need no watch; atomic objects hold no pointers.
 *
 * All functions: heap lock held; the world stopped unless said otherwise. */
#ifndef COGC_WATCH_H
#define COGC_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chunk;
struct page_desc;

/* Turn watching on (generational or incremental collection asked for).
 * Must precede the first chunk.  Returns false, with a warning, when the
 * backend cannot track the heap. */
bool watch_enable(void);
bool watch_enabled(void);
/* Counts the takes of written pages: a page's age stamp (chunk.h) is the
 * count when it was last reported written or became watched. */
uint16_t watch_epoch(void);

/* Chunk life cycle (called by chunk.c through tracking).  Adding fails
 * (-1, errno ENOMEM) when the memory to track the chunk cannot be had: the
 * caller releases the chunk again. */
int watch_chunk_added(struct chunk *c);
void watch_chunk_removed(struct chunk *c);

/* b (a block head or large object) is being handed to the allocator: its
 * pages' watch state is recomputed at the next collection. */
void watch_young_block(struct page_desc *b);
/* A minor collection, after its marking: the blocks outside the young
 * generation it marked objects in (mark_track_revived) are settled like
 * young ones. */
void watch_note_revived(void);

/* The blocks listed young (watch_young_block) since the last collection. */
size_t watch_young_list(struct page_desc ***v);

/* Take the pages written since the last collection from the backend; the
 * watched ones among them are to be rescanned.  Returns their number. */
size_t watch_take_dirty(void);

/* Push the marked objects on the pages to rescan (and those aging left
 * to recheck), as root ranges. */
void watch_push_dirty(void);

/* After marking: arm every page that holds a marked normal object and is
 * not armed (new survivors, pages rescanned), disarm watched pages that no
 * longer hold one.  Only the young blocks' pages and the rescanned ones are
 * recomputed in the pause (every page the first time, or when the young
 * list overflowed).  full: no block is held, and the pages the
 * collection's garbage held are disarmed later, a chunk at a time
 * (watch_refresh); else a young block with old objects and dead ones is
 * held (blocks_hold).  Returns the bytes held back. */
size_t watch_update(bool full);

/* Instead of watch_update after a minor collection whose successor is an
 * incremental cycle (it asked for a full one, and no minor collection
 * comes before that): nothing is armed in its pause.  The young blocks
 * stop being young with their pages unwatched, and the rescanned pages
 * stay to be re-armed: the cycle's start arms every page while the
 * program runs, and a full collection that comes instead recomputes
 * every page. */
void watch_defer_to_cycle(void);

/* The final pause of an incremental cycle, after marking: arm what the
 * new marks need armed (the rescanned pages, the fresh blocks) and leave
 * the disarming of pages without old objects to watch_refresh. */
void watch_finish_cycle(void);
/* Heap lock held, the world running: recompute the watch state of up to
 * max_chunks chunks left stale by watch_finish_cycle. */
bool watch_refresh_pending(void);
void watch_refresh(unsigned max_chunks);

/* The start of an incremental cycle: arm every page of every block of the
 * normal kind (the world may run: no object has been scanned yet). */
void watch_arm_all(void);

/* Heap lock and the marking step lock held, an incremental cycle running,
 * the world running: take the watched pages written so far and re-arm
 * them in one atomic step (the backend's collect), and push their marked
 * objects for the concurrent marker.  Returns the pages taken; SIZE_MAX
 * when the backend cannot do it atomically (the final pause does it all). */
size_t watch_preclean(void);

/* Heap lock and the marking step lock held, an incremental cycle running,
 * the world running: arm the pages of every block made fresh since the last
 * call and let the concurrent marker scan their objects like any other
 * (mark_undefer_settled).  Returns the pages settled. */
size_t watch_settle_fresh(void);
/* Pages made fresh since the last watch_settle_fresh (any thread, no lock:
 * an estimate). */
size_t watch_fresh_pages(void);

/* For the heap verifier's report: page of a's watch state ("watched",
 * "rescanned", the epoch it was last written), into buf. */
void watch_describe_page(uintptr_t a, char *buf, size_t n);

#endif
