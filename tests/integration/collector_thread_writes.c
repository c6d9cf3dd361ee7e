/* The collector's own threads write to the heap: the background marker's
 * final pause clears the weak links of dead objects, and a link sits
 * (hidden) in an ordinary heap object whose page the dirty backend has
 * armed.  With the mprotect backend that write raises SIGSEGV on the
 * collector thread, which must be able to take it: a thread with the
 * fault signals blocked is killed by the kernel instead (the notice
 * thread's sweep at a cgroup limit did just that).  The program does not
 * allocate while the cycle ends, so the final pause is the background
 * marker's. */
#define _GNU_SOURCE
#include "testutil.h"

#include <sched.h>

#define LINKS 4096

static uintptr_t *g_holder;          /* hidden pointers: the links */
static void *g_strong[LINKS];        /* the targets' only references, until dropped */

static TU_NOINLINE void make_links(void)
{
    g_holder = cogc_malloc(LINKS * sizeof *g_holder);
    ck_assert_ptr_nonnull(g_holder);
    for (int i = 0; i < LINKS; i++) {
        g_strong[i] = cogc_malloc_atomic(64);
        ck_assert_ptr_nonnull(g_strong[i]);
        g_holder[i] = ~(uintptr_t)g_strong[i];
        ck_assert_int_eq(cogc_register_disappearing_link((void **)&g_holder[i], g_strong[i]), 0);
    }
}

static size_t links_left(void)
{
    size_t left = 0;
    for (int i = 0; i < LINKS; i++)
        left += g_holder[i] != 0;
    return left;
}

static int usable_cpus(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

START_TEST(background_final_pause_clears_links)
{
    tu_require_dirty_backend();
    if (usable_cpus() < 2) {
        printf("SKIP: one CPU: no background marker, the program runs every final pause\n");
        exit(77);
    }
    if (cogc_set_incremental(1) != 0) {
        printf("SKIP: incremental collection unavailable here (%s)\n", strerror(errno));
        exit(77);
    }
    tu_alarm(120);
    struct cogc_stats base;
    for (;;) {
        /* Links to live targets, all settled (no cycle running), then the
         * targets dropped. */
        make_links();
        tu_clear_stack();
        cogc_collect();
        ck_assert_uint_eq(links_left(), LINKS);
        memset(g_strong, 0, sizeof g_strong);
        base = tu_stats();
        /* Garbage until a cycle starts (a pause without a finished
         * collection); one that also ended under our allocation cleared
         * the links itself: again. */
        struct cogc_stats st;
        do {
            tu_churn(64, 256);
            st = tu_stats();
        } while (st.collections == base.collections && st.pauses == base.pauses);
        if (st.collections == base.collections)
            break;
    }
    /* Idle: only the background marker can end this cycle. */
    while (tu_stats().collections == base.collections)
        sched_yield();
    /* Conservative: a stale copy of a target pointer may keep one alive. */
    size_t left = links_left();
    ck_assert_msg(left <= LINKS / 100, "%zu of %d links to dead objects not cleared by the background final pause",
                  left, LINKS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("collector_thread_writes");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, background_final_pause_clears_links);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
