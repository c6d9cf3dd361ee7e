#define _GNU_SOURCE
#include "threads.h"
#include "alloc.h"
#include "lock.h"
#include "mark.h"
#include "incremental.h"
#include "os.h"
#include "pressure.h"
#include "report.h"
#include "roots.h"
#include "race.h"
#include "regs.h"
#include "collect.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define SUSPEND_SIGNAL SIGPWR

static struct thread *registry;
static unsigned nthreads;
static struct thread *spare_records;
static struct thread *slab_next, *slab_end;   /* records never used yet */
static pthread_key_t exit_key;

/* The stop handshake.  `world` is the epoch: odd while the world is
 * stopped, bumped once to stop and once to restart, so each stop has its
 * own odd value.  threads_start_world does not wait for the threads to
 * leave the handler, and it need not:
 *  - a thread's handler waits for `world` to differ from the value it
 *    read, not to become even: one that is scheduled only after the next
 *    stop began (world w+2) leaves at once, and the next stop's signal,
 *    kept pending while the handler runs (the handler blocks every
 *    signal), calls the handler again right after, which reads w+2;
 *  - `acks` is reset for a stop before its signals go out, and a thread
 *    acknowledges a stop only from a handler that read that stop's odd
 *    value, after which it writes nothing the collector reads until its
 *    next acknowledgement: a late thread cannot be counted for a later
 *    stop, nor can its stack pointer (saved before the acknowledgement)
 *    be stale for one;
 *  - a thread still in the old handler runs no code of the program, so
 *    the next collection finding it there is as good as finding it
 *    stopped; it cannot acknowledge before it re-enters the handler for
 *    the new stop, and the collector waits for that.
 * So restarting is one atomic increment and one wake, whatever the
 * number of threads. */
static volatile int world;
static volatile int acks;

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
/* libc's pthread_create, and the first one in the global scope: a
 * sanitizer's interceptor when one is loaded (it must see every thread),
 * else libcogc.so's own interposer, else libc's.  While this thread is
 * creating a thread, the interposer passes straight to libc's. */
static create_fn real_create, outer_create;
static __thread int creating;

/* ---- records: from our own pages, never from malloc ----------------- */

/* Taken from a slab in order, so that a process with few threads touches
 * one page of it, not all 16. */
static struct thread *record_alloc(void)
{
    struct thread *t = spare_records;
    if (t) {
        spare_records = t->next;
    } else {
        if (slab_next == slab_end) {
            size_t n = 65536 / sizeof(struct thread);
            slab_next = os_map(n * sizeof *slab_next);
            if (!slab_next) {
                slab_end = NULL;
                return NULL;
            }
            slab_end = slab_next + n;
        }
        t = slab_next++;
    }
    memset(t, 0, sizeof *t);
    return t;
}

static void record_free(struct thread *t)
{
    t->next = spare_records;
    spare_records = t;
}

/* ---- suspension ----------------------------------------------------- */

static void suspend_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    int saved = errno;
    struct thread *t = tl_state.self;
    int w = __atomic_load_n(&world, __ATOMIC_ACQUIRE);
    /* Once per stop: under TSan a signal sent again may arrive after the
     * thread stopped for this stop, or only at the next one. */
    if (t && (w & 1) && __atomic_load_n(&t->stopped, __ATOMIC_RELAXED) != w) {
        /* The interrupted registers are in the signal frame above us.  A
         * handler that ThreadSanitizer held back is called later, as a
         * function, from the thread's next entry into its runtime: there
         * the signal frame is stale and a pointer may live only in a
         * callee-saved register, so those are saved in this frame. */
        __builtin_unwind_init();
        volatile uintptr_t here = 0;
        t->sp = (uintptr_t)&here;
        __atomic_store_n(&t->stopped, w, __ATOMIC_RELAXED);
        race_release(&acks);   /* what this thread wrote, to the collector */
        __atomic_add_fetch(&acks, 1, __ATOMIC_RELEASE);
        os_futex_wake(&acks, 1);
        while (__atomic_load_n(&world, __ATOMIC_ACQUIRE) == w)
            os_futex_wait(&world, w);
        race_acquire(&world);
    }
    errno = saved;
}

