/* notice.c - the list of notice sources and the parsing they share. */
#include "notice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct notice_source notice_psi, notice_psi_cgroup, notice_cgv1, notice_cgv2, notice_gcdev,
    notice_residency;

const struct notice_source *const notice_sources[] = {
    &notice_psi, &notice_psi_cgroup, &notice_cgv1, &notice_cgv2, &notice_gcdev, &notice_residency, NULL,
};

const struct notice_source *notice_find(const char *name)
{
    for (size_t i = 0; notice_sources[i]; i++)
        if (strcmp(notice_sources[i]->name, name) == 0)
            return notice_sources[i];
    return NULL;
}

/* The next name of a comma-separated list: its start in *name and length
 * in *n (blanks around it left out); NULL past the end. */
static const char *list_next(const char *p, const char **name, size_t *n)
{
    if (!*p)
        return NULL;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *e = p;
    while (*e && *e != ',')
        e++;
    const char *end = e;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *name = p;
    *n = (size_t)(end - p);
    return *e ? e + 1 : e;
}

static bool list_word_is(const char *w, size_t n, const char *name) { return strlen(name) == n && !strncmp(w, name, n); }

int notice_list_check(const char *list, char *bad, size_t len)
{
    const char *w;
    size_t n;
    if (!*list) {
        snprintf(bad, len, "(empty)");
        return -1;
    }
    for (const char *p = list; (p = list_next(p, &w, &n));) {
        bool known = list_word_is(w, n, "none");
        for (size_t i = 0; !known && notice_sources[i]; i++)
            known = list_word_is(w, n, notice_sources[i]->name);
        if (!known) {
            if (n)
                snprintf(bad, len, "%.*s", (int)n, w);
            else
                snprintf(bad, len, "(empty)");
            return -1;
        }
        if (!*p && p[-1] == ',') {   /* a trailing comma: an empty last name */
            snprintf(bad, len, "(empty)");
            return -1;
        }
    }
    return 0;
}

bool notice_list_has(const char *list, const char *name)
{
    if (!list)
        return true;
    const char *w;
    size_t n;
    for (const char *p = list; (p = list_next(p, &w, &n));)
        if (list_word_is(w, n, name))
            return true;
    return false;
}

long notice_read_fd(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    return (long)n;
}

long notice_read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long n = notice_read_fd(fd, buf, len);
    close(fd);
    return n;
}

/* Lines are "id:controllers:path"; controllers is a comma list (v1) or
 * empty (v2). */
int notice_cgroup_path(const char *text, const char *controller, char *out, size_t len)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        const char *c1 = memchr(line, ':', ll);
        const char *c2 = c1 ? memchr(c1 + 1, ':', ll - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            const char *list = c1 + 1;
            size_t listlen = (size_t)(c2 - list);
            bool match = false;
            if (!controller)
                match = listlen == 0;
            else
                for (const char *p = list; p < c2;) {
                    const char *comma = memchr(p, ',', (size_t)(c2 - p));
                    size_t n = comma ? (size_t)(comma - p) : (size_t)(c2 - p);
                    if (n == strlen(controller) && strncmp(p, controller, n) == 0)
                        match = true;
                    p += n + 1;
                }
            size_t plen = ll - (size_t)(c2 + 1 - line);
            if (match && plen > 0 && plen < len) {
                memcpy(out, c2 + 1, plen);
                out[plen] = 0;
                return 0;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

int notice_cgroup_dir(const char *mount, const char *controller, char *out, size_t len)
{
    char text[4096], path[1024];
    if (notice_read_file("/proc/self/cgroup", text, sizeof text) <= 0 ||
        notice_cgroup_path(text, controller, path, sizeof path) != 0)
        return -1;
    int n = snprintf(out, len, "%s%s", mount, strcmp(path, "/") == 0 ? "" : path);
    struct stat st;
    if (n < 0 || (size_t)n >= len || stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    return 0;
}

int notice_psi_trigger(char *out, size_t len, unsigned stall_us, unsigned window_us)
{
    if (stall_us == 0 || stall_us > window_us)
        return -1;
    int n = snprintf(out, len, "some %u %u", stall_us, window_us);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static uint64_t value_after(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == '\t' || key[kl - 1] == ':'))
            return strtoull(p + kl, NULL, 10);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

uint64_t notice_meminfo_bytes(const char *meminfo, const char *key)
{
    return value_after(meminfo, key) * 1024;   /* meminfo counts kB */
}

uint64_t notice_events_count(const char *text, const char *key) { return value_after(text, key); }
