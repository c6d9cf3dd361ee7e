/* gen_stress: the lost-object cases of generational and incremental
 * collection, verified by contents (and by COGC_VERIFY when set).
 *
 * Old objects (marked by a full collection) receive the only pointers to
 * young objects, and the other references are dropped before the next
 * minor collection: a missed write to an old page frees a live object,
 * which the content check (and the verifier) catch.  Variants: one
 * mutator; eight mutators while another thread collects; a pointer
 * written into an old object by read(2) (the kernel's write, not the
 * program's).  ctest runs it once per dirty-bit backend (COGC_DIRTY); a
 * backend this kernel lacks makes it skip with the reason. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#define YMAGIC 0x8A0000000000001Bull
#define OMAGIC 0x8B0000000000002Cull
#define SLOTS 7

/* COGC_TEST_LIGHT=1 (tsan preset): fewer rounds and old objects, the same
 * checks (every round's young chains are checked against the old slots). */
static int g_div = 1;

struct ynode {
    uint64_t magic;
    uint64_t seed;
    struct ynode *next;
    uint64_t pay[5];
};

struct onode {
    uint64_t magic;
    struct ynode *slot[SLOTS];
};


static struct ynode *ynode_new(uint64_t seed, struct ynode *next)
{
    struct ynode *y = cogc_malloc(sizeof *y);
    if (!y)
        return NULL;
    y->magic = YMAGIC;
    y->seed = seed | 0x8000000000000000ull;
    y->next = next;
    for (int i = 0; i < 5; i++)
        y->pay[i] = tu_word(seed, (uint64_t)i);
    return y;
}

/* A chain of young nodes, checked node by node; returns the errors. */
static long check_chain(const struct ynode *y)
{
    long bad = 0;
    for (; y; y = y->next) {
        if (y->magic != YMAGIC) {
            bad++;
            break;
        }
        uint64_t seed = y->seed & ~0x8000000000000000ull;
        for (int i = 0; i < 5; i++)
            if (y->pay[i] != tu_word(seed, (uint64_t)i))
                bad++;
    }
    return bad;
}

/* Old array of n nodes, made old by a full collection by the caller. */
static struct onode **old_new(size_t n)
{
    struct onode **o = cogc_malloc(n * sizeof *o);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        o[i] = cogc_malloc(sizeof **o);
        if (!o[i])
            return NULL;
        o[i]->magic = OMAGIC;
    }
    return o;
}

static long check_old(struct onode **o, size_t n)
{
    long bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (o[i]->magic != OMAGIC) {
            bad++;
            continue;
        }
        for (int k = 0; k < SLOTS; k++)
            bad += check_chain(o[i]->slot[k]);
    }
    return bad;
}

/* One mutator's rounds: young chains hung from random old slots, only
 * reference dropped, garbage in between, collections triggered by
 * allocation and (collect != 0) explicitly. */
static TU_NOINLINE long mutate(struct onode **o, size_t n, uint64_t seed, int rounds, int collect,
                               struct tu_pace *pace)
{
    long bad = 0;
    uint64_t s = seed | 1;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 200; k++) {
            /* A chain of 1-4 young nodes: only the old slot will hold it. */
            struct ynode *y = NULL;
            int len = 1 + (int)(tu_rnd(&s) % 4);
            for (int j = 0; j < len; j++)
                y = ynode_new(tu_rnd(&s) & 0xffffffffffffull, y);
            struct onode *dst = o[tu_rnd(&s) % n];
            dst->slot[tu_rnd(&s) % SLOTS] = y;
            y = NULL;
            TU_BARRIER();
            /* Garbage of the same size: a freed live node gets reused. */
            for (int g = 0; g < 20; g++) {
                struct ynode *junk = ynode_new(0, NULL);
                junk->pay[0] = 0x8123456789abcdefull;
            }
            if (pace && k % 25 == 24)
                tu_pace_step(pace);
        }
        if (collect)
            cogc_collect_minor();
        if (r % 10 == 9)
            bad += check_old(o, n);
    }
    return bad + check_old(o, n);
}

START_TEST(one_mutator_old_to_young)
{
    const size_t N = 20000 / (size_t)g_div;
    struct onode **o = old_new(N);
    ck_assert_ptr_nonnull(o);
    cogc_collect();
    ck_assert_int_eq(mutate(o, N, 0x1234, 60 / g_div, 1, NULL), 0);
    struct cogc_stats st;
    cogc_get_stats(&st, sizeof st);
    if (cogc_get_generational())
        ck_assert_uint_gt(st.minor_collections, 0);
    cogc_collect();
    ck_assert_int_eq(check_old(o, N), 0);
}
END_TEST

/* ---- eight mutators, one thread collecting ---------------------------- */

#define NTHREADS 8
static struct tu_pace g_pace = TU_PACE_INIT;

