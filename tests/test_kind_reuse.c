/*
 * Delayed reuse in a region kind (ob_kind_set_reuse_goal, issue 27): a
 * pool of the kind that empties keeps its pages and its class until the
 * runtime's goal is reached, then they serve any class again; its own
 * class may use them meanwhile.
 *
 * The goal here is a counter the test moves by hand, as a runtime's
 * grace-period sequence would move: goal() = the next sequence number,
 * reached(g) = the test has released the sequence up to g.  "Its
 * pages serve another class" is read from addresses: after 64-byte blocks
 * fill 20 pools and are all freed, 128-byte blocks from the same region
 * land in none of those pages while the goal is not reached, and in some
 * of them once it is.  A kind without a goal is the control: there the
 * pages serve the other class at once.  Also: pools emptied by another
 * thread's frees, a region that is released with held pools and a later
 * region of the kind that adopts them (and asks for a goal of its own),
 * and bad arguments.
 */
#include <pthread.h>
#include <stdbool.h>

#include "check.h"

#define POOLS 20
#define SMALL 64
#define SMALL_PER_POOL 256 /* 16 KiB pools */
#define N (POOLS * SMALL_PER_POOL)
#define PAGE_SHIFT 14

static _Atomic uint64_t sequence, released;
static _Atomic unsigned goals_asked, polls;

static uint64_t goal(void *arg)
{
    CHECK(arg == &sequence);
    goals_asked++;
    return ++sequence; /* each goal later than every one before */
}

static int reached(uint64_t g, void *arg)
{
    CHECK(arg == &sequence);
    polls++;
    return released >= g;
}

/* Every goal given so far is reached; later ones are not. */
static void release_goals(void)
{
    released = sequence;
}

/* The pages of the blocks, sorted, for lookups. */
static uintptr_t pages[N];

