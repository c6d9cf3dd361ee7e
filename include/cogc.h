/*
 * cogc.h - the native API of the cogc conservative garbage collector.
 *
 * cogc is a conservative, non-moving, mark-sweep collector.  Any word in a
 * root (thread stacks and registers, the data and bss of every loaded
 * object, thread-local storage, registered ranges) or in a scanned heap
 * object that looks like an address inside an allocated object keeps that
 * object alive.  Objects are never moved.
 *
 * Signal handlers (docs/signals.md): a handler that interrupted code outside
 * cogc may allocate.  One that interrupted a cogc allocation, free,
 * realloc, collection or cogc_call_with_lock on its own thread is refused,
 * with a report through the warning procedure: allocation returns NULL
 * with errno = EDEADLK, cogc_free frees nothing, cogc_collect collects
 * nothing.  Other entry points must not be called from such a handler.
 *
 * Every function here is thread-safe.  Threads that hold pointers to
 * collected objects must be registered (cogc_register_thread,
 * cogc_pthread_create, or automatically when libcogc.so is linked: see
 * cogc_pthread_create below).  The thread that first calls into cogc is
 * registered by cogc_init.
 *
 * Environment variables (read once, at initialisation; a malformed value is
 * reported on stderr naming the variable and the default is used):
 *   COGC_HEAP_LIMIT      bytes (suffix k/m/g allowed); 0 = no limit
 *   COGC_GROWTH          percent of live data allocated between collections
 *   COGC_MIN_TRIGGER     bytes allocated before the first collection
 *   COGC_INTERIOR        1 = interior pointers keep objects alive (default)
 *   COGC_MARKERS         number of marker threads (default: online CPUs)
 *   COGC_STATS           1 = one line per collection on stderr, summary at exit
 *   COGC_HUGEPAGES       1 = ask for transparent huge pages on heap chunks
 *   COGC_ON_ERROR        warn (default) | abort: what a misuse report does
 *   COGC_DEBUG           1 = every allocation through the debug allocator
 *                        (see cogc_debug_malloc)
 * docs/OPTIONS.md lists every variable with its default.
 */
#ifndef COGC_H
#define COGC_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define COGC_API __attribute__((visibility("default")))
#define COGC_MALLOC_ATTR(n) __attribute__((malloc, alloc_size(n), warn_unused_result))
/* calloc's size is the product of its two arguments. */
#define COGC_CALLOC_ATTR(n, m) __attribute__((malloc, alloc_size(n, m), warn_unused_result))
#else
#define COGC_API
#define COGC_MALLOC_ATTR(n)
#define COGC_CALLOC_ATTR(n, m)
#endif

#define COGC_VERSION_MAJOR 0
#define COGC_VERSION_MINOR 1
#define COGC_VERSION_PATCH 0

/* ---- Initialisation ------------------------------------------------- */

/* Initialise the collector and register the calling thread.  Optional: the
 * first allocation calls it.  Call it from the main thread early if other
 * threads will allocate before the main thread does.  Returns 0, or -1 with
 * errno set (ENOMEM when the initial reservations fail).  Idempotent. */
COGC_API int cogc_init(void);

/* ---- Allocation ----------------------------------------------------- */

/* A zero-filled object of at least `size` bytes, scanned conservatively for
 * pointers, aligned to 16 bytes.  size 0 gives a unique minimal object.
 * NULL with errno = ENOMEM when the heap limit is reached or the system has
 * no memory left (after a full collection). */
COGC_API void *cogc_malloc(size_t size) COGC_MALLOC_ATTR(1);

/* An object that is never scanned for pointers (strings, numbers, pixels).
 * Its contents are NOT zeroed. */
COGC_API void *cogc_malloc_atomic(size_t size) COGC_MALLOC_ATTR(1);

/* A scanned object that is never collected: it stays until cogc_free.
 * Pointers stored in it keep their targets alive. Zero-filled. */
COGC_API void *cogc_malloc_uncollectable(size_t size) COGC_MALLOC_ATTR(1);

