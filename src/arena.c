/*
 * Arenas: 4 MiB regions, aligned to 4 MiB, owned by one heap, cut into
 * 16 KiB pages; a pool is a run of pages found with the arena's bitmap.
 *
 * Choosing where a new pool goes is pymalloc's idea made O(1): a heap
 * keeps its arenas in buckets by number of free pages and takes pages from
 * the fullest arena that has room, so the emptiest arenas drain and can be
 * given back.  (pymalloc keeps `usable_arenas` sorted with "search
 * fingers"; buckets indexed by the free count, with a bitmap of non-empty
 * buckets, do the same without a sorted list.)
 *
 * Memory goes back in two steps.  A page a pool no longer uses stays dirty
 * (mapped and resident, cheap to reuse) until a purge tick finds it free
 * for a whole tick, then madvise(MADV_DONTNEED) returns it.  An arena with
 * no pool at all becomes a spare: mapped, its guard pages in place, its
 * pages still resident, first in line for the next arena anyone asks for.
 * How many spares stay is set by demand (the spare cache, below): as many
 * arenas as were asked for in the last two purge delays, at least
 * OBMALLOC_ARENA_CACHE.  Threads that come and go hand their arenas on
 * without a page fault or a system call; a program that shrank for good
 * keeps only the minimum.  A spare idle for a purge delay gives its pages
 * back, and one beyond the cache's size is unmapped.  A destroyed region's
 * arenas are spares beyond that count for one purge delay.
 */
#include <string.h>

#include "bitmap.h"

ob_lock_t _ob_abandon_lock = OB_LOCK_INIT;
ob_lock_t _ob_cache_lock = OB_LOCK_INIT;

/* Arenas of exited threads and released regions, via next, by kind. */
static ob_arena_t *abandoned[OB_KINDS];
static ob_arena_t *spare;       /* empty arenas kept mapped, via next     */
static size_t spare_count;
/* The spare cache's demand: arenas handed out (spares taken or arenas
 * mapped) in the current window of one purge delay, and in the one before.
 * Under _ob_cache_lock. */
static uint64_t demand_since_ms;
static size_t demand_now, demand_before;
static _Atomic size_t spare_dirty_pages; /* resident free pages of the spares */
static _Atomic size_t arenas_mapped;
static _Atomic uint64_t arenas_allocated, arenas_reclaimed;
static _Atomic size_t arenas_highwater;

void _ob_arena_stats_totals(uint64_t *allocated, uint64_t *reclaimed, size_t *highwater)
{
    *allocated = ob_atomic_load_relaxed(&arenas_allocated);
    *reclaimed = ob_atomic_load_relaxed(&arenas_reclaimed);
    *highwater = ob_atomic_load_relaxed(&arenas_highwater);
}

/* Visits the arenas no heap owns (abandoned ones and spares), under their
 * locks. */
void _ob_arena_for_each_unowned(void (*fn)(ob_arena_t *, void *), void *ctx)
{
    _ob_lock(&_ob_abandon_lock);
    for (unsigned k = 0; k < OB_KINDS; k++)
        for (ob_arena_t *a = abandoned[k]; a != NULL; a = a->next)
            fn(a, ctx);
    _ob_unlock(&_ob_abandon_lock);
    _ob_lock(&_ob_cache_lock);
    for (ob_arena_t *a = spare; a != NULL; a = a->next)
        fn(a, ctx);
    _ob_unlock(&_ob_cache_lock);
}

/* Visits the abandoned arenas of one kind, under the lock. */
void _ob_arena_for_each_abandoned(unsigned kind, void (*fn)(ob_arena_t *, void *), void *ctx)
{
    _ob_lock(&_ob_abandon_lock);
    for (ob_arena_t *a = abandoned[kind]; a != NULL; a = a->next)
        fn(a, ctx);
    _ob_unlock(&_ob_abandon_lock);
}

size_t _ob_arenas_mapped(void)
{
    return ob_atomic_load_relaxed(&arenas_mapped);
}

/* ---- buckets ---------------------------------------------------------- */