/* 0, or tgkill's errno once retries are spent.  EAGAIN is transient (the
 * kernel could not queue the signal); each retry lets the system breathe. */
#define SIGNAL_TRIES 100
static int signal_thread(const struct thread *t)
{
    int rc = 0;
    for (int i = 0; i < SIGNAL_TRIES; i++) {
        rc = os_signal_thread(t->tid, SUSPEND_SIGNAL);
        if (rc != EAGAIN && rc != EINTR)
            break;
        sched_yield();
    }
    return rc;
}

/* ThreadSanitizer (GCC 12's) runs the handler of an asynchronous signal
 * only when the thread next leaves one of its interceptors, or at once if
 * the thread is in one it knows blocks (nanosleep, pthread_cond_wait...);
 * read, write or waitpid are not among those.  A thread blocked in read
 * would hold the signal forever, as the system call restarts after TSan's
 * own handler (SA_RESTART).  So under TSan, threads that have not stopped
 * after RESEND_NS are signalled again with SA_RESTART off for the rest of
 * this stop: the signal ends such a system call with EINTR, the thread
 * leaves the interceptor and runs the handler.  (Signalled again, too,
 * because a signal that arrived inside the interceptor just before its
 * system call started interrupted nothing.)  The program sees EINTR only
 * from a system call that blocked a stop for RESEND_NS. */
#define RESEND_NS 20000000u
static struct sigaction suspend_action;

static void suspend_restarts(bool on)
{
    struct sigaction sa = suspend_action;
    if (!on)
        sa.sa_flags &= ~SA_RESTART;
    sigaction(SUSPEND_SIGNAL, &sa, NULL);
}

static void resend_to_laggards(int w, const struct thread *self)
{
    for (struct thread *t = registry; t; t = t->next)
        if (t != self && !t->blocked && __atomic_load_n(&t->stopped, __ATOMIC_RELAXED) != w)
            (void)signal_thread(t);   /* it was signalled once already: a failure here changes nothing */
}

void threads_stop_world(void)
{
    /* acks is reset before world turns odd: a thread signalled again at
     * the last stop may stop (and acknowledge) as soon as it does. */
    __atomic_store_n(&acks, 0, __ATOMIC_RELEASE);
    int w = __atomic_load_n(&world, __ATOMIC_RELAXED) + 1;
    int sent = 0;
    struct thread *self = tl_state.self;
    if (self)   /* a signal left over for this thread must not stop it */
        __atomic_store_n(&self->stopped, w, __ATOMIC_RELAXED);
    __atomic_store_n(&world, w, __ATOMIC_SEQ_CST);
    for (struct thread **pp = &registry; *pp;) {
        struct thread *t = *pp;
        /* In cogc_do_blocking: it runs no code of the program until it
         * takes the heap lock, which the collector holds. */
        if (t == self || t->blocked) {
            pp = &t->next;
            continue;
        }
        /* tgkill, not pthread_kill: since glibc 2.34 pthread_kill reports
         * success for a thread that has exited but is not joined, and such a
         * thread (one that registered again from a thread-specific
         * destructor after ours ran) would never acknowledge. */
        int rc = signal_thread(t);
        if (rc == 0) {
            sent++;
            pp = &t->next;
        } else if (rc != ESRCH) {
            /* A live thread that cannot be stopped would be collected
             * under: its stack would not be scanned. */
            report_fatal("stop the world: cannot signal thread %lu (tid %d): %s", (unsigned long)t->id,
                         t->tid, strerror(rc));
        } else {
            /* Gone without unregistering: forget it. */
            report_warn("thread %lu exited without unregistering (pthread_kill: %s); dropped",
                        (unsigned long)t->id, strerror(rc));
            *pp = t->next;
            nthreads--;
            record_free(t);
        }
    }
    int a;
    bool interrupting = false;
    while ((a = __atomic_load_n(&acks, __ATOMIC_ACQUIRE)) < sent) {
        if (!COGC_TSAN) {
            os_futex_wait(&acks, a);
            continue;
        }
        os_futex_wait_ns(&acks, a, RESEND_NS);
        if (__atomic_load_n(&acks, __ATOMIC_ACQUIRE) < sent) {
            if (!interrupting)
                suspend_restarts(false);
            interrupting = true;
            resend_to_laggards(w, self);
        }
    }
    if (interrupting)
        suspend_restarts(true);
    race_acquire(&acks);
}

