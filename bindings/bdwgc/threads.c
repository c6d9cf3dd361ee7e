/* Threads, stacks and the allocation lock. */
#define _GNU_SOURCE
#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

GC_API int GC_CALL GC_get_stack_base(struct GC_stack_base *sb)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return GC_UNIMPLEMENTED;
    int rc = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return GC_UNIMPLEMENTED;
    sb->mem_base = (char *)addr + size;
    return GC_SUCCESS;
}

GC_API void *GC_CALL GC_get_my_stackbottom(struct GC_stack_base *sb)
{
    GC_get_stack_base(sb);
    return (void *)pthread_self();
}

/* cogc scans a registered thread's whole stack: the base is not needed. */
GC_API void GC_CALL GC_set_stackbottom(void *handle, const struct GC_stack_base *sb) { (void)handle, (void)sb; }

GC_API void *GC_CALL GC_call_with_stack_base(GC_stack_base_func fn, void *arg)
{
    struct GC_stack_base sb;
    sb.mem_base = __builtin_frame_address(0);
    return fn(&sb, arg);
}

/* A thread in GC_do_blocking is not stopped by collections (Guile's
 * finalizer thread waits in one for its pipe): a collection does not wait
 * for it to be scheduled. */
GC_API void *GC_CALL GC_do_blocking(GC_fn_type fn, void *cd) { return cogc_do_blocking(fn, cd); }
GC_API void *GC_CALL GC_call_with_gc_active(GC_fn_type fn, void *cd) { return cogc_call_with_gc_active(fn, cd); }

GC_API void GC_CALL GC_allow_register_threads(void) { shim_ensure(); }

GC_API int GC_CALL GC_register_my_thread(const struct GC_stack_base *sb)
{
    (void)sb;
    shim_ensure();
    if (cogc_thread_is_registered())
        return GC_DUPLICATE;
    return cogc_register_thread() == 0 ? GC_SUCCESS : GC_NO_MEMORY;
}

GC_API int GC_CALL GC_thread_is_registered(void) { return cogc_thread_is_registered(); }

GC_API int GC_CALL GC_unregister_my_thread(void)
{
    cogc_unregister_thread();
    return GC_SUCCESS;
}

GC_API void GC_CALL GC_start_mark_threads(void) {}
/* cogc stops threads with SIGPWR and restarts them without a signal. */
GC_API int GC_CALL GC_get_suspend_signal(void) { return SIGPWR; }
GC_API int GC_CALL GC_get_thr_restart_signal(void) { return SIGPWR; }
GC_API void GC_CALL GC_set_suspend_signal(int sig) { (void)sig; }
GC_API void GC_CALL GC_set_thr_restart_signal(int sig) { (void)sig; }
/* cogc handles fork itself (pthread_atfork). */
GC_API void GC_CALL GC_atfork_prepare(void) {}
GC_API void GC_CALL GC_atfork_parent(void) {}
GC_API void GC_CALL GC_atfork_child(void) {}
GC_API void GC_CALL GC_set_handle_fork(int on) { (void)on; }

GC_API void *GC_CALL GC_call_with_alloc_lock(GC_fn_type fn, void *cd)
{
    shim_ensure();
    return cogc_call_with_lock(fn, cd);
}

GC_API int GC_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    shim_ensure();
    return cogc_pthread_create(t, attr, fn, arg);
}
GC_API int GC_pthread_join(pthread_t t, void **ret) { return pthread_join(t, ret); }
GC_API int GC_pthread_detach(pthread_t t) { return pthread_detach(t); }
GC_API int GC_pthread_cancel(pthread_t t) { return pthread_cancel(t); }
GC_API void GC_pthread_exit(void *ret) { pthread_exit(ret); }
GC_API int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *old) { return pthread_sigmask(how, set, old); }
/* A loaded library's data is found at the next collection. */
GC_API void *GC_dlopen(const char *path, int flags) { return dlopen(path, flags); }
