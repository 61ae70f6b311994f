/*
 * The platform layer: every call to mmap, munmap, madvise, mremap, futex,
 * clock and pthread goes through here, so the rest of obmalloc is plain C.
 * None of these functions allocates memory, and each keeps errno as it was
 * (free() must not change errno, and these run inside free()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Under valgrind, memcheck does not always follow pages that mremap moves
 * or grows: obmalloc then maps and copies instead.  (valgrind.h only when
 * the build machine has it; otherwise mremap is always used.) */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define OB_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef OB_ON_VALGRIND
#define OB_ON_VALGRIND() 0
#endif

/* ---- fault injection (test builds only) ---------------------------------
 *
 * Built with -DOB_FAULT_INJECTION=1 (the obmalloc_faults library of the
 * test suite, never the release library), every call to an OS primitive
 * below first asks _ob_fault_hit, which counts the calls of each kind and
 * makes the one a test chose fail as the OS would (ENOMEM).  Each call is
 * named by its site: the obmalloc function that called this layer and the
 * line of the primitive here.  tests/test_faults.c sweeps every call of a
 * scripted workload.  Without the option FAULT() is the constant false. */
#ifndef OB_FAULT_INJECTION
#define OB_FAULT_INJECTION 0
#endif
#if OB_FAULT_INJECTION
static _Atomic uint64_t fault_calls[OB_FAULT_KINDS];
static _Atomic uint64_t fault_at[OB_FAULT_KINDS];
static ob_fault_site_t fault_sites[OB_FAULT_MAX_SITES];
static _Atomic unsigned fault_nsites;
static ob_fault_site_t fault_failed;
static ob_lock_t fault_lock = OB_LOCK_INIT;

/* A plan for the calls made at start-up, before a test can make one:
 * OB_FAULT_PLAN=kind,nth in the environment. */
static void fault_plan_from_env(void)
{
    static _Atomic int read_yet;
    if (ob_atomic_exchange_seq_cst(&read_yet, 1))
        return;
    const char *e = getenv("OB_FAULT_PLAN");
    if (e == NULL)
        return;
    char *end;
    long kind = strtol(e, &end, 10);
    if (*end == ',' && kind >= 0 && kind < OB_FAULT_KINDS)
        ob_atomic_store_seq_cst(&fault_at[kind], strtoull(end + 1, NULL, 10));
}

static bool fault_hit(int kind, const void *caller, int line)
{
    fault_plan_from_env();
    uint64_t n = ob_atomic_add_seq_cst(&fault_calls[kind], 1) + 1;
    ob_fault_site_t site = {kind, line, (uintptr_t)caller};
    _ob_lock(&fault_lock);
    unsigned i, have = ob_atomic_load_seq_cst(&fault_nsites);
    for (i = 0; i < have; i++)
        if (fault_sites[i].kind == kind && fault_sites[i].line == line &&
            fault_sites[i].caller == site.caller)
            break;
    if (i == have && have < OB_FAULT_MAX_SITES) {
        fault_sites[have] = site;
        ob_atomic_store_seq_cst(&fault_nsites, have + 1);
    }
    bool fail = n == ob_atomic_load_seq_cst(&fault_at[kind]);
    if (fail)
        fault_failed = site;
    _ob_unlock(&fault_lock);
    return fail;
}

void _ob_fault_plan(int kind, uint64_t nth)
{
    fault_plan_from_env(); /* read now or never: this plan replaces it */
    for (int k = 0; k < OB_FAULT_KINDS; k++) {
        ob_atomic_store_seq_cst(&fault_calls[k], 0);
        ob_atomic_store_seq_cst(&fault_at[k], 0);
    }
    ob_atomic_store_seq_cst(&fault_nsites, 0);
    fault_failed = (ob_fault_site_t){-1, 0, 0};
    if (kind >= 0 && kind < OB_FAULT_KINDS)
        ob_atomic_store_seq_cst(&fault_at[kind], nth);
}

