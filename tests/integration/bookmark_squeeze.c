/* bookmark_squeeze: the lists of target pages kept for the pages sent out
 * stay right when the dead ones are squeezed out.
 *
 * Each page sent out keeps the list of the pages its objects point into,
 * appended to one array in the order the pages go out; when the lists of
 * pages that came back are most of the array, it is squeezed.  Three
 * checked lists are built one after another, so list C lies above B, and
 * B above A.  They are made old, then written so that C is the oldest,
 * B younger and A the youngest: sent out oldest first, C's lists come
 * first in the array, then B's, then A's, the reverse of address order.
 * B (more pages than A and C together) is written again: its pages come
 * back, and its lists are dead.  Sending out more pages squeezes the array.
 * A full collection then marks A and C, out, from their lists alone, and
 * COGC_VERIFY=1 (set by ctest) re-traces the heap: every node of C must be
 * marked, and every node of every list must hold its values.  Squeezed in
 * place in address order, A's lists were moved over C's before C's were
 * moved, and C's chain was left unmarked.
 *
 * Generational mode (the pages must be watched); no swap is needed: the
 * collector counts a page out whether or not the kernel took it. */
#define _GNU_SOURCE
#include "testutil.h"

#define A_NODES 4000    /* 64-byte nodes, 64 a page: ~63 pages */
#define B_NODES 24000   /* ~375 pages: more than A and C together */
#define C_NODES 4000
#define SEED_A 0xA11ull
#define SEED_B 0xB22ull
#define SEED_C 0xC33ull

static struct tu_node *a, *b, *c;

static TU_NOINLINE void build(void)
{
    a = tu_list_make(A_NODES, SEED_A);
    b = tu_list_make(B_NODES, SEED_B);
    c = tu_list_make(C_NODES, SEED_C);
}

/* A write to every node (the value it holds): the node's page is written,
 * so younger as a victim, and back if it was out. */
static TU_NOINLINE void touch(struct tu_node *x)
{
    for (; x; x = x->next) {
        volatile uint64_t *w = &x->payload[0];
        *w = *w;
    }
}

static void collections(int n)
{
    for (int i = 0; i < n; i++)
        cogc_collect();
}

START_TEST(squeezed_out_of_address_order)
{
    build();
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg((uintptr_t)a < (uintptr_t)b && (uintptr_t)b < (uintptr_t)c,
                  "lists not in address order (a %p, b %p, c %p): the test's premise", (void *)a, (void *)b,
                  (void *)c);
    collections(2);       /* all old, watched */
    touch(b);
    collections(2);
    touch(a);
    collections(3);       /* the last write two collections back: all may go out */

    /* Oldest first, a list at a time: a call takes the oldest pages, and
     * lists those of one age in address order. */
    size_t sent = 0;
    ck_assert_int_eq(cogc_bookmark_evict(C_NODES * sizeof *c, &sent), 0);
    ck_assert_int_eq(cogc_bookmark_evict(B_NODES * sizeof *b, &sent), 0);
    ck_assert_int_eq(cogc_bookmark_evict((size_t)1 << 30, &sent), 0);
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    size_t out_pages = (size_t)s.pages_out;
    ck_assert_msg(out_pages >= (A_NODES + B_NODES + C_NODES) * 64 / 4096 * 9 / 10,
                  "only %zu pages went out", out_pages);

    touch(b);             /* back: B's lists are dead, most of the array */
    collections(3);
    cogc_get_stats(&s, sizeof s);
    ck_assert_msg(s.pages_out < out_pages / 2, "B's pages did not come back (%llu of %zu still out)",
                  (unsigned long long)s.pages_out, out_pages);
    /* B goes out again: its first listing squeezes the array. */
    ck_assert_int_eq(cogc_bookmark_evict((size_t)1 << 30, &sent), 0);
    ck_assert_uint_gt(sent, 0);

    collections(2);       /* verified, marking A and C from their lists */
    tu_churn(64, 20000);
    collections(1);
    ck_assert_uint_eq(tu_list_bad(a, A_NODES, SEED_A), 0);
    ck_assert_uint_eq(tu_list_bad(b, B_NODES, SEED_B), 0);
    ck_assert_uint_eq(tu_list_bad(c, C_NODES, SEED_C), 0);
}
END_TEST

int main(void)
{
    tu_require_dirty_backend();
    Suite *su = suite_create("bookmark_squeeze");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, squeezed_out_of_address_order);
    suite_add_tcase(su, tc);
    return tu_run_suite(su);
}
