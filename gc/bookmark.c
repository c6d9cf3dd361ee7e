#include "bookmark.h"
#include "aging.h"
#include "../include/cogc.h"
#include "block.h"
#include "incremental.h"
#include "lock.h"
#include "object.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "vec.h"
#include "watch.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

size_t bookmark_pages_out;
static uint64_t pages_sent, bookmarks_set;
static bool any_bookmark;
static bool interior;
static uint32_t phase = 1;   /* mark phases; 0 never names one */

/* The target-page lists of the evicted pages, end to end; a page's list
 * is dead once the page is back or freed, and the dead are squeezed out
 * when they are the majority. */
static struct {
    uintptr_t *v;
    size_t n, cap;
} targets;
static size_t targets_dead;

static size_t granule_words(const struct chunk *c) { return (size_t)c->npages * GRANULES_PER_PAGE / 64; }
static bool watched(const struct chunk *c, size_t i) { return (c->watch[i >> 6] >> (i & 63)) & 1; }

/* ---- choosing and sending out victims ---------------------------------- */

/* The target pages of the victim being scanned. */
static uintptr_t found[PAGE_SIZE / sizeof(uintptr_t)];
static size_t nfound;

static void bookmark_target(uintptr_t v)
{
    struct object_ref o;
    if (object_find(v, interior, &o) != OBJ_FOUND)
        return;
    /* Its mark must stay: minor collections do not read the page again.
     * (A victim was not written since the collection before the last,
     * so what it points to is old already; this keeps that so whatever
     * the choice of victims.) */
    aging_keep(o.block);
    size_t bit = granule_bit(o.chunk, o.start);
    uint64_t m = (uint64_t)1 << (bit & 63);
    uintptr_t page = o.start & ~(uintptr_t)(PAGE_SIZE - 1);
    if (!(o.chunk->bookmark[bit >> 6] & m)) {
        o.chunk->bookmark[bit >> 6] |= m;
        bookmarks_set++;
        any_bookmark = true;
        /* Sent out while a cycle marks: if this page's bookmarked objects
         * were marked already in this phase, this one was not; the next
         * page out that reaches it marks them again. */
        atomic_store_explicit(&o.chunk->out[page_index(o.chunk, page)].expanded, 0, memory_order_relaxed);
    }
    if (!nfound || found[nfound - 1] != page)
        found[nfound++] = page;
}

/* The program may be writing these words now: a word read before a store
 * is covered by the write report that brings the page back. */
static COGC_SCANS_FOREIGN_MEMORY void scan_words(uintptr_t lo, uintptr_t hi)
{
    for (const volatile uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p < hi; p++)
        bookmark_target(*p);
}

/* Whether obj is on a free list, read like scan_words: the program may be
 * taking it off its thread's list and writing it now (alloc_fast); that
 * write is reported by the page's write tracking, which TSan cannot see. */
static COGC_SCANS_FOREIGN_MEMORY bool victim_free(uintptr_t obj)
{
    return ((const volatile uintptr_t *)obj)[1] == free_tag((const void *)obj);
}

/* Every word of page i that belongs to an object not on a free list (a
 * free object holds only its link and tag).  Watched pages hold objects of
 * the normal kind only. */
static void scan_victim(struct chunk *c, size_t i)
{
    struct page_desc *pd = page_block(c, i);
    uintptr_t pa = page_addr(c, i), pe = pa + PAGE_SIZE;
    aging_keep(pd);
    if (pd->state == PS_LARGE) {
        scan_words(pa, pe);
        return;
    }
    if (pd->state != PS_SMALL)
        return;
    uintptr_t base = pd_addr(pd);
    size_t size = pd->objsize;
    for (size_t k = pa > base ? (pa - base) / size : 0; k < pd->nobjs; k++) {
        uintptr_t obj = base + k * size;
        if (obj >= pe)
            break;
        /* An object begun on a page already out is not read for its tag. */
        bool head_out = obj < pa && bookmark_page_is_out(c, i - 1);
        if (!head_out && victim_free(obj))
            continue;
        scan_words(obj > pa ? obj : pa, obj + size < pe ? obj + size : pe);
    }
}

static int cmp_uptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* The live lists into a new array.  Not in place: the lists lie in the
 * order their pages went out, not the order the chunks are walked in,
 * and moving one down in walking order wrote over others not moved yet
 * (a page's list then named another's targets, and a full collection
 * left what its page pointed to unmarked).  Without memory for the copy,
 * the dead stay. */
