// bdwgc API, C++: gc_cpp.h's gc and gc_cleanup classes, the placement
// operator new (GC, NoGC, PointerFreeGC, with a cleanup function), and the
// global operator new of libgccpp.so.1.  Built against our gc_cpp.h (also
// with GC_NAMESPACE) and against Debian's, then run on our libraries.
#include "gc.h"
#include "gc_cpp.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

static int failures;
#define CHECK(c)                                                                       \
    do {                                                                               \
        if (!(c)) {                                                                    \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                                \
        }                                                                              \
    } while (0)

// Wipe stale copies of pointers from the stack below the caller, collect.
__attribute__((noinline)) static void collect()
{
    char buf[32768];
    std::memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
    GC_gcollect();
    GC_invoke_finalizers();
}

// A conservative collector may keep a few objects through stale words:
// collect until cond holds, at most 8 times.
#define COLLECT_UNTIL(cond)                            \
    do {                                               \
        for (int i_ = 0; i_ < 8 && !(cond); i_++)      \
            collect();                                 \
    } while (0)

struct Node : public GC_NS_QUALIFY(gc) {
    long value;
    Node *next;
};

// Destructor runs counted by group: late finalizers of one test's objects
// (kept a while by a stale word) do not disturb another's count.
enum { GARBAGE, DELETED, ON_STACK, FROM_PTRFREE, GROUPS };
static int destroyed[GROUPS];
struct Cleaned : public GC_NS_QUALIFY(gc_cleanup) {
    int group;
    long payload[4];
    explicit Cleaned(int g) : group(g) {}
    ~Cleaned() { destroyed[group]++; }
};

struct Plain {
    void *ptr;
    long value;
};

struct Holder {
    void *ptr[64];
};
static Holder *live_holder;

static int cleanups;
static void *cleanup_data_seen;
static void GC_CALLBACK count_cleanup(void *obj, void *data)
{
    (void)obj;
    cleanups++;
    cleanup_data_seen = data;
}

static uintptr_t hide(const void *p) { return ~reinterpret_cast<uintptr_t>(p); }
template <class T> static T *unhide(uintptr_t h) { return reinterpret_cast<T *>(~h); }

__attribute__((noinline)) static void make_garbage(int n)
{
    for (int i = 0; i < n; i++) {
        Cleaned *c = new Cleaned(GARBAGE);
        c->payload[0] = i;
    }
}

__attribute__((noinline)) static void test_gc_class()
{
    Node *head = 0;
    for (long i = 0; i < 1000; i++) {
        Node *n = new Node;
        n->value = i;
        n->next = head;
        head = n;
    }
    CHECK(GC_base(head) == head);
    Node *arr = new Node[16];
    CHECK(GC_base(arr) != 0);
    Node *manual = new (GC_NS_QUALIFY(NoGC)) Node;
    CHECK(GC_base(manual) != 0);
    delete manual;
    collect();
    long sum = 0, count = 0;
    for (Node *n = head; n; n = n->next, count++)
        sum += n->value;
    CHECK(count == 1000 && sum == 999L * 1000 / 2);
}

__attribute__((noinline)) static void test_cleanup_runs_destructor()
{
    make_garbage(500);
    COLLECT_UNTIL(destroyed[GARBAGE] >= 490);
    CHECK(destroyed[GARBAGE] >= 490);
    CHECK(destroyed[GARBAGE] <= 500);

    // An explicit delete runs the destructor once and cancels the finalizer.
    Cleaned *c = new Cleaned(DELETED);
    delete c;
    CHECK(destroyed[DELETED] == 1);
    c = 0;
    for (int i = 0; i < 3; i++)
        collect();
    CHECK(destroyed[DELETED] == 1);

    // On the stack: a plain object.
    {
        Cleaned local(ON_STACK);
        local.payload[0] = 1;
    }
    CHECK(destroyed[ON_STACK] == 1);
}

