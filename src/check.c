/*
 * ob_heap_check: walks every arena and pool and checks the invariants the
 * rest of obmalloc relies on, reporting instead of crashing.  Free-list
 * links are checked against the pool's bounds before they are followed,
 * so a corrupted list is reported, not walked into the weeds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bitmap.h"
#include "pool.h"

typedef struct check {
    struct ob_heap_check_result *r;
    const ob_heap_t *owner; /* NULL for abandoned and spare arenas */
} check_t;

static void problem(check_t *c, const void *where, const char *fmt, ...)
{
    struct ob_heap_check_result *r = c->r;
    if (r->problems++ == 0) {
        r->first_address = where;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first_problem, sizeof r->first_problem, fmt, ap);
        va_end(ap);
    }
}

static void check_pool(ob_pool_t *pool, void *ctx)
{
    check_t *c = ctx;
    c->r->pools++;
    ob_arena_t *a = ob_arena_of_pool(pool);
    size_t index = (size_t)(pool - a->pages);
    int state = ob_pool_state(pool);
    char *start = ob_pool_page_start(pool);
    if (state != OB_POOL_ACTIVE && state != OB_POOL_FULL && state != OB_POOL_DEDICATED) {
        problem(c, start, "pool at page %zu has state %d", index, state);
        return;
    }
    if (pool->npages == 0 || index + pool->npages > OB_ARENA_PAGES ||
        !ob_bitmap_any(a->used_map, index, 1)) {
        problem(c, start, "pool at page %zu has a bad span (%u pages)", index, pool->npages);
        return;
    }
    for (size_t j = 1; j < pool->npages; j++) {
        const ob_pool_t *tail = &a->pages[index + j];
        if (ob_pool_state(tail) != OB_POOL_TAIL || a->head[index + j] != index)
            problem(c, start, "page %zu of the pool at page %zu does not point back", index + j, index);
    }
    uint32_t capacity_end = ob_pool_capacity_end(pool);
    uint32_t carved_end = ob_pool_carved(pool);
    size_t block_offset = ob_pool_block_offset(pool);
    if ((pool->first_lo & OB_ARENA_MASK) != index * OB_PAGE_SIZE + block_offset ||
        ((pool->first_lo ^ (uint32_t)ob_arena_base(a)) & ~(uint32_t)OB_ARENA_MASK) != 0 ||
        block_offset + capacity_end > (size_t)pool->npages * OB_PAGE_SIZE ||
        carved_end > capacity_end || carved_end % pool->block_size ||
        pool->free_bound != (state == OB_POOL_ACTIVE && !(pool->flags & OB_POOL_SAMPLED)
                                 ? pool->carved * ob_pool_step(pool) : 0) ||
        pool->divisor != ob_divisor_for(pool->block_size)) {
        problem(c, start, "pool at page %zu has inconsistent geometry", index);
        return;
    }
    if (state != OB_POOL_DEDICATED &&
        (pool->size_class >= OB_POOL_CLASSES ||
         pool->block_size != _ob_classes[pool->size_class].block_size ||
         pool->capacity != _ob_classes[pool->size_class].capacity ||
         block_offset != _ob_classes[pool->size_class].block_offset))
        problem(c, start, "pool at page %zu: geometry (block size %u, %u blocks from byte %zu) "
                          "does not match its class %u", index, pool->block_size, pool->capacity,
                block_offset, pool->size_class);
    /* The free list: inside the pool, at block starts, no block twice, as
     * long as used + length == carved. */
    uint64_t seen[1024 / 64] = {0};
    char *blocks = ob_pool_blocks(pool);
    size_t carved = carved_end / pool->block_size, length = 0;
    for (ob_block_t *b = pool->free; b != NULL; b = ob_block_next(b)) {
        size_t offset = (size_t)((char *)b - blocks);
        if (!ob_pool_is_block_offset(pool, offset, carved_end)) {
            problem(c, b, "free list of the pool at page %zu links outside its blocks", index);
            return;
        }
        size_t k = offset / pool->block_size;
        if (k < 1024) {
            if (seen[k / 64] >> (k % 64) & 1) {
                problem(c, b, "block is twice on the free list of the pool at page %zu", index);
                return;
            }
            seen[k / 64] |= (uint64_t)1 << (k % 64);
        }
        if (++length > carved) {
            problem(c, b, "free list of the pool at page %zu is longer than the pool", index);
            return;
        }
        if (OB_HARDENED && !_ob_debug_on && !ob_block_looks_free(b, pool))
            problem(c, b, "a free block of the pool at page %zu lost its free mark "
                          "(written after it was freed)", index);
    }
    c->r->free_blocks_checked += length;
    if (ob_pool_used(pool) + length != carved)
        problem(c, start, "pool at page %zu: %u used + %zu free != %zu carved", index, ob_pool_used(pool),
                length, carved);
    /* Debug mode: the guards of live blocks, the fill of freed ones. */
    for (size_t k = 0; _ob_debug_on && k < carved && k < 1024; k++) {
        const void *where;
        const char *bug;
        if (!(seen[k / 64] >> (k % 64) & 1) &&
            (bug = _ob_debug_scan(blocks + k * pool->block_size, pool->block_size, &where)))
            problem(c, where, "%s", bug);
    }
    /* (An abandoned arena's full pools may have got blocks back while its
     * thread exited; the heap that adopts it sorts them out.) */
    if (c->owner != NULL && state == OB_POOL_FULL &&
        (pool->free != NULL || carved_end != capacity_end))
        problem(c, start, "pool at page %zu is FULL but has room", index);
}

