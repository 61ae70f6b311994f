/* Huge pages (OBMALLOC_HUGEPAGES, src/hugepage.c).
 *
 *   test_hugepages on    run with OBMALLOC_HUGEPAGES=1: a heap of 256 MB of
 *                        small blocks shows AnonHugePages (from
 *                        /proc/self/smaps_rollup, and in the statistics);
 *                        after everything is freed and ob_collect(1),
 *                        resident memory is back to at most 10 % of the
 *                        peak, and the huge pages are gone;
 *   test_hugepages off   run with OBMALLOC_HUGEPAGES=0: the same heap shows
 *                        none (where the kernel's mode is `madvise`; under
 *                        `always` every anonymous mapping may get them).
 * Then, both: a heap with holes everywhere (one page in four kept, as
 * producers and consumers leave it): after two purge ticks (ob_collect(0),
 * no clock involved) the free pages kept inside whole huge pages are
 * within the heap's budget (1/32 of the pages in use, or one huge page),
 * and resident memory follows the pages in use.  (ctest sets a long
 * OBMALLOC_PURGE_DELAY: only ob_collect ticks.)
 * Where the kernel says `never`, both check that the option is a quiet
 * no-op.  Nothing here is timed. */
#include "obmalloc.h" /* before check.h, whose drop-in variant renames ob_* */
#include "check.h"

static int kernel_mode(void) /* 0 never, 1 madvise, 2 always */
{
    char buf[128] = {0};
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    if (strstr(buf, "[always]"))
        return 2;
    if (strstr(buf, "[madvise]"))
        return 1;
    return 0;
}

static size_t anon_huge_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    CHECK(f != NULL);
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %zu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

#define HEAP (256u << 20)
#define BLOCK 64

static void holes(int on)
{
    size_t n = scaled(HEAP / 4 / BLOCK);
    void **v = malloc(n * sizeof *v);
    CHECK(v != NULL);
    memset(v, 1, n * sizeof *v);
    size_t before = resident_bytes();
    for (size_t i = 0; i < n; i++) {
        v[i] = ob_malloc(BLOCK);
        CHECK(v[i] != NULL);
        memset(v[i], 7, BLOCK);
    }
    size_t peak = resident_bytes(), kept_blocks = 0;
    for (size_t i = 0; i < n; i++) {
        size_t page = ((uintptr_t)v[i] % (4u << 20)) / (16u << 10);
        if (page % 4 != 0) {
            ob_free(v[i]);
            v[i] = NULL;
        } else {
            kept_blocks++;
        }
    }
    struct ob_stats s = stats_now();
    size_t kept_before = s.bytes_huge_kept;
    ob_collect(0);
    ob_collect(0);
    s = stats_now();
    size_t after = resident_bytes();
    size_t in_use = kept_blocks * BLOCK;
    printf("holes: %zu MB resident at the peak, %zu MB after two ticks, %zu MB in use; "
           "free pages kept in huge pages: %zu MB before the ticks, %zu MB after\n",
           (peak - before) >> 20, (after - before) >> 20, in_use >> 20, kept_before >> 20,
           s.bytes_huge_kept >> 20);
    if (on)
        CHECK(kept_before >= (peak - before) / 2); /* the holes, before */
    else
        CHECK_EQ(kept_before, 0);
    CHECK(s.bytes_huge_kept <= in_use / 32 + (2u << 20));
    CHECK(after <= before + in_use + in_use / 8 + (4u << 20));
    for (size_t i = 0; i < n; i++)
        ob_free(v[i]);
    free(v);
    ob_collect(1);
}

int main(int argc, char **argv)
{
    CHECK(argc > 1);
    int on = strcmp(argv[1], "on") == 0;
    int mode = kernel_mode();
    size_t n = scaled(HEAP / BLOCK);
    void **v = malloc(n * sizeof *v); /* the C library's: not in the arenas */
    CHECK(v != NULL);
    memset(v, 1, n * sizeof *v); /* resident before the measure starts */
    size_t before = resident_bytes();
    for (size_t i = 0; i < n; i++) {
        v[i] = ob_malloc(BLOCK);
        CHECK(v[i] != NULL);
        memset(v[i], (int)(i & 0xff), BLOCK);
    }
    size_t peak = resident_bytes();
    size_t huge = anon_huge_bytes();
    struct ob_stats s = stats_now();
    CHECK_EQ(s.huge_pages_option, on ? 1u : 0u);
    CHECK_EQ(s.huge_pages_kernel, (uint32_t)mode);
    printf("kernel mode %d, option %s: %zu MB resident, %zu MB AnonHugePages, "
           "%zu MB in huge pages per the statistics\n",
           mode, on ? "on" : "off", peak >> 20, huge >> 20, s.bytes_huge_pages >> 20);
    if (mode == 0) {
        CHECK_EQ(huge, 0);
        CHECK_EQ(s.bytes_huge_pages, 0);
    } else if (on) {
        /* Not all of it: the kernel may find no free 2 MiB of physical
         * memory for some faults, and falls back to small pages. */
        CHECK(huge >= (4u << 20));
        CHECK(s.bytes_huge_pages >= (4u << 20));
        CHECK(s.bytes_huge_pages <= huge);
    } else if (mode == 1) {
        CHECK_EQ(huge, 0);
        CHECK_EQ(s.bytes_huge_pages, 0);
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(((unsigned char *)v[i])[BLOCK - 1] == (unsigned char)(i & 0xff));
        ob_free(v[i]);
    }
    ob_collect(1);
    size_t after = resident_bytes();
    printf("resident: %zu MB before, %zu MB at the peak, %zu MB after ob_collect(1); "
           "AnonHugePages %zu MB\n",
           before >> 20, peak >> 20, after >> 20, anon_huge_bytes() >> 20);
    CHECK(after <= before + (peak - before) / 10);
    if (on && mode == 1)
        CHECK(anon_huge_bytes() <= (4u << 20)); /* the huge pages went back */
    free(v);
    check_heap_sound();
    holes(on);
    check_heap_sound();
    puts("test_hugepages: ok");
    return 0;
}
