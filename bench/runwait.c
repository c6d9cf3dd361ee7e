/*
 * runwait.c - run one command and report its wall time and peak RSS.
 *
 *   runwait [-o FILE] COMMAND [ARG...]
 *
 * Forks, executes COMMAND (searched in PATH) with the inherited standard
 * streams and environment, waits for it with wait4() and writes one line
 *
 *   RUNWAIT exit=E signal=S wall_s=W maxrss_kb=K utime_s=U stime_s=T
 *           minflt=F majflt=J
 *
 * (on one line) to FILE, or to stderr without -o.  maxrss_kb is the
 * child's ru_maxrss (kilobytes, the peak resident set of the process,
 * across exec), wall_s is CLOCK_MONOTONIC from just before fork to the
 * return of wait4.  The exit status of runwait is the command's exit
 * status, 128 + N if it was killed by signal N, 127 if it could not be
 * executed and 125 for runwait's own errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fputs("usage: runwait [-o FILE] COMMAND [ARG...]\n", f);
}

int main(int argc, char **argv)
{
    const char *outpath = NULL;
    int argi = 1, status, code, sig = 0, exitcode = 0;
    FILE *out;
    pid_t pid, w;
    struct rusage ru;
    double t0, t1;

    while (argi < argc && argv[argi][0] == '-') {
        if (strcmp(argv[argi], "-o") == 0 && argi + 1 < argc) {
            outpath = argv[argi + 1];
            argi += 2;
        } else if (strcmp(argv[argi], "--") == 0) {
            argi++;
            break;
        } else if (strcmp(argv[argi], "-h") == 0
                   || strcmp(argv[argi], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 125;
        }
    }
    if (argi >= argc) {
        usage(stderr);
        return 125;
    }

    out = stderr;
    if (outpath != NULL && (out = fopen(outpath, "w")) == NULL) {
        fprintf(stderr, "runwait: %s: %s\n", outpath, strerror(errno));
        return 125;
    }
    fflush(NULL);

    t0 = mono_s();
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "runwait: fork: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0) {
        execvp(argv[argi], argv + argi);
        fprintf(stderr, "runwait: %s: %s\n", argv[argi], strerror(errno));
        _exit(127);
    }

    memset(&ru, 0, sizeof ru);
    do
        w = wait4(pid, &status, 0, &ru);
    while (w < 0 && errno == EINTR);
    t1 = mono_s();
    if (w < 0) {
        fprintf(stderr, "runwait: wait4: %s\n", strerror(errno));
        return 125;
    }

    if (WIFEXITED(status)) {
        exitcode = WEXITSTATUS(status);
        code = exitcode;
    } else if (WIFSIGNALED(status)) {
        sig = WTERMSIG(status);
        exitcode = -1;
        code = 128 + sig;
    } else {
        code = 125;
    }

    fprintf(out, "RUNWAIT exit=%d signal=%d wall_s=%.6f maxrss_kb=%ld "
            "utime_s=%.6f stime_s=%.6f minflt=%ld majflt=%ld\n",
            exitcode, sig, t1 - t0, ru.ru_maxrss, tv_s(ru.ru_utime),
            tv_s(ru.ru_stime), ru.ru_minflt, ru.ru_majflt);
    if ((out != stderr && fclose(out) != 0) || (out == stderr && fflush(out) != 0))
        return 125;
    return code;
}