void threads_start_world(void)
{
    race_release(&world);   /* what the collection wrote, to every thread */
    __atomic_add_fetch(&world, 1, __ATOMIC_ACQ_REL);
    os_futex_wake(&world, 1 << 30);
}

/* ---- roots ------------------------------------------------------------ */

void threads_push_roots(uintptr_t self_sp, bool settle_free_lists)
{
    struct thread *self = tl_state.self;
    for (struct thread *t = registry; t; t = t->next) {
        uintptr_t sp = t == self ? self_sp : t->blocked ? t->blocked_sp : t->sp;
        if (sp < t->stack_lo || sp > t->stack_hi)
            sp = t->stack_lo;   /* on another stack: scan all of ours */
        mark_push_root_range(sp, t->stack_hi);
        /* Every module's block, including those of libraries dlopen'ed
         * after the thread registered; the ranges found at registration
         * are the fallback. */
        size_t nmods, pushed = 0;
        const struct tls_module *mods = roots_tls_modules(&nmods);
        for (size_t i = 0; i < nmods; i++) {
            uintptr_t lo = (uintptr_t)os_thread_tls_block(t->id, mods[i].modid);
            if (lo) {
                mark_push_root_range(lo, lo + mods[i].size);
                pushed++;
            }
        }
        if (!pushed)
            for (unsigned i = 0; i < t->ntls; i++)
                mark_push_root_range(t->tls[i].lo, t->tls[i].hi);
        if (settle_free_lists)
            alloc_settle_free_lists(t->tl, t == self);
    }
}

static int tls_callback(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct thread *t = arg;
    if (!info->dlpi_tls_data)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_TLS || t->ntls >= MAX_TLS_RANGES)
            continue;
        uintptr_t lo = (uintptr_t)info->dlpi_tls_data;
        t->tls[t->ntls].lo = lo;
        t->tls[t->ntls].hi = lo + ph->p_memsz;
        t->ntls++;
    }
    return 0;
}

/* ---- registration ------------------------------------------------------ */

static void exit_destructor(void *arg)
{
    (void)arg;
    if (tl_state.self)
        threads_unregister_self();
}

int threads_register_self(void)
{
    if (tl_state.self)
        return 0;
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return -1;
    int rc = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    heap_lock();
    struct thread *t = record_alloc();
    if (!t) {
        heap_unlock();
        errno = ENOMEM;
        return -1;
    }
    t->id = pthread_self();
    t->tid = gettid();
    t->stack_lo = (uintptr_t)addr;
    t->stack_hi = (uintptr_t)addr + size;
    t->tl = &tl_state;
    dl_iterate_phdr(tls_callback, t);
    t->next = registry;
    registry = t;
    nthreads++;
    tl_state.self = t;
    heap_unlock();
    pthread_setspecific(exit_key, t);
    return 0;
}

int threads_unregister_self(void)
{
    struct thread *t = tl_state.self;
    if (!t) {
        errno = EINVAL;
        return -1;
    }
    heap_lock();
    struct thread **pp = &registry;
    while (*pp && *pp != t)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = t->next;
        nthreads--;
    }
    alloc_flush_counts(&tl_state);
    alloc_drop_free_lists(&tl_state);
    tl_state.self = NULL;
    record_free(t);
    heap_unlock();
    pthread_setspecific(exit_key, NULL);
    return 0;
}

