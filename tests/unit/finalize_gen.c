/* Finalizers and disappearing links per generation (gc/finalize.c, "Per
 * generation"): a minor collection looks only at the entries registered,
 * re-registered or moved since the last collection, yet clears, drops and
 * finalizes exactly what it did when it looked at all of them. */
#define _GNU_SOURCE
#include "testutil.h"

#include "finalize.h"

#define NOLD 2000
#define TRIES 8

struct obj {
    void *link;
    uint64_t id;
};

static void *old_links[NOLD];     /* outside the heap: locations never die */
static struct obj *old_targets[NOLD];
static struct obj **kept;         /* a root for what the tests keep */

/* Slots an earlier collection may have left marked (marks are sticky; a
 * list handed out during an incremental cycle is born marked): an object
 * allocated there counts as old.  Use them up first, so that the next
 * objects are young. */
static void past_marked_slots(void) { tu_churn(sizeof(struct obj), 8192); }

/* NOLD links to objects kept alive, then made old by a full collection. */
static TU_NOINLINE void make_old_links(void)
{
    for (size_t i = 0; i < NOLD; i++)
        cogc_unregister_disappearing_link(&old_links[i]);
    for (size_t i = 0; i < NOLD; i++) {
        old_targets[i] = cogc_malloc(sizeof(struct obj));
        ck_assert_ptr_nonnull(old_targets[i]);
        old_links[i] = old_targets[i];
        ck_assert_int_eq(cogc_register_disappearing_link(&old_links[i], old_targets[i]), 0);
    }
    tu_full();
}

static TU_NOINLINE void drop_old_links(void)
{
    for (size_t i = 0; i < NOLD; i++)
        cogc_unregister_disappearing_link(&old_links[i]);
    memset(old_targets, 0, sizeof old_targets);
}

START_TEST(minor_skips_old_links)
{
    make_old_links();
    ck_assert_uint_ge(finalize_visited(), NOLD);   /* the full collection looked at all */
    tu_minor();
    ck_assert_uint_eq(finalize_visited(), 0);
    /* One new link: looked at (clear, then drop), the old ones not. */
    static void *young_link;
    struct obj *y = cogc_malloc(sizeof *y);
    kept[0] = y;
    ck_assert_int_eq(cogc_register_disappearing_link(&young_link, y), 0);
    young_link = y;
    tu_minor();
    ck_assert_uint_ge(finalize_visited(), 1);
    ck_assert_uint_le(finalize_visited(), 4);
    ck_assert_ptr_eq(young_link, y);
    /* y was aged, not promoted (gc/aging.c): the next minor collection
     * looks at its link again, the one after not. */
    tu_minor();
    ck_assert_uint_le(finalize_visited(), 4);
    tu_minor();
    ck_assert_uint_eq(finalize_visited(), 0);
    tu_full();
    ck_assert_uint_ge(finalize_visited(), NOLD + 1);
    for (size_t i = 0; i < NOLD; i++)
        ck_assert_ptr_eq(old_links[i], old_targets[i]);
    cogc_unregister_disappearing_link(&young_link);
    kept[0] = NULL;
    drop_old_links();
}
END_TEST

/* An old target that becomes unreachable is not freed by a minor
 * collection (the link stays), and its link is cleared by the next full
 * one. */
static void *old_dying_link;
static TU_NOINLINE void make_old_dying(void)
{
    struct obj *o = cogc_malloc(sizeof *o);
    o->id = 77;
    kept[1] = o;
    ck_assert_int_eq(cogc_register_disappearing_link(&old_dying_link, o), 0);
    old_dying_link = (void *)TU_HIDE(o);   /* the link itself keeps nothing */
    tu_full();                                /* o is old now */
    kept[1] = NULL;
}

START_TEST(old_target_dies_in_full)
{
    make_old_dying();
    void *hidden = old_dying_link;
    tu_minor();
    tu_minor();
    ck_assert_ptr_eq(old_dying_link, hidden);   /* old: not collected by minors */
    ck_assert_uint_eq(((struct obj *)TU_UNHIDE((uintptr_t)hidden))->id, 77);
    for (int i = 0; i < TRIES && old_dying_link; i++)
        tu_full();
    ck_assert_ptr_null(old_dying_link);
}
END_TEST

/* A link to a young object that dies: cleared by the minor collection. */
static void *young_dying_link;
static TU_NOINLINE void make_young_dying(void)
{
    struct obj *o = cogc_malloc(sizeof *o);
    ck_assert_int_eq(cogc_register_disappearing_link(&young_dying_link, o), 0);
    young_dying_link = (void *)TU_HIDE(o);
}

START_TEST(young_target_dies_in_minor)
{
    make_old_links();   /* old entries the minor collection skips */
    bool cleared = false;
    /* A fresh object per try: one a stale stack word kept is old now. */
    for (int i = 0; i < TRIES && !cleared; i++) {
        past_marked_slots();
        make_young_dying();
        tu_minor();
        cleared = young_dying_link == NULL;
        cogc_unregister_disappearing_link(&young_dying_link);
    }
    ck_assert_msg(cleared, "a link to a dead young object was not cleared by a minor collection");
    ck_assert_uint_lt(finalize_visited(), NOLD);
    drop_old_links();
}
END_TEST

/* Links moved into young objects that die: the minor collection drops
 * the registrations (else it would write NULL into reused memory). */
#define NMOVED 64
static uintptr_t holders[NMOVED];

