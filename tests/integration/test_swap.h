/* Swap for the tests that need pages to leave memory for real: zram0 set
 * up as swap when no swap is on (root only), and removed again after; and
 * a child of the test run in a memory cgroup of its own.  Header-only, for
 * the integration tests that run as their own process.
 *
 * Only one /dev/zram0 exists: every test and benchmark that sets it up or
 * runs under memory pressure (bench/paging too) first takes an exclusive
 * flock on TS_SWAP_LOCK and holds it until it exits, so that one never
 * tears down the swap another is using.  The wait is bounded
 * (COGC_SWAP_LOCK_WAIT seconds, default TS_SWAP_WAIT_S); past it the test
 * is skipped, saying who holds the lock. */
#ifndef COGC_TEST_SWAP_H
#define COGC_TEST_SWAP_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TS_ZRAM "/sys/block/zram0"
#define TS_SWAP_LOCK "/run/lock/cogc-swap.lock"
#define TS_SWAP_WAIT_S 120

#if defined(__SANITIZE_THREAD__)
#define TS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TS_TSAN 1
#endif
#endif
#ifndef TS_TSAN
#define TS_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_ASAN 1
#endif
#endif
#ifndef TS_ASAN
#define TS_ASAN 0
#endif
#define TS_MEMCG "/sys/fs/cgroup/memory"

static inline int ts_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static inline int ts_read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *r = fgets(buf, (int)len, f);
    fclose(f);
    return r ? 0 : -1;
}

static inline double ts_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline void ts_nap(void)
{
    struct timespec t = {0, 100 * 1000 * 1000};
    nanosleep(&t, NULL);
}

/* Seconds a test waits for the swap lock and for zram0 to be free. */
static inline double ts_swap_wait_s(void)
{
    const char *w = getenv("COGC_SWAP_LOCK_WAIT");
    return w && *w ? strtod(w, NULL) : TS_SWAP_WAIT_S;
}

/* Takes the swap lock for the rest of the process (released when it
 * exits; children do not inherit it across exec).  Waits at most `wait_s`
 * seconds; -1 after printing SKIP when another run held it all along. */
static inline int ts_swap_lock(double wait_s)
{
    static int fd = -1;
    if (fd >= 0)
        return 0;
    int f = open(TS_SWAP_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) {
        printf("SKIP: cannot open the swap lock " TS_SWAP_LOCK ": %s\n", strerror(errno));
        return -1;
    }
    double until = ts_now_s() + wait_s;
    bool said = false;
    while (flock(f, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            printf("SKIP: flock " TS_SWAP_LOCK ": %s\n", strerror(errno));
            close(f);
            return -1;
        }
        if (ts_now_s() >= until) {
            printf("SKIP: another test or benchmark held the swap lock " TS_SWAP_LOCK
                   " (zram0 in use) for all of %.0f s (COGC_SWAP_LOCK_WAIT)\n", wait_s);
            close(f);
            return -1;
        }
        if (!said) {
            printf("waiting for the swap lock " TS_SWAP_LOCK " (at most %.0f s)\n", wait_s);
            fflush(stdout);
            said = true;
        }
        ts_nap();
    }
    fd = f;
    return 0;
}

static inline bool ts_swap_on(void)
{
    FILE *f = fopen("/proc/swaps", "r");
    char line[256];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n++;
    if (f)
        fclose(f);
    return n > 1;   /* a header line, then one per device */
}

/* Swap on, the swap lock held (ts_swap_lock): 0 when it already was, 1
 * when zram0 was set up here (of `size`, e.g. "2G"; ts_swap_off after), -1
 * after printing why not (SKIP).  zram0 set up but not as swap (someone
 * that does not take the lock, between its steps) is waited for too. */
