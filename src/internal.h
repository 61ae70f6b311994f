/*
 * obmalloc internals.  The headers every file may include:
 *   types.h     the shared structures and their invariants (arena -> pool
 *               -> block, heaps, the arena map, huge blocks, options)
 *   os.h        the OS interface (os.c) and locks
 *   atomic.h    atomic operations, named by their memory order
 *   internal.h  this file: every cross-file function and global, by file,
 *               then the inline helpers, by concern
 *   hooks.h     what the core tells the instruments (statistics, the
 *               profiler, debug mode, valgrind)
 *   format.h    numbers as text without allocating
 * and those of one layer: pool.h (a pool's geometry, the validation of a
 * freed pointer, the free-list encoding, the per-class pool lists),
 * alloc.h (the fast paths), bitmap.h, and debug.h and prof.h, which the
 * two files of each of those instruments share.  docs/DESIGN.md's file
 * table gives every file its layer; tools/layers.py checks them.
 *
 * Ownership: an arena belongs to one heap (one thread).  Only the owner
 * touches a pool's `free` list, counters and list links, without atomics.
 * Other threads free into a pool through its atomic `remote` list.
 * Full pools ask to be told when a remote free arrives (the NOTIFY state),
 * and the first remote freer then hands its block to the owner heap's
 * `delayed` list instead, so the owner notices the pool has room again.
 */
#ifndef OB_INTERNAL_H
#define OB_INTERNAL_H

#include "atomic.h"
#include "os.h"
#include "types.h"

/* ---- heaps (heap.c) --------------------------------------------------- */

extern OB_HIDDEN ob_heap_t _ob_heap_empty;
/* The thread's front heap, the one the fast paths use, and its own heap.
 * Normally the same; when diverted (see _ob_divert) the front one stays
 * &_ob_heap_empty.  Both are &_ob_heap_empty until the thread's first
 * allocation, and again after it exits. */
extern OB_HIDDEN __thread ob_heap_t *_ob_tls_heap
    __attribute__((tls_model("initial-exec")));
extern OB_HIDDEN __thread ob_heap_t *_ob_tls_own
    __attribute__((tls_model("initial-exec")));

OB_HIDDEN ob_heap_t *_ob_heap_init_thread(void);
OB_HIDDEN void *_ob_heap_refill(ob_heap_t *heap, unsigned cls);
struct ob_region;
OB_HIDDEN void _ob_heap_setup(ob_heap_t *heap, struct ob_region *region);
OB_HIDDEN void _ob_heap_unregister(ob_heap_t *heap);
/* Regions (region.c). */
OB_HIDDEN void _ob_regions_thread_exit(ob_heap_t *own);
OB_HIDDEN void _ob_stats_region_dropped(const uint64_t *blocks, uint64_t aligned);
OB_HIDDEN void _ob_arena_discard(ob_arena_t *a);
OB_HIDDEN void _ob_heap_abandon_arenas(ob_heap_t *heap);
OB_HIDDEN void *_ob_class_malloc(ob_heap_t *heap, unsigned cls);
OB_HIDDEN void *_ob_heap_aligned(ob_heap_t *heap, size_t align, size_t size);
OB_HIDDEN void *_ob_debug_malloc_from(void *(*inner_alloc)(void *ctx, size_t align, size_t total),
                                      void *ctx, size_t size, size_t align, bool zero);
OB_HIDDEN bool _ob_debug_live_in(const void *inner, size_t inner_size, void **user, size_t *size);
OB_HIDDEN void _ob_debug_check_dropped(const void *user);
OB_HIDDEN ob_pool_t *_ob_heap_alloc_span(ob_heap_t *heap, size_t npages, size_t align_pages,
                                        bool *zeroed);
OB_HIDDEN void *_ob_heap_alloc_dedicated(ob_heap_t *heap, size_t size,
                                         size_t align);
