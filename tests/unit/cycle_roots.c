/* An incremental cycle scans its roots again between rounds of marking
 * (collect_cycle_roots, called by incremental.c's rounds), so that what
 * the program hung from its roots while the marker ran is marked before
 * the final pause instead of in it.
 *
 * 1. A list made before the cycle, reachable from nothing while the marker
 *    runs, is then stored in a static root: the first round (an
 *    allocation-paced step once the marker is out of work) marks its head
 *    and lets the marker take the rest, before any final pause.
 * 2. A traced object's procedure reports an object of a block made during
 *    the cycle (fresh: not armed, so the concurrent marker defers its
 *    objects).  The round marks it without deferring, so it must first
 *    arm that block: the program then stores into it the only pointer to
 *    an unmarked object, and the final pause must find that object.
 *
 * One CPU, so no background marker: nothing marks but the test.  One
 * process per backend (ctest entries); COGC_VERIFY stays off so that the
 * test itself reports the loss. */
#define _GNU_SOURCE
#include "testutil.h"

#include "one_cpu_cycle.h"

#define NODES 1000

struct node {
    struct node *next;
    uint64_t tag;
};

/* Start a cycle and mark everything it can reach, as the marker would
 * before its first round. */
static void start_cycle_and_mark_all(void)
{
    start_cycle();
    mark_all();
}

static uintptr_t hidden_list;
static struct node *volatile list_root;

static TU_NOINLINE void make_hidden_list(void)
{
    struct node *head = NULL;
    for (uint64_t i = 0; i < NODES; i++) {
        struct node *n = cogc_malloc(sizeof *n);
        ck_assert_ptr_nonnull(n);
        n->next = head;
        n->tag = 0xC0DE000000000000ull | i;
        head = n;
    }
    hidden_list = (uintptr_t)head ^ DISGUISE;
}

START_TEST(round_marks_what_the_roots_gained)
{
    cogc_collect();
    make_hidden_list();
    tu_clear_stack();
    start_cycle_and_mark_all();
    list_root = (struct node *)(hidden_list ^ DISGUISE);
    ck_assert(!marked(list_root));

    /* The marker is out of work: the next paced step starts a round.
     * Checked after the lock is let go (a failed check leaves the test). */
    heap_lock();
    bool done = incremental_paced_step(0, true);
    while (mark_step(SIZE_MAX))
        ;
    bool still_marking = incremental_marking();
    size_t n = 0, first_unmarked = SIZE_MAX;
    for (struct node *p = list_root; p; p = p->next, n++)
        if (!marked(p) && first_unmarked == SIZE_MAX)
            first_unmarked = n;
    heap_unlock();
    ck_assert(!done && still_marking);   /* no final pause yet */
    ck_assert_msg(first_unmarked == SIZE_MAX, "node %zu of the list hung from a root was not marked by the round",
                  first_unmarked);
    ck_assert_uint_eq(n, NODES);

    cogc_collect();
    n = 0;
    for (struct node *p = list_root; p; p = p->next, n++)
        ck_assert_uint_eq(p->tag, 0xC0DE000000000000ull | (NODES - 1 - n));
    ck_assert_uint_eq(n, NODES);
}
END_TEST

/* The traced object reports whatever `reported` holds (disguised). */
static uintptr_t reported;
static void report(void *obj, void *env)
{
    (void)obj;
    (void)env;
    if (reported)
        cogc_trace_mark((void *)(reported ^ DISGUISE));
}

static void *volatile traced_root;
/* Marking left when the test allocates during the cycle: more than one
 * allocation-paced step does, so that step cannot end the cycle. */
#define BALLAST 64
static void **volatile ballast;
static uintptr_t hidden_x;

static TU_NOINLINE void make_traced_and_hidden(void)
{
    traced_root = cogc_malloc_traced(32, report, NULL);
    ck_assert_ptr_nonnull(traced_root);
    hidden_x = make_hidden_object();
    ballast = cogc_malloc(BALLAST * sizeof *ballast);
    ck_assert_ptr_nonnull(ballast);
    for (int i = 0; i < BALLAST; i++) {
        ballast[i] = cogc_malloc(BIG);
        ck_assert_ptr_nonnull(ballast[i]);
    }
}

/* Made while the cycle marks: its block is fresh.  Only `reported` (seen
 * by the traced object's procedure) holds it. */
static TU_NOINLINE void make_fresh_object(void)
{
    void **f = cogc_malloc(BIG);
    ck_assert_ptr_nonnull(f);
    memset(f, 0, BIG);
    reported = (uintptr_t)f ^ DISGUISE;
}

static TU_NOINLINE void store_hidden_into_fresh(void)
{
    void **f = (void **)(reported ^ DISGUISE);
    f[1] = (void *)(hidden_x ^ DISGUISE);
}

START_TEST(round_arms_what_a_traced_object_reports)
{
    cogc_collect();
    make_traced_and_hidden();
    tu_clear_stack();
    start_cycle();
    make_fresh_object();
    tu_clear_stack();
    ck_assert(incremental_marking());
    mark_all();

    heap_lock();
    collect_cycle_roots();
    while (mark_step(SIZE_MAX))   /* the marker scans it, as yet without x */
        ;
    heap_unlock();
    void **f = (void **)(reported ^ DISGUISE);
    ck_assert_msg(marked(f), "the round did not mark what the traced object reported");
    ck_assert(!marked((void *)(hidden_x ^ DISGUISE)));
    f = NULL;
    store_hidden_into_fresh();   /* after the round marked (and may scan) it */

    cogc_collect();   /* the final pause */
    void *x = (void *)(hidden_x ^ DISGUISE);
    ck_assert_msg(marked(x), "the object stored into a reported fresh object was lost");
    cogc_collect();
    cogc_collect();
    ck_assert_ptr_eq(((void **)(reported ^ DISGUISE))[1], x);
    check_hidden_object(x);
}
END_TEST

int main(void)
{
    one_cpu_cycle_setup();
    return TU_RUN_TESTS("cycle_roots", round_marks_what_the_roots_gained, round_arms_what_a_traced_object_reports);
}
