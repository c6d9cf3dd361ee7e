/* The heap lock: held for block and page management, sweeping, root
 * registration and the whole of a collection.  Never taken on the
 * allocation fast path or in a signal handler. */
#ifndef COGC_LOCK_H
#define COGC_LOCK_H

#include <pthread.h>
#include <stdbool.h>

extern pthread_mutex_t heap_mutex;

/* The calling thread is inside heap_lock .. heap_unlock.  Set before the
 * lock is taken and cleared after it is released, so that a signal
 * handler that interrupted the thread anywhere in between, and calls into
 * the collector, is reported (docs/signals.md) instead of deadlocking. */
extern __thread bool heap_lock_held __attribute__((tls_model("initial-exec")));
__attribute__((noreturn, cold)) void heap_lock_reentered(void);

static inline void heap_lock(void)
{
    if (__builtin_expect(heap_lock_held, 0))
        heap_lock_reentered();
    heap_lock_held = true;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    pthread_mutex_lock(&heap_mutex);
}

static inline void heap_unlock(void)
{
    pthread_mutex_unlock(&heap_mutex);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    heap_lock_held = false;
}

#endif
