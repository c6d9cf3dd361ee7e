/* The less used calls of bdwgc 8.2's libgc.so.1: printing, event
 * callbacks, introspection, and tunables cogc has no use for (stored and
 * returned).  docs/bdwgc.md says what each does on cogc. */
#define _GNU_SOURCE
#include "shim.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

/* ---- printing ---------------------------------------------------------- */

static int log_fd = STDERR_FILENO;

GC_API void GC_CALL GC_set_log_fd(int fd) { log_fd = fd; }

GC_API void GC_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdprintf(STDOUT_FILENO, fmt, ap);
    va_end(ap);
}

GC_API void GC_err_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdprintf(STDERR_FILENO, fmt, ap);
    va_end(ap);
}

GC_API void GC_log_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdprintf(log_fd, fmt, ap);
    va_end(ap);
}

/* cogc keeps per-thread free lists only, which it does not print. */
GC_API void GC_CALL GC_print_free_list(int kind, size_t granules)
{
    GC_err_printf("cogc: no global free list (kind %d, %zu granules)\n", kind, granules);
}

static GC_describe_type_fn describe_fn[8];
GC_API void GC_CALL GC_register_describe_type_fn(int kind, GC_describe_type_fn fn)
{
    if (kind >= 0 && kind < (int)(sizeof describe_fn / sizeof describe_fn[0]))
        describe_fn[kind] = fn;
}

/* Called by the pointer checks on failure; cogc's checks (GC_same_obj,
 * GC_is_visible, GC_is_valid_displacement) never fail. */
static void GC_CALLBACK print_bad_pair(void *p, void *q) { GC_err_printf("%p and %p: not in the same object\n", p, q); }
static void GC_CALLBACK print_bad_pointer(void *p) { GC_err_printf("%p: not a valid pointer here\n", p); }
void(GC_CALLBACK *GC_same_obj_print_proc)(void *, void *) = print_bad_pair;
void(GC_CALLBACK *GC_is_valid_displacement_print_proc)(void *) = print_bad_pointer;
void(GC_CALLBACK *GC_is_visible_print_proc)(void *) = print_bad_pointer;

/* No debugging header precedes objects (GC_debug_malloc is GC_malloc). */
const size_t GC_debug_header_size = 0;

/* ---- events ------------------------------------------------------------ */

static GC_on_collection_event_proc collection_event;
static GC_on_thread_event_proc thread_event;
static GC_await_finalize_proc await_finalize;
GC_on_heap_resize_proc GC_on_heap_resize;

/* From every collection (misc.c's collect callback: world stopped, after
 * marking): the only event cogc reports is GC_EVENT_START. */
void shim_collection_event(void)
{
    GC_on_collection_event_proc fn = __atomic_load_n(&collection_event, __ATOMIC_ACQUIRE);
    if (fn)
        fn(GC_EVENT_START);
}

GC_API void GC_CALL GC_set_on_collection_event(GC_on_collection_event_proc fn)
{
    __atomic_store_n(&collection_event, fn, __ATOMIC_RELEASE);
}
GC_API GC_on_collection_event_proc GC_CALL GC_get_on_collection_event(void)
{
    return __atomic_load_n(&collection_event, __ATOMIC_ACQUIRE);
}
/* Stored, never called: cogc stops threads without per-thread events. */
GC_API void GC_CALL GC_set_on_thread_event(GC_on_thread_event_proc fn) { thread_event = fn; }
GC_API GC_on_thread_event_proc GC_CALL GC_get_on_thread_event(void) { return thread_event; }
/* Stored, never called: cogc grows the heap in chunks without an event. */
GC_API void GC_CALL GC_set_on_heap_resize(GC_on_heap_resize_proc fn) { GC_on_heap_resize = fn; }
GC_API GC_on_heap_resize_proc GC_CALL GC_get_on_heap_resize(void) { return GC_on_heap_resize; }
/* Stored, never called: cogc queues finalizers without a per-object hook. */
GC_API void GC_CALL GC_set_await_finalize_proc(GC_await_finalize_proc fn) { await_finalize = fn; }
GC_API GC_await_finalize_proc GC_CALL GC_get_await_finalize_proc(void) { return await_finalize; }

/* ---- introspection ----------------------------------------------------- */

/* Requests are rounded to 16-byte granules (larger size classes may round
 * further; GC_size tells an object's real size).  Out of the small-object
 * range (0 .. 2048): (size_t)-1, as for an index outside bdwgc's table. */
GC_API size_t GC_CALL GC_get_size_map_at(int i)
{
    if (i < 0 || i > 2048)
        return (size_t)-1;
    return i == 0 ? 16 : ((size_t)i + 15) & ~(size_t)15;
}

/* The size as GC_size gives it; the kind is GC_I_NORMAL for every heap
 * object (cogc does not record which entry point allocated one), -1 for
 * anything else. */
GC_API int GC_CALL GC_get_kind_and_size(const void *p, size_t *psize)
{
    size_t n = cogc_size(p);
    if (psize)
        *psize = n;
    return cogc_base(p) ? GC_I_NORMAL : -1;
}

/* cogc's dirty bits come from the kernel (soft-dirty, write watch, the
 * module): the heap is never write-protected. */
GC_API int GC_CALL GC_incremental_protection_needs(void) { return GC_PROTECTS_NONE; }

/* cogc registers no temporary roots: data segments stay roots while mapped. */
GC_API int GC_CALL GC_is_tmp_root(void *p)
{
    (void)p;
    return 0;
}

/* A thread's whole stack is scanned from its stack pointer; an alternate
 * signal stack needs no registration. */
GC_API void GC_CALL GC_register_altstack(void *stack, GC_word stack_size, void *altstack, GC_word altstack_size)
{
    (void)stack, (void)stack_size, (void)altstack, (void)altstack_size;
}

/* ---- tunables cogc does not use: stored and returned -------------------- */

static GC_word bytes_per_finalizer = 10000;
GC_API void GC_CALL GC_set_allocd_bytes_per_finalizer(GC_word n) { bytes_per_finalizer = n; }
GC_API GC_word GC_CALL GC_get_allocd_bytes_per_finalizer(void) { return bytes_per_finalizer; }

static unsigned long time_limit_nsec;
GC_API void GC_CALL GC_set_time_limit_tv(struct GC_timeval_s tv)
{
    GC_time_limit = tv.tv_ms;
    time_limit_nsec = tv.tv_ms == GC_TIME_UNLIMITED ? 0 : tv.tv_nsec;
}
GC_API struct GC_timeval_s GC_CALL GC_get_time_limit_tv(void)
{
    struct GC_timeval_s tv = {GC_time_limit, time_limit_nsec};
    return tv;
}
