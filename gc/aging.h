/* Survivor aging for minor collections: a young object is promoted (made
 * old: marked, its page watched) only when it survives a second minor
 * collection.  Between the two it is *aged*: marked, so that sweeps keep
 * it, but its page is not armed for it; the next minor collection clears
 * its mark first and traces it again like any young object.
 *
 * What that next collection must scan besides its roots and the pages
 * written since the last one: whatever the last one scanned that may hold
 * the only pointer to an aged object, since its mark is gone.
 *  - the pages it rescanned (chunk->recheck, set by watch.c), and the
 *    pages of the objects it promoted (they were traced young, their
 *    pages were not armed when they stored their pointers);
 *  - the static roots: roots_minor.c remembers a word that pointed to an
 *    unmarked object as one no word equals, so its block is pushed again;
 *  - the finalizer and link entries whose objects it aged: finalize.c
 *    keeps them listed for the next collection (aging_newly_marked).
 * Stacks, registers and uncollectable objects are scanned every time.
 *
 * Full collections and incremental cycles forget the aging (every live
 * object is old after them).  A page sent out (bookmarks) is not read by
 * minor collections: any aged object on it or pointed to from it is
 * promoted when it is listed (aging_keep; the choice of victims, pages
 * not written since the collection before the last, leaves none today).
 * Heap lock held, world stopped
 * unless said otherwise. */
#ifndef COGC_AGING_H
#define COGC_AGING_H

#include "chunk.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Minor collections age their survivors (COGC_AGING and generational
 * mode).  Read by watch.c and roots_minor.c: aged bits may be set. */
extern bool aging_on;
/* Some object is aged now (the next minor collection has pages to recheck). */
extern bool aging_pending;

void aging_set(bool on);

/* A minor collection, after the written pages were taken and before any
 * root is pushed: the aged objects lose their marks, and the marks of the
 * young blocks are remembered. */
void aging_before_minor(void);
/* During a minor collection that ages (after its marking): the object v
 * points into was young when it began and is marked now, so it is to be
 * aged (unless most of the young generation survived). */
bool aging_newly_marked(uintptr_t v);
/* After its marking: b is a block outside the young generation in which
 * it marked objects (mark_track_revived).  They were traced as young
 * ones, their page not armed: what they point to may be aged now, so the
 * next minor collection rescans them. */
void aging_revived(struct page_desc *b);
/* Some such block is not known: this collection ages nothing. */
void aging_revived_lost(void);
/* After its marking (and alloc_after_mark): the young objects it marked
 * become aged, unless most of the young generation survived (then they
 * are promoted at once: `young` is the bytes allocated since the last
 * collection).  Returns the bytes aged. */
uint64_t aging_after_minor(uint64_t young);
/* A minor collection given up during its marking (an incremental cycle
 * follows): the aged objects get their marks back, and stay aged until
 * the cycle's start forgets them.  Its own marks stay: more marked than
 * before it, never less, for the sweeps that run before the cycle's. */
void aging_abandon_minor(void);
/* A full collection or an incremental cycle's start, marks cleared: every
 * aged object is forgotten (the blocks are listed young, so a full
 * collection's watch update recomputes them). */
void aging_forget(void);
/* Block b is about to be pointed to by a page that goes out (bookmark.c:
 * no minor collection reads it again), or is on one: its aged objects are
 * promoted now, so their marks stay (heap lock held, the world may run:
 * its pages are rechecked and recomputed at the next collection). */
void aging_keep(struct page_desc *b);

void aging_chunk_removed(struct chunk *c);
/* Block b was listed young (watch.c): room for it at the next minor
 * collection is made now, while the program runs. */
void aging_young_added(struct page_desc *b);
/* Block b (PF_AGED) is going back to the free pages: its aged bits go
 * (an aged object freed explicitly, a large one found dead). */
void aging_block_freed(struct page_desc *b);

/* Mark word w of c (in block b) less its aged objects: the old objects'
 * marks.  Only listed blocks have aged bits (the bitmap is not read
 * elsewhere: a first touch costs here even for reading). */
static inline uint64_t aging_old_marks(const struct chunk *c, const struct page_desc *b, size_t w)
{
    uint64_t m = atomic_load_explicit(&c->mark[w], memory_order_relaxed);
    return aging_pending && (b->flags & PF_AGED) ? m & ~c->aged[w] : m;
}

#endif
