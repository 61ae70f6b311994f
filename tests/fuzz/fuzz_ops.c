/* A libFuzzer target: the input is a program of allocator operations on 64
 * slots, run by one or two threads, checked as it goes.
 *
 * Each operation is 4 bytes: [op] [slot] [size lo] [size hi/alignment].
 *   malloc, calloc, realloc, aligned_alloc, posix_memalign into a slot
 *   (an occupied slot is freed first), free, free_sized, usable_size,
 *   ob_collect(0 or 1), ob_heap_check, and "switch thread": the following
 *   operations run on the other thread (a worker that waits for its turn,
 *   so a run is deterministic) until the next switch: blocks one thread
 *   allocated, the other frees.
 * Regions: with the slot byte's top two bits set, malloc, calloc, realloc
 * and aligned_alloc go to the running thread's region (made on first use;
 * realloc only for a block of that region, ob_realloc otherwise), and
 * ob_collect's byte instead destroys the thread's region (its blocks leave
 * their slots, checked first), releases it (they stay, as ordinary blocks)
 * or visits it (exactly the slots' blocks of that region, which
 * ob_region_stats counts too).  Any thread frees any slot.
 * Sizes: the two size bytes pick a range (0-255, to 4 KiB, to 64 KiB, to
 * 4 MiB, or near SIZE_MAX) and a value in it.  Alignments: powers of two
 * to 1 MiB, and bad ones (0, 3, 24) that must get EINVAL.
 *
 * Checked: every block holds the pattern of its slot until freed (before
 * each free and realloc), realloc keeps the old contents, usable_size is at
 * least the request, calloc returns zeroes, a refused allocation is NULL
 * with ENOMEM (EINVAL for bad alignments), and at the end of every input,
 * with everything freed, ob_heap_check finds nothing.  A failure aborts
 * (libFuzzer keeps the input).  Run it in debug mode too (OBMALLOC_DEBUG=1).
 *
 * tests/fuzz/regressions holds inputs that once failed (run.sh runs them
 * first): shrink-below-8k-after-strided-fill found a bug of this harness,
 * which checked every byte of a block shrunk to 8 KiB or less although it
 * had filled only a sample of the bigger block it came from.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined together with
 * obmalloc's sources (tests/CMakeLists.txt, target fuzz_ops). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obmalloc.h"

#define SLOTS 64

typedef struct {
    unsigned char *p;
    size_t size;
    uint8_t seed;
    ob_region_t *region; /* the region the block is in, or NULL */
} slot_t;

static slot_t slot[SLOTS];
static ob_region_t *regions[2]; /* the main thread's and the worker's */
static _Thread_local int me;    /* 0 main, 1 worker */

static ob_region_t *my_region(void)
{
    if (regions[me] == NULL && (regions[me] = ob_region_new()) == NULL)
        abort();
    return regions[me];
}
static uint64_t ops_total; /* over the whole run, printed at exit */

static void fail(const char *what, int s)
{
    fprintf(stderr, "fuzz_ops: %s (slot %d, %zu bytes at %p)\n", what, s, slot[s].size,
            (void *)slot[s].p);
    abort();
}

static uint8_t pattern(int s, uint8_t seed, size_t i)
{
    return (uint8_t)(s * 31 + seed + i * 7);
}

/* The whole block for small ones; for big ones its ends and a stride, so
 * that multi-MiB blocks do not make every operation slow (a byte in every
 * page would fault them all in). */
#define STRIDE 65521
static void fill(int s)
{
    slot_t *b = &slot[s];
    if (b->size <= 8192) {
        for (size_t i = 0; i < b->size; i++)
            b->p[i] = pattern(s, b->seed, i);
        return;
    }
    for (size_t i = 0; i < b->size; i += (i < 4096 || i + 4096 >= b->size) ? 1 : STRIDE)
        b->p[i] = pattern(s, b->seed, i);
}

