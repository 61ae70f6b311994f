/* Threads: 8+ threads allocate mixed sizes, hand about half of their blocks
 * to another thread to free, and are created and joined again and again;
 * some blocks outlive their thread and are freed by the main thread.  Every
 * block's contents are checked before it is freed.  A producer/consumer
 * phase keeps pools going full and coming back through notification. */
#include <pthread.h>
#include <stdatomic.h>

#include "obmalloc.h" /* before check.h, whose drop-in variant renames ob_* */
#include "check.h"

#define THREADS 8

typedef struct item {
    unsigned char *p;
    size_t size;
    uint64_t seed;
} item_t;

typedef struct worker {
    int id;
    size_t n;
    item_t *own;      /* freed by this thread                  */
    item_t *outbox;   /* freed by the next thread              */
    item_t *leftover; /* freed by main after the thread is gone */
    size_t nown, nout, nleft;
    uint64_t rng;
} worker_t;

static worker_t workers[THREADS];
static pthread_barrier_t barrier;

static size_t random_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    switch (r % 100) {
    case 0:
        return (size_t)(r >> 8) % (3 << 20) + (1 << 20); /* huge, rarely */
    case 1: case 2: case 3:
        return (size_t)(r >> 8) % 300000 + 512;          /* medium and large */
    case 4: case 5: case 6: case 7: case 8: case 9:
        return (size_t)(r >> 8) % 8192;
    default:
        return (size_t)(r >> 8) % 512;                   /* mostly small */
    }
}

static item_t make_item(uint64_t *rng)
{
    item_t it;
    it.size = random_size(rng);
    it.seed = rng_next(rng);
    it.p = ob_malloc(it.size);
    CHECK(it.p != NULL);
    /* Touch only the ends of big blocks, to keep the test quick. */
    if (it.size <= 4096) {
        fill_pattern(it.p, it.size, it.seed);
    } else {
        fill_pattern(it.p, 64, it.seed);
        fill_pattern(it.p + it.size - 64, 64, it.seed + 1);
    }
    return it;
}

static void check_free(item_t *it)
{
    if (it->size <= 4096) {
        CHECK(check_pattern(it->p, it->size, it->seed));
    } else {
        CHECK(check_pattern(it->p, 64, it->seed));
        CHECK(check_pattern(it->p + it->size - 64, 64, it->seed + 1));
    }
    if (it->seed & 1)
        ob_free(it->p);
    else
        ob_free_sized(it->p, it->size);
    it->p = NULL;
}

static void *run_worker(void *arg)
{
    worker_t *w = arg;
    /* Phase 1: allocate; half for us, ~half for the next thread, a few
     * to outlive us. */
    for (size_t i = 0; i < w->n; i++) {
        item_t it = make_item(&w->rng);
        uint64_t r = rng_next(&w->rng) % 100;
        if (r < 48)
            w->own[w->nown++] = it;
        else if (r < 96)
            w->outbox[w->nout++] = it;
        else
            w->leftover[w->nleft++] = it;
        /* Churn: free some of our own as we go. */
        if (w->nown > 64 && (r & 3) == 0)
            check_free(&w->own[--w->nown]);
    }
    pthread_barrier_wait(&barrier);
    /* Phase 2: free the previous thread's outbox, interleaved with more
     * allocation and our own frees. */
    worker_t *prev = &workers[(w->id + THREADS - 1) % THREADS];
    for (size_t i = 0; i < prev->nout; i++) {
        check_free(&prev->outbox[i]);
        if (i % 4 == 0) {
            item_t it = make_item(&w->rng);
            check_free(&it);
        }
        if (w->nown > 0 && i % 2 == 0)
            check_free(&w->own[--w->nown]);
    }
    while (w->nown > 0)
        check_free(&w->own[--w->nown]);
    return NULL;
}

