/* atomic_leaves: with several markers, pointer-free objects are marked by
 * whichever marker finds them (an atomic bit set), the others through their
 * region's owner (plain stores).  Small normal objects, each pointing to a
 * small atomic one, allocated in turn so that bitmap words of both kinds
 * sit next to each other: every object must survive full and minor
 * collections intact. */
#define _GNU_SOURCE
#include "testutil.h"

#define N 200000

static uintptr_t **g_normal;   /* .bss root: the array itself */

static uintptr_t tag(size_t i, int kind) { return 0xa70000000000u ^ (i << 4) ^ (uintptr_t)kind; }

/* normal[0] = tag, normal[1] = its atomic object; atomic[0..1] = tag */
static void fill(size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        uintptr_t *n = cogc_malloc(16);
        uintptr_t *a = cogc_malloc_atomic(16);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(n);
        a[0] = a[1] = tag(i, 1);
        n[0] = tag(i, 2);
        n[1] = (uintptr_t)a;
        g_normal[i] = n;
    }
}

static void check(void)
{
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(g_normal[i][0] == tag(i, 2), "normal object %zu lost its contents", i);
        const uintptr_t *a = (const uintptr_t *)g_normal[i][1];
        ck_assert_msg(a[0] == tag(i, 1) && a[1] == tag(i, 1), "atomic object %zu lost its contents", i);
    }
}

START_TEST(test_atomic_leaves_survive)
{
    g_normal = cogc_malloc(N * sizeof *g_normal);
    ck_assert_ptr_nonnull(g_normal);
    fill(0, N);
    for (int round = 0; round < 6; round++) {
        if (round % 2)
            cogc_collect_minor();
        else
            cogc_collect();
        tu_churn(16, 100000);   /* reuses whatever was wrongly freed */
        check();
        fill(round * (N / 6), (round + 1) * (N / 6));   /* replaced: young again */
    }
    cogc_collect();
    struct cogc_stats st = tu_stats();
    if (st.markers < 2) {
        printf("SKIP: the last full collection used %u marker (one CPU, or no marker threads)\n", st.markers);
        exit(77);
    }
    tu_churn(16, 100000);
    check();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("atomic_leaves");
    TCase *tc = tcase_create("leaves");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_atomic_leaves_survive);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