static int cmp(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void record_pages(void **blocks)
{
    for (int i = 0; i < N; i++)
        pages[i] = (uintptr_t)blocks[i] >> PAGE_SHIFT;
    qsort(pages, N, sizeof pages[0], cmp);
}

static bool in_old_pages(const void *p)
{
    uintptr_t page = (uintptr_t)p >> PAGE_SHIFT;
    return bsearch(&page, pages, N, sizeof page, cmp) != NULL;
}

/* 128-byte blocks from r: how many land in the recorded pages. */
static int landed(ob_region_t *r, void **out, int n)
{
    int hits = 0;
    for (int i = 0; i < n; i++) {
        CHECK((out[i] = ob_region_malloc(r, 128)) != NULL);
        hits += in_old_pages(out[i]);
    }
    return hits;
}

static void free_all(void **blocks, int n)
{
    for (int i = 0; i < n; i++)
        ob_free(blocks[i]);
}

static void *small[N], *big[2 * N];

static void fill(ob_region_t *r)
{
    for (int i = 0; i < N; i++)
        CHECK((small[i] = ob_region_malloc(r, SMALL)) != NULL);
    record_pages(small);
}

/* ---- the owner frees: held until the goal, then reused ------------------- */

static void owner_frees(void)
{
    ob_region_t *r = ob_region_new_kind(3, 3);
    CHECK(r != NULL);
    fill(r);
    unsigned asked = goals_asked;
    free_all(small, N);
    CHECK(goals_asked - asked >= POOLS - 1); /* all but the current pool */
    CHECK_EQ(landed(r, big, N), 0);
    free_all(big, N);
    /* Its own class may use them meanwhile, as CPython's mimalloc pages
     * are used: beyond the current pool's blocks, the held pools serve. */
    int same = 0;
    for (int i = 0; i < 4 * SMALL_PER_POOL; i++) {
        CHECK((small[i] = ob_region_malloc(r, SMALL)) != NULL);
        same += in_old_pages(small[i]);
    }
    CHECK(same > SMALL_PER_POOL);
    free_all(small, 4 * SMALL_PER_POOL);
    CHECK_EQ(landed(r, big, N), 0); /* and another class still may not */
    free_all(big, N);
    release_goals();
    int hits = landed(r, big, 2 * N);
    CHECK(hits > 0);
    CHECK(polls > 0);
    printf("owner's frees: %d of %d blocks of the same class in the held pools before the goal, "
           "0 of another class; %d once the goal was reached\n", same, 4 * SMALL_PER_POOL, hits);
    free_all(big, 2 * N);
    ob_region_destroy(r);
}

/* The control: no goal, the pages serve another class at once. */
static void control(void)
{
    ob_region_t *r = ob_region_new_kind(4, 4);
    CHECK(r != NULL);
    fill(r);
    free_all(small, N);
    int hits = landed(r, big, N);
    CHECK(hits > 0);
    printf("control (no goal): %d blocks of another class at once\n", hits);
    free_all(big, N);
    ob_region_destroy(r);
}

/* ---- another thread frees ---------------------------------------------- */

static void *free_them(void *arg)
{
    (void)arg;
    free_all(small, N);
    return NULL;
}

static void remote_frees(void)
{
    ob_region_t *r = ob_region_new_kind(3, 3);
    CHECK(r != NULL);
    fill(r);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_them, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    unsigned asked = goals_asked;
    /* The owner takes the remote frees in at its purge ticks (every
     * OBMALLOC_PURGE_DELAY ms of slow paths): keep it busy past a few. */
    int hits = 0;
    for (int round = 0; round < 20 && goals_asked - asked < POOLS - 1; round++) {
        usleep(20 * 1000);
        hits += landed(r, big, 2000);
        free_all(big, 2000);
    }
    CHECK(goals_asked - asked >= POOLS - 1);
    CHECK_EQ(hits, 0);
    release_goals();
    hits = landed(r, big, 2 * N);
    CHECK(hits > 0);
    printf("another thread's frees: pools held at the owner's ticks; %d reused after the goal\n",
           hits);
    free_all(big, 2 * N);
    ob_region_destroy(r);
}

/* ---- a released region's held pools, adopted ------------------------------ */

static void *exit_holding(void *arg)
{
    (void)arg;
    ob_region_t *r = ob_region_new_kind(3, 30);
    CHECK(r != NULL);
    fill(r);
    free_all(small, N);
    return NULL; /* exits: r is released with its pools held */
}

static void *adopt(void *arg)
{
    (void)arg;
    ob_region_t *r = ob_region_new_kind(3, 31);
    CHECK(r != NULL);
    unsigned asked = goals_asked;
    CHECK_EQ(landed(r, big, N), 0);
    CHECK(goals_asked - asked >= POOLS - 1); /* held again, with a goal of its own */
    free_all(big, N);
    release_goals();
    int hits = landed(r, big, 2 * N);
    CHECK(hits > 0);
    printf("released with held pools: the adopter held them again; %d reused after its goal\n",
           hits);
    free_all(big, 2 * N);
    ob_region_release(r);
    return NULL;
}

static void exit_and_adopt(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, exit_holding, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    /* malloc never takes them, nor their pages. */
    void **plain = big;
    for (int i = 0; i < N; i++) {
        CHECK((plain[i] = ob_malloc(128)) != NULL);
        CHECK(!in_old_pages(plain[i]));
    }
    free_all(plain, N);
    CHECK(pthread_create(&t, NULL, adopt, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

int main(void)
{
    CHECK_EQ(ob_kind_set_reuse_goal(0, goal, reached, &sequence), EINVAL);
    CHECK_EQ(ob_kind_set_reuse_goal(16, goal, reached, &sequence), EINVAL);
    CHECK_EQ(ob_kind_set_reuse_goal(3, goal, NULL, &sequence), EINVAL);
    CHECK_EQ(ob_kind_set_reuse_goal(3, NULL, reached, &sequence), EINVAL);
    CHECK_EQ(ob_kind_set_reuse_goal(4, NULL, NULL, NULL), 0); /* off, as it was */
    CHECK_EQ(ob_kind_set_reuse_goal(3, goal, reached, &sequence), 0);
    owner_frees();
    control();
    remote_frees();
    exit_and_adopt();
    struct ob_heap_check_result r;
    CHECK_EQ(ob_heap_check(&r), 0);
    printf("test_kind_reuse: ok\n");
    return 0;
}