/* cogc_malloc through the debug allocator (docs/debug.md), whatever
 * COGC_DEBUG says: a redzone follows the `size` bytes and is checked at
 * cogc_free and at every collection; cogc_free poisons the object and
 * holds it in a quarantine (a write to it is found when it leaves the
 * quarantine or at a collection; a second cogc_free is reported with both
 * backtraces).  Reports go to stderr with the allocation and free
 * backtraces, then abort (COGC_DEBUG_ON_ERROR=warn goes on).  cogc_size
 * gives the size asked (0 once freed).  Slower and bigger than
 * cogc_malloc: for hunting memory errors. */
COGC_API void *cogc_debug_malloc(size_t size) COGC_MALLOC_ATTR(1);

/* Up to n objects of `size` bytes at once, for a runtime's own
 * thread-local free lists: *list gets the first, each object's first word
 * links the next, the last's is NULL; every other byte is zero (for
 * pointer-free objects, `atomic` not 0: undefined).  Returns how many:
 * what this thread's free list holds, refilled once if it held none, so
 * possibly fewer than n (0 for n 0; 0 with ENOMEM when memory ran out,
 * EINVAL for a NULL list).  Cheaper than n calls: one pass over the list.
 * The objects are the caller's to keep reachable: a list linked through
 * pointer-free objects is invisible to the collector, so hold each object
 * where it is scanned until it is used. */
COGC_API size_t cogc_malloc_many(size_t size, int atomic, size_t n, void **list);

/* cogc_malloc(n * size); NULL with ENOMEM when n * size overflows. */
COGC_API void *cogc_calloc(size_t n, size_t size) COGC_CALLOC_ATTR(1, 2);

/* Resize: returns p itself when size is at most its usable size
 * (cogc_size) and at least half of it; otherwise a new object of the same
 * kind holding the old contents (up to the smaller size), and p is freed.
 * Bytes past `size` up to the usable size, and new bytes of a moved
 * object, are zero for scanned kinds.  p == NULL is cogc_malloc(size);
 * size == 0 frees p and returns NULL.  On failure returns NULL with errno =
 * ENOMEM and leaves p untouched; a p that is not the start of a live
 * object is reported and gives NULL with errno = EINVAL. */
COGC_API void *cogc_realloc(void *p, size_t size);

/* Explicitly free an object now.  Allowed and safe: the memory is reused
 * by the next allocations of this thread.  The caller promises no other
 * reference will be used.  NULL is ignored.  A pointer that is not the
 * start of a live cogc object (foreign memory, an interior pointer, an
 * object already freed or already collected) is reported through the
 * warning procedure and ignored: the heap is left unchanged. */
COGC_API void cogc_free(void *p);

/* ---- Collection ----------------------------------------------------- */

/* Run a full collection now. */
COGC_API void cogc_collect(void);

/* Run a minor collection now: trace from the roots and from the old
 * objects written since the last collection, free unreachable objects
 * allocated since then.  A full collection when generational mode is off
 * (or the old generation is not established yet). */
COGC_API void cogc_collect_minor(void);

/* Send up to `max_bytes` of old heap pages that the program has not written
 * for the longest time (as far as the last collections saw) to swap
 * now, bookmarking what they point to, so that collections do not read
 * them back (docs/ARCHITECTURE.md, "Bookmarks").  COGC_BOOKMARK=1 does this
 * by itself under memory pressure; a runtime that knows it goes idle may
 * call it.  *sent (may be NULL): bytes sent.  Returns 0, or -1 with errno
 * ENOTSUP when the heap is not watched for writes (needs COGC_BOOKMARK=1,
 * generational or incremental collection), EDEADLK from a signal handler
 * that interrupted cogc.  While an incremental cycle marks, the pages are
 * chosen between two of its marking steps. */
COGC_API int cogc_bookmark_evict(size_t max_bytes, size_t *sent);

/* A system call is about to write into [p, p+len) of the heap (read(2),
 * recv(2), ... into a collected object).  Needed only with the mprotect
 * dirty-bit backend in generational or incremental mode, where such a
 * call would otherwise fail with EFAULT; a no-op otherwise.  Returns 0,
 * or -1 with errno. */
COGC_API int cogc_prepare_syscall_write(void *p, size_t len);

/* Generational mode (minor collections, see COGC_GENERATIONAL) on (1) or
 * off (0).  Returns 0, or -1 with errno ENOTSUP when the dirty-bit backend
 * cannot watch the heap (a warning says why); the mode is then unchanged. */
