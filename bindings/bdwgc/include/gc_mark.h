/* gc_mark.h - traditional include path; see gc/gc_mark.h. */
#include "gc/gc_mark.h"
