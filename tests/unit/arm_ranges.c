/* What the write watch arms after a minor collection (watch.c, arm_pages
 * and widen).  Every range handed to the backend may hold only pages that
 * are watched afterwards, or, when the backend's write faults are taken by
 * the kernel (dirty_caps.user_write_faults false: uffd-async), pages of
 * pointer-free blocks: arming a page of a young normal block would make
 * the program fault on its next allocation there and, worse, a range
 * taken in while it held a write not yet reported would lose that write.
 * Within that, ranges are joined across pointer-free pages (uffd-async
 * only) and a run of 10-33 pages is widened past the kernel's 33-page
 * single-flush ceiling over watched neighbours.
 *
 * The backend's arm_range is wrapped to record the ranges of one minor
 * collection.  Large objects (each a run of pages of its own) are
 * allocated in a row in a fresh heap; the layout is checked first, and a
 * layout other than the one assumed fails the test saying so.  Run with
 * COGC_AGING=0, so that survivors are promoted (and armed) at their first
 * minor collection. */
#define _GNU_SOURCE
#include "testutil.h"

#include "chunk.h"
#include "dirty.h"
#include "object.h"
#include "tracking.h"

#define PAGE 4096
#define PAGES(n) ((n) * PAGE - 64)   /* over the small-object limit: n pages of its own */

static struct {
    uintptr_t lo, hi;
} ranges[4096];
static size_t nranges;
static bool recording;
static int (*real_arm_range)(void *addr, size_t len);

static int recording_arm_range(void *addr, size_t len)
{
    if (recording && nranges < sizeof ranges / sizeof ranges[0])
        ranges[nranges++] = (typeof(ranges[0])){(uintptr_t)addr, (uintptr_t)addr + len};
    return real_arm_range(addr, len);
}

static struct dirty_backend *backend(void)
{
    struct dirty_backend *b = (struct dirty_backend *)dirty_find(tracking_backend_name());
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(b->arm_range);
    return b;
}

/* A minor collection, the ranges it armed recorded. */
static void recorded_minor(void)
{
    struct dirty_backend *b = backend();
    real_arm_range = b->arm_range;
    b->arm_range = recording_arm_range;
    nranges = 0;
    recording = true;
    tu_minor();
    recording = false;
    b->arm_range = real_arm_range;
}

static bool atomic_page(uintptr_t a)
{
    struct object_ref o;
    return object_find(a, true, &o) == OBJ_FOUND && o.block->kind == KIND_ATOMIC;
}

static bool watched(uintptr_t a)
{
    struct chunk *c = chunk_of(a);
    size_t i = page_index(c, a);
    return (c->watch[i >> 6] >> (i & 63)) & 1;
}

/* Every armed page is watched, or pointer-free where the backend allows. */
static void check_ranges_safe(void)
{
    bool atomic_ok = !tracking_user_write_faults();
    for (size_t r = 0; r < nranges; r++)
        for (uintptr_t a = ranges[r].lo; a < ranges[r].hi; a += PAGE) {
            if (!chunk_of(a))
                continue;
            ck_assert_msg(watched(a) || (atomic_ok && atomic_page(a)),
                          "page %p armed in range %p-%p is neither watched nor %s", (void *)a,
                          (void *)ranges[r].lo, (void *)ranges[r].hi,
                          atomic_ok ? "pointer-free" : "allowed (pointer-free pages are not, here)");
        }
}

/* The recorded range that holds [lo, hi) whole, or -1. */
static long range_holding(uintptr_t lo, uintptr_t hi)
{
    for (size_t r = 0; r < nranges; r++)
        if (ranges[r].lo <= lo && hi <= ranges[r].hi)
            return (long)r;
    return -1;
}

static bool any_range_touches(uintptr_t lo, uintptr_t hi)
{
    for (size_t r = 0; r < nranges; r++)
        if (ranges[r].lo < hi && lo < ranges[r].hi)
            return true;
    return false;
}

static void *volatile keep[8];

static void check_adjacent(void *const *p, const size_t *pages, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if ((uintptr_t)p[i] != (uintptr_t)p[i - 1] + pages[i - 1] * PAGE)
            ck_abort_msg("objects %zu and %zu are not adjacent (%p, %p): the test's layout assumption broke",
                         i - 1, i, p[i - 1], p[i]);
}

