/* The cross-thread protocol (src/remote.c): blocks freed by threads that do
 * not own them come back to their pools, whatever the threads do next.
 *
 *  - sixteen threads in a ring free each other's blocks and allocate, so
 *    that they reuse what they free (checked: the statistics count reuse),
 *    with every block's contents checked;
 *  - a thread exits with blocks still in its outbox and on its reuse
 *    stacks: they reach their pools, which go back to their arenas;
 *  - a consumer outlives its producer and frees everything it made: the
 *    producer's arenas go back (ob_collect), or, with a purge delay of 0,
 *    by the consumer's own purge ticks, without ob_collect;
 *  - an owner that stops allocating a class gets that class's pools back
 *    from its purge ticks;
 *  - fork while a thread holds blocks in its outbox.
 * Each ends with ob_heap_check. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "obmalloc.h" /* before check.h, whose drop-in variant renames ob_* */
#include "check.h"

static size_t class_of(const struct ob_stats *s, size_t block_size)
{
    for (size_t c = 0; c < s->nclasses; c++)
        if (s->classes[c].block_size == block_size)
            return c;
    CHECK(!"no such class");
    return 0;
}

/* ---- sixteen threads in a ring ---------------------------------------- */

#define RING 16
#define PER_ROUND 400

typedef struct slot {
    unsigned char *p[PER_ROUND];
    size_t size[PER_ROUND];
    uint64_t seed[PER_ROUND];
} slot_t;

static slot_t ring[RING];
static pthread_barrier_t ring_barrier;
static size_t ring_rounds;

static void *ring_worker(void *arg)
{
    size_t id = (size_t)(uintptr_t)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (id + 1);
    for (size_t r = 0; r < ring_rounds; r++) {
        /* Free what the previous thread made last round (another heap's
         * blocks: remote frees), then make as many: most of them come
         * from the reuse stacks once the thread has decided to reuse. */
        slot_t *prev = &ring[(id + RING - 1) % RING];
        slot_t *mine = &ring[id];
        pthread_barrier_wait(&ring_barrier);
        if (r > 0)
            for (size_t i = 0; i < PER_ROUND; i++) {
                CHECK(check_pattern(prev->p[i], prev->size[i], prev->seed[i]));
                ob_free(prev->p[i]);
            }
        pthread_barrier_wait(&ring_barrier);
        for (size_t i = 0; i < PER_ROUND; i++) {
            size_t size = 16 + rng_next(&rng) % (rng_next(&rng) % 8 ? 240 : 3000);
            mine->p[i] = ob_malloc(size);
            CHECK(mine->p[i] != NULL);
            mine->size[i] = size;
            mine->seed[i] = rng_next(&rng);
            fill_pattern(mine->p[i], size, mine->seed[i]);
        }
    }
    return NULL;
}

static void sixteen_threads(void)
{
    struct ob_stats before = stats_now();
    ring_rounds = scaled(40);
    if (ring_rounds < 3)
        ring_rounds = 3;
    pthread_barrier_init(&ring_barrier, NULL, RING);
    pthread_t t[RING];
    for (size_t i = 0; i < RING; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, ring_worker, (void *)(uintptr_t)i), 0);
    for (size_t i = 0; i < RING; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&ring_barrier);
    for (size_t s = 0; s < RING; s++)
        for (size_t i = 0; i < PER_ROUND; i++) {
            CHECK(check_pattern(ring[s].p[i], ring[s].size[i], ring[s].seed[i]));
            ob_free(ring[s].p[i]);
        }
    ob_collect(1);
    struct ob_stats after = stats_now();
    CHECK_EQ(after.bytes_in_use, before.bytes_in_use);
    if (!ob_test_diverted()) {
        /* Every thread freed only other threads' blocks and allocated as
         * many: it reused them.  (Debug mode's quarantine holds frees
         * back, so the counts differ there.) */
        CHECK(after.cross_thread_reused - before.cross_thread_reused >
              (uint64_t)(RING * PER_ROUND));
    }
    check_heap_sound();
}

/* ---- exits with blocks on their way ------------------------------------ */

#define MANY 3000

static unsigned char *blocks[MANY];

