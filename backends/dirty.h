/* dirty.h - which heap pages did the program write?
 *
 * The collector learns about writes to its heap only through this
 * interface.  A backend is a struct of function pointers; exactly one
 * backend is active in a process at a time (dirty_select() picks and
 * initialises it, ->teardown() releases it).  See docs/dirty.md for the
 * contract in prose and the measured guarantees of each backend.
 *
 * Life cycle, as the collector uses it:
 *
 *     why[0] = 0;
 *     const struct dirty_backend *d = dirty_select(getenv("COGC_DIRTY"), why, sizeof why);
 *     void *chunk = d->map(4 << 20, 4 << 20);     // heap memory comes from the backend
 *     d->track(chunk, 4 << 20);                   // every heap chunk
 *     d->arm();                                   // start of a tracking epoch
 *     ... program runs, writes ...
 *     d->collect(fn, ctx);                        // fn(ctx, addr, len) per dirty run
 *     ... repeat collect ...
 *     d->untrack(chunk, 4 << 20); d->unmap(chunk, 4 << 20);
 *     d->teardown();
 *
 * All functions except the ->collect callback are called by the collector
 * on any thread, but not concurrently with each other (the collector
 * serialises them: map/unmap/track/untrack/arm/collect/release/teardown
 * hold the collector's heap lock).  Program threads may write to tracked
 * memory at any time, including during arm and collect.
 *
 * Every non-static symbol is named dirty_* and has hidden visibility.
 */
#ifndef COGC_DIRTY_H
#define COGC_DIRTY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a system call (read(2), recv(2), ...) does when it writes into an
 * armed page. */
enum dirty_syscall_write {
    /* The write succeeds and the page is reported by the next collect. */
    DIRTY_SYSCALL_SEEN = 0,
    /* The system call fails with EFAULT (possibly after a partial
     * transfer), unless the caller first called dirty_prepare_syscall_write()
     * on the buffer; then it succeeds and the page is reported. */
    DIRTY_SYSCALL_EFAULT = 1,
};

/* Guarantees of a backend, as measured on Linux 6.18 (see docs/dirty.md).
 * Filled in by the backend; some fields are final only after a successful
 * dirty_select() (e.g. uffd depends on how the descriptor was obtained). */
struct dirty_caps {
    /* Every written page is reported (true of all backends: none reports
     * every tracked page).  Listed for completeness. */
    bool complete;
    /* Only written pages are reported, up to `granule` and `max_run`.
     * false: pages that were not written may be reported too. */
    bool precise;
    /* Smallest unit reported, bytes (4096 for all current backends). */
    size_t granule;
    /* Largest run of unwritten pages one write can drag into a report, in
     * bytes; SIZE_MAX: a whole tracked range (mprotect under
     * vm.max_map_count pressure, none always).  uffd-async: 2 MiB on a
     * transparent huge page. */
    size_t max_run;
    /* collect is atomic with respect to concurrent writers: a write racing
     * with collect is either visible in the page when its run is handed to
     * the callback or reported by the next collect.  false (soft-dirty):
     * the caller must stop writers around collect. */
    bool atomic_collect;
    /* arm/collect reset the dirty state of the whole process, not only of
     * tracked ranges (soft-dirty: clear_refs). */
    bool process_wide;
    /* See enum dirty_syscall_write. */
    enum dirty_syscall_write syscall_write;
    /* The backend installs a SIGSEGV handler (mprotect). */
    bool uses_sigsegv;
    /* A write to an armed page is handled by our code, a signal handler or
     * the fault thread: tens of microseconds (mprotect, uffd).  false: the
     * kernel takes it (uffd-async) or there is no fault (soft-dirty, gcdev,
     * none), so arming a page nobody needs watched costs little. */
    bool user_write_faults;
    /* A disarmed page (disarm_range, or never armed since track) that is
     * written is still reported by collect and take (uffd-async: an
     * unprotected page reads as written; soft-dirty, none).  false: only
     * armed pages are reported (mprotect, uffd). */
    bool reports_disarmed;
    /* In a child created by fork(), the first collect reports every
     * tracked page (the kernel drops the tracking state in the child);
     * later collects are precise again. */
    bool fork_child_all_dirty;
    /* The memory is shared with a device (gcdev): madvise(MADV_DONTNEED)
     * only drops page-table entries and the old contents come back; only
     * ->release frees pages so that they read as zero. */
    bool release_needs_backend;
};

