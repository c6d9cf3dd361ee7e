/* dirty_uffd.c - userfaultfd write-protect with a handler thread.
 *
 * track registers the range in WP mode and write-protects it.  A write to
 * a protected page blocks the writer and queues a message; our handler
 * thread reads it, removes the protection of that one page
 * (UFFDIO_WRITEPROTECT, mode DONTWAKE), sets the page's bit in the range
 * bitmap, then wakes the writer (UFFDIO_WAKE).  collect moves the bits out of the
 * bitmap (atomic exchange per 64 pages), write-protects the pages it took,
 * then hands them to the callback.  Ordering argument (also for mprotect):
 * the writer's store happens only after the handler unprotected the page
 * and then set its bit, so a collect that follows the store sees the bit;
 * a page collect did not take either stays protected or gets its bit set
 * before its store lands (reported next time); a page collect took is
 * protected again before the callback sees it (a store retried after
 * that faults again).
 *
 * Ranges are registered in MISSING mode as well as WP: MADV_DONTNEED on
 * anonymous memory drops the write-protect markers (measured on 6.18), and
 * before Linux 6.4 (no UFFD_FEATURE_WP_UNPOPULATED) write-protecting a
 * never-touched page does nothing at all (measured on Debian's 6.1), so
 * the first touch of such a page is a missing fault, which the handler
 * resolves with a zero page (write: page marked written; read: zero page
 * installed write-protected).  With WP_UNPOPULATED (asked for when
 * offered) only released pages take that path. */
#define _GNU_SOURCE
#include "dirty_impl.h"
#include "linux_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static struct dirty_reg reg;
static struct dirty_astats st;
static int uffd = -1, stop_pipe[2] = {-1, -1};
static bool user_mode_only;
static pid_t owner;
static pthread_t handler;
static char zero_page[4096] __attribute__((aligned(4096)));
static bool handler_running;
static pthread_mutex_t wp_mu = PTHREAD_MUTEX_INITIALIZER;

static int wp_range(uintptr_t s, size_t len, bool on) { return dirty_uffd_wp(uffd, s, len, on); }

/* Without this thread every write to a protected page would wait forever:
 * the end of the program, with the reason, is better than a hang. */
__attribute__((noreturn)) static void handler_died(const char *what)
{
    char msg[160];
    snprintf(msg, sizeof msg,
             "dirty tracking (uffd): the fault handler thread cannot go on (%s: %s); "
             "writes to protected heap pages would wait forever",
             what, strerror(errno));
    dirty_fatal(msg);
}

static void *handler_main(void *arg)
{
    (void)arg;
    struct uffd_msg msgs[64];
    struct pollfd pf[2] = {{.fd = uffd, .events = POLLIN}, {.fd = stop_pipe[0], .events = POLLIN}};
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            handler_died("poll");
        }
        if (pf[1].revents)
            break;
        ssize_t n = dirty_fault_handler() ? -1 : read(uffd, msgs, sizeof msgs);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            handler_died("read");
        }
        for (size_t i = 0; i < (size_t)n / sizeof msgs[0]; i++) {
            struct uffd_msg *m = &msgs[i];
            if (m->event != UFFD_EVENT_PAGEFAULT)
                continue;
            uintptr_t page = (uintptr_t)m->arg.pagefault.address & ~(uintptr_t)(DIRTY_PAGE - 1);
            uint64_t fl = m->arg.pagefault.flags;
            bool mark = true;
            /* Unprotect and mark as one step with respect to collect and
             * take (wp_mu): another thread's store to the page, once it is
             * writable, must not escape a take that finds the bit clear. */
            pthread_mutex_lock(&wp_mu);
            if (fl & UFFD_PAGEFAULT_FLAG_WP) {
                /* Unprotect without waking, mark, then wake: the
                 * writer's store lands after its bit is set (so a
                 * collect that follows it in program order sees it),
                 * and a collect that took the bit before the wake
                 * re-protected the page, so the retried store faults
                 * again. */
                struct uffdio_writeprotect wp = {.range = {.start = page, .len = DIRTY_PAGE},
                                                 .mode = UFFDIO_WRITEPROTECT_MODE_DONTWAKE};
                while (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) != 0 && errno == EAGAIN)
                    ;
            } else {
                /* Missing page (released with MADV_DONTNEED, whose zap
                 * dropped the write-protect marker): install a zero
                 * page, write-protected if this is a read. */
                mark = (fl & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
                struct uffdio_copy cp = {.dst = page, .src = (uintptr_t)zero_page, .len = DIRTY_PAGE,
                                         .mode = UFFDIO_COPY_MODE_DONTWAKE |
                                                 (mark ? 0 : UFFDIO_COPY_MODE_WP)};
                /* EEXIST (populated meanwhile) needs nothing but the wake. */
                while (ioctl(uffd, UFFDIO_COPY, &cp) != 0 && errno == EAGAIN)
                    cp.copy = 0;
            }
            if (mark) {
                struct dirty_range *r = dirty_reg_lookup(&reg, page);
                if (r)
                    dirty_range_mark(r, (page - atomic_load(&r->start)) >> DIRTY_PAGE_SHIFT, 1);
                atomic_fetch_add(&st.faults, 1);
            }
            pthread_mutex_unlock(&wp_mu);
            struct uffdio_range rg = {.start = page, .len = DIRTY_PAGE};
            ioctl(uffd, UFFDIO_WAKE, &rg);
        }
    }
    return NULL;
}

