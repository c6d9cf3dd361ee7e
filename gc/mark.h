/* Marking: conservative scanning of roots and objects, parallel on every
 * marker thread with work shared through a lock-free stack of packets,
 * mark-stack overflow recovered by rescanning marked objects. */
#ifndef COGC_MARK_H
#define COGC_MARK_H

#include <stddef.h>
#include <stdint.h>

#include "verify.h"

int mark_init(void);
/* Start a mark phase (the world is stopped, mark bits are clear). */
void mark_begin(void);
/* Scan [lo, hi) conservatively as a root. */
void mark_push_root_range(uintptr_t lo, uintptr_t hi);
/* Mark obj and scan its size bytes (an uncollectable object). */
void mark_push_root_object(uintptr_t obj, size_t size);
/* Set obj's mark bit without scanning it (free-listed objects). */
void mark_set(uintptr_t obj);
/* Mark everything reachable, on `markers` threads.  Returns bytes marked. */
uint64_t mark_run(unsigned markers);
/* After fork in the child: helper threads are gone. */
void mark_after_fork_child(void);
/* Mark-stack overflows recovered in the last mark phase. */
unsigned mark_overflows(void);
/* Every root range and root object of the last mark phase. */
const struct verify_root *mark_roots(size_t *n);
/* Markers that took part in the last mark phase. */
unsigned mark_markers_used(void);
uint64_t mark_blacklisted(void);

#endif