static inline int ts_swap_up(const char *size)
{
    double wait_s = ts_swap_wait_s(), until = ts_now_s() + wait_s;
    if (ts_swap_lock(wait_s) != 0)
        return -1;
    char buf[64] = "";
    for (;;) {
        if (ts_swap_on())
            return 0;
        if (ts_read_line(TS_ZRAM "/disksize", buf, sizeof buf) != 0) {
            printf("SKIP: no swap and no zram device (" TS_ZRAM ")\n");
            return -1;
        }
        if (strtoull(buf, NULL, 10) == 0)
            break;
        if (ts_now_s() >= until) {
            printf("SKIP: no swap, and zram0 was in use by someone else (disksize %s) for %.0f s\n", buf,
                   wait_s);
            return -1;
        }
        ts_nap();
    }
    if (ts_write_file(TS_ZRAM "/disksize", size) != 0 || system("mkswap /dev/zram0 >/dev/null") != 0 ||
        system("swapon /dev/zram0") != 0) {
        printf("SKIP: could not set up zram swap\n");
        ts_write_file(TS_ZRAM "/reset", "1");
        return -1;
    }
    return 1;
}

/* Undo ts_swap_up's 1.  0, or -1 after printing FAIL. */
static inline int ts_swap_off(void)
{
    if (system("swapoff /dev/zram0") != 0 || ts_write_file(TS_ZRAM "/reset", "1") != 0) {
        fprintf(stderr, "FAIL: zram teardown\n");
        return -1;
    }
    return 0;
}

/* Runs this program again as `argv0 child` in a new cgroup v1 memory
 * cgroup TS_MEMCG/<name>-<pid> limited to limit_mb (77 after printing SKIP
 * under ThreadSanitizer) (swappiness 100 when
 * `swappy`), with the variables of `env` ("NAME=VALUE", NULL-terminated)
 * set and an alarm of alarm_s seconds (a hang fails the test instead of
 * leaving the cgroup busy); the cgroup is removed after.  0 when the child
 * exited with 0, else 1 after printing FAIL. */
static inline int ts_run_in_memcg(const char *name, const char *argv0, int limit_mb, bool swappy,
                                  unsigned alarm_s, char *const *env)
{
    if (TS_TSAN) {
        /* Its shadow memory and allocator are charged to the cgroup too. */
        printf("SKIP: ThreadSanitizer's runtime does not fit a %d MiB memory cgroup (the child is OOM-killed)\n",
               limit_mb);
        return 77;
    }
    char cg[128], path[192], text[64];
    snprintf(cg, sizeof cg, TS_MEMCG "/%s-%d", name, (int)getpid());
    if (mkdir(cg, 0755) != 0) {
        fprintf(stderr, "FAIL: mkdir %s: %s\n", cg, strerror(errno));
        return 1;
    }
    int rc = 1;
    snprintf(path, sizeof path, "%s/memory.limit_in_bytes", cg);
    snprintf(text, sizeof text, "%lld", (long long)limit_mb << 20);
    if (ts_write_file(path, text) != 0) {
        fprintf(stderr, "FAIL: setting %s: %s\n", path, strerror(errno));
        goto teardown;
    }
    if (swappy) {
        snprintf(path, sizeof path, "%s/memory.swappiness", cg);
        ts_write_file(path, "100");
    }
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(path, sizeof path, "%s/cgroup.procs", cg);
        if (ts_write_file(path, "0") != 0)
            _exit(2);
        alarm(alarm_s);
        for (char *const *e = env; *e; e++)
            putenv(*e);
        execl("/proc/self/exe", argv0, "child", (char *)NULL);
        _exit(3);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) {
        fprintf(stderr, "FAIL: fork/wait: %s\n", strerror(errno));
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
    } else if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 77)) {
        rc = WEXITSTATUS(st);   /* 77: the child skipped, saying why */
    } else {
        fprintf(stderr, "FAIL: child %s %d\n", WIFEXITED(st) ? "exited" : "killed by signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
teardown:
    if (rmdir(cg) != 0 && errno != ENOENT) {
        fprintf(stderr, "FAIL: rmdir %s: %s\n", cg, strerror(errno));
        rc = 1;
    }
    return rc;
}

#endif
