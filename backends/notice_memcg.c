/* notice_memcg.c - this process's memory cgroup as the collector reads it:
 * its limit, what is charged to it now, and its statistics.
 *
 * Reading memory.stat is not only a read.  The kernel keeps a cgroup's
 * per-list page counts (active, inactive) in per-CPU deltas and folds them
 * in (an "rstat flush") when memory.stat is read, and otherwise only every
 * two seconds from a worker; reclaim itself folds them in at most that
 * often.  Reclaim decides from those folded counts whether to move active
 * pages to the inactive list (inactive_is_low), while it scans the real
 * lists.  When the inactive list truly runs empty (the program re-reads
 * pages it had, swapped-in pages go straight to the active list) but the
 * folded counts still say it is large, no page is deactivated, nothing is
 * scanned, and after 16 fruitless attempts the memcg OOM killer fires with
 * `inactive_anon 0` and swap to spare (cold-heap workload at 200 MiB: 8
 * runs of 20 killed at real-time priority, 10 of 10 at nice 0 without
 * MADV_COLD; 0 of 20 with the counts folded every 10 ms). */
#include "notice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define V1_MOUNT "/sys/fs/cgroup/memory"
#define V2_MOUNT "/sys/fs/cgroup"

int notice_memcg_find(struct notice_memcg *m)
{
    char dir[1024], path[1100], text[64];
    m->limit = 0;
    m->usage_fd = m->stat_fd = -1;
    if (notice_cgroup_dir(V1_MOUNT, "memory", dir, sizeof dir) == 0) {
        snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
        if (notice_read_file(path, text, sizeof text) > 0) {
            uint64_t v = strtoull(text, NULL, 10);
            if (v < ((uint64_t)1 << 60)) {   /* v1 writes "no limit" as ~2^63 */
                m->limit = v;
                snprintf(m->usage, sizeof m->usage, "%s/memory.usage_in_bytes", dir);
                snprintf(m->stat, sizeof m->stat, "%s/memory.stat", dir);
                return 0;
            }
        }
    }
    if (notice_cgroup_dir(V2_MOUNT, NULL, dir, sizeof dir) == 0) {
        snprintf(path, sizeof path, "%s/memory.max", dir);
        if (notice_read_file(path, text, sizeof text) > 0 && text[0] >= '0' && text[0] <= '9') {
            m->limit = strtoull(text, NULL, 10);
            snprintf(m->usage, sizeof m->usage, "%s/memory.current", dir);
            snprintf(m->stat, sizeof m->stat, "%s/memory.stat", dir);
            return 0;
        }
    }
    return -1;
}

int notice_memcg_open(struct notice_memcg *m)
{
    if (!m->limit)
        return -1;
    m->usage_fd = open(m->usage, O_RDONLY | O_CLOEXEC);
    m->stat_fd = open(m->stat, O_RDONLY | O_CLOEXEC);
    if (m->usage_fd >= 0 && m->stat_fd >= 0)
        return 0;
    notice_memcg_close(m);
    return -1;
}

void notice_memcg_close(struct notice_memcg *m)
{
    if (m->usage_fd >= 0)
        close(m->usage_fd);
    if (m->stat_fd >= 0)
        close(m->stat_fd);
    m->usage_fd = m->stat_fd = -1;
}

/* The whole of an open (seq_file) cgroup file from its start: the kernel
 * generates it anew, into the buffer it kept from the last read. */
static long reread(int fd, char *buf, size_t len)
{
    if (lseek(fd, 0, SEEK_SET) != 0)
        return -1;
    return notice_read_fd(fd, buf, len);
}

uint64_t notice_memcg_usage(const struct notice_memcg *m)
{
    char text[64];
    if (!m->limit)
        return 0;
    long n = m->usage_fd >= 0 ? reread(m->usage_fd, text, sizeof text) : notice_read_file(m->usage, text, sizeof text);
    return n > 0 ? strtoull(text, NULL, 10) : 0;
}

int notice_memcg_fold_stats(const struct notice_memcg *m)
{
    char text[8192];   /* the whole file: the kernel folds before the first byte */
    if (!m->limit)
        return -1;
    long n = m->stat_fd >= 0 ? reread(m->stat_fd, text, sizeof text) : notice_read_file(m->stat, text, sizeof text);
    return n > 0 ? 0 : -1;
}
