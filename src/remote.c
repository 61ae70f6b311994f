/*
 * The cross-thread protocol: how a block freed by a thread that does not
 * own its pool gets back to the pool's owner.
 *
 * Batches.  The freeing thread does not push each block onto its pool
 * as it comes: it gathers the blocks of one pool into a batch in its own
 * heap's outbox (a small direct-mapped table keyed by pool), linking them
 * through their first words while they are still in its cache, and hands
 * the whole batch over with one atomic operation when it holds
 * OB_BATCH_MAX blocks, when another pool needs the slot, at its purge
 * ticks (every OBMALLOC_PURGE_DELAY ms while it frees or allocates, and
 * ob_collect) and when it exits.  One compare-and-swap per batch instead
 * of one per block is what keeps the pool descriptor's cache line, which
 * the owner writes on every malloc and free, from bouncing between cores
 * (snmalloc's message passing, per pool).
 *
 * The remote word holds, besides the list and the notification state, the
 * list's length (in its top 16 bits: addresses are below 2^48), which each
 * push adds to.  So the owner, whose free list is empty when it collects
 * (malloc's slow path), takes the whole list with one exchange and makes
 * it its free list as it is, without reading a single block: walking it
 * to count was a chain of cache misses on lines other cores had written,
 * a quarter of mstress's time.  Links are checked as malloc pops them
 * (alloc.h), as for any free list; a length beyond what the pool has
 * handed out is reported.  Only the rarer collections into a non-empty
 * free list (purge ticks, adoption, thread exit) walk to find the tail.
 *
 *   pool->remote:  [count | head | state]   head -> ... -> NULL
 *
 * Notification.  A FULL pool is on none of its owner's lists, so the owner
 * asks to be told (state NOTIFY, set when it takes the pool off its list):
 * the first batch that arrives goes to the owner heap's `delayed` list
 * instead (a plain list of blocks), under state NOTIFYING, which the owner
 * waits out before it lets go of the pool; the owner's slow path drains
 * `delayed` and puts the pool back on its list.
 *
 * Reuse.  A thread that frees mostly other threads' blocks, and allocates
 * too, keeps what it frees on per-class reuse stacks and hands those
 * blocks out again while they are warm in its cache (as a thread cache
 * would); malloc's fast path is unchanged, since the class's current pool
 * is the empty one while its stack is not empty.  The block stays its
 * pool's: the pool counts it as used throughout.  Decided every
 * OB_REUSE_WINDOW remote frees from the thread's counters; a filter of
 * recently reused blocks sends a reused block home when the same thread
 * frees it again, so reuse cannot turn a thread's own working set into
 * other heaps' blocks.  docs/DESIGN.md has the measurements.
 *
 * Invariants:
 *   every block in an outbox, on a reuse stack, a remote list or a delayed
 *   list counts in its pool's `used` (so its pool, and its arena, stay);
 *   ob_remote_count(pool->remote) == the length of the remote list
 *     <= ob_pool_used(pool);
 *   an outbox slot holds blocks of one pool, 1..OB_BATCH_MAX of them, or
 *   none (pool == NULL);
 *   blocks are counted as freed (statistics) when the program frees them,
 *   not when they reach their pool.
 */
#include "hooks.h"
#include "pool.h"

#define OB_REMOTE_TICK_EVERY 64 /* remote frees between looks at the clock */

/* The owner asked to be notified: hand the chain to its heap's delayed
 * list.  While NOTIFYING is set the owner cannot let go of the pool, so
 * a->heap stays valid. */
static void hand_to_owner(ob_arena_t *a, ob_block_t *head, ob_block_t *tail)
{
    ob_heap_t *owner = ob_atomic_load_acquire(&a->heap);
    uintptr_t old = ob_atomic_load_relaxed(&owner->delayed);
    do {
        ob_block_set_next(tail, (ob_block_t *)old);
    } while (!ob_atomic_cas_weak_release(&owner->delayed, &old, (uintptr_t)head));
}

/* Pushes the batch head..tail (count blocks of pool, linked from head to
 * tail; tail's link is set here) onto the pool's remote list. */