static void bucket_insert(ob_heap_t *heap, ob_arena_t *a)
{
    size_t b = a->nfree;
    a->bucket = (uint32_t)b;
    a->prev = NULL;
    a->next = heap->buckets[b];
    if (a->next)
        a->next->prev = a;
    heap->buckets[b] = a;
    heap->bucket_nonempty[b / 64] |= (uint64_t)1 << (b % 64);
}

static void bucket_remove(ob_heap_t *heap, ob_arena_t *a)
{
    size_t b = a->bucket;
    if (a->prev)
        a->prev->next = a->next;
    else
        heap->buckets[b] = a->next;
    if (a->next)
        a->next->prev = a->prev;
    if (heap->buckets[b] == NULL)
        heap->bucket_nonempty[b / 64] &= ~((uint64_t)1 << (b % 64));
    a->next = a->prev = NULL;
}

static void rebucket(ob_heap_t *heap, ob_arena_t *a)
{
    if (a->bucket != a->nfree) {
        bucket_remove(heap, a);
        bucket_insert(heap, a);
    }
}

/* Smallest non-empty bucket >= from, or OB_BUCKETS. */
static size_t next_bucket(const ob_heap_t *heap, size_t from)
{
    for (size_t w = from / 64; w < OB_BUCKET_WORDS; w++) {
        uint64_t bits = heap->bucket_nonempty[w];
        if (w == from / 64)
            bits &= ~(uint64_t)0 << (from % 64);
        if (bits)
            return w * 64 + (size_t)__builtin_ctzll(bits);
    }
    return OB_BUCKETS;
}

void _ob_arena_insert(ob_heap_t *heap, ob_arena_t *a)
{
    ob_atomic_store_release(&a->heap, heap);
    bucket_insert(heap, a);
    heap->narenas++;
    *ob_owned_slot(heap, ob_arena_base(a)) = ob_arena_base(a);
}

/* The arena leaves the heap: out of its buckets and its owned cache, and,
 * for a region's, out of its owner's cache, where it may be tagged (this
 * runs on the owner's thread: destroy, release, or a pool emptied). */
static void arena_remove(ob_heap_t *heap, ob_arena_t *a)
{
    bucket_remove(heap, a);
    heap->narenas--;
    uintptr_t *slot = ob_owned_slot(heap, ob_arena_base(a));
    if (*slot == ob_arena_base(a))
        *slot = OB_OWNED_EMPTY;
    if (heap->region_owner != NULL) {
        slot = ob_owned_slot(heap->region_owner, ob_arena_base(a));
        if (*slot == (ob_arena_base(a) | OB_OWNED_REGION))
            *slot = OB_OWNED_EMPTY;
    }
}

/* ---- mapping and releasing arenas ------------------------------------ */

/* ---- the spare cache ---------------------------------------------------
 *
 * An empty arena is worth keeping if someone will ask for an arena soon:
 * a thread that starts as another exits, a heap that grows again after a
 * phase of frees.  The best guess of "soon" is the recent past, so the
 * cache holds up to as many spares as arenas were handed out in the last
 * two purge delays (the window rolls every delay), and never fewer than
 * OBMALLOC_ARENA_CACHE.  In mimalloc-bench's mstress (threads of 10 to
 * 40 MB that live 30 ms) the fixed cache of 2 made every thread map and
 * fault in its arenas afresh: 1.5 million page faults, 11 s of system time.
 * A program that frees everything and goes on without new arenas sees the
 * windows roll to zero: its next empty arenas are unmapped at once, and the
 * spares it kept are purged, then unmapped, by the next ticks. */

static size_t spare_limit_locked(uint64_t now_ms)
{
    uint64_t delay = _ob_purge_delay_ms() ? _ob_purge_delay_ms() : 1;
    if (now_ms - demand_since_ms >= delay) {
        demand_before = now_ms - demand_since_ms >= 2 * delay ? 0 : demand_now;
        demand_now = 0;
        demand_since_ms = now_ms;
    }
    size_t limit = demand_now > demand_before ? demand_now : demand_before;
    return limit > _ob_options.arena_cache ? limit : _ob_options.arena_cache;
}

static size_t spare_resident_pages(const ob_arena_t *a)
{
    size_t n = 0;
    for (size_t w = 0; w < OB_BITMAP_WORDS; w++)
        n += (size_t)__builtin_popcountll(a->dirty_map[w] & ~a->used_map[w]);
    return n;
}

