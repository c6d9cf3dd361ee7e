/* Helpers for the bdwgc API tests: they build against cogc's gc.h and,
 * unchanged, against Debian's (then run on cogc's libgc.so.1). */
#ifndef BDWTEST_H
#define BDWTEST_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__clang__)
#define BT_NOINLINE __attribute__((noinline))
#else
#define BT_NOINLINE __attribute__((noinline, noclone))
#endif

/* Wipe stale copies of pointers below the caller. */
static BT_NOINLINE void bt_clear_stack(void)
{
    char buf[32 * 1024];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

static __attribute__((unused)) void bt_gc(void)
{
    bt_clear_stack();
    GC_gcollect();
}

/* A conservative collector may keep an object for a collection or two
 * through a stale copy of its address: collect until cond, boundedly. */
#define BT_GC_UNTIL(cond)                                   \
    do {                                                    \
        for (int bt_i_ = 0; bt_i_ < 8 && !(cond); bt_i_++) \
            bt_gc();                                        \
    } while (0)

static __attribute__((unused)) int bt_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}

#endif
