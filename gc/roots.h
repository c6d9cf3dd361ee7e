/* Static roots: the writable segments of every loaded object (re-read at
 * each collection, so dlopen'ed libraries count) and registered ranges. */
#ifndef COGC_ROOTS_H
#define COGC_ROOTS_H

#include <stddef.h>
#include <stdint.h>

/* Read the loaded objects' segments (before the world stops: the loader's
 * lock may be held by a thread we would stop). Heap lock held. */
void roots_snapshot(void);
/* Push the snapshot and the registered ranges (world stopped). */
void roots_push(void);
/* Modules with thread-local storage, from the last snapshot. */
struct tls_module { size_t modid, size; };
const struct tls_module *roots_tls_modules(size_t *n);
int roots_add(uintptr_t lo, uintptr_t hi);
int roots_remove(uintptr_t lo, uintptr_t hi);

#endif
