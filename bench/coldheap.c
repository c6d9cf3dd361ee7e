/*
 * coldheap.c - the cold-heap workload of bench/paging: a large long-lived
 * structure built once and then rarely touched, and a steady stream of
 * short-lived trees.  Under a memory limit the cold structure is what the
 * kernel should swap out and what a full collection must not read back in.
 *
 *   coldheap-<system> [--cold-mb N] [--total-mb N] [--tree-depth N]
 *
 *   1. a balanced binary tree of 64-byte nodes, N MiB in all (default 300),
 *      each node carrying a key derived from its position;
 *   2. short-lived binary trees of 32-byte nodes (default depth 14, 512 KiB
 *      each) built and dropped until --total-mb MiB (default 2048) have been
 *      allocated in all, the cold tree included; after each one, one random
 *      path of the cold tree is walked and its leaf's key rewritten (the
 *      "rarely touched": a few pages out of tens of thousands);
 *   3. a check of every key of the cold tree.
 *
 * One shim per system as in gcbench.c (alloc_common.h).  Output:
 *   RESULT system=S workload=coldheap-N wall_s=W max_pause_ms=M
 *          p99_pause_ms=P collections=C
 * on one line.  Exit status: 0; 1 if the check failed; 2 on a usage error;
 * 3 when an allocation failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_select.h"

struct cold {
    struct cold *left, *right;
    uint64_t key;
    uint64_t pad[5];
};

struct hot {
    struct hot *left, *right;
    uint64_t key, unused;
};

static uint64_t cold_key(uint64_t index, uint64_t version)
{
    uint64_t x = index * 0x9E3779B97F4A7C15ull + version;
    x ^= x >> 29;
    return x * 0xBF58476D1CE4E5B9ull;
}

/* Nodes [lo, hi) in order: the node of index mid, subtrees either side. */
static struct cold *build_cold(uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return NULL;
    uint64_t mid = lo + (hi - lo) / 2;
    struct cold *n = bench_alloc_node(sizeof *n);
    n->key = cold_key(mid, 0);
    n->left = build_cold(lo, mid);
    n->right = build_cold(mid + 1, hi);
    return n;
}

/* Versions of rewritten keys: one byte per node, kept outside the heap. */
static unsigned char *versions;

static void touch_cold(struct cold *root, uint64_t n, uint64_t *rnd)
{
    uint64_t lo = 0, hi = n;
    *rnd = *rnd * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t target = (*rnd >> 11) % n;
    struct cold *c = root;
    while (c) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (target == mid) {
            versions[mid]++;
            c->key = cold_key(mid, versions[mid]);
            return;
        }
        if (target < mid) {
            hi = mid;
            c = c->left;
        } else {
            lo = mid + 1;
            c = c->right;
        }
    }
}

static uint64_t check_cold(const struct cold *c, uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return c == NULL ? 0 : 1;
    if (c == NULL)
        return 1;
    uint64_t mid = lo + (hi - lo) / 2;
    uint64_t bad = c->key != cold_key(mid, versions[mid]);
    return bad + check_cold(c->left, lo, mid) + check_cold(c->right, mid + 1, hi);
}

static struct hot *build_hot(int depth)
{
    struct hot *n = bench_alloc_node(sizeof *n);
    n->key = (uint64_t)depth;
    if (depth > 0) {
        n->left = build_hot(depth - 1);
        n->right = build_hot(depth - 1);
    }
    return n;
}

static void free_cold(struct cold *n)
{
    if (!n)
        return;
    free_cold(n->left);
    free_cold(n->right);
    bench_free(n);
}

static void free_hot(struct hot *n)
{
    if (!n)
        return;
    free_hot(n->left);
    free_hot(n->right);
    bench_free(n);
}

static int parse_mb(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long cold_mb = 300, total_mb = 2048, depth = 14;
    for (int i = 1; i < argc; i += 2) {   /* option, value */
        long *dst = NULL, lo = 1, hi = 1 << 20;
        if (strcmp(argv[i], "--cold-mb") == 0)
            dst = &cold_mb;
        else if (strcmp(argv[i], "--total-mb") == 0)
            dst = &total_mb;
        else if (strcmp(argv[i], "--tree-depth") == 0)
            dst = &depth, hi = 24;
        if (!dst || i + 1 >= argc || parse_mb(argv[i + 1], lo, hi, dst) != 0) {
            fprintf(stderr, "usage: %s [--cold-mb N] [--total-mb N] [--tree-depth 1..24]\n", argv[0]);
            return 2;
        }
    }
    uint64_t ncold = ((uint64_t)cold_mb << 20) / sizeof(struct cold);
    versions = calloc(ncold, 1);
    if (!versions)
        bench_out_of_memory(ncold);

    uint64_t t0 = bench_now_ns();
    bench_init();
    struct cold *root = build_cold(0, ncold);
    uint64_t tree_bytes = (((uint64_t)2 << depth) - 1) * sizeof(struct hot);
    uint64_t allocated = ncold * sizeof(struct cold), trees = 0, rnd = 42;
    while (allocated < ((uint64_t)total_mb << 20)) {
        struct hot *t = build_hot((int)depth);
        if (t->key != (uint64_t)depth)
            return 1;
        if (bench_free_tree_allowed())
            free_hot(t);
        t = NULL;
        touch_cold(root, ncold, &rnd);
        allocated += tree_bytes;
        trees++;
    }
    uint64_t bad = check_cold(root, 0, ncold);
    uint64_t t1 = bench_now_ns();
    if (bench_free_tree_allowed())
        free_cold(root);
    root = NULL;
    free(versions);

    struct bench_report rep;
    bench_report(&rep);
    if (bad) {
        fprintf(stderr, "coldheap (%s): FAILED: %llu cold nodes damaged\n", BENCH_SYSTEM,
                (unsigned long long)bad);
        return 1;
    }
    printf("coldheap (%s): %llu cold nodes, %llu trees of depth %ld\n", BENCH_SYSTEM,
           (unsigned long long)ncold, (unsigned long long)trees, depth);
    printf("RESULT system=%s workload=coldheap-%ld wall_s=%.4f", BENCH_SYSTEM, cold_mb, (t1 - t0) / 1e9);
    if (rep.have_pauses)
        printf(" max_pause_ms=%.3f p99_pause_ms=%.3f", rep.max_pause_ms, rep.p99_pause_ms);
    else
        printf(" max_pause_ms=NA p99_pause_ms=NA");
    if (rep.have_collections)
        printf(" collections=%llu\n", (unsigned long long)rep.collections);
    else
        printf(" collections=NA\n");
    return fflush(stdout) == 0 ? 0 : 2;
}
