/* dirty_softdirty.c - the kernel's soft-dirty PTE bit.
 *
 * arm writes "4" to /proc/self/clear_refs, which clears the soft-dirty
 * bit of every page of the process (and write-protects the PTEs so that
 * the next write sets it again).  collect reads /proc/self/pagemap for
 * each tracked range in large batches (pread of 64 Ki entries = 256 MiB
 * of address space per call), keeps the pages with bit 55 (soft-dirty),
 * clears the bits again and reports the pages.
 *
 * Limits, stated in caps: the clear is process-wide (process_wide); new
 * VMAs, mremap and mprotect mark whole VMAs soft-dirty, so reports
 * over-approximate (precise = false); and reading and clearing are two
 * steps, so a write landing between the pagemap read of a page and the
 * clear_refs write is lost: collect is not atomic with respect to
 * concurrent writers (atomic_collect = false), the caller must stop them.
 *
 * Needs CONFIG_MEM_SOFT_DIRTY; probe checks that the bit really sets. */
#define _GNU_SOURCE
#include "dirty_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PM_SOFT_DIRTY ((uint64_t)1 << 55)
#define BATCH 65536

static struct dirty_reg reg;
static struct dirty_astats st;
static int pmfd = -1, crfd = -1;
static pid_t owner;
static uint64_t *buf;

static int open_files(int *pm, int *cr, char *why, size_t len)
{
    *pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (*pm < 0)
        return dirty_why(why, len, "soft-dirty: cannot open /proc/self/pagemap: %s", strerror(errno));
    *cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (*cr < 0) {
        int e = errno;
        close(*pm);
        return dirty_why(why, len, "soft-dirty: cannot open /proc/self/clear_refs: %s", strerror(e));
    }
    return 0;
}

static int clear_all(int cr)
{
    ssize_t w;
    do
        w = pwrite(cr, "4", 1, 0);
    while (w < 0 && errno == EINTR);
    return w == 1 ? 0 : -1;
}

static int pagemap_entry(int pm, uintptr_t addr, uint64_t *e)
{
    return pread(pm, e, sizeof *e, (off_t)((addr >> DIRTY_PAGE_SHIFT) * sizeof *e)) == sizeof *e ? 0 : -1;
}

static int sd_probe(char *why, size_t len)
{
    int pm, cr;
    if (open_files(&pm, &cr, why, len) != 0)
        return -1;
    int ret = -1;
    volatile char *p = mmap(NULL, DIRTY_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        dirty_why(why, len, "soft-dirty: mmap: %s", strerror(errno));
        goto out;
    }
    p[0] = 1;
    uint64_t e1 = 0, e2 = 0;
    if (clear_all(cr) != 0) {
        dirty_why(why, len, "soft-dirty: writing 4 to /proc/self/clear_refs failed: %s", strerror(errno));
        goto out_unmap;
    }
    if (pagemap_entry(pm, (uintptr_t)p, &e1) != 0) {
        dirty_why(why, len, "soft-dirty: reading /proc/self/pagemap failed: %s", strerror(errno));
        goto out_unmap;
    }
    p[0] = 2;
    if (pagemap_entry(pm, (uintptr_t)p, &e2) != 0) {
        dirty_why(why, len, "soft-dirty: reading /proc/self/pagemap failed: %s", strerror(errno));
        goto out_unmap;
    }
    if (!(e2 & PM_SOFT_DIRTY))
        dirty_why(why, len, "soft-dirty: kernel built without CONFIG_MEM_SOFT_DIRTY "
                            "(pagemap bit 55 never set after a write)");
    else if (e1 & PM_SOFT_DIRTY)
        dirty_why(why, len, "soft-dirty: clear_refs does not clear pagemap bit 55");
    else
        ret = 0;
out_unmap:
    munmap((void *)p, DIRTY_PAGE);
out:
    close(pm);
    close(cr);
    return ret;
}

static int sd_init(char *why, size_t len)
{
    if (pmfd >= 0)
        return 0;
    buf = malloc(BATCH * sizeof *buf);
    if (!buf || dirty_reg_init(&reg) != 0) {
        free(buf);
        buf = NULL;
        return dirty_why(why, len, "soft-dirty: out of memory");
    }
    if (open_files(&pmfd, &crfd, why, len) != 0) {
        pmfd = crfd = -1;
        dirty_reg_free(&reg);
        free(buf);
        buf = NULL;
        return -1;
    }
    owner = getpid();
    memset(&st, 0, sizeof st);
    return 0;
}

