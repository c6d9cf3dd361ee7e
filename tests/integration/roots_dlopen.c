/* roots_dlopen: the data and bss (and dynamic TLS) of a shared library
 * loaded with dlopen() after the collector started are roots; unloading it
 * with dlclose() must not make a later collection touch its unmapped pages. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dlfcn.h>
#include <pthread.h>

#ifndef ROOTS_DLOPEN_MODULE
#error "ROOTS_DLOPEN_MODULE must name the module to dlopen"
#endif

#define LIST_LEN 3000

typedef void (*mod_set_fn)(int, void *);
typedef void *(*mod_get_fn)(int);

struct mod {
    void *h;
    mod_set_fn set;
    mod_get_fn get;
};

static void mod_open(struct mod *m)
{
    m->h = dlopen(ROOTS_DLOPEN_MODULE, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(m->h != NULL, "dlopen(%s): %s", ROOTS_DLOPEN_MODULE, dlerror());
    m->set = (mod_set_fn)dlsym(m->h, "mod_set");
    m->get = (mod_get_fn)dlsym(m->h, "mod_get");
    ck_assert_ptr_nonnull(m->set);
    ck_assert_ptr_nonnull(m->get);
}

static int mod_is_loaded(void)
{
    void *h = dlopen(ROOTS_DLOPEN_MODULE, RTLD_NOW | RTLD_NOLOAD);
    if (h)
        dlclose(h);
    return h != NULL;
}

/* Store new lists into the module's slots 1 (.data) and 2 (.bss array). */
static TU_NOINLINE void fill_after(struct mod *m, uint64_t seed)
{
    m->set(1, tu_list_make(LIST_LEN, seed + 1));
    m->set(2, tu_list_make(LIST_LEN, seed + 2));
}

static TU_NOINLINE size_t mod_bad(struct mod *m, uint64_t seed, int first)
{
    size_t bad = 0;
    for (int i = first; i <= 2; i++)
        bad += tu_list_bad(m->get(i), LIST_LEN, seed + (uint64_t)i);
    return bad;
}

START_TEST(test_module_data_and_bss)
{
    ck_assert(!mod_is_loaded());
    /* allocated before the module exists; only a local holds it */
    struct tu_node *volatile before = tu_list_make(LIST_LEN, 0x100);
    ck_assert_ptr_nonnull(before);
    struct mod m;
    mod_open(&m);
    m.set(0, before);                     /* into the module's .bss */
    before = NULL;
    fill_after(&m, 0x100);
    tu_collect_hard(3);
    ck_assert_uint_eq(mod_bad(&m, 0x100, 0), 0);
    struct cogc_stats s0 = tu_stats();
    tu_churn(64, 500000);                 /* allocation-triggered collections */
    struct cogc_stats s1 = tu_stats();
    ck_assert_uint_gt(s1.collections, s0.collections);
    ck_assert_uint_eq(mod_bad(&m, 0x100, 0), 0);
    for (int i = 0; i <= 2; i++)
        m.set(i, NULL);
    ck_assert_int_eq(dlclose(m.h), 0);
}
END_TEST

START_TEST(test_dlclose_then_collect_then_reload)
{
    struct mod m;
    mod_open(&m);
    fill_after(&m, 0x200);
    tu_collect_hard(1);
    ck_assert_uint_eq(mod_bad(&m, 0x200, 1), 0);
    ck_assert_int_eq(dlclose(m.h), 0);
    ck_assert_msg(!mod_is_loaded(), "the module stayed loaded after dlclose");
    /* its pages are gone: collecting must not scan them */
    tu_collect_hard(2);
    /* load it again (possibly elsewhere) and use it as a root again */
    mod_open(&m);
    ck_assert_ptr_null(m.get(0));
    fill_after(&m, 0x300);
    tu_collect_hard(3);
    ck_assert_uint_eq(mod_bad(&m, 0x300, 1), 0);
    m.set(1, NULL);
    m.set(2, NULL);
    ck_assert_int_eq(dlclose(m.h), 0);
    tu_collect_hard(1);
}
END_TEST

/* __thread variables of a dlopen'ed module live in dynamically allocated
 * TLS blocks; cogc.h lists thread-local storage among the roots. */
struct tls_arg {
    struct mod *m;
    int ready[2], go[2];
    size_t bad;
};

static TU_NOINLINE void tls_store(struct mod *m, uint64_t seed)
{
    m->set(3, tu_list_make(LIST_LEN, seed));
}

static void *tls_thread(void *arg)
{
    struct tls_arg *a = arg;
    tls_store(a->m, 0x500);
    tu_clear_stack();
    char c = 'r';
    if (write(a->ready[1], &c, 1) != 1)
        a->bad = 1;
    while (read(a->go[0], &c, 1) < 0 && errno == EINTR)
        ;
    a->bad += tu_list_bad(a->m->get(3), LIST_LEN, 0x500);
    a->m->set(3, NULL);
    return NULL;
}

START_TEST(test_module_dynamic_tls)
{
    struct mod m;
    mod_open(&m);
    tls_store(&m, 0x400);
    struct tls_arg a = {.m = &m};
    ck_assert_int_eq(pipe(a.ready), 0);
    ck_assert_int_eq(pipe(a.go), 0);
    pthread_t t;
    ck_assert_int_eq(cogc_pthread_create(&t, NULL, tls_thread, &a), 0);
    char c;
    while (read(a.ready[0], &c, 1) < 0 && errno == EINTR)
        ;
    tu_collect_hard(3);
    c = 'g';
    ck_assert_int_eq(write(a.go[1], &c, 1), 1);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_msg(a.bad == 0, "other thread: %zu damaged nodes reachable from module TLS", a.bad);
    size_t bad = tu_list_bad(m.get(3), LIST_LEN, 0x400);
    ck_assert_msg(bad == 0, "main thread: %zu damaged nodes reachable from module TLS", bad);
    m.set(3, NULL);
    for (int i = 0; i < 2; i++) {
        close(a.ready[i]);
        close(a.go[i]);
    }
    ck_assert_int_eq(dlclose(m.h), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("roots_dlopen");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_module_data_and_bss);
    tcase_add_test(tc, test_dlclose_then_collect_then_reload);
    tcase_add_test(tc, test_module_dynamic_tls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
