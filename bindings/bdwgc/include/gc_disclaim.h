/* gc_disclaim.h - traditional include path; see gc/gc_disclaim.h. */
#include "gc/gc_disclaim.h"