#define FOR_EACH_PAGE_OUT(c, i)                                        \
    for (struct chunk *c = chunk_list(); c; c = c->next)               \
        for (size_t i = c->first; i < c->npages; i++)                  \
            if (bookmark_page_is_out(c, i))

static void squeeze_targets(void)
{
    size_t live = 0;
    FOR_EACH_PAGE_OUT(c, i)
        live += c->out[i].n;
    size_t cap = round_up((live ? live : 1) * sizeof *targets.v, PAGE_SIZE);
    uintptr_t *v = os_map(cap);
    if (!v)
        return;
    size_t n = 0;
    FOR_EACH_PAGE_OUT(c, i) {
        struct out_page *op = &c->out[i];
        memcpy(&v[n], &targets.v[op->off], op->n * sizeof *targets.v);
        op->off = (uint32_t)n;
        n += op->n;
    }
    os_unmap(targets.v, targets.cap * sizeof *targets.v);
    targets.v = v;
    targets.cap = cap / sizeof *targets.v;
    targets.n = n;
    targets_dead = 0;
}

/* Scan page i and keep its list; false when there is no room for it. */
static bool list_victim(struct chunk *c, size_t i)
{
    nfound = 0;
    scan_victim(c, i);
    qsort(found, nfound, sizeof *found, cmp_uptr);
    size_t n = 0;
    for (size_t k = 0; k < nfound; k++)
        if (!n || found[n - 1] != found[k])
            found[n++] = found[k];
    if (targets_dead > targets.n / 2)
        squeeze_targets();
    if (targets.n + n > UINT32_MAX)
        return false;
    size_t off = targets.n;
    for (size_t k = 0; k < n; k++)
        if (!VEC_PUSH(targets, found[k])) {
            targets.n = off;
            return false;
        }
    c->out[i] = (struct out_page){.off = (uint32_t)off, .n = (uint32_t)n};
    return true;
}

static bool candidate(const struct chunk *c, size_t i)
{
    return watched(c, i) && !bookmark_page_is_out(c, i);
}

#define AGES 256   /* collections since a page was last written, capped */

static unsigned age_of(const struct chunk *c, size_t i, uint16_t now)
{
    unsigned a = (uint16_t)(now - c->age[i]);
    return a < AGES ? a : AGES - 1;
}

/* Scan and list pages [from, to) of c, and count them out; returns the
 * pages listed (fewer when memory for the lists ran out). */
static size_t list_run(struct chunk *c, size_t from, size_t to)
{
    size_t i = from;
    for (; i < to; i++) {
        if (!list_victim(c, i))
            break;
        c->evicted[i >> 6] |= (uint64_t)1 << (i & 63);
    }
    bookmark_pages_out += i - from;
    pages_sent += i - from;
    return i - from;
}

#define BATCH 1024   /* pages chosen and scanned per hold of the heap lock */

struct run {
    uintptr_t addr;
    size_t len;
};

/* Write runs to swap, without the heap lock when the caller allows it
 * (~15 us a page here: other threads need not wait for it). */
static void page_out(const struct run *runs, size_t n, bool may_unlock)
{
    if (may_unlock)
        heap_unlock();
    for (size_t i = 0; i < n; i++)
        os_pageout((void *)runs[i].addr, runs[i].len);
    if (may_unlock)
        heap_lock();
}

/* Choose up to `want` (at most BATCH) victims, oldest first, list them and
 * count them out; their runs go to runs[].  Returns the pages chosen. */
static size_t choose(size_t want, struct run *runs, size_t *nruns, bool *no_memory)
{
    uint16_t now = watch_epoch();
    size_t hist[AGES] = {0};
    for (struct chunk *c = chunk_list(); c; c = c->next)
        for (size_t i = c->first; i < c->npages; i++)
            if (candidate(c, i))
                hist[age_of(c, i, now)]++;
    /* Oldest first; not pages written (or first watched) in the interval
     * before the last collection: sending those out made GCBench depth 22
     * at 290 MiB fault them back (74k major faults instead of 53k). */
    unsigned cut = AGES - 1;
    size_t older = 0;
    while (cut > 1 && older + hist[cut] < want)
        older += hist[cut--];
    size_t at_cut = want - older < hist[cut] ? want - older : hist[cut];
    size_t chosen = 0;
    *nruns = 0;
    for (struct chunk *c = chunk_list(); c && chosen < want; c = c->next) {
        size_t run = 0;   /* first page of the run + 1; 0: none */
        for (size_t i = c->first; i <= c->npages; i++) {
            bool take = false;
            if (i < c->npages && chosen + (run ? i - (run - 1) : 0) < want && candidate(c, i)) {
                unsigned a = age_of(c, i, now);
                take = a > cut || (a == cut && a >= 1 && at_cut && at_cut--);
            }
            if (take) {
                if (!run)
                    run = i + 1;
                continue;
            }
            if (!run)
                continue;
            size_t n = list_run(c, run - 1, i);
            if (n)
                runs[(*nruns)++] = (struct run){page_addr(c, run - 1), n * PAGE_SIZE};
            chosen += n;
            if (n < i - (run - 1)) {
                *no_memory = true;
                return chosen;
            }
            run = 0;
        }
    }
    return chosen;
}

