/* Fault injection on the collector's threads (gc/os.h: os_fail_site).
 *  - The stop-the-world signal to a thread fails once (EAGAIN, as when the
 *    kernel cannot queue it): the collection retries and completes, and
 *    the data of every thread survives.
 *  - It fails every time: the collector must not collect with that thread
 *    running (its stack unscanned); it reports "cogc: fatal:" naming the
 *    thread and aborts, and does not hang.
 *  - The uffd backend's fault handler cannot read the fault descriptor
 *    (its thread would die and leave writers waiting forever): a write to
 *    a protected page ends in a fatal report naming the handler, not in a
 *    hang.
 * Each case runs in a child process with a time limit. */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "os.h"

#define RUN_SECONDS 60
enum { OK = 0, DAMAGED = 1, NOT_REACHED = 2, WRONG_BACKEND = 3, NO_MEMORY = 4, NO_INIT = 5, NO_THREAD = 6 };

static atomic_int stop_workers, workers_ready;

/* Keeps a list on its stack only and checks it at the end.  It runs until
 * told to stop *and* its list is complete: under ThreadSanitizer the main
 * thread's collections can be over before a worker has made LIST_LEN
 * nodes, and a shorter list is not damage. */
#define LIST_LEN 5000
static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    struct tu_node *list = NULL;
    atomic_fetch_add(&workers_ready, 1);
    for (size_t i = 0; !atomic_load(&stop_workers) || i < LIST_LEN; i++) {
        if (i < LIST_LEN) {
            struct tu_node *n = cogc_malloc(sizeof *n);
            if (!n)
                return (void *)(intptr_t)NO_MEMORY;
            tu_node_init(n, seed, i);
            n->next = list;
            list = n;
        } else {
            void *g = cogc_malloc(48);   /* garbage: keeps collections coming */
            (void)g;
        }
    }
    size_t i = LIST_LEN;   /* the list runs from the last node made to the first */
    for (struct tu_node *n = list; n; n = n->next)
        if (i == 0 || !tu_node_ok(n, seed, --i))
            return (void *)(intptr_t)DAMAGED;
    return (void *)(intptr_t)(i == 0 ? OK : DAMAGED);
}

/* Two registered threads allocating, the main thread collecting with the
 * chosen signal failure armed before each collection. */
static int signal_case(bool always)
{
    if (cogc_init() != 0)
        return NO_INIT;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (cogc_pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 3)) != 0)
            return NO_THREAD;
    while (atomic_load(&workers_ready) < 2)
        sched_yield();
    bool failed = false;
    for (int k = 0; k < 20; k++) {
        os_fail_site(OS_SITE_SIGNAL, always);
        cogc_collect();
        failed |= os_fault_failed_site() == OS_SITE_SIGNAL;
    }
    os_fail_site(OS_SITE_COUNT, false);
    atomic_store(&stop_workers, 1);
    int rc = OK;
    for (int i = 0; i < 2; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        if (rc == OK)
            rc = (int)(intptr_t)ret;
    }
    return rc == OK && !failed ? NOT_REACHED : rc;
}

/* Generational mode on the uffd backend: after a collection the surviving
 * objects' pages are write-protected; the handler fails on the next fault. */
static int handler_case(void)
{
    setenv("COGC_DIRTY", "uffd", 1);
    setenv("COGC_GENERATIONAL", "1", 1);
    if (cogc_init() != 0)
        return NO_INIT;
    struct cogc_stats st;
    cogc_get_stats(&st, sizeof st);
    if (strcmp(st.dirty_backend, "uffd") != 0)
        return WRONG_BACKEND;
    enum { N = 4096 };
    uint64_t **v = cogc_malloc(N * sizeof *v);
    for (size_t i = 0; i < N; i++) {
        v[i] = cogc_malloc(64);
        v[i][0] = tu_word(9, i);
    }
    cogc_collect();
    cogc_collect();
    os_fail_site(OS_SITE_FAULT_HANDLER, false);
    for (size_t i = 0; i < N; i++)
        v[i][1] = tu_word(10, i);   /* old pages: the first store faults */
    return NOT_REACHED;
}

struct outcome { int status; char err[4096]; };

static void run_child(int (*fn)(void *), void *arg, struct outcome *o)
{
    FILE *err = tmpfile();
    ck_assert_ptr_nonnull(err);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tu_alarm(RUN_SECONDS);
        dup2(fileno(err), 2);
        _exit(fn(arg));
    }
    ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
    size_t n = (size_t)pread(fileno(err), o->err, sizeof o->err - 1, 0);
    o->err[n < sizeof o->err ? n : 0] = '\0';
    fclose(err);
    ck_assert_msg(!WIFSIGNALED(o->status) || WTERMSIG(o->status) != SIGALRM,
                  "child hung (killed after %d s); stderr:\n%s", RUN_SECONDS, o->err);
}

static int run_signal_case(void *always) { return signal_case(always != NULL); }
static int run_handler_case(void *unused) { (void)unused; return handler_case(); }

START_TEST(a_signal_that_fails_once_is_sent_again)
{
    struct outcome o;
    run_child(run_signal_case, NULL, &o);
    ck_assert_msg(WIFEXITED(o.status) && WEXITSTATUS(o.status) == OK,
                  "status %#x (exit 1 damaged, 2 no signal failed, 4 no memory, 5 no init, 6 no thread); stderr:\n%s", o.status, o.err);
}
END_TEST

START_TEST(a_thread_that_cannot_be_signalled_is_a_fatal_error)
{
    struct outcome o;
    run_child(run_signal_case, (void *)1, &o);
    ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT,
                  "status %#x: expected an abort; stderr:\n%s", o.status, o.err);
    ck_assert_msg(strstr(o.err, "cogc: fatal: stop the world: cannot signal thread"),
                  "no report; stderr:\n%s", o.err);
    ck_assert_msg(strstr(o.err, "Resource temporarily unavailable"), "no reason; stderr:\n%s", o.err);
}
END_TEST

START_TEST(a_dead_fault_handler_is_a_fatal_error)
{
    struct outcome o;
    run_child(run_handler_case, NULL, &o);
    if (WIFEXITED(o.status) && WEXITSTATUS(o.status) == WRONG_BACKEND) {
        printf("NOTE: the uffd backend is not available here; case not run\n");
        return;
    }
    ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT,
                  "status %#x (exit 2: no fault reached the handler); stderr:\n%s", o.status, o.err);
    ck_assert_msg(strstr(o.err, "cogc: fatal: dirty tracking (uffd): the fault handler thread cannot go on "
                                "(read: Input/output error)"),
                  "no report; stderr:\n%s", o.err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fault_threads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 3 * RUN_SECONDS);
    tcase_add_test(tc, a_signal_that_fails_once_is_sent_again);
    tcase_add_test(tc, a_thread_that_cannot_be_signalled_is_a_fatal_error);
    tcase_add_test(tc, a_dead_fault_handler_is_a_fatal_error);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
