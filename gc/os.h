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

unsigned os_ncpus(void);
/* Threads runnable on the machine right now, the caller included
 * (/proc/loadavg); 0 when unknown. */
unsigned os_runnable(void);
uint64_t os_now_ns(void);

void os_futex_wait(volatile int *addr, int expected);
void os_futex_wake(volatile int *addr, int n);

/* The TLS block of module `modid` in thread t (a registered, stopped or
 * current thread), or NULL if that thread has not allocated it.  Reads the
 * thread's dynamic thread vector (glibc on x86_64: TCB word 1). */
void *os_thread_tls_block(pthread_t t, size_t modid);

/* Test hook: fail the Nth subsequent os_map call (0 = never). */
void os_fail_map_after(unsigned n);
/* Test hook: os_map_aligned calls so far (and maps made elsewhere that
 * called os_map_injected). */
unsigned os_map_calls(void);
/* For maps made outside os_map_aligned (a dirty backend's): counts the
 * call and says whether the injected failure hits it (errno = ENOMEM). */
bool os_map_injected(void);

#endif
