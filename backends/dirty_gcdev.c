/* dirty_gcdev.c - the cogc kernel module's device, /dev/cogc
 * (backends/kmod/, user interface in backends/kmod/cogc_dev.h).
 *
 * map() maps device memory: one open of /dev/cogc is one sparse memory
 * object, each map takes the next free offsets in it.  The module tracks
 * every page: a write to a protected page is recorded in the device's
 * dirty set by the kernel and the page made writable, no signal, no trip
 * to user space.  track/arm write-protect a range (COGC_IOC_PROTECT on its
 * offsets); collect read()s runs of dirty offsets - the module re-protects
 * them before read returns, which makes collect atomic - and turns them
 * back into addresses of tracked ranges.  Offsets are taken from
 * /proc/self/maps at track time, so a range moved with mremap keeps its
 * pages.  release is MADV_REMOVE: the memory is a shared shmem mapping,
 * MADV_DONTNEED would only drop the page-table entries.
 *
 * fork: a shared mapping would leave parent and child writing the same
 * pages.  A pthread_atfork prepare handler arms the device
 * (COGC_IOC_FORK_PREPARE): inside fork() the module protects every page
 * and makes the parent's writes wait.  The child opens a new context, has
 * the module copy the pages into it (COGC_IOC_CLONE), maps it over the
 * same addresses, and tells the parent, which thaws.  The child's first
 * collect reports everything.  The handlers are registered by a
 * constructor, before the collector's own: the child's runs first, before
 * anything in the child writes to the heap.  A child that cannot get its
 * copy (no descriptor left, the copy failed, the remap failed) must not
 * go on sharing the parent's pages: it reports "cogc: fatal:" with the
 * step and errno and aborts.  A fork that bypasses pthread_atfork (a raw
 * clone system call) is caught by the module: the child's mappings refuse
 * access (SIGBUS), see docs/kmod.md. */
#define _GNU_SOURCE
#include "dirty_impl.h"
#include "kmod/cogc_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEV_PATH "/dev/cogc"
#define READ_RUNS 4096

/* A tracked range and the device offset of its first page. */
struct span {
    uintptr_t start, end;
    uint64_t off;
};

static struct dirty_reg reg;
static struct dirty_astats st;
static int fd = -1;
static pid_t owner;
static uint64_t next_off;
/* The memory object, as /proc/self/maps names it: an inode number is
 * unique only on its device (the kernel's internal tmpfs numbers its
 * inodes from 1, like any other file system). */
struct shm_id {
    uint64_t ino;
    unsigned major, minor;
};
static struct shm_id shm;
static struct cogc_run *runs;
static struct span *spans;  /* tracked ranges by offset, rebuilt when dirty */
static size_t nspans;
static bool spans_stale = true;
static uint64_t *range_off; /* per registry slot: offset of the range */

static int open_dev(char *why, size_t len)
{
    int f = open(DEV_PATH, O_RDWR | O_CLOEXEC);
    if (f < 0) {
        if (errno == ENOENT)
            return dirty_why(why, len, "gcdev: " DEV_PATH " not present (kernel module cogc.ko not loaded)");
        return dirty_why(why, len, "gcdev: cannot open " DEV_PATH ": %s", strerror(errno));
    }
    return f;
}

static int dev_ino(int f, struct shm_id *id)
{
    struct cogc_stats s;
    if (ioctl(f, COGC_IOC_STATS, &s) != 0)
        return -1;
    id->ino = s.ino;
    id->major = s.dev_major;
    id->minor = s.dev_minor;
    return 0;
}

/* The path /proc/self/maps shows for the object: "/cogc (deleted)". */
static bool shm_path(const char *p)
{
    size_t n = strlen("/" COGC_DEV_NAME);
    return strncmp(p, "/" COGC_DEV_NAME, n) == 0 && (p[n] == '\n' || p[n] == '\0' || p[n] == ' ');
}

static int protect(int f, uint64_t off, size_t len)
{
    struct cogc_range r = {.offset = off, .len = len};
    return ioctl(f, COGC_IOC_PROTECT, &r);
}

static int unprotect(int f, uint64_t off, size_t len)
{
    struct cogc_range r = {.offset = off, .len = len};
    return ioctl(f, COGC_IOC_UNPROTECT, &r);
}

