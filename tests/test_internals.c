/* Module tests below the API: the page bitmaps, the arena map (ownership
 * of any pointer, foreign ones included), the free-list encoding, the pool
 * state machine and the notification handshake between threads. */
#include <pthread.h>

#include "bitmap.h"
#include "check.h"
#include "pool.h"

static void test_bitmap(void)
{
    uint64_t map[OB_BITMAP_WORDS] = {0};
    CHECK_EQ(ob_bitmap_find_run(map, 1, 1), 0);
    ob_bitmap_set(map, 0, 70);
    CHECK_EQ(ob_bitmap_count(map), 70);
    CHECK_EQ(ob_bitmap_find_run(map, 1, 1), 70);
    CHECK_EQ(ob_bitmap_find_run(map, 10, 1), 70);
    CHECK_EQ(ob_bitmap_find_run(map, 10, 8), 72);  /* aligned start */
    CHECK_EQ(ob_bitmap_find_run(map, 10, 64), 128);
    ob_bitmap_set(map, 100, 1);
    CHECK_EQ(ob_bitmap_find_run(map, 30, 1), 70);  /* fits exactly */
    CHECK_EQ(ob_bitmap_find_run(map, 31, 1), 101); /* skips past the used page */
    CHECK(ob_bitmap_any(map, 99, 2));
    CHECK(!ob_bitmap_any(map, 101, 100));
    ob_bitmap_set(map, 101, OB_ARENA_PAGES - 101);
    CHECK_EQ(ob_bitmap_find_run(map, 1, 1), 70);
    CHECK_EQ(ob_bitmap_find_run(map, 31, 1), OB_ARENA_PAGES); /* only 30 free */
    CHECK_EQ(ob_bitmap_find_run(map, 30, 1), 70);
    ob_bitmap_clear(map, 0, OB_ARENA_PAGES);
    CHECK_EQ(ob_bitmap_count(map), 0);
    CHECK_EQ(ob_bitmap_find_run(map, OB_ARENA_PAGES, 1), 0);
    /* Runs. */
    ob_bitmap_set(map, 3, 5);
    ob_bitmap_set(map, 60, 10);
    ob_bitmap_set(map, 255, 1);
    size_t runs = 0, total = 0;
    OB_BITMAP_RUNS(map, start, len, {
        runs++;
        total += len;
        CHECK(start == 3 || start == 60 || start == 255);
    });
    CHECK_EQ(runs, 3);
    CHECK_EQ(total, 16);
}

static int static_data;

static void test_map(void)
{
    void *small = ob_malloc(24), *medium = ob_malloc(5000), *huge = ob_malloc(9 << 20);
    CHECK(ob_map_is_arena(ob_map_lookup(small), small));
    CHECK(ob_map_is_arena(ob_map_lookup(medium), medium));
    uintptr_t h = ob_map_lookup(huge);
    CHECK(h != 0 && !(h & OB_MAP_ARENA));
    CHECK(((ob_huge_t *)h)->addr == (char *)huge);
    /* Every granule of the huge block names it; the byte after it is in a
     * granule that may be foreign. */
    CHECK_EQ(ob_map_lookup((char *)huge + (8 << 20)), h);

    /* Foreign pointers: none is ours, and looking costs no foreign read. */
    int local;
    void *glibc = malloc(100);
    void *foreign[] = {&local, glibc, &static_data, (void *)test_map, (void *)16,
                       (void *)UINTPTR_MAX, (void *)((uintptr_t)1 << 47),
                       (void *)((uintptr_t)small | ((uintptr_t)1 << 52))};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        CHECK(!ob_map_is_arena(ob_map_lookup(foreign[i]), foreign[i]));
    free(glibc);

    /* Arena and pool geometry. */
    ob_arena_t *a = ob_arena_of(medium);
    ob_pool_t *pool = ob_pool_of(a, medium);
    size_t offset = ob_offset_in_pool(pool, medium);
    size_t first = (size_t)(pool - a->pages);
    CHECK(&a->pages[a->head[((uintptr_t)medium & OB_ARENA_MASK) >> OB_PAGE_SHIFT]] == pool);
    CHECK(pool->npages >= 2 && a->head[first] == first && ob_pool_state(pool) == OB_POOL_ACTIVE);
    for (size_t j = 1; j < pool->npages; j++) /* every page of the pool leads to it */
        CHECK(a->head[first + j] == first && ob_pool_state(&a->pages[first + j]) == OB_POOL_TAIL &&
              ob_pool_of(a, ob_pool_page_start(pool) + j * OB_PAGE_SIZE) == pool);
    CHECK(ob_pool_blocks(pool) + offset == (char *)medium);
    CHECK_EQ(pool->block_size, 5120);
    CHECK(ob_pool_is_block_offset(pool, offset, ob_pool_carved(pool)));
    CHECK(!ob_pool_is_block_offset(pool, offset + 16, ob_pool_carved(pool)));
    CHECK(ob_pool_is_free_target(pool, offset));
    CHECK(!ob_pool_is_free_target(pool, offset + 16));
    CHECK(!ob_pool_is_free_target(pool, ob_pool_carved(pool)));
    CHECK_EQ(ob_pool_state(pool), OB_POOL_ACTIVE);
    CHECK(atomic_load(&a->heap) == ob_heap_get());
    ob_free(small);
    ob_free(medium);
    ob_free(huge);
    ob_collect(1);
    CHECK_EQ(ob_map_lookup(huge), 0); /* unmapped, and forgotten */
}

