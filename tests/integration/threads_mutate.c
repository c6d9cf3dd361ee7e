/* threads_mutate: 8 threads mutate shared lists (under mutexes) and private
 * trees while collections are triggered by allocation and by cogc_collect
 * from some of them; contents are verified periodically and at the end.
 * Then: short-lived threads start and exit in a loop while another thread
 * collects continuously.
 *
 * THREADS_MUTATE_LIGHT=1 or COGC_TEST_LIGHT=1 runs a shorter version (the
 * memcheck entry and the tsan preset use it: under Valgrind or TSan the
 * full test takes minutes): fewer iterations and
 * rounds, explicit collections more often, a collecting thread that naps
 * between collections, the same checks. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define NTHREADS 8
#define NLISTS 64
/* Iterations per mutator, and the period of their explicit collections. */
static int g_iters = 30000, g_collect_every = 5000, g_exit_rounds = 60;
#define SNODE_MAGIC 0x8A11CE5500000001ull
#define TNODE_MAGIC 0x8EE0000000000002ull

static atomic_long g_errors;

static void error(void) { atomic_fetch_add(&g_errors, 1); }


/* ---- shared lists: nodes of varying size, verified by content --------- */

struct snode {
    uint64_t magic;
    uint64_t key;              /* top bit set: never pointer-like */
    struct snode *next;
    uint64_t npay;
    uint64_t check;
    uint64_t pay[];
};

static struct shared_list {
    pthread_mutex_t mu;
    struct snode *head;
    size_t count;
} g_lists[NLISTS];

static uint64_t snode_check(const struct snode *n) { return (n->key * 7) ^ n->npay ^ 0x8000000000000000ull; }

static struct snode *snode_new(uint64_t key)
{
    uint64_t npay = (key >> 3) % 12;
    struct snode *n = cogc_malloc(sizeof *n + npay * 8);
    if (!n)
        return NULL;
    n->magic = SNODE_MAGIC;
    n->key = key;
    n->npay = npay;
    for (uint64_t i = 0; i < npay; i++)
        n->pay[i] = tu_word(key, i);
    n->check = snode_check(n);
    return n;
}

static int snode_ok(const struct snode *n)
{
    if (!n || cogc_base(n) != n || n->magic != SNODE_MAGIC || n->npay >= 12 || n->check != snode_check(n))
        return 0;
    if (n->npay != (n->key >> 3) % 12 || cogc_base(n) != n)
        return 0;
    for (uint64_t i = 0; i < n->npay; i++)
        if (n->pay[i] != tu_word(n->key, i))
            return 0;
    return 1;
}

/* Verify a list; caller holds its mutex. Returns the number of problems. */
static size_t list_bad(struct shared_list *l)
{
    size_t n = 0, bad = 0;
    for (struct snode *x = l->head; x; x = x->next) {
        if (!snode_ok(x)) {
            bad++;
            break;               /* the links are not trustworthy any more */
        }
        if (++n > l->count)
            break;
    }
    if (!bad && n != l->count)
        bad++;
    return bad;
}

/* ---- private trees --------------------------------------------------- */

struct tnode {
    uint64_t magic;
    uint64_t key;
    struct tnode *left, *right;
    uint64_t check;
    uint64_t pay[3];
};

static struct tnode *tnode_new(uint64_t key)
{
    struct tnode *t = cogc_malloc(sizeof *t);
    if (!t)
        return NULL;
    t->magic = TNODE_MAGIC;
    t->key = key;
    for (int i = 0; i < 3; i++)
        t->pay[i] = tu_word(key, (uint64_t)i);
    t->check = key ^ 0xFFFF000000000000ull;
    return t;
}

static int tnode_ok(const struct tnode *t)
{
    if (t->magic != TNODE_MAGIC || t->check != (t->key ^ 0xFFFF000000000000ull))
        return 0;
    for (int i = 0; i < 3; i++)
        if (t->pay[i] != tu_word(t->key, (uint64_t)i))
            return 0;
    return 1;
}

static struct tnode *tree_insert(struct tnode *root, struct tnode *n)
{
    if (!root)
        return n;
    struct tnode *p = root;
    for (;;) {
        struct tnode **next = n->key < p->key ? &p->left : &p->right;
        if (!*next) {
            *next = n;
            return root;
        }
        p = *next;
    }
}

