/* Finalizers and disappearing links: cogc's own (gc/finalize.c). */
#include "shim.h"

#include <errno.h>

static void reg(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn, void **ocd, int mode)
{
    shim_ensure();
    /* Not the start of a collectable object: ignored, as bdwgc ignores a
     * pointer it does not own (old values come back NULL). */
    cogc_register_finalizer(obj, (cogc_finalizer_fn)fn, cd, mode, (cogc_finalizer_fn *)ofn, ocd);
}

GC_API void GC_CALL GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
                                          void **ocd)
{
    reg(obj, fn, cd, ofn, ocd, COGC_FINALIZE_ORDERED);
}
GC_API void GC_CALL GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                                      GC_finalization_proc *ofn, void **ocd)
{
    reg(obj, fn, cd, ofn, ocd, COGC_FINALIZE_IGNORE_SELF);
}
GC_API void GC_CALL GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                                   GC_finalization_proc *ofn, void **ocd)
{
    reg(obj, fn, cd, ofn, ocd, COGC_FINALIZE_NO_ORDER);
}
/* Runs when obj is unreachable, whoever points to it: no-order. */
GC_API void GC_CALL GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                                      GC_finalization_proc *ofn, void **ocd)
{
    reg(obj, fn, cd, ofn, ocd, COGC_FINALIZE_NO_ORDER);
}
GC_API void GC_CALL GC_debug_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                                                GC_finalization_proc *ofn, void **ocd)
{
    GC_register_finalizer(obj, fn, cd, ofn, ocd);
}
GC_API void GC_CALL GC_debug_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                                            GC_finalization_proc *ofn, void **ocd)
{
    GC_register_finalizer_ignore_self(obj, fn, cd, ofn, ocd);
}
GC_API void GC_CALL GC_debug_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                                         GC_finalization_proc *ofn, void **ocd)
{
    GC_register_finalizer_no_order(obj, fn, cd, ofn, ocd);
}
GC_API void GC_CALL GC_debug_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                                            GC_finalization_proc *ofn, void **ocd)
{
    GC_register_finalizer_unreachable(obj, fn, cd, ofn, ocd);
}

static int link_result(int rc)
{
    if (rc >= 0)
        return rc == 0 ? GC_SUCCESS : GC_DUPLICATE;
    return errno == ENOMEM ? GC_NO_MEMORY : errno == ENOENT ? GC_NOT_FOUND : GC_UNIMPLEMENTED;
}

GC_API int GC_CALL GC_general_register_disappearing_link(void **link, const void *obj)
{
    shim_ensure();
    return link_result(cogc_register_disappearing_link(link, obj));
}

/* The link points into the object that holds it. */
GC_API int GC_CALL GC_register_disappearing_link(void **link)
{
    void *base = GC_base(link);
    if (!base)
        return GC_UNIMPLEMENTED;
    return GC_general_register_disappearing_link(link, base);
}

GC_API int GC_CALL GC_move_disappearing_link(void **link, void **new_link)
{
    return link_result(cogc_move_disappearing_link(link, new_link));
}
GC_API int GC_CALL GC_unregister_disappearing_link(void **link) { return cogc_unregister_disappearing_link(link); }

GC_API int GC_CALL GC_register_long_link(void **link, const void *obj)
{
    shim_ensure();
    return link_result(cogc_register_long_link(link, obj));
}
GC_API int GC_CALL GC_move_long_link(void **link, void **new_link)
{
    return link_result(cogc_move_long_link(link, new_link));
}
GC_API int GC_CALL GC_unregister_long_link(void **link) { return cogc_unregister_long_link(link); }

GC_API int GC_CALL GC_should_invoke_finalizers(void) { return cogc_finalizers_pending() != 0; }
GC_API int GC_CALL GC_invoke_finalizers(void) { return (int)cogc_invoke_finalizers(); }

GC_API void GC_CALL GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn)
{
    GC_finalizer_notifier = fn;
    cogc_set_finalizer_notifier(fn);
}
GC_API GC_finalizer_notifier_proc GC_CALL GC_get_finalizer_notifier(void) { return cogc_get_finalizer_notifier(); }

GC_API void GC_CALL GC_set_finalize_on_demand(int on)
{
    GC_finalize_on_demand = on;
    cogc_set_finalize_on_demand(on);
}
GC_API int GC_CALL GC_get_finalize_on_demand(void) { return cogc_get_finalize_on_demand(); }

/* Java finalization (objects reachable from a finalizable object kept
 * until its finalizer ran) is what cogc always does. */
GC_API void GC_CALL GC_set_java_finalization(int on) { GC_java_finalization = on; }
GC_API int GC_CALL GC_get_java_finalization(void) { return GC_java_finalization; }

GC_API void GC_CALL GC_finalize_all(void)
{
    GC_gcollect();
    cogc_invoke_finalizers();
}
