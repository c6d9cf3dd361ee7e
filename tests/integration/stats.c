/* stats: cogc_get_stats reports sensible, consistent numbers, and
 * COGC_STATS=1 prints one line per collection plus a summary at exit. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stddef.h>

#define MB ((size_t)1 << 20)

static struct tu_node *volatile g_live;

START_TEST(test_collections_count)
{
    struct cogc_stats s0 = tu_stats();
    for (int i = 1; i <= 5; i++) {
        cogc_collect();
        struct cogc_stats s = tu_stats();
        ck_assert_msg(s.collections == s0.collections + (uint64_t)i, "after %d cogc_collect: %llu -> %llu", i,
                      (unsigned long long)s0.collections, (unsigned long long)s.collections);
    }
}
END_TEST

START_TEST(test_heap_and_live_bytes)
{
    g_live = tu_list_make(50000, 1);          /* >= 3 MB live */
    ck_assert_ptr_nonnull(g_live);
    cogc_collect();
    struct cogc_stats s = tu_stats();
    ck_assert_uint_gt(s.heap_bytes, 0);
    ck_assert_uint_le(s.heap_free_bytes, s.heap_bytes);
    ck_assert_msg(s.live_bytes >= 50000 * sizeof(struct tu_node), "live_bytes %llu with a %zu-byte list alive",
                  (unsigned long long)s.live_bytes, 50000 * sizeof(struct tu_node));
    ck_assert_uint_le(s.live_bytes, s.heap_bytes);
    ck_assert_uint_ge(s.heap_bytes, s.live_bytes);
    ck_assert_uint_ge(s.markers, 1);
    ck_assert_uint_le(s.markers, 64);
    ck_assert_uint_ge(s.threads, 1);
    ck_assert_ptr_nonnull(memchr(s.dirty_backend, '\0', sizeof s.dirty_backend));
    ck_assert_uint_eq(tu_list_bad(g_live, 50000, 1), 0);
    g_live = NULL;
}
END_TEST

START_TEST(test_allocated_freed_reclaimed)
{
    struct cogc_stats s0 = tu_stats();
    void *keep[100];
    for (int i = 0; i < 100; i++) {
        keep[i] = cogc_malloc(1000);
        ck_assert_ptr_nonnull(keep[i]);
    }
    struct cogc_stats s1 = tu_stats();
    ck_assert_uint_ge(s1.allocated_bytes - s0.allocated_bytes, 100 * 1000);
    for (int i = 0; i < 100; i++)
        cogc_free(keep[i]);
    struct cogc_stats s2 = tu_stats();
    ck_assert_uint_ge(s2.freed_bytes - s1.freed_bytes, 100 * 1000);
    /* 64 MB of garbage is mostly reclaimed */
    tu_churn(256, 256 * 1024);
    tu_clear_stack();
    cogc_collect();
    cogc_collect();
    struct cogc_stats s3 = tu_stats();
    ck_assert_uint_ge(s3.allocated_bytes - s2.allocated_bytes, 64 * MB);
    ck_assert_msg(s3.reclaimed_bytes - s2.reclaimed_bytes >= 48 * MB,
                  "only %llu bytes reclaimed after dropping 64 MB",
                  (unsigned long long)(s3.reclaimed_bytes - s2.reclaimed_bytes));
    ck_assert_msg(s3.heap_bytes < 64 * MB, "heap_bytes %llu after 64 MB of garbage",
                  (unsigned long long)s3.heap_bytes);
}
END_TEST

/* 1 GB of 64-byte objects, nothing kept: the heap stays small. */
START_TEST(test_garbage_heap_bounded)
{
    uint64_t peak = 0;
    for (int r = 0; r < 64; r++) {
        tu_churn(64, 256 * 1024);          /* 16 MB */
        struct cogc_stats s = tu_stats();
        if (s.heap_bytes > peak)
            peak = s.heap_bytes;
    }
    ck_assert_msg(peak < 64 * MB, "heap reached %llu bytes while 1 GB of garbage was allocated",
                  (unsigned long long)peak);
}
END_TEST

START_TEST(test_pause_times)
{
    g_live = tu_list_make(20000, 2);
    for (int i = 0; i < 10; i++)
        cogc_collect();
    struct cogc_stats s = tu_stats();
    ck_assert_uint_ge(s.collections, 10);
    ck_assert_uint_gt(s.p50_pause_ns, 0);
    ck_assert_uint_ge(s.p99_pause_ns, s.p50_pause_ns);
    ck_assert_uint_ge(s.max_pause_ns, s.p99_pause_ns);
    ck_assert_uint_gt(s.last_pause_ns, 0);
    ck_assert_uint_le(s.last_pause_ns, s.max_pause_ns);
    ck_assert_uint_ge(s.total_pause_ns, s.max_pause_ns);
    ck_assert_uint_gt(s.total_mark_ns, 0);
    ck_assert_uint_gt(s.last_mark_ns, 0);
    ck_assert_uint_ge(s.total_mark_ns, s.last_mark_ns);
    ck_assert_msg(s.max_pause_ns < 10ull * 1000 * 1000 * 1000, "max pause %llu ns",
                  (unsigned long long)s.max_pause_ns);
    g_live = NULL;
}
END_TEST

