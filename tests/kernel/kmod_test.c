/* kmod_test - the /dev/cogc kernel module (backends/kmod) through its own
 * interface, in the qemu guest (tests/kernel/tests.list): read/write/poll/
 * ioctl semantics, bad input, swap, fork cloning, exit, munmap and
 * MADV_REMOVE freeing memory, a fork without FORK_PREPARE refused, an
 * injected CLONE failure, the shrinker's reclaim notice, several
 * processes with concurrent writers on two CPUs.
 * The gcdev backend on top of it runs the dirty-bit conformance suite.
 * Without /dev/cogc it prints SKIP and exits 77. */
#define _GNU_SOURCE
#include "kmod/cogc_dev.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL
#define DEV "/dev/cogc"

static int dev_open(void)
{
    int fd = open(DEV, O_RDWR | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open " DEV ": %s", strerror(errno));
    return fd;
}

static char *dev_map(int fd, size_t npages, uint64_t off)
{
    char *p = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
    ck_assert_msg(p != MAP_FAILED, "mmap: %s", strerror(errno));
    return p;
}

/* Read the whole dirty set: per page of [0, npages) of offset `base`,
 * whether it was reported.  Returns pages reported (also outside). */
static long drain(int fd, uint64_t base, size_t npages, uint8_t *hit)
{
    struct cogc_run r[256];
    long total = 0;
    if (hit)
        memset(hit, 0, npages);
    for (;;) {
        ssize_t n = read(fd, r, sizeof r);
        ck_assert_int_ge(n, 0);
        ck_assert_int_eq(n % sizeof r[0], 0);
        for (size_t i = 0; i < (size_t)n / sizeof r[0]; i++) {
            ck_assert_uint_eq(r[i].offset % PG, 0);
            ck_assert_uint_gt(r[i].len, 0);
            for (uint64_t o = r[i].offset; o < r[i].offset + r[i].len; o += PG) {
                total++;
                if (hit && o >= base && o < base + npages * PG)
                    hit[(o - base) / PG] = 1;
            }
        }
        if ((size_t)n < sizeof r)
            return total;
    }
}

static struct cogc_stats stats(int fd)
{
    struct cogc_stats s;
    ck_assert_int_eq(ioctl(fd, COGC_IOC_STATS, &s), 0);
    return s;
}

static long meminfo_kb(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "re");
    ck_assert_ptr_nonnull(f);
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0 && line[k] == ':')
            v = strtol(line + k + 1, NULL, 10);
    fclose(f);
    ck_assert_int_ge(v, 0);
    return v;
}

