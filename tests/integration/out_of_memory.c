/* out_of_memory: the heap limit gives NULL/ENOMEM (never a crash), the heap
 * recovers after the references are dropped, and impossible sizes fail
 * cleanly. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#define MB ((size_t)1 << 20)
#define LIMIT (32 * MB)
#define OBJ 4096
#define MAXOBJ (LIMIT / OBJ * 2)

/* The kept objects are referenced from a registered mmap'ed table, so that
 * dropping them is a memset and no single stray pointer can keep much. */
static void **table;

static void table_setup(void)
{
    table = mmap(NULL, MAXOBJ * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(table, MAP_FAILED);
    ck_assert_int_eq(cogc_add_roots(table, table + MAXOBJ), 0);
}

static void table_teardown(void)
{
    ck_assert_int_eq(cogc_remove_roots(table, table + MAXOBJ), 0);
    munmap(table, MAXOBJ * sizeof(void *));
    table = NULL;
}

/* Allocate and keep OBJ-byte objects until failure; returns how many. */
static TU_NOINLINE size_t fill_until_null(int *err)
{
    size_t n = 0;
    *err = 0;
    for (; n < MAXOBJ; n++) {
        errno = 0;
        void *p = cogc_malloc(OBJ);
        if (!p) {
            *err = errno;
            break;
        }
        tu_fill(p, OBJ, n);
        table[n] = p;
    }
    return n;
}

START_TEST(test_heap_limit)
{
    table_setup();
    tu_collect_hard(1);
    cogc_set_heap_limit(LIMIT);
    ck_assert_uint_eq(cogc_get_heap_limit(), LIMIT);
    int err;
    size_t n = fill_until_null(&err);
    ck_assert_msg(n < MAXOBJ, "allocated %zu bytes under a %zu-byte heap limit", n * OBJ, LIMIT);
    ck_assert_int_eq(err, ENOMEM);
    ck_assert_msg(n * OBJ >= 8 * MB, "only %zu bytes could be allocated under a 32 MB limit", n * OBJ);
    struct cogc_stats s = tu_stats();
    ck_assert_msg(s.heap_bytes <= LIMIT, "heap_bytes %llu exceeds the limit %zu",
                  (unsigned long long)s.heap_bytes, LIMIT);
    /* failing again does not crash, in every allocator */
    errno = 0;
    ck_assert_ptr_null(cogc_malloc(OBJ));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(cogc_malloc(LIMIT * 2));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(cogc_malloc_atomic(LIMIT * 2));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(cogc_calloc(2, LIMIT));
    ck_assert_int_eq(errno, ENOMEM);
    /* everything kept is intact */
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !tu_check(table[i], OBJ, i);
    ck_assert_msg(bad == 0, "%zu objects damaged at out-of-memory", bad);
    /* drop and recover */
    memset(table, 0, MAXOBJ * sizeof(void *));
    tu_clear_stack();
    cogc_collect();
    cogc_collect();
    size_t m = fill_until_null(&err);
    ck_assert_msg(m * OBJ >= n * OBJ / 2, "after dropping everything only %zu bytes (before: %zu) could be allocated",
                  m * OBJ, n * OBJ);
    memset(table, 0, MAXOBJ * sizeof(void *));
    tu_clear_stack();
    cogc_collect();
    /* a large object that fits in the freed space (cogc.h does not say
     * whether free chunks are returned to make room for a bigger one, so
     * stay well below the 4 MB chunk size) */
    void *big = cogc_malloc(2 * MB);
    ck_assert_ptr_nonnull(big);
    cogc_set_heap_limit(0);
    ck_assert_uint_eq(cogc_get_heap_limit(), 0);
    table_teardown();
}
END_TEST

/* A large request over the limit fails at once, small ones still work. */
START_TEST(test_limit_large_request)
{
    tu_collect_hard(1);
    cogc_set_heap_limit(LIMIT);
    errno = 0;
    ck_assert_ptr_null(cogc_malloc(64 * MB));
    ck_assert_int_eq(errno, ENOMEM);
    struct tu_node *l = tu_list_make(1000, 5);
    ck_assert_ptr_nonnull(l);
    /* realloc beyond the limit fails and leaves the object alone */
    char *p = cogc_malloc(1000);
    ck_assert_ptr_nonnull(p);
    tu_fill(p, 1000, 6);
    errno = 0;
    ck_assert_ptr_null(cogc_realloc(p, 64 * MB));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert(tu_check(p, 1000, 6));
    ck_assert_uint_ge(cogc_size(p), 1000);
    cogc_set_heap_limit(0);
    tu_collect_hard(1);
    ck_assert_uint_eq(tu_list_bad(l, 1000, 5), 0);
    ck_assert(tu_check(p, 1000, 6));
}
END_TEST

START_TEST(test_impossible_sizes)
{
    const size_t huge[] = {SIZE_MAX / 2, SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 4095, (size_t)1 << 62, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        ck_assert_msg(cogc_malloc(huge[i]) == NULL, "cogc_malloc(%zu) succeeded", huge[i]);
        ck_assert_int_eq(errno, ENOMEM);
        errno = 0;
        ck_assert_ptr_null(cogc_malloc_atomic(huge[i]));
        ck_assert_int_eq(errno, ENOMEM);
        errno = 0;
        ck_assert_ptr_null(cogc_malloc_uncollectable(huge[i]));
        ck_assert_int_eq(errno, ENOMEM);
    }
    /* calloc overflow */
    const size_t pairs[][2] = {{SIZE_MAX / 2, 4}, {4, SIZE_MAX / 2}, {(size_t)1 << 32, (size_t)1 << 32},
                               {SIZE_MAX, SIZE_MAX}, {((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        errno = 0;
        ck_assert_msg(cogc_calloc(pairs[i][0], pairs[i][1]) == NULL, "cogc_calloc(%zu, %zu) succeeded",
                      pairs[i][0], pairs[i][1]);
        ck_assert_int_eq(errno, ENOMEM);
    }
    /* calloc that does not overflow works and is zeroed */
    uint64_t *z = cogc_calloc(1000, 8);
    ck_assert_ptr_nonnull(z);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(z[i], 0);
    /* realloc to an impossible size keeps the old object */
    char *p = cogc_malloc(5000);
    ck_assert_ptr_nonnull(p);
    tu_fill(p, 5000, 3);
    const size_t rs[] = {SIZE_MAX - 8, SIZE_MAX / 2, SIZE_MAX};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        errno = 0;
        ck_assert_ptr_null(cogc_realloc(p, rs[i]));
        ck_assert_int_eq(errno, ENOMEM);
        ck_assert(tu_check(p, 5000, 3));
        ck_assert_ptr_eq(cogc_base(p + 4999), p);
        ck_assert_uint_ge(cogc_size(p), 5000);
    }
    tu_collect_hard(1);
    ck_assert(tu_check(p, 5000, 3));
    /* and the heap still works */
    struct tu_node *l = tu_list_make(1000, 4);
    tu_collect_hard(1);
    ck_assert_uint_eq(tu_list_bad(l, 1000, 4), 0);
}
END_TEST

/* Two threads run into the limit at the same time. */
static atomic_int g_thread_errno[2];
static atomic_size_t g_thread_count[2];

static void *oom_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    void **head = NULL;
    size_t n = 0;
    for (;;) {
        errno = 0;
        void **p = cogc_malloc(2048);
        if (!p) {
            atomic_store(&g_thread_errno[id], errno);
            break;
        }
        p[0] = head;
        head = p;
        if (++n > LIMIT / 2048 * 2)
            break;
    }
    atomic_store(&g_thread_count[id], n);
    /* verify own chain is intact */
    size_t k = 0;
    for (void **q = head; q; q = q[0])
        k++;
    if (k != n)
        atomic_store(&g_thread_errno[id], -1);
    return NULL;
}

START_TEST(test_two_threads_hit_limit)
{
    tu_collect_hard(1);
    cogc_set_heap_limit(LIMIT);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        atomic_store(&g_thread_errno[i], 0);
        ck_assert_int_eq(cogc_pthread_create(&t[i], NULL, oom_thread, (void *)(intptr_t)i), 0);
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    cogc_set_heap_limit(0);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(atomic_load(&g_thread_errno[i]) == ENOMEM, "thread %d: errno %d after %zu objects", i,
                      atomic_load(&g_thread_errno[i]), atomic_load(&g_thread_count[i]));
    }
    tu_collect_hard(1);
    void *p = cogc_malloc(16 * MB);
    ck_assert_ptr_nonnull(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("out_of_memory");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_heap_limit);
    tcase_add_test(tc, test_limit_large_request);
    tcase_add_test(tc, test_impossible_sizes);
    tcase_add_test(tc, test_two_threads_hit_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
