// gc/gc_allocator.h - the bdwgc allocators for standard containers, on
// cogc: gc_allocator (collected, scanned; pointer-free element types get
// unscanned storage when GC_DECLARE_PTRFREE says so),
// gc_allocator_ignore_off_page (the same), traceable_allocator (never
// collected, scanned: for containers whose storage is freed explicitly and
// holds pointers to collected objects).  Header only.
#ifndef COGC_BDWGC_GC_ALLOCATOR_H
#define COGC_BDWGC_GC_ALLOCATOR_H

#include "gc.h"

#include <cstddef>
#include <new>

namespace cogc_bdwgc_detail {
template <class T> struct ptrfree {
    static const bool value = false;
};
template <class T> inline void *allocate(std::size_t n, bool uncollectable)
{
    if (n > std::size_t(-1) / sizeof(T))
        throw std::bad_alloc();
    std::size_t bytes = n * sizeof(T);
    void *p = uncollectable          ? GC_MALLOC_UNCOLLECTABLE(bytes)
              : ptrfree<T>::value    ? GC_MALLOC_ATOMIC(bytes)
                                     : GC_MALLOC(bytes);
    if (!p)
        throw std::bad_alloc();
    return p;
}
} // namespace cogc_bdwgc_detail

// Element types without pointers: GC_DECLARE_PTRFREE(double);
#define GC_DECLARE_PTRFREE(T)                  \
    namespace cogc_bdwgc_detail {              \
    template <> struct ptrfree<T> {            \
        static const bool value = true;        \
    };                                         \
    }
GC_DECLARE_PTRFREE(char)
GC_DECLARE_PTRFREE(signed char)
GC_DECLARE_PTRFREE(unsigned char)
GC_DECLARE_PTRFREE(short)
GC_DECLARE_PTRFREE(unsigned short)
GC_DECLARE_PTRFREE(int)
GC_DECLARE_PTRFREE(unsigned int)
GC_DECLARE_PTRFREE(long)
GC_DECLARE_PTRFREE(unsigned long)
GC_DECLARE_PTRFREE(float)
GC_DECLARE_PTRFREE(double)

#define COGC_BDWGC_ALLOCATOR(name, uncollectable)                                           \
    template <class T> class name {                                                      \
    public:                                                                              \
        typedef std::size_t size_type;                                                   \
        typedef std::ptrdiff_t difference_type;                                          \
        typedef T *pointer;                                                              \
        typedef const T *const_pointer;                                                  \
        typedef T &reference;                                                            \
        typedef const T &const_reference;                                                \
        typedef T value_type;                                                            \
        template <class U> struct rebind {                                               \
            typedef name<U> other;                                                       \
        };                                                                               \
        name() throw() {}                                                                \
        name(const name &) throw() {}                                                    \
        template <class U> name(const name<U> &) throw() {}                              \
        T *allocate(size_type n, const void * = 0)                                       \
        {                                                                                \
            return static_cast<T *>(cogc_bdwgc_detail::allocate<T>(n, uncollectable));   \
        }                                                                                \
        void deallocate(T *p, size_type) { GC_FREE(p); }                                 \
        size_type max_size() const throw() { return size_type(-1) / sizeof(T); }         \
    };                                                                                   \
    template <class T, class U> inline bool operator==(const name<T> &, const name<U> &) \
    {                                                                                    \
        return true;                                                                     \
    }                                                                                    \
    template <class T, class U> inline bool operator!=(const name<T> &, const name<U> &) \
    {                                                                                    \
        return false;                                                                    \
    }

COGC_BDWGC_ALLOCATOR(gc_allocator, false)
COGC_BDWGC_ALLOCATOR(gc_allocator_ignore_off_page, false)
COGC_BDWGC_ALLOCATOR(traceable_allocator, true)

#endif
