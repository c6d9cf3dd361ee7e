/* notice_cgv1.c - cgroup v1 memory.pressure_level: an eventfd registered
 * through cgroup.event_control counts "low" pressure events (reclaim has
 * started in the process's memory cgroup). */
#include "notice.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MOUNT "/sys/fs/cgroup/memory"

static int efd = -1;

static int listen_on(char *why, size_t len)
{
    char dir[1024], path[1100], line[64];
    if (notice_cgroup_dir(MOUNT, "memory", dir, sizeof dir) != 0) {
        snprintf(why, len, "cgroup-v1: no cgroup v1 memory hierarchy for this process under " MOUNT);
        return -1;
    }
    snprintf(path, sizeof path, "%s/memory.pressure_level", dir);
    int lfd = open(path, O_RDONLY | O_CLOEXEC);
    if (lfd < 0) {
        snprintf(why, len, "cgroup-v1: %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/cgroup.event_control", dir);
    int cfd = open(path, O_WRONLY | O_CLOEXEC);
    if (cfd < 0) {
        snprintf(why, len, "cgroup-v1: %s: %s", path, strerror(errno));
        close(lfd);
        return -1;
    }
    int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int n = snprintf(line, sizeof line, "%d %d low", e, lfd);
    if (e < 0 || write(cfd, line, (size_t)n) < 0) {
        snprintf(why, len, "cgroup-v1: registering with %s: %s", path, strerror(errno));
        if (e >= 0)
            close(e);
        e = -1;
    }
    close(cfd);
    close(lfd);   /* the registration holds its own reference */
    return e;
}

static int probe(char *why, size_t len)
{
    int e = listen_on(why, len);
    if (e < 0)
        return -1;
    close(e);
    return 0;
}

static int open_src(const struct notice_config *cfg, char *why, size_t len)
{
    (void)cfg;
    efd = listen_on(why, len);
    return efd;
}

static long check(void)
{
    uint64_t n;
    ssize_t r = read(efd, &n, sizeof n);
    if (r == sizeof n)
        return (long)n;
    return r < 0 && errno == EAGAIN ? 0 : -1;
}

static void close_src(void)
{
    if (efd >= 0)
        close(efd);
    efd = -1;
}

__attribute__((visibility("hidden"))) const struct notice_source notice_cgv1 = {
    .name = "cgroup-v1", .probe = probe, .open = open_src, .events = POLLIN, .check = check, .close = close_src,
};
