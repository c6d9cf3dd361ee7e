/*
 * testutil.h - small helpers shared by cogc's Check-based tests.
 *
 * Everything is static inline / static so each test program gets its own
 * copy; include after <check.h> and <cogc.h>.
 *
 * Conventions:
 *  - Data written into test objects never looks like a pointer: every word
 *    has its top bit set (a non-canonical address on x86-64 and aarch64), so
 *    test contents never retain anything by accident.
 *  - "Hidden" pointers are stored XOR-ed with TU_HIDE_MASK, which also gives
 *    a non-canonical value, so the collector cannot see them.
 *  - ck_assert must only be called from the thread running the test (with
 *    CK_FORK=no a failed assertion longjmps); worker threads report errors
 *    through return values or counters.
 */
#ifndef COGC_TESTUTIL_H
#define COGC_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <check.h>
#include <cogc.h>

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__clang__)
#define TU_NOINLINE __attribute__((noinline))
#else
#define TU_NOINLINE __attribute__((noinline, noclone))
#endif
#define TU_UNUSED __attribute__((unused))
#define TU_BARRIER() __asm__ volatile("" ::: "memory")

/* Sanitizer builds (docs/sanitizers.md).  ASan and TSan put their own
 * pthread_create interceptor in front of libcogc.so's: the interceptor
 * keeps the thread's start argument in the sanitizer's private memory,
 * which the collector does not scan, until the new thread runs. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TU_PTHREAD_CREATE_INTERCEPTED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TU_PTHREAD_CREATE_INTERCEPTED 1
#endif
#endif
#ifndef TU_PTHREAD_CREATE_INTERCEPTED
#define TU_PTHREAD_CREATE_INTERCEPTED 0
#endif

#if defined(__SANITIZE_THREAD__)
#define TU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_TSAN 1
#endif
#endif
#ifndef TU_TSAN
#define TU_TSAN 0
#endif

/* A fork while a thread is still in the sanitizer's own set-up leaves the
 * locks that set-up holds held for ever in the child: GCC 12's ASan
 * allocates there (pthread_getattr_np's calloc and free) under allocator
 * locks it does not take around fork, and the child's next new thread
 * waits on one for ever (gdb: SizeClassAllocator64::GetFromAllocator
 * <- AsanThread::Init, the lock of the size class the parent's newest
 * thread was allocating from; fork_threads hung in 5 runs of 19).  The
 * collector's own threads are running when their creation returns
 * (threads.c); a test that forks has each thread it starts call
 * tu_thread_started first, and waits for them with tu_wait_threads_started
 * before it forks. */
static atomic_int tu_threads_running;
static TU_UNUSED void tu_thread_started(void) { atomic_fetch_add(&tu_threads_running, 1); }
static TU_UNUSED void tu_wait_threads_started(int n)
{
    while (atomic_load(&tu_threads_running) < n)
        sched_yield();
}

/* TSan refuses to start a thread in the child of a multi-threaded fork
 * (die_after_fork): tests start none there under TSan. */
#define TU_FORK_CHILD_THREADS (!TU_TSAN)

/* COGC_TEST_LIGHT=1 (set by the tsan test preset, CMakePresets.json):
 * long tests run fewer iterations or smaller sizes, with the same checks
 * (under ThreadSanitizer the full sizes took over an hour in all). */
static inline int tu_light(void)
{
    const char *v = getenv("COGC_TEST_LIGHT");
    return v && strcmp(v, "1") == 0;
}

/* A program mutex that a thread may hold while it allocates or collects.
 * Under ThreadSanitizer a thread waiting in pthread_mutex_lock never runs
 * the collector's stop-the-world signal handler (TSan holds the signal
 * until the thread next enters its runtime), so a collection by the
 * holder would wait for it forever; there each trylock is such an entry
 * (docs/sanitizers.md). */
static inline void tu_mutex_lock(pthread_mutex_t *m)
{
    if (TU_TSAN) {
        while (pthread_mutex_trylock(m) != 0)
            sched_yield();
        return;
    }
    pthread_mutex_lock(m);
}

/* Time limit for a forked child: SIGALRM ends it.  Check installs its own
 * SIGALRM handler, which the child inherits and which kills the caller's
 * whole process group when CK_FORK=no (ctest and the shell included), so
 * the default action is restored first. */
/* A test that hangs dies by SIGALRM after `seconds`, printing where the
 * thread that got the signal was (the one that called tu_alarm, unless
 * it blocks SIGALRM): a hang on a loaded CI machine leaves at least that. */
static TU_UNUSED void tu_alarm_handler(int sig)
{
    static const char msg[] = "tu_alarm: time limit reached; this thread was at:\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing to do: the report is best effort */
    }
    void *frames[48];
    backtrace_symbols_fd(frames, backtrace(frames, 48), 2);
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void tu_alarm(unsigned seconds)
{
    void *warm[1];
    backtrace(warm, 1);   /* loads the unwinder now, not in the handler */
    signal(SIGALRM, tu_alarm_handler);
    alarm(seconds);
}

