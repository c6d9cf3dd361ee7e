/* gc/gc_gcj.h - objects whose first word points to a vtable (gcj).  On
 * cogc they are scanned conservatively in full; the mark descriptor in the
 * vtable is not read (docs/bdwgc.md). */
#ifndef COGC_BDWGC_GC_GCJ_H
#define COGC_BDWGC_GC_GCJ_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif
GC_API void GC_CALL GC_init_gcj_malloc(int mp_index, void *mp);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_gcj_malloc(size_t lb, void *vtable);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_debug_gcj_malloc(size_t lb, void *vtable,
                                                                            const char *s, int i);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_gcj_malloc_ignore_off_page(size_t lb, void *vtable);
GC_API int GC_gcj_kind;
GC_API int GC_gcj_debug_kind;
#ifdef __cplusplus
}
#endif

#ifdef GC_DEBUG
#define GC_GCJ_MALLOC(s, d) GC_debug_gcj_malloc(s, d, __FILE__, __LINE__)
#define GC_GCJ_MALLOC_IGNORE_OFF_PAGE(s, d) GC_debug_gcj_malloc(s, d, __FILE__, __LINE__)
#else
#define GC_GCJ_MALLOC(s, d) GC_gcj_malloc(s, d)
#define GC_GCJ_MALLOC_IGNORE_OFF_PAGE(s, d) GC_gcj_malloc_ignore_off_page(s, d)
#endif

#endif
