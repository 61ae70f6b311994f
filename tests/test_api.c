/* The ob_* API: contents, sizes, alignment, zeroing, resizing across every
 * tier, and every bad input with its defined answer. */
#include <stddef.h>

/* These tests pass absurd sizes on purpose. */
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="

#include <pthread.h>

#include "check.h"
#include "obmalloc.h"

#define MiB ((size_t)1 << 20)

static const size_t sizes[] = {
    0, 1, 8, 15, 16, 17, 31, 32, 100, 255, 256, 511, 512, 513, 640, 700, 1000, 1024,
    1500, 4000, 4096, 8191, 10000, 16384, 30000, 32768, 40000, 65536, 100000, 200000,
    500000, MiB - 1, MiB, MiB + 1, 3 * MiB, 10 * MiB + 123,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_malloc_usable(void)
{
    void *p[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        p[i] = ob_malloc(sizes[i]);
        CHECK(p[i] != NULL);
        CHECK((uintptr_t)p[i] % 16 == 0);
        size_t usable = ob_usable_size(p[i]);
        CHECK(usable >= sizes[i]);
        CHECK(usable >= 1 || ob_test_diverted());
        fill_pattern(p[i], usable, i);
    }
    for (size_t i = 0; i < NSIZES; i++) {
        CHECK(check_pattern(p[i], ob_usable_size(p[i]), i));
        ob_free(p[i]);
    }
    CHECK_EQ(ob_usable_size(NULL), 0);
}

static void test_malloc_zero(void)
{
    /* malloc(0): unique pointers that free accepts. */
    void *a = ob_malloc(0), *b = ob_malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    ob_free(a);
    ob_free(b);
    a = ob_realloc(NULL, 0);
    CHECK(a != NULL);
    ob_free(a);
}

static void test_calloc(void)
{
    /* calloc zeroes memory that was dirty before, in every tier. */
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i] ? sizes[i] : 1;
        void *dirty[8];
        for (int k = 0; k < 8; k++) {
            dirty[k] = ob_malloc(n);
            memset(dirty[k], 0xAB, n);
        }
        for (int k = 0; k < 8; k++)
            ob_free(dirty[k]);
        for (int k = 0; k < 8; k++) {
            unsigned char *z = ob_calloc(1, n);
            CHECK(z != NULL);
            for (size_t j = 0; j < n; j++)
                if (z[j] != 0) {
                    fprintf(stderr, "calloc(%zu) byte %zu = %#x\n", n, j, z[j]);
                    CHECK(0);
                }
            dirty[k] = z;
            memset(z, 0xCD, n);
        }
        for (int k = 0; k < 8; k++)
            ob_free(dirty[k]);
    }
    unsigned *v = ob_calloc(1000, sizeof(unsigned));
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(v[i], 0);
    ob_free(v);
    CHECK(ob_calloc(0, 0) != NULL);
}

static void *free_in_thread(void *p)
{
    ob_free(p);
    return NULL;
}

static void test_calloc_after_remote_free(void)
{
    /* A block freed by another thread comes back through the remote list;
     * calloc must still zero it. */
    size_t sz[] = {64, 3000, 100000, 500000};
    for (size_t i = 0; i < 4; i++) {
        for (int round = 0; round < 3; round++) {
            unsigned char *p = ob_malloc(sz[i]);
            memset(p, 0xEE, sz[i]);
            pthread_t t;
            pthread_create(&t, NULL, free_in_thread, p);
            pthread_join(t, NULL);
            unsigned char *q = ob_calloc(1, sz[i]);
            for (size_t j = 0; j < sz[i]; j++)
                CHECK_EQ(q[j], 0);
            ob_free(q);
        }
    }
}