#define TU_HIDE_MASK ((uintptr_t)0xA5A5A5A5A5A5A5A5ull)
#define TU_HIDE(p) ((uintptr_t)(p) ^ TU_HIDE_MASK)
#define TU_UNHIDE(h) ((void *)((uintptr_t)(h) ^ TU_HIDE_MASK))

/* xorshift64: the next pseudo-random word of the stream *s (non-zero). */
static inline uint64_t tu_rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Word i of a pseudo-random, never-pointer-like sequence for `seed`. */
static inline uint64_t tu_word(uint64_t seed, uint64_t i)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + (i + 1) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return x | 0x8000000000000000ull;
}

static inline uint8_t tu_byte(uint64_t seed, size_t i)
{
    return (uint8_t)(tu_word(seed, i / 8) >> (8 * (i % 8)));
}

/* Fill / check `bytes` bytes at p with the sequence for `seed`. */
static TU_UNUSED void tu_fill(void *p, size_t bytes, uint64_t seed)
{
    uint64_t *w = p;
    size_t nw = bytes / 8;
    for (size_t i = 0; i < nw; i++)
        w[i] = tu_word(seed, i);
    for (size_t i = nw * 8; i < bytes; i++)
        ((uint8_t *)p)[i] = tu_byte(seed, i);
}

/* Returns the offset of the first wrong byte, or (size_t)-1 if all good. */
static TU_UNUSED size_t tu_check_at(const void *p, size_t bytes, uint64_t seed)
{
    const uint64_t *w = p;
    size_t nw = bytes / 8;
    for (size_t i = 0; i < nw; i++)
        if (w[i] != tu_word(seed, i))
            return i * 8;
    for (size_t i = nw * 8; i < bytes; i++)
        if (((const uint8_t *)p)[i] != tu_byte(seed, i))
            return i;
    return (size_t)-1;
}

static inline int tu_check(const void *p, size_t bytes, uint64_t seed)
{
    return tu_check_at(p, bytes, seed) == (size_t)-1;
}

/* ---- Linked lists of self-checking 64-byte nodes ------------------------ */

#define TU_NODE_MAGIC 0xC0DEFACE0000ABCDull
#define TU_NODE_WORDS 4

struct tu_node {
    uint64_t magic;
    uint64_t id;                       /* seed-derived, never pointer-like */
    struct tu_node *next;
    uint64_t payload[TU_NODE_WORDS];
    uint64_t check;                    /* xor of the words above but next */
};

static inline uint64_t tu_node_id(uint64_t seed, size_t i) { return tu_word(seed ^ 0x5555, i); }

static inline uint64_t tu_node_sum(const struct tu_node *n)
{
    uint64_t s = n->magic ^ (n->id * 3);
    for (int i = 0; i < TU_NODE_WORDS; i++)
        s ^= n->payload[i] + (uint64_t)i;
    return s | 0x8000000000000000ull;
}

static inline void tu_node_init(struct tu_node *n, uint64_t seed, size_t i)
{
    n->magic = TU_NODE_MAGIC;
    n->id = tu_node_id(seed, i);
    for (int k = 0; k < TU_NODE_WORDS; k++)
        n->payload[k] = tu_word(n->id, (uint64_t)k);
    n->check = tu_node_sum(n);
}

static inline int tu_node_ok(const struct tu_node *n, uint64_t seed, size_t i)
{
    if (n->magic != TU_NODE_MAGIC || n->id != tu_node_id(seed, i) || n->check != tu_node_sum(n))
        return 0;
    for (int k = 0; k < TU_NODE_WORDS; k++)
        if (n->payload[k] != tu_word(n->id, (uint64_t)k))
            return 0;
    return 1;
}

/* A list of n nodes; node i (from the head) is tu_node_init(seed, i).
 * Returns NULL if an allocation fails. */
static TU_NOINLINE TU_UNUSED struct tu_node *tu_list_make(size_t n, uint64_t seed)
{
    struct tu_node *head = NULL;
    for (size_t i = n; i-- > 0;) {
        struct tu_node *x = cogc_malloc(sizeof *x);
        if (!x)
            return NULL;
        tu_node_init(x, seed, i);
        x->next = head;
        head = x;
    }
    return head;
}

