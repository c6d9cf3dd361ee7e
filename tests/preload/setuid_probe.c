/* Linked against the preload library: allocates, and says whether it ran
 * in secure-execution mode (AT_SECURE), so that a file system mounted
 * nosuid (where the set-group-ID copy gains nothing) can be told apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

int main(void)
{
    char *p = malloc(64);
    if (!p)
        return 1;
    snprintf(p, 64, "ran secure=%lu", getauxval(AT_SECURE));
    puts(p);
    free(p);
    return 0;
}
