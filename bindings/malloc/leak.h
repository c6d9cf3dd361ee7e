/* Leak mode: the allocation site of every sampled object (a backtrace
 * captured with libunwind at allocation), and the report of objects that
 * are unreachable and were never freed, grouped by site, largest first. */
#ifndef COGC_PRELOAD_LEAK_H
#define COGC_PRELOAD_LEAK_H

#include <stdbool.h>
#include <stddef.h>

/* Once, from the library's initialisation (guarded). */
void leak_init(void);
/* obj (an object's start) was just allocated for `size` bytes asked. */
void leak_note(void *obj, size_t size);
void leak_forget(void *obj);
/* A mark-only collection, then the report (COGC_LOG or stderr).  Returns
 * the number of leaked objects.  The calling thread is registered. */
long leak_report(void);
/* SIGUSR2 asked for a report: run it now (a point where the allocator
 * holds no lock). */
extern volatile int leak_report_pending;
void leak_run_pending(void);

void leak_lock_for_fork(void);
void leak_unlock_after_fork(void);

#endif
