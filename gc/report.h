/* Messages to the user: misuse reports (through the warning procedure) and
 * fatal errors.  Async-signal-safe formatting into a fixed buffer. */
#ifndef COGC_REPORT_H
#define COGC_REPORT_H

#include "../include/cogc.h"

__attribute__((format(printf, 1, 2))) void report_warn(const char *fmt, ...);
/* A misuse of the API: warned, or aborts under COGC_ON_ERROR=abort. */
__attribute__((format(printf, 1, 2))) void report_misuse(const char *fmt, ...);
__attribute__((format(printf, 1, 2), noreturn)) void report_fatal(const char *fmt, ...);
/* Plain line on stderr (statistics). */
__attribute__((format(printf, 1, 2))) void report_line(const char *fmt, ...);
void report_set_proc(cogc_warn_proc proc);

#endif
