#define _GNU_SOURCE
#include "leak.h"
#include "wordmap.h"
#include "guard.h"

#include "alloc.h"
#include "collect.h"
#include "lock.h"
#include "options.h"
#include "vec.h"
#include "walk.h"

#include "backtrace.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FRAMES 16
#define SIZE_BITS 40

struct site {
    uint64_t hash;
    unsigned nframes;
    void *frames[FRAMES];
};

static pthread_mutex_t leak_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct { struct site *v; size_t n, cap; } sites;
static struct wordmap site_index;   /* hash -> site number + 1 */
static struct wordmap objects;      /* object -> (site number + 1) << SIZE_BITS | size asked */
static unsigned sample;
static __thread unsigned sample_count __attribute__((tls_model("initial-exec")));
volatile int leak_report_pending;

/* ---- capture --------------------------------------------------------- */

static void on_sigusr2(int sig)
{
    (void)sig;
    leak_report_pending = 1;
}

void leak_init(void)
{
    sample = (unsigned)option(OPT_LEAK_SAMPLE);
    backtrace_init();   /* now, guarded, rather than at the first allocation */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr2;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
}

static uint64_t frames_hash(void *const *f, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned i = 0; i < n; i++)
        h = (h ^ (uintptr_t)f[i]) * 0x100000001b3ull;
    return h | 1;   /* never 0: the map's empty key */
}

/* Site number + 1 for these frames, adding a site; 0 when out of memory. */
static uintptr_t site_of(void *const *f, unsigned n)
{
    uint64_t h = frames_hash(f, n);
    uintptr_t s = wordmap_get(&site_index, h);
    if (s)
        return s;
    struct site rec = {.hash = h, .nframes = n};
    memcpy(rec.frames, f, n * sizeof *f);
    if (!VEC_PUSH(sites, rec))
        return 0;
    s = sites.n;
    if (!wordmap_put(&site_index, h, s)) {
        sites.n--;
        return 0;
    }
    return s;
}

void leak_note(void *obj, size_t size)
{
    if (!obj || (sample > 1 && ++sample_count % sample))
        return;
    void *raw[FRAMES];
    guard_enter();
    unsigned n = backtrace_capture(raw, FRAMES);
    guard_leave();
    uintptr_t asked = size < ((uintptr_t)1 << SIZE_BITS) ? size : ((uintptr_t)1 << SIZE_BITS) - 1;
    pthread_mutex_lock(&leak_mutex);
    uintptr_t s = site_of(raw, n);
    if (s)
        wordmap_put(&objects, (uintptr_t)obj, s << SIZE_BITS | asked);
    pthread_mutex_unlock(&leak_mutex);
}

void leak_forget(void *obj)
{
    pthread_mutex_lock(&leak_mutex);
    wordmap_remove(&objects, (uintptr_t)obj);
    pthread_mutex_unlock(&leak_mutex);
}

void leak_lock_for_fork(void) { pthread_mutex_lock(&leak_mutex); }
void leak_unlock_after_fork(void) { pthread_mutex_unlock(&leak_mutex); }

/* ---- finding leaks ----------------------------------------------------- */

struct leaked { uintptr_t obj; size_t size; };
static struct { struct leaked *v; size_t n, cap; } found;
static bool found_overflow;

static void note_unmarked(uintptr_t obj, size_t size, void *arg)
{
    (void)arg;
    if (!VEC_PUSH(found, ((struct leaked){obj, size})))
        found_overflow = true;
}

/* World stopped, heap lock held: no lock of ours, no allocation. */
static void inspect(void)
{
    found.n = 0;
    found_overflow = false;
    heap_walk_unmarked(note_unmarked, NULL);
}

/* ---- the report ------------------------------------------------------- */

struct group { size_t site; size_t count, bytes, min, max; struct site where; };
static struct { struct group *v; size_t n, cap; } groups;

static int out_fd = 2;

#define out(...) backtrace_line(out_fd, __VA_ARGS__)

static bool bigger(const struct group *a, const struct group *b)
{
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->count > b->count;
}

