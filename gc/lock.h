/* The heap lock: held for block and page management, sweeping, root
 * registration and the whole of a collection.  Never taken on the
 * allocation fast path or in a signal handler. */
#ifndef COGC_LOCK_H
#define COGC_LOCK_H

#include <pthread.h>

extern pthread_mutex_t heap_mutex;

static inline void heap_lock(void) { pthread_mutex_lock(&heap_mutex); }
static inline void heap_unlock(void) { pthread_mutex_unlock(&heap_mutex); }

#endif
