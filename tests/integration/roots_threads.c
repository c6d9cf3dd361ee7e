/* roots_threads: objects reachable only from the stack of another thread
 * that is blocked (in read(), pthread_cond_wait, a nanosleep loop) while the
 * main thread collects.  Threads are made with cogc_pthread_create, with
 * plain pthread_create (interposed by libcogc.so), and with the real libc
 * pthread_create followed by an explicit cogc_register_thread. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#define LIST_LEN 3000

enum block_mode { BLOCK_READ, BLOCK_COND, BLOCK_NANOSLEEP };
enum create_mode { CREATE_COGC, CREATE_PLAIN, CREATE_LIBC_EXPLICIT };

struct worker {
    enum block_mode block;
    enum create_mode create;
    uint64_t seed;
    int depth;                  /* extra recursion before blocking */
    int ready_pipe[2];          /* worker -> main: "my data is built" */
    int go_pipe[2];             /* main -> worker: BLOCK_READ release */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go;                     /* BLOCK_COND release, under mu */
    atomic_int go_flag;         /* BLOCK_NANOSLEEP release */
    /* results, read after join */
    size_t bad;
    int unreg_before_rc, unreg_before_errno;
    int reg_rc, reg_again_rc;
    int unreg_rc, unreg_again_rc, unreg_again_errno;
};

