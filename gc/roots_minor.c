#define _GNU_SOURCE
/*
 * Static roots in a minor collection: only the words changed since the
 * last collection are scanned.
 *
 * A runtime's static roots can be large and mostly unchanging (Guile
 * registers the data of every compiled module it loads: 830 KB, 108
 * thousand words, of which 11 thousand point into the heap).  Scanning
 * them all took 0.2-1.1 ms of every minor pause.  No dirty-bit backend
 * watches them, so this module keeps a copy of each range (in the
 * collector's own pages, never scanned) and compares: a block of
 * ROOT_BLOCK words that equals its copy is not pushed.
 *
 * Why an unchanged word needs no scan.  When a word was last scanned
 * (at some collection, the world stopped) its value v either
 *  (a) pointed to an object (object_find, as marking does): that
 *      collection marked it, and marks are sticky until the next full
 *      collection, which scans every root again; or
 *  (b) pointed into no chunk: no object can be there until a chunk is
 *      mapped there (a block with a word in a chunk mapped since the
 *      last minor collection is scanned: roots_note_chunk); or
 *  (c) pointed into a chunk but at no object (a free page, a block's
 *      tail, a free slot, an interior address with interior pointers
 *      off): the copy
 *      holds POISON there instead of v, so the block never compares
 *      equal and is scanned at every minor collection.
 * A minor collection only needs the young objects a root reaches; in
 * (a) the target is old, in (b) there is none.  An explicit free of a
 * marked object breaks (a) (its slot may be reused by a young object
 * while a stale copy of its address sits in a root: alloc_free_to_list,
 * alloc_forget_mark and the large-object free in alloc.c): after one the next
 * minor collection scans (and copies) every range.  roots_rescan_due
 * records it, and more new chunks than NEW_CHUNKS.
 *
 * A full collection clears the marks, and frees what a copied word once
 * reached if the word held another value at the time.  So in
 * generational mode a full collection, and the first pause of an
 * incremental cycle, push every range whole and bring the copies up to
 * date (roots_push_refresh): a word equal to its copy is marked from
 * again (by the end of the cycle: no minor collection runs before), and
 * one that differs is classified anew.  An explicit free makes the next
 * push classify every block anew and push it whole.
 *
 * A range seen for the first time is copied and classified before the
 * pause (roots_minor_prepare: the heap lock is held, so no block or
 * chunk can be taken meanwhile, and an object freed meanwhile leaves a
 * slot that still counts as an object), then pushed whole in the pause,
 * whose comparison catches the words written in between.  It is
 * classified as the pause would: with aging, a word naming an unmarked
 * object is POISON there too (else the young objects the pause marks and
 * ages would be skipped at the next minor collection, their marks gone:
 * Guile's module data, unit-roots_minor).
 *
 * Under Valgrind every range is scanned (the comparison would read words
 * memcheck considers undefined, as the scan itself does on purpose).
 * COGC_VERIFY traces from every range after a minor collection
 * (roots_minor_verify).
 */
#include "roots.h"
#include "aging.h"
#include "block.h"
#include "mark.h"
#include "object.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "vec.h"
#include "verify.h"
#include "vg.h"

#include <string.h>

#define ROOT_BLOCK 64                  /* words compared, copied and pushed together */
#define POISON ((uintptr_t)1)          /* never the address of an object */

bool roots_rescan_due = true;

#define NEW_CHUNKS 8
static struct { uintptr_t lo, hi; } new_chunks[NEW_CHUNKS];
static unsigned nnew;                  /* chunks mapped since the last minor collection */

void roots_note_chunk(uintptr_t lo, uintptr_t hi)
{
    if (nnew < NEW_CHUNKS)
        new_chunks[nnew++] = (typeof(new_chunks[0])){lo, hi};
    else
        roots_note_unmarked();
}

struct root_copy {
    uintptr_t lo, hi;
    uintptr_t *words;                  /* (hi - lo) / 8 words, os_map'ed */
    size_t bytes;                      /* mapped */
    uint64_t seen;                     /* the push that last found the range */
    bool pushed;                       /* pushed whole in a pause since the copy was made */
};

static struct {
    struct root_copy *v;
    size_t n, cap;
} copies;
static uint64_t minor_no;
static size_t pushed_words, total_words;   /* the last minor collection's (tests, stats) */

