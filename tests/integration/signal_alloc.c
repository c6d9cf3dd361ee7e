/* signal_alloc: cogc calls from signal handlers (docs/signals.md).  A
 * handler that interrupted code outside cogc allocates normally; one that
 * interrupted a cogc allocation, free, realloc, collection or
 * cogc_call_with_lock on its own thread is refused (allocation: NULL with
 * errno EDEADLK; each refusal reported), instead of corrupting the
 * thread's free lists or deadlocking on the heap lock. */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>

static atomic_int g_warnings;
static char g_last_warning[512];

static void count_warning(const char *msg)
{
    atomic_fetch_add(&g_warnings, 1);
    snprintf(g_last_warning, sizeof g_last_warning, "%s", msg);
}

static void *volatile g_from_handler;
static volatile int g_handler_errno;

static void alloc_in_handler(int sig)
{
    (void)sig;
    int saved = errno;
    errno = 0;
    void *p = cogc_malloc(48);
    g_handler_errno = errno;
    if (p)
        memset(p, 0x8d, 48);
    g_from_handler = p;
    errno = saved;
}

static void install(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
}

/* Interrupting code outside cogc: the allocation is served and kept. */
START_TEST(handler_outside_cogc_allocates)
{
    ck_assert_int_eq(cogc_init(), 0);
    install(SIGUSR1, alloc_in_handler);
    g_from_handler = NULL;
    raise(SIGUSR1);
    unsigned char *p = g_from_handler;
    ck_assert_ptr_nonnull(p);
    tu_collect_hard(2);
    ck_assert_uint_ge(cogc_size(p), 48);
    for (int i = 0; i < 48; i++)
        ck_assert_uint_eq(p[i], 0x8d);
}
END_TEST

/* Interrupting cogc_free (the warning procedure runs inside it, so the
 * signal raised there arrives in the middle of the call, on this thread). */
static int g_raise_in_warning;

static void raise_in_warning(const char *msg)
{
    count_warning(msg);
    if (g_raise_in_warning) {
        g_raise_in_warning = 0;
        raise(SIGUSR1);
    }
}

START_TEST(handler_inside_cogc_is_refused)
{
    ck_assert_int_eq(cogc_init(), 0);
    install(SIGUSR1, alloc_in_handler);
    cogc_set_warn_proc(raise_in_warning);
    int local;
    g_from_handler = (void *)1;
    g_handler_errno = 0;
    int before = atomic_load(&g_warnings);
    g_raise_in_warning = 1;
    cogc_free(&local);   /* reported: not a heap object; the report raises the signal */
    cogc_set_warn_proc(NULL);
    ck_assert_ptr_null(g_from_handler);
    ck_assert_int_eq(g_handler_errno, EDEADLK);
    ck_assert_int_eq(atomic_load(&g_warnings), before + 2);
    ck_assert_msg(strstr(g_last_warning, "cogc_malloc(48) from a signal handler") &&
                  strstr(g_last_warning, "refused"), "report: %s", g_last_warning);
    /* The thread's allocation works afterwards. */
    void *q = cogc_malloc(48);
    ck_assert_ptr_nonnull(q);
}
END_TEST

/* A handler that interrupted cogc_call_with_lock (its thread holds the
 * heap lock): collection and allocation are refused, not a deadlock.  In
 * a child with a time limit, so that a regression shows as a failure. */
static void collect_in_handler(int sig)
{
    (void)sig;
    cogc_collect();
    errno = 0;
    void *p = cogc_malloc(16);
    g_handler_errno = p ? -1 : errno;
}

static void *raise_with_lock(void *arg)
{
    (void)arg;
    raise(SIGUSR2);
    return (void *)1;
}

START_TEST(handler_inside_locked_region_is_refused)
{
    ck_assert_int_eq(cogc_init(), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tu_alarm(20);
        atomic_store(&g_warnings, 0);
        cogc_set_warn_proc(count_warning);
        install(SIGUSR2, collect_in_handler);
        g_handler_errno = 0;
        void *r = cogc_call_with_lock(raise_with_lock, NULL);
        /* 10 + what went wrong */
        if (r != (void *)1)
            _exit(11);
        if (g_handler_errno != EDEADLK)
            _exit(12);
        if (atomic_load(&g_warnings) != 2)
            _exit(13);
        cogc_collect();   /* the heap is usable afterwards */
        if (!cogc_malloc(16))
            _exit(14);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %#x (exit 11..14: see the test; SIGALRM: a deadlock)", status);
}
END_TEST

/* A timer signal lands anywhere in an allocation-heavy loop; its handler
 * allocates.  Every handler allocation is served or refused with EDEADLK,
 * and no object is damaged. */
#define RING 512
static void *volatile g_ring[RING];
static atomic_int g_served, g_refused, g_bad;

static void timer_alloc(int sig)
{
    (void)sig;
    int saved = errno;
    unsigned char *p = cogc_malloc(40);
    if (p) {
        memset(p, 0x9e, 40);
        int i = atomic_fetch_add(&g_served, 1);
        g_ring[i % RING] = p;
    } else if (errno == EDEADLK) {
        atomic_fetch_add(&g_refused, 1);
    } else {
        atomic_fetch_add(&g_bad, 1);
    }
    errno = saved;
}

START_TEST(timer_signals_during_allocation)
{
    ck_assert_int_eq(cogc_init(), 0);
    cogc_set_warn_proc(count_warning);
    install(SIGALRM, timer_alloc);
    struct itimerval it = {{0, 200}, {0, 200}};
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    struct tu_node *list = NULL;
    long n = 0;
    for (; n < 400000 && atomic_load(&g_served) + atomic_load(&g_refused) < 2000; n++) {
        struct tu_node *x = cogc_malloc(sizeof *x);
        ck_assert_ptr_nonnull(x);
        tu_node_init(x, 0x51, (size_t)n);
        x->next = list;
        list = x;
        if (n % 3 == 0)
            cogc_free(cogc_malloc(24 + (size_t)(n % 64)));
        if (n % 50000 == 0)
            cogc_collect();
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    cogc_set_warn_proc(NULL);
    tu_collect_hard(2);
    long i = n;
    for (struct tu_node *x = list; x; x = x->next)
        ck_assert_msg(tu_node_ok(x, 0x51, (size_t)--i), "list node %ld damaged", i);
    ck_assert_int_eq(i, 0);
    int served = atomic_load(&g_served);
    for (int k = 0; k < RING && k < served; k++) {
        unsigned char *p = g_ring[k];
        for (int b = 0; b < 40; b++)
            ck_assert_uint_eq(p[b], 0x9e);
    }
    ck_assert_int_eq(atomic_load(&g_bad), 0);
    ck_assert_int_gt(served, 0);
    printf("timer signals: %d allocations in handlers served, %d refused (interrupted cogc), %ld loop allocations\n",
           served, atomic_load(&g_refused), n);
}
END_TEST

int main(void)
{
    /* Under ThreadSanitizer a child forked from a multi-threaded process
     * runs with TSan's interceptors off, and raise() no longer runs the
     * handler before it returns: one marker keeps this process
     * single-threaded when the locked-region test forks. */
    if (TU_TSAN)
        setenv("COGC_MARKERS", "1", 1);
    Suite *s = suite_create("signal_alloc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, handler_outside_cogc_allocates);
    tcase_add_test(tc, handler_inside_cogc_is_refused);
    tcase_add_test(tc, handler_inside_locked_region_is_refused);
    tcase_add_test(tc, timer_signals_during_allocation);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
