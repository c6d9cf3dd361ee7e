/* Object kinds: the predefined ones map to cogc's; a kind with a mark
 * procedure allocates traced objects (cogc_malloc_traced) whose procedure
 * calls the program's; other descriptors (length, bitmap, typed) are
 * scanned conservatively in full. */
#include "shim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KINDS 64
#define PTRFREE 0
#define NORMAL 1
#define UNCOLLECTABLE 2
#define AUNCOLLECTABLE 3
#define FIRST_NEW_KIND 4

struct kind {
    GC_word descr;
};

static struct kind kinds[MAX_KINDS];
static unsigned nkinds = FIRST_NEW_KIND;
static GC_mark_proc procs[GC_MAX_MARK_PROCS];
static unsigned nprocs = GC_RESERVED_MARK_PROCS;
static pthread_mutex_t kinds_lock = PTHREAD_MUTEX_INITIALIZER;

/* Procedures get a mark stack they never need to advance. */
static struct GC_ms_entry fake_stack[16];

void *GC_least_plausible_heap_addr = (void *)1;
void *GC_greatest_plausible_heap_addr = (void *)~(uintptr_t)0;

GC_API void **GC_CALL GC_new_free_list_inner(void)
{
    /* Never used by cogc; a runtime may keep it.  Uncollectable, zeroed. */
    return cogc_malloc_uncollectable(129 * sizeof(void *));
}
GC_API void **GC_CALL GC_new_free_list(void) { return GC_new_free_list_inner(); }

GC_API unsigned GC_CALL GC_new_kind_inner(void **fl, GC_word descr, int adjust, int clear)
{
    (void)fl, (void)adjust, (void)clear;   /* objects are always cleared */
    unsigned k = nkinds;
    if (k >= MAX_KINDS) {
        fprintf(stderr, "cogc (bdwgc binding): too many object kinds (max %d)\n", MAX_KINDS);
        abort();
    }
    kinds[k].descr = descr;
    __atomic_store_n(&nkinds, k + 1, __ATOMIC_RELEASE);
    return k;
}

GC_API unsigned GC_CALL GC_new_kind(void **fl, GC_word descr, int adjust, int clear)
{
    pthread_mutex_lock(&kinds_lock);
    unsigned k = GC_new_kind_inner(fl, descr, adjust, clear);
    pthread_mutex_unlock(&kinds_lock);
    return k;
}

GC_API unsigned GC_CALL GC_new_proc_inner(GC_mark_proc proc)
{
    unsigned i = nprocs;
    if (i >= GC_MAX_MARK_PROCS) {
        fprintf(stderr, "cogc (bdwgc binding): too many mark procedures (max %d)\n", GC_MAX_MARK_PROCS);
        abort();
    }
    procs[i] = proc;
    __atomic_store_n(&nprocs, i + 1, __ATOMIC_RELEASE);
    return i;
}

GC_API unsigned GC_CALL GC_new_proc(GC_mark_proc proc)
{
    pthread_mutex_lock(&kinds_lock);
    unsigned i = GC_new_proc_inner(proc);
    pthread_mutex_unlock(&kinds_lock);
    return i;
}

static void trace_kind(void *obj, void *env)
{
    GC_word d = ((const struct kind *)env)->descr;
    GC_mark_proc proc = procs[(d >> GC_DS_TAG_BITS) & (GC_MAX_MARK_PROCS - 1)];
    if (proc)
        proc((GC_word *)obj, fake_stack, fake_stack + 16, d >> (GC_DS_TAG_BITS + GC_LOG_MAX_MARK_PROCS));
}

GC_API struct GC_ms_entry *GC_CALL GC_mark_and_push(void *obj, struct GC_ms_entry *msp, struct GC_ms_entry *lim,
                                                    void **src)
{
    (void)lim, (void)src;
    cogc_trace_mark(obj);
    return msp;
}

