/* notice_cgv2.c - cgroup v2 memory.events: the kernel signals a change of
 * the file (POLLPRI) when a counter moves; a rise of "high" (reclaim over
 * memory.high) or "max" (at the limit) is a notice. */
#include "notice.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fd = -1;
static uint64_t last_high, last_max;

static int events_path(char *out, size_t len, char *why, size_t wlen)
{
    char dir[1024];
    if (notice_cgroup_dir("/sys/fs/cgroup", NULL, dir, sizeof dir) != 0) {
        snprintf(why, wlen, "cgroup-v2: the process is in no cgroup v2 hierarchy mounted at /sys/fs/cgroup");
        return -1;
    }
    int n = snprintf(out, len, "%s/memory.events", dir);
    if (n < 0 || (size_t)n >= len || access(out, R_OK) != 0) {
        snprintf(why, wlen, "cgroup-v2: %s/memory.events: absent (memory controller not enabled)", dir);
        return -1;
    }
    return 0;
}

static int probe(char *why, size_t len)
{
    char path[1100];
    return events_path(path, sizeof path, why, len);
}

static int reread(uint64_t *high, uint64_t *max)
{
    char text[1024];
    if (pread(fd, text, sizeof text - 1, 0) < 0)
        return -1;
    text[sizeof text - 1] = 0;
    *high = notice_events_count(text, "high");
    *max = notice_events_count(text, "max");
    return 0;
}

static int open_src(const struct notice_config *cfg, char *why, size_t len)
{
    (void)cfg;
    char path[1100];
    if (events_path(path, sizeof path, why, len) != 0)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || reread(&last_high, &last_max) != 0) {
        snprintf(why, len, "cgroup-v2: %s: %s", path, strerror(errno));
        return -1;
    }
    return fd;
}

static long check(void)
{
    uint64_t h, m;
    if (reread(&h, &m) != 0)
        return -1;
    long n = (long)((h - last_high) + (m - last_max));
    last_high = h;
    last_max = m;
    return n;
}

static void close_src(void)
{
    if (fd >= 0)
        close(fd);
    fd = -1;
}

__attribute__((visibility("hidden"))) const struct notice_source notice_cgv2 = {
    .name = "cgroup-v2", .probe = probe, .open = open_src, .events = POLLPRI, .check = check, .close = close_src,
};
