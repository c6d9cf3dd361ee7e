/* bdwgc API: finalizers (ordered, no-order, ignore-self), disappearing
 * and long links, finalize on demand. */
#include "gc.h"
#include "gc/javaxfc.h"
#include "bdwtest.h"

struct obj {
    struct obj *ref;
    GC_word id;
};

#define LOGN 64
static GC_word log_ids[LOGN];
static int nlog;

static void fin(void *p, void *cd)
{
    ck_assert_ptr_eq(cd, (void *)0x8000000000000777ul);
    if (nlog < LOGN)
        log_ids[nlog++] = ((struct obj *)p)->id;
}

static int count_id(GC_word id)
{
    int n = 0;
    for (int i = 0; i < nlog; i++)
        n += log_ids[i] == id;
    return n;
}

static int pos_id(GC_word id)
{
    for (int i = 0; i < nlog; i++)
        if (log_ids[i] == id)
            return i;
    return -1;
}

static BT_NOINLINE struct obj *make(GC_word id, int how)
{
    struct obj *o = GC_MALLOC(sizeof *o);
    o->id = id;
    GC_finalization_proc ofn = (GC_finalization_proc)1;
    void *ocd = (void *)1;
    if (how == 0)
        GC_REGISTER_FINALIZER(o, fin, (void *)0x8000000000000777ul, &ofn, &ocd);
    else if (how == 1)
        GC_REGISTER_FINALIZER_NO_ORDER(o, fin, (void *)0x8000000000000777ul, &ofn, &ocd);
    else
        GC_REGISTER_FINALIZER_IGNORE_SELF(o, fin, (void *)0x8000000000000777ul, &ofn, &ocd);
    ck_assert_ptr_null((void *)ofn);
    ck_assert_ptr_null(ocd);
    return o;
}

static BT_NOINLINE void chain(void)
{
    struct obj *a = make(0x80000000000000A1ul, 0);
    a->ref = make(0x80000000000000B1ul, 0);
}

START_TEST(ordered_chain)
{
    chain();
    BT_GC_UNTIL(count_id(0x80000000000000A1ul) == 1);
    ck_assert_int_eq(count_id(0x80000000000000A1ul), 1);
    ck_assert_int_eq(count_id(0x80000000000000B1ul), 0);
    BT_GC_UNTIL(count_id(0x80000000000000B1ul) == 1);
    ck_assert_int_eq(count_id(0x80000000000000B1ul), 1);
    ck_assert_int_lt(pos_id(0x80000000000000A1ul), pos_id(0x80000000000000B1ul));
}
END_TEST

static BT_NOINLINE void cycle_no_order(void)
{
    struct obj *a = make(0x80000000000000C1ul, 1);
    struct obj *b = make(0x80000000000000D1ul, 1);
    a->ref = b;
    b->ref = a;
    struct obj *s = make(0x80000000000000E1ul, 2);
    s->ref = s;
}

START_TEST(no_order_and_ignore_self)
{
    cycle_no_order();
    BT_GC_UNTIL(count_id(0x80000000000000C1ul) + count_id(0x80000000000000D1ul) + count_id(0x80000000000000E1ul) == 3);
    ck_assert_int_eq(count_id(0x80000000000000C1ul), 1);
    ck_assert_int_eq(count_id(0x80000000000000D1ul), 1);
    ck_assert_int_eq(count_id(0x80000000000000E1ul), 1);
}
END_TEST

START_TEST(unregister_returns_old)
{
    struct obj *o = make(0x80000000000000F1ul, 0);
    GC_finalization_proc ofn;
    void *ocd;
    GC_REGISTER_FINALIZER(o, 0, 0, &ofn, &ocd);
    ck_assert_ptr_eq((void *)ofn, (void *)fin);
    ck_assert_ptr_eq(ocd, (void *)0x8000000000000777ul);
    o = NULL;
    for (int i = 0; i < 4; i++)
        bt_gc();
    ck_assert_int_eq(count_id(0x80000000000000F1ul), 0);
}
END_TEST

static void *short_l, *long_l, *other_l;

static void fin_keep(void *p, void *cd)
{
    (void)cd;
    *(void **)cd = p;    /* resurrect into the global cd points to */
}

static void *resurrected;

static BT_NOINLINE void linked(void)
{
    struct obj *o = GC_MALLOC(sizeof *o);
    GC_REGISTER_FINALIZER(o, fin_keep, &resurrected, 0, 0);
    ck_assert_int_eq(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&short_l, o), GC_SUCCESS);
    ck_assert_int_eq(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&short_l, o), GC_DUPLICATE);
    ck_assert_int_eq(GC_REGISTER_LONG_LINK(&long_l, o), GC_SUCCESS);
    ck_assert_int_eq(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&other_l, o), GC_SUCCESS);
    ck_assert_int_eq(GC_unregister_disappearing_link(&other_l), 1);
    ck_assert_int_eq(GC_unregister_disappearing_link(&other_l), 0);
    short_l = long_l = other_l = (void *)GC_HIDE_POINTER(o);
}

static BT_NOINLINE void check_after_finalizer(void)
{
    ck_assert_ptr_null(short_l);               /* cleared before the finalizer */
    ck_assert_ptr_nonnull(long_l);             /* not until really gone */
    ck_assert(long_l == (void *)GC_HIDE_POINTER(resurrected));
    ck_assert_ptr_nonnull(other_l);            /* unregistered: untouched */
    resurrected = NULL;
}

START_TEST(links)
{
    linked();
    BT_GC_UNTIL(resurrected);
    ck_assert_ptr_nonnull(resurrected);
    check_after_finalizer();
    BT_GC_UNTIL(!long_l);
    ck_assert_ptr_null(long_l);
    void *moved = NULL, *target = GC_MALLOC(16);
    ck_assert_int_eq(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&short_l, target), GC_SUCCESS);
    ck_assert_int_eq(GC_move_disappearing_link(&short_l, &moved), GC_SUCCESS);
    ck_assert_int_eq(GC_move_disappearing_link(&short_l, &moved), GC_NOT_FOUND);
    ck_assert_int_eq(GC_unregister_disappearing_link(&moved), 1);
}
END_TEST

static int notified;
static void notifier(void) { notified++; }

START_TEST(on_demand)
{
    GC_set_finalize_on_demand(1);
    ck_assert_int_eq(GC_get_finalize_on_demand(), 1);
    GC_set_finalizer_notifier(notifier);
    ck_assert_ptr_eq((void *)GC_get_finalizer_notifier(), (void *)notifier);
    nlog = 0;
    make(0x8000000000000101ul, 0);
    BT_GC_UNTIL(GC_should_invoke_finalizers());
    ck_assert(GC_should_invoke_finalizers());
    ck_assert_int_eq(count_id(0x8000000000000101ul), 0);
    ck_assert_int_ge(notified, 1);
    for (int i = 0; i < 8 && count_id(0x8000000000000101ul) == 0; i++) {
        GC_invoke_finalizers();
        bt_gc();
    }
    ck_assert_int_eq(count_id(0x8000000000000101ul), 1);
    GC_set_finalize_on_demand(0);
    GC_set_finalizer_notifier(0);
    GC_finalize_all();
}
END_TEST

int main(void)
{
    GC_INIT();
    Suite *s = suite_create("bdwgc-finalize");
    TCase *tc = tcase_create("finalize");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, ordered_chain);
    tcase_add_test(tc, no_order_and_ignore_self);
    tcase_add_test(tc, unregister_returns_old);
    tcase_add_test(tc, links);
    tcase_add_test(tc, on_demand);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
