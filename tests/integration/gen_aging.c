/* gen_aging: survivor aging in generational mode.  A young object that
 * survives one minor collection is aged, not promoted: the next minor
 * collection frees it if it died meanwhile.  Aged objects lose their
 * marks at that collection, so it must reach them again from everything
 * the last one scanned: pages rescanned then, objects promoted then, the
 * static roots, finalizer entries.  Each case below stores the only
 * pointer to an object where one of those reaches it; the collections run
 * with COGC_VERIFY=1 (a reachable object left unmarked aborts) and the
 * contents are checked after more collections and garbage. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdbool.h>

#define NODE 64
#define MAGIC 0x5a5a0000u

struct node {
    struct node *next;
    uintptr_t tag;
    struct node *other;
};

/* Each alone in a 64-word block of static roots: no other write makes
 * the minor collection push its block (roots_minor.c). */
static _Alignas(512) struct node *g_root[64];
static _Alignas(512) void *g_link[64];
static _Alignas(512) struct node *g_holder[64];

static uint64_t fulls(const struct cogc_stats *s) { return s->collections - s->minor_collections; }

static struct node *node(uintptr_t tag)
{
    struct node *n = cogc_malloc(sizeof *n);
    ck_assert_ptr_nonnull(n);
    n->tag = MAGIC | tag;
    return n;
}

/* A young generation mostly dead, so that its survivors are aged (most
 * of it surviving promotes at once: aging.c). */
static void garbage(void) { tu_churn(NODE, 40000); }

/* Generational mode on, the old generation settled; skipped without it. */
static struct cogc_stats start(void)
{
    tu_full();
    struct cogc_stats s0 = tu_stats();
    tu_minor();
    tu_skip_unless_minor_since(&s0);
    return tu_stats();
}

static void no_full_since(const struct cogc_stats *s0)
{
    struct cogc_stats s = tu_stats();
    ck_assert_msg(fulls(&s) == fulls(s0), "a full collection ran (%llu since)",
                  (unsigned long long)(fulls(&s) - fulls(s0)));
}

static void check(const struct node *n, uintptr_t tag)
{
    ck_assert_msg(n->tag == (MAGIC | tag), "node %p (tag %lu) lost its contents: %#lx", (const void *)n,
                  (unsigned long)tag, (unsigned long)n->tag);
}

static void settle(void)
{
    for (int i = 0; i < 3; i++) {
        garbage();
        tu_minor();
    }
    tu_collect_hard(2);
}

#define MANY 64
static struct node *g_many[MANY];
static void *g_many_link[MANY];

static TU_NOINLINE void linked_many(void)
{
    for (int i = 0; i < MANY; i++) {
        g_many[i] = node((uintptr_t)i);
        ck_assert_int_eq(cogc_register_disappearing_link(&g_many_link[i], g_many[i]), 0);
        g_many_link[i] = (void *)~(uintptr_t)g_many[i];   /* hidden: the link must not keep it */
    }
}

static int links_cleared(void)
{
    int n = 0;
    for (int i = 0; i < MANY; i++)
        n += g_many_link[i] == NULL;
    return n;
}

/* What survives one minor collection and dies before the next is freed
 * by that next one, without a full collection.  Many objects, so that a
 * stale copy of an address somewhere on a stack (conservative roots)
 * cannot decide the outcome. */
static void dies_at_second_minor(const struct cogc_stats *s0, const char *after)
{
    linked_many();
    garbage();
    tu_minor();
    ck_assert_int_eq(links_cleared(), 0);
    for (int i = 0; i < MANY; i++)
        check(g_many[i], (uintptr_t)i);
    memset(g_many, 0, sizeof g_many);
    garbage();
    tu_minor();
    no_full_since(s0);
    int cleared = links_cleared();
    ck_assert_msg(cleared >= MANY / 2,
                  "%d of %d objects that survived one minor collection%s and died were freed by the "
                  "next one: the others were promoted",
                  cleared, MANY, after);
}

START_TEST(test_dies_at_second_minor)
{
    struct cogc_stats s0 = start();
    dies_at_second_minor(&s0, "");
}
END_TEST

/* The steps below are separate functions, so that no callee-saved
 * register of the test's frame holds a pointer across a collection. */
static TU_NOINLINE void make_holder(int i, uintptr_t tag)
{
    /* Its own size class: its page holds none of the nodes. */
    g_holder[i] = cogc_malloc(512);
    ck_assert_ptr_nonnull(g_holder[i]);
    g_holder[i]->tag = MAGIC | tag;
}

/* A new node at the end of the chain from g_holder[i], `depth` links down. */
static TU_NOINLINE void append(int i, int depth, uintptr_t tag)
{
    struct node *n = g_holder[i];
    while (depth-- > 0)
        n = n->other;
    n->other = node(tag);
}

static TU_NOINLINE void check_chain(int i, uintptr_t tag0, int n)
{
    struct node *p = g_holder[i];
    for (int k = 0; k < n; k++, p = p->other)
        check(p, tag0 + (uintptr_t)k);
}

