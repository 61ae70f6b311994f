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
 *
 * Held pools.  In a region kind with a reuse goal (a runtime whose
 * lock-free readers may still read a block another thread just freed:
 * CPython's free-threaded build, under QSBR), a pool that empties keeps
 * its pages and its class until the runtime says the readers have moved
 * on: another class must not reuse them before, while its own class may
 * (a reader that finds a new object of the same size where the old one
 * was sees an object all the same; CPython's mimalloc pages do that).  So
 * a held pool stays on its list, behind the others, and is put on its
 * heap's held ring with goal() as it is now; _ob_pool_poll_held gives
 * back, in order, the pools whose goal is reached and that are not
 * serving.  A pool serves blocks only as its list's head: a held pool
 * that stops being the head may have served, so it leaves the ring then
 * (ob_pool_leaves_head bumps its held_seq, which makes its ring entries
 * stale) and is held again, with a later goal, once it is empty and not
 * the head (the tick's walk).  A pool alone on its list, and an
 * over-aligned one, wait FULL and on no list instead.  An arena abandoned
 * with empty pools of such a kind keeps them (nobody can ask the runtime
 * from there); the heap that adopts the arena holds them with its goal.
 *     held pool:  flags & OB_POOL_HELD; on its list (ACTIVE) or on no list
 *                 (FULL); its latest ring entry's seq == held_seq, every
 *                 earlier one stale; used == 0 unless it is the head
 */
#include "hooks.h"
#include "pool.h"

#define OB_CARVE_BYTES 4096 /* carve about one OS page at a time */

ob_pool_t _ob_empty_pool = {.state = OB_POOL_FREE};

/* The free-list links' secret (pool.h), set once at start-up (init.c). */
uintptr_t _ob_secret;

void _ob_pool_init(ob_pool_t *pool, unsigned cls, bool zeroed)
{
    if (OB_UNLIKELY(!ob_atomic_load_relaxed(&_ob_classes_fixed)))
        ob_atomic_store_relaxed(&_ob_classes_fixed, 1);
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
    ob_atomic_store_relaxed(&pool->remote, 0);
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
    ob_hook_memory_reused(first, bytes); /* may be an old block memcheck saw freed */
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

/* A pool of one block alone in npages pages (for alignments beyond a
 * page): handed out at once, so FULL in all but name; DEDICATED tells the
 * free paths to give the pages back with the block. */
void _ob_pool_init_dedicated(ob_pool_t *pool, size_t npages, bool zeroed)
{
    pool->free = NULL;
    pool->used = 1;
    pool->block_size = (uint32_t)(npages * OB_PAGE_SIZE);
    ob_pool_set_first(pool, 0);
    pool->capacity = 1;
    pool->carved = 1;
    pool->divisor = ob_divisor_for(pool->block_size);
    ob_pool_set_state(pool, OB_POOL_DEDICATED);
    pool->size_class = 0;
    pool->flags = zeroed ? OB_POOL_ZEROED : 0;
    pool->next = pool->prev = NULL;
    ob_atomic_store_relaxed(&pool->remote, OB_REMOTE_NOTIFY);
    if (!zeroed) { /* a block freed here before may have left its mark */
        ob_hook_memory_reused(ob_pool_blocks(pool), sizeof(ob_block_t));
        ob_block_unmark((ob_block_t *)ob_pool_blocks(pool));
    }
}

/* ---- held pools ---------------------------------------------------------- */

ob_kind_reuse_t _ob_kind_reuse[OB_KINDS];
_Atomic uint8_t _ob_kind_link_only[OB_KINDS];

/* On the ring (above).  Without memory for the ring's growth the pool
 * stays where it is, empty and not held, and serves its class again: its
 * pages wait for the region's end rather than go to another class early. */
static void hold(ob_heap_t *heap, ob_pool_t *pool)
{
    if (heap->held_count == heap->held_cap) {
        uint32_t cap = heap->held_cap ? heap->held_cap * 2 : 64;
        ob_held_t *ring = _ob_meta_alloc(cap * sizeof(ob_held_t));
        if (ring == NULL) {
            ob_pool_unhold(pool);
            if (ob_pool_state(pool) != OB_POOL_ACTIVE && pool->capacity > 1) {
                ob_pool_set_state(pool, OB_POOL_ACTIVE);
                ob_pools_push_back(heap, pool);
            }
            return;
        }
        for (uint32_t i = 0; i < heap->held_count; i++)
            ring[i] = heap->held[(heap->held_first + i) % heap->held_cap];
        if (heap->held != NULL)
            _ob_meta_free(heap->held, heap->held_cap * sizeof(ob_held_t));
        heap->held = ring;
        heap->held_cap = cap;
        heap->held_first = 0;
    }
    const ob_kind_reuse_t *r = &_ob_kind_reuse[heap->kind];
    ob_pool_list_t *list = &heap->pools[pool->size_class];
    if (ob_pool_state(pool) == OB_POOL_ACTIVE) {
        if (list->head == pool && pool->next != NULL) {
            ob_pools_rotate(heap, pool); /* behind the others: not serving */
        } else if (list->head == pool) {
            ob_pools_remove(heap, pool); /* alone: it would serve at once */
            ob_pool_set_state(pool, OB_POOL_FULL);
        }
    } else if (ob_pool_state(pool) == OB_POOL_FULL && pool->capacity > 1 && list->head != NULL) {
        ob_pool_set_state(pool, OB_POOL_ACTIVE); /* adopted, or a full one emptied */
        ob_pools_push_back(heap, pool);
    } else {
        ob_pool_set_state(pool, OB_POOL_FULL); /* over-aligned, single-block, or alone */
    }
    pool->flags |= OB_POOL_HELD; /* after the list's changes: a new head leaves the ring */
    pool->held_seq++;
    heap->held[(heap->held_first + heap->held_count++) % heap->held_cap] =
        (ob_held_t){pool, r->goal(r->arg), pool->held_seq};
}

/* The held pools whose goal is reached go back to their arenas, oldest
 * first; the first one not yet reached stops the walk (goals grow).
 * Stale entries (their pool was held again later, or served since) go
 * as they come: every entry of a pool precedes its latest, so none is
 * left when the pool's pages go. */
void _ob_pool_poll_held(ob_heap_t *heap)
{
    const ob_kind_reuse_t *r = &_ob_kind_reuse[heap->kind];
    while (heap->held_count > 0) {
        ob_held_t *h = &heap->held[heap->held_first];
        ob_pool_t *pool = h->pool;
        bool latest = (pool->flags & OB_POOL_HELD) && pool->held_seq == h->seq;
        if (latest && !r->reached(h->goal, r->arg))
            return;
        heap->held_first = (heap->held_first + 1) % heap->held_cap;
        heap->held_count--;
        if (!latest)
            continue;
        ob_pool_unhold(pool);
        bool head = ob_pool_state(pool) == OB_POOL_ACTIVE &&
                    heap->pools[pool->size_class].head == pool;
        if (head || ob_pool_used(pool) != 0)
            continue; /* serving: held again when it is empty and not the head */
        if (ob_pool_state(pool) == OB_POOL_ACTIVE)
            ob_pools_remove(heap, pool);
        _ob_arena_free_span(heap, pool);
    }
}

/* The heap goes (its region is released or destroyed): its ring goes; the
 * pools on it stay held where they are, FULL and empty, until an adopter
 * holds them again (or a destroy discards them). */
void _ob_pool_drop_held(ob_heap_t *heap)
{
    if (heap->held != NULL)
        _ob_meta_free(heap->held, heap->held_cap * sizeof(ob_held_t));
    heap->held = NULL;
    heap->held_first = heap->held_count = heap->held_cap = 0;
}

/* ---- frees that change a pool's state -------------------------------- */

/* An empty pool leaves its heap: back to its arena, or held (above). */
void _ob_pool_release(ob_heap_t *heap, ob_pool_t *pool)
{
    if (OB_UNLIKELY(heap->kind != 0) && ob_kind_delays_reuse(heap->kind)) {
        hold(heap, pool);
        return;
    }
    if (ob_pool_state(pool) == OB_POOL_ACTIVE)
        ob_pools_remove(heap, pool);
    _ob_arena_free_span(heap, pool);
}

/* The pool just got a block back and was FULL or DEDICATED, or it has no
 * live block left: its next state. */
void _ob_pool_free_slow(ob_heap_t *heap, ob_pool_t *pool)
{
    pool->flags &= (uint8_t)~OB_POOL_ZEROED;
    if (pool->state == OB_POOL_DEDICATED) {
        _ob_pool_release(heap, pool);
        return;
    }
    if (pool->state == OB_POOL_FULL) {
        if (ob_pool_used(pool) > 0) {
            ob_pool_set_state(pool, OB_POOL_ACTIVE);
            ob_pools_push_back(heap, pool);
            return;
        }
        _ob_pool_release(heap, pool); /* a single block, on no list */
        return;
    }
    /* Empty.  The current pool stays, so that a malloc/free loop on one
     * class does not take and give back pages each time; the purge tick
     * releases it if it stays empty.  A single-block pool goes back to its
     * arena at once: a buffer that grows by realloc moves through the big
     * classes and would leave one behind in each (2.8 MB resident in the
     * JSON shape of bench/workloads/pyshapes.py), while its pages, dirty
     * for a purge tick, serve the next pool of any class without a fault. */
    if (pool->capacity > 1 && heap->pools[pool->size_class].head == pool)
        return;
    _ob_pool_release(heap, pool);
}

/* A block back to its pool by the owner, on a path that may change the
 * pool's state (the fast free leaves those to here). */
void _ob_pool_free_block(ob_heap_t *heap, ob_pool_t *pool, ob_block_t *b)
{
    ob_block_set_next(b, pool->free);
    pool->free = b;
    pool->used--;
    if (pool->state != OB_POOL_ACTIVE || ob_pool_used(pool) == 0)
        _ob_pool_free_slow(heap, pool);
}

void *_ob_corrupt_free_list(const void *b)
{
    _ob_fatal("corrupted free list", b,
              "a free block's link was overwritten (a write after free?): "
              "it points outside its pool's arena");
}