uint64_t _ob_fault_calls(int kind)
{
    return ob_atomic_load_seq_cst(&fault_calls[kind]);
}

unsigned _ob_fault_sites(ob_fault_site_t *out, unsigned max)
{
    unsigned n = ob_atomic_load_seq_cst(&fault_nsites);
    for (unsigned i = 0; i < n && i < max; i++)
        out[i] = fault_sites[i];
    return n;
}

ob_fault_site_t _ob_fault_failed(void)
{
    return fault_failed;
}
#define FAULT(kind, caller) fault_hit(kind, caller, __LINE__)
#else
#define FAULT(kind, caller) ((void)(caller), false)
#endif
#define CALLER __builtin_return_address(0)

/* mmap never returns memory above this: the arena map covers 48 bits. */
#define OB_ADDRESS_LIMIT ((uintptr_t)1 << 48)

size_t _ob_os_page_size(void)
{
    /* Threads may race to fill it in; they all write the same value. */
    static _Atomic size_t page;
    size_t p = ob_atomic_load_relaxed(&page);
    if (!p) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        ob_atomic_store_relaxed(&page, p);
    }
    return p;
}

/* Unmapping fails only when it would split a mapping past the process's
 * limit on mappings (vm.max_map_count): the range then stays mapped and
 * unused, address space lost but nothing wrong. */
static bool unmap(void *p, size_t size, const void *caller)
{
    return !FAULT(OB_FAULT_MUNMAP, caller) && munmap(p, size) == 0;
}

/* Without MAP_NORESERVE: under the kernel's default overcommit heuristic a
 * request larger than the machine's memory then fails here, with ENOMEM to
 * the caller, instead of succeeding and killing the program later. */
static void *map_anonymous(size_t size, int prot, const void *caller)
{
    void *p = FAULT(OB_FAULT_MMAP, caller)
                  ? MAP_FAILED
                  : mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if ((uintptr_t)p + size > OB_ADDRESS_LIMIT) {
        unmap(p, size, caller);
        return NULL;
    }
    return p;
}

/* Maps `size` bytes at an address aligned to `align` (a power of two, at
 * least a page), by mapping more and trimming both ends (a trim that
 * fails leaves a little address space mapped). */
static void *map_aligned(size_t size, size_t align, int prot, const void *caller)
{
    if (align <= _ob_os_page_size())
        return map_anonymous(size, prot, caller);
    if (size + align < size)
        return NULL;
    /* Try the cheap way first: a plain map that happens to be aligned. */
    char *p = map_anonymous(size, prot, caller);
    if (p == NULL || ((uintptr_t)p & (align - 1)) == 0)
        return p;
    unmap(p, size, caller);
    p = map_anonymous(size + align, prot, caller);
    if (p == NULL)
        return NULL;
    char *aligned = (char *)ob_align_up((uintptr_t)p, align);
    size_t head = (size_t)(aligned - p);
    size_t tail = align - head;
    if (head)
        unmap(p, head, caller);
    if (tail)
        unmap(aligned + size, tail, caller);
    return aligned;
}

void *_ob_os_map(size_t size, size_t align)
{
    int saved = errno;
    void *p = map_aligned(size, align, PROT_READ | PROT_WRITE, CALLER);
    errno = saved;
    return p;
}

/* Address space only (PROT_NONE): a landing place for _ob_os_remap. */
void *_ob_os_reserve(size_t size, size_t align)
{
    int saved = errno;
    void *p = map_aligned(size, align, PROT_NONE, CALLER);
    errno = saved;
    return p;
}

bool _ob_os_unmap(void *p, size_t size)
{
    int saved = errno;
    bool done = unmap(p, size, CALLER);
    errno = saved;
    return done;
}

/* Reading files (the heap profiler reads ELF symbol tables). */
int _ob_os_open_read(const char *path)
{
    int saved = errno;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    errno = saved;
    return fd;
}

