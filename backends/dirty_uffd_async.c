/* dirty_uffd_async.c - userfaultfd write-protect, resolved by the kernel
 * (UFFD_FEATURE_WP_ASYNC, Linux 6.7) and read back with PAGEMAP_SCAN.
 *
 * track registers the range in WP mode and write-protects it.  A write to
 * a protected page costs one minor fault that the kernel resolves itself:
 * it clears the PTE's uffd-wp bit, queues no message.  collect asks
 * PAGEMAP_SCAN for the pages whose uffd-wp bit is clear (PAGE_IS_WRITTEN)
 * with PM_SCAN_WP_MATCHING, which write-protects each reported page under
 * its page-table lock in the same walk: a racing write either cleared the
 * bit before the walk got there (reported now) or faults again after
 * (reported next time).  One ioctl per contiguous span of tracked ranges,
 * repeated only when the result vector fills up; take, which protects
 * nothing, scans spans that lie close together in one. */
#define _GNU_SOURCE
#include "dirty_impl.h"
#include "linux_compat.h"

#include <valgrind/memcheck.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VEC_LEN 8192

static struct dirty_reg reg;
static struct dirty_astats st;
static int uffd = -1, pmfd = -1;
static pid_t owner;
static uint64_t features;
static struct page_region *vec;
static struct span { uintptr_t s, e; } *spans;

static uint64_t wanted(uint64_t avail)
{
    return UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_PAGEFAULT_FLAG_WP |
           (avail & UFFD_FEATURE_WP_UNPOPULATED);
}

static int open_all(char *why, size_t len)
{
    bool umo;
    uint64_t avail;
    if (dirty_uffd_features(&avail, &umo, why, len) != 0) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "uffd-async: %s", why ? why : "");
        return dirty_why(why, len, "%s", tmp);
    }
    if (!(avail & UFFD_FEATURE_WP_ASYNC))
        return dirty_why(why, len, "uffd-async: kernel lacks UFFD_FEATURE_WP_ASYNC (needs Linux >= 6.7)");
    int fd = dirty_uffd_open(true, &umo, why, len);
    if (fd < 0)
        return -1;
    if (dirty_uffd_api(fd, wanted(avail), &features) != 0) {
        int e = errno;
        close(fd);
        return dirty_why(why, len, "uffd-async: UFFDIO_API with WP_ASYNC failed: %s", strerror(e));
    }
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0) {
        int e = errno;
        close(fd);
        return dirty_why(why, len, "uffd-async: cannot open /proc/self/pagemap: %s", strerror(e));
    }
    uffd = fd;
    pmfd = pm;
    owner = getpid();
    return 0;
}

static void close_all(void)
{
    if (uffd >= 0)
        close(uffd);
    if (pmfd >= 0)
        close(pmfd);
    uffd = pmfd = -1;
}

static int wp_range(uintptr_t s, size_t len, bool on) { return dirty_uffd_wp(uffd, s, len, on); }

static int register_range(uintptr_t s, size_t len) { return dirty_uffd_register(uffd, s, len, UFFDIO_REGISTER_MODE_WP); }

static long scan(uintptr_t s, uintptr_t e, bool rearm, dirty_run_fn fn, void *ctx, int *err)
{
    long pages = 0;
    struct pm_scan_arg a;
    while (s < e) {
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.flags = rearm ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0;
        a.start = s;
        a.end = e;
        a.vec = (uintptr_t)vec;
        a.vec_len = VEC_LEN;
        a.category_mask = PAGE_IS_WRITTEN;
        a.return_mask = PAGE_IS_WRITTEN;
        long n = ioctl(pmfd, PAGEMAP_SCAN, &a);
        atomic_fetch_add(&st.scan_calls, 1);
        /* Valgrind does not know this ioctl: tell memcheck what it wrote. */
        if (n > 0)
            VALGRIND_MAKE_MEM_DEFINED(vec, (size_t)n * sizeof *vec);
        VALGRIND_MAKE_MEM_DEFINED(&a.walk_end, sizeof a.walk_end);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            *err = errno;
            return pages;
        }
        for (long i = 0; i < n; i++) {
            size_t len = vec[i].end - vec[i].start;
            fn(ctx, (void *)(uintptr_t)vec[i].start, len);
            pages += (long)(len >> DIRTY_PAGE_SHIFT);
        }
        atomic_fetch_add(&st.runs_reported, (uint64_t)n);
        if (a.walk_end <= s) { /* no progress: should not happen */
            *err = EIO;
            return pages;
        }
        s = a.walk_end;
    }
    return pages;
}

