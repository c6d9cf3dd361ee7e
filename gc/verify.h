/* COGC_VERIFY: after marking, trace the heap again from the same roots,
 * independently and with one thread, and report every reachable object
 * the collector left unmarked (it would be freed while in use). */
#ifndef COGC_VERIFY_H
#define COGC_VERIFY_H

#include <stddef.h>
#include <stdint.h>

struct verify_root { uintptr_t lo, hi; };

/* World stopped, after marking.  Returns the number of reachable unmarked
 * objects; reports each (up to a few) through report_warn. */
size_t verify_heap(const struct verify_root *roots, size_t nroots);

#endif