COGC_API int cogc_set_generational(int on);
COGC_API int cogc_get_generational(void);

/* Incremental mode (see COGC_INCREMENTAL): full collections mark while
 * the program runs, on a background marker thread (in allocation-paced
 * steps on one CPU), between two short pauses.  cogc_enable_incremental()
 * is cogc_set_incremental(1).  Returns 0, or -1 with errno ENOTSUP when the
 * dirty-bit backend cannot watch the heap (a warning says why). */
COGC_API int cogc_set_incremental(int on);
COGC_API int cogc_get_incremental(void);
COGC_API int cogc_enable_incremental(void);

/* ---- Object queries ------------------------------------------------- */

/* Start of the allocated object containing p (p may point inside it), or
 * NULL if p is not inside an allocated cogc object.  An unreachable object
 * counts as allocated until the sweep after the collection that finds it. */
COGC_API void *cogc_base(const void *p);

/* Usable size of the object whose start is p (at least what was asked);
 * 0 if p is not the start of an allocated cogc object. */
COGC_API size_t cogc_size(const void *p);

/* ---- Roots ---------------------------------------------------------- */

/* Scan [lo, hi) as a root at every collection (e.g. memory from another
 * allocator holding pointers to cogc objects).  Returns 0, or -1 with errno
 * EINVAL (lo > hi) or ENOMEM.  Ranges may overlap; adding the same range
 * twice registers it twice (each cogc_remove_roots removes one). */
COGC_API int cogc_add_roots(void *lo, void *hi);

/* Stop scanning a range exactly as added.  Returns 0, or -1 with errno
 * ENOENT if no such range was registered. */
COGC_API int cogc_remove_roots(void *lo, void *hi);

/* ---- Threads -------------------------------------------------------- */

/* Register the calling thread: its stack, registers and thread-local
 * storage become roots, and it is stopped during collections.  Returns 0
 * (also when already registered), or -1 with errno.  A registered thread
 * must unregister before it exits, or it is unregistered automatically by
 * a thread-specific destructor. */
COGC_API int cogc_register_thread(void);

/* Unregister the calling thread.  Objects only it referenced may then be
 * collected.  Returns 0, or -1 with errno = EINVAL if not registered. */
COGC_API int cogc_unregister_thread(void);

/* pthread_create that registers the new thread for its whole life (the
 * thread registers itself as it starts, before running `start`).
 * libcogc.so also interposes pthread_create itself, so plain
 * pthread_create registers threads in programs linked against it; with the
 * static library, define COGC_REDIRECT_PTHREAD_CREATE before including this
 * header (or link with -Wl,--wrap=pthread_create: __wrap_pthread_create is
 * provided). */
COGC_API int cogc_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                 void *(*start)(void *), void *arg);

#if defined(COGC_REDIRECT_PTHREAD_CREATE) && !defined(COGC_BUILDING)
#define pthread_create cogc_pthread_create
#endif

/* ---- Statistics ----------------------------------------------------- */