void _ob_arena_spare_stats(size_t *count, size_t *limit, size_t *resident_bytes)
{
    _ob_lock(&_ob_cache_lock);
    *count = spare_count;
    *limit = spare_limit_locked(_ob_os_now_ms());
    _ob_unlock(&_ob_cache_lock);
    *resident_bytes = ob_atomic_load_relaxed(&spare_dirty_pages) *
                      OB_PAGE_SIZE;
}

/* `heap_arenas`: how many the heap that asks already has (hugepage.c). */
static ob_arena_t *arena_new(size_t heap_arenas)
{
    uint64_t now = _ob_os_now_ms();
    _ob_lock(&_ob_cache_lock);
    (void)spare_limit_locked(now); /* rolls the window */
    demand_now++;
    ob_arena_t *a = spare;
    if (a != NULL) {
        spare = a->next;
        spare_count--;
        ob_atomic_sub_relaxed(&spare_dirty_pages, a->spare_pages);
    }
    _ob_unlock(&_ob_cache_lock);
    if (a != NULL) {
        a->next = a->prev = NULL;
        return a;
    }
    char *base = _ob_os_map(OB_ARENA_SIZE, OB_ARENA_SIZE);
    if (base == NULL)
        return NULL;
    bool huge = _ob_hugepage_arena_wanted(
        ob_atomic_load_relaxed(&arenas_mapped) + 1, heap_arenas);
    if (!huge) { /* guards would split a huge page (hugepage.c) */
        _ob_os_guard(base, OB_ARENA_GUARD);
        _ob_os_guard(base + OB_ARENA_HEADER_PAGES * OB_PAGE_SIZE - OB_ARENA_GUARD,
                     OB_ARENA_GUARD);
    }
    a = (ob_arena_t *)(base + OB_ARENA_GUARD);
    if (huge)
        _ob_hugepage_arena_back(a);
    /* Fresh pages are zero: every descriptor is OB_POOL_FREE. */
    ob_bitmap_set(a->used_map, 0, OB_ARENA_HEADER_PAGES);
    ob_bitmap_set(a->dirty_map, 0, OB_ARENA_HEADER_PAGES);
    a->nfree = OB_ARENA_USABLE_PAGES;
    if (!_ob_map_set((uintptr_t)base, OB_ARENA_SIZE, (uintptr_t)base | OB_MAP_ARENA)) {
        _ob_os_unmap(base, OB_ARENA_SIZE);
        return NULL;
    }
    size_t mapped = ob_atomic_add_relaxed(&arenas_mapped, 1) + 1;
    ob_atomic_add_relaxed(&arenas_allocated, 1);
    size_t high = ob_atomic_load_relaxed(&arenas_highwater);
    while (mapped > high && !ob_atomic_cas_weak_relaxed(&arenas_highwater, &high, mapped)) {
    }
    return a;
}

static void arena_unmap(ob_arena_t *a)
{
    /* Resident free pages going back count as purged (purge.c): a program
     * that drops arenas it never needs again brings the delay down. */
    size_t dirty = spare_resident_pages(a);
    if (dirty != 0)
        _ob_purge_note_purged(dirty);
    _ob_map_clear(ob_arena_base(a), OB_ARENA_SIZE);
    _ob_os_unmap((void *)ob_arena_base(a), OB_ARENA_SIZE);
    ob_atomic_sub_relaxed(&arenas_mapped, 1);
    ob_atomic_add_relaxed(&arenas_reclaimed, 1);
}

static void purge_arena_pages(ob_arena_t *a, const uint64_t *which)
{
    OB_BITMAP_RUNS(which, start, len, {
        /* A run the OS would not take back still holds its data: it stays
         * dirty (calloc would otherwise take it for zeroes). */
        if (_ob_os_purge((char *)ob_arena_base(a) + start * OB_PAGE_SIZE, len * OB_PAGE_SIZE)) {
            ob_bitmap_clear(a->dirty_map, start, len);
            ob_bitmap_set(a->purged_map, start, len);
            _ob_purge_note_purged(len);
        }
    });
    if (a->huge_backed)
        _ob_hugepage_purged(a);
}

