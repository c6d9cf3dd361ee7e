#define _GNU_SOURCE
#include "finalize.h"
#include "aging.h"
#include "addrmap.h"
#include "lock.h"
#include "mark.h"
#include "object.h"
#include "options.h"
#include "report.h"
#include "vec.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "collect.h"

static bool collector_ready_for_links(void) { return collector_ready(); }

/*
 * The tables live in the collector's own pages, which no collection scans,
 * and hold their objects' addresses inverted (addrmap.h): registering a
 * finalizer or a link keeps nothing alive.  A finalizer's data does keep
 * its target alive, as does a queued finalizer its object.
 *
 * Order of the step (finalize_after_mark), all in one stop of the world:
 *  1. mark from finalizers' data and from queued, not yet run, finalizers;
 *  2. clear every (short) disappearing link whose target is unmarked: such
 *     links are cleared before the finalizer of their target runs, even if
 *     it resurrects the object;
 *  3. ordered finalization: each unmarked finalizable object, in turn, has
 *     its contents marked (not itself) to completion; if that marked the
 *     object itself, it is on a cycle of its own: reported, not finalized
 *     (it stays, as its finalizer can never run safely);
 *     IGNORE_SELF skips words pointing into the object itself, NO_ORDER
 *     contributes nothing;
 *  4. finalizable objects still unmarked are ready: their entries move to
 *     the queue, and they and everything they reach are marked so the
 *     finalizer sees them intact;
 *  5. long links whose target is unmarked are cleared; entries of links
 *     whose own location lies in an unmarked object are dropped; traced
 *     objects that stay unmarked are forgotten.
 * Traced objects (cogc_malloc_traced) are never scanned by the collector:
 * each marking above runs to a fixed point in which every newly marked
 * traced object has its procedure called once per collection.
 *
 * Per generation.  After any collection, every entry left in the tables
 * has its object (a finalizer's), its data, its target and its location
 * (a link's) marked or outside the heap: a target or object found
 * unmarked was cleared, queued or marked, a location found unmarked was
 * dropped, data was marked in step 1.  In generational mode marks are
 * sticky until the next full collection clears them, and a minor
 * collection frees only what is unmarked, so such an entry gives a minor
 * collection nothing to do: steps 1-5 of a minor collection visit only
 * the entries registered, re-registered or moved since the last
 * collection (the `fresh` lists).  The one way an old object loses its
 * mark between full collections is cogc_free: after one (while links
 * exist), the next minor collection visits every entry, as before.
 * Queued finalizers and traced objects are few and always visited.
 */

struct fin_item {
    uintptr_t obj;
    cogc_finalizer_fn fn;
    uintptr_t data;
};

static struct addrmap fins;          /* obj -> fn, data, mode | LISTED */
static struct addrmap short_links;   /* link -> hidden target, LISTED */
static struct addrmap long_links;
static struct addrmap traced;        /* obj -> fn, env, epoch traced */
static struct {
    struct fin_item *v;
    size_t n, cap;
} queue;
static size_t queue_head;
static uint64_t epoch, queued_total, notified_total;
static unsigned cycles_reported;

volatile bool finalize_work;
static int on_demand;
static cogc_finalizer_notifier notifier;
static cogc_collect_callback start_callback;

/* ---- per generation ------------------------------------------------------ */

/* Keys of the entries registered, re-registered or moved since the last
 * collection; each listed once (LISTED set in its flag word: v[1] of a
 * link, v[2] of a finalizer).  lost: one could not be listed, so the next
 * step visits every entry. */
struct fresh {
    uintptr_t *v;
    size_t n, cap;
    bool lost;
    unsigned flag_word;
};
#define LISTED ((uintptr_t)8)
static struct fresh fresh_fins = {.flag_word = 2}, fresh_short = {.flag_word = 1}, fresh_long = {.flag_word = 1};
static volatile bool objects_freed;  /* cogc_free since the last collection, links registered */
static bool visit_all;               /* this step: not a minor collection, or objects_freed */
static size_t visited;               /* entries visited by the last step (tests) */

