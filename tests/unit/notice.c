/* Memory-pressure notice sources: the parsing they share (fixtures), the
 * budget rule, and each source's probe on this machine (a reason when
 * unavailable, a working open/check/close when available). */
#include "testutil.h"
#include <string.h>
#include <sys/mman.h>

#include "notice.h"
#include "os.h"
#include "pressure.h"

#include <pthread.h>
#include <stdatomic.h>

static const char *v1_fixture =
    "12:hugetlb:/\n"
    "4:memory:/process_api/3c8d\n"
    "3:cpu,cpuacct:/user.slice\n"
    "0::/init.scope\n";

START_TEST(cgroup_lines)
{
    char out[256];
    ck_assert_int_eq(notice_cgroup_path(v1_fixture, "memory", out, sizeof out), 0);
    ck_assert_str_eq(out, "/process_api/3c8d");
    ck_assert_int_eq(notice_cgroup_path(v1_fixture, "cpuacct", out, sizeof out), 0);
    ck_assert_str_eq(out, "/user.slice");
    ck_assert_int_eq(notice_cgroup_path(v1_fixture, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "/init.scope");
    ck_assert_int_eq(notice_cgroup_path(v1_fixture, "cpuset", out, sizeof out), -1);
    /* "mem" is not "memory": whole names only */
    ck_assert_int_eq(notice_cgroup_path(v1_fixture, "mem", out, sizeof out), -1);
    /* no v2 line, last line without newline, too small a buffer */
    ck_assert_int_eq(notice_cgroup_path("4:memory:/a", NULL, out, sizeof out), -1);
    ck_assert_int_eq(notice_cgroup_path("4:memory:/a", "memory", out, sizeof out), 0);
    ck_assert_str_eq(out, "/a");
    ck_assert_int_eq(notice_cgroup_path(v1_fixture, "memory", out, 5), -1);
    ck_assert_int_eq(notice_cgroup_path("garbage\n::\n", "memory", out, sizeof out), -1);
    ck_assert_int_eq(notice_cgroup_path("", NULL, out, sizeof out), -1);
}
END_TEST

START_TEST(psi_trigger_line)
{
    char out[64];
    ck_assert_int_eq(notice_psi_trigger(out, sizeof out, 150000, 1000000), 0);
    ck_assert_str_eq(out, "some 150000 1000000");
    ck_assert_int_eq(notice_psi_trigger(out, sizeof out, 0, 1000000), -1);
    ck_assert_int_eq(notice_psi_trigger(out, sizeof out, 2000000, 1000000), -1);
    ck_assert_int_eq(notice_psi_trigger(out, 8, 150000, 1000000), -1);
}
END_TEST

START_TEST(meminfo_and_events)
{
    const char *mi = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   22683540 kB\n";
    ck_assert_uint_eq(notice_meminfo_bytes(mi, "MemAvailable:"), 22683540ull * 1024);
    ck_assert_uint_eq(notice_meminfo_bytes(mi, "MemFree:"), 100 * 1024);
    ck_assert_uint_eq(notice_meminfo_bytes(mi, "SwapFree:"), 0);
    const char *ev = "low 0\nhigh 17\nmax 3\noom 0\noom_kill 0\n";
    ck_assert_uint_eq(notice_events_count(ev, "high"), 17);
    ck_assert_uint_eq(notice_events_count(ev, "max"), 3);
    ck_assert_uint_eq(notice_events_count(ev, "oom"), 0);
    ck_assert_uint_eq(notice_events_count("oom_kill 5\n", "oom"), 0);   /* whole keys only */
}
END_TEST

/* COGC_NOTICES lists (gc/pressure.c opens only the sources named). */
START_TEST(source_lists)
{
    char bad[64];
    ck_assert_int_eq(notice_list_check("cgroup-v1", bad, sizeof bad), 0);
    ck_assert_int_eq(notice_list_check(" residency , cgroup-v1,gcdev", bad, sizeof bad), 0);
    ck_assert_int_eq(notice_list_check("none", bad, sizeof bad), 0);
    ck_assert_int_eq(notice_list_check("cgroup-v1,pis", bad, sizeof bad), -1);
    ck_assert_str_eq(bad, "pis");
    ck_assert_int_eq(notice_list_check("psi-cgroupx", bad, sizeof bad), -1);
    ck_assert_str_eq(bad, "psi-cgroupx");
    ck_assert_int_eq(notice_list_check("psi,,residency", bad, sizeof bad), -1);
    ck_assert_str_eq(bad, "(empty)");
    ck_assert_int_eq(notice_list_check("psi,", bad, sizeof bad), -1);
    ck_assert_int_eq(notice_list_check("", bad, sizeof bad), -1);
    ck_assert(notice_list_has(NULL, "psi"));
    ck_assert(notice_list_has(" residency , cgroup-v1", "cgroup-v1"));
    ck_assert(notice_list_has(" residency , cgroup-v1", "residency"));
    /* a name is matched whole: psi is not psi-cgroup */
    ck_assert(!notice_list_has("psi-cgroup", "psi"));
    ck_assert(!notice_list_has("psi", "psi-cgroup"));
    ck_assert(!notice_list_has("none", "residency"));
}
END_TEST

START_TEST(budget_rule)
{
    const uint64_t M = 1 << 20;
    ck_assert_uint_eq(pressure_budget_rule(0, 0, PRESSURE_UNKNOWN, 0), 0);
    /* nothing available (not unknown): the heap keeps what it holds */
    ck_assert_uint_eq(pressure_budget_rule(0, 0, 0, 50 * M), 50 * M / 10 * 9);
    /* cgroup 200 MiB, 20 MiB not heap, plenty available: 90 % of 180 MiB */
    ck_assert_uint_eq(pressure_budget_rule(200 * M, 20 * M, 20000 * M, 50 * M), 180 * M / 10 * 9);
    /* available memory is smaller: 100 MiB free + 50 MiB heap */
    ck_assert_uint_eq(pressure_budget_rule(0, 0, 100 * M, 50 * M), 150 * M / 10 * 9);
    ck_assert_uint_eq(pressure_budget_rule(1000 * M, 0, 100 * M, 50 * M), 150 * M / 10 * 9);
    /* non-heap memory above the limit: still a budget, the smallest */
    ck_assert_uint_eq(pressure_budget_rule(10 * M, 20 * M, 0, 0), 1);
}
END_TEST

/* The runnable count that sizes the marker team (gc/collect.c). */
static atomic_int spin_state;
static void *spinner(void *arg)
{
    (void)arg;
    atomic_store(&spin_state, 1);
    while (atomic_load(&spin_state) == 1)
        ;
    return NULL;
}

START_TEST(runnable_count)
{
    unsigned alone = os_runnable();
    ck_assert_uint_ge(alone, 1);   /* this thread */
    pthread_t t;
    atomic_store(&spin_state, 0);
    ck_assert_int_eq(pthread_create(&t, NULL, spinner, NULL), 0);
    while (atomic_load(&spin_state) != 1)
        ;
    unsigned with = os_runnable();
    atomic_store(&spin_state, 2);
    pthread_join(t, NULL);
    ck_assert_uint_ge(with, 2);    /* and a thread that never sleeps */
}
END_TEST

START_TEST(populate_rule)
{
    const uint64_t M = 1 << 20;
    /* nothing known: populate */
    ck_assert(pressure_populate_rule(0, PRESSURE_UNKNOWN, 0, 64 * M));
    ck_assert(!pressure_populate_rule(0, 0, 0, 64 * M));
    /* a 290 MiB cgroup: the first chunks yes, none past half the limit */
    ck_assert(pressure_populate_rule(290 * M, 20000 * M, 64 * M, 64 * M));
    ck_assert(!pressure_populate_rule(290 * M, 20000 * M, 128 * M, 64 * M));
    /* little memory available: a chunk bigger than a quarter of it is not */
    ck_assert(pressure_populate_rule(0, 256 * M, 0, 64 * M));
    ck_assert(!pressure_populate_rule(0, 255 * M, 0, 64 * M));
}
END_TEST

static void one_range(void *ctx, void *addr, size_t len) { (void)addr; *(size_t *)ctx += len; }
static char region[1 << 16] __attribute__((aligned(4096)));
static void ranges(notice_range_fn fn, void *ctx) { fn(ctx, region, sizeof region); }

/* The collector's ranges leave out what it gives back or sends out
 * itself: the first half of `region`, from the second check on. */
static bool half_left_out;
static void ranges_less_given_back(notice_range_fn fn, void *ctx)
{
    if (half_left_out)
        fn(ctx, region + sizeof region / 2, sizeof region / 2);
    else
        fn(ctx, region, sizeof region);
}

START_TEST(every_source_probes)
{
    size_t seen = 0;
    for (size_t i = 0; notice_sources[i]; i++) {
        const struct notice_source *s = notice_sources[i];
        char why[256] = "";
        ck_assert_ptr_eq(notice_find(s->name), s);
        if (s->probe(why, sizeof why) != 0) {
            /* unavailable: the reason names the source */
            ck_assert_msg(strncmp(why, s->name, strlen(s->name)) == 0 && why[strlen(s->name)] == ':',
                          "reason \"%s\" does not start with \"%s:\"", why, s->name);
            printf("notice source %s unavailable: %s\n", s->name, why);
            continue;
        }
        struct notice_config cfg = {.psi_stall_us = 150000, .psi_window_us = 1000000, .period_ms = 100,
                                    .ranges = ranges};
        int fd = s->open(&cfg, why, sizeof why);
        ck_assert_msg(fd >= 0 || fd == -2, "%s probed available but open failed: %s", s->name, why);
        ck_assert_int_ge(s->check(), 0);   /* nothing happened: no error */
        s->close();
        printf("notice source %s available\n", s->name);
        seen++;
    }
    ck_assert_ptr_null(notice_find("no-such-source"));
    size_t total = 0;
    one_range(&total, region, 4096);
    ck_assert_uint_eq(total, 4096);
    ck_assert_uint_ge(seen, 1);   /* residency (mincore) works on every Linux */
}
END_TEST

/* residency counts pages that left memory: release half the region and the
 * next check says so. */
/* The residency source opened over `region` (written) through `fn`, and
 * its first check (the baseline) made; NULL after saying why it is
 * unavailable. */
static const struct notice_source *residency_open(notice_ranges_fn fn)
{
    const struct notice_source *s = notice_find("residency");
    char why[256];
    if (s->probe(why, sizeof why) != 0) {
        printf("SKIP: %s\n", why);
        return NULL;
    }
    memset(region, 1, sizeof region);
    struct notice_config cfg = {.period_ms = 100, .ranges = fn};
    ck_assert_int_eq(s->open(&cfg, why, sizeof why), -2);
    ck_assert_int_eq(s->check(), 0);
    return s;
}

START_TEST(residency_sees_dropped_pages)
{
    const struct notice_source *s = residency_open(ranges);
    if (!s)
        return;
    ck_assert_int_eq(madvise(region, sizeof region / 2, MADV_DONTNEED), 0);
    ck_assert_int_eq(s->check(), (long)(sizeof region / 2 / 4096));
    ck_assert_int_eq(s->check(), 0);
    s->close();
}
END_TEST

/* Pages that leave the ranges are not counted, whatever happens to them:
 * a notice says only that the kernel took pages the collector still uses. */
START_TEST(residency_ignores_pages_left_out)
{
    half_left_out = false;
    const struct notice_source *s = residency_open(ranges_less_given_back);
    if (!s)
        return;
    /* given back by the collector: out of the ranges, then dropped */
    half_left_out = true;
    ck_assert_int_eq(madvise(region, sizeof region / 2, MADV_DONTNEED), 0);
    ck_assert_int_eq(s->check(), 0);
    /* taken from the pages still in use: a quarter of the region */
    ck_assert_int_eq(madvise(region + sizeof region / 2, sizeof region / 4, MADV_DONTNEED), 0);
    ck_assert_int_eq(s->check(), (long)(sizeof region / 4 / 4096));
    /* back in use and resident, then taken again: counted again */
    memset(region + sizeof region / 2, 2, sizeof region / 4);
    ck_assert_int_eq(s->check(), 0);
    ck_assert_int_eq(madvise(region + sizeof region / 2, 4096, MADV_DONTNEED), 0);
    ck_assert_int_eq(s->check(), 1);
    s->close();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("notice");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cgroup_lines);
    tcase_add_test(tc, psi_trigger_line);
    tcase_add_test(tc, meminfo_and_events);
    tcase_add_test(tc, source_lists);
    tcase_add_test(tc, budget_rule);
    tcase_add_test(tc, populate_rule);
    tcase_add_test(tc, runnable_count);
    tcase_add_test(tc, every_source_probes);
    tcase_add_test(tc, residency_sees_dropped_pages);
    tcase_add_test(tc, residency_ignores_pages_left_out);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
