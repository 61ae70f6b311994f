/*
 * Pools: one size class in a run of pages.
 *
 * Pool states (only the owner heap changes them):
 *
 *      alloc_span                  free list and uncarved space run out,
 *   FREE --------> ACTIVE -------------------------------------> FULL
 *    ^              |  ^   (remote list empty: set NOTIFY)         |
 *    |   used == 0  |  |                                          |
 *    +--------------+  +------------------------------------------+
 *    (released unless   a local free, or a block handed over by the
 *     it is current)    first remote freer (through heap->delayed)
 *
 * Blocks are carved lazily, as pymalloc does, but in batches of about one
 * OS page: memory a pool never reaches is never touched.
 *
 * The remote list is a lock-free stack of blocks freed by other threads,
 * with the notification state in its low bits (see internal.h).  The
 * owner takes the whole stack at once when its free list runs dry.
 */
#include "internal.h"

#define OB_CARVE_BYTES 4096 /* carve about one OS page at a time */

void _ob_pool_init(ob_pool_t *pool, unsigned cls, bool zeroed)
{
    if (OB_UNLIKELY(!atomic_load_explicit(&_ob_classes_fixed, memory_order_relaxed)))
        atomic_store_explicit(&_ob_classes_fixed, 1, memory_order_relaxed);
    const ob_class_info_t *info = &_ob_classes[cls];
    pool->free = NULL;
    pool->used = 0;
    pool->block_size = info->block_size;
    ob_pool_set_first(pool, info->block_offset);
    pool->capacity = info->capacity;
    pool->carved = 0;
    pool->divisor = ob_divisor_for(info->block_size);
    ob_pool_set_state(pool, OB_POOL_ACTIVE);
    pool->size_class = (uint8_t)cls;
    pool->flags = zeroed ? OB_POOL_ZEROED : 0;
    pool->next = pool->prev = NULL;
    atomic_store_explicit(&pool->remote, 0, memory_order_relaxed);
}

/* Carves the next batch of blocks onto the (empty) free list. */
bool _ob_pool_extend(ob_pool_t *pool)
{
    ob_assert(pool->free == NULL && ob_pool_state(pool) == OB_POOL_ACTIVE);
    uint32_t left = pool->capacity - pool->carved;
    if (left == 0)
        return false;
    uint32_t bs = pool->block_size;
    uint32_t n = OB_CARVE_BYTES / bs;
    if (n == 0)
        n = 1;
    if (n > left)
        n = left;
    uint32_t bytes = n * bs;
    char *first = ob_pool_blocks(pool) + ob_pool_carved(pool);
    char *last = first + bytes - bs;
    if (OB_UNLIKELY(_ob_valgrind_on))
        _ob_debug_vg_reuse(first, bytes); /* may be an old block memcheck saw freed */
    for (char *b = first; b < last; b += bs)
        ob_block_set_next((ob_block_t *)b, (ob_block_t *)(b + bs));
    ob_block_set_next((ob_block_t *)last, NULL);
    pool->free = (ob_block_t *)first;
    pool->carved = (uint16_t)(pool->carved + n);
    ob_pool_set_free_bound(pool);
    return true;
}

/* Takes the blocks other threads freed into this pool onto its free list.
 * Returns how many. */
uint32_t _ob_pool_collect_remote(ob_pool_t *pool)
{
    uintptr_t old = atomic_load_explicit(&pool->remote, memory_order_relaxed);
    if ((old & ~(uintptr_t)OB_REMOTE_STATE) == 0)
        return 0;
    while (!atomic_compare_exchange_weak_explicit(
        &pool->remote, &old, old & OB_REMOTE_STATE, memory_order_acquire,
        memory_order_relaxed)) {
    }
    ob_block_t *head = (ob_block_t *)(old & ~(uintptr_t)OB_REMOTE_STATE);
    ob_block_t *tail = head;
    uint32_t carved = ob_pool_carved(pool);
    uint32_t n = 1;
    for (ob_block_t *next; (next = ob_block_next(tail)) != NULL; tail = next) {
        /* A cycle or a foreign link means a block was freed twice or
         * written after free: stop before walking off into the weeds. */
        if (OB_UNLIKELY(n >= ob_pool_used(pool) ||
                        (((uintptr_t)next ^ (uintptr_t)head) >> OB_ARENA_SHIFT) != 0 ||
                        !ob_pool_is_block_offset(pool, ob_offset_in_pool(pool, next), carved)))
            _ob_fatal("corrupted remote free list (double free or write after free?)",
                      tail, "a block freed by another thread links outside its pool");
        n++;
    }
    ob_block_set_next(tail, pool->free);
    pool->free = head;
    pool->used = (uint16_t)(pool->used - n);
    pool->flags &= (uint8_t)~OB_POOL_ZEROED; /* these blocks were used */
    return n;
}

/* The pool has nothing left to hand out: ask remote freers to notify us.
 * Fails (returns false) if remote blocks arrived meanwhile. */
bool _ob_pool_try_mark_full(ob_pool_t *pool)
{
    unsigned spins = 0;
    uintptr_t old = atomic_load_explicit(&pool->remote, memory_order_relaxed);
    for (;;) {
        if (old & ~(uintptr_t)OB_REMOTE_STATE)
            return false;
        uintptr_t state = old & OB_REMOTE_STATE;
        if (state == OB_REMOTE_NOTIFY)
            return true;
        if (state == OB_REMOTE_NOTIFYING) {
            /* A notification for an earlier full spell is still landing;
             * it finishes in a few instructions. */
            ob_spin_wait(&spins);
            old = atomic_load_explicit(&pool->remote, memory_order_relaxed);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&pool->remote, &old,
                                                  OB_REMOTE_NOTIFY,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed))
            return true;
    }
}

/* Before a heap lets go of a pool: no remote freer may be on its way to
 * the heap's delayed list once this returns. */
void _ob_pool_stop_notify(ob_pool_t *pool)
{
    unsigned spins = 0;
    uintptr_t old = atomic_load_explicit(&pool->remote, memory_order_acquire);
    for (;;) {
        uintptr_t state = old & OB_REMOTE_STATE;
        if (state == OB_REMOTE_NONE)
            return;
        if (state == OB_REMOTE_NOTIFYING) {
            ob_spin_wait(&spins);
            old = atomic_load_explicit(&pool->remote, memory_order_acquire);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(
                &pool->remote, &old, old & ~(uintptr_t)OB_REMOTE_STATE,
                memory_order_acq_rel, memory_order_acquire))
            return;
    }
}