OB_HIDDEN bool _ob_heap_grow_in_place(ob_heap_t *heap, ob_pool_t *pool, unsigned cls);
OB_HIDDEN void _ob_heap_drain_delayed(ob_heap_t *heap);
OB_HIDDEN void _ob_pool_emptied(ob_heap_t *heap, ob_pool_t *pool);
OB_HIDDEN void _ob_heap_collect(ob_heap_t *heap, bool force);
OB_HIDDEN void _ob_heap_tick_if_due(ob_heap_t *heap);
OB_HIDDEN void _ob_heap_thread_exit(ob_heap_t *heap);
OB_HIDDEN void _ob_heap_after_fork_child(void);

/* ---- size classes (size_class.c) -------------------------------------- */

OB_HIDDEN void _ob_size_classes_init(void);
/* A region's map of small sizes to classes (ob_heap_t.small_class), with
 * the fine classes or without. */
OB_HIDDEN void _ob_small_class_map(uint8_t map[OB_SMALL_MAX / 8], bool fine);
/* Every class, fine ones too, in order of block size (for reports). */
extern OB_HIDDEN uint8_t _ob_classes_by_size[OB_CLASSES];
/* Set when the first pool is made: from then on the table stays. */
extern OB_HIDDEN _Atomic int _ob_classes_fixed;

/* ---- huge pages (hugepage.c) ----------------------------------------- */

OB_HIDDEN int _ob_hugepage_kernel_mode(void);
OB_HIDDEN bool _ob_hugepage_arena_wanted(size_t arenas, size_t heap_arenas);
OB_HIDDEN void _ob_hugepage_arena_back(ob_arena_t *a);
OB_HIDDEN void _ob_hugepage_purge_filter(ob_arena_t *a, uint64_t *which, bool all);
OB_HIDDEN void _ob_hugepage_claimed(ob_arena_t *a, size_t i, size_t n);
OB_HIDDEN void _ob_hugepage_purged(ob_arena_t *a);
typedef struct ob_keep_budget {
    size_t used, kept; /* pages */
    uint32_t halves_by_free[OB_ARENA_PAGES / 2 + 1];
} ob_keep_budget_t;
OB_HIDDEN void _ob_hugepage_budget_add(ob_keep_budget_t *b, const ob_arena_t *a);
OB_HIDDEN unsigned _ob_hugepage_budget_threshold(const ob_keep_budget_t *b);
OB_HIDDEN void _ob_hugepage_budget_apply(ob_arena_t *a, unsigned threshold);
OB_HIDDEN size_t _ob_hugepage_find_run(const ob_arena_t *a, size_t n, size_t align,
                                       bool fresh_too);
OB_HIDDEN size_t _ob_hugepage_bytes(void);
OB_HIDDEN size_t _ob_hugepage_committed_pages(const ob_arena_t *a, size_t *kept);

/* ---- the cross-thread protocol (remote.c) ----------------------------- */

OB_HIDDEN bool _ob_remote_holds(const ob_heap_t *heap, const ob_block_t *b);
OB_HIDDEN bool _ob_remote_free(ob_heap_t *heap, ob_pool_t *pool, ob_block_t *b);
OB_HIDDEN void _ob_remote_push(ob_arena_t *a, ob_pool_t *pool, ob_block_t *b);
OB_HIDDEN void _ob_remote_flush(ob_heap_t *heap);
OB_HIDDEN void *_ob_reuse_pop(ob_heap_t *heap, unsigned cls);
OB_HIDDEN uint32_t _ob_pool_collect_remote(ob_pool_t *pool);
OB_HIDDEN bool _ob_pool_try_mark_full(ob_pool_t *pool);
OB_HIDDEN void _ob_pool_stop_notify(ob_pool_t *pool);

/* ---- arenas (arena.c) ------------------------------------------------- */

OB_HIDDEN ob_pool_t *_ob_arena_alloc_span(ob_heap_t *heap, size_t npages,
                                          size_t align_pages, bool *zeroed);
OB_HIDDEN ob_pool_t *_ob_arena_alloc_span_in(ob_heap_t *heap, ob_arena_t *a, size_t npages,
                                            size_t align_pages, bool *zeroed);
