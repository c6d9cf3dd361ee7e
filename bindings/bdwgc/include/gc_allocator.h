// gc_allocator.h - traditional include path; see gc/gc_allocator.h.
#include "gc/gc_allocator.h"
