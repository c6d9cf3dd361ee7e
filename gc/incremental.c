#define _GNU_SOURCE
#include "incremental.h"
#include "collect.h"
#include "lock.h"
#include "mark.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "threads.h"
#include "watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>

/* Bytes scanned per step: long enough to amortise the lock, short enough
 * that the final pause never waits long for a step to end. */
#define STEP_BYTES ((size_t)256 << 10)
/* Paced mode: bytes scanned per byte allocated. */
#define PACE 4

static bool enabled;
static volatile bool marking;
static pthread_mutex_t step_mu = PTHREAD_MUTEX_INITIALIZER;

static bool bg_wanted, bg_started;
static pthread_t bg_thread;
static int cycles;   /* futex word: bumped when a cycle starts */

bool incremental_enabled(void) { return enabled; }
bool incremental_marking(void) { return __atomic_load_n(&marking, __ATOMIC_ACQUIRE); }
bool incremental_background(void) { return bg_started; }

bool incremental_set(bool on)
{
    if (on && !watch_enable())
        return false;
    enabled = on;
    /* One core: the program and a marker thread would take turns anyway;
     * allocation-paced steps give the same work without the switches. */
    bg_wanted = on && os_ncpus() > 1;
    return true;
}

/* Out of work: settle the blocks made fresh since the last round (their
 * reachable objects are marked concurrently instead of in the final pause),
 * and take the pages written while marking, re-armed at once, to mark from
 * them while the program runs, so that the final pause has only what came
 * after the last round.  Rounds go on while the marking they lead to, or
 * the allocation since the last one, is more than the final pause could
 * do within the pause target: what one round finds can be a whole
 * structure hanging from one written page (a tree built top down hangs
 * each new subtree from a node the marker has passed), so a lull in the
 * marking says nothing of what the program built meanwhile.  A program
 * that never lets up ends the cycle by its allowance (collect.c), one
 * round's worth behind.  Heap lock and step_mu held.  Returns true when
 * there is new work. */
#define MAX_ROUNDS 256
static unsigned rounds;
static size_t scanned_since_round;   /* step_mu */
static size_t allocated_at_round;    /* heap lock */
static size_t allocated_at_roots;    /* heap lock: at the cycle's start or its last root scan */

/* Marking the final pause can do within the pause target: a marker scans
 * a few GB/s here; a quarter of that leaves room for the roots, the
 * written pages and slower machines. */
static size_t small_work(void) { return (size_t)option(OPT_PAUSE_TARGET_US) << 8; }

static _Atomic size_t scanned_in_cycle;   /* step_mu; read unlocked */

static size_t step(size_t budget)
{
    size_t n = mark_step(budget);
    scanned_since_round += n;
    atomic_store_explicit(&scanned_in_cycle, scanned_in_cycle + n, memory_order_relaxed);
    return n;
}

size_t incremental_scanned(void) { return atomic_load_explicit(&scanned_in_cycle, memory_order_relaxed); }

static bool another_round(void)
{
    size_t allocated = collect_allocated_since_full();
    if (!incremental_marking() || rounds >= MAX_ROUNDS ||
        (rounds > 0 && scanned_since_round <= small_work() && allocated - allocated_at_round <= small_work()))
        return false;
    rounds++;
    scanned_since_round = 0;
    allocated_at_round = allocated;
    /* What the program allocated since the roots were last scanned may
     * hang from them alone (a tree built bottom up, its subtrees held by
     * the stack): unless the roots are scanned again, all of it is the
     * final pause's to mark (Guile's gcbench.scm: 3.5-4.4 ms of a 4-5 ms
     * final pause). */
    if (!mark_pending() && (rounds == 1 || allocated - allocated_at_roots > small_work())) {
        collect_cycle_roots();
        allocated_at_roots = allocated;
    }
    watch_settle_fresh();
    mark_undefer_settled();
    /* SIZE_MAX: the backend cannot take and re-arm atomically, the final
     * pause rescans every written page. */
    (void)watch_preclean();
    return mark_pending();
}

