/*
 * The C library's introspection calls on the drop-in (src/introspect.c):
 * mallinfo2 and mallinfo agree with obmalloc's statistics, malloc_info
 * writes glibc's XML shape (parsed by tests/dropin_mallinfo.sh), mallopt
 * changes what it says it changes and refuses the rest, malloc_stats
 * prints obmalloc's report.
 *
 *   dropin_mallinfo XML_PATH STATS_PATH
 * Built against the C library only; obmalloc's own API is found with dlsym.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obmalloc.h"

#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

static int (*stats_get)(struct ob_stats *);
static void (*collect)(int);

static struct ob_stats *stats_now(void)
{
    static struct ob_stats s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    s.version = OB_STATS_VERSION;
    CHECK(stats_get(&s) == 0);
    return &s;
}

static double ratio(size_t a, size_t b) { return b ? (double)a / (double)b : 0; }

/* uordblks counts the blocks in arenas, hblkhd the huge ones, as glibc
 * splits sbrk'd and mmapped chunks. */
static void mallinfo_agrees(void)
{
    enum { N = 200000 };
    static void *blocks[N];
    struct mallinfo2 before = mallinfo2();
    for (size_t i = 0; i < N; i++) {
        blocks[i] = malloc(16 + i % 200);
        memset(blocks[i], 1, 16 + i % 200);
    }
    struct mallinfo2 mi = mallinfo2();
    struct ob_stats *s = stats_now();
    size_t in_arenas = s->bytes_in_use - s->huge_bytes;
    printf("uordblks %zu, obmalloc's bytes in use in arenas %zu (%.4f)\n", mi.uordblks,
           in_arenas, ratio(mi.uordblks, in_arenas));
    CHECK(ratio(mi.uordblks, in_arenas) > 0.95 && ratio(mi.uordblks, in_arenas) < 1.05);
    CHECK(ratio(mi.uordblks, s->bytes_in_use) > 0.95); /* no huge blocks yet */
    size_t asked = 0;
    for (size_t i = 0; i < N; i++)
        asked += 16 + i % 200;
    CHECK(mi.uordblks - before.uordblks >= asked);
    CHECK(mi.uordblks - before.uordblks < asked + asked / 4); /* class rounding */
    CHECK(mi.arena == mi.uordblks + mi.fordblks);
    CHECK(mi.arena <= s->bytes_committed);
    CHECK(mi.hblks == s->huge_blocks);

    /* The old interface says the same while the figures fit in an int. */
    struct mallinfo old = mallinfo();
    CHECK((size_t)old.uordblks <= mi.uordblks + (1 << 20) && (size_t)old.uordblks + (1 << 20) >= mi.uordblks);
    CHECK(old.hblks == (int)mi.hblks);

    /* Huge blocks go to hblks and hblkhd. */
    void *huge = malloc(5u << 20);
    memset(huge, 2, 5u << 20);
    struct mallinfo2 h = mallinfo2();
    CHECK(h.hblks == mi.hblks + 1);
    CHECK(h.hblkhd >= mi.hblkhd + (5u << 20) && h.hblkhd < mi.hblkhd + (6u << 20));
    s = stats_now();
    CHECK(ratio(h.uordblks + h.hblkhd, s->bytes_in_use) > 0.95 &&
          ratio(h.uordblks + h.hblkhd, s->bytes_in_use) < 1.05);
    free(huge);
    for (size_t i = 0; i < N; i++)
        free(blocks[i]);
    struct mallinfo2 after = mallinfo2();
    CHECK(after.uordblks < mi.uordblks - asked + asked / 20);
    CHECK(after.hblks == mi.hblks);
    CHECK(after.ordblks > mi.ordblks); /* the freed blocks, until collected */
}

/* keepcost: what malloc_trim would give back; mallopt(M_TRIM_THRESHOLD)
 * decides how much freed memory stays mapped. */
static void trim_threshold(void)
{
    collect(1);
    struct mallinfo2 base = mallinfo2();
    void *p = malloc(8u << 20);
    memset(p, 3, 8u << 20);
    free(p); /* kept in the huge-block cache (64 MiB by default) */
    struct mallinfo2 kept = mallinfo2();
    printf("keepcost: %zu before, %zu with a huge block freed\n", base.keepcost, kept.keepcost);
    CHECK(kept.keepcost >= base.keepcost + (8u << 20));
    CHECK(malloc_trim(0) == 1);
    struct mallinfo2 trimmed = mallinfo2();
    CHECK(trimmed.keepcost < (8u << 20));

    CHECK(mallopt(M_TRIM_THRESHOLD, 0) == 1); /* keep nothing */
    p = malloc(8u << 20);
    memset(p, 3, 8u << 20);
    free(p);
    struct mallinfo2 none = mallinfo2();
    CHECK(none.keepcost < (8u << 20));
    CHECK(mallopt(M_TRIM_THRESHOLD, 128 << 20) == 1);
    p = malloc(8u << 20);
    free(p);
    CHECK(mallinfo2().keepcost >= (8u << 20));
    collect(1);

    /* The rest have no meaning here: 0, and nothing breaks. */
    CHECK(mallopt(M_MMAP_THRESHOLD, 64 << 10) == 0);
    CHECK(mallopt(M_ARENA_MAX, 1) == 0);
    CHECK(mallopt(M_PERTURB, 0x5a) == 0);
    CHECK(mallopt(M_TOP_PAD, 1 << 20) == 0);
    CHECK(mallopt(M_MXFAST, 0) == 0);
    CHECK(mallopt(12345, 1) == 0);
    CHECK(mallopt(-12345, -1) == 0);
    void *q = malloc(100);
    CHECK(q != NULL);
    free(q);
}

static void info_xml(const char *path)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    errno = 0;
    CHECK(malloc_info(1, f) == -1 && errno == EINVAL);
    void *keep[1000];
    for (int i = 0; i < 1000; i++)
        keep[i] = malloc((size_t)(i % 50) * 24 + 1);
    for (int i = 0; i < 1000; i += 2)
        free(keep[i]);
    struct mallinfo2 mi = mallinfo2();
    CHECK(malloc_info(0, f) == 0);
    CHECK(fclose(f) == 0);
    printf("fordblks=%zu ordblks=%zu arena=%zu\n", mi.fordblks, mi.ordblks, mi.arena);
    for (int i = 1; i < 1000; i += 2)
        free(keep[i]);
}

static void stats_report(const char *path)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && saved >= 0);
    dup2(fd, 2);
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2);
    close(fd);
    close(saved);
    char text[65536] = {0};
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    CHECK(n > 0);
    CHECK(strstr(text, "obmalloc") != NULL);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    stats_get = (int (*)(struct ob_stats *))dlsym(RTLD_DEFAULT, "ob_stats_get");
    collect = (void (*)(int))dlsym(RTLD_DEFAULT, "ob_collect");
    CHECK(stats_get != NULL && collect != NULL); /* on the drop-in */
    mallinfo_agrees();
    trim_threshold();
    stats_report(argv[2]);
    info_xml(argv[1]); /* last: its figures are printed for the XML check */
    return 0;
}
