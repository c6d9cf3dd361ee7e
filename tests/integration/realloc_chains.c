/* realloc_chains: cogc_realloc from 1 byte to 1 MB and back, contents kept
 * at every step, pointers stored inside keep their targets alive, and the
 * special cases realloc(NULL, n) and realloc(p, 0). */
#define _GNU_SOURCE
#include "testutil.h"

#define MB ((size_t)1 << 20)

static char *volatile g_obj;     /* the only reference to the object */

static size_t next_up(size_t n) { return n + n / 3 + 1; }
static size_t next_down(size_t n) { return n - n / 4 - 1; }

START_TEST(test_grow_and_shrink_bytes)
{
    size_t n = 1;
    g_obj = cogc_realloc(NULL, n);
    ck_assert_ptr_nonnull(g_obj);
    ck_assert_uint_ge(cogc_size(g_obj), 1);
    tu_fill(g_obj, n, 42);
    int step = 0, moved = 0;
    while (n < MB) {
        size_t m = next_up(n);
        if (m > MB)
            m = MB;
        char *old = g_obj;
        char *p = cogc_realloc(old, m);
        ck_assert_msg(p != NULL, "realloc %zu -> %zu failed", n, m);
        ck_assert_uint_ge(cogc_size(p), m);
        ck_assert_msg(tu_check_at(p, n, 42) == (size_t)-1, "grow %zu -> %zu: old byte %zu changed", n, m,
                      tu_check_at(p, n, 42));
        if (p != old) {
            moved++;
            for (size_t i = n; i < m; i++)
                ck_assert_msg(p[i] == 0, "grow %zu -> %zu (moved): new byte %zu is %d, not 0", n, m, i, p[i]);
        }
        tu_fill(p, m, 42);
        g_obj = p;
        p = old = NULL;
        n = m;
        if (++step % 4 == 0) {
            tu_collect_hard(1);
            ck_assert_msg(tu_check(g_obj, n, 42), "size %zu: damaged after a collection", n);
        }
    }
    ck_assert_int_gt(moved, 5);
    while (n > 1) {
        size_t m = next_down(n);
        if (m < 1)
            m = 1;
        char *p = cogc_realloc(g_obj, m);
        ck_assert_msg(p != NULL, "realloc %zu -> %zu failed", n, m);
        ck_assert_uint_ge(cogc_size(p), m);
        ck_assert_msg(tu_check(p, m, 42), "shrink %zu -> %zu: byte %zu changed", n, m, tu_check_at(p, m, 42));
        g_obj = p;
        p = NULL;
        n = m;
        if (++step % 4 == 0) {
            tu_collect_hard(1);
            ck_assert_msg(tu_check(g_obj, n, 42), "size %zu: damaged after a collection", n);
        }
    }
    g_obj = NULL;
}
END_TEST

/* A growing vector of pointers: the nodes are referenced only from it. */
static struct tu_node **volatile g_vec;

START_TEST(test_vector_of_pointers)
{
    size_t cap = 1, len = 0;
    g_vec = cogc_realloc(NULL, cap * sizeof(void *));
    ck_assert_ptr_nonnull(g_vec);
    const size_t total = 100000;
    while (len < total) {
        if (len == cap) {
            cap = cap * 3 / 2 + 1;
            struct tu_node **nv = cogc_realloc(g_vec, cap * sizeof(void *));
            ck_assert_ptr_nonnull(nv);
            g_vec = nv;
            nv = NULL;
        }
        struct tu_node *node = tu_list_make(1, 0x9000 + len);
        ck_assert_ptr_nonnull(node);
        g_vec[len++] = node;
        if (len % 20000 == 0) {
            tu_collect_hard(1);
            size_t bad = 0;
            for (size_t i = 0; i < len; i++)
                bad += tu_list_bad(g_vec[i], 1, 0x9000 + i);
            ck_assert_msg(bad == 0, "%zu of %zu nodes held by a realloc'ed vector damaged", bad, len);
        }
    }
    /* shrink it to half: the first half stays alive */
    struct tu_node **nv = cogc_realloc(g_vec, total / 2 * sizeof(void *));
    ck_assert_ptr_nonnull(nv);
    g_vec = nv;
    nv = NULL;
    tu_collect_hard(2);
    size_t bad = 0;
    for (size_t i = 0; i < total / 2; i++)
        bad += tu_list_bad(g_vec[i], 1, 0x9000 + i);
    ck_assert_msg(bad == 0, "%zu nodes damaged after shrinking the vector", bad);
    g_vec = NULL;
}
END_TEST

