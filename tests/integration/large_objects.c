/* large_objects: objects from 16 KB to 64 MB keep their contents across
 * collections, are scanned to their last word, can be freed explicitly or
 * by collection, and dropping them repeatedly does not grow the heap. */
#define _GNU_SOURCE
#include "testutil.h"

#define MB ((size_t)1 << 20)

static const size_t g_sizes[] = {
    16 << 10, 32 << 10, (32 << 10) + 1, 64 << 10, 100000, 256 << 10, MB, 4 * MB - 16,
    4 * MB, 4 * MB + 1, 16 * MB, 64 * MB,
};
#define NSIZES (sizeof g_sizes / sizeof g_sizes[0])

static char *g_objs[NSIZES];     /* .bss roots */

/* Check the first and last 64 KB fully and every 4 KB in between (a full
 * check of 64 MB several times would be slow). */
static int big_ok(const char *p, size_t n, uint64_t seed)
{
    /* never read memory the collector no longer considers allocated */
    if (cogc_base(p) != p || cogc_size(p) < n)
        return 0;
    const uint64_t *w = (const uint64_t *)p;
    size_t nw = n / 8;
    for (size_t i = 0; i < nw; i++) {
        if (i >= 8192 && i + 8192 < nw && i % 512 != 0)
            continue;
        if (w[i] != tu_word(seed, i))
            return 0;
    }
    for (size_t i = nw * 8; i < n; i++)
        if ((uint8_t)p[i] != tu_byte(seed, i))
            return 0;
    return 1;
}

static TU_NOINLINE void churn_large(size_t size, int count)
{
    for (int i = 0; i < count; i++) {
        uint64_t *p = cogc_malloc_atomic(size);
        if (!p)
            return;
        for (size_t k = 0; k < size / 8; k += 512)
            p[k] = TU_GARBAGE_WORD;
        memset(p, 0xDD, size < 65536 ? size : 65536);
        memset((char *)p + size - (size < 65536 ? size : 65536), 0xDD, size < 65536 ? size : 65536);
    }
}

START_TEST(test_contents_across_collections)
{
    for (size_t i = 0; i < NSIZES; i++) {
        g_objs[i] = cogc_malloc(g_sizes[i]);
        ck_assert_msg(g_objs[i] != NULL, "cogc_malloc(%zu) failed", g_sizes[i]);
        ck_assert_uint_eq((uintptr_t)g_objs[i] % 16, 0);
        ck_assert_uint_ge(cogc_size(g_objs[i]), g_sizes[i]);
        tu_fill(g_objs[i], g_sizes[i], 0x1000 + i);
    }
    for (int r = 0; r < 3; r++) {
        tu_collect_hard(1);
        churn_large(64 << 10, 50);
        churn_large(MB, 20);
        churn_large(4 * MB + 1, 4);
    }
    for (size_t i = 0; i < NSIZES; i++) {
        ck_assert_msg(big_ok(g_objs[i], g_sizes[i], 0x1000 + i), "object of %zu bytes damaged", g_sizes[i]);
        ck_assert_ptr_eq(cogc_base(g_objs[i]), g_objs[i]);
        ck_assert_ptr_eq(cogc_base(g_objs[i] + g_sizes[i] - 1), g_objs[i]);
        ck_assert_uint_ge(cogc_size(g_objs[i]), g_sizes[i]);
    }
    /* free the large ones explicitly */
    for (size_t i = 0; i < NSIZES; i++) {
        cogc_free(g_objs[i]);
        ck_assert_msg(cogc_size(g_objs[i]) == 0, "cogc_size of a freed %zu-byte object is %zu",
                      g_sizes[i], cogc_size(g_objs[i]));
        g_objs[i] = NULL;
    }
}
END_TEST

/* A large scanned object is the only holder of many small objects, one of
 * them referenced from its very last word. */
START_TEST(test_large_object_scanned_to_the_end)
{
    size_t n = (2 * MB) / sizeof(void *);
    struct tu_node **arr = cogc_malloc(n * sizeof *arr);
    ck_assert_ptr_nonnull(arr);
    for (size_t i = 0; i < n; i += 64)
        arr[i] = tu_list_make(1, 0x5000 + i);
    arr[n - 1] = tu_list_make(50, 0x77);
    g_objs[0] = (char *)arr;
    arr = NULL;
    tu_collect_hard(3);
    arr = (struct tu_node **)g_objs[0];
    ck_assert_msg(cogc_base(arr) == arr && cogc_size(arr) >= n * sizeof *arr,
                  "the 2 MB pointer array itself was collected");
    size_t bad = 0;
    for (size_t i = 0; i < n; i += 64)
        bad += tu_list_bad(arr[i], 1, 0x5000 + i);
    bad += tu_list_bad(arr[n - 1], 50, 0x77);
    ck_assert_msg(bad == 0, "%zu damaged nodes referenced from a 2 MB scanned object", bad);
    g_objs[0] = NULL;
}
END_TEST

