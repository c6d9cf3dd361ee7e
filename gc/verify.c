#include "verify.h"
#include "block.h"
#include "bookmark.h"
#include "object.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "vec.h"
#include "vg.h"
#include "watch.h"

#include <stdio.h>
#include <string.h>

struct item { uintptr_t lo, hi; };

static struct {
    struct item *v;
    size_t n, cap;
} work;

/* A visited bit per granule over [heap_lo, heap_hi), reserved lazily for
 * one verification. */
static uint64_t *visited;
static size_t visited_bytes;

static bool visit(uintptr_t obj)
{
    size_t bit = (obj - heap_lo_get()) >> GRANULE_SHIFT;
    uint64_t m = (uint64_t)1 << (bit & 63);
    if (visited[bit >> 6] & m)
        return false;
    visited[bit >> 6] |= m;
    return true;
}

static const char *kind_name(unsigned k)
{
    return k == KIND_NORMAL ? "normal" : k == KIND_ATOMIC ? "atomic" : "uncollectable";
}

static size_t bad, objects;
static bool interior;

/* Object obj of block b carries a free tag.  A free object holds its list
 * link and tag, nothing of the program's: a stale word naming it proves
 * nothing, and marking need not follow its link (a page sent out lists no
 * target for it: bookmark.c). */
static bool on_free_list(const struct page_desc *b, uintptr_t obj)
{
    return b->state == PS_SMALL && b->kind != KIND_ATOMIC && b->objsize >= 2 * sizeof(uintptr_t) &&
           is_free((const void *)obj);
}

/* b's flags; whether obj (in b, of chunk c) carries a free tag (on a free
 * list), has a bookmark bit, lies on a page sent out. */
static void describe_block(char *buf, size_t n, const struct chunk *c, const struct page_desc *b, uintptr_t obj)
{
    bool free = on_free_list(b, obj);
    size_t g = granule_bit(c, obj);
    snprintf(buf, n, "block flags %#x%s%s%s%s%s%s%s", b->flags, (b->flags & PF_YOUNG) ? " young" : "",
             (b->flags & PF_FRESH) ? " fresh" : "", (b->flags & PF_HELD) ? " held" : "",
             block_parked(b) ? " parked" : "", free ? ", free-tagged" : "",
             (c->bookmark[g >> 6] >> (g & 63)) & 1 ? ", bookmarked" : "",
             bookmark_page_is_out(c, page_index(c, obj)) ? ", on a page out" : "");
}

/* The object, and the object holding the word when there is one (a root
 * range otherwise): block flags and marks say which mechanism missed it. */
static void report_unmarked(const struct object_ref *o, const uintptr_t *p, struct item it)
{
    char what[128], where[320] = "a root range";
    describe_block(what, sizeof what, o->chunk, o->block, o->start);
    struct object_ref h;
    if (object_find((uintptr_t)p, true, &h) == OBJ_FOUND) {
        char hb[128], hp[80];
        describe_block(hb, sizeof hb, h.chunk, h.block, h.start);
        watch_describe_page((uintptr_t)p, hp, sizeof hp);
        snprintf(where, sizeof where, "object %p, %s, %s, %s", (void *)h.start,
                 bit_test(h.chunk->mark, granule_bit(h.chunk, h.start)) ? "marked" : "unmarked", hb, hp);
    }
    report_warn("COGC_VERIFY: %s object %p (%zu bytes, %s) is reachable (word %p = %p, in [%p, %p): "
                "%s) but was not marked",
                kind_name(o->block->kind), (void *)o->start, o->size, what, (void *)p, (void *)*p,
                (void *)it.lo, (void *)it.hi, where);
}

/* Reads thread stacks and other foreign memory, like the marker. */
COGC_SCANS_FOREIGN_MEMORY static bool trace_range(struct item it)
{
    for (uintptr_t *p = (uintptr_t *)it.lo; (uintptr_t)(p + 1) <= it.hi; p++) {
        struct object_ref o;
        if (object_find(*p, interior, &o) != OBJ_FOUND || !visit(o.start) || on_free_list(o.block, o.start))
            continue;
        objects++;
        if (!bit_test(o.chunk->mark, granule_bit(o.chunk, o.start)) && bad++ < 8)
            report_unmarked(&o, p, it);
        if (o.block->kind != KIND_ATOMIC && !VEC_PUSH(work, ((struct item){o.start, o.start + o.size})))
            return false;
    }
    return true;
}

size_t verify_heap(const struct verify_root *roots, size_t nroots)
{
    visited_bytes = round_up(((heap_hi_get() - heap_lo_get()) >> GRANULE_SHIFT) / 8 + 8, PAGE_SIZE);
    visited = os_map_aligned(visited_bytes, PAGE_SIZE, true);
    if (!visited) {
        report_warn("COGC_VERIFY: no memory for the visited map; verification skipped");
        return 0;
    }
    interior = option(OPT_INTERIOR) != 0;
    bad = objects = 0;
    work.n = 0;
    for (size_t r = 0; r < nroots; r++)
        VEC_PUSH(work, ((struct item){roots[r].lo, roots[r].hi}));
    /* The trace reads stacks and padding memcheck calls undefined or
     * unaddressable on purpose, as marking does: not the program's errors. */
    if (vg_on)
        VALGRIND_DISABLE_ERROR_REPORTING;
    while (work.n) {
        if (!trace_range(work.v[--work.n])) {
            report_warn("COGC_VERIFY: out of memory for the trace; verification incomplete");
            break;
        }
    }
    if (vg_on)
        VALGRIND_ENABLE_ERROR_REPORTING;
    os_unmap(visited, visited_bytes);
    visited = NULL;
    return bad;
}