/* Counters, for cogc_stats and the benchmark.  Monotonic since select. */
struct dirty_stats {
    uint64_t faults;           /* write faults handled by our code (mprotect, uffd) */
    uint64_t arms;
    uint64_t collects;
    uint64_t pages_reported;   /* sum over collects */
    uint64_t runs_reported;
    uint64_t scan_calls;       /* PAGEMAP_SCAN ioctls / pagemap preads */
    uint64_t coalesced;        /* mprotect: unprotects done with a granule > 1 page */
    uint64_t range_fallbacks;  /* mprotect: ranges unprotected whole and marked all dirty
                                * (split budget exhausted or mprotect failed) */
    uint64_t syscall_prepares; /* dirty_prepare_syscall_write calls that unprotected pages */
    uint64_t fork_resets;      /* re-initialisations in a forked child */
};

/* Called by ->collect for every run of dirty pages: `addr` page aligned,
 * `len` a multiple of 4096.  Runs come in increasing address order within
 * a tracked range; a long run may be delivered in several adjacent pieces.
 * When the callback runs, the pages of its run are already re-armed: the
 * callback (and the collector afterwards) sees every write made before the
 * run was re-armed, and later writes are reported by the next collect.
 * The callback must not call back into the backend.  It may write to
 * tracked memory (those writes are reported by the next collect). */
typedef void (*dirty_run_fn)(void *ctx, void *addr, size_t len);

struct dirty_backend {
    const char *name;          /* "uffd-async", "uffd", "soft-dirty", "mprotect", "gcdev", "none" */
    struct dirty_caps caps;

    /* Available on this kernel/process?  0 yes; -1 no, with a one-line
     * reason starting with "<name>: " written to why[len] (NUL-terminated,
     * truncated).  Side-effect free apart from short-lived probes. */
    int (*probe)(char *why, size_t len);
    /* Allocate the backend's state.  0, or -1 with a reason in why.
     * dirty_select() calls probe and init; callers normally don't. */
    int (*init)(char *why, size_t len);

    /* Heap memory: anonymous, read-write, zero-filled, `align`-aligned (a
     * power of two >= 4096), `size` a multiple of 4096, mapped with
     * MAP_NORESERVE.  NULL with errno on failure.  Always use the backend's
     * map/unmap for memory you track. */
    void *(*map)(size_t size, size_t align);
    int (*unmap)(void *addr, size_t size);

    /* Start/stop tracking [addr, addr+len), page aligned, inside memory from
     * ->map.  track arms the new range (writes before track are not
     * reported).  untrack takes exactly a range given to track; it also
     * works when the range was already unmapped or mremapped away.  Both
     * 0 or -1 with errno (ENOMEM: too many ranges; ENOENT: not tracked). */
    int (*track)(void *addr, size_t len);
    int (*untrack)(void *addr, size_t len);

    /* Forget every dirty bit and catch the next write to every tracked
     * page.  0 or -1 with errno. */
    int (*arm)(void);

    /* Report every tracked page written since the last arm/collect (see
     * dirty_run_fn for the atomicity guarantee) and re-arm exactly those.
     * No fixed-size result buffer: `fn` is called once per run, so a
     * million dirty pages cost nothing but calls.  Returns the number of
     * pages reported, or -1 with errno (the state is then conservative:
     * everything not yet reported will be reported by the next collect). */
    long (*collect)(dirty_run_fn fn, void *ctx);

