/* Hash tables keyed by address, in the collector's own pages (never
 * malloc).  Keys are stored bit-inverted: an inverted user-space address
 * is non-canonical, so a scan of a table's memory (a root range) never
 * mistakes a key for a pointer, and a key keeps nothing alive.  Linear
 * probing; removal leaves a tombstone, dropped at the next growth. */
#ifndef COGC_ADDRMAP_H
#define COGC_ADDRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct addrmap_entry {
    uintptr_t key;     /* ~address; 0 empty, 1 removed */
    uintptr_t v[3];    /* the user's words, stored as given */
};

struct addrmap {
    struct addrmap_entry *slots;
    size_t cap;        /* power of two, or 0 */
    size_t used;       /* live entries */
    size_t filled;     /* live entries and tombstones */
};

static inline uintptr_t addrmap_hide(uintptr_t a) { return ~a; }
static inline uintptr_t addrmap_key_addr(const struct addrmap_entry *e) { return ~e->key; }
static inline bool addrmap_live(const struct addrmap_entry *e) { return e->key > 1; }

/* The entry for addr, or NULL. */
struct addrmap_entry *addrmap_find(struct addrmap *m, uintptr_t addr);
/* The entry for addr, created (v zeroed, *created = true) if absent.  NULL
 * when memory is exhausted. */
struct addrmap_entry *addrmap_insert(struct addrmap *m, uintptr_t addr, bool *created);
/* Remove an entry returned by find/insert or met while iterating. */
void addrmap_remove(struct addrmap *m, struct addrmap_entry *e);

#define ADDRMAP_FOREACH(m, e) \
    for (struct addrmap_entry *e = (m)->slots; e && e < (m)->slots + (m)->cap; e++) \
        if (addrmap_live(e))

#endif
