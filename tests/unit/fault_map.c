/* Fault injection: the Nth mmap the collector makes fails, for every N up
 * to past the last one a workload makes.  Each run (a child process) must
 * end cleanly: allocation returns NULL with ENOMEM or succeeds, kept data
 * stays intact, no crash, no deadlock (an alarm kills a stuck child). */
#define _GNU_SOURCE
#include "testutil.h"

#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "os.h"

struct node { struct node *next; long value; long pad[2]; };

/* Exit codes: 0 ran through, 1 data damaged, 2 wrong errno, 3 init failed badly.
 * With report_fd >= 0, writes how many maps the run made. */
static int workload(unsigned fail_at, int report_fd)
{
    alarm(30);
    os_fail_map_after(fail_at);
    if (cogc_init() != 0)
        return errno == ENOMEM ? 0 : 3;
    struct node *list = NULL;
    long n = 0;
    for (long i = 0; i < 60000; i++) {
        struct node *x = cogc_malloc(sizeof *x);
        if (!x) {
            if (errno != ENOMEM)
                return 2;
            continue;
        }
        x->value = i;
        x->next = list;
        list = x;
        n++;
        if (i % 5000 == 0) {
            void *big = cogc_malloc((size_t)(i % 3 + 1) << 20);
            if (!big && errno != ENOMEM)
                return 2;
            cogc_collect();
        }
    }
    for (int k = 0; k < 3; k++) {
        for (int j = 0; j < 100000; j++) {
            long *g = cogc_malloc(32);
            if (g)
                g[0] = -1;
        }
        cogc_collect();
    }
    long prev = LONG_MAX;
    for (struct node *x = list; x; x = x->next, n--) {
        if (x->value >= prev)
            return 1;
        prev = x->value;
    }
    if (report_fd >= 0) {
        unsigned calls = os_map_calls();
        if (write(report_fd, &calls, sizeof calls) != sizeof calls)
            return 4;
    }
    return n == 0 ? 0 : 1;
}

START_TEST(every_mmap_failure_is_survived)
{
    /* A clean run first, to learn how many maps the workload makes. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(workload(0, fds[1]));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unsigned total = 0;
    ck_assert_int_eq(read(fds[0], &total, sizeof total), sizeof total);
    close(fds[0]);
    close(fds[1]);
    ck_assert_uint_gt(total, 5);
    unsigned maps_seen = 0;
    for (unsigned at = 1; at <= total + 2; at++) {
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(workload(at, -1));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status), "failing mmap #%u: child killed by signal %d%s", at,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                      WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (deadlock?)" : "");
        ck_assert_msg(WEXITSTATUS(status) == 0, "failing mmap #%u: workload exit %d", at, WEXITSTATUS(status));
        maps_seen++;
    }
    ck_assert_uint_eq(maps_seen, total + 2);
    printf("fault_map: survived a failure at each of %u mmap calls\n", total);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fault_map");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_mmap_failure_is_survived);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
