/* The OS refusing memory, at every call obmalloc makes to it.
 *
 * Linked with obmalloc_faults: obmalloc built with -DOB_FAULT_INJECTION=1,
 * where os.c can make the nth call of each primitive (mmap, munmap,
 * mremap, madvise, mprotect, pthread_key_create) fail as the OS would.
 * A scripted workload (small, medium, huge and over-aligned blocks,
 * calloc, realloc growth through mremap, a thread freeing the main
 * thread's blocks and exiting, fork, ob_collect) runs once to count the
 * calls and their sites, then once per call with that call failing, each
 * time in a child process.  Each run must see:
 *   - every allocation either succeed or return NULL with errno ENOMEM
 *     (realloc: the old block intact);
 *   - no block change its contents;
 *   - ob_heap_check find nothing;
 *   - allocation work again once the OS stops refusing.
 * Calls made at start-up (pthread_key_create) are swept by re-running
 * this program with OB_FAULT_PLAN=kind,n in its environment.  Every site
 * reached must have failed once (100 % coverage).  OBMALLOC_PURGE_DELAY is
 * set high by ctest so that only ob_collect purges: the calls are the
 * same from run to run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/wait.h>

#include "check.h"
#include "internal.h"

static const char *const kind_name[OB_FAULT_KINDS] = {
    "mmap", "munmap", "mremap", "madvise", "mprotect", "pthread_key_create"};

/* ---- the workload ------------------------------------------------------ */

#define SLOTS 600

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t seed;
} slot_t;

static slot_t slot[SLOTS];
static int refusals;


/* A run went wrong: say which call had failed, and stop. */
static _Noreturn void die(void)
{
    ob_fault_site_t f = _ob_fault_failed();
    if (f.kind >= 0)
        fprintf(stderr, "faults: the call that failed: %s at os.c:%d, from %p\n",
                kind_name[f.kind], f.line, (void *)f.caller);
    die();
}

static void expect_enomem(const char *what, size_t size)
{
    if (errno != ENOMEM) {
        fprintf(stderr, "faults: %s(%zu) returned NULL with errno %d, not ENOMEM\n", what,
                size, errno);
        die();
    }
    refusals++;
}

static void put(int i, void *p, size_t size)
{
    slot[i] = (slot_t){p, size, (uint64_t)i * 7919 + size};
    fill_pattern(p, size, slot[i].seed);
}

static void verify(int i)
{
    if (slot[i].p != NULL && !check_pattern(slot[i].p, slot[i].size, slot[i].seed)) {
        fprintf(stderr, "faults: block %d (%zu bytes at %p) changed\n", i, slot[i].size,
                (void *)slot[i].p);
        die();
    }
}

static void drop(int i)
{
    verify(i);
    ob_free(slot[i].p);
    slot[i].p = NULL;
}

static void alloc_slot(int i, size_t size)
{
    errno = 0;
    void *p = ob_malloc(size);
    if (p == NULL)
        expect_enomem("ob_malloc", size);
    else
        put(i, p, size);
}

static void calloc_slot(int i, size_t size)
{
    errno = 0;
    unsigned char *p = ob_calloc(1, size);
    if (p == NULL) {
        expect_enomem("ob_calloc", size);
        return;
    }
    for (size_t k = 0; k < size; k++)
        if (p[k] != 0) {
            fprintf(stderr, "faults: calloc(%zu) byte %zu is %d\n", size, k, p[k]);
            die();
        }
    put(i, p, size);
}

static void *other_thread(void *arg)
{
    (void)arg;
    for (int i = 1; i < 200; i += 2) /* cross-thread frees */
        if (slot[i].p != NULL)
            drop(i);
    void *mine[50];
    for (int k = 0; k < 50; k++) {
        errno = 0;
        mine[k] = ob_malloc(64 + 32 * (size_t)k);
        if (mine[k] == NULL)
            expect_enomem("ob_malloc in a thread", 64);
    }
    for (int k = 0; k < 50; k++)
        ob_free(mine[k]);
    return NULL; /* its heap goes at exit: purge, abandon */
}

