/*
 * Microbenchmark: malloc/free pairs of mixed small sizes.
 *
 *   microbench ALLOC MODE [ITERATIONS]
 *
 * ALLOC: "ob" (ob_malloc/ob_free), "region" (ob_region_malloc from one
 *        region, ob_free) or "sys" (malloc/free: glibc, or whatever
 *        allocator LD_PRELOAD put in front of it).
 * MODE:  "churn"  one thread; a working set of 4096 live blocks; each step
 *                 frees a random one and allocates a new random size
 *                 (16..512 bytes, small sizes most common)
 *        "pairs"  one thread; malloc then free at once, sizes cycling
 *                 through 16..256 (the pure fast path; used with callgrind)
 *        "sized"  "pairs" with ob_free_sized (ALLOC "ob" only): what
 *                 knowing the size at free saves
 *        "xthread" 4 producer threads allocate, 4 consumer threads free
 *                 what the producers made (every free is cross-thread)
 * Prints: "<alloc> <mode> <ns per pair> <pairs>".  Each run checks a
 * checksum of the data written into the blocks, so an allocator that
 * hands out overlapping blocks fails loudly.
 */
#include "workloads/common.h" /* the PRNG and the clock of the workloads */

#include "obmalloc.h"

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);

static malloc_fn do_malloc;
static free_fn do_free;

static ob_region_t *region;
static void *region_malloc(size_t size)
{
    return ob_region_malloc(region, size);
}

static double now_ns(void)
{
    return seconds() * 1e9;
}

/* Small sizes dominate, as in real programs: half up to 64 bytes. */
static size_t small_size(uint64_t r)
{
    switch (r & 3) {
    case 0: case 1:
        return 16 + (r >> 8) % 49;
    case 2:
        return 16 + (r >> 8) % 241;
    default:
        return 16 + (r >> 8) % 497;
    }
}

static double churn(long iters)
{
    enum { LIVE = 4096 };
    static unsigned char *slot[LIVE];
    static size_t slot_size[LIVE];
    uint64_t rng = 12345, sum = 0, expect = 0;
    for (int i = 0; i < LIVE; i++) {
        slot_size[i] = small_size(rnd(&rng));
        slot[i] = do_malloc(slot_size[i]);
        slot[i][0] = (unsigned char)i;
        expect += (unsigned char)i;
    }
    double t0 = now_ns();
    for (long k = 0; k < iters; k++) {
        uint64_t r = rnd(&rng);
        size_t i = r % LIVE;
        sum += slot[i][0];
        expect += (unsigned char)(k + 1);
        do_free(slot[i]);
        slot_size[i] = small_size(r >> 16);
        slot[i] = do_malloc(slot_size[i]);
        slot[i][0] = (unsigned char)(k + 1);
        slot[i][slot_size[i] - 1] = 1;
    }
    double t1 = now_ns();
    for (int i = 0; i < LIVE; i++) {
        sum += slot[i][0];
        do_free(slot[i]);
    }
    if (sum != expect) {
        fprintf(stderr, "churn: checksum mismatch: blocks overlap\n");
        exit(1);
    }
    return (t1 - t0) / (double)iters;
}

static double pairs(long iters, int sized)
{
    uint64_t sum = 0;
    double t0 = now_ns();
    for (long k = 0; k < iters; k++) {
        size_t size = 16 + (size_t)(k & 15) * 16;
        unsigned char *p = do_malloc(size);
        p[0] = (unsigned char)k;
        sum += p[0];
        if (sized)
            ob_free_sized(p, size);
        else
            do_free(p);
    }
    double t1 = now_ns();
    if (sum == 1) /* keep the loop */
        puts("");
    return (t1 - t0) / (double)iters;
}

/* ---- cross-thread: producers hand blocks to consumers through rings ---- */

#define PAIRS 4
#define RING 4096

typedef struct ring {
    _Atomic size_t head, tail;
    unsigned char *item[RING];
    long count;
    char pad[64];
} ring_t;

static ring_t rings[PAIRS];

static void *producer(void *arg)
{
    ring_t *r = arg;
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (long k = 0; k < r->count; k++) {
        size_t size = small_size(rnd(&rng));
        unsigned char *p = do_malloc(size);
        p[0] = 0xA5;
        p[size - 1] = 0x5A;
        size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        while (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING)
            sched_yield();
        r->item[t % RING] = p;
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    ring_t *r = arg;
    for (long k = 0; k < r->count; k++) {
        size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        while (atomic_load_explicit(&r->tail, memory_order_acquire) == h)
            sched_yield();
        unsigned char *p = r->item[h % RING];
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
        if (p[0] != 0xA5) {
            fprintf(stderr, "xthread: block corrupted\n");
            exit(1);
        }
        do_free(p);
    }
    return NULL;
}

static double xthread(long iters)
{
    pthread_t tp[PAIRS], tc[PAIRS];
    double t0 = now_ns();
    for (int i = 0; i < PAIRS; i++) {
        rings[i].count = iters / PAIRS;
        pthread_create(&tp[i], NULL, producer, &rings[i]);
        pthread_create(&tc[i], NULL, consumer, &rings[i]);
    }
    for (int i = 0; i < PAIRS; i++) {
        pthread_join(tp[i], NULL);
        pthread_join(tc[i], NULL);
    }
    return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ob|region|sys churn|pairs|sized|xthread [iterations]\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "ob") == 0) {
        do_malloc = ob_malloc;
        do_free = ob_free;
    } else if (strcmp(argv[1], "region") == 0) {
        region = ob_region_new();
        do_malloc = region_malloc;
        do_free = ob_free;
    } else {
        do_malloc = malloc;
        do_free = free;
    }
    long iters = argc > 3 ? atol(argv[3]) : 20000000;
    double ns;
    if (strcmp(argv[2], "churn") == 0)
        ns = churn(iters);
    else if (strcmp(argv[2], "pairs") == 0)
        ns = pairs(iters, 0);
    else if (strcmp(argv[2], "sized") == 0 && strcmp(argv[1], "ob") == 0)
        ns = pairs(iters, 1);
    else
        ns = xthread(iters);
    printf("%s %s %.2f %ld\n", argv[1], argv[2], ns, iters);
    return 0;
}