static void check_arena(ob_arena_t *a, void *ctx)
{
    check_t *c = ctx;
    c->r->arenas++;
    if (ob_map_lookup(a) != (ob_arena_base(a) | OB_MAP_ARENA))
        problem(c, a, "the arena map does not name the arena");
    if (c->owner != NULL && ob_atomic_load_relaxed(&a->heap) != c->owner)
        problem(c, a, "the arena's owner is not the heap that lists it");
    if (ob_bitmap_count(a->used_map) != OB_ARENA_PAGES - a->nfree)
        problem(c, a, "the arena's page bitmap counts %zu used pages, nfree says %u",
                ob_bitmap_count(a->used_map), a->nfree);
    for (size_t i = 0; i < OB_ARENA_HEADER_PAGES; i++)
        if (!ob_bitmap_any(a->used_map, i, 1))
            problem(c, a, "an arena header page is marked free");
    for (size_t half = 0; half < 2; half++) {
        size_t from = half * (OB_ARENA_PAGES / 2), n = OB_ARENA_PAGES / 2;
        if (!a->huge_backed && a->half_state[half] != OB_HALF_FRESH)
            problem(c, a, "half %zu of an arena in small pages has a huge-page state", half);
        else if (a->huge_backed && a->half_state[half] == OB_HALF_FRESH &&
                 (ob_bitmap_any(a->used_map, from, n) || ob_bitmap_any(a->dirty_map, from, n)))
            problem(c, a, "half %zu of the arena is marked fresh but holds pages", half);
    }
    size_t i = OB_ARENA_HEADER_PAGES;
    while (i < OB_ARENA_PAGES) {
        ob_pool_t *page = &a->pages[i];
        int state = ob_pool_state(page);
        bool used = ob_bitmap_any(a->used_map, i, 1);
        if (state == OB_POOL_FREE) {
            if (used)
                problem(c, a, "page %zu is in no pool but marked used", i);
            i++;
            continue;
        }
        if (!used)
            problem(c, a, "page %zu holds a pool but is marked free", i);
        if (state == OB_POOL_TAIL) {
            problem(c, a, "page %zu continues a pool that does not start before it", i);
            i++;
            continue;
        }
        check_pool(page, c);
        i += page->npages ? page->npages : 1;
    }
}

static void check_heap_arena(ob_arena_t *a, void *ctx)
{
    check_arena(a, ctx);
}

static void check_huge(const ob_huge_t *h, void *ctx)
{
    const void *where;
    const char *bug;
    if (h->live && (bug = _ob_debug_scan(h->addr, h->size, &where)) != NULL)
        problem(ctx, where, "%s", bug);
}

/* A block on its way back to its pool (remote.c): a live block of a pool
 * that counts it as used.  `pool`: the pool it must be in, or NULL (then
 * any pool of class `cls`). */
