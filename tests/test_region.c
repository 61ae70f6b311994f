/*
 * Regions (src/region.c): allocation, every free path, visit, contains,
 * statistics, destroy (memory back, counts exact), release, thread exit,
 * and misuse reports.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "check.h"
#include "internal.h" /* _ob_options */

static size_t rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL);
    size_t pages = 0, resident = 0;
    CHECK(fscanf(f, "%zu %zu", &pages, &resident) == 2);
    fclose(f);
    return resident * (size_t)sysconf(_SC_PAGESIZE) / 1024;
}

typedef struct tally {
    size_t blocks, bytes;
    ob_region_t *r;
} tally_t;

static int count_block(void *block, size_t usable, void *arg)
{
    tally_t *t = arg;
    if (!ob_region_contains(t->r, block))
        fprintf(stderr, "not contained: %p (%zu) of %p\n", block, usable, (void *)t->r);
    CHECK(ob_region_contains(t->r, block));
    CHECK(usable == ob_usable_size(block));
    t->blocks++;
    t->bytes += usable;
    return 0;
}

static int stop_at_three(void *block, size_t usable, void *arg)
{
    (void)block;
    (void)usable;
    return ++*(int *)arg == 3 ? 42 : 0;
}

/* Allocate, free some, visit exactly the rest, destroy. */
static void basics(void)
{
    enum { N = 100000 };
    static void *p[N];
    ob_region_t *r = ob_region_new();
    CHECK(r != NULL);
    size_t sizes_live = 0, live = 0;
    for (int i = 0; i < N; i++) {
        size_t size = 1 + (size_t)(i * 37) % 3000;
        p[i] = i % 1000 == 0 ? ob_region_calloc(r, 1, size) : ob_region_malloc(r, size);
        CHECK(p[i] != NULL);
        memset(p[i], i & 0xff, size);
    }
    void *huge = ob_region_malloc(r, (size_t)3 << 20);
    void *aligned = ob_region_aligned_alloc(r, 65536, 5000);
    CHECK(huge != NULL && aligned != NULL && (uintptr_t)aligned % 65536 == 0);
    void *outside = ob_malloc(100);
    CHECK(!ob_region_contains(r, outside));
    for (int i = 0; i < N; i += 3)
        ob_free(p[i]);
    for (int i = 0; i < N; i++)
        if (i % 3 != 0) {
            CHECK(ob_region_contains(r, p[i]));
            CHECK(ob_region_contains(r, (char *)p[i] + 1)); /* inside */
            sizes_live += ob_usable_size(p[i]);
            live++;
        }
    CHECK(!ob_region_contains(r, p[0]));
    tally_t t = {0, 0, r};
    CHECK(ob_region_visit(r, count_block, &t) == 0);
    CHECK_EQ(t.blocks, live + 2);
    CHECK_EQ(t.bytes, sizes_live + ob_usable_size(huge) + ob_usable_size(aligned));
    int seen = 0;
    CHECK(ob_region_visit(r, stop_at_three, &seen) == 42 && seen == 3);
    struct ob_region_stats s;
    ob_region_stats(r, &s);
    CHECK_EQ(s.blocks_in_use, live + 2);
    CHECK_EQ(s.bytes_in_use, sizes_live + ob_usable_size(huge) + ob_usable_size(aligned));
    struct ob_stats all = {.size = sizeof all, .version = OB_STATS_VERSION};
    CHECK(ob_stats_get(&all) == 0);
    CHECK_EQ(all.regions_current, (size_t)1);
    CHECK(all.bytes_regions >= s.bytes_in_use - ob_usable_size(huge));
    /* realloc keeps blocks in the region */
    void *q = ob_region_realloc(r, p[1], 20000);
    CHECK(q != NULL && ob_region_contains(r, q));
    p[1] = q;
    ob_region_destroy(r);
    ob_free(outside);
    CHECK(ob_stats_get(&all) == 0);
    CHECK_EQ(all.regions_current, (size_t)0);
    CHECK_EQ(all.bytes_regions, (size_t)0);
    check_heap_sound();
}

