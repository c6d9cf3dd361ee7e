#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *l, *r; int key; };

static struct node *insert(struct node *n, int key)
{
    if (!n) {
        n = calloc(1, sizeof *n);
        n->key = key;
        return n;
    }
    if (key < n->key)
        n->l = insert(n->l, key);
    else
        n->r = insert(n->r, key);
    return n;
}

static long sum(const struct node *n) { return n ? n->key + sum(n->l) + sum(n->r) : 0; }

int main(void)
{
    struct node *root = NULL;
    for (int i = 0; i < 1000; i++)
        root = insert(root, (i * 7919) % 1009);
    char buf[64];
    snprintf(buf, sizeof buf, "%ld", sum(root));
    printf("sum %s len %zu\n", buf, strlen(buf));
    return 0;
}
