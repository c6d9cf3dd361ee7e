/*
 * cogc_preload.h - what libcogc-preload.so adds for programs that know it
 * is there (docs/preload.md).  A program that may run without it looks the
 * function up: dlsym(RTLD_DEFAULT, "cogc_report_leaks").
 */
#ifndef COGC_PRELOAD_PUBLIC_H
#define COGC_PRELOAD_PUBLIC_H

#ifdef __cplusplus
extern "C" {
#endif

/* Find the objects that are unreachable now and were never freed, and
 * print them grouped by allocation site (COGC_LOG, else stderr), largest
 * first; nothing is freed.  Sites are known in COGC_MALLOC_MODE=leak only.
 * Returns the number of leaked objects, or -1 with errno = EAGAIN when the
 * heap is not usable from this thread. */
long cogc_report_leaks(void);

#ifdef __cplusplus
}
#endif

#endif
