/*
 * Region kinds (issue 27): regions of a kind bound to threads, the walk of
 * every live block of a kind (live threads' regions and what exited
 * threads left), the owner of a block, and adoption only within a kind.
 *
 * Each worker thread makes a region of kind 1 and one of kind 2 (tags:
 * its number), allocates a known set of blocks in each (small, medium,
 * aligned, huge), frees some itself and hands some to the main thread to
 * free (remote frees), then either exits (its regions are released) or
 * stays parked.  With every worker paused or gone, the main thread checks:
 *  - ob_kind_visit(k) finds exactly the live blocks of kind k, each once,
 *    whether its thread lives or not;
 *  - ob_block_owner(p) is the tag while the thread lives, 0 after it
 *    exited, the new region's tag once a later region of the kind adopted
 *    the memory, and never a tag of another kind;
 *  - malloc and the other kind never adopt a kind's memory;
 *  - bad input: kinds 0 and 16, NULL and foreign pointers.
 */
#include <pthread.h>
#include <stdbool.h>

#include "check.h"

#define WORKERS 6
#define BLOCKS 3000 /* per worker and kind */

typedef struct worker {
    int id;
    bool exits;
    void *blocks[2][BLOCKS];
    bool live[2][BLOCKS];
    ob_region_t *region[2];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stage; /* 1: allocated (main may look), 2: main says finish */
} worker_t;

static worker_t workers[WORKERS];
/* Every worker has allocated before any exits: a region of the kind that
 * still allocates would adopt an exited one's memory (and its owner
 * would change: right, but not what the first checks expect). */
static pthread_barrier_t allocated;

static size_t size_of(int i)
{
    if (i % 500 == 7)
        return (size_t)2 << 20; /* huge */
    if (i % 100 == 3)
        return 40000; /* multi-page class */
    return 16 + (size_t)(i % 37) * 24;
}

static uintptr_t tag_of(int id, int kind) { return (uintptr_t)(1000 * kind + id + 1); }

static void *work(void *arg)
{
    worker_t *w = arg;
    for (int k = 0; k < 2; k++) {
        w->region[k] = ob_region_new_kind((unsigned)(k + 1), tag_of(w->id, k + 1));
        CHECK(w->region[k] != NULL);
        for (int i = 0; i < BLOCKS; i++) {
            void *p = i % 250 == 11 ? ob_region_aligned_alloc(w->region[k], 256, 100)
                                    : ob_region_malloc(w->region[k], size_of(i));
            CHECK(p != NULL);
            memset(p, 0x5a, 16);
            w->blocks[k][i] = p;
            w->live[k][i] = true;
        }
        for (int i = 0; i < BLOCKS; i += 3) { /* a third freed by the owner */
            ob_free(w->blocks[k][i]);
            w->live[k][i] = false;
        }
    }
    pthread_barrier_wait(&allocated);
    pthread_mutex_lock(&w->lock);
    w->stage = 1;
    pthread_cond_broadcast(&w->cond);
    while (!w->exits && w->stage != 2)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    return NULL; /* an exiting thread's regions are released */
}

/* ---- the walk ---------------------------------------------------------- */

typedef struct tally {
    size_t found, unknown, twice;
    int kind;
} tally_t;

/* Which worker's block of kind k is p?  A sorted index of every block
 * ever handed out, rebuilt before each walk. */
typedef struct entry {
    void *p;
    int worker, index;
} entry_t;
static entry_t index_of[2][WORKERS * BLOCKS];

static int by_address(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

static void build_index(void)
{
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        for (int t = 0; t < WORKERS; t++)
            for (int i = 0; i < BLOCKS; i++)
                index_of[k][n++] = (entry_t){workers[t].blocks[k][i], t, i};
        qsort(index_of[k], n, sizeof(entry_t), by_address);
    }
}

/* The live block of kind k at p (addresses are reused: a freed block's may
 * be another's, so the live one of those wins). */
