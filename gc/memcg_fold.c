/* The memory cgroup's reclaim counts kept current: see memcg_fold.h. */
#include "memcg_fold.h"
#include "notice.h"
#include "os.h"
#include "report.h"
#include "threads.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

/* Every FOLD_MS from half the limit up (usage falls and climbs back by
 * tens of megabytes in a few milliseconds when the collector gives pages
 * back and the program reads its data again: a fold thread that idled a
 * second whenever usage dipped below three quarters let 3 runs of 20 be
 * killed); below half, usage is looked at every IDLE_MS.  Measured
 * (cold-heap workload at 200 MiB, COGC_BOOKMARK=1, real-time priority):
 * OOM-killed in 8 runs of 20 with the kernel's own folding, 0 of 20 with
 * memory.stat read every 10 ms from outside, 2 of 130 every 50 ms.  A fold
 * costs ~30 us. */
#define FOLD_MS 10
#define IDLE_MS 100
#define REFIND_NS ((uint64_t)1000000000)

static _Atomic uint64_t folds;
static struct notice_memcg memcg = {.usage_fd = -1, .stat_fd = -1};   /* the thread's own */

static bool near_limit(void) { return notice_memcg_usage(&memcg) >= memcg.limit / 2; }

/* The pages this thread's stack uses stay in memory: if they went to swap,
 * the thread would fault at its limit like the program, in the same
 * starved reclaim, and fold nothing. */
static void keep_stack_resident(void)
{
    volatile char probe[32 << 10];
    for (size_t i = 0; i < sizeof probe; i += 4096)
        probe[i] = 0;
    uintptr_t lo = (uintptr_t)probe & ~(uintptr_t)4095;
    (void)os_keep_resident((void *)lo, ((uintptr_t)probe + sizeof probe - lo + 8191) & ~(uintptr_t)4095);
}

static void *fold_main(void *arg)
{
    (void)arg;
    keep_stack_resident();
    int never = 0;
    uint64_t refound = os_now_ns();
    for (;;) {
        bool near = memcg.limit && near_limit();
        if (near && notice_memcg_fold_stats(&memcg) == 0)
            atomic_fetch_add_explicit(&folds, 1, memory_order_relaxed);
        os_futex_wait_ns(&never, 0, (uint64_t)(near ? FOLD_MS : IDLE_MS) * 1000000);
        if (os_now_ns() - refound >= REFIND_NS) {
            /* The process may have moved to another cgroup. */
            struct notice_memcg now;
            if (notice_memcg_find(&now) != 0 || strcmp(now.stat, memcg.stat) != 0) {
                notice_memcg_close(&memcg);
                memcg = now;
                notice_memcg_open(&memcg);
            } else {
                memcg.limit = now.limit;
            }
            refound = os_now_ns();
        }
    }
    return NULL;
}

void memcg_fold_start(void)
{
    notice_memcg_close(&memcg);   /* a forked child's copies of the parent's */
    if (notice_memcg_find(&memcg) != 0 || notice_memcg_open(&memcg) != 0)
        return;
    pthread_t t;
    if (threads_create_unregistered(&t, fold_main, NULL) != 0)
        report_warn("COGC_BOOKMARK: no memcg statistics thread; the cgroup's reclaim may go by stale counts");
}

uint64_t memcg_fold_count(void) { return atomic_load_explicit(&folds, memory_order_relaxed); }
