/* dirty_mprotect.c - PROT_READ + SIGSEGV.
 *
 * track/arm make tracked ranges read-only.  A write faults; our SIGSEGV
 * handler (SA_SIGINFO) finds the tracked range holding the address,
 * mprotects the page (or a larger granule, see below) back to read-write
 * and then sets its bits in the range bitmap (atomic OR: async-signal-
 * safe).  collect moves the bits out (atomic exchange per 64 pages),
 * mprotects the pages it took read-only again, then reports them.  Same
 * ordering argument as uffd (dirty_uffd.c): unprotect before marking,
 * take before re-protecting, report after re-protecting.
 *
 * Faults that are not ours go to the handler that was installed before
 * ours: SIG_DFL/SIG_IGN -> reset SIGSEGV to SIG_DFL and return, so the
 * faulting instruction re-executes and the default action (core dump)
 * happens with the original context; a handler is called with the same
 * arguments.  If the program installs its own SIGSEGV handler after us,
 * arm puts ours back and keeps the program's as the one we chain to.
 *
 * vm.max_map_count: every page unprotected inside a read-only range
 * splits a VMA in up to three.  Faults charge 2 splits each (0 when a
 * neighbour page is already writable: that VMA just grows) against a
 * budget = max_map_count - mappings now - margin (recomputed at arm and
 * collect).  Past 1/4 of the budget faults unprotect 64 KiB granules,
 * past 1/2 2 MiB granules, past 3/4 the whole tracked range; if an
 * mprotect still fails (ENOMEM), the whole range is unprotected and
 * counted as written (stats.range_fallbacks).  collect's re-protection
 * merges the VMAs again.
 *
 * System calls that write into a read-only page fail with EFAULT (the
 * kernel does not raise SIGSEGV for them): call
 * dirty_prepare_syscall_write(buf, len) first. */
#define _GNU_SOURCE
#include "dirty_impl.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct dirty_reg reg;
static struct dirty_astats st;
static int ready;
static struct sigaction prev;          /* the handler we chain to */
static _Atomic unsigned long splits;   /* VMA splits charged since the last re-protection */
static _Atomic long budget;            /* splits we may add */

static void segv_handler(int sig, siginfo_t *si, void *uc);

static void recompute_budget(void)
{
    long max = dirty_max_map_count(), now = dirty_count_maps();
    if (now < 0)
        now = max / 2;
    long margin = 1024 + max / 32;
    long b = max - now - margin;
    atomic_store(&budget, b > 0 ? b : 0);
}

/* Unprotect [first, first+n) pages of r; on ENOMEM the whole range. */
static bool unprotect(struct dirty_range *r, size_t first, size_t n)
{
    uintptr_t s = atomic_load_explicit(&r->start, memory_order_relaxed);
    if (mprotect((void *)(s + (first << DIRTY_PAGE_SHIFT)), n << DIRTY_PAGE_SHIFT,
                 PROT_READ | PROT_WRITE) == 0) {
        dirty_range_mark(r, first, n);
        return true;
    }
    if (mprotect((void *)s, r->npages << DIRTY_PAGE_SHIFT, PROT_READ | PROT_WRITE) != 0)
        return false;
    atomic_store(&r->all_dirty, 1);
    atomic_fetch_add(&st.range_fallbacks, 1);
    return true;
}

/* Async-signal-safe. */
static bool handle_write(uintptr_t addr)
{
    struct dirty_range *r = dirty_reg_lookup(&reg, addr);
    if (!r)
        return false;
    uintptr_t s = atomic_load_explicit(&r->start, memory_order_relaxed);
    size_t page = (addr - s) >> DIRTY_PAGE_SHIFT;
    /* Charge 2 splits, unless a neighbour page is already writable (its
     * bit is set): then the unprotect extends that VMA instead. */
    bool left = page > 0 && dirty_range_test(r, page - 1);
    bool right = page + 1 < r->npages && dirty_range_test(r, page + 1);
    unsigned long n = atomic_fetch_add(&splits, (left || right) ? 0 : 2);
    long b = atomic_load(&budget);
    size_t gran;
    if ((long)n < b / 4)
        gran = 1;
    else if ((long)n < b / 2)
        gran = 16;        /* 64 KiB */
    else if ((long)n < 3 * (b / 4))
        gran = 512;       /* 2 MiB */
    else
        gran = r->npages; /* whole range */
    size_t first = page & ~(gran - 1), cnt = gran;
    if (gran >= r->npages) {
        first = 0;
        cnt = r->npages;
    } else if (first + cnt > r->npages) {
        cnt = r->npages - first;
    }
    if (!unprotect(r, first, cnt))
        return false;
    if (gran == r->npages) {
        atomic_store(&r->all_dirty, 1);
        atomic_fetch_add(&st.range_fallbacks, 1);
    } else if (gran > 1) {
        atomic_fetch_add(&st.coalesced, 1);
    }
    atomic_fetch_add(&st.faults, 1);
    return true;
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    struct sigaction p = prev;
    if ((p.sa_flags & SA_SIGINFO) && p.sa_sigaction != segv_handler) {
        p.sa_sigaction(sig, si, uc);
        return;
    }
    if (!(p.sa_flags & SA_SIGINFO) && p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN) {
        p.sa_handler(sig);
        return;
    }
    /* Default action: reset and let the fault happen again (for a real
     * fault, returning re-executes the instruction; for a signal sent by
     * kill(2), raise it again). */
    struct sigaction d;
    memset(&d, 0, sizeof d);
    d.sa_handler = SIG_DFL;
    sigemptyset(&d.sa_mask);
    sigaction(sig, &d, NULL);
    if (si->si_code <= 0)
        raise(sig);
}

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (si->si_code == SEGV_ACCERR && handle_write((uintptr_t)si->si_addr)) {
        errno = saved;
        return;
    }
    chain(sig, si, uc);
    errno = saved;
}

