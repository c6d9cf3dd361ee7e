/* Initialisation, collection control, statistics, tunables, messages,
 * roots, and the variables of the old interface. */
#define _GNU_SOURCE
#include "shim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *default_oom(size_t n)
{
    (void)n;
    return NULL;
}

GC_word GC_gc_no;
int GC_parallel = 1;
void *(*GC_oom_fn)(size_t) = default_oom;
int GC_find_leak;
int GC_all_interior_pointers = 1;
int GC_finalize_on_demand;
int GC_java_finalization = 1;
void (*GC_finalizer_notifier)(void);
int GC_dont_gc;
int GC_dont_expand;
int GC_use_entire_heap;
int GC_full_freq = 19;
GC_word GC_non_gc_bytes;
int GC_no_dls;
GC_word GC_free_space_divisor = 3;
GC_word GC_max_retries;
char *GC_stackbottom;
int GC_dont_precollect;
unsigned long GC_time_limit = GC_TIME_UNLIMITED;

int shim_ready;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static GC_start_callback_proc start_cb;
static GC_stop_func stop_func;

/* Every collection: count it, then the program's start callback. */
static void on_collect(void)
{
    GC_gc_no++;
    GC_start_callback_proc cb = start_cb;
    if (cb)
        cb();
    shim_collection_event();
}

/* ---- messages ---------------------------------------------------------- */

static void default_warn(char *msg, GC_word arg)
{
    fprintf(stderr, msg, arg);
}

static GC_warn_proc warn_proc = default_warn;

static void warn_bridge(const char *msg)
{
    GC_warn_proc p = warn_proc;
    if (p == default_warn)
        fprintf(stderr, "GC Warning: %s\n", msg);
    else
        p((char *)"GC Warning: %s\n", (GC_word)msg);
}

GC_API void GC_CALL GC_set_warn_proc(GC_warn_proc p)
{
    warn_proc = p;
    cogc_set_warn_proc(warn_bridge);
}
GC_API GC_warn_proc GC_CALL GC_get_warn_proc(void) { return warn_proc; }
GC_API void GC_CALLBACK GC_ignore_warn_proc(char *msg, GC_word arg) { (void)msg, (void)arg; }

static void default_abort(const char *msg)
{
    if (msg)
        fprintf(stderr, "%s\n", msg);
}
static GC_abort_func abort_func = default_abort;
GC_API void GC_CALL GC_set_abort_func(GC_abort_func f) { abort_func = f; }
GC_API GC_abort_func GC_CALL GC_get_abort_func(void) { return abort_func; }
GC_API void GC_CALL GC_abort_on_oom(void)
{
    abort_func("Insufficient memory for the allocation");
    abort();
}

GC_API void GC_CALL GC_set_oom_fn(GC_oom_func f) { GC_oom_fn = f; }
GC_API GC_oom_func GC_CALL GC_get_oom_fn(void) { return GC_oom_fn; }

/* ---- initialisation ---------------------------------------------------- */

/* bdwgc lets about 2 x (heap in use) / d bytes be allocated between
 * collections (it counts the pointer-containing heap twice); cogc's
 * COGC_FREE_SPACE_DIVISOR counts the heap once: d becomes (d + 1) / 2
 * (3, the default, becomes 2).  0 turns it off; above 2000 is 1000. */
static void apply_divisor(GC_word d)
{
    cogc_set_free_space_divisor(d > 2000 ? 1000 : (unsigned)(d + 1) / 2);
}

/* COGC_FREE_SPACE_DIVISOR, when set, is cogc's to apply; else bdwgc's
 * GC_FREE_SPACE_DIVISOR, else GC_free_space_divisor (3 unless the program
 * changed it before initialising). */