/* Map `size` bytes at offset `off` of device `f`, `align`-aligned. */
static void *map_at(int f, uint64_t off, size_t size, size_t align)
{
    size_t total = size + align - DIRTY_PAGE;
    if (total < size) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    void *q = mmap((void *)a, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, f, (off_t)off);
    if (q == MAP_FAILED) {
        int e = errno;
        munmap(p, total);
        errno = e;
        return NULL;
    }
    size_t head = a - (uintptr_t)p, tail = total - head - size;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((char *)a + size, tail);
    return q;
}

/* Calls fn for each mapping of our device's memory in /proc/self/maps:
 * start, end, protection, file offset.  Returns -1 if maps is unreadable.
 * A mapping is ours by device, inode number and name: the inode number
 * alone once matched libcogc.so itself (another file system, same number,
 * "cogc" in its name), and the fork child mapped the heap over the
 * collector's own code. */
typedef int (*maps_fn)(void *ctx, uintptr_t s, uintptr_t e, int prot, uint64_t off);
static int maps_each(maps_fn fn, void *ctx)
{
    FILE *m = fopen("/proc/self/maps", "re");
    if (!m)
        return -1;
    char line[512];
    int ret = 0;
    while (fgets(line, sizeof line, m)) {
        uintptr_t s, e;
        uint64_t off, ino;
        char perms[8];
        unsigned maj, min;
        int pos = 0;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNx64 " %x:%x %" SCNu64 " %n", &s, &e, perms,
                   &off, &maj, &min, &ino, &pos) < 7 || ino != shm.ino || maj != shm.major ||
            min != shm.minor || !pos || !shm_path(line + pos))
            continue;
        int prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0);
        if ((ret = fn(ctx, s, e, prot, off)) != 0)
            break;
    }
    fclose(m);
    return ret;
}

struct find { uintptr_t addr; uint64_t off; bool found; };

static int find_cb(void *c, uintptr_t s, uintptr_t e, int prot, uint64_t off)
{
    (void)prot;
    struct find *f = c;
    if (f->addr >= s && f->addr < e) {
        f->off = off + (f->addr - s);
        f->found = true;
        return 1;
    }
    return 0;
}

/* ---- fork ----------------------------------------------------------- */

static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static int fork_pipe[2] = {-1, -1};
static bool fork_frozen;

/* What prepare could not do, for the child's report (0: nothing failed
 * or nothing to do). */
static const char *fork_failed_step;
static int fork_failed_errno;

static void before_fork(void)
{
    pthread_mutex_lock(&fork_lock);
    fork_frozen = false;
    fork_failed_step = NULL;
    if (fd < 0 || owner != getpid())
        return;
    if (pipe2(fork_pipe, O_CLOEXEC) != 0) {
        fork_failed_step = "pipe2";
        fork_failed_errno = errno;
        return;
    }
    fork_frozen = ioctl(fd, COGC_IOC_FORK_PREPARE) == 0;
    if (!fork_frozen) {
        fork_failed_step = "COGC_IOC_FORK_PREPARE";
        fork_failed_errno = errno;
        close(fork_pipe[0]);
        close(fork_pipe[1]);
    }
}

static void after_fork_parent(void)
{
    if (fork_frozen) {
        char c;
        close(fork_pipe[1]); /* EOF once the child is done, or if fork failed */
        while (read(fork_pipe[0], &c, 1) < 0 && errno == EINTR)
            ;
        close(fork_pipe[0]);
        ioctl(fd, COGC_IOC_THAW);
    }
    fork_frozen = false;
    pthread_mutex_unlock(&fork_lock);
}

static int remap_cb(void *c, uintptr_t s, uintptr_t e, int prot, uint64_t off)
{
    int nf = *(int *)c;
    return mmap((void *)s, e - s, prot, MAP_SHARED | MAP_FIXED, nf, (off_t)off) == MAP_FAILED ? -1 : 0;
}

/* The child could not get a heap of its own: with the parent's pages it
 * would write the parent's heap.  Only async-signal-safe calls here (a
 * fork child of a threaded program). */
