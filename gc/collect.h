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
};

bool collector_ready(void);
int collect_init(void);
/* Heap lock held for all of these. */
void collect_note_allocated(size_t bytes);
void collect_maybe_locked(void);
void collect_locked(enum collect_reason why);
void collect_set_markers(unsigned n);
/* Generational collection on or off; false (with a warning) when the
 * dirty-bit backend cannot watch the heap. */
bool collect_set_generational(bool on);
bool collect_generational(void);
/* cogc_disable count: triggered collections are skipped while positive. */
extern int collect_disabled;

#endif
