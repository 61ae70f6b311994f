/*
 * Per-thread heaps.
 *
 * Each thread that allocates gets a heap: for every size class a list of
 * pools with free blocks, whose head (current[c]) malloc takes blocks from
 * without a lock or an atomic instruction, and the arenas those pools live
 * in.  A thread's first allocation finds the static empty heap, whose every
 * current[c] is a pool with no free block, so the ordinary "pool ran dry"
 * slow path creates the real heap: the fast path needs no "is there a
 * heap?" test.
 *
 * When a thread exits, its heap collects what other threads freed into it,
 * gives back what is empty, and leaves the rest of its arenas on a global
 * abandoned list; the next heap that needs pages adopts them.  The heap
 * structure itself is recycled for the next thread.
 */
#include <errno.h>
#include <string.h>

#include "hooks.h"
#include "pool.h"

ob_heap_t _ob_heap_empty = {
    .current = {[0 ... OB_POOL_CLASSES - 1] = &_ob_empty_pool},
    .owned = {[0 ... OB_OWNED_SLOTS - 1] = OB_OWNED_EMPTY},
};

__thread ob_heap_t *_ob_tls_heap __attribute__((tls_model("initial-exec"))) =
    &_ob_heap_empty;
__thread ob_heap_t *_ob_tls_own __attribute__((tls_model("initial-exec"))) =
    &_ob_heap_empty;

ob_lock_t _ob_heaps_lock = OB_LOCK_INIT;
ob_heap_t *_ob_heaps;         /* live heaps, via reg_next */
#define heaps _ob_heaps
static ob_heap_t *free_heaps; /* recycled structures      */

#define OB_TICK_EVERY 64 /* slow-path events between clock reads */

/* ---- creating heaps --------------------------------------------------- */

/* A heap from nothing, in the registry (which the statistics and
 * ob_heap_check walk): a thread's, or a region's (region != NULL). */
void _ob_heap_setup(ob_heap_t *heap, struct ob_region *region)
{
    memset(heap, 0, sizeof *heap);
    for (unsigned c = 0; c < OB_POOL_CLASSES; c++)
        heap->current[c] = &_ob_empty_pool;
    _ob_small_class_map(heap->small_class, false);
    ob_hook_heap_setup(heap);
    for (unsigned i = 0; i < OB_OWNED_SLOTS; i++)
        heap->owned[i] = OB_OWNED_EMPTY;
    heap->region = region;
    heap->initialized = true;
    heap->next_tick_ms = _ob_os_now_ms() + _ob_purge_delay_ms();
    _ob_lock(&_ob_heaps_lock);
    heap->reg_prev = NULL;
    heap->reg_next = heaps;
    if (heaps)
        heaps->reg_prev = heap;
    heaps = heap;
    _ob_unlock(&_ob_heaps_lock);
}

/* Out of the registry; its counters go to the retired totals. */
void _ob_heap_unregister(ob_heap_t *heap)
{
    _ob_lock(&_ob_heaps_lock);
    ob_hook_heap_retired(heap);
    if (heap->reg_prev)
        heap->reg_prev->reg_next = heap->reg_next;
    else
        heaps = heap->reg_next;
    if (heap->reg_next)
        heap->reg_next->reg_prev = heap->reg_prev;
    heap->initialized = false;
    _ob_unlock(&_ob_heaps_lock);
}

ob_heap_t *_ob_heap_init_thread(void)
{
    ob_ensure_init();
    ob_heap_t *heap = _ob_tls_own;
    if (heap->initialized)
        return heap;
    _ob_lock(&_ob_heaps_lock);
    heap = free_heaps;
    if (heap != NULL)
        free_heaps = heap->reg_next;
    _ob_unlock(&_ob_heaps_lock);
    if (heap == NULL) {
        heap = _ob_meta_alloc(sizeof(ob_heap_t));
        if (heap == NULL)
            return NULL;
    }
    _ob_heap_setup(heap, NULL);
    _ob_tls_own = heap;
    if (!_ob_divert)
        _ob_tls_heap = heap;
    _ob_os_thread_key_set(heap);
    return heap;
}

/* ---- the malloc slow path --------------------------------------------- */

/* A purge tick, if one is due (the callers ration their looks at the
 * clock). */
void _ob_heap_tick_if_due(ob_heap_t *heap)
{
    uint64_t now = _ob_os_now_ms();
    if (now < heap->next_tick_ms)
        return;
    heap->next_tick_ms = now + _ob_purge_delay_ms();
    _ob_heap_collect(heap, false);
}

