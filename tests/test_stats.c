/* Statistics: the figures match what the program did (in the struct, the
 * text report and the JSON), the breakdown of mapped bytes adds up after
 * random work, with threads and after they exit; OBMALLOC_STATS prints at
 * exit; ob_heap_check passes on a sound heap and reports a corrupted one. */
#include <pthread.h>

#include "obmalloc.h"
#include "check.h"
#include "pool.h"

static void check_sum(const struct ob_stats *s)
{
    size_t sum = s->bytes_allocated_blocks + s->bytes_free_blocks + s->bytes_unused_pools +
                 s->bytes_metadata + s->bytes_quantization + s->bytes_alignment;
    if (sum != s->bytes_mapped) {
        fprintf(stderr, "breakdown %zu != mapped %zu\n", sum, s->bytes_mapped);
        CHECK(0);
    }
    CHECK(s->bytes_committed <= s->bytes_mapped);
    CHECK(s->bytes_resident <= s->bytes_mapped);
}

static void check_heap(void)
{
    struct ob_heap_check_result r;
    if (ob_heap_check(&r) != 0) {
        fprintf(stderr, "ob_heap_check: %zu problems; first at %p: %s\n", r.problems,
                r.first_address, r.first_problem);
        CHECK(0);
    }
}

static void test_counts(void)
{
    ob_stats_reset();
    enum { N = 1000 };
    void *v[N];
    for (int i = 0; i < N; i++)
        v[i] = ob_malloc(100);
    unsigned c = (unsigned)ob_size_class(100);
    struct ob_stats s = stats_now();
    CHECK_EQ(s.classes[c].block_size, 112);
    CHECK_EQ(s.classes[c].blocks_in_use, N);
    CHECK_EQ(s.classes[c].bytes_in_use, N * 112);
    CHECK_EQ(s.classes[c].mallocs, N);
    CHECK_EQ(s.classes[c].frees, 0);
    CHECK(s.classes[c].peak_blocks_in_use >= N);
    size_t per_pool = _ob_classes[c].capacity; /* 146, fewer with a block offset */
    CHECK(per_pool == 146 || (_ob_options.block_offset > 0 && per_pool < 146));
    CHECK(s.classes[c].pools >= N / per_pool);
    CHECK_EQ(s.classes[c].blocks_free, s.classes[c].pools * per_pool - N);
    check_sum(&s);

    /* The text report says the same. */
    FILE *f = tmpfile();
    ob_stats_print(f);
    rewind(f);
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned cls;
        size_t size, pools, in_use;
        if (sscanf(line, "%u %zu %zu %zu", &cls, &size, &pools, &in_use) == 4 && cls == c) {
            CHECK_EQ(size, 112);
            CHECK_EQ(in_use, N);
            found = 1;
        }
    }
    fclose(f);
    CHECK(found);

    /* And the JSON, checked by Python. */
    char path[] = "/tmp/ob_stats_XXXXXX";
    int fd = mkstemp(path);
    f = fdopen(fd, "w");
    ob_stats_print_json(f);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -m json.tool %s > /dev/null && python3 -c 'import json,sys; "
             "d = json.load(open(sys.argv[1])); c = d[\"classes\"][%u]; "
             "assert c[\"blocks_in_use\"] == %d and c[\"block_size\"] == 112, c; "
             "b = d[\"breakdown\"]; assert sum(v for k, v in b.items() if k != \"mapped\") == b[\"mapped\"]' %s",
             path, c, N, path);
    CHECK_EQ(system(cmd), 0);
    unlink(path);

    for (int i = 0; i < N / 2; i++)
        ob_free(v[i]);
    s = stats_now();
    CHECK_EQ(s.classes[c].blocks_in_use, N / 2);
    CHECK_EQ(s.classes[c].frees, N / 2);
    CHECK(s.classes[c].peak_blocks_in_use >= N);
    ob_stats_reset();
    s = stats_now();
    CHECK_EQ(s.classes[c].mallocs, 0);
    CHECK_EQ(s.classes[c].frees, 0);
    CHECK_EQ(s.classes[c].blocks_in_use, N / 2); /* what is live stays */
    CHECK_EQ(s.classes[c].peak_blocks_in_use, N / 2);
    for (int i = N / 2; i < N; i++)
        ob_free(v[i]);
    check_heap();
}

static void test_random_work(void)
{
    uint64_t rng = 99;
    enum { N = 3000 };
    static void *v[N];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            uint64_t r = rng_next(&rng);
            size_t size = r % 16 == 0 ? (size_t)(r >> 8) % 300000 : (size_t)(r >> 8) % 1000;
            if (r % 997 == 0)
                size = (2 << 20) + (size_t)(r >> 20) % (4 << 20);
            if (v[i] != NULL && r % 3 == 0) {
                v[i] = ob_realloc(v[i], size + 1);
            } else {
                ob_free(v[i]);
                v[i] = r % 50 == 0 ? ob_aligned_alloc((size_t)64 << (r % 12), size + 1)
                                   : ob_malloc(size);
            }
        }
        struct ob_stats s = stats_now();
        check_sum(&s);
        CHECK(s.bytes_in_use <= s.bytes_mapped);
    }
    check_heap();
    for (int i = 0; i < N; i++) {
        ob_free(v[i]);
        v[i] = NULL;
    }
    struct ob_stats s = stats_now();
    check_sum(&s);
    for (unsigned c = 0; c < s.nclasses; c++)
        CHECK_EQ(s.classes[c].blocks_in_use, 0);
    CHECK_EQ(s.huge_blocks, 0);
    CHECK_EQ(s.aligned_blocks, 0);
    check_heap();
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 6
#define PER_THREAD 2000
static void *leftovers[THREADS][PER_THREAD];

