/* A program with known leaks: three sites, each with a known count and
 * size; everything else is freed or stays reachable.  `leaky none` leaks
 * nothing.  `leaky mid` also asks for reports while running: through
 * cogc_report_leaks (its result is checked) and through SIGUSR2. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *reachable[4];
static void *volatile sink;

__attribute__((noinline)) void leak_strings(void)
{
    char s[100];
    memset(s, 'a', 99);
    s[99] = 0;
    for (int i = 0; i < 10; i++)
        sink = strdup(s);   /* 100 bytes each */
}

__attribute__((noinline)) void leak_nodes(void)
{
    for (int i = 0; i < 5; i++)
        sink = calloc(1, 2000);
}

__attribute__((noinline)) void leak_big(void)
{
    /* Touched at both ends, not memset: memset leaves its end pointer in a
     * register, inside the page-rounded object, where the exit report's
     * conservative scan may find it (docs/preload.md, limits). */
    for (int i = 0; i < 3; i++) {
        char *p = malloc(50000);
        p[0] = p[49999] = 1;
        sink = p;
    }
}

__attribute__((noinline)) void no_leaks(void)
{
    for (int i = 0; i < 1000; i++) {
        char *p = malloc((size_t)i * 10 + 1);
        p = realloc(p, (size_t)i * 20 + 1);
        free(p);
    }
    for (int i = 0; i < 4; i++)
        reachable[i] = malloc(100 + (size_t)i);
}

/* Overwrite the stack below us, where the leaked pointers were. */
__attribute__((noinline)) void scrub(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    no_leaks();
    if (strcmp(what, "none") != 0) {
        leak_strings();
        leak_nodes();
        leak_big();
    }
    sink = NULL;
    scrub();
    if (!strcmp(what, "mid")) {
        long (*report)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "cogc_report_leaks");
        if (!report) {
            fprintf(stderr, "cogc_report_leaks not found: run with libcogc-preload.so\n");
            return 2;
        }
        long n = report();
        printf("cogc_report_leaks: %ld\n", n);
        raise(SIGUSR2);
        sink = malloc(10);   /* a safe point: the report runs here */
        free(sink);
    }
    printf("done\n");
    return 0;
}
