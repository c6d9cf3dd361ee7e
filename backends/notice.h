/* notice.h - does the kernel want memory back?
 *
 * The collector learns about memory pressure only through this interface,
 * as it learns about writes only through dirty.h.  A source is a struct of
 * function pointers; several may be open at once (gc/pressure.c polls
 * every one that probes available).
 *
 *     why[0] = 0;
 *     const struct notice_source *s = notice_find("psi");
 *     if (s->probe(why, sizeof why) == 0) {
 *         int fd = s->open(&cfg, why, sizeof why);  // pollable (POLLIN/POLLPRI) or -1 = timer
 *         ... poll(fd, s->events) or sleep cfg.period_ms ...
 *         if (s->check() > 0) ... notice: the system is short of memory ...
 *         s->close();
 *     }
 *
 * Calls on one source are serialised by the caller (one notice thread).
 * Every non-static symbol is named notice_* and has hidden visibility.
 */
#ifndef COGC_NOTICE_H
#define COGC_NOTICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Heap ranges, for the residency source: calls fn(ctx, addr, len) for every
 * mapped heap range (page aligned).  Supplied by the collector; the call
 * happens on the notice thread, which must hold whatever lock keeps the
 * ranges mapped (the collector passes a function that takes its heap lock). */
typedef void (*notice_range_fn)(void *ctx, void *addr, size_t len);
typedef void (*notice_ranges_fn)(notice_range_fn fn, void *ctx);

struct notice_config {
    /* PSI: stall microseconds per window that make a notice. */
    unsigned psi_stall_us, psi_window_us;
    /* Timer sources (residency, cgroup v2 without a pollable file): period. */
    unsigned period_ms;
    notice_ranges_fn ranges;   /* residency: the heap's ranges */
};

struct notice_source {
    const char *name;          /* "psi", "psi-cgroup", "cgroup-v1", "cgroup-v2", "gcdev", "residency" */
    /* Usable here?  0 yes; -1 no, with a one-line reason starting with
     * "<name>: " in why[len].  Side-effect free apart from short probes. */
    int (*probe)(char *why, size_t len);
    /* Start listening.  Returns a descriptor to poll for `events`, or -2
     * for a timer source (poll nothing, call check every period_ms), or -1
     * with a reason in why. */
    int (*open)(const struct notice_config *cfg, char *why, size_t len);
    short events;              /* poll events that mean "fired" */
    /* After the descriptor fired (or the period elapsed): consume the
     * event.  >0: a notice (how many events, when the source counts them);
     * 0: spurious / nothing; -1: the source broke (errno), close it. */
    long (*check)(void);
    void (*close)(void);
};

/* Every source, NULL-terminated, in the order the collector opens them. */
extern const struct notice_source *const notice_sources[];
const struct notice_source *notice_find(const char *name);

/* COGC_NOTICES: which sources to open, a comma-separated list of their
 * names, or "none".  notice_list_check: 0 when every name is a source's,
 * else -1 with the first one that is not in bad[len].  notice_list_has:
 * whether `name` is listed (a NULL list lists every source). */
int notice_list_check(const char *list, char *bad, size_t len);
bool notice_list_has(const char *list, const char *name);

/* ---- helpers shared by the sources, exposed for unit tests ---- */

/* From the text of /proc/self/cgroup: the path of the cgroup v1 hierarchy
 * that has `controller` (e.g. "memory"), or of the v2 hierarchy when
 * controller is NULL ("0::/path").  0 and out[len], -1 when absent. */
int notice_cgroup_path(const char *proc_self_cgroup, const char *controller, char *out, size_t len);
/* The directory of this process's cgroup for controller (NULL: v2) under
 * mount (e.g. "/sys/fs/cgroup/memory"); 0 when the directory exists. */
int notice_cgroup_dir(const char *mount, const char *controller, char *out, size_t len);
/* A PSI trigger line: "some <stall> <window>". */
int notice_psi_trigger(char *out, size_t len, unsigned stall_us, unsigned window_us);
/* The value of `key` (e.g. "MemAvailable:") in /proc/meminfo text, bytes;
 * 0 when absent. */
uint64_t notice_meminfo_bytes(const char *meminfo, const char *key);
/* A whole small file into buf (NUL-terminated); bytes read or -1. */
long notice_read_file(const char *path, char *buf, size_t len);
/* The rest of open file fd into buf (NUL-terminated, EINTR retried); bytes read. */
long notice_read_fd(int fd, char *buf, size_t len);
/* Counter `key` of a memory.events-style text ("high 3\nmax 0\n"). */
uint64_t notice_events_count(const char *text, const char *key);

/* ---- this process's memory cgroup (notice_memcg.c) ---- */
struct notice_memcg {
    uint64_t limit;      /* bytes; 0: none found */
    char usage[1100];    /* v1 memory.usage_in_bytes, v2 memory.current */
    char stat[1100];     /* memory.stat of the same cgroup */
    int usage_fd, stat_fd;   /* notice_memcg_open; -1 otherwise */
};
/* The memory cgroup that limits this process: cgroup v1's memory hierarchy
 * with a limit, else cgroup v2's memory.max.  0, or -1 (m->limit 0) when
 * neither limits it.  Leaves the descriptors at -1. */
int notice_memcg_find(struct notice_memcg *m);
/* Keep its usage and memory.stat files open: a read then allocates
 * nothing (the kernel keeps its buffer), which matters for a read made at
 * the limit.  0, or -1 with nothing left open. */
int notice_memcg_open(struct notice_memcg *m);
void notice_memcg_close(struct notice_memcg *m);
/* Bytes charged to it now; 0 when unknown. */
uint64_t notice_memcg_usage(const struct notice_memcg *m);
/* Read its memory.stat, which makes the kernel fold its per-CPU page
 * counts into the ones reclaim decides by (see notice_memcg.c for why that
 * matters).  0, or -1 when the file could not be read. */
int notice_memcg_fold_stats(const struct notice_memcg *m);

#endif
