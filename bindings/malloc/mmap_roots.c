/* The program's own anonymous, private, read-write mappings are roots in
 * collect and leak modes: allocators inside programs (Python's arenas,
 * GCC's garbage-collected pages) keep pointers to malloc'ed memory there.
 * mmap, munmap and mremap are interposed to keep the list; mappings over
 * ROOT_MAP_MAX are taken for sparse reservations and left out.  The
 * collector's own mappings never come here: the library is linked with
 * --wrap for these names, so its internal calls go to the __wrap_ versions
 * (straight to the kernel). */
#define _GNU_SOURCE
#include "guard.h"
#include "preload.h"

#include "../../include/cogc.h"
#include "options.h"
#include "vec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ROOT_MAP_MAX ((size_t)256 << 20)

struct range { uintptr_t lo, hi; };

static pthread_mutex_t mmap_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct { struct range *v; size_t n, cap; } maps;
static volatile int tracking;

void preload_mmap_init(void) { tracking = preload_mode != MALLOC_MODE_NONE; }
void preload_mmap_lock_for_fork(void) { pthread_mutex_lock(&mmap_mutex); }
void preload_mmap_unlock_after_fork(void) { pthread_mutex_unlock(&mmap_mutex); }

static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int sys_munmap(void *addr, size_t len) { return (int)syscall(SYS_munmap, addr, len); }

/* The collector's own calls (see the top of this file). */
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return sys_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_munmap(void *addr, size_t len) { return sys_munmap(addr, len); }

int __wrap_mprotect(void *addr, size_t len, int prot) { return (int)syscall(SYS_mprotect, addr, len, prot); }

static bool is_root_map(size_t len, int prot, int flags, int fd)
{
    (void)fd;   /* ignored by the kernel for anonymous mappings */
    return tracking && !guarded() && (flags & MAP_ANONYMOUS) && !(flags & MAP_SHARED) &&
           (prot & (PROT_READ | PROT_WRITE)) == (PROT_READ | PROT_WRITE) && len <= ROOT_MAP_MAX;
}

static void add(uintptr_t lo, uintptr_t hi)
{
    pthread_mutex_lock(&mmap_mutex);
    bool ok = VEC_PUSH(maps, ((struct range){lo, hi}));
    pthread_mutex_unlock(&mmap_mutex);
    if (ok)
        cogc_add_roots((void *)lo, (void *)hi);
}

/* Stop scanning [lo, hi): every registered range overlapping it is
 * removed, and what lies outside it registered again.  The collector is
 * told outside our lock (it takes the heap lock). */
static void cut(uintptr_t lo, uintptr_t hi)
{
    if (!tracking)
        return;
    for (;;) {
        struct range old = {0, 0};
        pthread_mutex_lock(&mmap_mutex);
        for (size_t i = 0; i < maps.n; i++) {
            if (maps.v[i].lo < hi && lo < maps.v[i].hi) {
                old = maps.v[i];
                maps.v[i] = maps.v[--maps.n];
                break;
            }
        }
        pthread_mutex_unlock(&mmap_mutex);
        if (!old.hi)
            return;
        cogc_remove_roots((void *)old.lo, (void *)old.hi);
        if (old.lo < lo)
            add(old.lo, lo);
        if (hi < old.hi)
            add(hi, old.hi);
    }
}

static uintptr_t page_end(uintptr_t a, size_t len) { return (a + len + 4095) & ~(uintptr_t)4095; }

__attribute__((visibility("default"))) void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (flags & MAP_FIXED)
        cut((uintptr_t)addr, page_end((uintptr_t)addr, len));
    void *p = sys_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED && is_root_map(len, prot, flags, fd))
        add((uintptr_t)p, page_end((uintptr_t)p, len));
    return p;
}

__attribute__((visibility("default"))) void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}

__attribute__((visibility("default"))) int munmap(void *addr, size_t len)
{
    cut((uintptr_t)addr, page_end((uintptr_t)addr, len));
    return sys_munmap(addr, len);
}

__attribute__((visibility("default"))) int mprotect(void *addr, size_t len, int prot)
{
    /* No longer readable: no longer scanned. */
    if (!(prot & PROT_READ))
        cut((uintptr_t)addr, page_end((uintptr_t)addr, len));
    return (int)syscall(SYS_mprotect, addr, len, prot);
}

__attribute__((visibility("default"))) void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    bool was_root = false;
    if (tracking) {
        pthread_mutex_lock(&mmap_mutex);
        for (size_t i = 0; i < maps.n && !was_root; i++)
            was_root = maps.v[i].lo <= (uintptr_t)old && (uintptr_t)old < maps.v[i].hi;
        pthread_mutex_unlock(&mmap_mutex);
    }
    if (was_root)
        cut((uintptr_t)old, page_end((uintptr_t)old, old_len));
    void *p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
    if (p == MAP_FAILED) {
        if (was_root)
            add((uintptr_t)old, page_end((uintptr_t)old, old_len));
        return p;
    }
    if (was_root && new_len <= ROOT_MAP_MAX)
        add((uintptr_t)p, page_end((uintptr_t)p, new_len));
    return p;
}
