/* interior_pointers: a pointer into the middle of an object keeps it alive
 * (the default), cogc_base maps interior addresses to the start, and with
 * cogc_set_interior_pointers(0) interior pointers no longer retain. */
#define _GNU_SOURCE
#include "testutil.h"

#define SMALL 1024
#define LARGE (1 << 20)

/* The only references: in .bss (a root) and inside a heap object. */
static char *volatile g_small_mid;
static char *volatile g_large_mid;
static char *volatile g_large_last;
static void **volatile g_holder;

static TU_NOINLINE void make_interior_only(void)
{
    char *s = cogc_malloc(SMALL);
    char *l = cogc_malloc(LARGE);
    char *l2 = cogc_malloc(LARGE);
    char *h = cogc_malloc(SMALL);
    ck_assert(s && l && l2 && h);
    tu_fill(s, SMALL, 1);
    tu_fill(l, LARGE, 2);
    tu_fill(l2, LARGE, 3);
    tu_fill(h, SMALL, 4);
    g_small_mid = s + SMALL / 2;
    g_large_mid = l + LARGE / 2 + 8;
    g_large_last = l2 + LARGE - 1;
    g_holder = cogc_malloc(2 * sizeof(void *));
    ck_assert_ptr_nonnull(g_holder);
    g_holder[1] = h + 100;             /* interior pointer inside a heap object */
}

START_TEST(test_interior_pointer_keeps_alive)
{
    ck_assert_int_eq(cogc_get_interior_pointers(), 1);
    make_interior_only();
    for (int r = 0; r < 3; r++) {
        tu_collect_hard(1);
        tu_churn(SMALL, 20000);
        tu_churn(LARGE, 40);
    }
    char *s = g_small_mid - SMALL / 2;
    char *l = g_large_mid - LARGE / 2 - 8;
    char *l2 = g_large_last - (LARGE - 1);
    char *h = (char *)g_holder[1] - 100;
    ck_assert_ptr_eq(cogc_base(g_small_mid), s);
    ck_assert_ptr_eq(cogc_base(g_large_mid), l);
    ck_assert_ptr_eq(cogc_base(g_large_last), l2);
    ck_assert_ptr_eq(cogc_base(g_holder[1]), h);
    ck_assert_uint_ge(cogc_size(s), SMALL);
    ck_assert_uint_ge(cogc_size(l), LARGE);
    ck_assert_uint_ge(cogc_size(l2), LARGE);
    ck_assert_uint_ge(cogc_size(h), SMALL);
    ck_assert_msg(tu_check(s, SMALL, 1), "1 KB object kept by an interior pointer was damaged at %zu",
                  tu_check_at(s, SMALL, 1));
    ck_assert_msg(tu_check(l, LARGE, 2), "1 MB object kept by an interior pointer was damaged at %zu",
                  tu_check_at(l, LARGE, 2));
    ck_assert_msg(tu_check(l2, LARGE, 3), "1 MB object kept by a pointer to its last byte was damaged at %zu",
                  tu_check_at(l2, LARGE, 3));
    ck_assert_msg(tu_check(h, SMALL, 4), "object kept by an interior pointer in the heap was damaged");
    g_small_mid = g_large_mid = g_large_last = NULL;
    g_holder = NULL;
}
END_TEST

START_TEST(test_base_and_size_of_interior_addresses)
{
    static const size_t sizes[] = {1, 15, 16, 17, 48, 100, 1000, 4095, 4096, 4097,
                                   32768, 32769, 100000, 1 << 20, (4 << 20) + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *p = cogc_malloc(n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        size_t usable = cogc_size(p);
        ck_assert_uint_ge(usable, n);
        const size_t offs[] = {0, 1, n / 2, n - 1, usable - 1};
        for (size_t k = 0; k < 5; k++) {
            ck_assert_msg(cogc_base(p + offs[k]) == p, "size %zu: cogc_base(p+%zu) = %p, p = %p", n,
                          offs[k], cogc_base(p + offs[k]), (void *)p);
            if (offs[k] != 0)
                ck_assert_msg(cogc_size(p + offs[k]) == 0, "size %zu: cogc_size(p+%zu) = %zu, want 0",
                              n, offs[k], cogc_size(p + offs[k]));
        }
        /* the bytes are really usable */
        memset(p, 0xEE, usable);
        ck_assert_ptr_eq(cogc_base(p + usable - 1), p);
    }
}
END_TEST

/* With interior pointers off, objects referenced only through interior
 * pointers are collected, while base pointers still retain. */
#define NOBJ 1000
#define OBJ 1024

static char *g_interior_refs[NOBJ];   /* .bss: scanned, but interior only */
static char *g_base_refs[NOBJ];       /* .bss: proper base pointers */
static uintptr_t g_hidden[NOBJ];

static TU_NOINLINE void make_refs(void)
{
    for (int i = 0; i < NOBJ; i++) {
        char *a = cogc_malloc(OBJ), *b = cogc_malloc(OBJ);
        ck_assert(a && b);
        tu_fill(a, OBJ, 100 + (uint64_t)i);
        tu_fill(b, OBJ, 5000 + (uint64_t)i);
        g_interior_refs[i] = a + OBJ / 2;
        g_hidden[i] = TU_HIDE(a);
        g_base_refs[i] = b;
    }
}

START_TEST(test_interior_pointers_off)
{
    cogc_set_interior_pointers(0);
    ck_assert_int_eq(cogc_get_interior_pointers(), 0);
    make_refs();
    size_t gone = tu_count_reclaimed(g_hidden, NOBJ, OBJ);
    tu_churn(OBJ, 10000);
    tu_collect_hard(1);
    size_t bad = 0;
    for (int i = 0; i < NOBJ; i++)
        if (!tu_check(g_base_refs[i], OBJ, 5000 + (uint64_t)i) || cogc_base(g_base_refs[i]) != g_base_refs[i])
            bad++;
    cogc_set_interior_pointers(1);
    ck_assert_int_eq(cogc_get_interior_pointers(), 1);
    ck_assert_msg(bad == 0, "interior pointers off: %zu of %d objects with base pointers damaged", bad, NOBJ);
    ck_assert_msg(gone >= NOBJ * 9 / 10,
                  "interior pointers off: only %zu of %d objects referenced by interior pointers were reclaimed",
                  gone, NOBJ);
    memset(g_interior_refs, 0, sizeof g_interior_refs);
    memset(g_base_refs, 0, sizeof g_base_refs);
}
END_TEST

/* Control for the test above: with interior pointers on, the very same
 * references keep all the objects. */
START_TEST(test_interior_pointers_on_control)
{
    ck_assert_int_eq(cogc_get_interior_pointers(), 1);
    make_refs();
    tu_collect_hard(2);
    tu_churn(OBJ, 10000);
    size_t bad = 0;
    for (int i = 0; i < NOBJ; i++) {
        char *a = g_interior_refs[i] - OBJ / 2;
        if (!tu_check(a, OBJ, 100 + (uint64_t)i) || cogc_base(g_interior_refs[i]) != a)
            bad++;
    }
    ck_assert_msg(bad == 0, "interior pointers on: %zu of %d objects kept by interior pointers damaged",
                  bad, NOBJ);
    memset(g_interior_refs, 0, sizeof g_interior_refs);
    memset(g_base_refs, 0, sizeof g_base_refs);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("interior_pointers");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_interior_pointer_keeps_alive);
    tcase_add_test(tc, test_base_and_size_of_interior_addresses);
    tcase_add_test(tc, test_interior_pointers_on_control);
    tcase_add_test(tc, test_interior_pointers_off);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
