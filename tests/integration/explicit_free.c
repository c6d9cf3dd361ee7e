/* explicit_free: cogc_free mixed with collection.  Freed memory is reused by
 * the same thread's next allocations, the kept objects stay intact, and a
 * burst of frees and allocations does not grow the heap. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>

#define N 20000
#define SZ 48

static struct tu_node *g_nodes[N];     /* .bss roots */

START_TEST(test_free_half_collect_reallocate)
{
    for (int i = 0; i < N; i++) {
        g_nodes[i] = tu_list_make(1, 0x100000 + (uint64_t)i);
        ck_assert_ptr_nonnull(g_nodes[i]);
    }
    for (int i = 0; i < N; i += 2) {
        cogc_free(g_nodes[i]);
        ck_assert_uint_eq(cogc_size(g_nodes[i]), 0);
        g_nodes[i] = NULL;
    }
    tu_collect_hard(2);
    for (int i = 0; i < N; i += 2) {
        g_nodes[i] = tu_list_make(1, 0x200000 + (uint64_t)i);
        ck_assert_ptr_nonnull(g_nodes[i]);
    }
    tu_collect_hard(2);
    size_t bad = 0;
    for (int i = 0; i < N; i++)
        bad += tu_list_bad(g_nodes[i], 1, (i % 2 ? 0x100000 : 0x200000) + (uint64_t)i);
    ck_assert_msg(bad == 0, "%zu of %d nodes damaged after freeing half and reallocating", bad, N);
    /* distinct objects */
    uintptr_t *a = malloc(N * sizeof *a);
    for (int i = 0; i < N; i++)
        a[i] = TU_HIDE(g_nodes[i]);
    qsort(a, N, sizeof *a, tu_cmp_uptr);
    for (int i = 1; i < N; i++)
        ck_assert_msg(a[i] != a[i - 1], "two live nodes share the address %p", TU_UNHIDE(a[i]));
    free(a);
    memset(g_nodes, 0, sizeof g_nodes);
}
END_TEST

/* Freed objects are reused by the next allocations of the same size. */
START_TEST(test_next_allocations_reuse_freed)
{
    static const size_t sizes[] = {16, 48, 64, 200, 1024, 4000};
    enum { K = 100 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        void *p[K];
        uintptr_t freed[K];
        for (int i = 0; i < K; i++) {
            p[i] = cogc_malloc(sizes[s]);
            ck_assert_ptr_nonnull(p[i]);
            memset(p[i], 0xDD, sizes[s]);
        }
        for (int i = 0; i < K; i++) {
            freed[i] = TU_HIDE(p[i]);
            cogc_free(p[i]);
        }
        qsort(freed, K, sizeof freed[0], tu_cmp_uptr);
        int reused = 0, first_reused = -1;
        for (int i = 0; i < K; i++) {
            p[i] = cogc_malloc(sizes[s]);
            ck_assert_ptr_nonnull(p[i]);
            /* zero-filled even when it is recycled memory */
            for (size_t k = 0; k < sizes[s]; k++)
                ck_assert_msg(((unsigned char *)p[i])[k] == 0, "size %zu: recycled object not zeroed at %zu",
                              sizes[s], k);
            uintptr_t h = TU_HIDE(p[i]);
            int hit = bsearch(&h, freed, K, sizeof freed[0], tu_cmp_uptr) != NULL;
            reused += hit;
            if (i == 0)
                first_reused = hit;
        }
        ck_assert_msg(first_reused == 1, "size %zu: the allocation right after the frees did not reuse them",
                      sizes[s]);
        ck_assert_msg(reused >= K * 9 / 10, "size %zu: only %d of %d allocations reused freed objects",
                      sizes[s], reused, K);
    }
}
END_TEST

/* Bursts of frees then allocations do not grow the heap. */
static void *g_burst[10000];

START_TEST(test_free_burst_heap_stable)
{
    unsigned growth = cogc_get_growth();
    ck_assert_int_eq(cogc_set_growth(10000), 0);       /* make collections rare */
    uint64_t after_first = 0;
    struct cogc_stats s0 = tu_stats();
    for (int round = 0; round < 100; round++) {
        size_t sz = round % 2 ? 64 : 200;
        for (int i = 0; i < 10000; i++) {
            g_burst[i] = cogc_malloc(sz);
            ck_assert_ptr_nonnull(g_burst[i]);
        }
        for (int i = 0; i < 10000; i++) {
            cogc_free(g_burst[i]);
            g_burst[i] = NULL;
        }
        if (round == 1)
            after_first = tu_stats().heap_bytes;
    }
    struct cogc_stats s1 = tu_stats();
    ck_assert_int_eq(cogc_set_growth(growth), 0);
    ck_assert_msg(s1.heap_bytes <= after_first + (2 << 20),
                  "heap grew from %llu to %llu bytes over 100 alloc/free bursts",
                  (unsigned long long)after_first, (unsigned long long)s1.heap_bytes);
    ck_assert_uint_ge(s1.freed_bytes - s0.freed_bytes, 50ull * 10000 * (64 + 200));
}
END_TEST

/* Objects allocated by one thread and freed by another. */
static void *alloc_thread(void *arg)
{
    struct tu_node **out = arg;
    for (int i = 0; i < 1000; i++)
        out[i] = tu_list_make(1, 0x300000 + (uint64_t)i);
    return NULL;
}

START_TEST(test_free_objects_of_another_thread)
{
    static struct tu_node *objs[1000];
    pthread_t t;
    ck_assert_int_eq(cogc_pthread_create(&t, NULL, alloc_thread, objs), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(tu_list_bad(objs[i], 1, 0x300000 + (uint64_t)i), 0);
    for (int i = 0; i < 1000; i += 2) {
        cogc_free(objs[i]);
        objs[i] = NULL;
    }
    tu_collect_hard(2);
    struct tu_node *fresh = tu_list_make(5000, 0x400000);
    tu_collect_hard(1);
    for (int i = 1; i < 1000; i += 2)
        ck_assert_uint_eq(tu_list_bad(objs[i], 1, 0x300000 + (uint64_t)i), 0);
    ck_assert_uint_eq(tu_list_bad(fresh, 5000, 0x400000), 0);
}
END_TEST

/* Uncollectable objects: kept without references until freed. */
START_TEST(test_uncollectable_until_freed)
{
    enum { U = 200 };
    uintptr_t h[U];
    for (int i = 0; i < U; i++) {
        void *p = cogc_malloc_uncollectable(72);
        ck_assert_ptr_nonnull(p);
        tu_fill(p, 72, 0x600 + (uint64_t)i);
        h[i] = TU_HIDE(p);
    }
    tu_collect_hard(3);
    for (int i = 0; i < U; i++) {
        void *p = TU_UNHIDE(h[i]);
        ck_assert_msg(cogc_size(p) >= 72, "uncollectable object %d was collected", i);
        ck_assert(tu_check(p, 72, 0x600 + (uint64_t)i));
        cogc_free(p);
        ck_assert_uint_eq(cogc_size(p), 0);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("explicit_free");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_free_half_collect_reallocate);
    tcase_add_test(tc, test_next_allocations_reuse_freed);
    tcase_add_test(tc, test_free_burst_heap_stable);
    tcase_add_test(tc, test_free_objects_of_another_thread);
    tcase_add_test(tc, test_uncollectable_until_freed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
