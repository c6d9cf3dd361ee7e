/* bench_dirty - cost of dirty-page tracking per backend.
 *
 * For each available backend, and a "plain" floor (no tracking), and N in
 * 1k, 4k, 16k, 64k, 256k, 1M pages: map an N-page range, pre-fault it
 * (first-touch faults are not measured), track it, then repeat
 *     arm; write one byte to each of the N pages; collect
 * and report the median of the whole cycle (mode arm+write+collect) and of
 * collect alone (mode collect).  Row "pagemap-scan-bare": the range is
 * tracked by uffd-async, but instead of the backend's collect one bare
 * PAGEMAP_SCAN ioctl (WP_MATCHING|CHECK_WPASYNC, PAGE_IS_WRITTEN, a vector
 * large enough for the answer) is issued over the same range and dirty
 * set: the floor for uffd-async's collect.
 *
 * Usage: bench_dirty [--csv] [--reps N] [--max-pages N] [--backends a,b,...]
 */
#define _GNU_SOURCE
#include "dirty.h"
#include "linux_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL
#define MAXREPS 64

static int csv, reps = 5;
static size_t max_pages = 1UL << 20;
static const char *only;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    double t[MAXREPS];
    memcpy(t, v, n * sizeof *v);
    qsort(t, n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double maxof(double *v, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* p99 with nearest rank: with fewer than 100 samples this is the max. */
static double p99(double *v, int n)
{
    double t[MAXREPS];
    memcpy(t, v, n * sizeof *v);
    qsort(t, n, sizeof *t, cmp_d);
    int k = (int)((99 * n + 99) / 100) - 1;
    return t[k < 0 ? 0 : k];
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

struct row {
    const char *backend, *mode;
    size_t n;
    double med, max, p99, reported, faults;
    int reps;
};

static struct row rows[256];
static int nrows;

static void emit(const char *backend, const char *mode, size_t n, double *t, int k, double reported,
                 double faults)
{
    struct row *r = &rows[nrows++];
    r->backend = backend;
    r->mode = mode;
    r->n = n;
    r->med = median(t, k);
    r->max = maxof(t, k);
    r->p99 = p99(t, k);
    r->reported = reported;
    r->faults = faults;
    r->reps = k;
    if (csv) {
        printf("cogc,dirty-N%zu,%s,%s,%.6f,%.3f,%.3f,%.1f,%d,%.1f,%.0f,%.0f\n", n, mode, backend, r->med,
               r->max * 1e3, r->p99 * 1e3, peak_rss_mb(), k, r->med * 1e9 / (double)n, reported, faults);
    } else {
        printf("%-18s %8zu  %-20s %10.3f ms %9.1f ns/page  max %9.3f ms  reported %9.0f  faults %9.0f\n",
               backend, n, mode, r->med * 1e3, r->med * 1e9 / (double)n, r->max * 1e3, reported, faults);
    }
    fflush(stdout);
}

static void count_cb(void *ctx, void *addr, size_t len)
{
    (void)addr;
    *(size_t *)ctx += len / PG;
}

static void write_pages(char *p, size_t n, char v)
{
    for (size_t i = 0; i < n; i++)
        ((volatile char *)p)[i * PG + 64] = v;
}

static int reps_for(size_t n)
{
    return n >= (256UL << 10) ? (reps < 3 ? reps : 3) : reps;
}

static void run_plain(size_t n)
{
    char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    write_pages(p, n, 1);
    double t[MAXREPS];
    int k = reps_for(n);
    for (int r = 0; r < k; r++) {
        double t0 = now();
        write_pages(p, n, (char)(r + 2));
        t[r] = now() - t0;
    }
    emit("plain", "arm+write+collect", n, t, k, 0, 0);
    munmap(p, n * PG);
}

static void run_backend(const struct dirty_backend *b, size_t n, int pmfd)
{
    char *p = b->map(n * PG, 4UL << 20);
    if (!p) {
        perror("map");
        exit(1);
    }
    write_pages(p, n, 1); /* pre-fault */
    if (b->track(p, n * PG) != 0) {
        perror("track");
        exit(1);
    }
    double cyc[MAXREPS], col[MAXREPS], bcyc[MAXREPS], bcol[MAXREPS];
    size_t reported = 0, breported = 0;
    struct dirty_stats s0, s1;
    int k = reps_for(n);
    size_t vlen = 1 << 16;
    struct page_region *vec = malloc(vlen * sizeof *vec);
    double faults = 0;
    /* Backend cycle and bare-scan cycle alternate, so that both see the
     * same machine state. */
    for (int r = 0; r < k; r++) {
        for (int which = 0; which < 2; which++) {
            bool is_bare = (which ^ (r & 1)) != 0;
            if (is_bare && pmfd < 0)
                continue;
            b->stats(&s0);
            double t0 = now();
            b->arm();
            write_pages(p, n, (char)(r + 2));
            double t1 = now();
            if (!is_bare) {
                reported = 0;
                if (b->collect(count_cb, &reported) < 0)
                    perror("collect");
                double t2 = now();
                cyc[r] = t2 - t0;
                col[r] = t2 - t1;
                b->stats(&s1);
                faults += (double)(s1.faults - s0.faults);
            } else {
                struct pm_scan_arg a;
                memset(&a, 0, sizeof a);
                a.size = sizeof a;
                a.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
                a.start = (uintptr_t)p;
                a.end = (uintptr_t)p + n * PG;
                a.vec = (uintptr_t)vec;
                a.vec_len = vlen;
                a.category_mask = PAGE_IS_WRITTEN;
                a.return_mask = PAGE_IS_WRITTEN;
                long got = ioctl(pmfd, PAGEMAP_SCAN, &a);
                double t2 = now();
                if (got < 0)
                    perror("PAGEMAP_SCAN");
                breported = 0;
                for (long i = 0; i < got; i++)
                    breported += (vec[i].end - vec[i].start) / PG;
                bcyc[r] = t2 - t0;
                bcol[r] = t2 - t1;
            }
        }
    }
    free(vec);
    emit(b->name, "arm+write+collect", n, cyc, k, (double)reported, faults / k);
    emit(b->name, "collect", n, col, k, (double)reported, faults / k);
    if (pmfd >= 0) {
        emit("pagemap-scan-bare", "arm+write+collect", n, bcyc, k, (double)breported, 0);
        emit("pagemap-scan-bare", "collect", n, bcol, k, (double)breported, 0);
    }
    b->untrack(p, n * PG);
    b->unmap(p, n * PG);
}

static int wanted(const char *name)
{
    if (!only)
        return 1;
    size_t l = strlen(name);
    for (const char *s = only; (s = strstr(s, name)); s += l)
        if ((s == only || s[-1] == ',') && (s[l] == 0 || s[l] == ','))
            return 1;
    return 0;
}

static const struct row *find(const char *backend, const char *mode, size_t n)
{
    for (int i = 0; i < nrows; i++)
        if (!strcmp(rows[i].backend, backend) && !strcmp(rows[i].mode, mode) && rows[i].n == n)
            return &rows[i];
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--csv"))
            csv = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-pages") && i + 1 < argc)
            max_pages = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--backends") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--csv] [--reps N] [--max-pages N] [--backends a,b,...]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > MAXREPS)
        reps = 5;
    static const size_t sizes[] = {1UL << 10, 4UL << 10, 16UL << 10, 64UL << 10, 256UL << 10, 1UL << 20};
    static const char *const names[] = {"uffd-async", "uffd", "soft-dirty", "mprotect", "gcdev", "none"};
    if (csv)
        printf("system,workload,mode,backend,wall_s,max_pause_ms,p99_pause_ms,peak_rss_mb,collections,"
               "ns_per_page,pages_reported,faults_per_rep\n");
    else
        printf("# median of %d repetitions (3 for N >= 256k); times per arm+write+collect cycle\n", reps);

    if (wanted("plain"))
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && sizes[i] <= max_pages; i++)
            run_plain(sizes[i]);
    for (size_t bi = 0; bi < sizeof names / sizeof names[0]; bi++) {
        bool bare = !strcmp(names[bi], "uffd-async") && wanted("pagemap-scan-bare");
        if (!wanted(names[bi]) && !bare)
            continue;
        const struct dirty_backend *want = dirty_find(names[bi]);
        char why[512] = "";
        if (want->probe(why, sizeof why) != 0) {
            fprintf(stderr, "skipped: %s\n", why);
            continue;
        }
        const struct dirty_backend *b = dirty_select(names[bi], why, sizeof why);
        if (b != want) {
            fprintf(stderr, "skipped: %s (%s)\n", names[bi], why);
            continue;
        }
        int pmfd = bare ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && sizes[i] <= max_pages; i++)
            run_backend(b, sizes[i], pmfd);
        if (pmfd >= 0)
            close(pmfd);
        b->teardown();
    }

    if (!csv) {
        printf("\n# ratios (medians)\n");
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            const struct row *ua = find("uffd-async", "arm+write+collect", n);
            const struct row *mp = find("mprotect", "arm+write+collect", n);
            const struct row *uc = find("uffd-async", "collect", n);
            const struct row *bc = find("pagemap-scan-bare", "collect", n);
            if (ua && mp)
                printf("N=%-8zu mprotect/uffd-async per dirtied page: %.2fx\n", n, mp->med / ua->med);
            if (uc && bc)
                printf("N=%-8zu uffd-async collect / bare PAGEMAP_SCAN: %.2fx\n", n, uc->med / bc->med);
        }
    }
    return 0;
}
