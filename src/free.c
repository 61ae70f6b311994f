/*
 * The free paths other than the fast one (which is in alloc.h):
 *  - NULL, huge blocks and pointers that are not ours (_ob_free_slow);
 *  - a free by the owner that changes the pool's state, checked first
 *    (_ob_free_checked);
 *  - a free by another thread: into the thread's outbox, from which it
 *    goes back to its pool's owner in batches (remote.c).
 */
#include <string.h>

#include "alloc.h"
#include "hooks.h"

static const char *describe_state(int state)
{
    switch (state) {
    case OB_POOL_FREE:
        return "the address is in obmalloc memory that holds no block "
               "(freed twice, or never allocated)";
    case OB_POOL_TAIL:
        return "the address is inside a block, not at its start";
    default:
        return "the address is not the start of a block";
    }
}

OB_COLD static void invalid_free(int state, const void *p)
{
    if (state >= OB_POOL_ACTIVE)
        state = -1;
    _ob_fatal("invalid free", p, describe_state(state));
}

/* Is b on the list from head (at most `limit` links)?  `one_pool`: every
 * block of the list is in b's pool, so a link out of b's arena is broken
 * (ob_heap_check will say where) and ends the walk; else each link must
 * at least be in an arena of ours. */
static bool on_list(const ob_block_t *head, const ob_block_t *b, size_t limit, bool one_pool)
{
    for (size_t n = 0; head != NULL && n <= limit; n++, head = ob_block_next(head)) {
        if (head == b)
            return true;
        if (one_pool ? ((uintptr_t)head ^ (uintptr_t)b) >> OB_ARENA_SHIFT
                     : !ob_map_is_arena(ob_map_lookup(head), head))
            return false;
    }
    return false;
}

/* b carries the free mark: say where it already is.  The lists the
 * calling thread may read are walked; a block on none of them is waiting
 * in another thread's outbox or reuse stack, on its way home. */
OB_COLD _Noreturn static void double_free(ob_heap_t *heap, ob_pool_t *pool,
                                          ob_block_t *b, bool owner)
{
    size_t limit = pool->capacity;
    if (owner && on_list(pool->free, b, limit, true))
        _ob_fatal("double free", b, "the block is already on its pool's free list");
    if (owner && on_list(ob_remote_list(ob_atomic_load_acquire(&pool->remote)),
                         b, limit, true))
        _ob_fatal("double free", b, "the block was already freed by another thread, "
                                    "and is on its way back to its pool");
    if (owner && on_list((const ob_block_t *)ob_atomic_load_acquire(&heap->delayed),
                         b, (size_t)1 << 24, false))
        _ob_fatal("double free", b, "the block was already freed by another thread, "
                                    "and is on its way back to its pool");
    if (heap->initialized && _ob_remote_holds(heap, b))
        _ob_fatal("double free", b, "the block was freed twice by this thread, "
                                    "and is waiting to go back to the thread that owns it");
    _ob_fatal("double free", b, "the block carries obmalloc's free mark: it was freed and not "
                                "allocated since (it waits in another thread's list, on its "
                                "way back to its pool)");
}

/* The owner's free of a region block (free_if_owned_by's test and push
 * on the region's heap), for a link-only kind: the same without the free
 * mark, and with the link telling a double free (pool.h). */
OB_INLINE bool free_region_block(ob_heap_t *region, ob_arena_t *a, void *p)
{
    if (OB_LIKELY(!ob_atomic_load_relaxed(&_ob_kind_link_only[region->kind])))
        return free_if_owned_by(region, a, p);
    ob_pool_t *pool = ob_pool_of(a, p);
    ob_block_t *b = p;
    if (!OB_HARDENED || !ob_pool_is_free_target(pool, ob_offset_in_pool(pool, p)) ||
        ob_block_looks_free(b, pool))
        return false; /* the checked path says what is wrong, if anything */
    push_block(region, pool, b, false);
    return true;
}

/* p lies in an arena of ours, in `pool`'s pages. */
void _ob_free_checked(ob_heap_t *heap, ob_pool_t *pool, void *p)
{
    ob_arena_t *a = ob_arena_of(p);
    int state = ob_pool_state(pool);
    ob_heap_t *home = ob_atomic_load_relaxed(&a->heap);
    bool owner = home == heap;
    /* A region's block (region.c): its owner frees it into the region's
     * heap; any other thread pushes it straight onto its pool's remote
     * list, keeping nothing back (the region may be destroyed next). */
    bool region = !owner && home != NULL && home->region != NULL;
    if (OB_UNLIKELY(region) && home->region_owner == heap) {
        heap = home;
        owner = true;
        region = false;
    }
    if (OB_UNLIKELY(state < OB_POOL_ACTIVE ||
                    !ob_pool_is_block_offset(pool, ob_offset_in_pool(pool, p),
                                             owner ? ob_pool_carved(pool)
                                                   : ob_pool_capacity_end(pool))))
        invalid_free(state, p);
    ob_block_t *b = p;
    bool aligned = state == OB_POOL_DEDICATED;
    if (OB_UNLIKELY(ob_block_looks_free(b, pool)))
        double_free(heap, pool, b, owner);
    /* Out of the heap profiler's live set before the block can be reused. */
    ob_hook_block_freed(pool, b);
    /* A link-only kind's frees write the link alone (pool.h); a region
     * block's free always comes here, never to the fast path. */
    if (OB_LIKELY(!ob_pool_link_only(pool)))
        ob_block_mark(b, pool);
    if (owner) {
        if (OB_UNLIKELY(pool->flags & OB_POOL_SAMPLED))
            ob_hook_sampled_pool_freed(pool);
        if (aligned)
            ob_stat_add(&heap->stats.aligned_frees, 1);
        else
            ob_stat_add(&heap->stats.frees[pool->size_class], 1);
        _ob_free_block_local(heap, pool, b);
        return;
    }
    /* Another thread's block: into this thread's outbox (remote.c).  A
     * thread that frees other threads' blocks has a heap of its own for
     * that (consumers in a producer/consumer program may never allocate):
     * counting in the shared heapless totals took three atomic operations
     * on contended lines per free. */
    unsigned cls = pool->size_class; /* read before the block is gone */
    if (OB_UNLIKELY(!heap->initialized) && (heap = _ob_heap_init_thread()) == NULL) {
        _ob_remote_push(a, pool, b);
        ob_hook_heapless_free(cls, aligned);
        return;
    }
    if (aligned)
        ob_stat_add(&heap->stats.aligned_frees, 1);
    else
        ob_stat_add(&heap->stats.frees[cls], 1);
    ob_stat_add(&heap->stats.cross_thread_frees, 1);
    if (aligned || region)
        _ob_remote_push(a, pool, b); /* alone in its pool, or a region's */
    else if (_ob_remote_free(heap, pool, b))
        _ob_heap_tick_if_due(heap);
}