static void maybe_tick(ob_heap_t *heap)
{
    if (++heap->slow_events % OB_TICK_EVERY == 0)
        _ob_heap_tick_if_due(heap);
}

/* Where a new pool's pages come from: the heap's own arenas (fullest
 * first), then an arena a thread left behind when it exited (adopted with
 * its live blocks: they may be freed by this thread from now on), then a
 * new arena.  A plain region takes no abandoned arena: its arenas hold
 * only its own blocks, which its destroy unmaps at once.  A region of a
 * kind takes those of its kind, and only those: a runtime's memory of one
 * kind stays apart from the others (region.c). */
static bool adopt_arena(ob_heap_t *heap, ob_arena_t *a);

ob_pool_t *_ob_heap_alloc_span(ob_heap_t *heap, size_t npages, size_t align_pages,
                               bool *zeroed)
{
    ob_pool_t *span = _ob_arena_alloc_span(heap, npages, align_pages, zeroed);
    if (span != NULL)
        return span;
    ob_arena_t *a;
    while ((heap->region == NULL || heap->kind != 0) &&
           (a = _ob_arena_take_abandoned(heap->kind)) != NULL) {
        if (!adopt_arena(heap, a))
            continue; /* it emptied and went back */
        span = _ob_arena_alloc_span_in(heap, a, npages, align_pages, zeroed);
        if (span != NULL)
            return span;
    }
    a = _ob_arena_new(heap);
    return a == NULL ? NULL : _ob_arena_alloc_span_in(heap, a, npages, align_pages, zeroed);
}

static ob_pool_t *new_pool(ob_heap_t *heap, unsigned cls)
{
    bool zeroed;
    if (OB_UNLIKELY(heap->held_count != 0))
        _ob_pool_poll_held(heap); /* their pages may serve */
    ob_pool_t *pool = _ob_heap_alloc_span(heap, _ob_classes[cls].pages, 1, &zeroed);
    if (pool == NULL)
        return NULL;
    _ob_pool_init(pool, cls, zeroed);
    ob_pools_push_front(heap, pool);
    return pool;
}

/* Called when heap->current[cls] has no free block.  Returns a block of
 * class cls, or NULL with errno = ENOMEM. */
void *_ob_heap_refill(ob_heap_t *heap, unsigned cls)
{
    if (OB_UNLIKELY(!heap->initialized)) {
        heap = _ob_heap_init_thread();
        if (heap == NULL)
            goto oom;
    }
    /* Other heaps' blocks, still warm; but not the profiler's next sample,
     * which must come from a pool of this heap (prof.c). */
    if (cls < OB_CLASSES && heap->reuse[cls] != NULL && heap->stats.until_sample[cls] != 1)
        return _ob_reuse_pop(heap, cls);
    maybe_tick(heap);
    bool drained = false;
    for (;;) {
        ob_pool_t *pool;
        while ((pool = heap->pools[cls].head) != NULL) {
            /* The two calls cost more than their tests: skip them when the
             * remote list is empty and every block is carved. */
            if (pool->free != NULL ||
                (ob_remote_list(ob_atomic_load_relaxed(&pool->remote)) &&
                 _ob_pool_collect_remote(pool)) ||
                (pool->carved < pool->capacity && _ob_pool_extend(pool)))
                goto pop;
            /* Nothing left here.  The first time, to the back of the list:
             * its blocks, freed meanwhile, stay on the fast free path, and
             * when malloc comes round again some are usually back.  The
             * second time (or if it is alone) off the list until a block
             * comes back: taking a pool off and putting it back costs two
             * slow paths and an atomic operation. */
            if (!(pool->flags & OB_POOL_DRY) && pool->next != NULL) {
                pool->flags |= OB_POOL_DRY;
                ob_pools_rotate(heap, pool);
                continue;
            }
            if (!_ob_pool_try_mark_full(pool))
                continue; /* a remote free landed meanwhile */
            pool->flags &= (uint8_t)~OB_POOL_DRY;
            ob_pools_remove(heap, pool);
            ob_pool_set_state(pool, OB_POOL_FULL);
        }
        if (!drained &&
            ob_atomic_load_relaxed(&heap->delayed) != 0) {
            drained = true;
            _ob_heap_drain_delayed(heap);
            continue;
        }
        if (new_pool(heap, cls) == NULL)
            goto oom;
        continue;
    pop:;
        ob_assert(pool == heap->pools[cls].head);
        bool sample = ob_count_malloc(heap, cls);
        if (sample)
            ob_hook_countdown_out(heap, cls);
        pool->flags &= (uint8_t)~OB_POOL_DRY;
        ob_hook_class_counted(heap, cls); /* samples the peak */
        void *b = ob_pool_take_block(pool);
        if (sample)
            ob_hook_block_sampled(pool, b);
        return b;
    }
oom:
    errno = ENOMEM;
    return NULL;
}