/* From old holder i (tag `tag`): a node stored in it before a minor
 * collection (which rescans the holder's page and ages the node), then a
 * node stored only in that aged one (its page not armed), then a minor
 * collection that clears the first node's mark and must reach it again
 * through the holder, which nothing wrote since. */
static void chain_over_minors(int i, uintptr_t tag, const struct cogc_stats *s0)
{
    append(i, 0, tag + 1);
    garbage();
    tu_minor();
    append(i, 1, tag + 2);
    garbage();
    tu_minor();
    garbage();
    tu_minor();
    no_full_since(s0);
    check_chain(i, tag, 3);
    settle();
    check_chain(i, tag, 3);
    g_holder[i] = NULL;
}

/* An old object's page written before the first minor collection (so
 * rescanned by it) holds the only pointer to an aged object, which the
 * program then writes (its page is not armed).  The second minor
 * collection must rescan that page although nothing wrote it since. */
START_TEST(test_reached_through_page_rescanned_before)
{
    start();
    make_holder(0, 10);
    tu_full();   /* old */
    struct cogc_stats s0 = tu_stats();
    chain_over_minors(0, 10, &s0);
}
END_TEST

/* The same with the holder's block young again (its dead neighbours'
 * slots handed out since the last collection): its rescanned page is
 * recomputed with the young blocks, not re-armed with the others. */
static TU_NOINLINE void reuse_holder_block(void)
{
    for (int k = 0; k < 64; k++)
        ck_assert_ptr_nonnull(cogc_malloc(512));
}

START_TEST(test_reached_through_page_rescanned_in_young_block)
{
    start();
    for (int k = 0; k < 8; k++)
        make_holder(16 + k, 50);   /* a page of them; one kept */
    for (int k = 1; k < 8; k++)
        g_holder[16 + k] = NULL;
    tu_full();
    struct cogc_stats s0 = tu_stats();
    reuse_holder_block();
    chain_over_minors(16, 50, &s0);
}
END_TEST

/* An object promoted at a minor collection (aged at the one before) was
 * traced young there, its page unarmed: what it pointed to then, aged by
 * that collection, must be reached through it at the next one. */
START_TEST(test_reached_through_object_promoted)
{
    start();
    make_holder(8, 20);
    tu_full();
    struct cogc_stats s0 = tu_stats();
    append(8, 0, 21);
    garbage();
    tu_minor();   /* 21 aged */
    append(8, 1, 22);   /* into the aged object */
    garbage();
    tu_minor();   /* 21 promoted (traced young), 22 aged */
    append(8, 2, 23);
    garbage();
    tu_minor();   /* 22 lost its mark: reached through 21, which nothing wrote */
    garbage();
    tu_minor();
    no_full_since(&s0);
    check_chain(8, 20, 4);
    settle();
    check_chain(8, 20, 4);
    g_holder[8] = NULL;
}
END_TEST

/* Aging goes on after pages went out (cogc_bookmark_evict; COGC_BOOKMARK
 * does the same under memory pressure): what survives one minor collection
 * and then dies is freed by the next one, and the objects the evicted
 * pages point to are kept.  (A page goes out only when no collection since
 * the one before the last saw it written, so what it points to is old by
 * then; bookmark.c promotes anything aged it meets anyway.)  The holders
 * are read only after the collections: reading one brings its page back. */
#define OUT_HOLDERS 8
START_TEST(test_aging_after_pages_sent_out)
{
    start();
    for (int i = 0; i < OUT_HOLDERS; i++)
        make_holder(32 + i, 60 + (uintptr_t)i * 4);
    tu_full();
    struct cogc_stats s0 = tu_stats();
    for (int i = 0; i < OUT_HOLDERS; i++)
        append(32 + i, 0, 61 + (uintptr_t)i * 4);
    garbage();
    tu_minor();   /* the appended nodes aged */
    garbage();
    tu_minor();   /* promoted; the holders' pages not written since the one before */
    size_t sent = 0;
    ck_assert_int_eq(cogc_bookmark_evict(SIZE_MAX, &sent), 0);
    ck_assert_msg(tu_stats().pages_out > 0, "no page went out (%zu bytes sent)", sent);
    dies_at_second_minor(&s0, " after pages went out,");
    for (int i = 0; i < OUT_HOLDERS; i++)
        check_chain(32 + i, 60 + (uintptr_t)i * 4, 2);
    settle();
    for (int i = 0; i < OUT_HOLDERS; i++) {
        check_chain(32 + i, 60 + (uintptr_t)i * 4, 2);
        g_holder[32 + i] = NULL;
    }
}
END_TEST

/* An object of a size class nothing else here uses (so that no sweep
 * reuses its slot), referenced only by a hidden word: garbage after a full
 * collection, in a block that is not young. */
#define REVIVED 320
static uintptr_t g_hidden;

static TU_NOINLINE void hidden_object(uintptr_t tag)
{
    struct node *r = cogc_malloc(REVIVED);
    ck_assert_ptr_nonnull(r);
    r->tag = MAGIC | tag;
    g_hidden = ~(uintptr_t)r;
}