static void test_realloc(void)
{
    /* Grow through every tier and back down, keeping the contents. */
    size_t steps[] = {1, 16, 24, 500, 513, 2000, 40000, 300000, MiB, 2 * MiB,
                      9 * MiB, 40 * MiB, 5 * MiB, 700000, 3000, 200, 7, 1};
    size_t n = sizeof steps / sizeof steps[0];
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t i = 0; i < n; i++) {
        p = ob_realloc(p, steps[i]);
        CHECK(p != NULL);
        CHECK(ob_usable_size(p) >= steps[i]);
        size_t keep = have < steps[i] ? have : steps[i];
        CHECK(check_pattern(p, keep, 77));
        fill_pattern(p, steps[i], 77);
        have = steps[i];
    }
    ob_free(p);

    /* Shrinking within a class keeps the block where it is (debug mode
     * always moves, to catch stale pointers). */
    p = ob_malloc(100);
    if (!ob_test_diverted()) {
        CHECK(ob_realloc(p, 100) == p);
        CHECK(ob_realloc(p, 97) == p);
    }
    unsigned char *q = ob_realloc(p, 10);
    CHECK(q != NULL);
    ob_free(q);

    /* realloc(p, 0) frees p and returns NULL, leaving errno alone. */
    p = ob_malloc(50);
    errno = 4321;
    CHECK(ob_realloc(p, 0) == NULL);
    CHECK_EQ(errno, 4321);
    p = ob_malloc(5 * MiB);
    CHECK(ob_realloc(p, 0) == NULL);

    /* A huge block grows in place or moves with mremap, whatever is after it. */
    unsigned char *blocks[4];
    for (int i = 0; i < 4; i++) {
        blocks[i] = ob_malloc(2 * MiB);
        fill_pattern(blocks[i], 2 * MiB, (uint64_t)i);
    }
    for (int round = 1; round <= 3; round++)
        for (int i = 0; i < 4; i++) {
            blocks[i] = ob_realloc(blocks[i], (size_t)(2 + 5 * round) * MiB);
            CHECK(blocks[i] != NULL);
            CHECK(check_pattern(blocks[i], 2 * MiB, (uint64_t)i));
        }
    for (int i = 0; i < 4; i++)
        ob_free(blocks[i]);

    /* reallocarray. */
    int *arr = ob_reallocarray(NULL, 10, sizeof(int));
    for (int i = 0; i < 10; i++)
        arr[i] = i;
    arr = ob_reallocarray(arr, 100000, sizeof(int));
    for (int i = 0; i < 10; i++)
        CHECK_EQ(arr[i], i);
    ob_free(arr);
}

static void test_aligned(void)
{
    size_t asizes[] = {1, 10, 100, 1000, 5000, 70000, MiB, 3 * MiB};
    for (size_t align = 1; align <= ((size_t)1 << 30); align <<= 1) {
        for (size_t i = 0; i < sizeof asizes / sizeof asizes[0]; i++) {
            size_t size = asizes[i];
            if (align >= ((size_t)1 << 26) && size > 1000)
                continue; /* keep the test's footprint small */
            void *p = ob_aligned_alloc(align, size);
            CHECK(p != NULL);
            if ((uintptr_t)p % align != 0) {
                fprintf(stderr, "aligned_alloc(%zu, %zu) = %p\n", align, size, p);
                CHECK(0);
            }
            CHECK(ob_usable_size(p) >= size);
            memset(p, 0x11, size);
            void *q = NULL;
            if (align >= sizeof(void *)) {
                CHECK_EQ(ob_posix_memalign(&q, align, size), 0);
                CHECK((uintptr_t)q % align == 0);
                memset(q, 0x22, size);
            }
            ob_free(p);
            ob_free(q);
        }
    }
    /* Many aligned blocks at once, from several tiers. */
    void *many[300];
    for (int i = 0; i < 300; i++) {
        size_t align = (size_t)32 << (i % 12);
        many[i] = ob_aligned_alloc(align, (size_t)(i * 37 % 3000) + 1);
        CHECK(many[i] != NULL && (uintptr_t)many[i] % align == 0);
    }
    for (int i = 0; i < 300; i++)
        ob_free(many[i]);
}

