/* The whole malloc family through the C library's names, with obmalloc as
 * the allocator (LD_PRELOAD, or linked): errno values, alignments, usable
 * sizes, realloc semantics, every bad input; and the edges of a process's
 * life: malloc in a constructor, free in atexit handlers and in thread-exit
 * destructors, fork and exec. */
#define _GNU_SOURCE
#define OB_TEST_LIBC 1
#include <link.h>
#include <pthread.h>
#include <spawn.h>
#include <stddef.h>

#include "check.h"

#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wfree-nonheap-object" /* on purpose, below */

extern char **environ;

static void *early_block;

__attribute__((constructor(101))) static void early(void)
{
    early_block = malloc(100); /* before main, before most of libc's set-up */
    strcpy(early_block, "constructor");
}

static void *late_block;
static void at_exit_free(void)
{
    free(late_block);
    free(early_block);
    void *p = malloc(1000); /* allocating at exit works too */
    free(p);
}

static pthread_key_t key;
static void key_destructor(void *p)
{
    free(p); /* runs as the thread exits, after obmalloc's own */
}

static void *thread_with_destructor(void *arg)
{
    (void)arg;
    pthread_setspecific(key, malloc(64));
    void *v[100];
    for (int i = 0; i < 100; i++)
        v[i] = malloc((size_t)i * 10 + 1);
    for (int i = 0; i < 100; i++)
        free(v[i]);
    return malloc(200); /* freed by main */
}

static void test_family(void)
{
    /* It is obmalloc: its classes show in the usable sizes (in debug mode,
     * the usable size is the size asked for). */
    void *p = malloc(100);
    CHECK_EQ(malloc_usable_size(p), ob_test_diverted() ? 100 : 112);
    free(p);
    CHECK(dlsym(RTLD_DEFAULT, "__libc_malloc") != NULL);

    /* The block offset: 48 for CPython's objects (PYTHONMALLOC=malloc),
     * else 0, unless OBMALLOC_BLOCK_OFFSET says: 64-byte blocks start that
     * far into a cache line. */
    if (!ob_test_diverted()) {
        const char *py = getenv("PYTHONMALLOC"), *env = getenv("OBMALLOC_BLOCK_OFFSET");
        unsigned expect = env ? (unsigned)atoi(env) % 64
                              : (py && strcmp(py, "malloc") == 0 ? 48 : 0);
        for (int i = 0; i < 100; i++) {
            void *q = malloc(64);
            CHECK_EQ((uintptr_t)q % 64, expect);
            free(q);
        }
    }

    /* malloc(0) and realloc. */
    void *a = malloc(0), *b = malloc(0);
    CHECK(a && b && a != b);
    free(a);
    free(b);
    char *s = malloc(10);
    strcpy(s, "123456789");
    s = realloc(s, 100000);
    CHECK(strcmp(s, "123456789") == 0);
    s = realloc(s, 5);
    CHECK(memcmp(s, "12345", 5) == 0);
    errno = 55;
    CHECK(realloc(s, 0) == NULL && errno == 55); /* frees, as glibc */
    s = realloc(NULL, 0);
    CHECK(s != NULL);
    free(s);

    /* Errors. */
    errno = 0;
    CHECK(malloc(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc((size_t)PTRDIFF_MAX + 1) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(SIZE_MAX / 4, 8) == NULL && errno == ENOMEM);
    s = malloc(50);
    memset(s, 7, 50);
    errno = 0;
    CHECK(realloc(s, SIZE_MAX - 10) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(reallocarray(s, SIZE_MAX / 2, 4) == NULL && errno == ENOMEM);
    for (int i = 0; i < 50; i++)
        CHECK_EQ(s[i], 7);
    free(s);

    /* Alignment, every way there is to ask. */
    for (size_t align = 8; align <= ((size_t)1 << 24); align <<= 1) {
        void *q = NULL;
        CHECK_EQ(posix_memalign(&q, align, 100), 0);
        CHECK((uintptr_t)q % align == 0);
        free(q);
        q = aligned_alloc(align, align * 2);
        CHECK(q && (uintptr_t)q % align == 0);
        free(q);
        q = memalign(align, 33);
        CHECK(q && (uintptr_t)q % align == 0);
        free(q);
    }
    void *q = (void *)1;
    errno = 3;
    CHECK_EQ(posix_memalign(&q, 12, 100), EINVAL);
    CHECK_EQ(posix_memalign(&q, 4, 100), EINVAL);
    CHECK(q == (void *)1 && errno == 3);
    errno = 0;
    CHECK(aligned_alloc(12, 100) == NULL && errno == EINVAL);
    q = memalign(24, 10); /* glibc rounds up to a power of two */
    CHECK(q && (uintptr_t)q % 32 == 0);
    free(q);
    long page = sysconf(_SC_PAGESIZE);
    q = valloc(10);
    CHECK(q && (uintptr_t)q % (uintptr_t)page == 0);
    free(q);
    q = pvalloc(10);
    CHECK(q && (uintptr_t)q % (uintptr_t)page == 0 && malloc_usable_size(q) >= (size_t)page);
    free(q);

    /* calloc zeroes; usable sizes hold; C23 sized frees; cfree. */
    /* glibc 2.36 lacks the C23 names: find obmalloc's. */
    void (*free_sized)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*free_aligned_sized)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    CHECK(free_sized != NULL && free_aligned_sized != NULL);
    for (size_t n = 1; n < 300000; n = n * 3 + 1) {
        unsigned char *z = calloc(n, 1);
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(z[i], 0);
        CHECK(malloc_usable_size(z) >= n);
        memset(z, 1, malloc_usable_size(z));
        free_sized(z, n);
    }
    q = aligned_alloc(256, 1000);
    free_aligned_sized(q, 256, 1000);
    void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    CHECK(cfree_fn != NULL);
    cfree_fn(malloc(10));

    /* free(NULL), and free never touches errno. */
    free(NULL);
    errno = 1234;
    free(malloc(10));
    free(malloc(10 << 20));
    malloc_trim(0);
    CHECK_EQ(errno, 1234);
}

static void test_threads_and_exit(void)
{
    pthread_key_create(&key, key_destructor);
    for (int i = 0; i < 20; i++) {
        pthread_t t;
        void *ret;
        pthread_create(&t, NULL, thread_with_destructor, NULL);
        pthread_join(t, &ret);
        free(ret);
    }
    late_block = malloc(300);
    atexit(at_exit_free);
}

static void free_stack_pointer(void)
{
    int x;
    free(&x);
}

static int find_loader_data(struct dl_phdr_info *info, size_t size, void *out)
{
    (void)size;
    if (strstr(info->dlpi_name, "/ld-linux") == NULL)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
            /* Its end: the start may be read-only after relocation. */
            *(char **)out = (char *)(info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
            return 1;
        }
    }
    return 0;
}