/* In a child of fork() the kernel dropped our registrations (we do not ask
 * for UFFD_FEATURE_EVENT_FORK) and /proc/self/pagemap still names the
 * parent: start over, and count every tracked page as written once. */
static int check_fork(void)
{
    if (owner == getpid())
        return 0;
    close_all();
    if (open_all(NULL, 0) != 0)
        return -1;
    atomic_fetch_add(&st.fork_resets, 1);
    dirty_uffd_reregister_all(&reg, uffd, UFFDIO_REGISTER_MODE_WP);
    return 0;
}

static int ua_probe(char *why, size_t len)
{
    bool umo;
    uint64_t avail;
    char tmp[256] = "";
    if (dirty_uffd_features(&avail, &umo, tmp, sizeof tmp) != 0)
        return dirty_why(why, len, "uffd-async: %s", tmp);
    if (!(avail & UFFD_FEATURE_WP_ASYNC))
        return dirty_why(why, len, "uffd-async: kernel lacks UFFD_FEATURE_WP_ASYNC (needs Linux >= 6.7)");
    /* Functional check: one page, protect, write, scan. */
    int fd = dirty_uffd_open(true, &umo, tmp, sizeof tmp);
    if (fd < 0)
        return dirty_why(why, len, "uffd-async: %s", tmp);
    int ret = -1;
    char *p = MAP_FAILED;
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0) {
        dirty_why(why, len, "uffd-async: cannot open /proc/self/pagemap: %s", strerror(errno));
        goto out;
    }
    if (dirty_uffd_api(fd, wanted(avail), NULL) != 0) {
        dirty_why(why, len, "uffd-async: UFFDIO_API with WP_ASYNC failed: %s", strerror(errno));
        goto out;
    }
    p = mmap(NULL, 2 * DIRTY_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        dirty_why(why, len, "uffd-async: mmap: %s", strerror(errno));
        goto out;
    }
    p[0] = 1;
    struct uffdio_register rg = {.range = {(uintptr_t)p, 2 * DIRTY_PAGE}, .mode = UFFDIO_REGISTER_MODE_WP};
    struct uffdio_writeprotect wp = {.range = {(uintptr_t)p, 2 * DIRTY_PAGE}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
    if (ioctl(fd, UFFDIO_REGISTER, &rg) != 0 || ioctl(fd, UFFDIO_WRITEPROTECT, &wp) != 0) {
        dirty_why(why, len, "uffd-async: write-protect registration of anonymous memory failed: %s",
                  strerror(errno));
        goto out;
    }
    p[DIRTY_PAGE] = 1;
    struct page_region v[4];
    struct pm_scan_arg a = {.size = sizeof a, .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                            .start = (uintptr_t)p, .end = (uintptr_t)p + 2 * DIRTY_PAGE,
                            .vec = (uintptr_t)v, .vec_len = 4, .category_mask = PAGE_IS_WRITTEN,
                            .return_mask = PAGE_IS_WRITTEN};
    long n = ioctl(pm, PAGEMAP_SCAN, &a);
    if (n > 0)
        VALGRIND_MAKE_MEM_DEFINED(v, (size_t)n * sizeof v[0]);
    if (n < 0) {
        dirty_why(why, len, "uffd-async: PAGEMAP_SCAN ioctl failed: %s%s", strerror(errno),
                  errno == ENOTTY ? " (needs Linux >= 6.7)" : "");
        goto out;
    }
    if (n != 1 || v[0].start != (uintptr_t)p + DIRTY_PAGE || v[0].end != (uintptr_t)p + 2 * DIRTY_PAGE) {
        dirty_why(why, len, "uffd-async: PAGEMAP_SCAN did not report exactly the written page (%ld runs)", n);
        goto out;
    }
    ret = 0;
out:
    if (p != MAP_FAILED)
        munmap(p, 2 * DIRTY_PAGE);
    if (pm >= 0)
        close(pm);
    close(fd);
    return ret;
}

