/* The collector's use of the dirty-bit backend named by COGC_DIRTY:
 * COGC_VERIFY_DIRTY finds no missed write under a mutating workload, and
 * (mprotect) does find one made behind the backend's back. */
#define _GNU_SOURCE
#include "testutil.h"

#include <sys/mman.h>

#include "tracking.h"

static const char *want;

struct node { struct node *next; long value; long pad[2]; };

START_TEST(no_missed_writes_while_mutating)
{
    enum { N = 20000 };
    struct node **v = cogc_malloc(N * sizeof *v);
    for (long round = 0; round < 6; round++) {
        for (long i = 0; i < N; i++) {
            if (round == 0 || i % 3 == round % 3) {
                struct node *n = cogc_malloc(sizeof *n);
                ck_assert_ptr_nonnull(n);
                n->value = i * 7 + round;
                n->next = v[(i + 1) % N];
                v[i] = n;
            } else {
                v[i]->value++;
            }
        }
        cogc_collect();
    }
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    ck_assert_str_eq(s.dirty_backend, want);
    ck_assert_uint_eq(tracking_missed_writes(), 0);
}
END_TEST

START_TEST(a_write_behind_the_backend_is_caught)
{
    if (strcmp(want, "mprotect") != 0)
        return;
    long *p = cogc_malloc(64);
    p[0] = 1;
    cogc_collect();   /* checksums recorded, pages armed (read-only) */
    cogc_collect();
    unsigned long before = tracking_missed_writes();
    uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;
    ck_assert_int_eq(mprotect((void *)page, 4096, PROT_READ | PROT_WRITE), 0);
    p[1] = 0x1234;    /* invisible to the backend */
    cogc_collect();
    ck_assert_uint_gt(tracking_missed_writes(), before);
}
END_TEST

int main(void)
{
    want = getenv("COGC_DIRTY");
    if (!want)
        return 77;
    if (cogc_init() != 0) {
        perror("cogc_init");
        return 1;
    }
    struct cogc_stats s;
    cogc_get_stats(&s, sizeof s);
    if (strcmp(s.dirty_backend, want) != 0) {
        printf("SKIP: %s unavailable here (collector chose %s)\n", want, s.dirty_backend);
        return 77;
    }
    Suite *suite = suite_create("tracking");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, no_missed_writes_while_mutating);
    tcase_add_test(tc, a_write_behind_the_backend_is_caught);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