static void push_batch(ob_arena_t *a, ob_pool_t *pool, ob_block_t *head,
                       ob_block_t *tail, uint32_t count)
{
    uintptr_t old = ob_atomic_load_relaxed(&pool->remote);
    for (;;) {
        if ((old & OB_REMOTE_STATE) == OB_REMOTE_NOTIFY) {
            if (!ob_atomic_cas_weak_acquire(
                    &pool->remote, &old,
                    (old & ~(uintptr_t)OB_REMOTE_STATE) | OB_REMOTE_NOTIFYING))
                continue;
            hand_to_owner(a, head, tail);
            old = ob_atomic_load_relaxed(&pool->remote);
            while (!ob_atomic_cas_weak_release(&pool->remote, &old,
                                               old & ~(uintptr_t)OB_REMOTE_STATE)) {
            }
            return;
        }
        ob_block_set_next(tail, ob_remote_list(old));
        uintptr_t counted = (uintptr_t)(ob_remote_count(old) + count) << OB_REMOTE_COUNT_SHIFT;
        if (ob_atomic_cas_weak_release(&pool->remote, &old,
                                       counted | (uintptr_t)head | (old & OB_REMOTE_STATE)))
            return;
    }
}

void _ob_remote_push(ob_arena_t *a, ob_pool_t *pool, ob_block_t *b)
{
    push_batch(a, pool, b, b, 1);
}

/* ---- batches ---------------------------------------------------------- */

static void flush_slot(ob_outbox_t *o)
{
    ob_pool_t *pool = o->pool;
    o->pool = NULL;
    push_batch(ob_arena_of_pool(pool), pool, o->head, o->tail, o->count);
}

static void outbox_add(ob_heap_t *heap, ob_pool_t *pool, ob_block_t *b)
{
    ob_outbox_t *o = &heap->outbox[((uintptr_t)pool >> 6) & (OB_OUTBOX_SLOTS - 1)];
    if (o->pool == pool) {
        if (OB_UNLIKELY(b == o->head))
            _ob_fatal("double free", b, "the block was freed twice by this thread, "
                                        "and is waiting to go back to the thread that owns it");
        ob_block_set_next(b, o->head);
        o->head = b;
        if (++o->count == OB_BATCH_MAX)
            flush_slot(o);
        return;
    }
    if (o->pool != NULL)
        flush_slot(o);
    o->pool = pool;
    o->head = o->tail = b;
    o->count = 1;
}

/* ---- reuse by the freeing thread -------------------------------------- */

/* A link read from a block on a reuse stack: a write after free turns it
 * into noise, which must not reach malloc.  The arena map (read-mostly,
 * shared by all cores) says whether it is in an arena, as strong a test
 * against noise as the fast path's "in the pool's arena"; the block's pool
 * descriptor is not read: its owner writes that line all the time, and
 * reading it cost mstress 9 % of its time. */
static ob_block_t *checked_link(const ob_block_t *b)
{
    ob_block_t *next = ob_block_next(b);
    if (next == NULL)
        return NULL;
    if (OB_LIKELY(((uintptr_t)next & (OB_ALIGNMENT - 1)) == 0 &&
                  ob_map_is_arena(ob_map_lookup(next), next)))
        return next;
    _ob_fatal("corrupted free list", b,
              "a link between blocks this thread freed into other threads' pools "
              "was overwritten (a write after free?)");
}

static void reuse_push(ob_heap_t *heap, unsigned cls, ob_block_t *b)
{
    ob_block_t *head = heap->reuse[cls];
    if (OB_UNLIKELY(b == head))
        _ob_fatal("double free", b, "the block was freed twice by this thread "
                                    "(it was kept to be handed out again)");
    ob_block_set_next(b, head);
    heap->reuse[cls] = b;
    heap->reuse_count[cls]++;
    if (head == NULL)
        heap->current[cls] = &_ob_empty_pool; /* malloc: the slow path first */
}

/* Where a block handed out from a reuse stack is remembered. */
static uint32_t *filter_slot(ob_heap_t *heap, const ob_block_t *b)
{
    uintptr_t x = (uintptr_t)b >> 4;
    return &heap->recently_reused[(x ^ (x >> 9) ^ (x >> 18)) & (OB_REUSE_FILTER - 1)];
}