OB_HIDDEN ob_arena_t *_ob_arena_new(ob_heap_t *heap);
OB_HIDDEN void _ob_arena_free_span(ob_heap_t *heap, ob_pool_t *pool);
OB_HIDDEN bool _ob_arena_grow_span(ob_heap_t *heap, ob_pool_t *pool, size_t npages);
OB_HIDDEN void _ob_arena_purge(ob_heap_t *heap, bool all);
OB_HIDDEN void _ob_arena_purge_one(ob_arena_t *a, bool all);
OB_HIDDEN void _ob_arena_release_empty(ob_heap_t *heap);
OB_HIDDEN void _ob_arena_abandon_all(ob_heap_t *heap);
OB_HIDDEN ob_arena_t *_ob_arena_take_abandoned(unsigned kind);
OB_HIDDEN void _ob_arena_sweep_abandoned(void (*collect)(ob_pool_t *, void *));
OB_HIDDEN bool _ob_arena_release_pages(ob_pool_t *pool);
OB_HIDDEN ob_arena_t *_ob_arena_detach_all(ob_heap_t *heap);
OB_HIDDEN void _ob_arena_abandon(ob_arena_t *a);
OB_HIDDEN void _ob_arena_release_detached(ob_arena_t *a);
OB_HIDDEN void _ob_arena_for_each_pool(ob_arena_t *a,
                                       void (*fn)(ob_pool_t *, void *),
                                       void *ctx);
OB_HIDDEN void _ob_heap_for_each_arena(ob_heap_t *heap,
                                       void (*fn)(ob_arena_t *, void *),
                                       void *ctx);
OB_HIDDEN void _ob_arena_insert(ob_heap_t *heap, ob_arena_t *a);
OB_HIDDEN void _ob_arena_cache_trim(uint64_t now_ms, bool all);
OB_HIDDEN void _ob_arena_spare_stats(size_t *count, size_t *limit, size_t *resident_bytes);
/* The purge delay and its adaptation (purge.c). */
OB_HIDDEN uint64_t _ob_purge_delay_ms(void);
OB_HIDDEN void _ob_purge_note_purged(size_t pages);
OB_HIDDEN void _ob_purge_note_regret(size_t pages);
OB_HIDDEN void _ob_purge_adapt(uint64_t now_ms);
OB_HIDDEN void _ob_purge_stats(uint64_t *delay_ms, uint64_t *purged_pages,
                               uint64_t *regret_pages);
OB_HIDDEN size_t _ob_arenas_mapped(void);

/* ---- the arena map (arena_map.c) -------------------------------------- */

/* Root slots hold a leaf's distance from _ob_map_empty_leaf (an all-zero
 * leaf in BSS), so an unused slot is 0 and the root can live in BSS too,
 * and a lookup needs no NULL test: addresses beyond 48 bits are folded
 * into range and then fail the check of ob_map_is_arena. */
extern OB_HIDDEN _Atomic uintptr_t _ob_map_root[OB_MAP_ROOT_SIZE];
extern OB_HIDDEN ob_map_leaf_t _ob_map_empty_leaf;

/* A huge entry is a descriptor pointer; folded high addresses must not
 * pass for it, so huge.c checks the block's bounds against p. */
OB_HIDDEN bool _ob_map_set(uintptr_t start, size_t size, uintptr_t entry);
OB_HIDDEN void _ob_map_clear(uintptr_t start, size_t size);

/* ---- huge blocks (huge.c) --------------------------------------------- */

OB_HIDDEN void *_ob_huge_alloc(size_t size, size_t align, bool zero);
OB_HIDDEN void _ob_huge_free(ob_huge_t *h, void *p);
OB_HIDDEN void *_ob_huge_realloc(ob_huge_t *h, void *p, size_t size);
OB_HIDDEN void _ob_huge_cache_trim(uint64_t now_ms, bool all);
OB_HIDDEN void *_ob_huge_attach(void *p, ob_huge_t **list);

/* ---- frees (free.c) --------------------------------------------------- */

OB_HIDDEN void _ob_free_slow(void *p, uintptr_t entry);
OB_HIDDEN void _ob_free_unowned(ob_heap_t *heap, void *p);
OB_HIDDEN void _ob_free_checked(ob_heap_t *heap, ob_pool_t *pool, void *p);
OB_HIDDEN void _ob_free_block_local(ob_heap_t *heap, ob_pool_t *pool,
                                    ob_block_t *b);
