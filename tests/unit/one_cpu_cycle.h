/* Shared by the unit tests that drive an incremental cycle by hand.
 *
 * Set-up: one CPU, so no background marker and nothing marks or settles
 * but the test (allocation-paced steps run only in the allocation slow
 * path); the backend COGC_DIRTY names, or a skip; incremental collection
 * on, or a skip.  Then helpers to start a cycle, mark to the end (mark
 * bits: mark_bits.h), and a 64-byte object whose address only a disguised
 * word holds.  Include after testutil.h. */
#ifndef COGC_TEST_ONE_CPU_CYCLE_H
#define COGC_TEST_ONE_CPU_CYCLE_H

#include <sched.h>

#include "collect.h"
#include "incremental.h"
#include "lock.h"
#include "mark.h"
#include "mark_bits.h"

/* An address xor this is no pointer: static data is scanned as a root. */
#define DISGUISE 0xA5A5A5A5A5A5A5A5ull
#define BIG (10 * 4096 - 64)   /* over the small-object limit: 10 pages of its own */
#define HIDDEN_WORD(i) (0xF00D000000000000ull | (uint64_t)(i))

static void one_cpu_cycle_setup(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0)
        perror("sched_setaffinity");
    tu_require_dirty_backend();
    if (!incremental_enabled()) {
        printf("SKIP: incremental collection is off (COGC_INCREMENTAL=1 not set, or the backend cannot watch)\n");
        exit(77);
    }
}

/* Checked after the lock is let go: a failed check leaves the test. */
static TU_UNUSED void start_cycle(void)
{
    heap_lock();
    collect_locked(COLLECT_TRIGGER);
    bool on = incremental_marking();
    heap_unlock();
    ck_assert(on);
}

/* Mark everything the cycle can reach, as the marker would before a round. */
static TU_UNUSED void mark_all(void)
{
    heap_lock();
    while (mark_step(SIZE_MAX))
        ;
    heap_unlock();
}

/* A 64-byte object of HIDDEN_WORDs, made before the cycle (an allocation
 * during it could end it: the slow path paces the marking); returns its
 * address xor DISGUISE. */
static TU_UNUSED TU_NOINLINE uintptr_t make_hidden_object(void)
{
    uint64_t *x = cogc_malloc(64);
    ck_assert_ptr_nonnull(x);
    for (int i = 0; i < 8; i++)
        x[i] = HIDDEN_WORD(i);
    return (uintptr_t)x ^ DISGUISE;
}

static TU_UNUSED void check_hidden_object(const void *x)
{
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(((const uint64_t *)x)[i], HIDDEN_WORD(i));
}

#endif