static struct root_copy *copy_for(uintptr_t lo, uintptr_t hi, bool *fresh)
{
    *fresh = false;
    for (size_t i = 0; i < copies.n; i++)
        if (copies.v[i].lo == lo && copies.v[i].hi == hi)
            return &copies.v[i];
    if (hi - lo < sizeof(uintptr_t) || ((lo | hi) & (sizeof(uintptr_t) - 1)))
        return NULL;                   /* unaligned (a registered range): scanned whole */
    size_t nwords = (hi - lo) / sizeof(uintptr_t);
    size_t bytes = (nwords * sizeof(uintptr_t) + 4095) & ~(size_t)4095;
    uintptr_t *w = os_map(bytes);
    if (!w)
        return NULL;
    if (!VEC_PUSH(copies, ((struct root_copy){lo, hi, w, bytes, minor_no, false}))) {
        os_unmap(w, bytes);
        return NULL;
    }
    *fresh = true;
    return &copies.v[copies.n - 1];
}

/* A minor collection that ages its survivors is pushing (aging.h): (a)
 * above holds only for an object marked before it, since a young one may
 * be aged and lose its mark at the next one.  So then a word that points
 * to an unmarked object is kept as POISON too, and its block pushed again
 * next time.  Not in a full collection or a cycle's start, which age
 * nothing (every block would be pushed at the next minor collection: all
 * marks are clear while they push). */
static bool young_unstable;
/* The world is stopped, so a named object's words can be read (its free
 * tag).  Not in roots_minor_prepare: a slot named then and free is pushed
 * whole in the pause that follows, which marks it (marking does not read
 * the tag), so it stays out of reuse until the next full collection. */
static bool world_stopped;

/* What the copy keeps of a word just scanned: see (a)-(c) above. */
static inline uintptr_t remembered(uintptr_t v, bool interior)
{
    if (!chunk_of(v))
        return v;
    struct object_ref o;
    if (object_find(v, interior, &o) != OBJ_FOUND || (world_stopped && is_free((const void *)o.start)))
        return POISON;
    if (young_unstable && !bit_test(o.chunk->mark, granule_bit(o.chunk, o.start)))
        return POISON;
    return v;
}

static COGC_SCANS_FOREIGN_MEMORY bool block_same(const uintptr_t *w, const uintptr_t *copy, size_t n)
{
    uintptr_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= w[i] ^ copy[i];
    return diff == 0;
}

/* An unchanged block still needs a scan if a word points into a chunk
 * mapped since the last minor collection: (b) above. */
static COGC_SCANS_FOREIGN_MEMORY bool block_in_new_chunk(const uintptr_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (unsigned k = 0; k < nnew; k++)
            if (w[i] - new_chunks[k].lo < new_chunks[k].hi - new_chunks[k].lo)
                return true;
    return false;
}

static COGC_SCANS_FOREIGN_MEMORY void block_copy(const uintptr_t *w, uintptr_t *copy, size_t n, bool interior)
{
    for (size_t i = 0; i < n; i++)
        copy[i] = remembered(w[i], interior);
}

/* Bring the copy of c up to date block by block (a block equal to its
 * copy keeps its classification, see (a)-(c) above, unless `reclassify`),
 * and push the blocks that changed, joined into runs; or the whole range
 * when `whole`. */
static void push_changed(struct root_copy *c, bool whole, bool reclassify, bool interior)
{
    const uintptr_t *w = (const uintptr_t *)c->lo;
    size_t nwords = (c->hi - c->lo) / sizeof(uintptr_t);
    size_t run = SIZE_MAX;             /* first word of the current run of changed blocks */
    for (size_t k = 0; k < nwords; k += ROOT_BLOCK) {
        size_t n = nwords - k < ROOT_BLOCK ? nwords - k : ROOT_BLOCK;
        if (!reclassify && block_same(w + k, c->words + k, n) && !(nnew && block_in_new_chunk(w + k, n))) {
            if (run != SIZE_MAX) {
                mark_push_root_range((uintptr_t)(w + run), (uintptr_t)(w + k));
                run = SIZE_MAX;
            }
            continue;
        }
        block_copy(w + k, c->words + k, n, interior);
        if (whole)
            continue;
        pushed_words += n;
        if (run == SIZE_MAX)
            run = k;
    }
    if (run != SIZE_MAX)
        mark_push_root_range((uintptr_t)(w + run), c->hi);
    if (whole) {
        mark_push_root_range(c->lo, c->hi);
        pushed_words += nwords;
    }
    c->pushed = true;
}