OB_HIDDEN size_t _ob_usable_size_slow(const void *p, uintptr_t entry);

/* ---- the drop-in (override.c, in libobmalloc.so only: weak elsewhere) -- */

/* Notes the memory the process had before obmalloc started. */
OB_HIDDEN void _ob_override_init(void) __attribute__((weak));
/* Is p in such memory?  *extent: bytes from p to its mapping's end. */
OB_HIDDEN bool _ob_foreign_preexisting(const void *p, size_t *extent)
    __attribute__((weak));

/* ---- process state (init.c) ------------------------------------------- */

OB_HIDDEN void _ob_init(void);
extern OB_HIDDEN _Atomic int _ob_initialized;

/* ---- the metadata allocator (meta.c) ---------------------------------- */

OB_HIDDEN void *_ob_meta_alloc(size_t size);
OB_HIDDEN void _ob_meta_free(void *p, size_t size);

/* Global locks, in the order they may be nested (and taken at fork). */
extern OB_HIDDEN ob_lock_t _ob_quarantine_lock; /* debug mode's quarantine */
extern OB_HIDDEN ob_lock_t _ob_heaps_lock;      /* heap registry           */
extern OB_HIDDEN ob_lock_t _ob_abandon_lock;    /* abandoned arenas        */
extern OB_HIDDEN ob_lock_t _ob_huge_lock;       /* huge blocks and cache   */
extern OB_HIDDEN ob_lock_t _ob_cache_lock;      /* spare arena cache       */
extern OB_HIDDEN ob_lock_t _ob_map_lock;        /* arena map nodes         */
extern OB_HIDDEN ob_lock_t _ob_meta_lock;       /* metadata allocator      */

extern OB_HIDDEN ob_options_t _ob_options;
OB_HIDDEN void _ob_options_init(void);

/* ---- the heap profiler (prof.c) --------------------------------------- */

/* Mallocs between samples never reach this with the profiler off. */
#define OB_SAMPLE_NEVER ((uint64_t)1 << 62)
extern OB_HIDDEN bool _ob_prof_on;
extern OB_HIDDEN ob_lock_t _ob_prof_lock;
OB_HIDDEN void _ob_prof_init(void);
OB_HIDDEN void _ob_prof_arm_heap(ob_heap_t *heap);
/* The countdown of class cls reached 0: the next interval. */
OB_HIDDEN void _ob_prof_rearm(ob_heap_t *heap, unsigned cls);
/* The owner's block b of `pool`, just taken, is the sample. */
OB_HIDDEN void _ob_prof_sample_block(ob_pool_t *pool, void *b);
OB_HIDDEN void _ob_prof_pool_settle(ob_pool_t *pool);
/* Blocks outside the classes (huge, over-aligned): sampled by bytes. */
OB_HIDDEN bool _ob_prof_bytes_due(size_t size);
OB_HIDDEN void _ob_prof_record(void *p, size_t bytes, ob_pool_t *pool);
OB_HIDDEN void _ob_prof_freed(const void *p);
OB_HIDDEN void _ob_prof_moved(const void *from, void *to, size_t bytes);
OB_HIDDEN void _ob_prof_heap_dropped(const ob_heap_t *heap);
OB_HIDDEN void _ob_prof_after_fork_child(void);
/* prof_dump.c: the output */
OB_HIDDEN void _ob_prof_output_init(void);
OB_HIDDEN void _ob_prof_output_after_fork(void);
OB_HIDDEN void _ob_prof_dump_if_requested(void);
/* Pools that hold samples, by a hash of their address (prof.c). */
extern OB_HIDDEN _Atomic uint64_t _ob_prof_filter[65536 / 64];
OB_INLINE size_t ob_prof_filter_bit(const void *pool)
{
    return ((uintptr_t)pool >> 6) * 0x9e3779b97f4a7c15ULL >> 48;
}
/* May a block of `pool` be in the profiler's live set? */
OB_INLINE bool ob_prof_pool_may_hold(const void *pool)
{
    size_t bit = ob_prof_filter_bit(pool);
    return (ob_atomic_load_relaxed(&_ob_prof_filter[bit / 64]) >> (bit % 64)) & 1;
}
OB_HIDDEN const char *_ob_symbolize(const void *ip, const char **object, uintptr_t *offset);
OB_HIDDEN const char *_ob_symbols_program(void);
OB_HIDDEN size_t _ob_symbols_unnamed(char *out, size_t cap);
OB_HIDDEN void _ob_symbols_release(void);
OB_HIDDEN void _ob_symbols_forget(void);

