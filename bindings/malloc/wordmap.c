#include "wordmap.h"
#include "os.h"

static size_t hash(uintptr_t k, size_t cap)
{
    return (size_t)((k >> 4) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

static bool grow(struct wordmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 4096;
    struct wordmap_slot *ns = os_map(ncap * sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = hash(m->slots[i].key, ncap);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    if (m->slots)
        os_unmap(m->slots, m->cap * sizeof *m->slots);
    m->slots = ns;
    m->cap = ncap;
    return true;
}

bool wordmap_put(struct wordmap *m, uintptr_t key, uintptr_t value)
{
    if ((m->n + 1) * 2 > m->cap && !grow(m))
        return false;
    size_t i = hash(key, m->cap);
    while (m->slots[i].key && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key)
        m->n++;
    m->slots[i].key = key;
    m->slots[i].value = value;
    return true;
}

static size_t find(const struct wordmap *m, uintptr_t key)
{
    if (!m->cap)
        return SIZE_MAX;
    size_t i = hash(key, m->cap);
    while (m->slots[i].key) {
        if (m->slots[i].key == key)
            return i;
        i = (i + 1) & (m->cap - 1);
    }
    return SIZE_MAX;
}

uintptr_t wordmap_get(const struct wordmap *m, uintptr_t key)
{
    size_t i = find(m, key);
    return i == SIZE_MAX ? 0 : m->slots[i].value;
}

uintptr_t wordmap_remove(struct wordmap *m, uintptr_t key)
{
    size_t i = find(m, key);
    if (i == SIZE_MAX)
        return 0;
    uintptr_t v = m->slots[i].value;
    size_t mask = m->cap - 1;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = hash(m->slots[j].key, m->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = 0;
    m->n--;
    return v;
}

void wordmap_clear(struct wordmap *m)
{
    if (m->slots)
        os_unmap(m->slots, m->cap * sizeof *m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}