/* An arena with no pool: keep it as a spare, or unmap it.  `burst`: one
 * of a destroyed region's, kept even beyond the cache's size, for one
 * purge delay (_ob_arena_cache_trim): the thread's next region, or the
 * next arena anyone maps, takes it with its pages still resident. */
static void arena_release_as(ob_arena_t *a, bool burst)
{
    ob_assert(a->nfree == OB_ARENA_USABLE_PAGES);
    ob_atomic_store_relaxed(&a->heap, NULL);
    memset(a->recent_map, 0, sizeof a->recent_map);
    uint64_t now = _ob_os_now_ms();
    size_t pages = spare_resident_pages(a);
    _ob_lock(&_ob_cache_lock);
    if (burst || spare_count < spare_limit_locked(now)) {
        a->cached_at_ms = now;
        a->spare_pages = (uint32_t)pages;
        ob_atomic_add_relaxed(&spare_dirty_pages, pages);
        a->prev = NULL;
        a->next = spare;
        spare = a;
        spare_count++;
        a = NULL;
    }
    _ob_unlock(&_ob_cache_lock);
    if (a != NULL)
        arena_unmap(a);
}

static void arena_release(ob_arena_t *a)
{
    arena_release_as(a, false);
}

/* Spares idle for a purge delay give their pages back, or, beyond the
 * cache's size (a destroyed region's), are unmapped; with `all`, spares
 * are unmapped. */
void _ob_arena_cache_trim(uint64_t now_ms, bool all)
{
    ob_arena_t *to_unmap = NULL;
    _ob_lock(&_ob_cache_lock);
    if (all) {
        to_unmap = spare;
        spare = NULL;
        spare_count = 0;
        ob_atomic_store_relaxed(&spare_dirty_pages, 0);
    } else {
        size_t kept = 0, limit = spare_limit_locked(now_ms);
        for (ob_arena_t *a, **link = &spare; (a = *link) != NULL;) {
            if (now_ms - a->cached_at_ms < _ob_purge_delay_ms()) {
                kept++;
                link = &a->next;
                continue;
            }
            ob_atomic_sub_relaxed(&spare_dirty_pages, a->spare_pages);
            if (kept >= limit) {
                *link = a->next;
                spare_count--;
                a->next = to_unmap;
                to_unmap = a;
                continue;
            }
            kept++;
            link = &a->next;
            uint64_t which[OB_BITMAP_WORDS];
            for (size_t w = 0; w < OB_BITMAP_WORDS; w++)
                which[w] = a->dirty_map[w] & ~a->used_map[w];
            _ob_hugepage_purge_filter(a, which, true);
            purge_arena_pages(a, which);
            a->spare_pages = (uint32_t)spare_resident_pages(a);
            ob_atomic_add_relaxed(&spare_dirty_pages, a->spare_pages);
        }
    }
    _ob_unlock(&_ob_cache_lock);
    while (to_unmap != NULL) {
        ob_arena_t *next = to_unmap->next;
        arena_unmap(to_unmap);
        to_unmap = next;
    }
}

/* ---- spans ------------------------------------------------------------ */

/* Pages [i + from, i + n) join the pool that starts at page i. */
static void claim_pages(ob_heap_t *heap, ob_arena_t *a, size_t i, size_t from, size_t n)
{
    size_t regret = ob_bitmap_count_range(a->purged_map, i + from, n - from);
    if (regret != 0) {
        ob_bitmap_clear(a->purged_map, i + from, n - from);
        _ob_purge_note_regret(regret);
    }
    ob_bitmap_set(a->used_map, i + from, n - from);
    ob_bitmap_set(a->dirty_map, i + from, n - from);
    ob_bitmap_clear(a->recent_map, i + from, n - from);
    if (a->huge_backed)
        _ob_hugepage_claimed(a, i + from, n - from);
    a->nfree -= (uint32_t)(n - from);
    if (heap != NULL)
        rebucket(heap, a);
    a->pages[i].npages = (uint8_t)n;
    for (size_t j = from > 1 ? from : 1; j < n; j++) {
        ob_page_set_state(&a->pages[i + j], OB_POOL_TAIL);
        a->head[i + j] = (uint8_t)i;
    }
}

