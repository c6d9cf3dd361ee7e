/* Marking: conservative scanning of roots and objects, parallel on every
 * marker thread with work shared through a lock-free stack of packets,
 * mark-stack overflow recovered by rescanning marked objects. */
#ifndef COGC_MARK_H
#define COGC_MARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "verify.h"

int mark_init(void);
/* Start a mark phase (the world is stopped, mark bits are clear). */
void mark_begin(void);
/* Scan [lo, hi) conservatively as a root. */
void mark_push_root_range(uintptr_t lo, uintptr_t hi);
/* Scan [lo, hi), part of marked objects (a written page's), without
 * logging it as a root: an overflow's rescan finds them again as marked
 * objects, and the verifier reaches them from the roots.  Logged, the
 * first minor collection after Guile's first cycle grew the log in its
 * pause for 2000 such ranges: 0.7 ms. */
void mark_push_marked_range(uintptr_t lo, uintptr_t hi);
/* Mark obj and scan its size bytes (an uncollectable object). */
void mark_push_root_object(uintptr_t obj, size_t size);
/* Mark obj as a root, counted live but not scanned (an atomic object, or
 * one whose pages are all out: bookmark.c). */
void mark_root_unscanned(uintptr_t obj, size_t size);
/* Set obj's mark bit without scanning it (free-listed objects). */
void mark_set(uintptr_t obj);
/* A minor collection (after mark_begin): note the blocks outside the
 * young generation (not PF_YOUNG) in which marking finds an unmarked
 * object with pointers.  Such an object is garbage that a conservative
 * word revived (a stale stack slot), or a free one: every live object
 * is marked or young between collections. */
void mark_track_revived(void);
/* After the marking: fn on each such block (some more than once).  False
 * when some could not be noted (out of memory). */
struct page_desc;
bool mark_revived_blocks(void (*fn)(struct page_desc *));
/* Mark everything reachable, on `markers` threads.  Returns bytes marked. */
uint64_t mark_run(unsigned markers);
/* This phase (after mark_begin) is given up once os_now_ns() passes
 * `ns` (0: never): from then on mark_given_up() is true, mark_run returns
 * at once, and the marks are a part of the phase's, some of their objects
 * not scanned.  mark_abandon drops whatever was pushed since. */
void mark_set_deadline(uint64_t ns);
bool mark_given_up(void);
void mark_abandon(void);
/* Before a pause: the helper threads of up to `markers` markers exist;
 * with `wake`, they are woken to wait awake for the phase.  Returns the
 * helpers woken (running, they count in the machine's runnable threads). */
unsigned mark_prepare_helpers(unsigned markers, bool wake);
/* After fork in the child: helper threads are gone. */
void mark_after_fork_child(void);
/* Mark-stack overflows recovered in the last mark phase. */
unsigned mark_overflows(void);
/* Every root range and root object of the last mark phase. */
const struct verify_root *mark_roots(size_t *n);
/* Markers that took part in the last mark phase. */
unsigned mark_markers_used(void);
uint64_t mark_blacklisted(void);

/* Mostly-concurrent marking (incremental.c).  begin_concurrent: the world
 * is stopped, mark bits clear; one marker; objects of fresh blocks
 * (PF_FRESH) are deferred, not marked.  Push the roots, then
 * mark_scan_roots() before the world resumes.  mark_step: scan about
 * `budget` bytes of pending objects (the caller serialises steps); returns
 * the bytes scanned, 0 when nothing is pending.  begin_final: world stopped
 * again; marks the deferred objects and keeps the pending stack, so that
 * pushing the roots and the dirty pages and mark_run() finish the phase
 * (no mark_begin). */
void mark_begin_concurrent(void);
void mark_scan_roots(void);
size_t mark_step(size_t budget);
bool mark_pending(void);
/* Bytes waiting on the concurrent marker's stack (and an estimate for the deferred objects). */
uint64_t mark_pending_bytes(void);
void mark_begin_final(void);
/* Concurrent phase, after watch_settle_fresh: mark and queue the deferred
 * objects whose block has been settled. */
void mark_undefer_settled(void);

#endif
