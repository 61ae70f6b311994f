/* region: a million small blocks built as one structure, then dropped,
 * round after round (a request's objects, a parse tree).
 *
 * "heap" drops them the fastest way the allocator offers.  Where it has
 * heaps to destroy whole (found with dlsym, since the allocator comes by
 * LD_PRELOAD):
 *   obmalloc   ob_region_new / ob_region_malloc / ob_region_destroy
 *   mimalloc   mi_heap_new / mi_heap_malloc / mi_heap_destroy
 *   jemalloc   an arena of its own (arenas.create, mallocx without the
 *              thread cache, arena.<i>.destroy)
 * the blocks go into one and it is destroyed; elsewhere (glibc, tcmalloc)
 * they are freed one by one, the only way there.  "free" frees them one
 * by one under every allocator.
 *
 * The figure is the drops' time only; the builds' time and the method are
 * printed above the result line.  Checks: the sum of the tags, walked
 * before each drop.  With `size`, every block has that size (a destroy's
 * time should follow the pools, the bytes, and not the blocks).
 *
 *   region [heap|free] [blocks] [rounds] [size]                           */
#include <dlfcn.h>

#include "common.h"

typedef struct node {
    struct node *next;
    uint64_t tag;
} node_t;

/* The allocator's heap API, if it has one. */
typedef struct heap_api {
    const char *name;
    void *(*create)(void);
    void *(*alloc)(void *heap, size_t size);
    void (*destroy)(void *heap);
} heap_api_t;

static void *sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }

/* jemalloc: an explicit arena, destroyed whole. */
static int (*je_mallctl)(const char *, void *, size_t *, void *, size_t);
static void *(*je_mallocx)(size_t, int);
static void *je_create(void)
{
    unsigned ind;
    size_t sz = sizeof ind;
    if (je_mallctl("arenas.create", &ind, &sz, NULL, 0) != 0)
        fail("region: jemalloc arenas.create");
    return (void *)(uintptr_t)(ind + 1);
}
static void *je_alloc(void *heap, size_t size)
{
    unsigned ind = (unsigned)(uintptr_t)heap - 1;
    /* MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE: the thread cache must not
     * keep blocks of an arena that is destroyed. */
    return je_mallocx(size, (int)((ind + 1) << 20) | (1 << 8));
}
static void je_destroy(void *heap)
{
    char name[64];
    snprintf(name, sizeof name, "arena.%u.destroy", (unsigned)(uintptr_t)heap - 1);
    if (je_mallctl(name, NULL, NULL, NULL, 0) != 0)
        fail("region: jemalloc arena destroy");
}

static heap_api_t find_heap_api(void)
{
    heap_api_t api = {"free one by one", NULL, NULL, NULL};
    if (sym("ob_region_new") != NULL) {
        api = (heap_api_t){"ob_region_destroy", (void *(*)(void))sym("ob_region_new"),
                           (void *(*)(void *, size_t))sym("ob_region_malloc"),
                           (void (*)(void *))sym("ob_region_destroy")};
    } else if (sym("mi_heap_new") != NULL) {
        api = (heap_api_t){"mi_heap_destroy", (void *(*)(void))sym("mi_heap_new"),
                           (void *(*)(void *, size_t))sym("mi_heap_malloc"),
                           (void (*)(void *))sym("mi_heap_destroy")};
    } else if (sym("mallctl") != NULL && sym("mallocx") != NULL) {
        je_mallctl = (int (*)(const char *, void *, size_t *, void *, size_t))sym("mallctl");
        je_mallocx = (void *(*)(size_t, int))sym("mallocx");
        api = (heap_api_t){"jemalloc arena destroy", je_create, je_alloc, je_destroy};
    }
    return api;
}

int main(int argc, char **argv)
{
    int by_heap = argc < 2 || strcmp(argv[1], "free") != 0;
    long blocks = arg_long(argc, argv, 2, 1000000);
    long rounds = arg_long(argc, argv, 3, 10);
    long fixed = arg_long(argc, argv, 4, 0);
    if (fixed != 0 && fixed < (long)sizeof(node_t))
        fail("region: blocks of at least 16 bytes");
    heap_api_t api = find_heap_api();
    if (!by_heap || api.create == NULL) {
        by_heap = 0;
        api.name = "free one by one";
    }
    double build = 0, drop = 0;
    uint64_t check = 0;
    for (long r = 0; r < rounds; r++) {
        uint64_t rng = 12345 + (uint64_t)r;
        double t0 = seconds();
        void *heap = by_heap ? api.create() : NULL;
        if (by_heap && heap == NULL)
            fail("region: no heap");
        node_t *head = NULL;
        for (long i = 0; i < blocks; i++) {
            size_t size = fixed ? (size_t)fixed : 16 + 16 * (rnd(&rng) % 8); /* 16 to 128 */
            node_t *n = by_heap ? api.alloc(heap, size) : malloc(size);
            if (n == NULL)
                fail("region: out of memory");
            n->next = head;
            n->tag = (uint64_t)i;
            head = n;
        }
        double t1 = seconds();
        uint64_t sum = 0;
        for (node_t *n = head; n != NULL; n = n->next)
            sum += n->tag;
        if (sum != (uint64_t)blocks * (uint64_t)(blocks - 1) / 2)
            fail("region: tags");
        check += sum;
        double t2 = seconds();
        if (by_heap) {
            api.destroy(heap);
        } else {
            while (head != NULL) {
                node_t *next = head->next;
                free(head);
                head = next;
            }
        }
        double t3 = seconds();
        build += t1 - t0;
        drop += t3 - t2;
    }
    printf("method %s: build %.4f s, drop %.4f s (%ld rounds of %ld blocks)\n", api.name, build,
           drop, rounds, blocks);
    printf("result region %.6f %llu\n", drop, (unsigned long long)check);
    return 0;
}
