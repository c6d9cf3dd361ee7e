/* The options table: every parser accepts what it documents and rejects
 * malformed input, and a malformed variable is reported and ignored. */
#define _GNU_SOURCE
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "report.h"

START_TEST(sizes_parse_with_suffixes)
{
    const struct option_desc *d = &option_table[OPT_HEAP_LIMIT];
    int64_t v;
    ck_assert_int_eq(option_parse(d, "0", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(option_parse(d, "64m", &v), 0);
    ck_assert_int_eq(v, 64 << 20);
    ck_assert_int_eq(option_parse(d, "2G", &v), 0);
    ck_assert_int_eq(v, (int64_t)2 << 30);
    ck_assert_int_eq(option_parse(d, "3kb", &v), 0);
    ck_assert_int_eq(v, 3072);
    const char *bad[] = {"", "banana", "-5", "12q", "99999999999999999999", "16777216t", " 5", "5 ", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(option_parse(d, bad[i], &v) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(numbers_respect_ranges)
{
    const struct option_desc *g = &option_table[OPT_GROWTH];
    int64_t v;
    ck_assert_int_eq(option_parse(g, "150", &v), 0);
    ck_assert_int_eq(v, 150);
    ck_assert_int_eq(option_parse(g, "9", &v), -1);
    ck_assert_int_eq(option_parse(g, "10001", &v), -1);
    ck_assert_int_eq(option_parse(g, "1e3", &v), -1);
    const struct option_desc *m = &option_table[OPT_MARKERS];
    ck_assert_int_eq(option_parse(m, "999999", &v), -1);
}
END_TEST

START_TEST(booleans_and_choices)
{
    const struct option_desc *b = &option_table[OPT_STATS];
    const struct option_desc *c = &option_table[OPT_ON_ERROR];
    int64_t v;
    ck_assert_int_eq(option_parse(b, "on", &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(option_parse(b, "0", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(option_parse(b, "2", &v), -1);
    ck_assert_int_eq(option_parse(c, "abort", &v), 0);
    ck_assert_int_eq(v, ON_ERROR_ABORT);
    ck_assert_int_eq(option_parse(c, "explode", &v), -1);
    ck_assert_int_eq(option_parse(b, NULL, &v), -1);
}
END_TEST

static char last[512];
static int warnings;
static void capture(const char *msg)
{
    warnings++;
    strncpy(last, msg, sizeof last - 1);
}

START_TEST(malformed_variable_is_reported_and_default_used)
{
    setenv("COGC_GROWTH", "-5", 1);
    report_set_proc(capture);
    options_init();
    ck_assert_int_eq(warnings, 1);
    ck_assert_ptr_nonnull(strstr(last, "COGC_GROWTH"));
    ck_assert_ptr_nonnull(strstr(last, "default"));
    ck_assert_int_eq(option(OPT_GROWTH), option_table[OPT_GROWTH].deflt);
    report_set_proc(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sizes_parse_with_suffixes);
    tcase_add_test(tc, numbers_respect_ranges);
    tcase_add_test(tc, booleans_and_choices);
    tcase_add_test(tc, malformed_variable_is_reported_and_default_used);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
