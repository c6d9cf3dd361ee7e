/* dirty.c - backend table, selection, and the helpers the backends share
 * (range registry, bitmaps, mappings, userfaultfd opening). */
#define _GNU_SOURCE
#include "dirty_impl.h"
#include "linux_compat.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- selection ------------------------------------------------------ */

static struct dirty_backend *const table[] = {
    &dirty_backend_uffd_async, &dirty_backend_uffd, &dirty_backend_softdirty,
    &dirty_backend_mprotect,   &dirty_backend_gcdev, &dirty_backend_none,
};
/* Automatic order (gcdev only when asked for by name). */
static struct dirty_backend *const auto_order[] = {
    &dirty_backend_uffd_async, &dirty_backend_uffd, &dirty_backend_softdirty,
    &dirty_backend_mprotect,   &dirty_backend_none,
};

static const struct dirty_backend *current;

const struct dirty_backend *dirty_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i]->name, name) == 0)
            return table[i];
    return NULL;
}

const struct dirty_backend *dirty_current(void)
{
    return current;
}

static void append(char *why, size_t len, const char *s)
{
    if (!why || !len)
        return;
    size_t used = strnlen(why, len);
    if (used + 1 >= len)
        return;
    snprintf(why + used, len - used, "%s%s", used ? "; " : "", s);
}

static int try_one(struct dirty_backend *b, char *reason, size_t rlen)
{
    reason[0] = 0;
    if (b->probe(reason, rlen) != 0)
        return -1;
    if (b->init(reason, rlen) != 0)
        return -1;
    return 0;
}

const struct dirty_backend *dirty_select(const char *name, char *why, size_t len)
{
    char reason[256];
    if (why && len)
        why[0] = 0;
    if (current) {
        current->teardown();
        current = NULL;
    }
    struct dirty_backend *asked = NULL;
    if (name && *name) {
        asked = (struct dirty_backend *)dirty_find(name);
        if (!asked) {
            snprintf(reason, sizeof reason,
                     "COGC_DIRTY=%s: unknown backend (known: uffd-async, uffd, soft-dirty, "
                     "mprotect, gcdev, none)", name);
            append(why, len, reason);
        } else if (try_one(asked, reason, sizeof reason) == 0) {
            current = asked;
            return current;
        } else {
            append(why, len, reason);
        }
    }
    for (size_t i = 0; i < sizeof auto_order / sizeof auto_order[0]; i++) {
        struct dirty_backend *b = auto_order[i];
        if (b == asked)
            continue;
        if (try_one(b, reason, sizeof reason) == 0) {
            current = b;
            if (asked || (name && *name)) {
                snprintf(reason, sizeof reason, "using %s", b->name);
                append(why, len, reason);
            }
            return current;
        }
        append(why, len, reason);
    }
    /* none cannot fail, but be safe. */
    current = &dirty_backend_none;
    return current;
}

int dirty_prepare_syscall_write(void *addr, size_t len)
{
    const struct dirty_backend *b = current;
    if (!b || !b->prepare_syscall_write)
        return 0;
    return b->prepare_syscall_write(addr, len);
}

/* ---- small helpers -------------------------------------------------- */

