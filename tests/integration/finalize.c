/* Finalizers, disappearing links and traced objects: the classic cases of
 * ordered finalization, through include/cogc.h. */
#include "testutil.h"

#include <pthread.h>

struct obj {
    struct obj *ref;      /* strong pointer */
    uint64_t id;          /* never pointer-like */
    void *link;           /* a disappearing link lives here when used */
    uint64_t pad;
};

#define MAXLOG 64
static uint64_t order[MAXLOG];   /* ids, in the order finalized */
static size_t norder;
static uintptr_t hidden_seen[MAXLOG];
static void *resurrected;
static void **watched_link;      /* a link the finalizer inspects */
static int link_was_null = -1;
static char warnings[4096];

static void on_warn(const char *msg)
{
    size_t n = strlen(warnings);
    snprintf(warnings + n, sizeof warnings - n, "%s\n", msg);
}

static void fin_log(void *p, void *data)
{
    struct obj *o = p;
    ck_assert_ptr_eq(data, (void *)0x8000000000000001ull);
    if (norder < MAXLOG) {
        hidden_seen[norder] = TU_HIDE(p);
        order[norder++] = o->id;
    }
    if (watched_link)
        link_was_null = *watched_link == NULL;
}

static void fin_resurrect(void *p, void *data)
{
    (void)data;
    resurrected = p;
    if (norder < MAXLOG)
        order[norder++] = ((struct obj *)p)->id;
}

/* How many times the object with this id was finalized, and at which
 * position of the log (first time). */
static size_t count_id(uint64_t id)
{
    size_t n = 0;
    for (size_t i = 0; i < norder && i < MAXLOG; i++)
        n += order[i] == id;
    return n;
}

static size_t pos_id(uint64_t id)
{
    for (size_t i = 0; i < norder && i < MAXLOG; i++)
        if (order[i] == id)
            return i;
    return (size_t)-1;
}

static TU_NOINLINE uintptr_t make(uint64_t id, int mode, cogc_finalizer_fn fn)
{
    struct obj *o = cogc_malloc(sizeof *o);
    ck_assert_ptr_nonnull(o);
    o->id = id;
    ck_assert_int_eq(cogc_register_finalizer(o, fn, (void *)0x8000000000000001ull, mode, NULL, NULL), 0);
    return TU_HIDE(o);
}

static void reset(void)
{
    norder = 0;
    memset(order, 0, sizeof order);
    watched_link = NULL;
    link_was_null = -1;
    resurrected = NULL;
    warnings[0] = 0;
    cogc_set_warn_proc(on_warn);
    cogc_set_finalize_on_demand(0);
}

static void gc(void)
{
    tu_clear_stack();
    cogc_collect();
}

/* A conservative collector may keep an object for a collection or two
 * through a stale copy of its address (in a register, a dead stack slot,
 * or a sanitizer's fake stack): collect until cond holds, a bounded number
 * of times. */
#define GC_UNTIL(cond)                                 \
    do {                                               \
        for (int gc_i_ = 0; gc_i_ < 8 && !(cond); gc_i_++) \
            gc();                                      \
    } while (0)

START_TEST(finalizer_runs_once)
{
    reset();
    make(0x8000000000000010ull, COGC_FINALIZE_ORDERED, fin_log);
    GC_UNTIL(count_id(0x8000000000000010ull) == 1);
    ck_assert_uint_eq(count_id(0x8000000000000010ull), 1);
    gc();
    gc();
    ck_assert_uint_eq(count_id(0x8000000000000010ull), 1);
}
END_TEST

START_TEST(reachable_not_finalized)
{
    reset();
    struct obj *keep = TU_UNHIDE(make(0x8000000000000011ull, COGC_FINALIZE_ORDERED, fin_log));
    tu_collect_hard(2);
    ck_assert_uint_eq(count_id(0x8000000000000011ull), 0);
    ck_assert_uint_eq(keep->id, 0x8000000000000011ull);
    /* unregister: no finalizer once it goes */
    cogc_finalizer_fn old = NULL;
    void *olddata = NULL;
    ck_assert_int_eq(cogc_register_finalizer(keep, NULL, NULL, 0, &old, &olddata), 0);
    ck_assert_ptr_eq(old, fin_log);
    ck_assert_ptr_eq(olddata, (void *)0x8000000000000001ull);
    keep = NULL;
    tu_collect_hard(2);
    ck_assert_uint_eq(count_id(0x8000000000000011ull), 0);
}
END_TEST

