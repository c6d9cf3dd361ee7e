#include "addrmap.h"
#include "os.h"

#define TOMBSTONE 1

static size_t slot_of(const struct addrmap *m, uintptr_t addr)
{
    uint64_t h = (uint64_t)(addr >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (m->cap - 1);
}

struct addrmap_entry *addrmap_find(struct addrmap *m, uintptr_t addr)
{
    if (!m->cap)
        return NULL;
    uintptr_t key = addrmap_hide(addr);
    for (size_t i = slot_of(m, addr);; i = (i + 1) & (m->cap - 1)) {
        struct addrmap_entry *e = &m->slots[i];
        if (e->key == key)
            return e;
        if (e->key == 0)
            return NULL;
    }
}

/* Written under the heap lock, but peeked at without it (finalize_forget:
 * is any entry there at all?): relaxed atomic stores, and never a passing
 * 0 while entries exist. */
static void set_used(struct addrmap *m, size_t n) { __atomic_store_n(&m->used, n, __ATOMIC_RELAXED); }

static bool grow(struct addrmap *m)
{
    size_t ncap = m->used * 4 >= m->cap ? (m->cap ? m->cap * 2 : 256) : m->cap;
    struct addrmap_entry *ns = os_map(ncap * sizeof *ns);
    if (!ns)
        return false;
    struct addrmap old = *m;
    m->slots = ns;
    m->cap = ncap;
    /* used does not change (see set_used); filled drops the tombstones. */
    m->filled = 0;
    for (size_t i = 0; i < old.cap; i++) {
        struct addrmap_entry *e = &old.slots[i];
        if (!addrmap_live(e))
            continue;
        size_t j = slot_of(m, addrmap_key_addr(e));
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *e;
        m->filled++;
    }
    if (old.slots)
        os_unmap(old.slots, old.cap * sizeof *old.slots);
    return true;
}

struct addrmap_entry *addrmap_insert(struct addrmap *m, uintptr_t addr, bool *created)
{
    struct addrmap_entry *e = addrmap_find(m, addr);
    *created = false;
    if (e)
        return e;
    if ((m->filled + 1) * 2 > m->cap && !grow(m))
        return NULL;
    size_t i = slot_of(m, addr);
    while (addrmap_live(&m->slots[i]))
        i = (i + 1) & (m->cap - 1);
    e = &m->slots[i];
    if (e->key == 0)
        m->filled++;
    e->key = addrmap_hide(addr);
    e->v[0] = e->v[1] = e->v[2] = 0;
    set_used(m, m->used + 1);
    *created = true;
    return e;
}

void addrmap_remove(struct addrmap *m, struct addrmap_entry *e)
{
    e->key = TOMBSTONE;
    e->v[0] = e->v[1] = e->v[2] = 0;
    set_used(m, m->used - 1);
}
