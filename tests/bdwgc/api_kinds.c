/* bdwgc API: custom kinds with a mark procedure, typed allocation with a
 * layout bitmap, batch allocation. */
#include "gc.h"
#include "gc/gc_mark.h"
#include "gc/gc_typed.h"
#include "gc/gc_inline.h"
#include "bdwtest.h"

#include <stddef.h>

/* A pair whose mark procedure reports the first field only: the second
 * is weak (watched by a disappearing link). */
struct wpair {
    void *strong;
    void *weak;
};

static int proc_calls;

static struct GC_ms_entry *mark_wpair(GC_word *addr, struct GC_ms_entry *msp, struct GC_ms_entry *lim, GC_word env)
{
    ck_assert_uint_eq(env, 5);
    proc_calls++;
    struct wpair *p = (struct wpair *)addr;
    return GC_MARK_AND_PUSH(p->strong, msp, lim, (void **)&p->strong);
}

static int wpair_kind;
static struct wpair *root_pair;
static struct {
    void *strong;
    void *weak;
} typed_root;

static BT_NOINLINE void fill_pair(void)
{
    root_pair = GC_generic_malloc(sizeof *root_pair, wpair_kind);
    ck_assert_ptr_nonnull(root_pair);
    ck_assert_ptr_null(root_pair->strong);   /* cleared */
    GC_word *s = GC_MALLOC(64), *w = GC_MALLOC(64);
    s[0] = 0x8000000000000301ul;
    root_pair->strong = s;
    root_pair->weak = w;
    ck_assert_int_eq(GC_general_register_disappearing_link(&root_pair->weak, w), GC_SUCCESS);
}

START_TEST(mark_procedure_kind)
{
    unsigned proc = GC_new_proc(mark_wpair);
    wpair_kind = (int)GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(proc, 5), 0, 1);
    fill_pair();
    proc_calls = 0;
    BT_GC_UNTIL(!root_pair->weak);
    ck_assert_ptr_null(root_pair->weak);
    ck_assert_int_ge(proc_calls, 1);
    GC_word *s = root_pair->strong;
    for (int i = 0; i < 3; i++)
        bt_gc();
    ck_assert_uint_eq(s[0], 0x8000000000000301ul);
    ck_assert_ptr_eq(GC_base(s), s);
    ck_assert_uint_ge(GC_size(root_pair), sizeof *root_pair);
}
END_TEST

/* Typed: word 0 a pointer, word 1 not (a disappearing link), word 2 a
 * pointer. */
struct typed {
    void *a;
    void *weak;
    void *b;
};

static struct typed *troot;

static BT_NOINLINE void fill_typed(GC_descr d)
{
    troot = GC_MALLOC_EXPLICITLY_TYPED(sizeof *troot, d);
    ck_assert_ptr_nonnull(troot);
    troot->a = GC_MALLOC(32);
    troot->b = GC_MALLOC_ATOMIC(32);
    ((GC_word *)troot->a)[0] = 0x8000000000000401ul;
    ((GC_word *)troot->b)[0] = 0x8000000000000402ul;
    void *w = GC_MALLOC(32);
    troot->weak = w;
    ck_assert_int_eq(GC_general_register_disappearing_link(&troot->weak, w), GC_SUCCESS);
}

START_TEST(typed_bitmap)
{
    GC_word bm[GC_BITMAP_SIZE(struct typed)] = {0};
    GC_set_bit(bm, GC_WORD_OFFSET(struct typed, a));
    GC_set_bit(bm, GC_WORD_OFFSET(struct typed, b));
    GC_descr d = GC_make_descriptor(bm, GC_WORD_LEN(struct typed));
    fill_typed(d);
    BT_GC_UNTIL(!troot->weak);
    ck_assert_ptr_null(troot->weak);
    for (int i = 0; i < 3; i++)
        bt_gc();
    ck_assert_uint_eq(((GC_word *)troot->a)[0], 0x8000000000000401ul);
    ck_assert_uint_eq(((GC_word *)troot->b)[0], 0x8000000000000402ul);
    /* calloc of typed elements: zeroed, right size */
    struct typed *arr = GC_CALLOC_EXPLICITLY_TYPED(10, sizeof(struct typed), d);
    ck_assert_ptr_nonnull(arr);
    ck_assert_uint_ge(GC_size(arr), 10 * sizeof(struct typed));
    ck_assert_ptr_null(arr[9].b);
    (void)typed_root;
}
END_TEST

START_TEST(generic_malloc_many)
{
    void *list = NULL;
    GC_generic_malloc_many(48, GC_I_NORMAL, &list);
    ck_assert_ptr_nonnull(list);
    int n = 0;
    for (void *p = list; p; p = GC_NEXT(p), n++) {
        ck_assert_uint_ge(GC_size(p), 48);
        for (size_t w = 1; w < 48 / sizeof(GC_word); w++)
            ck_assert_uint_eq(((GC_word *)p)[w], 0);
    }
    ck_assert_int_ge(n, 2);
    bt_gc();
    /* the list is reachable through scanned first words: intact */
    int m = 0;
    for (void *p = list; p; p = GC_NEXT(p), m++)
        ck_assert_ptr_eq(GC_base(p), p);
    ck_assert_int_eq(m, n);
    void *atomic = NULL;
    GC_generic_malloc_many(64, GC_I_PTRFREE, &atomic);
    ck_assert_ptr_nonnull(atomic);
    void *p = GC_generic_malloc(100, GC_I_NORMAL);
    ck_assert_uint_ge(GC_size(p), 100);
}
END_TEST

int main(void)
{
    GC_INIT();
    Suite *s = suite_create("bdwgc-kinds");
    TCase *tc = tcase_create("kinds");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, mark_procedure_kind);
    tcase_add_test(tc, typed_bitmap);
    tcase_add_test(tc, generic_malloc_many);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