static void set_divisor_from_environment(void)
{
    if (getenv("COGC_FREE_SPACE_DIVISOR"))
        return;
    const char *v = getenv("GC_FREE_SPACE_DIVISOR");
    if (v && *v) {
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (*end || n < 1)
            fprintf(stderr, "GC Warning: GC_FREE_SPACE_DIVISOR=%s is not a positive number; ignored\n", v);
        else
            GC_free_space_divisor = n;
    }
    apply_divisor(GC_free_space_divisor);
}

/* Generational + incremental by default, with cogc's own pause target
 * (docs/bdwgc.md, "Which mode"; a 2 ms one, the default until session
 * 19, made Guile's gcbench.scm 25 % slower for no shorter pause):
 * Guile's pauses are a third to a half of those of the stop-the-world mode
 * at the same speed.  Not when the environment chooses (bdwgc's
 * GC_DISABLE_INCREMENTAL, or COGC_GENERATIONAL / COGC_INCREMENTAL), and
 * only with a dirty-bit backend that sees the kernel's own writes into
 * the heap: with mprotect a read(2) into a collected object would fail
 * with EFAULT, which a program written for bdwgc's default mode does not
 * expect. */
static void set_default_mode(void)
{
    if (getenv("GC_DISABLE_INCREMENTAL") || getenv("COGC_GENERATIONAL") || getenv("COGC_INCREMENTAL"))
        return;
    struct cogc_stats st;
    if (cogc_get_stats(&st, sizeof st) != 0)
        return;
    const char *b = st.dirty_backend;
    if (!*b || !strcmp(b, "none") || !strcmp(b, "mprotect"))
        return;
    if (cogc_set_generational(1) != 0)
        return;
    cogc_set_incremental(1);
}

