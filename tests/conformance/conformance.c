/* Conformance suite for the dirty-page backends (backends/dirty.h).
 *
 * One executable, one backend per process: the backend name comes from
 * argv[1] or COGC_DIRTY; further arguments name the only cases to run.  An unavailable backend prints
 * "SKIP: <backend>: <reason>" and exits 77.  Run with CK_FORK=no (ctest
 * does): the backend's threads and signal handlers live in this process.
 *
 * For precise backends every case checks that exactly the written pages
 * are reported; for over-approximating ones (none) that every written page
 * is reported. */
#define _GNU_SOURCE
#include "dirty.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_THREAD__)
#define CONF_TSAN 1
#else
#define CONF_TSAN 0
#endif
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL

static const struct dirty_backend *B;

/* ---- helpers -------------------------------------------------------- */

/* What one collect reported inside [base, base+npages). */
struct seen {
    char *base;
    size_t npages;
    uint8_t *hit;        /* per page: reported */
    long outside;        /* reported pages outside the range */
    long epoch;          /* for last_report */
    long *last_report;   /* optional: epoch of the last report per page */
};

static void seen_cb(void *ctx, void *addr, size_t len)
{
    struct seen *s = ctx;
    char *a = addr;
    ck_assert_uint_eq((uintptr_t)a % PG, 0);
    ck_assert_uint_eq(len % PG, 0);
    ck_assert_uint_gt(len, 0);
    for (size_t i = 0; i < len / PG; i++) {
        char *p = a + i * PG;
        if (p < s->base || p >= s->base + s->npages * PG) {
            s->outside++;
            continue;
        }
        size_t k = (size_t)(p - s->base) / PG;
        s->hit[k] = 1;
        if (s->last_report)
            s->last_report[k] = s->epoch;
    }
}

static void seen_init(struct seen *s, char *base, size_t npages)
{
    memset(s, 0, sizeof *s);
    s->base = base;
    s->npages = npages;
    s->hit = calloc(npages, 1);
    ck_assert_ptr_nonnull(s->hit);
}

static long collect_into(struct seen *s)
{
    memset(s->hit, 0, s->npages);
    s->outside = 0;
    long n = B->collect(seen_cb, s);
    ck_assert_int_ge(n, 0);
    return n;
}

static size_t count_hits(const struct seen *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->npages; i++)
        n += s->hit[i];
    return n;
}

/* Check one collect against the set of written pages (written[i] != 0). */
static void expect(const struct seen *s, const uint8_t *written)
{
    for (size_t i = 0; i < s->npages; i++) {
        if (written[i])
            ck_assert_msg(s->hit[i], "page %zu written but not reported", i);
        else if (B->caps.precise)
            ck_assert_msg(!s->hit[i], "page %zu reported but not written (precise backend)", i);
    }
    if (B->caps.precise)
        ck_assert_int_eq(s->outside, 0);
}

static void expect_pages(const struct seen *s, const size_t *pages, size_t n)
{
    uint8_t *w = calloc(s->npages, 1);
    for (size_t i = 0; i < n; i++)
        w[pages[i]] = 1;
    expect(s, w);
    free(w);
}

static void expect_none(const struct seen *s)
{
    expect_pages(s, NULL, 0);
}

static char *new_range(size_t npages)
{
    char *p = B->map(npages * PG, 4UL << 20);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(B->track(p, npages * PG), 0);
    return p;
}

static void drop_range(char *p, size_t npages)
{
    ck_assert_int_eq(B->untrack(p, npages * PG), 0);
    ck_assert_int_eq(B->unmap(p, npages * PG), 0);
}

static void touch(char *base, size_t page, char v)
{
    ((volatile char *)base)[page * PG + (page * 7) % PG] = v;
}

/* ---- cases ---------------------------------------------------------- */