__attribute__((noreturn)) static void child_fatal(const char *step, int err)
{
    char num[16], *p = num + sizeof num;
    unsigned e = err > 0 ? (unsigned)err : 0;
    *--p = 0;
    do
        *--p = (char)('0' + e % 10);
    while ((e /= 10) > 0);
    const char *name = strerrorname_np(err);
    const char *parts[] = {"cogc: fatal: gcdev: the fork child cannot get its own copy of the heap (", step,
                           ": ", name ? name : "?", ", errno ", p, "); it would share the parent's pages\n"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        ssize_t w = write(STDERR_FILENO, parts[i], strlen(parts[i]));
        (void)w;
    }
    abort();
}

/* Child: a context of our own with a copy of the pages, at the same
 * addresses; on any failure child_fatal. */
static void after_fork_child(void)
{
    if (!fork_frozen && fork_failed_step)
        child_fatal(fork_failed_step, fork_failed_errno);
    if (fork_frozen) {
        const char *step = "open " DEV_PATH;
        int nf = open(DEV_PATH, O_RDWR | O_CLOEXEC);
        struct shm_id id;
        bool ok = nf >= 0;
        if (ok && !(ok = ioctl(nf, COGC_IOC_CLONE, fd) == 0))
            step = "COGC_IOC_CLONE";
        if (ok && !(ok = dev_ino(nf, &id) == 0))
            step = "COGC_IOC_STATS";
        if (ok && !(ok = maps_each(remap_cb, &nf) == 0))
            step = "mmap over the heap";
        if (!ok)
            child_fatal(step, errno);
        close(fd);
        fd = nf;
        shm = id;
        owner = getpid();
        DIRTY_REG_FOREACH(&reg, r)
        {
            atomic_store(&r->all_dirty, 1);
        }
        atomic_fetch_add(&st.fork_resets, 1);
        ssize_t w = write(fork_pipe[1], "x", 1);
        (void)w;
        close(fork_pipe[0]);
        close(fork_pipe[1]);
    }
    fork_frozen = false;
    pthread_mutex_unlock(&fork_lock);
}

__attribute__((constructor)) static void register_fork_handlers(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* ---- the backend ---------------------------------------------------- */

static int gd_probe(char *why, size_t len)
{
    int f = open_dev(why, len);
    if (f < 0)
        return -1;
    int ret = -1;
    struct shm_id id;
    char *p = MAP_FAILED;
    if (dev_ino(f, &id) != 0) {
        dirty_why(why, len, "gcdev: COGC_IOC_STATS failed (%s): module too old?", strerror(errno));
        goto out;
    }
    p = mmap(NULL, 2 * DIRTY_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    if (p == MAP_FAILED) {
        dirty_why(why, len, "gcdev: mmap of " DEV_PATH " failed: %s", strerror(errno));
        goto out;
    }
    p[0] = 1;
    if (protect(f, 0, 2 * DIRTY_PAGE) != 0) {
        dirty_why(why, len, "gcdev: COGC_IOC_PROTECT failed: %s", strerror(errno));
        goto out;
    }
    p[DIRTY_PAGE] = 1;
    struct cogc_run r[2];
    ssize_t n = read(f, r, sizeof r);
    if (n != (ssize_t)sizeof r[0] || r[0].offset != DIRTY_PAGE || r[0].len != DIRTY_PAGE) {
        dirty_why(why, len, "gcdev: the device did not report exactly the written page (read: %zd)", n);
        goto out;
    }
    ret = 0;
out:
    if (p != MAP_FAILED)
        munmap(p, 2 * DIRTY_PAGE);
    close(f);
    return ret;
}

/* Close the device and free what init allocated (a failed init, or
 * teardown); the mappings keep their memory until they are unmapped. */
static void release_state(void)
{
    if (fd >= 0)
        close(fd);
    fd = -1;
    dirty_reg_free(&reg);
    free(runs);
    free(spans);
    free(range_off);
    runs = NULL;
    spans = NULL;
    range_off = NULL;
}

static int gd_init(char *why, size_t len)
{
    if (fd >= 0)
        return 0;
    runs = malloc(READ_RUNS * sizeof *runs);
    spans = malloc(DIRTY_MAX_RANGES * sizeof *spans);
    range_off = calloc(DIRTY_MAX_RANGES, sizeof *range_off);
    if (!runs || !spans || !range_off || dirty_reg_init(&reg) != 0)
        goto nomem;
    fd = open_dev(why, len);
    if (fd < 0 || dev_ino(fd, &shm) != 0) {
        if (fd >= 0)
            dirty_why(why, len, "gcdev: COGC_IOC_STATS failed: %s", strerror(errno));
        goto fail;
    }
    owner = getpid();
    next_off = 0;
    spans_stale = true;
    memset(&st, 0, sizeof st);
    return 0;
nomem:
    dirty_why(why, len, "gcdev: out of memory");
fail:
    release_state();
    return -1;
}

static void *gd_map(size_t size, size_t align)
{
    if (fd < 0 || !size || (size & (DIRTY_PAGE - 1)) || align < DIRTY_PAGE || (align & (align - 1))) {
        errno = fd < 0 ? EBADF : EINVAL;
        return NULL;
    }
    void *p = map_at(fd, next_off, size, align);
    if (p)
        next_off += size;
    return p;
}

static int gd_unmap(void *addr, size_t size)
{
    madvise(addr, size, MADV_REMOVE); /* free the pages; fails harmlessly if not ours */
    return munmap(addr, size);
}

static int gd_release(void *addr, size_t len)
{
    return madvise(addr, len, MADV_REMOVE);
}

static int gd_track(void *addr, size_t len)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    struct find f = {.addr = (uintptr_t)addr};
    struct find last = {.addr = (uintptr_t)addr + len - 1};
    if (!dirty_aligned_args(addr, len) || maps_each(find_cb, &f) < 0 || !f.found ||
        maps_each(find_cb, &last) < 0 || !last.found || last.off - f.off != len - 1) {
        errno = EINVAL; /* not one piece of device memory */
        return -1;
    }
    struct dirty_range *r = dirty_reg_add(&reg, (uintptr_t)addr, len);
    if (!r)
        return -1;
    range_off[r - reg.r] = f.off;
    spans_stale = true;
    if (protect(fd, f.off, len) != 0) {
        int e = errno;
        dirty_reg_remove(&reg, (uintptr_t)addr, len);
        errno = e;
        return -1;
    }
    return 0;
}

static int gd_untrack(void *addr, size_t len)
{
    spans_stale = true;
    return dirty_reg_remove(&reg, (uintptr_t)addr, len);
}

static int gd_arm(void)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    int ret = 0;
    atomic_fetch_add(&st.arms, 1);
    DIRTY_REG_FOREACH(&reg, r)
    {
        uintptr_t s = atomic_load(&r->start);
        atomic_store(&r->all_dirty, 0);
        if (protect(fd, range_off[r - reg.r], atomic_load(&r->end) - s) != 0)
            ret = -1;
    }
    return ret;
}

