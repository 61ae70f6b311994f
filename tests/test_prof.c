/*
 * The heap profiler through the ob_* API (src/prof.c).  Run with
 * OBMALLOC_PROF=1 (and again in debug mode, and under TSan), and once
 * without, where ob_prof_dump says ENOTSUP.
 *
 * What it checks, reading back the heap profile it dumps:
 *  - the file is the format pprof reads: the symbol section, with one
 *    line for each address on the stacks and no repeats, then the header
 *    with heap_v2/RATE, one line per stack, MAPPED_LIBRARIES; and the
 *    folded files exist;
 *  - the live set: samples appear for blocks held, and leave it when the
 *    blocks are freed: by the owner, by another thread, after realloc,
 *    for small, aligned and huge blocks (huge ones resized by mremap too);
 *  - the sampled counts agree with the rate (a 4 KiB rate here, so that a
 *    few MiB give thousands of samples);
 *  - a fork child starts with a copy of the profile;
 *  - the statistics and ob_heap_check stay exact while blocks are sampled.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "obmalloc.h"

static char dir[64];

/* The addresses of the symbol section, sorted. */
#define MAX_SYMBOLS 100000
static unsigned long long symbols[MAX_SYMBOLS];
static size_t nsymbols;

static int cmp_ull(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

/* Every address of a stack line has its symbol line. */
static void stack_is_named(const char *line)
{
    for (const char *at = strstr(line, " @ "); at != NULL; at = strstr(at + 1, " 0x")) {
        unsigned long long a;
        if (sscanf(at + (at[1] == '@' ? 3 : 1), "%llx", &a) == 1)
            CHECK(bsearch(&a, symbols, nsymbols, sizeof a, cmp_ull) != NULL);
    }
}

typedef struct profile {
    unsigned long long live_n, live_bytes, alloc_n, alloc_bytes, rate;
    int stacks;
    bool maps;
} profile_t;

static profile_t dump(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(ob_prof_dump(path) == 0);
    profile_t p;
    memset(&p, 0, sizeof p);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char line[8192];
    CHECK(fgets(line, sizeof line, f) != NULL && strcmp(line, "--- symbol\n") == 0);
    CHECK(fgets(line, sizeof line, f) != NULL && strncmp(line, "binary=/", 8) == 0);
    nsymbols = 0;
    while (fgets(line, sizeof line, f) != NULL && strcmp(line, "---\n") != 0) {
        char name[256];
        CHECK(nsymbols < MAX_SYMBOLS);
        CHECK(sscanf(line, "0x%llx %255s", &symbols[nsymbols], name) == 2);
        nsymbols++;
    }
    qsort(symbols, nsymbols, sizeof symbols[0], cmp_ull);
    for (size_t i = 1; i < nsymbols; i++)
        CHECK(symbols[i] != symbols[i - 1]); /* each address once */
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK(sscanf(line, "heap profile: %llu: %llu [%llu: %llu] @ heap_v2/%llu", &p.live_n,
                 &p.live_bytes, &p.alloc_n, &p.alloc_bytes, &p.rate) == 5);
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long a, b, c, d;
        if (sscanf(line, "%llu: %llu [%llu: %llu] @", &a, &b, &c, &d) == 4) {
            CHECK(strstr(line, " @ 0x") != NULL || strstr(line, " @\n") != NULL);
            stack_is_named(line);
            p.stacks++;
        }
        if (strncmp(line, "MAPPED_LIBRARIES:", 17) == 0)
            p.maps = true;
    }
    fclose(f);
    char folded[160];
    snprintf(folded, sizeof folded, "%s.inuse.folded", path);
    CHECK(access(folded, R_OK) == 0);
    snprintf(folded, sizeof folded, "%s.alloc.folded", path);
    CHECK(access(folded, R_OK) == 0);
    return p;
}

static void heap_is_sound(void)
{
    struct ob_heap_check_result r;
    CHECK(ob_heap_check(&r) == 0);
}

