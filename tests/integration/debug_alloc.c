/* debug_alloc: the debug allocator (cogc_debug_malloc, COGC_DEBUG=1).
 * Each case runs in a child process whose stderr is read back: the report
 * must say what was found, where (address, offset, size), and name the
 * functions that allocated and freed the object (this program is linked
 * with -rdynamic so dladdr can name them); by default the child aborts
 * after a report.  Clean programs must print nothing. */
#define _GNU_SOURCE
#include "testutil.h"

#include <signal.h>

#define OUT_MAX 65536

struct run {
    int status;
    char out[OUT_MAX];
};

/* Run fn in a child with stderr captured; env is "NAME=value;..." or NULL. */
static void run_child(void (*fn)(void), const char *env, struct run *r)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        tu_alarm(60);
        if (env) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", env);
            for (char *save, *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
                putenv(strdup(tok));
        }
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while (n < OUT_MAX - 1 && (got = read(fds[0], r->out + n, OUT_MAX - 1 - n)) > 0)
        n += (size_t)got;
    r->out[n] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &r->status, 0), pid);
}

static void assert_aborted(const struct run *r)
{
    ck_assert_msg(WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGABRT,
                  "child status %#x, expected SIGABRT; output:\n%s", r->status, r->out);
    ck_assert_msg(strstr(r->out, "cogc: debug: aborting"), "no abort line in:\n%s", r->out);
}

static void assert_has(const struct run *r, const char *what)
{
    ck_assert_msg(strstr(r->out, what), "\"%s\" missing from the report:\n%s", what, r->out);
}

/* The text after `section` (e.g. "allocated at:") names fn before the next section. */
static void assert_section_names(const struct run *r, const char *section, const char *fn)
{
    const char *s = strstr(r->out, section);
    ck_assert_msg(s, "no \"%s\" in:\n%s", section, r->out);
    s += strlen(section);
    const char *end = strstr(s, " at:\n");
    char name[128];
    snprintf(name, sizeof name, " %s+0x", fn);
    const char *hit = strstr(s, name);
    ck_assert_msg(hit && (!end || hit < end), "\"%s\" does not name %s:\n%s", section, fn, r->out);
}

/* Sites the reports must name: external, not inlined, no tail calls. */
static void *volatile g_obj;

