/* COGC_BOOKMARK=1 across fork: the child gets a notice thread of its own
 * (the parent's does not survive fork), and its heap works. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

START_TEST(child_has_notice_thread)
{
    struct tu_node *keep = tu_list_make(1000, 3);
    ck_assert_ptr_nonnull(keep);
    /* Only the main thread and the notice thread (no marker helpers: one
     * marker; no uffd handler: COGC_DIRTY=none, set by the ctest entry). */
    int parent = count_tasks();
    if (parent < 2) {
        printf("pressure_fork: no notice thread in the parent (no notice source available here)\n");
        exit(77);
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int n = count_tasks();
        if (n != parent) {
            fprintf(stderr, "child: %d threads, parent had %d\n", n, parent);
            _exit(1);
        }
        struct tu_node *mine = tu_list_make(20000, 9);
        tu_churn(64, 100000);
        cogc_collect();
        _exit(mine && !tu_list_bad(mine, 20000, 9) && !tu_list_bad(keep, 1000, 3) ? 0 : 2);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    ck_assert_uint_eq(tu_list_bad(keep, 1000, 3), 0);
}
END_TEST

int main(void)
{
    if (TU_TSAN) {
        printf("SKIP: the child's notice thread is what this tests, and ThreadSanitizer refuses "
               "to start a thread after a multi-threaded fork (die_after_fork)\n");
        return 77;
    }
    Suite *s = suite_create("pressure_fork");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, child_has_notice_thread);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