START_TEST(single_write)
{
    struct seen s;
    char *p = new_range(64);
    seen_init(&s, p, 64);
    ck_assert_int_eq(B->arm(), 0);
    touch(p, 17, 1);
    collect_into(&s);
    size_t w[] = {17};
    expect_pages(&s, w, 1);
    ck_assert_int_eq(p[17 * PG + (17 * 7) % PG], 1);
    collect_into(&s);
    expect_none(&s);
    drop_range(p, 64);
    free(s.hit);
}
END_TEST

START_TEST(every_page)
{
    enum { N = 1024 };
    struct seen s;
    char *p = new_range(N);
    seen_init(&s, p, N);
    ck_assert_int_eq(B->arm(), 0);
    for (size_t i = 0; i < N; i++)
        touch(p, i, (char)i);
    long n = collect_into(&s);
    ck_assert_int_ge(n, N);
    ck_assert_uint_eq(count_hits(&s), N);
    /* again, now that every page is populated */
    for (size_t i = 0; i < N; i++)
        touch(p, i, (char)(i + 1));
    collect_into(&s);
    ck_assert_uint_eq(count_hits(&s), N);
    collect_into(&s);
    expect_none(&s);
    drop_range(p, N);
    free(s.hit);
}
END_TEST

#define NTHREADS 8
#define TPAGES 4096
static char *tbase;
static pthread_barrier_t tbar;

static void *thread_writer(void *arg)
{
    size_t t = (size_t)arg;
    pthread_barrier_wait(&tbar);
    for (size_t i = t; i < TPAGES; i += NTHREADS)
        if (i % 3 != 0) /* leave every third page clean */
            touch(tbase, i, (char)t);
    return NULL;
}

START_TEST(threads8)
{
    struct seen s;
    tbase = new_range(TPAGES);
    seen_init(&s, tbase, TPAGES);
    ck_assert_int_eq(B->arm(), 0);
    pthread_t th[NTHREADS];
    pthread_barrier_init(&tbar, NULL, NTHREADS);
    for (size_t t = 0; t < NTHREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, thread_writer, (void *)t), 0);
    for (size_t t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&tbar);
    collect_into(&s);
    uint8_t *w = calloc(TPAGES, 1);
    for (size_t i = 0; i < TPAGES; i++)
        w[i] = i % 3 != 0;
    expect(&s, w);
    free(w);
    drop_range(tbase, TPAGES);
    free(s.hit);
}
END_TEST

/* A writer hammers random pages while the main thread collects.  The
 * writer reads the collect epoch before each store and records it after;
 * a store made in epoch e happened after collect e-1 returned, so some
 * collect j >= e must report its page. */
#define WPAGES 1024
static _Atomic long epoch;
static _Atomic int stop_writer;
static _Atomic long nwrites;
static long last_write[WPAGES];
static char *wbase;

static void *hammer(void *arg)
{
    (void)arg;
    uint64_t x = 88172645463325252ULL;
    long n = 0;
    while (!atomic_load_explicit(&stop_writer, memory_order_relaxed)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t pg = x % WPAGES;
        long e = atomic_load(&epoch);
        touch(wbase, pg, (char)n++);
        last_write[pg] = e;
        atomic_store_explicit(&nwrites, n, memory_order_relaxed);
    }
    return (void *)n;
}

