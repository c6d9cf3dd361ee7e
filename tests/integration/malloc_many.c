/* cogc_malloc_many: objects handed out at once, linked through their
 * first words, for a runtime's own free lists (libgc.so.1's
 * GC_generic_malloc_many). */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define N 200

/* Length of the list, each object checked: a heap object of at least
 * `size` bytes, distinct from the others (by a stamp in its second word),
 * zero past its link when scanned. */
static size_t check_list(void *list, size_t size, bool scanned, uint64_t stamp)
{
    size_t n = 0;
    for (void **p = list; p; p = *p, n++) {
        ck_assert_ptr_eq(cogc_base(p), p);
        ck_assert_uint_ge(cogc_size(p), size);
        if (scanned)
            for (size_t w = 1; w < size / sizeof(void *); w++)
                ck_assert_msg(!p[w], "object %zu: word %zu is %p, not 0", n, w, p[w]);
        /* A pointer-free object's words are undefined until written. */
        ck_assert_msg(!scanned || p[1] != (void *)(uintptr_t)stamp, "object %zu is in the list twice", n);
        p[1] = (void *)(uintptr_t)stamp;
    }
    return n;
}

START_TEST(linked_and_zeroed)
{
    static const size_t sizes[] = {16, 24, 48, 64, 200, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *list = NULL;
        size_t got = cogc_malloc_many(sizes[i], 0, N, &list);
        ck_assert_uint_ge(got, 1);
        ck_assert_uint_le(got, N);
        ck_assert_uint_eq(check_list(list, sizes[i], true, 0x5EED0000 + i), got);
    }
}
END_TEST

/* Repeated calls drain the thread's list and refill it: many objects in
 * all, none handed out twice while the earlier ones are held. */
START_TEST(refills_and_never_repeats)
{
    void **keep = cogc_malloc(4096 * sizeof *keep);
    ck_assert_ptr_nonnull(keep);
    size_t total = 0;
    for (int round = 0; round < 4096; round++) {
        void *list = NULL;
        size_t got = cogc_malloc_many(32, round & 1, 64, &list);
        ck_assert_uint_ge(got, 1);
        ck_assert_uint_eq(check_list(list, 32, !(round & 1), 0xC0FFEE), got);
        keep[round] = list;
        total += got;
    }
    ck_assert_uint_ge(total, 4096 * 8);
}
END_TEST

/* A list held only by its head survives collections (scanned objects'
 * links are pointers like any other). */
START_TEST(held_list_survives)
{
    void *list = NULL;
    size_t got = cogc_malloc_many(48, 0, N, &list);
    ck_assert_uint_ge(got, 2);
    size_t i = 0;
    for (void **p = list; p; p = *p)
        p[2] = (void *)(uintptr_t)(0xAB0000 + i++);
    for (int k = 0; k < 3; k++) {
        tu_clear_stack();
        cogc_collect();
        for (int j = 0; j < 20000; j++)
            ck_assert_ptr_nonnull(cogc_malloc(48));
    }
    i = 0;
    for (void **p = list; p; p = *p, i++)
        ck_assert_ptr_eq(p[2], (void *)(uintptr_t)(0xAB0000 + i));
    ck_assert_uint_eq(i, got);
}
END_TEST

START_TEST(large_and_edge_cases)
{
    void *list = (void *)1;
    ck_assert_uint_eq(cogc_malloc_many(16, 0, 0, &list), 0);
    ck_assert_ptr_null(list);
    errno = 0;
    ck_assert_uint_eq(cogc_malloc_many(16, 0, 4, NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    /* Large objects are never on a free list: one per call. */
    size_t got = cogc_malloc_many(100000, 0, 3, &list);
    ck_assert_uint_ge(got, 1);
    ck_assert_uint_eq(check_list(list, 100000, true, 0xB16), got);
    /* An object from the list can be freed like any other. */
    ck_assert_uint_ge(cogc_malloc_many(64, 0, 8, &list), 1);
    cogc_free(list);
}
END_TEST

START_TEST(out_of_memory)
{
    size_t limit = cogc_get_heap_limit();
    struct cogc_stats st;
    ck_assert_int_eq(cogc_get_stats(&st, sizeof st), 0);
    cogc_set_heap_limit(st.heap_bytes);
    void *list = (void *)1;
    errno = 0;
    /* More than any free run: a new large object is needed. */
    ck_assert_uint_eq(cogc_malloc_many((size_t)1 << 30, 0, 2, &list), 0);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_ptr_null(list);
    cogc_set_heap_limit(limit);
}
END_TEST

int main(void)
{
    return TU_RUN_TESTS("malloc_many", linked_and_zeroed, refills_and_never_repeats, held_list_survives,
                        large_and_edge_cases, out_of_memory);
}
