/* The re-entry guard of the preload library.  While it is set on a thread,
 * that thread is inside the collector or one of its helpers (dlsym,
 * pthread_getattr_np, libunwind), and any malloc-family call it makes is
 * served by the bootstrap allocator instead of recursing into the heap. */
#ifndef COGC_PRELOAD_GUARD_H
#define COGC_PRELOAD_GUARD_H

extern __thread int preload_guard __attribute__((tls_model("initial-exec")));

static inline void guard_enter(void) { preload_guard++; }
static inline void guard_leave(void) { preload_guard--; }
static inline int guarded(void) { return __builtin_expect(preload_guard != 0, 0); }

#endif