/* The reachable objects of unsettled fresh blocks are marked in the final
 * pause: settle them whenever there are more than a fraction of what the
 * pause target allows, so a program that allocates faster than the marker
 * runs out of work (a big structure built during the cycle) does not leave
 * them all to that pause.  Heap lock and step_mu held. */
static bool settle_due(void) { return watch_fresh_pages() > (size_t)option(OPT_PAUSE_TARGET_US) / 8; }

static void settle_if_due(void)
{
    if (incremental_marking() && settle_due()) {
        watch_settle_fresh();
        mark_undefer_settled();
    }
}

/* Out of work: another round, or (same lock hold, so that nothing is
 * built between the decision and the pause) the final pause.  Returns
 * true when there is new work. */
static bool round_or_finish(void)
{
    heap_lock();
    pthread_mutex_lock(&step_mu);
    bool more = another_round();
    pthread_mutex_unlock(&step_mu);
    if (!more && incremental_marking())
        collect_locked(COLLECT_CYCLE_DONE);
    heap_unlock();
    return more;
}

static void *bg_main(void *arg)
{
    (void)arg;
    int seen = 0;
    for (;;) {
        while (__atomic_load_n(&cycles, __ATOMIC_ACQUIRE) == seen)
            os_futex_wait(&cycles, seen);
        seen = __atomic_load_n(&cycles, __ATOMIC_ACQUIRE);
        for (;;) {
            pthread_mutex_lock(&step_mu);
            size_t n = incremental_marking() ? step(STEP_BYTES) : 1;
            bool over = !incremental_marking();
            pthread_mutex_unlock(&step_mu);
            if (over)
                break;
            if (settle_due()) {
                heap_lock();
                pthread_mutex_lock(&step_mu);
                settle_if_due();
                pthread_mutex_unlock(&step_mu);
                heap_unlock();
                continue;
            }
            if (n == 0) {
                if (round_or_finish())
                    continue;
                break;
            }
        }
    }
    return NULL;
}

static void start_bg(void)
{
    if (threads_create_unregistered(&bg_thread, bg_main, NULL) == 0)
        bg_started = true;
    else
        report_warn("incremental collection: no background marker thread; marking in allocation-paced steps");
}

void incremental_cycle_started(void)
{
    rounds = 0;
    scanned_since_round = 0;
    atomic_store_explicit(&scanned_in_cycle, 0, memory_order_relaxed);
    allocated_at_round = allocated_at_roots = collect_allocated_since_full();
    __atomic_store_n(&marking, true, __ATOMIC_RELEASE);
    if (bg_wanted && !bg_started)
        start_bg();
    if (bg_started) {
        __atomic_add_fetch(&cycles, 1, __ATOMIC_RELEASE);
        os_futex_wake(&cycles, 1);
    }
}

void incremental_enter_final(void) { pthread_mutex_lock(&step_mu); }

void incremental_cycle_finished(void)
{
    __atomic_store_n(&marking, false, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&step_mu);
}

bool incremental_paced_step(size_t allocated, bool wait)
{
    if (wait)
        pthread_mutex_lock(&step_mu);
    else if (pthread_mutex_trylock(&step_mu) != 0)
        return false;
    size_t budget = allocated > SIZE_MAX / PACE ? SIZE_MAX : allocated * PACE;
    settle_if_due();
    step(budget < STEP_BYTES ? STEP_BYTES : budget);
    bool done = !mark_pending() && !another_round();
    pthread_mutex_unlock(&step_mu);
    return done;
}

bool incremental_hold_steps(bool wait)
{
    if (wait)
        return pthread_mutex_lock(&step_mu) == 0;
    return pthread_mutex_trylock(&step_mu) == 0;
}
void incremental_resume_steps(void) { pthread_mutex_unlock(&step_mu); }

void incremental_before_fork(void) { pthread_mutex_lock(&step_mu); }
void incremental_after_fork_parent(void) { pthread_mutex_unlock(&step_mu); }

void incremental_after_fork_child(void)
{
    pthread_mutex_init(&step_mu, NULL);
    bg_started = false;   /* a cycle in progress goes on in paced steps */
    bg_wanted = false;
}