static TU_NOINLINE void revive(int i, uintptr_t tag)
{
    struct node *r = (struct node *)~g_hidden;
    r->other = node(tag);   /* the only pointer to it */
    g_root[i] = r;
}

/* A minor collection marks what a root points to, even an object it finds
 * unmarked outside the young generation (garbage a conservative word kept,
 * as a stale stack slot does): it traces it as young, and ages what it
 * points to.  The next minor collection clears that mark and must reach
 * the aged object through the revived one, which nothing wrote since. */
START_TEST(test_reached_through_object_revived)
{
    start();
    hidden_object(40);
    tu_full();   /* the hidden object is garbage: unmarked, its block not young */
    struct cogc_stats s0 = tu_stats();
    revive(16, 41);
    garbage();
    tu_minor();   /* revived, traced; 41 aged */
    garbage();
    tu_minor();   /* 41 lost its mark: reached through the revived object */
    garbage();
    tu_minor();
    no_full_since(&s0);
    check(g_root[16]->other, 41);
    settle();
    check(g_root[16]->other, 41);
    g_root[16] = NULL;
}
END_TEST

static TU_NOINLINE void root_pair(int i, uintptr_t tag)
{
    g_root[i] = node(tag);
    g_root[i]->other = node(tag + 1);
}

/* A static root written once, before a minor collection that ages its
 * target: the next minor collection finds the root unchanged, and must
 * still reach the target (its mark is gone). */
START_TEST(test_reached_through_unchanged_static_root)
{
    struct cogc_stats s0 = start();
    root_pair(8, 30);
    garbage();
    tu_minor();   /* both aged */
    garbage();
    tu_minor();   /* the root's block is as it was */
    garbage();
    tu_minor();
    no_full_since(&s0);
    check(g_root[8], 30);
    check(g_root[8]->other, 31);
    settle();
    check(g_root[8]->other, 31);
    g_root[8] = NULL;
}
END_TEST

static int finalized;
static void count_final(void *obj, void *data)
{
    (void)obj;
    (void)data;
    finalized++;
}

static TU_NOINLINE void linked_large(int i, size_t bytes, uintptr_t tag)
{
    struct node *n = cogc_malloc(bytes);
    ck_assert_ptr_nonnull(n);
    n->tag = MAGIC | tag;
    n->other = node(tag + 1);   /* the only pointer to it */
    g_root[i] = n;
    ck_assert_int_eq(cogc_register_disappearing_link(&g_link[i], n), 0);
    g_link[i] = (void *)~(uintptr_t)n;
}

/* Large objects age too: one that lives is traced again (what it alone
 * points to stays), one that died is freed by the second minor
 * collection, whether it shares a chunk or has one of its own. */
START_TEST(test_large_objects)
{
    struct cogc_stats s0 = start();
    linked_large(32, 64 << 10, 60);
    linked_large(40, 64 << 10, 62);
    linked_large(48, 6 << 20, 64);   /* a chunk of its own */
    for (int k = 0; k < 8; k++)
        garbage();   /* most of the young generation dead: aged, not promoted */
    tu_minor();
    check(g_root[32]->other, 61);
    g_root[40] = g_root[48] = NULL;
    garbage();
    tu_minor();
    garbage();
    tu_minor();
    no_full_since(&s0);
    check(g_root[32], 60);
    check(g_root[32]->other, 61);
    ck_assert_msg(g_link[40] == NULL && g_link[48] == NULL,
                  "large objects that survived one minor collection and died are still there");
    settle();
    check(g_root[32]->other, 61);
    g_root[32] = NULL;
}
END_TEST

static TU_NOINLINE void finalizable(int i, uintptr_t tag)
{
    g_root[i] = node(tag);
    ck_assert_int_eq(cogc_register_finalizer(g_root[i], count_final, NULL, 0, NULL, NULL), 0);
}

/* A finalizable object that survived one minor collection and died is
 * finalized by the next minor one; one that lives is not. */
START_TEST(test_finalized_at_second_minor)
{
    struct cogc_stats s0 = start();
    cogc_set_finalize_on_demand(1);
    finalizable(16, 40);
    finalizable(24, 41);
    garbage();
    tu_minor();
    ck_assert_uint_eq(cogc_finalizers_pending(), 0);
    g_root[16] = NULL;
    garbage();
    tu_minor();
    no_full_since(&s0);
    ck_assert_uint_eq(cogc_finalizers_pending(), 1);
    cogc_invoke_finalizers();
    ck_assert_int_eq(finalized, 1);
    check(g_root[24], 41);
    g_root[24] = NULL;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen_aging");
    TCase *tc = tcase_create("aging");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dies_at_second_minor);
    tcase_add_test(tc, test_reached_through_page_rescanned_before);
    tcase_add_test(tc, test_reached_through_page_rescanned_in_young_block);
    tcase_add_test(tc, test_reached_through_object_promoted);
    tcase_add_test(tc, test_aging_after_pages_sent_out);
    tcase_add_test(tc, test_reached_through_unchanged_static_root);
    tcase_add_test(tc, test_reached_through_object_revived);
    tcase_add_test(tc, test_finalized_at_second_minor);
    tcase_add_test(tc, test_large_objects);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
