/*
 * gc/gc.h - the Boehm-Demers-Weiser collector's API, served by cogc.
 *
 * Written for cogc from the documented interface of bdwgc 8.2 (names,
 * signatures and constants are what programs compiled against it use);
 * the behaviour behind each call is cogc's, and where it differs from
 * bdwgc's the difference is stated in docs/bdwgc.md.  Link with -lgc
 * (this directory's libgc.so.1), or against libcogc through pkg-config
 * bdw-gc.
 */
#ifndef COGC_BDWGC_GC_H
#define COGC_BDWGC_GC_H

#include <stddef.h>

#define GC_VERSION_MAJOR 8
#define GC_VERSION_MINOR 2
#define GC_VERSION_MICRO 2

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GC_API extern __attribute__((visibility("default")))
#define GC_ATTR_MALLOC __attribute__((__malloc__))
#define GC_ATTR_ALLOC_SIZE(n) __attribute__((__alloc_size__(n)))
#define GC_ATTR_NONNULL(n) __attribute__((__nonnull__(n)))
#define GC_ATTR_DEPRECATED __attribute__((__deprecated__))
#else
#define GC_API extern
#define GC_ATTR_MALLOC
#define GC_ATTR_ALLOC_SIZE(n)
#define GC_ATTR_NONNULL(n)
#define GC_ATTR_DEPRECATED
#endif
#define GC_CALL
#define GC_CALLBACK
#define GC_API_PRIV GC_API

typedef void *GC_PTR;                 /* old name */
typedef unsigned long GC_word;
typedef long GC_signed_word;
typedef GC_word GC_hidden_pointer;

/* Results of registration calls. */
#define GC_SUCCESS 0
#define GC_DUPLICATE 1
#define GC_NO_MEMORY 2
#define GC_UNIMPLEMENTED 3
#define GC_NOT_FOUND 4

/* ---- Variables (the old interface; prefer the set/get calls) -------- */
GC_API GC_word GC_gc_no;              /* collections so far (refreshed by GC_get_gc_no) */
GC_API int GC_parallel;
GC_API void *(*GC_oom_fn)(size_t);
GC_API int GC_find_leak;
GC_API int GC_all_interior_pointers;
GC_API int GC_finalize_on_demand;     /* read by GC_init */
GC_API int GC_java_finalization;
GC_API void (*GC_finalizer_notifier)(void);   /* read by GC_init */
GC_API int GC_dont_gc;                /* honoured by GC_gcollect */
GC_API int GC_dont_expand;
GC_API int GC_use_entire_heap;
GC_API int GC_full_freq;
GC_API GC_word GC_non_gc_bytes;
GC_API int GC_no_dls;
GC_API GC_word GC_free_space_divisor;
GC_API GC_word GC_max_retries;
GC_API char *GC_stackbottom;
GC_API int GC_dont_precollect;
GC_API unsigned long GC_time_limit;
#define GC_TIME_UNLIMITED 999999

/* ---- Initialisation ---------------------------------------------------- */
GC_API void GC_CALL GC_init(void);
GC_API int GC_CALL GC_is_init_called(void);
GC_API void GC_CALL GC_deinit(void);
#define GC_INIT() GC_init()

/* ---- Allocation -------------------------------------------------------- */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc(size_t);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc_atomic(size_t);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc_uncollectable(size_t);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc_atomic_uncollectable(size_t);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc_ignore_off_page(size_t);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc_atomic_ignore_off_page(size_t);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc_stubborn(size_t);
GC_API GC_ATTR_ALLOC_SIZE(2) void *GC_CALL GC_realloc(void *, size_t);
GC_API void GC_CALL GC_free(void *);
GC_API GC_ATTR_MALLOC char *GC_CALL GC_strdup(const char *);
GC_API GC_ATTR_MALLOC char *GC_CALL GC_strndup(const char *, size_t);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(2) void *GC_CALL GC_memalign(size_t align, size_t lb);
GC_API int GC_CALL GC_posix_memalign(void **, size_t align, size_t lb) GC_ATTR_NONNULL(1);
/* A list of objects of lb bytes linked through their first word. */
GC_API GC_ATTR_MALLOC void *GC_CALL GC_malloc_many(size_t lb);
#define GC_NEXT(p) (*(void **)(p))
GC_API void GC_CALL GC_change_stubborn(const void *);
GC_API void GC_CALL GC_end_stubborn_change(const void *);
GC_API void GC_CALL GC_ptr_store_and_dirty(void *p, const void *q);
GC_API void GC_CALL GC_incr_bytes_allocd(size_t);
GC_API void GC_CALL GC_incr_bytes_freed(size_t);

