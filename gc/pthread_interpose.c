/* Built into libcogc.so only: programs linked against it get every thread
 * registered, with no source change. */
#define _GNU_SOURCE
#include "../include/cogc.h"
#include "threads.h"

COGC_API int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (threads_creating())
        return threads_create_libc(t, attr, fn, arg);
    return threads_create(t, attr, fn, arg, true);
}