START_TEST(read_reports_written_pages_and_reprotects)
{
    enum { N = 64 };
    uint8_t hit[N];
    int fd = dev_open();
    char *p = dev_map(fd, N, 16 * PG);
    for (size_t i = 0; i < N * PG; i += 512)
        ck_assert_int_eq(p[i], 0); /* zero-filled; reads do not dirty */
    ck_assert_int_eq(drain(fd, 16 * PG, N, hit), 0);
    p[3 * PG] = 1;
    p[10 * PG + 5] = 2;
    p[11 * PG + 4095] = 3;
    struct cogc_run r[4];
    ssize_t n = read(fd, r, sizeof r);
    ck_assert_int_eq(n, 2 * (ssize_t)sizeof r[0]);
    ck_assert_uint_eq(r[0].offset, 19 * PG);
    ck_assert_uint_eq(r[0].len, PG);
    ck_assert_uint_eq(r[1].offset, 26 * PG);
    ck_assert_uint_eq(r[1].len, 2 * PG);
    ck_assert_int_eq(read(fd, r, sizeof r), 0);
    /* re-protected: the next write is recorded again */
    p[10 * PG] = 4;
    ck_assert_int_eq(drain(fd, 16 * PG, N, hit), 1);
    ck_assert(hit[10]);
    /* write(2) of offsets protects pages and drops them from the set */
    p[20 * PG] = 5;
    p[21 * PG] = 5;
    uint64_t offs[] = {36 * PG};
    ck_assert_int_eq(write(fd, offs, sizeof offs), (ssize_t)sizeof offs);
    ck_assert_int_eq(drain(fd, 16 * PG, N, hit), 1);
    ck_assert(hit[21] && !hit[20]);
    p[20 * PG] = 6;
    ck_assert_int_eq(drain(fd, 16 * PG, N, hit), 1);
    ck_assert(hit[20]);
    ck_assert_int_eq(p[20 * PG] + p[3 * PG] + p[11 * PG + 4095], 6 + 1 + 3);
    /* PROTECT a range */
    for (size_t i = 0; i < N; i++)
        p[i * PG] = 7;
    struct cogc_range rg = {.offset = 16 * PG, .len = 32 * PG};
    ck_assert_int_eq(ioctl(fd, COGC_IOC_PROTECT, &rg), 0);
    ck_assert_int_eq(drain(fd, 16 * PG, N, hit), N - 32);
    ck_assert(!hit[31] && hit[32] && hit[N - 1]);
    struct cogc_stats s = stats(fd);
    ck_assert_uint_ge(s.faults, N + 6);
    ck_assert_uint_eq(s.dirty, 0);
    /* STATS names the object as /proc/self/maps does: device and inode */
    char want[96], line[512];
    snprintf(want, sizeof want, "%lx-%lx rw-s %08lx %02x:%02x %llu ", (unsigned long)p,
             (unsigned long)p + N * PG, 16 * PG, s.dev_major, s.dev_minor, (unsigned long long)s.ino);
    FILE *m = fopen("/proc/self/maps", "re");
    ck_assert_ptr_nonnull(m);
    bool found = false;
    while (!found && fgets(line, sizeof line, m))
        found = strncmp(line, want, strlen(want)) == 0 && strstr(line, "/cogc (deleted)");
    fclose(m);
    ck_assert_msg(found, "no line starting '%s' in /proc/self/maps", want);
    munmap(p, N * PG);
    close(fd);
}
END_TEST

START_TEST(bad_input)
{
    int fd = dev_open();
    ck_assert_ptr_eq(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, (off_t)1 << 47), MAP_FAILED);
    char small[8];
    ck_assert_int_eq(read(fd, small, sizeof small), -1);
    ck_assert_int_eq(errno, EINVAL);
    uint64_t bad = 123;
    ck_assert_int_eq(write(fd, &bad, sizeof bad), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(write(fd, &bad, 3), -1);
    ck_assert_int_eq(errno, EINVAL);
    void *none = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(none, MAP_FAILED);
    ck_assert_int_eq(write(fd, none, 8), -1);
    ck_assert_int_eq(errno, EFAULT);
    ck_assert_int_eq(read(fd, none, 64), 0); /* empty set: nothing copied */
    munmap(none, PG);
    struct cogc_range rg = {.offset = 100, .len = PG};
    ck_assert_int_eq(ioctl(fd, COGC_IOC_PROTECT, &rg), -1);
    ck_assert_int_eq(errno, EINVAL);
    rg = (struct cogc_range){.offset = PG, .len = UINT64_MAX & ~(PG - 1)};
    ck_assert_int_eq(ioctl(fd, COGC_IOC_PROTECT, &rg), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_CLONE, 0), -1); /* stdin is not a cogc device */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_CLONE, fd), -1); /* itself */
    ck_assert_int_eq(errno, EINVAL);
    int sig = SIGKILL;
    ck_assert_int_eq(ioctl(fd, COGC_IOC_SET_SIGNAL, &sig), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(ioctl(fd, _IO(COGC_IOC_MAGIC, 99)), -1);
    ck_assert_int_eq(errno, ENOTTY);
    struct cogc_run r[2];
    ck_assert_int_eq(read(fd, r, sizeof r), 0); /* nothing recorded by the failures */
    close(fd);
}
END_TEST

