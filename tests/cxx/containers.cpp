// cogc::gc_allocator in std::vector, std::map, std::unordered_map of
// collected objects; cogc::gc, gc_cleanup, placement new.
#include <cogc/gc_allocator.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

static int failures;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static std::uint64_t id_of(std::uint64_t i) { return (i * 0x9E3779B97F4A7C15ull) | 0x8000000000000000ull; }

struct Node : cogc::gc {
    std::uint64_t id;
    Node *next = nullptr;
    explicit Node(std::uint64_t i) : id(id_of(i)) {}
};

// Not derived from cogc::gc: collected through placement new.
struct Plain {
    std::uint64_t id;
    explicit Plain(std::uint64_t i) : id(id_of(i)) {}
};

template <class K, class V> using gc_map = std::map<K, V, std::less<K>, cogc::gc_allocator<std::pair<const K, V>>>;
template <class K, class V>
using gc_umap = std::unordered_map<K, V, std::hash<K>, std::equal_to<K>, cogc::gc_allocator<std::pair<const K, V>>>;

__attribute__((noinline)) static void clear_stack()
{
    char buf[32 * 1024];
    std::memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

// Garbage of many sizes between collections: wrongly freed memory is
// overwritten.
__attribute__((noinline)) static void churn()
{
    for (int round = 0; round < 3; round++) {
        clear_stack();
        cogc_collect();
        for (int i = 0; i < 50000; i++) {
            auto *p = static_cast<std::uint64_t *>(cogc_malloc(16 + (i % 16) * 16));
            p[0] = 0xDDDDDDDDDDDDDDDDull;
            p[1] = 0xDDDDDDDDDDDDDDDDull;
        }
    }
}

// The container itself lives in a collected object: its storage is
// reachable only through that object.
struct Holder : cogc::gc {
    std::vector<Node *, cogc::gc_allocator<Node *>> nodes;
    gc_map<int, Node *> by_key;
    gc_umap<int, Plain *> hashed;
    std::vector<double, cogc::gc_atomic_allocator<double>> numbers;
};

static Holder *holder;

__attribute__((noinline)) static void fill(int n)
{
    holder = new Holder;
    for (int i = 0; i < n; i++) {
        Node *x = new Node(i);
        x->next = i ? holder->nodes.back() : nullptr;
        holder->nodes.push_back(x);
        holder->by_key[i] = new Node(i + n);
        holder->hashed.emplace(i, new (cogc::collected) Plain(i + 2 * n));
        holder->numbers.push_back(i * 0.5);
    }
}

static void check_filled(int n, bool whole_map)
{
    CHECK(holder->nodes.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; i++) {
        Node *x = holder->nodes[i];
        CHECK(cogc_base(x) == x);
        CHECK(x->id == id_of(i));
        CHECK(x->next == (i ? holder->nodes[i - 1] : nullptr));
    }
    int k = 0;
    for (auto &kv : holder->by_key) {
        CHECK(kv.first == (whole_map ? k : 2 * k + 1));
        CHECK(kv.second->id == id_of(kv.first + n));
        k++;
    }
    CHECK(k == (whole_map ? n : n / 2));
    CHECK(holder->hashed.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; i += 7) {
        auto it = holder->hashed.find(i);
        CHECK(it != holder->hashed.end() && it->second->id == id_of(i + 2 * n));
    }
    for (int i = 0; i < n; i += 13)
        CHECK(holder->numbers[i] == i * 0.5);
}

static int destroyed;

struct Resource : cogc::gc_cleanup {
    Resource *self = this;   // a self-reference does not block finalization
    ~Resource() override { destroyed++; }
};

__attribute__((noinline)) static void make_resources(int n)
{
    for (int i = 0; i < n; i++)
        new Resource;
}

// Containers that die are reclaimed: the heap stays bounded.
__attribute__((noinline)) static void drop_containers()
{
    for (int round = 0; round < 200; round++) {
        std::vector<Node *, cogc::gc_allocator<Node *>> v;
        gc_map<int, int> m;
        for (int i = 0; i < 2000; i++) {
            v.push_back(new Node(i));
            m[i] = i;
        }
    }
}

int main()
{
    cogc_init();
    const int n = 50000;
    fill(n);
    churn();
    check_filled(n, true);
    // erase half of the map: erased nodes are freed, the rest stay intact
    for (int i = 0; i < n; i += 2)
        holder->by_key.erase(i);
    churn();
    CHECK(holder->by_key.size() == static_cast<std::size_t>(n / 2));
    for (auto &kv : holder->by_key)
        CHECK(kv.second->id == id_of(kv.first + n));

    make_resources(1000);
    for (int i = 0; i < 8 && destroyed < 1000; i++) {
        clear_stack();
        cogc_collect();
    }
    CHECK(destroyed == 1000);
    Resource *r = new Resource;
    int before = destroyed;
    delete r;   // explicit delete runs the destructor once, no finalizer later
    CHECK(destroyed == before + 1);
    churn();
    CHECK(destroyed == before + 1);

    struct cogc_stats s0;
    cogc_get_stats(&s0, sizeof s0);
    drop_containers();
    clear_stack();
    cogc_collect();
    struct cogc_stats s1;
    cogc_get_stats(&s1, sizeof s1);
    CHECK(s1.collections > s0.collections);
    CHECK(s1.heap_bytes < s0.heap_bytes + (256u << 20));
    check_filled(n, false);   // untouched by it all

    if (failures)
        std::fprintf(stderr, "%d checks failed\n", failures);
    else
        std::printf("containers: all checks passed\n");
    return failures != 0;
}
