/* A minimal test harness: CHECK aborts the test with the failing condition
 * and its location; death tests run a bug in a forked child and look at how
 * it died and what it said. */
#ifndef OB_CHECK_H
#define OB_CHECK_H

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "obmalloc.h"

static int check_failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

#define CHECK_EQ(a, b)                                                      \
    do {                                                                    \
        long long check_a = (long long)(a), check_b = (long long)(b);       \
        if (check_a != check_b) {                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
                    __FILE__, __LINE__, #a, #b, check_a, check_b);          \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

/* How much work to do: OB_TEST_SCALE=0.05 under valgrind, 1 by default. */
static inline double test_scale(void)
{
    const char *s = getenv("OB_TEST_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

static inline size_t scaled(size_t n)
{
    size_t v = (size_t)((double)n * test_scale());
    return v ? v : 1;
}

/* Are blocks going through the debug layer (OBMALLOC_DEBUG=1, or described
 * to valgrind)?  Then usable sizes are the sizes asked for, and realloc
 * always moves. */
static inline int ob_test_diverted(void)
{
    const char *d = getenv("OBMALLOC_DEBUG");
    const char *v = getenv("OBMALLOC_VALGRIND");
    return (d && strcmp(d, "0") != 0) ||
           (getenv("OB_TEST_VALGRIND") && !(v && strcmp(v, "0") == 0));
}

#if defined(__SANITIZE_ADDRESS__)
#define OB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OB_TEST_ASAN 1
#endif
#endif

/* Resident memory of this process, in bytes.  Under AddressSanitizer, its
 * shadow (mappings of terabytes) is left out: the shadow of memory that
 * obmalloc unmapped can stay resident, depending on the kernel (149 MB
 * after test_release's gigabyte on Linux 6.18), and it is not the
 * program's memory. */
static inline size_t resident_bytes(void)
{
#ifdef OB_TEST_ASAN
    FILE *maps = fopen("/proc/self/smaps", "r");
    if (maps) {
        char line[512];
        size_t total = 0, kb;
        unsigned long lo, hi;
        int shadow = 0;
        while (fgets(line, sizeof line, maps)) {
            if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
                shadow = hi - lo >= ((size_t)1 << 40);
            else if (sscanf(line, "Rss: %zu kB", &kb) == 1 && !shadow)
                total += kb * 1024;
        }
        fclose(maps);
        return total;
    }
#endif
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

/* A cheap deterministic random number generator (xorshift64*). */
static inline uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Fills a block with a pattern derived from a seed, and checks it back. */
static inline void fill_pattern(void *p, size_t size, uint64_t seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < size; i++)
        c[i] = (unsigned char)(seed + i * 131);
}

static inline int check_pattern(const void *p, size_t size, uint64_t seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < size; i++)
        if (c[i] != (unsigned char)(seed + i * 131))
            return 0;
    return 1;
}

/* Runs fn in a child process; returns 1 if the child died of SIGABRT and
 * the first line of its stderr contains `expect`.  The whole report is
 * left in death_report. */
static char death_report[8192];

static inline int dies_with(void (*fn)(void), const char *expect)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        fn();
        _exit(0); /* survived: the test fails */
    }
    close(pipefd[1]);
    char *buf = death_report;
    size_t len = 0;
    ssize_t n;
    while (len + 1 < sizeof death_report &&
           (n = read(pipefd[0], buf + len, sizeof death_report - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = 0;
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    char *nl = strchr(buf, '\n');
    size_t first = nl ? (size_t)(nl - buf) : len;
    char saved = buf[first];
    buf[first] = 0;
    int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(buf, expect) != NULL;
    buf[first] = saved;
    if (!ok)
        fprintf(stderr, "death test: expected SIGABRT and \"%s\"; got status 0x%x, report:\n%s\n",
                expect, status, buf);
    return ok;
}

/* Runs fn in a child process; returns 1 if it exited with status 0 (the
 * counterpart of dies_with: legal use that must not be reported). */
static inline int exits_cleanly(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "expected a clean exit; got status 0x%x\n", status);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Does the last death report contain s (anywhere)? */
static inline int report_has(const char *s)
{
    if (strstr(death_report, s) != NULL)
        return 1;
    fprintf(stderr, "death test: the report lacks \"%s\":\n%s\n", s, death_report);
    return 0;
}

/* Drop-in variants: the same test through the C library's names, with
 * obmalloc put in by LD_PRELOAD (or by linking the shared library).  The
 * test first makes sure obmalloc really is the malloc in use. */
#ifdef OB_TEST_LIBC
#include <dlfcn.h>
#include <malloc.h>
#define ob_malloc malloc
#define ob_calloc calloc
#define ob_realloc realloc
#define ob_free free
#define ob_free_sized(p, size) free(p)
#define ob_usable_size malloc_usable_size
#define ob_collect(force) malloc_trim(0)
static void require_obmalloc(void) __attribute__((constructor));
static void require_obmalloc(void)
{
    if (dlsym(RTLD_DEFAULT, "ob_version") == NULL) {
        fprintf(stderr, "obmalloc is not loaded: run with LD_PRELOAD=libobmalloc.so\n");
        exit(1);
    }
}
#endif

#ifndef OB_TEST_LIBC
/* obmalloc's statistics, now. */
static inline struct ob_stats stats_now(void)
{
    struct ob_stats s = {.size = sizeof s, .version = OB_STATS_VERSION};
    CHECK_EQ(ob_stats_get(&s), 0);
    return s;
}
#endif

/* After a stress test: obmalloc's own consistency check must pass. */
static inline void check_heap_sound(void)
{
#ifdef OB_TEST_LIBC
    size_t (*check)(struct ob_heap_check_result *) =
        (size_t(*)(struct ob_heap_check_result *))dlsym(RTLD_DEFAULT, "ob_heap_check");
    if (check == NULL)
        return;
#else
    size_t (*check)(struct ob_heap_check_result *) = ob_heap_check;
#endif
    struct ob_heap_check_result r;
    if (check(&r) != 0) {
        fprintf(stderr, "ob_heap_check: %zu problems; first at %p: %s\n", r.problems,
                r.first_address, r.first_problem);
        exit(1);
    }
}

#endif
