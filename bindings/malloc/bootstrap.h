/* The bootstrap allocator: serves malloc-family calls the heap cannot
 * (re-entry from inside the collector, calls before it is initialised,
 * threads past their exit destructor).  Power-of-two bins in one reserved
 * region of its own, a spin lock, a 16-byte header per block.  Never
 * calls malloc, never takes the heap lock.  Its blocks are not roots. */
#ifndef COGC_PRELOAD_BOOTSTRAP_H
#define COGC_PRELOAD_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>

void *boot_malloc(size_t size);
/* size bytes aligned to align (a power of two). */
void *boot_memalign(size_t align, size_t size);
void boot_free(void *p);
size_t boot_usable_size(const void *p);
/* p was returned by boot_malloc/boot_memalign (and is not freed yet). */
bool boot_owns(const void *p);

/* fork: the lock is held across it. */
void boot_lock_for_fork(void);
void boot_unlock_after_fork(void);

#endif