static ob_pool_t *take_span(ob_heap_t *heap, ob_arena_t *a, size_t i,
                            size_t n, bool *zeroed)
{
    *zeroed = !ob_bitmap_any(a->dirty_map, i, n);
    claim_pages(heap, a, i, 0, n);
    a->head[i] = (uint8_t)i;
    return &a->pages[i];
}

/* The pages right after a pool join it, if they are free (realloc's
 * growth in place).  False if they are not. */
bool _ob_arena_grow_span(ob_heap_t *heap, ob_pool_t *pool, size_t npages)
{
    ob_arena_t *a = ob_arena_of_pool(pool);
    size_t i = (size_t)(pool - a->pages), n = pool->npages;
    if (i + npages > OB_ARENA_PAGES || ob_bitmap_any(a->used_map, i + n, npages - n))
        return false;
    claim_pages(heap, a, i, n, npages);
    return true;
}

/* Free pages that are still dirty first: they cost no page fault and no
 * new resident memory, where a clean page costs both (and peak RSS grows
 * with every clean page touched while dirty ones wait for a purge, which a
 * thread that lives less than a purge delay never reaches).  Then any
 * run. */
static ob_pool_t *try_arena(ob_heap_t *heap, ob_arena_t *a, size_t npages,
                            size_t align_pages, bool fresh_too, bool *zeroed)
{
    size_t i;
    if (a->huge_backed) {
        /* A huge page is resident as a whole: fill the fuller one. */
        i = _ob_hugepage_find_run(a, npages, align_pages, fresh_too);
    } else {
        uint64_t busy_or_clean[OB_BITMAP_WORDS];
        for (size_t w = 0; w < OB_BITMAP_WORDS; w++)
            busy_or_clean[w] = a->used_map[w] | ~a->dirty_map[w];
        i = ob_bitmap_find_run(busy_or_clean, npages, align_pages);
        if (i >= OB_ARENA_PAGES)
            i = ob_bitmap_find_run(a->used_map, npages, align_pages);
    }
    if (i >= OB_ARENA_PAGES)
        return NULL;
    return take_span(heap, a, i, npages, zeroed);
}

/* A span of npages from the heap's own arenas, NULL if none has room.
 * Where a span comes from when this fails (an abandoned arena, a new one)
 * is the heap's choice: _ob_heap_alloc_span. */
ob_pool_t *_ob_arena_alloc_span(ob_heap_t *heap, size_t npages,
                                size_t align_pages, bool *zeroed)
{
    /* Fullest arena first.  With huge pages, a fresh 2 MiB half (its first
     * page faults in all of it) only when no arena has room elsewhere
     * (hugepage.c). */
    for (bool fresh_too = _ob_options.hugepages == OB_HUGEPAGES_OFF;; fresh_too = true) {
        for (size_t b = next_bucket(heap, npages); b < OB_BUCKETS;
             b = next_bucket(heap, b + 1)) {
            for (ob_arena_t *a = heap->buckets[b]; a != NULL; a = a->next) {
                ob_pool_t *pool = try_arena(heap, a, npages, align_pages, fresh_too, zeroed);
                if (pool != NULL)
                    return pool;
            }
        }
        if (fresh_too)
            break;
    }
    return NULL;
}

/* A span from arena `a`, which the heap has just taken (adopted or new). */
ob_pool_t *_ob_arena_alloc_span_in(ob_heap_t *heap, ob_arena_t *a, size_t npages,
                                   size_t align_pages, bool *zeroed)
{
    return try_arena(heap, a, npages, align_pages, true, zeroed);
}

/* A new arena for the heap (from the spare cache, or mapped), NULL if the
 * OS has no memory. */
ob_arena_t *_ob_arena_new(ob_heap_t *heap)
{
    ob_arena_t *a = arena_new(heap->narenas);
    if (a != NULL)
        a->kind = heap->kind;
    if (a != NULL)
        _ob_arena_insert(heap, a);
    return a;
}

