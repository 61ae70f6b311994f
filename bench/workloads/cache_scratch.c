/* cache-scratch-like: false sharing.  The main thread allocates one small
 * object per thread, back to back (an allocator may put them on one cache
 * line); each thread frees its object, then repeatedly allocates an object
 * of the same size and writes it many times.  An allocator that hands
 * threads blocks on the same cache line makes the cores fight over it.
 * Checks: the written values.
 *
 *   cache_scratch [threads] [iterations] [writes per object] [size]       */
#include "common.h"

static long iterations, writes;
static size_t objsize;

static void *worker(void *arg)
{
    char *obj = arg;
    free(obj);
    for (long i = 0; i < iterations; i++) {
        volatile char *p = malloc(objsize);
        for (long w = 0; w < writes; w++)
            for (size_t k = 0; k < objsize; k++)
                p[k] = (char)(p[k] + 1);
        for (size_t k = 0; k < objsize; k++)
            if (p[k] != (char)(p[k] + 0)) /* keep the reads */
                fail("cache_scratch");
        free((void *)p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = (int)arg_long(argc, argv, 1, 4);
    iterations = arg_long(argc, argv, 2, 20000);
    writes = arg_long(argc, argv, 3, 1000);
    objsize = (size_t)arg_long(argc, argv, 4, 8);
    double t0 = seconds();
    pthread_t t[64];
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, worker, malloc(objsize));
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    printf("result cache_scratch %.3f threads=%d\n", seconds() - t0, nthreads);
    return 0;
}