static void push_range(uintptr_t lo, uintptr_t hi, bool whole, bool reclassify, bool interior)
{
    total_words += (hi - lo) / sizeof(uintptr_t);
    bool fresh;
    struct root_copy *c = copy_for(lo, hi, &fresh);
    if (!c) {
        mark_push_root_range(lo, hi);  /* unaligned, or no memory for a copy: scanned whole */
        pushed_words += (hi - lo) / sizeof(uintptr_t);
        return;
    }
    c->seen = minor_no;
    /* A copy made outside a pause (roots_minor_prepare) holds values no
     * collection has marked from yet: pushed whole once. */
    push_changed(c, whole || fresh || !c->pushed, reclassify || fresh, interior);
}

static void drop_unseen(void)
{
    for (size_t i = 0; i < copies.n;) {
        if (copies.v[i].seen == minor_no) {
            i++;
            continue;
        }
        os_unmap(copies.v[i].words, copies.v[i].bytes);
        copies.v[i] = copies.v[--copies.n];
    }
}

static void push_one(uintptr_t lo, uintptr_t hi, void *arg)
{
    const bool *flags = arg;
    push_range(lo, hi, flags[0], flags[1], flags[2]);
}

/* After an explicit free of a marked object every block is classified
 * anew and pushed whole (the classification of an unchanged word may
 * name the freed object). */
static void push_ranges(bool whole)
{
    young_unstable = !whole && aging_on;
    world_stopped = true;
    minor_no++;
    pushed_words = total_words = 0;
    bool reclassify = __atomic_exchange_n(&roots_rescan_due, false, __ATOMIC_RELAXED);
    bool flags[3] = {whole || reclassify, reclassify, option(OPT_INTERIOR) != 0};
    roots_each(push_one, flags);
    young_unstable = world_stopped = false;
    drop_unseen();
    nnew = 0;
}

/* COGC_ROOT_COPIES=0: every range pushed whole, as under Valgrind. */
static bool copies_off(void) { return vg_on || !option(OPT_ROOT_COPIES); }

void roots_push_minor(void)
{
    if (copies_off()) {
        roots_push();
        return;
    }
    push_ranges(false);
}

void roots_push_refresh(void)
{
    if (copies_off()) {
        roots_push();
        return;
    }
    push_ranges(true);
}

static COGC_SCANS_FOREIGN_MEMORY void prepare_one(uintptr_t lo, uintptr_t hi, void *arg)
{
    bool fresh, interior = *(const bool *)arg;
    struct root_copy *c = copy_for(lo, hi, &fresh);
    if (!c || !fresh)
        return;
    c->seen = minor_no;
    const uintptr_t *w = (const uintptr_t *)lo;
    block_copy(w, c->words, (hi - lo) / sizeof(uintptr_t), interior);
}

/* Classified as the pause's push will (young_unstable): a young object
 * named now is unmarked, and the pause's whole push, which marks it, keeps
 * the classification of a block that compares equal; with aging the
 * object is then aged, and loses that mark at the next minor collection. */
void roots_minor_prepare(void)
{
    if (copies_off())
        return;
    bool interior = option(OPT_INTERIOR) != 0;
    young_unstable = aging_on;
    roots_each(prepare_one, &interior);
    young_unstable = false;
}

void roots_minor_counts(size_t *pushed, size_t *total)
{
    *pushed = pushed_words;
    *total = total_words;
}

static void collect_root(uintptr_t lo, uintptr_t hi, void *arg)
{
    struct {
        struct verify_root *v;
        size_t n, cap;
    } *all = arg;
    if (!VEC_PUSH(*all, ((struct verify_root){lo, hi})))
        report_warn("COGC_VERIFY: no memory for the static roots; some not verified");
}

size_t roots_minor_verify(void)
{
    struct {
        struct verify_root *v;
        size_t n, cap;
    } all = {0};
    roots_each(collect_root, &all);
    size_t bad = all.n ? verify_heap(all.v, all.n) : 0;
    if (all.v)
        os_unmap(all.v, all.cap * sizeof *all.v);
    return bad;
}
