/*
 * The purge delay: how long a free page stays resident before it goes back
 * to the OS.  The policy of memory return lives here; arena.c, heap.c and
 * huge.c ask it how long to wait and tell it what they gave back.
 *
 * A page given back (madvise(MADV_DONTNEED)) and needed again costs a page
 * fault, a zeroed page and, for a run, a system call: a purge is worth its
 * cost only if the page stays unused for a while.  The delay starts at
 * OBMALLOC_PURGE_DELAY (50 ms) and adapts to the program by counting its
 * regrets: pages that were purged and then taken by a new pool (arena
 * bitmap `purged_map`), and huge blocks evicted from their cache shortly
 * before a new mapping.  At the end of each window of one delay, over that
 * window and the one before (a purge and its regret often straddle two):
 *
 *   regret >= 1 MiB and regret >= purged / 4   ->  delay doubles (at most
 *                                                  32 times the base)
 *   purged >= 1 MiB and regret < purged / 16   ->  delay halves (at least
 *                                                  the base)
 *   otherwise                                  ->  it stays
 *
 * So a program whose phases are shorter than the delay (mimalloc-bench's
 * mstress: threads of 30 ms whose pages the next thread takes) stops paying
 * the kernel for memory it needs again, and one whose freed memory stays
 * unused gets back to the base delay after a few windows.  tcmalloc gets
 * the same effect by releasing at a bounded rate, jemalloc by a decay
 * curve; here it is a single number that the statistics show
 * (purge_delay_ms in struct ob_stats).  An idle program keeps what it
 * held until its next allocator call after the delay, or ob_collect(1).
 */
#include "internal.h"

#define REGRET_MIN_PAGES ((1u << 20) / OB_PAGE_SIZE)
#define DELAY_MAX_SHIFT 5 /* at most 32 times the base */

/* The delay is the base (OBMALLOC_PURGE_DELAY, which mallopt and the tests
 * may change at any time) shifted left by `shift`. */
static _Atomic unsigned shift;
static _Atomic uint64_t window_end_ms;
static _Atomic uint64_t purged_pages, regret_pages;      /* this window */
static _Atomic uint64_t purged_total, regret_total;      /* for the statistics */

uint64_t _ob_purge_delay_ms(void)
{
    return _ob_options.purge_delay_ms << ob_atomic_load_relaxed(&shift);
}

void _ob_purge_note_purged(size_t pages)
{
    ob_atomic_add_relaxed(&purged_pages, pages);
    ob_atomic_add_relaxed(&purged_total, pages);
}

void _ob_purge_note_regret(size_t pages)
{
    ob_atomic_add_relaxed(&regret_pages, pages);
    ob_atomic_add_relaxed(&regret_total, pages);
}

/* Called at purge ticks: closes the window if it is over (one thread does,
 * the one whose exchange of window_end_ms succeeds). */
void _ob_purge_adapt(uint64_t now_ms)
{
    uint64_t end = ob_atomic_load_relaxed(&window_end_ms);
    uint64_t delay = _ob_purge_delay_ms() ? _ob_purge_delay_ms() : 1;
    if (now_ms < end ||
        !ob_atomic_cas_strong_relaxed(&window_end_ms, &end, now_ms + delay))
        return;
    /* A purge and its regret often fall in neighbouring windows (pages
     * purged at the end of one, taken at the start of the next): judge the
     * last two windows together. */
    static _Atomic uint64_t purged_before, regret_before;
    uint64_t purged_now = ob_atomic_exchange_relaxed(&purged_pages, 0);
    uint64_t regret_now = ob_atomic_exchange_relaxed(&regret_pages, 0);
    uint64_t purged = purged_now + ob_atomic_exchange_relaxed(&purged_before, purged_now);
    uint64_t regret = regret_now + ob_atomic_exchange_relaxed(&regret_before, regret_now);
    if (end == 0)
        return; /* the first window starts now */
    unsigned k = ob_atomic_load_relaxed(&shift);
    if (regret >= REGRET_MIN_PAGES && regret * 4 >= purged) {
        if (k < DELAY_MAX_SHIFT)
            k++;
    } else if (purged >= REGRET_MIN_PAGES && regret * 16 < purged) {
        if (k > 0)
            k--;
    }
    ob_atomic_store_relaxed(&shift, k);
}

void _ob_purge_stats(uint64_t *delay, uint64_t *purged, uint64_t *regret)
{
    *delay = _ob_purge_delay_ms();
    *purged = ob_atomic_load_relaxed(&purged_total);
    *regret = ob_atomic_load_relaxed(&regret_total);
}
