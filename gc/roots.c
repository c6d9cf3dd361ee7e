#define _GNU_SOURCE
#include "roots.h"
#include "lock.h"
#include "mark.h"
#include "os.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>

struct range { uintptr_t lo, hi; };

/* A growable array of ranges in our own pages. */
struct ranges {
    struct range *v;
    size_t n, cap;
};

static struct ranges segments, registered;

static int ranges_add(struct ranges *r, uintptr_t lo, uintptr_t hi)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 256;
        struct range *v = os_map(ncap * sizeof *v);
        if (!v)
            return -1;
        if (r->v) {
            memcpy(v, r->v, r->n * sizeof *v);
            os_unmap(r->v, r->cap * sizeof *v);
        }
        r->v = v;
        r->cap = ncap;
    }
    r->v[r->n++] = (struct range){lo, hi};
    return 0;
}

static uintptr_t own_base;

static int segment_callback(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    /* Our own library's data holds only metadata: skip it. */
    if (own_base && info->dlpi_addr == own_base && info->dlpi_name && info->dlpi_name[0])
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        ranges_add(&segments, lo, lo + ph->p_memsz);
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
    dl_iterate_phdr(segment_callback, NULL);
}

void roots_push(void)
{
    for (size_t i = 0; i < segments.n; i++)
        mark_push_root_range(segments.v[i].lo, segments.v[i].hi);
    for (size_t i = 0; i < registered.n; i++)
        mark_push_root_range(registered.v[i].lo, registered.v[i].hi);
}

int roots_add(uintptr_t lo, uintptr_t hi)
{
    if (lo > hi) {
        errno = EINVAL;
        return -1;
    }
    heap_lock();
    int rc = ranges_add(&registered, lo, hi);
    heap_unlock();
    if (rc)
        errno = ENOMEM;
    return rc;
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
