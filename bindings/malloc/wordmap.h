/* A map from addresses (non-zero) to words, in the collector's own pages
 * (never malloc): linear probing, deletion by backward shift.  Not
 * thread-safe: callers hold their own lock. */
#ifndef COGC_PRELOAD_WORDMAP_H
#define COGC_PRELOAD_WORDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wordmap {
    struct wordmap_slot { uintptr_t key, value; } *slots;
    size_t cap;      /* a power of two, or 0 */
    size_t n;
};

/* False when memory for a larger table is exhausted. */
bool wordmap_put(struct wordmap *m, uintptr_t key, uintptr_t value);
/* The value, or 0 when key is absent. */
uintptr_t wordmap_get(const struct wordmap *m, uintptr_t key);
/* Remove key; returns its value, or 0 when absent. */
uintptr_t wordmap_remove(struct wordmap *m, uintptr_t key);

/* Forget every key (the table's memory is given back). */
void wordmap_clear(struct wordmap *m);

#endif
