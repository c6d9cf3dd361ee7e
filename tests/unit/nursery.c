/* The young generation's size (gc/nursery.c), with the numbers it is
 * about: shrunk when marking its survivors took long, grown back when
 * marking was short or few survived; with aging, not shrunk below twice
 * survivors that were under half of it, unless marking would then pass
 * half the pause target. */
#include "testutil.h"

#include "nursery.h"

#define MB ((size_t)1 << 20)
#define MS ((uint64_t)1000000)

static struct nursery_sample sample(size_t nursery, uint64_t mark_ns, uint64_t marked, bool aging)
{
    return (struct nursery_sample){
        .nursery = nursery, .mark_ns = mark_ns, .marked = marked, .target_ns = 5 * MS, .cap = 8 * MB, .aging = aging};
}

/* GCBench depth 16's case: 3.7 MB of a tree being built, marked in 2.9 ms
 * of a 5 ms target, in an 8 MB young generation.  Without aging the shrink
 * goes to where marking would take an eighth of the target; with aging it
 * stops at twice the survivors (7.4 MB), capped where marking would take
 * half the target (8 * 2.5 / 2.9 = 6.9 MB). */
START_TEST(aged_survivors_bound_the_shrink)
{
    struct nursery_sample s = sample(8 * MB, 2900000, 37 * MB / 10, false);
    size_t plain = nursery_next(&s);
    ck_assert_uint_le(plain, 8 * MB * 625 / 2900 + 1);
    ck_assert_uint_ge(plain, MIN_NURSERY);
    s.aging = true;
    size_t aged = nursery_next(&s);
    ck_assert_uint_lt(aged, 8 * MB);
    ck_assert_uint_ge(aged, 2 * (size_t)s.marked > 8 * MB * 2500 / 2900 ? 8 * MB * 2500 / 2900 - 1
                                                                          : 2 * (size_t)s.marked - 1);
    ck_assert_uint_gt(aged, plain);
    /* Few survivors: twice them is below the plain shrink, which stands. */
    s.marked = 1 * MB;
    s.mark_ns = 4 * MS;
    s.aging = false;
    plain = nursery_next(&s);
    s.aging = true;
    ck_assert_uint_eq(nursery_next(&s), plain);
}
END_TEST

/* Most survived: the program builds what it keeps, aging promotes them at
 * once, and the shrink is the plain one (GCBench depth 22's long-lived
 * tree keeps its minor pauses short this way). */
START_TEST(building_shrinks_as_without_aging)
{
    struct nursery_sample s = sample(8 * MB, 5 * MS, 7 * MB, true);
    size_t with_aging = nursery_next(&s);
    s.aging = false;
    ck_assert_uint_eq(with_aging, nursery_next(&s));
    ck_assert_uint_le(with_aging, 8 * MB / 8 + 1);
}
END_TEST

/* Marking slow even for twice the survivors: half the target caps it. */
START_TEST(half_target_caps_the_aging_floor)
{
    struct nursery_sample s = sample(8 * MB, 20 * MS, 3 * MB, true);
    size_t n = nursery_next(&s);
    ck_assert_uint_le(n, 8 * MB / 8 + 1);   /* 8 MB * 2.5 / 20 */
    ck_assert_uint_ge(n, MIN_NURSERY);
}
END_TEST

START_TEST(grows_back_when_cheap)
{
    struct nursery_sample s = sample(1 * MB, 100000, 512 << 10, true);
    ck_assert_uint_eq(nursery_next(&s), 2 * MB);   /* under an eighth of the target */
    s.mark_ns = 1 * MS;                            /* over an eighth, under a quarter */
    ck_assert_uint_eq(nursery_next(&s), 1 * MB);
    s.marked = 32 << 10;                           /* but few survived */
    ck_assert_uint_eq(nursery_next(&s), 2 * MB);
    s.nursery = 8 * MB;                            /* at the cap */
    s.mark_ns = 100000;
    ck_assert_uint_eq(nursery_next(&s), 8 * MB);
}
END_TEST

START_TEST(never_below_the_minimum)
{
    struct nursery_sample s = sample(MIN_NURSERY, 50 * MS, MIN_NURSERY, false);
    ck_assert_uint_eq(nursery_next(&s), MIN_NURSERY);
    s.nursery = 256 << 10;   /* already under it: not raised by a shrink */
    ck_assert_uint_eq(nursery_next(&s), 256 << 10);
}
END_TEST

int main(void)
{
    return TU_RUN_TESTS("nursery", aged_survivors_bound_the_shrink, building_shrinks_as_without_aging,
                        half_target_caps_the_aging_floor, grows_back_when_cheap, never_below_the_minimum);
}