/* ---- statistics (stats.c) --------------------------------------------- */

OB_HIDDEN void _ob_stats_flush_class(ob_heap_t *heap, unsigned cls);
OB_HIDDEN void _ob_stats_heap_exit(ob_heap_t *heap);
OB_HIDDEN void _ob_stats_heapless_free(unsigned cls, bool aligned);
OB_HIDDEN void _ob_stats_init(void);
struct ob_stats;
typedef struct ob_stats_huge {
    size_t mapped_live; /* mapped for huge blocks in use */
    size_t cached;      /* freed huge blocks kept for reuse */
} ob_stats_huge_t;
OB_HIDDEN void _ob_stats_fill(struct ob_stats *s, bool resident, ob_stats_huge_t *huge);
extern OB_HIDDEN ob_heap_t *_ob_heaps;                 /* heap.c, under _ob_heaps_lock */
extern OB_HIDDEN _Atomic size_t _ob_map_leaves;         /* arena_map.c */
extern OB_HIDDEN _Atomic size_t _ob_meta_bytes;         /* meta.c */
OB_HIDDEN void _ob_arena_stats_totals(uint64_t *allocated, uint64_t *reclaimed,
                                      size_t *highwater);
OB_HIDDEN void _ob_arena_for_each_unowned(void (*fn)(ob_arena_t *, void *), void *ctx);
OB_HIDDEN void _ob_arena_for_each_abandoned(unsigned kind, void (*fn)(ob_arena_t *, void *),
                                            void *ctx);
OB_HIDDEN void _ob_huge_totals(ob_huge_totals_t *t);
OB_HIDDEN void _ob_huge_for_each(void (*fn)(const ob_huge_t *, void *), void *ctx);

/* ---- reports (report.c) ----------------------------------------------- */

OB_HIDDEN _Noreturn void _ob_fatal(const char *problem, const void *p,
                                   const char *detail);
OB_HIDDEN _Noreturn void _ob_assert_fail(const char *cond, const char *file,
                                         int line);

OB_HIDDEN void _ob_report_begin(ob_report_t *r, const char *problem, const void *p);
OB_HIDDEN void _ob_report_str(ob_report_t *r, const char *s);
OB_HIDDEN void _ob_report_hex(ob_report_t *r, uint64_t x);
OB_HIDDEN void _ob_report_dec(ob_report_t *r, uint64_t x);
OB_HIDDEN void _ob_report_byte(ob_report_t *r, unsigned byte);
OB_HIDDEN void _ob_report_dump(ob_report_t *r, const char *label, const void *p, size_t n);
OB_HIDDEN _Noreturn void _ob_report_die(ob_report_t *r);
OB_HIDDEN void _ob_report_warm_up(void);

/* ---- the diverted paths: debug mode and valgrind (debug.c) -------------
 *
 * `_ob_divert` is 1 until start-up has run and stays 1 in debug mode or
 * under valgrind: every entry point that is not a pure fast path tests it
 * once, and the fast paths never see it, because a diverted thread's
 * front heap (_ob_tls_heap) stays the empty one, so they always fall
 * through to a slow path that does test it.  The debug layer allocates its
 * blocks from the thread's own heap (_ob_tls_own) with the _inner
 * functions, which are the normal allocator without the diversion. */
