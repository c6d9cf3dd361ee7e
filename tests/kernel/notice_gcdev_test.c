/* notice_gcdev_test - the "gcdev" notice source (backends/notice_gcdev.c)
 * under real memory pressure in the qemu guest: the process allocates and
 * touches anonymous memory in 64 MiB steps until the kernel's reclaim runs
 * the cogc module's shrinker, and the source's descriptor must fire
 * (POLLPRI) and check() count the reclaim passes - before the memory runs
 * out (cap: MemAvailable plus half the free swap).  Without /dev/cogc it
 * prints SKIP and exits 77. */
#define _GNU_SOURCE
#include "notice.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define STEP (64UL << 20)
#define MAX_STEPS 4096

static uint64_t meminfo(const char *key)
{
    static char text[8192];
    if (notice_read_file("/proc/meminfo", text, sizeof text) <= 0)
        return 0;
    return notice_meminfo_bytes(text, key);
}

static int fail(const char *what)
{
    printf("FAIL: %s\n", what);
    return 1;
}

int main(void)
{
    const struct notice_source *s = notice_find("gcdev");
    char why[256] = "";
    if (!s)
        return fail("no notice source named gcdev");
    if (s->probe(why, sizeof why) != 0) {
        printf("SKIP: %s\n", why);
        return 77;
    }
    struct notice_config cfg = {.period_ms = 1000};
    int fd = s->open(&cfg, why, sizeof why);
    if (fd < 0)
        return fail(why);
    if (s->events != POLLPRI)
        return fail("the source does not wait for POLLPRI");
    if (s->check() < 0)
        return fail("check failed");
    struct pollfd p = {.fd = fd, .events = s->events};
    if (poll(&p, 1, 0) != 0)
        return fail("a notice without memory pressure (the guest was already reclaiming)");

    uint64_t avail = meminfo("MemAvailable:"), free0 = meminfo("MemFree:");
    uint64_t cap = avail + meminfo("SwapFree:") / 2;
    printf("MemFree %llu MiB, MemAvailable %llu MiB, cap %llu MiB\n", (unsigned long long)(free0 >> 20),
           (unsigned long long)(avail >> 20), (unsigned long long)(cap >> 20));
    static char *chunks[MAX_STEPS];
    size_t n = 0;
    long got = 0;
    while (n < MAX_STEPS && (uint64_t)n * STEP < cap) {
        char *c = mmap(NULL, STEP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (c == MAP_FAILED)
            return fail("mmap");
        madvise(c, STEP, MADV_HUGEPAGE);
        for (size_t off = 0; off < STEP; off += 4096)
            c[off] = 1;
        chunks[n++] = c;
        if (poll(&p, 1, 0) > 0) {
            got = s->check();
            break;
        }
    }
    uint64_t used = (uint64_t)n * STEP;
    if (!got && poll(&p, 1, 0) > 0)
        got = s->check();
    for (size_t i = 0; i < n; i++)
        munmap(chunks[i], STEP);
    s->close();
    printf("notice: %ld reclaim passes counted after %llu MiB allocated\n", got, (unsigned long long)(used >> 20));
    if (got <= 0)
        return fail("no notice although the allocation reached the cap");
    /* Reclaim starts when free memory runs low: not after a few steps. */
    if (used < free0 / 2)
        return fail("the notice came before memory was short");
    printf("PASS\n");
    return 0;
}