int dirty_why(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

bool dirty_aligned_args(const void *addr, size_t len)
{
    return addr && len && ((uintptr_t)addr & (DIRTY_PAGE - 1)) == 0 &&
           (len & (DIRTY_PAGE - 1)) == 0 && (uintptr_t)addr + len > (uintptr_t)addr;
}

void *dirty_map_aligned(size_t size, size_t align)
{
    if (!size || (size & (DIRTY_PAGE - 1)) || align < DIRTY_PAGE || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    size_t total = size + align - DIRTY_PAGE;
    if (total < size) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = a - (uintptr_t)p, tail = total - head - size;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((char *)a + size, tail);
    return (void *)a;
}

int dirty_unmap_plain(void *addr, size_t size)
{
    return munmap(addr, size);
}

int dirty_release_plain(void *addr, size_t len)
{
    return madvise(addr, len, MADV_DONTNEED);
}

int dirty_nop_prepare(void *addr, size_t len)
{
    (void)addr;
    (void)len;
    return 0;
}

void dirty_copy_stats(const struct dirty_astats *a, struct dirty_stats *o)
{
    o->faults = atomic_load(&a->faults);
    o->arms = atomic_load(&a->arms);
    o->collects = atomic_load(&a->collects);
    o->pages_reported = atomic_load(&a->pages_reported);
    o->runs_reported = atomic_load(&a->runs_reported);
    o->scan_calls = atomic_load(&a->scan_calls);
    o->coalesced = atomic_load(&a->coalesced);
    o->range_fallbacks = atomic_load(&a->range_fallbacks);
    o->syscall_prepares = atomic_load(&a->syscall_prepares);
    o->fork_resets = atomic_load(&a->fork_resets);
}

long dirty_count_maps(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[65536];
    long lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return n < 0 ? -1 : lines;
}

long dirty_max_map_count(void)
{
    int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 65530; /* the kernel default */
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 65530;
    buf[n] = 0;
    long v = strtol(buf, NULL, 10);
    return v > 0 ? v : 65530;
}

/* ---- userfaultfd ---------------------------------------------------- */

int dirty_uffd_open(bool nonblock, bool *user_mode_only, char *why, size_t len)
{
    int flags = O_CLOEXEC | (nonblock ? O_NONBLOCK : 0);
    int dev_errno = 0, sys_errno = 0, umo_errno = 0;
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        int fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
        dev_errno = errno;
        close(dev);
        if (fd >= 0) {
            *user_mode_only = false;
            return fd;
        }
    } else {
        dev_errno = errno;
    }
    int fd = (int)syscall(SYS_userfaultfd, flags);
    if (fd >= 0) {
        *user_mode_only = false;
        return fd;
    }
    sys_errno = errno;
    fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
    if (fd >= 0) {
        *user_mode_only = true;
        return fd;
    }
    umo_errno = errno;
    if (sys_errno == ENOSYS)
        return dirty_why(why, len, "kernel built without CONFIG_USERFAULTFD (userfaultfd(2): ENOSYS)");
    if (sys_errno == EPERM && umo_errno == EPERM)
        return dirty_why(why, len,
                         "vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE "
                         "(/dev/userfaultfd: %s; userfaultfd(2) incl. UFFD_USER_MODE_ONLY: EPERM)",
                         strerror(dev_errno));
    return dirty_why(why, len, "cannot open a userfaultfd (/dev/userfaultfd: %s; userfaultfd(2): %s; "
                     "with UFFD_USER_MODE_ONLY: %s)",
                     strerror(dev_errno), strerror(sys_errno), strerror(umo_errno));
}

int dirty_uffd_api(int fd, uint64_t want, uint64_t *got)
{
    struct uffdio_api api = {.api = UFFD_API, .features = want};
    if (ioctl(fd, UFFDIO_API, &api) != 0)
        return -1;
    if (got)
        *got = api.features;
    return 0;
}

int dirty_uffd_features(uint64_t *features, bool *user_mode_only, char *why, size_t len)
{
    int fd = dirty_uffd_open(true, user_mode_only, why, len);
    if (fd < 0)
        return -1;
    int r = dirty_uffd_api(fd, 0, features);
    int e = errno;
    close(fd);
    if (r != 0)
        return dirty_why(why, len, "UFFDIO_API handshake failed: %s", strerror(e));
    return 0;
}

/* ---- range registry ------------------------------------------------- */

__attribute__((weak)) bool dirty_fault(void) { return false; }

int dirty_reg_init(struct dirty_reg *g)
{
    if (dirty_fault())
        return -1;
    void *p = mmap(NULL, DIRTY_MAX_RANGES * sizeof(struct dirty_range), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    g->r = p;
    atomic_store(&g->hw, 0);
    g->count = 0;
    return 0;
}

static void range_free_maps(struct dirty_range *r)
{
    size_t bytes = r->nwords * sizeof(uint64_t);
    if (r->bits)
        munmap((void *)r->bits, bytes);
    if (r->snap)
        munmap(r->snap, bytes);
    r->bits = NULL;
    r->snap = NULL;
}

void dirty_reg_free(struct dirty_reg *g)
{
    if (!g->r)
        return;
    unsigned hw = atomic_load(&g->hw);
    for (unsigned i = 0; i < hw; i++) {
        atomic_store(&g->r[i].start, 0);
        range_free_maps(&g->r[i]);
    }
    munmap(g->r, DIRTY_MAX_RANGES * sizeof(struct dirty_range));
    g->r = NULL;
    atomic_store(&g->hw, 0);
    g->count = 0;
}

struct dirty_range *dirty_reg_find_exact(struct dirty_reg *g, uintptr_t start, size_t len)
{
    DIRTY_REG_FOREACH(g, r)
    {
        if (atomic_load(&r->start) == start && atomic_load(&r->end) == start + len)
            return r;
    }
    return NULL;
}

struct dirty_range *dirty_reg_add(struct dirty_reg *g, uintptr_t start, size_t len)
{
    if (!dirty_aligned_args((void *)start, len)) {
        errno = EINVAL;
        return NULL;
    }
    uintptr_t end = start + len;
    struct dirty_range *slot = NULL;
    unsigned hw = atomic_load(&g->hw);
    for (unsigned i = 0; i < hw; i++) {
        struct dirty_range *r = &g->r[i];
        uintptr_t s = atomic_load(&r->start);
        if (!s) {
            if (!slot)
                slot = r;
            continue;
        }
        if (start < atomic_load(&r->end) && s < end) {
            errno = EINVAL; /* overlaps a tracked range */
            return NULL;
        }
    }
    if (!slot) {
        if (hw >= DIRTY_MAX_RANGES) {
            errno = ENOMEM;
            return NULL;
        }
        slot = &g->r[hw];
    }
    size_t npages = len >> DIRTY_PAGE_SHIFT;
    size_t nwords = (npages + 63) / 64;
    size_t bytes = nwords * sizeof(uint64_t);
    if (dirty_fault())
        return NULL;
    void *b = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED)
        return NULL;
    void *s = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        munmap(b, bytes);
        return NULL;
    }
    slot->npages = npages;
    slot->nwords = nwords;
    slot->bits = b;
    slot->snap = s;
    atomic_store(&slot->all_dirty, 0);
    atomic_store(&slot->end, end);
    atomic_store_explicit(&slot->start, start, memory_order_release);
    if (slot == &g->r[hw])
        atomic_store(&g->hw, hw + 1);
    g->count++;
    return slot;
}

