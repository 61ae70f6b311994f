/* rptest-like: random sizes up to 16 KiB (small ones more likely), a
 * working set per thread, and a share of every thread's blocks handed to
 * another thread to free.  Checks: each block's first and last bytes.
 *
 *   rptest [threads] [rounds] [ops per round]                             */
#include "common.h"

#define WORKING 2048
#define HANDOFF 512

typedef struct mailbox {
    pthread_mutex_t lock;
    unsigned char *item[HANDOFF];
    size_t size[HANDOFF];
    int count;
} mailbox_t;

static int nthreads;
static long rounds, ops;
static mailbox_t *boxes;

static size_t pick_size(uint64_t r)
{
    /* Rounded-exponential: half the blocks under 256 bytes. */
    unsigned shift = 4 + (unsigned)(r % 11); /* 16 .. 16 KiB */
    size_t top = (size_t)1 << shift;
    return (r >> 8) % top + 2; /* at least 2: a head byte and a tail byte */
}

static void check_free(unsigned char *p, size_t size)
{
    if (p[0] != (unsigned char)size || p[size - 1] != 0x5A)
        fail("rptest: block corrupted");
    free(p);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    uint64_t rng = (uint64_t)id * 104729 + 7;
    unsigned char *p[WORKING] = {0};
    size_t sz[WORKING] = {0};
    for (long r = 0; r < rounds; r++) {
        for (long k = 0; k < ops; k++) {
            size_t i = rnd(&rng) % WORKING;
            if (p[i]) {
                if (rnd(&rng) % 4 == 0) {
                    /* Hand it to the next thread instead of freeing it. */
                    mailbox_t *m = &boxes[(id + 1) % nthreads];
                    pthread_mutex_lock(&m->lock);
                    if (m->count < HANDOFF) {
                        m->item[m->count] = p[i];
                        m->size[m->count++] = sz[i];
                        p[i] = NULL;
                    }
                    pthread_mutex_unlock(&m->lock);
                }
                if (p[i])
                    check_free(p[i], sz[i]);
            }
            sz[i] = pick_size(rnd(&rng));
            p[i] = malloc(sz[i]);
            p[i][0] = (unsigned char)sz[i];
            p[i][sz[i] - 1] = 0x5A;
        }
        mailbox_t *mine = &boxes[id];
        pthread_mutex_lock(&mine->lock);
        for (int j = 0; j < mine->count; j++)
            check_free(mine->item[j], mine->size[j]);
        mine->count = 0;
        pthread_mutex_unlock(&mine->lock);
    }
    for (int i = 0; i < WORKING; i++)
        if (p[i])
            check_free(p[i], sz[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = (int)arg_long(argc, argv, 1, 4);
    rounds = arg_long(argc, argv, 2, 40);
    ops = arg_long(argc, argv, 3, 50000);
    boxes = calloc((size_t)nthreads, sizeof *boxes);
    for (int i = 0; i < nthreads; i++)
        pthread_mutex_init(&boxes[i].lock, NULL);
    double t0 = seconds();
    run_threads(nthreads, worker);
    for (int i = 0; i < nthreads; i++)
        for (int j = 0; j < boxes[i].count; j++)
            check_free(boxes[i].item[j], boxes[i].size[j]);
    printf("result rptest %.3f ops=%ld\n", seconds() - t0, (long)nthreads * rounds * ops);
    return 0;
}
