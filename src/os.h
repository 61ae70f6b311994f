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
OB_HIDDEN void _ob_os_unmap(void *p, size_t size);
OB_HIDDEN void _ob_os_purge(void *p, size_t size);
OB_HIDDEN void _ob_os_guard(void *p, size_t size); /* PROT_NONE */
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
OB_HIDDEN void _ob_unlock(ob_lock_t *l);
OB_HIDDEN void _ob_lock_reset(ob_lock_t *l);
OB_HIDDEN void _ob_os_thread_key_init(void (*on_exit)(void *));
OB_HIDDEN void _ob_os_thread_key_set(void *value);
OB_HIDDEN void _ob_os_atfork(void (*prepare)(void), void (*parent)(void),
                             void (*child)(void));
OB_HIDDEN size_t _ob_os_page_size(void);
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
