/* mstress-like: threads come and go while objects migrate between them.
 * A shared table of object chains; each short-lived thread replaces some
 * chains (freeing what earlier, now exited, threads built) and builds new
 * ones of mixed sizes, then exits; generations of threads follow each
 * other.  Checks: chain contents and the final object count.
 *
 *   mstress [threads per generation] [generations] [ops per thread]       */
#include "common.h"

#define TABLE 4096

typedef struct node {
    struct node *next;
    uint64_t tag;
    char data[];
} node_t;

static node_t *_Atomic table[TABLE];
static long ops_per_thread;

static void free_chain(node_t *n)
{
    while (n) {
        node_t *next = n->next;
        if (n->tag != ((uintptr_t)next ^ 0xC0FFEEull))
            fail("mstress: chain corrupted");
        free(n);
        n = next;
    }
}

static void *worker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (long k = 0; k < ops_per_thread; k++) {
        size_t slot = rnd(&rng) % TABLE;
        node_t *chain = NULL;
        int len = 1 + (int)(rnd(&rng) % 8);
        for (int i = 0; i < len; i++) {
            uint64_t r = rnd(&rng);
            size_t size = r % 100 == 0 ? 2000 + r % 30000 : 8 + r % 200;
            node_t *n = malloc(sizeof(node_t) + size);
            n->next = chain;
            n->tag = (uintptr_t)chain ^ 0xC0FFEEull;
            chain = n;
        }
        free_chain(atomic_exchange(&table[slot], chain));
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = (int)arg_long(argc, argv, 1, 4);
    long generations = arg_long(argc, argv, 2, 60);
    ops_per_thread = arg_long(argc, argv, 3, 20000);
    double t0 = seconds();
    for (long g = 0; g < generations; g++) {
        pthread_t t[64];
        for (int i = 0; i < nthreads; i++)
            pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(g * 131 + i + 1));
        for (int i = 0; i < nthreads; i++)
            pthread_join(t[i], NULL);
    }
    long left = 0;
    for (int i = 0; i < TABLE; i++) {
        for (node_t *n = table[i]; n; n = n->next)
            left++;
        free_chain(table[i]);
    }
    printf("result mstress %.3f left=%ld\n", seconds() - t0, left);
    return 0;
}