static void mixed_rounds(int rounds, size_t per_thread)
{
    for (int t = 0; t < THREADS; t++) {
        workers[t].own = calloc(per_thread, sizeof(item_t));
        workers[t].outbox = calloc(per_thread, sizeof(item_t));
        workers[t].leftover = calloc(per_thread, sizeof(item_t));
    }
    item_t *orphans = NULL;
    size_t norphans = 0;
    for (int round = 0; round < rounds; round++) {
        pthread_barrier_init(&barrier, NULL, THREADS);
        pthread_t tid[THREADS];
        for (int t = 0; t < THREADS; t++) {
            worker_t *w = &workers[t];
            w->id = t;
            w->n = per_thread;
            w->nown = w->nout = w->nleft = 0;
            w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(round * THREADS + t + 1);
            CHECK(pthread_create(&tid[t], NULL, run_worker, w) == 0);
        }
        for (int t = 0; t < THREADS; t++)
            pthread_join(tid[t], NULL);
        pthread_barrier_destroy(&barrier);
        /* Free the last round's orphans now (their threads are long gone),
         * and keep this round's for the next: abandoned arenas get adopted
         * while they still hold live blocks. */
        for (size_t i = 0; i < norphans; i++)
            check_free(&orphans[i]);
        free(orphans);
        norphans = 0;
        for (int t = 0; t < THREADS; t++)
            norphans += workers[t].nleft;
        orphans = calloc(norphans + 1, sizeof(item_t));
        norphans = 0;
        for (int t = 0; t < THREADS; t++)
            for (size_t i = 0; i < workers[t].nleft; i++)
                orphans[norphans++] = workers[t].leftover[i];
    }
    for (size_t i = 0; i < norphans; i++)
        check_free(&orphans[i]);
    free(orphans);
    for (int t = 0; t < THREADS; t++) {
        free(workers[t].own);
        free(workers[t].outbox);
        free(workers[t].leftover);
    }
}

/* ---- producer / consumer ---------------------------------------------- */

#define RING 1024

typedef struct channel {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    item_t ring[RING];
    size_t head, tail;
    int done;
} channel_t;

typedef struct pc {
    channel_t *ch;
    size_t count;
    uint64_t rng;
} pc_t;

static void *producer(void *arg)
{
    pc_t *pc = arg;
    channel_t *ch = pc->ch;
    for (size_t i = 0; i < pc->count; i++) {
        item_t it;
        it.size = 16 + rng_next(&pc->rng) % 100;
        it.seed = rng_next(&pc->rng);
        it.p = ob_malloc(it.size);
        fill_pattern(it.p, it.size, it.seed);
        pthread_mutex_lock(&ch->lock);
        while (ch->tail - ch->head == RING)
            pthread_cond_wait(&ch->cond, &ch->lock);
        ch->ring[ch->tail++ % RING] = it;
        pthread_cond_broadcast(&ch->cond);
        pthread_mutex_unlock(&ch->lock);
    }
    pthread_mutex_lock(&ch->lock);
    ch->done = 1;
    pthread_cond_broadcast(&ch->cond);
    pthread_mutex_unlock(&ch->lock);
    return NULL;
}

static void *consumer(void *arg)
{
    pc_t *pc = arg;
    channel_t *ch = pc->ch;
    for (;;) {
        pthread_mutex_lock(&ch->lock);
        while (ch->head == ch->tail && !ch->done)
            pthread_cond_wait(&ch->cond, &ch->lock);
        if (ch->head == ch->tail && ch->done) {
            pthread_mutex_unlock(&ch->lock);
            return NULL;
        }
        item_t it = ch->ring[ch->head++ % RING];
        pthread_cond_broadcast(&ch->cond);
        pthread_mutex_unlock(&ch->lock);
        CHECK(check_pattern(it.p, it.size, it.seed));
        ob_free(it.p);
        pc->count++;
    }
}

