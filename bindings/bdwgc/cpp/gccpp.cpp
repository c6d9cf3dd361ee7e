// libgccpp.so.1: the global operator new / delete of bdwgc's C++ library.
// A program linked with it allocates every plain `new` object from the
// collector as uncollectable memory: scanned for pointers into the
// collected heap, freed only by delete.  Its gc / gc_cleanup classes are
// inline in gc_cpp.h and need only libgc.so.1.
#include <gc_cpp.h>

#include <cstddef>
#include <new>

void GC_CALL GC_throw_bad_alloc() { throw std::bad_alloc(); }

namespace {
void *allocate(std::size_t size)
{
    void *p = GC_MALLOC_UNCOLLECTABLE(size);
    if (!p)
        GC_throw_bad_alloc();
    return p;
}
} // namespace

void *operator new(std::size_t size) { return allocate(size); }
void *operator new[](std::size_t size) { return allocate(size); }
void operator delete(void *p) noexcept { GC_FREE(p); }
void operator delete[](void *p) noexcept { GC_FREE(p); }
void operator delete(void *p, std::size_t) noexcept { GC_FREE(p); }
void operator delete[](void *p, std::size_t) noexcept { GC_FREE(p); }
