// gc/gc_cpp.h - bdwgc's C++ interface on cogc, written from its documented
// API:
//
//   struct Node : gc { Node *next; };          // new Node: collected
//   struct File : gc_cleanup { ~File(); };     // destructor runs as finalizer
//   Plain *p = new (GC) Plain;                 // any type, collected, scanned
//   Blob *b = new (PointerFreeGC) Blob;        // collected, never scanned
//   Plain *q = new (NoGC) Plain;               // uncollectable: delete it
//   T *t = ::new (GC, cleanup_fn, data) T;     // cleanup_fn(t, data) when unreachable
//
// Everything here is inline, so a program needs only libgc.so.1; linking
// libgccpp.so.1 as well makes the global operator new / delete allocate
// uncollectable (scanned) memory, as with bdwgc.  With GC_NAMESPACE the
// names live in namespace boehmgc (GC_NS_QUALIFY(x) names them).
// GC_NEW_ABORTS_ON_OOM makes an allocation failure call GC_abort_on_oom()
// instead of throwing std::bad_alloc.
#ifndef COGC_BDWGC_GC_CPP_H
#define COGC_BDWGC_GC_CPP_H

#include "gc.h"

#include <cstddef>
#include <new>

#ifdef GC_NAMESPACE
#define GC_NS_QUALIFY(T) boehmgc::T
#else
#define GC_NS_QUALIFY(T) T
#endif

#if !defined(GC_NO_OPERATOR_NEW_ARRAY) && !defined(GC_OPERATOR_NEW_ARRAY)
#define GC_OPERATOR_NEW_ARRAY
#endif
#define GC_PLACEMENT_DELETE

#if __cplusplus >= 201103L
#define COGC_GC_CPP_NOEXCEPT noexcept
#else
#define COGC_GC_CPP_NOEXCEPT throw()
#endif

// Throws std::bad_alloc (in libgccpp.so.1 and libgctba.so.1).
GC_API void GC_CALL GC_throw_bad_alloc();

