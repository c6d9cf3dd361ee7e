/* Unit tests that look at an object's block and mark bit.  Include after
 * testutil.h. */
#ifndef COGC_TEST_MARK_BITS_H
#define COGC_TEST_MARK_BITS_H

#include "chunk.h"
#include "object.h"

static TU_UNUSED struct object_ref ref_of(const void *p)
{
    struct object_ref o;
    ck_assert_int_eq(object_find((uintptr_t)p, false, &o), OBJ_FOUND);
    return o;
}

static TU_UNUSED bool marked(const void *p)
{
    struct object_ref o = ref_of(p);
    return bit_test(o.chunk->mark, granule_bit(o.chunk, o.start));
}

#endif
