/* roots_registers: objects whose only reference is in a CPU register or a
 * stack slot of a live frame must survive collections, whether the thread
 * holding them is the collecting one or a thread stopped by it. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#define OBJ_BYTES 200

static TU_NOINLINE void *make_obj(uint64_t seed)
{
    void *p = cogc_malloc(OBJ_BYTES);
    if (p)
        tu_fill(p, OBJ_BYTES, seed);
    return p;
}

static int obj_ok(void *p, uint64_t seed)
{
    return p && cogc_base(p) == p && cogc_size(p) >= OBJ_BYTES && tu_check(p, OBJ_BYTES, seed);
}

/* ---- callee-saved registers of the collecting thread ---------------------- */

#if defined(__x86_64__)
/* Five objects, each pinned to one callee-saved register, no copy anywhere
 * in memory (the frames of make_obj are wiped by tu_clear_stack). */
static TU_NOINLINE int registers_across_collect(void)
{
    register void *a __asm__("rbx") = make_obj(11);
    __asm__ volatile("" : "+r"(a));
    register void *b __asm__("r12") = make_obj(12);
    __asm__ volatile("" : "+r"(a), "+r"(b));
    register void *c __asm__("r13") = make_obj(13);
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c));
    register void *d __asm__("r14") = make_obj(14);
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
    register void *e __asm__("r15") = make_obj(15);
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e));
    tu_clear_stack();
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e));
    for (int i = 0; i < 3; i++) {
        cogc_collect();
        __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e));
        tu_churn(OBJ_BYTES, 20000);
        __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e));
    }
    int bad = 0;
    bad += !obj_ok(a, 11);
    bad += !obj_ok(b, 12);
    bad += !obj_ok(c, 13);
    bad += !obj_ok(d, 14);
    bad += !obj_ok(e, 15);
    return bad;
}
#else
static TU_NOINLINE int registers_across_collect(void)
{
    void *volatile a = make_obj(11);
    tu_clear_stack();
    for (int i = 0; i < 3; i++) {
        cogc_collect();
        tu_churn(OBJ_BYTES, 20000);
    }
    return !obj_ok(a, 11);
}
#endif

START_TEST(test_registers_collecting_thread)
{
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(registers_across_collect(), 0);
}
END_TEST

/* ---- registers of a thread stopped while spinning ------------------------ */

static atomic_int spin_done;
static atomic_int spin_started;

#if defined(__x86_64__)
/* Spins without calling anything, pointers only in r12..r15, until
 * spin_done is set. Returns the number of damaged objects. */
static TU_NOINLINE int spin_with_registers(void)
{
    register void *a __asm__("r12") = make_obj(21);
    __asm__ volatile("" : "+r"(a));
    register void *b __asm__("r13") = make_obj(22);
    __asm__ volatile("" : "+r"(a), "+r"(b));
    register void *c __asm__("r14") = make_obj(23);
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c));
    register void *d __asm__("r15") = make_obj(24);
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
    tu_clear_stack();
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
    atomic_store(&spin_started, 1);
    while (!atomic_load_explicit(&spin_done, memory_order_acquire))
        __asm__ volatile("pause" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
    int bad = 0;
    bad += !obj_ok(a, 21);
    bad += !obj_ok(b, 22);
    bad += !obj_ok(c, 23);
    bad += !obj_ok(d, 24);
    return bad;
}
#else
static TU_NOINLINE int spin_with_registers(void)
{
    void *volatile a = make_obj(21);
    tu_clear_stack();
    atomic_store(&spin_started, 1);
    while (!atomic_load_explicit(&spin_done, memory_order_acquire))
        ;
    return !obj_ok(a, 21);
}
#endif

static void *collector_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&spin_started))
        sched_yield();
    for (int i = 0; i < 10; i++) {
        cogc_collect();
        tu_churn(OBJ_BYTES, 10000);
    }
    atomic_store_explicit(&spin_done, 1, memory_order_release);
    return NULL;
}

static void *spinner_thread(void *arg)
{
    *(int *)arg = spin_with_registers();
    return NULL;
}

START_TEST(test_registers_main_thread_stopped)
{
    atomic_store(&spin_done, 0);
    atomic_store(&spin_started, 0);
    pthread_t t;
    ck_assert_int_eq(cogc_pthread_create(&t, NULL, collector_thread, NULL), 0);
    int bad = spin_with_registers();
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_registers_other_thread_stopped)
{
    atomic_store(&spin_done, 0);
    atomic_store(&spin_started, 0);
    pthread_t t;
    int bad = -1;
    ck_assert_int_eq(cogc_pthread_create(&t, NULL, spinner_thread, &bad), 0);
    while (!atomic_load(&spin_started))
        sched_yield();
    for (int i = 0; i < 10; i++) {
        tu_clear_stack();
        cogc_collect();
        tu_churn(OBJ_BYTES, 10000);
    }
    atomic_store_explicit(&spin_done, 1, memory_order_release);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- stack slots of live frames ------------------------------------------ */

#define DEPTH 300

/* Each frame keeps one object in a volatile local (a stack slot) and some
 * padding; at the bottom, collect; on the way up each frame checks its own. */
static TU_NOINLINE int recurse_hold(int depth)
{
    void *volatile mine = make_obj(1000 + (uint64_t)depth);
    volatile uint64_t pad[32];
    for (int i = 0; i < 32; i++)
        pad[i] = tu_word((uint64_t)depth, (uint64_t)i);
    int bad = 0;
    if (depth > 0) {
        bad = recurse_hold(depth - 1);
    } else {
        tu_clear_stack();
        for (int i = 0; i < 3; i++) {
            cogc_collect();
            tu_churn(OBJ_BYTES, 20000);
        }
    }
    for (int i = 0; i < 32; i++)
        if (pad[i] != tu_word((uint64_t)depth, (uint64_t)i))
            bad++;
    return bad + !obj_ok(mine, 1000 + (uint64_t)depth);
}

START_TEST(test_stack_slots_deep_recursion)
{
    ck_assert_int_eq(recurse_hold(DEPTH), 0);
}
END_TEST

/* The same with collections triggered by allocation only (no cogc_collect). */
static TU_NOINLINE int recurse_hold_alloc(int depth)
{
    void *volatile mine = make_obj(5000 + (uint64_t)depth);
    int bad = 0;
    if (depth > 0)
        bad = recurse_hold_alloc(depth - 1);
    else
        tu_churn(OBJ_BYTES, 400000); /* ~80 MB: several collections */
    return bad + !obj_ok(mine, 5000 + (uint64_t)depth);
}

START_TEST(test_stack_slots_allocation_triggered)
{
    struct cogc_stats s0 = tu_stats();
    ck_assert_int_eq(recurse_hold_alloc(100), 0);
    struct cogc_stats s1 = tu_stats();
    ck_assert_msg(s1.collections > s0.collections,
                  "80 MB of allocation triggered no collection (%llu -> %llu)",
                  (unsigned long long)s0.collections, (unsigned long long)s1.collections);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("roots_registers");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_registers_collecting_thread);
    tcase_add_test(tc, test_registers_main_thread_stopped);
    tcase_add_test(tc, test_registers_other_thread_stopped);
    tcase_add_test(tc, test_stack_slots_deep_recursion);
    tcase_add_test(tc, test_stack_slots_allocation_triggered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    cogc_init();
    return tu_run_suite(suite());
}
