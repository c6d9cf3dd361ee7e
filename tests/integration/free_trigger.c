/* free_trigger: the collection trigger counts allocation net of explicit
 * frees.  A program that frees everything it allocates (as perl does), in
 * ever other size classes and with large objects, runs no collection
 * however much it allocates; a program that leaks while it also mallocs
 * and frees in a loop still collects, and its heap stays bounded. */
#define _GNU_SOURCE
#include "testutil.h"

#define MB ((size_t)1 << 20)
#define ROUNDS 200

/* Sizes of different classes; each round fills about 1 MB with one of them. */
static const size_t sizes[] = {24, 40, 56, 72, 100, 136, 200, 300, 520, 1000, 2100, 3000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void *g_objs[MB / 16];   /* .bss: a root, should a collection run */

/* Not ck_assert per object: Check records every assertion's location. */
#define NONNULL(p)                                                \
    do {                                                          \
        if (!(p))                                                 \
            ck_abort_msg("cogc_malloc returned NULL: %s", #p);   \
    } while (0)

static uint64_t automatic_collections(void)
{
    struct cogc_stats s = tu_stats();
    return s.collections - s.pressure_collections;
}

START_TEST(test_everything_freed_triggers_nothing)
{
    cogc_collect();   /* every count starts from here */
    uint64_t before = automatic_collections();
    size_t allocated = 0;
    for (int r = 0; r < ROUNDS; r++) {
        size_t size = sizes[r % NSIZES], n = MB / size;
        for (size_t i = 0; i < n; i++) {
            g_objs[i] = cogc_malloc(size);
            NONNULL(g_objs[i]);
        }
        void *big = cogc_malloc(MB);
        NONNULL(big);
        memset(big, 1, MB);
        allocated += n * size + MB;
        for (size_t i = 0; i < n; i++) {
            cogc_free(g_objs[i]);
            g_objs[i] = NULL;
        }
        cogc_free(big);
    }
    uint64_t ran = automatic_collections() - before;
    ck_assert_msg(ran == 0,
                  "%llu collections while %zu MB were allocated and every byte of it freed at once "
                  "(the trigger must count allocation net of frees)",
                  (unsigned long long)ran, allocated / MB);
}
END_TEST

/* Leaks 1 MB per round, and per round mallocs and frees 4 MB in one size
 * class (reusing the same objects: no refill sees them) and 1 MB as a
 * large object. */
static TU_NOINLINE void leak_round(int r)
{
    size_t size = sizes[r % NSIZES];
    for (size_t i = 0; i < MB / size; i++) {
        char *p = cogc_malloc(size);
        NONNULL(p);
        p[0] = 1;
    }
    for (int i = 0; i < 4 * 16384; i++) {
        void *p = cogc_malloc(64);
        NONNULL(p);
        cogc_free(p);
    }
    void *big = cogc_malloc(MB);
    NONNULL(big);
    cogc_free(big);
}

START_TEST(test_leaks_still_collected)
{
    cogc_collect();
    uint64_t before = automatic_collections();
    uint64_t max_heap = 0;
    for (int r = 0; r < 2 * ROUNDS; r++) {
        leak_round(r);
        uint64_t heap = tu_stats().heap_bytes;
        if (heap > max_heap)
            max_heap = heap;
    }
    uint64_t ran = automatic_collections() - before;
    ck_assert_msg(ran >= 2 * ROUNDS / 16, "only %llu collections while %d MB leaked (and more malloc'ed and freed)",
                  (unsigned long long)ran, 2 * ROUNDS);
    ck_assert_msg(max_heap < 96 * MB, "heap grew to %llu MB while %d MB leaked: leaks are not collected",
                  (unsigned long long)(max_heap / MB), 2 * ROUNDS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("free_trigger");
    TCase *freed = tcase_create("freed");
    tcase_set_timeout(freed, 120);
    tcase_add_test(freed, test_everything_freed_triggers_nothing);
    suite_add_tcase(s, freed);
    TCase *leaking = tcase_create("leaking");
    tcase_set_timeout(leaking, 120);
    tcase_add_test(leaking, test_leaks_still_collected);
    suite_add_tcase(s, leaking);
    return tu_run_suite(s);
}
