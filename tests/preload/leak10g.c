/* Leaks 10 GB over its run (every object dropped without free, in sizes
 * from 16 bytes to 64 KiB, a byte written in each), keeping a small live
 * set; under COGC_MALLOC_MODE=collect its peak RSS must stay under 100 MB. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define TOTAL ((uint64_t)10 << 30)
#define LIVE 1024

int main(void)
{
    static char *live[LIVE];
    uint64_t done = 0, i = 0;
    while (done < TOTAL) {
        size_t size = (i % 7 == 0) ? 65536 : 16 + (size_t)((i * 2654435761u) % 4096);
        char *p = malloc(size);
        if (!p) {
            fprintf(stderr, "malloc(%zu) failed after %llu bytes\n", size, (unsigned long long)done);
            return 1;
        }
        p[size - 1] = (char)i;
        if (i % 64 == 0)
            live[(i / 64) % LIVE] = p;   /* the rest is leaked */
        done += size;
        i++;
    }
    long sum = 0;
    for (int k = 0; k < LIVE; k++)
        sum += live[k] != NULL;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("leaked %llu MB in %llu objects; live %ld; peak RSS %ld MB\n",
           (unsigned long long)(done >> 20), (unsigned long long)i, sum, ru.ru_maxrss / 1024);
    if (ru.ru_maxrss / 1024 >= 100) {
        fprintf(stderr, "peak RSS %ld MB: not under 100 MB\n", ru.ru_maxrss / 1024);
        return 1;
    }
    return 0;
}
