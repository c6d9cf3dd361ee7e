/* dirty_impl.h - helpers shared by the backends (not for the collector).
 *
 * The range registry: a fixed table of tracked ranges, each with a bitmap
 * of written pages (one bit per 4 KiB page) and a scratch bitmap that
 * collect moves the bits into.  Lookups are lock-free and async-signal-safe
 * (the mprotect SIGSEGV handler uses them); additions and removals are
 * serialised by the caller (the collector's heap lock). */
#ifndef COGC_DIRTY_IMPL_H
#define COGC_DIRTY_IMPL_H

#include "dirty.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define DIRTY_PAGE_SHIFT 12
#define DIRTY_PAGE ((size_t)1 << DIRTY_PAGE_SHIFT)
/* 16384 ranges: 64 GiB of 4 MiB chunks. */
#define DIRTY_MAX_RANGES 16384

struct dirty_range {
    _Atomic uintptr_t start;      /* 0: free slot */
    _Atomic uintptr_t end;
    size_t npages;
    size_t nwords;                /* 64-bit words in bits and snap */
    _Atomic uint64_t *bits;       /* pages written (set by faults, taken by collect) */
    uint64_t *snap;               /* collect's private copy */
    _Atomic int all_dirty;        /* every page counts as written */
};

struct dirty_reg {
    struct dirty_range *r;        /* DIRTY_MAX_RANGES slots (mmap) */
    _Atomic unsigned hw;          /* slots [0, hw) may be in use */
    unsigned count;               /* slots in use */
};

/* Counters kept atomically by the backends. */
struct dirty_astats {
    _Atomic uint64_t faults, arms, collects, pages_reported, runs_reported, scan_calls,
        coalesced, range_fallbacks, syscall_prepares, fork_resets;
};

int dirty_reg_init(struct dirty_reg *g);
void dirty_reg_free(struct dirty_reg *g);
/* Add [start, start+len): NULL with errno EINVAL (overlap, misaligned),
 * ENOMEM (table full or no memory). */
struct dirty_range *dirty_reg_add(struct dirty_reg *g, uintptr_t start, size_t len);
/* Exact range given to add; -1 ENOENT otherwise. */
int dirty_reg_remove(struct dirty_reg *g, uintptr_t start, size_t len);
struct dirty_range *dirty_reg_find_exact(struct dirty_reg *g, uintptr_t start, size_t len);
/* Async-signal-safe: the tracked range holding addr, or NULL. */
struct dirty_range *dirty_reg_lookup(struct dirty_reg *g, uintptr_t addr);
/* Iterate over ranges in use. */
#define DIRTY_REG_FOREACH(g, rp)                                                 \
    for (struct dirty_range *rp = (g)->r, *rp##_end = (g)->r + atomic_load(&(g)->hw); \
         rp < rp##_end; rp++)                                                    \
        if (atomic_load_explicit(&rp->start, memory_order_acquire) != 0)

/* Async-signal-safe: mark pages [first, first+n) of r written. */
void dirty_range_mark(struct dirty_range *r, size_t first, size_t n);
/* Async-signal-safe: is page i of r marked written? */
static inline bool dirty_range_test(struct dirty_range *r, size_t i)
{
    return (atomic_load_explicit(&r->bits[i / 64], memory_order_relaxed) >> (i % 64)) & 1;
}
/* Clear the dirty bits of the pages [addr, addr+len) inside one tracked
 * range; the range, or NULL (errno EINVAL) if there is none. */
struct dirty_range *dirty_reg_clear_pages(struct dirty_reg *g, uintptr_t addr, size_t len);
/* Clear r's dirty bits (arm). */
void dirty_range_clear(struct dirty_range *r);
/* Move r's dirty bits into r->snap, atomically per 64-page word.  Returns
 * pages taken; *nruns gets the number of runs. */
size_t dirty_range_take(struct dirty_range *r, size_t *nruns);
/* Call fn(ctx, addr, len) for each run of set bits in r->snap. */
typedef void (*dirty_addr_fn)(void *ctx, uintptr_t addr, size_t len);
void dirty_snap_runs(struct dirty_range *r, dirty_addr_fn fn, void *ctx);

/* Anonymous RW mapping, aligned, MAP_NORESERVE.  NULL + errno. */
void *dirty_map_aligned(size_t size, size_t align);
int dirty_unmap_plain(void *addr, size_t size);
int dirty_release_plain(void *addr, size_t len);
bool dirty_aligned_args(const void *addr, size_t len);

/* snprintf into why (if why && len). Returns -1 for convenience. */
int dirty_why(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Lines in /proc/self/maps (= VMAs), -1 on error; vm.max_map_count. */
long dirty_count_maps(void);
long dirty_max_map_count(void);

/* Open a userfaultfd (O_CLOEXEC|O_NONBLOCK if nonblock): /dev/userfaultfd
 * first, then userfaultfd(2), then userfaultfd(2) with UFFD_USER_MODE_ONLY.
 * *user_mode_only tells whether faults from kernel mode (syscalls) are
 * handled.  -1 with why on failure. */
int dirty_uffd_open(bool nonblock, bool *user_mode_only, char *why, size_t len);
/* UFFDIO_API handshake asking for `want`; returns 0 and *got, or -1. */
int dirty_uffd_api(int fd, uint64_t want, uint64_t *got);
/* Features this kernel offers (handshake on a scratch descriptor). */
int dirty_uffd_features(uint64_t *features, bool *user_mode_only, char *why, size_t len);

void dirty_copy_stats(const struct dirty_astats *a, struct dirty_stats *out);
int dirty_nop_prepare(void *addr, size_t len);

/* The backends. */
extern struct dirty_backend dirty_backend_uffd_async;
extern struct dirty_backend dirty_backend_uffd;
extern struct dirty_backend dirty_backend_softdirty;
extern struct dirty_backend dirty_backend_mprotect;
extern struct dirty_backend dirty_backend_gcdev;
extern struct dirty_backend dirty_backend_none;

/* Start an internal thread (uffd's fault handler) with every signal
 * blocked, through dirty_pthread_create: a collector that interposes
 * pthread_create must not register (and so stop) it, since the
 * collector's own writes to the heap may wait on it. */
int dirty_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/* Shared by the two userfaultfd backends.  wp: write-protect (on) or
 * release [s, s+len), retrying EAGAIN.  register: UFFDIO_REGISTER with
 * `mode`, then write-protect.  track/untrack: keep the registry and the
 * kernel's registrations together (untrack unregisters only in `owner`,
 * the process that opened fd).  reregister_all: after fork, register every
 * tracked range again and mark it all dirty. */
int dirty_uffd_wp(int fd, uintptr_t s, size_t len, bool on);
int dirty_uffd_register(int fd, uintptr_t s, size_t len, uint64_t mode);
int dirty_uffd_track(struct dirty_reg *g, int fd, uint64_t mode, void *addr, size_t len);
int dirty_uffd_untrack(struct dirty_reg *g, int fd, pid_t owner, void *addr, size_t len);
void dirty_uffd_reregister_all(struct dirty_reg *g, int fd, uint64_t mode);

#endif