/* The running program's file, from the kernel's link (0 if unknown). */
size_t _ob_os_program_path(char *out, size_t cap)
{
    int saved = errno;
    ssize_t n = cap > 1 ? readlink("/proc/self/exe", out, cap - 1) : -1;
    errno = saved;
    if (n <= 0)
        return 0;
    out[n] = 0;
    return (size_t)n;
}

bool _ob_os_pread(int fd, void *buf, size_t size, uint64_t offset)
{
    int saved = errno;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pread(fd, (char *)buf + done, size - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    errno = saved;
    return done == size;
}

void _ob_os_close(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

/* Makes the pages inaccessible: a stray write there faults at once
 * instead of corrupting what lies beyond.  Best effort (the process may
 * be at its mapping limit): a guard that cannot be set is only missing. */
void _ob_os_guard(void *p, size_t size)
{
    int saved = errno;
    if (!FAULT(OB_FAULT_MPROTECT, CALLER))
        mprotect(p, size, PROT_NONE);
    errno = saved;
}

/* Gives the pages back: they read as zero afterwards.  False if the OS
 * refused: then they still hold what they held. */
bool _ob_os_purge(void *p, size_t size)
{
    int saved = errno;
    bool done = !FAULT(OB_FAULT_MADVISE, CALLER) && madvise(p, size, MADV_DONTNEED) == 0;
    errno = saved;
    return done;
}

/* Asks for transparent huge pages on [p, p + size) (2 MiB aligned), or
 * (`on` false) that the kernel, khugepaged included, leave it in small
 * pages. */
void _ob_os_hugepage(void *p, size_t size, bool on)
{
    int saved = errno;
    if (!FAULT(OB_FAULT_MADVISE, CALLER))
        madvise(p, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    errno = saved;
}

/* The kernel's transparent huge page mode, from sysfs: the word in
 * brackets of "always [madvise] never".  Read with a stack buffer (this
 * runs inside the first malloc). */
int _ob_os_thp_mode(void)
{
    int saved = errno;
    char buf[128];
    ssize_t n = -1;
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    errno = saved;
    if (n <= 0)
        return OB_THP_NEVER; /* no THP in this kernel */
    buf[n] = 0;
    const char *open_bracket = strchr(buf, '[');
    if (open_bracket == NULL)
        return OB_THP_NEVER;
    if (strncmp(open_bracket + 1, "always]", 7) == 0)
        return OB_THP_ALWAYS;
    if (strncmp(open_bracket + 1, "madvise]", 8) == 0)
        return OB_THP_MADVISE;
    return OB_THP_NEVER;
}

/* The sum of AnonHugePages over the mappings of /proc/self/smaps for
 * which `wanted(start, end)` says yes, in bytes; read through a stack
 * buffer, a line at a time (the statistics must not allocate). */
size_t _ob_os_anon_huge_bytes(bool (*wanted)(uintptr_t start, uintptr_t end))
{
    int saved = errno;
    int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return 0;
    }
    char buf[4096], line[256];
    size_t len = 0, total = 0;
    bool counting = false;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (len < sizeof line - 1)
                    line[len++] = buf[i];
                continue;
            }
            line[len] = 0;
            len = 0;
            char *end;
            uintptr_t lo = strtoul(line, &end, 16);
            if (end != line && *end == '-') { /* a mapping's first line */
                uintptr_t hi = strtoul(end + 1, NULL, 16);
                counting = wanted(lo, hi);
            } else if (counting && strncmp(line, "AnonHugePages:", 14) == 0) {
                total += (size_t)strtoul(line + 14, NULL, 10) * 1024;
            }
        }
    }
    close(fd);
    errno = saved;
    return total;
}

/* Moves a mapping to `fixed_at` (a reservation of new_size bytes), letting
 * the kernel carry the pages over instead of copying them. */
