/* Memory really goes back to the OS: about 1 GiB of small blocks are
 * allocated and freed; resident memory must fall back and the arenas be
 * unmapped.  Also: new pools go to the fullest arena, so the emptiest
 * ones drain (pymalloc's arena ordering). */
#include <sys/mman.h>

#include "check.h"
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

int main(void)
{
    one_gib();
    check_heap_sound();
    fullest_first();
    check_heap_sound();
    return 0;
}
