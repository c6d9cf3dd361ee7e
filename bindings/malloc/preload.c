/* libcogc-preload.so: the malloc family on the cogc heap, for unmodified
 * programs (LD_PRELOAD).  COGC_MALLOC_MODE chooses what happens besides
 * allocation: nothing (none), collection of unreachable memory (collect),
 * or a report of leaked objects (leak).  docs/preload.md. */
#define _GNU_SOURCE
#include "wordmap.h"
#include "bootstrap.h"
#include "guard.h"
#include "leak.h"
#include "preload.h"
#include "cogc_preload.h"

#include "../../include/cogc.h"
#include "alloc.h"
#include "chunk.h"
#include "collect.h"
#include "lock.h"
#include "options.h"
#include "report.h"
#include "sizeclass.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/auxv.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

__thread int preload_guard __attribute__((tls_model("initial-exec")));

static pthread_once_t once = PTHREAD_ONCE_INIT;
static volatile int ready;
int preload_mode;   /* enum malloc_mode */

/* Set by this thread's exit destructor: from then on it allocates from
 * the bootstrap allocator, never registering again (a thread registered
 * after its last destructor round would stay in the registry when gone). */
static __thread int thread_exiting __attribute__((tls_model("initial-exec")));
static pthread_key_t exiting_key;

/* Interior pointers handed out for alignments above a page -> object. */
static pthread_mutex_t aligned_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct wordmap aligned_map;
static volatile int aligned_used;

/* ---- initialisation ------------------------------------------------------ */

static void on_thread_exit(void *arg)
{
    (void)arg;
    thread_exiting = 1;
}

static void fork_prepare(void)
{
    leak_lock_for_fork();
    pthread_mutex_lock(&aligned_mutex);
    preload_mmap_lock_for_fork();
    boot_lock_for_fork();
}

static void fork_parent(void)
{
    boot_unlock_after_fork();
    preload_mmap_unlock_after_fork();
    pthread_mutex_unlock(&aligned_mutex);
    leak_unlock_after_fork();
}

static void fork_child(void)
{
    boot_unlock_after_fork();
    preload_mmap_unlock_after_fork();
    pthread_mutex_init(&aligned_mutex, NULL);
    leak_unlock_after_fork();
}

/* The main thread's descriptor (glibc's struct pthread) was allocated by
 * the loader, outside any root; it holds malloc'ed memory (thread-specific
 * data blocks, a resized dtv).  Other threads' descriptors lie in their
 * stack blocks, which are scanned. */
static void add_main_thread_root(void)
{
    const unsigned *size = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
    if (size && *size) {
        char *self = (char *)pthread_self();
        cogc_add_roots(self, self + *size);
    }
}

/* The dynamic loader's code: what it allocates (thread descriptors' dtv,
 * TLS blocks, link maps) it frees explicitly, and some of it is referenced
 * only from memory that is no root (glibc's cache of thread stacks), so it
 * is allocated uncollectable. */
static uintptr_t loader_lo, loader_hi;

static int find_loader(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    if (info->dlpi_addr != (uintptr_t)arg)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            loader_lo = info->dlpi_addr + ph->p_vaddr;
            loader_hi = loader_lo + ph->p_memsz;
        }
    }
    return 1;
}

static inline bool from_loader(const void *ret)
{
    return unlikely((uintptr_t)ret - loader_lo < loader_hi - loader_lo);
}

/* ---- set-user-ID and set-group-ID programs ------------------------------ */

#ifndef COGC_PRELOAD_SETUID_FILE
#define COGC_PRELOAD_SETUID_FILE "/etc/cogc/preload-setuid"
#endif

/* The administrator's opt-in: a regular file owned by root that nobody
 * else may write.  The environment cannot opt in (it is the attacker's). */