/* ---- Object queries ---------------------------------------------------- */
GC_API void *GC_CALL GC_base(void *);
GC_API int GC_CALL GC_is_heap_ptr(const void *);
GC_API size_t GC_CALL GC_size(const void *);
GC_API void *GC_CALL GC_same_obj(void *, void *);
GC_API void *GC_CALL GC_pre_incr(void **, ptrdiff_t);
GC_API void *GC_CALL GC_post_incr(void **, ptrdiff_t);
GC_API void *GC_CALL GC_is_visible(void *);
GC_API void *GC_CALL GC_is_valid_displacement(void *);
GC_API void GC_CALL GC_register_displacement(size_t);
GC_API void GC_CALL GC_debug_register_displacement(size_t);
GC_API void GC_CALL GC_noop1(GC_word);
#define GC_reachable_here(p) __asm__ __volatile__(" " : : "X"(p) : "memory")

/* ---- Collection ------------------------------------------------------- */
typedef int(GC_CALLBACK *GC_stop_func)(void);
GC_API void GC_CALL GC_gcollect(void);
GC_API void GC_CALL GC_gcollect_and_unmap(void);
GC_API int GC_CALL GC_try_to_collect(GC_stop_func);
GC_API int GC_CALL GC_collect_a_little(void);
GC_API void GC_CALL GC_disable(void);
GC_API void GC_CALL GC_enable(void);
GC_API int GC_CALL GC_is_disabled(void);
GC_API void GC_CALL GC_enable_incremental(void);
GC_API int GC_CALL GC_is_incremental_mode(void);
GC_API void GC_CALL GC_start_incremental_collection(void);
GC_API int GC_CALL GC_expand_hp(size_t);
GC_API void GC_CALL GC_set_max_heap_size(GC_word);
GC_API void GC_CALL GC_clear_stack(void *);
typedef void(GC_CALLBACK *GC_start_callback_proc)(void);
GC_API void GC_CALL GC_set_start_callback(GC_start_callback_proc);
GC_API GC_start_callback_proc GC_CALL GC_get_start_callback(void);
GC_API void GC_CALL GC_set_stop_func(GC_stop_func);
GC_API GC_stop_func GC_CALL GC_get_stop_func(void);

/* ---- Statistics -------------------------------------------------------- */
GC_API size_t GC_CALL GC_get_heap_size(void);
GC_API size_t GC_CALL GC_get_free_bytes(void);
GC_API size_t GC_CALL GC_get_unmapped_bytes(void);
GC_API size_t GC_CALL GC_get_bytes_since_gc(void);
GC_API size_t GC_CALL GC_get_expl_freed_bytes_since_gc(void);
GC_API size_t GC_CALL GC_get_total_bytes(void);
GC_API size_t GC_CALL GC_get_memory_use(void);
GC_API size_t GC_CALL GC_get_obtained_from_os_bytes(void);
GC_API GC_word GC_CALL GC_get_gc_no(void);
GC_API GC_word GC_CALL GC_get_non_gc_bytes(void);
GC_API void GC_CALL GC_set_non_gc_bytes(GC_word);
GC_API unsigned long GC_CALL GC_get_full_gc_total_time(void);
GC_API void GC_CALL GC_get_heap_usage_safe(GC_word *pheap_size, GC_word *pfree_bytes, GC_word *punmapped_bytes,
                                           GC_word *pbytes_since_gc, GC_word *ptotal_bytes);
struct GC_prof_stats_s {
    GC_word heapsize_full;
    GC_word free_bytes_full;
    GC_word unmapped_bytes;
    GC_word bytes_allocd_since_gc;
    GC_word allocd_bytes_before_gc;
    GC_word non_gc_bytes;
    GC_word gc_no;
    GC_word markers_m1;
    GC_word bytes_reclaimed_since_gc;
    GC_word reclaimed_bytes_before_gc;
    GC_word expl_freed_bytes_since_gc;
    GC_word obtained_from_os_bytes;
};
GC_API size_t GC_CALL GC_get_prof_stats(struct GC_prof_stats_s *, size_t);
GC_API size_t GC_CALL GC_get_prof_stats_unsafe(struct GC_prof_stats_s *, size_t);
GC_API unsigned GC_CALL GC_get_version(void);
GC_API void GC_CALL GC_dump(void);
GC_API void GC_CALL GC_dump_named(const char *);
GC_API void GC_CALL GC_dump_regions(void);
GC_API void GC_CALL GC_dump_finalization(void);
GC_API void GC_CALL GC_start_performance_measurement(void);

