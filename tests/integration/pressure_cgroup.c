/* COGC_BOOKMARK=1 under a real memory limit: a cgroup v1 memory cgroup of
 * its own (cogc-test-<pid>, limit LIMIT_MB) and zram swap (set up only when
 * no swap is on, torn down after).  The child builds a checked structure,
 * then memory outside the heap pushes the cgroup into reclaim while it
 * allocates garbage; notices must arrive, pressure collections must run,
 * pages must be sent out with bookmarks; then some nodes are written (their
 * pages come back) and collections run, and every object must still hold
 * what was written (COGC_VERIFY=1 checks the marks at each collection too,
 * reading evicted pages back).  Root only; skipped with a reason
 * otherwise.  Everything created is removed, on failure too.
 *
 * `pressure_cgroup SOURCE` runs the same with one notice source open
 * (COGC_NOTICES=SOURCE): its notices must lead to a pressure collection.
 * A source this kernel or cgroup lacks is skipped with the source's own
 * reason, probed in the child, inside the cgroup.
 *
 * `pressure_cgroup --global SOURCE`: no cgroup; memory outside the heap
 * grows by 64 MiB steps until the source gave a notice (or it reaches
 * MemAvailable and half the free swap), for the `gcdev`
 * source, whose shrinker only the machine's own reclaim runs (the qemu
 * guest of tests/kernel: its 4.5 GiB, not this machine's 24).  Then most
 * of the heap is sent out with cogc_bookmark_evict before the writes. */
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

#include "notice.h"
#include "test_swap.h"

#define MEMCG "/sys/fs/cgroup/memory"
#define LIMIT_MB 128
#define LIVE_NODES (600 * 1000)   /* 64-byte nodes: ~40 MB live */
#define OUTSIDE_MB 80             /* non-heap memory, written once: forces reclaim */
#define GLOBAL_STEP (64UL << 20)  /* --global: outside memory grows by this */

static bool global;

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

/* The notices the named source gave (psi counts both of its files); NULL:
 * every source's. */
static uint64_t notices_of(const struct cogc_stats *s, const char *source)
{
    if (!source)
        return s->notices_psi + s->notices_cgroup_v1 + s->notices_cgroup_v2 + s->notices_residency + s->notices_gcdev;
    if (!strcmp(source, "psi") || !strcmp(source, "psi-cgroup"))
        return s->notices_psi;
    if (!strcmp(source, "cgroup-v1"))
        return s->notices_cgroup_v1;
    if (!strcmp(source, "cgroup-v2"))
        return s->notices_cgroup_v2;
    if (!strcmp(source, "gcdev"))
        return s->notices_gcdev;
    if (!strcmp(source, "residency"))
        return s->notices_residency;
    return 0;
}

static uint64_t meminfo(const char *key)
{
    static char text[8192];
    return notice_read_file("/proc/meminfo", text, sizeof text) > 0 ? notice_meminfo_bytes(text, key) : 0;
}

/* `bytes` more of memory outside the heap, every page written; false
 * after saying why. */
static bool take_outside(size_t bytes)
{
    char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return false;
    }
    for (size_t off = 0; off < bytes; off += 4096)
        m[off] = (char)(off >> 12 | 1);
    return true;
}

