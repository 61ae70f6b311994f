/* Shared by the benchmark workloads: a PRNG, a timer, and the result line
 * the runner reads ("result <name> <seconds> <check>"). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void fail(const char *what)
{
    fprintf(stderr, "workload check failed: %s\n", what);
    exit(1);
}

/* Runs fn(0) .. fn(n-1) on n threads (at most 64) and waits for them. */
static inline void run_threads(int n, void *(*fn)(void *))
{
    pthread_t t[64];
    if (n > 64)
        n = 64;
    for (long i = 0; i < n; i++)
        pthread_create(&t[i], NULL, fn, (void *)i);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

static inline long arg_long(int argc, char **argv, int i, long dflt)
{
    return argc > i ? atol(argv[i]) : dflt;
}
#endif