/* Bad sizes and alignments get NULL with errno, as ob_malloc's do, and
 * leave the region as it was. */
static void bad_input(void)
{
    ob_region_t *r = ob_region_new();
    CHECK(r != NULL);
    char *keep = ob_region_malloc(r, 100);
    CHECK(keep != NULL);
    memset(keep, 0x5a, 100);
    const size_t too_big[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1,
                              (size_t)1 << 60};
    for (size_t i = 0; i < sizeof too_big / sizeof *too_big; i++) {
        errno = 0;
        CHECK(ob_region_malloc(r, too_big[i]) == NULL && errno == ENOMEM);
        errno = 0;
        CHECK(ob_region_calloc(r, 1, too_big[i]) == NULL && errno == ENOMEM);
        errno = 0;
        CHECK(ob_region_aligned_alloc(r, 64, too_big[i]) == NULL && errno == ENOMEM);
        errno = 0;
        CHECK(ob_region_realloc(r, keep, too_big[i]) == NULL && errno == ENOMEM);
    }
    errno = 0;
    CHECK(ob_region_calloc(r, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM); /* overflow */
    errno = 0;
    CHECK(ob_region_calloc(r, (size_t)1 << 33, (size_t)1 << 33) == NULL && errno == ENOMEM);
    const size_t bad_align[] = {0, 3, 24, 1000, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_align / sizeof *bad_align; i++) {
        errno = 0;
        CHECK(ob_region_aligned_alloc(r, bad_align[i], 64) == NULL && errno == EINVAL);
    }
    errno = 0;
    CHECK(ob_region_aligned_alloc(r, (size_t)1 << 62, 64) == NULL && errno == ENOMEM);
    /* Alignments 1 to 2 MiB, all from the region. */
    for (size_t align = 1; align <= ((size_t)2 << 20); align *= 2) {
        void *a = ob_region_aligned_alloc(r, align, 100);
        CHECK(a != NULL && (uintptr_t)a % align == 0 && ob_region_contains(r, a));
    }
    /* Size 0: a unique block of the region, as malloc(0) gives. */
    void *z1 = ob_region_malloc(r, 0), *z2 = ob_region_malloc(r, 0);
    CHECK(z1 != NULL && z2 != NULL && z1 != z2 && ob_region_contains(r, z1));
    void *zc = ob_region_calloc(r, 0, 10);
    CHECK(zc != NULL && ob_region_contains(r, zc));
    /* realloc: NULL is malloc, 0 frees. */
    void *m = ob_region_realloc(r, NULL, 50);
    CHECK(m != NULL && ob_region_contains(r, m));
    CHECK(ob_region_realloc(r, m, 0) == NULL);
    CHECK(!ob_region_contains(r, m));
    for (int i = 0; i < 100; i++)
        CHECK(keep[i] == 0x5a); /* untouched by the failures */
    CHECK(!ob_region_contains(r, NULL));
    CHECK(!ob_region_contains(NULL, keep));
    ob_region_destroy(r);
    check_heap_sound();
}

/* Debug mode: an over-aligned block's inner block starts with a gap, where
 * an earlier block of the same memory may have left a header that still
 * looks valid if its size equals the new gap (here: a freed 1 MiB block,
 * then a block aligned to 1 MiB in the same cached huge mapping).  The
 * fuzzer found it: the new block was not "in" its region, and visit and
 * ob_heap_check would have looked at the stale header instead of it. */
static void stale_header_in_the_gap(void)
{
    ob_region_t *r = ob_region_new();
    for (int round = 0; round < 4; round++) {
        void *old = ob_region_malloc(r, (size_t)1 << 20);
        CHECK(old != NULL);
        ob_free(old);
        ob_collect(0); /* out of the quarantine, into the huge cache */
        void *p = ob_region_aligned_alloc(r, (size_t)1 << 20, 16);
        CHECK(p != NULL && (uintptr_t)p % ((size_t)1 << 20) == 0);
        CHECK(ob_region_contains(r, p));
        tally_t t = {0, 0, r};
        CHECK(ob_region_visit(r, count_block, &t) == 0 && t.blocks == 1);
        ob_free(p);
    }
    ob_region_destroy(r);
    check_heap_sound();
}

/* After destroy and ob_collect(1), resident memory is back. */
static void memory_back(void)
{
    ob_collect(1);
    size_t before = rss_kb();
    ob_region_t *r = ob_region_new();
    for (int i = 0; i < 1000000; i++)
        CHECK(ob_region_malloc(r, 16 + (size_t)(i % 8) * 16) != NULL);
    size_t peak = rss_kb();
    ob_region_destroy(r);
    ob_collect(1);
    size_t after = rss_kb();
    printf("region of 1M blocks: %zu kB before, %zu at the peak, %zu after destroy\n", before,
           peak, after);
    CHECK(peak > before + 40000);
    CHECK(after <= before + before / 10 + 1024);
    check_heap_sound();
}

/* Without ob_collect: a destroyed region's arenas wait as spares, the next
 * region maps none of its own, and once they have been idle for a purge
 * delay a tick unmaps them.  (Debug mode unmaps them at the destroy.)  The
 * purge delay is 2 s during the rounds, so that a slow build (TSan) still
 * takes the spares before a tick may unmap them, then 50 ms again. */
static void arenas_for_the_next_region(void)
{
    uint64_t delay = _ob_options.purge_delay_ms;
    _ob_options.purge_delay_ms = 2000;
    ob_collect(1);
    for (int round = 0; round < 3; round++) {
        ob_region_t *r = ob_region_new();
        for (int i = 0; i < 200000; i++) /* 14 MB: four arenas */
            CHECK(ob_region_malloc(r, 16 + (size_t)(i % 8) * 16) != NULL);
        struct ob_stats built = stats_now();
        ob_region_destroy(r);
        struct ob_stats dropped = stats_now();
        printf("round %d: arenas %zu with the region, %zu after its destroy, %llu mapped "
               "so far\n", round, built.arenas_current, dropped.arenas_current,
               (unsigned long long)dropped.arenas_allocated);
        if (getenv("OBMALLOC_DEBUG") != NULL)
            continue;
        CHECK(built.arenas_current >= 4);
        CHECK_EQ(dropped.arenas_current, built.arenas_current); /* kept, all of them */
        static uint64_t first_allocated;
        if (round == 0)
            first_allocated = dropped.arenas_allocated;
        else
            CHECK_EQ(dropped.arenas_allocated, first_allocated); /* nothing new mapped */
    }
    _ob_options.purge_delay_ms = 50;
    /* Idle for more than two purge delays (the delay adapts: up to 32
     * times the base, purge.c): the spares' demand falls to nothing. */
    usleep((useconds_t)(stats_now().purge_delay_ms * 2 + 100) * 1000);
    ob_collect(0);      /* a tick, as any allocation activity brings */
    _ob_options.purge_delay_ms = delay;
    struct ob_stats later = stats_now();
    printf("after a purge delay and a tick: %zu arenas\n", later.arenas_current);
    CHECK(later.arenas_current <= 2 + 1); /* the spares, and the thread's own */
    check_heap_sound();
}

/* Other threads free region blocks before the destroy; the statistics
 * count exactly what is left. */
static void *free_half(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 50000; i += 2)
        ob_free(blocks[i]);
    return NULL;
}

