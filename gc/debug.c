/* The debug allocator: redzones, freed-object poisoning and a quarantine,
 * reports with backtraces (docs/debug.md).  Its tables (the records, the
 * quarantine's free backtraces, the findings) live in the collector's own
 * pages and are guarded by the heap lock, which a collection holds: so
 * debug_after_mark reads them with no lock of its own. */
#define _GNU_SOURCE
#include "debug.h"
#include "addrmap.h"
#include "alloc.h"
#include "backtrace.h"
#include "collect.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "roots.h"
#include "vec.h"
#include "vg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REDZONE_MIN 16            /* bytes of redzone at least, after the bytes asked */
#define REDZONE_BYTE 0xfb
#define POISON_BYTE 0xdf          /* 0xdfdf...: a non-canonical word, keeps nothing alive */
#define QUARANTINE_MAX 1024       /* freed objects held before reuse */
#define QUARANTINE_BYTES ((size_t)32 << 20)
#define FRAMES 10

int debug_all = -1;
bool debug_any;
volatile bool debug_pending;

enum { DBG_LIVE, DBG_FREED };

struct dbg_rec {
    size_t size;                  /* bytes asked */
    size_t objsize;               /* usable: the redzone is [size, objsize) */
    uint8_t kind, state, nalloc, nfree;
    uint32_t qslot;               /* DBG_FREED: its quarantine slot */
    void *alloc_bt[FRAMES];
};

struct qfree {
    uint8_t nfree;
    void *free_bt[FRAMES];
};

enum what { F_OVERFLOW, F_AFTER_FREE, F_DOUBLE_FREE, F_REALLOC_FREED };

struct finding {
    enum what what;
    const char *when;
    uintptr_t obj;
    size_t off;                   /* first damaged byte */
    uint8_t byte;                 /* its value */
    struct dbg_rec rec;
    unsigned nfree, nagain;
    void *free_bt[FRAMES];        /* when it was freed */
    void *again_bt[FRAMES];       /* the second free (double free) */
};

static struct addrmap table;                       /* object -> v[0]: record index */
static struct { struct dbg_rec *v; size_t n, cap; } recs;
static struct { uint32_t *v; size_t n, cap; } spare;   /* free record indices */
static struct { struct finding *v; size_t n, cap; } findings;

/* The quarantine: a ring of freed objects, a registered root range so they
 * stay allocated until they leave it; their free backtraces beside it. */
static void **ring;
static struct qfree *ring_info;
static size_t ring_head, ring_n, ring_bytes;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

void debug_init(void) { debug_all = option(OPT_DEBUG) ? 1 : 0; }

static void ring_setup(void)
{
    void **r = os_map(QUARANTINE_MAX * sizeof *ring);
    struct qfree *info = os_map(QUARANTINE_MAX * sizeof *ring_info);
    if (!r || !info || roots_add((uintptr_t)r, (uintptr_t)(r + QUARANTINE_MAX)) != 0) {
        report_warn("debug allocator: no memory for the quarantine; debug objects are not made");
        return;
    }
    ring_info = info;
    ring = r;
}

static const char *kind_name(unsigned k)
{
    return k == KIND_ATOMIC ? "atomic" : k == KIND_UNCOLLECTABLE ? "uncollectable" : "normal";
}

/* Offset of the first byte of [p, p+n) that is not b, or n. */
static size_t first_bad(const void *p, size_t n, uint8_t b)
{
    const uint8_t *s = p;
    size_t i = 0;
    uint64_t w = 0x0101010101010101ull * b;
    for (; i < n && ((uintptr_t)(s + i) & 7); i++)
        if (s[i] != b)
            return i;
    for (; i + 8 <= n; i += 8)
        if (*(const uint64_t *)(s + i) != w)
            break;
    for (; i < n; i++)
        if (s[i] != b)
            return i;
    return n;
}

/* ---- the records (heap lock held) -------------------------------------- */