int dirty_reg_remove(struct dirty_reg *g, uintptr_t start, size_t len)
{
    struct dirty_range *r = dirty_reg_find_exact(g, start, len);
    if (!r) {
        errno = ENOENT;
        return -1;
    }
    atomic_store_explicit(&r->start, 0, memory_order_release);
    atomic_store(&r->end, 0);
    range_free_maps(r);
    g->count--;
    unsigned hw = atomic_load(&g->hw);
    while (hw > 0 && atomic_load(&g->r[hw - 1].start) == 0)
        hw--;
    atomic_store(&g->hw, hw);
    return 0;
}

struct dirty_range *dirty_reg_lookup(struct dirty_reg *g, uintptr_t addr)
{
    struct dirty_range *base = g->r;
    if (!base)
        return NULL;
    unsigned hw = atomic_load_explicit(&g->hw, memory_order_acquire);
    for (unsigned i = 0; i < hw; i++) {
        uintptr_t s = atomic_load_explicit(&base[i].start, memory_order_acquire);
        if (s && addr >= s && addr < atomic_load_explicit(&base[i].end, memory_order_relaxed))
            return &base[i];
    }
    return NULL;
}

/* ---- bitmaps -------------------------------------------------------- */

static inline uint64_t mask_bits(size_t lo, size_t hi) /* bits [lo, hi) of a word, hi <= 64 */
{
    uint64_t m = hi == 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1);
    return m & ~(((uint64_t)1 << lo) - 1);
}

void dirty_range_mark(struct dirty_range *r, size_t first, size_t n)
{
    if (first >= r->npages)
        return;
    if (n > r->npages - first)
        n = r->npages - first;
    size_t end = first + n;
    while (first < end) {
        size_t w = first / 64, lo = first % 64;
        size_t hi = (end - w * 64) < 64 ? end - w * 64 : 64;
        uint64_t m = mask_bits(lo, hi);
        if ((atomic_load_explicit(&r->bits[w], memory_order_relaxed) & m) != m)
            atomic_fetch_or_explicit(&r->bits[w], m, memory_order_release);
        first = w * 64 + hi;
    }
}

struct dirty_range *dirty_reg_clear_pages(struct dirty_reg *g, uintptr_t addr, size_t len)
{
    struct dirty_range *r = dirty_reg_lookup(g, addr);
    if (!r || !dirty_aligned_args((void *)addr, len) || addr + len > atomic_load(&r->end)) {
        errno = EINVAL;
        return NULL;
    }
    size_t first = (addr - atomic_load(&r->start)) >> DIRTY_PAGE_SHIFT, end = first + (len >> DIRTY_PAGE_SHIFT);
    while (first < end) {
        size_t w = first / 64, lo = first % 64;
        size_t hi = (end - w * 64) < 64 ? end - w * 64 : 64;
        uint64_t m = mask_bits(lo, hi);
        if (atomic_load_explicit(&r->bits[w], memory_order_relaxed) & m)
            atomic_fetch_and_explicit(&r->bits[w], ~m, memory_order_relaxed);
        first = w * 64 + hi;
    }
    return r;
}

void dirty_range_clear(struct dirty_range *r)
{
    atomic_store(&r->all_dirty, 0);
    for (size_t w = 0; w < r->nwords; w++)
        if (atomic_load_explicit(&r->bits[w], memory_order_relaxed))
            atomic_store_explicit(&r->bits[w], 0, memory_order_relaxed);
}

