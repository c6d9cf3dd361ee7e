/* Walking the heap after a mark-only collection (COLLECT_INSPECT): every
 * object that is allocated and was not marked, for the leak report. */
#ifndef COGC_WALK_H
#define COGC_WALK_H

#include <stddef.h>
#include <stdint.h>

/* Heap lock held, marks of the last collection valid.  Uncollectable
 * objects are roots and never reported. */
void heap_walk_unmarked(void (*fn)(uintptr_t obj, size_t size, void *arg), void *arg);

#endif
