// bdwgc API, C++: gc_allocator and traceable_allocator in std::vector and
// std::map (built against our gc/gc_allocator.h and against Debian's).
#include "gc.h"
#include "gc/gc_allocator.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

struct Node {
    long v;
    Node *next;
};

__attribute__((noinline)) static void churn()
{
    for (int r = 0; r < 3; r++) {
        char buf[16384];
        std::memset(buf, 0, sizeof buf);
        __asm__ volatile("" : : "r"(buf) : "memory");
        GC_gcollect();
        for (int i = 0; i < 50000; i++)
            std::memset(GC_MALLOC(48), 0xDD, 48);
    }
}

int main()
{
    GC_INIT();
    std::vector<Node *, gc_allocator<Node *> > v;
    std::map<long, Node *, std::less<long>, gc_allocator<std::pair<const long, Node *> > > m;
    // storage that is never collected but scanned: holds the only pointers
    std::vector<Node *, traceable_allocator<Node *> > *t =
        new (GC_MALLOC_UNCOLLECTABLE(sizeof *t)) std::vector<Node *, traceable_allocator<Node *> >();
    std::vector<double, gc_allocator<double> > d;
    for (long i = 0; i < 20000; i++) {
        Node *n = static_cast<Node *>(GC_MALLOC(sizeof(Node)));
        n->v = i;
        v.push_back(n);
        Node *k = static_cast<Node *>(GC_MALLOC(sizeof(Node)));
        k->v = -i;
        m[i] = k;
        Node *u = static_cast<Node *>(GC_MALLOC(sizeof(Node)));
        u->v = 2 * i;
        t->push_back(u);
        d.push_back(i * 0.25);
    }
    churn();
    for (long i = 0; i < 20000; i++) {
        CHECK(v[i]->v == i);
        CHECK(m[i]->v == -i);
        CHECK((*t)[i]->v == 2 * i);
        CHECK(d[i] == i * 0.25);
    }
    if (failures)
        std::fprintf(stderr, "%d checks failed\n", failures);
    else
        std::printf("allocators: all checks passed\n");
    return failures != 0;
}