static int child(void)
{
    const char *source = getenv("COGC_NOTICES");
    if (source) {
        const struct notice_source *ns = notice_find(source);
        char why[256] = "";
        if (!ns) {
            fprintf(stderr, "FAIL: no notice source named %s\n", source);
            return 1;
        }
        if (ns->probe(why, sizeof why) != 0) {
            printf("SKIP: %s\n", why);
            return 77;
        }
    }
    struct node *head = NULL;
    uintptr_t lo = UINTPTR_MAX, hi = 0;   /* the pages the nodes lie on */
    for (size_t i = 0; i < LIVE_NODES; i++) {
        struct node *n = cogc_malloc(sizeof *n);
        if (!n) {
            fprintf(stderr, "FAIL: allocation failed while building\n");
            return 1;
        }
        n->next = head;
        n->check = expect(LIVE_NODES - 1 - i);
        head = n;
        if ((uintptr_t)n < lo)
            lo = (uintptr_t)n & ~(uintptr_t)4095;
        if ((uintptr_t)(n + 1) > hi)
            hi = ((uintptr_t)(n + 1) + 4095) & ~(uintptr_t)4095;
    }
    /* First the kernel takes the structure's pages, and the program
     * allocates nothing for a while (no collection reads them back): the
     * residency source, which looks once a second, counts only pages the
     * collector uses and did not send out itself, and once memory is short
     * the collector sends out ahead of the kernel's reclaim.  The other
     * sources need nothing but the limit. */
    struct cogc_stats s = {0};
    if (source && !strcmp(source, "residency")) {
        /* In turn: the nodes read (resident), then taken; each state held
         * over a check.  (The range has holes: madvise fails on them and
         * takes what is mapped.) */
        volatile uint64_t sum = 0;
        for (int turn = 0; turn < 8 && !notices_of(&s, source); turn++) {
            if (turn % 2 == 0)
                for (struct node *n = head; n; n = n->next)
                    sum += n->check;
            else
                madvise((void *)lo, hi - lo, MADV_PAGEOUT);
            for (double until = now_s() + 1.1; now_s() < until && !notices_of(&s, source);) {
                nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
                cogc_get_stats(&s, sizeof s);
            }
        }
    }
    /* Memory the collector does not own takes most of the rest of the
     * limit (--global: of the machine, step by step): the kernel must
     * reclaim (swap to zram) to make room. */
    size_t outside = global ? 0 : (size_t)OUTSIDE_MB << 20, cap = outside;
    if (global)
        cap = meminfo("MemAvailable:") + meminfo("SwapFree:") / 2;
    if (outside && !take_outside(outside))
        return 1;
    int window_s = global ? 120 : 30;
    double end = now_s() + window_s;
    unsigned rounds = 0;
    do {
        if (global && notices_of(&s, source) == 0 && outside + GLOBAL_STEP <= cap) {
            if (!take_outside(GLOBAL_STEP))
                return 1;
            outside += GLOBAL_STEP;
        }
        for (int k = 0; k < 20000; k++) {   /* garbage: short lists */
            void **g = cogc_malloc(128);
            if (g)
                g[0] = cogc_malloc(64);
        }
        rounds++;
        cogc_get_stats(&s, sizeof s);
    } while ((s.pressure_collections == 0 || (!global && s.pages_evicted == 0) || rounds < 50) && now_s() < end);
    if (global) {
        printf("outside the heap: %zu MiB (cap %zu MiB)\n", outside >> 20, cap >> 20);
        size_t sent = 0;
        if (cogc_bookmark_evict(SIZE_MAX, &sent) != 0 || sent == 0) {
            fprintf(stderr, "FAIL: cogc_bookmark_evict sent %zu bytes: %s\n", sent, strerror(errno));
            return 1;
        }
    }
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
    printf("sources: %s; rounds=%u notices: psi=%llu cgroup-v1=%llu cgroup-v2=%llu residency=%llu gcdev=%llu; "
           "pressure collections=%llu "
           "pages given back=%llu collections=%llu major faults in collections=%llu budget=%.1f MiB; "
           "pages sent out=%llu (still out %llu), bookmarks=%llu\n",
           source ? source : "all", rounds, (unsigned long long)s.notices_psi,
           (unsigned long long)s.notices_cgroup_v1, (unsigned long long)s.notices_cgroup_v2,
           (unsigned long long)s.notices_residency, (unsigned long long)s.notices_gcdev,
           (unsigned long long)s.pressure_collections, (unsigned long long)s.pages_given_back,
           (unsigned long long)s.collections, (unsigned long long)s.collection_major_faults,
           s.heap_budget_bytes / 1048576.0, (unsigned long long)s.pages_evicted,
           (unsigned long long)s.pages_out, (unsigned long long)s.bookmarks_set);
    int rc = 0;
    if (i != LIVE_NODES || bad) {
        fprintf(stderr, "FAIL: %zu nodes reachable (want %d), %zu hold wrong values\n", i, LIVE_NODES, bad);
        rc = 1;
    }
    /* Only notices make pressure collections (the budget's are counted
     * as collections): with one source open, they are its doing. */
    uint64_t notices = notices_of(&s, source);
    if (notices == 0 || s.pressure_collections == 0) {
        fprintf(stderr, "FAIL: no memory-pressure notice%s%s led to a collection in %d s\n", source ? " from " : "",
                source ? source : "", window_s);
        rc = 1;
    }
    if (s.pages_evicted == 0) {
        fprintf(stderr, "FAIL: no page was sent out with bookmarks although the process ran at its limit\n");
        rc = 1;
    }
    uint64_t limit = global ? meminfo("MemTotal:") : (uint64_t)LIMIT_MB << 20;
    if (s.heap_budget_bytes == 0 || s.heap_budget_bytes > limit) {
        fprintf(stderr, "FAIL: heap budget %llu not within %s (%llu MiB)\n", (unsigned long long)s.heap_budget_bytes,
                global ? "MemTotal" : "the cgroup limit", (unsigned long long)(limit >> 20));
        rc = 1;
    }
    return rc;
}

/* ---- the parent: set up, run, tear down ---- */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();
    int a = 1;
    if (argc > 1 && strcmp(argv[1], "--global") == 0) {
        global = true;
        a = 2;
    }
    if (argc > a + 1 || (argc == a + 1 && !notice_find(argv[a])) || (global && argc != a + 1)) {
        fprintf(stderr, "usage: %s [--global] SOURCE | %s   (SOURCE: psi, psi-cgroup, cgroup-v1, cgroup-v2, gcdev, "
                        "residency)\n", argv[0], argv[0]);
        return 2;
    }
    if (global) {
        if (!ts_swap_on()) {
            printf("SKIP: --global needs swap on (without it the machine's reclaim ends in the OOM killer)\n");
            return 77;
        }
        setenv("COGC_BOOKMARK", "1", 1);
        setenv("COGC_VERIFY", "1", 1);
        setenv("COGC_NOTICES", argv[a], 1);
        return child();   /* the collector reads its variables at its first call */
    }
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
    static char bookmark[] = "COGC_BOOKMARK=1", verify[] = "COGC_VERIFY=1", notices[64];
    char *env[] = {bookmark, verify, argc == 2 ? notices : NULL, NULL};
    if (argc == 2)
        snprintf(notices, sizeof notices, "COGC_NOTICES=%s", argv[1]);
    int rc = ts_run_in_memcg("cogc-test", argv[0], LIMIT_MB, true, 90, env);
    if (swap == 1 && ts_swap_off() != 0)
        rc = 1;
    return rc;
}
