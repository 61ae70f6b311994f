/* Debug mode (run with OBMALLOC_DEBUG=1): what a block looks like, and
 * every bug class it catches, each committed in a forked child whose
 * report is checked line by line. */
#include <pthread.h>
#include <stdalign.h>

#include "check.h"
#include "obmalloc.h"

/* The compiler may drop a store to memory that is freed right after (or
 * that it can prove is out of bounds): go through volatile. */
static void poke(void *p, ptrdiff_t offset, unsigned char value)
{
    *((volatile unsigned char *)p + offset) = value;
}

/* ---- what a debug block looks like ------------------------------------ */

static void test_layout(void)
{
    size_t sizes[] = {0, 1, 15, 16, 24, 100, 511, 512, 4000, 70000, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = ob_malloc(n);
        CHECK(p != NULL);
        CHECK((uintptr_t)p % 16 == 0);
        CHECK_EQ(ob_usable_size(p), n); /* the size asked for: no slack to misuse */
        CHECK_EQ(ob_check_block(p), n);
        for (size_t j = 0; j < n && j < 4096; j++)
            CHECK(p[j] == 0xCD); /* new memory is filled */
        CHECK(p[-1] == 0xFD && p[-8] == 0xFD && p[n] == 0xFD); /* the guards */
        memset(p, 0x11, n);
        unsigned char *z = ob_calloc(1, n);
        for (size_t j = 0; j < n; j++)
            CHECK(z[j] == 0);
        ob_free(z);
        ob_free(p);
        /* Freed memory is filled too (read here while it sits in the
         * quarantine, where nothing else can use it). */
        for (size_t j = 0; j < n && j < 4096; j++)
            CHECK(p[j] == 0xDD);
    }
    /* Aligned blocks keep their alignment behind the header. */
    for (size_t align = 16; align <= (1 << 22); align <<= 1) {
        void *p = ob_aligned_alloc(align, 100);
        CHECK(p != NULL && (uintptr_t)p % align == 0);
        CHECK_EQ(ob_usable_size(p), 100);
        memset(p, 1, 100);
        CHECK_EQ(ob_check_block(p), 100);
        ob_free(p);
    }
    /* realloc always moves (a stale pointer to the old block shows), and
     * keeps the contents. */
    unsigned char *p = ob_malloc(100);
    fill_pattern(p, 100, 5);
    unsigned char *q = ob_realloc(p, 100);
    CHECK(q != p);
    CHECK(check_pattern(q, 100, 5));
    q = ob_realloc(q, 300000);
    CHECK(check_pattern(q, 100, 5));
    CHECK(q[100] == 0xCD);
    q = ob_realloc(q, 50);
    CHECK(check_pattern(q, 50, 5));
    ob_free_sized(q, 50);
    /* Bad sizes get the same answers as in normal mode. */
    errno = 0;
    volatile size_t max = SIZE_MAX;
    CHECK(ob_malloc(max) == NULL && errno == ENOMEM);
    errno = 0;
    volatile size_t half = SIZE_MAX / 2;
    CHECK(ob_calloc(half, 3) == NULL && errno == ENOMEM);
    CHECK(ob_aligned_alloc(24, 10) == NULL);
    ob_free(NULL);
    CHECK_EQ(ob_check_block(NULL), 0);
}

/* Threads: blocks freed by another thread, quarantined, recycled. */
static void *free_them(void *arg)
{
    void **v = arg;
    for (int i = 0; i < 2000; i++) {
        CHECK(ob_check_block(v[i]) == (size_t)(i % 300));
        ob_free(v[i]);
    }
    return NULL;
}

static void test_threads(void)
{
    static void *v[2000];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 2000; i++)
            v[i] = ob_malloc((size_t)(i % 300));
        pthread_t t;
        pthread_create(&t, NULL, free_them, v);
        pthread_join(t, NULL);
    }
    struct ob_heap_check_result r;
    CHECK_EQ(ob_heap_check(&r), 0);
}

/* ob_heap_check scans the guards of every live block and the fill of
 * every quarantined one, and reports instead of dying. */
static void test_heap_check(void)
{
    struct ob_heap_check_result r;
    CHECK_EQ(ob_heap_check(&r), 0);
    unsigned char *p = ob_malloc(40);
    poke(p, 40, 'X');
    CHECK(ob_heap_check(&r) >= 1);
    CHECK(strstr(r.first_problem, "buffer overflow") != NULL);
    CHECK(r.first_address == p + 40);
    poke(p, 40, 0xFD); /* mended */
    CHECK_EQ(ob_heap_check(&r), 0);
    unsigned char *h = ob_malloc(2 << 20); /* a huge block */
    poke(h, -3, 0);
    CHECK(ob_heap_check(&r) >= 1 && strstr(r.first_problem, "buffer underflow") != NULL);
    poke(h, -3, 0xFD);
    ob_free(h);
    ob_free(p);
    poke(p, 7, 0); /* a write after free, while in the quarantine */
    CHECK(ob_heap_check(&r) >= 1 && strstr(r.first_problem, "write after free") != NULL);
    CHECK(r.first_address == p + 7);
    poke(p, 7, 0xDD);
    CHECK_EQ(ob_heap_check(&r), 0);
}

/* ---- the bugs ----------------------------------------------------------- */

static void overflow_one(void)
{
    char *p = ob_malloc(24);
    poke(p, 24, 'A');
    ob_free(p);
}

