/* dirty_gcdev.c - the kernel-module backend (/dev/cogc), probe only.
 *
 * The module is built later; its backend will hand out device memory from
 * ->map and read dirty bits through the device.  Until then this backend
 * only reports whether the device exists and is never selected. */
#define _GNU_SOURCE
#include "dirty_impl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int gcdev_probe(char *why, size_t len)
{
    struct stat sb;
    if (stat("/dev/cogc", &sb) != 0)
        return dirty_why(why, len, "gcdev: /dev/cogc not present (kernel module not loaded)");
    if (!S_ISCHR(sb.st_mode))
        return dirty_why(why, len, "gcdev: /dev/cogc is not a character device");
    return dirty_why(why, len, "gcdev: /dev/cogc present but this build has no gcdev backend");
}

static int gcdev_init(char *why, size_t len)
{
    return dirty_why(why, len, "gcdev: not implemented in this build");
}

static void *gcdev_map(size_t size, size_t align)
{
    (void)size;
    (void)align;
    errno = ENOSYS;
    return NULL;
}

static int gcdev_range(void *addr, size_t len)
{
    (void)addr;
    (void)len;
    errno = ENOSYS;
    return -1;
}

static int gcdev_arm(void)
{
    errno = ENOSYS;
    return -1;
}

static long gcdev_collect(dirty_run_fn fn, void *ctx)
{
    (void)fn;
    (void)ctx;
    errno = ENOSYS;
    return -1;
}

static void gcdev_stats(struct dirty_stats *out)
{
    memset(out, 0, sizeof *out);
}

static void gcdev_teardown(void)
{
}

struct dirty_backend dirty_backend_gcdev = {
    .name = "gcdev",
    .caps = {.complete = true, .precise = true, .granule = 4096, .max_run = 4096,
             .atomic_collect = true, .syscall_write = DIRTY_SYSCALL_SEEN},
    .probe = gcdev_probe,
    .init = gcdev_init,
    .map = gcdev_map,
    .unmap = gcdev_range,
    .track = gcdev_range,
    .untrack = gcdev_range,
    .arm = gcdev_arm,
    .collect = gcdev_collect,
    .release = gcdev_range,
    .prepare_syscall_write = dirty_nop_prepare,
    .stats = gcdev_stats,
    .teardown = gcdev_teardown,
};
