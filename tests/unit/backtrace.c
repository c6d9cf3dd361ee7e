/* gc/backtrace.c: libunwind is loaded at the first backtrace (the
 * collector's libraries do not link it).  Built twice: against the real
 * soname, where a backtrace names this file's functions; and with a
 * soname that does not exist (BT_EXPECT_MISSING), where every backtrace
 * is empty and one warning names the library.  Under ThreadSanitizer the
 * unwinder is libgcc's and libunwind is never loaded: there both builds
 * check that backtraces name this file's functions without it. */
#include "testutil.h"

#include "backtrace.h"
#include "report.h"

#include <dlfcn.h>

static char warned[8][512];
static int nwarned;

static void on_warn(const char *msg)
{
    if (nwarned < 8)
        snprintf(warned[nwarned], sizeof warned[0], "%s", msg);
    nwarned++;
}

/* Exported (ENABLE_EXPORTS, default visibility) so that dladdr names it. */
__attribute__((visibility("default"))) TU_NOINLINE unsigned bt_test_site(void **frames, unsigned max)
{
    unsigned n = backtrace_capture(frames, max);
    TU_BARRIER();
    return n;
}

/* What backtrace_print writes for these frames. */
static void print_to(char *out, size_t cap, void *const *frames, unsigned n)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    backtrace_print(fds[1], "bt: ", frames, n);
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    close(fds[0]);
}

#if !defined(BT_EXPECT_MISSING) || TU_TSAN
static void assert_names_site(void *const *frames, unsigned n)
{
    ck_assert_uint_ge(n, 2);
    char text[4096];
    print_to(text, sizeof text, frames, n);
    ck_assert_msg(strstr(text, "bt: #0 ") && strstr(text, " bt_test_site+0x"),
                  "no frame names bt_test_site:\n%s", text);
}

START_TEST(loaded_on_first_use)
{
    report_set_proc(on_warn);
    ck_assert_msg(!dlopen(COGC_LIBUNWIND_SONAME, RTLD_NOW | RTLD_NOLOAD),
                  "%s is loaded before any backtrace was taken", COGC_LIBUNWIND_SONAME);
    void *frames[16];
    unsigned n = bt_test_site(frames, 16);
    /* Under TSan libunwind's thread-exit destructor crashed the exiting
     * thread: libgcc's unwinder is used there instead. */
    bool loaded = dlopen(COGC_LIBUNWIND_SONAME, RTLD_NOW | RTLD_NOLOAD) != NULL;
    ck_assert_msg(loaded == !TU_TSAN, "%s is %sloaded after a backtrace", COGC_LIBUNWIND_SONAME,
                  loaded ? "" : "not ");
    assert_names_site(frames, n);
    ck_assert_int_eq(nwarned, 0);
    ck_assert(backtrace_init());
}
END_TEST

/* Threads that take a backtrace and exit: the unwinder's per-thread state
 * is torn down at each exit (under TSan libunwind's crashed there). */
static void *bt_thread(void *arg)
{
    unsigned *n = arg;
    void *frames[16];
    *n = bt_test_site(frames, 16);
    char text[4096];
    print_to(text, sizeof text, frames, *n);
    if (!strstr(text, " bt_test_site+0x"))
        *n = 0;
    return NULL;
}

START_TEST(threads_exit_after_backtraces)
{
    report_set_proc(on_warn);
    for (int round = 0; round < 8; round++) {
        pthread_t t[4];
        unsigned n[4] = { 0 };
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, bt_thread, &n[i]), 0);
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
            ck_assert_msg(n[i] >= 2, "thread %d of round %d: no frame names bt_test_site", i, round);
        }
    }
    ck_assert_int_eq(nwarned, 0);
}
END_TEST
#else
START_TEST(missing_library_is_reported_once)
{
    report_set_proc(on_warn);
    ck_assert(!backtrace_init());
    void *frames[16];
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(bt_test_site(frames, 16), 0);
    ck_assert_int_eq(nwarned, 1);
    ck_assert_msg(strstr(warned[0], "backtraces unavailable") && strstr(warned[0], COGC_LIBUNWIND_SONAME),
                  "warning does not say what is missing: %s", warned[0]);
    char text[64];
    print_to(text, sizeof text, frames, 0);
    ck_assert_str_eq(text, "");
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("backtrace");
    TCase *tc = tcase_create("core");
#if !defined(BT_EXPECT_MISSING) || TU_TSAN
    tcase_add_test(tc, loaded_on_first_use);
    tcase_add_test(tc, threads_exit_after_backtraces);
#else
    tcase_add_test(tc, missing_library_is_reported_once);
#endif
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