static void note_fresh(struct fresh *f, struct addrmap_entry *e)
{
    uintptr_t *w = &e->v[f->flag_word];
    if (*w & LISTED)
        return;
    if (VEC_PUSH(*f, addrmap_key_addr(e)))
        *w |= LISTED;
    else
        f->lost = true;
}

typedef void visit_fn(struct addrmap *m, struct addrmap_entry *e);

/* fn on every entry of m this step must look at (see "Per generation"). */
static void visit(struct addrmap *m, struct fresh *f, visit_fn *fn)
{
    if (visit_all || f->lost) {
        ADDRMAP_FOREACH(m, e) {
            visited++;
            fn(m, e);
        }
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        struct addrmap_entry *e = addrmap_find(m, f->v[i]);
        if (e) {
            visited++;
            fn(m, e);
        }
    }
}

typedef bool keep_fn(const struct addrmap_entry *e);

/* A finalizer's object or data, a link's target or location, aged by this
 * minor collection: it loses its mark at the next one, which must look
 * at the entry again (aging.h). */
static bool fin_aged(const struct addrmap_entry *e)
{
    return aging_newly_marked(addrmap_key_addr(e)) || aging_newly_marked(e->v[1]);
}
static bool link_aged(const struct addrmap_entry *e)
{
    return aging_newly_marked(~e->v[0]) || aging_newly_marked(addrmap_key_addr(e));
}

/* End of a step: every entry is old now, but those `keep` says this
 * collection ages. */
static void forget_fresh(struct addrmap *m, struct fresh *f, keep_fn *keep)
{
    if (f->lost || (visit_all && aging_on)) {
        f->n = 0;
        f->lost = false;
        ADDRMAP_FOREACH(m, e) {
            e->v[f->flag_word] &= ~LISTED;
            if (aging_on && keep(e))
                note_fresh(f, e);
        }
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct addrmap_entry *e = addrmap_find(m, f->v[i]);
        if (e && aging_on && keep(e))
            f->v[k++] = f->v[i];
        else if (e)
            e->v[f->flag_word] &= ~LISTED;
    }
    f->n = k;
}

size_t finalize_visited(void) { return visited; }

/* ---- marking helpers ---------------------------------------------------- */

static bool is_marked(uintptr_t obj)
{
    struct chunk *c = chunk_of(obj);
    return c && bit_test(c->mark, granule_bit(c, obj));
}

static struct {
    uintptr_t *v;
    size_t n, cap;
} trace_work;                        /* traced objects marked, not yet traced */
static size_t untraced;              /* traced objects not traced this epoch */

/* Mark the object v points into (interior pointers count), and what it
 * reaches at the next mark_run; a traced object is queued for tracing. */
static void push_word(uintptr_t v)
{
    struct object_ref o;
    if (object_find(v, true, &o) != OBJ_FOUND || is_marked(o.start))
        return;
    if (o.block->kind != KIND_ATOMIC) {
        mark_push_root_object(o.start, o.size);
        return;
    }
    mark_set(o.start);
    /* A traced object the queue cannot take is found by the table scan. */
    if (untraced && addrmap_find(&traced, o.start))
        VEC_PUSH(trace_work, o.start);
}

/* The traced object's procedure reports its pointers here. */
COGC_API void cogc_trace_mark(const void *p) { push_word((uintptr_t)p); }

static void trace(struct addrmap_entry *e)
{
    e->v[2] = epoch;
    untraced--;
    ((cogc_trace_fn)e->v[0])((void *)addrmap_key_addr(e), (void *)e->v[1]);
}

static size_t trace_queued(void)
{
    size_t called = 0;
    while (trace_work.n) {
        struct addrmap_entry *e = addrmap_find(&traced, trace_work.v[--trace_work.n]);
        if (e && e->v[2] != epoch) {
            trace(e);
            called++;
        }
    }
    return called;
}

