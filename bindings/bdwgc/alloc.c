/* Allocation, object queries and their GC_debug_ variants. */
#include "shim.h"

#include <errno.h>
#include <string.h>

GC_API void *GC_CALL GC_malloc(size_t lb)
{
    shim_ensure();
    return shim_result(cogc_malloc(lb), lb);
}

GC_API void *GC_CALL GC_malloc_atomic(size_t lb)
{
    shim_ensure();
    return shim_result(cogc_malloc_atomic(lb), lb);
}

GC_API void *GC_CALL GC_malloc_uncollectable(size_t lb)
{
    shim_ensure();
    return shim_result(cogc_malloc_uncollectable(lb), lb);
}

/* cogc has no atomic uncollectable kind: scanned, which keeps more alive,
 * never less. */
GC_API void *GC_CALL GC_malloc_atomic_uncollectable(size_t lb) { return GC_malloc_uncollectable(lb); }
/* cogc places large objects on black-list-free pages anyway. */
GC_API void *GC_CALL GC_malloc_ignore_off_page(size_t lb) { return GC_malloc(lb); }
GC_API void *GC_CALL GC_malloc_atomic_ignore_off_page(size_t lb) { return GC_malloc_atomic(lb); }
GC_API void *GC_CALL GC_malloc_stubborn(size_t lb) { return GC_malloc(lb); }

GC_API void *GC_CALL GC_realloc(void *p, size_t lb)
{
    shim_ensure();
    void *r = cogc_realloc(p, lb);
    return lb == 0 ? r : shim_result(r, lb);
}

/* A pointer inside an object (a GC_memalign result) frees the object. */
GC_API void GC_CALL GC_free(void *p)
{
    if (!p)
        return;
    void *base = cogc_base(p);
    cogc_free(base ? base : p);
}

GC_API char *GC_CALL GC_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *r = GC_malloc_atomic(n);
    if (r)
        memcpy(r, s, n);
    return r;
}

GC_API char *GC_CALL GC_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *r = GC_malloc_atomic(len + 1);
    if (r) {
        memcpy(r, s, len);
        r[len] = 0;
    }
    return r;
}

/* Objects are 16-byte aligned and objects over 32 KiB page-aligned; a
 * larger alignment is served by a bigger object and a pointer inside it,
 * which keeps it alive (interior pointers are always recognised). */
GC_API void *GC_CALL GC_memalign(size_t align, size_t lb)
{
    if (align <= 16 || (align <= 4096 && lb > 32768))
        return GC_malloc(lb);
    if (align & (align - 1) || lb + align < lb) {
        errno = EINVAL;
        return NULL;
    }
    char *p = GC_malloc(lb + align);
    if (!p)
        return NULL;
    return (void *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
}

GC_API int GC_CALL GC_posix_memalign(void **out, size_t align, size_t lb)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = GC_memalign(align, lb);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

GC_API void *GC_CALL GC_malloc_many(size_t lb)
{
    void *r = NULL;
    GC_generic_malloc_many(lb, GC_I_NORMAL, &r);
    return r;
}

/* No write barrier is needed: these are accepted and ignored. */
GC_API void GC_CALL GC_change_stubborn(const void *p) { (void)p; }
GC_API void GC_CALL GC_end_stubborn_change(const void *p) { (void)p; }
GC_API void GC_CALL GC_ptr_store_and_dirty(void *p, const void *q) { *(const void **)p = q; }
GC_API void GC_CALL GC_incr_bytes_allocd(size_t n) { (void)n; }
GC_API void GC_CALL GC_incr_bytes_freed(size_t n) { (void)n; }

/* ---- queries ---------------------------------------------------------- */

GC_API void *GC_CALL GC_base(void *p) { return cogc_base(p); }
GC_API int GC_CALL GC_is_heap_ptr(const void *p) { return cogc_base(p) != NULL; }

GC_API size_t GC_CALL GC_size(const void *p)
{
    size_t n = cogc_size(p);
    if (!n) {
        void *b = cogc_base(p);
        n = b ? cogc_size(b) : 0;
    }
    return n;
}

GC_API void *GC_CALL GC_same_obj(void *p, void *q)
{
    (void)q;
    return p;
}

GC_API void *GC_CALL GC_pre_incr(void **p, ptrdiff_t how_much)
{
    *p = (char *)*p + how_much;
    return *p;
}

GC_API void *GC_CALL GC_post_incr(void **p, ptrdiff_t how_much)
{
    void *old = *p;
    *p = (char *)old + how_much;
    return old;
}

GC_API void *GC_CALL GC_is_visible(void *p) { return p; }
GC_API void *GC_CALL GC_is_valid_displacement(void *p) { return p; }
/* Every interior pointer is recognised, so every displacement is valid. */
GC_API void GC_CALL GC_register_displacement(size_t n) { (void)n; }
GC_API void GC_CALL GC_debug_register_displacement(size_t n) { (void)n; }
GC_API void GC_CALL GC_noop1(GC_word w) { __asm__ volatile("" : : "r"(w) : "memory"); }

/* ---- debug variants: no debugging header; file and line ignored ------ */

GC_API void *GC_CALL GC_debug_malloc(size_t lb, const char *s, int i)
{
    (void)s, (void)i;
    return GC_malloc(lb);
}
GC_API void *GC_CALL GC_debug_malloc_atomic(size_t lb, const char *s, int i)
{
    (void)s, (void)i;
    return GC_malloc_atomic(lb);
}
GC_API void *GC_CALL GC_debug_malloc_uncollectable(size_t lb, const char *s, int i)
{
    (void)s, (void)i;
    return GC_malloc_uncollectable(lb);
}
GC_API void *GC_CALL GC_debug_malloc_atomic_uncollectable(size_t lb, const char *s, int i)
{
    (void)s, (void)i;
    return GC_malloc_atomic_uncollectable(lb);
}
GC_API void *GC_CALL GC_debug_malloc_ignore_off_page(size_t lb, const char *s, int i)
{
    (void)s, (void)i;
    return GC_malloc(lb);
}
GC_API void *GC_CALL GC_debug_malloc_atomic_ignore_off_page(size_t lb, const char *s, int i)
{
    (void)s, (void)i;
    return GC_malloc_atomic(lb);
}
GC_API void *GC_CALL GC_debug_malloc_stubborn(size_t lb, const char *s, int i)
{
    (void)s, (void)i;
    return GC_malloc(lb);
}
GC_API char *GC_CALL GC_debug_strdup(const char *p, const char *s, int i)
{
    (void)s, (void)i;
    return GC_strdup(p);
}
GC_API char *GC_CALL GC_debug_strndup(const char *p, size_t n, const char *s, int i)
{
    (void)s, (void)i;
    return GC_strndup(p, n);
}
GC_API void *GC_CALL GC_debug_realloc(void *p, size_t lb, const char *s, int i)
{
    (void)s, (void)i;
    return GC_realloc(p, lb);
}
GC_API void GC_CALL GC_debug_free(void *p) { GC_free(p); }
GC_API void GC_CALL GC_debug_change_stubborn(const void *p) { (void)p; }
GC_API void GC_CALL GC_debug_end_stubborn_change(const void *p) { (void)p; }
GC_API void GC_CALL GC_debug_ptr_store_and_dirty(void *p, const void *q) { *(const void **)p = q; }
GC_API void *GC_CALL GC_debug_malloc_replacement(size_t lb) { return GC_malloc(lb); }
GC_API void *GC_CALL GC_debug_realloc_replacement(void *p, size_t lb) { return GC_realloc(p, lb); }
GC_API size_t GC_CALL GC_get_debug_header_size(void) { return 0; }
