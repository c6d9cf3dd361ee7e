/* Free page runs: first fit, splitting, coalescing with both neighbours,
 * black-list avoidance. */
#include "testutil.h"
#include <stdlib.h>

#include "chunk.h"
#include "options.h"
#include "pages.h"

static struct chunk *c;
static size_t total;

static void setup(void)
{
    options_init();
    ck_assert_int_eq(chunk_table_init(), 0);
    if (!c) {
        c = chunk_new(0, false);
        ck_assert_ptr_nonnull(c);
        pages_add_chunk(c);
        total = c->npages - c->first;
    }
}

START_TEST(fresh_chunk_is_one_zero_run)
{
    setup();
    ck_assert_uint_eq(pages_free_count(), total);
    bool zero = false;
    struct page_desc *pd = pages_alloc(total, false, &zero);
    ck_assert_ptr_nonnull(pd);
    ck_assert(zero);
    ck_assert_uint_eq(pd_index(pd), c->first);
    ck_assert_ptr_null(pages_alloc(1, false, &zero));
    pages_free(pd, total);
    ck_assert_uint_eq(pages_free_count(), total);
}
END_TEST

START_TEST(split_and_coalesce)
{
    setup();
    bool zero;
    struct page_desc *a = pages_alloc(3, false, &zero);
    struct page_desc *b = pages_alloc(5, false, &zero);
    struct page_desc *d = pages_alloc(7, false, &zero);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(pages_free_count(), total - 15);
    /* Free the outer two, then the middle: all three must merge with the rest. */
    pages_free(a, 3);
    pages_free(d, 7);
    ck_assert_uint_eq(pages_free_count(), total - 5);
    pages_free(b, 5);
    ck_assert_uint_eq(pages_free_count(), total);
    struct page_desc *all = pages_alloc(total, false, &zero);
    ck_assert_ptr_nonnull(all);
    ck_assert(!zero); /* reused pages are not known to be zero */
    pages_free(all, total);
}
END_TEST

START_TEST(black_listed_pages_avoided_when_possible)
{
    setup();
    bool zero;
    struct page_desc *a = pages_alloc(total, false, &zero);
    /* Two free runs of 8 pages, the first black-listed. */
    struct page_desc *r1 = a + 10, *r2 = a + 40;
    pages_free(r1, 8);
    pages_free(r2, 8);
    bit_set_atomic(c->black, pd_index(r1) + 3);
    struct page_desc *got = pages_alloc(8, true, &zero);
    ck_assert_ptr_eq(got, r2);
    ck_assert_ptr_null(pages_alloc(8, true, &zero));
    ck_assert_ptr_eq(pages_alloc(8, false, &zero), r1);
    pages_free(got, 8);
    pages_free(r1, 8);
    /* give everything back: a spans the whole chunk apart from r1 and r2 */
    pages_free(a, 10);
    pages_free(a + 18, 22);
    pages_free(a + 48, total - 48);
    ck_assert_uint_eq(pages_free_count(), total);
    chunk_clear_marks();
    ck_assert(!bit_test(c->black, pd_index(r1) + 3));
}
END_TEST

START_TEST(idle_runs_are_released)
{
    setup();
    pages_set_epoch(100);
    bool zero;
    struct page_desc *a = pages_alloc(64, false, &zero);
    pages_free(a, 64);   /* merges with the rest: free since epoch 100 */
    ck_assert_uint_eq(pages_idle(99), 0);
    ck_assert_uint_eq(pages_release_idle(99, 0), 0);
    ck_assert_uint_eq(pages_idle(100), total);
    ck_assert_uint_eq(pages_release_idle(100, 0), total);
    ck_assert_uint_eq(pages_idle(100), 0);
    ck_assert_uint_eq(pages_released_count(), total);
    struct page_desc *b = pages_alloc(16, false, &zero);
    ck_assert(zero);
    ck_assert_uint_eq(pages_released_count(), total - 16);
    pages_free(b, 16);
}
END_TEST

/* Free pages within `keep` stay held, idle or not: the collector's triggers
 * say the program fills them again before its next full collection. */
START_TEST(idle_runs_within_keep_are_held)
{
    setup();
    pages_set_epoch(100);
    bool zero;
    struct page_desc *a = pages_alloc(total, false, &zero);
    pages_free(a + 10, 20);
    pages_free(a + 40, 30);
    ck_assert_uint_eq(pages_free_count(), 50);
    ck_assert_uint_eq(pages_release_idle(100, 50), 0);
    /* one run goes, the other keeps 25 or more held */
    size_t released = pages_release_idle(100, 25);
    ck_assert(released == 20 || released == 30);
    ck_assert_uint_ge(pages_free_count() - pages_released_count(), 25);
    ck_assert_uint_eq(pages_release_idle(100, 0), 50 - released);
    ck_assert_uint_eq(pages_released_count(), 50);
    pages_free(a, 10);
    pages_free(a + 30, 10);
    pages_free(a + 70, total - 70);
    ck_assert_uint_eq(pages_free_count(), total);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pages");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, fresh_chunk_is_one_zero_run);
    tcase_add_test(tc, split_and_coalesce);
    tcase_add_test(tc, black_listed_pages_avoided_when_possible);
    tcase_add_test(tc, idle_runs_are_released);
    tcase_add_test(tc, idle_runs_within_keep_are_held);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
