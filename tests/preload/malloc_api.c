/* The malloc family under libcogc-preload.so: results, alignment, errno,
 * overflow, foreign pointers, threads, fork, dlopen.  Run by ctest with
 * LD_PRELOAD set; refuses to run without the library (a pass without it
 * would test glibc). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                         \
        }                                                                       \
    } while (0)

typedef void *(*base_fn)(const void *);
static base_fn cogc_base;

static int in_heap(const void *p) { return cogc_base(p) != NULL; }

static void test_basic(void)
{
    for (size_t n = 0; n < 100000; n = n * 2 + 1) {
        char *p = malloc(n);
        CHECK(p && ((uintptr_t)p & 15) == 0 && in_heap(p));
        CHECK(malloc_usable_size(p) >= n);
        memset(p, 0xab, n);
        free(p);
    }
    int *z = calloc(1000, sizeof(int));
    CHECK(z);
    for (int i = 0; i < 1000; i++)
        CHECK(z[i] == 0);
    char *r = NULL;
    for (size_t n = 1; n < 200000; n = n * 3 + 7) {
        r = realloc(r, n);
        CHECK(r != NULL);
        r[n - 1] = 'x';
        CHECK(r[0] == 'x');
        r[0] = 'x';
    }
    CHECK(realloc(r, 0) == NULL);   /* frees, as glibc does */
    free(z);
    char *s = strdup("hello");
    CHECK(s && in_heap(s) && !strcmp(s, "hello"));
    free(s);
    CHECK(malloc_usable_size(NULL) == 0);
    free(NULL);
}

/* Called through volatile pointers: a compiler may otherwise assume an
 * allocation that is only compared with NULL succeeds, and drop it. */
static void *(*volatile malloc_v)(size_t) = malloc;
static void *(*volatile calloc_v)(size_t, size_t) = calloc;
static void *(*volatile realloc_v)(void *, size_t) = realloc;
static void *(*volatile reallocarray_v)(void *, size_t, size_t) = reallocarray;
static void *(*volatile pvalloc_v)(size_t) = pvalloc;
static void *(*volatile aligned_alloc_v)(size_t, size_t) = aligned_alloc;

