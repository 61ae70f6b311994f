/*
 * Allocation sites whose truth is known, for the heap profiler's test
 * (tests/prof_pprof.sh), profiled at the default rate on the drop-in:
 *   one_share     allocates (and frees) 1 GiB in 64-byte blocks
 *   three_shares  allocates (and frees) 3 GiB in 192-byte blocks
 *   leak_128mib   leaks 128 MiB in 1000-byte blocks (1024 usable)
 * With the argument "free-all", only one_share: nothing is live at exit.
 * Built against the C library only, with -fno-builtin-malloc so that the
 * compiler keeps every malloc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile char sink;

__attribute__((noinline)) void one_share(void)
{
    for (size_t i = 0; i < ((size_t)1 << 30) / 64; i++) {
        char *p = malloc(64);
        p[i % 64] = 1;
        sink = p[0];
        free(p);
    }
}

__attribute__((noinline)) void three_shares(void)
{
    for (size_t i = 0; i < ((size_t)3 << 30) / 192; i++) {
        char *p = malloc(192);
        p[i % 192] = 1;
        sink = p[0];
        free(p);
    }
}

__attribute__((noinline)) void leak_128mib(void)
{
    for (size_t i = 0; i < ((size_t)128 << 20) / 1024; i++) {
        char *p = malloc(1000);
        memset(p, 1, 1000);
    }
}

int main(int argc, char **argv)
{
    one_share();
    if (argc > 1 && strcmp(argv[1], "free-all") == 0) {
        printf("prof_sites: done, nothing left\n");
        return 0;
    }
    three_shares();
    leak_128mib();
    printf("prof_sites: done\n");
    return 0;
}
