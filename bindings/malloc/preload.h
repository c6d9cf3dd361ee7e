/* Shared between the files of the preload library. */
#ifndef COGC_PRELOAD_H
#define COGC_PRELOAD_H

#include "threads.h"

/* enum malloc_mode (gc/options.h), fixed at initialisation. */
extern int preload_mode;

/* The program's own anonymous mappings as roots (mmap_roots.c). */
void preload_mmap_init(void);
void preload_mmap_lock_for_fork(void);
void preload_mmap_unlock_after_fork(void);

#endif
