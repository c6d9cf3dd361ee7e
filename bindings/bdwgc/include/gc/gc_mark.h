/* gc/gc_mark.h - custom object kinds and mark procedures.
 *
 * cogc runs a kind's mark procedure (a descriptor made by GC_MAKE_PROC)
 * for each reachable object of that kind, once per collection; the
 * procedure reports pointers with GC_MARK_AND_PUSH / GC_mark_and_push.
 * The mark stack arguments are opaque: GC_mark_and_push never advances
 * them and never overflows, and entries written directly into the stack
 * are ignored (docs/bdwgc.md).  Kinds with length or bitmap descriptors
 * are scanned conservatively in full. */
#ifndef COGC_BDWGC_GC_MARK_H
#define COGC_BDWGC_GC_MARK_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif

struct GC_ms_entry {
    void *mse_start;
    GC_word mse_descr;
};

typedef struct GC_ms_entry *(GC_CALLBACK *GC_mark_proc)(GC_word *addr, struct GC_ms_entry *mark_stack_ptr,
                                                        struct GC_ms_entry *mark_stack_limit, GC_word env);

/* Descriptors: the low GC_DS_TAG_BITS bits say how to read the rest. */
#define GC_LOG_MAX_MARK_PROCS 6
#define GC_MAX_MARK_PROCS (1 << GC_LOG_MAX_MARK_PROCS)
#define GC_DS_TAG_BITS 2
#define GC_DS_TAGS ((1 << GC_DS_TAG_BITS) - 1)
#define GC_DS_LENGTH 0
#define GC_DS_BITMAP 1
#define GC_DS_PROC 2
#define GC_DS_PER_OBJECT 3
#define GC_MAKE_PROC(proc_index, env) \
    (((((GC_word)(env) << GC_LOG_MAX_MARK_PROCS) | (proc_index)) << GC_DS_TAG_BITS) | GC_DS_PROC)
#define GC_INDIR_PER_OBJ_BIAS 0x10
#define GC_RESERVED_MARK_PROCS 8
#define GC_GCJ_RESERVED_MARK_PROC_INDEX 0

/* Addresses outside [least, greatest] are never heap objects. */
GC_API void *GC_least_plausible_heap_addr;
GC_API void *GC_greatest_plausible_heap_addr;

GC_API struct GC_ms_entry *GC_CALL GC_mark_and_push(void *obj, struct GC_ms_entry *mark_stack_ptr,
                                                    struct GC_ms_entry *mark_stack_limit, void **src);
#define GC_MARK_AND_PUSH(obj, msp, lim, src)                                                      \
    ((GC_word)(obj) >= (GC_word)GC_least_plausible_heap_addr &&                                  \
             (GC_word)(obj) <= (GC_word)GC_greatest_plausible_heap_addr                          \
         ? GC_mark_and_push(obj, msp, lim, src)                                                   \
         : (msp))

GC_API void **GC_CALL GC_new_free_list(void);
GC_API void **GC_CALL GC_new_free_list_inner(void);
GC_API unsigned GC_CALL GC_new_kind(void **free_list, GC_word mark_descriptor_template, int add_size_to_descriptor,
                                    int clear_new_objects);
GC_API unsigned GC_CALL GC_new_kind_inner(void **free_list, GC_word mark_descriptor_template,
                                          int add_size_to_descriptor, int clear_new_objects);
GC_API unsigned GC_CALL GC_new_proc(GC_mark_proc);
GC_API unsigned GC_CALL GC_new_proc_inner(GC_mark_proc);

/* Predefined kinds. */
#define GC_I_PTRFREE 0
#define GC_I_NORMAL 1

GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_generic_malloc(size_t lb, int k);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_generic_malloc_ignore_off_page(size_t lb, int k);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_generic_malloc_uncollectable(size_t lb, int k);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_generic_or_special_malloc(size_t lb, int k);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_debug_generic_or_special_malloc(size_t lb, int k,
                                                                                          const char *s, int i);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc_kind(size_t lb, int k);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_malloc_kind_global(size_t lb, int k);

/* Mark bits are the collector's own: GC_is_marked returns 1 for any
 * object of the heap (so a procedure that marks a value only when its key
 * is marked keeps both: never less than bdwgc keeps), 0 elsewhere; setting
 * or clearing them from outside is ignored. */
GC_API int GC_CALL GC_is_marked(const void *p);
GC_API void GC_CALL GC_set_mark_bit(const void *p);
GC_API void GC_CALL GC_clear_mark_bit(const void *p);

/* Root pushing, valid inside a mark procedure or a push-other-roots
 * callback: every word of [bottom, top) is treated as a pointer. */
GC_API void GC_CALL GC_push_all(void *bottom, void *top);
GC_API void GC_CALL GC_push_all_eager(void *bottom, void *top);
GC_API void GC_CALL GC_push_conditional(void *bottom, void *top, int all);
GC_API void GC_CALL GC_push_finalizer_structures(void);
typedef void(GC_CALLBACK *GC_push_other_roots_proc)(void);
GC_API void GC_CALL GC_set_push_other_roots(GC_push_other_roots_proc);
GC_API GC_push_other_roots_proc GC_CALL GC_get_push_other_roots(void);

/* Always 0: no debugging header precedes an object. */
GC_API const size_t GC_debug_header_size;
/* GC_size(p) in *psize; GC_I_NORMAL for any heap object, -1 otherwise. */
GC_API int GC_CALL GC_get_kind_and_size(const void *p, size_t *psize) GC_ATTR_NONNULL(1);
#define GC_TYPE_DESCR_LEN 40
typedef void(GC_CALLBACK *GC_describe_type_fn)(void *p, char *out_buf);
/* Stored (cogc prints no objects). */
GC_API void GC_CALL GC_register_describe_type_fn(int kind, GC_describe_type_fn);
/* Always 0: cogc registers no temporary roots. */
GC_API int GC_CALL GC_is_tmp_root(void *p);

#ifdef __cplusplus
}
#endif

#endif
