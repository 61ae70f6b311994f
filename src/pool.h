/*
 * Pools: the inline half of pool.c, for the files that work on pools.
 *
 *   geometry     where a pool's blocks are (ob_pool_blocks), which pool
 *                holds a pointer (ob_pool_of), the divisor that turns an
 *                offset into a block index test
 *   validation   is an offset a block the pool handed out (every free
 *                path), and is the pool a fast-free target
 *   the encoding how a free block holds its next link and its free mark
 *   pool lists   each heap's list of pools per class, whose head is what
 *                malloc's fast path pops from (heap->current)
 *
 * The invariants these keep are written on ob_pool_t in types.h; the pool
 * state machine is drawn in pool.c.
 */
#ifndef OB_POOL_H
#define OB_POOL_H

#include "internal.h"

/* ---- pool.c ----------------------------------------------------------- */

/* The pool with no free block that heap->current[c] points at when there
 * is nothing to pop, so the fast path needs no NULL test. */
extern OB_HIDDEN ob_pool_t _ob_empty_pool;

OB_HIDDEN void _ob_pool_init(ob_pool_t *pool, unsigned cls, bool zeroed);
OB_HIDDEN void _ob_pool_init_dedicated(ob_pool_t *pool, size_t npages, bool zeroed);
OB_HIDDEN bool _ob_pool_extend(ob_pool_t *pool);
OB_HIDDEN void _ob_pool_release(ob_heap_t *heap, ob_pool_t *pool);
OB_HIDDEN void _ob_pool_poll_held(ob_heap_t *heap);
OB_HIDDEN void _ob_pool_drop_held(ob_heap_t *heap);

/* Kinds whose emptied pools wait for a goal (ob_kind_set_reuse_goal). */
extern OB_HIDDEN ob_kind_reuse_t _ob_kind_reuse[OB_KINDS];
OB_INLINE bool ob_kind_delays_reuse(unsigned kind)
{
    return ob_atomic_load_acquire(&_ob_kind_reuse[kind].on) != 0;
}
OB_HIDDEN void _ob_pool_free_slow(ob_heap_t *heap, ob_pool_t *pool);
OB_HIDDEN void _ob_pool_free_block(ob_heap_t *heap, ob_pool_t *pool, ob_block_t *b);

/* ---- the free-list encoding --------------------------------------------
 * A free block's first word is the next link, XORed with a per-process
 * secret so that a use-after-free write cannot aim malloc at an address
 * of its choosing; the second is the free mark, which catches a double
 * free.  Both only with hardening (types.h). */

OB_INLINE ob_block_t *ob_block_next(const ob_block_t *b)
{
    return (ob_block_t *)(b->next_encoded ^ (OB_HARDENED ? _ob_secret : 0));
}
OB_INLINE void ob_block_set_next(ob_block_t *b, const ob_block_t *next)
{
    b->next_encoded = (uintptr_t)next ^ (OB_HARDENED ? _ob_secret : 0);
}

/* The free mark (types.h): the address of the block's pool descriptor;
 * none without hardening. */
OB_INLINE bool ob_block_is_marked(const ob_block_t *b, const struct ob_pool *pool)
{
    return OB_HARDENED && b->free_mark == (uintptr_t)pool;
}
OB_INLINE void ob_block_mark(ob_block_t *b, const struct ob_pool *pool)
{
    if (OB_HARDENED)
        b->free_mark = (uintptr_t)pool;
}
OB_INLINE void ob_block_unmark(ob_block_t *b)
{
    if (OB_HARDENED)
        b->free_mark = 0;
}

/* Never returns; declared to return a pointer so that malloc's fast path
 * can reach it with a tail jump (a call would cost the fast path a frame). */
OB_HIDDEN void *_ob_corrupt_free_list(const void *b);

/* The head of the pool's free list, which is not empty: the one way a
 * block leaves a free list for malloc (the fast path and the refill). */