/* The tracked range holding [addr, addr+len), or NULL (EINVAL). */
static struct dirty_range *range_of(void *addr, size_t len)
{
    struct dirty_range *r = dirty_aligned_args(addr, len) ? dirty_reg_lookup(&reg, (uintptr_t)addr) : NULL;
    if (!r || (uintptr_t)addr + len > atomic_load(&r->end)) {
        errno = EINVAL;
        return NULL;
    }
    return r;
}

/* Selective arming: arm_range protects just these pages (and forgets
 * their dirty state); disarm_range has the device stop watching them
 * (COGC_IOC_UNPROTECT: out of the dirty set, their writes unrecorded; a
 * page still protected takes one last, unrecorded fault); take leaves the
 * pages it reports writable and unwatched (COGC_IOC_TAKE).  Only armed
 * pages are reported (caps.reports_disarmed = false). */
static int gd_arm_range(void *addr, size_t len)
{
    struct dirty_range *r = range_of(addr, len);
    if (!r)
        return -1;
    uintptr_t s = atomic_load(&r->start);
    return protect(fd, range_off[r - reg.r] + ((uintptr_t)addr - s), len);
}

static int gd_disarm_range(void *addr, size_t len)
{
    struct dirty_range *r = range_of(addr, len);
    if (!r)
        return -1;
    uintptr_t s = atomic_load(&r->start);
    return unprotect(fd, range_off[r - reg.r] + ((uintptr_t)addr - s), len);
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static void rebuild_spans(void)
{
    nspans = 0;
    DIRTY_REG_FOREACH(&reg, r)
    {
        spans[nspans].start = atomic_load(&r->start);
        spans[nspans].end = atomic_load(&r->end);
        spans[nspans].off = range_off[r - reg.r];
        nspans++;
    }
    qsort(spans, nspans, sizeof *spans, span_cmp);
    spans_stale = false;
}

/* Hand a run of dirty offsets to fn as address runs of tracked ranges;
 * offsets outside every tracked range are dropped.  *k: the span to start
 * searching from (runs come in increasing offsets). */
static long deliver(uint64_t off, uint64_t len, size_t *k, dirty_run_fn fn, void *ctx)
{
    long pages = 0;
    uint64_t end = off + len;
    while (*k < nspans && spans[*k].off + (spans[*k].end - spans[*k].start) <= off)
        (*k)++;
    for (size_t i = *k; i < nspans && spans[i].off < end; i++) {
        uint64_t so = spans[i].off, se = so + (spans[i].end - spans[i].start);
        uint64_t a = off > so ? off : so, b = end < se ? end : se;
        if (a >= b)
            continue;
        fn(ctx, (void *)(spans[i].start + (a - so)), b - a);
        pages += (long)((b - a) >> DIRTY_PAGE_SHIFT);
        atomic_fetch_add(&st.runs_reported, 1);
    }
    return pages;
}

/* The next runs of the dirty set: read (re-protects them) or
 * COGC_IOC_TAKE (leaves them writable, unwatched).  Bytes, as read. */
static ssize_t next_runs(bool take)
{
    if (!take)
        return read(fd, runs, READ_RUNS * sizeof *runs);
    struct cogc_take t = {.runs = (uintptr_t)runs, .nruns = READ_RUNS};
    long n = ioctl(fd, COGC_IOC_TAKE, &t);
    return n < 0 ? -1 : (ssize_t)((size_t)n * sizeof *runs);
}

static long gd_report(dirty_run_fn fn, void *ctx, bool take)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    atomic_fetch_add(&st.collects, 1);
    if (spans_stale)
        rebuild_spans();
    long pages = 0;
    /* Ranges that count as written whole (fork child): re-armed (collect)
     * or left unwatched (take) first. */
    DIRTY_REG_FOREACH(&reg, r)
    {
        if (!atomic_load(&r->all_dirty))
            continue;
        uintptr_t s = atomic_load(&r->start), e = atomic_load(&r->end);
        if (take)
            unprotect(fd, range_off[r - reg.r], e - s);
        else
            protect(fd, range_off[r - reg.r], e - s);
        atomic_store(&r->all_dirty, 0);
        fn(ctx, (void *)s, e - s);
        pages += (long)((e - s) >> DIRTY_PAGE_SHIFT);
    }
    size_t k = 0;
    for (;;) {
        ssize_t n = next_runs(take);
        atomic_fetch_add(&st.scan_calls, 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t m = (size_t)n / sizeof *runs;
        for (size_t i = 0; i < m; i++)
            pages += deliver(runs[i].offset, runs[i].len, &k, fn, ctx);
        if (m < READ_RUNS)
            break;
        k = 0; /* the next read starts over at the lowest dirty offset */
    }
    atomic_fetch_add(&st.pages_reported, (uint64_t)pages);
    return pages;
}

static long gd_collect(dirty_run_fn fn, void *ctx) { return gd_report(fn, ctx, false); }
static long gd_take(dirty_run_fn fn, void *ctx) { return gd_report(fn, ctx, true); }

static void gd_stats(struct dirty_stats *out)
{
    dirty_copy_stats(&st, out);
    struct cogc_stats s;
    if (fd >= 0 && ioctl(fd, COGC_IOC_STATS, &s) == 0)
        out->faults = s.faults;
}

static void gd_teardown(void)
{
    release_state();
}

struct dirty_backend dirty_backend_gcdev = {
    .name = "gcdev",
    .caps = {.complete = true, .precise = true, .granule = 4096, .max_run = 4096,
             .atomic_collect = true, .process_wide = false, .syscall_write = DIRTY_SYSCALL_SEEN,
             .uses_sigsegv = false, .reports_disarmed = false, .fork_child_all_dirty = true,
             .release_needs_backend = true},
    .probe = gd_probe,
    .init = gd_init,
    .map = gd_map,
    .unmap = gd_unmap,
    .track = gd_track,
    .untrack = gd_untrack,
    .arm = gd_arm,
    .collect = gd_collect,
    .arm_range = gd_arm_range,
    .disarm_range = gd_disarm_range,
    .take = gd_take,
    .release = gd_release,
    .prepare_syscall_write = dirty_nop_prepare,
    .stats = gd_stats,
    .teardown = gd_teardown,
};
