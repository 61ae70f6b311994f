/*
 * The malloc and free fast paths, inline, for the ob_* API (alloc.c) and
 * the C library names of the drop-in (override.c) alike.
 *
 * malloc: size -> class -> the heap's current pool -> pop its free list.
 * free:   the heap's owned-arena cache -> page descriptor -> pool; if the
 *         pool is ACTIVE and the pointer a block it handed out, push it.
 * Everything else happens in out-of-line functions.
 */
#ifndef OB_ALLOC_H
#define OB_ALLOC_H

#include "pool.h"

/* The thread's slow path finds its own heap. */
OB_HIDDEN void *_ob_malloc_slow(size_t size);
OB_HIDDEN void _ob_free_sized_slow(void *p, size_t size);
OB_HIDDEN void *_ob_take_at_countdown(ob_heap_t *heap, ob_pool_t *pool, unsigned cls);

/* A block of `pool` for the slow paths (alloc.c): the countdown is the
 * statistics' malloc counter and the heap profiler's clock (prof.c). */
OB_INLINE void *pop_block(ob_heap_t *heap, ob_pool_t *pool, size_t cls)
{
    if (ob_count_malloc(heap, cls))
        return _ob_take_at_countdown(heap, pool, (unsigned)cls);
    return ob_pool_take_block(pool);
}

/* The same for malloc_in: when the countdown runs out, the malloc, already
 * counted, goes to `slow` with malloc_in's own arguments (a tail jump that
 * moves no register and keeps nothing alive, so the fast path needs no
 * stack frame), and the slow path's class malloc takes the sample, seeing
 * the countdown at 0 (_ob_class_malloc). */
#define pop_block_or(slow, heap, size, pool, cls, region)                                          \
    (ob_count_malloc(heap, cls) ? slow(heap, size)                                                 \
                                : (region) ? ob_pool_take_block_cleared(pool)                      \
                                           : ob_pool_take_block(pool))

/* malloc from `heap`: its current pool of the size's class, else `slow`
 * (a tail jump).  For the thread's heap (malloc_fast) and for a region's
 * (region.c); `slow` is a constant where it is inlined. */
OB_INLINE void *malloc_in(ob_heap_t *heap, size_t size, void *(*slow)(ob_heap_t *, size_t),
                          bool region)
{
    if (OB_LIKELY(size - 1 < OB_SMALL_MAX)) {
        /* (a constant where inlined: a region maps sizes by its kind) */
        size_t cls = region ? heap->small_class[(size - 1) >> 3] : ob_size_class_small(size);
        ob_pool_t *pool = heap->current[cls];
        if (OB_LIKELY(pool->free != NULL))
            return pop_block_or(slow, heap, size, pool, cls, region);
    } else if (OB_LIKELY(size - 1 < OB_MEDIUM_TABLE_MAX)) {
        size_t cls = _ob_medium_classes[(size - 1) >> 4];
        ob_pool_t *pool = heap->current[cls];
        if (OB_LIKELY(pool->free != NULL))
            return pop_block_or(slow, heap, size, pool, cls, region);
    } else if (size - 1 < OB_MAX_CLASS_SIZE) {
        size_t cls = ob_size_class_computed(size);
        ob_pool_t *pool = heap->current[cls];
        if (OB_LIKELY(pool->free != NULL))
            return pop_block_or(slow, heap, size, pool, cls, region);
    }
    return slow(heap, size);
}

/* malloc_in's `slow` for the thread's heap: the tail jump passes the size
 * where it came in, so the fast path moves no register for it. */
OB_INLINE void *thread_malloc_slow(ob_heap_t *heap, size_t size)
{
    (void)heap;
    return _ob_malloc_slow(size);
}

OB_INLINE void *malloc_fast(size_t size)
{
    return malloc_in(ob_heap_get(), size, thread_malloc_slow, false);
}

/* `mark`: false for a link-only kind's block (pool.h), whose free writes
 * the link alone; a constant where it is inlined. */
OB_INLINE void push_block(ob_heap_t *heap, ob_pool_t *pool, ob_block_t *b, bool mark)
{
    ob_stat_add(&heap->stats.frees[pool->size_class], 1);
    ob_block_set_next(b, pool->free);
    if (mark)
        ob_block_mark(b, pool);
    pool->free = b;
    /* An ACTIVE pool's last live block came back and it goes back to its
     * arena (the current pool, which stays, never counts down to 0: see
     * OB_USED_KEEP). */
    if (OB_UNLIKELY(--pool->used == 0))
        _ob_pool_emptied(heap, pool);
}

/* The fast free of p, in arena `a` of `heap` (which the caller knows the
 * thread may free into): true if done, false for the checked path.  One
 * product and one bound prove that the pool is ACTIVE and p a block it
 * handed out (internal.h); a block that carries the free mark is a
 * double free. */
OB_INLINE bool free_if_owned_by(ob_heap_t *heap, ob_arena_t *a, void *p)
{
    ob_pool_t *pool = ob_pool_of(a, p);
    ob_block_t *b = p;
    if (OB_LIKELY(OB_HARDENED ? ob_pool_is_free_target(pool, ob_offset_in_pool(pool, p)) &&
                                    !ob_block_is_marked(b, pool)
                              : pool->state == OB_POOL_ACTIVE)) {
        push_block(heap, pool, b, true);
        return true;
    }
    return false;
}

/* Frees p if it is in an arena the heap's cache says it owns. */
OB_INLINE bool free_if_owned(ob_heap_t *heap, void *p)
{
    if (OB_UNLIKELY(!ob_heap_owns(heap, p)))
        return false;
    /* Our own arena: no map lookup, no owner check. */
    ob_arena_t *a = ob_arena_of(p);
    if (!free_if_owned_by(heap, a, p))
        _ob_free_checked(heap, ob_pool_of(a, p), p);
    return true;
}

OB_INLINE void free_fast(void *p)
{
    ob_heap_t *heap = ob_heap_get();
    if (OB_LIKELY(free_if_owned(heap, p)))
        return;
    _ob_free_unowned(heap, p); /* also where a diverted free goes */
}

/* free_sized, C++'s sized delete: the pool says how big its blocks are,
 * and a size up to that is taken on the fast path (sizes between the
 * request and the usable size are allowed, and aligned blocks sit in
 * classes larger than their request), so a sized free costs what a plain
 * one does.  A larger size is certainly wrong: the slow path says so. */
OB_INLINE void free_sized_fast(void *p, size_t size)
{
    ob_heap_t *heap = ob_heap_get();
    if (OB_LIKELY(ob_heap_owns(heap, p))) {
        ob_arena_t *a = ob_arena_of(p);
        if (OB_LIKELY(size <= ob_pool_of(a, p)->block_size) && free_if_owned_by(heap, a, p))
            return;
    }
    _ob_free_sized_slow(p, size);
}

#endif /* OB_ALLOC_H */
