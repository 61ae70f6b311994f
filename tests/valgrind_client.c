/* A program with four bugs for valgrind's memcheck to find in blocks that
 * come from obmalloc (which describes them to memcheck): an overflow, a
 * read after free, a read of uninitialised memory and a leak.  Built
 * against obmalloc's own API (USE_OB) and against plain libc names for
 * the drop-in; tests/valgrind_memcheck.sh checks memcheck's findings. */
#include <stdio.h>
#include <stdlib.h>
#ifdef USE_OB
#include "obmalloc.h"
#define malloc ob_malloc
#define free ob_free
#endif
__attribute__((noinline)) static void leak(void) { char *volatile p = malloc(100); p[0] = 1; p = NULL; }
int main(void)
{
    leak();
    char *volatile p = malloc(24);
    p[24] = 1;           /* invalid write, one past the end */
    free(p);
    volatile char c = p[3]; /* invalid read of freed memory */
    (void)c;
    char *volatile u = malloc(8);
    if (u[2] == 7) puts("x"); /* uninitialised */
    free(u);
    puts("done");
    return 0;
}