static void test_bad_input(void)
{
    /* Sizes beyond PTRDIFF_MAX, and overflowing products: ENOMEM. */
    errno = 0;
    CHECK(ob_malloc(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(ob_malloc((size_t)PTRDIFF_MAX + 1) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(ob_malloc(SIZE_MAX - 4096) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(ob_malloc((size_t)PTRDIFF_MAX) == NULL && errno == ENOMEM); /* no such memory */
    errno = 0;
    CHECK(ob_calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(ob_calloc((size_t)1 << 32, (size_t)1 << 32) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(ob_aligned_alloc(64, SIZE_MAX) == NULL && errno == ENOMEM);

    /* A failed realloc leaves the old block valid and unchanged. */
    char *p = ob_malloc(100);
    fill_pattern(p, 100, 9);
    errno = 0;
    CHECK(ob_realloc(p, SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(ob_realloc(p, (size_t)PTRDIFF_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(ob_reallocarray(p, SIZE_MAX / 8, 16) == NULL && errno == ENOMEM);
    CHECK(check_pattern(p, 100, 9));
    ob_free(p);
    char *h = ob_malloc(3 * MiB);
    fill_pattern(h, 3 * MiB, 5);
    errno = 0;
    CHECK(ob_realloc(h, (size_t)1 << 50) == NULL && errno == ENOMEM); /* beyond the address space */
    CHECK(check_pattern(h, 3 * MiB, 5));
    ob_free(h);

    /* Bad alignments: EINVAL. */
    errno = 0;
    CHECK(ob_aligned_alloc(0, 16) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(ob_aligned_alloc(3, 16) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(ob_aligned_alloc(48, 16) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(ob_aligned_alloc(SIZE_MAX, 16) == NULL && errno == EINVAL);
    void *q = (void *)0x1234;
    errno = 77;
    CHECK_EQ(ob_posix_memalign(&q, 4, 16), EINVAL); /* not a multiple of sizeof(void*) */
    CHECK_EQ(ob_posix_memalign(&q, 24, 16), EINVAL);
    CHECK_EQ(ob_posix_memalign(&q, 0, 16), EINVAL);
    CHECK_EQ(ob_posix_memalign(&q, 64, SIZE_MAX), ENOMEM);
    CHECK(q == (void *)0x1234 && errno == 77); /* untouched on error */

    /* free(NULL) does nothing; free never changes errno. */
    ob_free(NULL);
    ob_free_sized(NULL, 10);
    for (size_t i = 0; i < NSIZES; i++) {
        void *b = ob_malloc(sizes[i]);
        errno = 999;
        ob_free(b);
        CHECK_EQ(errno, 999);
    }
    errno = 998;
    ob_collect(1); /* unmaps the cached huge blocks */
    CHECK_EQ(errno, 998);
}

static void test_free_sized(void)
{
    for (size_t i = 0; i < NSIZES; i++) {
        void *p = ob_malloc(sizes[i]);
        ob_free_sized(p, sizes[i]);
        p = ob_malloc(sizes[i]);
        ob_free_sized(p, ob_usable_size(p)); /* any size up to the usable one */
    }
    /* Sized frees that empty and refill pools. */
    void *v[5000];
    for (int i = 0; i < 5000; i++)
        v[i] = ob_malloc(48);
    for (int i = 0; i < 5000; i++)
        ob_free_sized(v[i], 48);
}

static void test_version(void)
{
    const char *v = ob_version();
    CHECK(v != NULL && strchr(v, '.') != NULL);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", OB_VERSION_MAJOR, OB_VERSION_MINOR,
             OB_VERSION_PATCH);
    CHECK(strcmp(v, expect) == 0);
}

int main(void)
{
    test_malloc_usable();
    test_malloc_zero();
    test_calloc();
    test_calloc_after_remote_free();
    test_realloc();
    test_aligned();
    test_bad_input();
    test_free_sized();
    test_version();
    check_heap_sound();
    printf("api: all checks passed\n");
    return 0;
}
