/* Helgrind's requests for race.h, in a file of their own: helgrind.h and
 * drd.h define the same ANNOTATE_ names differently. */
#include <stddef.h>
#include <valgrind/helgrind.h>

void race_hg_release(const volatile void *addr);
void race_hg_acquire(const volatile void *addr);
void race_hg_benign(const volatile void *addr, size_t size);

void race_hg_release(const volatile void *addr) { ANNOTATE_HAPPENS_BEFORE((void *)addr); }
void race_hg_acquire(const volatile void *addr) { ANNOTATE_HAPPENS_AFTER((void *)addr); }
void race_hg_benign(const volatile void *addr, size_t size) { VALGRIND_HG_DISABLE_CHECKING((void *)addr, size); }
