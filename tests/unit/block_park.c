/* Parked blocks (gc/block.c): a block whose objects were all live when
 * swept leaves the sweep cursor's list until the marks are rebuilt; an
 * explicit free puts it back; a full collection puts every one back, and
 * its dead objects are reused.  And the cursor survives the block it
 * stands on being freed by an explicit free's sweep. */
#include "testutil.h"

#include "block.h"
#include "object.h"
#include "lock.h"

#include <stdlib.h>

struct node {
    struct node *next;
    uintptr_t v;
    uintptr_t pad[2];   /* 32 bytes */
};

#define NODES 20000
#define NODE_BLOCKS (NODES * sizeof(struct node) / 4096)
#define FREED 64
#define KEEP 200

static struct node *list;   /* a static root */

static TU_NOINLINE void build(uintptr_t *hidden)
{
    for (size_t i = 0; i < NODES; i++) {
        struct node *n = cogc_malloc(sizeof *n);
        ck_assert_ptr_nonnull(n);
        n->v = i ^ 0x5a5a;
        n->next = list;
        list = n;
        hidden[i] = TU_HIDE(n);
    }
}

/* Garbage of the nodes' size class: the sweep cursor passes their blocks. */
static TU_NOINLINE void churn(size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_nonnull(cogc_malloc(sizeof(struct node)));
}

/* The list intact but for the FREED nodes from position `gone` (none: NODES). */
static void check_list(size_t gone)
{
    size_t n = 0;
    for (struct node *p = list; p; p = p->next, n++) {
        if (n == gone)
            n += FREED;
        ck_assert_uint_eq(p->v, (NODES - 1 - n) ^ 0x5a5a);
    }
    ck_assert_uint_eq(n, NODES);
}

/* Unlink and free the FREED nodes after the k-th (allocated one after
 * another: a block or two); their addresses, hidden, into out. */
static TU_NOINLINE void free_after(size_t k, uintptr_t *out)
{
    struct node *p = list;
    for (size_t i = 0; i < k; i++)
        p = p->next;
    for (int i = 0; i < FREED; i++) {
        struct node *x = p->next;
        p->next = x->next;
        out[i] = TU_HIDE(x);
        cogc_free(x);
    }
}

START_TEST(parked_until_full_collection)
{
    if (cogc_set_generational(1) != 0) {
        printf("SKIP: block_park: generational mode unavailable here (no dirty-bit backend can watch the heap)\n");
        exit(77);
    }
    static uintptr_t hidden[NODES];
    build(hidden);
    cogc_collect();   /* the nodes are old, their blocks full */
    churn(4 * NODES);
    cogc_collect_minor();
    churn(4 * NODES);
    ck_assert_msg(blocks_parked_count() >= NODE_BLOCKS * 9 / 10, "%zu blocks parked, the list fills %zu",
                  blocks_parked_count(), (size_t)NODE_BLOCKS);
    check_list(NODES);

    /* An explicit free unparks its block: the freed slots are the sweep's
     * again (when it relists them depends on the block: one left with
     * marked and unmarked objects by a minor collection is held until the
     * next full one). */
    uintptr_t freed[FREED];
    free_after(NODES / 2, freed);
    for (int i = 0; i < FREED; i++) {
        struct object_ref o;
        ck_assert_int_eq(object_find((uintptr_t)TU_UNHIDE(freed[i]), false, &o), OBJ_FOUND);
        ck_assert_msg(!block_parked(o.block), "a block stayed parked after an explicit free in it");
    }
    tu_clear_stack();
    cogc_collect_minor();
    churn(NODES);
    check_list(NODES / 2 + 1);

    /* A block parked in this epoch counts as swept: a free there takes the
     * lock-free path, onto the thread's own list, and the collection that
     * drops that list unparks the block (else the slot would wait for the
     * next full collection). */
    cogc_collect();
    heap_lock();
    blocks_sweep_all();
    heap_unlock();
    struct node *before = list;
    for (size_t i = 0; i < NODES / 4; i++)
        before = before->next;
    struct node *y = before->next;
    struct object_ref oy;
    ck_assert_int_eq(object_find((uintptr_t)y, false, &oy), OBJ_FOUND);
    ck_assert_msg(block_parked(oy.block) && atomic_load(&oy.block->swept) == atomic_load(&gc_epoch),
                  "the list's blocks were not parked again after a full collection (flags %#x, swept %u, epoch %u)",
                  oy.block->flags, (unsigned)atomic_load(&oy.block->swept), (unsigned)atomic_load(&gc_epoch));
    before->next = y->next;
    cogc_free(y);
    y = NULL;
    ck_assert(block_parked(oy.block));
    tu_clear_stack();
    cogc_collect_minor();
    ck_assert_msg(!block_parked(oy.block), "a block stayed parked after its freed slot's list was dropped");

    /* The list dies but for every KEEP-th node: the full collection
     * unparks its blocks, and a sweep of every block reclaims the rest.
     * The blocks of the kept nodes are swept and not parked (their flags,
     * stale since the unparking, must not count: an explicit free would
     * then take such a block off the wrong list). */
    static struct node *kept[NODES / KEEP];
    size_t nkept = 0;
    for (struct node *p = list; p; p = p->next)
        if (p->v % KEEP == 0 && nkept < NODES / KEEP)
            kept[nkept++] = p;
    for (size_t i = 0; i < nkept; i++)
        kept[i]->next = NULL;
    list = NULL;
    tu_clear_stack();
    cogc_collect();
    heap_lock();
    blocks_sweep_all();
    heap_unlock();
    size_t gone = 0;
    for (size_t i = 0; i < NODES; i++)
        gone += cogc_size((void *)TU_UNHIDE(hidden[i])) == 0;
    ck_assert_msg(gone >= (NODES - nkept) * 9 / 10, "only %zu of %zu nodes in parked blocks reclaimed", gone,
                  NODES - nkept);
    for (size_t i = 0; i < nkept; i++) {
        struct object_ref o;
        ck_assert_int_eq(object_find((uintptr_t)kept[i], false, &o), OBJ_FOUND);
        ck_assert_msg(!block_parked(o.block), "a block with dead objects, swept, counts as parked");
        ck_assert_uint_eq(kept[i]->v % KEEP, 0);
    }
    for (size_t i = 0; i < nkept; i++)
        cogc_free(kept[i]);
    churn(NODES);
}
END_TEST