static int ua_init(char *why, size_t len)
{
    if (uffd >= 0)
        return 0;
    vec = malloc(VEC_LEN * sizeof *vec);
    spans = malloc(DIRTY_MAX_RANGES * sizeof *spans);
    if (!vec || !spans || dirty_reg_init(&reg) != 0) {
        free(vec);
        free(spans);
        vec = NULL;
        spans = NULL;
        return dirty_why(why, len, "uffd-async: out of memory");
    }
    if (open_all(why, len) != 0) {
        dirty_reg_free(&reg);
        free(vec);
        free(spans);
        vec = NULL;
        spans = NULL;
        return -1;
    }
    memset(&st, 0, sizeof st);
    return 0;
}


static int ua_track(void *addr, size_t len)
{
    if (check_fork() != 0)
        return -1;
    return dirty_uffd_track(&reg, uffd, UFFDIO_REGISTER_MODE_WP, addr, len);
}

static int ua_untrack(void *addr, size_t len)
{
    return dirty_uffd_untrack(&reg, uffd, owner, addr, len);
}

static int ua_arm(void)
{
    if (check_fork() != 0)
        return -1;
    int ret = 0;
    atomic_fetch_add(&st.arms, 1);
    DIRTY_REG_FOREACH(&reg, r)
    {
        uintptr_t s = atomic_load(&r->start);
        atomic_store(&r->all_dirty, 0);
        if (wp_range(s, atomic_load(&r->end) - s, true) != 0)
            ret = -1;
    }
    return ret;
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->s < y->s ? -1 : x->s > y->s;
}

/* Written runs of one scan over several spans and the untracked gaps
 * between them, passed on clipped to the spans (ascending, as the runs). */
#define SCAN_BRIDGE ((uintptr_t)1 << 20)
struct clip {
    const struct span *sp;
    size_t n, k;
    dirty_run_fn fn;
    void *ctx;
    long pages;
};

static void clip_run(void *cctx, void *addr, size_t len)
{
    struct clip *cl = cctx;
    uintptr_t a = (uintptr_t)addr, end = a + len;
    while (cl->k < cl->n && cl->sp[cl->k].e <= a)
        cl->k++;
    for (size_t k = cl->k; k < cl->n && cl->sp[k].s < end; k++) {
        uintptr_t s = a > cl->sp[k].s ? a : cl->sp[k].s, e = end < cl->sp[k].e ? end : cl->sp[k].e;
        cl->fn(cl->ctx, (void *)s, e - s);
        cl->pages += (long)((e - s) >> DIRTY_PAGE_SHIFT);
    }
}

