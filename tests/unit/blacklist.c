/* A root word pointing into a free page black-lists that page, and the
 * statistics count it; a large object then avoids the page. */
#define _GNU_SOURCE
#include "testutil.h"

#include "chunk.h"

static uintptr_t roots[2];

START_TEST(false_pointer_into_free_page_is_black_listed)
{
    void *keep = cogc_malloc(64);   /* makes a chunk exist */
    ck_assert_ptr_nonnull(keep);
    struct chunk *c = chunk_of((uintptr_t)keep);
    size_t i = c->first;             /* the first free page: where the next run would start */
    while (i < c->npages && c->pd[i].state != PS_FREE)
        i++;
    ck_assert_uint_lt(i, c->npages);
    uintptr_t page = page_addr(c, i);
    roots[0] = page + 100;           /* an interior-looking false pointer */
    ck_assert_int_eq(cogc_add_roots(roots, roots + 2), 0);
    cogc_collect();
    ck_assert(bit_test(c->black, i));
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    ck_assert_uint_ge(s.blacklisted_pages, 1);
    /* Large objects are placed away from it while other pages fit. */
    for (int k = 0; k < 16; k++) {
        char *big = cogc_malloc(10 * 4096);   /* large: over MAX_SMALL */
        ck_assert_ptr_nonnull(big);
        ck_assert_msg((uintptr_t)big + 10 * 4096 <= page || (uintptr_t)big > page,
                      "large object %p covers the black-listed page %p", (void *)big, (void *)page);
    }
    cogc_remove_roots(roots, roots + 2);
}
END_TEST

int main(void)
{
    if (cogc_init() != 0)
        return 1;
    Suite *s = suite_create("blacklist");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, false_pointer_into_free_page_is_black_listed);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
