#include "nursery.h"

/* Shrink only when survivors made marking long (a busy machine that
 * preempts a short one is no reason): past a quarter of the target, to
 * where marking at the same rate and survival would take an eighth, at
 * least by half, never under MIN_NURSERY or a smaller COGC_MIN_TRIGGER
 * (to which a young generation grown past it, nursery_reach, shrinks
 * back), nor over what it was (a
 * preempted first minor collection that marked 32 KiB in 1.5 ms once
 * "shrank" a 256 KiB young generation to it); grow back under an eighth.
 * Marking then stays between an eighth and a quarter of the target, and a
 * pause that a busy machine stretches threefold still fits in it (GCBench
 * depth 22, which promotes its long-lived tree in minor collections, 15
 * runs against the bounds a half and a quarter: max pause 5.3 -> 2.7 ms,
 * p99 4.8 -> 2.1 ms, wall 1.22 -> 1.23 s).  Halving alone left a program
 * that goes on storing new objects into old ones (GCBench filling its
 * array after its long-lived tree was promoted) a minor pause as long as
 * the first.
 *
 * With aging, survivors under half of the young generation are aged, not
 * promoted: the structure the program was building when the collection
 * came, most often dead by the next one.  Shrunk below twice their size,
 * the next young generation is mostly such a structure, and its
 * survivors are promoted at once (more than half survived: aging.h) and
 * die old, for a full collection to find.  So such a shrink stops at
 * twice the survivors, unless marking would then pass half the target.
 * GCBench depth 16, whose last phase builds 4 MB trees one after another:
 * a minor collection that came when one was nearly built (3.7 MB marked
 * in 2.9 ms) shrank the young generation from 8 MB to 1.7; the minor
 * collections after it promoted the trees, two full collections more
 * came, 70-76 collections against 59-63, and the run took 0.29-0.31 s
 * against 0.21 (2 runs in 10).
 *
 * Growing back also when few survived (a sixteenth) and marking stayed
 * under a quarter: the rest of a minor collection's marking (roots,
 * finalization) does not grow with the young generation, and where it
 * alone passes an eighth (an empty minor collection marks for 0.9 ms under
 * ThreadSanitizer; a short COGC_PAUSE_TARGET_US) the young generation
 * never grew back. */
size_t nursery_next(const struct nursery_sample *s)
{
    size_t n = s->nursery;
    uint64_t target = s->target_ns, mark_ns = s->mark_ns;
    if (mark_ns > target / 4 && s->marked > n / 8) {
        double fit = (double)n * (double)(target / 8) / (double)mark_ns;
        size_t want = fit < (double)(n / 2) ? (size_t)fit : n / 2;
        if (s->aging && s->marked <= n / 2) {
            double half = (double)n * (double)(target / 2) / (double)mark_ns;
            double keep = 2.0 * (double)s->marked;
            if (keep > half)
                keep = half;
            if (keep > (double)want)
                want = keep < (double)n ? (size_t)keep : n;
        }
        size_t floor = s->base < MIN_NURSERY ? s->base : MIN_NURSERY;
        if (n < floor)
            floor = n;
        return want < floor ? floor : want;
    }
    if ((mark_ns < target / 8 || (s->marked < n / 16 && mark_ns <= target / 4)) && n < s->cap)
        return n * 2 < s->cap ? n * 2 : s->cap;
    return n;
}

/* Objects promoted and found dead by the next full collection were
 * promoted too early: they outlived two minor collections (aging.h) but
 * not the structure they belonged to.  Each full collection that finds
 * most of a young generation's worth of promoted bytes dead lets the
 * young generation grow by half, up to twice COGC_MIN_TRIGGER; one that
 * finds most of them alive (a structure the program keeps: promoting it
 * was right) brings it back by a third.  Guile's gcbench.scm builds 6 MB
 * trees one after another: with 8 MB between minor collections, the ones
 * that came while a tree was half built kept it aged, and the next one
 * found it still building and promoted it (0.5 MB each, 20-25 minor
 * collections between cycles, 8-10 MB of each cycle's 11-13 MB promoted
 * found dead).  That happened in half the runs, which took 170-190 minor
 * collections against 70 and 1.0-1.1 s against 0.87; with 12 MB the
 * trees died aged and every run took 68 collections (0.76-0.86 s, peak
 * RSS the same 60 MB). */
static uint64_t died(const struct promotion_sample *s)
{
    return s->old_before > s->live_after ? s->old_before - s->live_after : 0;
}

bool nursery_promoted_early(const struct promotion_sample *s)
{
    return s->promoted >= s->base && died(s) >= s->promoted / 2;
}

size_t nursery_reach(const struct promotion_sample *s)
{
    size_t reach = s->reach < s->base ? s->base : s->reach;
    if (s->promoted < s->base)
        return reach;   /* too few promoted to tell */
    if (nursery_promoted_early(s)) {
        size_t grown = reach + reach / 2, most = 2 * s->base;
        return grown < most ? grown : most;
    }
    if (died(s) < s->promoted / 4) {
        size_t shrunk = reach - reach / 3;
        return shrunk < s->base ? s->base : shrunk;
    }
    return reach;
}