/* N1 | A | N2 | D | N3: normal survivors, a pointer-free survivor between
 * two, and a normal object that dies.  With uffd-async N1..N2 go out as
 * one range over A; with a backend whose faults run our code A is in no
 * range; D never is. */
/* Addresses inside the objects they stand for (an address just past N2
 * would be D's, and keep it). */
static uintptr_t n1, n2_last, a_lo, a_last, d_hidden;

/* In a frame of its own, its array wiped: no stale copy of D's address
 * may keep it. */
static TU_NOINLINE void make_five(void)
{
    static const size_t pages[5] = {10, 2, 10, 3, 10};
    void *p[5];
    for (int i = 0; i < 5; i++) {
        p[i] = i == 1 ? cogc_malloc_atomic(PAGES(pages[i])) : cogc_malloc(PAGES(pages[i]));
        ck_assert_ptr_nonnull(p[i]);
    }
    check_adjacent(p, pages, 5);
    keep[0] = p[0];
    keep[1] = p[1];
    keep[2] = p[2];
    keep[3] = p[4];
    n1 = (uintptr_t)p[0];
    n2_last = (uintptr_t)p[2] + (pages[2] - 1) * PAGE;
    a_lo = (uintptr_t)p[1];
    a_last = a_lo + (pages[1] - 1) * PAGE;
    d_hidden = TU_HIDE(p[3]);
    explicit_bzero(p, sizeof p);
}

START_TEST(joined_across_pointer_free_pages)
{
    make_five();
    recorded_minor();
    ck_assert_msg(nranges > 0, "the minor collection armed nothing");
    check_ranges_safe();
    ck_assert_msg(watched(n1) && watched(n2_last), "the surviving normal objects are not watched");
    uintptr_t d = (uintptr_t)TU_UNHIDE(d_hidden);
    ck_assert_msg(!watched(d), "the dead object is watched: something kept it");
    ck_assert_msg(!any_range_touches(d, d + 3 * PAGE), "the dead object's pages were armed");
    if (tracking_user_write_faults())
        ck_assert_msg(!any_range_touches(a_lo, a_last + PAGE), "pointer-free pages armed with a backend whose faults run our code");
    else
        ck_assert_msg(range_holding(n1, n2_last + PAGE) >= 0,
                      "N1 and N2 were not armed as one range across the pointer-free object between them");
}
END_TEST

/* W (old, watched, armed) | N (12 pages, young, survives): N's run is
 * widened back over W past 33 pages rather than flushed page by page. */
START_TEST(short_run_widened_over_watched_pages)
{
    static const size_t pages[2] = {30, 12};
    void *p[2];
    p[0] = cogc_malloc(PAGES(pages[0]));
    ck_assert_ptr_nonnull(p[0]);
    keep[4] = p[0];
    tu_full();   /* W is old and watched */
    p[1] = cogc_malloc(PAGES(pages[1]));
    ck_assert_ptr_nonnull(p[1]);
    check_adjacent(p, pages, 2);
    keep[5] = p[1];
    uintptr_t w = (uintptr_t)p[0], n = (uintptr_t)p[1], n_end = n + pages[1] * PAGE;
    p[0] = p[1] = NULL;
    ck_assert(watched(w + (pages[0] - 1) * PAGE));

    recorded_minor();
    check_ranges_safe();
    long r = range_holding(n, n_end);
    ck_assert_msg(r >= 0, "the young survivor was not armed as one range");
    size_t len = (ranges[r].hi - ranges[r].lo) / PAGE;
    ck_assert_msg(len > 33, "a %zu-page run was armed as %zu pages: not widened past the flush ceiling",
                  pages[1], len);
    ck_assert_msg(ranges[r].lo >= w, "widened below the watched object");
}
END_TEST

int main(void)
{
    tu_require_dirty_backend();
    tu_init_generational();
    if (!dirty_find(tracking_backend_name())->arm_range) {
        printf("SKIP: the %s backend arms only the whole heap\n", tracking_backend_name());
        return 77;
    }
    return TU_RUN_TESTS("arm_ranges", joined_across_pointer_free_pages, short_run_widened_over_watched_pages);
}
