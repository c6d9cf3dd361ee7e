/* notice_gcdev.c - the cogc kernel module's shrinker (backends/kmod,
 * /dev/cogc): when the kernel reclaims memory it calls the module's
 * shrinker, which frees nothing but counts the call on every open context
 * and makes it poll POLLPRI.  This source holds a context of its own (no
 * pages) just to listen; COGC_IOC_RECLAIMS reads the count and clears the
 * condition.  Global reclaim only (kswapd, direct reclaim): a memory
 * cgroup's own limit does not call the shrinker (docs/kmod.md). */
#include "notice.h"
#include "kmod/cogc_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define DEV_PATH "/dev/cogc"

static int dev = -1;

static int listen_on(char *why, size_t len)
{
    int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            snprintf(why, len, "gcdev: " DEV_PATH " not present (kernel module cogc.ko not loaded)");
        else
            snprintf(why, len, "gcdev: cannot open " DEV_PATH ": %s", strerror(errno));
        return -1;
    }
    uint64_t n;
    if (ioctl(fd, COGC_IOC_RECLAIMS, &n) != 0) {
        snprintf(why, len, "gcdev: COGC_IOC_RECLAIMS failed (%s): module without a shrinker?", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int probe(char *why, size_t len)
{
    int fd = listen_on(why, len);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int open_src(const struct notice_config *cfg, char *why, size_t len)
{
    (void)cfg;
    dev = listen_on(why, len);
    return dev;
}

static long check(void)
{
    uint64_t n;
    if (ioctl(dev, COGC_IOC_RECLAIMS, &n) != 0)
        return -1;
    return n > (uint64_t)__LONG_MAX__ ? __LONG_MAX__ : (long)n;
}

static void close_src(void)
{
    if (dev >= 0)
        close(dev);
    dev = -1;
}

__attribute__((visibility("hidden"))) const struct notice_source notice_gcdev = {
    .name = "gcdev", .probe = probe, .open = open_src, .events = POLLPRI, .check = check, .close = close_src,
};