/* Runs listed and counted out but not yet handed to the kernel (only
 * cooled): an allocating thread lists its victims at once and writes at
 * most a bounded number of pages to swap per call, the rest later (the
 * next call, or the notice thread). */
#define PENDING 4096
static struct run pending[PENDING];
static size_t npending, pending_head;
static size_t bookmark_pending;   /* pages in pending[] */

size_t bookmark_pending_pages(void) { return bookmark_pending; }

/* Page out pending runs, oldest first, until `max` pages went (a run is
 * split); the heap lock dropped during the kernel's work with may_unlock. */
size_t bookmark_send_pending(size_t max, bool may_unlock)
{
    struct run now[64];
    size_t n = 0, pages = 0;
    while (npending && n < 64 && pages < max) {
        struct run *r = &pending[pending_head];
        size_t take = r->len / PAGE_SIZE;
        if (take > max - pages)
            take = max - pages;
        now[n++] = (struct run){r->addr, take * PAGE_SIZE};
        pages += take;
        r->addr += take * PAGE_SIZE;
        r->len -= take * PAGE_SIZE;
        if (!r->len) {
            pending_head = (pending_head + 1) % PENDING;
            npending--;
        }
    }
    bookmark_pending -= pages;
    page_out(now, n, may_unlock);
    return pages;
}

#define HOLD_WAIT_NS (3 * 1000000ull)

/* The marker's step lock, waiting at most HOLD_WAIT_NS: the background
 * marker takes it again at once after each step, so a bare try fails
 * nearly always while it runs (and the kernel then chose the victims:
 * GCBench depth 22 at 290 MiB, 20k major faults in a run where every
 * listing during the pressure cycle failed so), but a step can also take
 * long (its own page faults reclaim at the limit). */
static bool hold_steps_briefly(void)
{
    uint64_t t0 = os_now_ns();
    while (!incremental_hold_steps(false)) {
        if (os_now_ns() - t0 >= HOLD_WAIT_NS)
            return false;
        sched_yield();
    }
    return true;
}

enum hold { HOLD_WAIT, HOLD_TRY, HOLD_BRIEFLY };

/* Up to `want` victims (at most BATCH) chosen while no marking step of a
 * cycle runs, the step lock had as `how` says.  0 when nothing was chosen
 * or the lock was not had. */
static size_t choose_batch(size_t want, enum hold how, struct run *runs, size_t *nruns, bool *no_memory)
{
    bool cycle = incremental_marking();
    if (cycle && !(how == HOLD_BRIEFLY ? hold_steps_briefly() : incremental_hold_steps(how == HOLD_WAIT)))
        return 0;
    size_t got = choose(want < BATCH ? want : BATCH, runs, nruns, no_memory);
    if (cycle)
        incremental_resume_steps();
    return got;
}

size_t bookmark_evict(size_t want, bool may_unlock, bool wait_for_marker)
{
    /* This call's own: another caller fills its list while this one,
     * the heap lock dropped, hands its runs to the kernel (16 KiB). */
    struct run runs[BATCH];
    size_t sent = 0;
    bool no_memory = false;
    interior = option(OPT_INTERIOR) != 0;
    while (sent < want && !no_memory && watch_enabled()) {
        /* While a cycle marks, between two of its steps: marking meets the
         * pages out from then on (bookmark_target, list_victim: the phase
         * stamps of what changes are reset).  Every watched page is armed
         * during a cycle too (watch_arm_all, then settled fresh blocks),
         * so a write to a page out is still reported.  A step can take
         * long on a loaded machine (the marker descheduled): an allocating
         * thread does not wait for it. */
        size_t nruns, got = choose_batch(want - sent, wait_for_marker ? HOLD_WAIT : HOLD_TRY, runs, &nruns, &no_memory);
        if (!got)
            break;
        sent += got;
        /* Listed and counted out: collections no longer read them, whether
         * or not the kernel has taken them yet.  Writing them to swap takes
         * ~15 us a page here; the program need not wait for it. */
        page_out(runs, nruns, may_unlock);
    }
    if (no_memory)
        report_warn("COGC_BOOKMARK: no memory for bookmark lists; %zu pages not sent out", want - sent);
    return sent;
}