START_TEST(writes_during_collect)
{
    if (!B->caps.atomic_collect) {
        /* soft-dirty: documented as not atomic; nothing to assert here */
        ck_assert(!B->caps.atomic_collect);
        return;
    }
    struct seen s;
    static long last_report[WPAGES];
    wbase = new_range(WPAGES);
    seen_init(&s, wbase, WPAGES);
    for (size_t i = 0; i < WPAGES; i++) {
        last_write[i] = -1;
        last_report[i] = -1;
    }
    s.last_report = last_report;
    ck_assert_int_eq(B->arm(), 0);
    atomic_store(&stop_writer, 0);
    atomic_store(&epoch, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hammer, NULL), 0);
    long total = 0, e = 0;
    atomic_store(&nwrites, 0);
    while (atomic_load(&nwrites) == 0) /* writer running */
        ;
    /* at least 400 collects and 20000 stores */
    for (; e < 400 || (atomic_load(&nwrites) < 20000 && e < 10000000); e++) {
        s.epoch = e;
        total += B->collect(seen_cb, &s);
        atomic_store(&epoch, e + 1);
    }
    atomic_store(&stop_writer, 1);
    void *writes;
    pthread_join(th, &writes);
    s.epoch = e;
    B->collect(seen_cb, &s);
    ck_assert_int_gt((long)writes, 0);
    size_t written = 0;
    for (size_t i = 0; i < WPAGES; i++) {
        if (last_write[i] < 0)
            continue;
        written++;
        ck_assert_msg(last_report[i] >= last_write[i],
                      "page %zu written in epoch %ld, last reported in epoch %ld", i, last_write[i],
                      last_report[i]);
    }
    ck_assert_uint_gt(written, 0);
    ck_assert_int_gt(total, 0);
    drop_range(wbase, WPAGES);
    free(s.hit);
}
END_TEST

/* read(2) and recv(2) into armed pages. */
static void syscall_case(bool use_socket)
{
    struct seen s;
    char *p = new_range(16);
    seen_init(&s, p, 16);
    int fds[2];
    if (use_socket)
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    else
        ck_assert_int_eq(pipe(fds), 0);
    char msg[100];
    memset(msg, 'x', sizeof msg);
    touch(p, 3, 1); /* populated page */
    ck_assert_int_eq(B->arm(), 0);
    char *dst[2] = {p + 3 * PG + 10, p + 9 * PG + 10}; /* populated, never touched */
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(write(fds[1], msg, sizeof msg), (ssize_t)sizeof msg);
        ssize_t r = use_socket ? recv(fds[0], dst[k], sizeof msg, 0) : read(fds[0], dst[k], sizeof msg);
        if (B->caps.syscall_write == DIRTY_SYSCALL_EFAULT) {
            ck_assert_int_eq(r, -1);
            ck_assert_int_eq(errno, EFAULT);
            ck_assert_int_eq(dirty_prepare_syscall_write(dst[k], sizeof msg), 0);
            r = use_socket ? recv(fds[0], dst[k], sizeof msg, 0) : read(fds[0], dst[k], sizeof msg);
        }
        ck_assert_int_eq(r, (ssize_t)sizeof msg);
        ck_assert_int_eq(memcmp(dst[k], msg, sizeof msg), 0);
    }
    collect_into(&s);
    size_t w[] = {3, 9};
    expect_pages(&s, w, 2);
    close(fds[0]);
    close(fds[1]);
    drop_range(p, 16);
    free(s.hit);
}

START_TEST(syscall_read)
{
    syscall_case(false);
}
END_TEST

START_TEST(syscall_recv)
{
    syscall_case(true);
}
END_TEST

/* Child: exit code 0 if ok, else the step that failed. */
static int child_check(char *p, size_t npages)
{
    struct seen s;
    seen_init(&s, p, npages);
    touch(p, 5, 2);
    if (B->collect(seen_cb, &s) < 0)
        return 10;
    if (!s.hit[3] || !s.hit[5])
        return 11; /* written before (3) and after (5) the fork */
    if (B->caps.precise && !B->caps.fork_child_all_dirty && count_hits(&s) != 2)
        return 12;
    if (B->caps.fork_child_all_dirty && count_hits(&s) != npages && !B->caps.precise)
        return 13;
    touch(p, 7, 2);
    memset(s.hit, 0, npages);
    if (B->collect(seen_cb, &s) < 0)
        return 14;
    if (!s.hit[7])
        return 15;
    if (B->caps.precise && count_hits(&s) != 1)
        return 16;
    memset(s.hit, 0, npages);
    if (B->collect(seen_cb, &s) < 0)
        return 17;
    if (B->caps.precise && count_hits(&s) != 0)
        return 18;
    if (p[5 * PG + 35] != 2 || p[3 * PG + 21] != 1)
        return 19;
    return 0;
}