START_TEST(test_min_trigger_setting)
{
    size_t old = cogc_get_min_trigger();
    ck_assert_uint_ge(old, 64u << 10);
    ck_assert_int_eq(cogc_set_min_trigger(1024), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cogc_set_min_trigger(64u << 20), 0);
    ck_assert_uint_eq(cogc_get_min_trigger(), 64u << 20);
    cogc_collect();   /* the trigger is recomputed at a collection */
    uint64_t before = tu_stats().collections;
    tu_churn(64, (32u << 20) / 64);   /* 32 MiB of garbage: under the trigger */
    ck_assert_uint_eq(tu_stats().collections, before);
    ck_assert_int_eq(cogc_set_min_trigger(old), 0);
    cogc_collect();
    before = tu_stats().collections;
    tu_churn(64, (32u << 20) / 64);
    ck_assert_uint_gt(tu_stats().collections, before);
}
END_TEST

START_TEST(test_pause_target_setting)
{
    unsigned old = cogc_get_pause_target();
    ck_assert_uint_ge(old, 100);
    ck_assert_int_eq(cogc_set_pause_target(99), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(cogc_set_pause_target(10000001), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(cogc_get_pause_target(), old);
    ck_assert_int_eq(cogc_set_pause_target(1500), 0);
    ck_assert_uint_eq(cogc_get_pause_target(), 1500);
    ck_assert_int_eq(cogc_set_pause_target(old), 0);
}
END_TEST

/* A heap grown at a peak of live data, then mostly free: with a divisor,
 * collections wait for heap size / divisor bytes, not 8 MiB. */
TU_NOINLINE static void grow_then_drop(void)
{
    struct tu_node *peak = tu_list_make(1000000, 11);   /* 64 MB */
    ck_assert_ptr_nonnull(peak);
    peak = NULL;
}

START_TEST(test_free_space_divisor_setting)
{
    ck_assert_uint_eq(cogc_get_free_space_divisor(), 0);   /* native default: off */
    ck_assert_int_eq(cogc_set_free_space_divisor(1001), -1);
    ck_assert_int_eq(errno, EINVAL);
    grow_then_drop();
    tu_clear_stack();
    cogc_collect();
    struct cogc_stats s = tu_stats();
    uint64_t heap = s.heap_bytes - s.released_bytes;
    ck_assert_uint_ge(heap, 48u << 20);
    uint64_t garbage = heap / 2;   /* over the 8 MiB trigger, under heap / 1 */
    ck_assert_int_eq(cogc_set_free_space_divisor(1), 0);
    ck_assert_uint_eq(cogc_get_free_space_divisor(), 1);
    cogc_collect();   /* the trigger is recomputed at a collection */
    uint64_t before = tu_stats().collections;
    tu_churn(64, garbage / 64);
    ck_assert_uint_eq(tu_stats().collections, before);
    ck_assert_int_eq(cogc_set_free_space_divisor(0), 0);
    cogc_collect();
    before = tu_stats().collections;
    tu_churn(64, garbage / 64);
    ck_assert_uint_gt(tu_stats().collections, before);
}
END_TEST

START_TEST(test_markers_setting)
{
    /* Enough live data for parallel marking: a collection expected to mark
     * less than 4 MiB runs one marker whatever the setting.  Held by a
     * static root alone, so that dropping it leaves no copy in this frame. */
    g_live = tu_list_make(300000, 5);
    ck_assert_ptr_nonnull(g_live);
    ck_assert_int_eq(cogc_set_markers(1), 0);
    cogc_collect();
    ck_assert_uint_eq(tu_stats().markers, 1);
    ck_assert_int_eq(cogc_set_markers(2), 0);
    cogc_collect();
    ck_assert_uint_eq(tu_stats().markers, 2);
    ck_assert_int_eq(cogc_set_markers(0), 0);
    cogc_collect();
    ck_assert_uint_ge(tu_stats().markers, 1);
    ck_assert_uint_eq(tu_list_bad(g_live, 300000, 5), 0);
    g_live = NULL;
    /* A stale register or stack copy of a node may hold the list through a
     * collection or two (conservative scanning; seen under ASan): collect
     * until one finds little live data, then the next one expects little. */
    int tries = 0;
    do {
        tu_clear_stack();
        cogc_collect();
    } while (tu_stats().live_bytes >= ((uint64_t)4 << 20) && ++tries < 8);
    ck_assert_uint_lt(tu_stats().live_bytes, (uint64_t)4 << 20);
    cogc_collect();
    ck_assert_uint_eq(tu_stats().markers, 1);
}
END_TEST

static int g_pipe[2], g_ready[2];

static void *blocked_thread(void *arg)
{
    (void)arg;
    char c = 'r';
    if (write(g_ready[1], &c, 1) != 1)
        return NULL;
    while (read(g_pipe[0], &c, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

START_TEST(test_threads_count)
{
    unsigned base = tu_stats().threads;
    ck_assert_int_eq(pipe(g_pipe), 0);
    ck_assert_int_eq(pipe(g_ready), 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cogc_pthread_create(&t[i], NULL, blocked_thread, NULL), 0);
    for (int i = 0; i < 3; i++) {
        char c;
        ck_assert_int_eq(read(g_ready[0], &c, 1), 1);
    }
    ck_assert_uint_eq(tu_stats().threads, base + 3);
    ck_assert_int_eq(write(g_pipe[1], "xyz", 3), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    ck_assert_uint_eq(tu_stats().threads, base);
    close(g_pipe[0]);
    close(g_pipe[1]);
    close(g_ready[0]);
    close(g_ready[1]);
}
END_TEST

/* A caller compiled against an older, shorter struct gets only what fits. */
START_TEST(test_short_struct)
{
    unsigned char buf[sizeof(struct cogc_stats) + 16];
    memset(buf, 0xAB, sizeof buf);
    size_t part = offsetof(struct cogc_stats, live_bytes);
    ck_assert_int_eq(cogc_get_stats((struct cogc_stats *)(void *)buf, part), 0);
    for (size_t i = part; i < sizeof buf; i++)
        ck_assert_msg(buf[i] == 0xAB, "cogc_get_stats(size %zu) wrote byte %zu", part, i);
    struct cogc_stats full = tu_stats();
    uint64_t coll;
    memcpy(&coll, buf + offsetof(struct cogc_stats, collections), sizeof coll);
    ck_assert_uint_le(coll, full.collections);
    errno = 0;
    ck_assert_int_eq(cogc_get_stats(NULL, sizeof full), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- COGC_STATS=1 ------------------------------------------------------ */

#define CHILD_MARK "CHILD-END"

/* Child: some explicit and some allocation-triggered collections, then
 * report the count on stdout and a marker line on stderr, and exit
 * normally (so the summary is printed after the marker). */
static int child_stats(void)
{
    if (cogc_init() != 0)
        return 9;
    struct tu_node *l = tu_list_make(1000, 3);
    for (int i = 0; i < 7; i++)
        cogc_collect();
    tu_churn(64, 300000);
    if (tu_list_bad(l, 1000, 3))
        return 10;
    struct cogc_stats s;
    if (cogc_get_stats(&s, sizeof s) != 0)
        return 11;
    if (s.pauses != s.collections)   /* every collection is one pause */
        return 13;
    printf("%llu\n", (unsigned long long)s.collections);
    fflush(stdout);
    static const char mark[] = CHILD_MARK "\n";
    if (write(2, mark, sizeof mark - 1) != (ssize_t)(sizeof mark - 1))
        return 12;
    return 0;
}

START_TEST(test_stats_env_output)
{
    const char *envv[] = {"COGC_STATS=1", NULL};
    struct tu_child c;
    ck_assert_int_eq(tu_run_self("--child-stats", envv, &c), 0);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "child status 0x%x, stderr: %s", c.status,
                  c.err);
    unsigned long long collections = strtoull(c.out, NULL, 10);
    ck_assert_uint_ge(collections, 7);
    char *mark = strstr(c.err, CHILD_MARK "\n");
    ck_assert_msg(mark != NULL, "marker missing from stderr");
    *mark = '\0';
    size_t before = tu_count_lines(c.err);
    size_t after = tu_count_lines(mark + strlen(CHILD_MARK) + 1);
    ck_assert_msg(before == collections, "%zu lines on stderr for %llu collections:\n%s", before, collections,
                  c.err);
    ck_assert_msg(after >= 1, "no summary printed at exit");
    /* the pause histogram accounts for every collection */
    const char *h = strstr(mark + strlen(CHILD_MARK) + 1, "pause histogram");
    ck_assert_msg(h != NULL, "no pause histogram at exit");
    unsigned long long sum = 0;
    for (const char *p = strchr(h, ':'); p && p < h + strcspn(h, "\n"); p = strchr(p + 1, ':'))
        sum += strtoull(p + 1, NULL, 10);
    ck_assert_msg(sum == collections, "histogram counts %llu pauses for %llu collections", sum, collections);
    tu_child_free(&c);
    /* without COGC_STATS nothing is printed */
    ck_assert_int_eq(tu_run_self("--child-stats", NULL, &c), 0);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "child status 0x%x", c.status);
    ck_assert_msg(strcmp(c.err, CHILD_MARK "\n") == 0, "stderr without COGC_STATS: \"%s\"", c.err);
    tu_child_free(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_collections_count);
    tcase_add_test(tc, test_heap_and_live_bytes);
    tcase_add_test(tc, test_allocated_freed_reclaimed);
    tcase_add_test(tc, test_garbage_heap_bounded);
    tcase_add_test(tc, test_pause_times);
    tcase_add_test(tc, test_markers_setting);
    tcase_add_test(tc, test_min_trigger_setting);
    tcase_add_test(tc, test_free_space_divisor_setting);
    tcase_add_test(tc, test_pause_target_setting);
    tcase_add_test(tc, test_threads_count);
    tcase_add_test(tc, test_short_struct);
    tcase_add_test(tc, test_stats_env_output);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child-stats") == 0)
        return child_stats();
    cogc_init();
    return tu_run_suite(suite());
}
