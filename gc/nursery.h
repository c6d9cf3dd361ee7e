/* The size of the young generation in generational mode: how many bytes
 * the program allocates between two minor collections, adapted after each
 * one from what it marked and how long that took.  A pure function, so
 * that the rule is tested with the numbers it is about (tests/unit). */
#ifndef COGC_NURSERY_H
#define COGC_NURSERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Never shrunk below this (nor grown from under it only by shrinking). */
#define MIN_NURSERY ((size_t)512 << 10)

struct nursery_sample {
    size_t nursery;      /* the young generation the minor collection had */
    uint64_t mark_ns;    /* its marking, finalization included */
    uint64_t marked;     /* bytes it marked: the survivors */
    uint64_t target_ns;  /* COGC_PAUSE_TARGET_US */
    size_t cap;          /* the most it may grow to */
    bool aging;          /* survivors under half of it stay young once more (aging.h) */
};

/* The young generation for the next minor collection. */
size_t nursery_next(const struct nursery_sample *s);

#endif
