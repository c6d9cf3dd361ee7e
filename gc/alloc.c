#define _GNU_SOURCE
#include "alloc.h"
#include "collect.h"
#include "heap.h"
#include "lock.h"
#include "mark.h"
#include "object.h"
#include "options.h"
#include "pages.h"
#include "report.h"
#include "stats.h"
#include "threads.h"
#include "vg.h"
#include "watch.h"
#include "incremental.h"

#include <errno.h>
#include <string.h>

__thread struct tl tl_state __attribute__((tls_model("initial-exec")));

static struct page_desc *large_objects;
/* Uncollectable small objects are rare: one shared list per class. */
static struct flist uncollectable_fl[NCLASSES];

/* Objects above this many pages get a chunk of their own. */
#define SINGLE_CHUNK_PAGES 256

/* ---- slow paths --------------------------------------------------------- */

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
    collect_note_net(t->used, t->freed);
    t->used = 0;
    stats_freed(t->freed);
    t->freed = 0;
}

static void large_link(struct page_desc *pd)
{
    pd->prev = NULL;
    pd->next = large_objects;
    if (large_objects)
        large_objects->prev = pd;
    large_objects = pd;
}

static void large_unlink(struct page_desc *pd)
{
    if (pd->prev)
        pd->prev->next = pd->next;
    else
        large_objects = pd->next;
    if (pd->next)
        pd->next->prev = pd->prev;
    pd->next = pd->prev = NULL;
}

/* Objects that fit a standard chunk take a run of its pages; bigger ones
 * (or, failing a run, ones too big to grow a chunk for) a chunk of their own. */
static struct page_desc *large_pages(size_t n, bool *zero)
{
    struct page_desc *pd = NULL;
    if (n <= SINGLE_CHUNK_PAGES) {
        pd = heap_get_pages(n, true, zero);
    } else if (n <= CHUNK_SIZE / PAGE_SIZE / 2) {
        pd = pages_alloc(n, true, zero);
        if (!pd && blocks_sweep_all())
            pd = pages_alloc(n, true, zero);
    }
    if (pd) {
        size_t idx = pd_index(pd);
        for (size_t i = 1; i < n; i++) {
            pd[i].state = PS_CONT;
            pd[i].head = (uint32_t)idx;
        }
        return pd;
    }
    if (n <= SINGLE_CHUNK_PAGES)
        return NULL;
    struct chunk *c = heap_get_single(n);
    *zero = true;
    return c ? &c->pd[c->first] : NULL;
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
    collect_note_net(n * PAGE_SIZE, 0);
    collect_maybe_locked();
    bool zero = true;
    struct page_desc *pd = large_pages(n, &zero);
    if (!pd) {
        heap_unlock();
        errno = ENOMEM;
        return NULL;
    }
    pd->kind = (uint8_t)k;
    pd->npages = (uint32_t)n;
    pd->nobjs = 1;
    if (incremental_marking())
        pd->flags |= PF_FRESH;
    /* Published last: a concurrent marker reads the fields after the state. */
    __atomic_store_n(&pd->state, PS_LARGE, __ATOMIC_RELEASE);
    large_link(pd);
    void *p = (void *)pd_addr(pd);
    struct chunk *c = chunk_of_pd(pd);
    bit_set_atomic(c->alloc, granule_bit(c, (uintptr_t)p));
    bit_clear_atomic(c->mark, granule_bit(c, (uintptr_t)p));   /* sticky marks: see new_block */
    watch_young_block(pd);
    /* The address must live in a register or a stack slot of this frame
     * from here until the caller has it.  A collection can start the moment
     * the lock is let go (the background marker's final pause was waiting
     * for it), and with nothing but the page descriptor kept, which the
     * compiler may do (clang did: it computed the address again from pd
     * after the unlock), no scanned word holds the new object and the
     * collection frees it (fuzz_api's lost 40000-byte objects).  The empty
     * asm makes p a value the compiler cannot recompute, only keep. */
    __asm__ volatile("" : "+r"(p));
    heap_unlock();
    /* The pages may have held objects memcheck saw freed: they are ours
     * again (and the scan reads all of them, past the size asked for). */
    vg_make_writable(p, n * PAGE_SIZE);
    if (!zero && k != KIND_ATOMIC)
        memset(p, 0, n * PAGE_SIZE);
    stats_allocated(n * PAGE_SIZE);
    return p;
}

