/* Size-class blocks: their lists, lazy sweeping, and the free lists built
 * from them.  A free small object carries a tag in its second word (its
 * address xor a per-process secret, never a heap address), so a double
 * free is recognised without any per-object state beside it; every other
 * word of a free scanned-kind object is zero.  Heap lock held throughout. */
#ifndef COGC_BLOCK_H
#define COGC_BLOCK_H

#include "chunk.h"
#include "sizeclass.h"
#include "vg.h"

struct flist {
    void *head, *tail;
    size_t n;
};

extern uintptr_t free_secret;
extern _Atomic uint32_t gc_epoch;

static inline uintptr_t free_tag(const void *p) { return (uintptr_t)p ^ free_secret; }
/* The word read may be a pointer-free object's data, which memcheck calls
 * undefined until the program writes it (cogc_size of a fresh atomic
 * object): the copy compared is declared defined. */
static inline bool is_free(const void *p)
{
    uintptr_t w = ((const uintptr_t *)p)[1];
    vg_make_defined(&w, sizeof w);
    return w == free_tag(p);
}
/* Make p a free-list member linking to next (caller zeroed the rest). */
static inline void make_free(void *p, void *next)
{
    ((void **)p)[0] = next;
    ((uintptr_t *)p)[1] = free_tag(p);
}

void blocks_init(void);
/* A non-empty list of free objects of (k, cls), or false: from the
 * heap's spare lists, by sweeping the next unswept block, or a new block. */
bool blocks_refill(enum kind k, unsigned cls, struct flist *out);
/* Sweep b now if it is unswept in this epoch; its free objects are kept. */
void blocks_sweep_if_unswept(struct page_desc *b);
/* Sweep every unswept block; returns pages freed. */
size_t blocks_sweep_all(void);
/* World stopped: push every uncollectable small object; drop the heap's
 * spare lists when drop_spares. */
void blocks_mark_roots(bool drop_spares);
/* p, in chunk c, a free slot of a thread's list being dropped (its mark cleared:
 * the program freed it, or the list was born marked): its block, if
 * parked, is swept again from the next epoch on. */
void blocks_unpark_slot(struct chunk *c, uintptr_t p);
/* Blocks parked (every object live when last swept, off the sweep
 * cursor's list until the marks are rebuilt): for tests. */
size_t blocks_parked_count(void);
bool block_parked(const struct page_desc *b);
/* After marking: every block becomes unswept. */
/* full: the marks are the whole heap's again, and held blocks are let go. */
void blocks_new_epoch(bool full);
/* Block b (small) is not swept until the next full collection, unless all
 * its objects are marked: its marked pages are being armed, and sweeping
 * would write each of them (a write fault) to list its dead objects.
 * Returns the bytes it holds back (0 when not held). */
size_t blocks_hold(struct page_desc *b);

#endif
