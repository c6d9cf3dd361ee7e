/* COGC_BOOKMARK=1 under a real memory limit: a cgroup v1 memory cgroup of
 * its own (cogc-test-<pid>, limit LIMIT_MB) and zram swap (set up only when
 * no swap is on, torn down after).  The child builds a checked structure,
 * then memory outside the heap pushes the cgroup into reclaim while it
 * allocates garbage; notices must arrive, pressure collections must run,
 * pages must be sent out with bookmarks; then some nodes are written (their
 * pages come back) and collections run, and every object must still hold
 * what was written (COGC_VERIFY=1 checks the marks at each collection too,
 * reading evicted pages back).  Root only; skipped with a reason
 * otherwise.  Everything created is removed, on failure too. */
#define _GNU_SOURCE
#include <cogc.h>

#include <errno.h>
#include <stdbool.h>
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
#define LIMIT_MB 128
#define LIVE_NODES (600 * 1000)   /* 64-byte nodes: ~40 MB live */
#define OUTSIDE_MB 80             /* non-heap memory, written once: forces reclaim */

/* ---- the child: runs inside the cgroup ---- */

struct node {
    struct node *next;
    uint64_t check;
    uint64_t pad[6];
};

static uint64_t expect(size_t i) { return (uint64_t)i * 0x9e3779b97f4a7c15ull ^ 0x5555; }

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int child(void)
{
    struct node *head = NULL;
    for (size_t i = 0; i < LIVE_NODES; i++) {
        struct node *n = cogc_malloc(sizeof *n);
        if (!n) {
            fprintf(stderr, "FAIL: allocation failed while building\n");
            return 1;
        }
        n->next = head;
        n->check = expect(LIVE_NODES - 1 - i);
        head = n;
    }
    /* Memory the collector does not own takes most of the rest of the
     * limit: the kernel must reclaim (swap to zram) to make room. */
    size_t out = (size_t)OUTSIDE_MB << 20;
    char *outside = mmap(NULL, out, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (outside == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct cogc_stats s;
    double end = now_s() + 30;
    unsigned rounds = 0;
    for (size_t off = 0; off < out; off += 4096)
        outside[off] = (char)(off >> 12 | 1);
    do {
        for (int k = 0; k < 20000; k++) {   /* garbage: short lists */
            void **g = cogc_malloc(128);
            if (g)
                g[0] = cogc_malloc(64);
        }
        rounds++;
        cogc_get_stats(&s, sizeof s);
    } while ((s.pressure_collections == 0 || s.pages_evicted == 0 || rounds < 50) && now_s() < end);
    /* Writes into pages that may be out: each brings its page back, and
     * the collections below must rescan it. */
    size_t k = 0;
    for (struct node *n = head; n; n = n->next, k++)
        if (k % 64 == 0)
            n->check = expect(k);
    cogc_collect_minor();
    cogc_collect();
    cogc_collect_minor();
    cogc_collect();
    size_t i = 0, bad = 0;
    for (struct node *n = head; n; n = n->next, i++)
        if (n->check != expect(i))
            bad++;
    cogc_get_stats(&s, sizeof s);
    printf("rounds=%u notices: psi=%llu cgroup-v1=%llu cgroup-v2=%llu residency=%llu; pressure collections=%llu "
           "pages given back=%llu collections=%llu major faults in collections=%llu budget=%.1f MiB; "
           "pages sent out=%llu (still out %llu), bookmarks=%llu\n",
           rounds, (unsigned long long)s.notices_psi, (unsigned long long)s.notices_cgroup_v1,
           (unsigned long long)s.notices_cgroup_v2, (unsigned long long)s.notices_residency,
           (unsigned long long)s.pressure_collections, (unsigned long long)s.pages_given_back,
           (unsigned long long)s.collections, (unsigned long long)s.collection_major_faults,
           s.heap_budget_bytes / 1048576.0, (unsigned long long)s.pages_evicted,
           (unsigned long long)s.pages_out, (unsigned long long)s.bookmarks_set);
    int rc = 0;
    if (i != LIVE_NODES || bad) {
        fprintf(stderr, "FAIL: %zu nodes reachable (want %d), %zu hold wrong values\n", i, LIVE_NODES, bad);
        rc = 1;
    }
    if (s.notices_psi + s.notices_cgroup_v1 + s.notices_cgroup_v2 + s.notices_residency == 0 ||
        s.pressure_collections == 0) {
        fprintf(stderr, "FAIL: no memory-pressure notice led to a collection in 30 s\n");
        rc = 1;
    }
    if (s.pages_evicted == 0) {
        fprintf(stderr, "FAIL: no page was sent out with bookmarks although the process ran at its limit\n");
        rc = 1;
    }
    if (s.heap_budget_bytes == 0 || s.heap_budget_bytes > ((size_t)LIMIT_MB << 20)) {
        fprintf(stderr, "FAIL: heap budget %llu not within the %d MiB cgroup limit\n",
                (unsigned long long)s.heap_budget_bytes, LIMIT_MB);
        rc = 1;
    }
    return rc;
}

/* ---- the parent: set up, run, tear down ---- */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();
    if (geteuid() != 0) {
        printf("SKIP: needs root (creates a memory cgroup and zram swap)\n");
        return 77;
    }
    if (access(MEMCG "/cgroup.procs", W_OK) != 0) {
        printf("SKIP: no writable cgroup v1 memory hierarchy at " MEMCG "\n");
        return 77;
    }
    if (TS_ASAN) {
        /* Its shadow memory and quarantine are charged to the cgroup: the
         * heap budget left was under 1 MiB, and the collections that forced
         * ran before any pressure notice (5 runs of 6 late in session 6). */
        printf("SKIP: AddressSanitizer's memory leaves too little of a %d MiB cgroup for a heap\n", LIMIT_MB);
        return 77;
    }
    int swap = ts_swap_up("2G");
    if (swap < 0)
        return 77;
    static char bookmark[] = "COGC_BOOKMARK=1", verify[] = "COGC_VERIFY=1";
    char *env[] = {bookmark, verify, NULL};
    int rc = ts_run_in_memcg("cogc-test", argv[0], LIMIT_MB, true, 90, env);
    if (swap == 1 && ts_swap_off() != 0)
        rc = 1;
    return rc;
}
