/*
 * Kinds aligned to 8 (ob_kind_set_align, issue 27): a region of such a
 * kind hands out blocks of 24, 40 and 56 bytes (the fine classes) where
 * other regions and malloc take 32, 48 and 64; the blocks are 8-byte
 * aligned, distinct and reused, the walk and the statistics count them
 * in their own classes, a request for 16-byte alignment by name still
 * gets it, and the blocks keep their kind, and their size, through their
 * thread's exit and a later region's adoption.
 */
#include <pthread.h>
#include <stdbool.h>

#include "check.h"

#define FINE 3  /* a kind set to 8 */
#define PLAIN 4 /* a kind left at 16 */
#define N 3000

typedef struct tally {
    size_t blocks[129]; /* by usable size, up to 128 */
} tally_t;

static int count(void *block, size_t usable, void *arg)
{
    (void)block;
    tally_t *t = arg;
    if (usable <= 128)
        t->blocks[usable]++;
    return 0;
}

static tally_t visit(unsigned kind)
{
    tally_t t = {{0}};
    CHECK_EQ(ob_kind_visit(kind, count, &t), 0);
    return t;
}

static size_t class_blocks(size_t block_size)
{
    struct ob_stats s = {.size = sizeof s, .version = OB_STATS_VERSION};
    ob_stats_get(&s);
    for (unsigned c = 0; c < s.nclasses; c++)
        if (s.classes[c].block_size == block_size)
            return s.classes[c].blocks_in_use;
    return (size_t)-1;
}

static void test_arguments(void)
{
    CHECK_EQ(ob_kind_set_align(0, 8), EINVAL); /* the threads' own memory */
    CHECK_EQ(ob_kind_set_align(16, 8), EINVAL);
    CHECK_EQ(ob_kind_set_align(FINE, 4), EINVAL);
    CHECK_EQ(ob_kind_set_align(FINE, 32), EINVAL);
    CHECK_EQ(ob_kind_set_align(FINE, 0), EINVAL);
    CHECK_EQ(ob_kind_set_align(PLAIN, 16), 0);
    CHECK_EQ(ob_kind_set_align(FINE, 8), 0);
}

/* Each size's block, in the fine kind and elsewhere. */
static void test_sizes(void)
{
    ob_region_t *fine = ob_region_new_kind(FINE, 1), *plain = ob_region_new_kind(PLAIN, 2);
    CHECK(fine != NULL && plain != NULL);
    for (size_t size = 1; size <= 600; size++) {
        void *f = ob_region_malloc(fine, size), *p = ob_region_malloc(plain, size);
        void *m = ob_malloc(size);
        CHECK(f != NULL && p != NULL && m != NULL);
        size_t want = size <= 16 ? 16 : size <= 64 ? (size + 7) / 8 * 8 : ob_usable_size(m);
        if (want % 16 == 8 && size > 16)
            CHECK_EQ((uintptr_t)f % 8, 0);
        else
            CHECK_EQ((uintptr_t)f % 16, 0);
        CHECK_EQ(ob_usable_size(f), want);
        CHECK_EQ(ob_usable_size(p), ob_usable_size(m)); /* 16-byte steps */
        CHECK_EQ(ob_usable_size(m) % 16, 0);
        memset(f, 0xa5, size);
        ob_free(f);
        ob_free(p);
        ob_free(m);
    }
    /* Asked for by name, 16-byte alignment wins over the kind's 8. */
    for (int i = 0; i < 100; i++) {
        void *q = ob_region_aligned_alloc(fine, 16, 40);
        CHECK(q != NULL && (uintptr_t)q % 16 == 0 && ob_usable_size(q) >= 40);
        void *e = ob_region_aligned_alloc(fine, 8, 40);
        CHECK(e != NULL && ob_usable_size(e) == 40);
        ob_free(q);
        ob_free(e);
    }
    /* realloc keeps a block that still fits, and moves one that grew out. */
    char *b = ob_region_malloc(fine, 40);
    memset(b, 7, 40);
    CHECK(ob_region_realloc(fine, b, 36) == b);
    char *c = ob_region_realloc(fine, b, 41);
    CHECK(c != NULL && ob_usable_size(c) == 48 && c[39] == 7);
    ob_free(c);
    ob_region_destroy(fine);
    ob_region_destroy(plain);
}

/* Many blocks of each fine size: distinct, untouched by each other,
 * counted by the walk and the statistics, reused once freed. */
static void *blocks[3][N];

static void fill(ob_region_t *r, int k)
{
    size_t size = 24 + 16 * (size_t)k;
    for (int i = 0; i < N; i++) {
        CHECK((blocks[k][i] = ob_region_malloc(r, size)) != NULL);
        memset(blocks[k][i], 'a' + (i % 26), size);
    }
}

static void verify(int k)
{
    size_t size = 24 + 16 * (size_t)k;
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < size; j++)
            CHECK_EQ(((unsigned char *)blocks[k][i])[j], 'a' + (i % 26));
}

