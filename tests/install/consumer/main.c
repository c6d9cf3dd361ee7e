/* A program built against an installed cogc: allocates, collects, checks. */
#include <cogc.h>
#include <stdio.h>

struct node { struct node *next; long value; };

int main(void)
{
    struct node *list = NULL;
    for (long i = 0; i < 100000; i++) {
        struct node *n = cogc_malloc(sizeof *n);
        if (!n)
            return 1;
        n->value = i;
        n->next = list;
        list = n;
    }
    cogc_collect();
    long expect = 99999;
    for (struct node *n = list; n; n = n->next, expect--)
        if (n->value != expect)
            return 2;
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    printf("consumer ok: %llu collections\n", (unsigned long long)s.collections);
    return expect == -1 && s.collections >= 1 ? 0 : 3;
}
