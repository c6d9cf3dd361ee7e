/* The mode libgc.so.1 starts in: generational + incremental (reported by
 * GC_is_incremental_mode) unless the environment chooses, or the dirty-bit
 * backend cannot see the kernel's writes into the heap (mprotect).
 * EXPECT_INCREMENTAL: 0, 1, or "backend": 1 unless the backend libgc.so.1
 * chose (it is cogc: cogc_get_stats) is mprotect or none. */
#include <gc.h>

#include <check.h>
#include <cogc.h>
#include <stdlib.h>
#include <string.h>

START_TEST(starting_mode)
{
    GC_INIT();
    const char *e = getenv("EXPECT_INCREMENTAL");
    ck_assert_msg(e != NULL, "EXPECT_INCREMENTAL is not set");
    int want;
    if (!strcmp(e, "backend")) {
        struct cogc_stats st;
        ck_assert_int_eq(cogc_get_stats(&st, sizeof st), 0);
        want = st.dirty_backend[0] && strcmp(st.dirty_backend, "none") && strcmp(st.dirty_backend, "mprotect");
    } else {
        want = atoi(e);
    }
    ck_assert_int_eq(GC_is_incremental_mode() != 0, want);
    ck_assert_int_eq(cogc_get_generational(), want);
    ck_assert_int_eq(cogc_get_incremental(), want);
    /* Every mode keeps cogc's own pause target, or the environment's
     * (EXPECT_PAUSE_TARGET: the value expected). */
    const char *pt = getenv("EXPECT_PAUSE_TARGET");
    ck_assert_uint_eq(cogc_get_pause_target(), pt ? (unsigned)atoi(pt) : 5000u);
    /* Objects survive the collections of that mode. */
    void **list = NULL;
    for (int i = 0; i < 100000; i++) {
        void **n = GC_MALLOC(4 * sizeof(void *));
        ck_assert_ptr_nonnull(n);
        n[0] = list;
        n[1] = (void *)(size_t)(2 * i + 1);
        list = n;
    }
    GC_gcollect();
    int i = 100000;
    for (void **n = list; n; n = n[0])
        ck_assert_int_eq((size_t)n[1], 2 * --i + 1);
    ck_assert_int_eq(i, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_mode");
    TCase *tc = tcase_create("mode");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, starting_mode);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