/* Count nodes, checking order and contents (recursion depth is the tree
 * height: random keys keep it small). */
static size_t tree_count(const struct tnode *t, uint64_t lo, uint64_t hi, size_t *bad, int depth)
{
    if (!t)
        return 0;
    if (depth > 200 || cogc_base(t) != t || !tnode_ok(t) || t->key < lo || t->key > hi) {
        (*bad)++;
        return 0;
    }
    return 1 + tree_count(t->left, lo, t->key, bad, depth + 1) +
           tree_count(t->right, t->key, hi, bad, depth + 1);
}

/* ---- the mutators ---------------------------------------------------- */

struct mut_arg {
    int id;
    size_t private_final;
};

static void verify_private(struct tnode *root, size_t expect)
{
    size_t bad = 0;
    size_t n = tree_count(root, 0, UINT64_MAX, &bad, 0);
    if (bad || n != expect)
        error();
}

static void *mutator(void *arg)
{
    struct mut_arg *a = arg;
    uint64_t rs = 0x9E3779B97F4A7C15ull * (uint64_t)(a->id + 1);
    struct tnode *root = NULL;       /* private: only on this stack */
    size_t tree_n = 0;
    /* Under ThreadSanitizer a thread from plain pthread_create registers
     * at its first allocation (docs/sanitizers.md); until then its reads of
     * list nodes have no happens-before with a collection that frees them
     * once popped, and TSan reports the sweep's zeroing as a race. */
    if (TU_TSAN && cogc_register_thread() != 0)
        error();
    for (int it = 0; it < g_iters; it++) {
        uint64_t r = tu_rnd(&rs);
        unsigned op = (unsigned)(r % 100);
        uint64_t key = (tu_rnd(&rs) >> 1) | 0x8000000000000000ull;
        struct shared_list *l = &g_lists[(r >> 8) % NLISTS];
        if (op < 30) {
            struct tnode *n = tnode_new(key);
            if (!n) {
                error();
                continue;
            }
            root = tree_insert(root, n);
            tree_n++;
        } else if (op < 35) {
            if (root && tree_n > 1500) {
                /* cut a subtree hanging from the root: it becomes garbage */
                struct tnode **victim = (r & 1) ? &root->left : &root->right;
                size_t bad = 0;
                size_t cut = tree_count(*victim, 0, UINT64_MAX, &bad, 0);
                if (bad)
                    error();
                *victim = NULL;
                tree_n -= cut;
            }
        } else if (op < 60) {
            struct snode *n = snode_new(key);
            if (!n) {
                error();
                continue;
            }
            tu_mutex_lock(&l->mu);
            n->next = l->head;
            l->head = n;
            l->count++;
            pthread_mutex_unlock(&l->mu);
        } else if (op < 75) {
            tu_mutex_lock(&l->mu);
            if (l->head && l->count > 20) {
                if (!snode_ok(l->head))
                    error();
                l->head = l->head->next;
                l->count--;
            }
            pthread_mutex_unlock(&l->mu);
        } else if (op < 88) {
            /* replace the k-th node by a fresh copy */
            tu_mutex_lock(&l->mu);
            if (l->count > 2) {
                size_t k = 1 + (size_t)(tu_rnd(&rs) % (l->count - 1));
                struct snode *prev = l->head;
                for (size_t i = 1; i < k && prev->next; i++)
                    prev = prev->next;
                struct snode *old = prev->next;
                if (old) {
                    if (!snode_ok(old))
                        error();
                    struct snode *copy = snode_new(old->key);
                    if (!copy) {
                        error();
                    } else {
                        copy->next = old->next;
                        prev->next = copy;
                        memset(old, 0, sizeof *old);   /* old is garbage now */
                    }
                }
            }
            pthread_mutex_unlock(&l->mu);
        } else if (op < 99) {
            size_t sz = 16 + (size_t)(tu_rnd(&rs) % (op == 98 ? 65536 : 2048));
            uint64_t *g = cogc_malloc(sz);
            if (!g) {
                error();
                continue;
            }
            for (size_t i = 0; i < sz / 8; i++)
                g[i] = TU_GARBAGE_WORD;
        }
        if (it % g_collect_every == g_collect_every / 2 && a->id % 2 == 0)
            cogc_collect();
        if (it % 3000 == 0) {
            verify_private(root, tree_n);
            tu_mutex_lock(&l->mu);
            if (list_bad(l))
                error();
            pthread_mutex_unlock(&l->mu);
        }
    }
    verify_private(root, tree_n);
    a->private_final = tree_n;
    return NULL;
}

