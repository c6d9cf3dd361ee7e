/* libFuzzer harness for the conservative pointer test: the input, read as
 * words, is asked about (cogc_base, cogc_size) and scanned as a root;
 * nothing may crash, answers must be consistent, and the objects the
 * harness keeps must stay intact across collections. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cogc.h"

#define KEEP 64
static uintptr_t *kept[KEEP];
static size_t kept_size[KEEP];
static unsigned runs;

static void setup(void)
{
    cogc_init();
    for (int i = 0; i < KEEP; i++) {
        size_t n = (size_t)16 << (i % 14);   /* 16 B .. 128 KiB: small and large */
        kept[i] = i % 3 == 2 ? cogc_malloc_atomic(n) : cogc_malloc(n);
        kept_size[i] = n;
        for (size_t w = 0; w < n / sizeof(uintptr_t); w++)
            kept[i][w] = ((uintptr_t)i << 40) ^ w;   /* never a heap address */
    }
    cogc_add_roots(kept, kept + KEEP);
}

static void check_kept(void)
{
    for (int i = 0; i < KEEP; i++)
        for (size_t w = 0; w < kept_size[i] / sizeof(uintptr_t); w++)
            if (kept[i][w] != (((uintptr_t)i << 40) ^ w))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!runs++)
        setup();
    size_t nw = size / sizeof(uintptr_t);
    uintptr_t *words = calloc(nw + 8, sizeof *words);
    if (!words)
        return 0;
    memcpy(words, data, nw * sizeof *words);
    /* Words made to land near the kept objects, so the test is exercised. */
    for (size_t i = 0; i < nw && i < 8; i++)
        words[nw + i] = (uintptr_t)kept[(words[i] >> 3) % KEEP] + (words[i] & 0xffff);
    for (size_t i = 0; i < nw + 8; i++) {
        void *b = cogc_base((void *)words[i]);
        if (b) {
            size_t sz = cogc_size(b);
            if (sz == 0 || words[i] < (uintptr_t)b || words[i] >= (uintptr_t)b + sz)
                abort();
        }
        (void)cogc_size((void *)words[i]);
    }
    cogc_add_roots(words, words + nw + 8);
    if (runs % 64 == 0) {
        cogc_collect();
        check_kept();
    }
    cogc_remove_roots(words, words + nw + 8);
    free(words);
    return 0;
}
