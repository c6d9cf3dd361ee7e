/* The heap lock: held for block and page management, sweeping, root
 * registration and the whole of a collection.  Never taken on the
 * allocation fast path or in a signal handler. */
#ifndef COGC_LOCK_H
#define COGC_LOCK_H

#include <pthread.h>
#include <sched.h>

#include "race.h"

extern pthread_mutex_t heap_mutex;

static inline void heap_lock(void)
{
    /* Under ThreadSanitizer a signal that arrives while a thread waits in
     * pthread_mutex_lock is held back until the thread next enters the
     * sanitizer's runtime: a thread waiting for the heap lock would never
     * acknowledge the stop-the-world signal of the collection that holds
     * it.  Each trylock is such an entry. */
    if (COGC_TSAN) {
        while (pthread_mutex_trylock(&heap_mutex) != 0)
            sched_yield();
        return;
    }
    pthread_mutex_lock(&heap_mutex);
}
static inline void heap_unlock(void) { pthread_mutex_unlock(&heap_mutex); }

#endif