OB_INLINE void *ob_pool_take_block(ob_pool_t *pool)
{
    ob_block_t *b = pool->free;
    /* b came from decoding a link in a free block: if that block was
     * written after it was freed, b is noise (the secret makes it so).
     * Blocks and their pool's descriptor share an arena: three
     * instructions stop malloc from handing out an address outside it. */
    if (OB_HARDENED && OB_UNLIKELY(((uintptr_t)b ^ (uintptr_t)pool) >> OB_ARENA_SHIFT))
        return _ob_corrupt_free_list(b);
    pool->free = ob_block_next(b);
    ob_block_unmark(b);
    pool->used++;
    return b;
}

/* A region's block: its first word cleared as well (one store more than
 * ob_malloc's), so that in a link-only kind (below) a block handed out
 * and freed before the program writes it is not taken for a free one. */
OB_INLINE void *ob_pool_take_block_cleared(ob_pool_t *pool)
{
    ob_block_t *b = ob_pool_take_block(pool);
    b->next_encoded = 0;
    return b;
}

/* Kinds whose frees write only a block's first word, the link
 * (ob_kind_set_free_link_only): no free mark there.  A block of such a
 * kind is known free by its link instead: decoded, it is NULL or a block
 * of the same arena, which a live block's first word is only by a chance
 * of about 2^-42 (the secret makes it so). */
extern OB_HIDDEN _Atomic uint8_t _ob_kind_link_only[OB_KINDS];

OB_INLINE bool ob_pool_link_only(const ob_pool_t *pool)
{
    return ob_atomic_load_relaxed(&_ob_kind_link_only[ob_arena_of(pool)->kind]) != 0;
}

/* Does b, a block of pool, look freed: its mark, or (link-only kinds) its
 * link?  Only with hardening: without, nothing marks a free block. */
OB_INLINE bool ob_block_looks_free(const ob_block_t *b, const ob_pool_t *pool)
{
    if (ob_block_is_marked(b, pool))
        return true;
    if (!OB_HARDENED || !ob_pool_link_only(pool))
        return false;
    const ob_block_t *next = ob_block_next(b);
    return next == NULL || (((uintptr_t)next ^ (uintptr_t)pool) >> OB_ARENA_SHIFT) == 0;
}

/* The parts of pool->remote (remote.c). */
OB_INLINE ob_block_t *ob_remote_list(uintptr_t remote)
{
    return (ob_block_t *)(remote & OB_REMOTE_BLOCKS);
}
OB_INLINE uint32_t ob_remote_count(uintptr_t remote)
{
    return (uint32_t)(remote >> OB_REMOTE_COUNT_SHIFT);
}

/* ---- geometry and the validation of freed pointers -------------------- */

OB_INLINE ob_pool_t *ob_pool_of(ob_arena_t *a, const void *p)
{
    /* Byte arithmetic (descriptors are 64 bytes): indexing pages[] led the
     * compiler to compute the address twice on the fast free. */
    size_t head = a->head[((uintptr_t)p & OB_ARENA_MASK) >> OB_PAGE_SHIFT];
    return (ob_pool_t *)((uintptr_t)a->pages + (head << 6));
}

/* The pool's first page, and its first block (block_offset bytes in). */
OB_INLINE char *ob_pool_page_start(const ob_pool_t *pool)
{
    ob_arena_t *a = ob_arena_of_pool(pool);
    return (char *)ob_arena_base(a) + ((size_t)(pool - a->pages) << OB_PAGE_SHIFT);
}
OB_INLINE char *ob_pool_blocks(const ob_pool_t *pool)
{
    return (char *)ob_arena_base(ob_arena_of_pool(pool)) + (pool->first_lo & OB_ARENA_MASK);
}
OB_INLINE size_t ob_pool_block_offset(const ob_pool_t *pool)
{
    return pool->first_lo & (OB_PAGE_SIZE - 1);
}
OB_INLINE void ob_pool_set_first(ob_pool_t *pool, size_t block_offset)
{
    pool->first_lo = (uint32_t)(uintptr_t)(ob_pool_page_start(pool) + block_offset);
}