START_TEST(poll_limit_and_signal)
{
    enum { N = 32 };
    int fd = dev_open();
    char *p = dev_map(fd, N, 0);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pf, 1, 0), 0);
    p[0] = 1;
    ck_assert_int_eq(poll(&pf, 1, 0), 1);
    ck_assert(pf.revents & POLLIN);
    drain(fd, 0, N, NULL);
    uint64_t limit = 8;
    ck_assert_int_eq(ioctl(fd, COGC_IOC_SET_LIMIT, &limit), 0);
    for (size_t i = 0; i < 7; i++)
        p[i * PG] = 1;
    ck_assert_int_eq(poll(&pf, 1, 0), 0);
    p[7 * PG] = 1;
    ck_assert_int_eq(poll(&pf, 1, 0), 1);
    drain(fd, 0, N, NULL);

    /* a writer thread crossing the limit wakes a blocked poll */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
    int sig = SIGUSR1;
    limit = 4;
    ck_assert_int_eq(ioctl(fd, COGC_IOC_SET_LIMIT, &limit), 0);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_SET_SIGNAL, &sig), 0);
    for (size_t i = 0; i < 4; i++)
        p[(8 + i) * PG] = 1;
    struct timespec ts = {.tv_sec = 10};
    ck_assert_int_eq(sigtimedwait(&set, NULL, &ts), SIGUSR1);
    for (size_t i = 0; i < 4; i++) /* once per read: no second signal */
        p[(12 + i) * PG] = 1;
    ts.tv_sec = 0;
    ck_assert_int_eq(sigtimedwait(&set, NULL, &ts), -1);
    ck_assert_int_eq(drain(fd, 0, N, NULL), 8);
    for (size_t i = 0; i < 4; i++)
        p[(16 + i) * PG] = 1;
    ts.tv_sec = 10;
    ck_assert_int_eq(sigtimedwait(&set, NULL, &ts), SIGUSR1);
    ck_assert_uint_eq(stats(fd).limit_hits, 3);
    sig = 0;
    ck_assert_int_eq(ioctl(fd, COGC_IOC_SET_SIGNAL, &sig), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(p, N * PG);
    close(fd);
}
END_TEST

/* Pages go to swap (zram in the guest) and come back with their contents
 * and their tracking state. */
START_TEST(pages_swap_out_and_back)
{
    enum { N = 8192 }; /* 32 MiB */
    ck_assert_msg(meminfo_kb("SwapTotal") > 0, "no swap: the guest sets up zram");
    int fd = dev_open();
    char *p = dev_map(fd, N, 0);
    for (size_t i = 0; i < N; i++)
        memset(p + i * PG, (int)(i * 13 + 1), PG);
    ck_assert_int_eq(drain(fd, 0, N, NULL), N);
    long swap_before = meminfo_kb("SwapTotal") - meminfo_kb("SwapFree");
    ck_assert_int_eq(madvise(p, N * PG, MADV_PAGEOUT), 0);
    unsigned char *vec = malloc(N);
    ck_assert_int_eq(mincore(p, N * PG, vec), 0);
    size_t resident = 0;
    for (size_t i = 0; i < N; i++)
        resident += vec[i] & 1;
    long swap_after = meminfo_kb("SwapTotal") - meminfo_kb("SwapFree");
    printf("swap: %zu of %d pages resident after MADV_PAGEOUT, swap used %ld -> %ld kB\n", resident, N,
           swap_before, swap_after);
    ck_assert_uint_lt(resident, N / 2);
    ck_assert_int_ge(swap_after - swap_before, (long)(N / 2 * 4));
    for (size_t i = 0; i < N; i++) /* contents back, reads dirty nothing */
        ck_assert_int_eq((unsigned char)p[i * PG + 100], (unsigned char)(i * 13 + 1));
    ck_assert_int_eq(drain(fd, 0, N, NULL), 0);
    uint8_t *hit = malloc(N);
    size_t w[] = {0, 17, 4096, 8191};
    for (size_t k = 0; k < 4; k++)
        p[w[k] * PG] = 9;
    ck_assert_int_eq(drain(fd, 0, N, hit), 4);
    for (size_t k = 0; k < 4; k++)
        ck_assert(hit[w[k]]);
    /* swapped out while writable (in the dirty set): still reported */
    p[100 * PG] = 1;
    ck_assert_int_eq(madvise(p, N * PG, MADV_PAGEOUT), 0);
    ck_assert_int_eq(drain(fd, 0, N, hit), 1);
    ck_assert(hit[100]);
    ck_assert_int_eq(p[100 * PG], 1);
    free(hit);
    free(vec);
    munmap(p, N * PG);
    close(fd);
}
END_TEST

