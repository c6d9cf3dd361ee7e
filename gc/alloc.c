#define _GNU_SOURCE
#include "alloc.h"
#include "collect.h"
#include "lock.h"
#include "mark.h"
#include "options.h"
#include "os.h"
#include "pages.h"
#include "report.h"
#include "stats.h"
#include "threads.h"
#include "vg.h"

#include <errno.h>
#include <string.h>

__thread struct tl tl_state __attribute__((tls_model("initial-exec")));
_Atomic uint32_t gc_epoch = 1;

/* Every size-class block, by kind and class; the sweep cursor walks each
 * list once per epoch.  Blocks created in this epoch go in front of it. */
static struct page_desc *blocks[NKINDS][NCLASSES];
static struct page_desc *cursor[NKINDS][NCLASSES];
static struct page_desc *large_objects;
/* Uncollectable small objects are rare: one shared list, under the lock. */
static void *uncollectable_fl[NCLASSES];
/* Free lists found by sweeping blocks in bulk (alloc_sweep_all), kept as a
 * list of lists: the second word of each list's head links the next list. */
static void *spare[NKINDS][NCLASSES];

static void spare_push(enum kind k, unsigned cls, void *list)
{
    ((void **)list)[1] = spare[k][cls];
    spare[k][cls] = list;
}

static void *spare_pop(enum kind k, unsigned cls, size_t *count)
{
    void *list = spare[k][cls];
    if (!list)
        return NULL;
    spare[k][cls] = ((void **)list)[1];
    ((void **)list)[1] = NULL;
    size_t n = 0;
    for (void *p = list; p; p = *(void **)p)
        n++;
    *count = n;
    return list;
}

/* Objects above this many pages get a chunk of their own. */
#define SINGLE_CHUNK_PAGES 256

static void list_push(struct page_desc **list, struct page_desc *pd)
{
    pd->prev = NULL;
    pd->next = *list;
    if (*list)
        (*list)->prev = pd;
    *list = pd;
}

static void list_remove(struct page_desc **list, struct page_desc *pd)
{
    if (pd->prev)
        pd->prev->next = pd->next;
    else
        *list = pd->next;
    if (pd->next)
        pd->next->prev = pd->prev;
    pd->next = pd->prev = NULL;
}

static uint32_t epoch_now(void) { return atomic_load_explicit(&gc_epoch, memory_order_relaxed); }

/* ---- growing the heap ---------------------------------------------- */

static bool within_limit(size_t extra)
{
    size_t limit = (size_t)option(OPT_HEAP_LIMIT);
    return limit == 0 || chunk_mapped_bytes() + extra <= limit;
}

static bool grow(void)
{
    if (!within_limit(CHUNK_SIZE))
        return false;
    struct chunk *c = chunk_new(0, false);
    if (!c)
        return false;
    pages_add_chunk(c);
    return true;
}

/* n free pages: reuse, sweep for empty blocks, grow, and as a last resort
 * collect.  NULL when the limit or the system says no. */
static struct page_desc *get_pages(size_t n, bool avoid_black, bool *zero)
{
    struct page_desc *pd = pages_alloc(n, avoid_black, zero);
    if (pd)
        return pd;
    if (alloc_sweep_all() && (pd = pages_alloc(n, avoid_black, zero)))
        return pd;
    if (grow() && (pd = pages_alloc(n, avoid_black, zero)))
        return pd;
    if (avoid_black && (pd = pages_alloc(n, false, zero)))
        return pd;
    collect_locked(COLLECT_OUT_OF_MEMORY);
    alloc_sweep_all();
    return pages_alloc(n, false, zero);
}

/* ---- sweeping ------------------------------------------------------- */

static bool obj_live(const struct chunk *c, const struct page_desc *b, size_t bit)
{
    return bit_test(c->mark, bit) || (b->kind == KIND_UNCOLLECTABLE && bit_test(c->alloc, bit));
}

/* Sweep block b (heap lock held).  Links its free objects into *out and
 * returns how many; an empty block goes back to the free pages (returns 0). */
