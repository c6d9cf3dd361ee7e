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
        .nursery = nursery, .mark_ns = mark_ns, .marked = marked, .target_ns = 5 * MS, .cap = 8 * MB, .base = 8 * MB, .aging = aging};
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
    /* COGC_MIN_TRIGGER under it, the young generation grown past that
     * (nursery_reach): a shrink goes back down to it, not to the minimum. */
    s.base = 256 << 10;
    s.nursery = MIN_NURSERY;
    ck_assert_uint_eq(nursery_next(&s), 256 << 10);
}
END_TEST

static struct promotion_sample promotion(size_t reach, uint64_t promoted, uint64_t died)
{
    uint64_t old = 15 * MB + promoted;
    return (struct promotion_sample){
        .reach = reach, .base = 8 * MB, .promoted = promoted, .old_before = old, .live_after = old - died};
}

/* Guile's gcbench.scm: 10.8 MB promoted between two cycles, 7.8 MB of it
 * found dead.  The young generation may grow by half, then to twice
 * COGC_MIN_TRIGGER and no further. */
START_TEST(early_promotion_grows_the_reach)
{
    struct promotion_sample s = promotion(0, 108 * MB / 10, 78 * MB / 10);
    ck_assert(nursery_promoted_early(&s));
    ck_assert_uint_eq(nursery_reach(&s), 12 * MB);
    s.reach = 12 * MB;
    ck_assert_uint_eq(nursery_reach(&s), 16 * MB);
    s.reach = 16 * MB;
    ck_assert_uint_eq(nursery_reach(&s), 16 * MB);
}
END_TEST

/* Promoted bytes that stay alive (GCBench depth 22's long-lived tree,
 * built by minor collections) bring the reach back towards the base;
 * too few promoted, or half-dead ones, leave it where it is. */
START_TEST(kept_promotion_shrinks_the_reach)
{
    struct promotion_sample s = promotion(16 * MB, 20 * MB, 1 * MB);
    ck_assert(!nursery_promoted_early(&s));
    ck_assert_uint_eq(nursery_reach(&s), 16 * MB - 16 * MB / 3);
    s.reach = 9 * MB;
    ck_assert_uint_eq(nursery_reach(&s), 8 * MB);
    s = promotion(12 * MB, 4 * MB, 4 * MB);   /* under a young generation's worth */
    ck_assert(!nursery_promoted_early(&s));
    ck_assert_uint_eq(nursery_reach(&s), 12 * MB);
    s = promotion(12 * MB, 12 * MB, 4 * MB);  /* a third died: no sign either way */
    ck_assert_uint_eq(nursery_reach(&s), 12 * MB);
    s = promotion(0, 0, 0);                   /* the first full collection */
    ck_assert_uint_eq(nursery_reach(&s), 8 * MB);
}
END_TEST

/* More died than was promoted (old objects died too): still early, and
 * the arithmetic does not wrap when the collection found more than
 * before (objects born marked, counted anyway). */
START_TEST(reach_survives_odd_counts)
{
    struct promotion_sample s = promotion(8 * MB, 10 * MB, 14 * MB);
    ck_assert(nursery_promoted_early(&s));
    s.live_after = s.old_before + 5 * MB;
    ck_assert(!nursery_promoted_early(&s));
    ck_assert_uint_eq(nursery_reach(&s), 8 * MB);
}
END_TEST

int main(void)
{
    return TU_RUN_TESTS("nursery", aged_survivors_bound_the_shrink, building_shrinks_as_without_aging,
                        half_target_caps_the_aging_floor, grows_back_when_cheap, never_below_the_minimum,
                        early_promotion_grows_the_reach, kept_promotion_shrinks_the_reach,
                        reach_survives_odd_counts);
}
