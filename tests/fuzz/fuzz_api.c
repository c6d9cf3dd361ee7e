/* API-sequence fuzzer with a shadow model: the input is a program of
 * allocations, pointer stores between objects, drops, frees, reallocs and
 * collections (full and minor) run against cogc, with a plain-C model of
 * which objects are reachable and what each holds.  After every collection
 * and at the end, every object the model says is reachable must still hold
 * its contents and its pointers.  Runs with generational and incremental
 * collection and the heap verifier on (set before the collector starts),
 * so a lost object is caught either by the verifier or by the contents.
 *
 * Built as a libFuzzer harness in the fuzz preset; with
 * COGC_FUZZ_STANDALONE it is an ordinary program that runs seeded random
 * programs (and any files given), for the normal test run. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cogc.h"

#define SLOTS 32
#define FIELDS 4
#define MAX_OBJS 4096
#define SMALL_MAX 32768          /* gc/config.h MAX_SMALL: larger objects are not on free lists */
#define DRAIN_BYTES (256 << 10)

/* A normal object: seed, size, FIELDS pointers, then pattern words.  An
 * atomic object: seed, size, then pattern words (no pointers). */
struct hdr {
    uint64_t seed;
    uint64_t size;
};

struct shadow {
    void *p;
    uint64_t seed;
    size_t size;
    int atomic;
    int link[FIELDS];   /* shadow index or -1 */
    int mark;
};

static void *slot[SLOTS];          /* the roots (static data) */
static int slot_obj[SLOTS];        /* shadow index or -1 */
static struct shadow *objs;        /* plain malloc: invisible to the collector */
static int nobjs;
static int visit_epoch;

static uint64_t pattern(uint64_t seed, size_t i)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + (i + 1) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return x | 0x8000000000000000ull;   /* never a pointer */
}

static size_t first_pattern_word(const struct shadow *s) { return s->atomic ? 2 : 2 + FIELDS; }

static void fill(struct shadow *s)
{
    uint64_t *w = s->p;
    w[0] = s->seed | 0x8000000000000000ull;
    w[1] = s->size | 0x8000000000000000ull;
    for (size_t i = first_pattern_word(s); i < s->size / 8; i++)
        w[i] = pattern(s->seed, i);
}

/* A damaged object: what and where, then abort (the fuzzer keeps the input). */
static void damaged(const struct shadow *s, size_t word, uint64_t want)
{
    const uint64_t *w = s->p;
    struct cogc_stats st;
    cogc_get_stats(&st, sizeof st);
    fprintf(stderr,
            "fuzz_api: object %p (%zu bytes, %s, seed %#llx) word %zu is %#llx, want %#llx; "
            "cogc_base %p, cogc_size %zu; collections %llu\n",
            s->p, s->size, s->atomic ? "atomic" : "normal", (unsigned long long)s->seed, word,
            (unsigned long long)w[word], (unsigned long long)want, cogc_base(s->p), cogc_size(s->p),
            (unsigned long long)st.collections);
    abort();
}

static void check_obj(const struct shadow *s)
{
    const uint64_t *w = s->p;
    if (w[0] != (s->seed | 0x8000000000000000ull))
        damaged(s, 0, s->seed | 0x8000000000000000ull);
    if (w[1] != (s->size | 0x8000000000000000ull))
        damaged(s, 1, s->size | 0x8000000000000000ull);
    for (size_t i = first_pattern_word(s); i < s->size / 8; i++)
        if (w[i] != pattern(s->seed, i))
            damaged(s, i, pattern(s->seed, i));
    if (!s->atomic)
        for (int f = 0; f < FIELDS; f++) {
            void *want = s->link[f] >= 0 ? objs[s->link[f]].p : NULL;
            if (((void *const *)s->p)[2 + f] != want)
                damaged(s, 2 + (size_t)f, (uint64_t)(uintptr_t)want);
        }
}

/* Call fn on each object the model reaches from the slots, once (each
 * call of this marks what it visits with a new visit_epoch). */
static void each_reachable(void (*fn)(const struct shadow *s, const void *arg), const void *arg)
{
    visit_epoch++;
    int stack[MAX_OBJS], top = 0;
    for (int i = 0; i < SLOTS; i++)
        if (slot_obj[i] >= 0)
            stack[top++] = slot_obj[i];
    while (top) {
        int k = stack[--top];
        if (objs[k].mark == visit_epoch)
            continue;
        objs[k].mark = visit_epoch;
        fn(&objs[k], arg);
        for (int f = 0; f < FIELDS; f++)
            if (!objs[k].atomic && objs[k].link[f] >= 0 && top < MAX_OBJS)
                stack[top++] = objs[k].link[f];
    }
}