START_TEST(fork_armed)
{
    struct seen s;
    char *p = new_range(32);
    seen_init(&s, p, 32);
    ck_assert_int_eq(B->arm(), 0);
    touch(p, 3, 1);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(child_check(p, 32));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "child died (status %#x)", status);
    ck_assert_msg(WEXITSTATUS(status) == 0, "child check failed at step %d", WEXITSTATUS(status));
    touch(p, 9, 1);
    collect_into(&s);
    size_t w[] = {3, 9};
    expect_pages(&s, w, 2);
    ck_assert_int_eq(p[5 * PG + 35], 0); /* the child's writes stayed in the child */
    collect_into(&s);
    expect_none(&s);
    drop_range(p, 32);
    free(s.hit);
}
END_TEST

START_TEST(munmap_mremap)
{
    struct seen s;
    char *a = new_range(64);
    char *b = new_range(64);
    ck_assert_int_eq(B->arm(), 0);
    touch(a, 1, 1);
    touch(b, 2, 1);
    /* munmap first, untrack after: must not fail nor crash */
    ck_assert_int_eq(munmap(a, 64 * PG), 0);
    ck_assert_int_eq(B->untrack(a, 64 * PG), 0);
    ck_assert_int_eq(B->untrack(a, 64 * PG), -1); /* not tracked any more */
    seen_init(&s, b, 64);
    collect_into(&s);
    size_t w1[] = {2};
    expect_pages(&s, w1, 1);
    /* mremap b elsewhere: untrack the old, track the new range */
    char *dst = B->map(64 * PG, 4UL << 20);
    ck_assert_ptr_nonnull(dst);
    char *c = mremap(b, 64 * PG, 64 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    ck_assert_msg(c == dst, "mremap: %s", c == MAP_FAILED ? strerror(errno) : "moved elsewhere");
    ck_assert_int_eq(B->untrack(b, 64 * PG), 0);
    ck_assert_int_eq(c[2 * PG + 14], 1); /* contents moved */
    ck_assert_int_eq(B->track(c, 64 * PG), 0);
    ck_assert_int_eq(B->arm(), 0);
    touch(c, 40, 3);
    free(s.hit);
    seen_init(&s, c, 64);
    collect_into(&s);
    size_t w2[] = {40};
    expect_pages(&s, w2, 1);
    collect_into(&s);
    expect_none(&s);
    drop_range(c, 64);
    free(s.hit);
}
END_TEST

START_TEST(huge_range_1g)
{
    enum { N = (1 << 30) / 4096 };
    struct seen s;
    char *p = new_range(N);
    seen_init(&s, p, N);
    ck_assert_int_eq(B->arm(), 0);
    uint8_t *w = calloc(N, 1);
    for (size_t i = 0; i < N; i += 256) { /* one page per MiB */
        touch(p, i + 3, 1);
        w[i + 3] = 1;
    }
    for (size_t i = 5000; i < 5064; i++) { /* and a run */
        touch(p, i, 1);
        w[i] = 1;
    }
    collect_into(&s);
    expect(&s, w);
    collect_into(&s);
    expect_none(&s);
    free(w);
    drop_range(p, N);
    free(s.hit);
}
END_TEST

/* 1 Mi pages (4 GiB, sparse), half of them written in scattered order:
 * mprotect must stay within vm.max_map_count. */
START_TEST(scattered_1m_half)
{
    enum { N = 1 << 20 };
    struct seen s;
    char *p = new_range(N);
    seen_init(&s, p, N);
    ck_assert_int_eq(B->arm(), 0);
    uint8_t *w = calloc(N, 1);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    size_t nw = 0;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (x & 1) {
            w[i] = 1;
            nw++;
        }
    }
    /* visit the chosen pages in a scattered order: stride coprime with N */
    for (size_t k = 0, i = 0; k < N; k++, i = (i + 402653) % N)
        if (w[i])
            touch(p, i, 1);
    collect_into(&s);
    for (size_t i = 0; i < N; i++)
        if (w[i])
            ck_assert_msg(s.hit[i], "page %zu written but not reported", i);
    struct dirty_stats st;
    B->stats(&st);
    fprintf(stderr, "%s: 1M pages, %zu written: reported %zu, faults %lu, coalesced %lu, range fallbacks %lu\n",
            B->name, nw, count_hits(&s), (unsigned long)st.faults, (unsigned long)st.coalesced,
            (unsigned long)st.range_fallbacks);
    /* After the collect, the range is armed again: one write, one page. */
    touch(p, 12345, 2);
    collect_into(&s);
    size_t one[] = {12345};
    expect_pages(&s, one, 1);
    free(w);
    drop_range(p, N);
    free(s.hit);
}
END_TEST

