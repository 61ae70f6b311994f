/* larson-like: a server simulation.  Each thread owns a slot array of live
 * blocks (8..1000 bytes); at every step it frees a random slot's block and
 * puts a new one there.  Every so often threads hand their slot arrays on
 * to the next thread, which then frees the other thread's blocks, as
 * server threads do with requests.  Checks: every block still carries its
 * owner tag when freed.
 *
 *   larson [threads] [seconds-ish rounds] [steps per round]              */
#include "common.h"

/* As mimalloc-bench runs larson (5000 blocks a thread): with 1000 the
 * live blocks fitted in the second-level cache, and the row hid what the
 * original measures, a free and a malloc that miss it (issue 25). */
#define SLOTS 5000

typedef struct slotset {
    unsigned char *p[SLOTS];
    size_t size[SLOTS];
} slotset_t;

static int nthreads;
static long rounds, steps;
static slotset_t *sets;
static pthread_barrier_t barrier;
static unsigned long long total_ops;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    long id = (long)arg;
    uint64_t rng = (uint64_t)id * 7919 + 1;
    unsigned long long ops = 0;
    for (long r = 0; r < rounds; r++) {
        slotset_t *s = &sets[(id + r) % nthreads]; /* another thread's, from round 1 */
        for (long k = 0; k < steps; k++) {
            size_t i = rnd(&rng) % SLOTS;
            if (s->p[i]) {
                if (s->p[i][0] != (unsigned char)s->size[i])
                    fail("larson: block tag");
                free(s->p[i]);
            }
            size_t size = 8 + rnd(&rng) % 993;
            s->p[i] = malloc(size);
            s->p[i][0] = (unsigned char)size;
            s->size[i] = size;
            ops++;
        }
        pthread_barrier_wait(&barrier);
    }
    pthread_mutex_lock(&total_lock);
    total_ops += ops;
    pthread_mutex_unlock(&total_lock);
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = (int)arg_long(argc, argv, 1, 4);
    rounds = arg_long(argc, argv, 2, 30);
    steps = arg_long(argc, argv, 3, 100000);
    sets = calloc((size_t)nthreads, sizeof *sets);
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    double t0 = seconds();
    run_threads(nthreads, worker);
    for (int i = 0; i < nthreads; i++)
        for (int k = 0; k < SLOTS; k++)
            free(sets[i].p[k]);
    if (total_ops != (unsigned long long)nthreads * (unsigned long long)(rounds * steps))
        fail("larson: operation count");
    printf("result larson %.3f ops=%llu\n", seconds() - t0, total_ops);
    return 0;
}