/* Number of problems in a list made by tu_list_make(n, seed): 0 if intact. */
static TU_NOINLINE TU_UNUSED size_t tu_list_bad(const struct tu_node *head, size_t n, uint64_t seed)
{
    size_t bad = 0, i = 0;
    for (const struct tu_node *x = head; x && i < n; x = x->next, i++) {
        /* a damaged node's link cannot be trusted: stop there, counting
         * the rest of the list as bad (never dereference garbage) */
        if (cogc_base(x) != x || cogc_size(x) < sizeof *x || !tu_node_ok(x, seed, i))
            return bad + (n - i);
    }
    if (i != n)
        bad += n - i;
    return bad;
}

/* ---- Pressure ------------------------------------------------------------ */

#define TU_GARBAGE_WORD 0xDDDDDDDDDDDDDDDDull

/* Allocate `count` objects of `size` bytes, fill them with a garbage pattern
 * and drop them: memory wrongly freed gets reused and overwritten. */
static TU_NOINLINE TU_UNUSED void tu_churn(size_t size, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t *p = cogc_malloc(size);
        if (!p)
            return;
        for (size_t k = 0; k < size / 8; k++)
            p[k] = TU_GARBAGE_WORD;
    }
}

/* Zero a large area of stack below the caller, wiping stale copies of
 * pointers left by earlier calls. */
