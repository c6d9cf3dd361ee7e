#include "tracking.h"
#include "chunk.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "threads.h"

#include "dirty.h"

#include <errno.h>
#include <string.h>

static const struct dirty_backend *backend;
static bool verify;
static unsigned long missed;


int tracking_init(void)
{
    char why[256] = "";
    int64_t choice = option(OPT_DIRTY);
    const char *asked = choice == 0 ? NULL : option_table[OPT_DIRTY].choices[choice];
    backend = dirty_select(asked, why, sizeof why);
    if (asked && why[0])
        report_warn("COGC_DIRTY=%s: %s", asked, why);
    verify = option(OPT_VERIFY_DIRTY) != 0;
    if (verify && backend->arm() != 0)
        report_warn("COGC_VERIFY_DIRTY: %s cannot arm; checking disabled", backend->name);
    return 0;
}

const char *tracking_backend_name(void) { return backend ? backend->name : ""; }

void *tracking_map(size_t size, size_t align)
{
    if (!backend)
        return os_map_aligned(size, align, false);
    return os_map_injected() ? NULL : backend->map(size, align);
}

/* The backends' own tables count as fault-injection sites (backends/dirty.h). */
bool dirty_fault(void) { return os_fault(OS_SITE_BACKEND_TABLE); }
bool dirty_fault_handler(void) { return os_fault(OS_SITE_FAULT_HANDLER); }

void dirty_fatal(const char *msg) { report_fatal("%s", msg); }

int dirty_pthread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    return threads_create_hidden(t, NULL, fn, arg);
}

int tracking_release(void *p, size_t len)
{
    if (os_fault(OS_SITE_RELEASE))
        return -1;
    return backend ? backend->release(p, len) : os_release(p, len);
}

void tracking_unmap(void *p, size_t size)
{
    if (backend)
        backend->unmap(p, size);
    else
        os_unmap(p, size);
}

/* COGC_VERIFY_DIRTY keeps a checksum per object page, beside the chunk's
 * other metadata, in pages of its own. */
#define UNKNOWN 0   /* no checksum yet: the page is not compared */

struct sums {
    struct chunk *c;
    uint64_t *sum;
    struct sums *next;
};
static struct sums *all_sums;

static struct sums *sums_of(const struct chunk *c)
{
    for (struct sums *s = all_sums; s; s = s->next)
        if (s->c == c)
            return s;
    return NULL;
}

static uint64_t page_sum(const void *page)
{
    const uint64_t *w = page;
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < PAGE_SIZE / 8; i++)
        h = (h ^ w[i]) * 0x100000001b3u;
    return h | 1;   /* never UNKNOWN */
}

void tracking_chunk_added(struct chunk *c)
{
    if (!verify)
        return;
    uintptr_t lo = page_addr(c, c->first);
    if (backend->track((void *)lo, c->size - (lo - chunk_base(c))) != 0) {
        report_warn("COGC_VERIFY_DIRTY: %s cannot track a chunk", backend->name);
        return;
    }
    struct sums *s = os_map(round_up(sizeof *s + c->npages * sizeof(uint64_t), PAGE_SIZE));
    if (!s)
        return;
    s->c = c;
    s->sum = (uint64_t *)(s + 1);
    s->next = all_sums;
    all_sums = s;
}

void tracking_chunk_removed(struct chunk *c)
{
    if (!verify)
        return;
    uintptr_t lo = page_addr(c, c->first);
    backend->untrack((void *)lo, c->size - (lo - chunk_base(c)));
    for (struct sums **pp = &all_sums; *pp; pp = &(*pp)->next) {
        if ((*pp)->c == c) {
            struct sums *s = *pp;
            *pp = s->next;
            os_unmap(s, round_up(sizeof *s + c->npages * sizeof(uint64_t), PAGE_SIZE));
            return;
        }
    }
}

void tracking_released(void *p, size_t len)
{
    if (!verify)
        return;
    struct chunk *c = chunk_of((uintptr_t)p);
    struct sums *s = c ? sums_of(c) : NULL;
    if (!s)
        return;
    for (size_t i = page_index(c, (uintptr_t)p), n = len / PAGE_SIZE; n--; i++)
        s->sum[i] = UNKNOWN;
}

/* Pages reported dirty in this collection, as a bit per page of each chunk
 * (kept in the sums array's spare bit: the checksum's low bit is always 1,
 * so a reported page has its entry replaced by a marker value). */
#define REPORTED 2

static void on_dirty_run(void *ctx, void *addr, size_t len)
{
    (void)ctx;
    for (uintptr_t a = (uintptr_t)addr; a < (uintptr_t)addr + len; a += PAGE_SIZE) {
        struct chunk *c = chunk_of(a);
        struct sums *s = c ? sums_of(c) : NULL;
        if (s)
            s->sum[page_index(c, a)] = REPORTED;
    }
}

