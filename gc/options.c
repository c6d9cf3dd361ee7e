#define _GNU_SOURCE
#include "options.h"
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const on_error_names[] = {"warn", "abort", NULL};
static const char *const malloc_mode_names[] = {"none", "collect", "leak", NULL};
static const char *const debug_on_error_names[] = {"abort", "warn", NULL};
static const char *const dirty_names[] = {"auto", "none", "mprotect", "uffd", "uffd-async", "soft-dirty", "gcdev", NULL};

const struct option_desc option_table[OPT_COUNT] = {
    [OPT_HEAP_LIMIT]   = {"COGC_HEAP_LIMIT", OPT_SIZE, 0, 0, INT64_MAX, NULL,
                          "maximum heap bytes, 0 = unlimited"},
    [OPT_GROWTH]       = {"COGC_GROWTH", OPT_UINT, 70, 10, 10000, NULL,
                          "bytes allocated between collections, percent of live bytes"},
    [OPT_MIN_TRIGGER]  = {"COGC_MIN_TRIGGER", OPT_SIZE, 8 << 20, 64 << 10, (int64_t)1 << 40, NULL,
                          "bytes allocated before a collection is considered"},
    [OPT_INTERIOR]     = {"COGC_INTERIOR", OPT_BOOL, 1, 0, 1, NULL,
                          "interior pointers keep objects alive"},
    [OPT_MARKERS]      = {"COGC_MARKERS", OPT_UINT, 0, 0, 64, NULL,
                          "marker threads, 0 = one per online CPU"},
    [OPT_STATS]        = {"COGC_STATS", OPT_BOOL, 0, 0, 1, NULL,
                          "print a line per collection and a summary at exit"},
    [OPT_HUGEPAGES]    = {"COGC_HUGEPAGES", OPT_BOOL, 0, 0, 1, NULL,
                          "ask for transparent huge pages on heap chunks"},
    [OPT_POPULATE]     = {"COGC_POPULATE", OPT_BOOL, 1, 0, 1, NULL,
                          "fault new chunks in with one MADV_POPULATE_WRITE call"},
    [OPT_ON_ERROR]     = {"COGC_ON_ERROR", OPT_CHOICE, ON_ERROR_WARN, 0, 1, on_error_names,
                          "what a misuse report does"},
    [OPT_RELEASE_AFTER] = {"COGC_RELEASE_AFTER", OPT_UINT, 4, 1, 1000000, NULL,
                          "collections a free page run stays unused before it is given back"},
    [OPT_MARK_STACK_MAX] = {"COGC_MARK_STACK_MAX", OPT_UINT, 1 << 24, 64, 1 << 30, NULL,
                          "entries a marker's stack may hold before overflow handling"},
    [OPT_DIRTY]        = {"COGC_DIRTY", OPT_CHOICE, 0, 0, 6, dirty_names,
                          "dirty-bit backend"},
    [OPT_VERIFY_DIRTY] = {"COGC_VERIFY_DIRTY", OPT_BOOL, 0, 0, 1, NULL,
                          "check at each collection that every changed page was reported dirty"},
    [OPT_VERIFY]       = {"COGC_VERIFY", OPT_BOOL, 0, 0, 1, NULL,
                          "after each collection, re-trace the heap and abort on a reachable unmarked object"},
    [OPT_GENERATIONAL] = {"COGC_GENERATIONAL", OPT_BOOL, 0, 0, 1, NULL,
                          "minor collections: trace only objects allocated since the last collection"},
    [OPT_INCREMENTAL]  = {"COGC_INCREMENTAL", OPT_BOOL, 0, 0, 1, NULL,
                          "full collections mark while the program runs, between two short pauses"},
    [OPT_PAUSE_TARGET_US] = {"COGC_PAUSE_TARGET_US", OPT_UINT, 5000, 100, 10000000, NULL,
                          "pause goal, microseconds: sizes the young generation and the concurrent rescans"},
    [OPT_MALLOC_MODE]  = {"COGC_MALLOC_MODE", OPT_CHOICE, MALLOC_MODE_NONE, 0, 2, malloc_mode_names,
                          "LD_PRELOAD library: allocator only, collect garbage, or report leaks"},
    [OPT_LEAK_EXIT]    = {"COGC_LEAK_EXIT", OPT_UINT, 0, 0, 255, NULL,
                          "leak mode: exit status when leaks are found at exit, 0 = keep the program's"},
    [OPT_LEAK_SAMPLE]  = {"COGC_LEAK_SAMPLE", OPT_UINT, 1, 1, 1000000, NULL,
                          "leak mode: record the allocation site of one allocation in this many"},
    [OPT_LOG]          = {"COGC_LOG", OPT_STRING, 0, 0, 0, NULL,
                          "leak mode: file the leak report goes to (appended), unset = stderr"},
    [OPT_BOOKMARK]     = {"COGC_BOOKMARK", OPT_BOOL, 0, 0, 1, NULL,
                          "memory-pressure notices collect and give pages back; heap kept within the cgroup/available memory"},
    [OPT_DEBUG]        = {"COGC_DEBUG", OPT_BOOL, 0, 0, 1, NULL,
                          "debug allocator: redzones, freed-object poisoning, reports with backtraces"},
    [OPT_DEBUG_ON_ERROR] = {"COGC_DEBUG_ON_ERROR", OPT_CHOICE, DEBUG_ON_ERROR_ABORT, 0, 1, debug_on_error_names,
                          "what a debug allocator report does after printing"},
    [OPT_FREE_SPACE_DIVISOR] = {"COGC_FREE_SPACE_DIVISOR", OPT_UINT, 0, 0, 1000, NULL,
                          "full collections also wait for heap size / this many bytes allocated, 0 = off"},
    [OPT_ROOT_COPIES]  = {"COGC_ROOT_COPIES", OPT_BOOL, 1, 0, 1, NULL,
                          "minor collections scan only static-root blocks changed since the last one"},
    [OPT_AGING]        = {"COGC_AGING", OPT_BOOL, 1, 0, 1, NULL,
                          "minor collections promote an object on its second survival, not its first"},
    [OPT_NOTICES]      = {"COGC_NOTICES", OPT_STRING, 0, 0, 0, NULL,
                          "COGC_BOOKMARK: the notice sources to open, comma-separated, or none; unset = every available one"},
};

