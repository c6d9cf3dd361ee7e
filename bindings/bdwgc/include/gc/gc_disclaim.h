/* gc/gc_disclaim.h - objects with a finalization closure.  On cogc the
 * closure runs as a no-order finalizer (outside the collector's locks);
 * GC_register_disclaim_proc is not provided (docs/bdwgc.md). */
#ifndef COGC_BDWGC_GC_DISCLAIM_H
#define COGC_BDWGC_GC_DISCLAIM_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif
GC_API void GC_CALL GC_init_finalized_malloc(void);
struct GC_finalizer_closure {
    GC_finalization_proc proc;
    void *cd;
};
/* An object of size bytes; fc->proc(obj, fc->cd) runs once it is
 * unreachable.  *fc must stay valid as long as the object lives.  NULL
 * when fc is NULL or memory is exhausted. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_CALL GC_finalized_malloc(size_t size,
                                                                            const struct GC_finalizer_closure *fc);
#ifdef __cplusplus
}
#endif

#endif
