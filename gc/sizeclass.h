/* Size classes: sizes up to MAX_SMALL rounded to 16-byte granules below
 * 128 bytes and to eight steps per power of two above (rounding waste
 * <= 12.5 %), each with the number of pages of its blocks. */
#ifndef COGC_SIZECLASS_H
#define COGC_SIZECLASS_H

#include "config.h"

#define NCLASSES 72

struct size_class {
    uint32_t size;     /* object bytes */
    uint32_t pages;    /* pages per block */
    uint32_t nobjs;    /* objects per block */
    uint32_t recip;    /* ceil(2^32 / size): offset * recip >> 32 == offset / size */
};

extern struct size_class size_classes[NCLASSES];
extern uint8_t class_of_granules[MAX_SMALL / GRANULE + 1];

void sizeclass_init(void);

static inline unsigned size_to_class(size_t size)
{
    return class_of_granules[(size + GRANULE - 1) >> GRANULE_SHIFT];
}

/* offset / size for offsets within one block, by multiply and shift. */
static inline uint32_t div_by_recip(size_t offset, uint32_t recip)
{
    return (uint32_t)(((uint64_t)offset * recip) >> 32);
}

static inline uint32_t recip_of(uint32_t size)
{
    return (uint32_t)((((uint64_t)1 << 32) + size - 1) / size);
}

#endif