/* FREEZE + CLONE, as the gcdev backend's fork handlers use them: the copy
 * has every page (also swapped ones), the two contexts are independent. */
START_TEST(clone_copies_pages)
{
    enum { N = 512 };
    int fd = dev_open();
    char *p = dev_map(fd, N, 64 * PG);
    for (size_t i = 0; i < N; i += 3)
        p[i * PG + 7] = (char)(i | 1);
    ck_assert_int_eq(madvise(p, N / 2 * PG, MADV_PAGEOUT), 0);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_FREEZE), 0);
    int nf = dev_open();
    ck_assert_int_eq(ioctl(nf, COGC_IOC_CLONE, fd), 0);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_THAW), 0);
    char *q = dev_map(nf, N, 64 * PG);
    for (size_t i = 0; i < N; i++)
        ck_assert_int_eq(q[i * PG + 7], i % 3 ? 0 : (char)(i | 1));
    drain(fd, 64 * PG, N, NULL);
    drain(nf, 64 * PG, N, NULL);
    q[5 * PG] = 42;
    ck_assert_int_eq(p[5 * PG], 0);
    p[6 * PG] = 43;
    ck_assert_int_eq(q[6 * PG], 0);
    ck_assert_int_eq(drain(nf, 64 * PG, N, NULL), 1);
    ck_assert_int_eq(drain(fd, 64 * PG, N, NULL), 1);
    munmap(q, N * PG);
    munmap(p, N * PG);
    close(nf);
    close(fd);
}
END_TEST

/* Memory comes back: at process exit, at close after munmap, and at
 * MADV_REMOVE (which also zeroes). */
START_TEST(no_leaked_pages)
{
    enum { N = 16384 }; /* 64 MiB */
    long base = meminfo_kb("Shmem");
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        int fd = open(DEV, O_RDWR);
        char *p = mmap(NULL, N * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (fd < 0 || p == MAP_FAILED)
            _exit(1);
        memset(p, 1, N * PG);
        _exit(0); /* no munmap, no close */
    }
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_lt(meminfo_kb("Shmem") - base, 4096);

    int fd = dev_open();
    char *p = dev_map(fd, N, 0);
    memset(p, 2, N * PG);
    ck_assert_int_ge(meminfo_kb("Shmem") - base, N * 4 - 4096);
    ck_assert_int_eq(madvise(p, N / 2 * PG, MADV_REMOVE), 0);
    ck_assert_int_eq(p[100], 0);
    ck_assert_int_eq(p[N / 2 * PG], 2);
    ck_assert_int_lt(meminfo_kb("Shmem") - base, N * 2 + 4096);
    munmap(p, N * PG);
    close(fd);
    ck_assert_int_lt(meminfo_kb("Shmem") - base, 4096);
}
END_TEST

/* Several processes, each with its own context, a writer thread hammering
 * random pages while the main thread reads (two CPUs): a store made after
 * read number e-1 returned is reported by some read >= e. */
#define HP 1024
static char *hbase;
static _Atomic long hepoch;
static _Atomic int hstop;
static _Atomic long hwrites;
static long hlast_write[HP];