/* Not in an arena the calling thread's cache says it owns: another
 * thread's arena, one of ours the cache does not hold, a huge block, NULL,
 * or a pointer obmalloc never returned.  The arena map decides. */
OB_INLINE void free_unowned_in(ob_heap_t *heap, void *p)
{
    uintptr_t entry = ob_map_lookup(p);
    if (OB_UNLIKELY(!ob_map_is_arena(entry, p))) {
        _ob_free_slow(p, entry);
        return;
    }
    ob_arena_t *a = ob_arena_of(p);
    ob_heap_t *home = ob_atomic_load_relaxed(&a->heap);
    if (home == heap) {
        *ob_owned_slot(heap, ob_arena_base(a)) = ob_arena_base(a); /* won the slot back */
    } else if (home != NULL && home->region_owner == heap) {
        /* A block of one of this thread's regions: the fast path's test
         * and push, on the region's heap (region.c); the arena is tagged
         * in the cache, so that its next frees skip the map (not in debug
         * mode, whose frees must go to the debug layer first). */
        if (_ob_divert == 0) /* started, and not diverted */
            *ob_owned_slot(heap, ob_arena_base(a)) = ob_arena_base(a) | OB_OWNED_REGION;
        if (free_region_block(home, a, p))
            return;
    }
    _ob_free_checked(heap, ob_pool_of(a, p), p);
}

static __attribute__((noinline)) void free_unowned(ob_heap_t *heap, void *p)
{
    if (ob_diverted()) {
        ob_diverted_free(p);
        return;
    }
    free_unowned_in(heap, p);
}

/* A block in an arena of one of the thread's regions, by the cache's tag. */
static __attribute__((noinline)) void free_in_own_region(ob_heap_t *heap, void *p)
{
    ob_arena_t *a = ob_arena_of(p);
    ob_heap_t *region = ob_atomic_load_relaxed(&a->heap);
    if (!free_region_block(region, a, p))
        _ob_free_checked(heap, ob_pool_of(a, p), p);
}

void _ob_free_unowned(ob_heap_t *heap, void *p)
{
    /* An arena of one of this thread's regions, by the tag free_unowned_in
     * set (never in debug mode); while the tag stands the arena is the
     * region's (arena.c).  Threads without regions pay one test; the rest
     * are tail calls, so that this path needs no stack frame (with one,
     * a region's free took 31 instructions here, now 10). */
    if (OB_UNLIKELY(heap->regions != NULL)) {
        uintptr_t base = (uintptr_t)p & ~(uintptr_t)OB_ARENA_MASK;
        if (*ob_owned_slot(heap, base) == (base | OB_OWNED_REGION)) {
            free_in_own_region(heap, p);
            return;
        }
    }
    free_unowned(heap, p);
}

/* The normal free, for the debug layer: with the thread's own heap. */
void _ob_free_inner(void *p)
{
    ob_heap_t *heap = ob_heap_own();
    if (!free_if_owned(heap, p))
        free_unowned_in(heap, p);
}

/* NULL, a huge block, or not ours. */
void _ob_free_slow(void *p, uintptr_t entry)
{
    if (p == NULL)
        return;
    size_t extent;
    if (entry == 0 && ob_foreign_preexisting(p, &extent))
        return; /* the loader's memory, from before obmalloc: never ours */
    if (entry == 0 || (entry & OB_MAP_ARENA))
        _ob_fatal("invalid free", p, "the pointer was not allocated by obmalloc "
                                     "(or its huge block was already freed)");
    _ob_huge_free((ob_huge_t *)entry, p);
}

size_t _ob_usable_size_slow(const void *p, uintptr_t entry)
{
    if (p == NULL)
        return 0;
    size_t extent;
    if (entry == 0 && ob_foreign_preexisting(p, &extent))
        return 0;
    if (entry == 0 || (entry & OB_MAP_ARENA))
        _ob_fatal("invalid pointer", p, "ob_usable_size of a pointer obmalloc did not allocate");
    const ob_huge_t *h = (const ob_huge_t *)entry;
    if (!h->live || (const char *)p != h->addr)
        _ob_fatal("invalid pointer", p, "ob_usable_size of a freed or interior huge pointer");
    return h->size;
}