static void test_encoding(void)
{
    /* Links are stored scrambled: a raw pointer in a free block's first
     * word is not what malloc follows. */
    ob_block_t blocks[2];
    ob_block_set_next(&blocks[0], &blocks[1]);
    CHECK(blocks[0].next_encoded != (uintptr_t)&blocks[1]);
    CHECK(ob_block_next(&blocks[0]) == &blocks[1]);
    ob_block_set_next(&blocks[1], NULL);
    CHECK(blocks[1].next_encoded != 0);
    CHECK(ob_block_next(&blocks[1]) == NULL);
}

/* ---- the pool state machine, seen from its descriptor ------------------ */

static void test_pool_states(void)
{
    ob_collect(1);
    unsigned cls = (unsigned)ob_size_class(1000); /* 1024-byte blocks, 16 per pool */
    unsigned cap = _ob_classes[cls].capacity;
    void *v[64];
    for (unsigned i = 0; i < cap; i++)
        v[i] = ob_malloc(1000);
    ob_arena_t *a = ob_arena_of(v[0]);
    ob_pool_t *pool = ob_pool_of(a, v[0]);
    CHECK_EQ(ob_pool_used(pool), cap);
    CHECK_EQ(ob_pool_state(pool), OB_POOL_ACTIVE); /* full, not yet known */
    v[cap] = ob_malloc(1000);                     /* refill finds it full */
    CHECK_EQ(ob_pool_state(pool), OB_POOL_FULL);
    CHECK_EQ(atomic_load(&pool->remote) & OB_REMOTE_STATE, OB_REMOTE_NOTIFY);
    CHECK(ob_heap_get()->current[cls] != pool);
    ob_free(v[3]);                                /* room again: back on the list */
    CHECK_EQ(ob_pool_state(pool), OB_POOL_ACTIVE);
    CHECK_EQ(ob_pool_used(pool), cap - 1);
    for (unsigned i = 0; i < cap; i++)
        if (i != 3)
            ob_free(v[i]);
    /* Empty and not current: its pages went back to the arena. */
    CHECK_EQ(ob_pool_state(pool), OB_POOL_FREE);
    ob_free(v[cap]);
}

/* A pool that runs dry while another on its list has room goes to the back
 * of the list, still ACTIVE (frees to it stay on the fast path); only the
 * second time, or when it is alone, does it leave the list as FULL. */
