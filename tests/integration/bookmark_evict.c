/* bookmark_evict: pages the bookmarking layer sends out lose nothing, and
 * collections do not read them.
 *
 * A checked list (and old objects) is made old, most of its pages are sent
 * out with cogc_bookmark_evict; then old objects on evicted pages receive
 * the only pointers to new chains (the write must bring their pages back),
 * the second half of the list is dropped (its evicted blocks must be freed
 * without being read), garbage is churned and collections of every kind
 * run.  Every node and chain is checked at the end; COGC_VERIFY=1 (set by
 * ctest) re-traces the whole heap, evicted pages included, after every
 * collection.
 *
 * `bookmark_evict swap` does the same with swap on (zram set up and torn
 * down here when none is on; root only, else it skips saying why) and also
 * asserts that the evicted pages really left memory (mincore) and that the
 * collections afterwards caused (almost) no major page faults. */
#define _GNU_SOURCE
#include "testutil.h"
#include "test_swap.h"

#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define NODES (400 * 1000)  /* 64-byte nodes: 25 MB */
#define OLDS 4096
#define CHAIN 3
#define SEED 0x600dull

struct old {
    uint64_t magic;
    struct tu_node *chain;   /* written after eviction: the only reference */
    uint64_t pad[6];
};
#define OLD_MAGIC 0x01DB00C0FFEE0001ull

static struct tu_node *head;
static struct old **olds;
static uintptr_t *hidden;    /* libc memory, not a root: node addresses for mincore */

static int flunk(const char *what)
{
    fprintf(stderr, "FAIL: %s\n", what);
    return 1;
}

static TU_NOINLINE void build(void)
{
    head = tu_list_make(NODES, SEED);
    olds = cogc_malloc(OLDS * sizeof *olds);
    for (size_t i = 0; head && olds && i < OLDS; i++) {
        olds[i] = cogc_malloc(sizeof **olds);
        if (!olds[i])
            break;
        olds[i]->magic = OLD_MAGIC;
    }
    hidden = malloc(NODES * sizeof *hidden);
    size_t i = 0;
    for (struct tu_node *x = head; x && hidden; x = x->next)
        hidden[i++] = TU_HIDE(x);
}

/* Pages of nodes [from, to) that are not in memory now. */
static size_t nonresident(size_t from, size_t to, size_t *pages)
{
    size_t out = 0, n = 0;
    uintptr_t last = 0;
    for (size_t i = from; i < to; i++) {
        uintptr_t p = (uintptr_t)TU_UNHIDE(hidden[i]) & ~(uintptr_t)4095;
        if (p == last)
            continue;
        last = p;
        unsigned char v;
        if (mincore((void *)p, 4096, &v) == 0) {
            n++;
            out += !(v & 1);
        }
    }
    *pages = n;
    return out;
}

static int evict(size_t *sent)
{
    if (cogc_bookmark_evict(SIZE_MAX, sent) == 0)
        return 0;
    perror("cogc_bookmark_evict");
    return -1;
}

static TU_NOINLINE void give_chains(void)
{
    for (size_t i = 0; i < OLDS; i += 8)
        olds[i]->chain = tu_list_make(CHAIN, SEED + i);
}

/* Through the saved address: walking the list would read its pages back. */
static TU_NOINLINE void cut_list(void)
{
    struct tu_node *x = TU_UNHIDE(hidden[NODES / 2 - 1]);
    x->next = NULL;
}

static TU_NOINLINE void churn_and_collect(int rounds)
{
    for (int r = 0; r < rounds; r++) {
        tu_clear_stack();
        tu_churn(64, 20000);
        tu_churn(256, 4000);
        tu_churn(6000, 200);
        if (r % 2)
            cogc_collect_minor();
        else
            cogc_collect();
    }
    cogc_collect();
}

