/* Growable arrays in the collector's own pages (never malloc: the
 * collector may be the program's malloc). */
#ifndef COGC_VEC_H
#define COGC_VEC_H

#include <stdbool.h>
#include <stddef.h>

/* Make room for one more element in *v (n used, *cap allocated, each
 * elem bytes).  False when memory is exhausted. */
bool vec_reserve(void **v, size_t n, size_t *cap, size_t elem);

#define VEC_PUSH(vec, value)                                                          \
    (vec_reserve((void **)&(vec).v, (vec).n, &(vec).cap, sizeof *(vec).v)             \
         ? ((vec).v[(vec).n++] = (value), true)                                       \
         : false)

#endif