extern OB_HIDDEN int _ob_divert;
OB_HIDDEN bool _ob_diverted_slow(void);
extern OB_HIDDEN bool _ob_debug_on; /* OBMALLOC_DEBUG */
extern OB_HIDDEN bool _ob_valgrind_on; /* running under valgrind */
OB_HIDDEN void *_ob_malloc_inner(size_t size);
OB_HIDDEN void *_ob_aligned_inner(size_t align, size_t size);
OB_HIDDEN void _ob_free_inner(void *p);
OB_HIDDEN size_t _ob_usable_inner(const void *p);
OB_HIDDEN void _ob_debug_init(void);
OB_HIDDEN void *_ob_debug_malloc(size_t size, size_t align, bool zero);
OB_HIDDEN void *_ob_debug_calloc(size_t n, size_t size);
OB_HIDDEN void *_ob_debug_realloc(void *p, size_t size);
OB_HIDDEN void _ob_debug_free(void *p);
OB_HIDDEN void _ob_debug_free_sized(void *p, size_t size);
OB_HIDDEN size_t _ob_debug_usable_size(const void *p);
/* For ob_heap_check: a problem with the debug block in the inner block
 * [inner, inner + size), or NULL; *where gets its address. */
OB_HIDDEN const char *_ob_debug_scan(const void *inner, size_t size, const void **where);
OB_HIDDEN const char *_ob_debug_scan_quarantine(const void **where);
OB_HIDDEN void _ob_debug_vg_reuse(void *p, size_t n);
OB_HIDDEN void _ob_debug_flush_quarantine(void);

/* ======================================================================
 * Inline helpers
 * ====================================================================== */

/* ---- size classes ----------------------------------------------------- */

/* The size class a pool class reports as (a twin as its class). */
OB_INLINE unsigned ob_class_public(unsigned pool_class)
{
    return pool_class < OB_CLASSES ? pool_class : pool_class - OB_CLASSES;
}

/* Size (1..OB_MAX_CLASS_SIZE) to class: 16-byte steps up to 512, then
 * OB_STEPS_PER_DOUBLING classes per power of two. */
OB_INLINE size_t ob_size_class_small(size_t size) { return (size - 1) >> 4; }

/* Above 512 bytes the classes step by 128 bytes or more, so every size in
 * a 16-byte step has the same class: up to 4 KiB a table says which
 * (one load instead of the bit arithmetic below, which larson-like
 * programs, half of whose blocks are 513..1000 bytes, pay on every malloc). */
#define OB_MEDIUM_TABLE_MAX 4096
extern OB_HIDDEN uint8_t _ob_medium_classes[OB_MEDIUM_TABLE_MAX / OB_ALIGNMENT];

OB_INLINE size_t ob_size_class_computed(size_t size)
{
    size_t s = size - 1;
    size_t e = 63u - (size_t)__builtin_clzll(s); /* 2^e <= s */
    return OB_SMALL_CLASSES + ((e - 9) << 2) + ((s >> (e - 2)) & 3);
}

OB_INLINE size_t ob_size_class_large(size_t size)
{
    if (OB_LIKELY(size <= OB_MEDIUM_TABLE_MAX))
        return _ob_medium_classes[(size - 1) >> 4];
    return ob_size_class_computed(size);
}

OB_INLINE size_t ob_size_class(size_t size)
{
    return OB_LIKELY(size <= OB_SMALL_MAX) ? ob_size_class_small(size)
                                           : ob_size_class_large(size);
}

/* A region's class for a size: its own map of the small sizes (with the
 * fine classes, for a kind aligned to 8). */
OB_INLINE size_t ob_heap_size_class(const ob_heap_t *heap, size_t size)
{
    return OB_LIKELY(size <= OB_SMALL_MAX) ? heap->small_class[(size - 1) >> 3]
                                           : ob_size_class_large(size);
}

/* ---- arenas: geometry ------------------------------------------------ */

OB_INLINE ob_arena_t *ob_arena_of(const void *p)
{
    return (ob_arena_t *)(((uintptr_t)p & ~(uintptr_t)OB_ARENA_MASK) + OB_ARENA_GUARD);
}

/* The arena's first byte (its guard page), the address the map, the owned
 * cache and the OS know it by. */
OB_INLINE uintptr_t ob_arena_base(const ob_arena_t *a)
{
    return (uintptr_t)a - OB_ARENA_GUARD;
}

OB_INLINE ob_arena_t *ob_arena_of_pool(const ob_pool_t *pool)
{
    return ob_arena_of(pool);
}