/* malloc's slow path, for a class whose reuse stack is not empty. */
void *_ob_reuse_pop(ob_heap_t *heap, unsigned cls)
{
    (void)ob_count_malloc(heap, cls); /* not to 0: the caller saw to that */
    ob_block_t *b = heap->reuse[cls];
    *filter_slot(heap, b) = (uint32_t)((uintptr_t)b >> 4);
    heap->reuse[cls] = checked_link(b);
    ob_block_unmark(b);
    heap->reuse_count[cls]--;
    if (heap->reuse[cls] == NULL)
        ob_pools_set_current(heap, cls);
    ob_stat_add(&heap->stats.reused, 1);
    ob_hook_class_counted(heap, cls); /* samples the peak */
    return b;
}

/* Everything on the reuse stacks into the outbox. */
static void reuse_flush(ob_heap_t *heap)
{
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        ob_block_t *b = heap->reuse[c];
        if (b == NULL)
            continue;
        heap->reuse[c] = NULL;
        heap->reuse_count[c] = 0;
        ob_pools_set_current(heap, c);
        while (b != NULL) {
            ob_block_t *next = checked_link(b);
            outbox_add(heap, ob_pool_of(ob_arena_of(b), b), b);
            b = next;
        }
    }
}

/* Reuse pays where a thread frees mostly other threads' blocks and
 * allocates as well: a block it just read to free it is in its cache,
 * while the blocks of its own pools came back from other cores.  Where
 * most frees are its own, reuse would turn blocks it goes on freeing into
 * other heaps' blocks (each free of them a remote free), so it stays off.
 * Decided every OB_REUSE_WINDOW remote frees from the thread's counters. */
#define OB_REUSE_WINDOW 256

static void decide_reuse(ob_heap_t *heap)
{
    uint64_t frees = 0, mallocs = 0;
    for (unsigned c = 0; c < OB_POOL_CLASSES; c++) {
        frees += heap->stats.frees[c];
        mallocs += ob_heap_mallocs(&heap->stats, c);
    }
    uint64_t remote = OB_REUSE_WINDOW - heap->window_returns;
    heap->window_returns = 0;
    uint64_t window_frees = frees - heap->window_frees;
    uint64_t window_mallocs = mallocs - heap->window_mallocs;
    heap->window_frees = frees;
    heap->window_mallocs = mallocs;
    /* Without counters (OB_STATS_COUNTERS=0) both are 0: off. */
    bool on = 2 * remote > window_frees && 4 * window_mallocs >= remote;
    if (heap->reuse_on && !on)
        reuse_flush(heap);
    heap->reuse_on = on;
}

/* ---- the entry points ------------------------------------------------- */

/* A free of block b of `pool`, which another heap owns.  True when the
 * caller should look whether a purge tick is due (a thread that only
 * frees must flush its outbox and purge too). */
bool _ob_remote_free(ob_heap_t *heap, ob_pool_t *pool, ob_block_t *b)
{
    unsigned cls = pool->size_class;
    uint32_t *seen = filter_slot(heap, b);
    if (OB_UNLIKELY(*seen == (uint32_t)((uintptr_t)b >> 4))) {
        /* This thread reused it and frees it again: it goes home, so that
         * a block the thread keeps using does not stay another heap's
         * (each of its frees a remote one).  Not a sign that the thread
         * frees other threads' blocks, either. */
        *seen = 0;
        heap->window_returns++;
        outbox_add(heap, pool, b);
    } else if (heap->reuse_on && cls < OB_CLASSES &&
               heap->reuse_count[cls] < _ob_classes[cls].reuse_max) {
        reuse_push(heap, cls, b);
    } else {
        outbox_add(heap, pool, b);
    }
    if (OB_UNLIKELY(++heap->remote_frees % OB_REMOTE_TICK_EVERY == 0)) {
        if (heap->remote_frees % OB_REUSE_WINDOW == 0)
            decide_reuse(heap);
        return true;
    }
    return false;
}

/* Is b in this thread's outbox or on its reuse stacks?  (For the report
 * of a double free: free.c.) */
