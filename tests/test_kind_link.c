/*
 * Link-only frees in a region kind (ob_kind_set_free_link_only, issue 27):
 * a free writes the block's first word and nothing else, by the owner and
 * by another thread alike, while double frees are still caught and walks,
 * ob_region_contains and ob_heap_check still know which blocks are free.
 * A block handed out and freed untouched is no double free (a region's
 * malloc clears the first word, where the link that tells a free block
 * would be): CPython's PyObject_Malloc(0) then PyObject_Free does that.  The control, a kind
 * without the setting, has its freed blocks' second word changed (the
 * free mark) in a hardened build.
 */
#include <pthread.h>
#include <stdbool.h>

#include "check.h"

#define N 4000
#define WORDS 6 /* 48-byte blocks: the first word is the link */

static uint64_t *blocks[N];

static uint64_t pattern(int i, int w) { return 0x1234567800000000ull ^ ((uint64_t)i << 8) ^ (uint64_t)w; }

static void fill(ob_region_t *r)
{
    for (int i = 0; i < N; i++) {
        CHECK((blocks[i] = ob_region_malloc(r, WORDS * 8)) != NULL);
        for (int w = 0; w < WORDS; w++)
            blocks[i][w] = pattern(i, w);
    }
}

/* Words 1..WORDS-1 of the freed blocks, changed since they were written? */
static int changed(void)
{
    int n = 0;
    for (int i = 0; i < N; i++)
        for (int w = 1; w < WORDS; w++)
            n += blocks[i][w] != pattern(i, w);
    return n;
}

static void *free_odd(void *arg)
{
    (void)arg;
    for (int i = 1; i < N; i += 2)
        ob_free(blocks[i]);
    return NULL;
}

static int count(void *block, size_t usable, void *arg)
{
    (void)block;
    (void)usable;
    ++*(int *)arg;
    return 0;
}

static void double_free(void)
{
    ob_region_t *r = ob_region_new_kind(5, 5);
    uint64_t *p = ob_region_malloc(r, 48);
    void *keep = ob_region_malloc(r, 48);
    p[0] = 42; /* the contract: the first word written */
    ob_free(p);
    ob_free(p);
    printf("%p\n", keep);
}

static void double_free_remote_half(void)
{
    ob_region_t *r = ob_region_new_kind(5, 5);
    uint64_t *p = ob_region_malloc(r, 48);
    p[0] = 42;
    pthread_t t;
    blocks[1] = p;
    CHECK(pthread_create(&t, NULL, free_odd, NULL) == 0); /* frees blocks[1] */
    CHECK(pthread_join(t, NULL) == 0);
    ob_free(p);
}

int main(void)
{
    CHECK_EQ(ob_kind_set_free_link_only(0, 1), EINVAL);
    CHECK_EQ(ob_kind_set_free_link_only(16, 1), EINVAL);
    CHECK_EQ(ob_kind_set_free_link_only(5, 1), 0);

    ob_region_t *r = ob_region_new_kind(5, 5);
    CHECK(r != NULL);
    fill(r);
    /* Even blocks freed by the owner, odd ones by another thread. */
    for (int i = 0; i < N; i += 2)
        ob_free(blocks[i]);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_odd, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_EQ(changed(), 0);
    /* Still known free: not visited, not contained, the heap sound. */
    int live = 0;
    CHECK_EQ(ob_kind_visit(5, count, &live), 0);
    CHECK_EQ(live, 0);
    for (int i = 0; i < N; i += 97)
        CHECK(!ob_region_contains(r, blocks[i]));
    struct ob_heap_check_result hc;
    CHECK_EQ(ob_heap_check(&hc), 0);
    /* A block handed out again is live again, before anything is written. */
    uint64_t *again = ob_region_malloc(r, 48);
    CHECK(again != NULL);
    CHECK(ob_region_contains(r, again));
    live = 0;
    CHECK_EQ(ob_kind_visit(5, count, &live), 0);
    CHECK_EQ(live, 1);
    ob_free(again);
    /* Handed out and freed untouched, on the fast path and the slow ones
     * (a new pool, an aligned block): never a double free. */
    for (int i = 0; i < 3 * N; i++)
        ob_free(ob_region_malloc(r, (size_t)(i % 200)));
    for (int i = 0; i < 100; i++) { /* size 0 and calloc: the slow path's block */
        ob_free(ob_region_calloc(r, 0, 0));
        ob_free(ob_region_malloc(r, 0));
    }
    for (int i = 0; i < 100; i++)
        ob_free(ob_region_aligned_alloc(r, 4096, 64));
    printf("link-only kind: %d freed blocks keep words 1..%d, by the owner's frees and another thread's\n",
           N, WORDS - 1);
    ob_region_destroy(r);

    /* A double free is caught, with the usual report, whoever freed first. */
    CHECK(dies_with(double_free, "double free"));
    CHECK(dies_with(double_free_remote_half, "double free"));

    /* The control. */
    r = ob_region_new_kind(6, 6);
    fill(r);
    for (int i = 0; i < N; i++)
        ob_free(blocks[i]);
    int n = changed();
    printf("control kind: %d words changed by frees%s\n", n,
           n ? "" : " (an unhardened build: no free mark)");
    ob_region_destroy(r);
    printf("test_kind_link: ok\n");
    return 0;
}
