/* The public entry points of include/cogc.h. */
#define _GNU_SOURCE
#include "../include/cogc.h"
#include "alloc.h"
#include "block.h"
#include "bookmark.h"
#include "chunk.h"
#include "collect.h"
#include "debug.h"
#include "finalize.h"
#include "lock.h"
#include "race.h"
#include "mark.h"
#include "options.h"
#include "pressure.h"
#include "report.h"
#include "roots.h"
#include "sizeclass.h"
#include "stats.h"
#include "threads.h"
#include "tracking.h"
#include "incremental.h"
#include "vg.h"
#include "watch.h"

#include <errno.h>
#include <string.h>

pthread_mutex_t heap_mutex = PTHREAD_MUTEX_INITIALIZER;
/* A signal handler that interrupted an entry point on its own thread
 * must not touch the thread's free lists, nor wait for the heap lock its
 * thread may hold (docs/signals.md).  tl_state.busy: BUSY_IN while in an
 * entry point; BUSY_DEBUG once the thread has seen COGC_DEBUG=1 (set on
 * its first slow path), so the allocation fast path tests one word. */

static inline bool enter(void)
{
    int b = tl_state.busy;
    if (unlikely(b & BUSY_IN))
        return false;
    tl_state.busy = b | BUSY_IN;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return true;
}

static inline void leave(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    tl_state.busy &= ~BUSY_IN;
}

static COLD void *refused(const char *fn, size_t size)
{
    report_misuse("%s(%zu) from a signal handler that interrupted a cogc call on this thread: "
                  "refused, returning NULL (docs/signals.md)", fn, size);
    errno = EDEADLK;
    return NULL;
}
int vg_on;

static int init_locked(void)
{
    options_init();
    sizeclass_init();
    blocks_init();
    vg_on = RUNNING_ON_VALGRIND ? 1 : 0;
    /* Read without the lock by the pointer test (a stale bound only misses
     * a chunk being added, which no pointer the reader holds is into). */
    race_atomic_word(&heap_lo, sizeof heap_lo);
    race_atomic_word(&heap_hi, sizeof heap_hi);
    if (chunk_table_init() || mark_init() || threads_init() || tracking_init() || collect_init())
        return -1;
    pressure_init();
    stats_init();
    debug_init();
    return 0;
}

COGC_API int cogc_init(void)
{
    if (!collector_ready()) {
        heap_lock();
        int rc = collector_ready() ? 0 : init_locked();
        heap_unlock();
        if (rc != 0) {
            report_warn("initialisation failed: %s", strerror(errno));
            return -1;
        }
    }
    return threads_register_self();
}

/* COGC_DEBUG is known once the collector is initialised. */
static bool debug_everywhere(void)
{
    if (debug_all < 0)
        cogc_init();
    return debug_all > 0;
}

/* After a slow path, with no entry point's state held: finalizers (the
 * program's code: they may allocate) and the debug allocator's reports. */
static inline void after_slow_path(void)
{
    if (unlikely(finalize_work))
        finalize_poll();
    if (unlikely(debug_pending))
        debug_flush();
}

static COLD void *allocate_debug(size_t size, enum kind k)
{
    void *p = debug_malloc(size, k);
    leave();
    after_slow_path();
    return p;
}

static __attribute__((noinline)) void *allocate_slow(size_t size, enum kind k)
{
    if (unlikely(!enter()))
        return refused("cogc_malloc", size);
    if (!(tl_state.busy & BUSY_DEBUG) && debug_all != 0 && debug_everywhere())
        tl_state.busy |= BUSY_DEBUG;
    if (tl_state.busy & BUSY_DEBUG)
        return allocate_debug(size, k);
    void *p = alloc_fast(size, k);
    if (!p)
        p = alloc_slow(size, k);
    leave();
    after_slow_path();
    if (p)
        vg_malloc(p, size ? size : 1, k != KIND_ATOMIC);
    return p;
}

/* The fast path: one thread-local word tested (no entry point of this
 * thread interrupted, no debug allocator), a free-list pop. */
