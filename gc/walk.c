#include "walk.h"
#include "block.h"
#include "chunk.h"

static bool marked(struct chunk *c, uintptr_t obj) { return bit_test(c->mark, granule_bit(c, obj)); }

static void walk_block(struct chunk *c, struct page_desc *b,
                       void (*fn)(uintptr_t, size_t, void *), void *arg)
{
    uintptr_t base = pd_addr(b);
    for (uint32_t i = 0; i < b->nobjs; i++) {
        uintptr_t obj = base + (uintptr_t)i * b->objsize;
        /* Free objects carry their tag (block.h); allocated ones never do. */
        if (!is_free((const void *)obj) && !marked(c, obj))
            fn(obj, b->objsize, arg);
    }
}

void heap_walk_unmarked(void (*fn)(uintptr_t obj, size_t size, void *arg), void *arg)
{
    for (struct chunk *c = chunk_list(); c; c = c->next) {
        for (size_t i = c->first; i < c->npages;) {
            struct page_desc *pd = &c->pd[i];
            size_t n = pd->npages ? pd->npages : 1;
            if (pd->state == PS_SMALL && pd->kind != KIND_UNCOLLECTABLE) {
                walk_block(c, pd, fn, arg);
            } else if (pd->state == PS_LARGE && pd->kind != KIND_UNCOLLECTABLE) {
                uintptr_t obj = pd_addr(pd);
                if (bit_test(c->alloc, granule_bit(c, obj)) && !marked(c, obj))
                    fn(obj, (size_t)pd->npages * PAGE_SIZE, arg);
            } else if (pd->state != PS_FREE) {
                n = 1;
            }
            i += n;
        }
    }
}
