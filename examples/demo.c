/* A small demonstration of the ob_* API: allocate a few hundred thousand
 * blocks of mixed sizes, resize and free them, and show that memory goes
 * back to the OS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obmalloc.h"

static long resident_kib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * 4;
}

int main(void)
{
    enum { N = 500000 };
    printf("obmalloc %s\n", ob_version());
    long before = resident_kib();
    char **blocks = ob_malloc(N * sizeof *blocks);
    for (int i = 0; i < N; i++) {
        size_t size = 16 + ((size_t)i * 7919) % 500;
        blocks[i] = ob_malloc(size);
        memset(blocks[i], i & 0xff, size);
    }
    long peak = resident_kib();
    for (int i = 0; i < N; i += 2)
        blocks[i] = ob_realloc(blocks[i], 1000 + (size_t)i % 3000);
    for (int i = 0; i < N; i++)
        ob_free(blocks[i]);
    ob_free(blocks);
    void *big = ob_calloc(1, 64 << 20);
    printf("64 MiB calloc at %p, usable %zu bytes\n", big, ob_usable_size(big));
    ob_free(big);
    long after = resident_kib();
    printf("resident memory: %ld KiB before, %ld KiB with %d blocks live, %ld KiB after freeing\n",
           before, peak, N, after);
    return 0;
}
