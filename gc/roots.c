#define _GNU_SOURCE
#include "roots.h"
#include "lock.h"
#include "mark.h"
#include "os.h"
#include "vec.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>

struct range { uintptr_t lo, hi; };

struct ranges {
    struct range *v;
    size_t n, cap;
};

static struct ranges segments, registered;
static struct {
    struct tls_module *v;
    size_t n, cap;
} tls_modules;

static uintptr_t own_base;

static int segment_callback(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (info->dlpi_tls_modid)
        for (int i = 0; i < info->dlpi_phnum; i++)
            if (info->dlpi_phdr[i].p_type == PT_TLS)
                VEC_PUSH(tls_modules, ((struct tls_module){info->dlpi_tls_modid, info->dlpi_phdr[i].p_memsz}));
    /* Our own library's data holds only metadata: skip it. */
    if (own_base && info->dlpi_addr == own_base && info->dlpi_name && info->dlpi_name[0])
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        VEC_PUSH(segments, ((struct range){lo, lo + ph->p_memsz}));
    }
    return 0;
}

void roots_snapshot(void)
{
    if (!own_base) {
        Dl_info di;
        if (dladdr((void *)roots_snapshot, &di) && di.dli_fbase) {
            /* dlpi_addr is the load bias; for a shared object it equals the base. */
            own_base = (uintptr_t)di.dli_fbase;
        }
    }
    segments.n = 0;
    tls_modules.n = 0;
    dl_iterate_phdr(segment_callback, NULL);
}

const struct tls_module *roots_tls_modules(size_t *n)
{
    *n = tls_modules.n;
    return tls_modules.v;
}

void roots_each(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
    for (size_t i = 0; i < segments.n; i++)
        fn(segments.v[i].lo, segments.v[i].hi, arg);
    for (size_t i = 0; i < registered.n; i++)
        fn(registered.v[i].lo, registered.v[i].hi, arg);
}

static void push_range(uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)arg;
    mark_push_root_range(lo, hi);
}

void roots_push(void) { roots_each(push_range, NULL); }

int roots_add(uintptr_t lo, uintptr_t hi)
{
    if (lo > hi) {
        errno = EINVAL;
        return -1;
    }
    heap_lock();
    bool ok = VEC_PUSH(registered, ((struct range){lo, hi}));
    heap_unlock();
    if (!ok)
        errno = ENOMEM;
    return ok ? 0 : -1;
}

int roots_remove(uintptr_t lo, uintptr_t hi)
{
    heap_lock();
    for (size_t i = 0; i < registered.n; i++) {
        if (registered.v[i].lo == lo && registered.v[i].hi == hi) {
            registered.v[i] = registered.v[--registered.n];
            heap_unlock();
            return 0;
        }
    }
    heap_unlock();
    errno = ENOENT;
    return -1;
}
