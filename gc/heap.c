#include "heap.h"
#include "block.h"
#include "collect.h"
#include "options.h"
#include "pages.h"
#include "pressure.h"

#include <errno.h>

bool heap_within_limit(size_t extra)
{
    size_t limit = (size_t)option(OPT_HEAP_LIMIT);
    return limit == 0 || chunk_mapped_bytes() + extra <= limit;
}

static bool grow(void)
{
    if (!heap_within_limit(CHUNK_SIZE))
        return false;
    struct chunk *c = chunk_new(0, false);
    if (!c)
        return false;
    pages_add_chunk(c);
    return true;
}

struct page_desc *heap_get_pages(size_t n, bool avoid_black, bool *zero)
{
    struct page_desc *pd = pages_alloc(n, avoid_black, zero);
    if (pd)
        return pd;
    if (blocks_sweep_all() && (pd = pages_alloc(n, avoid_black, zero)))
        return pd;
    if (pressure_collect_before_growth(CHUNK_SIZE) && (pd = pages_alloc(n, avoid_black, zero)))
        return pd;
    if (collect_before_growth()) {
        blocks_sweep_all();
        if ((pd = pages_alloc(n, avoid_black, zero)))
            return pd;
    }
    if (grow() && (pd = pages_alloc(n, avoid_black, zero)))
        return pd;
    if (avoid_black && (pd = pages_alloc(n, false, zero)))
        return pd;
    collect_locked(COLLECT_OUT_OF_MEMORY);
    blocks_sweep_all();
    return pages_alloc(n, false, zero);
}

static bool make_room(size_t bytes)
{
    while (!heap_within_limit(bytes))
        if (!pages_unmap_empty_chunk())
            return false;
    return true;
}

struct chunk *heap_get_single(size_t n)
{
    size_t need = chunk_header_bytes(n + 1024) + n * PAGE_SIZE;
    if (!make_room(need)) {
        collect_locked(COLLECT_OUT_OF_MEMORY);
        blocks_sweep_all();
        if (!make_room(need)) {
            errno = ENOMEM;
            return NULL;
        }
    }
    return chunk_new(n, true);
}