static void *hammer(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    long n = 0;
    while (!atomic_load_explicit(&hstop, memory_order_relaxed)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t pg = x % HP;
        long e = atomic_load(&hepoch);
        ((volatile char *)hbase)[pg * PG + (n & 4095)] = (char)n;
        hlast_write[pg] = e;
        n++;
        atomic_store_explicit(&hwrites, n, memory_order_relaxed);
    }
    return (void *)n;
}

static int one_process(int seed)
{
    static long last_report[HP];
    int fd = open(DEV, O_RDWR);
    if (fd < 0)
        return 2;
    hbase = mmap(NULL, HP * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)seed * HP * PG);
    if (hbase == MAP_FAILED)
        return 3;
    for (size_t i = 0; i < HP; i++)
        hlast_write[i] = last_report[i] = -1;
    pthread_t t;
    if (pthread_create(&t, NULL, hammer, (void *)(uintptr_t)seed) != 0)
        return 4;
    struct cogc_run r[64];
    long e;
    while (atomic_load(&hwrites) == 0) /* the writer runs */
        sched_yield();
    /* at least 300 reads and 20000 stores */
    for (e = 0; e < 300 || (atomic_load(&hwrites) < 20000 && e < 10000000); e++) {
        ssize_t n;
        while ((n = read(fd, r, sizeof r)) > 0) {
            for (size_t i = 0; i < (size_t)n / sizeof r[0]; i++)
                for (uint64_t o = r[i].offset; o < r[i].offset + r[i].len; o += PG) {
                    uint64_t k = o / PG - (uint64_t)seed * HP;
                    if (k >= HP)
                        return 5; /* someone else's page */
                    last_report[k] = e;
                }
            if ((size_t)n < sizeof r)
                break;
        }
        if (n < 0)
            return 6;
        atomic_store(&hepoch, e + 1);
    }
    atomic_store(&hstop, 1);
    void *writes;
    pthread_join(t, &writes);
    ssize_t n;
    while ((n = read(fd, r, sizeof r)) > 0)
        for (size_t i = 0; i < (size_t)n / sizeof r[0]; i++)
            for (uint64_t o = r[i].offset; o < r[i].offset + r[i].len; o += PG)
                last_report[o / PG - (uint64_t)seed * HP] = e;
    size_t written = 0;
    for (size_t i = 0; i < HP; i++) {
        if (hlast_write[i] < 0)
            continue;
        written++;
        if (last_report[i] < hlast_write[i]) {
            fprintf(stderr, "process %d: page %zu written in epoch %ld, last reported %ld\n", seed, i,
                    hlast_write[i], last_report[i]);
            return 7;
        }
    }
    if (!written || (long)writes <= 0)
        return 8;
    return 0;
}

START_TEST(processes_with_concurrent_writers)
{
    enum { P = 4 };
    pid_t pids[P];
    for (int i = 0; i < P; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            _exit(one_process(i));
    }
    for (int i = 0; i < P; i++) {
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d: status %#x", i, st);
    }
}
END_TEST

/* UNPROTECT stops watching pages (their writes are neither reported nor,
 * after one last fault, faulted on); TAKE reports like read but leaves the
 * pages writable and unwatched; PROTECT watches again. */