static void verify(int s, size_t upto)
{
    slot_t *b = &slot[s];
    size_t n = upto < b->size ? upto : b->size;
    if (b->size <= 8192) { /* the bytes fill wrote: which depends on the size filled */
        for (size_t i = 0; i < n; i++)
            if (b->p[i] != pattern(s, b->seed, i))
                fail("a block changed", s);
        return;
    }
    for (size_t i = 0; i < n; i += (i < 4096 || i + 4096 >= b->size) ? 1 : STRIDE)
        if (i < n && b->p[i] != pattern(s, b->seed, i))
            fail("a block changed", s);
}

static size_t size_of(uint8_t lo, uint8_t hi)
{
    switch (hi >> 5) {
    case 0: case 1: case 2:
        return lo;                                   /* 0-255 */
    case 3: case 4:
        return ((size_t)(hi & 15) << 8 | lo);        /* to 4 KiB */
    case 5:
        return ((size_t)(hi & 31) << 11 | (size_t)lo << 3); /* to 64 KiB */
    case 6: /* to 4 MiB, past the huge threshold (1 MiB) one time in two */
        return ((size_t)(hi & 15) << 18 | (size_t)lo << 10);
    default:
        return SIZE_MAX - ((size_t)(hi & 31) << 8 | lo); /* impossible */
    }
}

static size_t alignment_of(uint8_t a)
{
    static const size_t bad[] = {0, 3, 24, 48};
    if ((a & 0xe0) == 0xe0)
        return bad[a & 3];
    return (size_t)1 << (a % 21); /* 1 B to 1 MiB */
}

static void put(int s, void *p, size_t size, int zeroed)
{
    slot[s].p = p;
    slot[s].size = size;
    slot[s].seed = (uint8_t)(slot[s].seed + 1);
    if (ob_usable_size(p) < size)
        fail("usable size below the request", s);
    if (zeroed)
        for (size_t i = 0; i < size; i += size > 65536 ? STRIDE : 1)
            if (((unsigned char *)p)[i] != 0)
                fail("calloc returned a non-zero byte", s);
    fill(s);
}

static void drop(int s)
{
    if (slot[s].p == NULL)
        return;
    verify(s, SIZE_MAX);
    ob_free(slot[s].p);
    slot[s].p = NULL;
    slot[s].region = NULL;
}

/* The slot's new block came from region r (or from no region). */
static void in_region(int s, ob_region_t *r)
{
    slot[s].region = r;
    if (r != NULL && !ob_region_contains(r, slot[s].p))
        fail("a region's block is not in the region", s);
}

typedef struct {
    ob_region_t *r;
    size_t n;
} visit_t;

static int visited(void *block, size_t usable, void *arg)
{
    visit_t *v = arg;
    int s = 0;
    while (s < SLOTS && !(slot[s].p == block && slot[s].region == v->r))
        s++;
    if (s == SLOTS) {
        fprintf(stderr, "fuzz_ops: region visit: %p (%zu bytes) is in no slot\n", block, usable);
        abort();
    }
    if (usable != ob_usable_size(block) || usable < slot[s].size)
        fail("region visit: wrong usable size", s);
    v->n++;
    return 0;
}

/* ob_collect's operation byte, for the thread's region: destroy (2),
 * release (4), visit (6). */
static void region_op(int what)
{
    ob_region_t *r = regions[me];
    if (r == NULL)
        return;
    size_t held = 0;
    for (int s = 0; s < SLOTS; s++)
        held += slot[s].p != NULL && slot[s].region == r;
    if (what == 6) {
        visit_t v = {r, 0};
        if (ob_region_visit(r, visited, &v) != 0 || v.n != held) {
            fprintf(stderr, "fuzz_ops: region visit saw %zu blocks, the slots hold %zu\n", v.n,
                    held);
            abort();
        }
        struct ob_region_stats st;
        ob_region_stats(r, &st);
        if (st.blocks_in_use != held) {
            fprintf(stderr, "fuzz_ops: ob_region_stats says %zu blocks, the slots hold %zu\n",
                    st.blocks_in_use, held);
            abort();
        }
        return;
    }
    for (int s = 0; s < SLOTS; s++) {
        if (slot[s].p == NULL || slot[s].region != r)
            continue;
        verify(s, SIZE_MAX);
        slot[s].region = NULL;
        if (what == 2)
            slot[s].p = NULL; /* dropped by the destroy */
    }
    if (what == 2)
        ob_region_destroy(r);
    else
        ob_region_release(r);
    regions[me] = NULL;
}

