/* Memory really goes back to the OS: about 1 GiB of small blocks are
 * allocated and freed; resident memory must fall back and the arenas be
 * unmapped.  Also: new pools go to the fullest arena, so the emptiest
 * ones drain (pymalloc's arena ordering); a thread that exits hands its
 * arenas, pages resident, to the next thread; the purge delay adapts to
 * regrets; the huge cache serves the next big buffer; and the memory
 * return policy's bounds in the statistics hold. */
#include "check.h" /* first: it asks for _GNU_SOURCE (RUSAGE_THREAD) */

#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "internal.h"

#define MiB ((size_t)1 << 20)

static void one_gib(void)
{
    size_t target = scaled(1024) * MiB;
    size_t n = target / 64; /* blocks of 16..112 bytes, 64 on average */
    /* The test's own array comes straight from the OS, so that no other
     * allocator (or sanitizer quarantine) muddies the resident figures. */
    void **v = mmap(NULL, n * sizeof *v, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(v != MAP_FAILED);
    size_t before = resident_bytes();
    uint64_t rng = 42;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t size = 16 + (rng_next(&rng) % 7) * 16;
        v[i] = ob_malloc(size);
        CHECK(v[i] != NULL);
        memset(v[i], (int)i, size);
        bytes += size;
    }
    size_t peak = resident_bytes();
    size_t arenas_peak = _ob_arenas_mapped();
    /* Under valgrind, resident memory is mostly valgrind's own. */
    int measure_rss = getenv("OB_TEST_VALGRIND") == NULL;
    if (measure_rss)
        CHECK(peak - before >= bytes * 9 / 10);
    /* Free in a scattered order, so that arenas empty at random. */
    for (size_t i = 0; i < n; i++) {
        size_t j = i + rng_next(&rng) % (n - i);
        void *t = v[i];
        v[i] = v[j];
        v[j] = t;
        ob_free(v[i]);
    }
    munmap(v, n * sizeof *v);
    /* Debug mode holds the last frees back in its quarantine, scattered
     * over the arenas: let them go first. */
    if (getenv("OBMALLOC_DEBUG") != NULL)
        ob_collect(0);
    size_t after = resident_bytes();
    size_t arenas_after = _ob_arenas_mapped();
    printf("release: %zu MiB in %zu blocks; resident %zu -> %zu -> %zu MiB; arenas %zu -> %zu\n",
           bytes / MiB, n, before / MiB, peak / MiB, after / MiB, arenas_peak, arenas_after);
    /* Without any call: empty arenas went back as they emptied.  A few
     * stay: the spares, and arenas holding the empty current pool of one
     * of the 7 classes used (kept so that a malloc/free loop does not take
     * and give back pages; the next tick releases them). */
    CHECK(arenas_after <= 7 + _ob_options.arena_cache);
    if (measure_rss)
        CHECK(after < before + (peak - before) / 10);
    ob_collect(0);
    CHECK(_ob_arenas_mapped() <= 1 + _ob_options.arena_cache);
    /* On request, everything. */
    ob_collect(1);
    CHECK_EQ(_ob_arenas_mapped(), 0);
    if (measure_rss)
        CHECK(resident_bytes() < before + 16 * MiB);
}

static void fullest_first(void)
{
    /* Fill several arenas with 16 KiB pools of 256-byte blocks. */
    size_t per_arena = OB_ARENA_USABLE_PAGES * (OB_PAGE_SIZE / 256);
    size_t n = per_arena * 6;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = ob_malloc(256);
    /* Arena 0 keeps all its pools but ten (a run of free pages); the
     * others keep one pool in sixteen: arena 0 is the fullest with room. */
    ob_arena_t *first = ob_arena_of(v[0]);
    for (size_t i = 0; i < n; i++) {
        ob_arena_t *a = ob_arena_of(v[i]);
        size_t page = ((uintptr_t)v[i] & OB_ARENA_MASK) / OB_PAGE_SIZE;
        int keep = a == first ? (page < 100 || page >= 110) : page % 16 == 0;
        if (!keep) {
            ob_free(v[i]);
            v[i] = NULL;
        }
    }
    CHECK_EQ(first->nfree, 10);
    /* New pools (of another class, so no partly used pool can serve them)
     * come from the fullest arena. */
    void *p[20];
    for (int k = 0; k < 20; k++) {
        p[k] = ob_malloc(4000);
        CHECK(ob_arena_of(p[k]) == first);
    }
    for (int k = 0; k < 20; k++)
        ob_free(p[k]);
    for (size_t i = 0; i < n; i++)
        ob_free(v[i]);
    free(v);
    ob_collect(1);
}


