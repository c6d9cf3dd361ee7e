/* notice_residency.c - a periodic mincore(2) over the heap: pages that
 * were resident at the last check and are not now were taken by the
 * kernel (reclaimed to swap, or dropped).  No pressure signal comes before
 * eviction on Linux; this one comes after, and costs a system call per
 * range each period. */
#include "notice.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static notice_ranges_fn ranges;
static size_t last_resident;
static bool have_last;

struct count { size_t resident; unsigned char vec[512]; };

static void count_range(void *ctx, void *addr, size_t len)
{
    struct count *c = ctx;
    for (size_t off = 0; off < len; off += sizeof c->vec * 4096) {
        size_t n = len - off < sizeof c->vec * 4096 ? len - off : sizeof c->vec * 4096;
        if (mincore((char *)addr + off, n, c->vec) != 0)
            continue;
        for (size_t i = 0; i < (n + 4095) / 4096; i++)
            c->resident += c->vec[i] & 1;
    }
}

static int probe(char *why, size_t len)
{
    unsigned char v;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mincore(p, 4096, &v) != 0) {
        snprintf(why, len, "residency: mincore: %s", strerror(errno));
        if (p != MAP_FAILED)
            munmap(p, 4096);
        return -1;
    }
    munmap(p, 4096);
    return 0;
}

static int open_src(const struct notice_config *cfg, char *why, size_t len)
{
    if (!cfg->ranges) {
        snprintf(why, len, "residency: no heap range iterator given");
        return -1;
    }
    ranges = cfg->ranges;
    have_last = false;
    return -2;
}

/* A notice when resident heap pages dropped since the last check while
 * the heap itself did not give them back (the caller checks right after
 * its own releases, so those do not count). */
static long check(void)
{
    struct count c = {0};
    ranges(count_range, &c);
    long n = have_last && c.resident < last_resident ? (long)(last_resident - c.resident) : 0;
    last_resident = c.resident;
    have_last = true;
    return n;
}

/* The collector gave pages back itself: start counting from here. */
static void close_src(void) { ranges = NULL; have_last = false; }

__attribute__((visibility("hidden"))) const struct notice_source notice_residency = {
    .name = "residency", .probe = probe, .open = open_src, .events = 0, .check = check, .close = close_src,
};
