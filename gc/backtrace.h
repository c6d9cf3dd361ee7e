/* Backtraces of the calling thread (libunwind, loaded with dlopen at the
 * first one; libgcc's _Unwind_Backtrace under ThreadSanitizer) and their printing with symbol names (dladdr).  Shared by the debug allocator (debug.c) and the
 * leak mode of the LD_PRELOAD library (bindings/malloc/leak.c). */
#ifndef COGC_BACKTRACE_H
#define COGC_BACKTRACE_H

#include <stdbool.h>
#include <stddef.h>

/* Load the unwinder now (it allocates: in the preload library, call it
 * guarded).  False, after one warning, if libunwind cannot be loaded;
 * backtrace_capture then returns no frames. */
bool backtrace_init(void);

/* Up to `max` return addresses of the caller, innermost first, without the
 * frames in the collector's own shared object (when the collector is
 * linked into the program statically, its frames are kept).  Returns how
 * many were stored: 0 without libunwind, or while another thread is
 * loading it. */
unsigned backtrace_capture(void **frames, unsigned max);

/* One line per frame to fd: "<prefix>#i ip symbol+0xoff (object)".
 * Symbol lookup takes the dynamic loader's lock: never call it with the
 * world stopped or the heap lock held. */
void backtrace_print(int fd, const char *prefix, void *const *frames, unsigned n);

/* printf to fd as one line (newline added), whole or truncated at 1 KiB. */
__attribute__((format(printf, 2, 3))) void backtrace_line(int fd, const char *fmt, ...);

#endif
