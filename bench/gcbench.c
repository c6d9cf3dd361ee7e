/*
 * gcbench.c - the GCBench binary-tree allocation benchmark (after the
 * benchmark of John Ellis, Pete Kovac and Hans Boehm), written for cogc.
 *
 * The program allocates perfect binary trees of 24-byte nodes:
 *
 *   1. a temporary "stretch" tree of depth 18, dropped at once;
 *   2. a long-lived tree (depth 16, or --long-lived-depth N) and a
 *      long-lived array of 500 000 doubles (pointer-free), both kept until
 *      the end;
 *   3. for depths 4, 6, ..., 16: 2 * TreeSize(18) / TreeSize(d) trees built
 *      top-down (allocate a node's two children, then fill each) and as
 *      many built bottom-up (build both subtrees, then their parent), each
 *      dropped as soon as it is complete;
 *   4. a check that the long-lived tree and array survived intact.
 *
 * TreeSize(d) = 2^(d+1) - 1 nodes.  One allocation shim per system, chosen
 * at compile time, supplies the allocator (see alloc_common.h):
 *   -DBENCH_USE_COGC   cogc_malloc / cogc_malloc_atomic
 *   -DBENCH_USE_BDWGC  GC_MALLOC / GC_MALLOC_ATOMIC (bdwgc)
 *   -DBENCH_USE_MALLOC calloc / malloc, with every tree freed explicitly
 *
 * Output: progress lines, then one line
 *   RESULT system=S workload=gcbench-dN wall_s=W max_pause_ms=M
 *          p99_pause_ms=P collections=C
 * (on one line; NA where the system has no such figure).  wall_s is
 * CLOCK_MONOTONIC from before the allocator's initialisation to the end of
 * the check.  Exit status: 0; 1 if the check failed (no RESULT line);
 * 2 on a usage or initialisation error; 3 when an allocation failed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_select.h"

enum {
    kStretchTreeDepth = 18,
    kLongLivedTreeDepth = 16,     /* default of --long-lived-depth */
    kMaxLongLivedTreeDepth = 26,  /* 2^27 nodes: about 4 GiB of nodes */
    kArraySize = 500000,
    kMinTreeDepth = 4,
    kMaxTreeDepth = 16,
};

struct Node {
    struct Node *left, *right;
    int i, j;
};

/* Every node records its height (0 for a leaf) in i and a value derived
 * from it in j, so that the final check can tell a surviving node from
 * memory that was reclaimed and reused. */
static inline int node_tag(int height)
{
    return (int)(0x2545F491u ^ ((unsigned)height * 0x9E3779B1u));
}

static inline void node_set(struct Node *n, int height)
{
    n->i = height;
    n->j = node_tag(height);
}

static long long tree_size(int depth)
{
    return (1LL << (depth + 1)) - 1;
}

static long long num_iters(int depth)
{
    return 2 * tree_size(kStretchTreeDepth) / tree_size(depth);
}

static struct Node *new_node(void)
{
    /* Zeroed by the allocator: left == right == NULL. */
    return bench_alloc_node(sizeof(struct Node));
}

/* Top-down: give an existing node its two children, then fill each. */
static void populate(int depth, struct Node *node)
{
    node_set(node, depth);
    if (depth <= 0)
        return;
    node->left = new_node();
    node->right = new_node();
    populate(depth - 1, node->left);
    populate(depth - 1, node->right);
}

/* Bottom-up: build both subtrees, then the parent that holds them. */
static struct Node *make_tree(int depth)
{
    struct Node *left, *right, *node;

    if (depth <= 0) {
        node = new_node();
        node_set(node, 0);
        return node;
    }
    left = make_tree(depth - 1);
    right = make_tree(depth - 1);
    node = new_node();
    node->left = left;
    node->right = right;
    node_set(node, depth);
    return node;
}

/* Explicit free, for allocators without a collector.  Returns the number
 * of nodes freed. */
static long long free_tree(struct Node *node)
{
    long long n;

    if (node == NULL)
        return 0;
    n = 1 + free_tree(node->left) + free_tree(node->right);
    bench_free(node);
    return n;
}

/* Drop a tree: free it when the allocator needs that, else forget it. */
static void drop_tree(struct Node *node)
{
    if (bench_free_tree_allowed())
        (void)free_tree(node);
}

/* 1 if `node` is a perfect tree of the given height whose every node
 * carries the expected marks; *count gets the number of nodes visited. */
static int check_tree(const struct Node *node, int height, long long *count)
{
    if (node == NULL)
        return 0;
    ++*count;
    if (node->i != height || node->j != node_tag(height))
        return 0;
    if (height == 0)
        return node->left == NULL && node->right == NULL;
    return check_tree(node->left, height - 1, count)
        && check_tree(node->right, height - 1, count);
}

