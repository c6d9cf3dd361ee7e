/* A thread that allocates from a thread-specific destructor that runs after
 * cogc's own exit destructor registers again and may exit registered: the
 * next collections must go on (such a thread is dropped from the registry),
 * not wait for it forever. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>

static pthread_key_t late_key;

static void late_destructor(void *v)
{
    (void)v;
    /* Allocates after cogc unregistered this thread. */
    for (int i = 0; i < 100; i++) {
        uint64_t *p = cogc_malloc(64);
        if (p)
            p[0] = 0x8000000000000001ull;
    }
}

static void *body(void *arg)
{
    (void)arg;
    ((uint64_t *)cogc_malloc(32))[0] = 1;   /* registered: cogc's exit destructor will run */
    pthread_setspecific(late_key, (void *)1);
    return NULL;
}

START_TEST(allocating_destructors_do_not_stall_collections)
{
    ck_assert_int_eq(cogc_init(), 0);
    for (int round = 0; round < 20; round++) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, body, NULL), 0);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        cogc_collect();   /* would wait for an exited thread's acknowledgement */
    }
    uint64_t *p = cogc_malloc(64);
    ck_assert_ptr_nonnull(p);
}
END_TEST

int main(void)
{
    /* Created after cogc's key (cogc_init above runs first in the test, but
     * the key is created here before any thread: later index, later run). */
    cogc_init();
    pthread_key_create(&late_key, late_destructor);
    Suite *s = suite_create("thread_exit_alloc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, allocating_destructors_do_not_stall_collections);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