START_TEST(dontneed_then_write)
{
    struct seen s;
    char *p = new_range(64);
    seen_init(&s, p, 64);
    ck_assert_int_eq(B->arm(), 0);
    for (size_t i = 0; i < 32; i++)
        touch(p, i, 1);
    collect_into(&s);
    /* raw madvise (as the collector releases pages), unless the backend's
     * memory needs its own release (gcdev: shared device memory) */
    if (B->caps.release_needs_backend)
        ck_assert_int_eq(B->release(p, 16 * PG), 0);
    else
        ck_assert_int_eq(madvise(p, 16 * PG, MADV_DONTNEED), 0);
    ck_assert_int_eq(p[4 * PG + 28], 0); /* reads as zero */
    collect_into(&s);                    /* released pages may or may not be reported */
    for (size_t i = 16; i < 64; i++)
        ck_assert_msg(!B->caps.precise || !s.hit[i], "page %zu not released, not written", i);
    touch(p, 4, 5);
    touch(p, 9, 5);
    collect_into(&s);
    size_t w[] = {4, 9};
    expect_pages(&s, w, 2);
    ck_assert_int_eq(p[4 * PG + 28], 5);
    /* the backend's release op */
    ck_assert_int_eq(B->release(p + 20 * PG, 10 * PG), 0);
    collect_into(&s);
    touch(p, 25, 6);
    collect_into(&s);
    size_t w2[] = {25};
    expect_pages(&s, w2, 1);
    drop_range(p, 64);
    free(s.hit);
}
END_TEST

START_TEST(arm_nothing_written)
{
    struct seen s;
    char *p = new_range(256);
    seen_init(&s, p, 256);
    for (size_t i = 0; i < 256; i += 2)
        touch(p, i, 1);
    ck_assert_int_eq(B->arm(), 0);
    long n = collect_into(&s);
    if (B->caps.precise) {
        ck_assert_int_eq(n, 0);
        expect_none(&s);
    } else if (strcmp(B->name, "none") == 0) {
        ck_assert_uint_eq(count_hits(&s), 256); /* none: everything, always */
    } /* soft-dirty: may over-approximate, nothing to assert */
    drop_range(p, 256);
    free(s.hit);
}
END_TEST

START_TEST(write_before_arm)
{
    struct seen s;
    char *p = new_range(64);
    seen_init(&s, p, 64);
    touch(p, 1, 1);
    touch(p, 2, 1);
    ck_assert_int_eq(B->arm(), 0);
    touch(p, 2, 2);
    touch(p, 3, 2);
    collect_into(&s);
    size_t w[] = {2, 3};
    expect_pages(&s, w, 2);
    drop_range(p, 64);
    free(s.hit);
}
END_TEST

/* Selective arming: after take, only the pages armed again with arm_range
 * must be reported; disarmed pages are reported only by backends that say
 * so (caps.reports_disarmed), and every armed page written is reported. */