/* One block alone in a run of pages starting at a multiple of `align`
 * (a multiple of the page size): for alignments beyond a page. */
void *_ob_heap_alloc_dedicated(ob_heap_t *heap, size_t size, size_t align)
{
    if (!heap->initialized && (heap = _ob_heap_init_thread()) == NULL)
        goto oom;
    size_t npages = (size + OB_PAGE_SIZE - 1) / OB_PAGE_SIZE;
    bool zeroed;
    ob_pool_t *pool = _ob_heap_alloc_span(heap, npages, align / OB_PAGE_SIZE, &zeroed);
    if (pool == NULL)
        goto oom;
    _ob_pool_init_dedicated(pool, npages, zeroed);
    ob_stat_add(&heap->stats.aligned_mallocs, 1);
    return ob_pool_blocks(pool);
oom:
    errno = ENOMEM;
    return NULL;
}

/* realloc: the block of a single-block pool this heap owns grows into the
 * free pages after it, becoming a block of the (single-block) class cls.
 * For the statistics the old block is freed and the new one allocated.
 * False if the pages are taken. */
bool _ob_heap_grow_in_place(ob_heap_t *heap, ob_pool_t *pool, unsigned cls)
{
    const ob_class_info_t *info = &_ob_classes[cls];
    ob_assert(pool->capacity == 1 && ob_pool_used(pool) == 1 && info->capacity == 1);
    /* The malloc this growth counts as is the profiler's to sample, or
     * the block is a sample (its size is in the profile): the block moves
     * instead, through malloc and free, which keep the profile right. */
    if (heap->stats.until_sample[cls] == 1 || (pool->flags & OB_POOL_SAMPLED))
        return false;
    if (!_ob_arena_grow_span(heap, pool, info->pages))
        return false;
    /* Off its old class's list: its only block is in use, so it is FULL
     * (a remote free of that block is handed to us, as for any full pool). */
    if (ob_pool_state(pool) == OB_POOL_ACTIVE) {
        if (!_ob_pool_try_mark_full(pool))
            _ob_fatal("corrupted remote free list", ob_pool_blocks(pool),
                      "a single-block pool whose block is in use has remote frees (a double free?)");
        ob_pools_remove(heap, pool);
    }
    ob_stat_add(&heap->stats.frees[pool->size_class], 1);
    pool->block_size = info->block_size;
    pool->divisor = ob_divisor_for(info->block_size);
    pool->size_class = (uint8_t)cls;
    ob_pool_set_state(pool, OB_POOL_FULL);
    (void)ob_count_malloc(heap, cls); /* not 0: see above */
    return true;
}

/* ---- frees that change a pool's state (the fast path's and free.c's) --- */

/* The fast path freed the last live block of an ACTIVE pool that does not
 * stay (OB_USED_KEEP): one that is not current, or a single-block one. */
void _ob_pool_emptied(ob_heap_t *heap, ob_pool_t *pool)
{
    _ob_pool_free_slow(heap, pool);
    maybe_tick(heap);
}

/* A free by the owner that the fast path left to us. */
void _ob_free_block_local(ob_heap_t *heap, ob_pool_t *pool, ob_block_t *b)
{
    _ob_pool_free_block(heap, pool, b);
    maybe_tick(heap);
}

void _ob_heap_drain_delayed(ob_heap_t *heap)
{
    uintptr_t list = ob_atomic_exchange_acquire(&heap->delayed, 0);
    while (list != 0) {
        ob_block_t *b = (ob_block_t *)list;
        list = (uintptr_t)ob_block_next(b);
        ob_arena_t *a = ob_arena_of(b);
        _ob_pool_free_block(heap, ob_pool_of(a, b), b);
    }
}

/* ---- collection ------------------------------------------------------- */

static void collect_unowned(ob_pool_t *pool, void *ctx);

