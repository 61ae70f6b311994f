/*
 * The free paths other than the fast one (which is in alloc.c):
 *  - NULL, huge blocks and pointers that are not ours (_ob_free_slow);
 *  - a free by the owner that changes the pool's state, checked first
 *    (_ob_free_checked);
 *  - a free by another thread (_ob_free_remote): a lock-free push onto the
 *    pool's remote list, or, if the owner asked to be notified because
 *    the pool was full, onto the owner heap's delayed list.
 */
#include <string.h>

#include "alloc.h"

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

/* p lies in an arena of ours, in `pool`'s pages. */
void _ob_free_checked(ob_heap_t *heap, ob_pool_t *pool, void *p)
{
    ob_arena_t *a = ob_arena_of(p);
    int state = ob_pool_state(pool);
    bool owner = atomic_load_explicit(&a->heap, memory_order_relaxed) == heap;
    if (OB_UNLIKELY(state < OB_POOL_ACTIVE ||
                    !ob_pool_is_block_offset(pool, ob_offset_in_pool(pool, p),
                                             owner ? ob_pool_carved(pool)
                                                   : ob_pool_capacity_end(pool))))
        invalid_free(state, p);
    ob_block_t *b = p;
    bool aligned = state == OB_POOL_DEDICATED;
    if (owner) {
        if (OB_UNLIKELY(b == pool->free))
            _ob_fatal("double free", p, "the block is already at the head of its pool's free list");
        if (aligned)
            ob_stat_add(&heap->stats.aligned_frees, 1);
        else
            ob_stat_add(&heap->stats.frees[pool->size_class], 1);
        _ob_free_block_local(heap, pool, b);
        return;
    }
    unsigned cls = pool->size_class; /* read before the block is gone */
    _ob_free_remote(a, pool, b);
    /* A thread that frees other threads' blocks counts them in a heap of
     * its own (consumers in a producer/consumer program may never
     * allocate): counting in the shared heapless totals would take three
     * atomic operations on contended lines per free. */
    if (OB_UNLIKELY(!heap->initialized) && (heap = _ob_heap_init_thread()) == NULL) {
        _ob_stats_heapless_free(cls, aligned);
        return;
    }
    if (aligned)
        ob_stat_add(&heap->stats.aligned_frees, 1);
    else
        ob_stat_add(&heap->stats.frees[cls], 1);
    ob_stat_add(&heap->stats.cross_thread_frees, 1);
}

void _ob_free_remote(ob_arena_t *a, ob_pool_t *pool, ob_block_t *b)
{
    uintptr_t old = atomic_load_explicit(&pool->remote, memory_order_relaxed);
    for (;;) {
        if ((old & OB_REMOTE_STATE) == OB_REMOTE_NOTIFY) {
            /* The pool is full and its owner waits for news: hand the block
             * to the owner heap directly.  While NOTIFYING is set the owner
             * cannot let go of the pool, so a->heap stays valid. */
            if (!atomic_compare_exchange_weak_explicit(
                    &pool->remote, &old,
                    (old & ~(uintptr_t)OB_REMOTE_STATE) | OB_REMOTE_NOTIFYING,
                    memory_order_acquire, memory_order_relaxed))
                continue;
            ob_heap_t *owner = atomic_load_explicit(&a->heap, memory_order_acquire);
            uintptr_t head = atomic_load_explicit(&owner->delayed, memory_order_relaxed);
            do {
                ob_block_set_next(b, (ob_block_t *)head);
            } while (!atomic_compare_exchange_weak_explicit(
                &owner->delayed, &head, (uintptr_t)b, memory_order_release,
                memory_order_relaxed));
            old = atomic_load_explicit(&pool->remote, memory_order_relaxed);
            while (!atomic_compare_exchange_weak_explicit(
                &pool->remote, &old, old & ~(uintptr_t)OB_REMOTE_STATE,
                memory_order_release, memory_order_relaxed)) {
            }
            return;
        }
        ob_block_set_next(b, (ob_block_t *)(old & ~(uintptr_t)OB_REMOTE_STATE));
        if (atomic_compare_exchange_weak_explicit(
                &pool->remote, &old, (uintptr_t)b | (old & OB_REMOTE_STATE),
                memory_order_release, memory_order_relaxed))
            return;
    }
}

/* Not in an arena the calling thread's cache says it owns: another
 * thread's arena, one of ours the cache does not hold, a huge block, NULL,
 * or a pointer obmalloc never returned.  The arena map decides. */
static void free_unowned_in(ob_heap_t *heap, void *p)
{
    uintptr_t entry = ob_map_lookup(p);
    if (OB_UNLIKELY(!ob_map_is_arena(entry, p))) {
        _ob_free_slow(p, entry);
        return;
    }
    ob_arena_t *a = ob_arena_of(p);
    if (atomic_load_explicit(&a->heap, memory_order_relaxed) == heap)
        *ob_owned_slot(heap, ob_arena_base(a)) = ob_arena_base(a); /* won the slot back */
    _ob_free_checked(heap, ob_pool_of(a, p), p);
}

void _ob_free_unowned(ob_heap_t *heap, void *p)
{
    if (ob_diverted()) {
        _ob_debug_free(p);
        return;
    }
    free_unowned_in(heap, p);
}

/* The normal free, for the debug layer: with the thread's own heap. */
void _ob_free_inner(void *p)
{
    ob_heap_t *heap = ob_heap_own();
    if (!free_if_owned(heap, p))
        free_unowned_in(heap, p);
}

void *_ob_corrupt_free_list(const void *b)
{
    _ob_fatal("corrupted free list", b,
              "a free block's link was overwritten (a write after free?): "
              "it points outside its pool's arena");
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