START_TEST(unprotect_and_take)
{
    enum { N = 16 };
    uint8_t hit[N];
    int fd = dev_open();
    char *p = dev_map(fd, N, 0);
    for (size_t i = 0; i < N; i++)
        p[i * PG] = 1;
    ck_assert_int_eq(drain(fd, 0, N, NULL), N);
    struct cogc_range rg = {.offset = 4 * PG, .len = 4 * PG};
    ck_assert_int_eq(ioctl(fd, COGC_IOC_UNPROTECT, &rg), 0);
    for (size_t i = 0; i < N; i++)
        p[i * PG] = 2;
    ck_assert_int_eq(drain(fd, 0, N, hit), N - 4);
    ck_assert(!hit[4] && !hit[7] && hit[3] && hit[8]);
    uint64_t faults = stats(fd).faults;
    for (size_t i = 4; i < 8; i++)
        p[i * PG + 1] = 3;
    ck_assert_int_eq(drain(fd, 0, N, NULL), 0);
    ck_assert_uint_eq(stats(fd).faults, faults);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_PROTECT, &rg), 0);
    p[5 * PG] = 4;
    ck_assert_int_eq(drain(fd, 0, N, hit), 1);
    ck_assert(hit[5]);
    /* TAKE: reported, then writable and unwatched */
    p[0] = 5;
    p[PG] = 5;
    p[9 * PG] = 5;
    struct cogc_run r[8];
    struct cogc_take t = {.runs = (uintptr_t)r, .nruns = 8};
    ck_assert_int_eq(ioctl(fd, COGC_IOC_TAKE, &t), 2);
    ck_assert_uint_eq(r[0].offset, 0);
    ck_assert_uint_eq(r[0].len, 2 * PG);
    ck_assert_uint_eq(r[1].offset, 9 * PG);
    ck_assert_uint_eq(r[1].len, PG);
    faults = stats(fd).faults;
    p[1] = 6;
    p[PG + 1] = 6;
    p[9 * PG + 1] = 6;
    ck_assert_int_eq(drain(fd, 0, N, NULL), 0);
    ck_assert_uint_eq(stats(fd).faults, faults);
    struct cogc_range first = {.offset = 0, .len = PG};
    ck_assert_int_eq(ioctl(fd, COGC_IOC_PROTECT, &first), 0);
    p[0] = 7;
    p[PG] = 7;
    ck_assert_int_eq(drain(fd, 0, N, hit), 1);
    ck_assert(hit[0] && !hit[1]);
    ck_assert_int_eq(p[0] + p[1] + p[PG] + p[PG + 1] + p[9 * PG + 1], 7 + 6 + 7 + 6 + 6);
    /* bad input */
    struct cogc_range bad = {.offset = 1, .len = PG};
    ck_assert_int_eq(ioctl(fd, COGC_IOC_UNPROTECT, &bad), -1);
    ck_assert_int_eq(errno, EINVAL);
    p[2 * PG] = 8;
    t.nruns = 0;
    ck_assert_int_eq(ioctl(fd, COGC_IOC_TAKE, &t), -1);
    ck_assert_int_eq(errno, EINVAL);
    t.nruns = 8;
    t.runs = 8; /* unwritable */
    ck_assert_int_eq(ioctl(fd, COGC_IOC_TAKE, &t), -1);
    ck_assert_int_eq(errno, EFAULT);
    ck_assert_int_eq(drain(fd, 0, N, hit), 1); /* still in the set, still watched */
    ck_assert(hit[2]);
    p[2 * PG] = 9;
    ck_assert_int_eq(drain(fd, 0, N, hit), 1);
    munmap(p, N * PG);
    close(fd);
}
END_TEST

/* munmap with pages in the dirty set, then close: nothing to crash on;
 * the unmapped pages leave the dirty set with their memory. */
START_TEST(munmap_with_dirty_pages)
{
    int fd = dev_open();
    char *p = dev_map(fd, 16, 0);
    p[0] = 1;
    p[5 * PG] = 1;
    ck_assert_int_eq(munmap(p, 16 * PG), 0);
    ck_assert_int_eq(drain(fd, 0, 16, NULL), 0);
    ck_assert_uint_eq(stats(fd).pages, 0);
    p = dev_map(fd, 16, 0);
    ck_assert_int_eq(p[5 * PG], 0); /* freed: zero again */
    p[5 * PG] = 2;
    ck_assert_int_eq(drain(fd, 0, 16, NULL), 1);
    close(fd); /* mapping outlives the descriptor */
    p[6 * PG] = 3;
    ck_assert_int_eq(p[6 * PG] + p[5 * PG], 5);
    munmap(p, 16 * PG);
}
END_TEST

