/* gc/javaxfc.h - run every finalizer before exit, as Java requires. */
#ifndef COGC_BDWGC_JAVAXFC_H
#define COGC_BDWGC_JAVAXFC_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif
/* Collects, then runs every queued finalizer.  Finalizers of objects that
 * are still reachable do not run (cogc does not finalize live objects):
 * docs/bdwgc.md. */
GC_API void GC_CALL GC_finalize_all(void);
#ifdef __cplusplus
}
#endif

#endif
