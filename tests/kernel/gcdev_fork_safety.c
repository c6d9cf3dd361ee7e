/* gcdev_fork_safety - a fork child never goes on writing the parent's heap
 * on the gcdev backend (device memory, MAP_SHARED):
 *  * the child's copy fails (the module's test-only parameter fail_clone
 *    makes COGC_IOC_CLONE fail with ENOMEM): the child reports
 *    "cogc: fatal: ..." with the step and errno and aborts; the parent
 *    thaws and its heap is intact;
 *  * a fork that bypasses pthread_atfork (a raw clone system call): the
 *    module gives the child mappings that refuse access, its first touch
 *    of the heap is a SIGBUS; the parent's heap is intact.
 * In the qemu guest (tests/kernel/tests.list), as root; elsewhere SKIP (77). */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define PARAM "/sys/module/cogc/parameters/fail_clone"

static int read_param(void)
{
    char buf[32] = "";
    int f = open(PARAM, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(f >= 0, PARAM ": %s", strerror(errno));
    ck_assert_int_gt(read(f, buf, sizeof buf - 1), 0);
    close(f);
    return atoi(buf);
}

static void write_param(int v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", v);
    int f = open(PARAM, O_WRONLY | O_CLOEXEC);
    ck_assert_msg(f >= 0, PARAM ": %s", strerror(errno));
    ck_assert_int_eq(write(f, buf, (size_t)n), n);
    close(f);
}

/* What a child that wrongly kept the parent's pages would do. */
static void scribble(struct tu_node *list)
{
    for (struct tu_node *n = list; n; n = n->next)
        n->payload[0] ^= 1;
}

START_TEST(clone_failure_is_fatal_in_the_child)
{
    struct tu_node *list = tu_list_make(3000, 7);
    ck_assert_ptr_nonnull(list);
    char errpath[] = "/tmp/gcdev-fork-err-XXXXXX";
    int ef = mkstemp(errpath);
    ck_assert_int_ge(ef, 0);
    write_param(1);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(ef, STDERR_FILENO), 0);
    pid_t pid = fork();
    if (pid == 0) {
        scribble(list);
        _exit(0);
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    ck_assert_int_gt(pid, 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    char msg[512] = "";
    ck_assert_int_ge(pread(ef, msg, sizeof msg - 1, 0), 0);
    close(ef);
    unlink(errpath);
    printf("child status %#x, stderr: %s", status, msg);
    ck_assert_int_eq(read_param(), 0); /* the child's CLONE consumed it */
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child status %#x, not SIGABRT", status);
    ck_assert_msg(strstr(msg, "cogc: fatal: gcdev: the fork child cannot get its own copy of the heap "
                              "(COGC_IOC_CLONE: ENOMEM, errno 12)"),
                  "no fatal report: \"%s\"", msg);
    ck_assert_uint_eq(tu_list_bad(list, 3000, 7), 0);
    /* thawed: the parent writes, allocates and collects */
    scribble(list);
    scribble(list);
    tu_churn(32, 20000);
    cogc_collect();
    ck_assert_uint_eq(tu_list_bad(list, 3000, 7), 0);
    /* and the next fork works */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        scribble(list); /* its own copy: the parent's list stays intact */
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "second child status %#x", status);
    ck_assert_uint_eq(tu_list_bad(list, 3000, 7), 0);
}
END_TEST

START_TEST(raw_clone_child_cannot_touch_the_heap)
{
    struct tu_node *list = tu_list_make(3000, 8);
    ck_assert_ptr_nonnull(list);
    /* No pthread_atfork handler runs: only the system call and plain
     * memory accesses in the child. */
    long pid = syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        volatile uint64_t *w = &list->payload[0];
        *w ^= 1; /* SIGBUS here */
        syscall(SYS_exit_group, 0);
    }
    ck_assert_int_gt(pid, 0);
    int status;
    ck_assert_int_eq(waitpid((pid_t)pid, &status, 0), (pid_t)pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "child status %#x, not SIGBUS", status);
    ck_assert_uint_eq(tu_list_bad(list, 3000, 8), 0);
    /* a raw child that never touches the heap just exits */
    pid = syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        syscall(SYS_exit_group, 5);
    ck_assert_int_eq(waitpid((pid_t)pid, &status, 0), (pid_t)pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 5, "second child status %#x", status);
    tu_churn(32, 20000);
    cogc_collect();
    ck_assert_uint_eq(tu_list_bad(list, 3000, 8), 0);
}
END_TEST

int main(void)
{
    setenv("COGC_DIRTY", "gcdev", 1);
    tu_require_dirty_backend();
    if (access(PARAM, W_OK) != 0) {
        printf("SKIP: " PARAM " not writable (module too old, or not root)\n");
        return 77;
    }
    Suite *s = suite_create("gcdev_fork_safety");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, clone_failure_is_fatal_in_the_child);
    tcase_add_test(tc, raw_clone_child_cannot_touch_the_heap);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
