/* gen_growth: in generational mode, a heap whose old generation holds
 * promoted garbage is collected in full before it grows, once the program
 * has allocated enough since the last full collection; a heap that grows
 * because what it promotes lives is not (it grows, with full collections
 * only as it doubles). */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdbool.h>

#define NODE 64
#define MB ((size_t)1 << 20)

struct node {
    struct node *next;
    uintptr_t tag;
};

static struct node *g_long;      /* .bss: roots */
static struct node *g_promoted;

/* bytes of new nodes tagged tag, in front of the list rest. */
static struct node *make_list(size_t bytes, uintptr_t tag, struct node *rest)
{
    struct node *head = rest;
    for (size_t i = 0; i < bytes / NODE; i++) {
        struct node *n = cogc_malloc(NODE);
        ck_assert_ptr_nonnull(n);
        n->next = head;
        n->tag = tag;
        head = n;
    }
    return head;
}

static size_t list_bytes(const struct node *n, uintptr_t tag)
{
    size_t bytes = 0;
    for (; n; n = n->next) {
        ck_assert_msg(n->tag == tag, "list node %p lost its contents", (const void *)n);
        bytes += NODE;
    }
    return bytes;
}

static uint64_t fulls(const struct cogc_stats *s) { return s->collections - s->minor_collections; }

static void skip_unless_minor(void)
{
    cogc_collect();   /* marks are the old generation from here */
    struct cogc_stats s0 = tu_stats();
    cogc_collect_minor();
    tu_skip_unless_minor_since(&s0);
}

/* 16 MB live and 32 MB of short-lived garbage after a full collection;
 * then 6 MB promoted by a minor collection and dropped, and more garbage:
 * beside the old generation with it, the young one (8 MB) does not fit
 * the heap any more.  A full collection, not a chunk more. */
START_TEST(test_promoted_garbage_collected_before_growth)
{
    skip_unless_minor();
    g_long = make_list(16 * MB, 1, NULL);
    cogc_collect();
    tu_churn(NODE, 32 * MB / NODE);
    struct cogc_stats s0 = tu_stats();
    g_promoted = make_list(6 * MB, 2, NULL);
    cogc_collect_minor();   /* promotes it */
    ck_assert_uint_eq(list_bytes(g_promoted, 2), 6 * MB);
    g_promoted = NULL;
    tu_clear_stack();
    tu_churn(NODE, 32 * MB / NODE);
    struct cogc_stats s1 = tu_stats();
    printf("heap %llu -> %llu KiB; %llu full, %llu minor collections\n",
           (unsigned long long)(s0.heap_bytes >> 10), (unsigned long long)(s1.heap_bytes >> 10),
           (unsigned long long)(fulls(&s1) - fulls(&s0)),
           (unsigned long long)(s1.minor_collections - s0.minor_collections));
    ck_assert_uint_eq(list_bytes(g_long, 1), 16 * MB);
    ck_assert_msg(fulls(&s1) > fulls(&s0), "no full collection freed the 6 MB of promoted garbage");
    ck_assert_msg(s1.heap_bytes <= s0.heap_bytes,
                  "the heap grew from %llu to %llu KiB with 6 MB of promoted garbage to free",
                  (unsigned long long)(s0.heap_bytes >> 10), (unsigned long long)(s1.heap_bytes >> 10));
}
END_TEST

/* A list that grows to 96 MB, all of it live: the heap grows, and full
 * collections (each marks all of it) stay few. */
START_TEST(test_live_growth_few_fulls)
{
    skip_unless_minor();
    struct cogc_stats s0 = tu_stats();
    g_long = NULL;
    for (int r = 0; r < 96; r++)
        g_long = make_list(MB, 3, g_long);
    struct cogc_stats s1 = tu_stats();
    uint64_t nfull = fulls(&s1) - fulls(&s0);
    printf("heap %llu KiB; %llu full, %llu minor collections\n", (unsigned long long)(s1.heap_bytes >> 10),
           (unsigned long long)nfull, (unsigned long long)(s1.minor_collections - s0.minor_collections));
    ck_assert_uint_eq(list_bytes(g_long, 3), 96 * MB);
    /* The promotion budget (70 % of what the last full one found) brings
     * three or four; without the allocation rule of collect_before_growth,
     * growths of the heap brought 7. */
    ck_assert_msg(nfull <= 5, "%llu full collections while a live list grew to 96 MB",
                  (unsigned long long)nfull);
}
END_TEST

/* A live list built past several young generations, with a pause target
 * that marking 8 MB overruns.  The first minor collection keeps all of
 * its young generation while the old one is small, and asks for a full
 * collection; it also sizes the young generation of the minor collections
 * after that full one.  Without that, the next minor collection took a
 * whole COGC_MIN_TRIGGER again (GCBench depth 22 and Guile: their two
 * longest pauses). */
#define STEP ((size_t)64 << 10)
#define EVENTS 64

START_TEST(test_building_minor_sizes_young_after_full)
{
    skip_unless_minor();
    unsigned target = cogc_get_pause_target();
    ck_assert_int_eq(cogc_set_pause_target(100), 0);
    struct { bool minor; size_t at; } ev[EVENTS];
    size_t nev = 0, built = 0, gap = 0;
    struct cogc_stats prev = tu_stats();
    g_long = NULL;
    while (built < 48 * MB && nev < EVENTS) {
        g_long = make_list(STEP, 4, g_long);
        built += STEP;
        struct cogc_stats now = tu_stats();
        if (now.collections != prev.collections) {
            ev[nev].minor = now.minor_collections != prev.minor_collections;
            ev[nev++].at = built;
        }
        prev = now;
        /* minor (all kept), then full, then the collection after it */
        if (nev >= 3 && ev[nev - 3].minor && !ev[nev - 2].minor) {
            gap = ev[nev - 1].at - ev[nev - 2].at;
            break;
        }
    }
    ck_assert_int_eq(cogc_set_pause_target(target), 0);
    for (size_t i = 0; i < nev; i++)
        printf("%s collection after %zu KiB built\n", ev[i].minor ? "minor" : "full", ev[i].at >> 10);
    ck_assert_uint_eq(list_bytes(g_long, 4), built);
    ck_assert_msg(gap, "no minor collection, full collection, collection sequence in 48 MB built");
    ck_assert_msg(gap <= 4 * MB,
                  "%zu KiB allocated between the full collection and the next one: the young "
                  "generation was not sized by the minor collection that kept 8 MB",
                  gap >> 10);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen_growth");
    TCase *tc = tcase_create("growth");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_promoted_garbage_collected_before_growth);
    tcase_add_test(tc, test_live_growth_few_fulls);
    tcase_add_test(tc, test_building_minor_sizes_young_after_full);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