static void workload(void)
{
    /* Small and medium blocks, several arenas' worth. */
    for (int i = 0; i < 400; i++)
        alloc_slot(i, 16 + (size_t)(i * 37) % 1000);
    for (int i = 400; i < 440; i++)
        alloc_slot(i, 20000 + (size_t)(i - 400) * 5000);
    for (int i = 440; i < 460; i++)
        calloc_slot(i, 100 + (size_t)(i - 440) * 3000);
    /* Huge blocks, and one grown by realloc (mremap in place or moved). */
    alloc_slot(460, 3u << 20);
    alloc_slot(461, 9u << 20);
    for (size_t size = 2u << 20; size <= (16u << 20); size *= 2) {
        errno = 0;
        if (slot[462].p == NULL) {
            alloc_slot(462, size);
            continue;
        }
        verify(462);
        unsigned char *q = ob_realloc(slot[462].p, size);
        if (q == NULL) {
            expect_enomem("ob_realloc", size);
            verify(462); /* the old block is untouched */
            continue;
        }
        slot[462].p = q;
        verify(462); /* its old size's worth moved intact */
        put(462, q, size);
    }
    /* Over-aligned: alone in pages, and a huge one. */
    for (int i = 463; i < 466; i++) {
        size_t align = (size_t)1 << (14 + (i - 463) * 3); /* 16 KiB, 128 KiB, 1 MiB */
        errno = 0;
        void *p = ob_aligned_alloc(align, 50000);
        if (p == NULL)
            expect_enomem("ob_aligned_alloc", align);
        else if ((uintptr_t)p % align != 0)
            die();
        else
            put(i, p, 50000);
    }
    /* Half the small blocks freed here, some of the rest by a thread. */
    for (int i = 0; i < 200; i += 2)
        if (slot[i].p != NULL)
            drop(i);
    pthread_t t;
    if (pthread_create(&t, NULL, other_thread, NULL) == 0)
        pthread_join(t, NULL);
    for (int i = 400; i < 440; i++) /* medium blocks: pages written, then free */
        if (slot[i].p != NULL)
            drop(i);
    ob_collect(0); /* purge ticks: madvise */
    ob_collect(0);
    /* calloc over pages the purge returned, or tried to: a block alone in
     * its pages skips the memset only if they really went back. */
    for (int i = 400; i < 420; i++)
        calloc_slot(i, 50000 + (size_t)(i - 400) * 8000);
    for (int i = 400; i < 462; i++)
        if (slot[i].p != NULL)
            drop(i);
    ob_collect(1); /* everything free goes back: madvise, munmap */
    /* Fork: the child allocates and frees, and checks the heap. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 200; i < 400; i++)
            verify(i);
        void *p = ob_malloc(5000), *h = ob_malloc(4u << 20);
        ob_free(p);
        ob_free(h);
        struct ob_heap_check_result r;
        _exit(ob_heap_check(&r) == 0 ? 0 : 3);
    }
    int status;
    if (pid > 0 && (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
                    WEXITSTATUS(status) != 0)) {
        fprintf(stderr, "faults: the fork child failed (status 0x%x)\n", status);
        die();
    }
    for (int i = 0; i < SLOTS; i++)
        if (slot[i].p != NULL)
            verify(i);
    struct ob_heap_check_result r;
    if (ob_heap_check(&r) != 0) {
        fprintf(stderr, "faults: ob_heap_check: %s at %p\n", r.first_problem, r.first_address);
        die();
    }
    for (int i = 0; i < SLOTS; i++)
        if (slot[i].p != NULL)
            drop(i);
}

/* Once the OS stops refusing, everything works again. */
static void works_again(void)
{
    _ob_fault_plan(-1, 0);
    for (int i = 0; i < 300; i++) {
        void *p = ob_malloc(16 + (size_t)i * 50);
        if (p == NULL) {
            fprintf(stderr, "faults: malloc fails after the OS stopped refusing\n");
            die();
        }
        put(i, p, 16 + (size_t)i * 50);
    }
    void *h = ob_malloc(6u << 20);
    if (h == NULL)
        die();
    ob_free(h);
    for (int i = 0; i < 300; i++)
        drop(i);
    struct ob_heap_check_result r;
    if (ob_heap_check(&r) != 0) {
        fprintf(stderr, "faults: ob_heap_check after: %s\n", r.first_problem);
        die();
    }
}

/* ---- the sweep ---------------------------------------------------------- */

typedef struct {
    uint64_t calls[OB_FAULT_KINDS];
    unsigned nsites;
    ob_fault_site_t sites[OB_FAULT_MAX_SITES];
    ob_fault_site_t failed;
    int refusals;
} report_t;

/* Runs the workload in a child with the nth call of `kind` failing (kind
 * -1: none); fills *rep from the child.  Returns the child's verdict. */
static int run_child(int kind, uint64_t nth, report_t *rep)
{
    int fd[2];
    CHECK(pipe(fd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        _ob_fault_plan(kind, nth);
        workload();
        report_t r;
        memset(&r, 0, sizeof r);
        for (int k = 0; k < OB_FAULT_KINDS; k++)
            r.calls[k] = _ob_fault_calls(k);
        r.nsites = _ob_fault_sites(r.sites, OB_FAULT_MAX_SITES);
        r.failed = _ob_fault_failed();
        r.refusals = refusals;
        works_again();
        if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r)
            _exit(2);
        _exit(0);
    }
    close(fd[1]);
    memset(rep, 0, sizeof *rep);
    ssize_t got = read(fd[0], rep, sizeof *rep);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof *rep) {
        fprintf(stderr, "faults: %s call %llu failing: the run failed (status 0x%x)\n",
                kind >= 0 ? kind_name[kind] : "no", (unsigned long long)nth, status);
        return 0;
    }
    return 1;
}