static size_t blocks_in_use(void)
{
    struct ob_stats s = {.size = sizeof s, .version = OB_STATS_VERSION};
    CHECK(ob_stats_get(&s) == 0);
    size_t n = s.aligned_blocks + s.huge_blocks;
    for (unsigned c = 0; c < s.nclasses; c++)
        n += s.classes[c].blocks_in_use;
    return n;
}

static void cross_thread(void)
{
    static void *blocks[50000];
    size_t base = blocks_in_use();
    ob_region_t *r = ob_region_new();
    for (int i = 0; i < 50000; i++)
        blocks[i] = ob_region_malloc(r, 24 + (size_t)(i % 50) * 8);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_half, blocks) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    struct ob_region_stats s;
    ob_region_stats(r, &s);
    CHECK_EQ(s.blocks_in_use, (size_t)25000);
    ob_region_destroy(r);
    CHECK_EQ(blocks_in_use(), base);
    check_heap_sound();
}

/* Frees around destroys, round after round (the TSan build checks the
 * protocol).  Round r: the owner fills region R_r; two workers free half
 * of its blocks and say so; the owner then destroys R_(r-1) while the
 * workers free a quarter more of R_r's blocks and allocate blocks of their
 * own (from arenas the destroys just gave back); the owner checks what
 * R_r holds and frees the workers' blocks.  Each region is destroyed with
 * a quarter of its blocks still live, after frees by other threads that
 * wait on its remote lists. */
