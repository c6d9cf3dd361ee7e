/* dirty_none.c - no tracking: every tracked page counts as written.
 *
 * Plain anonymous memory; collect reports each tracked range as one run.
 * The conservative fallback that always works. */
#define _GNU_SOURCE
#include "dirty_impl.h"

#include <errno.h>

static struct dirty_reg reg;
static struct dirty_astats st;
static int ready;

static int none_probe(char *why, size_t len)
{
    (void)why;
    (void)len;
    return 0;
}

static int none_init(char *why, size_t len)
{
    if (ready)
        return 0;
    if (dirty_reg_init(&reg) != 0)
        return dirty_why(why, len, "none: cannot allocate the range table");
    ready = 1;
    return 0;
}

static void *none_map(size_t size, size_t align)
{
    return dirty_map_aligned(size, align);
}

static int none_track(void *addr, size_t len)
{
    return dirty_reg_add(&reg, (uintptr_t)addr, len) ? 0 : -1;
}

static int none_untrack(void *addr, size_t len)
{
    return dirty_reg_remove(&reg, (uintptr_t)addr, len);
}

static int none_arm(void)
{
    atomic_fetch_add(&st.arms, 1);
    return 0;
}

static long none_collect(dirty_run_fn fn, void *ctx)
{
    long pages = 0;
    atomic_fetch_add(&st.collects, 1);
    DIRTY_REG_FOREACH(&reg, r)
    {
        uintptr_t s = atomic_load(&r->start);
        size_t len = atomic_load(&r->end) - s;
        fn(ctx, (void *)s, len);
        pages += (long)(len >> DIRTY_PAGE_SHIFT);
        atomic_fetch_add(&st.runs_reported, 1);
    }
    atomic_fetch_add(&st.pages_reported, (uint64_t)pages);
    return pages;
}

/* Every write since the last collect is reported anyway: arming a range
 * costs nothing more, and a disarmed page is still reported. */
static int none_range_nop(void *addr, size_t len)
{
    return dirty_reg_clear_pages(&reg, (uintptr_t)addr, len) ? 0 : -1;
}

static void none_stats(struct dirty_stats *out)
{
    dirty_copy_stats(&st, out);
}

static void none_teardown(void)
{
    dirty_reg_free(&reg);
    ready = 0;
}

struct dirty_backend dirty_backend_none = {
    .name = "none",
    .caps = {.complete = true, .precise = false, .granule = 4096, .max_run = SIZE_MAX,
             .atomic_collect = true, .process_wide = false, .syscall_write = DIRTY_SYSCALL_SEEN,
             .uses_sigsegv = false, .reports_disarmed = true, .fork_child_all_dirty = true},
    .probe = none_probe,
    .init = none_init,
    .map = none_map,
    .unmap = dirty_unmap_plain,
    .track = none_track,
    .untrack = none_untrack,
    .arm = none_arm,
    .collect = none_collect,
    .arm_range = none_range_nop,
    .disarm_range = none_range_nop,
    .take = none_collect,
    .release = dirty_release_plain,
    .prepare_syscall_write = dirty_nop_prepare,
    .stats = none_stats,
    .teardown = none_teardown,
};