START_TEST(resurrection)
{
    reset();
    struct obj *o = TU_UNHIDE(make(0x8000000000000012ull, COGC_FINALIZE_ORDERED, fin_resurrect));
    tu_fill(&o->pad, sizeof o->pad, 7);
    o = NULL;
    GC_UNTIL(resurrected);
    ck_assert_ptr_nonnull(resurrected);
    tu_collect_hard(2);
    /* alive, intact, not finalized again */
    struct obj *r = resurrected;
    ck_assert_uint_eq(cogc_size(r) >= sizeof *r, 1);
    ck_assert_uint_eq(r->id, 0x8000000000000012ull);
    ck_assert(tu_check(&r->pad, sizeof r->pad, 7));
    ck_assert_uint_eq(count_id(0x8000000000000012ull), 1);
    resurrected = NULL;
}
END_TEST

static TU_NOINLINE void make_chain(void)
{
    struct obj *a = TU_UNHIDE(make(0x80000000000000A0ull, COGC_FINALIZE_ORDERED, fin_log));
    struct obj *b = TU_UNHIDE(make(0x80000000000000B0ull, COGC_FINALIZE_ORDERED, fin_log));
    a->ref = b;
}

START_TEST(chain_finalizes_referrer_first)
{
    reset();
    make_chain();
    GC_UNTIL(count_id(0x80000000000000A0ull) == 1);
    ck_assert_uint_eq(count_id(0x80000000000000A0ull), 1);
    /* b is reachable from a: never finalized in the same collection */
    ck_assert_uint_eq(count_id(0x80000000000000B0ull), 0);
    GC_UNTIL(count_id(0x80000000000000B0ull) == 1);
    ck_assert_uint_eq(count_id(0x80000000000000B0ull), 1);
    ck_assert_uint_lt(pos_id(0x80000000000000A0ull), pos_id(0x80000000000000B0ull));
}
END_TEST

static uintptr_t cycle_a, cycle_b;

static TU_NOINLINE void make_cycle(int mode)
{
    cycle_a = make(0x80000000000000C0ull, mode, fin_log);
    cycle_b = make(0x80000000000000D0ull, mode, fin_log);
    struct obj *a = TU_UNHIDE(cycle_a), *b = TU_UNHIDE(cycle_b);
    a->ref = b;
    b->ref = a;
}

/* Was either object of the cycle reported? */
static int cycle_reported(void)
{
    char a[40], b[40];
    snprintf(a, sizeof a, "involving %p", TU_UNHIDE(cycle_a));
    snprintf(b, sizeof b, "involving %p", TU_UNHIDE(cycle_b));
    return strstr(warnings, a) || strstr(warnings, b);
}

START_TEST(ordered_cycle_reported_not_finalized)
{
    reset();
    make_cycle(COGC_FINALIZE_ORDERED);
    tu_collect_hard(2);
    ck_assert_uint_eq(count_id(0x80000000000000C0ull) + count_id(0x80000000000000D0ull), 0);
    ck_assert(cycle_reported());
    /* it stays until the program breaks the cycle */
    struct obj *a = TU_UNHIDE(cycle_a);
    ck_assert_uint_eq(a->id, 0x80000000000000C0ull);
    a->ref = NULL;   /* now a chain b -> a: b first, then a */
    a = NULL;
    GC_UNTIL(count_id(0x80000000000000D0ull) == 1);
    ck_assert_uint_eq(count_id(0x80000000000000D0ull), 1);
    ck_assert_uint_eq(count_id(0x80000000000000C0ull), 0);
    GC_UNTIL(count_id(0x80000000000000C0ull) == 1);
    ck_assert_uint_eq(count_id(0x80000000000000C0ull), 1);
}
END_TEST

START_TEST(no_order_cycle_finalized)
{
    reset();
    make_cycle(COGC_FINALIZE_NO_ORDER);
    GC_UNTIL(count_id(0x80000000000000C0ull) + count_id(0x80000000000000D0ull) == 2);
    ck_assert_uint_eq(count_id(0x80000000000000C0ull), 1);
    ck_assert_uint_eq(count_id(0x80000000000000D0ull), 1);
    ck_assert(!cycle_reported());
}
END_TEST