static struct dbg_rec *record_of(uintptr_t obj, struct addrmap_entry **ep)
{
    struct addrmap_entry *e = addrmap_find(&table, obj);
    if (ep)
        *ep = e;
    return e ? &recs.v[e->v[0]] : NULL;
}

static void record_drop(struct addrmap_entry *e)
{
    uint32_t idx = (uint32_t)e->v[0];
    addrmap_remove(&table, e);
    VEC_PUSH(spare, idx);   /* lost on failure: the record is just not reused */
}

static bool record_put(uintptr_t obj, const struct dbg_rec *r)
{
    uint32_t idx;
    if (spare.n) {
        idx = spare.v[--spare.n];
    } else {
        if (!VEC_PUSH(recs, *r))
            return false;
        idx = (uint32_t)(recs.n - 1);
    }
    recs.v[idx] = *r;
    bool created;
    struct addrmap_entry *e = addrmap_insert(&table, obj, &created);
    if (!e) {
        VEC_PUSH(spare, idx);
        return false;
    }
    if (!created)   /* a stale record (cannot happen: dead objects are dropped at collection) */
        VEC_PUSH(spare, (uint32_t)e->v[0]);
    e->v[0] = idx;
    return true;
}

static void finding_fill(struct finding *f, enum what w, const char *when, uintptr_t obj,
                         const struct dbg_rec *r, size_t off)
{
    memset(f, 0, sizeof *f);
    f->what = w;
    f->when = when;
    f->obj = obj;
    f->off = off;
    f->rec = *r;
    if (w == F_OVERFLOW || w == F_AFTER_FREE)
        f->byte = ((const uint8_t *)obj)[off];
    if (r->state == DBG_FREED) {
        f->nfree = ring_info[r->qslot].nfree;
        memcpy(f->free_bt, ring_info[r->qslot].free_bt, sizeof f->free_bt);
    }
}

/* ---- reports (no lock held) --------------------------------------------- */

static void report(const struct finding *f)
{
    const struct dbg_rec *r = &f->rec;
    const char *kind = kind_name(r->kind);
    switch (f->what) {
    case F_OVERFLOW:
        backtrace_line(2, "cogc: debug: heap overflow: object %p (%zu bytes asked, %zu usable, %s): "
                          "redzone written at offset %zu (byte 0x%02x, redzone 0x%02x), found %s",
                       (void *)f->obj, r->size, r->objsize, kind, f->off, f->byte, REDZONE_BYTE, f->when);
        break;
    case F_AFTER_FREE:
        backtrace_line(2, "cogc: debug: write after free: object %p (%zu bytes asked, %zu usable, %s): "
                          "written at offset %zu after it was freed (byte 0x%02x, poison 0x%02x), found %s",
                       (void *)f->obj, r->size, r->objsize, kind, f->off, f->byte, POISON_BYTE, f->when);
        break;
    case F_DOUBLE_FREE:
        backtrace_line(2, "cogc: debug: double free: cogc_free(%p): object (%zu bytes asked, %zu usable, %s) "
                          "already freed", (void *)f->obj, r->size, r->objsize, kind);
        break;
    case F_REALLOC_FREED:
        backtrace_line(2, "cogc: debug: use after free: cogc_realloc(%p): object (%zu bytes asked, %zu usable, %s) "
                          "already freed; returning NULL", (void *)f->obj, r->size, r->objsize, kind);
        break;
    }
    backtrace_line(2, "cogc:   allocated at:");
    backtrace_print(2, "cogc:     ", r->alloc_bt, r->nalloc);
    if (f->nfree) {
        backtrace_line(2, "cogc:   %s at:", f->nagain ? "first freed" : "freed");
        backtrace_print(2, "cogc:     ", f->free_bt, f->nfree);
    }
    if (f->nagain) {
        backtrace_line(2, "cogc:   %s at:", f->what == F_DOUBLE_FREE ? "freed again" : "reallocated");
        backtrace_print(2, "cogc:     ", f->again_bt, f->nagain);
    }
}

static void after_reports(void)
{
    if (option(OPT_DEBUG_ON_ERROR) == DEBUG_ON_ERROR_ABORT) {
        backtrace_line(2, "cogc: debug: aborting (COGC_DEBUG_ON_ERROR=warn reports and goes on)");
        abort();
    }
}