START_TEST(arm_range_selective)
{
    enum { N = 128 };
    struct seen s;
    char *p = new_range(N);
    seen_init(&s, p, N);
    if (!B->arm_range || !B->disarm_range || !B->take) {
        printf("%s: no selective arming (collector falls back to arm())\n", B->name);
        drop_range(p, N);
        free(s.hit);
        return;
    }
    ck_assert_int_eq(B->arm(), 0);
    for (size_t i = 0; i < N; i++)
        touch(p, i, 1);
    /* take: everything written, reported, nothing re-armed. */
    memset(s.hit, 0, N);
    ck_assert_int_ge(B->take(seen_cb, &s), N);
    ck_assert_uint_eq(count_hits(&s), N);
    /* Arm pages [32, 64) and [100, 101) only. */
    ck_assert_int_eq(B->arm_range(p + 32 * PG, 32 * PG), 0);
    ck_assert_int_eq(B->arm_range(p + 100 * PG, PG), 0);
    ck_assert_int_eq(B->disarm_range(p + 40 * PG, 2 * PG), 0);   /* 40, 41 off again */
    for (size_t i = 0; i < N; i++)
        touch(p, i, 2);
    memset(s.hit, 0, N);
    ck_assert_int_ge(B->take(seen_cb, &s), 0);
    for (size_t i = 0; i < N; i++) {
        bool armed = (i >= 32 && i < 64 && i != 40 && i != 41) || i == 100;
        if (armed)
            ck_assert_msg(s.hit[i], "armed page %zu written but not reported", i);
        else if (!B->caps.reports_disarmed && B->caps.precise)
            ck_assert_msg(!s.hit[i], "disarmed page %zu reported (reports_disarmed=0)", i);
    }
    /* take left them disarmed: writes now cost nothing and, for a backend
     * that reports only armed pages, are not reported. */
    touch(p, 33, 3);
    memset(s.hit, 0, N);
    ck_assert_int_ge(B->take(seen_cb, &s), 0);
    if (!B->caps.reports_disarmed && B->caps.precise)
        expect_none(&s);
    /* Bad arguments are refused, not acted on. */
    ck_assert_int_eq(B->arm_range(p + 1, PG), -1);
    char *other = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(other, MAP_FAILED);
    ck_assert_int_eq(B->arm_range(other, PG), -1);
    other[0] = 1;   /* still writable */
    munmap(other, PG);
    drop_range(p, N);
    free(s.hit);
}
END_TEST

/* take over two tracked ranges with a written, untracked gap between them
 * (a heap chunk's metadata lies so): everything written in the ranges is
 * reported, and nothing in the gap (uffd-async scans the three in one
 * call and clips). */
START_TEST(take_skips_untracked_gap)
{
    enum { N = 16, ALL = 3 * N };
    if (!B->take) {
        printf("%s: no take (collect is used)\n", B->name);
        return;
    }
    char *p = B->map(ALL * PG, 4UL << 20);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(B->track(p, N * PG), 0);
    ck_assert_int_eq(B->track(p + 2 * N * PG, N * PG), 0);
    struct seen s;
    seen_init(&s, p, ALL);
    ck_assert_int_eq(B->arm(), 0);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < ALL; i++)
            touch(p, i, (char)(round + 1));
        memset(s.hit, 0, ALL);
        ck_assert_int_ge(B->take(seen_cb, &s), 2 * N);
        for (size_t i = 0; i < ALL; i++) {
            bool tracked = i < N || i >= 2 * N;
            if (tracked)
                ck_assert_msg(s.hit[i], "round %d: tracked page %zu written but not taken", round, i);
            else
                ck_assert_msg(!s.hit[i], "round %d: untracked page %zu reported by take", round, i);
        }
        ck_assert_int_eq(B->arm(), 0);
    }
    ck_assert_int_eq(B->untrack(p, N * PG), 0);
    ck_assert_int_eq(B->untrack(p + 2 * N * PG, N * PG), 0);
    ck_assert_int_eq(B->unmap(p, ALL * PG), 0);
    free(s.hit);
}
END_TEST

