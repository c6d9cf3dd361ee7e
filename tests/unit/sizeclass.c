/* Size classes: rounding waste, block fill, and the multiply-shift division
 * used by the conservative pointer test, checked exhaustively. */
#include "testutil.h"
#include <stdlib.h>

#include "sizeclass.h"

START_TEST(classes_cover_every_size)
{
    sizeclass_init();
    for (size_t s = 1; s <= MAX_SMALL; s++) {
        unsigned c = size_to_class(s);
        ck_assert_uint_lt(c, NCLASSES);
        ck_assert_uint_ge(size_classes[c].size, s);
        if (c > 0)
            ck_assert_uint_lt(size_classes[c - 1].size, s);
        /* Waste bound: 12.5 % above 128 bytes, one granule below. */
        if (s > 128)
            ck_assert_uint_le((size_classes[c].size - s) * 8, s);
        else
            ck_assert_uint_lt(size_classes[c].size - s, GRANULE);
    }
    ck_assert_uint_eq(size_classes[NCLASSES - 1].size, MAX_SMALL);
}
END_TEST

START_TEST(blocks_waste_little)
{
    sizeclass_init();
    for (unsigned c = 0; c < NCLASSES; c++) {
        const struct size_class *sc = &size_classes[c];
        size_t bytes = sc->pages * PAGE_SIZE;
        ck_assert_uint_ge(sc->nobjs, 1);
        ck_assert_uint_eq(sc->nobjs, bytes / sc->size);
        ck_assert_uint_le((bytes - sc->nobjs * sc->size) * 16, bytes);
        ck_assert_uint_eq(sc->size % GRANULE, 0);
    }
}
END_TEST

START_TEST(division_is_exact)
{
    sizeclass_init();
    for (unsigned c = 0; c < NCLASSES; c++) {
        const struct size_class *sc = &size_classes[c];
        size_t bytes = sc->pages * PAGE_SIZE;
        for (size_t off = 0; off < bytes; off++)
            if (div_by_recip(off, sc->recip) != off / sc->size)
                ck_abort_msg("class %u size %u: %zu / size gave %u", c, sc->size, off,
                             div_by_recip(off, sc->recip));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sizeclass");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, classes_cover_every_size);
    tcase_add_test(tc, blocks_waste_little);
    tcase_add_test(tc, division_is_exact);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
