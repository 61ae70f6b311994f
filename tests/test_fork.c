/* fork from a program whose threads are allocating and freeing: the child
 * can allocate and free (including blocks the parent's threads own), start
 * threads of its own, and fork again; the parent goes on unharmed. */
#include <pthread.h>
#include <stdatomic.h>

#include "obmalloc.h" /* before check.h, whose drop-in variant renames ob_* */
#include "check.h"

#define THREADS 4
#define SHARED 2048

static atomic_int stop;
static unsigned char *_Atomic shared[SHARED]; /* blocks from every thread */

static void *churn(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    while (!atomic_load(&stop)) {
        size_t i = rng_next(&rng) % SHARED;
        size_t size = rng_next(&rng) % 2000 + 1;
        if (rng_next(&rng) % 64 == 0)
            size = (2 << 20) + 4096; /* now and then a huge block */
        unsigned char *p = ob_malloc(size);
        CHECK(p != NULL);
        p[0] = (unsigned char)size;
        p[size - 1] = 0xEE;
        /* Swap into a shared slot and free what was there: another
         * thread's block, most of the time. */
        unsigned char *old = atomic_exchange(&shared[i], p);
        ob_free(old);
    }
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    void *v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = ob_malloc((size_t)i * 13 % 3000 + 1);
    for (int i = 0; i < 1000; i++)
        ob_free(v[i]);
    return v[0] != NULL ? NULL : (void *)1;
}

static int child_work(int depth)
{
    /* Allocate and free plenty, in every tier. */
    void *v[5000];
    for (int i = 0; i < 5000; i++) {
        v[i] = ob_malloc((size_t)i * 7 % 5000 + 1);
        if (v[i] == NULL)
            return 10;
        memset(v[i], 1, (size_t)i * 7 % 5000 + 1);
    }
    for (int i = 0; i < 5000; i++)
        ob_free(v[i]);
    void *h = ob_malloc(8 << 20);
    h = ob_realloc(h, 16 << 20);
    ob_free(h);
    /* Free blocks the parent's threads allocated (their heaps are orphaned). */
    for (int i = 0; i < SHARED; i++) {
        unsigned char *p = atomic_exchange(&shared[i], NULL);
        ob_free(p);
    }
    /* Threads in the child. */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, child_thread, NULL) != 0)
            return 11;
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        if (ret != NULL)
            return 12;
    }
    check_heap_sound(); /* the child's view, parent threads' heaps included */
    if (depth > 0) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_work(depth - 1));
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 13;
    }
    return 0;
}

int main(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)) == 0);
    int forks = (int)scaled(40);
    for (int k = 0; k < forks; k++) {
        usleep(2000);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(child_work(k % 4 == 0 ? 2 : 0));
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "fork %d: child status 0x%x\n", k, status);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SHARED; i++)
        ob_free(shared[i]);
    check_heap_sound();
    printf("fork: %d children allocated and freed while threads ran\n", forks);
    return 0;
}
