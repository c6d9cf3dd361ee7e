#define _GNU_SOURCE
#include "backtrace.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static uintptr_t own_lo, own_hi;   /* the collector's code: frames skipped */
static pthread_once_t own_once = PTHREAD_ONCE_INIT;

static int find_own_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    /* The main program: the collector is linked in statically, and its
     * frames cannot be told from the program's by address. */
    if (!info->dlpi_name || !info->dlpi_name[0])
        return 0;
    if (info->dlpi_addr != (uintptr_t)arg)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            own_lo = info->dlpi_addr + ph->p_vaddr;
            own_hi = own_lo + ph->p_memsz;
        }
    }
    return 1;
}

static void find_own(void)
{
    Dl_info di;
    if (dladdr((void *)find_own, &di) && di.dli_fbase)
        dl_iterate_phdr(find_own_text, di.dli_fbase);
}

unsigned backtrace_capture(void **frames, unsigned max)
{
    pthread_once(&own_once, find_own);
    void *raw[64];
    unsigned want = max + 16 < 64 ? max + 16 : 64;
    int n = unw_backtrace(raw, (int)want);
    if (n <= 0)
        return 0;
    unsigned skip = 0;
    while (skip < (unsigned)n && (uintptr_t)raw[skip] >= own_lo && (uintptr_t)raw[skip] < own_hi)
        skip++;
    unsigned got = 0;
    for (unsigned i = skip; i < (unsigned)n && got < max; i++)
        frames[got++] = raw[i];
    return got;
}

void backtrace_line(int fd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    for (char *p = buf; n > 0;) {
        ssize_t w = write(fd, p, (size_t)n);
        if (w <= 0)
            break;
        p += w;
        n -= (int)w;
    }
}

void backtrace_print(int fd, const char *prefix, void *const *frames, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        void *ip = frames[i];
        Dl_info di;
        /* ip is a return address: look up the call instruction before it. */
        if (dladdr((char *)ip - 1, &di) && di.dli_fname) {
            if (di.dli_sname)
                backtrace_line(fd, "%s#%u %p %s+0x%lx (%s)", prefix, i, ip, di.dli_sname,
                               (unsigned long)((char *)ip - (char *)di.dli_saddr), di.dli_fname);
            else
                backtrace_line(fd, "%s#%u %p (%s+0x%lx)", prefix, i, ip, di.dli_fname,
                               (unsigned long)((char *)ip - (char *)di.dli_fbase));
        } else {
            backtrace_line(fd, "%s#%u %p", prefix, i, ip);
        }
    }
}
