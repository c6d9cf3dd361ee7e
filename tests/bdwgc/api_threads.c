/* bdwgc API with GC_THREADS: redirected pthread_create, self-registered
 * threads, the allocation lock, blocking sections. */
#define GC_THREADS 1
#include "gc.h"
#include "bdwtest.h"

#include <pthread.h>

struct node {
    struct node *next;
    GC_word v;
};

static void *worker(void *arg)
{
    GC_word seed = (GC_word)(uintptr_t)arg;
    struct node *head = NULL;
    for (int round = 0; round < 20; round++) {
        head = NULL;
        for (int i = 0; i < 5000; i++) {
            struct node *n = GC_MALLOC(sizeof *n);
            if (!n)
                return (void *)1;
            n->v = seed + (GC_word)i;
            n->next = head;
            head = n;
        }
        for (int i = 0; i < 20000; i++)
            (void)GC_MALLOC(32);   /* garbage: collections happen */
        int i = 4999;
        for (struct node *n = head; n; n = n->next, i--)
            if (n->v != seed + (GC_word)i)
                return (void *)2;
        if (i != -1)
            return (void *)3;
    }
    return NULL;
}

START_TEST(redirected_threads)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(0x8000000000000000ul + i * 100000ul)), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        ck_assert_ptr_null(r);
    }
}
END_TEST

static void *registered_body(struct GC_stack_base *sb, void *arg)
{
    (void)arg;
    if (GC_register_my_thread(sb) != GC_SUCCESS)
        return (void *)10;
    if (GC_register_my_thread(sb) != GC_DUPLICATE)
        return (void *)11;
    if (!GC_thread_is_registered())
        return (void *)12;
    void *r = worker((void *)(uintptr_t)0x8000000000900000ul);
    GC_unregister_my_thread();
    return r;
}

static void *raw_thread(void *arg) { return GC_call_with_stack_base(registered_body, arg); }

START_TEST(self_registered_thread)
{
    pthread_t t;
    /* not redirected: the thread registers itself */
    ck_assert_int_eq(GC_pthread_create == pthread_create ? 0 : 1, 0);
#undef pthread_create
#undef pthread_join
    ck_assert_int_eq(pthread_create(&t, NULL, raw_thread, NULL), 0);
    void *r;
    ck_assert_int_eq(pthread_join(t, &r), 0);
    ck_assert_ptr_null(r);
    struct GC_stack_base sb;
    ck_assert_int_eq(GC_get_stack_base(&sb), GC_SUCCESS);
    ck_assert((uintptr_t)sb.mem_base > (uintptr_t)&sb);
}
END_TEST

static void *locked(void *cd)
{
    *(int *)cd += 1;
    return cd;
}

static void *blocking(void *cd) { return (char *)cd + 1; }

START_TEST(lock_and_blocking)
{
    int x = 0;
    ck_assert_ptr_eq(GC_call_with_alloc_lock(locked, &x), &x);
    ck_assert_int_eq(x, 1);
    char c[2];
    ck_assert_ptr_eq(GC_do_blocking(blocking, c), c + 1);
    ck_assert_ptr_eq(GC_call_with_gc_active(blocking, c), c + 1);
}
END_TEST

int main(void)
{
    GC_INIT();
    GC_allow_register_threads();
    Suite *s = suite_create("bdwgc-threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, redirected_threads);
    tcase_add_test(tc, self_registered_thread);
    tcase_add_test(tc, lock_and_blocking);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