GC_API void GC_CALL GC_push_all(void *bottom, void *top)
{
    for (void **p = bottom; (char *)(p + 1) <= (char *)top; p++)
        cogc_trace_mark(*p);
}
GC_API void GC_CALL GC_push_all_eager(void *bottom, void *top) { GC_push_all(bottom, top); }
GC_API void GC_CALL GC_push_conditional(void *bottom, void *top, int all)
{
    (void)all;
    GC_push_all(bottom, top);
}
GC_API void GC_CALL GC_push_finalizer_structures(void) {}

GC_API int GC_CALL GC_is_marked(const void *p) { return cogc_base(p) != NULL; }
GC_API void GC_CALL GC_set_mark_bit(const void *p) { (void)p; }
GC_API void GC_CALL GC_clear_mark_bit(const void *p) { (void)p; }

GC_API void *GC_CALL GC_generic_malloc(size_t lb, int k)
{
    shim_ensure();
    void *p;
    switch (k) {
    case PTRFREE: p = cogc_malloc_atomic(lb); break;
    case NORMAL: p = cogc_malloc(lb); break;
    case UNCOLLECTABLE:
    case AUNCOLLECTABLE: p = cogc_malloc_uncollectable(lb); break;
    default:
        if (k < 0 || (unsigned)k >= __atomic_load_n(&nkinds, __ATOMIC_ACQUIRE)) {
            fprintf(stderr, "cogc (bdwgc binding): GC_generic_malloc: no kind %d\n", k);
            return NULL;
        }
        if ((kinds[k].descr & GC_DS_TAGS) == GC_DS_PROC)
            p = cogc_malloc_traced(lb, trace_kind, &kinds[k]);
        else
            p = cogc_malloc(lb);
    }
    return shim_result(p, lb);
}

GC_API void *GC_CALL GC_generic_malloc_ignore_off_page(size_t lb, int k) { return GC_generic_malloc(lb, k); }
GC_API void *GC_CALL GC_generic_malloc_uncollectable(size_t lb, int k)
{
    (void)k;
    return GC_malloc_uncollectable(lb);
}
GC_API void *GC_CALL GC_generic_or_special_malloc(size_t lb, int k) { return GC_generic_malloc(lb, k); }
GC_API void *GC_CALL GC_debug_generic_or_special_malloc(size_t lb, int k, const char *s, int i)
{
    (void)s, (void)i;
    return GC_generic_malloc(lb, k);
}
GC_API void *GC_CALL GC_malloc_kind(size_t lb, int k) { return GC_generic_malloc(lb, k); }
GC_API void *GC_CALL GC_malloc_kind_global(size_t lb, int k) { return GC_generic_malloc(lb, k); }

#define MANY_MAX 256

/* Normal and pointer-free objects come linked from cogc_malloc_many: one
 * pass over the thread's free list instead of a call per object (Guile's
 * gcbench.scm: those calls were 7 % of its run).  Other kinds, and the
 * out-of-memory path (GC_oom_fn), one GC_generic_malloc each, held in a
 * scanned array on this stack until linked: a list through pointer-free
 * objects' first words is invisible to the collector, so it is the
 * caller's to keep alive once returned. */
GC_API void GC_CALL GC_generic_malloc_many(size_t lb, int k, void **result)
{
    size_t n = lb >= 8192 ? 1 : 8192 / (lb ? lb : 1);
    if (n > MANY_MAX)
        n = MANY_MAX;
    if (k == NORMAL || k == PTRFREE) {
        shim_ensure();
        if (cogc_malloc_many(lb, k == PTRFREE, n, result))
            return;
    }
    void *objs[MANY_MAX];
    size_t got = 0;
    for (; got < n; got++)
        if (!(objs[got] = GC_generic_malloc(lb, k)))
            break;
    void *head = NULL;
    while (got > 0) {
        void *o = objs[--got];
        *(void **)o = head;
        head = o;
    }
    *result = head;
    __asm__ volatile("" : : "r"(objs) : "memory");
}