static bool setuid_opted_in(void)
{
    struct stat st;
    return stat(COGC_PRELOAD_SETUID_FILE, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
           !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* A program running with privileges it was given by its file's mode
 * (AT_SECURE) does not run on this library unless opted in: it exits with
 * status 127 after one line on stderr (docs/preload.md). */
static void refuse_if_secure(void)
{
    if (!getauxval(AT_SECURE) || setuid_opted_in())
        return;
    static const char msg[] = "cogc-preload: refusing to run in a set-user-ID or set-group-ID program "
                              "(to allow it, create " COGC_PRELOAD_SETUID_FILE
                              ", owned by root, writable by root only; docs/preload.md)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

/* At load, before the program's own constructors; init_once checks again
 * for a malloc call made before this runs. */
__attribute__((constructor(101))) static void check_secure_at_load(void) { refuse_if_secure(); }

static void init_once(void)
{
    refuse_if_secure();
    /* Registered before the collector's own handlers, so these prepare
     * after the heap lock is taken (the order init takes them in). */
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    /* Most programs are small and short: no chunk faulted in at once, no
     * dirty-bit backend to set up (nothing here consumes dirty bits yet),
     * unless asked for. */
    options_init();
    option_set(OPT_DEBUG, 0);   /* the debug allocator serves the native API only */
    if (!option_given(OPT_POPULATE))
        option_set(OPT_POPULATE, 0);
    if (!option_given(OPT_DIRTY))
        option_set(OPT_DIRTY, 1);   /* "none" */
    /* malloc programs free most of what they allocate: collections are
     * spaced further apart than for a garbage-collected runtime. */
    if (!option_given(OPT_GROWTH))
        option_set(OPT_GROWTH, 150);
    if (!option_given(OPT_MIN_TRIGGER))
        option_set(OPT_MIN_TRIGGER, 32 << 20);
    if (cogc_init() != 0)
        return;
    preload_mode = (int)option(OPT_MALLOC_MODE);
    heap_lock();
    collect_set_automatic(preload_mode == MALLOC_MODE_COLLECT);
    heap_unlock();
    if (pthread_key_create(&exiting_key, on_thread_exit) != 0)
        return;
    add_main_thread_root();
    uintptr_t base = (uintptr_t)getauxval(AT_BASE);
    if (base)
        dl_iterate_phdr(find_loader, (void *)base);
    preload_mmap_init();
    if (preload_mode == MALLOC_MODE_LEAK)
        leak_init();
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

static inline bool thread_ready(void) { return likely(tl_state.self != NULL); }

/* The thread is not registered: initialise, register.  False when the heap
 * cannot serve it (initialisation failed, the thread is exiting). */
static COLD bool prepare_thread(void)
{
    if (thread_exiting)
        return false;
    guard_enter();
    pthread_once(&once, init_once);
    bool ok = __atomic_load_n(&ready, __ATOMIC_ACQUIRE) && cogc_register_thread() == 0;
    if (ok)
        pthread_setspecific(exiting_key, (void *)1);
    guard_leave();
    return ok;
}

static inline bool heap_usable(void) { return !guarded() && (thread_ready() || prepare_thread()); }

/* ---- misuse ----------------------------------------------------------- */

static volatile int foreign_reported;

static COLD void foreign(const char *fn, void *p)
{
    if (__atomic_exchange_n(&foreign_reported, 1, __ATOMIC_RELAXED))
        return;
    report_misuse("%s(%p): not memory from this allocator; ignored (reported once)", fn, p);
}

/* ---- allocation -------------------------------------------------------- */

/* The collector's slow path may create threads (markers) or call into libc
 * with the heap lock held; whatever they allocate comes from the bootstrap
 * allocator. */
static COLD void *heap_alloc_slow(size_t size)
{
    guard_enter();
    void *p = alloc_slow(size, KIND_NORMAL);
    guard_leave();
    return p;
}

/* A zeroed object of the scanned kind. */
static inline void *heap_alloc(size_t size)
{
    void *p = alloc_fast(size, KIND_NORMAL);
    return likely(p != NULL) ? p : heap_alloc_slow(size);
}

static inline void *noted(void *p, size_t size)
{
    if (unlikely(preload_mode == MALLOC_MODE_LEAK) && p) {
        if (unlikely(leak_report_pending))
            leak_run_pending();
        leak_note(p, size);
    }
    return p;
}

static COLD void *loader_alloc(size_t size)
{
    guard_enter();
    void *p = cogc_malloc_uncollectable(size);
    guard_leave();
    return p;
}

COGC_API void *malloc(size_t size)
{
    if (unlikely(!heap_usable()))
        return boot_malloc(size);
    if (from_loader(__builtin_return_address(0)))
        return loader_alloc(size);
    return noted(heap_alloc(size), size);
}

COGC_API void *calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (unlikely(!heap_usable())) {
        void *p = boot_malloc(total);
        if (p)
            memset(p, 0, total);
        return p;
    }
    /* Objects of the scanned kinds come zeroed. */
    if (from_loader(__builtin_return_address(0)))
        return loader_alloc(total);
    return noted(heap_alloc(total), total);
}

/* The object an aligned interior pointer belongs to (and forget it when
 * `take`); p itself when it is not one. */
static void *aligned_base(void *p, bool take)
{
    if (likely(!aligned_used))
        return p;
    pthread_mutex_lock(&aligned_mutex);
    uintptr_t b = take ? wordmap_remove(&aligned_map, (uintptr_t)p) : wordmap_get(&aligned_map, (uintptr_t)p);
    pthread_mutex_unlock(&aligned_mutex);
    return b ? (void *)b : p;
}

COGC_API void free(void *p)
{
    if (!p)
        return;
    /* The heap first: the bootstrap region and foreign memory are rare. */
    if (unlikely(!chunk_of((uintptr_t)p))) {
        if (boot_owns(p))
            return boot_free(p);
        return foreign("free", p);
    }
    /* Inside the collector a heap object cannot be freed; it stays until
     * it is collected (collect mode) or for good. */
    if (unlikely(guarded()))
        return;
    p = aligned_base(p, true);
    if (unlikely(preload_mode == MALLOC_MODE_LEAK)) {
        leak_forget(p);
        if (unlikely(leak_report_pending) && thread_ready())
            leak_run_pending();
    }
    if (likely(api_free_fast(p)))
        return;
    cogc_free(p);
}

COGC_API size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (boot_owns(p))
        return boot_usable_size(p);
    if (!chunk_of((uintptr_t)p))
        return 0;
    void *base = aligned_base(p, false);
    size_t n = cogc_size(base);
    return n ? n - (size_t)((char *)p - (char *)base) : 0;
}

/* realloc by allocate, copy, free: bootstrap blocks, aligned objects, and
 * calls from inside the collector. */
static void *realloc_by_copy(void *p, size_t size)
{
    size_t old = malloc_usable_size(p);
    void *q = malloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, old < size ? old : size);
    free(p);
    return q;
}

COGC_API void *realloc(void *p, size_t size)
{
    if (!p) {
        if (from_loader(__builtin_return_address(0)) && heap_usable())
            return loader_alloc(size);
        return malloc(size);
    }
    if (size == 0) {
        /* glibc's behaviour: the object is freed and NULL returned. */
        free(p);
        return NULL;
    }
    if (unlikely(boot_owns(p)))
        return realloc_by_copy(p, size);
    if (unlikely(!chunk_of((uintptr_t)p))) {
        foreign("realloc", p);
        errno = ENOMEM;
        return NULL;
    }
    if (unlikely(!heap_usable()) || aligned_base(p, false) != p)
        return realloc_by_copy(p, size);
    if (preload_mode == MALLOC_MODE_LEAK)
        leak_forget(p);   /* first: once the collector frees p another thread may get it */
    guard_enter();
    void *q = cogc_realloc(p, size);
    guard_leave();
    if (likely(preload_mode != MALLOC_MODE_LEAK))
        return q;
    if (q)
        return noted(q, size);
    noted(p, malloc_usable_size(p));
    return NULL;
}

COGC_API void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

/* ---- aligned allocation --------------------------------------------------- */

/* Alignments up to a page come from a size class whose objects all start
 * aligned (blocks start on a page; the class size is a multiple of the
 * alignment) or from whole pages; larger ones from an object over-allocated
 * by the alignment, handed out through an interior pointer. */
static void *aligned(size_t align, size_t size)
{
    if (align <= GRANULE)
        return malloc(size);
    if (unlikely(!heap_usable()))
        return boot_memalign(align, size);
    if (align <= PAGE_SIZE) {
        size_t want = size < align ? align : size;
        if (want <= MAX_SMALL) {
            unsigned c = size_to_class(want);
            while (size_classes[c].size % align)
                c++;   /* ends at the largest class, MAX_SMALL: a multiple of any page divisor */
            want = size_classes[c].size;
        }
        return noted(heap_alloc(want), size);
    }
    size_t total;
    if (__builtin_add_overflow(size, align, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    char *base = heap_alloc(total);
    if (!base)
        return NULL;
    uintptr_t p = ((uintptr_t)base + align - 1) & ~(uintptr_t)(align - 1);
    if (p != (uintptr_t)base) {
        pthread_mutex_lock(&aligned_mutex);
        bool ok = wordmap_put(&aligned_map, p, (uintptr_t)base);
        if (ok)
            __atomic_store_n(&aligned_used, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&aligned_mutex);
        if (!ok) {
            cogc_free(base);
            errno = ENOMEM;
            return NULL;
        }
    }
    noted(base, size);
    return (void *)p;
}

static bool power_of_two(size_t a) { return a && !(a & (a - 1)); }

COGC_API int posix_memalign(void **out, size_t align, size_t size)
{
    if (!power_of_two(align) || align % sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = aligned(align, size);
    if (!p) {
        int e = errno;
        errno = saved;
        return e ? e : ENOMEM;
    }
    *out = p;
    return 0;
}

COGC_API void *aligned_alloc(size_t align, size_t size)
{
    if (!power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(align, size);
}

COGC_API void *memalign(size_t align, size_t size)
{
    /* glibc's rule: a non-power of two is rounded up. */
    if (align > ((size_t)1 << 62)) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = 1;
    while (a < align)
        a <<= 1;
    return aligned(a, size);
}

COGC_API void *valloc(size_t size) { return aligned(PAGE_SIZE, size); }

COGC_API void *pvalloc(size_t size)
{
    if (size > SIZE_MAX - PAGE_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned(PAGE_SIZE, round_up(size ? size : 1, PAGE_SIZE));
}

/* glibc's own names for the same functions, which a few programs call. */
COGC_API void *__libc_malloc(size_t size) { return malloc(size); }
COGC_API void *__libc_calloc(size_t n, size_t size) { return calloc(n, size); }
COGC_API void *__libc_realloc(void *p, size_t size) { return realloc(p, size); }
COGC_API void __libc_free(void *p) { free(p); }
COGC_API void *__libc_memalign(size_t align, size_t size) { return memalign(align, size); }
COGC_API void *__libc_valloc(size_t size) { return valloc(size); }
COGC_API void *__libc_pvalloc(size_t size) { return pvalloc(size); }

/* ---- glibc's malloc introspection: sane values from our statistics ---- */

COGC_API struct mallinfo2 mallinfo2(void)
{
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    struct mallinfo2 m;
    memset(&m, 0, sizeof m);
    m.arena = s.heap_bytes;
    m.ordblks = 1;
    m.uordblks = s.heap_bytes - s.heap_free_bytes;
    m.fordblks = s.heap_free_bytes;
    return m;
}

COGC_API struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo m;
    memset(&m, 0, sizeof m);
    m.arena = (int)m2.arena;
    m.ordblks = (int)m2.ordblks;
    m.uordblks = (int)m2.uordblks;
    m.fordblks = (int)m2.fordblks;
    return m;
}

COGC_API int malloc_trim(size_t pad)
{
    (void)pad;
    return 0;
}

COGC_API int mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 1;
}

COGC_API void malloc_stats(void)
{
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    report_line("cogc: heap %llu bytes, %llu in use, %llu collections",
                (unsigned long long)s.heap_bytes,
                (unsigned long long)(s.heap_bytes - s.heap_free_bytes),
                (unsigned long long)s.collections);
}

COGC_API int malloc_info(int options, FILE *fp)
{
    if (options) {
        errno = EINVAL;
        return -1;
    }
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    fprintf(fp, "<malloc version=\"cogc\"><system type=\"current\" size=\"%llu\"/></malloc>\n",
            (unsigned long long)s.heap_bytes);
    return 0;
}

/* ---- threads: registered as they start, their exit noticed ------------ */

struct start { void *(*fn)(void *); void *arg; };

/* The thread registers itself (guarded: registration allocates) before
 * running the program's function. */
static void *thread_start(void *p)
{
    struct start s = *(struct start *)p;
    if (prepare_thread())
        cogc_free(p);
    return s.fn(s.arg);
}

COGC_API int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (threads_creating() || !heap_usable())
        return threads_create_libc(t, attr, fn, arg);
    /* Uncollectable: arg may be the only reference to an object until the
     * new thread is registered. */
    guard_enter();
    struct start *s = cogc_malloc_uncollectable(sizeof *s);
    guard_leave();
    if (!s)
        return EAGAIN;
    s->fn = fn;
    s->arg = arg;
    /* Not guarded: the new thread's descriptor blocks (dtv) must be heap
     * objects, reachable from its stack block, like the blocks they point to. */
    int rc = threads_create_libc(t, attr, thread_start, s);
    if (rc != 0)
        cogc_free(s);
    return rc;
}

/* ---- leak reports ------------------------------------------------------ */

COGC_API long cogc_report_leaks(void)
{
    if (!heap_usable()) {
        errno = EAGAIN;
        return -1;
    }
    return leak_report();
}

__attribute__((destructor)) static void report_at_exit(void)
{
    if (preload_mode != MALLOC_MODE_LEAK || !heap_usable())
        return;
    long n = leak_report();
    int status = (int)option(OPT_LEAK_EXIT);
    if (n > 0 && status) {
        fflush(NULL);
        _exit(status);
    }
}