unsigned threads_count(void) { return nthreads; }

/* ---- blocking regions ---------------------------------------------------- */

/* The frame scanned for a blocked thread: its callee-saved registers and
 * the call's arguments, then every caller's frame above. */
struct blocking_frame {
    struct regs_spill regs;
    void *(*fn)(void *);
    void *arg;
};

static void set_blocked(struct thread *t, bool on, uintptr_t sp)
{
    heap_lock();
    if (on)
        t->blocked_sp = sp;
    t->blocked = on;
    heap_unlock();
}

__attribute__((noinline)) void *threads_do_blocking(void *(*fn)(void *), void *arg)
{
    struct thread *t = tl_state.self;
    if (!t || t->blocked)
        return fn(arg);
    volatile struct blocking_frame f;
    regs_spill((struct regs_spill *)&f.regs);
    f.fn = fn;
    f.arg = arg;
    set_blocked(t, true, (uintptr_t)&f);
    void *r = fn(arg);
    /* Waits for a collection under way: the program's code runs again
     * only with the world. */
    set_blocked(t, false, 0);
    regs_keep(&f);
    return r;
}

COGC_API void *cogc_do_blocking(void *(*fn)(void *), void *arg)
{
    if (cogc_init() != 0)
        return fn(arg);
    return threads_do_blocking(fn, arg);
}

COGC_API void *cogc_call_with_gc_active(void *(*fn)(void *), void *arg)
{
    if (!collector_ready())
        return fn(arg);
    return threads_call_active(fn, arg);
}

void *threads_call_active(void *(*fn)(void *), void *arg)
{
    struct thread *t = tl_state.self;
    if (!t || !t->blocked)
        return fn(arg);
    uintptr_t sp = t->blocked_sp;
    set_blocked(t, false, 0);   /* stopped by signal, whole stack scanned */
    void *r = fn(arg);
    set_blocked(t, true, sp);   /* the frames below sp are the blocking function's */
    return r;
}

/* ---- creation ----------------------------------------------------------- */

struct start {
    void *(*fn)(void *);
    void *arg;
};

static bool find_create(void);

static void *trampoline(void *p)
{
    threads_register_self();
    struct start s = *(struct start *)p;
    cogc_free(p);
    return s.fn(s.arg);
}

int threads_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg, bool interposed)
{
    /* Called by ThreadSanitizer's interceptor: fn is TSan's thread start,
     * and nothing instrumented may run in the new thread before it (our
     * trampoline would crash there).  The thread registers itself at its
     * first allocation instead (docs/sanitizers.md).  Before cogc_init:
     * TSan starts its own thread this way in every fork child, and the
     * collector must not start (and read its options) there before the
     * child's program does. */
    if (COGC_TSAN && interposed)
        return find_create() ? real_create(th, attr, fn, arg) : EAGAIN;
    if (cogc_init() != 0)
        return EAGAIN;
    /* Uncollectable: arg may be the only reference to an object until the
     * new thread is registered. */
    struct start *s = cogc_malloc_uncollectable(sizeof *s);
    if (!s)
        return EAGAIN;
    s->fn = fn;
    s->arg = arg;
    /* From the interposer, whatever comes first (a sanitizer's interceptor)
     * has already seen this thread; re-entered through someone else's
     * wrapper, likewise: go straight to libc. */
    create_fn create = interposed || creating ? real_create : outer_create;
    creating++;
    int rc = create(th, attr, trampoline, s);
    creating--;
    if (rc != 0)
        cogc_free(s);
    return rc;
}

int threads_create_libc(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    return real_create(th, attr, fn, arg);
}

bool threads_creating(void) { return creating != 0; }