static void *free_some_and_exit(void *arg)
{
    (void)arg;
    /* Remote frees of main's blocks with some allocation in between
     * (reuse turns on), kept allocations freed before the exit: whatever
     * is still in the outbox or on a reuse stack when the thread exits
     * must go home. */
    void *kept[MANY / 2];
    size_t nkept = 0;
    for (size_t i = 0; i < MANY; i++) {
        CHECK(check_pattern(blocks[i], 64, i));
        ob_free(blocks[i]);
        if (i % 2 == 0) {
            kept[nkept] = ob_malloc(64);
            CHECK(kept[nkept] != NULL);
            memset(kept[nkept], 0x5A, 64);
            nkept++;
        }
    }
    for (size_t i = 0; i < nkept; i++)
        ob_free(kept[i]);
    /* And a few more, fewer than a batch: they wait in the outbox. */
    return NULL;
}

static void *free_few_and_exit(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < 7; i++)
        ob_free(blocks[i]);
    return NULL;
}

static void exits_with_pending(void)
{
    ob_collect(1);
    struct ob_stats s0 = stats_now();
    size_t c64 = class_of(&s0, 64);
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass == 0 ? MANY : 7;
        for (size_t i = 0; i < n; i++) {
            blocks[i] = ob_malloc(64);
            CHECK(blocks[i] != NULL);
            fill_pattern(blocks[i], 64, i);
        }
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, pass == 0 ? free_some_and_exit : free_few_and_exit,
                                NULL),
                 0);
        pthread_join(t, NULL);
        ob_collect(1);
        struct ob_stats s = stats_now();
        CHECK_EQ(s.classes[c64].blocks_in_use, s0.classes[c64].blocks_in_use);
        if (!ob_test_diverted()) {
            /* Had a block stayed in the exited thread's outbox or reuse
             * stack, its pool would still count it and stay. */
            CHECK_EQ(s.classes[c64].pools, s0.classes[c64].pools);
        }
        check_heap_sound();
    }
}

/* ob_heap_check looks at the calling thread's blocks in transit too. */
static void *make_blocks(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < 40; i++) {
        blocks[i] = ob_malloc(32 + 16 * (i % 3));
        CHECK(blocks[i] != NULL);
    }
    return NULL;
}

static void checked_in_transit(void)
{
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, make_blocks, NULL), 0);
    pthread_join(t, NULL);
    for (size_t i = 0; i < 40; i++)
        ob_free(blocks[i]); /* into this thread's outbox */
    check_heap_sound();
    ob_collect(1);
    check_heap_sound();
}

/* ---- a consumer outlives its producer ---------------------------------- */

#define PRODUCED (2u << 20) /* bytes */
#define OBJ 64

static void **products;

static void *producer(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < n; i++) {
        products[i] = ob_malloc(OBJ);
        CHECK(products[i] != NULL);
        fill_pattern(products[i], OBJ, i);
    }
    return NULL; /* exits: its arenas are abandoned, full of live blocks */
}

/* `collect`: end with ob_collect(1); else rely on the purge ticks (run
 * with OBMALLOC_PURGE_DELAY=0) */
static void consumer_outlives_producer(bool collect)
{
    size_t n = scaled(PRODUCED / OBJ);
    products = malloc(n * sizeof *products);
    CHECK(products != NULL);
    /* This thread has an arena with room, so it never adopts the
     * producer's: only the sweep of abandoned arenas can return them. */
    void *anchor = ob_malloc(1024);
    CHECK(anchor != NULL);
    ob_collect(1);
    struct ob_stats before = stats_now();
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, producer, (void *)(uintptr_t)n), 0);
    pthread_join(t, NULL);
    struct ob_stats full = stats_now();
    CHECK(full.bytes_committed >= before.bytes_committed + n * OBJ / 2);
    for (size_t i = 0; i < n; i++) {
        CHECK(check_pattern(products[i], OBJ, i));
        ob_free(products[i]); /* a remote free into an abandoned arena */
    }
    if (collect) {
        ob_collect(1);
    } else {
        /* A consumer that goes on working (other threads' blocks freed,
         * pages taken) reaches purge ticks; with a purge delay of 0 every
         * tick is due, and one of them sweeps the abandoned arenas. */
        void *v[64];
        for (int round = 0; round < 256; round++) {
            for (int i = 0; i < 64; i++)
                v[i] = ob_malloc(1024);
            for (int i = 0; i < 64; i++)
                ob_free(v[i]);
        }
    }
    struct ob_stats after = stats_now();
    if (getenv("OB_TEST_VERBOSE"))
        fprintf(stderr, "committed: before %zu full %zu after %zu; arenas %zu/%zu\n",
                before.bytes_committed, full.bytes_committed, after.bytes_committed,
                before.arenas_current, after.arenas_current);
    /* The producer's pages went back: at most a few pools' worth stay
     * (the consumer's outbox holds the last few blocks until its next
     * tick). */
    CHECK(after.bytes_committed <= before.bytes_committed + (512u << 10));
    free(products);
    ob_free(anchor);
    check_heap_sound();
}