/* /proc/self was resolved at open time: in a forked child reopen. */
static int check_fork(void)
{
    if (owner == getpid())
        return 0;
    close(pmfd);
    close(crfd);
    if (open_files(&pmfd, &crfd, NULL, 0) != 0) {
        pmfd = crfd = -1;
        return -1;
    }
    owner = getpid();
    atomic_fetch_add(&st.fork_resets, 1);
    return 0;
}

static void *sd_map(size_t size, size_t align)
{
    return dirty_map_aligned(size, align);
}

static int sd_track(void *addr, size_t len)
{
    return dirty_reg_add(&reg, (uintptr_t)addr, len) ? 0 : -1;
}

static int sd_untrack(void *addr, size_t len)
{
    return dirty_reg_remove(&reg, (uintptr_t)addr, len);
}

static int sd_arm(void)
{
    if (check_fork() != 0)
        return -1;
    atomic_fetch_add(&st.arms, 1);
    return clear_all(crfd);
}

/* Fill r->snap from pagemap; returns pages or -1. */
static long read_range(struct dirty_range *r)
{
    uintptr_t s = atomic_load(&r->start);
    long pages = 0;
    memset(r->snap, 0, r->nwords * sizeof(uint64_t));
    for (size_t i = 0; i < r->npages;) {
        size_t n = r->npages - i < BATCH ? r->npages - i : BATCH;
        off_t off = (off_t)(((s >> DIRTY_PAGE_SHIFT) + i) * sizeof(uint64_t));
        ssize_t got = pread(pmfd, buf, n * sizeof(uint64_t), off);
        atomic_fetch_add(&st.scan_calls, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        size_t m = (size_t)got / sizeof(uint64_t);
        for (size_t j = 0; j < m; j++)
            if (buf[j] & PM_SOFT_DIRTY) {
                r->snap[(i + j) / 64] |= (uint64_t)1 << ((i + j) % 64);
                pages++;
            }
        i += m;
    }
    return pages;
}

struct cctx {
    dirty_run_fn fn;
    void *ctx;
};

static void report_run(void *c, uintptr_t a, size_t len)
{
    struct cctx *cc = c;
    cc->fn(cc->ctx, (void *)a, len);
}

static long sd_collect(dirty_run_fn fn, void *ctx)
{
    if (check_fork() != 0)
        return -1;
    atomic_fetch_add(&st.collects, 1);
    long pages = 0;
    int err = 0;
    DIRTY_REG_FOREACH(&reg, r)
    {
        long n = read_range(r);
        if (n < 0) { /* unreadable: count it all as written */
            err = errno;
            memset(r->snap, 0xff, r->nwords * sizeof(uint64_t));
            if (r->npages % 64)
                r->snap[r->nwords - 1] = ((uint64_t)1 << (r->npages % 64)) - 1;
            n = (long)r->npages;
        }
        pages += n;
    }
    if (clear_all(crfd) != 0)
        err = errno;
    struct cctx cc = {fn, ctx};
    DIRTY_REG_FOREACH(&reg, r)
    {
        dirty_snap_runs(r, report_run, &cc);
    }
    atomic_fetch_add(&st.pages_reported, (uint64_t)pages);
    if (err) {
        errno = err;
        return -1;
    }
    return pages;
}

/* Every write since the last collect is reported anyway: arming a range
 * costs nothing more, and a disarmed page is still reported. */
static int sd_range_nop(void *addr, size_t len)
{
    return dirty_reg_clear_pages(&reg, (uintptr_t)addr, len) ? 0 : -1;
}

static void sd_stats(struct dirty_stats *out)
{
    dirty_copy_stats(&st, out);
}

static void sd_teardown(void)
{
    if (pmfd >= 0)
        close(pmfd);
    if (crfd >= 0)
        close(crfd);
    pmfd = crfd = -1;
    dirty_reg_free(&reg);
    free(buf);
    buf = NULL;
}

struct dirty_backend dirty_backend_softdirty = {
    .name = "soft-dirty",
    .caps = {.complete = true, .precise = false, .granule = 4096, .max_run = SIZE_MAX,
             .atomic_collect = false, .process_wide = true, .syscall_write = DIRTY_SYSCALL_SEEN,
             .uses_sigsegv = false, .reports_disarmed = true, .fork_child_all_dirty = false},
    .probe = sd_probe,
    .init = sd_init,
    .map = sd_map,
    .unmap = dirty_unmap_plain,
    .track = sd_track,
    .untrack = sd_untrack,
    .arm = sd_arm,
    .collect = sd_collect,
    .arm_range = sd_range_nop,
    .disarm_range = sd_range_nop,
    .take = sd_collect,
    .release = dirty_release_plain,
    .prepare_syscall_write = dirty_nop_prepare,
    .stats = sd_stats,
    .teardown = sd_teardown,
};