static TU_NOINLINE void make_self(int mode, uint64_t id)
{
    struct obj *a = TU_UNHIDE(make(id, mode, fin_log));
    a->ref = a;
}

START_TEST(ignore_self)
{
    reset();
    make_self(COGC_FINALIZE_IGNORE_SELF, 0x80000000000000E0ull);
    GC_UNTIL(count_id(0x80000000000000E0ull) == 1);
    ck_assert_uint_eq(count_id(0x80000000000000E0ull), 1);
    reset();
    make_self(COGC_FINALIZE_ORDERED, 0x80000000000000E1ull);
    tu_collect_hard(2);
    ck_assert_uint_eq(count_id(0x80000000000000E1ull), 0);
    ck_assert_ptr_nonnull(strstr(warnings, "finalization cycle"));
}
END_TEST

static void *short_link, *long_link;

static TU_NOINLINE void make_linked(void)
{
    struct obj *o = TU_UNHIDE(make(0x80000000000000F0ull, COGC_FINALIZE_ORDERED, fin_resurrect));
    short_link = o;
    long_link = o;
    ck_assert_int_eq(cogc_register_disappearing_link(&short_link, o), 0);
    ck_assert_int_eq(cogc_register_disappearing_link(&short_link, o), 1);
    ck_assert_int_eq(cogc_register_long_link(&long_link, o), 0);
    /* links are stored hidden: memory addresses must not keep it */
    short_link = (void *)TU_HIDE(o);
    long_link = (void *)TU_HIDE(o);
}

/* In a frame of its own, so no copy of the object's address outlives it. */
static TU_NOINLINE void check_resurrected_links(void)
{
    /* the finalizer resurrected it: the short link is cleared anyway, the
     * long one is not */
    ck_assert_uint_eq(count_id(0x80000000000000F0ull), 1);
    ck_assert_ptr_null(short_link);
    ck_assert_ptr_nonnull(long_link);
    ck_assert((uintptr_t)long_link == TU_HIDE(resurrected));
    resurrected = NULL;
}

START_TEST(links_short_before_finalizer_long_after)
{
    reset();
    make_linked();
    GC_UNTIL(resurrected);
    check_resurrected_links();
    GC_UNTIL(!long_link);
    ck_assert_ptr_null(long_link);
    ck_assert_int_eq(cogc_unregister_disappearing_link(&short_link), 0);
    ck_assert_int_eq(cogc_unregister_long_link(&long_link), 0);
}
END_TEST

static TU_NOINLINE void make_watched(void)
{
    struct obj *o = TU_UNHIDE(make(0x80000000000000F1ull, COGC_FINALIZE_ORDERED, fin_log));
    ck_assert_int_eq(cogc_register_disappearing_link(&short_link, o), 0);
    short_link = (void *)TU_HIDE(o);
    watched_link = &short_link;
}

START_TEST(link_null_inside_finalizer)
{
    reset();
    make_watched();
    GC_UNTIL(count_id(0x80000000000000F1ull) == 1);
    ck_assert_uint_eq(count_id(0x80000000000000F1ull), 1);
    ck_assert_int_eq(link_was_null, 1);
}
END_TEST

static void *plain_link, *kept_link;
static struct obj *kept;

static TU_NOINLINE void make_weak(void)
{
    struct obj *o = cogc_malloc(sizeof *o);
    kept = cogc_malloc(sizeof *kept);
    ck_assert_int_eq(cogc_register_disappearing_link(&plain_link, o), 0);
    ck_assert_int_eq(cogc_register_disappearing_link(&kept_link, kept), 0);
    plain_link = (void *)TU_HIDE(o);
    kept_link = kept;
    /* unregister: never cleared afterwards */
    static void *gone_link;
    struct obj *g = cogc_malloc(sizeof *g);
    ck_assert_int_eq(cogc_register_disappearing_link(&gone_link, g), 0);
    ck_assert_int_eq(cogc_unregister_disappearing_link(&gone_link), 1);
    ck_assert_int_eq(cogc_unregister_disappearing_link(&gone_link), 0);
    gone_link = (void *)0x8000000000000077ull;
}