/* ---- Tunables ---------------------------------------------------------- */
GC_API void GC_CALL GC_set_all_interior_pointers(int);
GC_API int GC_CALL GC_get_all_interior_pointers(void);
GC_API void GC_CALL GC_set_find_leak(int);
GC_API int GC_CALL GC_get_find_leak(void);
GC_API void GC_CALL GC_set_finalize_on_demand(int);
GC_API int GC_CALL GC_get_finalize_on_demand(void);
GC_API void GC_CALL GC_set_java_finalization(int);
GC_API int GC_CALL GC_get_java_finalization(void);
GC_API void GC_CALL GC_set_dont_expand(int);
GC_API int GC_CALL GC_get_dont_expand(void);
GC_API void GC_CALL GC_set_no_dls(int);
GC_API int GC_CALL GC_get_no_dls(void);
GC_API void GC_CALL GC_set_free_space_divisor(GC_word);
GC_API GC_word GC_CALL GC_get_free_space_divisor(void);
GC_API void GC_CALL GC_set_max_retries(GC_word);
GC_API GC_word GC_CALL GC_get_max_retries(void);
GC_API void GC_CALL GC_set_dont_precollect(int);
GC_API int GC_CALL GC_get_dont_precollect(void);
GC_API void GC_CALL GC_set_full_freq(int);
GC_API int GC_CALL GC_get_full_freq(void);
GC_API void GC_CALL GC_set_time_limit(unsigned long);
GC_API unsigned long GC_CALL GC_get_time_limit(void);
GC_API void GC_CALL GC_set_force_unmap_on_gcollect(int);
GC_API int GC_CALL GC_get_force_unmap_on_gcollect(void);
GC_API void GC_CALL GC_set_pages_executable(int);
GC_API int GC_CALL GC_get_pages_executable(void);
GC_API void GC_CALL GC_set_min_bytes_allocd(size_t);
GC_API size_t GC_CALL GC_get_min_bytes_allocd(void);
GC_API void GC_CALL GC_set_rate(int);
GC_API int GC_CALL GC_get_rate(void);
GC_API void GC_CALL GC_set_max_prior_attempts(int);
GC_API int GC_CALL GC_get_max_prior_attempts(void);
GC_API void GC_CALL GC_set_disable_automatic_collection(int);
GC_API int GC_CALL GC_get_disable_automatic_collection(void);
GC_API void GC_CALL GC_set_handle_fork(int);
GC_API void GC_CALL GC_set_markers_count(unsigned);
GC_API int GC_CALL GC_get_parallel(void);
GC_API void GC_CALL GC_set_manual_vdb_allowed(int);
GC_API int GC_CALL GC_get_manual_vdb_allowed(void);
GC_API void GC_CALL GC_set_allocd_bytes_per_finalizer(GC_word);
GC_API GC_word GC_CALL GC_get_allocd_bytes_per_finalizer(void);
struct GC_timeval_s {
    unsigned long tv_ms;   /* milliseconds */
    unsigned long tv_nsec; /* and nanoseconds (< 1000000) */
};
GC_API void GC_CALL GC_set_time_limit_tv(struct GC_timeval_s);
GC_API struct GC_timeval_s GC_CALL GC_get_time_limit_tv(void);
/* Requested-to-allocated size for small requests; (size_t)-1 beyond. */
GC_API size_t GC_CALL GC_get_size_map_at(int i);
#define GC_PROTECTS_NONE 0
#define GC_PROTECTS_POINTER_HEAP 1
#define GC_PROTECTS_PTRFREE_HEAP 2
#define GC_PROTECTS_STATIC_DATA 4
#define GC_PROTECTS_STACK 8
/* GC_PROTECTS_NONE: cogc never write-protects the heap. */
GC_API int GC_CALL GC_incremental_protection_needs(void);
GC_API void GC_CALL GC_set_log_fd(int);

