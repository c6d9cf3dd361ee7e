/* gc_typed.h - traditional include path; see gc/gc_typed.h. */
#include "gc/gc_typed.h"
