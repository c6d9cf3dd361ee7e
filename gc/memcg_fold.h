/* Keeping the memory cgroup's reclaim counts current (COGC_BOOKMARK=1).
 *
 * Near its memory cgroup's limit, the kernel reclaims for nearly every page
 * the program faults in, and decides whether to move active pages to the
 * inactive list from page counts it folds in from per-CPU deltas only every
 * two seconds.  When the real inactive list runs empty while the folded
 * counts still call it large, reclaim scans nothing and the cgroup's OOM
 * killer fires with swap to spare (backends/notice_memcg.c).  A thread of
 * its own (the notice thread may be collecting or sending pages out for a
 * long while, and must not be what keeps this alive) reads memory.stat,
 * which folds the counts, every few milliseconds while the cgroup is
 * anywhere near its limit. */
#ifndef COGC_MEMCG_FOLD_H
#define COGC_MEMCG_FOLD_H

#include <stdint.h>

/* Start the thread when a memory cgroup limits this process (again in a
 * forked child: the parent's thread is gone). */
void memcg_fold_start(void);
/* Folds so far (cogc_stats.memcg_stat_folds). */
uint64_t memcg_fold_count(void);

#endif
