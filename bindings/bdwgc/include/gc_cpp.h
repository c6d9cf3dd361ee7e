// gc_cpp.h - traditional include path; see gc/gc_cpp.h.
#include "gc/gc_cpp.h"