/* Blocks held, then freed: in the live set, then out of it. */
static void live_set(void)
{
    enum { N = 20000 };
    static void *blocks[N];
    profile_t base = dump("base");
    CHECK(base.maps && base.rate == 4096);
    for (int i = 0; i < N; i++)
        blocks[i] = ob_malloc(16 + (size_t)(i % 40) * 16); /* 328 bytes on average */
    profile_t held = dump("held");
    /* 6.5 MB at one sample per 4 KiB: about 1600 samples. */
    unsigned long long got = held.live_n - base.live_n;
    printf("live samples: %llu (about 1560 expected)\n", got);
    if (getenv("OBMALLOC_DEBUG") == NULL)
        CHECK(got > 1200 && got < 2000);
    else /* debug mode's headers and guards make the blocks larger */
        CHECK(got > 1200 && got < 4000);
    CHECK(held.alloc_n >= held.live_n);
    heap_is_sound();
    for (int i = 0; i < N; i++)
        blocks[i] = ob_realloc(blocks[i], 40 + (size_t)(i % 30) * 16);
    for (int i = 0; i < N; i++)
        ob_free(blocks[i]);
    ob_collect(1);
    profile_t freed = dump("freed");
    printf("live samples after the frees: %llu (%llu before)\n", freed.live_n, base.live_n);
    CHECK(freed.live_n <= base.live_n + 10);
    CHECK(freed.alloc_n > held.alloc_n); /* the reallocs were sampled too */
    heap_is_sound();
}

/* Over-aligned and huge blocks: the byte countdown. */
static void big_blocks(void)
{
    profile_t base = dump("big-base");
    void *aligned[64], *huge[32];
    for (int i = 0; i < 64; i++)
        aligned[i] = ob_aligned_alloc(65536, 300000); /* alone in pages: the byte countdown, p = 1 - e^-73 */
    for (int i = 0; i < 32; i++)
        huge[i] = ob_malloc((size_t)2 << 20); /* sampled with p = 1 - e^-512 */
    profile_t held = dump("big-held");
    CHECK(held.live_n >= base.live_n + 32 + 64);
    for (int i = 0; i < 32; i++) {
        huge[i] = ob_realloc(huge[i], (size_t)5 << 20); /* mremap: moved */
        CHECK(huge[i] != NULL);
    }
    profile_t grown = dump("big-grown");
    CHECK(grown.live_bytes >= held.live_bytes + 32 * ((size_t)3 << 20));
    for (int i = 0; i < 32; i++)
        ob_free(huge[i]);
    for (int i = 0; i < 64; i++)
        ob_free(aligned[i]);
    ob_collect(1); /* debug mode: out of the quarantine */
    profile_t freed = dump("big-freed");
    CHECK(freed.live_n <= base.live_n + 2);
    heap_is_sound();
}

/* A region's blocks are sampled as the thread's are (its fast path hands
 * the sample to its slow path); destroying the region takes its samples
 * out of the live set, pooled, over-aligned and huge alike, while a
 * released region's samples stay, as its blocks do. */
static void regions(void)
{
    enum { N = 20000 };
    profile_t base = dump("region-base");
    ob_region_t *r = ob_region_new();
    CHECK(r != NULL);
    for (int i = 0; i < N; i++)
        CHECK(ob_region_malloc(r, 16 + (size_t)(i % 40) * 16) != NULL);
    for (int i = 0; i < 16; i++) {
        CHECK(ob_region_aligned_alloc(r, 65536, 300000) != NULL); /* sampled, p = 1 - e^-73 */
        CHECK(ob_region_malloc(r, (size_t)2 << 20) != NULL);      /* sampled, p = 1 - e^-512 */
    }
    profile_t held = dump("region-held");
    unsigned long long got = held.live_n - base.live_n;
    printf("region: live samples %llu (about 1560 + 32 expected)\n", got);
    if (getenv("OBMALLOC_DEBUG") == NULL)
        CHECK(got > 1200 && got < 2100);
    else
        CHECK(got > 1200 && got < 4100);
    ob_region_destroy(r);
    profile_t gone = dump("region-gone");
    printf("region: live samples after destroy %llu (%llu before)\n", gone.live_n, base.live_n);
    CHECK(gone.live_n <= base.live_n + 2);
    CHECK(gone.alloc_n >= held.alloc_n); /* allocated they were */
    heap_is_sound();

    r = ob_region_new();
    CHECK(r != NULL);
    void *kept[N];
    for (int i = 0; i < N; i++)
        CHECK((kept[i] = ob_region_malloc(r, 100)) != NULL);
    profile_t before_release = dump("region-before-release");
    ob_region_release(r);
    profile_t released = dump("region-released");
    CHECK(released.live_n == before_release.live_n);
    CHECK(released.live_n > base.live_n + 100); /* 2.2 MB at 4 KiB: about 540 */
    for (int i = 0; i < N; i++)
        ob_free(kept[i]);
    ob_collect(1);
    profile_t freed = dump("region-freed");
    CHECK(freed.live_n <= base.live_n + 2);
    heap_is_sound();
}