/* munmap of (part of) a mapping frees the pages of the unmapped range that
 * no other mapping of the context maps; pages another mapping (or
 * mremap's new place) still maps stay. */
START_TEST(munmap_frees_unmapped_pages)
{
    enum { N = 256 };
    int fd = dev_open();
    char *p = dev_map(fd, N, 0);
    for (size_t i = 0; i < N; i++)
        p[i * PG] = (char)(i | 1);
    ck_assert_uint_eq(stats(fd).pages, N);
    drain(fd, 0, N, NULL);
    p[100 * PG] = 7; /* in the dirty set when its range goes */
    ck_assert_int_eq(munmap(p + 64 * PG, 64 * PG), 0);
    ck_assert_uint_eq(stats(fd).pages, N - 64);
    ck_assert_int_eq(drain(fd, 0, N, NULL), 0);
    ck_assert_int_eq(p[63 * PG], (char)(63 | 1));
    ck_assert_int_eq(p[128 * PG], (char)(128 | 1));
    /* a second mapping of [128, 192) keeps those pages */
    char *q = dev_map(fd, 64, 128 * PG);
    ck_assert_int_eq(munmap(p + 128 * PG, 64 * PG), 0);
    ck_assert_uint_eq(stats(fd).pages, N - 64);
    ck_assert_int_eq(q[5 * PG], (char)((128 + 5) | 1));
    /* mremap moves q to another place: the pages move along */
    char *to = mmap(NULL, 64 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(to, MAP_FAILED);
    char *r = mremap(q, 64 * PG, 64 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    ck_assert_msg(r == to, "mremap: %s", strerror(errno));
    ck_assert_uint_eq(stats(fd).pages, N - 64);
    ck_assert_int_eq(r[5 * PG], (char)((128 + 5) | 1));
    /* shrinking a mapping frees its tail */
    ck_assert_ptr_eq(mremap(r, 64 * PG, 32 * PG, 0), r);
    ck_assert_uint_eq(stats(fd).pages, N - 96);
    /* a fork child's exit frees nothing of the parent's */
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0)
        _exit(0);
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert_uint_eq(stats(fd).pages, N - 96);
    ck_assert_int_eq(p[200 * PG], (char)(200 | 1));
    munmap(p, 64 * PG);
    munmap(r, 32 * PG);
    ck_assert_uint_eq(stats(fd).pages, 64);
    munmap(p + 192 * PG, 64 * PG);
    ck_assert_uint_eq(stats(fd).pages, 0);
    p = dev_map(fd, N, 0);
    ck_assert_int_eq(p[200 * PG], 0);
    munmap(p, N * PG);
    close(fd);
}
END_TEST

/* A fork without FORK_PREPARE (fork() here runs no handler of ours, like
 * a raw clone): the child's mappings refuse access with SIGBUS instead of
 * sharing the parent's pages, and the fork is counted.  A prepared fork's
 * child is not refused. */
START_TEST(unprepared_fork_child_is_refused)
{
    int fd = dev_open();
    char *p = dev_map(fd, 4, 0);
    p[0] = 42;
    ck_assert_uint_eq(stats(fd).raw_forks, 0);
    for (int write = 0; write < 2; write++) {
        pid_t c = fork();
        ck_assert_int_ge(c, 0);
        if (c == 0) {
            if (write)
                ((volatile char *)p)[PG] = 1;
            else
                (void)((volatile char *)p)[0];
            _exit(0);
        }
        int st;
        ck_assert_int_eq(waitpid(c, &st, 0), c);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "child status %#x, not SIGBUS", st);
    }
    ck_assert_uint_eq(stats(fd).raw_forks, 2);
    ck_assert_uint_eq(stats(fd).pages, 1); /* the children's write made no page */
    ck_assert_int_eq(p[0], 42);
    ck_assert_int_eq(p[PG], 0);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_FORK_PREPARE), 0);
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0)
        _exit(p[0] == 42 ? 0 : 1);
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_THAW), 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "prepared child status %#x", st);
    ck_assert_uint_eq(stats(fd).raw_forks, 2);
    p[3 * PG] = 1;
    munmap(p, 4 * PG);
    close(fd);
}
END_TEST

