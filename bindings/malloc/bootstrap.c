#define _GNU_SOURCE
#include "bootstrap.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Address space reserved once, touched only as it is handed out. */
#define REGION_SIZE ((size_t)256 << 20)
#define MIN_SHIFT 5
#define NBINS 33

struct header {
    uint32_t bin;       /* block of 2^bin bytes, header included */
    uint32_t offset;    /* aligned blocks: bytes from the block's user start */
    uint64_t magic;
};

#define MAGIC 0x626f6f7463676363ull

static char *region;
static size_t used;
static void *bins[NBINS];
static volatile int lock;

static void spin_lock(void)
{
    while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&lock, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

static void spin_unlock(void) { __atomic_store_n(&lock, 0, __ATOMIC_RELEASE); }

void boot_lock_for_fork(void) { spin_lock(); }
void boot_unlock_after_fork(void) { spin_unlock(); }

/* The raw system call: the library's own mmap is the program's interposer. */
static char *reserve(void)
{
    long r = syscall(SYS_mmap, NULL, REGION_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return r < 0 && r > -4096 ? NULL : (char *)r;
}

static unsigned bin_for(size_t total)
{
    unsigned b = MIN_SHIFT;
    while (b < NBINS && ((size_t)1 << b) < total)
        b++;
    return b;
}

static void *take(unsigned b)
{
    void *blk = bins[b];
    if (blk) {
        bins[b] = *(void **)blk;
        return blk;
    }
    size_t size = (size_t)1 << b;
    /* Each block aligned to its size (at most a page), so aligned requests
     * are simple. */
    size_t align = size < 4096 ? size : 4096;
    size_t at = (used + align - 1) & ~(align - 1);
    if (at + size > REGION_SIZE || at + size < at)
        return NULL;
    used = at + size;
    return region + at;
}

void *boot_memalign(size_t align, size_t size)
{
    if (align < 16)
        align = 16;
    size_t total = size + sizeof(struct header) + (align > 16 ? align : 0);
    if (total < size) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned b = bin_for(total);
    if (b >= NBINS) {
        errno = ENOMEM;
        return NULL;
    }
    spin_lock();
    if (!region)
        region = reserve();
    char *blk = region ? take(b) : NULL;
    spin_unlock();
    if (!blk) {
        errno = ENOMEM;
        return NULL;
    }
    char *user = blk + sizeof(struct header);
    uintptr_t aligned = ((uintptr_t)user + align - 1) & ~(uintptr_t)(align - 1);
    struct header *h = (struct header *)blk;
    h->bin = b;
    h->offset = 0;
    h->magic = MAGIC;
    if ((char *)aligned != user) {
        struct header *ah = (struct header *)aligned - 1;
        ah->bin = b;
        ah->offset = (uint32_t)((char *)aligned - user);
        ah->magic = MAGIC;
    }
    return (void *)aligned;
}

void *boot_malloc(size_t size) { return boot_memalign(16, size); }

bool boot_owns(const void *p)
{
    char *r = __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    return r && (const char *)p >= r + sizeof(struct header) && (const char *)p < r + REGION_SIZE;
}

static struct header *block_of(const void *p, char **user)
{
    struct header *h = (struct header *)p - 1;
    *user = (char *)p - h->offset;
    return (struct header *)*user - 1;
}

size_t boot_usable_size(const void *p)
{
    char *user;
    struct header *h = block_of(p, &user);
    return ((size_t)1 << h->bin) - sizeof(struct header) - (size_t)((const char *)p - user);
}

void boot_free(void *p)
{
    char *user;
    struct header *h = block_of(p, &user);
    if (h->magic != MAGIC)
        return;   /* not a live bootstrap block: leave it alone */
    h->magic = 0;
    unsigned b = h->bin;
    spin_lock();
    *(void **)h = bins[b];
    bins[b] = h;
    spin_unlock();
}