START_TEST(test_eight_mutators)
{
    atomic_store(&g_errors, 0);
    for (int i = 0; i < NLISTS; i++) {
        pthread_mutex_init(&g_lists[i].mu, NULL);
        g_lists[i].head = NULL;
        g_lists[i].count = 0;
    }
    struct cogc_stats s0 = tu_stats();
    pthread_t t[NTHREADS];
    struct mut_arg a[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        a[i].id = i;
        a[i].private_final = 0;
        int rc = (i % 2) ? pthread_create(&t[i], NULL, mutator, &a[i])
                         : cogc_pthread_create(&t[i], NULL, mutator, &a[i]);
        ck_assert_int_eq(rc, 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    struct cogc_stats s1 = tu_stats();
    ck_assert_int_eq(atomic_load(&g_errors), 0);
    ck_assert_uint_gt(s1.collections, s0.collections + 4);
    tu_collect_hard(2);
    size_t bad = 0, total = 0;
    for (int i = 0; i < NLISTS; i++) {
        tu_mutex_lock(&g_lists[i].mu);
        bad += list_bad(&g_lists[i]);
        total += g_lists[i].count;
        pthread_mutex_unlock(&g_lists[i].mu);
    }
    ck_assert_msg(bad == 0, "%zu shared lists damaged", bad);
    ck_assert_uint_gt(total, 0);
    for (int i = 0; i < NLISTS; i++)
        g_lists[i].head = NULL;
}
END_TEST

/* ---- short-lived threads while another thread collects ------------------ */

static atomic_long g_collector_rounds;
static pthread_mutex_t g_done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_done_cv = PTHREAD_COND_INITIALIZER;
static int g_detached_running;
static struct shared_list g_results = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

/* One collection per thread started: collections land anywhere in the
 * threads' start, registration and exit, without starving them. */
static struct tu_pace g_pace = TU_PACE_INIT;

static void *collector(void *arg)
{
    (void)arg;
    unsigned long seen = 0;
    while (tu_pace_wait(&g_pace, &seen)) {
        cogc_collect();
        tu_churn(64, 500);
        atomic_fetch_add(&g_collector_rounds, 1);
    }
    return NULL;
}

static TU_NOINLINE void deep_exit(int depth, struct tu_node *keep)
{
    if (!keep) {
        error();
        return;
    }
    if (depth > 0) {
        deep_exit(depth - 1, keep);
        return;
    }
    if (tu_list_bad(keep, 200, 77))
        error();
    pthread_exit(NULL);
}

static void *short_lived(void *arg)
{
    uint64_t idx = (uint64_t)(uintptr_t)arg;
    if (idx % 4 == 3) {
        /* Under ThreadSanitizer a thread from plain pthread_create is
         * registered at its first allocation, not at its start
         * (docs/sanitizers.md): registered here first. */
        if (TU_TSAN && cogc_register_thread() != 0)
            error();
        /* cycle the registration while holding no cogc pointers */
        for (int i = 0; i < 5; i++) {
            if (cogc_unregister_thread() != 0 || cogc_register_thread() != 0)
                error();
        }
    }
    struct tu_node *l = tu_list_make(200, idx);
    if (!l) {
        error();
        return NULL;
    }
    tu_churn(48, 200);
    if (tu_list_bad(l, 200, idx))
        error();
    struct snode *n = snode_new(idx | 0x8000000000000000ull);
    if (!n) {
        error();
        return NULL;
    }
    tu_mutex_lock(&g_results.mu);
    n->next = g_results.head;
    g_results.head = n;
    g_results.count++;
    pthread_mutex_unlock(&g_results.mu);
    if (idx % 3 == 0) {
        /* exit from deep inside, with data still on the stack */
        deep_exit(50, tu_list_make(200, 77));
    }
    return NULL;
}

static void detached_done(void *unused)
{
    (void)unused;
    tu_mutex_lock(&g_done_mu);
    g_detached_running--;
    pthread_cond_signal(&g_done_cv);
    pthread_mutex_unlock(&g_done_mu);
}

static void *detached_short_lived(void *arg)
{
    pthread_cleanup_push(detached_done, NULL);
    short_lived(arg);              /* may pthread_exit */
    pthread_cleanup_pop(1);
    return NULL;
}

START_TEST(test_thread_exit_during_collections)
{
    enum { PER_ROUND = 4 };
    const int ROUNDS = g_exit_rounds;
    atomic_store(&g_errors, 0);
    tu_pace_reset(&g_pace);
    atomic_store(&g_collector_rounds, 0);
    pthread_t ct;
    ck_assert_int_eq(cogc_pthread_create(&ct, NULL, collector, NULL), 0);
    uint64_t idx = 0;
    pthread_attr_t det;
    pthread_attr_init(&det);
    pthread_attr_setdetachstate(&det, PTHREAD_CREATE_DETACHED);
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t t[PER_ROUND];
        for (int i = 0; i < PER_ROUND; i++, idx++) {
            int rc = (idx % 2) ? pthread_create(&t[i], NULL, short_lived, (void *)(uintptr_t)idx)
                               : cogc_pthread_create(&t[i], NULL, short_lived, (void *)(uintptr_t)idx);
            ck_assert_int_eq(rc, 0);
            tu_pace_step(&g_pace);
        }
        /* and a detached one */
        tu_mutex_lock(&g_done_mu);
        g_detached_running++;
        pthread_mutex_unlock(&g_done_mu);
        pthread_t d;
        int rc = (r % 2) ? pthread_create(&d, &det, detached_short_lived, (void *)(uintptr_t)idx)
                         : cogc_pthread_create(&d, &det, detached_short_lived, (void *)(uintptr_t)idx);
        ck_assert_int_eq(rc, 0);
        tu_pace_step(&g_pace);
        idx++;
        for (int i = 0; i < PER_ROUND; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    }
    tu_mutex_lock(&g_done_mu);
    while (g_detached_running > 0)
        pthread_cond_wait(&g_done_cv, &g_done_mu);
    pthread_mutex_unlock(&g_done_mu);
    pthread_attr_destroy(&det);
    tu_pace_stop(&g_pace);
    ck_assert_int_eq(pthread_join(ct, NULL), 0);
    ck_assert_int_eq(atomic_load(&g_errors), 0);
    ck_assert_int_gt(atomic_load(&g_collector_rounds), 0);
    tu_collect_hard(2);
    /* every thread left exactly one intact node with its own index */
    char *seen = calloc(idx, 1);
    ck_assert_ptr_nonnull(seen);
    size_t n = 0;
    tu_mutex_lock(&g_results.mu);
    for (struct snode *x = g_results.head; x; x = x->next) {
        ck_assert_msg(snode_ok(x), "result node %zu damaged", n);
        uint64_t k = x->key & ~0x8000000000000000ull;
        ck_assert_uint_lt(k, idx);
        ck_assert_int_eq(seen[k], 0);
        seen[k] = 1;
        n++;
    }
    pthread_mutex_unlock(&g_results.mu);
    ck_assert_uint_eq(n, idx);
    free(seen);
    /* detached threads may still be finishing their exit: wait (bounded)
     * for their registrations to go away */
    struct cogc_stats s = tu_stats();
    for (int i = 0; i < 1000 && s.threads != 1; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        s = tu_stats();
    }
    ck_assert_msg(s.threads == 1, "%u threads registered after all others exited", s.threads);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("threads_mutate");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_eight_mutators);
    tcase_add_test(tc, test_thread_exit_during_collections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *light = getenv("THREADS_MUTATE_LIGHT");
    if ((light && strcmp(light, "1") == 0) || tu_light()) {
        g_iters = 5000;
        g_collect_every = 1000;
        g_exit_rounds = 10;
        printf("threads_mutate: light mode (%d iterations, %d rounds)\n", g_iters, g_exit_rounds);
    }
    tu_require_dirty_backend();
    return tu_run_suite(suite());
}