#define FAIL_CLONE "/sys/module/cogc/parameters/fail_clone"

/* The test-only parameter makes the next CLONE fail with ENOMEM. */
START_TEST(clone_failure_injected)
{
    int fd = dev_open();
    char *p = dev_map(fd, 1, 0);
    p[0] = 9;
    int pf = open(FAIL_CLONE, O_WRONLY | O_CLOEXEC);
    ck_assert_msg(pf >= 0, FAIL_CLONE ": %s", strerror(errno));
    ck_assert_int_eq(write(pf, "1\n", 2), 2);
    close(pf);
    int nf = dev_open();
    ck_assert_int_eq(ioctl(nf, COGC_IOC_CLONE, fd), -1);
    ck_assert_int_eq(errno, ENOMEM);
    char v[8] = "";
    pf = open(FAIL_CLONE, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(pf, 0);
    ck_assert_int_gt(read(pf, v, sizeof v - 1), 0);
    close(pf);
    ck_assert_int_eq(atoi(v), 0); /* consumed */
    ck_assert_int_eq(ioctl(nf, COGC_IOC_CLONE, fd), 0);
    char *q = dev_map(nf, 1, 0);
    ck_assert_int_eq(q[0], 9);
    munmap(q, PG);
    munmap(p, PG);
    close(nf);
    close(fd);
}
END_TEST

/* The shrinker: a reclaim pass (drop_caches runs every shrinker) makes
 * every context poll POLLPRI; RECLAIMS reads the count and clears it. */
START_TEST(reclaim_notice)
{
    int fd = dev_open();
    uint64_t n = 99;
    ck_assert_int_eq(ioctl(fd, COGC_IOC_RECLAIMS, &n), 0);
    struct pollfd pf = {.fd = fd, .events = POLLPRI};
    ck_assert_int_eq(poll(&pf, 1, 0), 0);
    int dc = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    ck_assert_msg(dc >= 0, "drop_caches: %s", strerror(errno));
    ck_assert_int_eq(write(dc, "2\n", 2), 2);
    close(dc);
    ck_assert_int_eq(poll(&pf, 1, 10000), 1);
    ck_assert(pf.revents & POLLPRI);
    ck_assert(!(pf.revents & POLLIN));
    ck_assert_int_eq(ioctl(fd, COGC_IOC_RECLAIMS, &n), 0);
    ck_assert_uint_ge(n, 1);
    ck_assert_uint_ge(stats(fd).reclaims, n);
    ck_assert_int_eq(poll(&pf, 1, 0), 0);
    ck_assert_int_eq(ioctl(fd, COGC_IOC_RECLAIMS, &n), 0);
    ck_assert_uint_eq(n, 0);
    close(fd);
}
END_TEST

int main(void)
{
    if (access(DEV, F_OK) != 0) {
        printf("SKIP: " DEV " not present (cogc.ko not loaded)\n");
        return 77;
    }
    Suite *s = suite_create("kmod");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, read_reports_written_pages_and_reprotects);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, poll_limit_and_signal);
    tcase_add_test(tc, pages_swap_out_and_back);
    tcase_add_test(tc, clone_copies_pages);
    tcase_add_test(tc, no_leaked_pages);
    tcase_add_test(tc, processes_with_concurrent_writers);
    tcase_add_test(tc, munmap_with_dirty_pages);
    tcase_add_test(tc, unprotect_and_take);
    tcase_add_test(tc, munmap_frees_unmapped_pages);
    tcase_add_test(tc, unprepared_fork_child_is_refused);
    tcase_add_test(tc, clone_failure_injected);
    tcase_add_test(tc, reclaim_notice);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
