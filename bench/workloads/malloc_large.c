/* malloc-large-like: blocks of 5 to 25 MiB, allocated, touched and freed,
 * a few live at a time.  Checks: a checksum over the touched pages.
 *
 *   malloc_large [iterations]                                             */
#include "common.h"

int main(int argc, char **argv)
{
    long iterations = arg_long(argc, argv, 1, 300);
    enum { LIVE = 4 };
    unsigned char *live[LIVE] = {0};
    size_t sizes[LIVE] = {0};
    uint64_t rng = 42, sum = 0, expect = 0;
    double t0 = seconds();
    for (long i = 0; i < iterations; i++) {
        int k = (int)(i % LIVE);
        if (live[k]) {
            for (size_t off = 0; off < sizes[k]; off += 4096)
                sum += live[k][off];
            free(live[k]);
        }
        sizes[k] = ((size_t)5 << 20) + rnd(&rng) % ((size_t)20 << 20);
        live[k] = malloc(sizes[k]);
        for (size_t off = 0; off < sizes[k]; off += 4096) {
            live[k][off] = (unsigned char)(off >> 12);
            expect += (unsigned char)(off >> 12);
        }
    }
    for (int k = 0; k < LIVE; k++) {
        if (live[k])
            for (size_t off = 0; off < sizes[k]; off += 4096)
                sum += live[k][off];
        free(live[k]);
    }
    if (sum != expect)
        fail("malloc_large: checksum");
    printf("result malloc_large %.3f checksum=%llu\n", seconds() - t0, (unsigned long long)sum);
    return 0;
}
