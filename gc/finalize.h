/* Finalization, disappearing links (weak references) and traced objects
 * (objects whose pointers a procedure of the program reports), decided in
 * one step of each collection after marking and before sweeping. */
#ifndef COGC_FINALIZE_H
#define COGC_FINALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Heap lock held, world stopped, marking done (`live` bytes marked).
 * Marks what finalizers, their data, queued finalizers and traced objects
 * keep alive, clears disappearing links, queues ready finalizers.
 * Returns the bytes marked in all.  minor: a minor collection (sticky
 * marks), which looks only at the finalizers and links registered or
 * moved since the last collection (finalize.c, "Per generation"). */
uint64_t finalize_after_mark(unsigned markers, uint64_t live, bool minor);
/* Table entries the last finalize_after_mark looked at (for tests). */
size_t finalize_visited(void);
/* At an incremental cycle's start, world stopped, roots scanned: call the
 * procedure of every traced object (cogc_malloc_traced) that exists, live
 * or not, without marking the object itself, so that what traced objects
 * reach is marked concurrently instead of in the final pause (Guile: a
 * thread's VM stack is such an object; the final pause took 6-8 ms doing
 * that marking).  The final pause still calls the procedure of every
 * marked traced object, which finds what was stored since; what a dead
 * traced object reached stays for one more cycle. */
void finalize_pretrace(void);

/* Set when finalizers wait in the queue: allocation's slow path and
 * cogc_collect then call finalize_poll (heap lock NOT held). */
extern volatile bool finalize_work;
void finalize_poll(void);

/* cogc_free(p): p's finalizer and tracing procedure are dropped.  Heap lock
 * NOT held. */
void finalize_forget(uintptr_t obj);
/* Set for good by the first finalizer or traced object: until then
 * cogc_free has nothing to forget (read without the lock). */
extern bool finalize_registered;

#endif
