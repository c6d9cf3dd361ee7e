/* Incremental mode gives up a minor collection whose pause passes half
 * COGC_PAUSE_TARGET_US while the old generation is small next to the
 * young one (collect.c, minor_deadline); an incremental cycle follows.
 *
 * 1. The first minor collection, on two markers, keeps a young list far
 *    larger than a 50 us pause can mark: it is given up (counted), the
 *    next triggered collection starts a cycle, and every node survives.
 * 2. Aged objects (survivors of one minor collection, their marks cleared
 *    by the next one while it runs) get their marks back when it is given
 *    up: the sweeps that run before the cycle clears the marks would
 *    otherwise free them.
 * 3. With an old generation over four young ones, the same minor
 *    collection is not given up.
 *
 * COGC_PAUSE_TARGET_US=100 (the deadline: 50 us after the world stops),
 * COGC_MIN_TRIGGER large so that only the test collects, two markers. */
#define _GNU_SOURCE
#include "testutil.h"

#include "block.h"
#include "collect.h"
#include "incremental.h"
#include "lock.h"
#include "mark_bits.h"

#define YOUNG_NODES 60000   /* 3.7 MiB of 64-byte nodes: milliseconds to mark */
#define AGED_NODES 2000

static struct tu_node *volatile young_root, *volatile aged_root, *volatile old_root;

static void check_list(const struct tu_node *head, size_t n, uint64_t seed, const char *what)
{
    size_t bad = tu_list_bad(head, n, seed);
    ck_assert_msg(!bad, "%s: %zu of %zu nodes lost or overwritten", what, bad, n);
}

static struct tu_node *make_list(size_t n, uint64_t seed)
{
    struct tu_node *l = tu_list_make(n, seed);
    ck_assert_ptr_nonnull(l);
    return l;
}

static struct cogc_stats stats(void)
{
    struct cogc_stats s;
    ck_assert_int_eq(cogc_get_stats(&s, sizeof s), 0);
    return s;
}

/* A collection as allocation triggers it; returns whether a cycle runs. */
static bool triggered_collection(void)
{
    heap_lock();
    collect_locked(COLLECT_TRIGGER);
    bool cycle = incremental_marking();
    heap_unlock();
    return cycle;
}

START_TEST(first_minor_given_up)
{
    cogc_collect();
    young_root = make_list(YOUNG_NODES, 1);
    tu_clear_stack();
    struct cogc_stats before = stats();
    ck_assert(!triggered_collection());   /* the minor collection, given up */
    struct cogc_stats after = stats();
    ck_assert_uint_eq(after.minors_given_up, before.minors_given_up + 1);
    ck_assert_uint_eq(after.collections, before.collections);
    check_list(young_root, YOUNG_NODES, 1, "young list after the given-up minor collection");
    ck_assert(triggered_collection());    /* then a cycle */
    cogc_collect();                       /* finished */
    check_list(young_root, YOUNG_NODES, 1, "young list after the cycle");
    young_root = NULL;
}
END_TEST

START_TEST(aged_marks_given_back)
{
    cogc_collect();
    aged_root = make_list(AGED_NODES, 2);
    tu_churn(64, (1 << 20) / 64);   /* the survivors a small part of the young generation: aged */
    tu_clear_stack();
    cogc_collect_minor();
    ck_assert_msg(ref_of(aged_root).block->flags & PF_AGED, "the list was not aged: the test would prove nothing");

    young_root = make_list(YOUNG_NODES, 1);
    tu_clear_stack();
    uint64_t given_up = stats().minors_given_up;
    ck_assert(!triggered_collection());
    ck_assert_uint_eq(stats().minors_given_up, given_up + 1);
    heap_lock();
    size_t unmarked = 0;
    for (const struct tu_node *p = aged_root; p; p = p->next)
        unmarked += !marked(p);
    blocks_sweep_all();   /* what the cycle's start does first */
    heap_unlock();
    ck_assert_msg(!unmarked, "%zu aged nodes left unmarked by the given-up minor collection", unmarked);
    check_list(aged_root, AGED_NODES, 2, "aged list after the sweep");
    cogc_collect();
    check_list(aged_root, AGED_NODES, 2, "aged list after a full collection");
    check_list(young_root, YOUNG_NODES, 1, "young list after a full collection");
    aged_root = young_root = NULL;
}
END_TEST

START_TEST(large_old_generation_keeps_the_minor)
{
    old_root = make_list(5 * YOUNG_NODES, 3);
    tu_clear_stack();
    cogc_collect();
    young_root = make_list(YOUNG_NODES, 1);
    tu_clear_stack();
    struct cogc_stats before = stats();
    ck_assert(!triggered_collection());
    struct cogc_stats after = stats();
    ck_assert_uint_eq(after.minors_given_up, before.minors_given_up);
    ck_assert_uint_eq(after.minor_collections, before.minor_collections + 1);
    check_list(young_root, YOUNG_NODES, 1, "young list");
    check_list(old_root, 5 * YOUNG_NODES, 3, "old list");
    old_root = young_root = NULL;
}
END_TEST

int main(void)
{
    tu_require_dirty_backend();
    if (!incremental_enabled() || !collect_generational()) {
        printf("SKIP: incremental generational collection is off (COGC_INCREMENTAL=1 and COGC_GENERATIONAL=1 "
               "not set, or the backend cannot watch)\n");
        return 77;
    }
    return TU_RUN_TESTS("minor_give_up", first_minor_given_up, aged_marks_given_back,
                        large_old_generation_keeps_the_minor);
}
