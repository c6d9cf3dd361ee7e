/* With a tiny mark stack, deep and wide structures still survive: the
 * overflow is recovered by rescanning, with no recursion and no crash. */
#define _GNU_SOURCE
#include "testutil.h"
#include <stdlib.h>

#include "cogc.h"
#include "mark.h"

struct node { struct node *next, *side; long value; };

START_TEST(deep_and_wide_structures_survive_overflow)
{
    setenv("COGC_MARK_STACK_MAX", "64", 1);
    ck_assert_int_eq(cogc_init(), 0);
    enum { N = 200000 };
    struct node *head = NULL;
    for (long i = 0; i < N; i++) {
        struct node *n = cogc_malloc(sizeof *n);
        ck_assert_ptr_nonnull(n);
        n->value = i;
        n->next = head;
        /* A side object per node makes the stack wide as well as deep. */
        n->side = cogc_malloc(sizeof *n);
        ck_assert_ptr_nonnull(n->side);
        n->side->value = -i;
        head = n;
    }
    /* A wide array: 100000 children pushed from one object. */
    struct node **wide = cogc_malloc(100000 * sizeof *wide);
    for (long i = 0; i < 100000; i++) {
        wide[i] = cogc_malloc(sizeof(struct node));
        wide[i]->value = i * 3;
    }
    unsigned overflows = 0;
    for (int k = 0; k < 3; k++) {
        cogc_collect();
        overflows += mark_overflows();   /* of this full collection */
        /* Garbage of the same size, so a wrongly freed node is overwritten. */
        for (int j = 0; j < 300000; j++) {
            struct node *g = cogc_malloc(sizeof *g);
            g->value = 0x5a5a5a5a;
        }
    }
    ck_assert_uint_gt(overflows, 0);
    long expect = N - 1;
    for (struct node *n = head; n; n = n->next, expect--) {
        ck_assert_int_eq(n->value, expect);
        ck_assert_int_eq(n->side->value, -expect);
    }
    ck_assert_int_eq(expect, -1);
    for (long i = 0; i < 100000; i++)
        ck_assert_int_eq(wide[i]->value, i * 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mark_overflow");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, deep_and_wide_structures_survive_overflow);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