#ifdef GC_NAMESPACE
namespace boehmgc {
#endif

enum GCPlacement {
    UseGC,
#ifndef GC_NAME_CONFLICT
    GC = UseGC,
#endif
    NoGC,
    PointerFreeGC
#ifdef GC_ATOMIC_UNCOLLECTABLE
    ,
    PointerFreeNoGC
#endif
};

extern "C" {
typedef void(GC_CALLBACK *GCCleanUpFunc)(void *obj, void *clientData);
}

namespace cogc_gc_cpp_detail {
inline void *checked(void *p)
{
    if (!p) {
#ifdef GC_NEW_ABORTS_ON_OOM
        GC_abort_on_oom();
#else
        throw std::bad_alloc();
#endif
    }
    return p;
}

inline void *allocate(std::size_t size, GCPlacement where)
{
    switch (where) {
    case UseGC:
        return checked(GC_MALLOC(size));
    case PointerFreeGC:
        return checked(GC_MALLOC_ATOMIC(size));
#ifdef GC_ATOMIC_UNCOLLECTABLE
    case PointerFreeNoGC:
        return checked(GC_malloc_atomic_uncollectable(size));
#endif
    case NoGC:
    default: // an out-of-range placement gets the safe choice: kept, scanned
        return checked(GC_MALLOC_UNCOLLECTABLE(size));
    }
}
} // namespace cogc_gc_cpp_detail

// Objects of classes derived from gc are collected unless placed with NoGC.
// delete on one frees it at once (it must be unreachable then).
class gc {
public:
    void *operator new(std::size_t size) { return cogc_gc_cpp_detail::allocate(size, UseGC); }
    void *operator new(std::size_t size, GCPlacement where)
    {
        return cogc_gc_cpp_detail::allocate(size, where);
    }
    void *operator new(std::size_t, void *p) COGC_GC_CPP_NOEXCEPT { return p; }
    void operator delete(void *obj) COGC_GC_CPP_NOEXCEPT { GC_FREE(obj); }
    void operator delete(void *obj, GCPlacement) COGC_GC_CPP_NOEXCEPT { GC_FREE(obj); }
    void operator delete(void *, void *) COGC_GC_CPP_NOEXCEPT {}
#ifdef GC_OPERATOR_NEW_ARRAY
    void *operator new[](std::size_t size) { return cogc_gc_cpp_detail::allocate(size, UseGC); }
    void *operator new[](std::size_t size, GCPlacement where)
    {
        return cogc_gc_cpp_detail::allocate(size, where);
    }
    void *operator new[](std::size_t, void *p) COGC_GC_CPP_NOEXCEPT { return p; }
    void operator delete[](void *obj) COGC_GC_CPP_NOEXCEPT { GC_FREE(obj); }
    void operator delete[](void *obj, GCPlacement) COGC_GC_CPP_NOEXCEPT { GC_FREE(obj); }
    void operator delete[](void *, void *) COGC_GC_CPP_NOEXCEPT {}
#endif
};

// Objects of classes derived from gc_cleanup are collected, and their
// destructors run (as a finalizer, ignoring pointers into themselves) when
// the collector finds them unreachable.  An explicit delete runs the
// destructor at once and cancels the finalizer.  On the stack, in static
// storage or placed with NoGC such an object is never finalized.
class gc_cleanup : virtual public gc {
public:
    gc_cleanup()
    {
        void *base = GC_base(static_cast<void *>(this));
        if (!base)
            return;
        GC_finalization_proc old_fn = 0;
        void *old_data = 0;
        void *offset = reinterpret_cast<void *>(reinterpret_cast<char *>(this) - static_cast<char *>(base));
        GC_register_finalizer_ignore_self(base, run_destructor, offset, &old_fn, &old_data);
        // An enclosing object's cleanup registered first (::new (GC, fn)) wins.
        if (old_fn)
            GC_register_finalizer_ignore_self(base, old_fn, old_data, 0, 0);
    }
    virtual ~gc_cleanup()
    {
        void *base = GC_base(static_cast<void *>(this));
        if (base)
            GC_register_finalizer_ignore_self(base, 0, 0, 0, 0);
    }

private:
    static void GC_CALLBACK run_destructor(void *base, void *offset)
    {
        reinterpret_cast<gc_cleanup *>(static_cast<char *>(base) + reinterpret_cast<std::ptrdiff_t>(offset))
            ->~gc_cleanup();
    }
};

namespace cogc_gc_cpp_detail {
inline void *allocate_with_cleanup(std::size_t size, GCPlacement where, GCCleanUpFunc cleanup, void *data)
{
    void *obj = allocate(size, where);
    // A cleanup on an uncollectable object would never run: it is ignored.
    if (cleanup && where != NoGC)
        GC_register_finalizer_ignore_self(obj, cleanup, data, 0, 0);
    return obj;
}
} // namespace cogc_gc_cpp_detail

#ifdef GC_NAMESPACE
} // namespace boehmgc
#endif

// Any type in the collected heap: ::new (GC) T, ::new (PointerFreeGC) T,
// ::new (NoGC) T, and with a cleanup function called instead of the
// destructor when the object becomes unreachable (never delete such an
// object explicitly).
inline void *operator new(std::size_t size, GC_NS_QUALIFY(GCPlacement) where,
                          GC_NS_QUALIFY(GCCleanUpFunc) cleanup = 0, void *data = 0)
{
    return GC_NS_QUALIFY(cogc_gc_cpp_detail)::allocate_with_cleanup(size, where, cleanup, data);
}
inline void operator delete(void *obj, GC_NS_QUALIFY(GCPlacement), GC_NS_QUALIFY(GCCleanUpFunc),
                            void *) COGC_GC_CPP_NOEXCEPT
{
    GC_FREE(obj);
}
#ifdef GC_OPERATOR_NEW_ARRAY
inline void *operator new[](std::size_t size, GC_NS_QUALIFY(GCPlacement) where,
                            GC_NS_QUALIFY(GCCleanUpFunc) cleanup = 0, void *data = 0)
{
    return GC_NS_QUALIFY(cogc_gc_cpp_detail)::allocate_with_cleanup(size, where, cleanup, data);
}
inline void operator delete[](void *obj, GC_NS_QUALIFY(GCPlacement), GC_NS_QUALIFY(GCCleanUpFunc),
                              void *) COGC_GC_CPP_NOEXCEPT
{
    GC_FREE(obj);
}
#endif

#endif