__attribute__((noinline)) static uintptr_t make_with_cleanup(int n, void *data)
{
    Plain *last = 0;
    for (int i = 0; i < n; i++) {
        last = ::new (GC_NS_QUALIFY(GC), count_cleanup, data) Plain;
        last->value = i;
    }
    return hide(last);
}

__attribute__((noinline)) static void test_placement_cleanup()
{
    static int tag;
    cleanups = 0;
    uintptr_t h = make_with_cleanup(300, &tag);
    COLLECT_UNTIL(cleanups >= 290);
    CHECK(cleanups >= 290 && cleanups <= 300);
    CHECK(cleanup_data_seen == &tag);
    (void)h;
}

// NoGC: kept while only a hidden pointer refers to it, and scanned (what it
// points to stays too).  PointerFreeGC: never scanned.
__attribute__((noinline)) static void fill_placements(uintptr_t *nogc, uintptr_t *ptrfree)
{
    Plain *kept = ::new (GC_NS_QUALIFY(NoGC)) Plain;
    Node *n = new Node;
    n->value = 4242;
    kept->ptr = n;
    kept->value = 17;
    *nogc = hide(kept);

    // The only references to 64 objects: in a reachable, unscanned object.
    Holder *blob = ::new (GC_NS_QUALIFY(PointerFreeGC)) Holder;
    for (int i = 0; i < 64; i++)
        blob->ptr[i] = new Cleaned(FROM_PTRFREE);
    live_holder = blob;
    *ptrfree = hide(blob);
}

// In a function of its own: no register of the caller keeps the address.
__attribute__((noinline)) static void check_in_heap(uintptr_t hidden)
{
    Holder *p = unhide<Holder>(hidden);
    CHECK(GC_base(p) == p);
}

__attribute__((noinline)) static void test_placements()
{
    uintptr_t nogc, ptrfree;
    fill_placements(&nogc, &ptrfree);
    check_in_heap(ptrfree);
    COLLECT_UNTIL(destroyed[FROM_PTRFREE] >= 60);
    CHECK(destroyed[FROM_PTRFREE] >= 60);
    CHECK(GC_base(live_holder) == live_holder);
    for (int i = 0; i < 3; i++)
        collect();
    Plain *kept = unhide<Plain>(nogc);
    CHECK(kept->value == 17);
    CHECK(static_cast<Node *>(kept->ptr)->value == 4242);
    CHECK(GC_base(kept->ptr) == kept->ptr);
    ::operator delete(kept, GC_NS_QUALIFY(NoGC), 0, 0);
}

__attribute__((noinline)) static void test_out_of_memory()
{
    bool thrown = false;
    try {
        // A run-time count: clang refuses a constant one this large.
        volatile size_t count = SIZE_MAX / sizeof(Node) / 2;
        Node *huge = new Node[count];
        CHECK(huge == 0);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown);
}

// libgccpp.so.1's operator new: uncollectable, scanned memory.
__attribute__((noinline)) static void test_global_new()
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    std::printf("global operator new: not checked (the sanitizer's operator new takes precedence)\n");
#else
    Plain *p = new Plain;
    CHECK(GC_base(p) == p);
    p->ptr = new Node;
    static_cast<Node *>(p->ptr)->value = 99;
    uintptr_t h = hide(p);
    p = 0;
    for (int i = 0; i < 3; i++)
        collect();
    p = unhide<Plain>(h);
    CHECK(static_cast<Node *>(p->ptr)->value == 99);
    delete p;
    int *a = new int[100];
    CHECK(GC_base(a) != 0);
    delete[] a;
#endif
}

int main()
{
    GC_INIT();
    test_gc_class();
    test_cleanup_runs_destructor();
    test_placement_cleanup();
    test_placements();
    test_out_of_memory();
    test_global_new();
    if (failures)
        std::fprintf(stderr, "%d checks failed\n", failures);
    else
        std::printf("gc_cpp: all checks passed\n");
    return failures != 0;
}
