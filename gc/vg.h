/* Valgrind client requests, so memcheck sees cogc objects as heap blocks.
 * Each costs one predictable branch when not running under Valgrind. */
#ifndef COGC_VG_H
#define COGC_VG_H

#include <stdbool.h>
#include <stddef.h>
#include <valgrind/memcheck.h>

extern int vg_on;

static inline void vg_malloc(void *p, size_t n, bool zeroed)
{
    if (__builtin_expect(vg_on, 0))
        VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zeroed);
}
static inline void vg_free(void *p)
{
    if (__builtin_expect(vg_on, 0))
        VALGRIND_FREELIKE_BLOCK(p, 0);
}
/* The collector is about to write into memory memcheck considers freed. */
static inline void vg_make_writable(void *p, size_t n)
{
    if (__builtin_expect(vg_on, 0))
        VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}
/* Bytes the collector wrote into an object handed out as undefined. */
static inline void vg_make_defined(void *p, size_t n)
{
    if (__builtin_expect(vg_on, 0))
        VALGRIND_MAKE_MEM_DEFINED(p, n);
}

#endif