/* Marks a pool's pages free.  Returns true if the arena is now empty. */
bool _ob_arena_release_pages(ob_pool_t *pool)
{
    ob_arena_t *a = ob_arena_of_pool(pool);
    size_t i = (size_t)(pool - a->pages);
    size_t n = pool->npages;
    for (size_t j = 0; j < n; j++) {
        ob_page_set_state(&a->pages[i + j], OB_POOL_FREE);
        a->head[i + j] = 0;
    }
    ob_bitmap_clear(a->used_map, i, n);
    ob_bitmap_set(a->recent_map, i, n);
    a->nfree += (uint32_t)n;
    return a->nfree == OB_ARENA_USABLE_PAGES;
}

void _ob_arena_free_span(ob_heap_t *heap, ob_pool_t *pool)
{
    ob_arena_t *a = ob_arena_of_pool(pool);
    bool empty = _ob_arena_release_pages(pool);
    /* A heap keeps its last arena, so a thread that allocates and frees
     * in a loop does not map and unmap; purge ticks still return its pages. */
    if (empty && heap->narenas > 1) {
        arena_remove(heap, a);
        arena_release(a);
        return;
    }
    rebucket(heap, a);
}

/* Purge tick: free pages that stayed free for a whole tick go back to the
 * OS (with `all`, every free page does). */
void _ob_arena_purge_one(ob_arena_t *a, bool all)
{
    uint64_t which[OB_BITMAP_WORDS];
    for (size_t w = 0; w < OB_BITMAP_WORDS; w++) {
        which[w] = a->dirty_map[w] & ~a->used_map[w];
        if (!all)
            which[w] &= ~a->recent_map[w];
        a->recent_map[w] = 0;
    }
    _ob_hugepage_purge_filter(a, which, all);
    purge_arena_pages(a, which);
}

void _ob_arena_purge(ob_heap_t *heap, bool all)
{
    if (!all && _ob_options.hugepages != OB_HUGEPAGES_OFF) {
        ob_keep_budget_t budget;
        memset(&budget, 0, sizeof budget);
        for (size_t b = next_bucket(heap, 0); b < OB_BUCKETS; b = next_bucket(heap, b + 1))
            for (ob_arena_t *a = heap->buckets[b]; a != NULL; a = a->next)
                _ob_hugepage_budget_add(&budget, a);
        unsigned threshold = _ob_hugepage_budget_threshold(&budget);
        if (threshold <= OB_ARENA_PAGES / 2)
            for (size_t b = next_bucket(heap, 1); b < OB_BUCKETS; b = next_bucket(heap, b + 1))
                for (ob_arena_t *a = heap->buckets[b]; a != NULL; a = a->next)
                    _ob_hugepage_budget_apply(a, threshold);
    }
    for (size_t b = next_bucket(heap, 1); b < OB_BUCKETS;
         b = next_bucket(heap, b + 1))
        for (ob_arena_t *a = heap->buckets[b]; a != NULL; a = a->next)
            _ob_arena_purge_one(a, all);
}

/* Releases every arena of the heap that holds no pool. */
void _ob_arena_release_empty(ob_heap_t *heap)
{
    ob_arena_t *a = heap->buckets[OB_ARENA_USABLE_PAGES];
    while (a != NULL) {
        ob_arena_t *next = a->next;
        arena_remove(heap, a);
        arena_release(a);
        a = next;
    }
}

/* ---- handing arenas between threads ----------------------------------- */

/* Detaches every arena from the heap; returns them as a list via next. */
ob_arena_t *_ob_arena_detach_all(ob_heap_t *heap)
{
    ob_arena_t *list = NULL;
    for (size_t b = next_bucket(heap, 0); b < OB_BUCKETS;
         b = next_bucket(heap, b + 1)) {
        while (heap->buckets[b] != NULL) {
            ob_arena_t *a = heap->buckets[b];
            arena_remove(heap, a);
            a->next = list;
            list = a;
        }
    }
    return list;
}

/* A detached arena: released if empty, else left for another thread. */
void _ob_arena_abandon(ob_arena_t *a)
{
    if (a->nfree == OB_ARENA_USABLE_PAGES) {
        arena_release(a);
        return;
    }
    ob_atomic_store_release(&a->heap, NULL);
    _ob_lock(&_ob_abandon_lock);
    a->prev = NULL;
    a->next = abandoned[a->kind];
    ob_relaxed_store(&abandoned[a->kind], a); /* peeked without the lock */
    _ob_unlock(&_ob_abandon_lock);
}

