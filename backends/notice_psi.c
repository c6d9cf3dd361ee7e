/* notice_psi.c - PSI triggers: the kernel wakes a poller (POLLPRI) when
 * tasks stalled on memory for more than `stall` microseconds within a
 * `window`.  "psi" watches the whole system (/proc/pressure/memory),
 * "psi-cgroup" the process's cgroup (v2 memory.pressure). */
#include "notice.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fds[2] = {-1, -1};

static int cgroup_file(char *out, size_t len)
{
    char dir[1024];
    if (notice_cgroup_dir("/sys/fs/cgroup", NULL, dir, sizeof dir) != 0)
        return -1;
    int n = snprintf(out, len, "%s/memory.pressure", dir);
    return n > 0 && (size_t)n < len && access(out, F_OK) == 0 ? 0 : -1;
}

static int arm(int which, const char *path, unsigned stall, unsigned window, char *why, size_t len)
{
    const char *name = which ? "psi-cgroup" : "psi";
    char line[64];
    if (notice_psi_trigger(line, sizeof line, stall ? stall : 150000, window ? window : 1000000) != 0) {
        snprintf(why, len, "%s: bad trigger (stall %u us, window %u us)", name, stall, window);
        return -1;
    }
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, len, "%s: %s: %s", name, path, strerror(errno));
        return -1;
    }
    if (write(fd, line, strlen(line) + 1) < 0) {
        snprintf(why, len, "%s: writing a trigger to %s: %s (kernel without PSI triggers?)", name, path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int probe_one(int which, char *why, size_t len)
{
    char path[1100] = "/proc/pressure/memory";
    if (which && cgroup_file(path, sizeof path) != 0) {
        snprintf(why, len, "psi-cgroup: the process's cgroup has no memory.pressure (no cgroup v2 memory controller)");
        return -1;
    }
    int fd = arm(which, path, 150000, 1000000, why, len);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int open_one(int which, const struct notice_config *cfg, char *why, size_t len)
{
    char path[1100] = "/proc/pressure/memory";
    if (which && cgroup_file(path, sizeof path) != 0) {
        snprintf(why, len, "psi-cgroup: no memory.pressure");
        return -1;
    }
    fds[which] = arm(which, path, cfg->psi_stall_us, cfg->psi_window_us, why, len);
    return fds[which];
}

/* POLLPRI is level-free: after it fires, the trigger rearms by itself at
 * the next window; nothing to read. */
static long check_one(int which)
{
    struct pollfd p = {.fd = fds[which], .events = POLLPRI};
    int r = poll(&p, 1, 0);
    if (r < 0)
        return -1;
    if (p.revents & POLLERR) {
        errno = EIO;
        return -1;
    }
    return (p.revents & POLLPRI) ? 1 : 0;
}

static void close_one(int which)
{
    if (fds[which] >= 0)
        close(fds[which]);
    fds[which] = -1;
}

static int probe_sys(char *why, size_t len) { return probe_one(0, why, len); }
static int probe_cg(char *why, size_t len) { return probe_one(1, why, len); }
static int open_sys(const struct notice_config *c, char *why, size_t len) { return open_one(0, c, why, len); }
static int open_cg(const struct notice_config *c, char *why, size_t len) { return open_one(1, c, why, len); }
static long check_sys(void) { return check_one(0); }
static long check_cg(void) { return check_one(1); }
static void close_sys(void) { close_one(0); }
static void close_cg(void) { close_one(1); }

__attribute__((visibility("hidden"))) const struct notice_source notice_psi = {
    .name = "psi", .probe = probe_sys, .open = open_sys, .events = POLLPRI, .check = check_sys, .close = close_sys,
};
__attribute__((visibility("hidden"))) const struct notice_source notice_psi_cgroup = {
    .name = "psi-cgroup", .probe = probe_cg, .open = open_cg, .events = POLLPRI, .check = check_cg, .close = close_cg,
};
