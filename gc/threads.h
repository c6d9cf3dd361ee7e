/* The thread registry: registration, stop-the-world by signals, the
 * roots each thread contributes (stack, registers, thread-local storage). */
#ifndef COGC_THREADS_H
#define COGC_THREADS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct tl;

#define MAX_TLS_RANGES 32

struct thread {
    pthread_t id;
    pid_t tid;                   /* kernel thread id: tells an exited thread apart */
    uintptr_t stack_lo, stack_hi;
    volatile uintptr_t sp;       /* saved by the suspend handler */
    /* In cogc_do_blocking: not signalled to stop; its stack is scanned from
     * blocked_sp.  Both change only under the heap lock. */
    bool blocked;
    uintptr_t blocked_sp;
    int stopped;                 /* the (odd) `world` it last stopped for (atomic) */
    struct tl *tl;
    unsigned ntls;
    struct { uintptr_t lo, hi; } tls[MAX_TLS_RANGES];
    struct thread *next;
};

int threads_init(void);
int threads_register_self(void);
int threads_unregister_self(void);
unsigned threads_count(void);
/* cogc_do_blocking, cogc_call_with_gc_active. */
void *threads_do_blocking(void *(*fn)(void *), void *arg);
void *threads_call_active(void *(*fn)(void *), void *arg);

/* With the heap lock held. */
void threads_stop_world(void);
void threads_start_world(void);
/* Push every registered thread's stack (from its saved stack pointer, or
 * from `self_sp` for the caller) and its TLS.  settle_free_lists: the
 * objects on the threads' free lists kept from sweeping
 * (alloc_settle_free_lists).  Not at the start of an incremental cycle: a
 * marked object is taken as scanned, and one the program allocates and
 * writes before the heap is armed would hide what it points to (no sweep
 * runs before the cycle's final pause anyway). */
void threads_push_roots(uintptr_t self_sp, bool settle_free_lists);

/* A thread the collector uses itself (markers, the notice thread): not
 * registered, every signal blocked but SIGSEGV, SIGBUS, SIGFPE, SIGILL. */
int threads_create_unregistered(pthread_t *t, void *(*fn)(void *), void *arg);
/* The same with the caller's attributes (NULL: joinable): created through
 * the first pthread_create in the global scope, not registered. */
int threads_create_hidden(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
/* interposed: called from libcogc.so's pthread_create. */
int threads_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg, bool interposed);
/* For the interposed pthread_create: true while this thread is inside
 * threads_create (the call came back through a sanitizer's interceptor),
 * and libc's own pthread_create for that case. */
bool threads_creating(void);
int threads_create_libc(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

#endif
