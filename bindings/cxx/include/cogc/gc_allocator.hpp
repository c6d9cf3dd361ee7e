// cogc/gc_allocator.hpp - C++ on cogc: an allocator for standard
// containers, a base class for collected objects, placement new.
//
//   std::vector<Node *, cogc::gc_allocator<Node *>> v;   // buffer scanned
//   std::vector<double, cogc::gc_atomic_allocator<double>> d; // never scanned
//   struct Node : cogc::gc { Node *next; };               // new Node: collected
//   struct File : cogc::gc_cleanup { ~File(); };          // destructor as finalizer
//   auto *p = new (cogc::collected) Plain(args);           // any type, collected
//
// Memory from gc_allocator is collected when unreachable, and its contents
// are scanned: pointers stored in a container keep their targets alive as
// long as the container's storage is reachable (from a stack, a global, or
// another collected object).  Containers free storage they no longer use
// (cogc_free), as with any allocator.
#ifndef COGC_GC_ALLOCATOR_HPP
#define COGC_GC_ALLOCATOR_HPP

#include <cogc.h>

#include <cstddef>
#include <limits>
#include <new>
#include <type_traits>

namespace cogc {

namespace detail {
[[noreturn]] inline void out_of_memory() { throw std::bad_alloc(); }

template <class T> inline T *allocate_n(std::size_t n, bool atomic)
{
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
        throw std::bad_array_new_length();
    void *p = atomic ? cogc_malloc_atomic(n * sizeof(T)) : cogc_malloc(n * sizeof(T));
    if (!p)
        out_of_memory();
    return static_cast<T *>(p);
}
} // namespace detail

// Storage scanned for pointers.
template <class T> class gc_allocator {
public:
    using value_type = T;
    using is_always_equal = std::true_type;
    using propagate_on_container_move_assignment = std::true_type;

    gc_allocator() noexcept = default;
    template <class U> gc_allocator(const gc_allocator<U> &) noexcept {}

    T *allocate(std::size_t n) { return detail::allocate_n<T>(n, false); }
    void deallocate(T *p, std::size_t) noexcept { cogc_free(p); }

    template <class U> struct rebind {
        using other = gc_allocator<U>;
    };
};

template <class T, class U> bool operator==(const gc_allocator<T> &, const gc_allocator<U> &) noexcept { return true; }
template <class T, class U> bool operator!=(const gc_allocator<T> &, const gc_allocator<U> &) noexcept { return false; }

// Storage never scanned: for elements that hold no pointer to collected
// memory (numbers, characters).  Not zero-filled.
template <class T> class gc_atomic_allocator {
public:
    using value_type = T;
    using is_always_equal = std::true_type;
    using propagate_on_container_move_assignment = std::true_type;

    gc_atomic_allocator() noexcept = default;
    template <class U> gc_atomic_allocator(const gc_atomic_allocator<U> &) noexcept {}

    T *allocate(std::size_t n) { return detail::allocate_n<T>(n, true); }
    void deallocate(T *p, std::size_t) noexcept { cogc_free(p); }

    template <class U> struct rebind {
        using other = gc_atomic_allocator<U>;
    };
};

template <class T, class U>
bool operator==(const gc_atomic_allocator<T> &, const gc_atomic_allocator<U> &) noexcept { return true; }
template <class T, class U>
bool operator!=(const gc_atomic_allocator<T> &, const gc_atomic_allocator<U> &) noexcept { return false; }

// Placement tag: new (cogc::collected) T(...) puts any T in the collected
// heap (its destructor never runs unless deleted explicitly).
struct collected_t {
    explicit collected_t() = default;
};
inline constexpr collected_t collected{};

// Objects of classes derived from gc are collected; delete is allowed
// (and frees at once).
class gc {
public:
    static void *operator new(std::size_t n)
    {
        void *p = cogc_malloc(n);
        if (!p)
            detail::out_of_memory();
        return p;
    }
    static void *operator new[](std::size_t n) { return operator new(n); }
    static void *operator new(std::size_t, void *where) noexcept { return where; }
    static void operator delete(void *p) noexcept { cogc_free(p); }
    static void operator delete[](void *p) noexcept { cogc_free(p); }
    static void operator delete(void *, void *) noexcept {}
};

// Like gc, and the destructor runs as the object's finalizer (ordered,
// self-references ignored: an object reachable from another finalizable
// one is destroyed after it), outside the collector's locks.  Deleting explicitly runs it at once.
class gc_cleanup : public gc {
public:
    gc_cleanup()
    {
        void *base = cogc_base(this);
        if (base)
            cogc_register_finalizer(base, &finalize,
                                    reinterpret_cast<void *>(static_cast<char *>(static_cast<void *>(this)) -
                                                             static_cast<char *>(base)),
                                    COGC_FINALIZE_IGNORE_SELF, nullptr, nullptr);
    }
    gc_cleanup(const gc_cleanup &) : gc_cleanup() {}
    gc_cleanup &operator=(const gc_cleanup &) { return *this; }
    virtual ~gc_cleanup()
    {
        void *base = cogc_base(this);
        if (base)
            cogc_register_finalizer(base, nullptr, nullptr, COGC_FINALIZE_ORDERED, nullptr, nullptr);
    }

private:
    static void finalize(void *obj, void *offset)
    {
        auto *self = reinterpret_cast<gc_cleanup *>(static_cast<char *>(obj) + reinterpret_cast<std::ptrdiff_t>(offset));
        self->~gc_cleanup();
    }
};

} // namespace cogc

inline void *operator new(std::size_t n, cogc::collected_t)
{
    void *p = cogc_malloc(n);
    if (!p)
        cogc::detail::out_of_memory();
    return p;
}
inline void *operator new[](std::size_t n, cogc::collected_t) { return operator new(n, cogc::collected); }
inline void operator delete(void *p, cogc::collected_t) noexcept { cogc_free(p); }
inline void operator delete[](void *p, cogc::collected_t) noexcept { cogc_free(p); }

#endif
