/* The block offset (issue 11): pools of the small classes start their
 * blocks OBMALLOC_BLOCK_OFFSET (or ob_prefer_block_offset) bytes into their
 * page.  Blocks start where the descriptor says; every operation that
 * computes offsets (frees, sized frees, remote frees, usable sizes, the
 * heap check, the statistics) agrees; aligned requests still get aligned
 * blocks; pointers into the offset are reported.
 *
 * CTest runs it with the offset unset (the test asks for 48 itself), at
 * 48, 32, 1024 (the largest) and 0. */
#include <pthread.h>

#include "check.h"
#include "pool.h"

static size_t offset; /* the offset in force */

/* Before anything is allocated, the program may choose its layout; the
 * environment wins; afterwards the choice is fixed. */
static void test_prefer(void)
{
    const char *env = getenv("OBMALLOC_BLOCK_OFFSET");
    CHECK_EQ(ob_prefer_block_offset(8), EINVAL);
    CHECK_EQ(ob_prefer_block_offset(OB_MAX_BLOCK_OFFSET + 16), EINVAL);
    CHECK_EQ(ob_prefer_block_offset(OB_CPYTHON_BLOCK_OFFSET), 0);
    offset = _ob_options.block_offset;
    if (env == NULL)
        CHECK_EQ(offset, OB_CPYTHON_BLOCK_OFFSET);
    else
        CHECK_EQ(offset, (size_t)atoi(env)); /* the environment wins */
    for (unsigned c = 0; c < OB_CLASSES; c++) /* the fine classes are small too */
        CHECK_EQ(_ob_classes[c].block_offset, _ob_classes[c].block_size <= OB_SMALL_MAX ? offset : 0);
    ob_free(ob_malloc(100));
    if (env == NULL) {
        CHECK_EQ(ob_prefer_block_offset(0), EBUSY); /* pools exist now */
        CHECK_EQ(ob_prefer_block_offset(OB_CPYTHON_BLOCK_OFFSET), 0); /* no change */
    }
}

/* A pool's blocks, from its first one: where the descriptor says. */
static void test_geometry(void)
{
    for (unsigned c = 0; c < OB_SIZE_CLASSES; c++) {
        const ob_class_info_t *ci = &_ob_classes[c];
        size_t n = ci->capacity + 1; /* a whole pool, and one more */
        char **v = ob_malloc(n * sizeof *v);
        for (size_t i = 0; i < n; i++) {
            v[i] = ob_malloc(ci->block_size);
            CHECK(v[i] != NULL);
            CHECK_EQ(ob_usable_size(v[i]), ci->block_size);
            memset(v[i], (int)i, ci->block_size);
        }
        /* Block k of a pool lies at its page + block offset + k * size. */
        for (size_t i = 0; i < n; i++) {
            ob_pool_t *p = ob_pool_of(ob_arena_of(v[i]), v[i]);
            CHECK_EQ(ob_pool_block_offset(p), ci->block_offset);
            CHECK(ob_pool_blocks(p) == ob_pool_page_start(p) + ci->block_offset);
            size_t off = (size_t)(v[i] - ob_pool_blocks(p));
            CHECK_EQ(off % ci->block_size, 0);
            CHECK(off + ci->block_size <= ob_pool_capacity_end(p));
            CHECK((size_t)(v[i] - ob_pool_page_start(p)) >= ci->block_offset);
            CHECK_EQ(ob_check_block(v[i]), ci->block_size);
        }
        /* Sized frees for half, plain frees for the rest. */
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ((unsigned char)v[i][ci->block_size - 1], (unsigned char)i);
            if (i % 2)
                ob_free_sized(v[i], ci->block_size);
            else
                ob_free(v[i]);
        }
        ob_free(v);
    }
    check_heap_sound();
}

/* Every alignment from 16 to 4096, at sizes across the small classes and
 * beyond: aligned, usable to the end, freed every way. */
