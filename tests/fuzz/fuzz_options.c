/* libFuzzer harness: every COGC_* value parser takes any byte string
 * without crashing, and what it accepts is within the documented range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    for (int i = 0; i < OPT_COUNT; i++) {
        const struct option_desc *d = &option_table[i];
        int64_t v = INT64_MIN;
        if (option_parse(d, s, &v) == 0 && (v < d->min || v > d->max))
            abort();
    }
    free(s);
    return 0;
}