struct cogc_stats {
    uint64_t collections;        /* collections so far, minor ones included */
    uint64_t heap_bytes;         /* bytes mapped for the heap (chunks) */
    uint64_t heap_free_bytes;    /* of those, in free pages */
    uint64_t live_bytes;         /* bytes marked by the last collection */
    uint64_t allocated_bytes;    /* total bytes allocated since start */
    uint64_t freed_bytes;        /* total bytes explicitly freed (another thread's
                                    frees count from its next refill of a list) */
    uint64_t reclaimed_bytes;    /* total bytes reclaimed by sweeping (a block found all dead
                                    counts whole, its slots already free included) */
    uint64_t released_bytes;     /* bytes currently given back to the kernel */
    uint64_t total_pause_ns;     /* sum of stop-the-world pauses */
    uint64_t max_pause_ns;
    uint64_t p50_pause_ns;
    uint64_t p99_pause_ns;
    uint64_t last_pause_ns;
    uint64_t total_mark_ns;      /* time spent marking (wall) */
    uint64_t last_mark_ns;
    uint64_t blacklisted_pages;  /* pages hit by false pointers, last cycle */
    uint32_t markers;            /* marker threads the last collection used (one when it
                                    expected to mark less than 4 MiB) */
    uint32_t threads;            /* registered threads */
    char     dirty_backend[16];  /* dirty-bit backend in use, "" if none */
    uint64_t pauses;             /* stop-the-world pauses recorded (max/p50/p99 are over these) */
    uint64_t minor_collections;  /* of the collections, minor ones (generational mode) */
    uint64_t dirty_pages_rescanned; /* watched pages reported written, summed over pauses */
    /* Memory pressure (COGC_BOOKMARK=1; all 0 otherwise but the faults). */
    uint64_t notices_psi;        /* PSI trigger notices (system and cgroup) */
    uint64_t notices_cgroup_v1;  /* cgroup v1 memory.pressure_level events */
    uint64_t notices_cgroup_v2;  /* cgroup v2 memory.events high/max changes */
    uint64_t notices_residency;  /* heap pages found taken by the kernel (mincore) */
    uint64_t pressure_collections; /* collections caused by notices */
    uint64_t pages_given_back;   /* free pages released to the kernel after notices */
    uint64_t collection_major_faults; /* major page faults during collections (getrusage) */
    uint64_t heap_budget_bytes;  /* heap size the collector keeps within, 0 = none */
    /* Bookmarks (COGC_BOOKMARK=1 or cogc_bookmark_evict). */
    uint64_t pages_evicted;      /* heap pages the collector sent to swap (total) */
    uint64_t pages_out;          /* of those, not written since (collections skip them) */
    uint64_t bookmarks_set;      /* objects bookmarked from evicted pages (total) */
    uint64_t notices_gcdev;      /* /dev/cogc shrinker notices (the kernel module) */
    uint64_t memcg_stat_folds;   /* reads of the memory cgroup's memory.stat near its limit,
                                    which keep the counts its reclaim decides by current */
    uint64_t minors_given_up;    /* minor collections given up during marking for an
                                    incremental cycle (COGC_PAUSE_TARGET_US) */
};

/* Fill *out (of size `size`, normally sizeof(struct cogc_stats); a smaller
 * size from an older header gets the fields that fit).  Returns 0, or -1
 * with errno EINVAL for a NULL out. */
COGC_API int cogc_get_stats(struct cogc_stats *out, size_t size);

/* ---- Tunables ------------------------------------------------------- */

/* Maximum heap size in bytes (0 = unlimited).  Allocation that would need
 * more returns NULL with ENOMEM after a full collection. */
COGC_API void cogc_set_heap_limit(size_t bytes);
COGC_API size_t cogc_get_heap_limit(void);

/* Bytes allocated between collections, as a percentage of the bytes live
 * after the last one (default 70; range 10..10000). Returns 0, or -1 with
 * EINVAL out of range. */
COGC_API int cogc_set_growth(unsigned percent);
COGC_API unsigned cogc_get_growth(void);

/* Bytes allocated before a collection is considered, however small the
 * live heap (COGC_MIN_TRIGGER; default 8 MiB, range 64 KiB..1 TiB).  A
 * runtime that knows its heap will be large spaces collections with it.
 * In generational mode it is also the young generation's size, which may
 * grow to twice it when full collections find that what minor ones
 * promoted died soon after; setting it starts that over.  Returns 0, or
 * -1 with EINVAL out of range. */
COGC_API int cogc_set_min_trigger(size_t bytes);
COGC_API size_t cogc_get_min_trigger(void);

/* Full collections also wait until heap size / divisor bytes were
 * allocated (COGC_FREE_SPACE_DIVISOR; 0, the default, turns this off;
 * 1..1000): a heap grown at a peak of live data then spaces collections by
 * its size, as bdwgc's free-space divisor does (libgc.so.1 uses 3).
 * Takes effect from the next collection.  Returns 0, or -1 with EINVAL
 * above 1000. */
COGC_API int cogc_set_free_space_divisor(unsigned divisor);
COGC_API unsigned cogc_get_free_space_divisor(void);

/* The pause target in microseconds (COGC_PAUSE_TARGET_US; default 5000,
 * range 100..10000000): generational mode halves the young generation
 * while minor marking takes over half of it, and an incremental cycle
 * leaves its final pause about this much work.  libgc.so.1 sets 2000
 * unless the variable is set.  Takes effect from the next collection.
 * Returns 0, or -1 with EINVAL out of range. */
