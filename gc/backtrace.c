#define _GNU_SOURCE
#include "backtrace.h"
#include "config.h"
#include "race.h"
#include "report.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <unwind.h>

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

/* libunwind is loaded the first time a backtrace is wanted, not linked:
 * it and its own dependencies (liblzma) would be loaded, relocated and
 * initialised in every process that uses the collector, most of which
 * never take a backtrace. */
#ifndef COGC_LIBUNWIND_SONAME
#define COGC_LIBUNWIND_SONAME "libunwind.so.8"
#endif

enum { UNW_UNLOADED, UNW_LOADING, UNW_READY, UNW_FAILED };
static int unw_state = UNW_UNLOADED;
static int (*unw_backtrace_fn)(void **frames, int max);

/* libgcc's unwinder, used instead of libunwind under ThreadSanitizer:
 * libunwind's per-thread cache has a thread-specific-data destructor that
 * locks a mutex, and glibc runs it after TSan has finished the exiting
 * thread (a crash inside TSan's mutex interceptor).  libgcc keeps no
 * per-thread state (docs/sanitizers.md).  Other builds keep libunwind. */
struct gcc_walk {
    void **frames;
    int n, max, skip;
};

static _Unwind_Reason_Code gcc_frame(struct _Unwind_Context *ctx, void *arg)
{
    struct gcc_walk *w = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (!ip)
        return _URC_END_OF_STACK;
    if (w->skip > 0) {
        w->skip--;
        return _URC_NO_REASON;
    }
    w->frames[w->n++] = (void *)ip;
    return w->n < w->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* Same frames as unw_backtrace: the first is in the caller. */
__attribute__((noinline)) static int gcc_backtrace(void **frames, int max)
{
    struct gcc_walk w = { frames, 0, max, 1 };
    if (max > 0)
        _Unwind_Backtrace(gcc_frame, &w);
    __asm__ volatile("" ::: "memory");   /* not a tail call: this frame is the one skipped */
    return w.n;
}

static void load_unwinder(void)
{
    if (COGC_TSAN) {
        unw_backtrace_fn = gcc_backtrace;
        __atomic_store_n(&unw_state, UNW_READY, __ATOMIC_RELEASE);
        return;
    }
    void *h = dlopen(COGC_LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
    void *fn = h ? dlsym(h, "unw_backtrace") : NULL;
    if (!fn) {
        const char *why = dlerror();
        report_warn("backtraces unavailable: cannot load unw_backtrace from %s (%s); "
                    "allocation sites are recorded without frames (install libunwind)",
                    COGC_LIBUNWIND_SONAME, why ? why : "no such symbol");
        __atomic_store_n(&unw_state, UNW_FAILED, __ATOMIC_RELEASE);
        return;
    }
    unw_backtrace_fn = (int (*)(void **, int))fn;
    __atomic_store_n(&unw_state, UNW_READY, __ATOMIC_RELEASE);
}

/* Never waits for another thread's loading: that thread may be waiting
 * for the dynamic loader's lock, held by this one (an allocation from
 * inside dlopen).  Such a backtrace is simply empty. */
static bool unwinder_ready(void)
{
    int s = __atomic_load_n(&unw_state, __ATOMIC_ACQUIRE);
    if (likely(s == UNW_READY))
        return true;
    if (s == UNW_UNLOADED &&
        __atomic_compare_exchange_n(&unw_state, &s, UNW_LOADING, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        load_unwinder();
        return __atomic_load_n(&unw_state, __ATOMIC_ACQUIRE) == UNW_READY;
    }
    return false;
}

bool backtrace_init(void) { return unwinder_ready(); }

unsigned backtrace_capture(void **frames, unsigned max)
{
    if (!unwinder_ready())
        return 0;
    pthread_once(&own_once, find_own);
    void *raw[64];
    unsigned want = max + 16 < 64 ? max + 16 : 64;
    int n = unw_backtrace_fn(raw, (int)want);
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