/* The kernel offers what this backend needs; says why not otherwise. */
static int check_features(bool *user_mode, uint64_t *avail, char *why, size_t len)
{
    char tmp[256] = "";
    if (dirty_uffd_features(avail, user_mode, tmp, sizeof tmp) != 0)
        return dirty_why(why, len, "uffd: %s", tmp);
    if (!(*avail & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
        return dirty_why(why, len, "uffd: kernel lacks write-protect support for anonymous memory "
                                   "(UFFD_FEATURE_PAGEFAULT_FLAG_WP, Linux >= 5.7)");
    return 0;
}

static int open_all(char *why, size_t len)
{
    char tmp[256] = "";
    uint64_t got, avail;
    if (check_features(&user_mode_only, &avail, why, len) != 0)
        return -1;
    int fd = dirty_uffd_open(true, &user_mode_only, tmp, sizeof tmp);
    if (fd < 0)
        return dirty_why(why, len, "uffd: %s", tmp);
    uint64_t want = UFFD_FEATURE_PAGEFAULT_FLAG_WP | (avail & UFFD_FEATURE_WP_UNPOPULATED);
    if (dirty_uffd_api(fd, want, &got) != 0) {
        int e = errno;
        close(fd);
        return dirty_why(why, len, "uffd: UFFDIO_API failed: %s", strerror(e));
    }
    if (pipe2(stop_pipe, O_CLOEXEC) != 0) {
        int e = errno;
        close(fd);
        return dirty_why(why, len, "uffd: pipe2: %s", strerror(e));
    }
    uffd = fd;
    owner = getpid();
    int e = dirty_thread_create(&handler, handler_main, NULL);
    if (e != 0) {
        close(fd);
        close(stop_pipe[0]);
        close(stop_pipe[1]);
        uffd = stop_pipe[0] = stop_pipe[1] = -1;
        return dirty_why(why, len, "uffd: cannot start the handler thread: %s", strerror(e));
    }
    handler_running = true;
    dirty_backend_uffd.caps.syscall_write = user_mode_only ? DIRTY_SYSCALL_EFAULT : DIRTY_SYSCALL_SEEN;
    return 0;
}

static void close_all(bool join)
{
    if (handler_running && join) {
        char c = 0;
        ssize_t w = write(stop_pipe[1], &c, 1);
        (void)w;
        pthread_join(handler, NULL);
    }
    handler_running = false;
    if (uffd >= 0)
        close(uffd);
    if (stop_pipe[0] >= 0)
        close(stop_pipe[0]);
    if (stop_pipe[1] >= 0)
        close(stop_pipe[1]);
    uffd = stop_pipe[0] = stop_pipe[1] = -1;
}


/* Child of fork(): the handler thread does not exist here and the kernel
 * dropped the registrations.  Start over; everything counts as written. */
static int check_fork(void)
{
    if (owner == getpid())
        return 0;
    /* The parent's handler thread may have held it at the fork. */
    pthread_mutex_init(&wp_mu, NULL);
    close_all(false);
    if (open_all(NULL, 0) != 0)
        return -1;
    atomic_fetch_add(&st.fork_resets, 1);
    dirty_uffd_reregister_all(&reg, uffd, UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING);
    return 0;
}

static int uf_probe(char *why, size_t len)
{
    bool umo;
    uint64_t avail;
    return check_features(&umo, &avail, why, len);
}

static int uf_init(char *why, size_t len)
{
    if (uffd >= 0)
        return 0;
    if (dirty_reg_init(&reg) != 0)
        return dirty_why(why, len, "uffd: out of memory");
    memset(&st, 0, sizeof st);
    if (open_all(why, len) != 0) {
        dirty_reg_free(&reg);
        return -1;
    }
    return 0;
}


static int uf_track(void *addr, size_t len)
{
    if (check_fork() != 0)
        return -1;
    return dirty_uffd_track(&reg, uffd, UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING, addr, len);
}

static int uf_untrack(void *addr, size_t len)
{
    /* In a fork child wp_mu may be the parent's handler's, held at the
     * fork: check_fork makes it new (fork_marking with uffd hung 1 run in
     * about 10 under asan). */
    if (check_fork() != 0)
        return -1;
    /* Under wp_mu, as the handler marks: the range's bitmaps are unmapped
     * here (TSan saw a mark race with the unmap). */
    pthread_mutex_lock(&wp_mu);
    int rc = dirty_uffd_untrack(&reg, uffd, owner, addr, len);
    pthread_mutex_unlock(&wp_mu);
    return rc;
}

static int uf_arm(void)
{
    if (check_fork() != 0)
        return -1;
    int ret = 0;
    atomic_fetch_add(&st.arms, 1);
    pthread_mutex_lock(&wp_mu);
    DIRTY_REG_FOREACH(&reg, r)
    {
        uintptr_t s = atomic_load(&r->start);
        dirty_range_clear(r);
        if (wp_range(s, atomic_load(&r->end) - s, true) != 0)
            ret = -1;
    }
    pthread_mutex_unlock(&wp_mu);
    return ret;
}

struct cctx {
    dirty_run_fn fn;
    void *ctx;
    int err;
};

static void reprotect_run(void *c, uintptr_t a, size_t len)
{
    struct cctx *cc = c;
    if (wp_range(a, len, true) != 0 && !cc->err)
        cc->err = errno;
}

static void report_run(void *c, uintptr_t a, size_t len)
{
    struct cctx *cc = c;
    cc->fn(cc->ctx, (void *)a, len);
}

static long collect_pages(dirty_run_fn fn, void *ctx, bool rearm)
{
    if (check_fork() != 0)
        return -1;
    atomic_fetch_add(&st.collects, 1);
    struct cctx cc = {.fn = fn, .ctx = ctx, .err = 0};
    long pages = 0;
    DIRTY_REG_FOREACH(&reg, r)
    {
        size_t nruns;
        pthread_mutex_lock(&wp_mu);
        size_t n = dirty_range_take(r, &nruns);
        if (!n) {
            pthread_mutex_unlock(&wp_mu);
            continue;
        }
        uintptr_t s = atomic_load(&r->start);
        /* Many runs: one ioctl over the range beats one per run.  Pages
         * not taken are protected or have their bit set (see the top). */
        if (!rearm) {
            /* take: the handler already made the pages writable. */
        } else if (nruns > 64 && nruns > r->npages / 256) {
            if (wp_range(s, atomic_load(&r->end) - s, true) != 0 && !cc.err)
                cc.err = errno;
        } else {
            dirty_snap_runs(r, reprotect_run, &cc);
        }
        pthread_mutex_unlock(&wp_mu);
        dirty_snap_runs(r, report_run, &cc);
        pages += (long)n;
        atomic_fetch_add(&st.runs_reported, nruns);
    }
    atomic_fetch_add(&st.pages_reported, (uint64_t)pages);
    if (cc.err) {
        errno = cc.err;
        return -1;
    }
    return pages;
}

static long uf_collect(dirty_run_fn fn, void *ctx) { return collect_pages(fn, ctx, true); }
static long uf_take(dirty_run_fn fn, void *ctx) { return collect_pages(fn, ctx, false); }

static int set_range(void *addr, size_t len, bool on)
{
    if (check_fork() != 0)
        return -1;
    pthread_mutex_lock(&wp_mu);
    int rc = dirty_reg_clear_pages(&reg, (uintptr_t)addr, len) ? wp_range((uintptr_t)addr, len, on) : -1;
    pthread_mutex_unlock(&wp_mu);
    return rc;
}

static int uf_arm_range(void *addr, size_t len) { return set_range(addr, len, true); }
static int uf_disarm_range(void *addr, size_t len) { return set_range(addr, len, false); }

static void uf_stats(struct dirty_stats *out)
{
    dirty_copy_stats(&st, out);
}

static void uf_teardown(void)
{
    bool mine = owner == getpid();
    if (uffd >= 0 && mine) {
        DIRTY_REG_FOREACH(&reg, r)
        {
            uintptr_t s = atomic_load(&r->start);
            struct uffdio_range rg = {.start = s, .len = atomic_load(&r->end) - s};
            ioctl(uffd, UFFDIO_UNREGISTER, &rg);
        }
    }
    close_all(mine);
    dirty_reg_free(&reg);
}

struct dirty_backend dirty_backend_uffd = {
    .name = "uffd",
    .caps = {.complete = true, .precise = true, .granule = 4096, .max_run = 4096,
             .atomic_collect = true, .process_wide = false, .syscall_write = DIRTY_SYSCALL_SEEN,
             .uses_sigsegv = false, .user_write_faults = true, .fork_child_all_dirty = true},
    .probe = uf_probe,
    .init = uf_init,
    .map = dirty_map_aligned,
    .unmap = dirty_unmap_plain,
    .track = uf_track,
    .untrack = uf_untrack,
    .arm = uf_arm,
    .collect = uf_collect,
    .arm_range = uf_arm_range,
    .disarm_range = uf_disarm_range,
    .take = uf_take,
    .release = dirty_release_plain,
    .prepare_syscall_write = dirty_nop_prepare,
    .stats = uf_stats,
    .teardown = uf_teardown,
};