static void check_reached(const struct shadow *s, const void *arg)
{
    (void)arg;
    check_obj(s);
}

/* Every slot agrees with the model, and every object it reaches is intact. */
static void check_all(void)
{
    for (int i = 0; i < SLOTS; i++) {
        if (slot_obj[i] < 0 ? slot[i] != NULL : slot[i] != objs[slot_obj[i]].p)
            abort();
    }
    each_reachable(check_reached, NULL);
}

/* References to k from reachable objects and slots (free and realloc are
 * only used on objects nothing else points to: a dangling pointer is the
 * program's bug, not the collector's). */
static int referenced_elsewhere(int k, int except_slot)
{
    for (int i = 0; i < SLOTS; i++)
        if (i != except_slot && slot_obj[i] == k)
            return 1;
    for (int j = 0; j < nobjs; j++)
        if (objs[j].p && !objs[j].atomic)
            for (int f = 0; f < FIELDS; f++)
                if (objs[j].link[f] == k)
                    return 1;
    return 0;
}

struct fresh {
    const void *p;
    size_t size, step;
};

static void check_apart(const struct shadow *s, const void *arg)
{
    const struct fresh *n = arg;
    uintptr_t a = (uintptr_t)s->p, b = (uintptr_t)n->p;
    if (s->p && b < a + s->size && a < b + n->size) {
        fprintf(stderr,
                "fuzz_api: step %zu: new object %p (%zu bytes) overlaps reachable object %p (%zu bytes, %s, "
                "seed %#llx)\n",
                n->step, n->p, n->size, s->p, s->size, s->atomic ? "atomic" : "normal",
                (unsigned long long)s->seed);
        abort();
    }
}

/* A new object must not overlap one the model still reaches (the
 * collector freed a live object, or handed out memory twice): reported at
 * the allocation, where the damage starts.  An object being allocated or
 * reallocated has no address yet (p NULL). */
static void check_fresh(const void *p, size_t size, size_t step)
{
    each_reachable(check_apart, &(struct fresh){p, size, step});
}

static size_t size_for(uint8_t b)
{
    static const size_t sizes[] = {16, 24, 48, 64, 96, 128, 256, 1024, 4096, 40000};
    size_t n = sizes[b % 10];
    return n < 16 + 8 * FIELDS ? 16 + 8 * FIELDS : n;
}

static int new_shadow(void)
{
    if (nobjs < MAX_OBJS)
        return nobjs++;
    /* Reuse an entry nothing reaches (the model's own garbage collection). */
    check_all();
    for (int j = 0; j < nobjs; j++)
        if (objs[j].mark != visit_epoch) {
            objs[j].p = NULL;
            for (int k = 0; k < nobjs; k++)
                for (int f = 0; f < FIELDS; f++)
                    if (objs[k].link[f] == j)
                        objs[k].link[f] = -1;   /* only unreachable objects pointed to it */
            return j;
        }
    return -1;
}

/* Dead copies of pointers in this program's stack frames would keep
 * objects alive and hide a collector that lost them: wipe the stack below
 * the caller before each collection. */
static __attribute__((noinline)) void scrub_stack(void)
{
    volatile char pad[16384];
    memset((char *)pad, 0, sizeof pad);
    __asm__ volatile("" : : "r"(pad) : "memory");
}

static __attribute__((noinline)) void collect(int minor)
{
    scrub_stack();
    if (minor)
        cogc_collect_minor();
    else
        cogc_collect();
    check_all();
}

