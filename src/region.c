/*
 * First-class heaps: regions (issue 16; docs/DESIGN.md, "Regions").
 *
 * A region is a heap no thread has as its own: its pools sit in arenas
 * only it owns (arena->heap == &region->heap), so that destroying it
 * returns those arenas whole, without looking at a single block.  Its
 * owner (the thread that made it) allocates from it with the same fast
 * path as malloc's (malloc_in, on the region's heap instead of the
 * thread's).
 *
 * Frees.  A block of a region is not in an arena the freeing thread's
 * heap owns, so every free of one takes the checked path (free.c):
 *   - by the owner: freed locally into the region's pool;
 *   - by any other thread: pushed at once onto its pool's remote list,
 *     never kept in the thread's outbox or reuse stack, so that no thread
 *     holds a region's block once its free has returned (a destroy may
 *     come next).
 * Destroy first takes in the remote frees (their count is in each pool's
 * remote word), so that the statistics count exactly the blocks it drops.
 *
 * Misuse.  A region used by a thread other than its owner (allocation,
 * destroy, release, visit), or a pointer that is no live region, gets a
 * report and an abort, as other heap bugs do.  A free that comes after
 * the destroy, or races with it, is the program's bug: the arenas' pages
 * are marked free before they wait as spares, so such a free is reported
 * as an invalid free until the pages are handed out again (after that it
 * is a use after free like any other); debug mode unmaps the arenas, so
 * that the report holds for as long as the address is not mapped again.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "alloc.h"
#include "hooks.h"

#define OB_REGION_MAGIC 0x6f62726567696f6eULL /* "obregion" */

struct ob_region {
    ob_heap_t heap;       /* first: its pools and arenas; heap.kind its kind */
    uint64_t magic;       /* OB_REGION_MAGIC while it lives */
    uintptr_t tag;        /* the owner's name for itself (ob_block_owner) */
    struct ob_region *owner_next, *owner_prev; /* heap.region_owner->regions */
    ob_huge_t *huge;      /* its huge blocks, via h->owner_next */
};

/* ---- misuse ------------------------------------------------------------ */

OB_COLD _Noreturn static void misuse(const ob_region_t *r, const char *what)
{
    _ob_fatal("region misuse", r, what);
}

static ob_region_t *checked(ob_region_t *r, const char *call)
{
    if (OB_UNLIKELY(r == NULL || r->magic != OB_REGION_MAGIC))
        misuse(r, call);
    if (OB_UNLIKELY(r->heap.region_owner != ob_heap_own()))
        _ob_fatal("region misuse", r,
                  "a region's blocks are allocated, and the region destroyed, released "
                  "or visited, only by the thread that made it");
    return r;
}

/* ---- making one ---------------------------------------------------------- */

/* Huge blocks of released regions, by kind: still visited with their kind
 * (ob_kind_visit), owned by nobody.  Under the huge-block lock. */
static ob_huge_t *orphan_huge[OB_KINDS];

static ob_region_t *region_new(unsigned kind, uintptr_t tag);

/* A runtime's kinds are 1..OB_KINDS-1 (0 is the threads' own memory). */
static bool kind_valid(unsigned kind)
{
    return kind != 0 && kind < OB_KINDS;
}

/* Kinds whose blocks need only 8-byte alignment (ob_kind_set_align). */
static _Atomic uint8_t kind_align8[OB_KINDS];

ob_region_t *ob_region_new(void)
{
    return region_new(0, 0);
}

ob_region_t *ob_region_new_kind(unsigned kind, uintptr_t tag)
{
    if (!kind_valid(kind)) {
        errno = EINVAL;
        return NULL;
    }
    return region_new(kind, tag);
}

