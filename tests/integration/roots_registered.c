/* roots_registered: cogc_add_roots / cogc_remove_roots on memory the
 * collector does not otherwise scan (malloc, private mmap). */
#define _GNU_SOURCE
#include "testutil.h"

#include <sys/mman.h>

#define LIST_LEN 3000
#define NWORDS 512

static TU_NOINLINE void put_list(void **slot, uint64_t seed)
{
    *slot = tu_list_make(LIST_LEN, seed);
}

START_TEST(test_malloc_range_is_root)
{
    void **buf = malloc(NWORDS * sizeof *buf);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 0, NWORDS * sizeof *buf);
    ck_assert_int_eq(cogc_add_roots(buf, buf + NWORDS), 0);
    put_list(&buf[0], 0x10);
    put_list(&buf[NWORDS / 2 + 3], 0x11);
    put_list(&buf[NWORDS - 1], 0x12);      /* last word of the range */
    tu_collect_hard(3);
    ck_assert_uint_eq(tu_list_bad(buf[0], LIST_LEN, 0x10), 0);
    ck_assert_uint_eq(tu_list_bad(buf[NWORDS / 2 + 3], LIST_LEN, 0x11), 0);
    ck_assert_uint_eq(tu_list_bad(buf[NWORDS - 1], LIST_LEN, 0x12), 0);
    tu_churn(64, 400000);                  /* allocation-triggered collections */
    ck_assert_uint_eq(tu_list_bad(buf[0], LIST_LEN, 0x10), 0);
    ck_assert_uint_eq(tu_list_bad(buf[NWORDS - 1], LIST_LEN, 0x12), 0);
    ck_assert_int_eq(cogc_remove_roots(buf, buf + NWORDS), 0);
    free(buf);
}
END_TEST

/* Overlapping ranges: removing one leaves the other scanning the overlap. */
START_TEST(test_overlapping_ranges)
{
    void **buf = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(buf, MAP_FAILED);
    size_t n = (1 << 20) / sizeof *buf;
    ck_assert_int_eq(cogc_add_roots(buf, buf + n), 0);
    ck_assert_int_eq(cogc_add_roots(buf + 100, buf + 200), 0);
    put_list(&buf[150], 0x20);
    put_list(&buf[n - 1], 0x21);
    ck_assert_int_eq(cogc_remove_roots(buf + 100, buf + 200), 0);
    tu_collect_hard(3);
    ck_assert_uint_eq(tu_list_bad(buf[150], LIST_LEN, 0x20), 0);
    ck_assert_uint_eq(tu_list_bad(buf[n - 1], LIST_LEN, 0x21), 0);
    ck_assert_int_eq(cogc_remove_roots(buf, buf + n), 0);
    munmap(buf, 1 << 20);
    /* the unmapped range is no longer scanned: collecting must not fault */
    tu_collect_hard(1);
}
END_TEST

START_TEST(test_return_values)
{
    char *buf = malloc(4096);
    ck_assert_ptr_nonnull(buf);
    /* never added */
    errno = 0;
    ck_assert_int_eq(cogc_remove_roots(buf, buf + 4096), -1);
    ck_assert_int_eq(errno, ENOENT);
    /* lo > hi */
    errno = 0;
    ck_assert_int_eq(cogc_add_roots(buf + 4096, buf), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* and that failed add registered nothing */
    errno = 0;
    ck_assert_int_eq(cogc_remove_roots(buf + 4096, buf), -1);
    ck_assert_int_eq(errno, ENOENT);
    /* add, remove, remove again */
    ck_assert_int_eq(cogc_add_roots(buf, buf + 4096), 0);
    errno = 0;
    ck_assert_int_eq(cogc_remove_roots(buf, buf + 2048), -1);   /* not exactly as added */
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_int_eq(cogc_remove_roots(buf + 8, buf + 4096), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(cogc_remove_roots(buf, buf + 4096), 0);
    errno = 0;
    ck_assert_int_eq(cogc_remove_roots(buf, buf + 4096), -1);
    ck_assert_int_eq(errno, ENOENT);
    /* the same range twice: the header does not say whether that is one
     * registration or two; the first removal must succeed, and after a
     * second one nothing is left */
    ck_assert_int_eq(cogc_add_roots(buf, buf + 4096), 0);
    ck_assert_int_eq(cogc_add_roots(buf, buf + 4096), 0);
    ck_assert_int_eq(cogc_remove_roots(buf, buf + 4096), 0);
    errno = 0;
    int rc = cogc_remove_roots(buf, buf + 4096);
    ck_assert(rc == 0 || (rc == -1 && errno == ENOENT));
    errno = 0;
    ck_assert_int_eq(cogc_remove_roots(buf, buf + 4096), -1);
    ck_assert_int_eq(errno, ENOENT);
    /* many ranges */
    for (int i = 0; i < 256; i++)
        ck_assert_int_eq(cogc_add_roots(buf + i, buf + 4096 - i), 0);
    cogc_collect();
    for (int i = 255; i >= 0; i--)
        ck_assert_int_eq(cogc_remove_roots(buf + i, buf + 4096 - i), 0);
    errno = 0;
    ck_assert_int_eq(cogc_remove_roots(buf + 17, buf + 4096 - 17), -1);
    ck_assert_int_eq(errno, ENOENT);
    free(buf);
}
END_TEST

/* After cogc_remove_roots the range no longer keeps anything alive. */
#define NOBJ 1000
#define OBJ_SIZE 96

static TU_NOINLINE void fill_range(void **buf, uintptr_t *hidden)
{
    for (int i = 0; i < NOBJ; i++) {
        void *p = cogc_malloc(OBJ_SIZE);
        ck_assert_ptr_nonnull(p);
        tu_fill(p, OBJ_SIZE, (uint64_t)i);
        buf[i] = p;
        hidden[i] = TU_HIDE(p);
    }
}

START_TEST(test_removed_range_no_longer_root)
{
    /* private anonymous memory: neither heap, data, bss nor stack */
    void **buf = mmap(NULL, NOBJ * sizeof *buf, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t *hidden = calloc(NOBJ, sizeof *hidden);
    ck_assert_ptr_ne(buf, MAP_FAILED);
    ck_assert_ptr_nonnull(hidden);
    ck_assert_int_eq(cogc_add_roots(buf, buf + NOBJ), 0);
    fill_range(buf, hidden);
    tu_collect_hard(2);
    /* still registered: every object intact */
    for (int i = 0; i < NOBJ; i++)
        ck_assert_msg(tu_check(buf[i], OBJ_SIZE, (uint64_t)i), "object %d damaged", i);
    ck_assert_int_eq(cogc_remove_roots(buf, buf + NOBJ), 0);
    /* buf still holds every pointer, but is no longer scanned */
    size_t gone = tu_count_reclaimed(hidden, NOBJ, OBJ_SIZE);
    ck_assert_msg(gone >= NOBJ * 9 / 10,
                  "only %zu of %d objects referenced from a removed root range were reclaimed",
                  gone, NOBJ);
    munmap(buf, NOBJ * sizeof *buf);
    free(hidden);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("roots_registered");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_malloc_range_is_root);
    tcase_add_test(tc, test_overlapping_ranges);
    tcase_add_test(tc, test_return_values);
    tcase_add_test(tc, test_removed_range_no_longer_root);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