/* Make sure ours is the installed SIGSEGV handler; keep the current one
 * (if someone else's) as the one to chain to. */
static int install(void)
{
    struct sigaction cur, ours;
    if (sigaction(SIGSEGV, NULL, &cur) != 0)
        return -1;
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == segv_handler)
        return 0;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = segv_handler;
    ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    /* Every other signal blocked while the handler runs: a thread must not
     * be stopped (a collector's suspend signal) between unprotecting the
     * page and setting its bit, or another thread's store to the now
     * writable page, made before the stop, would escape the take that
     * follows. */
    sigfillset(&ours.sa_mask);
    prev = cur;
    return sigaction(SIGSEGV, &ours, NULL);
}

static int mp_probe(char *why, size_t len)
{
    void *p = mmap(NULL, DIRTY_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return dirty_why(why, len, "mprotect: mmap failed: %s", strerror(errno));
    int r = mprotect(p, DIRTY_PAGE, PROT_READ);
    int e = errno;
    munmap(p, DIRTY_PAGE);
    if (r != 0)
        return dirty_why(why, len, "mprotect: mprotect(PROT_READ) failed: %s", strerror(e));
    return 0;
}

static int mp_init(char *why, size_t len)
{
    if (ready)
        return 0;
    if (dirty_reg_init(&reg) != 0)
        return dirty_why(why, len, "mprotect: out of memory");
    memset(&st, 0, sizeof st);
    atomic_store(&splits, 0);
    recompute_budget();
    if (install() != 0) {
        dirty_reg_free(&reg);
        return dirty_why(why, len, "mprotect: sigaction(SIGSEGV) failed: %s", strerror(errno));
    }
    ready = 1;
    return 0;
}

static void *mp_map(size_t size, size_t align)
{
    char *p = dirty_map_aligned(size, align);
    /* Give the mapping its anon_vma now (a write does), before tracking
     * splits it: pieces that share one anon_vma merge again when collect
     * re-protects them.  Linux 6.1 does not merge a written piece back
     * between never-written ones (measured in the qemu guest), so without
     * this every page ever written stays a VMA of its own. */
    if (p)
        *(volatile char *)p = 0;
    return p;
}

static int mp_track(void *addr, size_t len)
{
    struct dirty_range *r = dirty_reg_add(&reg, (uintptr_t)addr, len);
    if (!r)
        return -1;
    if (mprotect(addr, len, PROT_READ) != 0) {
        int e = errno;
        dirty_reg_remove(&reg, (uintptr_t)addr, len);
        errno = e;
        return -1;
    }
    return 0;
}

static int mp_untrack(void *addr, size_t len)
{
    if (!dirty_reg_find_exact(&reg, (uintptr_t)addr, len)) {
        errno = ENOENT;
        return -1;
    }
    mprotect(addr, len, PROT_READ | PROT_WRITE); /* fails harmlessly if unmapped or moved */
    return dirty_reg_remove(&reg, (uintptr_t)addr, len);
}

static int mp_arm(void)
{
    int ret = install();
    atomic_fetch_add(&st.arms, 1);
    DIRTY_REG_FOREACH(&reg, r)
    {
        uintptr_t s = atomic_load(&r->start);
        dirty_range_clear(r);
        if (mprotect((void *)s, atomic_load(&r->end) - s, PROT_READ) != 0)
            ret = -1;
    }
    atomic_store(&splits, 0);
    recompute_budget();
    return ret;
}

struct cctx {
    dirty_run_fn fn;
    void *ctx;
    struct dirty_range *r;
};

static void reprotect_run(void *c, uintptr_t a, size_t len)
{
    struct cctx *cc = c;
    if (mprotect((void *)a, len, PROT_READ) != 0) {
        /* Could not split (ENOMEM): leave it writable, count it as
         * written again so the invariant "writable => bit set" holds. */
        uintptr_t s = atomic_load(&cc->r->start);
        dirty_range_mark(cc->r, (a - s) >> DIRTY_PAGE_SHIFT, len >> DIRTY_PAGE_SHIFT);
    }
}

static void report_run(void *c, uintptr_t a, size_t len)
{
    struct cctx *cc = c;
    cc->fn(cc->ctx, (void *)a, len);
}

static long collect_pages(dirty_run_fn fn, void *ctx, bool rearm)
{
    install();
    atomic_fetch_add(&st.collects, 1);
    unsigned long charged = atomic_load(&splits);
    struct cctx cc = {.fn = fn, .ctx = ctx};
    long pages = 0;
    DIRTY_REG_FOREACH(&reg, r)
    {
        size_t nruns;
        size_t n = dirty_range_take(r, &nruns);
        if (!n)
            continue;
        uintptr_t s = atomic_load(&r->start);
        cc.r = r;
        /* Many runs: one mprotect over the range (pages not taken are
         * read-only already, or writable with their bit set later, or
         * disarmed: those are armed again, an over-approximation). */
        if (!rearm) {
            /* take: the pages stay writable with their bits clear, like
             * disarmed pages. */
        } else if (nruns > 64 && nruns > r->npages / 256) {
            if (mprotect((void *)s, atomic_load(&r->end) - s, PROT_READ) != 0)
                dirty_snap_runs(r, reprotect_run, &cc);
        } else {
            dirty_snap_runs(r, reprotect_run, &cc);
        }
        dirty_snap_runs(r, report_run, &cc);
        pages += (long)n;
        atomic_fetch_add(&st.runs_reported, nruns);
    }
    if (rearm)
        atomic_fetch_sub(&splits, charged);
    recompute_budget();
    atomic_fetch_add(&st.pages_reported, (uint64_t)pages);
    return pages;
}

static long mp_collect(dirty_run_fn fn, void *ctx) { return collect_pages(fn, ctx, true); }
static long mp_take(dirty_run_fn fn, void *ctx) { return collect_pages(fn, ctx, false); }

static int mp_arm_range(void *addr, size_t len)
{
    install();
    struct dirty_range *r = dirty_reg_clear_pages(&reg, (uintptr_t)addr, len);
    if (!r)
        return -1;
    if (mprotect(addr, len, PROT_READ) != 0) {
        /* No VMA left to split: stays writable and counts as written. */
        uintptr_t s = atomic_load(&r->start);
        dirty_range_mark(r, ((uintptr_t)addr - s) >> DIRTY_PAGE_SHIFT, len >> DIRTY_PAGE_SHIFT);
        atomic_fetch_add(&st.range_fallbacks, 1);
    }
    return 0;
}

static int mp_disarm_range(void *addr, size_t len)
{
    if (!dirty_reg_clear_pages(&reg, (uintptr_t)addr, len))
        return -1;
    /* If the split fails the pages stay armed: their writes are reported. */
    mprotect(addr, len, PROT_READ | PROT_WRITE);
    return 0;
}

static int mp_prepare(void *addr, size_t len)
{
    uintptr_t s = (uintptr_t)addr & ~(uintptr_t)(DIRTY_PAGE - 1);
    uintptr_t e = ((uintptr_t)addr + len + DIRTY_PAGE - 1) & ~(uintptr_t)(DIRTY_PAGE - 1);
    if (!ready || !len)
        return 0;
    int ret = 0;
    DIRTY_REG_FOREACH(&reg, r)
    {
        uintptr_t rs = atomic_load(&r->start), re = atomic_load(&r->end);
        uintptr_t a = s > rs ? s : rs, b = e < re ? e : re;
        if (a >= b)
            continue;
        atomic_fetch_add(&splits, 2);
        if (!unprotect(r, (a - rs) >> DIRTY_PAGE_SHIFT, (b - a) >> DIRTY_PAGE_SHIFT))
            ret = -1;
        atomic_fetch_add(&st.syscall_prepares, 1);
    }
    return ret;
}

static void mp_stats(struct dirty_stats *out)
{
    dirty_copy_stats(&st, out);
}

static void mp_teardown(void)
{
    if (!ready)
        return;
    DIRTY_REG_FOREACH(&reg, r)
    {
        uintptr_t s = atomic_load(&r->start);
        mprotect((void *)s, atomic_load(&r->end) - s, PROT_READ | PROT_WRITE);
    }
    struct sigaction cur;
    if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == segv_handler)
        sigaction(SIGSEGV, &prev, NULL);
    dirty_reg_free(&reg);
    ready = 0;
}

struct dirty_backend dirty_backend_mprotect = {
    .name = "mprotect",
    .caps = {.complete = true, .precise = true, .granule = 4096, .max_run = SIZE_MAX,
             .atomic_collect = true, .process_wide = false, .syscall_write = DIRTY_SYSCALL_EFAULT,
             .uses_sigsegv = true, .user_write_faults = true, .fork_child_all_dirty = false},
    .probe = mp_probe,
    .init = mp_init,
    .map = mp_map,
    .unmap = dirty_unmap_plain,
    .track = mp_track,
    .untrack = mp_untrack,
    .arm = mp_arm,
    .collect = mp_collect,
    .arm_range = mp_arm_range,
    .disarm_range = mp_disarm_range,
    .take = mp_take,
    .release = dirty_release_plain,
    .prepare_syscall_write = mp_prepare,
    .stats = mp_stats,
    .teardown = mp_teardown,
};