enum { ROUNDS = 40, PER_ROUND = 4000, WORKERS = 2 };
static void *round_blocks[ROUNDS + 1][PER_ROUND];
static void *worker_blocks[WORKERS][PER_ROUND / 4];
static _Atomic int round_started, frees_done;

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int round = 1; round <= ROUNDS; round++) {
        while (atomic_load(&round_started) < round)
            sched_yield();
        void **blocks = round_blocks[round];
        for (int i = me; i < PER_ROUND; i += 2 * WORKERS) /* half: i % 4 in {0, 1} */
            ob_free(blocks[i]);
        atomic_fetch_add(&frees_done, 1); /* the owner destroys the last region now */
        for (int i = 2 + me; i < PER_ROUND; i += 4 * WORKERS) /* a quarter more */
            ob_free(blocks[i]);
        for (int i = 0; i < PER_ROUND / 4; i++) {
            worker_blocks[me][i] = ob_malloc(16 + (size_t)(i % 30) * 16);
            CHECK(worker_blocks[me][i] != NULL);
        }
        atomic_fetch_add(&frees_done, 1);
    }
    return NULL;
}

static void frees_around_destroy(void)
{
    ob_collect(1);
    size_t base = blocks_in_use();
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    ob_region_t *last = NULL;
    for (int round = 1; round <= ROUNDS; round++) {
        ob_region_t *r = ob_region_new();
        CHECK(r != NULL);
        for (int i = 0; i < PER_ROUND; i++) {
            round_blocks[round][i] = ob_region_malloc(r, 16 + (size_t)(i % 40) * 16);
            CHECK(round_blocks[round][i] != NULL);
        }
        atomic_store(&frees_done, 0);
        atomic_store(&round_started, round);
        while (atomic_load(&frees_done) < WORKERS)
            sched_yield();
        if (last != NULL)
            ob_region_destroy(last); /* while the workers free and allocate */
        while (atomic_load(&frees_done) < 2 * WORKERS)
            sched_yield();
        struct ob_region_stats s;
        ob_region_stats(r, &s);
        CHECK_EQ(s.blocks_in_use, (size_t)PER_ROUND / 4);
        for (int w = 0; w < WORKERS; w++)
            for (int i = 0; i < PER_ROUND / 4; i++)
                ob_free(worker_blocks[w][i]);
        last = r;
    }
    ob_region_destroy(last);
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECK_EQ(blocks_in_use(), base);
    check_heap_sound();
}

/* Release: the blocks stay valid, and are freed as ordinary blocks. */
static void release(void)
{
    ob_region_t *r = ob_region_new();
    char *p[1000];
    for (int i = 0; i < 1000; i++) {
        p[i] = ob_region_malloc(r, 100);
        memset(p[i], 7, 100);
    }
    ob_region_release(r);
    for (int i = 0; i < 1000; i++) {
        CHECK(p[i][99] == 7);
        ob_free(p[i]);
    }
    check_heap_sound();
}