static int body(bool swap)
{
    build();
    if (!head || !olds || !hidden)
        return flunk("building the structure");
    cogc_collect();
    cogc_collect();
    size_t sent = 0;
    if (evict(&sent) != 0)
        return flunk("cogc_bookmark_evict");
    struct cogc_stats s0 = tu_stats();
    printf("sent out %zu KiB (%llu pages out, %llu bookmarks)\n", sent >> 10,
           (unsigned long long)s0.pages_out, (unsigned long long)s0.bookmarks_set);
    if (sent < (size_t)NODES * 64 / 2 || s0.pages_out * 4096 != sent || !s0.bookmarks_set)
        return flunk("most of the old list should have been sent out, with bookmarks");
    size_t pages, live_pages;
    size_t out_before = 0, live_out_before = 0;
    if (swap) {
        out_before = nonresident(0, NODES, &pages);
        live_out_before = nonresident(0, NODES / 2, &live_pages);
        printf("not resident after eviction: %zu of %zu list pages\n", out_before, pages);
        if (out_before < pages / 2)
            return flunk("MADV_PAGEOUT left most evicted pages in memory");
    }

    give_chains();
    cut_list();
    uint64_t faults0 = tu_stats().collection_major_faults;
    churn_and_collect(8);
    struct cogc_stats s1 = tu_stats();
    printf("after %llu collections: %llu pages out, collection major faults %llu\n",
           (unsigned long long)(s1.collections - s0.collections), (unsigned long long)s1.pages_out,
           (unsigned long long)(s1.collection_major_faults - faults0));
    if (s1.pages_out * 4 > s0.pages_out * 3)
        return flunk("the dropped half's evicted blocks should have been freed");
    if (!s1.pages_out)
        return flunk("the live half's pages, never written, should still be out");
    if (swap) {
        size_t live_out = nonresident(0, NODES / 2, &live_pages);
        uint64_t faults = s1.collection_major_faults - faults0;
        printf("live half not resident: %zu of %zu pages (was %zu)\n", live_out, live_pages, live_out_before);
        if (live_out * 10 < live_out_before * 9)
            return flunk("collections brought evicted pages back into memory");
        if (faults > 16 + live_out_before / 100)
            return flunk("collections caused major page faults");
    }

    size_t bad = tu_list_bad(head, NODES / 2, SEED);
    for (size_t i = 0; i < OLDS; i++) {
        if (olds[i]->magic != OLD_MAGIC)
            bad++;
        if (i % 8 == 0)
            bad += tu_list_bad(olds[i]->chain, CHAIN, SEED + i);
    }
    if (bad) {
        fprintf(stderr, "%zu damaged objects\n", bad);
        return flunk("objects reachable through evicted pages were lost");
    }
    /* Everything read back: the pages are in memory, and a full collection
     * after writes brings them back as far as the collector knows. */
    for (size_t i = 0; i < OLDS; i++)
        olds[i]->pad[0] = i;
    cogc_collect();
    printf("ok: %llu pages still out\n", (unsigned long long)tu_stats().pages_out);
    return 0;
}

/* Swap on for the run (zram, when none is on), the body in a child. */
static int with_swap(char **argv)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root (sets up zram swap)\n");
        return 77;
    }
    int swap = ts_swap_up("1G");
    if (swap < 0)
        return 77;
    int rc = 1;
    pid_t pid = fork();
    if (pid == 0) {
        alarm(200);
        setenv("CK_FORK", "no", 1);
        execl("/proc/self/exe", argv[0], "swap-child", (char *)NULL);
        _exit(3);
    }
    int st = 0;
    if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st))
        rc = WEXITSTATUS(st);
    else
        fprintf(stderr, "FAIL: child %s\n", pid < 0 ? "not started" : "killed");
    if (swap == 1 && ts_swap_off() != 0)
        rc = 1;
    return rc;
}

static bool swap_child;

START_TEST(evicted_pages)
{
    ck_assert_int_eq(body(swap_child), 0);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "swap") == 0)
        return with_swap(argv);
    swap_child = argc > 1 && strcmp(argv[1], "swap-child") == 0;
    tu_require_dirty_backend();
    struct cogc_stats st;
    cogc_get_stats(&st, sizeof st);
    printf("bookmark_evict: backend %s, generational %d\n", st.dirty_backend, cogc_get_generational());
    Suite *su = suite_create("bookmark_evict");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, evicted_pages);
    suite_add_tcase(su, tc);
    return tu_run_suite(su);
}