/* After a collection the cursor of a class stands on its newest block.  An
 * explicit free of an object there that the collection found dead (its
 * pointer was hidden) sweeps the block and gives its pages back; the
 * cursor must not stay on it: the walk would end there, and the class's
 * other dead blocks would not be reused in this epoch. */
#define BIG 1500
#define NBIG 400

/* At least NBIG/2 objects, the last one the last of its block (so that the
 * thread's free list names none of that block: the stack scan would keep
 * it).  Returns how many. */
static TU_NOINLINE int make_big(uintptr_t *hidden)
{
    for (int i = 0; i < NBIG; i++) {
        void *p = cogc_malloc(BIG);
        ck_assert_ptr_nonnull(p);
        hidden[i] = TU_HIDE(p);
        struct object_ref o;
        ck_assert_int_eq(object_find((uintptr_t)p, false, &o), OBJ_FOUND);
        if (i >= NBIG / 2 && (uintptr_t)p == pd_addr(o.block) + (uintptr_t)(o.block->nobjs - 1) * o.block->objsize)
            return i + 1;
    }
    ck_abort_msg("no block of %d-byte objects filled", BIG);
    return 0;
}

START_TEST(cursor_block_freed_by_explicit_free)
{
    static uintptr_t hidden[NBIG];
    int n = make_big(hidden);
    tu_clear_stack();
    cogc_collect();
    void *last = (void *)TU_UNHIDE(hidden[n - 1]);
    cogc_free(last);   /* reported: collected already */
    ck_assert_ptr_null(cogc_base(last));   /* its block was freed */
    qsort(hidden, (size_t)n, sizeof hidden[0], tu_cmp_uptr);
    int reused = 0;
    for (int i = 0; i < n; i++) {
        uintptr_t h = TU_HIDE(cogc_malloc(BIG));
        reused += bsearch(&h, hidden, (size_t)n, sizeof hidden[0], tu_cmp_uptr) != NULL;
    }
    ck_assert_msg(reused >= n * 3 / 4, "only %d of %d dead objects' slots reused", reused, n);
}
END_TEST

int main(void)
{
    /* The cursor case first: it wants a fresh process, stop-the-world. */
    return TU_RUN_TESTS("block_park", cursor_block_freed_by_explicit_free, parked_until_full_collection);
}