static TU_NOINLINE void move_into_young(void)
{
    for (size_t i = 0; i < NMOVED; i++) {
        struct obj *holder = cogc_malloc(sizeof *holder);
        ck_assert_int_eq(cogc_move_disappearing_link(&old_links[i], &holder->link), 0);
        holder->link = (void *)TU_HIDE(old_targets[i]);
        holders[i] = TU_HIDE(holder);
    }
}

START_TEST(moved_links_dropped_in_minor)
{
    make_old_links();
    past_marked_slots();
    move_into_young();
    tu_minor();
    /* A registration that is gone cannot be moved back. */
    size_t dropped = 0;
    for (size_t i = 0; i < NMOVED; i++) {
        struct obj *holder = TU_UNHIDE(holders[i]);
        dropped += cogc_move_disappearing_link(&holder->link, &old_links[i]) != 0;
    }
    /* A stale word may keep a holder or two. */
    ck_assert_uint_ge(dropped, NMOVED / 2);
    drop_old_links();
}
END_TEST

/* A finalizer re-registered on an old object with young data: the data is
 * a root from then on, minor collections included. */
static void fin_noop(void *obj, void *data)
{
    (void)obj;
    (void)data;
}

static uintptr_t old_finalizable;
static TU_NOINLINE void make_old_finalizable(void)
{
    struct obj *o = cogc_malloc(sizeof *o);
    kept[2] = o;
    ck_assert_int_eq(cogc_register_finalizer(o, fin_noop, NULL, COGC_FINALIZE_ORDERED, NULL, NULL), 0);
    old_finalizable = TU_HIDE(o);
    tu_full();
}

static TU_NOINLINE uintptr_t give_young_data(void)
{
    uint64_t *d = cogc_malloc(256);
    tu_fill(d, 256, 0x5eed);
    ck_assert_int_eq(cogc_register_finalizer(TU_UNHIDE(old_finalizable), fin_noop, d, COGC_FINALIZE_ORDERED,
                                             NULL, NULL),
                     0);
    return TU_HIDE(d);
}

START_TEST(young_data_of_old_finalizer_kept)
{
    make_old_finalizable();
    uintptr_t d = give_young_data();
    for (int i = 0; i < 3; i++) {
        tu_minor();
        tu_churn(256, 4000);   /* reuses whatever the minor collection freed */
    }
    ck_assert(tu_check(TU_UNHIDE(d), 256, 0x5eed));
    ck_assert_int_eq(cogc_register_finalizer(TU_UNHIDE(old_finalizable), NULL, NULL, 0, NULL, NULL), 0);
    kept[2] = NULL;
}
END_TEST

/* A young finalizable object that dies is finalized by the minor
 * collection; an old one only by a full collection. */
static size_t finalized_young, finalized_old;
static void fin_count(void *obj, void *data)
{
    (void)obj;
    ++*(size_t *)data;
}

static TU_NOINLINE void make_finalizable(size_t *counter, int n)
{
    for (int i = 0; i < n; i++) {
        struct obj *o = cogc_malloc(sizeof *o);
        ck_assert_int_eq(cogc_register_finalizer(o, fin_count, counter, COGC_FINALIZE_ORDERED, NULL, NULL), 0);
    }
}

START_TEST(finalizers_per_generation)
{
    cogc_set_finalize_on_demand(1);
    cogc_invoke_finalizers();
    finalized_young = finalized_old = 0;
    make_finalizable(&finalized_old, 100);
    /* Kept by the roots of this full collection only if a stale word
     * points at one: most are finalized here; what is left is old. */
    tu_full();
    cogc_invoke_finalizers();
    size_t old_left = 100 - finalized_old;
    finalized_old = 0;
    past_marked_slots();
    make_finalizable(&finalized_young, 100);
    tu_minor();
    cogc_invoke_finalizers();
    ck_assert_uint_ge(finalized_young, 90);   /* a few may sit in stale words */
    ck_assert_uint_eq(finalized_old, 0);
    ck_assert_uint_le(finalize_visited(), 3 * 100 + 8);
    for (int i = 0; i < TRIES && finalized_old < old_left; i++) {
        tu_full();
        cogc_invoke_finalizers();
    }
    ck_assert_uint_eq(finalized_old, old_left);
    cogc_set_finalize_on_demand(0);
}
END_TEST

/* cogc_free unmarks an old object: the next minor collection looks at
 * every entry, as every collection did before. */
START_TEST(free_makes_next_minor_look_at_all)
{
    make_old_links();
    tu_minor();
    ck_assert_uint_eq(finalize_visited(), 0);
    struct obj *t = old_targets[0];
    cogc_unregister_disappearing_link(&old_links[0]);
    old_links[0] = NULL;
    old_targets[0] = NULL;
    cogc_free(t);
    tu_minor();
    ck_assert_uint_ge(finalize_visited(), NOLD - 1);
    tu_minor();
    ck_assert_uint_eq(finalize_visited(), 0);
    drop_old_links();
}
END_TEST

int main(void)
{
    tu_init_generational();
    kept = cogc_malloc_uncollectable(8 * sizeof *kept);
    if (!kept)
        return 1;
    cogc_collect();
    Suite *s = suite_create("finalize_gen");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, minor_skips_old_links);
    tcase_add_test(tc, old_target_dies_in_full);
    tcase_add_test(tc, young_target_dies_in_minor);
    tcase_add_test(tc, moved_links_dropped_in_minor);
    tcase_add_test(tc, young_data_of_old_finalizer_kept);
    tcase_add_test(tc, finalizers_per_generation);
    tcase_add_test(tc, free_makes_next_minor_look_at_all);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
