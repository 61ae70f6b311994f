/*
 * Runtime options, from OBMALLOC_* environment variables.  Read once at
 * start-up with getenv and a hand-written parser: nothing here allocates,
 * since it runs inside the first malloc of the process.
 *
 *   OBMALLOC_PURGE_DELAY=ms    free pages go back to the OS after this long
 *                              at least (default 50; 0 purges at every tick);
 *                              the delay adapts up to 32 times that (purge.c)
 *   OBMALLOC_ARENA_CACHE=n     empty arenas kept mapped as spares at least
 *                              (default 2; more while arenas are in demand)
 *   OBMALLOC_HUGE_CACHE=bytes  freed huge blocks kept for reuse (default 64M,
 *                              or a quarter of the live huge bytes if more;
 *                              suffixes k, m, g)
 *   OBMALLOC_DEBUG=1           debug mode: guards, fills, quarantine, reports
 *                              (debug.c)
 *   OBMALLOC_DEBUG_QUARANTINE=bytes  freed memory debug mode holds back from
 *                              reuse (default 32M; 0: none)
 *   OBMALLOC_VALGRIND=0        under valgrind, do not describe blocks to it
 *                              (they are by default, when obmalloc was built
 *                              with valgrind's headers)
 *   OBMALLOC_BLOCK_OFFSET=bytes  where blocks start in the pools of the
 *                              small classes: a multiple of 16 up to 1024
 *                              (rounded down; default 0, or what the
 *                              program prefers: ob_prefer_block_offset, and
 *                              48 for CPython on the drop-in); size_class.c
 *   OBMALLOC_HUGEPAGES=0|1|auto  arenas backed by transparent huge pages:
 *                              off, on, or (the default) once the
 *                              process has 64 MiB of arenas (hugepage.c)
 *   OBMALLOC_STATS, OBMALLOC_STATS_FILE, OBMALLOC_STATS_PID: see stats.c
 *   OBMALLOC_PROF, OBMALLOC_PROF_RATE, OBMALLOC_PROF_FILE,
 *   OBMALLOC_PROF_SIGNAL, OBMALLOC_PROF_SYMBOLS: the heap profiler, read
 *   by prof.c and prof_dump.c
 */
#include <stdlib.h>

#include "internal.h"

ob_options_t _ob_options = {
    /* 50 ms, not 10: a program whose heap swings every few tens of ms
     * (a Python loop building and dropping objects) faulted its pages back
     * in after each purge: 28.6k minor faults against 8.6k at 50 ms, for 1%
     * more peak RSS (bench/workloads/pyshapes.py classes). */
    .purge_delay_ms = 50,
    .arena_cache = 2,
    .huge_cache_bytes = (size_t)64 << 20,
    .quarantine_bytes = (size_t)32 << 20,
    .valgrind = 1,
    /* Huge pages once the process has 64 MiB of arenas: tlb-walk 30-40 %
     * faster, peak RSS within 1 % on every row of the suite (hugepage.c,
     * docs/BENCHMARKS.md). */
    .hugepages = OB_HUGEPAGES_AUTO,
};

/* 1 until start-up has run, then 1 only in debug mode or under valgrind
 * (internal.h): the mode the options and the environment decide, which
 * debug.c sets at start-up and every layer may read. */
int _ob_divert = 1;

/* Parses a decimal number with an optional k/m/g suffix; false if the text
 * is not one. */
static bool parse_size(const char *s, uint64_t *out)
{
    if (s == NULL || *s == 0)
        return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    unsigned shift = 0;
    switch (*s) {
    case 'k': case 'K': shift = 10; s++; break;
    case 'm': case 'M': shift = 20; s++; break;
    case 'g': case 'G': shift = 30; s++; break;
    default: break;
    }
    if (*s != 0 || (shift && v > (UINT64_MAX >> shift)))
        return false;
    *out = v << shift;
    return true;
}

void _ob_options_init(void)
{
    uint64_t v;
    if (parse_size(getenv("OBMALLOC_PURGE_DELAY"), &v))
        _ob_options.purge_delay_ms = v;
    if (parse_size(getenv("OBMALLOC_ARENA_CACHE"), &v))
        _ob_options.arena_cache = (size_t)v;
    if (parse_size(getenv("OBMALLOC_HUGE_CACHE"), &v))
        _ob_options.huge_cache_bytes = (size_t)v;
    if (parse_size(getenv("OBMALLOC_DEBUG"), &v))
        _ob_options.debug = v != 0;
    if (parse_size(getenv("OBMALLOC_DEBUG_QUARANTINE"), &v))
        _ob_options.quarantine_bytes = (size_t)v;
    if (parse_size(getenv("OBMALLOC_VALGRIND"), &v))
        _ob_options.valgrind = v != 0;
    const char *huge = getenv("OBMALLOC_HUGEPAGES");
    if (huge != NULL && huge[0] == 'a')
        _ob_options.hugepages = OB_HUGEPAGES_AUTO;
    else if (parse_size(huge, &v))
        _ob_options.hugepages = v != 0 ? OB_HUGEPAGES_ON : OB_HUGEPAGES_OFF;
    if (parse_size(getenv("OBMALLOC_BLOCK_OFFSET"), &v)) {
        _ob_options.block_offset = v > OB_MAX_BLOCK_OFFSET ? OB_MAX_BLOCK_OFFSET
                                                          : (size_t)v & ~(size_t)(OB_ALIGNMENT - 1);
        _ob_options.block_offset_set = true;
    }
}
