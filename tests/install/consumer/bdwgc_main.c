/* A bdwgc program built with pkg-config bdw-gc against the installed
 * gc.h and libgc.so.1 of cogc. */
#define GC_THREADS 1
#include <gc.h>
#include <gc/gc_typed.h>
#include <stdio.h>
#include <string.h>

struct node {
    struct node *next;
    long v;
};

int main(void)
{
    GC_INIT();
    struct node *head = NULL;
    for (long i = 0; i < 100000; i++) {
        struct node *n = GC_NEW(struct node);
        n->v = i;
        n->next = head;
        head = n;
        (void)GC_MALLOC_ATOMIC(64);
    }
    GC_gcollect();
    long expect = 99999;
    for (struct node *n = head; n; n = n->next, expect--)
        if (n->v != expect) {
            fprintf(stderr, "bdwgc consumer: list damaged at %ld\n", expect);
            return 1;
        }
    if (expect != -1 || GC_get_gc_no() == 0 || strcmp(GC_STRDUP("ok"), "ok") != 0) {
        fprintf(stderr, "bdwgc consumer: wrong result\n");
        return 1;
    }
    printf("bdwgc consumer: ok after %lu collections\n", (unsigned long)GC_get_gc_no());
    return 0;
}