static inline void *allocate(size_t size, enum kind k)
{
    if (likely(tl_state.busy == 0 && enter())) {
        void *p = alloc_fast(size, k);
        leave();
        if (likely(p != NULL)) {
            vg_malloc(p, size ? size : 1, k != KIND_ATOMIC);
            return p;
        }
    }
    return allocate_slow(size, k);
}

COGC_API void *cogc_malloc(size_t size) { return allocate(size, KIND_NORMAL); }

COGC_API size_t cogc_malloc_many(size_t size, int atomic, size_t n, void **list)
{
    if (!list) {
        errno = EINVAL;
        return 0;
    }
    enum kind k = atomic ? KIND_ATOMIC : KIND_NORMAL;
    void *head = NULL, **tail = &head;
    size_t got = 0;
    while (got < n) {
        void *first = NULL, *last = NULL;
        size_t taken = 0;
        if (likely(tl_state.busy == 0 && enter())) {
            taken = alloc_fast_many(size, k, n - got, &first, &last);
            leave();
            if (unlikely(vg_on))
                for (void *p = first, *next; p; p = next) {
                    next = *(void **)p;
                    vg_malloc(p, size ? size : 1, !atomic);
                    vg_make_defined(p, sizeof(void *));   /* the link */
                }
        }
        if (!taken) {
            /* The slow path refills the list, or collects, or fails: taken
             * only for the first object, as a collection would not see the
             * objects already taken through pointer-free ones' links. */
            if (got || !(first = last = allocate(size, k)))
                break;
            taken = 1;
        }
        *tail = first;
        tail = (void **)last;
        got += taken;
    }
    *list = head;
    return got;
}
COGC_API void *cogc_malloc_atomic(size_t size) { return allocate(size, KIND_ATOMIC); }
COGC_API void *cogc_malloc_uncollectable(size_t size) { return allocate(size, KIND_UNCOLLECTABLE); }

COGC_API void *cogc_debug_malloc(size_t size)
{
    if (unlikely(!enter()))
        return refused("cogc_debug_malloc", size);
    void *p = debug_malloc(size, KIND_NORMAL);
    leave();
    after_slow_path();
    return p;
}

COGC_API void *cogc_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return allocate(total, KIND_NORMAL);
}

COGC_API void *cogc_realloc(void *p, size_t size)
{
    if (!p)
        return cogc_malloc(size);
    if (size == 0) {
        cogc_free(p);
        return NULL;
    }
    if (unlikely(!enter()))
        return refused("cogc_realloc", size);
    void *q;
    if (!(unlikely(debug_used()) && debug_realloc(p, size, &q)))
        q = alloc_realloc(p, size);
    leave();
    return q;
}

/* The fast path (as allocate's): no entry point of this thread
 * interrupted, no debug allocator, nothing to forget, the common case of
 * alloc_free_local. */
static inline bool free_fast(void *p)
{
    if (unlikely(tl_state.busy != 0) || unlikely(debug_used()) ||
        unlikely(__atomic_load_n(&finalize_registered, __ATOMIC_RELAXED)))
        return false;
    enter();   /* cannot fail: busy is 0 */
    bool done = alloc_free_local(p);
    leave();
    return done;
}

bool api_free_fast(void *p) { return free_fast(p); }

COGC_API void cogc_free(void *p)
{
    if (!p)
        return;
    if (likely(free_fast(p)))
        return;
    if (!collector_ready()) {
        report_misuse("cogc_free(%p) before any allocation: not a cogc object; ignored", p);
        return;
    }
    if (unlikely(!enter())) {
        report_misuse("cogc_free(%p) from a signal handler that interrupted a cogc call on this thread: "
                      "refused, the object is not freed (docs/signals.md)", p);
        return;
    }
    finalize_forget((uintptr_t)p);
    if (!(unlikely(debug_used()) && debug_free(p)))
        alloc_free(p);
    leave();
}

