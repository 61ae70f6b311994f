/*
 * What the allocator tells its instruments, in one place.
 *
 * The core files (pools, heaps, the cross-thread path, huge blocks, the
 * paths, regions) name no instrument: they call these hooks, each named by
 * the event, and the hook decides which instrument hears of it:
 *
 *   the heap profiler (prof.c)    samples, the live set, heaps that go
 *   the statistics (stats.c)      what a heap's counters cannot say alone
 *   debug mode (debug_entry.c)    the diverted entry points (OBMALLOC_DEBUG
 *                                 or valgrind: internal.h's ob_diverted)
 *   valgrind annotations (debug.c)  memory handed out again
 *
 * Each hook is a test of the instrument's switch where it has one (the
 * profiler's and valgrind's are set at start-up) and a call out of line;
 * all of them sit on slow paths (the fast paths' only instrument is the
 * counters, internal.h's ob_stat_add, which OB_STATS_COUNTERS=0 compiles
 * out).  The instruments live above the core and call down into it; these
 * hooks are the one way up, so that tools/layers.py finds no other.
 */
#ifndef OB_HOOKS_H
#define OB_HOOKS_H

#include "internal.h"

/* ---- the heap profiler (prof.c) ---------------------------------------- */

/* A heap was set up: its malloc countdowns start, which are the
 * statistics' malloc counters too, so this runs with the profiler off. */
OB_INLINE void ob_hook_heap_setup(ob_heap_t *heap) { _ob_prof_arm_heap(heap); }

/* A class's countdown reached 0 (ob_count_malloc): the profiler draws the
 * next one.  *_sampled below then says whether this block is a sample. */
OB_INLINE void ob_hook_countdown_out(ob_heap_t *heap, unsigned cls)
{
    _ob_prof_rearm(heap, cls);
}

/* Block b of `pool` is handed out after its countdown ran out.  A thread
 * that takes a sample also writes a dump a signal asked for (prof_dump.c:
 * the handler itself cannot). */
OB_INLINE void ob_hook_block_sampled(ob_pool_t *pool, void *b)
{
    if (OB_UNLIKELY(_ob_prof_on)) {
        _ob_prof_sample_block(pool, b);
        _ob_prof_dump_if_requested();
    }
}

/* `size` bytes are handed out by a path the countdowns do not see
 * (dedicated pools, huge blocks): true if the profiler's byte countdown
 * makes them a sample, which the caller then records (so that it looks up
 * what the record needs only for a sample). */
OB_INLINE bool ob_hook_bytes_due(size_t size)
{
    return OB_UNLIKELY(_ob_prof_on) && _ob_prof_bytes_due(size);
}

/* The sample ob_hook_bytes_due asked for: p, in `pool` (NULL for a huge
 * block). */
OB_INLINE void ob_hook_bytes_sampled(void *p, size_t size, ob_pool_t *pool)
{
    _ob_prof_record(p, size, pool);
    _ob_prof_dump_if_requested();
}

/* Block b of `pool` is freed: out of the live set before it can be
 * reused, if the pool may hold a sample. */
OB_INLINE void ob_hook_block_freed(ob_pool_t *pool, void *b)
{
    if (OB_UNLIKELY(_ob_prof_on) && ob_prof_pool_may_hold(pool))
        _ob_prof_freed(b);
}

/* The owner freed a block of a pool that held a sample (OB_POOL_SAMPLED):
 * the profiler says whether it still does. */
OB_INLINE void ob_hook_sampled_pool_freed(ob_pool_t *pool) { _ob_prof_pool_settle(pool); }

/* A sampled huge block was freed, or moved by realloc. */
OB_INLINE void ob_hook_sample_freed(const void *p) { _ob_prof_freed(p); }
OB_INLINE void ob_hook_sample_moved(const void *from, void *to, size_t bytes)
{
    _ob_prof_moved(from, to, bytes);
}

/* A heap's blocks are dropped all at once (a region destroyed). */
OB_INLINE void ob_hook_heap_dropped(const ob_heap_t *heap)
{
    if (OB_UNLIKELY(_ob_prof_on))
        _ob_prof_heap_dropped(heap);
}

/* ---- the statistics (stats.c) ----------------------------------------- */

/* A class's counters are folded into the heap's totals, which samples the
 * peak of live bytes. */
OB_INLINE void ob_hook_class_counted(ob_heap_t *heap, unsigned cls)
{
    _ob_stats_flush_class(heap, cls);
}

/* A heap leaves the registry: its counters join the retired totals. */
OB_INLINE void ob_hook_heap_retired(ob_heap_t *heap)
{
    _ob_stats_heap_exit(heap);
}

/* A free by a thread that has no heap (and could not get one). */
OB_INLINE void ob_hook_heapless_free(unsigned cls, bool aligned)
{
    _ob_stats_heapless_free(cls, aligned);
}

/* A region's blocks were dropped at once: frees the counters never saw. */
OB_INLINE void ob_hook_region_dropped(const uint64_t *blocks, uint64_t aligned)
{
    _ob_stats_region_dropped(blocks, aligned);
}

/* ---- debug mode: the diverted calls (debug.c) -------------------------
 * When ob_diverted() (internal.h) says so, an entry point hands the whole
 * call to the debug layer, which allocates its bigger blocks through the
 * normal allocator (the _inner functions) and wraps them in guards. */

OB_INLINE void *ob_diverted_malloc(size_t size, size_t align, bool zero)
{
    return _ob_debug_malloc(size, align, zero);
}
OB_INLINE void *ob_diverted_calloc(size_t n, size_t size) { return _ob_debug_calloc(n, size); }
OB_INLINE void *ob_diverted_realloc(void *p, size_t size) { return _ob_debug_realloc(p, size); }
OB_INLINE void ob_diverted_free(void *p) { _ob_debug_free(p); }
OB_INLINE void ob_diverted_free_sized(void *p, size_t size) { _ob_debug_free_sized(p, size); }
OB_INLINE size_t ob_diverted_usable_size(const void *p) { return _ob_debug_usable_size(p); }

/* A region's block in debug mode: inner_alloc(ctx, align, total) gives
 * the inner block the debug layer builds the user's block in. */
OB_INLINE void *ob_diverted_malloc_from(void *(*inner_alloc)(void *ctx, size_t align,
                                                             size_t total),
                                        void *ctx, size_t size, size_t align, bool zero)
{
    return _ob_debug_malloc_from(inner_alloc, ctx, size, align, zero);
}

/* Is the inner block a live debug block, and which user block is it? */
OB_INLINE bool ob_diverted_live_in(const void *inner, size_t inner_size, void **user,
                                   size_t *size)
{
    return _ob_debug_live_in(inner, inner_size, user, size);
}

/* A live debug block is dropped with its region: its guards are checked. */
OB_INLINE void ob_hook_debug_block_dropped(const void *user) { _ob_debug_check_dropped(user); }

/* Memory is about to go away or be collected: debug mode's quarantine
 * lets go of what it holds back (a no-op when it holds nothing). */
OB_INLINE void ob_hook_quarantine_flush(void)
{
    if (_ob_debug_on)
        _ob_debug_flush_quarantine();
}

/* ---- valgrind (debug.c) ----------------------------------------------- */

/* [p, p + n) is about to be written as free blocks again: memcheck may
 * have seen it freed before. */
OB_INLINE void ob_hook_memory_reused(void *p, size_t n)
{
    if (OB_UNLIKELY(_ob_valgrind_on))
        _ob_debug_vg_reuse(p, n);
}

#endif /* OB_HOOKS_H */
