/* Settling fresh blocks while an incremental cycle marks must not drop a
 * write the backend holds for a watched page.  Arming a page forgets what
 * was written to it (mprotect clears its bit, uffd write-protects it
 * again); watch.c joins arm runs over watched pages between them only in
 * a pause, after the take.  Joined while the program ran, an old object's
 * new pointer went unseen and its target was freed (threads_mutate on one
 * CPU: about 1 run in 7; the fuzzer's lost objects).
 *
 * Layout, from three large objects allocated in a row: L1 | L2 | L3, each
 * 10 pages.  L2 is old and marked (black) when the program stores into it
 * the only pointer to an unmarked object X; then L1 and L3 become fresh blocks
 * and are settled, in one call, as when the program made them during the
 * cycle.  The final pause must find X through L2.  One process per
 * backend (ctest entries); COGC_VERIFY stays off so that the test itself
 * reports the loss.  Then the same store, with an arm that fails while
 * the program runs. */
#define _GNU_SOURCE
#include "testutil.h"

#include "one_cpu_cycle.h"

#include "dirty.h"
#include "tracking.h"
#include "watch.h"

static void *volatile l1, *volatile l2, *volatile l3;

/* X's address, disguised: reachable from nothing until stored. */
static uintptr_t hidden_x;

static TU_NOINLINE void store_hidden_object(void) { ((void **)l2)[0] = (void *)(hidden_x ^ DISGUISE); }

static void make_fresh(void *p)
{
    struct object_ref o = ref_of(p);
    o.block->flags |= PF_FRESH;
    watch_young_block(o.block);
}

/* The large objects made so far become old and watched, X is made; a
 * cycle starts (every block armed) and marks to the end, so that L2 is
 * marked and scanned; then the program stores X into L2, a write the
 * backend holds for L2's armed page. */
static void start_cycle_and_store(void)
{
    cogc_collect();
    hidden_x = make_hidden_object();
    tu_clear_stack();
    start_cycle();
    mark_all();
    ck_assert(marked((void *)l2));
    ck_assert(!marked((void *)(hidden_x ^ DISGUISE)));
    store_hidden_object();
}

/* The final pause must have found X through L2, and X keeps its data. */
static void check_stored_object_kept(const char *why)
{
    cogc_collect();
    void *x = ((void **)l2)[0];
    ck_assert_msg(marked(x), "the object stored into an old page was not marked: %s", why);
    cogc_collect();
    cogc_collect();
    check_hidden_object(x);
}

START_TEST(settle_keeps_pending_write)
{
    l1 = cogc_malloc(BIG);
    l2 = cogc_malloc(BIG);
    l3 = cogc_malloc(BIG);
    ck_assert(l1 && l2 && l3);
    uintptr_t a = (uintptr_t)l1, b = (uintptr_t)l2, c = (uintptr_t)l3;
    if (!(b == a + 10 * 4096 && c == b + 10 * 4096)) {
        /* The layout is what the test is about: say so rather than pass. */
        ck_abort_msg("the three objects are not adjacent (%p %p %p): the test's layout assumption broke",
                     (void *)a, (void *)b, (void *)c);
    }
    start_cycle_and_store();

    heap_lock();
    make_fresh((void *)l1);
    make_fresh((void *)l3);
    watch_settle_fresh();   /* the world running, as in an incremental round */
    heap_unlock();

    check_stored_object_kept("its write was lost");
}
END_TEST

/* A selective arm that fails makes the collector arm the whole heap, which
 * forgets every write the backend holds; done while the program runs, the
 * next take must count every watched page as written.  The backend's
 * arm_range is replaced by one that fails once (ENOMEM, as mprotect does
 * at the map-count limit). */
static int (*real_arm_range)(void *addr, size_t len);
static int arm_failures_left;

static int failing_arm_range(void *addr, size_t len)
{
    if (arm_failures_left > 0) {
        arm_failures_left--;
        errno = ENOMEM;
        return -1;
    }
    return real_arm_range(addr, len);
}

START_TEST(failed_arm_keeps_pending_write)
{
    l1 = cogc_malloc(BIG);
    l2 = cogc_malloc(BIG);
    ck_assert(l1 && l2);
    start_cycle_and_store();

    struct dirty_backend *b = (struct dirty_backend *)dirty_find(tracking_backend_name());
    ck_assert_ptr_nonnull(b);
    real_arm_range = b->arm_range;
    b->arm_range = failing_arm_range;
    arm_failures_left = 1;
    heap_lock();
    make_fresh((void *)l1);
    watch_settle_fresh();   /* its arm fails: the whole heap is armed, the world running */
    heap_unlock();
    b->arm_range = real_arm_range;
    ck_assert_int_eq(arm_failures_left, 0);

    check_stored_object_kept("the whole-heap arm lost its write");
}
END_TEST

int main(void)
{
    one_cpu_cycle_setup();
    return TU_RUN_TESTS("settle_arming", settle_keeps_pending_write, failed_arm_keeps_pending_write);
}