static void refused(int s, size_t size, int expect)
{
    if (errno != expect) {
        fprintf(stderr, "fuzz_ops: NULL for %zu bytes with errno %d, not %d\n", size, errno,
                expect);
        abort();
    }
    (void)s;
}

/* One operation; returns 1 for "switch thread". */
static int run_op(const uint8_t *op)
{
    int s = op[1] % SLOTS;
    int to_region = op[1] >> 6 == 3;
    size_t size = size_of(op[2], op[3]);
    ops_total++;
    errno = 0;
    switch (op[0] % 12) {
    case 0: { /* malloc */
        drop(s);
        ob_region_t *r = to_region ? my_region() : NULL;
        void *p = r != NULL ? ob_region_malloc(r, size) : ob_malloc(size);
        if (p == NULL) {
            refused(s, size, ENOMEM);
        } else {
            put(s, p, size, 0);
            in_region(s, r);
        }
        break;
    }
    case 1: { /* calloc: n * size from the two bytes, overflow included */
        drop(s);
        size_t n = (size_t)(op[2] & 15) + 1, each = size_of(op[3], op[3]);
        ob_region_t *r = to_region ? my_region() : NULL;
        void *p = r != NULL ? ob_region_calloc(r, n, each) : ob_calloc(n, each);
        size_t total;
        if (p == NULL)
            refused(s, each, ENOMEM);
        else if (__builtin_mul_overflow(n, each, &total))
            fail("calloc overflowed and returned a block", s);
        else {
            put(s, p, total, 1);
            in_region(s, r);
        }
        break;
    }
    case 2: { /* realloc */
        if (slot[s].p == NULL)
            return 0;
        verify(s, SIZE_MAX);
        size_t old = slot[s].size;
        ob_region_t *r = slot[s].region;
        int own = r != NULL && to_region && r == regions[me];
        unsigned char *p = own ? ob_region_realloc(r, slot[s].p, size) : ob_realloc(slot[s].p, size);
        if (p == NULL && size == 0) {
            slot[s].p = NULL; /* freed */
            slot[s].region = NULL;
        } else if (p == NULL) {
            refused(s, size, ENOMEM);
            verify(s, SIZE_MAX); /* untouched */
        } else {
            slot[s].p = p;
            slot[s].size = old;
            verify(s, size); /* the old contents, up to the new size */
            put(s, p, size, 0);
            /* ob_region_realloc keeps the block in the region; ob_realloc
             * may leave it there or move it to the thread's heap. */
            if (own)
                in_region(s, r);
            else
                slot[s].region = r != NULL && ob_region_contains(r, p) ? r : NULL;
        }
        break;
    }
    case 3:
    case 4: { /* aligned_alloc, posix_memalign */
        drop(s);
        size_t align = alignment_of(op[3]);
        size_t want = op[2] * (size_t)64;
        void *p = NULL;
        int bad = align == 0 || (align & (align - 1)) != 0;
        ob_region_t *r = to_region && op[0] % 12 == 3 ? my_region() : NULL;
        if (op[0] % 12 == 3) {
            p = r != NULL ? ob_region_aligned_alloc(r, align, want) : ob_aligned_alloc(align, want);
            if (p == NULL) {
                refused(s, want, bad ? EINVAL : ENOMEM);
                break;
            }
        } else {
            int rc = ob_posix_memalign(&p, align, want);
            int bad_pm = bad || align % sizeof(void *) != 0;
            if (rc != 0) {
                if (rc != (bad_pm ? EINVAL : ENOMEM))
                    fail("posix_memalign: wrong error", s);
                break;
            }
            if (bad_pm)
                fail("posix_memalign accepted a bad alignment", s);
        }
        if (bad)
            fail("a bad alignment was accepted", s);
        if ((uintptr_t)p % align != 0)
            fail("a block is not aligned as asked", s);
        put(s, p, want, 0);
        in_region(s, r);
        break;
    }
    case 5:
    case 6: /* free */
        drop(s);
        break;
    case 7: /* free_sized, with the size asked for */
        if (slot[s].p != NULL) {
            verify(s, SIZE_MAX);
            ob_free_sized(slot[s].p, slot[s].size);
            slot[s].p = NULL;
            slot[s].region = NULL;
        }
        break;
    case 8:
        if (slot[s].p != NULL && ob_usable_size(slot[s].p) < slot[s].size)
            fail("usable size below the request", s);
        if (ob_usable_size(NULL) != 0)
            fail("usable size of NULL", s);
        break;
    case 9:
        if (op[2] & 6)
            region_op(op[2] & 6);
        else
            ob_collect(op[2] & 1);
        break;
    case 10: {
        struct ob_heap_check_result r;
        if (ob_heap_check(&r) != 0) {
            fprintf(stderr, "fuzz_ops: ob_heap_check: %s at %p\n", r.first_problem,
                    r.first_address);
            abort();
        }
        break;
    }
    default:
        return 1;
    }
    return 0;
}

