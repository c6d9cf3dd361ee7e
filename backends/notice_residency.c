/* notice_residency.c - a periodic mincore(2) over the heap's pages in
 * use: pages that were resident at the last check and are not now were
 * taken by the kernel (reclaimed to swap, or dropped).  No pressure signal comes before
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

/* What the last check saw, per 4 MiB slot of the address space that the
 * ranges touched: one bit per page, resident then and within a range.  A
 * page counts when it was resident and in a range at the last check and
 * is in a range but not resident now: the collector leaves out of its
 * ranges the pages it gives back or sends out itself, so whatever drops
 * within them was the kernel's doing.  Comparing totals instead (resident
 * pages in all ranges, before and after) mistook every page the collector
 * sent out for a notice, and muted the source whenever it gave pages back
 * in the same period, which under pressure is every period. */
#define SLOT_SHIFT 22
#define SLOT_PAGES (1u << (SLOT_SHIFT - 12))
struct slot {
    uintptr_t base;                     /* 0: unused */
    uint64_t seen[SLOT_PAGES / 64];     /* last check */
    uint64_t now[SLOT_PAGES / 64];      /* this check */
    bool touched;                       /* in a range at this check */
};
static struct slot *slots;
static size_t nslots, slots_cap;
static bool have_last;

static size_t last_slot;   /* ranges come in address order: most calls hit it */

static struct slot *slot_of(uintptr_t a)
{
    uintptr_t base = a >> SLOT_SHIFT << SLOT_SHIFT;
    if (last_slot < nslots && slots[last_slot].base == base)
        return &slots[last_slot];
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].base == base)
            return &slots[last_slot = i];
    if (nslots == slots_cap) {
        /* Not realloc: the collector may be the program's malloc, and the
         * caller holds its heap lock. */
        size_t cap = slots_cap ? 2 * slots_cap : 64;
        struct slot *v = mmap(NULL, cap * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (v == MAP_FAILED)
            return NULL;
        if (slots) {
            memcpy(v, slots, nslots * sizeof *v);
            munmap(slots, slots_cap * sizeof *v);
        }
        slots = v;
        slots_cap = cap;
    }
    last_slot = nslots;
    struct slot *s = &slots[nslots++];
    memset(s, 0, sizeof *s);
    s->base = base;
    return s;
}

struct count { long taken; unsigned char vec[512]; };

static void count_range(void *ctx, void *addr, size_t len)
{
    struct count *c = ctx;
    for (size_t off = 0; off < len;) {
        uintptr_t a = (uintptr_t)addr + off;
        size_t in_slot = (((a >> SLOT_SHIFT) + 1) << SLOT_SHIFT) - a;
        size_t n = len - off;
        if (n > in_slot)
            n = in_slot;
        if (n > sizeof c->vec * 4096)
            n = sizeof c->vec * 4096;
        off += n;
        struct slot *s = slot_of(a);
        if (!s || mincore((void *)a, n, c->vec) != 0)
            continue;
        s->touched = true;
        size_t p0 = (a >> 12) & (SLOT_PAGES - 1);
        for (size_t i = 0; i < (n + 4095) / 4096; i++) {
            size_t p = p0 + i;
            uint64_t bit = (uint64_t)1 << (p & 63);
            if (c->vec[i] & 1)
                s->now[p >> 6] |= bit;
            else if (s->seen[p >> 6] & bit)
                c->taken++;
        }
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
    nslots = 0;
    return -2;
}

/* A notice: pages resident and within the ranges at the last check are
 * within them but not resident now (the first check sets the baseline). */
static long check(void)
{
    struct count c = {0};
    for (size_t i = 0; i < nslots; i++) {
        memset(slots[i].now, 0, sizeof slots[i].now);
        slots[i].touched = false;
    }
    ranges(count_range, &c);
    /* Drop the slots no range touched (a chunk unmapped); the rest
     * remember this check. */
    size_t k = 0;
    for (size_t i = 0; i < nslots; i++) {
        if (!slots[i].touched)
            continue;
        memcpy(slots[i].seen, slots[i].now, sizeof slots[i].seen);
        slots[k++] = slots[i];
    }
    nslots = k;
    long n = have_last ? c.taken : 0;
    have_last = true;
    return n;
}

static void close_src(void)
{
    ranges = NULL;
    have_last = false;
    if (slots)
        munmap(slots, slots_cap * sizeof *slots);
    slots = NULL;
    nslots = slots_cap = 0;
}

__attribute__((visibility("hidden"))) const struct notice_source notice_residency = {
    .name = "residency", .probe = probe, .open = open_src, .events = 0, .check = check, .close = close_src,
};