static void *alloc_uncollectable_small(size_t size)
{
    unsigned cls = size_to_class(size);
    struct flist *fl = &uncollectable_fl[cls];
    heap_lock();
    if (!fl->n && !blocks_refill(KIND_UNCOLLECTABLE, cls, fl)) {
        heap_unlock();
        errno = ENOMEM;
        return NULL;
    }
    void **p = fl->head;
    fl->head = p[0];
    if (--fl->n == 0)
        fl->tail = NULL;
    p[0] = p[1] = NULL;
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
    struct flist got;
    bool ok = blocks_refill(k, cls, &got);
    if (ok) {
        /* Installed under the lock: a collection must see the list in tl. */
        tl_state.fl[k][cls] = got.head;
        tl_state.refilled += got.n * size_classes[cls].size;
    }
    heap_unlock();
    if (!ok) {
        errno = ENOMEM;
        return NULL;
    }
    stats_allocated(got.n * size_classes[cls].size);
    return alloc_fast(size, k);
}

/* ---- lookup ----------------------------------------------------------- */

static size_t object_size(const struct page_desc *b)
{
    return b->state == PS_LARGE ? (size_t)b->npages * PAGE_SIZE : b->objsize;
}

static bool object_allocated(const struct chunk *c, const struct page_desc *b, uintptr_t start)
{
    if (b->state == PS_LARGE || b->kind == KIND_UNCOLLECTABLE)
        return bit_test(c->alloc, granule_bit(c, start));
    return !is_free((const void *)start);
}

void *alloc_base(const void *ptr)
{
    struct object_ref o;
    if (object_find((uintptr_t)ptr, true, &o) != OBJ_FOUND)
        return NULL;
    return object_allocated(o.chunk, o.block, o.start) ? (void *)o.start : NULL;
}

/* ptr is the start of an allocated object, described in *o. */
static bool live_object_at(const void *ptr, struct object_ref *o)
{
    return object_find((uintptr_t)ptr, true, o) == OBJ_FOUND && o->start == (uintptr_t)ptr &&
           object_allocated(o->chunk, o->block, o->start);
}

size_t alloc_size(const void *ptr)
{
    struct object_ref o;
    return live_object_at(ptr, &o) ? object_size(o.block) : 0;
}

/* ---- explicit free ----------------------------------------------------- */

static void free_large(struct page_desc *b)
{
    struct chunk *c = chunk_of_pd(b);
    large_unlink(b);
    if (c->single) {
        chunk_delete(c);
    } else {
        b->state = PS_FREE;
        pages_free(b, b->npages);
    }
}

static void misuse_freed(void *ptr)
{
    report_misuse("cogc_free(%p): object already freed or collected; ignored", ptr);
}

