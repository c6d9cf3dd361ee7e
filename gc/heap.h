/* Getting pages for blocks and large objects: reuse free runs, sweep for
 * empty blocks, grow by a chunk within the heap limit, and as a last
 * resort collect.  Heap lock held. */
#ifndef COGC_HEAP_H
#define COGC_HEAP_H

#include "chunk.h"

bool heap_within_limit(size_t extra);
struct page_desc *heap_get_pages(size_t n, bool avoid_black, bool *zero);
/* A dedicated chunk for a large object of n pages: within the limit, by
 * unmapping empty chunks and collecting if need be.  NULL with errno. */
struct chunk *heap_get_single(size_t n);

#endif
