/* roots_tls: objects reachable only from __thread variables (zero-initialised
 * .tbss, initialised .tdata, and the far end of a large TLS array) of the
 * main thread and of other threads. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>

#define LIST_LEN 2000
#define BIG_TLS_WORDS 8192

static __thread struct tu_node *tls_bss_head;                      /* .tbss */
static __thread struct tu_node *tls_data_head = (struct tu_node *)1; /* .tdata */
static __thread void *tls_big[BIG_TLS_WORDS];                     /* 64 KB */

/* Fill this thread's TLS roots; no other reference survives. */
static TU_NOINLINE int tls_fill(uint64_t seed)
{
    tls_bss_head = tu_list_make(LIST_LEN, seed);
    tls_data_head = tu_list_make(LIST_LEN, seed + 1);
    tls_big[BIG_TLS_WORDS - 1] = tu_list_make(LIST_LEN, seed + 2);
    tls_big[BIG_TLS_WORDS / 2] = tu_list_make(LIST_LEN, seed + 3);
    return tls_bss_head && tls_data_head && tls_big[BIG_TLS_WORDS - 1] && tls_big[BIG_TLS_WORDS / 2];
}

static TU_NOINLINE size_t tls_bad(uint64_t seed)
{
    return tu_list_bad(tls_bss_head, LIST_LEN, seed) +
           tu_list_bad(tls_data_head, LIST_LEN, seed + 1) +
           tu_list_bad(tls_big[BIG_TLS_WORDS - 1], LIST_LEN, seed + 2) +
           tu_list_bad(tls_big[BIG_TLS_WORDS / 2], LIST_LEN, seed + 3);
}

START_TEST(test_main_thread_tls)
{
    ck_assert(tls_fill(0x100));
    tu_collect_hard(3);
    ck_assert_uint_eq(tls_bad(0x100), 0);
    /* and across allocation-triggered collections */
    struct cogc_stats s0 = tu_stats();
    tu_churn(128, 400000);
    struct cogc_stats s1 = tu_stats();
    ck_assert_uint_gt(s1.collections, s0.collections);
    ck_assert_uint_eq(tls_bad(0x100), 0);
}
END_TEST

struct tls_worker {
    uint64_t seed;
    int ready[2], go[2];
    int filled;
    size_t bad_before, bad_after;
    void *addr;       /* TU_HIDE of its list head, to compare with main's */
};

static void *tls_worker_main(void *arg)
{
    struct tls_worker *w = arg;
    w->filled = tls_fill(w->seed);
    w->addr = (void *)TU_HIDE(tls_bss_head);
    w->bad_before = tls_bad(w->seed);
    tu_clear_stack();
    char c = 'r';
    if (write(w->ready[1], &c, 1) != 1)
        w->filled = 0;
    while (read(w->go[0], &c, 1) < 0 && errno == EINTR)
        ;
    w->bad_after = tls_bad(w->seed);
    /* keep going on our own: allocation-triggered collections */
    tu_churn(96, 200000);
    w->bad_after += tls_bad(w->seed);
    return NULL;
}

static void run_tls_threads(int plain)
{
    enum { N = 3 };
    struct tls_worker w[N];
    pthread_t t[N];
    /* the main thread has TLS roots of its own at the same time */
    ck_assert(tls_fill(0x200));
    for (int i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].seed = 0x300 + 0x10 * (uint64_t)i;
        ck_assert_int_eq(pipe(w[i].ready), 0);
        ck_assert_int_eq(pipe(w[i].go), 0);
        int rc = plain ? pthread_create(&t[i], NULL, tls_worker_main, &w[i])
                       : cogc_pthread_create(&t[i], NULL, tls_worker_main, &w[i]);
        ck_assert_int_eq(rc, 0);
    }
    for (int i = 0; i < N; i++) {
        char c;
        while (read(w[i].ready[0], &c, 1) < 0 && errno == EINTR)
            ;
    }
    tu_collect_hard(3);
    for (int i = 0; i < N; i++) {
        char c = 'g';
        ck_assert_int_eq(write(w[i].go[1], &c, 1), 1);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert(w[i].filled);
        ck_assert_uint_eq(w[i].bad_before, 0);
        ck_assert_msg(w[i].bad_after == 0, "thread %d: %zu damaged nodes reachable from its TLS",
                      i, w[i].bad_after);
        ck_assert_ptr_ne(w[i].addr, (void *)TU_HIDE(tls_bss_head));
        close(w[i].ready[0]);
        close(w[i].ready[1]);
        close(w[i].go[0]);
        close(w[i].go[1]);
    }
    ck_assert_uint_eq(tls_bad(0x200), 0);
}

START_TEST(test_other_threads_tls_cogc_created) { run_tls_threads(0); }
END_TEST

START_TEST(test_other_threads_tls_plain_created) { run_tls_threads(1); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("roots_tls");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_main_thread_tls);
    tcase_add_test(tc, test_other_threads_tls_cogc_created);
    tcase_add_test(tc, test_other_threads_tls_plain_created);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
