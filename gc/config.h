/* Fixed geometry of the heap.  Everything else derives from these. */
#ifndef COGC_CONFIG_H
#define COGC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT     12
#define PAGE_SIZE      ((size_t)1 << PAGE_SHIFT)
#define GRANULE_SHIFT  4                       /* 16-byte granules: malloc alignment */
#define GRANULE        ((size_t)1 << GRANULE_SHIFT)
#define CHUNK_SHIFT    22                      /* 4 MiB chunks, aligned to their size */
#define CHUNK_SIZE     ((size_t)1 << CHUNK_SHIFT)
#define CHUNK_MASK     (CHUNK_SIZE - 1)
#define GRANULES_PER_PAGE (PAGE_SIZE / GRANULE)

/* Objects up to MAX_SMALL bytes live in size-class blocks; larger ones get
 * whole pages.  32 KiB keeps page rounding of large objects under 12.5 %. */
#define MAX_SMALL      ((size_t)32768)

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define COLD        __attribute__((cold, noinline))

/* For the few functions that read memory the program does not own on
 * purpose: the conservative scan reads whole thread stacks (including
 * AddressSanitizer's redzones between locals), the data and bss of every
 * loaded object (redzones around instrumented globals), and words other
 * threads wrote before they were stopped.  Those reads are not bugs, so
 * the sanitizers must not instrument them; everything else stays checked.
 * In a build without sanitizers the attribute changes nothing.  See
 * docs/sanitizers.md. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define COGC_NO_SANITIZE_ADDRESS __attribute__((no_sanitize("address")))
#define COGC_NO_SANITIZE_THREAD  __attribute__((no_sanitize("thread")))
#else
#define COGC_NO_SANITIZE_ADDRESS
#define COGC_NO_SANITIZE_THREAD
#endif
/* Scanning foreign memory: neither checked for addressability nor as a
 * data race (a stopped thread's stack and registers were written by it). */
#define COGC_SCANS_FOREIGN_MEMORY COGC_NO_SANITIZE_ADDRESS COGC_NO_SANITIZE_THREAD

/* A function compiled for the machine's instruction set extensions too,
 * picked at load time by an ifunc resolver.  Not under ThreadSanitizer:
 * GCC instruments the resolver (__tsan_func_entry), and the dynamic
 * loader runs it before TSan's runtime is initialised: every program
 * crashed while libcogc.so was relocated. */
#if defined(__SANITIZE_THREAD__)
#define COGC_TARGET_CLONES(...)
#else
#define COGC_TARGET_CLONES(...) __attribute__((target_clones(__VA_ARGS__)))
#endif

static inline size_t round_up(size_t n, size_t align) { return (n + align - 1) & ~(align - 1); }

#endif
