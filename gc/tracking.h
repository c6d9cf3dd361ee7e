/* The collector's side of the dirty-bit interface (backends/dirty.h): the
 * backend chosen at start maps heap chunks; tracking is armed only for a
 * consumer that needs it (COGC_VERIFY_DIRTY today; incremental and
 * generational collection next), so a stop-the-world heap pays nothing. */
#ifndef COGC_TRACKING_H
#define COGC_TRACKING_H

#include <stdbool.h>
#include <stddef.h>

struct chunk;

/* Choose the backend (COGC_DIRTY, else the best available). */
int tracking_init(void);
const char *tracking_backend_name(void);
/* Chunk memory, from the backend when one is selected. */
void *tracking_map(size_t size, size_t align);
void tracking_unmap(void *p, size_t size);
/* A chunk was created / is about to be deleted (heap lock held). */
void tracking_chunk_added(struct chunk *c);
void tracking_chunk_removed(struct chunk *c);
/* Pages given back to the kernel: their contents changed legitimately. */
void tracking_released(void *p, size_t len);
/* World stopped, at the end of a collection: COGC_VERIFY_DIRTY's check. */
void tracking_at_collection(void);
/* Pages whose contents changed but were not reported dirty, so far. */
unsigned long tracking_missed_writes(void);

#endif