static uint64_t scanned_at;          /* bytes marked at the last table scan */

/* mark_run, then trace every newly marked traced object, until none.  The
 * table is scanned only when marking found something since the last scan
 * (mark_run's count is cumulative): traced objects reached otherwise come
 * through trace_work. */
static uint64_t mark_fixpoint(unsigned markers)
{
    uint64_t live = mark_run(markers);
    for (;;) {
        size_t called = trace_queued();
        if (untraced && live != scanned_at) {
            scanned_at = live;
            ADDRMAP_FOREACH(&traced, e) {
                if (e->v[2] == epoch || !is_marked(addrmap_key_addr(e)))
                    continue;
                trace(e);
                called += 1 + trace_queued();
            }
        }
        if (!called || mark_given_up())
            return live;
        live = mark_run(markers);
    }
}

static size_t object_bytes(uintptr_t obj, bool *scanned)
{
    struct object_ref o;
    if (object_find(obj, false, &o) != OBJ_FOUND)
        return 0;
    *scanned = o.block->kind != KIND_ATOMIC;
    return o.size;
}

/* Push what obj points to, not obj itself (unless it points to itself). */
static void push_contents(uintptr_t obj, int mode)
{
    struct addrmap_entry *t = addrmap_find(&traced, obj);
    if (t) {
        ((cogc_trace_fn)t->v[0])((void *)obj, (void *)t->v[1]);
        return;
    }
    bool scanned = false;
    size_t size = object_bytes(obj, &scanned);
    if (!size || !scanned)
        return;
    if (mode != COGC_FINALIZE_IGNORE_SELF) {
        mark_push_root_range(obj, obj + size);
        return;
    }
    /* Runs of words that do not point into the object itself. */
    const uintptr_t *w = (const uintptr_t *)obj, *end = (const uintptr_t *)(obj + size);
    const uintptr_t *run = w;
    for (; w < end; w++) {
        if (*w - obj < size) {
            if (run < w)
                mark_push_root_range((uintptr_t)run, (uintptr_t)w);
            run = w + 1;
        }
    }
    if (run < end)
        mark_push_root_range((uintptr_t)run, (uintptr_t)end);
}

/* ---- links ---------------------------------------------------------------- */

/* Clear a link to an unmarked target. */
static void clear_link(struct addrmap *m, struct addrmap_entry *e)
{
    struct object_ref o;
    /* A target outside the heap never dies. */
    if (object_find(~e->v[0], true, &o) != OBJ_FOUND || is_marked(o.start))
        return;
    *(void **)addrmap_key_addr(e) = NULL;
    addrmap_remove(m, e);
}

/* Drop a link stored in an object about to be swept. */
static void drop_dangling_link(struct addrmap *m, struct addrmap_entry *e)
{
    struct object_ref o;
    if (object_find(addrmap_key_addr(e), true, &o) == OBJ_FOUND && !is_marked(o.start))
        addrmap_remove(m, e);
}

/* ---- the step ------------------------------------------------------------- */

static void queue_ready(struct addrmap_entry *e)
{
    uintptr_t obj = addrmap_key_addr(e);
    struct fin_item it = {obj, (cogc_finalizer_fn)e->v[0], e->v[1]};
    addrmap_remove(&fins, e);
    if (!VEC_PUSH(queue, it)) {
        report_warn("no memory to queue the finalizer of %p: it will not run", (void *)obj);
        return;
    }
    queued_total++;
    bool scanned = false;
    size_t size = object_bytes(obj, &scanned);
    if (scanned)
        mark_push_root_object(obj, size);
    else
        mark_set(obj);
    push_word(it.data);
}

static void push_data(struct addrmap *m, struct addrmap_entry *e)
{
    (void)m;
    push_word(e->v[1]);
}

