/* Swap for the tests that need pages to leave memory for real: zram0 set
 * up as swap when no swap is on (root only), and removed again after.
 * Header-only, for the integration tests that run as their own process. */
#ifndef COGC_TEST_SWAP_H
#define COGC_TEST_SWAP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define TS_ZRAM "/sys/block/zram0"

static inline int ts_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static inline int ts_read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *r = fgets(buf, (int)len, f);
    fclose(f);
    return r ? 0 : -1;
}

static inline bool ts_swap_on(void)
{
    FILE *f = fopen("/proc/swaps", "r");
    char line[256];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n++;
    if (f)
        fclose(f);
    return n > 1;   /* a header line, then one per device */
}

/* Swap on: 0 when it already was, 1 when zram0 was set up here (of
 * `size`, e.g. "2G"; ts_swap_off after), -1 after printing why not (SKIP). */
static inline int ts_swap_up(const char *size)
{
    if (ts_swap_on())
        return 0;
    char buf[64] = "";
    if (ts_read_line(TS_ZRAM "/disksize", buf, sizeof buf) != 0) {
        printf("SKIP: no swap and no zram device (" TS_ZRAM ")\n");
        return -1;
    }
    if (strtoull(buf, NULL, 10) != 0) {
        printf("SKIP: no swap, and zram0 is in use by someone else (disksize %s)\n", buf);
        return -1;
    }
    if (ts_write_file(TS_ZRAM "/disksize", size) != 0 || system("mkswap /dev/zram0 >/dev/null") != 0 ||
        system("swapon /dev/zram0") != 0) {
        printf("SKIP: could not set up zram swap\n");
        ts_write_file(TS_ZRAM "/reset", "1");
        return -1;
    }
    return 1;
}

/* Undo ts_swap_up's 1.  0, or -1 after printing FAIL. */
static inline int ts_swap_off(void)
{
    if (system("swapoff /dev/zram0") != 0 || ts_write_file(TS_ZRAM "/reset", "1") != 0) {
        fprintf(stderr, "FAIL: zram teardown\n");
        return -1;
    }
    return 0;
}

#endif
