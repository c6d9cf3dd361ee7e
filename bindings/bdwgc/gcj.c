/* gcj-style objects (gc_gcj.h) and finalized objects (gc_disclaim.h). */
#include "shim.h"

#include "gc/gc_disclaim.h"
#include "gc/gc_gcj.h"

#include <stdint.h>

/* ---- gcj: the first word of an object points to its vtable ------------ */

/* The kinds bdwgc would create; cogc scans gcj objects conservatively in
 * full (the mark descriptor in the vtable is not read), which keeps at
 * least what the descriptor would. */
int GC_gcj_kind = GC_I_NORMAL;
int GC_gcj_debug_kind = GC_I_NORMAL;

GC_API void GC_CALL GC_init_gcj_malloc(int mp_index, void *mp)
{
    (void)mp_index, (void)mp;
    shim_ensure();
}

GC_API void *GC_CALL GC_gcj_malloc(size_t lb, void *vtable)
{
    if (lb < sizeof(void *))
        lb = sizeof(void *);
    void **p = GC_malloc(lb);
    if (p)
        p[0] = vtable;
    return p;
}
GC_API void *GC_CALL GC_gcj_malloc_ignore_off_page(size_t lb, void *vtable) { return GC_gcj_malloc(lb, vtable); }
GC_API void *GC_CALL GC_debug_gcj_malloc(size_t lb, void *vtable, const char *s, int i)
{
    (void)s, (void)i;
    return GC_gcj_malloc(lb, vtable);
}

/* ---- finalized objects ------------------------------------------------- */

/* The closure's address (tagged with the low bit, as bdwgc does, so that a
 * cleared object is told from a live one) is the hidden first word; the
 * program gets the words after it.  The closure runs as a no-order
 * finalizer: when the object is unreachable, whoever points to it. */
static void GC_CALLBACK run_closure(void *base, void *unused)
{
    (void)unused;
    uintptr_t tagged = *(uintptr_t *)base;
    const struct GC_finalizer_closure *fc = (const struct GC_finalizer_closure *)(tagged & ~(uintptr_t)1);
    fc->proc((void **)base + 1, fc->cd);
}

GC_API void GC_CALL GC_init_finalized_malloc(void) { shim_ensure(); }

GC_API void *GC_CALL GC_finalized_malloc(size_t lb, const struct GC_finalizer_closure *fc)
{
    if (!fc || lb > SIZE_MAX - sizeof(void *))
        return NULL;
    void **base = GC_malloc(lb + sizeof(void *));
    if (!base)
        return NULL;
    base[0] = (void *)((uintptr_t)fc | 1);
    GC_register_finalizer_no_order(base, run_closure, NULL, NULL, NULL);
    return base + 1;
}