void *_ob_os_remap(void *old, size_t old_size, size_t new_size, void *fixed_at)
{
    if (OB_ON_VALGRIND())
        return NULL;
    int saved = errno;
    void *p = FAULT(OB_FAULT_MREMAP, CALLER)
                  ? MAP_FAILED
                  : mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, fixed_at);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

/* Grows or shrinks a mapping where it stands; false if it cannot grow. */
bool _ob_os_try_grow(void *p, size_t old_size, size_t new_size)
{
    if (OB_ON_VALGRIND() && new_size > old_size)
        return false;
    int saved = errno;
    void *q = FAULT(OB_FAULT_MREMAP, CALLER) ? MAP_FAILED : mremap(p, old_size, new_size, 0);
    errno = saved;
    return q != MAP_FAILED;
}

uint64_t _ob_os_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Entropy for the free-list secret, without allocating or blocking: the
 * 16 random bytes the kernel gives every process (AT_RANDOM), mixed with
 * the clock and an address (ASLR). */
uintptr_t _ob_os_random(void)
{
    uintptr_t x = 0;
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    if (r != NULL)
        for (int i = 0; i < 8; i++)
            x = (x << 8) | r[8 + i];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x ^= (uintptr_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull;
    x ^= (uintptr_t)&x;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return x | 1;
}

/* ---- locks: a futex mutex (0 free, 1 held, 2 held with waiters) ------- */

static long futex(_Atomic int *addr, int op, int val)
{
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

void _ob_os_yield(void)
{
    sched_yield();
}

bool _ob_trylock(ob_lock_t *l)
{
    int expected = 0;
    return ob_atomic_cas_strong_acquire(&l->state, &expected, 1);
}

void _ob_lock(ob_lock_t *l)
{
    int expected = 0;
    if (OB_LIKELY(ob_atomic_cas_strong_acquire(&l->state, &expected, 1)))
        return;
    int saved = errno;
    for (int spin = 0; spin < 100; spin++) {
        expected = 0;
        if (ob_atomic_load_relaxed(&l->state) == 0 &&
            ob_atomic_cas_weak_acquire(&l->state, &expected, 1)) {
            errno = saved;
            return;
        }
        __builtin_ia32_pause();
    }
    while (ob_atomic_exchange_acquire(&l->state, 2) != 0)
        futex(&l->state, FUTEX_WAIT_PRIVATE, 2);
    errno = saved;
}

void _ob_unlock(ob_lock_t *l)
{
    if (ob_atomic_exchange_release(&l->state, 0) == 2) {
        int saved = errno;
        futex(&l->state, FUTEX_WAKE_PRIVATE, 1);
        errno = saved;
    }
}

/* In a fork child, the only thread left owns every lock it took in the
 * prepare handler: start them afresh. */
void _ob_lock_reset(ob_lock_t *l)
{
    ob_atomic_store_relaxed(&l->state, 0);
}

/* ---- threads ---------------------------------------------------------- */

static pthread_key_t thread_key;

/* The key's destructor runs when a thread with a heap exits.  Keys created
 * early in the process live in glibc's static per-thread block, so
 * pthread_setspecific does not allocate. */
/* Without a key (the process has used up PTHREAD_KEYS_MAX) obmalloc
 * cannot learn when a thread exits: the heaps of exited threads then keep
 * their memory for the life of the process, which is a leak, not an
 * error. */
static bool thread_key_made;

void _ob_os_thread_key_init(void (*on_exit)(void *))
{
    thread_key_made = !FAULT(OB_FAULT_PTHREAD_KEY, CALLER) &&
                      pthread_key_create(&thread_key, on_exit) == 0;
}

void _ob_os_thread_key_set(void *value)
{
    if (thread_key_made)
        pthread_setspecific(thread_key, value);
}

void _ob_os_atfork(void (*prepare)(void), void (*parent)(void),
                   void (*child)(void))
{
    pthread_atfork(prepare, parent, child);
}
