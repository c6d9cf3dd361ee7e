#include "vec.h"
#include "os.h"

#include <string.h>

bool vec_reserve(void **v, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 4096 / elem;
    void *nv = os_map(ncap * elem);
    if (!nv)
        return false;
    if (*v) {
        memcpy(nv, *v, n * elem);
        os_unmap(*v, *cap * elem);
    }
    *v = nv;
    *cap = ncap;
    return true;
}