/* An atomic large object is not scanned: objects referenced only from it
 * are collected. */
#define NHIDDEN 1000

static TU_NOINLINE void fill_atomic(uintptr_t *hidden)
{
    void **arr = cogc_malloc_atomic(NHIDDEN * 64 * sizeof(void *));
    ck_assert_ptr_nonnull(arr);
    memset(arr, 0, NHIDDEN * 64 * sizeof(void *));
    for (int i = 0; i < NHIDDEN; i++) {
        void *p = cogc_malloc(128);
        ck_assert_ptr_nonnull(p);
        arr[i * 64] = p;
        hidden[i] = TU_HIDE(p);
    }
    g_objs[1] = (char *)arr;
}

START_TEST(test_atomic_large_object_not_scanned)
{
    static uintptr_t hidden[NHIDDEN];
    fill_atomic(hidden);
    size_t gone = tu_count_reclaimed(hidden, NHIDDEN, 128);
    ck_assert_ptr_nonnull(cogc_base(g_objs[1]));     /* the holder itself is alive */
    ck_assert_msg(gone >= NHIDDEN * 9 / 10, "only %zu of %d objects referenced from an atomic object were reclaimed",
                  gone, NHIDDEN);
    g_objs[1] = NULL;
}
END_TEST

/* Dropping large objects over and over does not grow the heap. */
START_TEST(test_dropped_large_objects_bounded)
{
    tu_collect_hard(1);
    struct cogc_stats s0 = tu_stats();
    uint64_t peak = 0;
    for (int i = 0; i < 40; i++) {         /* 40 x 16 MB = 640 MB, scanned */
        char *p = cogc_malloc(16 * MB);
        ck_assert_ptr_nonnull(p);
        p[0] = 1;
        p[16 * MB - 1] = 1;
        struct cogc_stats s = tu_stats();
        if (s.heap_bytes > peak)
            peak = s.heap_bytes;
    }
    for (int i = 0; i < 200; i++) {        /* 200 x 3 MB, atomic */
        char *p = cogc_malloc_atomic(3 * MB);
        ck_assert_ptr_nonnull(p);
        memset(p, 0xDD, 4096);
        struct cogc_stats s = tu_stats();
        if (s.heap_bytes > peak)
            peak = s.heap_bytes;
    }
    struct cogc_stats s1 = tu_stats();
    ck_assert_msg(peak < s0.heap_bytes + 256 * MB,
                  "heap grew from %llu to a peak of %llu bytes while 1.2 GB of large objects were dropped",
                  (unsigned long long)s0.heap_bytes, (unsigned long long)peak);
    ck_assert_uint_gt(s1.reclaimed_bytes, s0.reclaimed_bytes + 512 * MB);
}
END_TEST

/* Explicitly freed large objects are reused: allocate/free 64 MB 20 times. */
START_TEST(test_freed_large_objects_reused)
{
    tu_collect_hard(1);
    struct cogc_stats s0 = tu_stats();
    for (int i = 0; i < 20; i++) {
        char *p = cogc_malloc(64 * MB);
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(p[0] == 0 && p[64 * MB - 1] == 0 && p[32 * MB] == 0,
                      "a reused 64 MB scanned object is not zero-filled");
        p[0] = 1;
        p[32 * MB] = 1;
        p[64 * MB - 1] = 1;
        cogc_free(p);
    }
    struct cogc_stats s1 = tu_stats();
    ck_assert_msg(s1.heap_bytes <= s0.heap_bytes + 3 * 64 * MB,
                  "heap grew from %llu to %llu bytes allocating and freeing one 64 MB object at a time",
                  (unsigned long long)s0.heap_bytes, (unsigned long long)s1.heap_bytes);
    ck_assert_uint_ge(s1.freed_bytes, s0.freed_bytes + 20 * 64 * MB);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("large_objects");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_contents_across_collections);
    tcase_add_test(tc, test_large_object_scanned_to_the_end);
    tcase_add_test(tc, test_atomic_large_object_not_scanned);
    tcase_add_test(tc, test_dropped_large_objects_bounded);
    tcase_add_test(tc, test_freed_large_objects_reused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
