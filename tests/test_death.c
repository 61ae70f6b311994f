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

/* Double frees away from the head of the free list: the free mark
 * (src/types.h) finds them wherever the block waits. */
static void double_free_after_other_frees(void)
{
    void *v[100];
    for (int i = 0; i < 100; i++)
        v[i] = ob_malloc(48);
    ob_free(v[0]);
    for (int i = 1; i < 100; i++) /* 99 frees of the same pool since */
        ob_free(v[i]);
    ob_free(v[0]);
}

static void double_free_after_other_pools(void)
{
    void *keep = ob_malloc(700);
    void *p = ob_malloc(700);
    ob_free(p);
    for (int round = 0; round < 50; round++) { /* other classes, other pools */
        void *q = ob_malloc(16 + 16 * (size_t)round);
        ob_free(q);
    }
    ob_free(p);
    ob_free(keep);
}

static void double_free_of_reused_address(void)
{
    /* Freed, handed out again, freed: legal.  The mark must not linger. */
    void *p = ob_malloc(64);
    ob_free(p);
    void *q = ob_malloc(64);
    if (q != p)
        abort(); /* LIFO: the same block */
    ob_free(q);
    ob_free(p); /* now a double free */
}

static void *free_and_exit(void *arg)
{
    ob_free(arg); /* a cross-thread free: it goes home when the thread exits */
    return NULL;
}

static void double_free_on_remote_list(void)
{
    void *keep = ob_malloc(96); /* keeps the pool with the owner */
    void *p = ob_malloc(96);
    pthread_t t;
    pthread_create(&t, NULL, free_and_exit, p);
    pthread_join(t, NULL);
    ob_free(p); /* the owner frees it again: it is on the pool's remote list */
    ob_free(keep);
}

static void *free_twice(void *arg)
{
    void **v = arg;
    ob_free(v[0]);
    for (int i = 1; i < 10; i++) /* the same pool's, into the same batch */
        ob_free(v[i]);
    ob_free(v[0]); /* still in this thread's outbox, not at its head */
    return NULL;
}

static void double_free_in_outbox(void)
{
    void *keep = ob_malloc(96);
    void *v[10];
    for (int i = 0; i < 10; i++)
        v[i] = ob_malloc(96);
    pthread_t t;
    pthread_create(&t, NULL, free_twice, v);
    pthread_join(t, NULL);
    ob_free(keep);
}

static void *free_once(void *arg)
{
    ob_free(arg);
    return NULL;
}

static void double_free_across_threads(void)
{
    /* The owner frees it, then another thread frees it again. */
    void *keep = ob_malloc(96);
    void *p = ob_malloc(96);
    ob_free(p);
    pthread_t t;
    pthread_create(&t, NULL, free_once, p);
    pthread_join(t, NULL);
    ob_free(keep);
}

static void legal_reuse_across_threads(void)
{
    /* Blocks freed by another thread and allocated again carry no mark:
     * freeing them again is no error. */
    void *v[300];
    for (int i = 0; i < 300; i++)
        v[i] = ob_malloc(96);
    for (int i = 0; i < 300; i++) {
        pthread_t t;
        if (i % 30 == 0) {
            pthread_create(&t, NULL, free_once, v[i]);
            pthread_join(t, NULL);
        } else {
            ob_free(v[i]);
        }
    }
    ob_collect(0);
    for (int i = 0; i < 300; i++)
        v[i] = ob_malloc(96);
    for (int i = 0; i < 300; i++)
        ob_free(v[i]);
    _exit(0);
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

/* A medium block (a class above 512 bytes, a multi-page pool): the fast
 * path checks the size against the pool's block size too. */
static void sized_free_wrong_medium(void)
{
    void *p = ob_malloc(1500);
    ob_free_sized(p, 1537);
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
    if (!ob_test_diverted()) { /* debug mode has its own reports (test_debug) */
        CHECK(dies_with(double_free_after_other_frees, "double free"));
        CHECK(report_has("already on its pool's free list"));
        CHECK(dies_with(double_free_after_other_pools, "double free"));
        CHECK(report_has("already on its pool's free list"));
        CHECK(dies_with(double_free_of_reused_address, "double free"));
        CHECK(dies_with(double_free_on_remote_list, "double free"));
        CHECK(report_has("already freed by another thread"));
        CHECK(dies_with(double_free_in_outbox, "double free"));
        CHECK(report_has("freed twice by this thread"));
        CHECK(dies_with(double_free_across_threads, "double free"));
        CHECK(report_has("free mark"));
        CHECK(exits_cleanly(legal_reuse_across_threads));
    }
    CHECK(dies_with(free_stack_pointer, "invalid free"));
    CHECK(dies_with(free_glibc_pointer, "invalid free"));
    CHECK(dies_with(free_interior, "invalid free"));
    CHECK(dies_with(free_interior_huge, "invalid free"));
    CHECK(dies_with(free_misaligned, "invalid free"));
    CHECK(dies_with(realloc_foreign, "invalid realloc"));
    CHECK(dies_with(sized_free_wrong, "sized free with a wrong size"));
    CHECK(dies_with(sized_free_wrong_medium, "sized free with a wrong size"));
    CHECK(dies_with(double_free_remote_then_local, "invalid free"));
    CHECK(dies_with(check_interior, "invalid pointer"));
    CHECK(dies_with(check_stack, "invalid pointer"));
    CHECK(dies_with(check_freed_block, "use after free"));
    if (!ob_test_diverted()) /* debug mode finds it later, when the block leaves its quarantine */
        CHECK(dies_with(corrupt_free_list, "corrupted free list"));
    printf("death: every misuse aborted with its report\n");
    return 0;
}