/* ---- Events (cogc reports GC_EVENT_START only: docs/bdwgc.md) -------- */
typedef enum {
    GC_EVENT_START,
    GC_EVENT_MARK_START,
    GC_EVENT_MARK_END,
    GC_EVENT_RECLAIM_START,
    GC_EVENT_RECLAIM_END,
    GC_EVENT_END,
    GC_EVENT_PRE_STOP_WORLD,
    GC_EVENT_POST_STOP_WORLD,
    GC_EVENT_PRE_START_WORLD,
    GC_EVENT_POST_START_WORLD,
    GC_EVENT_THREAD_SUSPENDED,
    GC_EVENT_THREAD_UNSUSPENDED
} GC_EventType;
typedef void(GC_CALLBACK *GC_on_collection_event_proc)(GC_EventType);
GC_API void GC_CALL GC_set_on_collection_event(GC_on_collection_event_proc);
GC_API GC_on_collection_event_proc GC_CALL GC_get_on_collection_event(void);
typedef void(GC_CALLBACK *GC_on_thread_event_proc)(GC_EventType, void *thread_id);
GC_API void GC_CALL GC_set_on_thread_event(GC_on_thread_event_proc);
GC_API GC_on_thread_event_proc GC_CALL GC_get_on_thread_event(void);
typedef void(GC_CALLBACK *GC_on_heap_resize_proc)(GC_word new_size);
GC_API GC_on_heap_resize_proc GC_on_heap_resize;
GC_API void GC_CALL GC_set_on_heap_resize(GC_on_heap_resize_proc);
GC_API GC_on_heap_resize_proc GC_CALL GC_get_on_heap_resize(void);
typedef void(GC_CALLBACK *GC_await_finalize_proc)(void *obj);
GC_API void GC_CALL GC_set_await_finalize_proc(GC_await_finalize_proc);
GC_API GC_await_finalize_proc GC_CALL GC_get_await_finalize_proc(void);

typedef void *(GC_CALLBACK *GC_oom_func)(size_t);
GC_API void GC_CALL GC_set_oom_fn(GC_oom_func) GC_ATTR_NONNULL(1);
GC_API GC_oom_func GC_CALL GC_get_oom_fn(void);
typedef void(GC_CALLBACK *GC_warn_proc)(char *msg, GC_word arg);
GC_API void GC_CALL GC_set_warn_proc(GC_warn_proc) GC_ATTR_NONNULL(1);
GC_API GC_warn_proc GC_CALL GC_get_warn_proc(void);
GC_API void GC_CALLBACK GC_ignore_warn_proc(char *, GC_word);
typedef void(GC_CALLBACK *GC_abort_func)(const char *);
GC_API void GC_CALL GC_set_abort_func(GC_abort_func) GC_ATTR_NONNULL(1);
GC_API GC_abort_func GC_CALL GC_get_abort_func(void);
GC_API void GC_CALL GC_abort_on_oom(void);

/* ---- Roots ------------------------------------------------------------- */
GC_API void GC_CALL GC_add_roots(void *low, void *high_plus_1);
GC_API void GC_CALL GC_remove_roots(void *low, void *high_plus_1);
GC_API void GC_CALL GC_clear_roots(void);
GC_API void GC_CALL GC_exclude_static_roots(void *low, void *high_plus_1);
GC_API void GC_CALL GC_clear_exclusion_table(void);
typedef int(GC_CALLBACK *GC_has_static_roots_func)(const char *dlpi_name, void *section_start, size_t section_size);
GC_API void GC_CALL GC_register_has_static_roots_callback(GC_has_static_roots_func);

/* ---- Finalization and disappearing links ----------------------------- */
typedef void(GC_CALLBACK *GC_finalization_proc)(void *obj, void *client_data);
GC_API void GC_CALL GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
                                          void **ocd);