static void time_construction(int depth)
{
    long long iters = num_iters(depth), k;
    uint64_t t0, t1, t2;

    t0 = bench_now_ns();
    for (k = 0; k < iters; k++) {
        struct Node *t = new_node();
        populate(depth, t);
        drop_tree(t);
    }
    t1 = bench_now_ns();
    for (k = 0; k < iters; k++) {
        struct Node *t = make_tree(depth);
        drop_tree(t);
    }
    t2 = bench_now_ns();
    printf("depth %2d: %6lld trees of %7lld nodes: top-down %8.1f ms, "
           "bottom-up %8.1f ms\n", depth, iters, tree_size(depth),
           (t1 - t0) / 1e6, (t2 - t1) / 1e6);
}

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [-d N | --long-lived-depth N]\n"
            "  GCBench with the %s allocator.  N: depth of the long-lived\n"
            "  tree, %d..%d (default %d).\n",
            prog, BENCH_SYSTEM, 0, kMaxLongLivedTreeDepth, kLongLivedTreeDepth);
}

static int parse_depth(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0
        || v > kMaxLongLivedTreeDepth)
        return -1;
    *out = (int)v;
    return 0;
}

static void print_ms_field(const char *name, int have, double ms)
{
    if (have)
        printf(" %s=%.3f", name, ms);
    else
        printf(" %s=NA", name);
}

int main(int argc, char **argv)
{
    int long_lived_depth = kLongLivedTreeDepth;
    struct Node *long_lived, *stretch;
    double *array;
    long long count = 0;
    int ok_tree, ok_array, argi, d;
    size_t i;
    uint64_t t_start, t_end;
    struct bench_report rep;

    for (argi = 1; argi < argc; argi++) {
        const char *a = argv[argi];
        const char *val = NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (strcmp(a, "-d") == 0 || strcmp(a, "--long-lived-depth") == 0) {
            if (argi + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", argv[0], a);
                usage(stderr, argv[0]);
                return 2;
            }
            val = argv[++argi];
        } else if (strncmp(a, "--long-lived-depth=", 19) == 0) {
            val = a + 19;
        } else {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], a);
            usage(stderr, argv[0]);
            return 2;
        }
        if (parse_depth(val, &long_lived_depth) != 0) {
            fprintf(stderr, "%s: bad long-lived depth '%s' (want 0..%d)\n",
                    argv[0], val, kMaxLongLivedTreeDepth);
            return 2;
        }
    }

    t_start = bench_now_ns();
    bench_init();

    printf("gcbench (%s): stretch tree depth %d, long-lived tree depth %d "
           "(%lld nodes), array of %d doubles, trees of depth %d..%d\n",
           BENCH_SYSTEM, kStretchTreeDepth, long_lived_depth,
           tree_size(long_lived_depth), kArraySize, kMinTreeDepth,
           kMaxTreeDepth);
    printf("node size %zu bytes\n", sizeof(struct Node));

    /* 1. Stretch the heap with a temporary tree. */
    stretch = make_tree(kStretchTreeDepth);
    drop_tree(stretch);
    stretch = NULL;

    /* 2. Long-lived data. */
    long_lived = new_node();
    populate(long_lived_depth, long_lived);
    array = bench_alloc_atomic(kArraySize * sizeof *array);
    array[0] = 0.0;
    for (i = 1; i < kArraySize; i++)
        array[i] = 1.0 / (double)i;

    /* 3. Short-lived trees of increasing size. */
    for (d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2)
        time_construction(d);

    /* 4. The long-lived data must be intact. */
    ok_tree = check_tree(long_lived, long_lived_depth, &count)
              && count == tree_size(long_lived_depth);
    ok_array = array[0] == 0.0 && array[1000] == 1.0 / 1000;
    for (i = 1; ok_array && i < kArraySize; i++)
        ok_array = array[i] == 1.0 / (double)i;
    t_end = bench_now_ns();

    printf("total %.3f s\n", (t_end - t_start) / 1e9);

    if (bench_free_tree_allowed()) {
        drop_tree(long_lived);
        bench_free(array);
    }
    long_lived = NULL;
    array = NULL;

    bench_report(&rep);

    if (!ok_tree || !ok_array) {
        fflush(stdout);
        if (!ok_tree)
            fprintf(stderr, "gcbench (%s): FAILED: long-lived tree damaged "
                    "(%lld of %lld nodes reached before the first bad one)\n",
                    BENCH_SYSTEM, count, tree_size(long_lived_depth));
        if (!ok_array)
            fprintf(stderr, "gcbench (%s): FAILED: long-lived array damaged\n",
                    BENCH_SYSTEM);
        return 1;
    }

    printf("RESULT system=%s workload=gcbench-d%d wall_s=%.4f",
           BENCH_SYSTEM, long_lived_depth, (t_end - t_start) / 1e9);
    print_ms_field("max_pause_ms", rep.have_pauses, rep.max_pause_ms);
    print_ms_field("p99_pause_ms", rep.have_pauses, rep.p99_pause_ms);
    if (rep.have_collections)
        printf(" collections=%llu\n", (unsigned long long)rep.collections);
    else
        printf(" collections=NA\n");
    return fflush(stdout) == 0 ? 0 : 2;
}