static void producer_consumer(size_t count)
{
    enum { PAIRS = 4 };
    static channel_t ch[PAIRS];
    pc_t prod[PAIRS], cons[PAIRS];
    pthread_t tp[PAIRS], tc[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        pthread_mutex_init(&ch[i].lock, NULL);
        pthread_cond_init(&ch[i].cond, NULL);
        ch[i].head = ch[i].tail = 0;
        ch[i].done = 0;
        prod[i] = (pc_t){&ch[i], count, (uint64_t)i * 7 + 1};
        cons[i] = (pc_t){&ch[i], 0, 0};
        pthread_create(&tp[i], NULL, producer, &prod[i]);
        pthread_create(&tc[i], NULL, consumer, &cons[i]);
    }
    for (int i = 0; i < PAIRS; i++) {
        pthread_join(tp[i], NULL);
        pthread_join(tc[i], NULL);
        CHECK_EQ(cons[i].count, count);
    }
}

/* ---- many short-lived threads ----------------------------------------- */

static void *short_lived(void *arg)
{
    item_t *slot = arg;
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    /* Free what the previous thread left, leave something for the next. */
    if (slot->p != NULL)
        check_free(slot);
    for (int i = 0; i < 50; i++) {
        item_t it = make_item(&rng);
        check_free(&it);
    }
    *slot = make_item(&rng);
    return NULL;
}

static void thread_churn(int n)
{
    item_t slot = {0};
    for (int i = 0; i < n; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, short_lived, &slot) == 0);
        pthread_join(t, NULL);
    }
    check_free(&slot);
}

/* Huge blocks that grow move their pages elsewhere (mremap) while other
 * threads map and unmap huge blocks of their own: the address range a
 * block leaves may be handed to another thread's new block at once, and
 * must not lose that block's map entries. */
static atomic_int growing_done;

static void *grow_huge(void *arg)
{
    (void)arg;
    for (size_t round = 0; round < scaled(400); round++) {
        unsigned char *p = ob_malloc((size_t)2 << 20);
        CHECK(p != NULL);
        p[0] = 1;
        for (size_t mib = 3; mib <= 9; mib += 2) {
            p = ob_realloc(p, mib << 20);
            CHECK(p != NULL && p[0] == 1);
        }
        ob_free(p);
    }
    atomic_store(&growing_done, 1);
    return NULL;
}

static void *churn_huge(void *arg)
{
    uint64_t rng = (uintptr_t)arg;
    /* Until the grower is done, but not forever: under valgrind, which runs
     * one thread at a time, the churners can keep the grower off the huge
     * blocks' lock for minutes (seen: a run that never ended). */
    size_t most = scaled(2000);
    for (unsigned n = 0; !atomic_load(&growing_done) && n < most; n++) {
        /* Sizes vary, so that malloc also takes a smaller cached block and
         * grows it, which may move it too. */
        unsigned char *q[4];
        for (int i = 0; i < 4; i++) {
            q[i] = ob_malloc(((size_t)1 << 20) + rng_next(&rng) % ((size_t)8 << 20));
            CHECK(q[i] != NULL);
            q[i][i] = (unsigned char)i;
        }
        for (int i = 0; i < 4; i++) {
            CHECK(q[i][i] == (unsigned char)i);
            ob_free(q[i]); /* "not allocated by obmalloc" if its entries were lost */
        }
        if (n % 8 == 0)
            ob_collect(1); /* unmaps the cached ones: address space moves around */
    }
    return NULL;
}

static void huge_moves(void)
{
    pthread_t g, c[2];
    atomic_store(&growing_done, 0);
    pthread_create(&g, NULL, grow_huge, NULL);
    for (int i = 0; i < 2; i++)
        pthread_create(&c[i], NULL, churn_huge, (void *)(uintptr_t)(i + 7));
    pthread_join(g, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(c[i], NULL);
}

int main(void)
{
    huge_moves();
    mixed_rounds((int)scaled(6) + 1, scaled(20000));
    producer_consumer(scaled(200000));
    thread_churn((int)scaled(300));
    /* Everything was freed: after a forced collection nothing stays mapped
     * but this thread's own arenas. */
    check_heap_sound();
    ob_collect(1);
    check_heap_sound();
    printf("threads: all blocks checked and freed\n");
    return 0;
}
