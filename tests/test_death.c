/* Heap misuse gets an abort with a message that names the problem and the
 * address, never a crash deep inside or silent corruption.  Each bug runs
 * in a forked child. */
#include <pthread.h>

#include "check.h"
#include "obmalloc.h"

static void double_free_small(void)
{
    void *p = ob_malloc(32);
    ob_free(p);
    ob_free(p);
}

static void double_free_last_block(void)
{
    /* The pool's last live block: the pool stays (it is current), and the
     * second free finds the block at the head of its free list. */
    void *p = ob_malloc(3000);
    void *q = ob_malloc(3000);
    ob_free(q);
    ob_free(p);
    ob_free(p);
}

static void double_free_huge(void)
{
    void *p = ob_malloc(8 << 20);
    ob_free(p);
    ob_free(p);
}

static void free_stack_pointer(void)
{
    int x;
    ob_free(&x);
}

static void free_glibc_pointer(void)
{
    ob_free(malloc(16));
}

static void free_interior(void)
{
    char *p = ob_malloc(64);
    ob_free(p + 16);
}

static void free_interior_huge(void)
{
    char *p = ob_malloc(5 << 20);
    ob_free(p + 4096);
}

static void free_misaligned(void)
{
    char *p = ob_malloc(64);
    ob_free(p + 1);
}

static void realloc_foreign(void)
{
    static char data[64];
    (void)!ob_realloc(data, 100);
}

static void sized_free_wrong(void)
{
    void *p = ob_malloc(100);
    ob_free_sized(p, 4000);
}

static void *free_twice_thread(void *arg)
{
    ob_free(arg);
    return NULL;
}

static void double_free_remote_then_local(void)
{
    /* Freed by another thread, then again by the owner: the owner finds
     * the page holds no live block once the pool is released. */
    void *p = ob_malloc(200000);
    pthread_t t;
    pthread_create(&t, NULL, free_twice_thread, p);
    pthread_join(t, NULL);
    ob_collect(1);
    ob_free(p);
}

static void corrupt_free_list(void)
{
    /* A write after free over the link a free block keeps (its first
     * word): malloc must not hand out the address it now decodes to. */
    void *keep = ob_malloc(80);
    uint64_t *p = ob_malloc(80);
    ob_free(p);
    *(volatile uint64_t *)p = 0x4141414141414141ull;
    void *a = ob_malloc(80); /* the corrupted block itself */
    void *b = ob_malloc(80); /* whatever its link decodes to */
    printf("%p %p %p\n", keep, a, b);
}

static void check_freed_block(void)
{
    void *keep = ob_malloc(80);
    void *p = ob_malloc(80);
    ob_free(p);
    ob_check_block(p);
    ob_free(keep);
}

static void check_interior(void)
{
    char *p = ob_malloc(80);
    ob_check_block(p + 8);
}

static void check_stack(void)
{
    int x;
    ob_check_block(&x);
}

int main(void)
{
    CHECK(dies_with(double_free_small, "double free"));
    CHECK(dies_with(double_free_last_block, "double free"));
    CHECK(dies_with(double_free_huge, "double free"));
    CHECK(dies_with(free_stack_pointer, "invalid free"));
    CHECK(dies_with(free_glibc_pointer, "invalid free"));
    CHECK(dies_with(free_interior, "invalid free"));
    CHECK(dies_with(free_interior_huge, "invalid free"));
    CHECK(dies_with(free_misaligned, "invalid free"));
    CHECK(dies_with(realloc_foreign, "invalid realloc"));
    CHECK(dies_with(sized_free_wrong, "sized free with a wrong size"));
    CHECK(dies_with(double_free_remote_then_local, "invalid free"));
    CHECK(dies_with(check_interior, "invalid pointer"));
    CHECK(dies_with(check_stack, "invalid pointer"));
    CHECK(dies_with(check_freed_block, "use after free"));
    if (!ob_test_diverted()) /* debug mode finds it later, when the block leaves its quarantine */
        CHECK(dies_with(corrupt_free_list, "corrupted free list"));
    printf("death: every misuse aborted with its report\n");
    return 0;
}