/* 3: one object at a time, so a cycle is told from a chain. */
static void order_one(struct addrmap *m, struct addrmap_entry *e)
{
    (void)m;
    uintptr_t obj = addrmap_key_addr(e);
    e->v[2] &= ~(uintptr_t)4;
    if (is_marked(obj))
        return;
    e->v[2] |= 4;   /* unreachable at the start of this step */
    if ((e->v[2] & 3) == COGC_FINALIZE_NO_ORDER)
        return;
    push_contents(obj, (int)(e->v[2] & 3));
    mark_fixpoint(1);
    if (is_marked(obj) && cycles_reported++ < 8)
        report_warn("finalization cycle involving %p: its finalizer is not run%s", (void *)obj,
                    cycles_reported == 8 ? " (further cycles are not reported)" : "");
}

/* 4 */
static void queue_if_ready(struct addrmap *m, struct addrmap_entry *e)
{
    (void)m;
    if ((e->v[2] & 4) && !is_marked(addrmap_key_addr(e)))
        queue_ready(e);
}

void finalize_pretrace(void)
{
    if (!traced.used)
        return;
    size_t saved = untraced;
    untraced = 0;   /* every entry is called below: queue none */
    ADDRMAP_FOREACH(&traced, e)
        ((cogc_trace_fn)e->v[0])((void *)addrmap_key_addr(e), (void *)e->v[1]);
    untraced = saved;
}

static void forget_all_fresh(void)
{
    forget_fresh(&fins, &fresh_fins, fin_aged);
    forget_fresh(&short_links, &fresh_short, link_aged);
    forget_fresh(&long_links, &fresh_long, link_aged);
}

uint64_t finalize_after_mark(unsigned markers, uint64_t live, bool minor)
{
    epoch++;
    visited = 0;
    visit_all = !minor || objects_freed;
    objects_freed = false;
    untraced = traced.used;
    trace_work.n = 0;
    scanned_at = UINT64_MAX;
    if (start_callback)
        start_callback();
    if (!fins.used && !short_links.used && !long_links.used && !traced.used && queue_head == queue.n) {
        forget_all_fresh();
        return live;
    }

    /* 1 */
    visit(&fins, &fresh_fins, push_data);
    for (size_t i = queue_head; i < queue.n; i++) {
        push_word(queue.v[i].obj);
        push_word(queue.v[i].data);
    }
    live = mark_fixpoint(markers);
    if (mark_given_up())
        return live;   /* the marks are partial: nothing cleared, nothing queued */
    /* The marks are whole from here: what follows reads them. */
    mark_set_deadline(0);

    /* 2 */
    visit(&short_links, &fresh_short, clear_link);

    if (fins.used) {
        visit(&fins, &fresh_fins, order_one);        /* 3 */
        visit(&fins, &fresh_fins, queue_if_ready);   /* 4 */
        live = mark_fixpoint(markers);
        if (queue_head < queue.n)
            finalize_work = true;
    }

    /* 5 */
    visit(&long_links, &fresh_long, clear_link);
    visit(&short_links, &fresh_short, drop_dangling_link);
    visit(&long_links, &fresh_long, drop_dangling_link);
    ADDRMAP_FOREACH(&traced, e) {
        if (!is_marked(addrmap_key_addr(e)))
            addrmap_remove(&traced, e);
    }
    forget_all_fresh();
    return live;
}

/* ---- the program's side ----------------------------------------------------- */

static __thread bool in_finalizers;

void finalize_poll(void)
{
    if (__atomic_load_n(&on_demand, __ATOMIC_RELAXED)) {
        heap_lock();
        cogc_finalizer_notifier fn = notifier;
        bool fresh = queued_total != notified_total && queue_head < queue.n;
        notified_total = queued_total;
        finalize_work = false;
        heap_unlock();
        if (fresh && fn)
            fn();
        return;
    }
    if (in_finalizers)
        return;
    in_finalizers = true;
    cogc_invoke_finalizers();
    in_finalizers = false;
}

bool finalize_registered;