START_TEST(test_special_cases)
{
    /* realloc(NULL, n) is cogc_malloc(n): zero-filled, scanned */
    uint64_t *p = cogc_realloc(NULL, 256);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(cogc_size(p), 256);
    for (int i = 0; i < 32; i++)
        ck_assert_uint_eq(p[i], 0);
    /* realloc(p, 0) frees p and returns NULL */
    errno = 0;
    ck_assert_ptr_null(cogc_realloc(p, 0));
    ck_assert_msg(cogc_size(p) == 0, "cogc_size after realloc(p, 0) is %zu", cogc_size(p));
    /* same size: contents kept */
    char *q = cogc_malloc(100);
    ck_assert_ptr_nonnull(q);
    tu_fill(q, 100, 9);
    char *q2 = cogc_realloc(q, 100);
    ck_assert_ptr_nonnull(q2);
    ck_assert(tu_check(q2, 100, 9));
    /* within the size class it stays in place */
    size_t usable = cogc_size(q2);
    char *q3 = cogc_realloc(q2, usable);
    ck_assert_ptr_eq(q3, q2);
    ck_assert(tu_check(q3, 100, 9));
    /* large -> small keeps the prefix */
    char *big = cogc_malloc(2 * MB);
    ck_assert_ptr_nonnull(big);
    tu_fill(big, 2 * MB, 10);
    char *small = cogc_realloc(big, 24);
    ck_assert_ptr_nonnull(small);
    ck_assert(tu_check(small, 24, 10));
    ck_assert_uint_ge(cogc_size(small), 24);
}
END_TEST

/* realloc keeps the kind: an atomic object's new copy is still atomic (not
 * scanned), an uncollectable one is still never collected. */
#define NHID 1000

static TU_NOINLINE void make_atomic_holder(uintptr_t *hidden, uintptr_t *holder_hidden)
{
    void **h = cogc_malloc_atomic(16);
    ck_assert_ptr_nonnull(h);
    h = cogc_realloc(h, NHID * sizeof(void *));   /* grows: a new atomic object */
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < NHID; i++) {
        h[i] = cogc_malloc(64);
        ck_assert_ptr_nonnull(h[i]);
        hidden[i] = TU_HIDE(h[i]);
    }
    g_obj = (char *)h;
    *holder_hidden = TU_HIDE(h);
}

START_TEST(test_realloc_keeps_atomic_kind)
{
    static uintptr_t hidden[NHID];
    uintptr_t hh;
    make_atomic_holder(hidden, &hh);
    size_t gone = tu_count_reclaimed(hidden, NHID, 64);
    ck_assert_ptr_eq(cogc_base(g_obj), TU_UNHIDE(hh));
    ck_assert_msg(gone >= NHID * 9 / 10,
                  "only %zu of %d objects referenced from a realloc'ed atomic object were reclaimed", gone, NHID);
    g_obj = NULL;
}
END_TEST

static TU_NOINLINE uintptr_t make_uncollectable(void)
{
    char *u = cogc_malloc_uncollectable(32);
    ck_assert_ptr_nonnull(u);
    tu_fill(u, 32, 77);
    char *u2 = cogc_realloc(u, 64 * 1024);   /* surely a new object */
    ck_assert_ptr_nonnull(u2);
    tu_fill(u2 + 32, 1024, 78);
    return TU_HIDE(u2);
}

START_TEST(test_realloc_keeps_uncollectable_kind)
{
    uintptr_t h = make_uncollectable();
    tu_collect_hard(3);
    tu_churn(64 * 1024, 200);
    char *u = TU_UNHIDE(h);
    ck_assert_msg(cogc_size(u) >= 64 * 1024, "a realloc'ed uncollectable object was collected");
    ck_assert(tu_check(u, 32, 77));
    ck_assert(tu_check(u + 32, 1024, 78));
    cogc_free(u);
    ck_assert_uint_eq(cogc_size(u), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("realloc_chains");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_grow_and_shrink_bytes);
    tcase_add_test(tc, test_vector_of_pointers);
    tcase_add_test(tc, test_special_cases);
    tcase_add_test(tc, test_realloc_keeps_atomic_kind);
    tcase_add_test(tc, test_realloc_keeps_uncollectable_kind);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