static int same_site(ob_fault_site_t a, ob_fault_site_t b)
{
    return a.kind == b.kind && a.line == b.line && a.caller == b.caller;
}

/* Start-up: this program again, with the plan in its environment. */
static int run_startup(int kind, uint64_t nth)
{
    char plan[64];
    snprintf(plan, sizeof plan, "%d,%llu", kind, (unsigned long long)nth);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("OB_FAULT_PLAN", plan, 1);
        execl("/proc/self/exe", "test_faults", "startup", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
    if (argc > 3 && strcmp(argv[1], "one") == 0) { /* test_faults one KIND N: one run */
        report_t rep;
        return run_child(atoi(argv[2]), strtoull(argv[3], NULL, 10), &rep) ? 0 : 1;
    }
    if (argc > 1 && strcmp(argv[1], "startup") == 0) {
        /* Started with a start-up call failing: everything must work. */
        ob_fault_site_t f = _ob_fault_failed();
        workload();
        works_again();
        printf("startup: %s failed at start-up: %s\n",
               f.kind >= 0 ? kind_name[f.kind] : "nothing", "workload ok");
        return 0;
    }
    /* The calls obmalloc made at start-up, before main. */
    uint64_t startup_calls[OB_FAULT_KINDS];
    for (int k = 0; k < OB_FAULT_KINDS; k++)
        startup_calls[k] = _ob_fault_calls(k);

    report_t base;
    CHECK(run_child(-1, 0, &base));
    CHECK_EQ(base.refusals, 0);
    printf("faults: the workload makes");
    for (int k = 0; k < OB_FAULT_KINDS; k++)
        printf(" %llu %s,", (unsigned long long)base.calls[k], kind_name[k]);
    printf(" calls from %u sites\n", base.nsites);

    static ob_fault_site_t failed_sites[OB_FAULT_MAX_SITES];
    unsigned nfailed = 0;
    int runs = 0, bad = 0, refused = 0;
    for (int k = 0; k < OB_FAULT_KINDS; k++) {
        for (uint64_t n = 1; n <= base.calls[k]; n++) {
            report_t rep;
            runs++;
            if (!run_child(k, n, &rep)) {
                bad++;
                continue;
            }
            refused += rep.refusals > 0;
            if (rep.failed.kind < 0)
                continue; /* the run took another path and made fewer calls */
            unsigned i;
            for (i = 0; i < nfailed; i++)
                if (same_site(failed_sites[i], rep.failed))
                    break;
            if (i == nfailed && nfailed < OB_FAULT_MAX_SITES)
                failed_sites[nfailed++] = rep.failed;
        }
    }
    unsigned covered = 0;
    for (unsigned s = 0; s < base.nsites; s++)
        for (unsigned i = 0; i < nfailed; i++)
            if (same_site(base.sites[s], failed_sites[i])) {
                covered++;
                break;
            }
    for (unsigned s = 0; s < base.nsites; s++) {
        unsigned i;
        for (i = 0; i < nfailed && !same_site(base.sites[s], failed_sites[i]); i++) {
        }
        if (i == nfailed)
            fprintf(stderr, "faults: site never failed: %s at os.c:%d from %p\n",
                    kind_name[base.sites[s].kind], base.sites[s].line,
                    (void *)base.sites[s].caller);
    }
    printf("faults: %d runs, each with one call failing: %d bad; %d saw an allocation "
           "refused (NULL, ENOMEM); sites failed: %u of %u reached\n",
           runs, bad, refused, covered, base.nsites);
    CHECK_EQ(bad, 0);
    CHECK_EQ(covered, base.nsites);

    /* Start-up calls. */
    int startup_runs = 0;
    for (int k = 0; k < OB_FAULT_KINDS; k++)
        for (uint64_t n = 1; n <= startup_calls[k]; n++) {
            startup_runs++;
            if (!run_startup(k, n)) {
                fprintf(stderr, "faults: %s call %llu at start-up failing: the run failed\n",
                        kind_name[k], (unsigned long long)n);
                bad++;
            }
        }
    printf("faults: %d start-up calls, each failed once in a fresh process\n", startup_runs);
    CHECK(startup_runs > 0);
    CHECK_EQ(bad, 0);
    puts("test_faults: ok");
    return 0;
}
