/* gc.h - the traditional include path; see gc/gc.h. */
#include "gc/gc.h"