static void test_dry_pools(void)
{
    ob_collect(1);
    unsigned cls = (unsigned)ob_size_class(3000);
    unsigned cap = _ob_classes[cls].capacity;
    enum { MAX = 64 };
    CHECK(2 * cap + 2 < MAX);
    void *v[MAX];
    unsigned n = 0;
    for (unsigned i = 0; i <= cap; i++) /* the last one: the first pool, alone, goes FULL */
        v[n++] = ob_malloc(3000);
    ob_pool_t *first = ob_pool_of(ob_arena_of(v[0]), v[0]);
    ob_pool_t *second = ob_pool_of(ob_arena_of(v[cap]), v[cap]);
    CHECK(first != second);
    CHECK_EQ(ob_pool_state(first), OB_POOL_FULL);
    ob_free(v[0]); /* room again: to the back of the list */
    v[0] = NULL;
    CHECK_EQ(ob_pool_state(first), OB_POOL_ACTIVE);
    while (ob_pool_used(second) < cap) /* fill the second pool */
        v[n++] = ob_malloc(3000);
    void *p = ob_malloc(3000); /* the second runs dry: to the back, and the first serves */
    CHECK(ob_pool_of(ob_arena_of(p), p) == first);
    CHECK_EQ(ob_pool_state(second), OB_POOL_ACTIVE);
    CHECK(second->flags & OB_POOL_DRY);
    void *q = ob_malloc(3000); /* both dry: both leave the list */
    CHECK_EQ(ob_pool_state(second), OB_POOL_FULL);
    CHECK_EQ(ob_pool_state(first), OB_POOL_FULL);
    CHECK(ob_pool_of(ob_arena_of(q), q) != first && ob_pool_of(ob_arena_of(q), q) != second);
    ob_free(p);
    ob_free(q);
    for (unsigned i = 0; i < n; i++)
        ob_free(v[i]);
    struct ob_heap_check_result r;
    CHECK_EQ(ob_heap_check(&r), 0);
}

/* A single-block pool (48 KiB and up) goes back to its arena as soon as its
 * block is freed, whether it is its class's current pool or full; calloc
 * then clears the dirty pages it reuses. */
static void test_single_block_pools(void)
{
    enum { SIZE = 100000 };
    CHECK_EQ(_ob_classes[ob_size_class(SIZE)].capacity, 1);
    char *p = ob_malloc(SIZE);
    ob_pool_t *pool = ob_pool_of(ob_arena_of(p), p);
    CHECK_EQ(ob_pool_state(pool), OB_POOL_ACTIVE); /* current, not yet seen full */
    memset(p, 0xAB, SIZE);
    ob_free(p);
    CHECK_EQ(ob_pool_state(pool), OB_POOL_FREE);
    char *q = ob_calloc(1, SIZE);
    for (size_t i = 0; i < SIZE; i++)
        CHECK(q[i] == 0);
    ob_pool_t *full = ob_pool_of(ob_arena_of(q), q);
    char *r = ob_malloc(SIZE); /* the refill finds q's pool full */
    CHECK_EQ(ob_pool_state(full), OB_POOL_FULL);
    ob_free(q);
    CHECK_EQ(ob_pool_state(full), OB_POOL_FREE);
    ob_free(r);
}

/* realloc grows a block alone in its pool into the free pages after it,
 * without moving it, exactly when those pages are free and the caller owns
 * the pool; otherwise it moves the block.  Contents, usable sizes, the
 * statistics and the heap check follow. */
static bool room_after(const void *p, size_t size)
{
    ob_arena_t *a = ob_arena_of(p);
    ob_pool_t *pool = ob_pool_of(a, p);
    size_t i = (size_t)(pool - a->pages);
    /* realloc asks for a quarter more than a block that grows by less than
     * double (alloc.c) */
    if (size < 2 * pool->block_size && size + size / 4 <= OB_MAX_CLASS_SIZE)
        size += size / 4;
    const ob_class_info_t *to = &_ob_classes[ob_size_class(size)];
    size_t pages = to->pages;
    return pool->capacity == 1 && to->capacity == 1 && i + pages <= OB_ARENA_PAGES &&
           !ob_bitmap_any(a->used_map, i + pool->npages, pages - pool->npages);
}

static void *realloc_elsewhere(void *p)
{
    return ob_realloc(p, 300000);
}

static void test_grow_in_place(void)
{
    ob_collect(1);
    size_t size = 50000, in_place = 0;
    unsigned char *p = ob_malloc(size);
    fill_pattern(p, size, 1);
    while (size * 3 / 2 <= OB_MAX_CLASS_SIZE) {
        size_t next = size * 3 / 2;
        bool room = room_after(p, next);
        unsigned char *q = ob_realloc(p, next);
        CHECK((q == p) == room);
        in_place += q == p;
        CHECK(check_pattern(q, size, 1));
        CHECK(ob_usable_size(q) >= next);
        fill_pattern(q, next, 1);
        p = q;
        size = next;
    }
    CHECK(in_place > 0);
    struct ob_stats s = {.size = sizeof s, .version = OB_STATS_VERSION};
    CHECK_EQ(ob_stats_get(&s), 0);
    CHECK_EQ(s.classes[ob_size_class(ob_usable_size(p))].blocks_in_use, 1);
    /* Pages taken after it: it moves. */
    ob_free(p);
    p = ob_malloc(60000);
    void *blocker = ob_malloc(60000);
    bool room = room_after(p, 200000);
    unsigned char *q = ob_realloc(p, 200000);
    CHECK((q == p) == room);
    ob_free(q);
    ob_free(blocker);
    /* Another thread's block: it moves, whatever the room. */
    p = ob_malloc(60000);
    pthread_t t;
    void *moved;
    pthread_create(&t, NULL, realloc_elsewhere, p);
    pthread_join(t, &moved);
    CHECK(moved != p);
    ob_free(moved);
    struct ob_heap_check_result r;
    CHECK_EQ(ob_heap_check(&r), 0);
}

