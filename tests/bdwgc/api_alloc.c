/* bdwgc API: allocation, queries, statistics, tunables, messages, roots. */
#include "gc.h"
#include "gc/gc_mark.h"
#include "bdwtest.h"

#include <stdlib.h>

struct node {
    struct node *next;
    GC_word payload[3];
};

static BT_NOINLINE struct node *make_list(int n, GC_word seed)
{
    struct node *head = NULL;
    for (int i = 0; i < n; i++) {
        struct node *x = GC_MALLOC(sizeof *x);
        ck_assert_ptr_nonnull(x);
        x->payload[0] = seed + (GC_word)i;
        x->payload[1] = ~(seed + (GC_word)i);
        x->next = head;
        head = x;
    }
    return head;
}

static int list_ok(const struct node *x, int n, GC_word seed)
{
    for (int i = n - 1; i >= 0; i--, x = x->next)
        if (!x || x->payload[0] != seed + (GC_word)i || x->payload[1] != ~(seed + (GC_word)i))
            return 0;
    return x == NULL;
}

START_TEST(malloc_family)
{
    struct node *keep = make_list(10000, 0x8000000000001000ul);
    char *s = GC_STRDUP("hello, collector");
    char *s2 = GC_STRNDUP("abcdef", 3);
    GC_word *atom = GC_MALLOC_ATOMIC(4096);
    memset(atom, 0xA5, 4096);
    void *big = GC_MALLOC_IGNORE_OFF_PAGE(1 << 20);
    void *bigatom = GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(1 << 20);
    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(bigatom);
    /* zero-filled */
    for (size_t i = 0; i < (1 << 20) / sizeof(GC_word); i++)
        ck_assert_uint_eq(((GC_word *)big)[i], 0);
    for (int i = 0; i < 3; i++)
        bt_gc();
    ck_assert(list_ok(keep, 10000, 0x8000000000001000ul));
    ck_assert_str_eq(s, "hello, collector");
    ck_assert_str_eq(s2, "abc");
    for (int i = 0; i < 4096; i++)
        ck_assert_uint_eq(((unsigned char *)atom)[i], 0xA5);
    /* queries */
    ck_assert_ptr_eq(GC_base((char *)keep + 8), keep);
    ck_assert_uint_ge(GC_size(keep), sizeof *keep);
    ck_assert_uint_ge(GC_size(big), 1 << 20);
    ck_assert_ptr_null(GC_base(&keep));
    void *foreign = malloc(16);
    ck_assert_ptr_null(GC_base(foreign));
    free(foreign);
    /* realloc keeps contents */
    keep = GC_REALLOC(keep, 4 * sizeof *keep);
    ck_assert_uint_eq(keep->payload[0], 0x8000000000001000ul + 9999);
    ck_assert_ptr_null(GC_REALLOC(GC_MALLOC(10), 0));
    /* memalign */
    for (size_t a = 16; a <= 8192; a *= 2) {
        void *p = GC_memalign(a, 100);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % a, 0);
    }
    void *pm = NULL;
    ck_assert_int_eq(GC_posix_memalign(&pm, 64, 200), 0);
    ck_assert_uint_eq((uintptr_t)pm % 64, 0);
    ck_assert_int_ne(GC_posix_memalign(&pm, 3, 200), 0);
    /* explicit free: the memory is reused */
    void *f = GC_MALLOC(48);
    GC_FREE(f);
    GC_FREE(NULL);
    /* uncollectable: survives with no reference but a hidden one */
    GC_word hidden = GC_HIDE_POINTER(GC_MALLOC_UNCOLLECTABLE(64));
    ((GC_word *)GC_REVEAL_POINTER(hidden))[0] = 0x8000000000000042ul;
    for (int i = 0; i < 3; i++)
        bt_gc();
    ck_assert_uint_eq(((GC_word *)GC_REVEAL_POINTER(hidden))[0], 0x8000000000000042ul);
    GC_FREE(GC_REVEAL_POINTER(hidden));
}
END_TEST

START_TEST(malloc_many_list)
{
    void *l = GC_malloc_many(32);
    ck_assert_ptr_nonnull(l);
    int n = 0;
    for (void *p = l; p; p = GC_NEXT(p)) {
        ck_assert_uint_ge(GC_size(p), 32);
        n++;
    }
    ck_assert_int_ge(n, 1);
}
END_TEST

/* Garbage is reclaimed: 512 MiB allocated in all, never more than a few
 * MiB reachable, so the heap stays small. */
