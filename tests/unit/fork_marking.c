/* fork() from a multi-threaded program while the collector is busy:
 *  - during a stop-the-world collection run by another thread (the fork
 *    is called from a thread the collector does not stop, once the
 *    collection has marked);
 *  - (COGC_INCREMENTAL=1, once per dirty-bit backend) while the background
 *    marker is in the middle of a cycle.
 * The child checks what it inherited, allocates, collects (COGC_VERIFY=1
 * checks the heap at each collection) and exits 0 within its time limit;
 * the parent then goes on allocating and collecting and keeps its data.
 * Links the collector's objects to see incremental_marking(). */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdatomic.h>
#include <sys/wait.h>

#include "incremental.h"

#define FORKS 6
#define KEEP 5000

static atomic_int stop, in_collection, forking;
static struct tu_node *volatile g_kept;

static void *churner(void *arg)
{
    tu_thread_started();
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    struct tu_node *keep = tu_list_make(2000, seed);
    while (!atomic_load(&stop))
        tu_churn(48, 5000);
    return tu_list_bad(keep, 2000, seed) ? (void *)1 : NULL;
}

static int child_work(void)
{
    tu_alarm(60);
    if (tu_list_bad(g_kept, KEEP, 7))
        return 1;
    struct tu_node *mine = tu_list_make(20000, 9);
    if (!mine)
        return 2;
    for (int i = 0; i < 3; i++) {
        tu_churn(64, 50000);
        cogc_collect();
    }
    if (tu_list_bad(mine, 20000, 9) || tu_list_bad(g_kept, KEEP, 7))
        return 3;
    /* threads work in the child (not under TSan: testutil.h) */
    if (!TU_FORK_CHILD_THREADS)
        return 0;
    pthread_t t;
    if (cogc_pthread_create(&t, NULL, churner, (void *)11) != 0)
        return 4;
    tu_churn(64, 20000);
    atomic_store(&stop, 1);
    void *r;
    pthread_join(t, &r);
    return r ? 5 : 0;
}

/* The child's wait status (0: exited 0), or -1 if fork failed. */
static int fork_and_wait(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(child_work());
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

#define CHECK_CHILD(k, status)                                                                       \
    ck_assert_msg((status) == 0,                                                                     \
                  "fork %d: child status 0x%x (signal %d, exit %d: 1 inherited list damaged, 2 no " \
                  "memory, 3 data damaged after collections, 4 no thread, 5 thread's data damaged)", \
                  k, status, (status) > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0,             \
                  (status) >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1)

/* World stopped, heap lock held: tell the forking thread, and give it the
 * time to call fork() before the collection ends (bounded). */
static void during_collection(void)
{
    atomic_store(&in_collection, 1);
    for (long spins = 0; !atomic_load(&forking) && spins < 100000000; spins++)
        TU_BARRIER();
}

static void *collector(void *arg)
{
    (void)arg;
    tu_thread_started();
    while (!atomic_load(&stop)) {
        tu_churn(48, 2000);
        cogc_collect();
    }
    return NULL;
}

/* Not registered (plain pthread_create on the static collector): it keeps
 * running while the world is stopped. */
static int fork_status[FORKS];

static void *forker(void *arg)
{
    (void)arg;
    for (int k = 0; k < FORKS; k++) {
        while (!atomic_load(&in_collection))
            sched_yield();
        atomic_store(&forking, 1);
        fork_status[k] = fork_and_wait();
        atomic_store(&in_collection, 0);
        atomic_store(&forking, 0);
    }
    return NULL;
}

START_TEST(fork_during_stop_the_world)
{
    if (getenv("COGC_INCREMENTAL")) {
        printf("NOTE: incremental mode: this case runs in the stop-the-world entry\n");
        return;
    }
    g_kept = tu_list_make(KEEP, 7);
    pthread_t churn, coll, fk;
    ck_assert_int_eq(cogc_pthread_create(&churn, NULL, churner, (void *)3), 0);
    ck_assert_int_eq(cogc_pthread_create(&coll, NULL, collector, NULL), 0);
    tu_wait_threads_started(2);
    cogc_set_collect_callback(during_collection);
    ck_assert_int_eq(pthread_create(&fk, NULL, forker, NULL), 0);
    pthread_join(fk, NULL);
    cogc_set_collect_callback(NULL);
    for (int k = 0; k < FORKS; k++)
        CHECK_CHILD(k, fork_status[k]);
    atomic_store(&stop, 1);
    void *r;
    pthread_join(coll, NULL);
    pthread_join(churn, &r);
    ck_assert_ptr_null(r);
    ck_assert_uint_eq(tu_list_bad(g_kept, KEEP, 7), 0);
    atomic_store(&stop, 0);
}
END_TEST

START_TEST(fork_during_background_marking)
{
    if (!getenv("COGC_INCREMENTAL")) {
        printf("NOTE: stop-the-world mode: this case runs in the incremental entries\n");
        return;
    }
    tu_require_dirty_backend();
    ck_assert(incremental_enabled());
    g_kept = tu_list_make(KEEP, 7);
    pthread_t churn;
    ck_assert_int_eq(cogc_pthread_create(&churn, NULL, churner, (void *)3), 0);
    tu_wait_threads_started(1);
    unsigned mid_cycle = 0;
    for (int k = 0; k < FORKS; k++) {
        /* Allocate until a cycle is marking (bounded). */
        for (long n = 0; !incremental_marking() && n < 2000; n++)
            tu_churn(64, 1000);
        mid_cycle += incremental_marking();
        int status = fork_and_wait();
        CHECK_CHILD(k, status);
        tu_churn(48, 20000);
    }
    atomic_store(&stop, 1);
    void *r;
    pthread_join(churn, &r);
    ck_assert_ptr_null(r);
    cogc_collect();
    ck_assert_uint_eq(tu_list_bad(g_kept, KEEP, 7), 0);
    printf("%u of %d forks while a cycle was marking\n", mid_cycle, FORKS);
    ck_assert_uint_ge(mid_cycle, FORKS / 2);
}
END_TEST

int main(void)
{
    if (TU_TSAN) {
        printf("SKIP: ThreadSanitizer does not support starting threads after a multi-threaded "
               "fork (die_after_fork), and the child's collections start markers\n");
        return 77;
    }
    Suite *s = suite_create("fork_marking");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, fork_during_stop_the_world);
    tcase_add_test(tc, fork_during_background_marking);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