static long collect_pages(dirty_run_fn fn, void *ctx, bool rearm)
{
    if (check_fork() != 0)
        return -1;
    atomic_fetch_add(&st.collects, 1);
    long pages = 0;
    size_t n = 0;
    int err = 0;
    DIRTY_REG_FOREACH(&reg, r)
    {
        uintptr_t s = atomic_load(&r->start), e = atomic_load(&r->end);
        if (atomic_exchange(&r->all_dirty, 0)) {
            /* Whole range counts as written (after fork): it was re-armed
             * when the flag was set, report it as one run. */
            fn(ctx, (void *)s, e - s);
            pages += (long)((e - s) >> DIRTY_PAGE_SHIFT);
            atomic_fetch_add(&st.runs_reported, 1);
            continue;
        }
        spans[n].s = s;
        spans[n].e = e;
        n++;
    }
    qsort(spans, n, sizeof *spans, span_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && spans[m - 1].e == spans[i].s)
            spans[m - 1].e = spans[i].e;
        else
            spans[m++] = spans[i];
    }
    for (size_t i = 0; i < m; i++) {
        int e = 0;
        if (!rearm) {
            /* Spans a short way apart go in one scan, its runs clipped to
             * them: the gaps are the chunks' metadata (one untracked
             * mapping per chunk), and a call per chunk cost most of a
             * minor collection's take (GCBench: 8 calls each time). */
            size_t j = i;
            while (j + 1 < m && spans[j + 1].s - spans[j].e <= SCAN_BRIDGE)
                j++;
            if (j > i) {
                struct clip cl = {.sp = spans + i, .n = j - i + 1, .fn = fn, .ctx = ctx};
                scan(spans[i].s, spans[j].e, false, clip_run, &cl, &e);
                pages += cl.pages;
                if (e)
                    err = e;
                i = j;
                continue;
            }
        }
        pages += scan(spans[i].s, spans[i].e, rearm, fn, ctx, &e);
        if (e == EPERM) {
            /* Part of the span lost its registration (mremap'd or
             * re-mmap'd without untrack): register again and report the
             * tracked ranges inside the span whole. */
            DIRTY_REG_FOREACH(&reg, r)
            {
                uintptr_t s = atomic_load(&r->start), en = atomic_load(&r->end);
                if (s >= spans[i].s && en <= spans[i].e && register_range(s, en - s) == 0) {
                    fn(ctx, (void *)s, en - s);
                    pages += (long)((en - s) >> DIRTY_PAGE_SHIFT);
                }
            }
        } else if (e) {
            err = e;
        }
    }
    atomic_fetch_add(&st.pages_reported, (uint64_t)pages);
    if (err) {
        errno = err;
        return -1;
    }
    return pages;
}

static long ua_collect(dirty_run_fn fn, void *ctx) { return collect_pages(fn, ctx, true); }
/* Without PM_SCAN_WP_MATCHING: the written pages stay unprotected. */
static long ua_take(dirty_run_fn fn, void *ctx) { return collect_pages(fn, ctx, false); }

static int ua_arm_range(void *addr, size_t len)
{
    if (check_fork() != 0 || !dirty_reg_lookup(&reg, (uintptr_t)addr))
        return -1;
    return wp_range((uintptr_t)addr, len, true);
}

static int ua_disarm_range(void *addr, size_t len)
{
    if (check_fork() != 0 || !dirty_reg_lookup(&reg, (uintptr_t)addr))
        return -1;
    return wp_range((uintptr_t)addr, len, false);
}

static void ua_stats(struct dirty_stats *out)
{
    dirty_copy_stats(&st, out);
}

static void ua_teardown(void)
{
    if (uffd >= 0 && owner == getpid()) {
        DIRTY_REG_FOREACH(&reg, r)
        {
            uintptr_t s = atomic_load(&r->start);
            struct uffdio_range rg = {.start = s, .len = atomic_load(&r->end) - s};
            ioctl(uffd, UFFDIO_UNREGISTER, &rg);
        }
    }
    close_all();
    dirty_reg_free(&reg);
    free(vec);
    free(spans);
    vec = NULL;
    spans = NULL;
}

struct dirty_backend dirty_backend_uffd_async = {
    .name = "uffd-async",
    .caps = {.complete = true, .precise = true, .granule = 4096, .max_run = 2u << 20,
             .atomic_collect = true, .process_wide = false, .syscall_write = DIRTY_SYSCALL_SEEN,
             .uses_sigsegv = false, .reports_disarmed = true, .fork_child_all_dirty = true},
    .probe = ua_probe,
    .init = ua_init,
    .map = dirty_map_aligned,
    .unmap = dirty_unmap_plain,
    .track = ua_track,
    .untrack = ua_untrack,
    .arm = ua_arm,
    .collect = ua_collect,
    .arm_range = ua_arm_range,
    .disarm_range = ua_disarm_range,
    .take = ua_take,
    .release = dirty_release_plain,
    .prepare_syscall_write = dirty_nop_prepare,
    .stats = ua_stats,
    .teardown = ua_teardown,
};