/* ---- the notification handshake ----------------------------------------- */

static void *free_block(void *p)
{
    ob_free(p);
    return NULL;
}

static void test_remote_notify(void)
{
    unsigned cls = (unsigned)ob_size_class(2000);
    unsigned cap = _ob_classes[cls].capacity;
    void *v[64];
    for (unsigned i = 0; i <= cap; i++)
        v[i] = ob_malloc(2000);
    ob_pool_t *pool = ob_pool_of(ob_arena_of(v[0]), v[0]);
    CHECK_EQ(ob_pool_state(pool), OB_POOL_FULL);
    ob_heap_t *heap = ob_heap_get();
    /* The first remote free of a full pool goes to the owner's delayed list. */
    pthread_t t;
    pthread_create(&t, NULL, free_block, v[0]);
    pthread_join(t, NULL);
    CHECK(atomic_load(&heap->delayed) == (uintptr_t)v[0]);
    CHECK_EQ(atomic_load(&pool->remote), OB_REMOTE_NONE);
    /* The next ones go to the pool's own remote list. */
    pthread_create(&t, NULL, free_block, v[1]);
    pthread_join(t, NULL);
    CHECK(ob_remote_list(atomic_load(&pool->remote)) == v[1]);
    CHECK_EQ(ob_remote_count(atomic_load(&pool->remote)), 1);
    /* The owner takes both back when it next runs dry. */
    _ob_heap_drain_delayed(heap);
    CHECK_EQ(ob_pool_state(pool), OB_POOL_ACTIVE);
    CHECK_EQ(ob_pool_used(pool), cap - 1); /* v[1] still counts until collected */
    CHECK_EQ(_ob_pool_collect_remote(pool), 1);
    CHECK_EQ(ob_pool_used(pool), cap - 2);
    for (unsigned i = 2; i <= cap; i++)
        ob_free(v[i]);
}

/* Runs fn(arg) in a child; true if the child died of SIGSEGV. */
static int faults(void (*fn)(char *), char *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static void write_byte(char *p)
{
    *(volatile char *)p = 1;
}

/* The arena's metadata is fenced off from blocks by guard pages. */
static void test_guards(void)
{
    if (getenv("OB_TEST_VALGRIND") || sysconf(_SC_PAGESIZE) != OB_ARENA_GUARD)
        return; /* valgrind reports the fault as an error of its own */
    char *p = ob_malloc(32);
    ob_arena_t *a = ob_arena_of(p);
    char *base = (char *)ob_arena_base(a);
    char *first_pool = base + OB_ARENA_HEADER_PAGES * OB_PAGE_SIZE;
    CHECK((char *)a == base + OB_ARENA_GUARD);
    CHECK((char *)(a + 1) <= first_pool - OB_ARENA_GUARD); /* the header fits */
    CHECK(faults(write_byte, base));                 /* an overflow from below */
    CHECK(faults(write_byte, base + OB_ARENA_GUARD - 1));
    CHECK(faults(write_byte, first_pool - 1));       /* an underflow from the first pool */
    CHECK(faults(write_byte, first_pool - OB_ARENA_GUARD));
    CHECK(!faults(write_byte, first_pool));          /* the pools are not fenced */
    CHECK(!faults(write_byte, (char *)&a->nfree));   /* nor is the header itself */
    ob_free(p);
}

int main(void)
{
    ob_free(ob_malloc(1));
    test_guards();
    test_bitmap();
    test_map();
    test_encoding();
    test_pool_states();
    test_single_block_pools();
    test_grow_in_place();
    test_dry_pools();
    test_remote_notify();
    printf("internals: all checks passed\n");
    return 0;
}
