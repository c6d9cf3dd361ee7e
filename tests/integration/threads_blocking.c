/* Blocking regions (cogc_do_blocking, bdwgc's GC_do_blocking): a thread
 * inside one is not stopped by collections (the stop signal, SIGPWR, is
 * blocked in it here: a collection that waited for it would hang), its
 * stack above the region is still scanned, and cogc_call_with_gc_active
 * makes it an ordinary thread again for a while. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <unistd.h>

#define STOP_SIGNAL SIGPWR
#define NODES 2000

struct node {
    struct node *next;
    uint64_t v[3];
};

static int to_thread[2], to_main[2];

/* Retried on EINTR: under ThreadSanitizer a collection interrupts a
 * thread blocked in a system call (docs/sanitizers.md). */
static void say(int fd, char c)
{
    ssize_t n;
    while ((n = write(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    ck_assert_int_eq(n, 1);
}
static char hear(int fd)
{
    char c = 0;
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    ck_assert_int_eq(n, 1);
    return c;
}

static void block_stop_signal(int how)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, STOP_SIGNAL);
    ck_assert_int_eq(pthread_sigmask(how, &s, NULL), 0);
}

static TU_NOINLINE struct node *make_list(uint64_t seed)
{
    struct node *head = NULL;
    for (uint64_t i = 0; i < NODES; i++) {
        struct node *n = cogc_malloc(sizeof *n);
        ck_assert_ptr_nonnull(n);
        n->next = head;
        tu_fill(n->v, sizeof n->v, seed + i);
        head = n;
    }
    return head;
}

static TU_NOINLINE bool check_list(const struct node *n, uint64_t seed)
{
    for (uint64_t i = NODES; i-- > 0; n = n->next)
        if (!n || !tu_check(n->v, sizeof n->v, seed + i))
            return false;
    return n == NULL;
}

/* Main: collections while the thread waits in its region. */
static void collect_while_blocked(void)
{
    ck_assert_int_eq(hear(to_main[0]), 'b');
    tu_collect_hard(2);
    say(to_thread[1], 'c');
}

/* ---- a blocked thread is neither stopped nor forgotten ------------------ */

static void *wait_in_region(void *arg)
{
    (void)arg;
    say(to_main[1], 'b');
    return (void *)(uintptr_t)hear(to_thread[0]);
}

static void *blocked_thread(void *arg)
{
    (void)arg;
    /* Only on this thread's stack, above the region. */
    struct node *volatile list = make_list(11);
    block_stop_signal(SIG_BLOCK);
    void *r = cogc_do_blocking(wait_in_region, NULL);
    block_stop_signal(SIG_UNBLOCK);
    ck_assert_ptr_eq(r, (void *)(uintptr_t)'c');
    return (void *)(uintptr_t)check_list(list, 11);
}

START_TEST(blocked_thread_not_stopped)
{
    tu_alarm(60);   /* a collection waiting for the blocked thread hangs */
    pthread_t t;
    ck_assert_int_eq(cogc_pthread_create(&t, NULL, blocked_thread, NULL), 0);
    collect_while_blocked();
    void *ok;
    ck_assert_int_eq(pthread_join(t, &ok), 0);
    ck_assert_msg(ok == (void *)1, "the blocked thread's list was collected");
    alarm(0);
}
END_TEST

/* ---- active again inside a region, then blocked again --------------------- */

static void *active_part(void *arg)
{
    struct node *outer = arg;
    struct node *volatile inner = make_list(23);
    tu_collect_hard(1);   /* this thread collects: ordinary, stoppable */
    return (void *)(uintptr_t)(check_list(inner, 23) && check_list(outer, 17));
}

static void *region_with_active_part(void *arg)
{
    void *ok = cogc_call_with_gc_active(active_part, arg);
    block_stop_signal(SIG_BLOCK);   /* blocked again: not stopped */
    say(to_main[1], 'b');
    ck_assert_int_eq(hear(to_thread[0]), 'c');
    block_stop_signal(SIG_UNBLOCK);
    return ok;
}

static void *active_thread(void *arg)
{
    (void)arg;
    struct node *volatile list = make_list(17);
    void *ok = cogc_do_blocking(region_with_active_part, list);
    return (void *)(uintptr_t)(ok == (void *)1 && check_list(list, 17));
}

START_TEST(active_inside_region)
{
    tu_alarm(60);
    pthread_t t;
    ck_assert_int_eq(cogc_pthread_create(&t, NULL, active_thread, NULL), 0);
    collect_while_blocked();
    void *ok;
    ck_assert_int_eq(pthread_join(t, &ok), 0);
    ck_assert_msg(ok == (void *)1, "a list of the thread was collected");
    alarm(0);
}
END_TEST

/* ---- nested regions, and outside any: fn is just called ------------------ */

static void *plus_one(void *arg) { return (char *)arg + 1; }
static void *nested(void *arg) { return cogc_do_blocking(plus_one, arg); }

START_TEST(nested_and_plain_calls)
{
    ck_assert_ptr_eq(cogc_do_blocking(nested, (void *)0x1000), (void *)0x1001);
    ck_assert_ptr_eq(cogc_call_with_gc_active(plus_one, (void *)0x2000), (void *)0x2001);
}
END_TEST

int main(void)
{
    if (pipe(to_thread) != 0 || pipe(to_main) != 0)
        return 1;
    Suite *s = suite_create("threads_blocking");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, blocked_thread_not_stopped);
    tcase_add_test(tc, active_inside_region);
    tcase_add_test(tc, nested_and_plain_calls);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
