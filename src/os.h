/*
 * The interface to the OS: os.c is the only file that calls mmap, madvise,
 * mremap, futex, the clock and pthread.  Locks are futex-based and need
 * no initialisation beyond OB_LOCK_INIT.
 */
#ifndef OB_OS_H
#define OB_OS_H

#include "types.h"

typedef struct ob_lock {
    _Atomic int state;
} ob_lock_t;
#define OB_LOCK_INIT {0}

OB_HIDDEN void *_ob_os_map(size_t size, size_t align);
OB_HIDDEN void *_ob_os_reserve(size_t size, size_t align);
OB_HIDDEN bool _ob_os_unmap(void *p, size_t size); /* false: left mapped */
OB_HIDDEN bool _ob_os_purge(void *p, size_t size); /* false: kept as it was */
OB_HIDDEN void _ob_os_guard(void *p, size_t size); /* PROT_NONE */
OB_HIDDEN int _ob_os_open_read(const char *path); /* -1 if it cannot */
OB_HIDDEN bool _ob_os_pread(int fd, void *buf, size_t size, uint64_t offset);
OB_HIDDEN void _ob_os_close(int fd);
OB_HIDDEN size_t _ob_os_program_path(char *out, size_t cap); /* 0 if unknown */
OB_HIDDEN void _ob_os_hugepage(void *p, size_t size, bool on); /* MADV_(NO)HUGEPAGE */
enum { OB_THP_NEVER, OB_THP_MADVISE, OB_THP_ALWAYS };
OB_HIDDEN int _ob_os_thp_mode(void);
OB_HIDDEN size_t _ob_os_anon_huge_bytes(bool (*wanted)(uintptr_t start, uintptr_t end));
OB_HIDDEN void *_ob_os_remap(void *old, size_t old_size, size_t new_size,
                             void *fixed_at);
OB_HIDDEN bool _ob_os_try_grow(void *p, size_t old_size, size_t new_size);
OB_HIDDEN uint64_t _ob_os_now_ms(void);
OB_HIDDEN uintptr_t _ob_os_random(void);
OB_HIDDEN void _ob_lock(ob_lock_t *l);
OB_HIDDEN bool _ob_trylock(ob_lock_t *l);
OB_HIDDEN void _ob_unlock(ob_lock_t *l);
OB_HIDDEN void _ob_lock_reset(ob_lock_t *l);
OB_HIDDEN void _ob_os_thread_key_init(void (*on_exit)(void *));
OB_HIDDEN void _ob_os_thread_key_set(void *value);
OB_HIDDEN void _ob_os_atfork(void (*prepare)(void), void (*parent)(void),
                             void (*child)(void));
OB_HIDDEN size_t _ob_os_page_size(void);

/* Fault injection, in test builds (-DOB_FAULT_INJECTION=1, os.c). */
enum {
    OB_FAULT_MMAP, OB_FAULT_MUNMAP, OB_FAULT_MREMAP, OB_FAULT_MADVISE,
    OB_FAULT_MPROTECT, OB_FAULT_PTHREAD_KEY, OB_FAULT_KINDS
};
#define OB_FAULT_MAX_SITES 128
typedef struct ob_fault_site {
    int kind, line;   /* the primitive, and where os.c calls it */
    uintptr_t caller; /* the obmalloc code that called os.c     */
} ob_fault_site_t;
/* Starts counting afresh; the nth call of `kind` from now fails (kind -1:
 * none does). */
OB_HIDDEN void _ob_fault_plan(int kind, uint64_t nth);
OB_HIDDEN uint64_t _ob_fault_calls(int kind);
OB_HIDDEN unsigned _ob_fault_sites(ob_fault_site_t *out, unsigned max);
OB_HIDDEN ob_fault_site_t _ob_fault_failed(void); /* kind -1: none yet */
OB_HIDDEN void _ob_os_yield(void);

/* A wait for another thread to finish a few instructions' worth of work:
 * spin briefly, then yield the CPU, since with more threads than cores the
 * other thread may have been preempted in the middle. */
OB_INLINE void ob_spin_wait(unsigned *spins)
{
    if (++*spins < 64)
        __builtin_ia32_pause();
    else
        _ob_os_yield();
}

#endif /* OB_OS_H */
