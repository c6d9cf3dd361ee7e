/* The calling function's callee-saved registers, stored where a scan of
 * its stack frame sees them: the collecting thread's own registers may
 * hold the only copy of a pointer its callers still use.  Call in the
 * noinline function whose frame is scanned, and keep the buffer alive
 * (regs_keep) until the scan is over. */
#ifndef COGC_REGS_H
#define COGC_REGS_H

#include <stdint.h>

struct regs_spill {
    uintptr_t w[8];
};

static inline __attribute__((always_inline)) void regs_spill(struct regs_spill *r)
{
    /* Every callee-saved register saved by the calling function's
     * prologue, into its frame (on any target the compiler supports). */
    __builtin_unwind_init();
#if defined(__x86_64__)
    /* And their current values into the buffer, whatever the prologue
     * chose to save (rbx, rbp, r12-r15: the System V callee-saved set). */
    __asm__ volatile("movq %%rbx, 0(%0)\n\t"
                     "movq %%rbp, 8(%0)\n\t"
                     "movq %%r12, 16(%0)\n\t"
                     "movq %%r13, 24(%0)\n\t"
                     "movq %%r14, 32(%0)\n\t"
                     "movq %%r15, 40(%0)"
                     :
                     : "r"(r->w)
                     : "memory");
#else
    for (unsigned i = 0; i < sizeof r->w / sizeof r->w[0]; i++)
        r->w[i] = 0;
#endif
}

/* The buffer is read (by the scan) until here. */
#define regs_keep(r) __asm__ volatile("" : : "m"(*(r)) : "memory")

#endif