/* ---- the second thread: runs operations when handed them ------------- */

static pthread_t worker;
static const uint8_t *_Atomic handed; /* operations to run, or NULL */
static _Atomic size_t handed_n;
static _Atomic int turn;                 /* 0 main, 1 worker */

static void *worker_main(void *arg)
{
    (void)arg;
    me = 1;
    for (;;) {
        while (atomic_load(&turn) != 1)
            sched_yield();
        const uint8_t *ops = atomic_load(&handed);
        size_t n = atomic_load(&handed_n);
        for (size_t i = 0; i < n; i++)
            run_op(ops + 4 * i);
        atomic_store(&turn, 0);
    }
    return NULL;
}

static void on_worker(const uint8_t *ops, size_t n)
{
    static int started;
    if (!started) {
        if (pthread_create(&worker, NULL, worker_main, NULL) != 0)
            abort();
        started = 1;
    }
    atomic_store(&handed, ops);
    atomic_store(&handed_n, n);
    atomic_store(&turn, 1);
    while (atomic_load(&turn) != 0)
        sched_yield();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = size / 4;
    int on_other = 0;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *op = data + 4 * i;
        if (op[0] % 12 != 11)
            continue;
        /* Ops start..i-1 belong to the current thread. */
        if (on_other)
            on_worker(data + 4 * start, i - start);
        else
            for (size_t k = start; k < i; k++)
                run_op(data + 4 * k);
        on_other = !on_other;
        start = i + 1;
    }
    if (on_other)
        on_worker(data + 4 * start, n - start);
    else
        for (size_t k = start; k < n; k++)
            run_op(data + 4 * k);
    for (int s = 0; s < SLOTS; s++)
        drop(s);
    static const uint8_t destroy[4] = {9, 0, 2, 0}; /* each thread's region */
    run_op(destroy);
    if (regions[1] != NULL)
        on_worker(destroy, 1);
    struct ob_heap_check_result r;
    if (ob_heap_check(&r) != 0) {
        fprintf(stderr, "fuzz_ops: ob_heap_check at the end: %s at %p\n", r.first_problem,
                r.first_address);
        abort();
    }
    return 0;
}

__attribute__((destructor)) static void report(void)
{
    fprintf(stderr, "fuzz_ops: %llu operations\n", (unsigned long long)ops_total);
}