GC_API void GC_CALL GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                                      GC_finalization_proc *ofn, void **ocd);
GC_API void GC_CALL GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                                   GC_finalization_proc *ofn, void **ocd);
GC_API void GC_CALL GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                                      GC_finalization_proc *ofn, void **ocd);
GC_API int GC_CALL GC_register_disappearing_link(void **link);
GC_API int GC_CALL GC_general_register_disappearing_link(void **link, const void *obj);
GC_API int GC_CALL GC_move_disappearing_link(void **link, void **new_link);
GC_API int GC_CALL GC_unregister_disappearing_link(void **link);
GC_API int GC_CALL GC_register_long_link(void **link, const void *obj);
GC_API int GC_CALL GC_move_long_link(void **link, void **new_link);
GC_API int GC_CALL GC_unregister_long_link(void **link);
GC_API int GC_CALL GC_should_invoke_finalizers(void);
GC_API int GC_CALL GC_invoke_finalizers(void);
typedef void(GC_CALLBACK *GC_finalizer_notifier_proc)(void);
GC_API void GC_CALL GC_set_finalizer_notifier(GC_finalizer_notifier_proc);
GC_API GC_finalizer_notifier_proc GC_CALL GC_get_finalizer_notifier(void);
#define GC_HIDE_POINTER(p) (~(GC_hidden_pointer)(p))
#define GC_REVEAL_POINTER(p) ((void *)GC_HIDE_POINTER(p))
#if !defined(GC_I_HIDE_POINTERS) && !defined(I_HIDE_POINTERS)
#define HIDE_POINTER(p) GC_HIDE_POINTER(p)
#define REVEAL_POINTER(p) GC_REVEAL_POINTER(p)
#endif

/* ---- Locking and threads -------------------------------------------- */
typedef void *(GC_CALLBACK *GC_fn_type)(void *client_data);
GC_API void *GC_CALL GC_call_with_alloc_lock(GC_fn_type fn, void *client_data) GC_ATTR_NONNULL(1);

struct GC_stack_base {
    void *mem_base;   /* the cold end of the stack (highest address on x86-64) */
};
typedef void *(GC_CALLBACK *GC_stack_base_func)(struct GC_stack_base *sb, void *arg);
GC_API void *GC_CALL GC_call_with_stack_base(GC_stack_base_func fn, void *arg) GC_ATTR_NONNULL(1);
GC_API int GC_CALL GC_get_stack_base(struct GC_stack_base *) GC_ATTR_NONNULL(1);
GC_API void *GC_CALL GC_do_blocking(GC_fn_type fn, void *client_data) GC_ATTR_NONNULL(1);
GC_API void *GC_CALL GC_call_with_gc_active(GC_fn_type fn, void *client_data) GC_ATTR_NONNULL(1);
GC_API void *GC_CALL GC_get_my_stackbottom(struct GC_stack_base *) GC_ATTR_NONNULL(1);
GC_API void GC_CALL GC_set_stackbottom(void *gc_thread_handle, const struct GC_stack_base *) GC_ATTR_NONNULL(2);
GC_API void GC_CALL GC_allow_register_threads(void);
GC_API int GC_CALL GC_register_my_thread(const struct GC_stack_base *) GC_ATTR_NONNULL(1);
GC_API int GC_CALL GC_thread_is_registered(void);
GC_API int GC_CALL GC_unregister_my_thread(void);
GC_API void GC_CALL GC_start_mark_threads(void);
GC_API int GC_CALL GC_get_suspend_signal(void);
GC_API int GC_CALL GC_get_thr_restart_signal(void);
GC_API void GC_CALL GC_set_suspend_signal(int);
GC_API void GC_CALL GC_set_thr_restart_signal(int);
GC_API void GC_CALL GC_atfork_prepare(void);
GC_API void GC_CALL GC_atfork_parent(void);
GC_API void GC_CALL GC_atfork_child(void);
/* Accepted and ignored: a thread's stack is scanned from its stack pointer. */
GC_API void GC_CALL GC_register_altstack(void *stack, GC_word stack_size, void *altstack, GC_word altstack_size);

/* ---- Pointer checks' failure procedures (cogc's checks never fail) --- */
GC_API void(GC_CALLBACK *GC_same_obj_print_proc)(void *p, void *q);
GC_API void(GC_CALLBACK *GC_is_valid_displacement_print_proc)(void *p);
GC_API void(GC_CALLBACK *GC_is_visible_print_proc)(void *p);

#ifdef __cplusplus
}
#endif

#if defined(GC_THREADS) || defined(GC_PTHREADS) || defined(GC_LINUX_THREADS)
#include "gc_pthread_redirects.h"
#endif

/* ---- Debugging variants ---------------------------------------------- */
#include "gc_debug.h"

#endif /* COGC_BDWGC_GC_H */
