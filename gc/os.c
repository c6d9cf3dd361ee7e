#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic unsigned fail_countdown, fault_calls;
static _Atomic int failed_site = -1;

unsigned os_map_calls(void) { return atomic_load(&fault_calls); }

void os_fail_map_after(unsigned n) { atomic_store(&fail_countdown, n); }

int os_fault_failed_site(void) { return atomic_load(&failed_site); }

static _Atomic int target_site = OS_SITE_COUNT;
static _Atomic bool target_always;

void os_fail_site(enum os_site site, bool always)
{
    atomic_store(&target_always, always);
    atomic_store(&target_site, (int)site);
}

static bool fail_now(enum os_site site)
{
    atomic_store(&failed_site, (int)site);
    errno = site == OS_SITE_SIGNAL ? EAGAIN : site == OS_SITE_FAULT_HANDLER ? EIO : ENOMEM;
    return true;
}

bool os_fault(enum os_site site)
{
    int target = (int)site;
    if (atomic_load_explicit(&target_site, memory_order_relaxed) == (int)site &&
        (atomic_load(&target_always) || atomic_compare_exchange_strong(&target_site, &target, OS_SITE_COUNT)))
        return fail_now(site);
    if (site >= OS_SITE_SWEPT)
        return false;
    atomic_fetch_add(&fault_calls, 1);
    unsigned n = atomic_load(&fail_countdown);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1)) {
            if (n == 1)
                return fail_now(site);
            return false;
        }
    }
    return false;
}

bool os_map_injected(void) { return os_fault(OS_SITE_BACKEND_MAP); }

void *os_map_aligned(size_t size, size_t align, bool noreserve)
{
    if (os_fault(OS_SITE_MAP))
        return NULL;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
    size_t span = size + (align > 4096 ? align : 0);
    if (span < size) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (align <= 4096)
        return p;
    /* Trim the over-allocation so the result is aligned. */
    uintptr_t start = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t lead = start - (uintptr_t)p;
    if (lead)
        munmap(p, lead);
    size_t tail = span - lead - size;
    if (tail)
        munmap((char *)start + size, tail);
    return (void *)start;
}

void *os_map(size_t size) { return os_map_aligned(size, 4096, false); }

void os_unmap(void *p, size_t size) { munmap(p, size); }

int os_release(void *p, size_t size) { return madvise(p, size, MADV_DONTNEED); }

void os_hugepage(void *p, size_t size)
{
    if (!os_fault(OS_SITE_HUGEPAGE))
        (void)madvise(p, size, MADV_HUGEPAGE);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void os_populate(void *p, size_t size)
{
    if (!os_fault(OS_SITE_POPULATE))
        (void)madvise(p, size, MADV_POPULATE_WRITE);
}

#ifndef MADV_COLD
#define MADV_COLD 20 /* Linux 5.4 */
#endif
void os_cold(void *p, size_t size) { (void)madvise(p, size, MADV_COLD); }

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21 /* Linux 5.4 */
#endif
void os_pageout(void *p, size_t size) { (void)madvise(p, size, MADV_PAGEOUT); }

int os_keep_resident(void *p, size_t size) { return mlock(p, size); }

/* CPUs this process may run on (its affinity mask: taskset, cgroup
 * cpusets), else the online ones. */
unsigned os_ncpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

unsigned os_runnable(void)
{
    /* /proc/loadavg: "0.50 0.40 0.30 R/T last-pid", R counting this thread. */
    char buf[128];
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = buf;
    for (int field = 0; field < 3 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p || *p < '0' || *p > '9')
        return 0;
    unsigned r = 0;
    for (; *p >= '0' && *p <= '9' && r < 1000000; p++)
        r = r * 10 + (unsigned)(*p - '0');
    return *p == '/' ? r : 0;
}

uint64_t os_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void os_futex_wait(volatile int *addr, int expected)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void os_futex_wait_ns(volatile int *addr, int expected, uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
}

void os_futex_wake(volatile int *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

int os_signal_thread(int tid, int sig)
{
    if (os_fault(OS_SITE_SIGNAL))
        return errno;
    return tgkill(getpid(), tid, sig) == 0 ? 0 : errno;
}

/* glibc's dtv: dtv[-1].counter is the number of slots, dtv[m] module m's block. */
union dtv_slot {
    size_t counter;
    struct {
        void *val;
        void *to_free;
    } pointer;
};

void *os_thread_tls_block(pthread_t t, size_t modid)
{
    union dtv_slot *dtv = ((union dtv_slot **)t)[1];
    if (!dtv || modid == 0 || modid > dtv[-1].counter || dtv[-1].counter > (1u << 20))
        return NULL;
    void *p = dtv[modid].pointer.val;
    return p == (void *)-1l ? NULL : p;
}
