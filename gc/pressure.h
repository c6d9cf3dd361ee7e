/* Memory pressure (COGC_BOOKMARK): a notice thread listens to the sources
 * of backends/notice.h and, on a notice, collects and gives every free
 * page back; the heap's growth is kept inside a budget read from the
 * cgroup limit and the available memory.  See docs/ARCHITECTURE.md,
 * "Memory pressure". */
#ifndef COGC_PRESSURE_H
#define COGC_PRESSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cogc_stats;

/* After collect_init, heap lock held: when COGC_BOOKMARK=1, compute the
 * budget and start the notice thread. */
void pressure_init(void);
/* In a forked child, heap lock usable: the notice thread again, on
 * sources of the child's own. */
void pressure_after_fork_child(void);
/* Bytes the heap should stay within, 0 = no budget (COGC_BOOKMARK=0 or
 * nothing limits this process). */
size_t pressure_heap_budget(void);
/* Heap lock held, before the heap grows by `extra` bytes: when that would
 * pass the budget, collect first (at most once per budget/8 of growth or
 * allocation).  true: a collection ran, try the free pages again.  The
 * heap still grows past the budget when live data needs it. */
bool pressure_collect_before_growth(size_t extra);
/* Heap lock held, after every collection: with COGC_BOOKMARK=1, when the
 * process uses most of what it may, ask the notice thread to send cold
 * pages out. */
void pressure_after_collection(void);
/* Heap lock held, whatever COGC_BOOKMARK says: may a new chunk of `bytes`
 * be faulted in at once (COGC_POPULATE)?  Measured (GCBench depth 22 in a
 * 290 MiB cgroup v1 with zram swap): MADV_POPULATE_WRITE of new chunks
 * near the limit gets the process OOM-killed in most runs (7 of 9), where
 * page-by-page faults let the kernel swap (0 of 3).  So only while the heap
 * stays within half the cgroup limit and the chunk within a quarter of the
 * available memory. */
bool pressure_may_populate(size_t bytes);
/* What /proc/meminfo gave when it could not be read: MemAvailable 0 is
 * memory exhausted, not unknown. */
#define PRESSURE_UNKNOWN UINT64_MAX
/* The rule alone, for unit tests (limit 0: none; available
 * PRESSURE_UNKNOWN: not known). */
bool pressure_populate_rule(uint64_t cgroup_limit, uint64_t available, size_t mapped, size_t bytes);
/* Counters for cogc_stats (heap lock held). */
void pressure_fill_stats(struct cogc_stats *s);

/* Pure budget rule, exposed for unit tests: 90 % of the smaller of
 * (cgroup limit - non-heap resident bytes) and (available + heap resident
 * bytes); 0 when neither is known (no limit, available PRESSURE_UNKNOWN). */
size_t pressure_budget_rule(uint64_t cgroup_limit, uint64_t nonheap_rss, uint64_t available, uint64_t heap_resident);

#endif
