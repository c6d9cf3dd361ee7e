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

/* Out of work: take the pages written while marking, re-armed at once,
 * and mark from them while the program runs, so that the final pause has
 * only the writes since the last round to rescan.  Rounds go on while
 * they find more than the pause target allows, up to MAX_PRECLEAN.
 * Returns true when there is new work. */
#define MAX_PRECLEAN 4
static unsigned precleans;
static bool precleaned_enough;

/* precleans and precleaned_enough under the heap lock: the next cycle's
 * start resets them (TSan saw the unlocked accesses race with it). */
static bool preclean(void)
{
    heap_lock();
    if (precleans >= MAX_PRECLEAN || precleaned_enough) {
        heap_unlock();
        return false;
    }
    pthread_mutex_lock(&step_mu);
    size_t pages = incremental_marking() ? watch_preclean() : SIZE_MAX;
    pthread_mutex_unlock(&step_mu);
    precleans++;
    /* A few microseconds a page in the final pause: another round only if
     * this one found more than the target allows. */
    if (pages != SIZE_MAX)
        precleaned_enough = pages <= (size_t)option(OPT_PAUSE_TARGET_US) / 4;
    heap_unlock();
    return pages != SIZE_MAX;   /* true: mark what it pushed first */
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
            size_t n = incremental_marking() ? mark_step(STEP_BYTES) : 1;
            bool over = !incremental_marking();
            pthread_mutex_unlock(&step_mu);
            if (over)
                break;
            if (n == 0) {
                if (preclean())
                    continue;
                /* Nothing left: the final pause, by this thread. */
                heap_lock();
                if (incremental_marking())
                    collect_locked(COLLECT_CYCLE_DONE);
                heap_unlock();
                break;
            }
        }
    }
    return NULL;
}

static void start_bg(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (threads_create_unregistered(&bg_thread, bg_main, NULL) == 0)
        bg_started = true;
    else
        report_warn("incremental collection: no background marker thread; marking in allocation-paced steps");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void incremental_cycle_started(void)
{
    precleans = 0;
    precleaned_enough = false;
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

bool incremental_paced_step(size_t allocated)
{
    if (pthread_mutex_trylock(&step_mu) != 0)
        return false;
    size_t budget = allocated > SIZE_MAX / PACE ? SIZE_MAX : allocated * PACE;
    mark_step(budget < STEP_BYTES ? STEP_BYTES : budget);
    bool done = !mark_pending();
    pthread_mutex_unlock(&step_mu);
    return done;
}

void incremental_before_fork(void) { pthread_mutex_lock(&step_mu); }
void incremental_after_fork_parent(void) { pthread_mutex_unlock(&step_mu); }

void incremental_after_fork_child(void)
{
    pthread_mutex_init(&step_mu, NULL);
    bg_started = false;   /* a cycle in progress goes on in paced steps */
    bg_wanted = false;
}