static bool find(void *p, int k, worker_t **w, int *index)
{
    entry_t key = {p, 0, 0};
    entry_t *e = bsearch(&key, index_of[k], WORKERS * BLOCKS, sizeof(entry_t), by_address);
    if (e == NULL)
        return false;
    while (e > index_of[k] && e[-1].p == p)
        e--;
    for (; e < index_of[k] + WORKERS * BLOCKS && e->p == p; e++)
        if (workers[e->worker].live[k][e->index]) {
            *w = &workers[e->worker];
            *index = e->index;
            return true;
        }
    return false;
}

static bool visited[WORKERS][2][BLOCKS];

static int count_block(void *block, size_t usable, void *arg)
{
    tally_t *t = arg;
    worker_t *w;
    int i;
    if (!find(block, t->kind, &w, &i)) {
        t->unknown++;
        return 0;
    }
    CHECK(usable >= (i % 250 == 11 ? 100 : size_of(i)));
    if (visited[w->id][t->kind][i])
        t->twice++;
    visited[w->id][t->kind][i] = true;
    t->found++;
    return 0;
}

static size_t live_count(int k)
{
    size_t n = 0;
    for (int t = 0; t < WORKERS; t++)
        for (int i = 0; i < BLOCKS; i++)
            n += workers[t].live[k][i];
    return n;
}

static void walk_is_exact(const char *when)
{
    build_index();
    for (int k = 0; k < 2; k++) {
        memset(visited, 0, sizeof visited);
        tally_t t = {0, 0, 0, k};
        CHECK_EQ(ob_kind_visit((unsigned)(k + 1), count_block, &t), 0);
        if (t.found != live_count(k) || t.unknown != 0 || t.twice != 0) {
            fprintf(stderr, "%s: kind %d: found %zu of %zu live, %zu unknown, %zu twice\n", when,
                    k + 1, t.found, live_count(k), t.unknown, t.twice);
            exit(1);
        }
    }
}

static int stop_at_third(void *block, size_t usable, void *arg)
{
    (void)block;
    (void)usable;
    return ++*(int *)arg == 3 ? 42 : 0;
}

/* ---- owners -------------------------------------------------------------- */

static void owners_are(const char *when)
{
    for (int t = 0; t < WORKERS; t++)
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < BLOCKS; i++) {
                if (!workers[t].live[k][i])
                    continue;
                CHECK_EQ(ob_block_kind(workers[t].blocks[k][i]), k + 1); /* huge ones too */
                uintptr_t owner = ob_block_owner(workers[t].blocks[k][i]);
                uintptr_t expected = workers[t].exits ? 0 : tag_of(t, k + 1);
                if (owner != expected) {
                    fprintf(stderr, "%s: worker %d kind %d block %d: owner %lu, expected %lu\n",
                            when, t, k + 1, i, (unsigned long)owner, (unsigned long)expected);
                    exit(1);
                }
            }
}

/* A later region of kind 1 that needs pages adopts what exited threads
 * left of kind 1 (and only of kind 1): their blocks become its own. */
static uintptr_t adopter_tag = 77;

static void *adopt(void *arg)
{
    (void)arg;
    ob_region_t *r = ob_region_new_kind(1, adopter_tag);
    CHECK(r != NULL);
    void *p[20000];
    for (int i = 0; i < 20000; i++)
        CHECK((p[i] = ob_region_malloc(r, 16 + (size_t)(i % 37) * 24)) != NULL);
    bool adopted = false;
    for (int t = 0; t < WORKERS; t++) {
        if (!workers[t].exits)
            continue;
        for (int i = 0; i < BLOCKS; i++) {
            if (!workers[t].live[0][i] || size_of(i) > 16 + 36 * 24 || i % 250 == 11)
                continue;
            uintptr_t o1 = ob_block_owner(workers[t].blocks[0][i]);
            CHECK(o1 == 0 || o1 == adopter_tag);
            adopted |= o1 == adopter_tag;
            /* Kind 2's memory is never kind 1's. */
            if (workers[t].live[1][i])
                CHECK_EQ(ob_block_owner(workers[t].blocks[1][i]), 0);
        }
    }
    CHECK(adopted); /* 20000 blocks need pages: the abandoned ones come first */
    for (int i = 0; i < 20000; i++)
        ob_free(p[i]);
    ob_region_release(r);
    return NULL;
}