bool _ob_remote_holds(const ob_heap_t *heap, const ob_block_t *b)
{
    for (unsigned s = 0; s < OB_OUTBOX_SLOTS; s++) {
        const ob_outbox_t *o = &heap->outbox[s];
        const ob_block_t *x = o->pool != NULL ? o->head : NULL;
        for (uint32_t n = 0; x != NULL && n < o->count; n++, x = ob_block_next(x))
            if (x == b)
                return true;
    }
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        const ob_block_t *x = heap->reuse[c];
        for (uint32_t n = 0; x != NULL && n < heap->reuse_count[c]; n++, x = ob_block_next(x))
            if (x == b)
                return true;
    }
    return false;
}

/* Sends everything on its way: the reuse stacks and the outbox. */
void _ob_remote_flush(ob_heap_t *heap)
{
    reuse_flush(heap);
    for (size_t i = 0; i < OB_OUTBOX_SLOTS; i++)
        if (heap->outbox[i].pool != NULL)
            flush_slot(&heap->outbox[i]);
}

/* Takes the blocks other threads freed into this pool onto its free list.
 * Returns how many. */
uint32_t _ob_pool_collect_remote(ob_pool_t *pool)
{
    uintptr_t old = ob_atomic_load_relaxed(&pool->remote);
    if (ob_remote_list(old) == NULL)
        return 0;
    while (!ob_atomic_cas_weak_acquire(&pool->remote, &old, old & OB_REMOTE_STATE)) {
    }
    ob_block_t *head = ob_remote_list(old);
    uint32_t n = ob_remote_count(old);
    /* A list longer than the pool has blocks out, or one that does not
     * start at a block of the pool, means a block was freed twice or
     * written after free. */
    if (OB_UNLIKELY(n == 0 || n > ob_pool_used(pool) ||
                    (((uintptr_t)head ^ (uintptr_t)pool) >> OB_ARENA_SHIFT) != 0 ||
                    !ob_pool_is_block_offset(pool, ob_offset_in_pool(pool, head),
                                             ob_pool_carved(pool))))
        _ob_fatal("corrupted remote free list (double free or write after free?)",
                  head, "the blocks other threads freed into a pool do not fit it");
    if (pool->free != NULL) {
        /* Into a non-empty free list (purge ticks, adoption, exit): walk
         * to the tail, no further than the count says. */
        ob_block_t *tail = head;
        for (uint32_t k = 1; k < n; k++) {
            tail = ob_block_next(tail);
            if (OB_UNLIKELY(((uintptr_t)tail ^ (uintptr_t)pool) >> OB_ARENA_SHIFT))
                _ob_fatal("corrupted remote free list (double free or write after free?)",
                          tail, "a block freed by another thread links outside its arena");
        }
        ob_block_set_next(tail, pool->free);
    }
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
    uintptr_t old = ob_atomic_load_relaxed(&pool->remote);
    for (;;) {
        if (ob_remote_list(old) != NULL)
            return false;
        uintptr_t state = old & OB_REMOTE_STATE;
        if (state == OB_REMOTE_NOTIFY)
            return true;
        if (state == OB_REMOTE_NOTIFYING) {
            /* A notification for an earlier full spell is still landing;
             * it finishes in a few instructions. */
            ob_spin_wait(&spins);
            old = ob_atomic_load_relaxed(&pool->remote);
            continue;
        }
        if (ob_atomic_cas_weak_acq_rel(&pool->remote, &old, OB_REMOTE_NOTIFY))
            return true;
    }
}

/* Before a heap lets go of a pool: no remote freer may be on its way to
 * the heap's delayed list once this returns. */
void _ob_pool_stop_notify(ob_pool_t *pool)
{
    unsigned spins = 0;
    uintptr_t old = ob_atomic_load_acquire(&pool->remote);
    for (;;) {
        uintptr_t state = old & OB_REMOTE_STATE;
        if (state == OB_REMOTE_NONE)
            return;
        if (state == OB_REMOTE_NOTIFYING) {
            ob_spin_wait(&spins);
            old = ob_atomic_load_acquire(&pool->remote);
            continue;
        }
        if (ob_atomic_cas_weak_acq_rel_acquire(&pool->remote, &old,
                                               old & ~(uintptr_t)OB_REMOTE_STATE))
            return;
    }
}
