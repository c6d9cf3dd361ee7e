/* javaxfc.h - traditional include path; see gc/javaxfc.h. */
#include "gc/javaxfc.h"