static size_t sweep_block(struct page_desc *b, void **out)
{
    struct chunk *c = chunk_of_pd(b);
    uintptr_t base = pd_addr(b);
    size_t size = b->objsize, n = b->nobjs, stride = size >> GRANULE_SHIFT;
    size_t bit0 = granule_bit(c, base);
    size_t live = 0;
    atomic_store_explicit(&b->swept, epoch_now(), memory_order_relaxed);

    for (size_t i = 0, bit = bit0; i < n; i++, bit += stride)
        live += obj_live(c, b, bit);

    size_t reclaimed = 0;
    if (live == 0) {
        for (size_t i = 0, bit = bit0; i < n; i++, bit += stride)
            if (bit_test(c->alloc, bit)) {
                bit_clear_atomic(c->alloc, bit);
                vg_free((void *)(base + i * size));
                reclaimed += size;
            }
        stats_reclaimed(reclaimed);
        list_remove(&blocks[b->kind][b->sclass], b);
        pages_free(b, b->npages);
        *out = NULL;
        return 0;
    }

    void *head = NULL, **link = &head;
    size_t nfree = 0;
    for (size_t i = 0, bit = bit0; i < n; i++, bit += stride) {
        if (obj_live(c, b, bit))
            continue;
        void *obj = (void *)(base + i * size);
        if (bit_test(c->alloc, bit)) {
            /* garbage: its contents must not leak into the next object */
            bit_clear_atomic(c->alloc, bit);
            vg_free(obj);
            if (b->kind != KIND_ATOMIC) {
                vg_make_writable(obj, size);
                memset(obj, 0, size);
            }
            reclaimed += size;
        }
        vg_make_writable(obj, sizeof(void *));
        *link = obj;
        link = (void **)obj;
        nfree++;
    }
    *link = NULL;
    stats_reclaimed(reclaimed);
    *out = head;
    return nfree;
}

size_t alloc_sweep_all(void)
{
    size_t before = pages_free_count();
    for (int k = 0; k < NKINDS; k++)
        for (unsigned c = 0; c < NCLASSES; c++) {
            struct page_desc *b;
            while ((b = cursor[k][c])) {
                cursor[k][c] = b->next;
                if (atomic_load_explicit(&b->swept, memory_order_relaxed) == epoch_now())
                    continue;
                void *list;
                if (sweep_block(b, &list))
                    spare_push(k, c, list);
            }
        }
    return pages_free_count() - before;
}

/* ---- blocks ---------------------------------------------------------- */

static struct page_desc *new_block(enum kind k, unsigned cls, void **out, size_t *count)
{
    const struct size_class *sc = &size_classes[cls];
    bool zero;
    struct page_desc *b = get_pages(sc->pages, false, &zero);
    if (!b)
        return NULL;
    b->state = PS_SMALL;
    b->kind = (uint8_t)k;
    b->sclass = (uint8_t)cls;
    b->npages = sc->pages;
    b->objsize = sc->size;
    b->nobjs = sc->nobjs;
    b->recip = sc->recip;
    size_t idx = pd_index(b);
    for (size_t i = 1; i < sc->pages; i++) {
        b[i].state = PS_CONT;
        b[i].head = (uint32_t)idx;
    }
    atomic_store_explicit(&b->swept, epoch_now(), memory_order_relaxed);
    list_push(&blocks[k][cls], b);

    uintptr_t base = pd_addr(b);
    if (!zero && k != KIND_ATOMIC)
        memset((void *)base, 0, (size_t)sc->pages * PAGE_SIZE);
    void *head = NULL, **link = &head;
    for (size_t i = 0; i < sc->nobjs; i++) {
        void *obj = (void *)(base + i * sc->size);
        *link = obj;
        link = (void **)obj;
    }
    *link = NULL;
    *out = head;
    *count = sc->nobjs;
    return b;
}

/* A list of free objects of (k, cls), or NULL: sweep, else a new block. */
static void *refill_locked(enum kind k, unsigned cls, size_t *count)
{
    void *list = spare_pop(k, cls, count);
    if (list)
        return list;
    struct page_desc *b;
    while ((b = cursor[k][cls])) {
        cursor[k][cls] = b->next;
        if (atomic_load_explicit(&b->swept, memory_order_relaxed) == epoch_now())
            continue;
        if ((*count = sweep_block(b, &list)))
            return list;
    }
    if (!new_block(k, cls, &list, count))
        return NULL;
    return list;
}