/* mprotect: the program installs its own SIGSEGV handler after us. */
static char *guard;
static volatile int program_handler_calls;
static void program_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if ((char *)si->si_addr >= guard && (char *)si->si_addr < guard + PG) {
        program_handler_calls++;
        mprotect(guard, PG, PROT_READ | PROT_WRITE);
        return;
    }
    abort();
}

START_TEST(foreign_sigsegv_handler)
{
    struct seen s;
    char *p = new_range(16);
    seen_init(&s, p, 16);
    guard = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(guard, MAP_FAILED);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = program_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGSEGV, &sa, &old), 0);
    ck_assert_int_eq(B->arm(), 0); /* mprotect re-installs its handler, chains to ours */
    touch(p, 6, 1);                /* a tracked write */
    ((volatile char *)guard)[0] = 1; /* a fault that is the program's */
    ck_assert_int_eq(program_handler_calls, 1);
    ck_assert_int_eq(guard[0], 1);
    collect_into(&s);
    size_t w[] = {6};
    expect_pages(&s, w, 1);
    drop_range(p, 16);
    munmap(guard, PG);
    free(s.hit);
}
END_TEST

/* ---- driver --------------------------------------------------------- */

/* `conformance BACKEND [CASE...]`: only the named cases (all by default). */
static char **only;
static int nonly;

static bool wanted(const char *name)
{
    for (int i = 0; i < nonly; i++)
        if (strcmp(only[i], name) == 0)
            return true;
    return nonly == 0;
}

#define ADD(tc, t)                                                                                 \
    do {                                                                                           \
        if (wanted(#t))                                                                            \
            tcase_add_test(tc, t);                                                                 \
    } while (0)

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : getenv("COGC_DIRTY");
    if (!name || !*name) {
        fprintf(stderr, "usage: %s BACKEND (or COGC_DIRTY=BACKEND)\n", argv[0]);
        return 2;
    }
    const struct dirty_backend *want = dirty_find(name);
    if (!want) {
        fprintf(stderr, "unknown backend %s\n", name);
        return 2;
    }
    char why[512] = "";
    if (want->probe(why, sizeof why) != 0) {
        printf("SKIP: %s\n", why);
        return 77;
    }
    B = dirty_select(name, why, sizeof why);
    if (B != want) {
        printf("SKIP: %s: not selected (%s)\n", name, why);
        return 77;
    }
    printf("backend %s: precise=%d atomic_collect=%d syscall_write=%s fork_child_all_dirty=%d\n",
           B->name, B->caps.precise, B->caps.atomic_collect,
           B->caps.syscall_write == DIRTY_SYSCALL_EFAULT ? "EFAULT" : "SEEN",
           B->caps.fork_child_all_dirty);

    Suite *su = suite_create("dirty");
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 600);
    only = argv + 2;
    nonly = argc > 2 ? argc - 2 : 0;
    ADD(tc, single_write);
    ADD(tc, every_page);
    ADD(tc, threads8);
    ADD(tc, writes_during_collect);
    ADD(tc, syscall_read);
    ADD(tc, syscall_recv);
    /* The uffd backend starts its fault handler thread in the fork child,
     * which ThreadSanitizer refuses after a multi-threaded fork. */
    if (CONF_TSAN && strcmp(B->name, "uffd") == 0)
        printf("NOTE: ThreadSanitizer: fork_armed not run for uffd (die_after_fork)\n");
    else
        ADD(tc, fork_armed);
    ADD(tc, munmap_mremap);
    ADD(tc, take_skips_untracked_gap);
    ADD(tc, huge_range_1g);
    ADD(tc, scattered_1m_half);
    ADD(tc, dontneed_then_write);
    ADD(tc, arm_nothing_written);
    ADD(tc, write_before_arm);
    ADD(tc, arm_range_selective);
    if (B->caps.uses_sigsegv)
        ADD(tc, foreign_sigsegv_handler);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    B->teardown();
    return failed ? 1 : 0;
}