START_TEST(weak_links)
{
    reset();
    make_weak();
    tu_collect_hard(1);
    GC_UNTIL(!plain_link);
    ck_assert_ptr_null(plain_link);
    ck_assert_ptr_eq(kept_link, kept);
    /* a moved link follows */
    static void *moved;
    ck_assert_int_eq(cogc_move_disappearing_link(&kept_link, &moved), 0);
    ck_assert_int_eq(cogc_move_disappearing_link(&kept_link, &moved), -1);
    ck_assert_int_eq(errno, ENOENT);
    kept_link = NULL;
    moved = (void *)TU_HIDE(kept);
    kept = NULL;
    GC_UNTIL(!moved);
    ck_assert_ptr_null(moved);
    /* bad arguments */
    ck_assert_int_eq(cogc_register_disappearing_link((void **)((char *)&moved + 1), &moved), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cogc_register_finalizer((char *)cogc_malloc(64) + 16, fin_log, NULL, 0, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cogc_register_finalizer(&moved, fin_log, NULL, 0, NULL, NULL), -1);
    ck_assert_int_eq(cogc_register_finalizer(cogc_malloc(64), fin_log, NULL, 7, NULL, NULL), -1);
}
END_TEST

/* A link stored in a heap object that dies with its target: the entry is
 * dropped, nothing is written into the reused memory. */
static TU_NOINLINE void make_holder(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct obj *holder = cogc_malloc(sizeof *holder);
        struct obj *target = cogc_malloc(sizeof *target);
        holder->link = target;
        ck_assert_int_eq(cogc_register_disappearing_link(&holder->link, target), 0);
        holder->link = (void *)TU_HIDE(target);
    }
}

START_TEST(links_in_dead_objects)
{
    reset();
    make_holder(5000);
    gc();
    /* memory reused with a pattern that must survive the next collections */
    size_t n = 20000;
    uintptr_t *keep = cogc_malloc(n * sizeof *keep);
    for (size_t i = 0; i < n; i++) {
        struct obj *o = cogc_malloc(sizeof *o);
        tu_fill(o, sizeof *o, i);
        keep[i] = (uintptr_t)o;
    }
    tu_collect_hard(1);
    for (size_t i = 0; i < n; i++)
        ck_assert(tu_check((void *)keep[i], sizeof(struct obj), i));
}
END_TEST

static int notified;
static void notifier(void) { notified++; }

START_TEST(on_demand)
{
    reset();
    tu_collect_hard(1);   /* run what earlier tests left */
    cogc_set_finalize_on_demand(1);
    cogc_set_finalizer_notifier(notifier);
    ck_assert_ptr_eq(cogc_get_finalizer_notifier(), notifier);
    notified = 0;
    make(0x8000000000000101ull, COGC_FINALIZE_ORDERED, fin_log);
    make(0x8000000000000102ull, COGC_FINALIZE_ORDERED, fin_log);
    GC_UNTIL(cogc_finalizers_pending() >= 2);
    /* nothing runs on its own in this mode */
    ck_assert_uint_eq(norder, 0);
    ck_assert_int_ge(notified, 1);
    ck_assert_uint_ge(cogc_finalizers_pending(), 2);
    /* queued objects stay alive across collections; no new notification */
    int before = notified;
    size_t pending = cogc_finalizers_pending();
    tu_collect_hard(1);
    ck_assert_uint_eq(norder, 0);
    if (cogc_finalizers_pending() == pending)
        ck_assert_int_eq(notified, before);
    ck_assert_uint_ge(cogc_invoke_finalizers(), 2);
    ck_assert_uint_eq(cogc_finalizers_pending(), 0);
    for (int i = 0; i < 8 && count_id(0x8000000000000101ull) + count_id(0x8000000000000102ull) < 2; i++) {
        gc();
        cogc_invoke_finalizers();
    }
    ck_assert_uint_eq(count_id(0x8000000000000101ull), 1);
    ck_assert_uint_eq(count_id(0x8000000000000102ull), 1);
    cogc_set_finalizer_notifier(NULL);
    cogc_set_finalize_on_demand(0);
}
END_TEST

/* Many objects, registered from several threads: each finalized once. */
#define MANY 20000
static unsigned char seen_many[MANY];
static _Atomic size_t many_count;

