/* The debug allocator (COGC_DEBUG=1 for every allocation, or
 * cogc_debug_malloc per call; docs/debug.md).  A debug object is an
 * ordinary heap object with a redzone after the bytes asked for; its
 * allocation backtrace is kept in a side table; freeing it poisons it and
 * holds it in a quarantine instead of reusing it.  Redzones and poison are
 * checked at free, when an object leaves the quarantine and at every
 * collection.  The hooks below cost one test of a global when no debug
 * object exists. */
#ifndef COGC_DEBUG_H
#define COGC_DEBUG_H

#include <stdbool.h>
#include <stddef.h>

#include "chunk.h"

/* -1 until the collector is initialised, then COGC_DEBUG. */
extern int debug_all;
/* A debug object was ever allocated: frees, reallocs and sizes look it up.
 * Set under the heap lock, read without it (relaxed: a thread that gets a
 * debug object from another got it through some synchronisation). */
extern bool debug_any;
static inline bool debug_used(void) { return __atomic_load_n(&debug_any, __ATOMIC_RELAXED); }
/* Reports found during a collection wait to be printed (debug_flush). */
extern volatile bool debug_pending;

void debug_init(void);
/* A debug object of kind k; NULL with errno = ENOMEM. */
void *debug_malloc(size_t size, enum kind k);
/* For a debug object p (live or in quarantine): free it (or report the
 * double free) and return true; false when p is not a debug object. */
bool debug_free(void *p);
/* realloc of a debug object p: true and *out; false when p is not one. */
bool debug_realloc(void *p, size_t size, void **out);
/* The size asked for a debug object (0 when freed): true; false otherwise. */
bool debug_size(const void *p, size_t *out);
/* World stopped, heap lock held, marking done: check every debug object,
 * forget the unmarked ones.  What is found is printed by debug_flush. */
void debug_after_mark(void);
/* Print the reports found at collections (no lock held, world running). */
void debug_flush(void);

#endif