    /* Selective arming, for a collector that watches only some pages
     * (the pages holding old objects).  [addr, addr+len) lies inside one
     * tracked range, page aligned.  arm_range: catch the next write made
     * to each page after the call returns (writes during the call may or
     * may not be reported).  disarm_range: stop paying for writes to those
     * pages where the backend can; whether their writes are still reported
     * is up to the backend (caps.reports_disarmed).  0 or -1 with errno.
     * NULL when the backend has no cheaper way than arm(): the caller then
     * arms everything, an over-approximation. */
    int (*arm_range)(void *addr, size_t len);
    int (*disarm_range)(void *addr, size_t len);

    /* Like collect, but the pages reported need not be re-armed: the
     * caller re-arms what it still watches with arm_range.  Not atomic
     * with respect to writers: the caller stops them around the call and
     * the re-arming.  Backends that cannot leave pages disarmed re-arm
     * them as collect does.  NULL: use collect. */
    long (*take)(dirty_run_fn fn, void *ctx);

    /* Give [addr, addr+len) back to the kernel (MADV_DONTNEED): it reads as
     * zero afterwards and later writes are caught as for any armed page.
     * Whether the release itself is reported is unspecified (uffd-async
     * reports released pages once).  A raw madvise(MADV_DONTNEED) on
     * tracked memory is equivalent, except where caps.release_needs_backend
     * (gcdev: MADV_REMOVE). */
    int (*release)(void *addr, size_t len);

    /* A system call is about to write into [addr, addr+len): make sure it
     * will not fail with EFAULT (mprotect: unprotect those pages and mark
     * them dirty).  No-op for backends whose syscall_write is SEEN. */
    int (*prepare_syscall_write)(void *addr, size_t len);

    void (*stats)(struct dirty_stats *out);

    /* Stop tracking everything, release threads, descriptors, signal
     * handlers.  Tracked memory stays mapped and read-write. */
    void (*teardown)(void);
};

/* Backend by name ("uffd-async", "uffd", "soft-dirty", "mprotect", "gcdev",
 * "none"), not probed; NULL if the name is unknown. */
const struct dirty_backend *dirty_find(const char *name);

/* Choose, probe and init a backend.  name_or_NULL: the value of COGC_DIRTY
 * (NULL or "" = automatic: the best available of uffd-async > uffd >
 * soft-dirty > mprotect, then none).  When the named backend is unknown or
 * unavailable, the best available one is returned instead and why[] says
 * why ("uffd-async: kernel lacks UFFD_FEATURE_WP_ASYNC; using uffd").  In
 * automatic mode why[] lists the reasons the better ones were skipped.
 * why[] is "" when the choice was taken as asked.  Never NULL: none is
 * always available.  Selecting while a backend is active tears it down. */
const struct dirty_backend *dirty_select(const char *name_or_NULL, char *why, size_t len);

/* The active backend, or NULL before dirty_select / after teardown. */
const struct dirty_backend *dirty_current(void);

/* Shorthand for dirty_current()->prepare_syscall_write; 0 when no backend
 * is active or the address is not tracked.  Wrappers of read(2)/recv(2)
 * into heap memory call this before the system call. */
int dirty_prepare_syscall_write(void *addr, size_t len);

/* Fault injection: a backend asks before mapping its own tables; true
 * (errno = ENOMEM) when this map must fail.  The collector provides it
 * (gc/tracking.c); a weak default in dirty.c says never, for programs
 * that use the backends alone (the conformance suite). */
bool dirty_fault(void);
/* Fault injection for the uffd handler thread: true (errno = EIO) when its
 * next read of a fault must fail as if the descriptor had broken. */
bool dirty_fault_handler(void);

/* The collector's hooks for what backends cannot handle themselves, with
 * weak defaults in dirty.c for programs that use the backends alone.
 * dirty_fatal: report and abort (the collector's "cogc: fatal:").
 * dirty_pthread_create: create an internal thread the collector does not
 * register (and so never stops) through the first pthread_create in the
 * global scope (a sanitizer's interceptor must see every thread). */
__attribute__((noreturn)) void dirty_fatal(const char *msg);
int dirty_pthread_create(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
