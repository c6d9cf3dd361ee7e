/* Mostly-concurrent full collections: a cycle starts with a short pause
 * (roots scanned, every page of the heap's scanned blocks armed), marks
 * on a background thread (or in allocation-paced steps) while the program
 * runs, and ends with a short pause that rescans the pages written
 * meanwhile (collect.c holds the two pauses; this module the marking in
 * between). */
#ifndef COGC_INCREMENTAL_H
#define COGC_INCREMENTAL_H

#include <stdbool.h>
#include <stddef.h>

/* On or off.  On needs the write watch (watch.c); false if unavailable. */
bool incremental_set(bool on);
bool incremental_enabled(void);

/* A cycle is between its two pauses.  Read without a lock by the
 * allocation paths (set and cleared with the world stopped). */
bool incremental_marking(void);

/* Heap lock held, world running: the start pause is over, marking may
 * begin (wakes the background marker). */
void incremental_cycle_started(void);
/* Heap lock held: stop marking steps before the final pause (returns with
 * the step lock held), and after it: the cycle is over. */
void incremental_enter_final(void);
void incremental_cycle_finished(void);

/* Heap lock held, called on allocation while a cycle runs: scan in
 * proportion to `allocated` bytes; `wait` for a background marker's step
 * to end rather than skip the step.  Returns true when nothing is left to
 * mark (time for the final pause). */
bool incremental_paced_step(size_t allocated, bool wait);
bool incremental_background(void);
/* Bytes scanned since the current (or last) cycle started. */
size_t incremental_scanned(void);

/* Heap lock held, a cycle marking: no marking step runs between these
 * (bookmark.c sends pages out there).  Without `wait`, false when a step
 * runs now. */
bool incremental_hold_steps(bool wait);
void incremental_resume_steps(void);

/* Fork: the step lock is held across fork; the child has no marker thread. */
void incremental_before_fork(void);
void incremental_after_fork_parent(void);
void incremental_after_fork_child(void);

#endif
