/* bad_input: misuse is reported through the warning procedure and leaves the
 * heap intact; queries on foreign pointers answer NULL / 0; malformed
 * environment values are reported and replaced by defaults. */
#define _GNU_SOURCE
#include "testutil.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>

static pthread_mutex_t g_warn_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_warn_count;
static char g_warn_last[1024];

static void capture_warn(const char *msg)
{
    pthread_mutex_lock(&g_warn_mu);
    g_warn_count++;
    snprintf(g_warn_last, sizeof g_warn_last, "%s", msg ? msg : "(null)");
    pthread_mutex_unlock(&g_warn_mu);
}

static int warn_count(void)
{
    pthread_mutex_lock(&g_warn_mu);
    int n = g_warn_count;
    pthread_mutex_unlock(&g_warn_mu);
    return n;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

/* The message of the last warning mentions the address or "free". */
static int last_warning_about(const void *p)
{
    char addr[32], addr2[32];
    snprintf(addr, sizeof addr, "%p", p);
    snprintf(addr2, sizeof addr2, "%lx", (unsigned long)(uintptr_t)p);
    pthread_mutex_lock(&g_warn_mu);
    int ok = contains_ci(g_warn_last, "free") || contains_ci(g_warn_last, addr) || contains_ci(g_warn_last, addr2);
    pthread_mutex_unlock(&g_warn_mu);
    return ok;
}

/* cogc_free(p) must produce exactly one warning about p. */
static void expect_bad_free(void *p, const char *what)
{
    int before = warn_count();
    cogc_free(p);
    int after = warn_count();
    ck_assert_msg(after == before + 1, "cogc_free(%s %p): %d warnings, expected 1", what, p, after - before);
    ck_assert_msg(last_warning_about(p), "cogc_free(%s %p): the warning \"%s\" mentions neither the address nor free",
                  what, p, g_warn_last);
}

static void setup(void) { cogc_set_warn_proc(capture_warn); }
static void teardown(void) { cogc_set_warn_proc(NULL); }

static int g_static_int = 5;

START_TEST(test_free_foreign_pointers)
{
    struct tu_node *keep = tu_list_make(5000, 0x42);
    int local = 1;
    void *m = malloc(64);
    ck_assert_ptr_nonnull(m);
    expect_bad_free(&local, "a stack address");
    expect_bad_free(m, "malloc() memory");
    expect_bad_free(&g_static_int, "a static");
    expect_bad_free((void *)(uintptr_t)0x10, "a tiny address");
    expect_bad_free((void *)(uintptr_t)0x7ff0dead0000ull, "an unmapped address");
    free(m);
    /* freeing NULL is fine and silent */
    int before = warn_count();
    cogc_free(NULL);
    ck_assert_int_eq(warn_count(), before);
    tu_collect_hard(2);
    ck_assert_uint_eq(tu_list_bad(keep, 5000, 0x42), 0);
    ck_assert_int_eq(local, 1);
    ck_assert_int_eq(g_static_int, 5);
}
END_TEST

/* Pointers forged inside the heap's own address range: the chunk's
 * metadata pages, a free page, the unused tail of a block, an aligned
 * address one past a chunk's objects.  None may be taken for an object. */
START_TEST(test_free_forged_heap_pointers)
{
    struct tu_node *keep = tu_list_make(5000, 0x43);
    char *obj = cogc_malloc(48);      /* class 48: 85 per page, 16-byte tail */
    ck_assert_ptr_nonnull(obj);
    uintptr_t chunk = (uintptr_t)obj & ~(uintptr_t)((4u << 20) - 1);
    expect_bad_free((void *)chunk, "the chunk's metadata");
    expect_bad_free((void *)(chunk + 8192), "the chunk's metadata");
    uintptr_t page = (uintptr_t)obj & ~(uintptr_t)4095;
    expect_bad_free((void *)(page + 85 * 48), "the tail of a block");
    void *last = (void *)(chunk + (4u << 20) - 4096);
    if (cogc_base(last) == NULL)     /* no object there: a free page */
        expect_bad_free(last, "a free page");
    ck_assert_ptr_null(cogc_base((void *)chunk));
    ck_assert_uint_eq(cogc_size((void *)(page + 85 * 48)), 0);
    tu_collect_hard(2);
    ck_assert_uint_eq(tu_list_bad(keep, 5000, 0x43), 0);
}
END_TEST

/* cogc_realloc(p) of a forged p: one warning naming p, NULL with EINVAL,
 * and nothing in the heap changed (the object p points into keeps its
 * bytes, its neighbours theirs). */
static void expect_bad_realloc(void *p, const char *what)
{
    int before = warn_count();
    errno = 0;
    void *q = cogc_realloc(p, 64);
    int after = warn_count();
    ck_assert_msg(q == NULL && errno == EINVAL, "cogc_realloc(%s %p) = %p, errno %d", what, p, q, errno);
    ck_assert_msg(after == before + 1, "cogc_realloc(%s %p): %d warnings, expected 1", what, p, after - before);
    ck_assert_msg(last_warning_about(p) && contains_ci(g_warn_last, "realloc"),
                  "cogc_realloc(%s %p): the warning \"%s\" names neither", what, p, g_warn_last);
}

START_TEST(test_realloc_forged_pointers)
{
    struct tu_node *keep = tu_list_make(3000, 0x47);
    char *obj = cogc_malloc(48);
    ck_assert_ptr_nonnull(obj);
    memset(obj, 0x9c, 48);
    int local = 1;
    uintptr_t chunk = (uintptr_t)obj & ~(uintptr_t)((4u << 20) - 1);
    uintptr_t page = (uintptr_t)obj & ~(uintptr_t)4095;
    expect_bad_realloc(&local, "a stack address");
    expect_bad_realloc(&g_static_int, "a static");
    expect_bad_realloc((void *)chunk, "the chunk's metadata");
    expect_bad_realloc(obj + 16, "an interior pointer");
    expect_bad_realloc((void *)(page + 85 * 48), "the tail of a block");
    expect_bad_realloc((void *)(uintptr_t)0xdead0000, "an unmapped address");
    char *freed = cogc_malloc(48);
    ck_assert_ptr_nonnull(freed);
    cogc_free(freed);
    expect_bad_realloc(freed, "a freed object");
    for (int i = 0; i < 48; i++)
        ck_assert_uint_eq((unsigned char)obj[i], 0x9c);
    tu_collect_hard(2);
    ck_assert_uint_eq(tu_list_bad(keep, 3000, 0x47), 0);
}
END_TEST

/* The heap is never mapped writable and executable. */
START_TEST(test_no_rwx_mappings)
{
    void *p = cogc_malloc(1 << 20);
    ck_assert_ptr_nonnull(p);
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int rwx = 0;
    while (fgets(line, sizeof line, f)) {
        char perms[8];
        if (sscanf(line, "%*x-%*x %7s", perms) == 1 && perms[0] == 'r' && perms[1] == 'w' && perms[2] == 'x')
            rwx++;
    }
    fclose(f);
    ck_assert_int_eq(rwx, 0);
}
END_TEST

START_TEST(test_free_interior_pointers)
{
    char *s = cogc_malloc(100);
    char *l = cogc_malloc(1 << 20);
    ck_assert(s && l);
    tu_fill(s, 100, 1);
    tu_fill(l, 1 << 20, 2);
    expect_bad_free(s + 16, "an interior pointer");
    expect_bad_free(s + 1, "an interior pointer");
    expect_bad_free(l + 4096, "an interior pointer of a large object");
    expect_bad_free(l + 8, "an interior pointer of a large object");
    ck_assert_uint_ge(cogc_size(s), 100);
    ck_assert_uint_ge(cogc_size(l), 1 << 20);
    tu_collect_hard(2);
    ck_assert(tu_check(s, 100, 1));
    ck_assert(tu_check(l, 1 << 20, 2));
    ck_assert_ptr_eq(cogc_base(s + 50), s);
    ck_assert_ptr_eq(cogc_base(l + 5000), l);
}
END_TEST

static void check_distinct_allocations(size_t size)
{
    enum { K = 64 };
    char *p[K];
    for (int i = 0; i < K; i++) {
        p[i] = cogc_malloc(size);
        ck_assert_ptr_nonnull(p[i]);
        tu_fill(p[i], size, 0x900 + (uint64_t)i);
    }
    for (int i = 0; i < K; i++) {
        for (int j = 0; j < i; j++)
            ck_assert_msg(p[i] != p[j], "size %zu: allocations %d and %d both returned %p", size, j, i,
                          (void *)p[i]);
        ck_assert_msg(tu_check(p[i], size, 0x900 + (uint64_t)i), "size %zu: object %d overwritten by another",
                      size, i);
    }
}

START_TEST(test_double_free)
{
    static const size_t sizes[] = {48, 256, 4096, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t sz = sizes[i];
        char *p = cogc_malloc(sz);
        ck_assert_ptr_nonnull(p);
        int before = warn_count();
        cogc_free(p);
        ck_assert_int_eq(warn_count(), before);         /* the first free is fine */
        ck_assert_ptr_null(cogc_base(p));
        expect_bad_free(p, "an already freed object");
        /* the second free changed nothing: no address is handed out twice */
        char *a = cogc_malloc(sz), *b = cogc_malloc(sz);
        ck_assert(a && b);
        ck_assert_msg(a != b, "size %zu: after a double free two allocations returned %p", sz, (void *)a);
        check_distinct_allocations(sz);
        /* double free separated by a collection */
        char *q = cogc_malloc(sz);
        ck_assert_ptr_nonnull(q);
        cogc_free(q);
        tu_collect_hard(1);
        if (cogc_base(q) == NULL)      /* not reused meanwhile */
            expect_bad_free(q, "an object freed before a collection");
        check_distinct_allocations(sz);
    }
}
END_TEST

/* Objects already collected: a free must be reported, not corrupt the heap. */
#define NHID 500

static TU_NOINLINE void make_hidden(uintptr_t *h)
{
    for (int i = 0; i < NHID; i++)
        h[i] = TU_HIDE(cogc_malloc(80));
}

START_TEST(test_free_of_collected_objects)
{
    static uintptr_t h[NHID];
    make_hidden(h);
    for (int i = 0; i < 3; i++) {
        tu_clear_stack();
        cogc_collect();
    }
    int reported = 0, tried = 0;
    for (int i = 0; i < NHID; i++) {
        void *p = TU_UNHIDE(h[i]);
        if (cogc_base(p) != NULL)
            continue;
        tried++;
        int before = warn_count();
        cogc_free(p);
        reported += warn_count() == before + 1;
    }
    ck_assert_int_eq(reported, tried);
    check_distinct_allocations(80);
}
END_TEST

START_TEST(test_queries_on_foreign_pointers)
{
    int local;
    void *m = malloc(32);
    ck_assert_ptr_null(cogc_base(NULL));
    ck_assert_uint_eq(cogc_size(NULL), 0);
    ck_assert_ptr_null(cogc_base(&local));
    ck_assert_uint_eq(cogc_size(&local), 0);
    ck_assert_ptr_null(cogc_base(m));
    ck_assert_uint_eq(cogc_size(m), 0);
    ck_assert_ptr_null(cogc_base(&g_static_int));
    ck_assert_uint_eq(cogc_size(&g_static_int), 0);
    ck_assert_ptr_null(cogc_base((void *)(uintptr_t)1));
    ck_assert_uint_eq(cogc_size((void *)(uintptr_t)1), 0);
    ck_assert_ptr_null(cogc_base((void *)UINTPTR_MAX));
    ck_assert_uint_eq(cogc_size((void *)UINTPTR_MAX), 0);
    ck_assert_ptr_null(cogc_base((void *)(uintptr_t)0x7ff0dead0000ull));
    ck_assert_ptr_null(cogc_base((void *)(uintptr_t)0xFFFF800000000000ull));
    ck_assert_uint_eq(cogc_size((void *)(uintptr_t)0xFFFF800000000000ull), 0);
    free(m);
    /* none of this was a misuse report */
}
END_TEST

START_TEST(test_tunables_reject_out_of_range)
{
    unsigned g = cogc_get_growth();
    errno = 0;
    ck_assert_int_eq(cogc_set_growth(9), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(cogc_set_growth(10001), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(cogc_get_growth(), g);
    ck_assert_int_eq(cogc_set_growth(10), 0);
    ck_assert_uint_eq(cogc_get_growth(), 10);
    ck_assert_int_eq(cogc_set_growth(10000), 0);
    ck_assert_uint_eq(cogc_get_growth(), 10000);
    ck_assert_int_eq(cogc_set_growth(g), 0);
    errno = 0;
    ck_assert_int_eq(cogc_get_stats(NULL, sizeof(struct cogc_stats)), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- child processes ---------------------------------------------------- */

/* Child: the environment is malformed; allocation must still work and the
 * defaults be in force.  Exit status tells what went wrong. */
static int child_env(void)
{
    if (cogc_init() != 0)
        return 9;
    if (cogc_get_heap_limit() != 0)
        return 10;
    if (cogc_get_growth() != 70)   /* the documented default */
        return 11;
    if (cogc_get_interior_pointers() != 1)
        return 12;
    struct tu_node *l = tu_list_make(20000, 1);
    if (!l)
        return 13;
    tu_churn(64, 200000);
    cogc_collect();
    if (tu_list_bad(l, 20000, 1))
        return 14;
    void *big = cogc_malloc(64 << 20);     /* no heap limit by default */
    if (!big)
        return 15;
    return 0;
}

static int child_abort(void)
{
    int local;
    if (cogc_init() != 0)
        return 9;
    printf("%p\n", (void *)&local);
    fflush(stdout);
    cogc_free(&local);                     /* COGC_ON_ERROR=abort */
    return 20;
}

/* stderr of the child mentions "free" or the address it printed. */
static int child_reported(const struct tu_child *c)
{
    char addr[64] = "";
    sscanf(c->out, "%63s", addr);
    if (contains_ci(c->err, "free"))
        return 1;
    if (addr[0] && contains_ci(c->err, addr))
        return 1;
    /* the address without 0x */
    return addr[0] && addr[1] && contains_ci(c->err, addr + 2);
}

START_TEST(test_malformed_environment)
{
    static const struct {
        const char *var, *val;
    } cases[] = {
        {"COGC_HEAP_LIMIT", "banana"}, {"COGC_GROWTH", "-5"},        {"COGC_MARKERS", "999999"},
        {"COGC_INTERIOR", "maybe"},    {"COGC_MIN_TRIGGER", "12q"},  {"COGC_STATS", "2"},
        {"COGC_ON_ERROR", "explode"},  {"COGC_HEAP_LIMIT", "99999999999999999999999g"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char env[256];
        snprintf(env, sizeof env, "%s=%s", cases[i].var, cases[i].val);
        const char *envv[] = {env, NULL};
        struct tu_child c;
        ck_assert_int_eq(tu_run_self("--child-env", envv, &c), 0);
        ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
                      "%s: child status 0x%x (exit %d), stderr: %s", env, c.status,
                      WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1, c.err);
        ck_assert_msg(strstr(c.err, cases[i].var) != NULL, "%s: stderr does not name the variable: \"%s\"",
                      env, c.err);
        ck_assert_msg(contains_ci(c.err, "default"), "%s: stderr does not say the default is used: \"%s\"", env,
                      c.err);
        tu_child_free(&c);
    }
    /* all at once: every variable is named */
    const char *all[] = {"COGC_HEAP_LIMIT=banana", "COGC_GROWTH=-5", "COGC_MARKERS=999999", NULL};
    struct tu_child c;
    ck_assert_int_eq(tu_run_self("--child-env", all, &c), 0);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "child status 0x%x, stderr: %s", c.status,
                  c.err);
    ck_assert_ptr_nonnull(strstr(c.err, "COGC_HEAP_LIMIT"));
    ck_assert_ptr_nonnull(strstr(c.err, "COGC_GROWTH"));
    ck_assert_ptr_nonnull(strstr(c.err, "COGC_MARKERS"));
    tu_child_free(&c);
    /* a well-formed environment is silent */
    const char *good[] = {"COGC_HEAP_LIMIT=0", "COGC_GROWTH=70", "COGC_INTERIOR=1", NULL};
    ck_assert_int_eq(tu_run_self("--child-env", good, &c), 0);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "child status 0x%x, stderr: %s", c.status,
                  c.err);
    ck_assert_msg(c.err[0] == '\0', "a valid environment produced output on stderr: \"%s\"", c.err);
    tu_child_free(&c);
}
END_TEST

START_TEST(test_on_error_abort)
{
    const char *envv[] = {"COGC_ON_ERROR=abort", NULL};
    struct tu_child c;
    ck_assert_int_eq(tu_run_self("--child-abort", envv, &c), 0);
    ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
                  "a bad free under COGC_ON_ERROR=abort: status 0x%x, stderr: %s", c.status, c.err);
    ck_assert_msg(child_reported(&c), "no report on stderr before the abort: \"%s\"", c.err);
    tu_child_free(&c);
    /* default (warn): reported on stderr, the program goes on */
    ck_assert_int_eq(tu_run_self("--child-abort", NULL, &c), 0);
    ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 20, "status 0x%x, stderr: %s", c.status, c.err);
    ck_assert_msg(child_reported(&c), "the default warning procedure printed nothing useful: \"%s\"", c.err);
    tu_child_free(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bad_input");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_free_foreign_pointers);
    tcase_add_test(tc, test_free_interior_pointers);
    tcase_add_test(tc, test_free_forged_heap_pointers);
    tcase_add_test(tc, test_realloc_forged_pointers);
    tcase_add_test(tc, test_no_rwx_mappings);
    tcase_add_test(tc, test_double_free);
    tcase_add_test(tc, test_free_of_collected_objects);
    tcase_add_test(tc, test_queries_on_foreign_pointers);
    tcase_add_test(tc, test_tunables_reject_out_of_range);
    tcase_add_test(tc, test_malformed_environment);
    tcase_add_test(tc, test_on_error_abort);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child-env") == 0)
        return child_env();
    if (argc > 1 && strcmp(argv[1], "--child-abort") == 0)
        return child_abort();
    cogc_init();
    return tu_run_suite(suite());
}
