// libgctba.so.1: GC_throw_bad_alloc alone, for programs using gc_cpp.h's
// classes that do not want libgccpp.so.1's global operator new / delete.
#include <gc_cpp.h>

#include <new>

void GC_CALL GC_throw_bad_alloc() { throw std::bad_alloc(); }