static ob_region_t *region_new(unsigned kind, uintptr_t tag)
{
    ob_ensure_init();
    ob_heap_t *own = ob_heap_own();
    if (!own->initialized && (own = _ob_heap_init_thread()) == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    ob_region_t *r = _ob_meta_alloc(sizeof *r);
    if (r == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    _ob_heap_setup(&r->heap, r);
    r->heap.slow_only = _ob_divert; /* debug mode: every malloc through it */
    r->heap.kind = (uint8_t)kind;
    if (ob_atomic_load_relaxed(&kind_align8[kind]))
        _ob_small_class_map(r->heap.small_class, true);
    r->tag = tag;
    r->magic = OB_REGION_MAGIC;
    r->heap.region_owner = own;
    r->owner_prev = NULL;
    r->owner_next = own->regions;
    if (own->regions != NULL)
        own->regions->owner_prev = r;
    own->regions = r;
    return r;
}

/* ---- allocation ---------------------------------------------------------- */

/* A block of the region's own, `align` at most an arena's half or any
 * for huge ones: the normal allocator's part of every region allocation,
 * and the inner block of a debug block. */
static void *region_block(ob_region_t *r, size_t align, size_t size, bool zero)
{
    ob_heap_t *heap = &r->heap;
    if (size == 0)
        size = 1;
    if (OB_UNLIKELY(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    if (size > OB_MAX_CLASS_SIZE || align > OB_ARENA_SIZE / 2)
        return _ob_huge_attach(_ob_huge_alloc(size, align, zero), &r->huge);
    /* (an alignment of 16 asked for by name keeps the fine classes out) */
    size_t cls = align <= 8 ? ob_heap_size_class(heap, size) : ob_size_class(size);
    void *p = align <= OB_ALIGNMENT ? _ob_class_malloc(heap, (unsigned)cls)
                                    : _ob_heap_aligned(heap, align, size);
    if (p != NULL) /* as the fast path does (ob_pool_take_block_cleared): a
                    * block is at least 16 bytes, whatever size asked for */
        *(uintptr_t *)p = 0;
    if (p != NULL && zero)
        memset(p, 0, size);
    return p;
}

static void *debug_inner(void *ctx, size_t align, size_t total)
{
    return region_block(ctx, align, total, false);
}

/* The region's slow path: malloc_in's `slow` for a region's heap. */
static __attribute__((noinline)) void *region_malloc_slow(ob_heap_t *heap, size_t size)
{
    ob_region_t *r = checked((ob_region_t *)heap, "ob_region_malloc of something that is not a live region");
    if (ob_diverted())
        return ob_diverted_malloc_from(debug_inner, r, size, 0, false);
    return region_block(r, 0, size, false);
}

/* The fast path checks only that there is a region: the owner and the
 * magic are checked on the slow path, once per pool's worth of blocks,
 * and in debug mode on every call, so that a region's malloc costs what
 * ob_malloc does (the thread's heap is not even looked up). */
void *ob_region_malloc(ob_region_t *r, size_t size)
{
    if (OB_UNLIKELY(r == NULL))
        misuse(r, "ob_region_malloc(NULL)");
    return malloc_in(&r->heap, size, region_malloc_slow, true);
}

void *ob_region_calloc(ob_region_t *r, size_t n, size_t size)
{
    size_t total;
    if (OB_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    checked(r, "ob_region_calloc of something that is not a live region");
    if (ob_diverted())
        return ob_diverted_malloc_from(debug_inner, r, total, 0, true);
    return region_block(r, 0, total, true);
}

/* ---- the region's arenas and huge blocks --------------------------------- */

/* Is p a block (or inside one) of an arena of r?  *pool_out: its pool. */
static bool in_region_arena(const ob_region_t *r, const void *p, ob_pool_t **pool_out)
{
    uintptr_t entry = ob_map_lookup(p);
    if (!ob_map_is_arena(entry, p))
        return false;
    ob_arena_t *a = ob_arena_of(p);
    if (ob_atomic_load_relaxed(&a->heap) != &r->heap)
        return false;
    *pool_out = ob_pool_of(a, p);
    return true;
}

static const ob_huge_t *region_huge_of(const ob_region_t *r, const void *p)
{
    uintptr_t entry = ob_map_lookup(p);
    if (entry == 0 || (entry & OB_MAP_ARENA))
        return NULL;
    const ob_huge_t *h = (const ob_huge_t *)entry;
    return h->owner_list == &r->huge && h->live ? h : NULL;
}

/* In debug mode a block of the allocator's holds a debug block, which may
 * be in the quarantine (freed): is p in the live user part? */
static bool live_user_contains(const void *inner, size_t inner_size, const void *p)
{
    if (!ob_diverted())
        return true;
    void *user;
    size_t size;
    /* A block of size 0 (malloc(0)'s) still contains its own address. */
    return ob_diverted_live_in(inner, inner_size, &user, &size) &&
           (const char *)p >= (const char *)user &&
           (const char *)p < (const char *)user + (size > 0 ? size : 1);
}

int ob_region_contains(const ob_region_t *r, const void *p)
{
    if (r == NULL || r->magic != OB_REGION_MAGIC || p == NULL)
        return 0;
    ob_pool_t *pool;
    if (in_region_arena(r, p, &pool)) {
        int state = ob_pool_state(pool);
        if (state < OB_POOL_ACTIVE)
            return 0;
        size_t offset = ob_offset_in_pool(pool, p);
        if (offset >= ob_pool_capacity_end(pool))
            return 0;
        /* The block p is in: live unless it carries the free mark. */
        const ob_block_t *b = (const ob_block_t *)(ob_pool_blocks(pool) +
                                                   offset / pool->block_size * pool->block_size);
        if (state != OB_POOL_DEDICATED && offset >= ob_pool_carved(pool))
            return 0;
        if (ob_block_looks_free(b, pool))
            return 0;
        return live_user_contains(b, pool->block_size, p);
    }
    const ob_huge_t *h = region_huge_of(r, p);
    return h != NULL && (const char *)p - h->addr < (ptrdiff_t)h->size &&
           live_user_contains(h->addr, h->size, p);
}

/* ---- realloc and aligned allocation -------------------------------------- */

void *ob_region_realloc(ob_region_t *r, void *p, size_t size)
{
    checked(r, "ob_region_realloc of something that is not a live region");
    if (p == NULL)
        return ob_region_malloc(r, size);
    ob_pool_t *pool;
    if (!in_region_arena(r, p, &pool) && region_huge_of(r, p) == NULL)
        _ob_fatal("region misuse", p, "ob_region_realloc of a block that is not the region's");
    if (size == 0) {
        ob_free(p);
        return NULL;
    }
    if (OB_UNLIKELY(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t usable = ob_usable_size(p);
    if (size <= usable && size > usable / 2 && !ob_diverted())
        return p; /* debug mode always moves, as its realloc does */
    void *q = ob_region_malloc(r, size);
    if (q == NULL)
        return NULL; /* errno = ENOMEM; p untouched */
    memcpy(q, p, usable < size ? usable : size);
    ob_free(p);
    return q;
}

void *ob_region_aligned_alloc(ob_region_t *r, size_t align, size_t size)
{
    checked(r, "ob_region_aligned_alloc of something that is not a live region");
    if (OB_UNLIKELY(!ob_is_pow2(align))) {
        errno = EINVAL;
        return NULL;
    }
    if (ob_diverted())
        return ob_diverted_malloc_from(debug_inner, r, size, align, false);
    return region_block(r, align, size, false);
}

/* ---- destroy and release -------------------------------------------------- */

static void unlink_from_owner(ob_region_t *r)
{
    if (r->owner_prev != NULL)
        r->owner_prev->owner_next = r->owner_next;
    else
        r->heap.region_owner->regions = r->owner_next;
    if (r->owner_next != NULL)
        r->owner_next->owner_prev = r->owner_prev;
}

static void forget(ob_region_t *r)
{
    unlink_from_owner(r);
    r->magic = 0;
    _ob_meta_free(r, sizeof *r);
}

typedef struct dropped {
    uint64_t blocks[OB_POOL_CLASSES];
    uint64_t aligned;
} dropped_t;

/* The blocks a pool still holds: handed out, less the remote frees not
 * yet taken in (their count is in the remote word); none in a free pool. */
static size_t live_blocks(const ob_pool_t *pool)
{
    if (ob_pool_state(pool) < OB_POOL_ACTIVE)
        return 0;
    uintptr_t remote = ob_atomic_load_acquire(&pool->remote);
    return ob_pool_used(pool) - ob_remote_count(remote);
}

static void count_dropped(ob_pool_t *pool, void *ctx)
{
    dropped_t *d = ctx;
    size_t live = live_blocks(pool);
    if (ob_pool_state(pool) == OB_POOL_DEDICATED)
        d->aligned += live;
    else if (live > 0)
        d->blocks[pool->size_class] += live;
}

static int check_dropped(void *user, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    ob_hook_debug_block_dropped(user);
    return 0;
}

static int visit(ob_region_t *r, int (*fn)(void *block, size_t usable, void *arg), void *arg);

void ob_region_destroy(ob_region_t *r)
{
    checked(r, "ob_region_destroy of something that is not a live region");
    ob_heap_t *heap = &r->heap;
    if (ob_diverted()) {
        /* Debug mode: the quarantine lets go of the region's freed blocks
         * (it would free them into unmapped memory later), and the blocks
         * dropped have their guards checked, one by one. */
        ob_hook_quarantine_flush();
        visit(r, check_dropped, NULL);
    }
    /* Blocks other threads handed to the heap when their pools were full
     * go back to their pools first, so that each pool's count is exact. */
    _ob_heap_drain_delayed(heap);
    ob_hook_heap_dropped(heap); /* while the arenas are still its own */
    ob_arena_t *list = _ob_arena_detach_all(heap);
    dropped_t d;
    memset(&d, 0, sizeof d);
    for (ob_arena_t *a = list; a != NULL; a = a->next)
        _ob_arena_for_each_pool(a, count_dropped, &d);
    while (r->huge != NULL) /* its huge blocks: freed as usual (unlinks them) */
        _ob_huge_free(r->huge, r->huge->addr);
    while (list != NULL) {
        ob_arena_t *a = list;
        list = a->next;
        _ob_arena_discard(a);
    }
    _ob_pool_drop_held(heap);
    _ob_heap_unregister(heap);
    _ob_lock(&_ob_heaps_lock);
    ob_hook_region_dropped(d.blocks, d.aligned);
    _ob_unlock(&_ob_heaps_lock);
    forget(r);
}

/* The region goes; its blocks stay.  A plain region's become ordinary
 * blocks (any thread's heap may adopt its arenas); a kind's stay that
 * kind's: its arenas wait for a region of the kind to adopt them, its huge
 * blocks join the kind's orphans, and ob_kind_visit finds them all. */
static void release(ob_region_t *r)
{
    _ob_heap_abandon_arenas(&r->heap);
    _ob_pool_drop_held(&r->heap);
    unsigned kind = r->heap.kind;
    _ob_lock(&_ob_huge_lock);
    while (r->huge != NULL) {
        ob_huge_t *h = r->huge;
        r->huge = h->owner_next;
        h->owner_list = NULL;
        if (kind != 0) {
            h->owner_list = &orphan_huge[kind];
            h->owner_prev = NULL;
            h->owner_next = orphan_huge[kind];
            if (orphan_huge[kind] != NULL)
                orphan_huge[kind]->owner_prev = h;
            orphan_huge[kind] = h;
        }
    }
    _ob_unlock(&_ob_huge_lock);
    _ob_heap_unregister(&r->heap);
    forget(r);
}

void ob_region_release(ob_region_t *r)
{
    checked(r, "ob_region_release of something that is not a live region");
    release(r);
}

void _ob_regions_thread_exit(ob_heap_t *own)
{
    while (own->regions != NULL)
        release(own->regions);
}

/* ---- visiting ---------------------------------------------------------- */

#define VISIT_MAX_BLOCKS 1024 /* a pool's capacity: 16 KiB of 16-byte blocks */

typedef struct visit {
    int (*fn)(void *block, size_t usable, void *arg);
    void *arg;
    int stop;
} visit_t;

/* One live block of the allocator's: in debug mode, the debug block in
 * it, if that is alive (not in the quarantine). */
static void emit(visit_t *v, void *block, size_t usable)
{
    if (ob_diverted()) {
        void *user;
        size_t size;
        if (ob_diverted_live_in(block, usable, &user, &size))
            v->stop = v->fn(user, size, v->arg);
        return;
    }
    v->stop = v->fn(block, usable, v->arg);
}

static void mark_list(const ob_pool_t *pool, const ob_block_t *b, uint64_t *free_bits)
{
    for (unsigned n = 0; b != NULL && n <= pool->capacity; n++, b = ob_block_next(b)) {
        size_t i = ob_offset_in_pool(pool, b) / pool->block_size;
        if (i < VISIT_MAX_BLOCKS)
            free_bits[i / 64] |= (uint64_t)1 << (i % 64);
    }
}

static void visit_pool(ob_pool_t *pool, void *ctx)
{
    visit_t *v = ctx;
    int state = ob_pool_state(pool);
    if (v->stop != 0 || state < OB_POOL_ACTIVE)
        return;
    uintptr_t remote = ob_atomic_load_acquire(&pool->remote);
    if (state == OB_POOL_DEDICATED) {
        if (ob_remote_list(remote) == NULL)
            emit(v, ob_pool_blocks(pool), pool->block_size);
        return;
    }
    /* The blocks carved, less those on the free list and those other
     * threads freed (the remote list only grows at its head meanwhile). */
    uint64_t free_bits[VISIT_MAX_BLOCKS / 64] = {0};
    mark_list(pool, pool->free, free_bits);
    mark_list(pool, ob_remote_list(remote), free_bits);
    unsigned carved = pool->carved < VISIT_MAX_BLOCKS ? pool->carved : VISIT_MAX_BLOCKS;
    for (unsigned i = 0; i < carved && v->stop == 0; i++) {
        ob_block_t *b = (ob_block_t *)(ob_pool_blocks(pool) + (size_t)i * pool->block_size);
        /* Not on a list here, but freed: on its way back (the free mark) */
        if (!(free_bits[i / 64] >> (i % 64) & 1) && !ob_block_looks_free(b, pool))
            emit(v, b, pool->block_size);
    }
}

static void visit_arena(ob_arena_t *a, void *ctx)
{
    _ob_arena_for_each_pool(a, visit_pool, ctx);
}

static void emit_huge_list(visit_t *v, ob_huge_t *h);

static int visit(ob_region_t *r, int (*fn)(void *block, size_t usable, void *arg), void *arg)
{
    _ob_heap_drain_delayed(&r->heap); /* those blocks are free */
    visit_t v = {fn, arg, 0};
    _ob_heap_for_each_arena(&r->heap, visit_arena, &v);
    emit_huge_list(&v, r->huge);
    return v.stop;
}

int ob_region_visit(ob_region_t *r, int (*fn)(void *block, size_t usable, void *arg), void *arg)
{
    checked(r, "ob_region_visit of something that is not a live region");
    return fn == NULL ? 0 : visit(r, fn, arg);
}

/* ---- kinds: every heap of a kind, and the owner of a block ------------------- */

static void emit_huge_list(visit_t *v, ob_huge_t *h)
{
    while (h != NULL && v->stop == 0) {
        ob_huge_t *next = h->owner_next; /* fn may not free it, but read ahead */
        emit(v, h->addr, h->size);
        h = next;
    }
}

/* Read-only, so that it may run on any thread while the owners are
 * paused: a block on its way back to its pool (a remote list, a heap's
 * delayed list) carries the free mark, which visit_pool skips.  Without
 * hardening there is no mark, and the delayed lists are drained first
 * (work their paused owners would have done). */
int ob_kind_visit(unsigned kind, int (*fn)(void *block, size_t usable, void *arg), void *arg)
{
    if (!kind_valid(kind)) {
        errno = EINVAL;
        return -1;
    }
    if (fn == NULL)
        return 0;
    ob_ensure_init();
    visit_t v = {fn, arg, 0};
    _ob_lock(&_ob_heaps_lock);
    for (ob_heap_t *h = _ob_heaps; h != NULL && v.stop == 0; h = h->reg_next) {
        if (h->region == NULL || h->kind != kind || h->region->magic != OB_REGION_MAGIC)
            continue;
        if (!OB_HARDENED)
            _ob_heap_drain_delayed(h);
        _ob_heap_for_each_arena(h, visit_arena, &v);
        emit_huge_list(&v, h->region->huge);
    }
    _ob_unlock(&_ob_heaps_lock);
    if (v.stop == 0)
        _ob_arena_for_each_abandoned(kind, visit_arena, &v);
    if (v.stop == 0) {
        _ob_lock(&_ob_huge_lock);
        emit_huge_list(&v, orphan_huge[kind]);
        _ob_unlock(&_ob_huge_lock);
    }
    return v.stop;
}

/* Where p's memory belongs: the live region that holds it (NULL for a
 * released region's memory, a thread's own heap, or no block of ours), and
 * *kind, the memory's kind, which released memory keeps. */
static const ob_region_t *region_of_block(const void *p, unsigned *kind)
{
    *kind = 0;
    uintptr_t entry = p == NULL ? 0 : ob_map_lookup(p);
    if (entry == 0)
        return NULL;
    if (!(entry & OB_MAP_ARENA)) { /* a huge block: its region's list, or an orphan */
        ob_huge_t **list = ((const ob_huge_t *)entry)->owner_list;
        if (list == NULL)
            return NULL;
        if (list >= orphan_huge && list < orphan_huge + OB_KINDS) {
            *kind = (unsigned)(list - orphan_huge);
            return NULL;
        }
        const ob_region_t *r = (const ob_region_t *)((const char *)list - offsetof(ob_region_t, huge));
        *kind = r->heap.kind;
        return r;
    }
    if (!ob_map_is_arena(entry, p))
        return NULL;
    ob_arena_t *a = ob_arena_of(p);
    *kind = a->kind;
    ob_heap_t *heap = ob_atomic_load_acquire(&a->heap);
    return heap != NULL ? heap->region : NULL;
}

unsigned ob_block_kind(const void *p)
{
    unsigned kind;
    (void)region_of_block(p, &kind);
    return kind;
}

int ob_kind_set_reuse_goal(unsigned kind, uint64_t (*goal)(void *arg),
                           int (*reached)(uint64_t goal, void *arg), void *arg)
{
    if (!kind_valid(kind) || (goal == NULL) != (reached == NULL))
        return EINVAL;
    ob_kind_reuse_t *k = &_ob_kind_reuse[kind];
    ob_atomic_store_release(&k->on, 0); /* off while it changes */
    k->goal = goal;
    k->reached = reached;
    k->arg = arg;
    ob_atomic_store_release(&k->on, goal != NULL);
    return 0;
}

int ob_kind_set_free_link_only(unsigned kind, int on)
{
    if (!kind_valid(kind))
        return EINVAL;
    ob_atomic_store_relaxed(&_ob_kind_link_only[kind], on != 0);
    return 0;
}

int ob_kind_set_align(unsigned kind, size_t align)
{
    if (!kind_valid(kind) || (align != 8 && align != OB_ALIGNMENT))
        return EINVAL;
    ob_atomic_store_relaxed(&kind_align8[kind], align == 8);
    return 0;
}

uintptr_t ob_block_owner(const void *p)
{
    unsigned kind;
    const ob_region_t *r = region_of_block(p, &kind);
    return r != NULL ? r->tag : 0;
}

/* ---- statistics ---------------------------------------------------------- */

typedef struct region_count {
    size_t blocks, bytes;
} region_count_t;

static void count_pool(ob_pool_t *pool, void *ctx)
{
    region_count_t *c = ctx;
    size_t live = live_blocks(pool);
    c->blocks += live;
    c->bytes += live * pool->block_size;
}

static void count_arena(ob_arena_t *a, void *ctx)
{
    _ob_arena_for_each_pool(a, count_pool, ctx);
}

static int count_visited(void *block, size_t size, void *arg)
{
    (void)block;
    struct ob_region_stats *s = arg;
    s->blocks_in_use++;
    s->bytes_in_use += size;
    return 0;
}

void ob_region_stats(const ob_region_t *r, struct ob_region_stats *stats)
{
    if (stats == NULL)
        return;
    memset(stats, 0, sizeof *stats);
    if (r == NULL || r->magic != OB_REGION_MAGIC)
        misuse(r, "ob_region_stats of something that is not a live region");
    ob_region_t *rw = (ob_region_t *)r;
    if (ob_diverted() && r->heap.region_owner == ob_heap_own()) {
        /* Debug mode: the live debug blocks, with their sizes. */
        visit(rw, count_visited, stats);
        stats->bytes_mapped = rw->heap.narenas * OB_ARENA_SIZE;
        return;
    }
    region_count_t c = {0, 0};
    _ob_heap_for_each_arena(&rw->heap, count_arena, &c);
    /* Blocks handed to the heap by other threads' frees are free too. */
    for (const ob_block_t *b = (const ob_block_t *)ob_atomic_load_acquire(&rw->heap.delayed);
         b != NULL; b = ob_block_next(b)) {
        const ob_pool_t *pool = ob_pool_of(ob_arena_of(b), b);
        c.blocks--;
        c.bytes -= pool->block_size;
    }
    stats->blocks_in_use = c.blocks;
    stats->bytes_in_use = c.bytes;
    stats->bytes_mapped = rw->heap.narenas * OB_ARENA_SIZE;
    _ob_lock(&_ob_huge_lock);
    for (const ob_huge_t *h = r->huge; h != NULL; h = h->owner_next) {
        stats->blocks_in_use++;
        stats->bytes_in_use += h->size;
        stats->bytes_mapped += h->mapped;
    }
    _ob_unlock(&_ob_huge_lock);
}