/* The loader's own memory (here: a word of ld.so's writable data, where
 * its minimal malloc hands out blocks) is recognised and left alone; other
 * foreign pointers are reported. */
static void test_foreign(void)
{
    char *loader = NULL;
    dl_iterate_phdr(find_loader_data, &loader);
    CHECK(loader != NULL);
    char *p = loader - 64;
    char copy[32];
    memcpy(copy, p, sizeof copy);
    free(p);
    CHECK(memcmp(copy, p, sizeof copy) == 0); /* untouched */
    CHECK_EQ(malloc_usable_size(p), 0);
    char *moved = realloc(p, sizeof copy);
    CHECK(moved != NULL && moved != p && memcmp(moved, copy, sizeof copy) == 0);
    free(moved);
    CHECK(dies_with(free_stack_pointer, "invalid free"));
}

static void test_fork_exec(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        void *v = malloc(1000);
        free(v);
        char *argv[] = {"/bin/true", NULL};
        execve(argv[0], argv, environ);
        _exit(2);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* posix_spawn: a child that itself runs on obmalloc (LD_PRELOAD is
     * inherited) and checks it. */
    char *argv[] = {"/bin/sh", "-c", "grep -q libobmalloc /proc/self/maps || "
                                     "[ -z \"$LD_PRELOAD\" ]", NULL};
    CHECK_EQ(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ), 0);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    CHECK(strcmp(early_block, "constructor") == 0);
    test_family();
    test_foreign();
    test_threads_and_exit();
    test_fork_exec();
    printf("drop-in conformance: all checks passed\n");
    return 0;
}