size_t dirty_range_take(struct dirty_range *r, size_t *nruns)
{
    size_t pages = 0, runs = 0;
    uint64_t carry = 0; /* last bit of the previous word */
    bool all = atomic_exchange(&r->all_dirty, 0) != 0;
    for (size_t w = 0; w < r->nwords; w++) {
        uint64_t x;
        if (atomic_load_explicit(&r->bits[w], memory_order_relaxed))
            x = atomic_exchange_explicit(&r->bits[w], 0, memory_order_acq_rel);
        else
            x = 0;
        if (all)
            x = ~(uint64_t)0;
        if (w == r->nwords - 1 && r->npages % 64)
            x &= mask_bits(0, r->npages % 64);
        r->snap[w] = x;
        if (x) {
            pages += (size_t)__builtin_popcountll(x);
            runs += (size_t)__builtin_popcountll(x & ~((x << 1) | carry));
        }
        carry = x >> 63;
    }
    *nruns = runs;
    return pages;
}

/* First index >= i in [i, n) whose bit equals `set`, or n. */
static size_t find_bit(const uint64_t *v, size_t n, size_t i, bool set)
{
    while (i < n) {
        size_t w = i / 64;
        uint64_t x = set ? v[w] : ~v[w];
        x &= ~(uint64_t)0 << (i % 64);
        if (x) {
            size_t j = w * 64 + (size_t)__builtin_ctzll(x);
            return j < n ? j : n;
        }
        i = (w + 1) * 64;
    }
    return n;
}

void dirty_snap_runs(struct dirty_range *r, dirty_addr_fn fn, void *ctx)
{
    uintptr_t base = atomic_load(&r->start);
    size_t n = r->npages, i = 0;
    while (i < n) {
        size_t s = find_bit(r->snap, n, i, true);
        if (s >= n)
            break;
        size_t e = find_bit(r->snap, n, s, false);
        fn(ctx, base + (s << DIRTY_PAGE_SHIFT), (e - s) << DIRTY_PAGE_SHIFT);
        i = e;
    }
}

__attribute__((weak)) int dirty_pthread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    create_fn create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    if (!create)
        create = pthread_create;
    return create(t, NULL, fn, arg);
}

__attribute__((weak)) bool dirty_fault_handler(void) { return false; }

__attribute__((weak, noreturn)) void dirty_fatal(const char *msg)
{
    fprintf(stderr, "dirty: fatal: %s\n", msg);
    abort();
}

int dirty_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = dirty_pthread_create(t, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

int dirty_uffd_wp(int fd, uintptr_t s, size_t len, bool on)
{
    struct uffdio_writeprotect wp = {.range = {.start = s, .len = len},
                                     .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    int r;
    do
        r = ioctl(fd, UFFDIO_WRITEPROTECT, &wp);
    while (r != 0 && errno == EAGAIN);
    return r;
}

int dirty_uffd_register(int fd, uintptr_t s, size_t len, uint64_t mode)
{
    struct uffdio_register rg = {.range = {.start = s, .len = len}, .mode = mode};
    if (ioctl(fd, UFFDIO_REGISTER, &rg) != 0)
        return -1;
    return dirty_uffd_wp(fd, s, len, true);
}

int dirty_uffd_track(struct dirty_reg *g, int fd, uint64_t mode, void *addr, size_t len)
{
    if (!dirty_reg_add(g, (uintptr_t)addr, len))
        return -1;
    if (dirty_uffd_register(fd, (uintptr_t)addr, len, mode) != 0) {
        int e = errno;
        dirty_reg_remove(g, (uintptr_t)addr, len);
        errno = e;
        return -1;
    }
    return 0;
}

int dirty_uffd_untrack(struct dirty_reg *g, int fd, pid_t owner, void *addr, size_t len)
{
    if (!dirty_reg_find_exact(g, (uintptr_t)addr, len)) {
        errno = ENOENT;
        return -1;
    }
    if (owner == getpid()) {
        struct uffdio_range rg = {.start = (uintptr_t)addr, .len = len};
        ioctl(fd, UFFDIO_UNREGISTER, &rg); /* fails harmlessly if unmapped or moved */
    }
    return dirty_reg_remove(g, (uintptr_t)addr, len);
}

void dirty_uffd_reregister_all(struct dirty_reg *g, int fd, uint64_t mode)
{
    DIRTY_REG_FOREACH(g, r)
    {
        uintptr_t s = atomic_load(&r->start);
        dirty_uffd_register(fd, s, atomic_load(&r->end) - s, mode);
        atomic_store(&r->all_dirty, 1);
    }
}
