/* gc/gc_pthread_redirects.h - with GC_THREADS, the thread calls go through
 * the collector so new threads are registered for their whole life. */
#ifndef COGC_BDWGC_GC_PTHREAD_REDIRECTS_H
#define COGC_BDWGC_GC_PTHREAD_REDIRECTS_H

#include <pthread.h>
#include <signal.h>
#include <dlfcn.h>

#ifdef __cplusplus
extern "C" {
#endif
GC_API int GC_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
GC_API int GC_pthread_join(pthread_t, void **);
GC_API int GC_pthread_detach(pthread_t);
GC_API int GC_pthread_cancel(pthread_t);
GC_API void GC_pthread_exit(void *) __attribute__((__noreturn__));
GC_API int GC_pthread_sigmask(int, const sigset_t *, sigset_t *);
GC_API void *GC_dlopen(const char *, int);
#ifdef __cplusplus
}
#endif

#if !defined(GC_NO_THREAD_REDIRECTS) && !defined(GC_BUILD)
#undef pthread_create
#undef pthread_join
#undef pthread_detach
#undef pthread_cancel
#undef pthread_exit
#undef pthread_sigmask
#undef dlopen
#define pthread_create GC_pthread_create
#define pthread_join GC_pthread_join
#define pthread_detach GC_pthread_detach
#define pthread_cancel GC_pthread_cancel
#define pthread_exit GC_pthread_exit
#define pthread_sigmask GC_pthread_sigmask
#define dlopen GC_dlopen
#endif

#endif
