/* The one statistics module: counters, the record of every pause, the
 * COGC_STATS report. */
#ifndef COGC_STATS_H
#define COGC_STATS_H

#include "../include/cogc.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PAUSE_EVICT: an allocating thread sending cold pages to swap (bookmark.h)
 * before it goes on; the other threads run unless they need the heap lock. */
/* PAUSE_ASSIST: an allocating thread marking for a cycle the heap's budget
 * cannot wait for (pressure.c). */
/* PAUSE_ROUND: an incremental cycle's roots scanned again while it marks
 * (collect_cycle_roots). */
enum pause_kind { PAUSE_FULL, PAUSE_MINOR, PAUSE_START, PAUSE_FINAL, PAUSE_EVICT, PAUSE_ASSIST, PAUSE_ROUND, PAUSE_GIVEN_UP, NPAUSE_KINDS };

struct gc_record {
    const char *reason;
    uint64_t pause_ns, mark_ns;
    uint64_t in_use_before, mapped;
    uint64_t live;    /* live after: for a minor collection, the old generation now */
    uint64_t marked;  /* bytes this collection marked (a minor one: the survivors) */
    unsigned markers;
    enum pause_kind kind;
    size_t rescanned;      /* dirty watched pages taken (rescanned by a minor collection) */
    uint64_t aged;         /* bytes of survivors a minor collection aged, not promoted (aging.h) */
    bool building;         /* a minor collection that kept most of its young generation
                            * while the old one is small: the next collection is full */
    bool given_up;         /* a minor collection given up during marking: a cycle instead */
};

extern _Atomic uint64_t stat_allocated, stat_freed, stat_reclaimed;

static inline void stats_allocated(size_t n) { atomic_fetch_add_explicit(&stat_allocated, n, memory_order_relaxed); }
static inline void stats_freed(size_t n) { atomic_fetch_add_explicit(&stat_freed, n, memory_order_relaxed); }
static inline void stats_reclaimed(size_t n) { atomic_fetch_add_explicit(&stat_reclaimed, n, memory_order_relaxed); }

void stats_init(void);
/* Heap lock held. */
void stats_collection(const struct gc_record *r);
/* A pause that ends no collection (the start of an incremental cycle). */
void stats_pause(enum pause_kind kind, const char *reason, uint64_t ns, size_t rescanned);
void stats_fill(struct cogc_stats *s);
/* Live bytes after the last collection (a minor one: the old generation). */
uint64_t stats_live_bytes(void);
/* Major page faults of the process so far (getrusage), and those that
 * happened during collections (heap lock held). */
uint64_t stats_major_faults(void);
void stats_collection_faults(uint64_t n);
/* Nearest-rank percentile of the pauses so far (0 when none). */
uint64_t stats_pause_percentile(unsigned pct);

#endif