static void *leave_blocks(void *arg)
{
    (void)arg;
    ob_region_t *r = ob_region_new_kind(FINE, 77);
    CHECK(r != NULL);
    for (int k = 0; k < 3; k++)
        fill(r, k);
    return NULL; /* the thread's exit leaves its region's memory to the kind */
}

static void *adopt(void *arg)
{
    (void)arg;
    ob_region_t *adopter = ob_region_new_kind(FINE, 88);
    /* A new region of the kind takes the arenas left behind and hands out
     * their free blocks, 40 bytes again. */
    for (int i = 0; i < 100; i++) {
        void *p = ob_region_malloc(adopter, 40);
        CHECK(p != NULL && ob_usable_size(p) == 40);
        CHECK_EQ(ob_block_kind(p), FINE);
        ob_free(p);
    }
    return NULL; /* released at the thread's exit, the kind's again */
}

static void test_many(void)
{
    size_t before40 = class_blocks(40);
    ob_region_t *r = ob_region_new_kind(FINE, 5);
    /* The 16-byte classes' pools first: the fast path must still pick the
     * fine ones, not whichever pool is current for the 16-byte step. */
    void *even[3];
    for (int k = 0; k < 3; k++)
        CHECK((even[k] = ob_region_malloc(r, 32 + 16 * (size_t)k)) != NULL);
    for (int k = 0; k < 3; k++)
        fill(r, k);
    for (int k = 0; k < 3; k++)
        verify(k);
    tally_t t = visit(FINE);
    CHECK_EQ(t.blocks[24], N);
    CHECK_EQ(t.blocks[40], N);
    CHECK_EQ(t.blocks[56], N);
    CHECK_EQ(t.blocks[32] + t.blocks[48] + t.blocks[64], 3);
    CHECK_EQ(class_blocks(40), before40 + N); /* a class of its own */
    /* Freed, then allocated again: the same memory. */
    void *first = blocks[1][N / 2];
    for (int i = 0; i < N; i += 2)
        ob_free(blocks[1][i]);
    CHECK_EQ(visit(FINE).blocks[40], N / 2);
    bool again = false;
    for (int i = 0; i < N; i += 2) {
        blocks[1][i] = ob_region_malloc(r, 40);
        again |= blocks[1][i] == first;
        memset(blocks[1][i], 'a' + (i % 26), 40);
    }
    CHECK(again);
    for (int k = 0; k < 3; k++)
        verify(k);
    ob_region_destroy(r);
    CHECK_EQ(visit(FINE).blocks[40], 0);
    CHECK_EQ(class_blocks(40), before40);
}

/* Exited threads' fine blocks: walked, kept their size and kind, freed by
 * another thread, and their memory adopted by a region of the kind only. */
static void test_thread_exit(void)
{
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, leave_blocks, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    tally_t left = visit(FINE);
    CHECK_EQ(left.blocks[24], N);
    CHECK_EQ(left.blocks[40], N);
    CHECK_EQ(left.blocks[56], N);
    for (int k = 0; k < 3; k++) {
        verify(k);
        CHECK_EQ(ob_block_kind(blocks[k][0]), FINE);
        CHECK_EQ(ob_block_owner(blocks[k][0]), 0); /* its region is gone */
    }
    for (int i = 0; i < N; i += 2)
        ob_free(blocks[1][i]); /* frees into memory nobody owns */
    CHECK_EQ(pthread_create(&t, NULL, adopt, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    tally_t after = visit(FINE);
    CHECK_EQ(after.blocks[40], N / 2);
    CHECK_EQ(after.blocks[24], N);
    for (int k = 0; k < 3; k++)
        for (int i = k == 1; i < N; i += 1 + (k == 1))
            ob_free(blocks[k][i]);
    tally_t none = visit(FINE);
    CHECK_EQ(none.blocks[24] + none.blocks[40] + none.blocks[56], 0);
    /* Malloc never took the kind's memory. */
    for (int i = 0; i < 1000; i++) {
        void *p = ob_malloc(40);
        CHECK_EQ(ob_block_kind(p), 0);
        CHECK_EQ(ob_usable_size(p), 48);
        ob_free(p);
    }
}

/* A kind's setting is read when a region is made: one made before the
 * call keeps the 16-byte steps. */
static void test_setting_changes(void)
{
    CHECK_EQ(ob_kind_set_align(PLAIN + 1, 16), 0);
    ob_region_t *before = ob_region_new_kind(PLAIN + 1, 1);
    CHECK_EQ(ob_kind_set_align(PLAIN + 1, 8), 0);
    ob_region_t *after = ob_region_new_kind(PLAIN + 1, 2);
    void *a = ob_region_malloc(before, 40), *b = ob_region_malloc(after, 40);
    CHECK_EQ(ob_usable_size(a), 48);
    CHECK_EQ(ob_usable_size(b), 40);
    ob_region_destroy(before);
    ob_region_destroy(after);
}

int main(void)
{
    test_arguments();
    test_sizes();
    test_many();
    test_thread_exit();
    test_setting_changes();
    printf("kind alignment: 24, 40 and 56-byte blocks in a kind aligned to 8, walked, "
           "counted, reused and kept through thread exit\n");
    return 0;
}