void alloc_free(void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    struct object_ref o;
    if (object_find(p, true, &o) != OBJ_FOUND) {
        report_misuse("cogc_free(%p): not an object of the cogc heap; ignored", ptr);
        return;
    }
    if (o.start != p) {
        report_misuse("cogc_free(%p): not the start of an object (object at %p); ignored", ptr,
                      (void *)o.start);
        return;
    }
    struct chunk *c = o.chunk;
    struct page_desc *b = o.block;
    size_t bit = granule_bit(c, p);
    if (b->state == PS_LARGE) {
        heap_lock();
        bool ok = bit_clear_atomic(c->alloc, bit);
        size_t bytes = object_size(b);
        if (ok) {
            roots_note_unmarked();   /* its pages may hold a young object at the same address */
            free_large(b);
            collect_note_net(0, bytes);
        }
        heap_unlock();
        if (!ok)
            return misuse_freed(ptr);
        vg_free(ptr);
        stats_freed(bytes);
        return;
    }
    size_t size = b->objsize;
    bool shared = b->kind == KIND_UNCOLLECTABLE || !tl_state.self;
    if (shared || atomic_load_explicit(&b->swept, memory_order_relaxed) != atomic_load(&gc_epoch)) {
        /* Unswept blocks are swept first, so a garbage object cannot end up
         * on two lists; uncollectable objects and frees from unregistered
         * threads go to the heap's lists.  All under the lock. */
        heap_lock();
        blocks_sweep_if_unswept(b);
        bool ok = b->state == PS_SMALL && !is_free(ptr) &&
                  (b->kind != KIND_UNCOLLECTABLE || bit_clear_atomic(c->alloc, bit));
        if (ok) {
            alloc_forget_mark(c, bit);
            vg_free(ptr);
            vg_make_writable(ptr, size);
            if (b->kind != KIND_ATOMIC)
                memset(ptr, 0, size);
            if (b->kind == KIND_UNCOLLECTABLE) {
                struct flist *fl = &uncollectable_fl[b->sclass];
                make_free(ptr, fl->head);
                fl->head = ptr;
                if (!fl->n++)
                    fl->tail = ptr;
            } else {
                /* Not on any list: the sweep after the next collection
                 * takes it (so it is not subtracted from the trigger's
                 * count: only a collection makes it reusable). */
                make_free(ptr, NULL);
            }
        }
        heap_unlock();
        if (!ok)
            return misuse_freed(ptr);
        stats_freed(size);
        return;
    }
    if (is_free(ptr))
        return misuse_freed(ptr);
    alloc_free_to_list(ptr, c, b, size);
}

void *alloc_realloc(void *ptr, size_t size)
{
    struct object_ref o;
    if (!live_object_at(ptr, &o)) {
        report_misuse("cogc_realloc(%p, %zu): not the start of a live cogc object; returning NULL",
                      ptr, size);
        errno = EINVAL;
        return NULL;
    }
    size_t old = object_size(o.block);
    enum kind k = (enum kind)o.block->kind;
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

/* Marked, a thread's free objects would be old in generational mode
 * (marks are sticky): allocated later, each would stay until a full
 * collection found it dead, whatever it held, and its page would be armed
 * and written at once.  A program that frees and allocates through its
 * lists (free_trigger) made most of its heap old that way.  So there the
 * lists are dropped instead and their objects unmarked (a list handed out
 * during an incremental cycle was born marked).  Not while the thread is
 * stopped inside an entry point: it may be halfway through taking an
 * object off a list. */
void alloc_settle_free_lists(struct tl *t, bool self)
{
    bool drop = collect_generational() && (self || !(t->busy & BUSY_IN));
    for (int k = 0; k < 2; k++)
        for (unsigned cls = 0; cls < NCLASSES; cls++)
            for (void *p = t->fl[k][cls]; p; p = *(void **)p) {
                if (!drop) {
                    mark_set((uintptr_t)p);
                    continue;
                }
                /* Marked through a stale pointer, or born marked.  No
                 * static root needs scanning again for it (unlike an
                 * object the program frees, alloc_forget_mark): a root
                 * word copied while it names a free object is kept as
                 * one no word equals (roots_minor.c).  That rescan cost
                 * 0.5-1 ms in the second minor collection after each of
                 * Guile's cycles. */
                struct chunk *c = chunk_of((uintptr_t)p);
                alloc_clear_mark(c, granule_bit(c, (uintptr_t)p));
                blocks_unpark_slot(c, (uintptr_t)p);
            }
    if (drop)
        alloc_drop_free_lists(t);
}

void alloc_drop_free_lists(struct tl *t)
{
    /* The objects stay tagged free; the next sweeps relist them. */
    memset(t->fl, 0, sizeof t->fl);
}

void alloc_mark_heap_roots(bool drop_lists)
{
    blocks_mark_roots(drop_lists);
    if (drop_lists)
        memset(uncollectable_fl, 0, sizeof uncollectable_fl);
    for (struct page_desc *b = large_objects; b; b = b->next)
        if (b->kind == KIND_UNCOLLECTABLE)
            mark_push_root_object(pd_addr(b), object_size(b));
}

void alloc_after_mark(bool full)
{
    blocks_new_epoch(full);
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