/* cogc_collect and cogc_collect_minor. */
static void collect_explicit(enum collect_reason why, const char *name)
{
    if (cogc_init() != 0)
        return;
    if (unlikely(!enter())) {
        report_misuse("%s() from a signal handler that interrupted a cogc call on this thread: "
                      "refused, no collection (docs/signals.md)", name);
        return;
    }
    heap_lock();
    alloc_flush_counts(&tl_state);
    collect_locked(why);
    heap_unlock();
    leave();
    after_slow_path();
}

COGC_API void cogc_collect(void) { collect_explicit(COLLECT_EXPLICIT, "cogc_collect"); }

COGC_API void cogc_disable(void)
{
    if (cogc_init() != 0)
        return;
    heap_lock();
    collect_disabled++;
    heap_unlock();
}

COGC_API void cogc_enable(void)
{
    if (cogc_init() != 0)
        return;
    heap_lock();
    if (collect_disabled > 0)
        collect_disabled--;
    else
        report_misuse("cogc_enable without a matching cogc_disable; ignored");
    heap_unlock();
}

COGC_API void *cogc_base(const void *p) { return collector_ready() ? alloc_base(p) : NULL; }
COGC_API size_t cogc_size(const void *p)
{
    size_t n;
    if (unlikely(debug_used()) && debug_size(p, &n))
        return n;
    return collector_ready() ? alloc_size(p) : 0;
}

COGC_API int cogc_add_roots(void *lo, void *hi)
{
    if (cogc_init() != 0)
        return -1;
    return roots_add((uintptr_t)lo, (uintptr_t)hi);
}

COGC_API int cogc_remove_roots(void *lo, void *hi)
{
    if (cogc_init() != 0)
        return -1;
    return roots_remove((uintptr_t)lo, (uintptr_t)hi);
}

COGC_API int cogc_register_thread(void)
{
    if (cogc_init() != 0)
        return -1;
    return threads_register_self();
}

COGC_API int cogc_unregister_thread(void) { return threads_unregister_self(); }

COGC_API int cogc_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    return threads_create(t, attr, fn, arg, false);
}

/* For -Wl,--wrap=pthread_create with the static library. */
COGC_API int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    return threads_create(t, attr, fn, arg, false);
}

COGC_API int cogc_get_stats(struct cogc_stats *out, size_t size)
{
    if (!out) {
        errno = EINVAL;
        return -1;
    }
    struct cogc_stats s;
    if (collector_ready())
        stats_fill(&s);
    else
        memset(&s, 0, sizeof s);
    if (size > sizeof s)
        size = sizeof s;
    memcpy(out, &s, size);
    return 0;
}

COGC_API void cogc_set_heap_limit(size_t bytes)
{
    options_init();
    option_set(OPT_HEAP_LIMIT, (int64_t)(bytes > INT64_MAX ? INT64_MAX : bytes));
}

COGC_API size_t cogc_get_heap_limit(void)
{
    options_init();
    return (size_t)option(OPT_HEAP_LIMIT);
}

/* A tunable set through the API: within the range its COGC_* variable
 * accepts (options.c), else EINVAL and unchanged. */
static int set_option_checked(enum option_id id, uint64_t value)
{
    options_init();
    const struct option_desc *d = &option_table[id];
    if (value < (uint64_t)d->min || value > (uint64_t)d->max) {
        errno = EINVAL;
        return -1;
    }
    option_set(id, (int64_t)value);
    return 0;
}

COGC_API int cogc_set_growth(unsigned percent) { return set_option_checked(OPT_GROWTH, percent); }

/* The young generation's reach learned from the old trigger starts over
 * from the new one (collect.c). */
COGC_API int cogc_set_min_trigger(size_t bytes)
{
    if (set_option_checked(OPT_MIN_TRIGGER, bytes) != 0)
        return -1;
    if (!collector_ready())
        return 0;
    heap_lock();
    collect_min_trigger_set();
    heap_unlock();
    return 0;
}

COGC_API size_t cogc_get_min_trigger(void)
{
    options_init();
    return (size_t)option(OPT_MIN_TRIGGER);
}

COGC_API int cogc_set_pause_target(unsigned microseconds)
{
    return set_option_checked(OPT_PAUSE_TARGET_US, microseconds);
}

