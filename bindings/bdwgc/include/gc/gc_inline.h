/* gc/gc_inline.h - batch allocation for a runtime's own free lists. */
#ifndef COGC_BDWGC_GC_INLINE_H
#define COGC_BDWGC_GC_INLINE_H

#include "gc.h"
#include "gc_mark.h"

#ifdef __cplusplus
extern "C" {
#endif
/* *result = a list of objects of lb bytes of kind k, linked through their
 * first word (GC_NEXT); NULL when memory is exhausted. */
GC_API void GC_CALL GC_generic_malloc_many(size_t lb, int k, void **result);
/* Prints one line: cogc has no global free lists. */
GC_API void GC_CALL GC_print_free_list(int kind, size_t granules);
#ifdef __cplusplus
}
#endif

#endif