COGC_API int cogc_set_pause_target(unsigned microseconds);
COGC_API unsigned cogc_get_pause_target(void);

/* Recognise pointers into the middle of objects (1, default) or only to
 * their first byte (0).  Takes effect at the next collection. */
COGC_API void cogc_set_interior_pointers(int on);
COGC_API int cogc_get_interior_pointers(void);

/* Number of marker threads for the next collections (1..64); 0 = one per
 * CPU this process may use, fewer while other threads keep those CPUs busy
 * (a descheduled marker delays the others).  Returns 0, or -1 with errno =
 * EINVAL above 64.  Fewer may run if marker threads cannot be created, and
 * one marks a collection expected to mark less than 4 MiB; cogc_stats.markers
 * says how many the last collection used. */
COGC_API int cogc_set_markers(unsigned n);

/* Where misuse reports (bad free, malformed environment) go.  NULL restores
 * the default (stderr).  The message has no trailing newline. */
typedef void (*cogc_warn_proc)(const char *msg);
COGC_API void cogc_set_warn_proc(cogc_warn_proc proc);


/* ---- Finalization and weak references -------------------------------- */

/* A finalizer: called once with the object that became unreachable and
 * the data given at registration. */
typedef void (*cogc_finalizer_fn)(void *obj, void *data);

enum cogc_finalize_mode {
    /* Objects reachable from an unreachable finalizable object are
     * finalized after it: if A points to B and both become unreachable,
     * A's finalizer runs at one collection and B's at a later one, once A
     * is gone.  An object that reaches itself (a cycle through finalizable
     * objects) is reported through the warning procedure and never
     * finalized. */
    COGC_FINALIZE_ORDERED = 0,
    /* Finalized as soon as it is unreachable, whatever points to it or it
     * points to (cycles are finalized; the order within one collection is
     * unspecified). */
    COGC_FINALIZE_NO_ORDER = 1,
    /* Like ORDERED, but pointers from the object into itself are ignored
     * (a self-reference does not prevent finalization). */
    COGC_FINALIZE_IGNORE_SELF = 2,
};

/* Register fn(obj, data) to run when obj becomes unreachable (fn == NULL
 * removes the registration).  obj must be the start of a live collectable
 * object, else -1 with errno = EINVAL.  A previous registration is
 * replaced; its function and data go to *old_fn / *old_data (NULL if none;
 * either pointer may be NULL).  `data` is a root while registered: what it
 * points to stays alive (pointing it at obj itself means obj is never
 * finalized).  When obj is found unreachable its registration is removed,
 * obj and everything it reaches are kept, and the call is queued; it runs
 * outside every collector lock, on the first thread that allocates
 * through the slow path or calls cogc_collect afterwards, or, in
 * finalize-on-demand mode, on whichever thread calls
 * cogc_invoke_finalizers.  The finalizer may store obj somewhere
 * (resurrection): obj then stays, and is not finalized again unless
 * registered again.  Returns 0, or -1 with errno (EINVAL, ENOMEM).
 * cogc_free(obj) drops the registration. */
COGC_API int cogc_register_finalizer(void *obj, cogc_finalizer_fn fn, void *data, int mode,
                                     cogc_finalizer_fn *old_fn, void **old_data);

/* Disappearing links: *link is set to NULL by the collector when obj
 * (anything inside an object of the heap; a target outside the heap is
 * never cleared) becomes unreachable.  A "short" link is cleared at the
 * collection that finds obj unreachable, before obj's finalizer runs (even
 * if the finalizer resurrects obj).  A "long" link is cleared only when obj
 * is really reclaimed: after its finalizer ran and it became unreachable
 * again.  The link itself does not keep obj alive.  `link` must be
 * pointer-aligned (else -1, EINVAL); if it lies in a heap object that is
 * collected, the registration goes with it; anywhere else, the program
 * must unregister it before that memory is reused.  Register returns 0, 1
 * if link was already registered (left unchanged), -1 with errno.
 * Unregister returns 1 if link was registered, else 0.  Move re-registers
 * the link at new_link: 0, 1 if new_link is already registered (nothing
 * changed), -1 with errno = ENOENT if link is not registered. */