/* Frees by another thread take the sampled blocks out too. */
static void *alloc_many(void *arg)
{
    void **out = arg;
    for (int i = 0; i < 20000; i++)
        out[i] = ob_malloc(64 + (size_t)(i % 8) * 32);
    return NULL;
}

static void *free_many(void *arg)
{
    void **in = arg;
    for (int i = 0; i < 20000; i++)
        ob_free(in[i]);
    return NULL;
}

static void threads(void)
{
    static void *blocks[4][20000];
    profile_t base = dump("threads-base");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, alloc_many, blocks[i]) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    profile_t held = dump("threads-held");
    CHECK(held.live_n > base.live_n + 1000);
    for (int i = 0; i < 4; i++) /* each set freed by a thread that did not make it */
        CHECK(pthread_create(&t[i], NULL, free_many, blocks[(i + 1) % 4]) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    ob_collect(1);
    profile_t freed = dump("threads-freed");
    CHECK(freed.live_n <= base.live_n + 10);
    heap_is_sound();
}

/* The child has the parent's profile (a copy) and goes on from there. */
static void fork_copy(void)
{
    void *held[4000];
    for (int i = 0; i < 4000; i++)
        held[i] = ob_malloc(256);
    profile_t parent = dump("fork-parent");
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        profile_t child = dump("fork-child");
        if (child.live_n != parent.live_n)
            _exit(2);
        for (int i = 0; i < 4000; i++)
            ob_free(held[i]);
        ob_collect(1);
        profile_t after = dump("fork-child-freed");
        _exit(after.live_n < parent.live_n ? 0 : 3);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 4000; i++)
        ob_free(held[i]);
}

/* OBMALLOC_PROF_SIGNAL: the signal asks for FILE.1, written at the next
 * sample. */
static void signal_dump(void)
{
    const char *sig = getenv("OBMALLOC_PROF_SIGNAL"), *file = getenv("OBMALLOC_PROF_FILE");
    if (sig == NULL || file == NULL)
        return;
    char path[512];
    size_t n = 0;
    for (const char *c = file; *c && n + 16 < sizeof path; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            n += (size_t)snprintf(path + n, sizeof path - n, "%d", (int)getpid());
            c++;
        } else {
            path[n++] = *c;
        }
    }
    snprintf(path + n, sizeof path - n, ".1");
    unlink(path);
    CHECK(raise(SIGUSR2) == 0);
    void *p[2000];
    for (int i = 0; i < 2000; i++) /* 200 KB: about 50 samples at 4 KiB */
        p[i] = ob_malloc(100);
    for (int i = 0; i < 2000; i++)
        ob_free(p[i]);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char line[256];
    CHECK(fgets(line, sizeof line, f) != NULL && strcmp(line, "--- symbol\n") == 0);
    fclose(f);
    unlink(path);
}

/* Sampled blocks are counted once, and their frees put the counts back. */
static void statistics(void)
{
    struct ob_stats before = {.size = sizeof before, .version = OB_STATS_VERSION};
    struct ob_stats after = before;
    ob_collect(1);
    CHECK(ob_stats_get(&before) == 0);
    void *p[5000];
    for (int i = 0; i < 5000; i++)
        p[i] = ob_malloc(48);
    for (int i = 0; i < 5000; i++)
        ob_free(p[i]);
    ob_collect(1);
    CHECK(ob_stats_get(&after) == 0);
    size_t in_use_before = 0, in_use_after = 0;
    for (unsigned c = 0; c < before.nclasses; c++) {
        in_use_before += before.classes[c].blocks_in_use;
        in_use_after += after.classes[c].blocks_in_use;
    }
    CHECK(in_use_after == in_use_before);
    CHECK(after.aligned_blocks == before.aligned_blocks);
    heap_is_sound();
}

int main(void)
{
    const char *on = getenv("OBMALLOC_PROF");
    if (on == NULL || strcmp(on, "1") != 0) {
        CHECK(ob_prof_dump("/tmp/never-written.heap") == ENOTSUP);
        CHECK(access("/tmp/never-written.heap", F_OK) != 0);
        printf("test_prof: profiler off, ok\n");
        return 0;
    }
    CHECK(ob_prof_dump("") == EINVAL);
    snprintf(dir, sizeof dir, "/tmp/test_prof.XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    char bad[128];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.heap", dir);
    CHECK(ob_prof_dump(bad) == ENOENT);
    live_set();
    big_blocks();
    regions();
    threads();
    fork_copy();
    statistics();
    signal_dump();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    printf("test_prof: ok\n");
    return 0;
}
