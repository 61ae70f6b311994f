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
 * Blocks freed by other threads come back through the pool's remote list:
 * see remote.c.
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
    pool->flags = zeroed ? OB_POOL_ZEROED : 0; /* before the state: free_bound reads it */
    ob_pool_set_state(pool, OB_POOL_ACTIVE);
    pool->size_class = (uint8_t)cls;
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
    for (char *b = first; b < last; b += bs) {
        ob_block_set_next((ob_block_t *)b, (ob_block_t *)(b + bs));
        ob_block_mark((ob_block_t *)b, pool);
    }
    ob_block_set_next((ob_block_t *)last, NULL);
    ob_block_mark((ob_block_t *)last, pool);
    pool->free = (ob_block_t *)first;
    pool->carved = (uint16_t)(pool->carved + n);
    ob_pool_set_free_bound(pool);
    return true;
}