COGC_API int cogc_register_disappearing_link(void **link, const void *obj);
COGC_API int cogc_unregister_disappearing_link(void **link);
COGC_API int cogc_move_disappearing_link(void **link, void **new_link);
COGC_API int cogc_register_long_link(void **link, const void *obj);
COGC_API int cogc_unregister_long_link(void **link);
COGC_API int cogc_move_long_link(void **link, void **new_link);

/* Finalize on demand (1): queued finalizers run only when the program calls
 * cogc_invoke_finalizers; the notifier (if set) is called, outside the
 * collector's locks, on the next allocation slow path or cogc_collect after
 * a collection queued new finalizers.  Default 0: they run there
 * automatically (never recursively: a finalizer that allocates does not
 * start the others). */
COGC_API void cogc_set_finalize_on_demand(int on);
COGC_API int cogc_get_finalize_on_demand(void);
typedef void (*cogc_finalizer_notifier)(void);
COGC_API void cogc_set_finalizer_notifier(cogc_finalizer_notifier fn);
COGC_API cogc_finalizer_notifier cogc_get_finalizer_notifier(void);
/* Run every queued finalizer on the calling thread; returns how many ran. */
COGC_API size_t cogc_invoke_finalizers(void);
/* Finalizers queued and not yet run. */
COGC_API size_t cogc_finalizers_pending(void);

/* Called once during every collection (world stopped, heap lock held,
 * after marking): it must not allocate, lock, or call into cogc.  NULL
 * removes it. */
typedef void (*cogc_collect_callback)(void);
COGC_API void cogc_set_collect_callback(cogc_collect_callback fn);
COGC_API cogc_collect_callback cogc_get_collect_callback(void);

/* ---- Traced objects (a mark procedure of the program's own) ---------- */

/* A zero-filled object that the collector never scans: whenever a
 * collection finds it reachable, it calls fn(obj, env) once (world
 * stopped, heap lock held: fn must not allocate, lock or call into cogc
 * other than cogc_trace_mark and cogc_size), and fn calls cogc_trace_mark
 * for each pointer of obj that must keep its target alive (weak parts are
 * simply not reported).  With incremental collection, fn is also called at
 * the start of each cycle for every traced object not yet freed, reachable
 * or not (what an unreachable one reports then stays one cycle longer).
 * NULL with errno (EINVAL for a NULL fn, ENOMEM). */
typedef void (*cogc_trace_fn)(void *obj, void *env);
COGC_API void *cogc_malloc_traced(size_t size, cogc_trace_fn fn, void *env) COGC_MALLOC_ATTR(1);
/* Inside a cogc_trace_fn only: keep the object p points into alive (and
 * scan it, or trace it if it is itself a traced object). */
COGC_API void cogc_trace_mark(const void *p);

/* Collections triggered by allocation are skipped while the count of
 * cogc_disable calls exceeds that of cogc_enable calls (explicit
 * cogc_collect and out-of-memory collections still run). */
COGC_API void cogc_disable(void);
COGC_API void cogc_enable(void);

/* Run fn(arg) with the heap lock held: no collection runs meanwhile and
 * disappearing links do not change.  fn must not allocate, free, or call
 * into cogc (it would deadlock).  Returns fn's result. */
COGC_API void *cogc_call_with_lock(void *(*fn)(void *), void *arg);

/* 1 if the calling thread is registered, else 0. */
COGC_API int cogc_thread_is_registered(void);

/* Run fn(arg) as a blocking region (a system call that may wait long): the
 * calling thread is not stopped by collections meanwhile, so a collection
 * does not wait for it to be scheduled; its stack is scanned from this
 * call's frame up, with the registers it had here.  fn must not allocate,
 * free, or read or write pointers to collected objects, except inside
 * cogc_call_with_gc_active.  Leaving the region waits for a collection
 * under way.  Nested calls, and calls from unregistered threads, just run
 * fn.  Returns fn's result. */
COGC_API void *cogc_do_blocking(void *(*fn)(void *), void *arg);
/* Inside cogc_do_blocking's fn: run fn(arg) as an ordinary registered
 * thread (stopped and scanned as usual), then block again.  Outside one,
 * just run fn.  Returns fn's result. */
COGC_API void *cogc_call_with_gc_active(void *(*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* COGC_H */
