/* COGC_BOOKMARK=1 in a memory cgroup with a limit: the collector's memcg
 * thread keeps the cgroup's reclaim counts current by reading its
 * memory.stat every few milliseconds from half the limit up, and leaves it
 * alone below (gc/memcg_fold.h says why: without it the cold-heap workload
 * at 200 MiB was OOM-killed in 8 runs of 20, with it in 0 of 50; that
 * kill needs minutes of runs to show, so this test checks the mechanism:
 * how often the cgroup's counts are folded, below and above half the
 * limit).  Its own cgroup v1 memory cgroup (cogc-fold-<pid>, LIMIT_MB),
 * removed after, on failure too; no swap needed, but the swap lock is
 * taken (test_swap.h).  Root only; skipped with a reason otherwise. */
#define _GNU_SOURCE
#include <cogc.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_swap.h"

#define MEMCG "/sys/fs/cgroup/memory"
#define LIMIT_MB 64
#define FILL_MB 44   /* past half the limit, well within it */

static uint64_t folds(void)
{
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    return s.memcg_stat_folds;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void pause_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static int child(void)
{
    void *p = cogc_malloc(64);   /* starts the collector and its threads */
    if (!p) {
        fprintf(stderr, "FAIL: first allocation\n");
        return 1;
    }
    /* Below half the limit: usage is looked at, nothing is folded. */
    pause_s(0.3);
    uint64_t f0 = folds();
    pause_s(1.0);
    uint64_t idle = folds() - f0;
    /* Past half: folded every 10 ms or so; wait for 20 of them. */
    size_t n = (size_t)FILL_MB << 20;
    char *fill = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fill == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t off = 0; off < n; off += 4096)
        fill[off] = 1;
    uint64_t f1 = folds();
    double t0 = now_s(), waited;
    while (folds() - f1 < 20 && (waited = now_s() - t0) < 5)
        pause_s(0.01);
    waited = now_s() - t0;
    uint64_t busy = folds() - f1;
    printf("folds: %llu in 1 s below half the limit; %llu in %.2f s above it\n", (unsigned long long)idle,
           (unsigned long long)busy, waited);
    int rc = 0;
    if (idle > 2) {
        fprintf(stderr, "FAIL: %llu folds in 1 s below half the limit (want none)\n", (unsigned long long)idle);
        rc = 1;
    }
    if (busy < 20) {
        fprintf(stderr, "FAIL: %llu folds in 5 s above half the limit (want 20 within 1 s)\n",
                (unsigned long long)busy);
        rc = 1;
    } else if (waited > 2) {
        fprintf(stderr, "FAIL: 20 folds took %.2f s above half the limit (want them every 10 ms)\n", waited);
        rc = 1;
    }
    munmap(fill, n);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();
    if (geteuid() != 0) {
        printf("SKIP: needs root (creates a memory cgroup)\n");
        return 77;
    }
    if (access(MEMCG "/cgroup.procs", W_OK) != 0) {
        printf("SKIP: no writable cgroup v1 memory hierarchy at " MEMCG "\n");
        return 77;
    }
    /* No swap needed, but not beside a paging benchmark or swap test
     * either: the folds are timed, and those load the machine. */
    if (ts_swap_lock(ts_swap_wait_s()) != 0)
        return 77;
    static char bookmark[] = "COGC_BOOKMARK=1";
    char *env[] = {bookmark, NULL};
    return ts_run_in_memcg("cogc-fold", argv[0], LIMIT_MB, false, 60, env);
}