/* The abandoned arenas get their remote frees in and their free pages
 * purged once per purge delay, by whichever thread ticks first (arena.c,
 * _ob_arena_sweep_abandoned), and at every forced collection. */
static void sweep_abandoned_if_due(uint64_t now, bool force)
{
    static _Atomic uint64_t next_sweep_ms;
    uint64_t due = ob_atomic_load_relaxed(&next_sweep_ms);
    if (!force && (now < due ||
                   !ob_atomic_cas_strong_relaxed(&next_sweep_ms, &due, now + _ob_purge_delay_ms())))
        return;
    _ob_arena_sweep_abandoned(collect_unowned);
}

/* Takes in remote frees everywhere, releases empty pools, purges pages that
 * stayed free for a tick, and trims the global caches.  `force`: purge
 * everything now (ob_heap_collect, thread exit). */
void _ob_heap_collect(ob_heap_t *heap, bool force)
{
    if (heap->held_count != 0)
        _ob_pool_poll_held(heap);
    _ob_remote_flush(heap); /* batches for other heaps go now */
    _ob_heap_drain_delayed(heap);
    for (unsigned c = 0; c < OB_POOL_CLASSES; c++) {
        ob_pool_t *pool = heap->pools[c].head;
        while (pool != NULL) {
            ob_pool_t *next = pool->next;
            _ob_pool_collect_remote(pool);
            /* (a held pool is on the ring already: not the head, it has
             * not served; the head, the poll lets go of, then this holds) */
            if (ob_pool_used(pool) == 0 && !(pool->flags & OB_POOL_HELD))
                _ob_pool_release(heap, pool);
            pool = next;
        }
    }
    _ob_arena_purge(heap, force);
    if (force)
        _ob_arena_release_empty(heap);
    uint64_t now = _ob_os_now_ms();
    _ob_purge_adapt(now);
    sweep_abandoned_if_due(now, force);
    _ob_arena_cache_trim(now, force);
    _ob_huge_cache_trim(now, force);
}

/* ---- handing arenas over ---------------------------------------------- */

static void adopt_pool(ob_pool_t *pool, void *ctx)
{
    ob_heap_t *heap = ctx;
    pool->next = pool->prev = NULL;
    pool->used &= (uint16_t)~OB_USED_KEEP; /* current in another heap, maybe */
    _ob_pool_collect_remote(pool);
    if (ob_pool_used(pool) == 0 && ob_kind_delays_reuse(heap->kind)) {
        ob_pool_set_state(pool, OB_POOL_FULL); /* held once the arena is in (hold_empty) */
        return;
    }
    if (ob_pool_used(pool) == 0) {
        _ob_arena_release_pages(pool);
        return;
    }
    if (pool->state == OB_POOL_DEDICATED)
        return; /* still wants NOTIFY: abandon cleared it */
    /* Full or not, it goes on the list; refill marks it full if it is. */
    ob_pool_set_state(pool, OB_POOL_ACTIVE);
    ob_pools_push_front(heap, pool);
}

static void renotify_dedicated(ob_pool_t *pool, void *ctx)
{
    (void)ctx;
    if (pool->state == OB_POOL_DEDICATED && !_ob_pool_try_mark_full(pool)) {
        /* A remote free came in after adopt_pool looked: it was the block. */
        _ob_pool_collect_remote(pool);
        if (ob_pool_used(pool) == 0)
            _ob_arena_release_pages(pool);
    }
}

/* An empty pool of an adopted arena, in a kind with a reuse goal: the
 * readers of the exited thread's blocks may still be about (pool.c). */
static void hold_empty(ob_pool_t *pool, void *ctx)
{
    if (pool->state == OB_POOL_FULL && ob_pool_used(pool) == 0)
        _ob_pool_release(ctx, pool);
}

/* Takes an abandoned arena into the heap.  Returns false if it turned out
 * empty and was released instead. */
static bool adopt_arena(ob_heap_t *heap, ob_arena_t *a)
{
    ob_atomic_store_release(&a->heap, heap);
    _ob_arena_for_each_pool(a, adopt_pool, heap);
    _ob_arena_for_each_pool(a, renotify_dedicated, NULL);
    if (a->nfree == OB_ARENA_USABLE_PAGES && heap->narenas > 0) {
        _ob_arena_release_detached(a);
        return false;
    }
    _ob_arena_insert(heap, a);
    if (ob_kind_delays_reuse(heap->kind))
        _ob_arena_for_each_pool(a, hold_empty, heap);
    return true;
}