static void *thread_with_region(void *arg)
{
    ob_region_t *r = ob_region_new();
    void **out = arg;
    for (int i = 0; i < 1000; i++)
        out[i] = ob_region_malloc(r, 64);
    return NULL; /* exits with the region alive: released */
}

static void *thread_leaving_blocks(void *arg)
{
    char **out = arg;
    for (int i = 0; i < 1000; i++) {
        out[i] = ob_malloc(64);
        memset(out[i], 0x33, 64);
    }
    return NULL; /* its arena is abandoned, with these blocks live */
}

static void thread_exit(void)
{
    static void *blocks[1000];
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_with_region, blocks) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    for (int i = 0; i < 1000; i++)
        ob_free(blocks[i]);
    /* A region never adopts an abandoned arena: its destroy would take the
     * other blocks there with it. */
    static char *left[1000];
    CHECK(pthread_create(&t, NULL, thread_leaving_blocks, left) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    ob_region_t *r = ob_region_new();
    for (int i = 0; i < 200000; i++)
        CHECK(ob_region_malloc(r, 64) != NULL);
    ob_region_destroy(r);
    for (int i = 0; i < 1000; i++) {
        CHECK(left[i][0] == 0x33 && left[i][63] == 0x33);
        ob_free(left[i]);
    }
    check_heap_sound();
}

/* fork with a live region: the child has a copy it may go on using,
 * visit and destroy; the parent's is untouched. */
static void fork_child_uses_region(void)
{
    ob_region_t *r = ob_region_new();
    char *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = ob_region_malloc(r, 200);
        memset(p[i], i, 200);
    }
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 100; i++)
            if (p[i][199] != (char)i)
                _exit(2);
        for (int i = 0; i < 50; i++)
            ob_free(p[i]);
        for (int i = 0; i < 1000; i++)
            if (ob_region_malloc(r, 64) == NULL)
                _exit(3);
        tally_t t = {0, 0, r};
        ob_region_visit(r, count_block, &t);
        if (t.blocks != 50 + 1000)
            _exit(4);
        ob_region_destroy(r);
        struct ob_heap_check_result res;
        _exit(ob_heap_check(&res) == 0 ? 0 : 5);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tally_t t = {0, 0, r};
    ob_region_visit(r, count_block, &t);
    CHECK_EQ(t.blocks, (size_t)100);
    ob_region_destroy(r);
    check_heap_sound();
}

/* ---- misuse -------------------------------------------------------------- */

static ob_region_t *shared;
static void *destroy_elsewhere(void *arg)
{
    (void)arg;
    ob_region_destroy(shared);
    return NULL;
}

static void destroy_by_other_thread(void)
{
    shared = ob_region_new();
    pthread_t t;
    pthread_create(&t, NULL, destroy_elsewhere, NULL);
    pthread_join(t, NULL);
}

static void malloc_null(void) { (void)ob_region_malloc(NULL, 10); }

static void realloc_foreign_block(void)
{
    ob_region_t *a = ob_region_new(), *b = ob_region_new();
    void *p = ob_region_malloc(a, 10);
    (void)ob_region_realloc(b, p, 100);
}

static void free_after_destroy(void)
{
    ob_region_t *r = ob_region_new();
    void *p = ob_region_malloc(r, 10);
    ob_region_destroy(r);
    ob_free(p);
}

/* The same after the owner's frees had tagged the arena in its cache
 * (free.c): the destroy must untag it, else the free would take the
 * region path into an arena no region owns. */
static void free_after_destroy_tagged(void)
{
    ob_region_t *r = ob_region_new();
    void *p = ob_region_malloc(r, 10), *q = ob_region_malloc(r, 10);
    ob_free(q); /* tags the arena */
    ob_free(ob_region_malloc(r, 10)); /* the tagged path */
    ob_region_destroy(r);
    ob_free(p);
}

