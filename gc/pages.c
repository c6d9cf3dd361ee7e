#include "pages.h"
#include "aging.h"
#include "bookmark.h"
#include "os.h"
#include "tracking.h"

#define NBINS 64 /* bins[1..63]: runs of exactly n pages; bins[64]: longer */

static struct page_desc *bins[NBINS + 1];
static size_t free_pages, released_pages;
static uint64_t epoch;

void pages_set_epoch(uint64_t collections) { epoch = collections; }
size_t pages_free_count(void) { return free_pages; }
size_t pages_released_count(void) { return released_pages; }

static unsigned bin_of(size_t n) { return n < NBINS ? (unsigned)n : NBINS; }

static void run_link(struct page_desc *pd, size_t n)
{
    struct chunk *c = chunk_of_pd(pd);
    size_t i = pd_index(pd);
    pd->state = PS_FREE;
    pd->npages = (uint32_t)n;
    pd->head = (uint32_t)i;
    pd->free_since = (uint32_t)epoch;
    struct page_desc *tail = &c->pd[i + n - 1];
    tail->state = PS_FREE;
    tail->head = (uint32_t)i;
    unsigned b = bin_of(n);
    pd->prev = NULL;
    pd->next = bins[b];
    if (bins[b])
        bins[b]->prev = pd;
    bins[b] = pd;
    free_pages += n;
}

static void run_unlink(struct page_desc *pd)
{
    unsigned b = bin_of(pd->npages);
    if (pd->prev)
        pd->prev->next = pd->next;
    else
        bins[b] = pd->next;
    if (pd->next)
        pd->next->prev = pd->prev;
    pd->next = pd->prev = NULL;
    free_pages -= pd->npages;
}

static bool run_has_black(struct page_desc *pd, size_t n)
{
    struct chunk *c = chunk_of_pd(pd);
    size_t i = pd_index(pd);
    for (size_t k = i; k < i + n; k++)
        if (bit_test(c->black, k))
            return true;
    return false;
}

static struct page_desc *take(struct page_desc *pd, size_t n, bool *zero)
{
    size_t m = pd->npages;
    run_unlink(pd);
    if (m > n)
        run_link(pd + n, m - n);
    bool z = true;
    uint32_t head = (uint32_t)pd_index(pd);
    for (size_t k = 0; k < n; k++) {
        /* No longer free; the caller gives the first page its real state. */
        pd[k].state = PS_CONT;
        pd[k].head = head;
        if (!(pd[k].flags & PF_ZERO))
            z = false;
        if (pd[k].flags & PF_RELEASED)
            released_pages--;
        pd[k].flags = 0;
    }
    *zero = z;
    return pd;
}

struct page_desc *pages_alloc(size_t n, bool avoid_black, bool *zero)
{
    struct page_desc *fallback = NULL;
    for (unsigned b = bin_of(n); b <= NBINS; b++) {
        for (struct page_desc *pd = bins[b]; pd; pd = pd->next) {
            if (pd->npages < n)
                continue;
            if (avoid_black && run_has_black(pd, n)) {
                if (!fallback)
                    fallback = pd;
                continue;
            }
            return take(pd, n, zero);
        }
    }
    return fallback && !avoid_black ? take(fallback, n, zero) : NULL;
}

void pages_free(struct page_desc *pd, size_t n)
{
    struct chunk *c = chunk_of_pd(pd);
    size_t i = pd_index(pd);
    if (pd->flags & PF_AGED)
        aging_block_freed(pd);
    /* Pages in swap are dropped at once, not read back to be reused. */
    uint8_t flags = 0;
    if (bookmark_pages_freed(c, i, n) && tracking_release((void *)pd_addr(pd), n * PAGE_SIZE) == 0) {
        tracking_released((void *)pd_addr(pd), n * PAGE_SIZE);
        flags = PF_ZERO | PF_RELEASED;
        released_pages += n;
    }
    for (size_t k = 0; k < n; k++) {
        pd[k].state = PS_FREE;
        pd[k].flags = flags;
        pd[k].head = (uint32_t)i;
    }
    if (i > c->first && c->pd[i - 1].state == PS_FREE) {
        struct page_desc *left = &c->pd[c->pd[i - 1].head];
        run_unlink(left);
        n += left->npages;
        i = pd_index(left);
    }
    if (i + n < c->npages && c->pd[i + n].state == PS_FREE) {
        struct page_desc *right = &c->pd[i + n];
        run_unlink(right);
        n += right->npages;
    }
    run_link(&c->pd[i], n);
}

void pages_add_chunk(struct chunk *c)
{
    for (size_t k = c->first; k < c->npages; k++) {
        c->pd[k].state = PS_FREE;
        c->pd[k].flags = PF_ZERO;
    }
    run_link(&c->pd[c->first], c->npages - c->first);
}

/* Unreleased pages of the runs of 16+ pages free since `before`. */
static size_t idle_pages(const struct page_desc *pd, uint64_t before)
{
    if (pd->free_since > before)
        return 0;
    size_t fresh = 0;
    for (size_t k = 0; k < pd->npages; k++)
        if (!(pd[k].flags & PF_RELEASED))
            fresh++;
    return fresh;
}

size_t pages_idle(uint64_t before)
{
    size_t n = 0;
    for (unsigned b = 16; b <= NBINS; b++)
        for (struct page_desc *pd = bins[b]; pd; pd = pd->next)
            n += idle_pages(pd, before);
    return n;
}

size_t pages_release_idle(uint64_t before, size_t keep)
{
    size_t released = 0;
    for (unsigned b = 16; b <= NBINS; b++) {
        for (struct page_desc *pd = bins[b]; pd; pd = pd->next) {
            size_t n = pd->npages, fresh = idle_pages(pd, before);
            if (!fresh || free_pages - released_pages < keep + fresh)
                continue;
            if (tracking_release((void *)pd_addr(pd), n * PAGE_SIZE) != 0)
                continue;
            tracking_released((void *)pd_addr(pd), n * PAGE_SIZE);
            for (size_t k = 0; k < n; k++)
                pd[k].flags = PF_ZERO | PF_RELEASED;
            released_pages += fresh;
            released += fresh;
        }
    }
    return released;
}

bool pages_unmap_empty_chunk(void)
{
    for (struct page_desc *pd = bins[NBINS]; pd; pd = pd->next) {
        struct chunk *c = chunk_of_pd(pd);
        if (c->single || pd_index(pd) != c->first || pd->npages != c->npages - c->first)
            continue;
        for (size_t k = 0; k < pd->npages; k++)
            if (pd[k].flags & PF_RELEASED)
                released_pages--;
        run_unlink(pd);
        chunk_delete(c);
        return true;
    }
    return false;
}