static bool check_in_transit(check_t *c, const ob_block_t *b, const ob_pool_t *pool,
                             unsigned cls, const char *where)
{
    uintptr_t entry = ob_map_lookup(b);
    if (!ob_map_is_arena(entry, b)) {
        problem(c, b, "a block on this thread's %s is not in an arena", where);
        return false;
    }
    ob_pool_t *home = ob_pool_of(ob_arena_of(b), b);
    int state = ob_pool_state(home);
    if ((state != OB_POOL_ACTIVE && state != OB_POOL_FULL) ||
        (pool != NULL ? home != pool : home->size_class != cls) ||
        !ob_pool_is_block_offset(home, ob_offset_in_pool(home, b),
                                 ob_pool_capacity_end(home)) ||
        ob_pool_used(home) == 0) {
        problem(c, b, "a block on this thread's %s is not a live block of its pool", where);
        return false;
    }
    if (OB_HARDENED && !_ob_debug_on && !ob_block_is_marked(b, home))
        problem(c, b, "a block on this thread's %s lost its free mark "
                      "(written after it was freed)", where);
    return true;
}

/* The calling thread's own blocks in transit: its reuse stacks and its
 * outbox (other threads' are theirs to change while we look). */
static void check_own_transit(check_t *c)
{
    ob_heap_t *heap = _ob_tls_own;
    if (!heap->initialized)
        return;
    for (unsigned cls = 0; cls < OB_CLASSES; cls++) {
        size_t n = 0;
        for (const ob_block_t *b = heap->reuse[cls]; b != NULL; b = ob_block_next(b)) {
            if (++n > heap->reuse_count[cls] || !check_in_transit(c, b, NULL, cls, "reuse stack"))
                break;
        }
        if (n != heap->reuse_count[cls])
            problem(c, heap->reuse[cls], "reuse stack of class %u holds %zu blocks, counted %u",
                    cls, n, heap->reuse_count[cls]);
    }
    for (size_t i = 0; i < OB_OUTBOX_SLOTS; i++) {
        const ob_outbox_t *o = &heap->outbox[i];
        if (o->pool == NULL)
            continue;
        size_t n = 0;
        const ob_block_t *last = NULL;
        for (const ob_block_t *b = o->head; n < o->count; b = ob_block_next(b)) {
            if (!check_in_transit(c, b, o->pool, 0, "outbox"))
                break;
            last = b;
            n++;
        }
        if (n != o->count || last != o->tail || o->count > OB_BATCH_MAX ||
            o->count > ob_pool_used(o->pool))
            problem(c, o->head, "an outbox batch of %u blocks does not hold together", o->count);
    }
}

size_t ob_heap_check(struct ob_heap_check_result *result)
{
    struct ob_heap_check_result local;
    struct ob_heap_check_result *r = result ? result : &local;
    memset(r, 0, sizeof *r);
    ob_ensure_init();
    check_t c = {.r = r};
    bool orphans = false;
    _ob_lock(&_ob_heaps_lock);
    for (ob_heap_t *h = _ob_heaps; h != NULL; h = h->reg_next) {
        if (h->orphaned) {
            orphans = true; /* a fork child's view of a thread frozen mid-update */
            continue;
        }
        c.owner = h;
        _ob_heap_for_each_arena(h, check_heap_arena, &c);
    }
    _ob_unlock(&_ob_heaps_lock);
    c.owner = NULL;
    _ob_arena_for_each_unowned(check_arena, &c);
    check_own_transit(&c);
    if (_ob_debug_on) {
        const void *where;
        const char *bug;
        if (!orphans) /* else a huge block may be frozen mid-way through setup */
            _ob_huge_for_each(check_huge, &c);
        if ((bug = _ob_debug_scan_quarantine(&where)) != NULL)
            problem(&c, where, "%s", bug);
    }

    /* The breakdown counts orphans' memory too, and they may be caught
     * between two halves of an update: it need only add up without them. */
    if (orphans)
        return r->problems;
    struct ob_stats s = {.size = sizeof s, .version = OB_STATS_VERSION};
    ob_stats_get(&s);
    size_t sum = s.bytes_allocated_blocks + s.bytes_free_blocks + s.bytes_unused_pools +
                 s.bytes_metadata + s.bytes_quantization + s.bytes_alignment;
    if (sum != s.bytes_mapped)
        problem(&c, NULL, "the statistics breakdown adds up to %zu, not %zu mapped", sum,
                s.bytes_mapped);
    return r->problems;
}
