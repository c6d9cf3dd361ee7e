/* bookmark_evict_cycle: pages sent out while an incremental cycle marks
 * lose nothing.
 *
 * Run on one CPU (taskset, ctest) with COGC_INCREMENTAL=1 and
 * COGC_GENERATIONAL=0: every full collection is a cycle, marked in
 * allocation-paced steps, so the test knows the cycle is between its two
 * pauses while it allocates no more.  A checked list is made old and its
 * first quarter sent out; a cycle starts and marks its way through that
 * quarter (bookmarks only) into the rest; then the rest is sent out in the
 * middle of the cycle: pages the marker had already met as targets get
 * new bookmarks (leaves pointed to only from the second half), which it
 * must still honour.  The cycle ends and more collections run;
 * COGC_VERIFY=1 (ctest) checks every collection's marks, reading evicted
 * pages, and every node and leaf is checked at the end.  (The pages the
 * cycle's start begins to watch count as just written and stay in: here
 * the second quarter goes out during the cycle, not the second half, so
 * the leaves' case is not reached yet; see docs/ARCHITECTURE.md.) */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdbool.h>

#define NODES (400 * 1000)
#define QUARTER ((size_t)NODES * 2 * sizeof(struct node) / 4)
#define NODE_MAGIC 0xB00C0FFEE0000001ull
#define LEAF_MAGIC 0x1EAF0FFEE0000002ull

/* A node and a leaf are allocated in turn, so they share pages.  The
 * leaves of the first half of the list are pointed to only by the nodes
 * of the second half (node n/2 + k -> leaf k). */
struct node {
    struct node *next;
    struct node *leaf;
    uint64_t magic;
    uint64_t index;
};

static struct node *head;
static struct node **leaves;   /* libc memory, not a root */

static int flunk(const char *what)
{
    fprintf(stderr, "FAIL: %s\n", what);
    return 1;
}

/* Keeps the leaves alive while the list is built; cleared after. */
static struct node **keep;

static TU_NOINLINE bool build(void)
{
    leaves = malloc(NODES * sizeof *leaves);
    keep = cogc_malloc(NODES / 2 * sizeof *keep);
    struct node *prev = NULL;
    for (size_t i = 0; leaves && keep && i < NODES; i++) {
        struct node *n = cogc_malloc(sizeof *n), *l = cogc_malloc(sizeof *l);
        if (!n || !l)
            return false;
        *n = (struct node){NULL, NULL, NODE_MAGIC, i};
        *l = (struct node){NULL, NULL, LEAF_MAGIC, i};
        leaves[i] = (struct node *)TU_HIDE(l);
        if (i < NODES / 2)
            keep[i] = l;
        if (prev)
            prev->next = n;
        else
            head = n;
        prev = n;
    }
    size_t i = 0;
    for (struct node *n = head; n; n = n->next, i++)
        if (i >= NODES / 2)
            n->leaf = TU_UNHIDE(leaves[i - NODES / 2]);
    if (keep)
        memset(keep, 0, NODES / 2 * sizeof *keep);
    keep = NULL;
    return leaves != NULL;
}

static size_t damaged(void)
{
    size_t bad = 0, i = 0;
    for (const struct node *n = head; n && i < NODES; n = n->next, i++) {
        if (cogc_base(n) != n || n->magic != NODE_MAGIC || n->index != i) {
            fprintf(stderr, "node %zu damaged\n", i);
            return bad + NODES - i;
        }
        if (i >= NODES / 2) {
            const struct node *l = n->leaf;
            if (!l || cogc_base(l) != l || l->magic != LEAF_MAGIC || l->index != i - NODES / 2) {
                if (!bad)
                    fprintf(stderr, "leaf %zu (of node %zu) damaged: %p\n", i - NODES / 2, i, (void *)l);
                bad++;
            }
        }
    }
    return bad + NODES - i;
}

static struct cogc_stats stats(void)
{
    struct cogc_stats s;
    memset(&s, 0, sizeof s);
    if (cogc_get_stats(&s, sizeof s) != 0) {
        fprintf(stderr, "FAIL: cogc_get_stats\n");
        exit(1);
    }
    return s;
}

/* A cycle has started (a pause that is not a collection yet) and not ended. */
static bool cycle_running(const struct cogc_stats *before)
{
    struct cogc_stats s = stats();
    return s.pauses > before->pauses && s.collections == before->collections;
}

static int run(void)
{
    if (!build())
        return flunk("building the structure");
    tu_full();
    tu_full();
    /* One cycle to its end first: a cycle's start stamps the pages it
     * begins to watch as just written, and those are not sent out until
     * a collection later. */
    struct cogc_stats a = stats();
    for (int i = 0; i < 100000 && stats().collections == a.collections; i++)
        tu_churn(64, 64);
    tu_full();
    size_t sent1 = 0, sent2 = 0;
    /* The lowest addresses first: the head's quarter, with leaves that
     * nothing out points to yet. */
    if (cogc_bookmark_evict(QUARTER, &sent1) != 0 || sent1 < QUARTER / 2)
        return flunk("sending the first quarter out");

    /* Allocate until a cycle starts, then a little more (one CPU: each
     * allocation slow path marks a step): the marker goes through the
     * quarter that is out (its pages met as targets) into the second
     * quarter, not as far as the second half. */
    struct cogc_stats s0 = stats();
    for (int i = 0; i < 100000 && !cycle_running(&s0); i++)
        tu_churn(64, 16);
    if (!cycle_running(&s0))
        return flunk("no incremental cycle started (COGC_INCREMENTAL=1, one CPU expected)");
    tu_churn(64, 64 * 8);
    if (!cycle_running(&s0))
        return flunk("the cycle ended before the second eviction (too little marking left)");

    /* In the middle of the cycle, everything old goes: the second half's
     * nodes bookmark leaves on pages that went out first, which the
     * marker has met already in this cycle. */
    if (cogc_bookmark_evict(SIZE_MAX, &sent2) != 0)
        return flunk("cogc_bookmark_evict during a cycle");
    bool mid = cycle_running(&s0);
    printf("sent out %zu KiB before the cycle, %zu KiB during it (still marking: %d)\n", sent1 >> 10,
           sent2 >> 10, mid);
    if (!mid || sent2 < QUARTER / 2)
        return flunk("the second eviction should have sent out most of the rest while the cycle marked");

    for (int r = 0; r < 6; r++) {
        tu_clear_stack();
        tu_churn(64, 20000);
        tu_churn(6000, 200);
        if (r % 3 == 2)
            tu_full();
    }
    tu_full();
    struct cogc_stats s1 = stats();
    printf("after %llu collections: %llu pages out\n", (unsigned long long)(s1.collections - s0.collections),
           (unsigned long long)s1.pages_out);
    size_t bad = damaged();
    if (bad) {
        fprintf(stderr, "%zu damaged objects\n", bad);
        return flunk("objects reachable through pages sent out during a cycle were lost");
    }
    printf("ok\n");
    return 0;
}

int main(void)
{
    tu_require_dirty_backend();
    if (!cogc_get_incremental() || cogc_get_generational()) {
        printf("SKIP: needs COGC_INCREMENTAL=1 and COGC_GENERATIONAL=0 (ctest sets them)\n");
        return 77;
    }
    return run();
}