struct job {
    uint64_t seed;
    long bad;
};

static void *mutator(void *arg)
{
    struct job *j = arg;
    const size_t N = 4000 / (size_t)g_div;
    struct onode **o = old_new(N);
    if (!o) {
        j->bad = -1;
        return NULL;
    }
    cogc_collect();
    j->bad = mutate(o, N, j->seed, 20 / g_div, 0, &g_pace);
    return NULL;
}

static void *collector(void *arg)
{
    (void)arg;
    unsigned long seen = 0;
    while (tu_pace_wait(&g_pace, &seen))
        cogc_collect_minor();
    return NULL;
}

START_TEST(eight_mutators_and_a_collector)
{
    pthread_t t[NTHREADS], c;
    struct job jobs[NTHREADS];
    tu_pace_reset(&g_pace);
    ck_assert_int_eq(cogc_pthread_create(&c, NULL, collector, NULL), 0);
    for (int i = 0; i < NTHREADS; i++) {
        jobs[i] = (struct job){.seed = 0x9e37 * (uint64_t)(i + 1)};
        ck_assert_int_eq(cogc_pthread_create(&t[i], NULL, mutator, &jobs[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    tu_pace_stop(&g_pace);
    pthread_join(c, NULL);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_msg(jobs[i].bad == 0, "mutator %d: %ld bad nodes", i, jobs[i].bad);
}
END_TEST

/* ---- the kernel writes the only pointer -------------------------------- */

START_TEST(pointer_written_by_read)
{
    const size_t N = 2000 / (size_t)g_div;
    struct onode **o = old_new(N);
    ck_assert_ptr_nonnull(o);
    cogc_collect();
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    uint64_t s = 77;
    for (int r = 0; r < 200 / g_div; r++) {
        struct onode *dst = o[tu_rnd(&s) % N];
        int k = (int)(tu_rnd(&s) % SLOTS);
        struct ynode *y = ynode_new(tu_rnd(&s) & 0xffffffffffffull, ynode_new(5, NULL));
        ck_assert_int_eq(write(fd[1], &y, sizeof y), (ssize_t)sizeof y);
        /* The pipe holds the value; the old object gets it from the kernel. */
        ck_assert_int_eq(cogc_prepare_syscall_write(&dst->slot[k], sizeof y), 0);
        ck_assert_int_eq(read(fd[0], &dst->slot[k], sizeof y), (ssize_t)sizeof y);
        y = NULL;
        TU_BARRIER();
        for (int g = 0; g < 2000; g++)
            ynode_new(0, NULL);
        if (r % 4 == 0)
            cogc_collect_minor();
    }
    ck_assert_int_eq(check_old(o, N), 0);
    close(fd[0]);
    close(fd[1]);
}
END_TEST

/* A structure built since the last full collection makes up most of what
 * a minor collection keeps: the next collection is full, and in
 * incremental mode that minor collection leaves the structure's pages
 * unarmed (watch_defer_to_cycle).  Young chains hung from it before and
 * after the cycle that follows must all survive. */
START_TEST(built_then_mutated_before_cycle)
{
    const size_t N = 60000 / (size_t)g_div;
    cogc_collect();
    struct onode **o = old_new(N);
    ck_assert_ptr_nonnull(o);
    struct cogc_stats s0 = tu_stats();
    cogc_collect_minor();
    struct cogc_stats s1 = tu_stats();
    if (cogc_get_generational())
        ck_assert_uint_gt(s1.minor_collections, s0.minor_collections);
    /* Until the full collection (or cycle) and one more have run. */
    long bad = 0;
    int rounds = 0;
    while (tu_stats().collections < s1.collections + 2 && rounds < 600) {
        bad += mutate(o, N, 0x5678 + (uint64_t)rounds, 10, 0, NULL);
        rounds += 10;
    }
    struct cogc_stats s2 = tu_stats();
    printf("built_then_mutated_before_cycle: %llu collections in %d rounds after the minor one\n",
           (unsigned long long)(s2.collections - s1.collections), rounds);
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_ge(s2.collections, s1.collections + 2);
    cogc_collect();
    ck_assert_int_eq(check_old(o, N), 0);
}
END_TEST

int main(void)
{
    if (tu_light())
        g_div = 5;
    tu_require_dirty_backend();
    struct cogc_stats st;
    cogc_get_stats(&st, sizeof st);
    printf("gen_stress: backend %s, generational %d\n", st.dirty_backend, cogc_get_generational());
    Suite *su = suite_create("gen_stress");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, built_then_mutated_before_cycle);
    tcase_add_test(tc, one_mutator_old_to_young);
    tcase_add_test(tc, pointer_written_by_read);
    tcase_add_test(tc, eight_mutators_and_a_collector);
    suite_add_tcase(su, tc);
    return tu_run_suite(su);
}