START_TEST(reclaims_garbage)
{
    GC_word before = GC_get_gc_no();
    for (int round = 0; round < 512; round++) {
        void *volatile p = NULL;
        for (int i = 0; i < 1024; i++)
            p = GC_MALLOC(1024);
        (void)p;
    }
    ck_assert_uint_gt(GC_get_gc_no(), before);
    ck_assert_uint_lt(GC_get_heap_size(), 256u << 20);
    ck_assert_uint_ge(GC_get_total_bytes(), 512u << 20);
    GC_word heap, freeb, unmapped, since, total;
    GC_get_heap_usage_safe(&heap, &freeb, &unmapped, &since, &total);
    ck_assert_uint_eq(heap, GC_get_heap_size());
    ck_assert_uint_le(freeb, heap);
    ck_assert_uint_ge(total, 512u << 20);
    struct GC_prof_stats_s ps;
    ck_assert_uint_gt(GC_get_prof_stats(&ps, sizeof ps), 0);
    ck_assert_uint_eq(ps.heapsize_full, GC_get_heap_size());
    /* GC_MARKERS, when set, is the number of markers used */
    const char *m = getenv("GC_MARKERS");
    if (m)
        ck_assert_uint_eq(ps.markers_m1 + 1, strtoul(m, NULL, 10));
    ck_assert_uint_ge(GC_get_memory_use(), 1);
}
END_TEST

static char warned[512];
static void warn(char *msg, GC_word arg)
{
    snprintf(warned, sizeof warned, msg, arg);
}

static int start_calls;
static void on_start(void) { start_calls++; }

START_TEST(tunables_and_messages)
{
    GC_set_warn_proc(warn);
    ck_assert_ptr_eq(GC_get_warn_proc(), warn);
    int x;
    GC_FREE(&x);   /* not a heap object: a warning, heap untouched */
    ck_assert_uint_gt(strlen(warned), 0);
    GC_set_warn_proc(GC_ignore_warn_proc);
    GC_set_start_callback(on_start);
    ck_assert_ptr_eq(GC_get_start_callback(), on_start);
    int before = start_calls;
    bt_gc();
    ck_assert_int_eq(start_calls, before + 1);
    GC_set_start_callback(NULL);
    GC_set_free_space_divisor(4);
    ck_assert_uint_eq(GC_get_free_space_divisor(), 4);
    GC_set_max_retries(2);
    ck_assert_uint_eq(GC_get_max_retries(), 2);
    GC_set_all_interior_pointers(1);
    ck_assert_int_eq(GC_get_all_interior_pointers(), 1);
    ck_assert_uint_eq(GC_get_version() >> 16, 8);
    /* disable: no automatic collection until enabled again */
    GC_disable();
    ck_assert(GC_is_disabled());
    GC_word no = GC_get_gc_no();
    for (int i = 0; i < 200000; i++)
        (void)GC_MALLOC(64);
    ck_assert_uint_eq(GC_get_gc_no(), no);
    GC_enable();
    ck_assert(!GC_is_disabled());
    GC_enable_incremental();
    ck_assert_int_eq(GC_is_incremental_mode(), 1);   /* the default backend can watch the heap */
    GC_set_max_heap_size(0);
}
END_TEST

static void *oom(size_t n)
{
    (void)n;
    return (void *)&oom;   /* a recognisable non-NULL answer */
}

START_TEST(out_of_memory_function)
{
    GC_set_oom_fn(oom);
    ck_assert_ptr_eq(GC_get_oom_fn(), oom);
    GC_set_max_heap_size(64u << 20);
    void *p = GC_MALLOC((size_t)1 << 40);
    ck_assert_ptr_eq(p, (void *)&oom);
    GC_set_max_heap_size(0);
}
END_TEST

/* Roots: a range of malloc'd memory keeps what it points to. */
static void *cleared_link;

START_TEST(roots)
{
    void **area = calloc(16, sizeof *area);
    area[3] = GC_MALLOC(32);
    GC_add_roots(area, area + 16);
    ck_assert_int_eq(GC_general_register_disappearing_link(&cleared_link, area[3]), GC_SUCCESS);
    cleared_link = (void *)GC_HIDE_POINTER(area[3]);
    for (int i = 0; i < 3; i++)
        bt_gc();
    ck_assert_ptr_nonnull(cleared_link);
    GC_remove_roots(area, area + 16);
    BT_GC_UNTIL(!cleared_link);
    ck_assert_ptr_null(cleared_link);
    free(area);
}
END_TEST

int main(void)
{
    GC_INIT();
    Suite *s = suite_create("bdwgc-alloc");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, malloc_family);
    tcase_add_test(tc, malloc_many_list);
    tcase_add_test(tc, reclaims_garbage);
    tcase_add_test(tc, tunables_and_messages);
    tcase_add_test(tc, out_of_memory_function);
    tcase_add_test(tc, roots);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
