/* gen_held: in generational mode, a young block that a minor collection
 * leaves with both promoted survivors and dead objects is held: nothing of it is
 * handed out again until the next full collection (sweeping it would write
 * the pages just armed for its survivors, a write fault each).  Its dead
 * objects are reused after that full collection, and what held blocks keep
 * counts towards full collections, so a program whose survivors are
 * scattered through its young blocks keeps a bounded heap. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdbool.h>

#define N 4096          /* objects per batch: 32 one-page blocks of 32 bytes */
#define SIZE 32
#define KEEP_EVERY 4

static void *g_keep[N];       /* .bss: roots */
static void *g_more[2 * N];
static uintptr_t g_dead[N];   /* addresses of the dropped objects, hidden */

#define HIDE(p) (~(uintptr_t)(p))

static int by_value(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static bool was_dead(void *p, size_t ndead)
{
    uintptr_t key = HIDE(p);
    return bsearch(&key, g_dead, ndead, sizeof g_dead[0], by_value) != NULL;
}

/* One batch, every KEEP_EVERY-th object kept with a recognisable content,
 * the others dropped; their addresses (hidden) in g_dead, sorted. */
static size_t make_batch(void)
{
    size_t ndead = 0;
    for (size_t i = 0; i < N; i++) {
        uintptr_t *o = cogc_malloc(SIZE);
        ck_assert_ptr_nonnull(o);
        o[0] = 0x5eed0000u + i;
        if (i % KEEP_EVERY == 0)
            g_keep[i] = o;
        else
            g_dead[ndead++] = HIDE(o);
    }
    qsort(g_dead, ndead, sizeof g_dead[0], by_value);
    return ndead;
}

static void check_kept(void)
{
    for (size_t i = 0; i < N; i += KEEP_EVERY)
        ck_assert_msg(((uintptr_t *)g_keep[i])[0] == 0x5eed0000u + i, "kept object %zu lost its contents", i);
}

static size_t reused(size_t ndead, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        g_more[i] = cogc_malloc(SIZE);
        ck_assert_ptr_nonnull(g_more[i]);
        n += was_dead(g_more[i], ndead);
    }
    return n;
}

START_TEST(test_held_until_full)
{
    cogc_collect();
    cogc_collect();   /* marks are the old generation from here */
    struct cogc_stats s0 = tu_stats();
    size_t ndead = make_batch();
    cogc_collect_minor();   /* the survivors are aged (gc/aging.c): their pages stay unarmed */
    tu_skip_unless_minor_since(&s0);
    cogc_collect_minor();   /* promoted */
    check_kept();
    size_t before_full = reused(ndead, 0, N);
    ck_assert_msg(before_full == 0,
                  "%zu of %zu objects allocated after the minor collection reuse dead objects of "
                  "blocks with survivors (those blocks must be held until a full collection)",
                  before_full, (size_t)N);
    cogc_collect();
    check_kept();
    size_t after_full = reused(ndead, N, 2 * N);
    ck_assert_msg(after_full > 0,
                  "no object allocated after the full collection reuses the %zu dead objects of "
                  "the held blocks (they must be swept then)",
                  ndead);
}
END_TEST

/* One survivor per page, for many minor collections: nearly every young
 * block is held, and promotion alone (a few KiB per minor collection)
 * would bring a full collection only every hundred or so; the held bytes
 * bring them, so the heap stays near what lives plus the young generation. */
#define ROUNDS 400
#define RING 4
#define SPARSE (4096 / SIZE)

static void *g_ring[RING][N / SPARSE];

START_TEST(test_scattered_survivors_bounded)
{
    cogc_collect();
    struct cogc_stats s0 = tu_stats();
    for (int r = 0; r < ROUNDS; r++) {
        void **slot = g_ring[r % RING];
        for (size_t i = 0; i < N; i++) {
            uintptr_t *o = cogc_malloc(SIZE);
            ck_assert_ptr_nonnull(o);
            o[0] = (uintptr_t)r;
            if (i % SPARSE == 0)
                slot[i / SPARSE] = o;
        }
    }
    tu_skip_unless_minor_since(&s0);
    struct cogc_stats s1 = tu_stats();
    uint64_t minors = s1.minor_collections - s0.minor_collections;
    uint64_t fulls = (s1.collections - s0.collections) - minors;
    for (int k = 0; k < RING; k++)
        for (size_t i = 0; i < N / SPARSE; i++)
            ck_assert_ptr_nonnull(g_ring[k][i]);
    size_t allocated_mb = (size_t)ROUNDS * N * SIZE >> 20;
    printf("%llu minor and %llu full collections, heap %llu KiB, %zu MiB allocated\n",
           (unsigned long long)minors, (unsigned long long)fulls,
           (unsigned long long)(s1.heap_bytes >> 10), allocated_mb);
    ck_assert_msg(fulls > 0, "no full collection in %llu minor ones: held bytes must count towards one",
                  (unsigned long long)minors);
    /* Live: RING batches of N/SPARSE objects (4 KiB); the young generation
     * is COGC_MIN_TRIGGER (256k in this test's environment). */
    ck_assert_msg(s1.heap_bytes <= ((uint64_t)16 << 20),
                  "heap %llu KiB after %zu MiB of allocation with 4 KiB live",
                  (unsigned long long)(s1.heap_bytes >> 10), allocated_mb);
}
END_TEST

/* The young generation is shrunk when minor collections mark for long,
 * but never grown by it: with COGC_MIN_TRIGGER (256k here) under the
 * shrinking floor, a slow minor collection once set it to that floor
 * (512 KiB), which made this file's ring of survivors die young and the
 * test above see no full collection.  The shortest pause target makes
 * every minor collection that marks 32 KiB or more shrink it. */
#define KEPT (128 * 1024 / SIZE)

static void *volatile g_recent[KEPT];   /* volatile: never read, so its stores could be dropped */

START_TEST(test_shrinking_never_grows)
{
    unsigned target = cogc_get_pause_target();
    ck_assert_int_eq(cogc_set_pause_target(100), 0);
    /* The test before (same process) promoted objects that died old, which
     * lets the young generation grow past COGC_MIN_TRIGGER (nursery.c);
     * setting it starts that over. */
    ck_assert_int_eq(cogc_set_min_trigger(cogc_get_min_trigger()), 0);
    cogc_collect();
    struct cogc_stats s0 = tu_stats();
    size_t total = (size_t)32 << 20;
    for (size_t i = 0; i < total / SIZE; i++) {
        uintptr_t *o = cogc_malloc(SIZE);
        ck_assert_ptr_nonnull(o);
        o[0] = i;
        g_recent[i % KEPT] = o;
    }
    tu_skip_unless_minor_since(&s0);
    ck_assert_int_eq(cogc_set_pause_target(target), 0);
    uint64_t collections = tu_stats().collections - s0.collections;
    uint64_t expected = total / (256 * 1024);
    printf("%llu collections for %zu MiB allocated, young generation 256 KiB\n",
           (unsigned long long)collections, total >> 20);
    ck_assert_msg(collections >= expected * 9 / 10,
                  "%llu collections for %zu MiB allocated: the young generation grew past "
                  "COGC_MIN_TRIGGER (256k)",
                  (unsigned long long)collections, total >> 20);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen_held");
    TCase *tc = tcase_create("held");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_held_until_full);
    tcase_add_test(tc, test_scattered_survivors_bounded);
    tcase_add_test(tc, test_shrinking_never_grows);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
