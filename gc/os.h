/* OS primitives: the only place the collector talks to mmap, madvise,
 * futexes and clocks directly. */
#ifndef COGC_OS_H
#define COGC_OS_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdbool.h>

/* Anonymous read-write memory aligned to `align` (a power of two), or NULL
 * with errno.  `noreserve` maps without committing swap (sparse tables). */
void *os_map_aligned(size_t size, size_t align, bool noreserve);
void *os_map(size_t size);
void os_unmap(void *p, size_t size);
/* Give pages back; afterwards they read as zero. */
int os_release(void *p, size_t size);
/* Ask for transparent huge pages on a range (best effort). */
void os_hugepage(void *p, size_t size);
/* Fault a range in now, in one call: much cheaper here than one fault per
 * page (MADV_POPULATE_WRITE; best effort). */
void os_populate(void *p, size_t size);
/* Tell the kernel the pages are the first to reclaim (MADV_COLD; best
 * effort): the collector's own reads must not make them look used. */
void os_cold(void *p, size_t size);
/* Ask the kernel to reclaim these pages now (MADV_PAGEOUT: to swap, if any). */
void os_pageout(void *p, size_t size);
/* Keep these pages in memory (mlock; best effort, RLIMIT_MEMLOCK): 0 or -1. */
int os_keep_resident(void *p, size_t size);

unsigned os_ncpus(void);
/* Threads runnable on the machine right now, the caller included
 * (/proc/loadavg); 0 when unknown. */
unsigned os_runnable(void);
uint64_t os_now_ns(void);

void os_futex_wait(volatile int *addr, int expected);
/* The same for at most `ns` nanoseconds. */
void os_futex_wait_ns(volatile int *addr, int expected, uint64_t ns);
/* Send sig to thread tid of this process: 0, or the errno of tgkill. */
int os_signal_thread(int tid, int sig);
void os_futex_wake(volatile int *addr, int n);

/* The TLS block of module `modid` in thread t (a registered, stopped or
 * current thread), or NULL if that thread has not allocated it.  Reads the
 * thread's dynamic thread vector (glibc on x86_64: TCB word 1). */
void *os_thread_tls_block(pthread_t t, size_t modid);

/* Fault injection (tests): every request for memory to the kernel passes
 * one of these sites, and counts as one operation: the maps of os.c and of
 * the dirty-bit backends (their heap chunks and their range tables), the
 * release of free pages (madvise through the backend), and the best-effort
 * advice (populate, huge pages: a failure is a skipped call). */
enum os_site {
    OS_SITE_MAP,            /* os_map_aligned: metadata, tables, stacks */
    OS_SITE_BACKEND_MAP,    /* heap chunks through the dirty-bit backend */
    OS_SITE_BACKEND_TABLE,  /* a backend's own range tables */
    OS_SITE_RELEASE,        /* free pages given back */
    OS_SITE_POPULATE,
    OS_SITE_HUGEPAGE,
    OS_SITE_SIGNAL,         /* the stop-the-world signal to one thread */
    OS_SITE_SWEPT,          /* sites from here on are not counted by the sweep: */
    OS_SITE_FAULT_HANDLER = OS_SITE_SWEPT,   /* the uffd backend's handler reads a fault */
    OS_SITE_COUNT
};
/* Count one operation at `site`; true (errno = ENOMEM, EAGAIN for a
 * signal, EIO for the fault handler) when it is the one chosen to fail:
 * the caller fails it as the kernel would have. */
bool os_fault(enum os_site site);
/* Fail the next operation at `site` (every one from now on if `always`);
 * OS_SITE_COUNT stops it. */
void os_fail_site(enum os_site site, bool always);
/* Fail the Nth operation from now (0 = never). */
void os_fail_map_after(unsigned n);
/* Operations counted so far. */
unsigned os_map_calls(void);
/* The site of the operation that was failed, or -1. */
int os_fault_failed_site(void);
/* os_fault(OS_SITE_BACKEND_MAP). */
bool os_map_injected(void);

#endif