void _ob_arena_release_detached(ob_arena_t *a)
{
    arena_release(a);
}

static void release_pool_pages(ob_pool_t *pool, void *ctx)
{
    (void)ctx;
    _ob_arena_release_pages(pool);
}

/* A detached arena of a destroyed region, with whatever it holds.  In
 * normal mode its pools' pages are marked free, one step per pool, and it
 * is released as any empty arena (a spare, or unmapped): a region made and
 * destroyed per request maps nothing after the first.  A later free of
 * one of its blocks is reported ("invalid free": its pages are free)
 * until the pages are handed out again, as for any pointer freed twice.
 * Debug mode unmaps it, so that such a free is reported for as long as
 * the address is not mapped again. */
void _ob_arena_discard(ob_arena_t *a)
{
    if (ob_diverted()) {
        ob_atomic_store_relaxed(&a->heap, NULL);
        arena_unmap(a);
        return;
    }
    _ob_arena_for_each_pool(a, release_pool_pages, NULL);
    arena_release_as(a, true);
}

/* An abandoned arena of the kind, or NULL. */
ob_arena_t *_ob_arena_take_abandoned(unsigned kind)
{
    if (ob_relaxed_load(&abandoned[kind]) == NULL)
        return NULL;
    _ob_lock(&_ob_abandon_lock);
    ob_arena_t *a = abandoned[kind];
    if (a != NULL)
        ob_relaxed_store(&abandoned[kind], a->next);
    _ob_unlock(&_ob_abandon_lock);
    if (a != NULL)
        a->next = a->prev = NULL;
    return a;
}

/* Nobody allocates from an abandoned arena, but other threads go on
 * freeing its blocks (a consumer outliving its producer): without a sweep
 * they would wait on remote lists, with their pages, until a thread short
 * of pages adopts the arena.  The sweep takes each abandoned arena's
 * remote frees in (`collect`, for every pool), purges its free pages and
 * releases it if it emptied.  Arenas on the list are nobody's to change
 * but the lock holder's (adopters take them off under the lock first). */
void _ob_arena_sweep_abandoned(void (*collect)(ob_pool_t *, void *))
{
    _ob_lock(&_ob_abandon_lock);
    ob_arena_t *emptied = NULL;
    for (unsigned k = 0; k < OB_KINDS; k++) {
        ob_arena_t *a = abandoned[k], *prev = NULL;
        while (a != NULL) {
            ob_arena_t *next = a->next;
            _ob_arena_for_each_pool(a, collect, NULL);
            if (a->nfree == OB_ARENA_USABLE_PAGES) {
                if (prev != NULL)
                    prev->next = next;
                else
                    ob_relaxed_store(&abandoned[k], next);
                a->next = emptied;
                emptied = a;
            } else {
                _ob_arena_purge_one(a, false); /* the pages free since the last sweep */
                prev = a;
            }
            a = next;
        }
    }
    _ob_unlock(&_ob_abandon_lock);
    ob_arena_t *a;
    while (emptied != NULL) {
        a = emptied;
        emptied = a->next;
        a->next = a->prev = NULL;
        arena_release(a);
    }
}

/* Visits every pool (head page) of an arena. */
void _ob_arena_for_each_pool(ob_arena_t *a, void (*fn)(ob_pool_t *, void *),
                             void *ctx)
{
    size_t i = OB_ARENA_HEADER_PAGES;
    while (i < OB_ARENA_PAGES) {
        ob_pool_t *pool = &a->pages[i];
        if (pool->state == OB_POOL_FREE) {
            i++;
            continue;
        }
        size_t n = pool->npages;
        fn(pool, ctx);
        i += n;
    }
}

/* Visits every arena a heap owns. */
void _ob_heap_for_each_arena(ob_heap_t *heap, void (*fn)(ob_arena_t *, void *),
                             void *ctx)
{
    for (size_t b = next_bucket(heap, 0); b < OB_BUCKETS;
         b = next_bucket(heap, b + 1)) {
        ob_arena_t *a = heap->buckets[b];
        while (a != NULL) {
            ob_arena_t *next = a->next;
            fn(a, ctx);
            a = next;
        }
    }
}
