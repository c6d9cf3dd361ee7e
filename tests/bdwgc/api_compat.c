/* bdwgc API, the less used calls: gcj objects, finalized objects, the
 * collection event, introspection, stored tunables (docs/bdwgc.md says
 * what each does on cogc). */
#define GC_THREADS 1   /* Debian's gc.h declares the thread calls only then */
#include "gc.h"
#include "gc/gc_disclaim.h"
#include "gc/gc_gcj.h"
#include "gc/gc_mark.h"
#include "bdwtest.h"

#include <stdint.h>

#ifndef GC_I_NORMAL
#define GC_I_NORMAL 1   /* bdwgc's normal kind; Debian's headers keep it private */
#endif

/* ---- gcj: vtable in the first word; what the object holds stays ------ */

static int gcj_finalized;
static void GC_CALLBACK count_gcj(void *obj, void *cd)
{
    (void)obj, (void)cd;
    gcj_finalized++;
}

static const void *fake_vtable[4] = {0, 0, 0, 0};

static BT_NOINLINE uintptr_t make_gcj(void)
{
    void **o = GC_gcj_malloc(64, (void *)fake_vtable);
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_eq(o[0], (void *)fake_vtable);
    ck_assert_ptr_eq(GC_base(o), o);
    void *held = GC_MALLOC(32);
    GC_REGISTER_FINALIZER_NO_ORDER(held, count_gcj, NULL, NULL, NULL);
    o[1] = held;
    return ~(uintptr_t)o;
}

static void *gcj_root;

START_TEST(gcj_objects)
{
    GC_init_gcj_malloc(0, NULL);
    gcj_root = (void *)~make_gcj();   /* reachable: what it holds stays */
    for (int i = 0; i < 3; i++)
        bt_gc();
    ck_assert_int_eq(gcj_finalized, 0);
    ck_assert_ptr_nonnull(((void **)gcj_root)[1]);
    gcj_root = NULL;
    BT_GC_UNTIL(gcj_finalized == 1);
    ck_assert_int_eq(gcj_finalized, 1);
    void **d = GC_debug_gcj_malloc(24, (void *)fake_vtable, __FILE__, __LINE__);
    ck_assert_ptr_eq(d[0], (void *)fake_vtable);
    void **p = GC_gcj_malloc_ignore_off_page(100000, (void *)fake_vtable);
    ck_assert_ptr_eq(p[0], (void *)fake_vtable);
    ck_assert_uint_ge(GC_size(p), 100000);
}
END_TEST

/* ---- finalized objects -------------------------------------------------- */

static int closure_runs;
static void *closure_obj_seen, *closure_cd_seen;
static void GC_CALLBACK closure_proc(void *obj, void *cd)
{
    closure_runs++;
    closure_obj_seen = obj;
    closure_cd_seen = cd;
}
static int tag;
static const struct GC_finalizer_closure closure = {closure_proc, &tag};

static BT_NOINLINE uintptr_t make_finalized(void)
{
    char *p = GC_finalized_malloc(40, &closure);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x5a, 40);   /* all 40 bytes are the program's */
    ck_assert_uint_ge(GC_size(GC_base(p)), 40 + sizeof(void *));
    return ~(uintptr_t)p;
}

START_TEST(finalized_objects)
{
    GC_init_finalized_malloc();
    uintptr_t hidden = make_finalized();
    BT_GC_UNTIL(closure_runs == 1);
    ck_assert_int_eq(closure_runs, 1);
    ck_assert_ptr_eq(closure_obj_seen, (void *)~hidden);
    ck_assert_ptr_eq(closure_cd_seen, &tag);
    for (int i = 0; i < 3; i++)
        bt_gc();
    ck_assert_int_eq(closure_runs, 1);   /* once */
}
END_TEST

/* ---- events ------------------------------------------------------------- */

static int starts, others;
static void GC_CALLBACK on_event(GC_EventType e)
{
    if (e == GC_EVENT_START)
        starts++;
    else
        others++;
}
static void GC_CALLBACK on_resize(GC_word n) { (void)n; }
static void GC_CALLBACK on_thread(GC_EventType e, void *t) { (void)e, (void)t; }
static void GC_CALLBACK on_await(void *o) { (void)o; }

START_TEST(collection_event)
{
    GC_set_on_collection_event(on_event);
    ck_assert_ptr_eq((void *)GC_get_on_collection_event(), (void *)on_event);
    GC_word before = GC_get_gc_no();
    bt_gc();
    bt_gc();
    int seen = starts;
    GC_set_on_collection_event(0);
    ck_assert_int_eq(seen, (int)(GC_get_gc_no() - before));
    ck_assert_int_ge(seen, 2);
    bt_gc();
    ck_assert_int_eq(starts, seen);   /* removed */
    GC_set_on_heap_resize(on_resize);
    ck_assert_ptr_eq((void *)GC_get_on_heap_resize(), (void *)on_resize);
    GC_set_on_heap_resize(0);
    GC_set_on_thread_event(on_thread);
    ck_assert_ptr_eq((void *)GC_get_on_thread_event(), (void *)on_thread);
    GC_set_on_thread_event(0);
    GC_set_await_finalize_proc(on_await);
    ck_assert_ptr_eq((void *)GC_get_await_finalize_proc(), (void *)on_await);
    GC_set_await_finalize_proc(0);
}
END_TEST

/* ---- introspection and tunables ----------------------------------------- */

START_TEST(introspection)
{
    void *p = GC_MALLOC(50);
    size_t n = 0;
    ck_assert_int_eq(GC_get_kind_and_size(p, &n), GC_I_NORMAL);
    ck_assert_uint_eq(n, GC_size(p));
    ck_assert_uint_ge(n, 50);
    static char not_heap[16];
    ck_assert_int_eq(GC_get_kind_and_size(not_heap, &n), -1);
    for (int i = 0; i <= 2048; i += 7)
        ck_assert_uint_ge(GC_get_size_map_at(i), (size_t)i);
    ck_assert_uint_eq(GC_get_size_map_at(-1), (size_t)-1);
    ck_assert_uint_eq(GC_get_size_map_at(1 << 20), (size_t)-1);
    ck_assert_int_eq(GC_incremental_protection_needs(), GC_PROTECTS_NONE);
    ck_assert_int_eq(GC_is_tmp_root(not_heap), 0);
    GC_register_altstack(NULL, 0, NULL, 0);   /* accepted */
}
END_TEST

START_TEST(stored_tunables)
{
    struct GC_timeval_s tv = {25, 500000};
    GC_set_time_limit_tv(tv);
    struct GC_timeval_s got = GC_get_time_limit_tv();
    ck_assert_uint_eq(got.tv_ms, 25);
    ck_assert_uint_eq(got.tv_nsec, 500000);
    ck_assert_uint_eq(GC_get_time_limit(), 25);
    GC_set_time_limit(GC_TIME_UNLIMITED);
    GC_set_allocd_bytes_per_finalizer(12345);
    ck_assert_uint_eq(GC_get_allocd_bytes_per_finalizer(), 12345);
    GC_word d = GC_get_free_space_divisor();
    GC_set_free_space_divisor(5);
    ck_assert_uint_eq(GC_get_free_space_divisor(), 5);
    GC_set_free_space_divisor(d);
}
END_TEST

int main(void)
{
    GC_INIT();
    Suite *s = suite_create("bdwgc-compat");
    TCase *tc = tcase_create("compat");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gcj_objects);
    tcase_add_test(tc, finalized_objects);
    tcase_add_test(tc, collection_event);
    tcase_add_test(tc, introspection);
    tcase_add_test(tc, stored_tunables);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