void finalize_forget(uintptr_t obj)
{
    if (__atomic_load_n(&short_links.used, __ATOMIC_RELAXED) || __atomic_load_n(&long_links.used, __ATOMIC_RELAXED))
        objects_freed = true;
    /* Unlocked peek: registering an object while another thread frees it
     * is the program's race. */
    if (!__atomic_load_n(&fins.used, __ATOMIC_RELAXED) && !__atomic_load_n(&traced.used, __ATOMIC_RELAXED))
        return;
    heap_lock();
    struct addrmap_entry *e = addrmap_find(&fins, obj);
    if (e)
        addrmap_remove(&fins, e);
    if ((e = addrmap_find(&traced, obj)))
        addrmap_remove(&traced, e);
    heap_unlock();
}

/* obj is the start of a live object of the heap that can be collected. */
static bool collectable_start(const void *obj)
{
    struct object_ref o;
    return cogc_size(obj) != 0 && object_find((uintptr_t)obj, false, &o) == OBJ_FOUND &&
           o.block->kind != KIND_UNCOLLECTABLE;
}

COGC_API int cogc_register_finalizer(void *obj, cogc_finalizer_fn fn, void *data, int mode,
                                     cogc_finalizer_fn *old_fn, void **old_data)
{
    if (old_fn)
        *old_fn = NULL;
    if (old_data)
        *old_data = NULL;
    if (mode < COGC_FINALIZE_ORDERED || mode > COGC_FINALIZE_IGNORE_SELF || !obj || cogc_init() != 0 ||
        !collectable_start(obj)) {
        errno = EINVAL;
        return -1;
    }
    int rc = 0;
    heap_lock();
    struct addrmap_entry *e = addrmap_find(&fins, (uintptr_t)obj);
    if (e) {
        if (old_fn)
            *old_fn = (cogc_finalizer_fn)e->v[0];
        if (old_data)
            *old_data = (void *)e->v[1];
        if (!fn)
            addrmap_remove(&fins, e);
    } else if (fn) {
        bool created;
        __atomic_store_n(&finalize_registered, true, __ATOMIC_RELAXED);
        e = addrmap_insert(&fins, (uintptr_t)obj, &created);
        if (!e) {
            errno = ENOMEM;
            rc = -1;
        }
    }
    if (e && fn) {
        e->v[0] = (uintptr_t)fn;
        e->v[1] = (uintptr_t)data;
        e->v[2] = (uintptr_t)mode | (e->v[2] & LISTED);
        note_fresh(&fresh_fins, e);   /* data may be young, and so may obj */
    }
    heap_unlock();
    return rc;
}

static struct fresh *fresh_of(struct addrmap *m) { return m == &short_links ? &fresh_short : &fresh_long; }

static int link_register(struct addrmap *m, void **link, const void *obj)
{
    if (!link || ((uintptr_t)link & (sizeof(void *) - 1))) {
        errno = EINVAL;
        return -1;
    }
    if (cogc_init() != 0)
        return -1;
    heap_lock();
    bool created;
    /* cogc_free must tell the next minor collection (finalize_forget). */
    __atomic_store_n(&finalize_registered, true, __ATOMIC_RELAXED);
    struct addrmap_entry *e = addrmap_insert(m, (uintptr_t)link, &created);
    if (e && created) {
        e->v[0] = addrmap_hide((uintptr_t)obj);
        note_fresh(fresh_of(m), e);
    }
    heap_unlock();
    if (!e) {
        errno = ENOMEM;
        return -1;
    }
    return created ? 0 : 1;
}

static int link_unregister(struct addrmap *m, void **link)
{
    if (!collector_ready_for_links())
        return 0;
    heap_lock();
    struct addrmap_entry *e = addrmap_find(m, (uintptr_t)link);
    if (e)
        addrmap_remove(m, e);
    heap_unlock();
    return e != NULL;
}

