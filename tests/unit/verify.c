/* The heap verifier finds a reachable object whose mark was lost, and
 * says which object and which word points to it. */
#define _GNU_SOURCE
#include "testutil.h"

#include "chunk.h"
#include "mark.h"
#include "verify.h"

static void *slot[4];
static char last[512];
static int warnings;

static void capture(const char *msg)
{
    warnings++;
    snprintf(last, sizeof last, "%s", msg);
}

START_TEST(unmarked_reachable_object_is_reported)
{
    ck_assert_int_eq(cogc_add_roots(slot, slot + 4), 0);
    long *p = cogc_malloc(4 * sizeof(long));
    p[0] = 42;
    slot[1] = p;
    cogc_collect();
    size_t n;
    const struct verify_root *roots = mark_roots(&n);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_eq(verify_heap(roots, n), 0);

    struct chunk *c = chunk_of((uintptr_t)p);
    bit_clear_atomic(c->mark, granule_bit(c, (uintptr_t)p));   /* a lost mark */
    cogc_set_warn_proc(capture);
    size_t bad = verify_heap(roots, n);
    cogc_set_warn_proc(NULL);
    ck_assert_uint_eq(bad, 1);
    ck_assert_int_eq(warnings, 1);
    char addr[32];
    snprintf(addr, sizeof addr, "%p", (void *)p);
    ck_assert_msg(strstr(last, addr) != NULL, "report does not name %s: %s", addr, last);
    ck_assert_msg(strstr(last, "not marked") != NULL, "report: %s", last);
    bit_set_atomic(c->mark, granule_bit(c, (uintptr_t)p));
}
END_TEST

int main(void)
{
    if (cogc_init() != 0)
        return 1;
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, unmarked_reachable_object_is_reported);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
