/* gc_gcj.h - traditional include path; see gc/gc_gcj.h. */
#include "gc/gc_gcj.h"