void debug_flush(void)
{
    bool any = false;
    for (;;) {
        struct finding f;
        heap_lock();
        bool got = findings.n > 0;
        if (got)
            f = findings.v[--findings.n];
        else
            debug_pending = false;
        heap_unlock();
        if (!got)
            break;
        report(&f);
        any = true;
    }
    if (any)
        after_reports();
}

/* ---- allocation, free, realloc ----------------------------------------- */

void *debug_malloc(size_t size, enum kind k)
{
    if (cogc_init() != 0)
        return NULL;
    pthread_once(&ring_once, ring_setup);
    if (!ring || size > SIZE_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t total = size + REDZONE_MIN;
    void *p = alloc_fast(total, k);
    if (!p)
        p = alloc_slow(total, k);   /* the caller runs finalizers and prints reports afterwards */
    if (!p)
        return NULL;
    size_t usable = alloc_size(p);
    vg_malloc(p, usable, k != KIND_ATOMIC);
    memset((char *)p + size, REDZONE_BYTE, usable - size);
    struct dbg_rec r = {.size = size, .objsize = usable, .kind = (uint8_t)k, .state = DBG_LIVE};
    r.nalloc = (uint8_t)backtrace_capture(r.alloc_bt, FRAMES);
    heap_lock();
    bool ok = record_put((uintptr_t)p, &r);
    if (ok)
        __atomic_store_n(&debug_any, true, __ATOMIC_RELAXED);
    heap_unlock();
    if (!ok)
        report_warn("debug allocator: no memory for the record of %p; it is not checked", p);
    return p;
}

/* Heap lock held: take the oldest object out of the quarantine, checked;
 * NULL if there is none.  A finding goes to *f (f->when set). */
static void *ring_pop(struct finding *f, bool *found)
{
    if (!ring_n)
        return NULL;
    void *v = ring[ring_head];
    ring[ring_head] = NULL;
    ring_head = (ring_head + 1) % QUARANTINE_MAX;
    ring_n--;
    struct addrmap_entry *e;
    struct dbg_rec *r = record_of((uintptr_t)v, &e);
    if (!r)
        return NULL;
    ring_bytes -= r->objsize;
    size_t off = first_bad(v, r->objsize, POISON_BYTE);
    if (off < r->objsize) {
        finding_fill(f, F_AFTER_FREE, "when it left the quarantine to be reused", (uintptr_t)v, r, off);
        *found = true;
    }
    record_drop(e);
    return v;
}

bool debug_free(void *p)
{
    struct finding f, evicted;
    bool overflow = false, double_free = false, bad_evicted = false;
    heap_lock();
    bool known = record_of((uintptr_t)p, NULL) != NULL;
    heap_unlock();
    if (!known)
        return false;   /* an ordinary object: no backtrace taken */
    void *again[FRAMES];
    unsigned nagain = backtrace_capture(again, FRAMES);
    void *victims[4];
    unsigned nvictims = 0;
    heap_lock();
    struct addrmap_entry *e;
    struct dbg_rec *r = record_of((uintptr_t)p, &e);
    if (!r) {
        heap_unlock();
        return false;
    }
    if (r->state == DBG_FREED) {
        finding_fill(&f, F_DOUBLE_FREE, "at cogc_free", (uintptr_t)p, r, 0);
        double_free = true;
    } else {
        size_t off = first_bad((char *)p + r->size, r->objsize - r->size, REDZONE_BYTE);
        if (off < r->objsize - r->size) {
            finding_fill(&f, F_OVERFLOW, "at cogc_free", (uintptr_t)p, r, r->size + off);
            overflow = true;
        }
        /* Room in the ring: at most a few of the oldest leave it. */
        while (ring_n && nvictims < 4 &&
               (ring_n == QUARANTINE_MAX || ring_bytes + r->objsize > QUARANTINE_BYTES)) {
            bool found = false;
            void *v = ring_pop(&evicted, &found);
            bad_evicted |= found;
            if (v)
                victims[nvictims++] = v;
        }
        if (ring_n < QUARANTINE_MAX) {
            size_t slot = (ring_head + ring_n) % QUARANTINE_MAX;
            memset(p, POISON_BYTE, r->objsize);
            r->state = DBG_FREED;
            r->qslot = (uint32_t)slot;
            ring_info[slot].nfree = (uint8_t)nagain;
            memcpy(ring_info[slot].free_bt, again, sizeof again);
            ring[slot] = p;
            ring_n++;
            ring_bytes += r->objsize;
            if (overflow) {
                f.nfree = nagain;
                memcpy(f.free_bt, again, sizeof again);
            }
        } else {
            /* Cannot happen (the ring was just made room in); freed now. */
            record_drop(e);
            victims[nvictims++] = p;
        }
    }
    heap_unlock();
    if (double_free) {
        f.nagain = nagain;
        memcpy(f.again_bt, again, sizeof again);
    }
    if (overflow || double_free)
        report(&f);
    if (bad_evicted)
        report(&evicted);
    for (unsigned i = 0; i < nvictims; i++)
        alloc_free(victims[i]);
    if (overflow || double_free || bad_evicted)
        after_reports();
    return true;
}

bool debug_realloc(void *p, size_t size, void **out)
{
    heap_lock();
    struct dbg_rec *r = record_of((uintptr_t)p, NULL);
    struct dbg_rec copy;
    if (r)
        copy = *r;
    struct finding f;
    if (r && copy.state == DBG_FREED)
        finding_fill(&f, F_REALLOC_FREED, "at cogc_realloc", (uintptr_t)p, r, 0);
    heap_unlock();
    if (!r)
        return false;
    *out = NULL;
    if (copy.state == DBG_FREED) {
        f.nagain = backtrace_capture(f.again_bt, FRAMES);
        report(&f);
        after_reports();
        errno = EINVAL;
        return true;
    }
    void *q = debug_malloc(size, (enum kind)copy.kind);
    if (!q)
        return true;   /* errno = ENOMEM, p untouched */
    memcpy(q, p, size < copy.size ? size : copy.size);
    debug_free(p);
    *out = q;
    return true;
}

bool debug_size(const void *p, size_t *out)
{
    heap_lock();
    struct dbg_rec *r = record_of((uintptr_t)p, NULL);
    if (r)
        *out = r->state == DBG_LIVE ? r->size : 0;
    heap_unlock();
    return r != NULL;
}

/* ---- at collections ---------------------------------------------------- */

static bool is_marked(uintptr_t obj)
{
    struct chunk *c = chunk_of(obj);
    return c && bit_test(c->mark, granule_bit(c, obj));
}

static void found_at_collection(enum what w, uintptr_t obj, const struct dbg_rec *r, size_t off)
{
    struct finding f;
    finding_fill(&f, w, "at a collection", obj, r, off);
    if (VEC_PUSH(findings, f))
        debug_pending = true;
}

void debug_after_mark(void)
{
    if (!debug_used())
        return;
    ADDRMAP_FOREACH(&table, e) {
        struct dbg_rec *r = &recs.v[e->v[0]];
        uintptr_t obj = addrmap_key_addr(e);
        if (r->state == DBG_LIVE) {
            size_t off = first_bad((char *)obj + r->size, r->objsize - r->size, REDZONE_BYTE);
            if (off < r->objsize - r->size) {
                found_at_collection(F_OVERFLOW, obj, r, r->size + off);
                memset((char *)obj + r->size, REDZONE_BYTE, r->objsize - r->size);   /* reported once */
            }
            if (!is_marked(obj))
                record_drop(e);   /* garbage: its memory is about to be reused */
        } else {
            size_t off = first_bad((void *)obj, r->objsize, POISON_BYTE);
            if (off < r->objsize) {
                found_at_collection(F_AFTER_FREE, obj, r, off);
                memset((void *)obj, POISON_BYTE, r->objsize);
            }
        }
    }
}