static int64_t values[OPT_COUNT];
static const char *strings[OPT_COUNT];
static bool given[OPT_COUNT];
static int initialised;

static int parse_size(const char *s, int64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (tolower((unsigned char)*end)) {
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    case 't': shift = 40; end++; break;
    default: break;
    }
    if (shift && (*end == 'b' || *end == 'B'))
        end++;
    if (*end != '\0')
        return -1;
    if (v > ((unsigned long long)INT64_MAX >> shift))
        return -1;
    *out = (int64_t)(v << shift);
    return 0;
}

int option_parse(const struct option_desc *d, const char *s, int64_t *out)
{
    int64_t v;
    if (!s)
        return -1;
    switch (d->type) {
    case OPT_SIZE:
        if (parse_size(s, &v))
            return -1;
        break;
    case OPT_UINT: {
        if (!isdigit((unsigned char)*s))
            return -1;
        errno = 0;
        char *end;
        unsigned long long u = strtoull(s, &end, 10);
        if (errno || *end || u > INT64_MAX)
            return -1;
        v = (int64_t)u;
        break;
    }
    case OPT_BOOL:
        if (!strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcasecmp(s, "true"))
            v = 1;
        else if (!strcmp(s, "0") || !strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcasecmp(s, "false"))
            v = 0;
        else
            return -1;
        break;
    case OPT_STRING:
        if (!*s)
            return -1;
        *out = 0;
        return 0;
    case OPT_CHOICE:
        for (v = 0; d->choices[v]; v++)
            if (!strcasecmp(s, d->choices[v]))
                break;
        if (!d->choices[v])
            return -1;
        break;
    default:
        return -1;
    }
    if (v < d->min || v > d->max)
        return -1;
    *out = v;
    return 0;
}

/* "a|b|c" for a message. */
static const char *choice_list(const struct option_desc *d)
{
    static char buf[128];
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; d->choices[i] && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? "|" : "", d->choices[i]);
    return buf;
}

void options_init(void)
{
    if (initialised)
        return;
    for (int i = 0; i < OPT_COUNT; i++) {
        const struct option_desc *d = &option_table[i];
        values[i] = d->deflt;
        /* secure_getenv: a set-uid program cannot be steered by these. */
        const char *s = secure_getenv(d->env);
        if (!s)
            continue;
        given[i] = true;
        int64_t v;
        if (option_parse(d, s, &v) == 0) {
            values[i] = v;
            if (d->type == OPT_STRING)
                strings[i] = s;
        } else if (d->type == OPT_STRING)
            report_warn("%s is empty; ignored", d->env);
        else if (d->type == OPT_CHOICE)
            report_warn("%s=\"%s\" is not one of %s; using the default (%s)",
                        d->env, s, choice_list(d), d->choices[d->deflt]);
        else
            report_warn("%s=\"%s\" is malformed or out of range [%lld, %lld]; using the default (%lld)",
                        d->env, s, (long long)d->min, (long long)d->max, (long long)d->deflt);
    }
    initialised = 1;
}

int64_t option(enum option_id id) { return values[id]; }

const char *option_string(enum option_id id) { return strings[id]; }

bool option_given(enum option_id id) { return given[id]; }

void option_set(enum option_id id, int64_t value) { values[id] = value; }