/* The memory return policy's bounds, as the statistics give them. */
static void check_bounds(const struct ob_stats *s)
{
    CHECK(s->purge_delay_ms >= _ob_options.purge_delay_ms);
    CHECK(s->purge_delay_ms <= _ob_options.purge_delay_ms * 32);
    CHECK(s->spare_arenas_limit >= _ob_options.arena_cache);
    CHECK(s->bytes_spare_resident <= s->spare_arenas * OB_ARENA_SIZE);
    CHECK(s->huge_cache_limit >= _ob_options.huge_cache_bytes);
    CHECK(s->huge_cache_bytes <= s->huge_cache_limit);
    CHECK(s->bytes_regretted <= s->bytes_purged);
}

static size_t churn_bytes;
static void **churn_slots; /* faulted in by the main thread */

/* Allocates churn_bytes in 128-byte blocks, writes them, frees them all;
 * *arg gets the thread's minor page faults. */
static void *churn_thread(void *arg)
{
    struct rusage before, after;
    getrusage(RUSAGE_THREAD, &before);
    size_t n = churn_bytes / 128;
    for (size_t i = 0; i < n; i++) {
        churn_slots[i] = ob_malloc(128);
        CHECK(churn_slots[i] != NULL);
        memset(churn_slots[i], (int)i, 128);
    }
    for (size_t i = 0; i < n; i++)
        ob_free(churn_slots[i]);
    getrusage(RUSAGE_THREAD, &after);
    *(long *)arg = after.ru_minflt - before.ru_minflt;
    return NULL;
}

/* Threads that come and go (mimalloc-bench's mstress): the first thread's
 * arenas wait as spares, pages resident, and the next thread takes them:
 * nothing new is mapped, and its page faults are a fraction of the
 * first's (it was 1.5 million faults in mstress when exit purged them). */