void shim_init(void)
{
    pthread_mutex_lock(&init_lock);
    if (!shim_ready) {
        cogc_init();
        cogc_set_collect_callback(on_collect);
        /* bdwgc's own variable for the number of markers, honoured as it
         * would be (COGC_MARKERS still applies when GC_MARKERS is unset). */
        const char *m = getenv("GC_MARKERS");
        if (m && *m) {
            char *end;
            unsigned long n = strtoul(m, &end, 10);
            if (*end || n < 1 || n > 64)
                fprintf(stderr, "GC Warning: GC_MARKERS=%s is not a number of markers (1..64); ignored\n", m);
            else
                cogc_set_markers((unsigned)n);
        }
        set_divisor_from_environment();
        set_default_mode();
        if (GC_finalize_on_demand)
            cogc_set_finalize_on_demand(1);
        if (GC_finalizer_notifier)
            cogc_set_finalizer_notifier(GC_finalizer_notifier);
        __atomic_store_n(&shim_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&init_lock);
}

GC_API void GC_CALL GC_init(void)
{
    shim_ensure();
    cogc_register_thread();
}
GC_API int GC_CALL GC_is_init_called(void) { return shim_ready; }
GC_API void GC_CALL GC_deinit(void) {}

/* ---- collection -------------------------------------------------------- */

GC_API void GC_CALL GC_gcollect(void)
{
    shim_ensure();
    if (!GC_dont_gc)
        cogc_collect();
}
GC_API void GC_CALL GC_gcollect_and_unmap(void) { GC_gcollect(); }

/* Collections are not interruptible: the stop function is not polled. */
GC_API int GC_CALL GC_try_to_collect(GC_stop_func f)
{
    (void)f;
    GC_gcollect();
    return 1;
}
GC_API void GC_CALL GC_set_stop_func(GC_stop_func f) { stop_func = f; }
GC_API GC_stop_func GC_CALL GC_get_stop_func(void) { return stop_func; }

/* No incremental work is pending between collections. */
GC_API int GC_CALL GC_collect_a_little(void) { return 0; }

static int disabled;
GC_API void GC_CALL GC_disable(void)
{
    shim_ensure();
    __atomic_add_fetch(&disabled, 1, __ATOMIC_RELAXED);
    cogc_disable();
}
GC_API void GC_CALL GC_enable(void)
{
    if (__atomic_load_n(&disabled, __ATOMIC_RELAXED) > 0) {
        __atomic_sub_fetch(&disabled, 1, __ATOMIC_RELAXED);
        cogc_enable();
    }
}
GC_API int GC_CALL GC_is_disabled(void) { return __atomic_load_n(&disabled, __ATOMIC_RELAXED) != 0; }
GC_API void GC_CALL GC_set_disable_automatic_collection(int on)
{
    if (on)
        GC_disable();
    else
        GC_enable();
}
GC_API int GC_CALL GC_get_disable_automatic_collection(void) { return GC_is_disabled(); }

/* bdwgc's incremental mode is generational and incremental at once; so is
 * this one (cogc_set_generational + cogc_set_incremental).  As in bdwgc,
 * GC_DISABLE_INCREMENTAL in the environment makes it a no-op, and so does
 * a dirty-bit backend that cannot watch the heap (cogc warns why). */
GC_API void GC_CALL GC_enable_incremental(void)
{
    shim_ensure();
    if (getenv("GC_DISABLE_INCREMENTAL"))
        return;
    if (cogc_set_generational(1) == 0)
        cogc_set_incremental(1);
}
GC_API int GC_CALL GC_is_incremental_mode(void) { return cogc_get_incremental() || cogc_get_generational(); }
GC_API void GC_CALL GC_start_incremental_collection(void) {}

/* The heap grows by itself; reserving ahead is not needed. */
GC_API int GC_CALL GC_expand_hp(size_t n)
{
    (void)n;
    shim_ensure();
    return 1;
}
GC_API void GC_CALL GC_set_max_heap_size(GC_word n) { cogc_set_heap_limit(n); }
GC_API void GC_CALL GC_clear_stack(void *p) { (void)p; }

GC_API void GC_CALL GC_set_start_callback(GC_start_callback_proc f)
{
    shim_ensure();
    start_cb = f;
}
GC_API GC_start_callback_proc GC_CALL GC_get_start_callback(void) { return start_cb; }

/* ---- statistics ------------------------------------------------------- */

static struct cogc_stats stats(void)
{
    struct cogc_stats s = {0};
    cogc_get_stats(&s, sizeof s);
    return s;
}

/* Bytes allocated since the last collection: measured from the first
 * query after each collection (cogc counts allocation per refill). */
static GC_word since_base, since_gc_no = (GC_word)-1;
static GC_word bytes_since_gc(const struct cogc_stats *s)
{
    if (since_gc_no != GC_gc_no) {
        since_gc_no = GC_gc_no;
        since_base = s->allocated_bytes;
    }
    return s->allocated_bytes - since_base;
}

GC_API size_t GC_CALL GC_get_heap_size(void) { return stats().heap_bytes; }
GC_API size_t GC_CALL GC_get_free_bytes(void) { return stats().heap_free_bytes; }
GC_API size_t GC_CALL GC_get_unmapped_bytes(void) { return stats().released_bytes; }
GC_API size_t GC_CALL GC_get_bytes_since_gc(void)
{
    struct cogc_stats s = stats();
    return bytes_since_gc(&s);
}
GC_API size_t GC_CALL GC_get_expl_freed_bytes_since_gc(void) { return 0; }
GC_API size_t GC_CALL GC_get_total_bytes(void) { return stats().allocated_bytes; }
GC_API size_t GC_CALL GC_get_memory_use(void)
{
    struct cogc_stats s = stats();
    return s.heap_bytes - s.heap_free_bytes;
}
GC_API size_t GC_CALL GC_get_obtained_from_os_bytes(void) { return stats().heap_bytes; }
GC_API GC_word GC_CALL GC_get_gc_no(void) { return GC_gc_no; }
GC_API GC_word GC_CALL GC_get_non_gc_bytes(void) { return GC_non_gc_bytes; }
GC_API void GC_CALL GC_set_non_gc_bytes(GC_word n) { GC_non_gc_bytes = n; }
GC_API unsigned long GC_CALL GC_get_full_gc_total_time(void) { return stats().total_pause_ns / 1000000; }

GC_API void GC_CALL GC_get_heap_usage_safe(GC_word *heap, GC_word *free_bytes, GC_word *unmapped, GC_word *since,
                                           GC_word *total)
{
    struct cogc_stats s = stats();
    if (heap)
        *heap = s.heap_bytes;
    if (free_bytes)
        *free_bytes = s.heap_free_bytes;
    if (unmapped)
        *unmapped = s.released_bytes;
    if (since)
        *since = bytes_since_gc(&s);
    if (total)
        *total = s.allocated_bytes;
}

GC_API size_t GC_CALL GC_get_prof_stats(struct GC_prof_stats_s *ps, size_t size)
{
    struct cogc_stats s = stats();
    struct GC_prof_stats_s r = {
        .heapsize_full = s.heap_bytes,
        .free_bytes_full = s.heap_free_bytes,
        .unmapped_bytes = s.released_bytes,
        .bytes_allocd_since_gc = bytes_since_gc(&s),
        .allocd_bytes_before_gc = s.allocated_bytes - bytes_since_gc(&s),
        .non_gc_bytes = GC_non_gc_bytes,
        .gc_no = GC_gc_no,
        .markers_m1 = s.markers ? s.markers - 1 : 0,
        .bytes_reclaimed_since_gc = 0,
        .reclaimed_bytes_before_gc = s.reclaimed_bytes,
        .expl_freed_bytes_since_gc = 0,
        .obtained_from_os_bytes = s.heap_bytes,
    };
    if (size > sizeof r)
        size = sizeof r;
    memcpy(ps, &r, size);
    return size;
}
GC_API size_t GC_CALL GC_get_prof_stats_unsafe(struct GC_prof_stats_s *ps, size_t size)
{
    return GC_get_prof_stats(ps, size);
}

GC_API unsigned GC_CALL GC_get_version(void)
{
    return (GC_VERSION_MAJOR << 16) | (GC_VERSION_MINOR << 8) | GC_VERSION_MICRO;
}

GC_API void GC_CALL GC_dump_named(const char *name)
{
    struct cogc_stats s = stats();
    fprintf(stderr,
            "cogc heap%s%s: %llu bytes mapped, %llu free, %llu live after the last of %llu collections, "
            "%llu allocated in all\n",
            name ? " " : "", name ? name : "", (unsigned long long)s.heap_bytes,
            (unsigned long long)s.heap_free_bytes, (unsigned long long)s.live_bytes,
            (unsigned long long)s.collections, (unsigned long long)s.allocated_bytes);
}
GC_API void GC_CALL GC_dump(void) { GC_dump_named(NULL); }
GC_API void GC_CALL GC_dump_regions(void) { GC_dump_named("regions"); }
GC_API void GC_CALL GC_dump_finalization(void)
{
    fprintf(stderr, "cogc: %zu finalizers queued\n", cogc_finalizers_pending());
}
GC_API void GC_CALL GC_start_performance_measurement(void) {}

/* ---- tunables: stored, and applied where cogc has the knob ----------- */

/* Interior pointers are always recognised (bdwgc programs that turn them
 * off register displacements instead, which this covers). */
GC_API void GC_CALL GC_set_all_interior_pointers(int on) { GC_all_interior_pointers = on; }
GC_API int GC_CALL GC_get_all_interior_pointers(void) { return GC_all_interior_pointers; }
GC_API void GC_CALL GC_set_find_leak(int on) { GC_find_leak = on; }
GC_API int GC_CALL GC_get_find_leak(void) { return GC_find_leak; }
GC_API void GC_CALL GC_set_dont_expand(int on) { GC_dont_expand = on; }
GC_API int GC_CALL GC_get_dont_expand(void) { return GC_dont_expand; }
GC_API void GC_CALL GC_set_no_dls(int on) { GC_no_dls = on; }
GC_API int GC_CALL GC_get_no_dls(void) { return GC_no_dls; }
GC_API void GC_CALL GC_set_free_space_divisor(GC_word d)
{
    GC_free_space_divisor = d;
    apply_divisor(d);
}
GC_API GC_word GC_CALL GC_get_free_space_divisor(void) { return GC_free_space_divisor; }
GC_API void GC_CALL GC_set_max_retries(GC_word n) { GC_max_retries = n; }
GC_API GC_word GC_CALL GC_get_max_retries(void) { return GC_max_retries; }
GC_API void GC_CALL GC_set_dont_precollect(int on) { GC_dont_precollect = on; }
GC_API int GC_CALL GC_get_dont_precollect(void) { return GC_dont_precollect; }
GC_API void GC_CALL GC_set_full_freq(int n) { GC_full_freq = n; }
GC_API int GC_CALL GC_get_full_freq(void) { return GC_full_freq; }
GC_API void GC_CALL GC_set_time_limit(unsigned long ms) { GC_time_limit = ms; }
GC_API unsigned long GC_CALL GC_get_time_limit(void) { return GC_time_limit; }
static int force_unmap, pages_exec, rate = 10, max_prior = 1, manual_vdb;
static size_t min_bytes_allocd = 1;
GC_API void GC_CALL GC_set_force_unmap_on_gcollect(int on) { force_unmap = on; }
GC_API int GC_CALL GC_get_force_unmap_on_gcollect(void) { return force_unmap; }
GC_API void GC_CALL GC_set_pages_executable(int on) { pages_exec = on; }
GC_API int GC_CALL GC_get_pages_executable(void) { return pages_exec; }
GC_API void GC_CALL GC_set_min_bytes_allocd(size_t n) { min_bytes_allocd = n; }
GC_API size_t GC_CALL GC_get_min_bytes_allocd(void) { return min_bytes_allocd; }
GC_API void GC_CALL GC_set_rate(int n) { rate = n; }
GC_API int GC_CALL GC_get_rate(void) { return rate; }
GC_API void GC_CALL GC_set_max_prior_attempts(int n) { max_prior = n; }
GC_API int GC_CALL GC_get_max_prior_attempts(void) { return max_prior; }
GC_API void GC_CALL GC_set_manual_vdb_allowed(int on) { manual_vdb = on; }
GC_API int GC_CALL GC_get_manual_vdb_allowed(void) { return manual_vdb; }

GC_API void GC_CALL GC_set_markers_count(unsigned n) { cogc_set_markers(n); }
GC_API int GC_CALL GC_get_parallel(void) { return stats().markers > 1; }

/* ---- roots ------------------------------------------------------------- */

GC_API void GC_CALL GC_add_roots(void *lo, void *hi)
{
    shim_ensure();
    cogc_add_roots(lo, hi);
}
GC_API void GC_CALL GC_remove_roots(void *lo, void *hi) { cogc_remove_roots(lo, hi); }
/* Registered ranges stay (cogc removes them one by one); static data of
 * loaded objects is always scanned. */
GC_API void GC_CALL GC_clear_roots(void) {}
GC_API void GC_CALL GC_exclude_static_roots(void *lo, void *hi) { (void)lo, (void)hi; }
GC_API void GC_CALL GC_clear_exclusion_table(void) {}
GC_API void GC_CALL GC_register_has_static_roots_callback(GC_has_static_roots_func f) { (void)f; }
static GC_push_other_roots_proc other_roots;
GC_API void GC_CALL GC_set_push_other_roots(GC_push_other_roots_proc f) { other_roots = f; }
GC_API GC_push_other_roots_proc GC_CALL GC_get_push_other_roots(void) { return other_roots; }