int main(void)
{
    /* Bad input. */
    errno = 0;
    CHECK(ob_region_new_kind(0, 1) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(ob_region_new_kind(16, 1) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(ob_kind_visit(0, count_block, NULL) == -1 && errno == EINVAL);
    CHECK(ob_kind_visit(16, count_block, NULL) == -1);
    CHECK_EQ(ob_kind_visit(5, NULL, NULL), 0);
    CHECK_EQ(ob_block_owner(NULL), 0);
    int on_stack;
    CHECK_EQ(ob_block_owner(&on_stack), 0);
    void *plain = ob_malloc(64);
    CHECK_EQ(ob_block_owner(plain), 0);
    CHECK_EQ(ob_block_kind(plain), 0);
    CHECK_EQ(ob_block_kind(NULL), 0);
    CHECK_EQ(ob_block_kind(&on_stack), 0);

    pthread_t th[WORKERS];
    CHECK(pthread_barrier_init(&allocated, NULL, WORKERS) == 0);
    for (int t = 0; t < WORKERS; t++) {
        workers[t].id = t;
        workers[t].exits = t % 2 == 1;
        pthread_mutex_init(&workers[t].lock, NULL);
        pthread_cond_init(&workers[t].cond, NULL);
        CHECK(pthread_create(&th[t], NULL, work, &workers[t]) == 0);
    }
    for (int t = 0; t < WORKERS; t++) {
        pthread_mutex_lock(&workers[t].lock);
        while (workers[t].stage != 1)
            pthread_cond_wait(&workers[t].cond, &workers[t].lock);
        pthread_mutex_unlock(&workers[t].lock);
    }
    for (int t = 1; t < WORKERS; t += 2)
        CHECK(pthread_join(th[t], NULL) == 0); /* the exiting ones are gone */

    walk_is_exact("after half the threads exited");
    owners_are("after half the threads exited");

    /* Remote frees, by this thread, into live and released regions alike. */
    for (int t = 0; t < WORKERS; t++)
        for (int k = 0; k < 2; k++)
            for (int i = 1; i < BLOCKS; i += 5)
                if (workers[t].live[k][i]) {
                    ob_free(workers[t].blocks[k][i]);
                    workers[t].live[k][i] = false;
                }
    walk_is_exact("after remote frees");
    owners_are("after remote frees");

    /* A walk stops where fn says, and says why. */
    int n = 0;
    CHECK_EQ(ob_kind_visit(2, stop_at_third, &n), 42);
    CHECK_EQ(n, 3);

    /* malloc, with all that memory lying abandoned, never takes it. */
    void *many[30000];
    for (int i = 0; i < 30000; i++)
        CHECK((many[i] = ob_malloc(16 + (size_t)(i % 37) * 24)) != NULL);
    for (int i = 0; i < 30000; i++)
        CHECK_EQ(ob_block_owner(many[i]), 0);
    walk_is_exact("after malloc");
    owners_are("after malloc");
    for (int i = 0; i < 30000; i++)
        ob_free(many[i]);

    /* A later region of kind 1 adopts kind 1's abandoned memory. */
    pthread_t a;
    CHECK(pthread_create(&a, NULL, adopt, NULL) == 0);
    CHECK(pthread_join(a, NULL) == 0);
    walk_is_exact("after a region of kind 1 adopted and was released");

    /* The parked threads finish; then everything is abandoned, and freeing
     * it all leaves the kinds empty. */
    for (int t = 0; t < WORKERS; t += 2) {
        pthread_mutex_lock(&workers[t].lock);
        workers[t].stage = 2;
        pthread_cond_broadcast(&workers[t].cond);
        pthread_mutex_unlock(&workers[t].lock);
        CHECK(pthread_join(th[t], NULL) == 0);
        workers[t].exits = true;
    }
    walk_is_exact("after every thread exited");
    owners_are("after every thread exited");
    for (int t = 0; t < WORKERS; t++)
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < BLOCKS; i++)
                if (workers[t].live[k][i]) {
                    ob_free(workers[t].blocks[k][i]);
                    workers[t].live[k][i] = false;
                }
    walk_is_exact("after freeing everything");
    ob_free(plain);
    struct ob_heap_check_result r;
    CHECK_EQ(ob_heap_check(&r), 0);
    printf("test_kinds: ok\n");
    return 0;
}
