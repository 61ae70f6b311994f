/*
 * Process-wide state: start-up, thread exit and fork handling.
 *
 * Start-up runs once, from a constructor or from the first allocation,
 * whichever comes first.  The parts the allocator needs (options, size
 * classes, the free-list secret) are ready before anything that might call
 * back into malloc (pthread_key_create, pthread_atfork), so a recursive
 * call from the initialising thread finds a working allocator.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

_Atomic int _ob_initialized;

enum { INIT_NONE, INIT_RUNNING, INIT_DONE };
static _Atomic int init_state;
static __thread bool init_on_this_thread;

/* Its regions are released first (region.c): their heaps hand their
 * arenas on before the thread's own heap does. */
static void on_thread_exit(void *p)
{
    ob_heap_t *heap = p;
    if (heap != NULL && heap->initialized)
        _ob_regions_thread_exit(heap);
    _ob_heap_thread_exit(heap);
}

/* ---- fork ------------------------------------------------------------- */

static ob_lock_t *const fork_locks[] = {
    &_ob_quarantine_lock, &_ob_heaps_lock, &_ob_abandon_lock, &_ob_huge_lock,
    &_ob_cache_lock,      &_ob_map_lock,   &_ob_meta_lock,  &_ob_prof_lock,
};
#define N_FORK_LOCKS (sizeof fork_locks / sizeof fork_locks[0])

static void fork_prepare(void)
{
    for (size_t i = 0; i < N_FORK_LOCKS; i++)
        _ob_lock(fork_locks[i]);
}

static void fork_parent(void)
{
    for (size_t i = N_FORK_LOCKS; i-- > 0;)
        _ob_unlock(fork_locks[i]);
}

static void fork_child(void)
{
    for (size_t i = 0; i < N_FORK_LOCKS; i++)
        _ob_lock_reset(fork_locks[i]);
    _ob_heap_after_fork_child();
    _ob_prof_after_fork_child();
    _ob_prof_output_after_fork();
}

/* ---- start-up --------------------------------------------------------- */

void _ob_init(void)
{
    int expected = INIT_NONE;
    if (!ob_atomic_cas_strong_seq_cst(&init_state, &expected, INIT_RUNNING)) {
        if (expected == INIT_DONE || init_on_this_thread)
            return;
        unsigned spins = 0;
        while (ob_atomic_load_seq_cst(&init_state) != INIT_DONE)
            ob_spin_wait(&spins);
        return;
    }
    init_on_this_thread = true;
    _ob_options_init();
    _ob_prof_init();
    if (_ob_prof_on)
        _ob_prof_output_init(); /* where its files go, and its signal */
    if (_ob_override_init != NULL)
        _ob_override_init(); /* before obmalloc maps anything */
    _ob_size_classes_init();
    _ob_secret = _ob_os_random() | 1; /* never 0: 0 is the unmarked free mark */
    _ob_debug_init(); /* decides _ob_divert before anything can call malloc */
    _ob_stats_init();
    _ob_os_thread_key_init(on_thread_exit);
    _ob_os_atfork(fork_prepare, fork_parent, fork_child);
    ob_atomic_store_seq_cst(&init_state, INIT_DONE);
    ob_atomic_store_release(&_ob_initialized, 1);
    init_on_this_thread = false;
}

__attribute__((constructor)) static void ob_constructor(void)
{
    _ob_init();
}
