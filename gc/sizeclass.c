#include "sizeclass.h"

struct size_class size_classes[NCLASSES];
uint8_t class_of_granules[MAX_SMALL / GRANULE + 1];

/* Fewest pages (up to 16) whose tail waste is at most 1/16 of the block;
 * failing that, the count with the least waste. */
static uint32_t block_pages(uint32_t size)
{
    uint32_t best = 0;
    size_t best_waste = SIZE_MAX;
    for (uint32_t n = 1; n <= 16; n++) {
        size_t bytes = n * PAGE_SIZE;
        if (bytes < size)
            continue;
        size_t waste = bytes % size;
        if (waste * 16 <= bytes)
            return n;
        size_t permille = waste * 1000 / bytes;
        if (permille < best_waste) {
            best_waste = permille;
            best = n;
        }
    }
    return best;
}

void sizeclass_init(void)
{
    unsigned c = 0;
    uint32_t size = 0;
    while (size < MAX_SMALL) {
        uint32_t step = size < 128 ? GRANULE : (uint32_t)(1u << (31 - __builtin_clz(size))) / 8;
        size += step;
        struct size_class *sc = &size_classes[c++];
        sc->size = size;
        sc->pages = block_pages(size);
        sc->nobjs = (uint32_t)(sc->pages * PAGE_SIZE / size);
        sc->recip = recip_of(size);
    }
    unsigned k = 0;
    for (size_t g = 0; g <= MAX_SMALL / GRANULE; g++) {
        while (size_classes[k].size < g * GRANULE)
            k++;
        class_of_granules[g] = (uint8_t)k;
    }
}