/* p's offset from its pool's first block, for a p in the pool's pages; a
 * p below the first block wraps to 2^32 - j, which every bound rejects. */
OB_INLINE size_t ob_offset_in_pool(const ob_pool_t *pool, const void *p)
{
    return (uint32_t)((uint32_t)(uintptr_t)p - pool->first_lo);
}

/* Blocks handed out and not freed locally (without the current-pool bit). */
OB_INLINE unsigned ob_pool_used(const ob_pool_t *pool)
{
    return pool->used & (OB_USED_KEEP - 1);
}

OB_INLINE uint32_t ob_pool_capacity_end(const ob_pool_t *pool)
{
    return (uint32_t)pool->capacity * pool->block_size;
}

/* Bytes carved into blocks so far (for a live pool, owner's view). */
OB_INLINE uint32_t ob_pool_carved(const ob_pool_t *pool)
{
    return (uint32_t)pool->carved * pool->block_size;
}

OB_INLINE uint64_t ob_divisor_for(size_t block_size)
{
    return UINT64_MAX / block_size + 1 + ((block_size & (block_size - 1)) == 0);
}

/* What a block start's product grows by from one block to the next. */
OB_INLINE uint32_t ob_pool_step(const ob_pool_t *pool)
{
    return (uint32_t)(pool->divisor * pool->block_size);
}

/* Other threads read a pool's state (to validate a free) while its owner
 * may change it between ACTIVE and FULL: relaxed atomics, plain moves on
 * x86, keep that well-defined. */
OB_INLINE int ob_pool_state(const ob_pool_t *pool)
{
    return ob_relaxed_load(&pool->state);
}

/* The owner's fast free accepts blocks below this bound (see ob_pool_t). */
OB_INLINE void ob_pool_set_free_bound(ob_pool_t *pool)
{
    /* A pool holding a block the heap profiler sampled sends its frees to
     * the checked path (prof.c). */
    pool->free_bound = ob_pool_state(pool) == OB_POOL_ACTIVE && !(pool->flags & OB_POOL_SAMPLED)
                           ? (uint32_t)pool->carved * ob_pool_step(pool) : 0;
}

/* Changes the state of a pool the caller owns (a page's own states, FREE
 * and TAIL: internal.h's ob_page_set_state). */
OB_INLINE void ob_pool_set_state(ob_pool_t *pool, int state)
{
    ob_relaxed_store(&pool->state, (uint8_t)state);
    ob_pool_set_free_bound(pool);
}

/* Is `offset` (from the pool's first block) the start of a block the pool
 * has handed out?  `end` is the carved bytes for the owner, the capacity
 * for other threads (carving moves under them). */
OB_INLINE bool ob_pool_is_block_offset(const ob_pool_t *pool, size_t offset,
                                       uint32_t end)
{
    return offset < end && offset * pool->divisor < pool->divisor;
}

/* The owner's fast test: is `offset` a block the pool handed out, and
 * is the pool ACTIVE? */
OB_INLINE bool ob_pool_is_free_target(const ob_pool_t *pool, size_t offset)
{
    return offset * pool->divisor < pool->free_bound;
}

/* ---- the heap's pool lists -------------------------------------------- */

/* The head of a class's list is its current pool.  When it empties it
 * stays (so that a malloc/free loop on one class does not take and give
 * back pages each time), which the fast free learns from the top bit of
 * its `used` (OB_USED_KEEP), without comparing with the list head: its
 * --used never reaches 0.  A single-block pool (48 KiB and up) does not
 * stay: see _ob_pool_free_slow.
 *
 * current[cls], what the fast path pops from, is the head too, except
 * while the heap holds other heaps' blocks of the class to hand out again
 * (remote.c): then it is the empty pool, so that malloc takes the slow
 * path, which hands those out first. */