/* ---- allocation slow paths ------------------------------------------ */

static int ensure_ready(void)
{
    if (unlikely(!collector_ready()) && cogc_init() != 0)
        return -1;
    if (unlikely(!tl_state.self) && threads_register_self() != 0)
        return -1;
    return 0;
}

void alloc_flush_counts(struct tl *t)
{
    collect_note_allocated(t->refilled);
    t->refilled = 0;
}

static void *alloc_large(size_t size, enum kind k)
{
    if (size > ((size_t)1 << 46)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t n = round_up(size, PAGE_SIZE) >> PAGE_SHIFT;
    heap_lock();
    alloc_flush_counts(&tl_state);
    collect_note_allocated(n * PAGE_SIZE);
    collect_maybe_locked();
    bool zero = true;
    struct page_desc *pd;
    if (n > SINGLE_CHUNK_PAGES) {
        struct chunk *c = NULL;
        size_t need = chunk_header_bytes(n + 1024) + n * PAGE_SIZE;
        if (!within_limit(need)) {
            collect_locked(COLLECT_OUT_OF_MEMORY);
        }
        if (within_limit(need))
            c = chunk_new(n, true);
        if (!c) {
            heap_unlock();
            errno = ENOMEM;
            return NULL;
        }
        pd = &c->pd[c->first];
    } else {
        pd = get_pages(n, true, &zero);
        if (!pd) {
            heap_unlock();
            errno = ENOMEM;
            return NULL;
        }
        size_t idx = pd_index(pd);
        for (size_t i = 1; i < n; i++) {
            pd[i].state = PS_CONT;
            pd[i].head = (uint32_t)idx;
        }
    }
    pd->state = PS_LARGE;
    pd->kind = (uint8_t)k;
    pd->npages = (uint32_t)n;
    pd->objsize = (uint32_t)(n > UINT32_MAX / PAGE_SIZE ? 0 : n * PAGE_SIZE);
    pd->nobjs = 1;
    atomic_store_explicit(&pd->swept, epoch_now(), memory_order_relaxed);
    list_push(&large_objects, pd);
    void *p = (void *)pd_addr(pd);
    struct chunk *c = chunk_of_pd(pd);
    bit_set_atomic(c->alloc, granule_bit(c, (uintptr_t)p));
    heap_unlock();
    if (!zero && k != KIND_ATOMIC)
        memset(p, 0, n * PAGE_SIZE);
    vg_malloc(p, size, k != KIND_ATOMIC);
    stats_allocated(n * PAGE_SIZE);
    return p;
}

static void *alloc_uncollectable_small(size_t size)
{
    unsigned cls = size_to_class(size);
    heap_lock();
    void *p = uncollectable_fl[cls];
    if (!p) {
        size_t count;
        p = refill_locked(KIND_UNCOLLECTABLE, cls, &count);
        if (!p) {
            heap_unlock();
            errno = ENOMEM;
            return NULL;
        }
    }
    uncollectable_fl[cls] = *(void **)p;
    *(void **)p = NULL;
    struct chunk *c = chunk_of((uintptr_t)p);
    bit_set_atomic(c->alloc, granule_bit(c, (uintptr_t)p));
    heap_unlock();
    stats_allocated(size_classes[cls].size);
    return p;
}

void *alloc_slow(size_t size, enum kind k)
{
    if (ensure_ready() != 0)
        return NULL;
    if (size > MAX_SMALL)
        return alloc_large(size, k);
    if (k == KIND_UNCOLLECTABLE)
        return alloc_uncollectable_small(size);
    void *p = alloc_fast(size, k);
    if (p)
        return p;
    unsigned cls = size_to_class(size);
    heap_lock();
    alloc_flush_counts(&tl_state);
    collect_maybe_locked();
    size_t count = 0;
    void *list = refill_locked(k, cls, &count);
    /* Installed under the lock: a collection must see the list in tl. */
    tl_state.fl[k][cls] = list;
    tl_state.refilled += count * size_classes[cls].size;
    heap_unlock();
    if (!list) {
        errno = ENOMEM;
        return NULL;
    }
    stats_allocated(count * size_classes[cls].size);
    return alloc_fast(size, k);
}

/* ---- lookup ----------------------------------------------------------- */

/* The block head for p, or NULL if p is not in a block or large object. */
static struct page_desc *block_of(uintptr_t p, struct chunk **cp)
{
    struct chunk *c = chunk_of(p);
    if (!c)
        return NULL;
    size_t i = page_index(c, p);
    if (i < c->first)
        return NULL;
    *cp = c;
    if (c->single) {
        struct page_desc *pd = &c->pd[c->first];
        return pd->state == PS_LARGE ? pd : NULL;
    }
    struct page_desc *pd = &c->pd[i];
    if (pd->state == PS_CONT)
        pd = &c->pd[pd->head];
    return pd->state == PS_SMALL || pd->state == PS_LARGE ? pd : NULL;
}

static uintptr_t object_start(const struct page_desc *b, uintptr_t p, bool *in_object)
{
    uintptr_t base = pd_addr(b);
    if (b->state == PS_LARGE) {
        *in_object = true;
        return base;
    }
    uint32_t idx = div_by_recip(p - base, b->recip);
    *in_object = idx < b->nobjs;
    return base + (uintptr_t)idx * b->objsize;
}

static size_t object_size(const struct page_desc *b)
{
    return b->state == PS_LARGE ? (size_t)b->npages * PAGE_SIZE : b->objsize;
}

void *alloc_base(const void *ptr)
{
    struct chunk *c;
    struct page_desc *b = block_of((uintptr_t)ptr, &c);
    if (!b)
        return NULL;
    bool in;
    uintptr_t start = object_start(b, (uintptr_t)ptr, &in);
    if (!in || !bit_test(c->alloc, granule_bit(c, start)))
        return NULL;
    return (void *)start;
}

size_t alloc_size(const void *ptr)
{
    struct chunk *c;
    struct page_desc *b = block_of((uintptr_t)ptr, &c);
    if (!b)
        return 0;
    bool in;
    uintptr_t start = object_start(b, (uintptr_t)ptr, &in);
    if (!in || start != (uintptr_t)ptr || !bit_test(c->alloc, granule_bit(c, start)))
        return 0;
    return object_size(b);
}

/* ---- explicit free ----------------------------------------------------- */

static void free_large(struct page_desc *b)
{
    struct chunk *c = chunk_of_pd(b);
    list_remove(&large_objects, b);
    b->state = PS_FREE;
    if (c->single)
        chunk_delete(c);
    else
        pages_free(b, b->npages);
}

void alloc_free(void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    struct chunk *c;
    struct page_desc *b = block_of(p, &c);
    if (!b) {
        report_misuse("cogc_free(%p): not an object of the cogc heap; ignored", ptr);
        return;
    }
    bool in;
    uintptr_t start = object_start(b, p, &in);
    if (!in || start != p) {
        report_misuse("cogc_free(%p): not the start of an object (object at %p); ignored",
                      ptr, in ? (void *)start : NULL);
        return;
    }
    size_t bit = granule_bit(c, p);
    if (b->state == PS_LARGE) {
        heap_lock();
        if (!bit_clear_atomic(c->alloc, bit)) {
            heap_unlock();
            report_misuse("cogc_free(%p): object already freed or collected; ignored", ptr);
            return;
        }
        size_t bytes = object_size(b);
        free_large(b);
        heap_unlock();
        vg_free(ptr);
        stats_freed(bytes);
        return;
    }
    if (atomic_load_explicit(&b->swept, memory_order_relaxed) != epoch_now()) {
        /* Unswept: sweep it first, so a garbage object cannot be listed twice. */
        heap_lock();
        if (b->state == PS_SMALL && atomic_load_explicit(&b->swept, memory_order_relaxed) != epoch_now()) {
            void *list;
            if (!sweep_block(b, &list)) {
                /* The block was empty: ptr was garbage already. */
                heap_unlock();
                report_misuse("cogc_free(%p): object already freed or collected; ignored", ptr);
                return;
            }
        }
        heap_unlock();
        if (block_of(p, &c) != b || b->state != PS_SMALL) {
            report_misuse("cogc_free(%p): object already freed or collected; ignored", ptr);
            return;
        }
    }
    if (!bit_clear_atomic(c->alloc, bit)) {
        report_misuse("cogc_free(%p): object already freed or collected; ignored", ptr);
        return;
    }
    size_t size = b->objsize;
    vg_free(ptr);
    stats_freed(size);
    if (b->kind == KIND_UNCOLLECTABLE || !tl_state.self) {
        /* Reclaimed by the sweep after the next collection. */
        if (b->kind != KIND_ATOMIC) {
            vg_make_writable(ptr, size);
            memset(ptr, 0, size);
        }
        return;
    }
    vg_make_writable(ptr, size);
    if (b->kind == KIND_NORMAL)
        memset(ptr, 0, size);
    void **head = &tl_state.fl[b->kind][b->sclass];
    *(void **)ptr = *head;
    *head = ptr;
}

void *alloc_realloc(void *ptr, size_t size)
{
    struct chunk *c;
    struct page_desc *b = block_of((uintptr_t)ptr, &c);
    size_t old = b ? alloc_size(ptr) : 0;
    if (old == 0) {
        report_misuse("cogc_realloc(%p, %zu): not the start of a live cogc object; returning NULL",
                      ptr, size);
        errno = EINVAL;
        return NULL;
    }
    enum kind k = (enum kind)b->kind;
    if (size <= old && size >= old / 2) {
        if (k != KIND_ATOMIC)
            memset((char *)ptr + size, 0, old - size);
        return ptr;
    }
    void *q = alloc_fast(size, k);
    if (!q)
        q = alloc_slow(size, k);
    if (!q)
        return NULL;
    memcpy(q, ptr, size < old ? size : old);
    alloc_free(ptr);
    return q;
}

/* ---- the collector's view -------------------------------------------- */

void alloc_mark_free_lists(struct tl *t)
{
    for (int k = 0; k < 2; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++)
            for (void *p = t->fl[k][cls]; p; p = *(void **)p)
                mark_set((uintptr_t)p);
}

void alloc_drop_free_lists(struct tl *t)
{
    /* The objects stay unallocated; the next sweep finds them. */
    memset(t->fl, 0, sizeof t->fl);
}

void alloc_mark_heap_roots(void)
{
    for (int k = 0; k < NKINDS; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++)
            for (void *list = spare[k][cls]; list; list = ((void **)list)[1])
                for (void *p = list; p; p = *(void **)p)
                    mark_set((uintptr_t)p);
    for (unsigned cls = 0; cls < NCLASSES; cls++) {
        for (void *p = uncollectable_fl[cls]; p; p = *(void **)p)
            mark_set((uintptr_t)p);
        for (struct page_desc *b = blocks[KIND_UNCOLLECTABLE][cls]; b; b = b->next) {
            struct chunk *c = chunk_of_pd(b);
            uintptr_t base = pd_addr(b);
            size_t stride = b->objsize >> GRANULE_SHIFT, bit = granule_bit(c, base);
            for (size_t i = 0; i < b->nobjs; i++, bit += stride)
                if (bit_test(c->alloc, bit))
                    mark_push_root_object(base + i * b->objsize, b->objsize);
        }
    }
    for (struct page_desc *b = large_objects; b; b = b->next)
        if (b->kind == KIND_UNCOLLECTABLE)
            mark_push_root_object(pd_addr(b), object_size(b));
}

void alloc_after_mark(void)
{
    atomic_fetch_add_explicit(&gc_epoch, 1, memory_order_relaxed);
    for (int k = 0; k < NKINDS; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++)
            cursor[k][cls] = blocks[k][cls];
    struct page_desc *b = large_objects, *next;
    size_t reclaimed = 0;
    for (; b; b = next) {
        next = b->next;
        if (b->kind == KIND_UNCOLLECTABLE)
            continue;
        struct chunk *c = chunk_of_pd(b);
        size_t bit = granule_bit(c, pd_addr(b));
        if (bit_test(c->mark, bit))
            continue;
        if (bit_clear_atomic(c->alloc, bit)) {
            reclaimed += object_size(b);
            vg_free((void *)pd_addr(b));
        }
        free_large(b);
    }
    stats_reclaimed(reclaimed);
}