static void test_overflow(void)
{
    errno = 0;
    CHECK(malloc_v(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc_v(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(reallocarray_v(NULL, SIZE_MAX / 4, 8) == NULL && errno == ENOMEM);
    void *p = malloc(10);
    errno = 0;
    CHECK(realloc_v(p, SIZE_MAX) == NULL && errno == ENOMEM);
    free(p);
    errno = 0;
    CHECK(pvalloc_v(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(aligned_alloc_v(4096, SIZE_MAX - 100) == NULL && errno == ENOMEM);
}

static void test_aligned(void)
{
    size_t sizes[] = {0, 1, 17, 100, 4000, 5000, 40000, 300000};
    for (size_t a = 1; a <= ((size_t)1 << 21); a <<= 1) {
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            size_t n = sizes[i];
            void *p = NULL;
            if (a >= sizeof(void *)) {
                CHECK(posix_memalign(&p, a, n) == 0);
                CHECK(p && (uintptr_t)p % a == 0 && malloc_usable_size(p) >= n);
                memset(p, 1, n);
                free(p);
            }
            p = aligned_alloc(a, n);
            CHECK(p && (uintptr_t)p % a == 0 && in_heap(p));
            p = realloc(p, n + 100);   /* aligned objects realloc too */
            CHECK(p != NULL);
            free(p);
            p = memalign(a, n);
            CHECK(p && (uintptr_t)p % a == 0 && malloc_usable_size(p) >= n);
            free(p);
        }
    }
    void *p = valloc(10);
    CHECK(p && (uintptr_t)p % 4096 == 0);
    free(p);
    p = pvalloc(10);
    CHECK(p && (uintptr_t)p % 4096 == 0 && malloc_usable_size(p) >= 4096);
    free(p);
    void *q = (void *)1;
    int saved = errno = 1234;
    CHECK(posix_memalign(&q, 24, 10) == EINVAL && q == (void *)1 && errno == saved);
    CHECK(posix_memalign(&q, 4, 10) == EINVAL);
    errno = 0;
    CHECK(aligned_alloc_v(24, 10) == NULL && errno == EINVAL);
    p = memalign(24, 10);   /* glibc rounds the alignment up */
    CHECK(p && (uintptr_t)p % 32 == 0);
    free(p);
}

static void test_introspection(void)
{
    static void *volatile keep;
    keep = malloc(1 << 20);
    struct mallinfo2 m = mallinfo2();
    if (!(m.arena >= (1 << 20) && m.uordblks >= (1 << 20)))
        fprintf(stderr, "mallinfo2: arena %zu in use %zu free %zu\n", m.arena, m.uordblks, m.fordblks);
    CHECK(m.arena >= (1 << 20) && m.uordblks >= (1 << 20));
    CHECK(malloc_trim(0) == 0 || malloc_trim(0) == 1);
    CHECK(mallopt(M_ARENA_MAX, 1) == 1);
    free(keep);
}

static void test_foreign(void)
{
    static char not_heap[64];
    free(not_heap);          /* reported once, ignored */
    free(not_heap + 8);
    CHECK(malloc_usable_size(not_heap) == 0);
    void *p = malloc(100);
    free((char *)p + 16);    /* interior: reported, ignored */
    CHECK(malloc_usable_size(p) >= 100);
    free(p);
}

static void *worker(void *arg)
{
    (void)arg;
    void *keep[256] = {0};
    for (int i = 0; i < 100000; i++) {
        int k = i & 255;
        free(keep[k]);
        keep[k] = malloc((size_t)(i * 7919) % 3000);
        CHECK(keep[k] != NULL);
    }
    for (int k = 0; k < 256; k++)
        free(keep[k]);
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

static void *hold_and_fork(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++)
        free(malloc(64 + (size_t)i % 5000));
    return NULL;
}

static void test_fork(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, hold_and_fork, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *(*collect)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "cogc_collect");
            for (int j = 0; j < 1000; j++)
                free(malloc(100));
            char *s = malloc(1 << 20);
            if (!s)
                _exit(1);
            if (collect)
                collect();
            _exit(0);
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    pthread_join(t, NULL);
}

/* Threads whose thread-specific destructors allocate after the collector
 * has unregistered them: they must not register again (a thread gone while
 * registered would stall the next collection: glibc 2.34+ pthread_kill
 * returns 0 for an exited, unjoined thread, so the stop waits for an
 * acknowledgement that never comes; or it is dropped with a warning). */
static pthread_key_t churn_key;
static volatile int dropped_warnings;

static void count_warning(const char *msg)
{
    if (strstr(msg, "without unregistering"))
        dropped_warnings++;
}

static void churn_destructor(void *v)
{
    free(v);
    static __thread int rounds;
    if (rounds++ < 4)   /* allocate in every destructor round glibc runs (4), the last included */
        pthread_setspecific(churn_key, malloc(48));
}

static void *churn_thread(void *arg)
{
    (void)arg;
    pthread_setspecific(churn_key, malloc(32));
    free(malloc(100));
    return NULL;
}

static void test_thread_exit(void)
{
    void (*set_warn)(void (*)(const char *)) = (void (*)(void (*)(const char *)))dlsym(RTLD_DEFAULT, "cogc_set_warn_proc");
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cogc_collect");
    CHECK(pthread_key_create(&churn_key, churn_destructor) == 0);
    set_warn(count_warning);
    for (int i = 0; i < 50; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, churn_thread, NULL) == 0);
        pthread_join(t, NULL);
        if (i % 10 == 0)
            collect();
    }
    collect();
    set_warn(NULL);
    CHECK(dropped_warnings == 0);
}

/* Memory allocated before a dlopen, referenced only from the new
 * library's data, survives collections (and its contents with it). */
static __attribute__((noinline)) uintptr_t fill_and_keep(void (*keep)(void *))
{
    volatile char *p = malloc(3000);
    CHECK(p != NULL);
    for (int i = 0; i < 3000; i++)
        p[i] = 0x5a;
    keep((void *)p);
    uintptr_t hidden = (uintptr_t)p ^ 0xffff;   /* no other reference */
    p = NULL;
    return hidden;
}

static __attribute__((noinline)) void scrub_stack(void)
{
    volatile char buf[16384];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
}

static void test_dlopen(void)
{
    void *h = dlopen(DLOPEN_MODULE, RTLD_NOW);
    CHECK(h != NULL);
    if (!h)
        return;
    void (*keep)(void *) = (void (*)(void *))dlsym(h, "dlopen_mod_keep");
    void **slot = dlsym(h, "dlopen_mod_slot");
    uintptr_t hidden = fill_and_keep(keep);
    scrub_stack();
    void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "cogc_collect");
    for (int round = 0; round < 3; round++) {
        collect();
        for (int i = 0; i < 20000; i++) {
            char *q = malloc(3000);   /* would reuse the object had it been freed */
            CHECK(q != NULL && (uintptr_t)q != (hidden ^ 0xffff));
            free(q);
        }
    }
    char *back = *slot;
    CHECK((uintptr_t)back == (hidden ^ 0xffff));
    for (int i = 0; i < 3000; i++)
        if (back[i] != 0x5a) {
            CHECK(back[i] == 0x5a);
            break;
        }
    free(back);
    *slot = NULL;
}

int main(void)
{
    cogc_base = (base_fn)dlsym(RTLD_DEFAULT, "cogc_base");
    if (!cogc_base || !dlsym(RTLD_DEFAULT, "cogc_report_leaks")) {
        fprintf(stderr, "libcogc-preload.so is not loaded (LD_PRELOAD)\n");
        return 1;
    }
    test_basic();
    test_overflow();
    test_aligned();
    test_introspection();
    test_foreign();
    test_threads();
    test_fork();
    test_dlopen();
    test_thread_exit();
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