/* ---- typed allocation ------------------------------------------------------
 * A descriptor is a bitmap of the pointer words: up to BITMAP_MAX words it
 * is held in the descriptor itself (bitmap << 8 | len << 2 | GC_DS_BITMAP), beyond
 * that it points to an uncollectable copy ({len, words...} | 3).  All
 * pointers: GC_DS_LENGTH, a plain scanned object; none: atomic.  Other
 * typed objects are traced: their procedure reports the words the bitmap
 * names (and, conservatively, every word past the bitmap's length). */

#define BITMAP_MAX 56
#define DESCR_LONG 3

GC_API GC_descr GC_CALL GC_make_descriptor(const GC_word *bitmap, size_t len)
{
    size_t last = 0, set = 0;
    for (size_t i = 0; i < len; i++)
        if (GC_get_bit(bitmap, i)) {
            last = i + 1;
            set++;
        }
    if (set == len)
        return GC_DS_LENGTH;                         /* all pointers */
    if (last <= BITMAP_MAX) {
        GC_word w = 0;
        for (size_t i = 0; i < last; i++)
            if (GC_get_bit(bitmap, i))
                w |= (GC_word)1 << i;
        /* Words past `last` up to len are not pointers: record len so they
         * are not scanned; anything past len is. */
        if (len > BITMAP_MAX)
            len = BITMAP_MAX;
        return (w << 8) | ((GC_word)len << 2) | GC_DS_BITMAP;
    }
    size_t nw = (len + GC_WORDSZ - 1) / GC_WORDSZ;
    GC_word *copy = cogc_malloc_uncollectable((nw + 1) * sizeof(GC_word));
    if (!copy)
        return GC_DS_LENGTH;                         /* conservative */
    copy[0] = len;
    for (size_t i = 0; i < nw; i++)
        copy[i + 1] = bitmap[i];
    return (GC_descr)copy | DESCR_LONG;
}

static void trace_typed(void *obj, void *env)
{
    GC_descr d = (GC_descr)env;
    void **w = obj;
    size_t n = GC_size(obj) / sizeof(void *), len;
    const GC_word *bm;
    GC_word small;
    if ((d & GC_DS_TAGS) == GC_DS_BITMAP) {
        len = (d >> 2) & 63;
        small = d >> 8;
        bm = &small;
    } else {
        const GC_word *copy = (const GC_word *)(d & ~(GC_word)DESCR_LONG);
        len = copy[0];
        bm = copy + 1;
    }
    for (size_t i = 0; i < n; i++)
        if (i >= len || GC_get_bit(bm, i))
            cogc_trace_mark(w[i]);
}

GC_API void *GC_CALL GC_malloc_explicitly_typed(size_t lb, GC_descr d)
{
    if ((d & GC_DS_TAGS) == GC_DS_LENGTH)
        return GC_malloc(lb);
    shim_ensure();
    if ((d & GC_DS_TAGS) == GC_DS_BITMAP && (d >> 8) == 0 && ((d >> 2) & 63) * sizeof(GC_word) >= lb) {
        void *p = GC_malloc_atomic(lb);   /* no pointer word at all */
        if (p)
            memset(p, 0, lb);
        return p;
    }
    return shim_result(cogc_malloc_traced(lb, trace_typed, (void *)d), lb);
}

GC_API void *GC_CALL GC_malloc_explicitly_typed_ignore_off_page(size_t lb, GC_descr d)
{
    return GC_malloc_explicitly_typed(lb, d);
}


GC_API void *GC_CALL GC_calloc_explicitly_typed(size_t n, size_t lb, GC_descr d)
{
    size_t total;
    if (__builtin_mul_overflow(n, lb, &total))
        return GC_oom_fn ? GC_oom_fn(SIZE_MAX) : NULL;
    /* Scanned in full: an element's bitmap is not repeated (conservative). */
    (void)d;
    return GC_malloc(total);
}