void tracking_at_collection(void)
{
    if (!verify || !all_sums)
        return;
    if (backend->collect(on_dirty_run, NULL) < 0) {
        report_warn("COGC_VERIFY_DIRTY: %s collect failed", backend->name);
        return;
    }
    for (struct sums *s = all_sums; s; s = s->next) {
        struct chunk *c = s->c;
        for (size_t i = c->first; i < c->npages; i++) {
            uint64_t now = page_sum((const void *)page_addr(c, i));
            uint64_t before = s->sum[i];
            if (before != UNKNOWN && before != REPORTED && before != now) {
                missed++;
                report_warn("COGC_VERIFY_DIRTY: page %p changed but %s did not report it dirty",
                            (void *)page_addr(c, i), backend->name);
            }
            s->sum[i] = now;
        }
    }
}

unsigned long tracking_missed_writes(void) { return missed; }

/* ---- for the write watch ------------------------------------------------ */

static bool arm_all_pending;

bool tracking_can_watch(void) { return backend && !verify; }
bool tracking_precise(void) { return backend && backend->caps.precise; }
bool tracking_backend_uses_sigsegv(void) { return backend && backend->caps.uses_sigsegv; }
bool tracking_user_write_faults(void) { return !backend || backend->caps.user_write_faults; }

int tracking_prepare_syscall_write(void *p, size_t len)
{
    return backend && len ? backend->prepare_syscall_write(p, len) : 0;
}

int tracking_watch_range(uintptr_t lo, size_t len)
{
    if (backend->track((void *)lo, len) != 0)
        return -1;
    if (backend->disarm_range)
        backend->disarm_range((void *)lo, len);
    return 0;
}

void tracking_unwatch_range(uintptr_t lo, size_t len) { backend->untrack((void *)lo, len); }

/* A whole-heap arm forgets every write the backend held.  Done in a pause
 * right after a take, nothing is lost; done while the program runs (a
 * backend without selective arming, or a selective arm that failed), the
 * writes since the last take are gone, so that take's successor reports
 * every watched page instead (TRACKING_ALL_WRITTEN). */
static bool writes_forgotten;

long tracking_take(void (*fn)(void *ctx, void *addr, size_t len), void *ctx)
{
    long n = backend->take ? backend->take(fn, ctx) : backend->collect(fn, ctx);
    if (writes_forgotten && n >= 0) {
        writes_forgotten = false;
        return TRACKING_ALL_WRITTEN;
    }
    return n;
}

long tracking_collect_atomic(void (*fn)(void *ctx, void *addr, size_t len), void *ctx)
{
    if (!backend->caps.atomic_collect) {
        errno = ENOTSUP;
        return -1;
    }
    return backend->collect(fn, ctx);
}

static void arm_range(uintptr_t lo, size_t len)
{
    if (!backend->arm_range) {
        arm_all_pending = true;
        return;
    }
    if (backend->arm_range((void *)lo, len) == 0)
        return;
    static bool warned;
    if (!warned)
        report_warn("dirty-bit backend %s cannot arm %zu bytes at %p (%s); arming the whole heap instead",
                    backend->name, len, (void *)lo, strerror(errno));
    warned = true;
    arm_all_pending = true;   /* over-approximate rather than miss a write */
}

/* Ranges queued by tracking_arm_later, merged while they touch: arming is
 * a system call per range (uffd: UFFDIO_WRITEPROTECT), and the young
 * blocks a minor collection arms one by one are mostly adjacent (GCBench
 * depth 22, generational: 71 thousand calls in a 1 s run before). */
static uintptr_t later_lo, later_hi;

static void arm_queued(void)
{
    if (later_hi > later_lo)
        arm_range(later_lo, later_hi - later_lo);
    later_lo = later_hi = 0;
}

void tracking_arm_later(uintptr_t lo, size_t len)
{
    if (later_hi > later_lo && lo == later_hi) {
        later_hi += len;
        return;
    }
    arm_queued();
    later_lo = lo;
    later_hi = lo + len;
}

int tracking_disarm_range(uintptr_t lo, size_t len)
{
    arm_queued();
    return backend->disarm_range ? backend->disarm_range((void *)lo, len) : 0;
}

void tracking_arm_commit(bool program_running)
{
    arm_queued();
    if (!arm_all_pending)
        return;
    if (backend->arm() != 0)
        report_fatal("dirty-bit backend %s cannot arm the heap", backend->name);
    arm_all_pending = false;
    if (program_running)
        writes_forgotten = true;
}