OB_INLINE void ob_pools_set_current(ob_heap_t *heap, unsigned cls)
{
    ob_pool_t *head = heap->pools[cls].head;
    if (head == NULL || (cls < OB_CLASSES && heap->reuse[cls] != NULL) || heap->slow_only)
        head = &_ob_empty_pool;
    heap->current[cls] = head;
}

/* The list's head changed: the mark goes with it. */
OB_INLINE void ob_pools_head_changed(ob_heap_t *heap, unsigned cls)
{
    ob_pool_t *head = heap->pools[cls].head;
    if (head != NULL && head->capacity > 1)
        head->used |= OB_USED_KEEP;
    ob_pools_set_current(heap, cls);
}

/* The pool leaves its heap's held ring: every entry it has there goes
 * stale (pool.c). */
OB_INLINE void ob_pool_unhold(ob_pool_t *pool)
{
    pool->flags &= (uint8_t)~OB_POOL_HELD;
    pool->held_seq++;
}

/* A pool stops being its list's head.  If it was held, it may have served
 * blocks meanwhile: it leaves the held ring, to be held again, with a
 * later goal, once it is empty and not the head. */
OB_INLINE void ob_pool_leaves_head(ob_pool_t *pool)
{
    pool->used &= (uint16_t)~OB_USED_KEEP;
    if (OB_UNLIKELY(pool->flags & OB_POOL_HELD))
        ob_pool_unhold(pool);
}

OB_INLINE void ob_pools_push_front(ob_heap_t *heap, ob_pool_t *pool)
{
    ob_pool_list_t *list = &heap->pools[pool->size_class];
    pool->prev = NULL;
    pool->next = list->head;
    if (list->head) {
        ob_pool_leaves_head(list->head);
        list->head->prev = pool;
    } else {
        list->tail = pool;
    }
    list->head = pool;
    ob_pools_head_changed(heap, pool->size_class);
}

/* Behind the others: by the time malloc reaches it, more of its blocks
 * will have come back, so it serves a run of allocations instead of one. */
OB_INLINE void ob_pools_push_back(ob_heap_t *heap, ob_pool_t *pool)
{
    ob_pool_list_t *list = &heap->pools[pool->size_class];
    pool->next = NULL;
    pool->prev = list->tail;
    if (list->tail)
        list->tail->next = pool;
    else
        list->head = pool;
    list->tail = pool;
    ob_pools_head_changed(heap, pool->size_class);
}

OB_INLINE void ob_pools_remove(ob_heap_t *heap, ob_pool_t *pool)
{
    ob_pool_list_t *list = &heap->pools[pool->size_class];
    if (list->head == pool)
        ob_pool_leaves_head(pool);
    if (pool->prev)
        pool->prev->next = pool->next;
    else
        list->head = pool->next;
    if (pool->next)
        pool->next->prev = pool->prev;
    else
        list->tail = pool->prev;
    pool->next = pool->prev = NULL;
    ob_pools_head_changed(heap, pool->size_class);
}

/* The head goes behind the others (ob_pools_push_back's reason), its
 * successor becomes the head: what ob_pools_remove then ob_pools_push_back do,
 * with one change of head instead of two.  The list has two pools or
 * more. */
OB_INLINE void ob_pools_rotate(ob_heap_t *heap, ob_pool_t *head)
{
    ob_pool_list_t *list = &heap->pools[head->size_class];
    ob_assert(list->head == head && head->next != NULL);
    ob_pool_leaves_head(head);
    list->head = head->next;
    list->head->prev = NULL;
    head->next = NULL;
    head->prev = list->tail;
    list->tail->next = head;
    list->tail = head;
    ob_pools_head_changed(heap, head->size_class);
}

#endif /* OB_POOL_H */