static void stop_notify(ob_pool_t *pool, void *ctx)
{
    (void)ctx;
    _ob_pool_stop_notify(pool);
}

/* A pool no heap holds (its thread exited, or its arena is abandoned):
 * takes its remote frees in, and gives it back if it emptied. */
static void collect_unowned(ob_pool_t *pool, void *ctx)
{
    (void)ctx;
    _ob_pool_collect_remote(pool);
    pool->next = pool->prev = NULL;
    pool->used &= (uint16_t)~OB_USED_KEEP; /* no heap's current pool now */
    if (pool->used == 0 && !ob_kind_delays_reuse(ob_arena_of(pool)->kind))
        _ob_arena_release_pages(pool);
}

/* The thread is exiting: hand everything over and recycle the heap. */
void _ob_heap_thread_exit(ob_heap_t *heap)
{
    if (heap == NULL || !heap->initialized)
        return;
    _ob_remote_flush(heap); /* other heaps' blocks it was gathering */
    _ob_heap_abandon_arenas(heap);
    uint64_t now = _ob_os_now_ms();
    _ob_arena_cache_trim(now, false);
    _ob_huge_cache_trim(now, false);

    _ob_heap_unregister(heap); /* its counters outlive it */
    _ob_lock(&_ob_heaps_lock);
    heap->reg_next = free_heaps;
    free_heaps = heap;
    _ob_unlock(&_ob_heaps_lock);
    _ob_tls_heap = &_ob_heap_empty;
    _ob_tls_own = &_ob_heap_empty;
}

/* Every arena of the heap goes: the empty ones back, the others left for
 * another thread to adopt (a thread's exit, a region's release). */
void _ob_heap_abandon_arenas(ob_heap_t *heap)
{
    ob_arena_t *list = _ob_arena_detach_all(heap);
    /* 1. No remote freer may still be heading for heap->delayed... */
    for (ob_arena_t *a = list; a != NULL; a = a->next)
        _ob_arena_for_each_pool(a, stop_notify, NULL);
    /* 2. ...so what is on it now is all there will be. */
    uintptr_t delayed = ob_atomic_exchange_acquire(&heap->delayed, 0);
    while (delayed != 0) {
        ob_block_t *b = (ob_block_t *)delayed;
        delayed = (uintptr_t)ob_block_next(b);
        ob_pool_t *pool = ob_pool_of(ob_arena_of(b), b);
        ob_block_set_next(b, pool->free);
        pool->free = b;
        pool->used--;
    }
    /* 3. Give back the empty pools; empty arenas go to the spare cache,
     * the rest is left for another thread.  Free pages stay resident: the
     * next thread (often starting as this one exits) takes them without a
     * page fault, and what nobody takes goes back within a purge delay or
     * two (the spare cache's trim; the abandoned arenas' sweep). */
    while (list != NULL) {
        ob_arena_t *a = list;
        list = a->next;
        _ob_arena_for_each_pool(a, collect_unowned, NULL);
        _ob_arena_abandon(a);
    }
}

/* ---- fork ------------------------------------------------------------- */

static void reset_notifying(ob_pool_t *pool, void *ctx)
{
    (void)ctx;
    uintptr_t old = ob_atomic_load_relaxed(&pool->remote);
    if ((old & OB_REMOTE_STATE) == OB_REMOTE_NOTIFYING)
        ob_atomic_store_relaxed(&pool->remote,
                                (old & ~(uintptr_t)OB_REMOTE_STATE) | OB_REMOTE_NOTIFY);
}

static void reset_arena_notifying(ob_arena_t *a, void *ctx)
{
    _ob_arena_for_each_pool(a, reset_notifying, ctx);
}

/* In the child of fork only this thread lives.  A thread of the parent
 * that was in the middle of notifying one of our pools never finishes:
 * make the pool wait for a notification again.  The other threads' heaps
 * are left as they are (their state may be mid-update); what they hold is
 * never reused in the child, as with mimalloc. */
void _ob_heap_after_fork_child(void)
{
    ob_heap_t *self = _ob_tls_own;
    if (self->initialized)
        _ob_heap_for_each_arena(self, reset_arena_notifying, NULL);
    /* The other heaps stay in the registry (their memory is still mapped,
     * and the statistics keep counting it), marked as orphans. */
    for (ob_heap_t *h = heaps; h != NULL; h = h->reg_next)
        if (h != self)
            h->orphaned = true;
}
