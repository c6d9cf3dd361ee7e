/* fork() from a multi-threaded program while other threads allocate and
 * collect: the child has a working heap (allocates, collects, keeps data),
 * and the parent carries on. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static atomic_int stop;

static void *churner(void *arg)
{
    tu_thread_started();
    long id = (long)arg;
    struct tu_node *keep = tu_list_make(2000, 100 + id);
    long rounds = 0;
    while (!atomic_load(&stop)) {
        tu_churn(48, 20000);
        if (++rounds % 4 == 0)
            cogc_collect();
    }
    return tu_list_bad(keep, 2000, 100 + id) ? (void *)1 : NULL;
}

static int child_work(struct tu_node *parent_list)
{
    tu_alarm(30);
    if (tu_list_bad(parent_list, 5000, 7))
        return 1;
    struct tu_node *mine = tu_list_make(20000, 9);
    if (!mine)
        return 2;
    for (int i = 0; i < 3; i++) {
        tu_churn(64, 100000);
        cogc_collect();
    }
    if (tu_list_bad(mine, 20000, 9) || tu_list_bad(parent_list, 5000, 7))
        return 3;
    /* threads still work in the child (not under TSan: testutil.h) */
    if (!TU_FORK_CHILD_THREADS)
        return 0;
    pthread_t t;
    if (cogc_pthread_create(&t, NULL, churner, (void *)9L) != 0)
        return 4;
    atomic_store(&stop, 1);
    void *r;
    pthread_join(t, &r);
    return r ? 5 : 0;
}

START_TEST(fork_while_threads_collect)
{
    struct tu_node *list = tu_list_make(5000, 7);
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        ck_assert_int_eq(cogc_pthread_create(&t[i], NULL, churner, (void *)i), 0);
    tu_wait_threads_started(3);
    for (int k = 0; k < 12; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(child_work(list));
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
            ;   /* under TSan a stop of the world can interrupt it (docs/sanitizers.md) */
        ck_assert_int_eq(w, pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "fork %d: child status 0x%x (signal %d, exit %d)", k, status,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        tu_churn(48, 20000);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        ck_assert_ptr_null(r);
    }
    ck_assert_uint_eq(tu_list_bad(list, 5000, 7), 0);
}
END_TEST

int main(void)
{
    if (TU_TSAN) {
        /* One marker: the child's collections would start marker threads,
         * which ThreadSanitizer refuses after a multi-threaded fork. */
        setenv("COGC_MARKERS", "1", 1);
        printf("NOTE: ThreadSanitizer: one marker, and no thread started in the child\n");
    }
    cogc_init();
    Suite *s = suite_create("fork_threads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fork_while_threads_collect);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