static __attribute__((noinline)) void step(size_t i, uint8_t op, uint8_t a, uint8_t b, uint8_t c)
{
        switch (op) {
        case 0: { /* allocate into slot a */
            int k = new_shadow();
            if (k < 0)
                break;
            struct shadow *s = &objs[k];
            s->size = size_for(c);
            s->atomic = (c & 0x80) != 0;
            if ((c & 0x40) && s->size <= SMALL_MAX) {
                /* Objects left on a thread's free list at a collection are
                 * marked (and so old) until the next full one: use up the
                 * list, so that this object is young (large objects never
                 * come from a list).  At most DRAIN_BYTES: each collection
                 * this triggers scans all roots, ~10 MB of them in a
                 * libFuzzer build, and dominated the execution time. */
                for (size_t g = 0; g < 512 && g * s->size < DRAIN_BYTES; g++)
                    ((uint64_t *)(s->atomic ? cogc_malloc_atomic(s->size) : cogc_malloc(s->size)))[0] = 1;
            }
            s->seed = ((uint64_t)i << 20) ^ c ^ ((uint64_t)nobjs << 8);
            s->p = NULL;   /* not itself reachable yet */
            void *p = s->atomic ? cogc_malloc_atomic(s->size) : cogc_malloc(s->size);
            if (!p)
                abort();
            check_fresh(p, s->size, i);
            s->p = p;
            for (int f = 0; f < FIELDS; f++)
                s->link[f] = -1;
            fill(s);
            slot[a] = s->p;
            slot_obj[a] = k;
            break;
        }
        case 1: /* store slot b's object into field c of slot a's */
            if (slot_obj[a] >= 0 && !objs[slot_obj[a]].atomic) {
                int f = c % FIELDS;
                objs[slot_obj[a]].link[f] = slot_obj[b];
                ((void **)slot[a])[2 + f] = slot[b];
            }
            break;
        case 2: /* drop a root */
            slot[a] = NULL;
            slot_obj[a] = -1;
            break;
        case 3: /* slot a = field c of slot b's object */
            if (slot_obj[b] >= 0 && !objs[slot_obj[b]].atomic) {
                int f = c % FIELDS;
                slot_obj[a] = objs[slot_obj[b]].link[f];
                slot[a] = ((void **)slot[b])[2 + f];
            }
            break;
        case 4: /* free slot a's object if nothing else refers to it */
            if (slot_obj[a] >= 0 && !referenced_elsewhere(slot_obj[a], a)) {
                objs[slot_obj[a]].p = NULL;
                for (int f = 0; f < FIELDS; f++)
                    objs[slot_obj[a]].link[f] = -1;
                cogc_free(slot[a]);
                slot[a] = NULL;
                slot_obj[a] = -1;
            }
            break;
        case 5: /* realloc, same condition; the kept part must survive */
            if (slot_obj[a] >= 0 && !referenced_elsewhere(slot_obj[a], a)) {
                struct shadow *s = &objs[slot_obj[a]];
                size_t nsz = size_for(c), keep = nsz < s->size ? nsz : s->size;
                uint64_t *q = cogc_realloc(s->p, nsz);
                if (!q || q[0] != (s->seed | 0x8000000000000000ull))
                    abort();
                if (q != s->p) {
                    s->p = NULL;   /* freed by the realloc */
                    check_fresh(q, nsz, i);
                }
                for (size_t w = first_pattern_word(s); w < keep / 8; w++)
                    if (q[w] != pattern(s->seed, w))
                        abort();
                s->p = q;
                s->size = nsz;
                fill(s);
                if (!s->atomic)
                    for (int f = 0; f < FIELDS; f++)
                        ((void **)q)[2 + f] = s->link[f] >= 0 ? objs[s->link[f]].p : NULL;
                slot[a] = q;
            }
            break;
        case 6:
            collect(0);
            break;
        case 7:
            collect(1);
            break;
        case 8: /* garbage, to drive allocation-triggered collections (up to
                 * ~2 of them at COGC_MIN_TRIGGER=256k) */
            for (int g = 0; g < 32 * (c % 16 + 1); g++) {
                uint64_t *junk = cogc_malloc(size_for((uint8_t)((g + c) % 7)));
                junk[0] = 0x8123456789abcdefull;
            }
            scrub_stack();
            break;
        default:
            check_all();
            break;
        }
}

static void run(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 3 < n; i += 4)
        step(i, d[i] % 10, d[i + 1] % SLOTS, d[i + 2] % SLOTS, d[i + 3]);
    check_all();
    for (int i = 0; i < SLOTS; i++) {
        slot[i] = NULL;
        slot_obj[i] = -1;
    }
    nobjs = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("COGC_GENERATIONAL", "1", 0);
    setenv("COGC_INCREMENTAL", "1", 0);
    setenv("COGC_VERIFY", "1", 0);
    setenv("COGC_MIN_TRIGGER", "256k", 0);
    objs = calloc(MAX_OBJS, sizeof *objs);
    if (!objs || cogc_init() != 0)
        abort();
    for (int i = 0; i < SLOTS; i++)
        slot_obj[i] = -1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    return 0;
}

#ifdef COGC_FUZZ_STANDALONE
/* Seeded random programs (argv[1]: how many, default 200), then files. */
int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    int programs = argc > 1 ? atoi(argv[1]) : 200;
    uint64_t x = 0x2545F4914F6CDD1Dull;
    static uint8_t buf[4096];
    for (int p = 0; p < programs; p++) {
        size_t n = 64 + (size_t)(x % (sizeof buf - 64));
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        run(buf, n);
    }
    for (int a = 2; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        run(buf, n);
    }
    struct cogc_stats st;
    cogc_get_stats(&st, sizeof st);
    printf("fuzz_api: %d random programs passed (%llu collections, %llu minor, %llu pauses)\n", programs,
           (unsigned long long)st.collections, (unsigned long long)st.minor_collections,
           (unsigned long long)st.pauses);
    return 0;
}
#endif
