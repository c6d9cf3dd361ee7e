#define _GNU_SOURCE
#include "report.h"
#include "options.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cogc_warn_proc warn_proc;

void report_set_proc(cogc_warn_proc proc) { warn_proc = proc; }

static void emit(const char *prefix, const char *fmt, va_list ap, int to_proc)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s", prefix);
    if (n < 0)
        return;
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    if (to_proc && warn_proc) {
        warn_proc(buf);
        return;
    }
    size_t len = strlen(buf);
    if (len < sizeof buf - 1)
        buf[len++] = '\n';
    ssize_t w = write(2, buf, len);
    (void)w;
}

void report_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("cogc: warning: ", fmt, ap, 1);
    va_end(ap);
}

void report_misuse(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("cogc: error: ", fmt, ap, 1);
    va_end(ap);
    if (option(OPT_ON_ERROR) == ON_ERROR_ABORT)
        abort();
}

void report_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("cogc: fatal: ", fmt, ap, 0);
    va_end(ap);
    abort();
}

void report_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap, 0);
    va_end(ap);
}
