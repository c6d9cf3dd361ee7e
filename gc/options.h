/* The one table of COGC_* environment variables.  Nothing else reads the
 * environment. */
#ifndef COGC_OPTIONS_H
#define COGC_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum option_id {
    OPT_HEAP_LIMIT,
    OPT_GROWTH,
    OPT_MIN_TRIGGER,
    OPT_INTERIOR,
    OPT_MARKERS,
    OPT_STATS,
    OPT_HUGEPAGES,
    OPT_POPULATE,
    OPT_ON_ERROR,
    OPT_RELEASE_AFTER,
    OPT_MARK_STACK_MAX,
    OPT_DIRTY,
    OPT_VERIFY_DIRTY,
    OPT_VERIFY,
    OPT_GENERATIONAL,
    OPT_INCREMENTAL,
    OPT_PAUSE_TARGET_US,
    OPT_MALLOC_MODE,
    OPT_LEAK_EXIT,
    OPT_LEAK_SAMPLE,
    OPT_LOG,
    OPT_BOOKMARK,
    OPT_DEBUG,
    OPT_DEBUG_ON_ERROR,
    OPT_FREE_SPACE_DIVISOR,
    OPT_ROOT_COPIES,
    OPT_AGING,
    OPT_NOTICES,
    OPT_COUNT
};

enum on_error { ON_ERROR_WARN, ON_ERROR_ABORT };
/* What a debug allocator report does (gc/debug.c). */
enum debug_on_error { DEBUG_ON_ERROR_ABORT, DEBUG_ON_ERROR_WARN };
/* The LD_PRELOAD library's mode (bindings/malloc, docs/preload.md). */
enum malloc_mode { MALLOC_MODE_NONE, MALLOC_MODE_COLLECT, MALLOC_MODE_LEAK };

struct option_desc {
    const char *env;        /* environment variable */
    enum { OPT_SIZE, OPT_UINT, OPT_BOOL, OPT_CHOICE, OPT_STRING } type;
    int64_t deflt;
    int64_t min, max;       /* accepted range (numbers) */
    const char *const *choices; /* OPT_CHOICE: NULL-terminated names */
    const char *help;
};

extern const struct option_desc option_table[OPT_COUNT];

/* Parse every variable once; malformed values are reported and ignored. */
void options_init(void);
int64_t option(enum option_id id);
/* The variable was set in the environment (well-formed or not). */
bool option_given(enum option_id id);
/* An OPT_STRING variable's text, NULL when unset or empty. */
const char *option_string(enum option_id id);
void option_set(enum option_id id, int64_t value);

/* Parse one value as `desc` describes.  Returns 0 and *out, or -1.
 * Exposed for unit tests and the fuzz harness. */
int option_parse(const struct option_desc *desc, const char *text, int64_t *out);

#endif
