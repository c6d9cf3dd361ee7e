/* Collection: when to collect, and the stop-the-world full collection. */
#ifndef COGC_COLLECT_H
#define COGC_COLLECT_H

#include <stdbool.h>
#include <stddef.h>

enum collect_reason {
    COLLECT_EXPLICIT,
    COLLECT_EXPLICIT_MINOR,
    COLLECT_TRIGGER,
    COLLECT_OUT_OF_MEMORY,
    COLLECT_CYCLE_DONE,   /* the background marker ran out of work: final pause, if a cycle runs */
    COLLECT_INSPECT,      /* mark only, nothing swept: collect_inspect_fn sees the marks */
    COLLECT_PRESSURE,     /* memory pressure (gc/pressure.c): full, stop-the-world */
};

bool collector_ready(void);
int collect_init(void);
/* Heap lock held for all of these. */
void collect_note_allocated(size_t bytes);
/* Bytes the program took (allocated from lists or as large objects) and
 * bytes it freed explicitly: the trigger counts allocation net of frees. */
void collect_note_net(size_t used, size_t freed);
/* Bytes handed out since the last full collection. */
size_t collect_allocated_since_full(void);
/* Generational mode: bytes minor collections marked since the last full
 * one (only they can be old garbage by now); otherwise as above. */
size_t collect_promoted_since_full(void);
/* Heap lock held: cogc_collect_minor would run a minor collection now
 * (not a full one). */
bool collect_would_be_minor(void);
bool collect_before_growth(void);
void collect_maybe_locked(void);
/* Heap lock held, an incremental cycle marking, nothing pending, the world
 * running: scan the roots again in a short pause (kind cycle-round). */
void collect_cycle_roots(void);
void collect_locked(enum collect_reason why);
void collect_set_markers(unsigned n);
/* Generational collection on or off; false (with a warning) when the
 * dirty-bit backend cannot watch the heap. */
bool collect_set_generational(bool on);
bool collect_generational(void);
/* Incremental collection on or off (a running cycle is finished first). */
bool collect_set_incremental(bool on);
/* cogc_disable count: triggered collections are skipped while positive. */
extern int collect_disabled;
/* false: collections run only when asked (and at the heap limit). */
void collect_set_automatic(bool on);
/* cogc_set_min_trigger (heap lock held): the young generation's reach starts over. */
void collect_min_trigger_set(void);
/* COLLECT_INSPECT marks only: after marking, with the world still
 * stopped, `collect_inspect_fn` sees the marks, and nothing is swept or
 * freed (the leak report of bindings/malloc). */
extern void (*collect_inspect_fn)(void);

#endif