static TU_NOINLINE TU_UNUSED void tu_clear_stack(void)
{
    char buf[64 * 1024];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* cogc initialised in generational mode, or the test skipped with why. */
static TU_UNUSED void tu_init_generational(void)
{
    if (cogc_init() != 0)
        exit(1);
    if (cogc_set_generational(1) != 0) {
        printf("SKIP: generational mode unavailable here: %s\n", strerror(errno));
        exit(77);
    }
}

/* A minor (full) collection with no stale pointer left on the stack. */
static TU_UNUSED void tu_minor(void)
{
    tu_clear_stack();
    cogc_collect_minor();
}

static TU_UNUSED void tu_full(void)
{
    tu_clear_stack();
    cogc_collect();
}

/* Several full collections, with garbage of many small sizes allocated
 * between them so any wrongly freed small object is overwritten. */
static TU_NOINLINE TU_UNUSED void tu_collect_hard(int rounds)
{
    static const size_t sizes[] = {16, 32, 48, 64, 80, 96, 128, 192, 256, 512, 1024, 4096};
    for (int r = 0; r < rounds; r++) {
        tu_clear_stack();
        cogc_collect();
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            tu_churn(sizes[i], sizes[i] <= 256 ? 3000 : 300);
    }
    cogc_collect();
}

static inline struct cogc_stats tu_stats(void)
{
    struct cogc_stats s;
    memset(&s, 0, sizeof s);
    int rc = cogc_get_stats(&s, sizeof s);
    ck_assert_int_eq(rc, 0);
    return s;
}

/* Exits 77, saying why, when no minor collection ran since `before` (the
 * dirty-bit backend cannot track the heap: generational mode is off). */
static TU_UNUSED void tu_skip_unless_minor_since(const struct cogc_stats *before)
{
    struct cogc_stats now = tu_stats();
    if (now.minor_collections == before->minor_collections) {
        printf("SKIP: no minor collection ran (generational mode unavailable: backend \"%s\")\n",
               now.dirty_backend);
        exit(77);
    }
}

/* ---- Pacing a collecting thread ------------------------------------------ */

/* A thread that collects in a loop while others mutate must not starve
 * them: each collection holds the heap lock (and, for the uffd backend,
 * blocks write faults) and the next one would start the moment it ends.
 * The mutators call tu_pace_step() as they make progress; the collector
 * collects once per step (or fewer), so collections still land at
 * arbitrary points of the mutation, however the threads are scheduled.
 * Its mutex is taken with tu_mutex_lock: a mutator stopped by a collection
 * may hold it. */
struct tu_pace {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long steps;
    int stopped;
};
#define TU_PACE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0}

static TU_UNUSED void tu_pace_step(struct tu_pace *p)
{
    tu_mutex_lock(&p->mu);
    p->steps++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static TU_UNUSED void tu_pace_stop(struct tu_pace *p)
{
    tu_mutex_lock(&p->mu);
    p->stopped = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static TU_UNUSED void tu_pace_reset(struct tu_pace *p)
{
    tu_mutex_lock(&p->mu);
    p->steps = 0;
    p->stopped = 0;
    pthread_mutex_unlock(&p->mu);
}

/* Waits for a step after *seen; false once stopped. */
static TU_UNUSED int tu_pace_wait(struct tu_pace *p, unsigned long *seen)
{
    tu_mutex_lock(&p->mu);
    while (p->steps == *seen && !p->stopped)
        pthread_cond_wait(&p->cv, &p->mu);
    /* Steps not yet answered get one more round even after the stop: on a
     * loaded machine the collector may first run when the mutators are
     * done, and a test expects at least one collection. */
    int go = p->steps != *seen || !p->stopped;
    *seen = p->steps;
    pthread_mutex_unlock(&p->mu);
    return go;
}

/* ---- Reclamation measurement ---------------------------------------------- */

static int tu_cmp_uptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* hidden[i] = TU_HIDE(start of an object of `size` bytes) that the caller
 * believes unreachable.  Collects, then counts objects that are provably
 * gone: cogc_size() says they are not allocated, or a later allocation of
 * the same size returned their address.  Returns that count. */
static TU_NOINLINE TU_UNUSED size_t tu_count_reclaimed(const uintptr_t *hidden, size_t n, size_t size)
{
    for (int i = 0; i < 3; i++) {
        tu_clear_stack();
        cogc_collect();
    }
    char *gone = calloc(n, 1);
    ck_assert_ptr_nonnull(gone);
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (cogc_size(TU_UNHIDE(hidden[i])) == 0) {
            gone[i] = 1;
            count++;
        }
    if (count < n) {
        size_t m = 4 * n + 1024;
        uintptr_t *seen = malloc(m * sizeof *seen);
        ck_assert_ptr_nonnull(seen);
        size_t k = 0;
        for (; k < m; k++) {
            void *p = cogc_malloc(size);
            if (!p)
                break;
            seen[k] = TU_HIDE(p);
        }
        qsort(seen, k, sizeof *seen, tu_cmp_uptr);
        for (size_t i = 0; i < n; i++)
            if (!gone[i] && bsearch(&hidden[i], seen, k, sizeof *seen, tu_cmp_uptr)) {
                gone[i] = 1;
                count++;
            }
        free(seen);
    }
    free(gone);
    return count;
}

/* ---- Child processes ---------------------------------------------------- */

struct tu_child {
    int status;      /* from waitpid */
    char *out;       /* stdout, NUL-terminated, malloc'd */
    char *err;       /* stderr */
};

static char *tu_slurp_fd(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (len + 1024 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

extern char **environ;

/* Run this same executable as `self MODE` with the environment of this
 * process minus every COGC_* variable, plus `setenv` (NULL-terminated list
 * of "NAME=value").  Captures stdout and stderr.  Returns 0 or -1. */
static TU_UNUSED int tu_run_self(const char *mode, const char *const *setenv_list, struct tu_child *res)
{
    size_t nenv = 0, nset = 0;
    while (environ[nenv])
        nenv++;
    while (setenv_list && setenv_list[nset])
        nset++;
    char **envp = calloc(nenv + nset + 1, sizeof *envp);
    if (!envp)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "COGC_", 5) != 0)
            envp[k++] = environ[i];
    for (size_t i = 0; i < nset; i++)
        envp[k++] = (char *)setenv_list[i];
    envp[k] = NULL;

    FILE *out = tmpfile(), *err = tmpfile();
    if (!out || !err)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fileno(out), 1);
    posix_spawn_file_actions_adddup2(&fa, fileno(err), 2);
    char *argv[] = {(char *)"cogc-test-child", (char *)mode, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (rc != 0) {
        fclose(out);
        fclose(err);
        errno = rc;
        return -1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    res->status = st;
    res->out = tu_slurp_fd(fileno(out));
    res->err = tu_slurp_fd(fileno(err));
    fclose(out);
    fclose(err);
    return (res->out && res->err) ? 0 : -1;
}

static TU_UNUSED void tu_child_free(struct tu_child *c)
{
    free(c->out);
    free(c->err);
    c->out = c->err = NULL;
}

static TU_UNUSED size_t tu_count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (*s == '\n')
            n++;
    return n;
}

/* Standard main body: run `suite` and return the number of failures. */
/* The dirty-bit backend named by COGC_DIRTY must be the one in use: a
 * test run once per backend skips (exit 77, saying why) where this kernel
 * lacks it, rather than pass on the fallback.  Initialises the collector. */
static TU_UNUSED void tu_require_dirty_backend(void)
{
    const char *want = getenv("COGC_DIRTY");
    struct cogc_stats st;
    if (cogc_init() != 0) {
        perror("cogc_init");
        exit(1);
    }
    cogc_get_stats(&st, sizeof st);
    if (want && *want && strcmp(want, "auto") != 0 && strcmp(want, st.dirty_backend) != 0) {
        printf("SKIP: COGC_DIRTY=%s is not available here (running on %s)\n", want, st.dirty_backend);
        exit(77);
    }
}

static TU_UNUSED int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}

/* The tests, one test case of a suite `name`, run: TU_RUN_TESTS("x", a, b). */
static TU_UNUSED int tu_run_tests(const char *name, const TTest *const *tests)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("core");
    for (; *tests; tests++)
        tcase_add_test(tc, *tests);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
#define TU_RUN_TESTS(name, ...) tu_run_tests(name, (const TTest *const[]){__VA_ARGS__, NULL})

#endif /* COGC_TESTUTIL_H */
