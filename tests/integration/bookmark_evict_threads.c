/* Two threads send pages out with cogc_bookmark_evict at the same time
 * while the main thread writes old pages back and collects.  Each call
 * drops the heap lock while the kernel takes the pages: the list of runs
 * it hands the kernel must be its own, not one another call is filling
 * (under ThreadSanitizer that sharing was a reported data race; see
 * gc/bookmark.c bookmark_evict).  Asserts that both threads sent pages out
 * and that the list is intact (COGC_VERIFY=1 re-traces after each
 * collection, evicted pages included). */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdatomic.h>

#define NODES (100 * 1000)
#define SEED 0xe71c7ull

static struct tu_node *head;
static uintptr_t *hidden;   /* libc memory, not a root: node addresses */
static atomic_int stop;

struct evictor {
    size_t calls, sent_bytes;
    int error;
};

static void *evict_loop(void *arg)
{
    struct evictor *e = arg;
    while (!atomic_load(&stop)) {
        size_t sent = 0;
        if (cogc_bookmark_evict(1u << 20, &sent) != 0 && errno != EBUSY) {
            e->error = errno;
            break;
        }
        e->calls++;
        e->sent_bytes += sent;
        sched_yield();
    }
    return NULL;
}

/* Through the saved addresses: a store of the value already there still
 * brings an evicted page back, and makes it young again. */
static TU_NOINLINE void touch_every(size_t step)
{
    for (size_t i = 0; i < NODES; i += step) {
        volatile uint64_t *m = &((struct tu_node *)TU_UNHIDE(hidden[i]))->magic;
        *m = TU_NODE_MAGIC;
    }
}

START_TEST(concurrent_evictions)
{
    head = tu_list_make(NODES, SEED);
    hidden = malloc(NODES * sizeof *hidden);
    ck_assert(head && hidden);
    size_t i = 0;
    for (struct tu_node *x = head; x; x = x->next)
        hidden[i++] = TU_HIDE(x);
    ck_assert_uint_eq(i, NODES);
    cogc_collect();
    cogc_collect();

    struct evictor ev[2] = {{0}};
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(cogc_pthread_create(&t[k], NULL, evict_loop, &ev[k]), 0);
    int rounds = tu_light() ? 8 : 24;
    for (int r = 0; r < rounds; r++) {
        touch_every(r % 2 ? 7 : 3);
        tu_churn(64, 5000);
        cogc_collect();
        cogc_collect();
    }
    atomic_store(&stop, 1);
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(pthread_join(t[k], NULL), 0);

    for (int k = 0; k < 2; k++) {
        printf("evictor %d: %zu calls, %zu KiB sent out\n", k, ev[k].calls, ev[k].sent_bytes >> 10);
        ck_assert_msg(ev[k].error == 0, "evictor %d: cogc_bookmark_evict: %s", k, strerror(ev[k].error));
        ck_assert_msg(ev[k].sent_bytes > 0, "evictor %d sent nothing out in %zu calls", k, ev[k].calls);
    }
    ck_assert_uint_eq(tu_list_bad(head, NODES, SEED), 0);
    free(hidden);
}
END_TEST

int main(void)
{
    tu_require_dirty_backend();
    Suite *su = suite_create("bookmark_evict_threads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, concurrent_evictions);
    suite_add_tcase(su, tc);
    return tu_run_suite(su);
}