static void threads_hand_arenas_on(void)
{
    if (ob_test_diverted())
        return; /* debug mode's blocks are laid out differently */
    uint64_t delay = _ob_options.purge_delay_ms;
    _ob_options.purge_delay_ms = 1000; /* a sanitized build is slow */
    ob_collect(1);
    churn_bytes = scaled(32) * MiB;
    size_t slots_bytes = churn_bytes / 128 * sizeof(void *);
    churn_slots = mmap(NULL, slots_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(churn_slots != MAP_FAILED);
    memset(churn_slots, 0, slots_bytes);
    long faults_first = 0, faults_next = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churn_thread, &faults_first) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    struct ob_stats between = stats_now();
    CHECK(pthread_create(&t, NULL, churn_thread, &faults_next) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    struct ob_stats after = stats_now();
    printf("threads: the first took %ld page faults and left %zu spare arenas (%zu allowed, "
           "%zu MiB resident); the next took %ld faults, %llu arenas mapped meanwhile\n",
           faults_first, between.spare_arenas, between.spare_arenas_limit,
           between.bytes_spare_resident / MiB, faults_next,
           (unsigned long long)(after.arenas_allocated - between.arenas_allocated));
    check_bounds(&between);
    check_bounds(&after);
    CHECK(between.spare_arenas >= 2);
    CHECK_EQ(after.arenas_allocated, between.arenas_allocated);
    /* With huge pages (a fault per 2 MiB) the first thread's faults are
     * few: the bound is then on what the next one faulted in, about a
     * thread's stack and TLS. */
    CHECK(faults_next * 4 < faults_first || faults_next < 256);
    munmap(churn_slots, slots_bytes);
    _ob_options.purge_delay_ms = delay;
    /* On request, the spares go, and their memory with them. */
    ob_collect(1);
    struct ob_stats collected = stats_now();
    CHECK_EQ(collected.spare_arenas, 0);
    CHECK_EQ(collected.bytes_spare_resident, 0);
    CHECK_EQ(collected.huge_cache_bytes, 0);
}

/* Pages purged and taken again soon after are regrets: the delay doubles
 * while they last, and comes back to the base once purges stop being
 * regretted. */
static void purge_delay_adapts(void)
{
    if (ob_test_diverted())
        return;
    uint64_t base = _ob_options.purge_delay_ms;
    _ob_options.purge_delay_ms = 4;
    size_t n = 4 * MiB / 1024; /* 4 MiB of 1 KiB blocks */
    void **v = mmap(NULL, n * sizeof *v, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(v != MAP_FAILED);
    void *anchor = ob_malloc(1024); /* keeps the heap's arena */
    struct ob_stats start = stats_now();
    uint64_t most = 0;
    for (int round = 0; round < 40 && most < 4 * 8; round++) {
        for (size_t i = 0; i < n; i++)
            v[i] = ob_malloc(1024);
        for (size_t i = 0; i < n; i++)
            ob_free(v[i]);
        /* Two ticks, a delay apart: the pages freed go back at the second. */
        for (int tick = 0; tick < 2; tick++) {
            usleep((useconds_t)(stats_now().purge_delay_ms + 1) * 1000);
            ob_collect(0);
        }
        uint64_t d = stats_now().purge_delay_ms;
        most = d > most ? d : most;
    }
    struct ob_stats regretful = stats_now();
    check_bounds(&regretful);
    printf("purge delay: 4 ms base, up to %llu ms while purged pages were taken again "
           "(%llu of %llu MiB purged)\n",
           (unsigned long long)most,
           (unsigned long long)((regretful.bytes_regretted - start.bytes_regretted) / MiB),
           (unsigned long long)((regretful.bytes_purged - start.bytes_purged) / MiB));
    CHECK(regretful.bytes_purged > start.bytes_purged);
    CHECK(regretful.bytes_regretted > start.bytes_regretted);
    CHECK(most >= 4 * 8);
    /* Purges nobody regrets: each round's arenas are purged and unmapped
     * (the anchor gone, nothing keeps them), the next round maps anew. */
    ob_free(anchor);
    for (int round = 0; round < 60 && stats_now().purge_delay_ms > 4; round++) {
        for (size_t i = 0; i < n; i++)
            v[i] = ob_malloc(1024);
        for (size_t i = 0; i < n; i++)
            ob_free(v[i]);
        ob_collect(1);
        for (int tick = 0; tick < 2; tick++) {
            usleep((useconds_t)(stats_now().purge_delay_ms + 1) * 1000);
            ob_collect(0);
        }
    }
    printf("purge delay: back to %llu ms once purges were not regretted\n",
           (unsigned long long)stats_now().purge_delay_ms);
    CHECK_EQ(stats_now().purge_delay_ms, 4);
    munmap(v, n * sizeof *v);
    _ob_options.purge_delay_ms = base;
    ob_collect(1);
}

/* Big buffers replaced one at a time (mimalloc-bench's malloc-large): a
 * freed buffer serves the next request that it holds, even one much
 * smaller, and the cache grows with the live huge bytes. */
static void huge_cache_serves_next(void)
{
    if (ob_test_diverted())
        return;
    ob_collect(1);
    void *keep[8];
    for (int i = 0; i < 8; i++) { /* 8 x 40 MiB live: a limit of 80 MiB */
        keep[i] = ob_malloc(40 * MiB);
        CHECK(keep[i] != NULL);
    }
    char *big = ob_malloc(24 * MiB);
    CHECK(big != NULL);
    memset(big, 1, 24 * MiB);
    ob_free(big);
    struct ob_stats s = stats_now();
    check_bounds(&s);
    CHECK(s.huge_cache_limit >= 80 * MiB);
    CHECK(s.huge_cache_bytes >= 24 * MiB);
    char *next = ob_malloc(6 * MiB); /* 18 MiB left over: under the slack */
    CHECK(next == big);
    ob_free(next);
    for (int i = 0; i < 8; i++)
        ob_free(keep[i]);
    ob_collect(1);
    CHECK_EQ(stats_now().huge_cache_bytes, 0);
}

int main(void)
{
    one_gib();
    check_heap_sound();
    fullest_first();
    check_heap_sound();
    threads_hand_arenas_on();
    check_heap_sound();
    purge_delay_adapts();
    check_heap_sound();
    huge_cache_serves_next();
    check_heap_sound();
    return 0;
}
