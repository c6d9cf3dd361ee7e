/* The collector's side of the dirty-bit interface (backends/dirty.h): the
 * backend chosen at start maps heap chunks; tracking is armed only for a
 * consumer that needs it (COGC_VERIFY_DIRTY today; incremental and
 * generational collection next), so a stop-the-world heap pays nothing. */
#ifndef COGC_TRACKING_H
#define COGC_TRACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chunk;

/* Choose the backend (COGC_DIRTY, else the best available). */
int tracking_init(void);
const char *tracking_backend_name(void);
/* Chunk memory, from the backend when one is selected. */
void *tracking_map(size_t size, size_t align);
void tracking_unmap(void *p, size_t size);
/* A chunk was created / is about to be deleted (heap lock held). */
void tracking_chunk_added(struct chunk *c);
void tracking_chunk_removed(struct chunk *c);
/* Pages given back to the kernel: their contents changed legitimately. */
void tracking_released(void *p, size_t len);
/* Give heap pages back to the kernel through the backend (they read as
 * zero afterwards): MADV_DONTNEED, or MADV_REMOVE for device memory. */
int tracking_release(void *p, size_t len);
/* World stopped, at the end of a collection: COGC_VERIFY_DIRTY's check. */
void tracking_at_collection(void);
/* For watch.c (generational and incremental collection).  can_watch: a
 * backend is active and not taken by COGC_VERIFY_DIRTY.  watch_range: track [lo, lo+len) disarmed.  take:
 * the pages written since last armed, left disarmed (callback per run).
 * arm/disarm_range: selective arming; commit: arm everything at once if
 * the backend has no selective arming and some range asked for it. */
bool tracking_can_watch(void);
/* The backend reports only written pages (caps.precise). */
bool tracking_precise(void);
bool tracking_backend_uses_sigsegv(void);
/* A write to an armed page runs our code (dirty.h: user_write_faults). */
bool tracking_user_write_faults(void);
int tracking_prepare_syscall_write(void *p, size_t len);
int tracking_watch_range(uintptr_t lo, size_t len);
void tracking_unwatch_range(uintptr_t lo, size_t len);
/* Pages written since last armed, or TRACKING_ALL_WRITTEN: the heap was
 * armed whole while the program ran since the last take (the runs passed
 * to fn are then not all), so every watched page counts as written. */
#define TRACKING_ALL_WRITTEN (-2L)
long tracking_take(void (*fn)(void *ctx, void *addr, size_t len), void *ctx);
/* The backend's atomic collect (report and re-arm), -1 with errno ENOTSUP
 * when its collect is not atomic with respect to writers. */
long tracking_collect_atomic(void (*fn)(void *ctx, void *addr, size_t len), void *ctx);
int tracking_disarm_range(uintptr_t lo, size_t len);
/* Arm a range by the next tracking_arm_commit (or disarm), merged with the
 * ranges queued before it when they touch.  Heap lock held. */
void tracking_arm_later(uintptr_t lo, size_t len);
/* program_running: not in a pause right after a take (tracking_take). */
void tracking_arm_commit(bool program_running);
/* Pages whose contents changed but were not reported dirty, so far. */
unsigned long tracking_missed_writes(void);

#endif
