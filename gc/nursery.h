/* The size of the young generation in generational mode: how many bytes
 * the program allocates between two minor collections, adapted after each
 * one from what it marked and how long that took.  A pure function, so
 * that the rule is tested with the numbers it is about (tests/unit). */
#ifndef COGC_NURSERY_H
#define COGC_NURSERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Never shrunk below this, or below COGC_MIN_TRIGGER when that is smaller
 * (nor grown from under it only by shrinking). */
#define MIN_NURSERY ((size_t)512 << 10)

struct nursery_sample {
    size_t nursery;      /* the young generation the minor collection had */
    uint64_t mark_ns;    /* its marking, finalization included */
    uint64_t marked;     /* bytes it marked: the survivors */
    uint64_t target_ns;  /* COGC_PAUSE_TARGET_US */
    size_t cap;          /* the most it may grow to */
    size_t base;         /* COGC_MIN_TRIGGER (under MIN_NURSERY: the floor instead) */
    bool aging;          /* survivors under half of it stay young once more (aging.h) */
};

/* The young generation for the next minor collection. */
size_t nursery_next(const struct nursery_sample *s);

/* What a full collection (or an incremental cycle) found of the bytes
 * minor collections promoted since the one before. */
struct promotion_sample {
    size_t reach;          /* the most the young generation could grow to so far */
    size_t base;           /* COGC_MIN_TRIGGER: the reach to start from */
    uint64_t promoted;     /* bytes promoted since the full collection before */
    uint64_t old_before;   /* the old generation before this one: live then + promoted */
    uint64_t live_after;   /* what this one found live */
};

/* Most of a young generation's worth of promoted bytes died old. */
bool nursery_promoted_early(const struct promotion_sample *s);
/* The most the young generation may grow to until the next full collection. */
size_t nursery_reach(const struct promotion_sample *s);

#endif
