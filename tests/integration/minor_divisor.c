/* The free-space divisor spaces minor collections too: with a large old
 * generation, the young generation grows to old generation / divisor, so
 * the same allocation runs fewer minor collections than with the divisor
 * off, in a heap not much larger than the two generations. */
#include "testutil.h"

#define LIVE_OBJS 32768   /* 1 KiB each: 32 MiB that stay */

static void **live;

static uint64_t minors_for_garbage(void)
{
    struct cogc_stats before = tu_stats();
    tu_churn(64, 1500000);   /* 96 MiB of garbage */
    struct cogc_stats after = tu_stats();
    ck_assert_uint_eq(after.collections - before.collections, after.minor_collections - before.minor_collections);
    return after.minor_collections - before.minor_collections;
}

START_TEST(divisor_spaces_minor_collections)
{
    live = cogc_malloc(LIVE_OBJS * sizeof *live);
    ck_assert_ptr_nonnull(live);
    for (size_t i = 0; i < LIVE_OBJS; i++) {
        live[i] = cogc_malloc(1024);
        ck_assert_ptr_nonnull(live[i]);
    }
    ck_assert_int_eq(cogc_set_free_space_divisor(0), 0);
    cogc_collect();
    minors_for_garbage();   /* the young generation at its usual size */
    uint64_t off = minors_for_garbage();
    ck_assert_int_eq(cogc_set_free_space_divisor(2), 0);
    cogc_collect();
    minors_for_garbage();   /* it grows, doubling */
    uint64_t on = minors_for_garbage();
    /* Sized by the old generation (32 MiB / 2), not by the heap that
     * holds it: sized by the heap, it grew the heap to 72 MiB here. */
    uint64_t heap_mib = tu_stats().heap_bytes >> 20;
    ck_assert_msg(off >= 8, "divisor off: %llu minor collections for 96 MiB", (unsigned long long)off);
    ck_assert_msg(on * 2 <= off, "divisor 2: %llu minor collections, off: %llu", (unsigned long long)on,
                  (unsigned long long)off);
    ck_assert_msg(heap_mib <= 60, "divisor 2: heap %llu MiB for 32 MiB live", (unsigned long long)heap_mib);
    for (size_t i = 0; i < LIVE_OBJS; i += 1024)
        ck_assert_uint_ge(cogc_size(live[i]), 1024);
}
END_TEST

int main(void)
{
    if (cogc_init() != 0)
        return 1;
    if (cogc_set_generational(1) != 0) {
        printf("SKIP: generational mode unavailable here\n");
        return 77;
    }
    Suite *s = suite_create("minor_divisor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, divisor_spaces_minor_collections);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