TU_NOINLINE __attribute__((visibility("default"))) void *debug_test_alloc_site(size_t n)
{
    void *p = cogc_debug_malloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

TU_NOINLINE __attribute__((visibility("default"))) void debug_test_first_free(void *p)
{
    cogc_free(p);
    __asm__ volatile("" : : "r"(p) : "memory");
}

TU_NOINLINE __attribute__((visibility("default"))) void debug_test_second_free(void *p)
{
    cogc_free(p);
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* ---- redzones -------------------------------------------------------- */

static void overflow_then_free(void)
{
    char *p = debug_test_alloc_site(24);
    ck_assert_uint_eq(cogc_size(p), 24);
    memset(p, 'a', 24);            /* the object itself: fine */
    ((volatile char *)p)[24] = 'X'; /* one past the end */
    debug_test_first_free(p);
}

START_TEST(overflow_found_at_free)
{
    static struct run r;
    run_child(overflow_then_free, NULL, &r);
    assert_aborted(&r);
    assert_has(&r, "cogc: debug: heap overflow: object 0x");
    assert_has(&r, "(24 bytes asked");
    assert_has(&r, "redzone written at offset 24 (byte 0x58");
    assert_has(&r, "found at cogc_free");
    assert_section_names(&r, "allocated at:", "debug_test_alloc_site");
    assert_section_names(&r, "freed at:", "debug_test_first_free");
}
END_TEST

static void overflow_then_collect(void)
{
    char *p = debug_test_alloc_site(100);
    g_obj = p;
    ((volatile char *)p)[100 + 5] = 'Y';
    cogc_collect();
}

START_TEST(overflow_found_at_collection)
{
    static struct run r;
    run_child(overflow_then_collect, NULL, &r);
    assert_aborted(&r);
    assert_has(&r, "cogc: debug: heap overflow");
    assert_has(&r, "(100 bytes asked");
    assert_has(&r, "redzone written at offset 105 (byte 0x59");
    assert_has(&r, "found at a collection");
    assert_section_names(&r, "allocated at:", "debug_test_alloc_site");
}
END_TEST

/* An unreachable object is checked once more at the collection that finds it. */
static void overflow_of_garbage(void)
{
    char *p = debug_test_alloc_site(40);
    ((volatile char *)p)[47] = 'Z';
    p = NULL;
    tu_collect_hard(2);
}

START_TEST(overflow_of_garbage_found_at_collection)
{
    static struct run r;
    run_child(overflow_of_garbage, NULL, &r);
    assert_aborted(&r);
    assert_has(&r, "redzone written at offset 47 (byte 0x5a");
    assert_has(&r, "found at a collection");
}
END_TEST

/* ---- freed objects ----------------------------------------------------- */

static void write_after_free_collect(void)
{
    char *p = debug_test_alloc_site(64);
    memset(p, 'b', 64);
    debug_test_first_free(p);
    ((volatile char *)p)[9] = 'W';
    cogc_collect();
}

START_TEST(write_after_free_found_at_collection)
{
    static struct run r;
    run_child(write_after_free_collect, NULL, &r);
    assert_aborted(&r);
    assert_has(&r, "cogc: debug: write after free: object 0x");
    assert_has(&r, "(64 bytes asked");
    assert_has(&r, "written at offset 9 after it was freed (byte 0x57");
    assert_has(&r, "found at a collection");
    assert_section_names(&r, "allocated at:", "debug_test_alloc_site");
    assert_section_names(&r, "freed at:", "debug_test_first_free");
}
END_TEST

static void write_after_free_reuse(void)
{
    char *p = debug_test_alloc_site(32);
    debug_test_first_free(p);
    ((volatile char *)p)[3] = 'V';
    /* Push it out of the quarantine (1024 objects) with no collection. */
    cogc_disable();
    for (int i = 0; i < 1100; i++)
        cogc_free(cogc_debug_malloc(32));
}

START_TEST(write_after_free_found_at_reuse)
{
    static struct run r;
    run_child(write_after_free_reuse, NULL, &r);
    assert_aborted(&r);
    assert_has(&r, "written at offset 3 after it was freed (byte 0x56");
    assert_has(&r, "found when it left the quarantine to be reused");
    assert_section_names(&r, "allocated at:", "debug_test_alloc_site");
    assert_section_names(&r, "freed at:", "debug_test_first_free");
}
END_TEST

static void double_free(void)
{
    void *p = debug_test_alloc_site(48);
    debug_test_first_free(p);
    debug_test_second_free(p);
}

START_TEST(double_free_reported_with_both_backtraces)
{
    static struct run r;
    run_child(double_free, NULL, &r);
    assert_aborted(&r);
    assert_has(&r, "cogc: debug: double free: cogc_free(0x");
    assert_has(&r, "(48 bytes asked");
    assert_section_names(&r, "allocated at:", "debug_test_alloc_site");
    assert_section_names(&r, "first freed at:", "debug_test_first_free");
    assert_section_names(&r, "freed again at:", "debug_test_second_free");
}
END_TEST

/* COGC_DEBUG_ON_ERROR=warn: reported, the second free ignored, the program goes on. */
static void double_free_warn(void)
{
    double_free();
    void *q = cogc_debug_malloc(48);
    if (!q)
        _exit(3);
    cogc_collect();
    _exit(7);
}

START_TEST(warn_mode_goes_on)
{
    static struct run r;
    run_child(double_free_warn, "COGC_DEBUG_ON_ERROR=warn", &r);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7, "status %#x:\n%s", r.status, r.out);
    assert_has(&r, "cogc: debug: double free");
    ck_assert_msg(!strstr(r.out, "aborting"), "aborted in warn mode:\n%s", r.out);
}
END_TEST

/* ---- COGC_DEBUG=1: every allocation ------------------------------------ */

static void env_overflow(void)
{
    char *p = cogc_malloc_atomic(200);
    __asm__ volatile("" : "+r"(p));   /* hide the size from the compiler's bounds check */
    ((volatile char *)p)[200] = 'U';
    cogc_free(p);
}

START_TEST(cogc_debug_env_checks_every_allocation)
{
    static struct run r;
    run_child(env_overflow, "COGC_DEBUG=1", &r);
    assert_aborted(&r);
    assert_has(&r, "(200 bytes asked, ");
    assert_has(&r, "atomic): redzone written at offset 200");
}
END_TEST

/* A correct program using every entry point: no report, data intact. */
static void clean_program(void)
{
    enum { N = 3000 };
    static void *keep[N];
    uint64_t seed = 1;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = (size_t)(tu_rnd(&seed) % 300);
            if (i % 97 == 0)
                n = 40000 + n;   /* large objects */
            void *p;
            switch (i % 4) {
            case 0: p = cogc_malloc(n); break;
            case 1: p = cogc_malloc_atomic(n); break;
            case 2: p = cogc_calloc(n, 1); break;
            default: p = cogc_debug_malloc(n); break;
            }
            if (!p || cogc_size(p) != n)
                _exit(4);
            memset(p, 0x80 | (i & 0x7f), n);
            if (keep[i] && i % 3 == 0)
                cogc_free(keep[i]);
            keep[i] = p;
            if (i % 5 == 0) {
                void *q = cogc_realloc(keep[i], n + 100);
                if (!q || cogc_size(q) != n + 100)
                    _exit(5);
                for (size_t b = 0; b < n; b++)
                    if (((unsigned char *)q)[b] != (0x80 | (i & 0x7f)))
                        _exit(6);
                keep[i] = q;
            }
        }
        void *u = cogc_malloc_uncollectable(64);
        cogc_collect();
        cogc_free(u);
    }
    _exit(0);
}

START_TEST(clean_program_no_report)
{
    static struct run r;
    run_child(clean_program, "COGC_DEBUG=1", &r);
    ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %#x:\n%s", r.status, r.out);
    ck_assert_msg(r.out[0] == '\0', "a clean program printed:\n%s", r.out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("debug_alloc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, overflow_found_at_free);
    tcase_add_test(tc, overflow_found_at_collection);
    tcase_add_test(tc, overflow_of_garbage_found_at_collection);
    tcase_add_test(tc, write_after_free_found_at_collection);
    tcase_add_test(tc, write_after_free_found_at_reuse);
    tcase_add_test(tc, double_free_reported_with_both_backtraces);
    tcase_add_test(tc, warn_mode_goes_on);
    tcase_add_test(tc, cogc_debug_env_checks_every_allocation);
    tcase_add_test(tc, clean_program_no_report);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
