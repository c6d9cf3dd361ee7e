/* Free page runs inside chunks: binned by length, coalesced on free,
 * given back to the kernel when they stay unused. Caller holds the heap lock. */
#ifndef COGC_PAGES_H
#define COGC_PAGES_H

#include "chunk.h"

/* A run of n pages (first-fit), or NULL when no free run is long enough.
 * *zero says whether every page reads as zero.  avoid_black: skip runs with
 * black-listed pages when another fits. */
struct page_desc *pages_alloc(size_t n, bool avoid_black, bool *zero);
/* Return n pages starting at pd (contents are garbage). */
void pages_free(struct page_desc *pd, size_t n);
/* Add a fresh chunk's data pages (zero) to the free runs. */
void pages_add_chunk(struct chunk *c);
/* Give back runs unused since collection `before`, as long as more than
 * `keep` free pages stay held.  Returns pages released. */
size_t pages_release_idle(uint64_t before, size_t keep);
/* What pages_release_idle(before, 0) would give back. */
size_t pages_idle(uint64_t before);
/* Unmap one standard chunk whose pages are all free; false if none. */
bool pages_unmap_empty_chunk(void);
size_t pages_free_count(void);
size_t pages_released_count(void);
void pages_set_epoch(uint64_t collections);

#endif