/* An arena that empties leaves its region, and the tag must go with it:
 * another thread may take the arena next (from the spares), and the
 * owner's free of that thread's block must then go to that thread, not
 * into the pool as if it were the region's. */
enum { TAG_N = 200000 }; /* about 4 arenas of 64-byte blocks */
static void *tag_blocks[TAG_N];

static _Atomic int tag_stage;

/* Allocates, and stays alive (its pools active) while the owner frees. */
static void *allocate_tag_blocks(void *arg)
{
    (void)arg;
    for (int i = 0; i < TAG_N; i++) {
        CHECK((tag_blocks[i] = ob_malloc(64)) != NULL);
        memset(tag_blocks[i], 0x42, 64);
    }
    atomic_store(&tag_stage, 1);
    void *own[64] = {0};
    for (unsigned i = 0; atomic_load(&tag_stage) != 2; i++) { /* busy in its pools meanwhile */
        ob_free(own[i % 64]);
        CHECK((own[i % 64] = ob_malloc(64)) != NULL);
    }
    for (int i = 0; i < 64; i++)
        ob_free(own[i]);
    ob_collect(0);
    return NULL;
}

static void tag_follows_the_arena(void)
{
    ob_collect(1);
    size_t base = blocks_in_use();
    ob_region_t *keep = ob_region_new(); /* the thread keeps a region throughout */
    CHECK(ob_region_malloc(keep, 10) != NULL);
    ob_region_t *r = ob_region_new();
    for (int i = 0; i < TAG_N; i++)
        CHECK((tag_blocks[i] = ob_region_malloc(r, 64)) != NULL);
    for (int i = 0; i < TAG_N; i++) /* tags every arena, then empties them */
        ob_free(tag_blocks[i]);
    struct ob_region_stats s;
    ob_region_stats(r, &s);
    CHECK_EQ(s.blocks_in_use, (size_t)0);
    pthread_t t; /* takes the spares the region let go */
    atomic_store(&tag_stage, 0);
    CHECK(pthread_create(&t, NULL, allocate_tag_blocks, NULL) == 0);
    while (atomic_load(&tag_stage) != 1)
        sched_yield();
    for (int i = 0; i < TAG_N; i++)
        ob_free(tag_blocks[i]); /* cross-thread frees, whatever the tag said */
    atomic_store(&tag_stage, 2);
    CHECK(pthread_join(t, NULL) == 0);
    ob_region_destroy(r);
    ob_region_destroy(keep);
    ob_collect(1);
    CHECK_EQ(blocks_in_use(), base);
    check_heap_sound();
}

static void overflow_then_destroy(void)
{
    ob_region_t *r = ob_region_new();
    char *p = ob_region_malloc(r, 40);
    p[40] = 1; /* one byte past the end */
    ob_region_destroy(r);
}

int main(void)
{
    basics();
    bad_input();
    stale_header_in_the_gap();
    memory_back();
    arenas_for_the_next_region();
    cross_thread();
    frees_around_destroy();
    tag_follows_the_arena();
    release();
    thread_exit();
    fork_child_uses_region();
    CHECK(dies_with(destroy_by_other_thread, "region misuse"));
    CHECK(report_has("only by the thread that made it"));
    CHECK(dies_with(malloc_null, "region misuse"));
    CHECK(dies_with(realloc_foreign_block, "region misuse"));
    CHECK(report_has("not the region's"));
    CHECK(dies_with(free_after_destroy, "invalid free"));
    CHECK(dies_with(free_after_destroy_tagged, "invalid free"));
    if (getenv("OBMALLOC_DEBUG") != NULL) /* debug mode checks what destroy drops */
        CHECK(dies_with(overflow_then_destroy, "buffer overflow"));
    printf("test_region: ok\n");
    return 0;
}
