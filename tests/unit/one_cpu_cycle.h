/* Set-up of the unit tests that drive an incremental cycle by hand: one
 * CPU, so no background marker and nothing marks or settles but the test
 * (allocation-paced steps run only in the allocation slow path); the
 * backend COGC_DIRTY names, or a skip; incremental collection on, or a
 * skip.  Include after testutil.h. */
#ifndef COGC_TEST_ONE_CPU_CYCLE_H
#define COGC_TEST_ONE_CPU_CYCLE_H

#include <sched.h>

#include "incremental.h"

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

#endif