static void *leave_blocks(void *arg)
{
    void **mine = arg;
    for (int i = 0; i < PER_THREAD; i++)
        mine[i] = ob_malloc(48);
    return NULL;
}

static void test_threads(void)
{
    ob_stats_reset();
    unsigned c = (unsigned)ob_size_class(48);
    struct ob_stats before = stats_now();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, leave_blocks, leftovers[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* The threads are gone; what they allocated is still counted. */
    struct ob_stats s = stats_now();
    CHECK_EQ(s.classes[c].blocks_in_use - before.classes[c].blocks_in_use, THREADS * PER_THREAD);
    CHECK_EQ(s.classes[c].mallocs, THREADS * PER_THREAD);
    CHECK(s.threads_seen >= before.threads_seen + THREADS);
    check_sum(&s);
    check_heap();
    /* This thread frees them all: cross-thread frees into abandoned arenas. */
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < PER_THREAD; k++)
            ob_free(leftovers[i][k]);
    s = stats_now();
    CHECK_EQ(s.classes[c].blocks_in_use, before.classes[c].blocks_in_use);
    CHECK_EQ(s.classes[c].frees, THREADS * PER_THREAD);
    CHECK(s.cross_thread_frees >= THREADS * PER_THREAD);
    check_sum(&s);
    check_heap();
}

/* ---- OBMALLOC_STATS at exit ------------------------------------------------ */

static void test_at_exit(const char *self)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "OBMALLOC_STATS=1 %s --child 2>&1 | grep -q 'bytes mapped, broken down'", self);
    CHECK_EQ(system(cmd), 0);
    char path[] = "/tmp/ob_stats_exit_XXXXXX"; /* the variants run side by side */
    close(mkstemp(path));
    snprintf(cmd, sizeof cmd,
             "OBMALLOC_STATS=json OBMALLOC_STATS_FILE=%s %s --child && "
             "python3 -m json.tool %s > /dev/null",
             path, self, path);
    CHECK_EQ(system(cmd), 0);
    unlink(path);
    snprintf(cmd, sizeof cmd, "%s --child 2>&1 | grep -q 'broken down' && exit 1 || exit 0", self);
    CHECK_EQ(system(cmd), 0); /* off by default */
}

/* ---- the check finds corruption ----------------------------------------- */

static void corrupt_and_check(void)
{
    void *v[64];
    for (int i = 0; i < 64; i++)
        v[i] = ob_malloc(64);
    ob_free(v[10]);
    ob_free(v[20]);
    /* A write after free: v[20]'s link now points at v[5], a live block. */
    ob_block_set_next((ob_block_t *)v[20], (ob_block_t *)v[5]);
    struct ob_heap_check_result r;
    size_t n = ob_heap_check(&r);
    /* Found, whether by a link that leaves the blocks or by the count. */
    if (n > 0 && strstr(r.first_problem, "pool at page") != NULL)
        _exit(0);
    fprintf(stderr, "corruption not found: %zu problems, \"%s\"\n", n, r.first_problem);
    _exit(1);
}

static void test_check_finds(void)
{
    pid_t pid = fork();
    if (pid == 0)
        corrupt_and_check();
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_versioning(void)
{
    void *keep = ob_malloc(10); /* so that something is mapped */
    struct ob_stats s = {.size = sizeof s, .version = 99};
    CHECK_EQ(ob_stats_get(&s), EINVAL);
    CHECK_EQ(ob_stats_get(NULL), EINVAL);
    /* An older, smaller struct (without the classes) is filled as far as it goes. */
    size_t small = offsetof(struct ob_stats, classes);
    struct ob_stats *p = calloc(1, sizeof *p);
    p->size = (uint32_t)small;
    p->version = OB_STATS_VERSION;
    memset((char *)p + small, 0xEE, sizeof *p - small);
    CHECK_EQ(ob_stats_get(p), 0);
    CHECK(p->bytes_mapped > 0);
    CHECK_EQ(((unsigned char *)p)[small], 0xEE); /* nothing written past it */
    free(p);
    ob_free(keep);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        void *p = ob_malloc(200);
        ob_free(p);
        static void *kept;
        kept = ob_malloc(300); /* still live at exit */
        return 0;
    }
    test_versioning();
    test_counts();
    test_random_work();
    test_threads();
    test_at_exit(argv[0]);
    test_check_finds();
    printf("stats: all checks passed\n");
    return 0;
}
