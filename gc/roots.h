/* Static roots: the writable segments of every loaded object (re-read at
 * each collection, so dlopen'ed libraries count) and registered ranges. */
#ifndef COGC_ROOTS_H
#define COGC_ROOTS_H

#include <stdbool.h>
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
/* fn on the snapshot's segments and the registered ranges. */
void roots_each(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);

/* Minor collections (roots_minor.c): push only the blocks of the static
 * roots written since the last collection (world stopped, after
 * mark_begin).  roots_note_unmarked: an old object lost its mark; the next
 * minor collection pushes every range.  roots_note_chunk: [lo, hi) was
 * mapped for the heap (heap lock held). */
void roots_push_minor(void);
extern bool roots_rescan_due;
static inline void roots_note_unmarked(void) { __atomic_store_n(&roots_rescan_due, true, __ATOMIC_RELAXED); }
void roots_note_chunk(uintptr_t lo, uintptr_t hi);
/* A full collection or a cycle's first pause in generational mode:
 * every range pushed whole, the copies brought up to date. */
void roots_push_refresh(void);
/* After roots_snapshot, before the pause (heap lock held): copies of the
 * ranges that have none, made while the world runs. */
void roots_minor_prepare(void);
/* Words pushed and words in every range, at the last minor collection. */
void roots_minor_counts(size_t *pushed, size_t *total);
/* COGC_VERIFY after a minor collection: every object reachable from any
 * static root is marked; returns the number that are not. */
size_t roots_minor_verify(void);
int roots_remove(uintptr_t lo, uintptr_t hi);

#endif