static void worker_block(struct worker *w)
{
    char c = 'r';
    ssize_t r = write(w->ready_pipe[1], &c, 1);
    (void)r;
    switch (w->block) {
    case BLOCK_READ:
        while (read(w->go_pipe[0], &c, 1) < 0 && errno == EINTR)
            ;
        break;
    case BLOCK_COND:
        pthread_mutex_lock(&w->mu);
        while (!w->go)
            pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
        break;
    case BLOCK_NANOSLEEP:
        while (!atomic_load(&w->go_flag)) {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        break;
    }
}

/* Recurse `depth` frames of ~4 KB, each holding its own list in a stack
 * slot, then block; each frame verifies its list on the way back. */
static TU_NOINLINE size_t hold_and_block(struct worker *w, int depth)
{
    struct tu_node *volatile head = tu_list_make(depth ? 20 : LIST_LEN, w->seed + (uint64_t)depth);
    volatile char pad[4000];
    pad[0] = pad[3999] = 1;
    size_t bad = 0;
    if (depth > 0) {
        bad += hold_and_block(w, depth - 1);
    } else {
        tu_clear_stack();
        worker_block(w);
    }
    if (pad[0] != 1 || pad[3999] != 1)
        bad++;
    return bad + tu_list_bad(head, depth ? 20 : LIST_LEN, w->seed + (uint64_t)depth);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (w->create == CREATE_LIBC_EXPLICIT) {
        errno = 0;
        w->unreg_before_rc = cogc_unregister_thread();
        w->unreg_before_errno = errno;
        w->reg_rc = cogc_register_thread();
        w->reg_again_rc = cogc_register_thread();
    }
    w->bad = hold_and_block(w, w->depth);
    if (w->create == CREATE_LIBC_EXPLICIT) {
        w->unreg_rc = cogc_unregister_thread();
        errno = 0;
        w->unreg_again_rc = cogc_unregister_thread();
        w->unreg_again_errno = errno;
    }
    return NULL;
}

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* libc's own pthread_create, bypassing libcogc.so's interposition.  Under
 * ThreadSanitizer a thread must be created through its interceptor (else
 * the thread's first instrumented call crashes): there the global one,
 * TSan's, whose call reaches libcogc.so's interposer, which under TSan
 * passes it on to libc without registering the thread either. */
static pthread_create_fn libc_pthread_create(void)
{
    if (TU_TSAN)
        return pthread_create;
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    ck_assert_ptr_nonnull(h);
    pthread_create_fn f = (pthread_create_fn)dlsym(h, "pthread_create");
    ck_assert_ptr_nonnull(f);
    return f;
}

static void worker_init(struct worker *w, enum block_mode b, enum create_mode c, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->block = b;
    w->create = c;
    w->seed = seed;
    ck_assert_int_eq(pipe(w->ready_pipe), 0);
    ck_assert_int_eq(pipe(w->go_pipe), 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->go_flag, 0);
}

static void worker_start(struct worker *w, pthread_t *t, const pthread_attr_t *attr)
{
    int rc;
    switch (w->create) {
    case CREATE_COGC:
        rc = cogc_pthread_create(t, attr, worker_main, w);
        break;
    case CREATE_PLAIN:
        rc = pthread_create(t, attr, worker_main, w);
        break;
    default:
        rc = libc_pthread_create()(t, attr, worker_main, w);
        break;
    }
    ck_assert_int_eq(rc, 0);
}

static void worker_wait_ready(struct worker *w)
{
    char c;
    ssize_t r;
    while ((r = read(w->ready_pipe[0], &c, 1)) < 0 && errno == EINTR)
        ;
    ck_assert_int_eq(r, 1);
}

static void worker_release(struct worker *w)
{
    char c = 'g';
    ck_assert_int_eq(write(w->go_pipe[1], &c, 1), 1);
    pthread_mutex_lock(&w->mu);
    w->go = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    atomic_store(&w->go_flag, 1);
}

static void worker_destroy(struct worker *w)
{
    close(w->ready_pipe[0]);
    close(w->ready_pipe[1]);
    close(w->go_pipe[0]);
    close(w->go_pipe[1]);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

/* One worker: start, wait until blocked, collect hard, release, verify. */
static void run_one(enum block_mode b, enum create_mode c, int depth, const pthread_attr_t *attr)
{
    struct worker w;
    worker_init(&w, b, c, 0x1000 + (uint64_t)b * 16 + (uint64_t)c);
    w.depth = depth;
    struct cogc_stats s0 = tu_stats();
    pthread_t t;
    worker_start(&w, &t, attr);
    worker_wait_ready(&w);
    struct cogc_stats s1 = tu_stats();
    ck_assert_msg(s1.threads == s0.threads + 1,
                  "registered threads %u while one extra thread runs, %u before",
                  s1.threads, s0.threads);
    tu_collect_hard(3);
    worker_release(&w);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_msg(w.bad == 0, "%zu damaged nodes in the blocked thread's list", w.bad);
    struct cogc_stats s2 = tu_stats();
    ck_assert_msg(s2.threads == s0.threads, "registered threads %u after join, %u before",
                  s2.threads, s0.threads);
    if (c == CREATE_LIBC_EXPLICIT) {
        ck_assert_int_eq(w.unreg_before_rc, -1);
        ck_assert_int_eq(w.unreg_before_errno, EINVAL);
        ck_assert_int_eq(w.reg_rc, 0);
        ck_assert_int_eq(w.reg_again_rc, 0);
        ck_assert_int_eq(w.unreg_rc, 0);
        ck_assert_int_eq(w.unreg_again_rc, -1);
        ck_assert_int_eq(w.unreg_again_errno, EINVAL);
    }
    worker_destroy(&w);
}

START_TEST(test_cogc_thread_blocked_in_read) { run_one(BLOCK_READ, CREATE_COGC, 0, NULL); }
END_TEST
START_TEST(test_cogc_thread_blocked_in_cond_wait) { run_one(BLOCK_COND, CREATE_COGC, 0, NULL); }
END_TEST
START_TEST(test_cogc_thread_blocked_in_nanosleep) { run_one(BLOCK_NANOSLEEP, CREATE_COGC, 0, NULL); }
END_TEST
START_TEST(test_plain_thread_blocked_in_read) { run_one(BLOCK_READ, CREATE_PLAIN, 0, NULL); }
END_TEST
START_TEST(test_plain_thread_blocked_in_cond_wait) { run_one(BLOCK_COND, CREATE_PLAIN, 0, NULL); }
END_TEST
START_TEST(test_plain_thread_blocked_in_nanosleep) { run_one(BLOCK_NANOSLEEP, CREATE_PLAIN, 0, NULL); }
END_TEST
START_TEST(test_explicit_register_blocked_in_read) { run_one(BLOCK_READ, CREATE_LIBC_EXPLICIT, 0, NULL); }
END_TEST
START_TEST(test_explicit_register_blocked_in_cond_wait) { run_one(BLOCK_COND, CREATE_LIBC_EXPLICIT, 0, NULL); }
END_TEST

/* A deep stack (~800 KB of frames, each with its own list): both the frames
 * near the stack base and those near the stack pointer are roots. */
START_TEST(test_deep_stack_blocked)
{
    run_one(BLOCK_READ, CREATE_COGC, 200, NULL);
    run_one(BLOCK_COND, CREATE_PLAIN, 200, NULL);
}
END_TEST

/* A thread running on a stack the program mmap'ed itself. */
START_TEST(test_user_supplied_stack)
{
    size_t sz = 4 << 20;
    void *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    ck_assert_ptr_ne(stk, MAP_FAILED);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    ck_assert_int_eq(pthread_attr_setstack(&attr, stk, sz), 0);
    run_one(BLOCK_READ, CREATE_COGC, 100, &attr);
    run_one(BLOCK_NANOSLEEP, CREATE_PLAIN, 100, &attr);
    pthread_attr_destroy(&attr);
    munmap(stk, sz);
}
END_TEST

/* Six threads of every kind blocked at once while the main thread collects,
 * and a thread that allocates concurrently with the collections. */
START_TEST(test_many_blocked_at_once)
{
    enum { N = 6 };
    struct worker w[N];
    pthread_t t[N];
    struct cogc_stats s0 = tu_stats();
    for (int i = 0; i < N; i++) {
        worker_init(&w[i], (enum block_mode)(i % 3), (enum create_mode)(i / 2 % 3), 0x7000 + (uint64_t)i);
        w[i].depth = i * 5;
        worker_start(&w[i], &t[i], NULL);
    }
    for (int i = 0; i < N; i++)
        worker_wait_ready(&w[i]);
    struct cogc_stats s1 = tu_stats();
    ck_assert_uint_eq(s1.threads, s0.threads + N);
    tu_collect_hard(4);
    for (int i = 0; i < N; i++)
        worker_release(&w[i]);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_msg(w[i].bad == 0, "worker %d: %zu damaged nodes", i, w[i].bad);
        worker_destroy(&w[i]);
    }
}
END_TEST

/* The argument handed to pthread_create is the only reference to a list:
 * collections right after the create (before, during or after the new
 * thread registers itself) must not free it.  Under ASan and TSan the plain
 * pthread_create is the sanitizer's, which hides the argument in memory the
 * collector cannot see until the thread starts: only cogc_pthread_create
 * is tested there (see TU_PTHREAD_CREATE_INTERCEPTED). */
#define ARG_LIST 50

static void *arg_thread(void *arg)
{
    tu_churn(64, 200);
    return (void *)(uintptr_t)tu_list_bad(arg, ARG_LIST, 0xA000);
}

static TU_NOINLINE int create_with_list_arg(pthread_t *t, int plain)
{
    struct tu_node *volatile l = tu_list_make(ARG_LIST, 0xA000);
    int rc = plain ? pthread_create(t, NULL, arg_thread, l) : cogc_pthread_create(t, NULL, arg_thread, l);
    l = NULL;
    return rc;
}

START_TEST(test_thread_argument_only_reference)
{
    size_t bad = 0;
    if (TU_PTHREAD_CREATE_INTERCEPTED)
        printf("NOTE: sanitizer intercepts pthread_create: plain pthread_create not tested here\n");
    for (int i = 0; i < 100; i++) {
        pthread_t t;
        ck_assert_int_eq(create_with_list_arg(&t, TU_PTHREAD_CREATE_INTERCEPTED ? 0 : i % 2), 0);
        tu_clear_stack();
        cogc_collect();
        tu_churn(64, 3000);
        void *ret;
        ck_assert_int_eq(pthread_join(t, &ret), 0);
        bad += (size_t)(uintptr_t)ret;
    }
    ck_assert_msg(bad == 0, "%zu damaged nodes reachable only from a new thread's argument", bad);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("roots_threads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cogc_thread_blocked_in_read);
    tcase_add_test(tc, test_cogc_thread_blocked_in_cond_wait);
    tcase_add_test(tc, test_cogc_thread_blocked_in_nanosleep);
    tcase_add_test(tc, test_plain_thread_blocked_in_read);
    tcase_add_test(tc, test_plain_thread_blocked_in_cond_wait);
    tcase_add_test(tc, test_plain_thread_blocked_in_nanosleep);
    tcase_add_test(tc, test_explicit_register_blocked_in_read);
    tcase_add_test(tc, test_explicit_register_blocked_in_cond_wait);
    tcase_add_test(tc, test_deep_stack_blocked);
    tcase_add_test(tc, test_user_supplied_stack);
    tcase_add_test(tc, test_many_blocked_at_once);
    tcase_add_test(tc, test_thread_argument_only_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
