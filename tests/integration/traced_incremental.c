/* Traced objects (cogc_malloc_traced) under incremental collection: their
 * procedures are called at a cycle's start so that what they reach is
 * marked concurrently (gc/finalize.c, finalize_pretrace).  Pointers stored
 * into a traced object while a cycle runs must still keep their targets
 * alive (the final pause calls the procedure again), and a traced object
 * that dies must not keep what it reported alive for ever. */
#define _GNU_SOURCE
#include "testutil.h"

#define SLOTS 512

struct table {
    uint64_t magic;
    struct tu_node *slot[SLOTS];
};

static void trace_table(void *p, void *env)
{
    (void)env;
    struct table *t = p;
    for (int i = 0; i < SLOTS; i++)
        cogc_trace_mark(t->slot[i]);
}

static struct table *g_table;

START_TEST(stores_during_cycles_survive)
{
    ck_assert_int_eq(cogc_set_incremental(1), 0);
    g_table = cogc_malloc_traced(sizeof *g_table, trace_table, NULL);
    ck_assert_ptr_nonnull(g_table);
    static uint64_t seed[SLOTS];
    uint64_t rnd = 7;
    struct cogc_stats before = tu_stats();
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 64; k++) {
            int i = (int)(tu_rnd(&rnd) % SLOTS);
            /* the table holds the only reference */
            seed[i] = (uint64_t)i * 1000 + (uint64_t)round;
            g_table->slot[i] = tu_list_make(8, seed[i]);
            TU_BARRIER();
        }
        tu_churn(48, 4000);   /* garbage of the same size: a lost node is reused */
        for (int i = 0; i < SLOTS; i++) {
            if (g_table->slot[i])
                ck_assert_msg(!tu_list_bad(g_table->slot[i], 8, seed[i]), "slot %d damaged in round %d", i, round);
        }
    }
    struct cogc_stats after = tu_stats();
    ck_assert_uint_gt(after.collections, before.collections);
    g_table = NULL;
    cogc_set_incremental(0);
}
END_TEST

/* Weak links to the dead table's targets, in memory the collector does
 * not scan (malloc's): cleared when their targets are reclaimed. */
static void **g_links;

static TU_NOINLINE void make_dead_table(void)
{
    struct table *t = cogc_malloc_traced(sizeof *t, trace_table, NULL);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < SLOTS; i++) {
        t->slot[i] = cogc_malloc(sizeof(struct tu_node));
        ck_assert_ptr_nonnull(t->slot[i]);
        g_links[i] = t->slot[i];
        ck_assert_int_eq(cogc_register_disappearing_link(&g_links[i], t->slot[i]), 0);
    }
}

START_TEST(dead_table_releases_its_targets)
{
    /* Not generational: there, dead old objects wait for a full cycle,
     * which allocation alone may not bring within this test. */
    int gen = cogc_get_generational();
    cogc_set_generational(0);
    ck_assert_int_eq(cogc_set_incremental(1), 0);
    g_links = calloc(SLOTS, sizeof *g_links);
    ck_assert_ptr_nonnull(g_links);
    make_dead_table();
    tu_clear_stack();
    /* Allocation alone: cycles start and end on their own (an explicit
     * collection would be a stop-the-world one, which does not call the
     * procedures at a start).  The first cycle may keep the targets. */
    struct cogc_stats before = tu_stats();
    for (int i = 0; i < 16; i++)
        tu_churn(64, 200000);
    ck_assert_uint_ge(tu_stats().collections, before.collections + 3);
    size_t kept = 0;
    for (int i = 0; i < SLOTS; i++)
        kept += g_links[i] != NULL;
    ck_assert_msg(kept == 0, "%zu of %d objects reported by a dead traced object still alive", kept, SLOTS);
    free(g_links);
    cogc_set_incremental(0);
    cogc_set_generational(gen);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("traced_incremental");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, stores_during_cycles_survive);
    tcase_add_test(tc, dead_table_releases_its_targets);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