/* Shell sort: no qsort (it may allocate). */
static void sort_groups(void)
{
    size_t gap = 1;
    while (gap < groups.n / 3)
        gap = gap * 3 + 1;
    for (; gap; gap /= 3) {
        for (size_t i = gap; i < groups.n; i++) {
            struct group g = groups.v[i];
            size_t j = i;
            for (; j >= gap && bigger(&g, &groups.v[j - gap]); j -= gap)
                groups.v[j] = groups.v[j - gap];
            groups.v[j] = g;
        }
    }
}

static struct wordmap group_index;   /* site + 1 -> group number + 1, for one report */

static struct group *group_for(size_t site)
{
    uintptr_t g = wordmap_get(&group_index, site + 1);
    if (g)
        return &groups.v[g - 1];
    if (!VEC_PUSH(groups, ((struct group){.site = site, .min = SIZE_MAX})) ||
        !wordmap_put(&group_index, site + 1, groups.n)) 
        return NULL;
    return &groups.v[groups.n - 1];
}

static void open_log(void)
{
    const char *path = option_string(OPT_LOG);
    out_fd = 2;
    if (path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0)
            out_fd = fd;
        else
            out("cogc: COGC_LOG=%s: %m; the leak report goes to stderr", path);
    }
}

static pthread_mutex_t report_mutex = PTHREAD_MUTEX_INITIALIZER;

long leak_report(void)
{
    pthread_mutex_lock(&report_mutex);
    guard_enter();   /* marker threads may be created, and they allocate */
    heap_lock();
    alloc_flush_counts(&tl_state);
    collect_inspect_fn = inspect;
    collect_locked(COLLECT_INSPECT);
    heap_unlock();
    guard_leave();

    pthread_mutex_lock(&leak_mutex);
    groups.n = 0;
    wordmap_clear(&group_index);
    size_t total = 0, count = 0;
    for (size_t i = 0; i < found.n; i++) {
        uintptr_t v = wordmap_get(&objects, found.v[i].obj);
        size_t site = v >> SIZE_BITS;   /* 0: not sampled */
        size_t size = v ? (size_t)(v & (((uintptr_t)1 << SIZE_BITS) - 1)) : found.v[i].size;
        struct group *g = group_for(site);
        if (!g)
            continue;
        g->count++;
        g->bytes += size;
        g->min = size < g->min ? size : g->min;
        g->max = size > g->max ? size : g->max;
        total += size;
        count++;
    }
    for (size_t i = 0; i < groups.n; i++)
        if (groups.v[i].site)
            groups.v[i].where = sites.v[groups.v[i].site - 1];
    /* Printing looks symbols up under the loader's lock, which a thread
     * may hold while it allocates: ours is released first. */
    pthread_mutex_unlock(&leak_mutex);
    sort_groups();
    guard_enter();
    open_log();
    out("cogc: leak report (pid %d): %zu bytes in %zu objects unreachable and never freed, "
        "from %zu allocation sites%s", (int)getpid(), total, count, groups.n,
        found_overflow ? " (incomplete: out of memory)" : "");
    for (size_t i = 0; i < groups.n; i++) {
        struct group *g = &groups.v[i];
        char sizes[64];
        if (g->min == g->max)
            snprintf(sizes, sizeof sizes, "%zu bytes each", g->min);
        else
            snprintf(sizes, sizeof sizes, "%zu to %zu bytes", g->min, g->max);
        if (!g->site) {
            out("cogc: %zu bytes in %zu objects (%s) from unsampled allocations", g->bytes, g->count, sizes);
            continue;
        }
        out("cogc: %zu bytes in %zu objects (%s) allocated at:", g->bytes, g->count, sizes);
        struct site *s = &g->where;
        backtrace_print(out_fd, "cogc:     ", s->frames, s->nframes);
    }
    if (out_fd != 2)
        close(out_fd);
    guard_leave();
    pthread_mutex_unlock(&report_mutex);
    return (long)count;
}

void leak_run_pending(void)
{
    if (__atomic_exchange_n(&leak_report_pending, 0, __ATOMIC_ACQ_REL))
        leak_report();
}