static void fin_many(void *p, void *data)
{
    (void)p;
    size_t i = (size_t)data - 1;
    if (i < MANY)
        seen_many[i]++;
    many_count++;
}

static void *make_many(void *arg)
{
    size_t base = (size_t)arg;
    for (size_t i = base; i < base + MANY / 4; i++) {
        void *o = cogc_malloc(16 + (i % 7) * 16);
        if (cogc_register_finalizer(o, fin_many, (void *)(i + 1), (int)(i % 3), NULL, NULL) != 0)
            return (void *)1;
    }
    return NULL;
}

START_TEST(many_threads)
{
    reset();
    pthread_t t[4];
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(cogc_pthread_create(&t[i], NULL, make_many, (void *)(i * (MANY / 4))), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    tu_collect_hard(2);
    GC_UNTIL(many_count == MANY);
    ck_assert_uint_eq(many_count, MANY);
    for (size_t i = 0; i < MANY; i++)
        ck_assert_uint_eq(seen_many[i], 1);
}
END_TEST

/* Traced object: a weak-value pair whose procedure reports only `strong`. */
struct pair {
    void *strong;
    void *weak;
};
static int traced_calls;

static void trace_pair(void *p, void *env)
{
    ck_assert_ptr_eq(env, (void *)0x8000000000000abcull);
    traced_calls++;
    cogc_trace_mark(((struct pair *)p)->strong);
}

static struct pair *pair_root;

static TU_NOINLINE void make_pair(void)
{
    pair_root = cogc_malloc_traced(sizeof *pair_root, trace_pair, (void *)0x8000000000000abcull);
    ck_assert_ptr_nonnull(pair_root);
    struct obj *s = cogc_malloc(sizeof *s), *w = cogc_malloc(sizeof *w);
    s->id = 0x8000000000000201ull;
    pair_root->strong = s;
    pair_root->weak = w;
    ck_assert_int_eq(cogc_register_disappearing_link(&pair_root->weak, w), 0);
}

START_TEST(traced_object)
{
    reset();
    make_pair();
    traced_calls = 0;
    tu_collect_hard(2);
    GC_UNTIL(!pair_root->weak);
    ck_assert_int_ge(traced_calls, 1);
    ck_assert_ptr_null(pair_root->weak);
    struct obj *s = pair_root->strong;
    ck_assert_uint_eq(cogc_size(s) >= sizeof *s, 1);
    ck_assert_uint_eq(s->id, 0x8000000000000201ull);
    ck_assert_ptr_null(cogc_malloc_traced(16, NULL, NULL));
    pair_root = NULL;
}
END_TEST

static int cb_count;
static void collect_cb(void) { cb_count++; }

START_TEST(collect_callback_and_disable)
{
    cb_count = 0;
    cogc_set_collect_callback(collect_cb);
    ck_assert_ptr_eq(cogc_get_collect_callback(), collect_cb);
    gc();
    ck_assert_int_eq(cb_count, 1);
    cogc_disable();
    struct cogc_stats before = tu_stats();
    tu_churn(64, 200000);   /* well past the trigger */
    struct cogc_stats after = tu_stats();
    ck_assert_uint_eq(after.collections, before.collections);
    cogc_enable();
    tu_churn(64, 200000);
    after = tu_stats();
    ck_assert_uint_gt(after.collections, before.collections);
    cogc_set_collect_callback(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("finalize");
    TCase *tc = tcase_create("finalize");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, finalizer_runs_once);
    tcase_add_test(tc, reachable_not_finalized);
    tcase_add_test(tc, resurrection);
    tcase_add_test(tc, chain_finalizes_referrer_first);
    tcase_add_test(tc, ordered_cycle_reported_not_finalized);
    tcase_add_test(tc, no_order_cycle_finalized);
    tcase_add_test(tc, ignore_self);
    tcase_add_test(tc, links_short_before_finalizer_long_after);
    tcase_add_test(tc, link_null_inside_finalizer);
    tcase_add_test(tc, weak_links);
    tcase_add_test(tc, links_in_dead_objects);
    tcase_add_test(tc, on_demand);
    tcase_add_test(tc, many_threads);
    tcase_add_test(tc, traced_object);
    tcase_add_test(tc, collect_callback_and_disable);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