size_t bookmark_list_out(size_t want)
{
    struct run runs[BATCH];
    size_t listed = 0;
    bool no_memory = false;
    interior = option(OPT_INTERIOR) != 0;
    while (listed < want && !no_memory && watch_enabled() && npending + BATCH <= PENDING) {
        size_t nruns, got = choose_batch(want - listed, HOLD_BRIEFLY, runs, &nruns, &no_memory);
        if (!got)
            break;
        listed += got;
        /* To the inactive list now, so that the kernel's own reclaim takes
         * these first should it come before they are written out. */
        for (size_t r = 0; r < nruns; r++) {
            os_cold((void *)runs[r].addr, runs[r].len);
            pending[(pending_head + npending++) % PENDING] = runs[r];
            bookmark_pending += runs[r].len / PAGE_SIZE;
        }
    }
    if (no_memory)
        report_warn("COGC_BOOKMARK: no memory for bookmark lists; %zu pages not sent out", want - listed);
    return listed;
}

/* ---- marking ------------------------------------------------------------- */

void bookmark_begin_marking(void)
{
    phase = phase + 1 ? phase + 1 : 1;
    if (bookmark_pages_out || !any_bookmark)
        return;
    for (struct chunk *c = chunk_list(); c; c = c->next)
        for (size_t w = 0; w < granule_words(c); w++)
            if (c->bookmark[w])
                c->bookmark[w] = 0;
    any_bookmark = false;
    targets.n = targets_dead = 0;
}

/* True when *stamp already names this phase; else it does from now on. */
static bool once_per_phase(_Atomic uint32_t *stamp)
{
    return atomic_load_explicit(stamp, memory_order_relaxed) == phase ||
           atomic_exchange_explicit(stamp, phase, memory_order_relaxed) == phase;
}

void bookmark_reached(struct chunk *c, size_t i, bookmark_page_fn fn, void *ctx)
{
    struct out_page *op = &c->out[i];
    if (once_per_phase(&op->reached))
        return;
    for (uint32_t k = 0; k < op->n; k++) {
        uintptr_t page = targets.v[op->off + k];
        struct chunk *t = chunk_of(page);
        /* Many pages point into the same ones (a tree's levels): each
         * target page's bookmarked objects are marked once a phase. */
        if (t && !once_per_phase(&t->out[page_index(t, page)].expanded))
            fn(ctx, t, page_index(t, page));
    }
}

/* ---- coming back, freeing -------------------------------------------- */

void bookmark_page_back(struct chunk *c, size_t i)
{
    uint64_t m = (uint64_t)1 << (i & 63);
    if (c->evicted[i >> 6] & m) {
        c->evicted[i >> 6] &= ~m;
        bookmark_pages_out--;
        targets_dead += c->out[i].n;
    }
}

bool bookmark_block_is_out(const struct page_desc *b)
{
    const struct chunk *c = chunk_of_pd(b);
    size_t first = pd_index(b), n = c->single ? c->npages - first : b->npages;
    for (size_t i = first; i < first + n; i++)
        if (bookmark_page_is_out(c, i))
            return true;
    return false;
}

/* Clear bits [from, to) of map, writing only words that hold one (the
 * bookmark bitmaps are not populated until used). */
static void clear_bits(uint64_t *map, size_t from, size_t to)
{
    for (size_t b = from; b < to;) {
        size_t w = b >> 6, lo = b & 63, hi = to - (w << 6) < 64 ? to - (w << 6) : 64;
        uint64_t m = (hi == 64 ? ~(uint64_t)0 : ((uint64_t)1 << hi) - 1) & ~(((uint64_t)1 << lo) - 1);
        if (map[w] & m)
            map[w] &= ~m;
        b = (w << 6) + hi;
    }
}

bool bookmark_pages_freed(struct chunk *c, size_t i, size_t n)
{
    if (!bookmark_pages_out && !any_bookmark)
        return false;
    size_t out = 0;
    for (size_t k = i; k < i + n; k++)
        if (bookmark_page_is_out(c, k)) {
            bookmark_page_back(c, k);
            out++;
        }
    if (any_bookmark)
        clear_bits(c->bookmark, i * GRANULES_PER_PAGE, (i + n) * GRANULES_PER_PAGE);
    return out != 0;
}

void bookmark_fill_stats(struct cogc_stats *s)
{
    s->pages_evicted = pages_sent;
    s->pages_out = bookmark_pages_out;
    s->bookmarks_set = bookmarks_set;
}