static int link_move(struct addrmap *m, void **link, void **new_link)
{
    if (!new_link || ((uintptr_t)new_link & (sizeof(void *) - 1))) {
        errno = EINVAL;
        return -1;
    }
    if (!collector_ready_for_links()) {
        errno = ENOENT;
        return -1;
    }
    int rc = 0;
    heap_lock();
    struct addrmap_entry *e = addrmap_find(m, (uintptr_t)link);
    if (!e) {
        errno = ENOENT;
        rc = -1;
    } else if (new_link != link) {
        uintptr_t target = e->v[0];
        bool created;
        struct addrmap_entry *n = addrmap_insert(m, (uintptr_t)new_link, &created);
        if (!n) {
            errno = ENOMEM;
            rc = -1;
        } else if (!created) {
            rc = 1;
        } else {
            n->v[0] = target;
            note_fresh(fresh_of(m), n);   /* the new location may be young */
            addrmap_remove(m, addrmap_find(m, (uintptr_t)link));
        }
    }
    heap_unlock();
    return rc;
}

COGC_API int cogc_register_disappearing_link(void **link, const void *obj)
{
    return link_register(&short_links, link, obj);
}
COGC_API int cogc_unregister_disappearing_link(void **link) { return link_unregister(&short_links, link); }
COGC_API int cogc_move_disappearing_link(void **link, void **new_link)
{
    return link_move(&short_links, link, new_link);
}
COGC_API int cogc_register_long_link(void **link, const void *obj) { return link_register(&long_links, link, obj); }
COGC_API int cogc_unregister_long_link(void **link) { return link_unregister(&long_links, link); }
COGC_API int cogc_move_long_link(void **link, void **new_link) { return link_move(&long_links, link, new_link); }

COGC_API void cogc_set_finalize_on_demand(int on) { __atomic_store_n(&on_demand, on ? 1 : 0, __ATOMIC_RELAXED); }
COGC_API int cogc_get_finalize_on_demand(void) { return __atomic_load_n(&on_demand, __ATOMIC_RELAXED); }

COGC_API void cogc_set_finalizer_notifier(cogc_finalizer_notifier fn)
{
    heap_lock();
    notifier = fn;
    heap_unlock();
}

COGC_API cogc_finalizer_notifier cogc_get_finalizer_notifier(void)
{
    heap_lock();
    cogc_finalizer_notifier fn = notifier;
    heap_unlock();
    return fn;
}

COGC_API void cogc_set_collect_callback(cogc_collect_callback fn)
{
    heap_lock();
    start_callback = fn;
    heap_unlock();
}

COGC_API cogc_collect_callback cogc_get_collect_callback(void)
{
    heap_lock();
    cogc_collect_callback fn = start_callback;
    heap_unlock();
    return fn;
}

COGC_API size_t cogc_finalizers_pending(void)
{
    heap_lock();
    size_t n = queue.n - queue_head;
    heap_unlock();
    return n;
}

COGC_API size_t cogc_invoke_finalizers(void)
{
    if (cogc_init() != 0)
        return 0;
    size_t n = 0;
    for (;;) {
        heap_lock();
        if (queue_head == queue.n) {
            queue_head = queue.n = 0;
            heap_unlock();
            return n;
        }
        struct fin_item it = queue.v[queue_head++];
        heap_unlock();
        it.fn((void *)it.obj, (void *)it.data);
        __asm__ volatile("" : : "r"(it.obj) : "memory");
        n++;
    }
}

COGC_API void *cogc_malloc_traced(size_t size, cogc_trace_fn fn, void *env)
{
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    void *p = cogc_malloc_atomic(size);
    if (!p)
        return NULL;
    memset(p, 0, cogc_size(p));
    heap_lock();
    bool created;
    __atomic_store_n(&finalize_registered, true, __ATOMIC_RELAXED);
    struct addrmap_entry *e = addrmap_insert(&traced, (uintptr_t)p, &created);
    if (e) {
        e->v[0] = (uintptr_t)fn;
        e->v[1] = (uintptr_t)env;
        e->v[2] = 0;
    }
    heap_unlock();
    if (!e) {
        cogc_free(p);
        errno = ENOMEM;
        return NULL;
    }
    return p;
}
