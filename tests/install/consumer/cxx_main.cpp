// A C++ program built against the installed cogc/gc_allocator.hpp.
#include <cogc/gc_allocator.hpp>
#include <cstdio>
#include <vector>

struct Node : cogc::gc {
    long v;
    explicit Node(long x) : v(x) {}
};

int main()
{
    std::vector<Node *, cogc::gc_allocator<Node *>> v;
    for (long i = 0; i < 100000; i++)
        v.push_back(new Node(i));
    cogc_collect();
    for (long i = 0; i < 100000; i++)
        if (v[i]->v != i)
            return 1;
    std::printf("cxx consumer: ok\n");
    return 0;
}