static void test_aligned(void)
{
    for (size_t align = 16; align <= 4096; align *= 2) {
        for (size_t size = 1; size <= 2048; size += size < 600 ? 7 : 97) {
            void *p = ob_aligned_alloc(align, size);
            void *q = NULL;
            CHECK(p != NULL);
            CHECK_EQ(ob_posix_memalign(&q, align, size), 0);
            if ((uintptr_t)p % align || (uintptr_t)q % align) {
                fprintf(stderr, "alignment %zu, size %zu: %p %p\n", align, size, p, q);
                CHECK(0);
            }
            CHECK(ob_usable_size(p) >= size);
            memset(p, 0xA5, ob_usable_size(p));
            memset(q, 0x5A, ob_usable_size(q));
            CHECK_EQ(ob_check_block(p), ob_usable_size(p));
            ob_free_sized(p, size);
            ob_free(q);
        }
    }
    /* Many at once: the aligned twins' pools fill and empty too. */
    enum { N = 3000 };
    static void *many[N];
    for (int i = 0; i < N; i++) {
        size_t align = (size_t)32 << (i % 4);
        many[i] = ob_aligned_alloc(align, (size_t)(i * 37 % 500) + 1);
        CHECK((uintptr_t)many[i] % align == 0);
    }
    check_heap_sound();
    for (int i = 0; i < N; i++)
        ob_free(many[i]);
    check_heap_sound();
}

/* Frees from another thread go through the remote list, whose collection
 * validates each link against the pool's offset. */
static void *free_all(void *arg)
{
    void **v = arg;
    for (size_t i = 0; v[i] != NULL; i++)
        ob_free(v[i]);
    return NULL;
}

static void test_remote(void)
{
    enum { N = 5000 };
    static void *v[N + 1];
    for (int i = 0; i < N; i++)
        v[i] = ob_malloc((size_t)(i % 32 + 1) * 16);
    v[N] = NULL;
    pthread_t t;
    pthread_create(&t, NULL, free_all, v);
    pthread_join(t, NULL);
    for (int i = 0; i < N; i++) /* reuses what came back */
        v[i] = ob_malloc((size_t)(i % 32 + 1) * 16);
    check_heap_sound();
    for (int i = 0; i < N; i++)
        ob_free(v[i]);
    check_heap_sound();
}

/* The offset's bytes are counted as alignment loss, and the breakdown adds
 * up exactly. */
static void test_stats(void)
{
    ob_collect(1); /* no empty pool left over, aligned twins included */
    enum { N = 20000 };
    static void *v[N];
    for (int i = 0; i < N; i++)
        v[i] = ob_malloc((size_t)(i % 32 + 1) * 16);
    struct ob_stats s = {.size = sizeof s, .version = OB_STATS_VERSION};
    CHECK_EQ(ob_stats_get(&s), 0);
    size_t sum = s.bytes_allocated_blocks + s.bytes_free_blocks + s.bytes_unused_pools +
                 s.bytes_metadata + s.bytes_quantization + s.bytes_alignment;
    CHECK_EQ(sum, s.bytes_mapped);
    size_t small_pools = 0;
    for (unsigned c = 0; c < OB_SMALL_CLASSES; c++)
        small_pools += s.classes[c].pools;
    size_t header_slack = OB_ARENA_HEADER_PAGES * OB_PAGE_SIZE - sizeof(ob_arena_t);
    /* Every small pool in use here has the offset (aligned twins: none). */
    CHECK_EQ(s.bytes_alignment, s.arenas_current * header_slack + small_pools * offset);
    for (unsigned c = 0; c < OB_SMALL_CLASSES; c++)
        CHECK_EQ(s.classes[c].blocks_in_use + s.classes[c].blocks_free,
                 s.classes[c].pools * _ob_classes[c].capacity);
    for (int i = 0; i < N; i++)
        ob_free(v[i]);
}

/* Pointers into the offset, below a pool's first block, are not blocks. */
static char *small_block(void)
{
    char *p = ob_malloc(64);
    ob_pool_t *pool = ob_pool_of(ob_arena_of(p), p);
    return ob_pool_blocks(pool);
}

static void free_in_offset(void)
{
    ob_free(small_block() - 16);
}

static void free_page_start(void)
{
    char *first = small_block();
    ob_free(first - ob_pool_block_offset(ob_pool_of(ob_arena_of(first), first)));
}

static void free_interior(void)
{
    ob_free(small_block() + 16);
}

static void check_in_offset(void)
{
    ob_check_block(small_block() - 16);
}

static void test_bad_pointers(void)
{
    if (offset >= 16) {
        CHECK(dies_with(free_in_offset, "invalid free"));
        CHECK(dies_with(free_page_start, "invalid free"));
        CHECK(dies_with(check_in_offset, "invalid pointer"));
    }
    CHECK(dies_with(free_interior, "invalid free"));
}

int main(void)
{
    test_prefer();
    test_geometry();
    test_aligned();
    test_remote();
    test_stats();
    test_bad_pointers();
    printf("block offset %zu: geometry, aligned requests, remote frees, statistics, "
           "bad pointers checked\n", offset);
    return 0;
}
