/* Race-detector annotations (docs/sanitizers.md).  ThreadSanitizer and
 * Valgrind's DRD cannot see the synchronisation that happens through
 * futexes and signals (stop-the-world) or inline assembly; at those
 * points the collector tells them with race_release (before the signal
 * or store that publishes) and race_acquire (after the wait that
 * observes it).  Without TSan the calls are one predictable branch
 * (vg_on) each; DRD and Helgrind ignore each other's requests. */
#ifndef COGC_RACE_H
#define COGC_RACE_H

#include <stddef.h>
#include <stdint.h>
#include <valgrind/drd.h>

extern int vg_on;

#if defined(__SANITIZE_THREAD__)
#define COGC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COGC_TSAN 1
#endif
#endif
#ifndef COGC_TSAN
#define COGC_TSAN 0
#endif

#if COGC_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define RACE_TSAN_ACQUIRE(a) __tsan_acquire((void *)(uintptr_t)(a))
#define RACE_TSAN_RELEASE(a) __tsan_release((void *)(uintptr_t)(a))
#else
#define RACE_TSAN_ACQUIRE(a) ((void)(a))
#define RACE_TSAN_RELEASE(a) ((void)(a))
#endif

/* Helgrind's (gc/race_hg.c). */
void race_hg_release(const volatile void *addr);
void race_hg_acquire(const volatile void *addr);
void race_hg_benign(const volatile void *addr, size_t size);

static inline void race_acquire(const volatile void *addr)
{
    RACE_TSAN_ACQUIRE(addr);
    if (__builtin_expect(vg_on, 0)) {
        ANNOTATE_HAPPENS_AFTER(addr);
        race_hg_acquire(addr);
    }
}
static inline void race_release(const volatile void *addr)
{
    RACE_TSAN_RELEASE(addr);
    if (__builtin_expect(vg_on, 0)) {
        ANNOTATE_HAPPENS_BEFORE(addr);
        race_hg_release(addr);
    }
}
/* A word used only through atomic operations, which DRD reports as
 * conflicting plain accesses. */
static inline void race_atomic_word(const volatile void *addr, size_t size)
{
    if (__builtin_expect(vg_on, 0)) {
        ANNOTATE_BENIGN_RACE_SIZED(addr, size, "atomic");
        race_hg_benign(addr, size);
    }
}

#endif
