/* Finalization, disappearing links (weak references) and traced objects
 * (objects whose pointers a procedure of the program reports), decided in
 * one step of each collection after marking and before sweeping. */
#ifndef COGC_FINALIZE_H
#define COGC_FINALIZE_H

#include <stdbool.h>
#include <stdint.h>

/* Heap lock held, world stopped, marking done (`live` bytes marked).
 * Marks what finalizers, their data, queued finalizers and traced objects
 * keep alive, clears disappearing links, queues ready finalizers.
 * Returns the bytes marked in all. */
uint64_t finalize_after_mark(unsigned markers, uint64_t live);

/* Set when finalizers wait in the queue: allocation's slow path and
 * cogc_collect then call finalize_poll (heap lock NOT held). */
extern volatile bool finalize_work;
void finalize_poll(void);

/* cogc_free(p): p's finalizer and tracing procedure are dropped.  Heap lock
 * NOT held. */
void finalize_forget(uintptr_t obj);

#endif