static void overflow_far(void)
{
    char *p = ob_malloc(100);
    poke(p, 105, 'B');
    ob_free(p);
}

static void overflow_huge(void)
{
    char *p = ob_malloc(3 << 20);
    poke(p, 3 << 20, 'C');
    ob_free(p);
}

static void underflow(void)
{
    char *p = ob_malloc(64);
    poke(p, -2, 'D');
    ob_free(p);
}

static void overflow_found_at_realloc(void)
{
    char *p = ob_malloc(32);
    poke(p, 33, 'E');
    p = ob_realloc(p, 64);
}

static void overflow_found_on_demand(void)
{
    char *p = ob_malloc(32);
    poke(p, 32, 'F');
    ob_check_block(p);
}

static void double_free(void)
{
    void *p = ob_malloc(48);
    ob_free(p);
    ob_free(p);
}

static void double_free_after_quarantine(void)
{
    void *keep = ob_malloc(48); /* keeps the pool in use */
    void *p = ob_malloc(48);
    ob_free(p);
    ob_collect(0); /* empties the quarantine: the block is back in its pool */
    ob_free(p);
    ob_free(keep);
}

static void double_free_huge(void)
{
    void *p = ob_malloc(5 << 20);
    ob_free(p);
    ob_free(p);
}

static void free_stack(void)
{
    alignas(16) char buf[64];
    ob_free(buf + 16);
}

static void free_foreign_heap(void)
{
    ob_free(malloc(32)); /* glibc's */
}

static void free_interior(void)
{
    char *p = ob_malloc(100);
    ob_free(p + 32);
}

static void write_after_free(void)
{
    char *p = ob_malloc(200);
    ob_free(p);
    poke(p, 150, 'G');
    ob_collect(0); /* the block leaves the quarantine and is checked */
}

static void write_after_free_by_churn(void)
{
    char *p = ob_malloc(200);
    ob_free(p);
    poke(p, 3, 'H');
    /* Enough other frees push the block out of the quarantine. */
    for (int i = 0; i < 20000; i++)
        ob_free(ob_malloc(4000));
}

static void sized_free_wrong(void)
{
    void *p = ob_malloc(100);
    ob_free_sized(p, 96); /* normal mode cannot see this one */
}

static void realloc_freed(void)
{
    void *p = ob_malloc(100);
    ob_free(p);
    p = ob_realloc(p, 200);
}

static void check_freed(void)
{
    void *p = ob_malloc(100);
    ob_free(p);
    ob_check_block(p);
}

static void test_bugs(void)
{
    CHECK(dies_with(overflow_one, "buffer overflow"));
    CHECK(report_has("guard byte 0 past its end is 0x41, not 0xfd (found at free)"));
    CHECK(report_has("of 24 bytes, allocation #"));
    CHECK(report_has("start (from 16 bytes before):"));
    CHECK(report_has("fd fd fd fd fd fd fd fd  cd cd cd cd"));
    CHECK(report_has("41 fd fd fd"));
    CHECK(report_has("backtrace"));

    CHECK(dies_with(overflow_far, "buffer overflow"));
    CHECK(report_has("guard byte 5 past its end is 0x42"));
    CHECK(dies_with(overflow_huge, "buffer overflow"));
    CHECK(report_has("of 3145728 bytes"));
    CHECK(dies_with(underflow, "buffer underflow"));
    CHECK(report_has("guard byte 2 before the block's start is 0x44"));
    CHECK(dies_with(overflow_found_at_realloc, "buffer overflow"));
    CHECK(report_has("(found at realloc)"));
    CHECK(dies_with(overflow_found_on_demand, "buffer overflow"));
    CHECK(report_has("(found at ob_check_block)"));

    CHECK(dies_with(double_free, "double free"));
    CHECK(report_has("it is in the quarantine"));
    CHECK(dies_with(double_free_after_quarantine, "double free"));
    CHECK(report_has("it has left the quarantine"));
    CHECK(dies_with(double_free_huge, "double free"));

    CHECK(dies_with(free_stack, "invalid free"));
    CHECK(report_has("not allocated by obmalloc"));
    CHECK(dies_with(free_foreign_heap, "invalid free"));
    CHECK(dies_with(free_interior, "invalid free"));
    CHECK(report_has("32 bytes into"));
    CHECK(report_has("of 100 bytes, allocation #"));

    CHECK(dies_with(write_after_free, "write after free"));
    CHECK(report_has("byte 150 of a freed block is 0x47, not its fill 0xdd"));
    CHECK(dies_with(write_after_free_by_churn, "write after free"));
    CHECK(report_has("byte 3 of a freed block is 0x48"));

    CHECK(dies_with(sized_free_wrong, "sized free with a wrong size"));
    CHECK(report_has("the size given is 96, the block was allocated with 100"));
    CHECK(dies_with(realloc_freed, "realloc of a freed block"));
    CHECK(dies_with(check_freed, "use after free"));
}

int main(void)
{
    const char *d = getenv("OBMALLOC_DEBUG");
    if (d == NULL || strcmp(d, "1") != 0) {
        fprintf(stderr, "test_debug: run with OBMALLOC_DEBUG=1\n");
        return 1;
    }
    test_layout();
    test_threads();
    test_heap_check();
    test_bugs();
    printf("debug: layout, fills, guards, quarantine and every bug report checked\n");
    return check_failures ? 1 : 0;
}