/* The arena's own states of a page descriptor: FREE (in no pool) and TAIL
 * (inside a pool, not its first page).  No free is accepted on either, so
 * the free bound is 0; a pool's states are set with ob_pool_set_state
 * (pool.h). */
OB_INLINE void ob_page_set_state(ob_pool_t *page, int state)
{
    ob_relaxed_store(&page->state, (uint8_t)state);
    page->free_bound = 0;
}

/* ---- heaps ------------------------------------------------------------ */

/* A plain add: one instruction on the fast paths.  Only the owning thread
 * writes; a reader in another thread (ob_stats_get) may see a value that
 * lags, which is why the figures are exact only when the other threads
 * are quiet (as mimalloc's thread-local statistics). */
OB_INLINE void ob_stat_add(uint64_t *counter, uint64_t n)
{
    if (OB_STATS_COUNTERS)
        *counter += n;
}

/* One malloc of pool class cls, counted down (types.h, ob_heap_stats_t);
 * true when the block is the heap profiler's to sample. */
OB_INLINE bool ob_count_malloc(ob_heap_t *heap, size_t cls)
{
    return OB_UNLIKELY(--heap->stats.until_sample[cls] == 0);
}

OB_INLINE uint64_t ob_heap_mallocs(const ob_heap_stats_t *s, size_t cls)
{
    if (!OB_STATS_COUNTERS)
        return 0;
    return ob_relaxed_load(&s->malloc_base[cls]) -
           ob_relaxed_load(&s->until_sample[cls]);
}

OB_INLINE ob_heap_t *ob_heap_get(void) { return _ob_tls_heap; }
OB_INLINE ob_heap_t *ob_heap_own(void) { return _ob_tls_own; }

OB_INLINE uintptr_t *ob_owned_slot(ob_heap_t *heap, uintptr_t arena_base)
{
    return &heap->owned[(arena_base >> OB_ARENA_SHIFT) & (OB_OWNED_SLOTS - 1)];
}

/* Is p in an arena this heap owns (as far as the cache knows)? */
OB_INLINE bool ob_heap_owns(ob_heap_t *heap, const void *p)
{
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)OB_ARENA_MASK;
    return *ob_owned_slot(heap, base) == base;
}

/* ---- the arena map ---------------------------------------------------- */

/* The map entry for p's granule: 0 if p is not in memory obmalloc mapped. */
OB_INLINE uintptr_t ob_map_lookup(const void *p)
{
    uintptr_t granule = (uintptr_t)p >> OB_ARENA_SHIFT;
    uintptr_t delta = ob_atomic_load_acquire(
        &_ob_map_root[(granule >> OB_MAP_LEAF_BITS) & (OB_MAP_ROOT_SIZE - 1)]);
    ob_map_leaf_t *leaf = (ob_map_leaf_t *)((uintptr_t)&_ob_map_empty_leaf + delta);
    return ob_atomic_load_relaxed(&leaf->entry[granule & (OB_MAP_LEAF_SIZE - 1)]);
}

/* True if the entry says p lies in one of our arenas. */
OB_INLINE bool ob_map_is_arena(uintptr_t entry, const void *p)
{
    return entry == (((uintptr_t)p & ~(uintptr_t)OB_ARENA_MASK) | OB_MAP_ARENA);
}

/* ---- process state, the debug layer, the drop-in ----------------------- */

OB_INLINE void ob_ensure_init(void)
{
    if (OB_UNLIKELY(!ob_atomic_load_acquire(&_ob_initialized)))
        _ob_init();
}

/* Must this call go to the debug layer?  (Runs start-up first if it has
 * not run: until then _ob_divert is 1.) */
OB_INLINE bool ob_diverted(void)
{
    return OB_UNLIKELY(_ob_divert) && _ob_diverted_slow();
}

OB_INLINE bool ob_foreign_preexisting(const void *p, size_t *extent)
{
    return _ob_foreign_preexisting != NULL && _ob_foreign_preexisting(p, extent);
}

/* ---- small helpers ---------------------------------------------------- */

OB_INLINE size_t ob_align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
OB_INLINE bool ob_is_pow2(size_t x) { return x && !(x & (x - 1)); }

#endif /* OB_INTERNAL_H */