/* ---- an owner stops allocating a class ---------------------------------- */

static void *free_all_products(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < n; i++) {
        CHECK(check_pattern(products[i], 96, i));
        ob_free(products[i]);
    }
    return NULL;
}

static void owner_stops_allocating_a_class(void)
{
    size_t n = scaled((1u << 20) / 96);
    products = malloc(n * sizeof *products);
    CHECK(products != NULL);
    struct ob_stats s0 = stats_now();
    size_t c96 = class_of(&s0, 96);
    for (size_t i = 0; i < n; i++) {
        products[i] = ob_malloc(96);
        CHECK(products[i] != NULL);
        fill_pattern(products[i], 96, i);
    }
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, free_all_products, (void *)(uintptr_t)n), 0);
    pthread_join(t, NULL);
    /* This thread never allocates 96 bytes again, but keeps working with
     * another class, through slow paths that reach purge ticks. */
    for (int round = 0; round < 16; round++) {
        void *v[512];
        for (int i = 0; i < 512; i++)
            v[i] = ob_malloc(200);
        for (int i = 0; i < 512; i++)
            ob_free(v[i]);
    }
    struct ob_stats s = stats_now();
    /* The class's pools went back, but for the current one. */
    CHECK(s.classes[c96].pools <= s0.classes[c96].pools + 1);
    free(products);
    check_heap_sound();
}

/* ---- fork with blocks in an outbox ------------------------------------- */

static pthread_barrier_t fork_barrier;

static void *hold_pending(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < 5; i++)
        ob_free(blocks[i]); /* stays in this thread's outbox */
    pthread_barrier_wait(&fork_barrier); /* main forks now */
    pthread_barrier_wait(&fork_barrier);
    return NULL; /* the exit sends them home */
}

static void fork_with_pending(void)
{
    for (size_t i = 0; i < 64; i++) {
        blocks[i] = ob_malloc(48);
        CHECK(blocks[i] != NULL);
        fill_pattern(blocks[i], 48, i);
    }
    pthread_barrier_init(&fork_barrier, NULL, 2);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, hold_pending, NULL), 0);
    pthread_barrier_wait(&fork_barrier);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* The thread and its outbox did not come along: its five blocks
         * never come back here, and nothing may break because of it. */
        for (size_t i = 5; i < 64; i++) {
            if (!check_pattern(blocks[i], 48, i))
                _exit(2);
            ob_free(blocks[i]);
        }
        void *v[1000];
        for (int i = 0; i < 1000; i++)
            if ((v[i] = ob_malloc(48)) == NULL)
                _exit(3);
        for (int i = 0; i < 1000; i++)
            ob_free(v[i]);
        ob_collect(1);
        struct ob_heap_check_result r;
        _exit(ob_heap_check(&r) == 0 ? 0 : 4);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pthread_barrier_wait(&fork_barrier);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&fork_barrier);
    for (size_t i = 5; i < 64; i++) {
        CHECK(check_pattern(blocks[i], 48, i));
        ob_free(blocks[i]);
    }
    ob_collect(1);
    check_heap_sound();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ticks") == 0) {
        /* Run with OBMALLOC_PURGE_DELAY=0: memory comes back without
         * ob_collect. */
        consumer_outlives_producer(false);
        owner_stops_allocating_a_class();
        puts("test_remote ticks: ok");
        return 0;
    }
    sixteen_threads();
    exits_with_pending();
    checked_in_transit();
    consumer_outlives_producer(true);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    /* (The sanitizers' own allocators are not fork-safe; test_fork has no
     * sanitizer variant either.) */
    fork_with_pending();
#endif
    puts("test_remote: ok");
    return 0;
}