/* The collector's own threads are running their function when
 * threads_create_hidden returns.  A fork while a new thread is still in a
 * sanitizer's set-up leaves the locks that set-up holds held for ever in
 * the child: GCC 12's ASan allocates there under allocator locks it does
 * not take around fork, and the child's next new thread (the uffd
 * backend's fault handler, a marker) waited on one for ever (gdb:
 * SizeClassAllocator64::GetFromAllocator; unit-fork_marking with uffd
 * under ASan, about 1 run in 5). */
struct hidden_start {
    void *(*fn)(void *);
    void *arg;
    int running;
};

static void *hidden_trampoline(void *p)
{
    struct hidden_start *hs = p;
    void *(*fn)(void *) = hs->fn;
    void *arg = hs->arg;
    __atomic_store_n(&hs->running, 1, __ATOMIC_RELEASE);
    os_futex_wake(&hs->running, 1);
    return fn(arg);
}

int threads_create_hidden(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (!find_create())   /* the backends start before threads_init */
        return ENOSYS;
    struct hidden_start hs = {.fn = fn, .arg = arg, .running = 0};
    creating++;
    int rc = outer_create(th, attr, hidden_trampoline, &hs);
    creating--;
    if (rc == 0)
        while (!__atomic_load_n(&hs.running, __ATOMIC_ACQUIRE))
            os_futex_wait(&hs.running, 0);
    return rc;
}

int threads_create_unregistered(pthread_t *th, void *(*fn)(void *), void *arg)
{
    /* Every signal blocked (the program's handlers and the stop signal are
     * not for these threads) but the synchronous fault signals: a write by
     * the collector (a sweep's free list, a cleared weak link) to a page the
     * mprotect backend protects raises SIGSEGV, and a fault signal that is
     * blocked kills the process (cold-heap at 200 MiB with COGC_DIRTY=
     * mprotect: the notice thread's pressure collection, 5 runs of 5). */
    sigset_t mask, old;
    sigfillset(&mask);
    sigdelset(&mask, SIGSEGV);
    sigdelset(&mask, SIGBUS);
    sigdelset(&mask, SIGFPE);
    sigdelset(&mask, SIGILL);
    pthread_sigmask(SIG_SETMASK, &mask, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = threads_create_hidden(th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- fork ---------------------------------------------------------------- */

static void before_fork(void)
{
    heap_lock();
    incremental_before_fork();
}
static void after_fork_parent(void)
{
    incremental_after_fork_parent();
    heap_unlock();
}

static void after_fork_child(void)
{
    struct thread *self = tl_state.self, *next;
    for (struct thread *t = registry; t; t = next) {
        next = t->next;
        if (t != self) {
            alloc_drop_free_lists(t->tl);
            record_free(t);
        }
    }
    registry = self;
    nthreads = self ? 1 : 0;
    if (self) {
        self->id = pthread_self();
        self->tid = gettid();
        self->next = NULL;
    }
    mark_after_fork_child();
    incremental_after_fork_child();
    pthread_mutex_init(&heap_mutex, NULL);
    pressure_after_fork_child();
}

static bool find_create(void)
{
    if (real_create)
        return true;
    create_fn r = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    create_fn o = (create_fn)dlsym(RTLD_DEFAULT, "pthread_create");
    outer_create = o ? o : r;
    real_create = r ? r : o;
    return real_create != NULL;
}

int threads_init(void)
{
    if (!find_create()) {
        errno = ENOSYS;
        return -1;
    }
    race_atomic_word(&world, sizeof world);
    race_atomic_word(&acks, sizeof acks);
    struct sigaction *sa = &suspend_action;
    memset(sa, 0, sizeof *sa);
    sa->sa_sigaction = suspend_handler;
    sa->sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa->sa_mask);
    if (sigaction(SUSPEND_SIGNAL, sa, NULL) != 0)
        return -1;
    if (pthread_key_create(&exit_key, exit_destructor) != 0)
        return -1;
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    return 0;
}