COGC_API unsigned cogc_get_pause_target(void)
{
    options_init();
    return (unsigned)option(OPT_PAUSE_TARGET_US);
}

COGC_API int cogc_set_free_space_divisor(unsigned divisor)
{
    return set_option_checked(OPT_FREE_SPACE_DIVISOR, divisor);
}

COGC_API unsigned cogc_get_free_space_divisor(void)
{
    options_init();
    return (unsigned)option(OPT_FREE_SPACE_DIVISOR);
}

COGC_API unsigned cogc_get_growth(void)
{
    options_init();
    return (unsigned)option(OPT_GROWTH);
}

COGC_API void cogc_set_interior_pointers(int on)
{
    options_init();
    option_set(OPT_INTERIOR, on ? 1 : 0);
}

COGC_API int cogc_get_interior_pointers(void)
{
    options_init();
    return (int)option(OPT_INTERIOR);
}

COGC_API void cogc_collect_minor(void) { collect_explicit(COLLECT_EXPLICIT_MINOR, "cogc_collect_minor"); }

COGC_API int cogc_bookmark_evict(size_t max_bytes, size_t *sent)
{
    if (sent)
        *sent = 0;
    if (cogc_init() != 0)
        return -1;
    if (unlikely(!enter())) {
        errno = EDEADLK;
        return -1;
    }
    int r = 0;
    heap_lock();
    if (!watch_enabled()) {
        errno = ENOTSUP;
        r = -1;
    } else {
        size_t pages = bookmark_evict(max_bytes / PAGE_SIZE, true, true);
        if (sent)
            *sent = pages * PAGE_SIZE;
    }
    heap_unlock();
    leave();
    return r;
}

COGC_API int cogc_prepare_syscall_write(void *p, size_t len)
{
    if (!p && len) {
        errno = EINVAL;
        return -1;
    }
    return collector_ready() ? tracking_prepare_syscall_write(p, len) : 0;
}

/* A mode switch under the heap lock; ENOTSUP when the dirty-bit backend
 * cannot watch the heap (the switch has warned why). */
static int set_mode(bool (*set)(bool), int on)
{
    if (cogc_init() != 0)
        return -1;
    heap_lock();
    bool ok = set(on != 0);
    heap_unlock();
    if (!ok) {
        errno = ENOTSUP;
        return -1;
    }
    return 0;
}

static int get_mode(bool (*get)(void))
{
    if (cogc_init() != 0)
        return 0;
    heap_lock();
    int on = get();
    heap_unlock();
    return on;
}

COGC_API int cogc_set_generational(int on) { return set_mode(collect_set_generational, on); }
COGC_API int cogc_get_generational(void) { return get_mode(collect_generational); }
COGC_API int cogc_set_incremental(int on) { return set_mode(collect_set_incremental, on); }
COGC_API int cogc_get_incremental(void) { return get_mode(incremental_enabled); }
COGC_API int cogc_enable_incremental(void) { return cogc_set_incremental(1); }

COGC_API int cogc_set_markers(unsigned n)
{
    if (n > 64) {
        errno = EINVAL;
        return -1;
    }
    if (cogc_init() != 0)
        return -1;
    heap_lock();
    collect_set_markers(n);
    heap_unlock();
    return 0;
}

COGC_API void cogc_set_warn_proc(cogc_warn_proc proc) { report_set_proc(proc); }

COGC_API void *cogc_call_with_lock(void *(*fn)(void *), void *arg)
{
    if (cogc_init() != 0)
        return NULL;
    if (unlikely(!enter())) {
        report_misuse("cogc_call_with_lock() from a signal handler that interrupted a cogc call on this "
                      "thread: refused, returning NULL (docs/signals.md)");
        return NULL;
    }
    heap_lock();
    void *r = fn(arg);   /* a cogc call from fn (forbidden) is refused, not a deadlock */
    heap_unlock();
    leave();
    return r;
}

COGC_API int cogc_thread_is_registered(void) { return tl_state.self != NULL; }
