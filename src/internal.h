/*
 * obmalloc internals: the structures every part of the allocator shares.
 *
 *   arena (4 MiB, aligned to 4 MiB, owned by one heap)
 *   +-----------+-----------+--------+--------+-----+--------+
 *   | header    | header    | page 2 | page 3 | ... | page255|   16 KiB pages
 *   | ob_arena_t: owner, bitmaps, one descriptor per page    |
 *   +-----------+-----------+--------+--------+-----+--------+
 *                            \_______ pool ______/
 *   A pool is a run of 1..64 pages holding blocks of one size class:
 *   [block][block][block]...[uncarved............][tail waste]
 *
 * Metadata (the arena header with the pool descriptors) lives at the start
 * of the arena, below every block, so a block overflow cannot reach it.
 * A pointer finds its arena by masking and its pool through the page
 * descriptor; whether a pointer is ours at all is answered by the arena map
 * (arena_map.c), which never reads memory obmalloc does not own.
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

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obmalloc.h"

#define OB_LIKELY(x) __builtin_expect(!!(x), 1)
#define OB_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define OB_NOINLINE __attribute__((noinline))
#define OB_COLD __attribute__((cold, noinline))
#define OB_INLINE static inline __attribute__((always_inline))
#define OB_HIDDEN __attribute__((visibility("hidden")))

#ifndef NDEBUG
#define OB_DEBUG_ASSERTS 1
#else
#define OB_DEBUG_ASSERTS 0
#endif
#define ob_assert(cond)                                                     \
    do {                                                                    \
        if (OB_DEBUG_ASSERTS && OB_UNLIKELY(!(cond)))                       \
            _ob_assert_fail(#cond, __FILE__, __LINE__);                     \
    } while (0)

/* ---- geometry --------------------------------------------------------- */

#define OB_ALIGNMENT 16
#define OB_PAGE_SHIFT 14 /* 16 KiB: pymalloc's pool size */
#define OB_PAGE_SIZE ((size_t)1 << OB_PAGE_SHIFT)
#define OB_ARENA_SHIFT 22 /* 4 MiB */
#define OB_ARENA_SIZE ((size_t)1 << OB_ARENA_SHIFT)
#define OB_ARENA_MASK (OB_ARENA_SIZE - 1)
#define OB_ARENA_PAGES (OB_ARENA_SIZE / OB_PAGE_SIZE) /* 256 */
#define OB_BITMAP_WORDS (OB_ARENA_PAGES / 64)

/* ---- size classes (size_class.c) -------------------------------------- */

#define OB_SMALL_MAX 512                  /* 16-byte steps up to here */
#define OB_SMALL_CLASSES (OB_SMALL_MAX / OB_ALIGNMENT) /* 32 */
#define OB_STEPS_PER_DOUBLING 4           /* geometric classes above */
#define OB_MAX_CLASS_SIZE ((size_t)1 << 20) /* 1 MiB; larger are huge */
#define OB_CLASSES (OB_SMALL_CLASSES + 11 * OB_STEPS_PER_DOUBLING) /* 76 */
#define OB_MAX_POOL_PAGES 64

/* Aligned twins: when small pools start their blocks at a block offset
 * (see ob_pool_t), a request for more than 16-byte alignment cannot use
 * them; each small class has a twin, a second kind of pool with the same
 * block size and no offset, serving aligned requests only.  Pools, the
 * heap's lists and its counters are indexed by pool class: the size
 * classes, then the twins.  The statistics fold a twin into its class. */
#define OB_POOL_CLASSES (OB_CLASSES + OB_SMALL_CLASSES) /* 108 */
#define OB_MAX_BLOCK_OFFSET 1024

typedef struct ob_class_info {
    uint32_t block_size;   /* bytes per block                               */
    uint16_t pages;        /* pages per pool                                */
    uint16_t capacity;     /* blocks per pool =
                              (pages*PAGE - block_offset) / block_size      */
    uint16_t block_offset; /* bytes from the pool's start to its first block */
} ob_class_info_t;

extern OB_HIDDEN ob_class_info_t _ob_classes[OB_POOL_CLASSES];

/* The size class a pool class reports as (a twin as its class). */
OB_INLINE unsigned ob_class_public(unsigned pool_class)
{
    return pool_class < OB_CLASSES ? pool_class : pool_class - OB_CLASSES;
}

/* Size (1..OB_MAX_CLASS_SIZE) to class: 16-byte steps up to 512, then
 * OB_STEPS_PER_DOUBLING classes per power of two. */
OB_INLINE size_t ob_size_class_small(size_t size) { return (size - 1) >> 4; }

OB_INLINE size_t ob_size_class_large(size_t size)
{
    size_t s = size - 1;
    size_t e = 63u - (size_t)__builtin_clzll(s); /* 2^e <= s */
    return OB_SMALL_CLASSES + ((e - 9) << 2) + ((s >> (e - 2)) & 3);
}

OB_INLINE size_t ob_size_class(size_t size)
{
    return OB_LIKELY(size <= OB_SMALL_MAX) ? ob_size_class_small(size)
                                           : ob_size_class_large(size);
}

OB_HIDDEN void _ob_size_classes_init(void);
/* Set when the first pool is made: from then on the table stays. */
extern OB_HIDDEN _Atomic int _ob_classes_fixed;

/* ---- blocks and free lists -------------------------------------------- */

/* A free block's first word links it into a list.  Links are stored
 * encoded (xor with a per-process random secret), so that a write after
 * free turns a link into noise, which pop_block catches before malloc can
 * hand it out (alloc.h), and steering malloc to a chosen address needs the
 * secret.  (Mixing in the link's own address as well, as glibc's
 * safe-linking does, cost 6 instructions per malloc/free pair and adds
 * little: whoever can read one link and knows the address it names has
 * the secret either way.) */
typedef struct ob_block {
    uintptr_t next_encoded;
} ob_block_t;

extern OB_HIDDEN uintptr_t _ob_secret;

/* OB_HARDENED=0 compiles out the normal mode's defences on the fast paths
 * (link encoding, the checks of popped links and of freed pointers): only
 * for measuring what they cost (docs/BENCHMARKS.md).  Never ship it. */
#ifndef OB_HARDENED
#define OB_HARDENED 1
#endif

OB_INLINE ob_block_t *ob_block_next(const ob_block_t *b)
{
    return (ob_block_t *)(b->next_encoded ^ (OB_HARDENED ? _ob_secret : 0));
}
OB_INLINE void ob_block_set_next(ob_block_t *b, const ob_block_t *next)
{
    b->next_encoded = (uintptr_t)next ^ (OB_HARDENED ? _ob_secret : 0);
}

/* ---- pools ------------------------------------------------------------ */

enum ob_pool_state {
    OB_POOL_FREE = 0,   /* page not in any pool (or an arena header page) */
    OB_POOL_TAIL,       /* non-first page of a pool: see to_head          */
    OB_POOL_ACTIVE,     /* on its heap's list for its class               */
    OB_POOL_FULL,       /* no free block; off every list; wants NOTIFY    */
    OB_POOL_DEDICATED,  /* one over-aligned block; off every list         */
};

/* pool->remote: a list of blocks freed by other threads (16-aligned, so the
 * low bits are free) plus the notification state in the low two bits. */
#define OB_REMOTE_NONE 0u      /* plain remote frees                      */
#define OB_REMOTE_NOTIFY 1u    /* owner wants the next remote free        */
#define OB_REMOTE_NOTIFYING 2u /* a freer is handing a block to the owner */
#define OB_REMOTE_STATE 3u

struct ob_heap;

/* One descriptor per arena page; only a pool's first page's is live.
 *
 * Blocks start `block_offset` bytes into the pool's first page (its class's
 * offset, see size_class.c: 0, or OBMALLOC_BLOCK_OFFSET for the small
 * classes), so block k lies at first block + k * block_size.  `first_lo`
 * keeps the low 32 bits of the first block's address: a pointer's offset
 * from the first block is then one 32-bit subtraction, and arenas are
 * aligned to 4 MiB, so first_lo also says where in its arena the pool is.
 *
 * Validating a freed pointer.  `divisor` is floor(2^64 / block_size) + 1,
 * so for an offset o < 2^22 (anywhere in an arena) the product
 * o * divisor mod 2^64 is k * step if o is block k's start, where
 * step = divisor * block_size - 2^64 is in [1, block_size], and at least
 * `divisor` (more than any pool's bound) if o is not a block start.  (Lemire
 * et al., "Faster remainder by direct computation", 2019.)  A pointer in
 * the block offset, below the first block, wraps to o = 2^32 - j, whose
 * product test_size_class checks to be beyond every bound, for every
 * class and every j up to OB_MAX_BLOCK_OFFSET.  So one multiplication and
 * one compare with free_bound = carved * step prove that o is a block
 * the pool has handed out.
 *
 * Invariants (owner's view, for an ACTIVE, FULL or DEDICATED pool):
 *   first_lo mod 2^22 == page index * OB_PAGE_SIZE + block_offset
 *   carved <= capacity, block_offset + capacity * block_size <= npages * PAGE
 *   used + length(free) == carved      (remote-pending blocks count as used)
 *   state == ACTIVE <=> the pool is on heap->pools[size_class]
 *   free_bound == (state == ACTIVE ? carved * step : 0): the owner's fast
 *     free needs no state test, as every product fails in another state
 *   FULL      => free == NULL && carved == capacity
 *   used == 0 => the pool holds no live block and may be released
 *   OB_POOL_KEEP_EMPTY set <=> pool == heap->current[size_class] && capacity > 1
 * For every page i of a pool starting at page h:
 *   pages[i].to_head == (i - h) * sizeof(ob_pool_t).
 */
enum {
    OB_POOL_KEEP_EMPTY = 1, /* the current pool of its class: stays when empty */
    OB_POOL_ZEROED = 2,     /* uncarved memory is zero, and a single-block
                               pool's block was never freed (calloc)       */
};

typedef struct ob_pool {
    ob_block_t *free;      /* blocks ready to hand out (owner only)        */
    uint32_t free_bound;   /* carved * step while ACTIVE, else 0 (above)   */
    uint32_t block_size;   /* bytes per block                              */
    uint32_t first_lo;     /* the first block's address, low 32 bits       */
    uint16_t used;         /* blocks handed out and not yet freed locally  */
    uint16_t carved;       /* blocks carved so far (owner only)            */
    uint64_t divisor;      /* floor(2^64 / block_size) + 1                 */
    uint16_t capacity;     /* blocks the pool can hold                     */
    uint16_t to_head;      /* bytes from this page's descriptor back to
                              its pool's (the first page's)                */
    uint8_t state;         /* enum ob_pool_state (see ob_pool_state)       */
    uint8_t size_class;    /* pool class: index into _ob_classes           */
    uint8_t npages;        /* pages in the pool                            */
    uint8_t flags;         /* OB_POOL_KEEP_EMPTY, OB_POOL_ZEROED           */
    struct ob_pool *next, *prev; /* heap->pools[size_class] links          */
    _Atomic uintptr_t remote;    /* other threads' frees | OB_REMOTE_*     */
} ob_pool_t;

_Static_assert(sizeof(ob_pool_t) == 64, "one cache line per descriptor");

/* ---- arenas ----------------------------------------------------------- */

/* Invariants:
 *   popcount(used_map) == OB_ARENA_PAGES - nfree
 *   header pages are always set in used_map
 *   dirty_map: pages that may hold non-zero data (set when a pool takes a
 *              page, cleared when a free page is purged)
 *   recent_map ⊆ ~used_map ∩ dirty_map: freed since the last purge tick
 */
typedef struct ob_arena {
    _Atomic(struct ob_heap *) heap;   /* owner; NULL while abandoned      */
    struct ob_arena *next, *prev;     /* owner's bucket, or global lists  */
    uint32_t nfree;                   /* free pages                       */
    uint32_t bucket;                  /* which heap bucket it is in       */
    uint64_t used_map[OB_BITMAP_WORDS];
    uint64_t dirty_map[OB_BITMAP_WORDS];
    uint64_t recent_map[OB_BITMAP_WORDS];
    uint64_t cached_at_ms;            /* when it entered the spare cache  */
    uint64_t _pad[3];
    ob_pool_t pages[OB_ARENA_PAGES];
} ob_arena_t;

/* Arena layout (4 KiB guard pages, PROT_NONE, hold no data and cost no
 * memory; they keep block overflows away from the metadata):
 *
 *   base: [guard][ob_arena_t ........ ][unused][guard][pool pages ... ]
 *         ^ 0    ^ OB_ARENA_GUARD               ^ first pool page - 4 KiB
 *
 * An overflow off the end of anything mapped below the arena (another
 * arena's last pool, a huge block) stops at the first guard; an underflow
 * off the first pool stops at the second. */
#define OB_ARENA_GUARD 4096
#define OB_ARENA_HEADER_PAGES                                               \
    ((OB_ARENA_GUARD + sizeof(ob_arena_t) + OB_ARENA_GUARD + OB_PAGE_SIZE - 1) / OB_PAGE_SIZE)
#define OB_ARENA_USABLE_PAGES (OB_ARENA_PAGES - OB_ARENA_HEADER_PAGES)

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

OB_INLINE ob_pool_t *ob_page_of(ob_arena_t *a, const void *p)
{
    return &a->pages[((uintptr_t)p & OB_ARENA_MASK) >> OB_PAGE_SHIFT];
}

OB_INLINE ob_pool_t *ob_pool_of(ob_arena_t *a, const void *p)
{
    /* Byte arithmetic (descriptors are 64 bytes) keeps this to a few
     * instructions: the page's descriptor, then its distance to the pool's. */
    uintptr_t page_bytes = ((uintptr_t)p >> (OB_PAGE_SHIFT - 6)) &
                           ((OB_ARENA_PAGES - 1) << 6);
    ob_pool_t *page = (ob_pool_t *)((char *)a->pages + page_bytes);
    return (ob_pool_t *)((char *)page - page->to_head);
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
    return __atomic_load_n(&pool->state, __ATOMIC_RELAXED);
}

/* The owner's fast free accepts blocks below this bound (see ob_pool_t). */
OB_INLINE void ob_pool_set_free_bound(ob_pool_t *pool)
{
    pool->free_bound = ob_pool_state(pool) == OB_POOL_ACTIVE
                           ? (uint32_t)pool->carved * ob_pool_step(pool) : 0;
}

/* Changes the state of a pool (or page) the caller owns. */
OB_INLINE void ob_pool_set_state(ob_pool_t *pool, int state)
{
    __atomic_store_n(&pool->state, (uint8_t)state, __ATOMIC_RELAXED);
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

/* ---- heaps (heap.c) --------------------------------------------------- */

typedef struct ob_pool_list {
    ob_pool_t *head, *tail;
} ob_pool_list_t;

#define OB_BUCKETS (OB_ARENA_PAGES + 1) /* arenas by number of free pages */
#define OB_OWNED_SLOTS 64 /* the heap's direct-mapped cache of its arenas */
#define OB_OWNED_EMPTY ((uintptr_t)1)
#define OB_BUCKET_WORDS ((OB_BUCKETS + 63) / 64)

/* A heap's statistics counters.  Only the heap's thread writes them;
 * readers sum them over all heaps (stats.c). */
typedef struct ob_heap_stats {
    uint64_t mallocs[OB_POOL_CLASSES]; /* blocks this heap handed out     */
    uint64_t frees[OB_POOL_CLASSES];   /* blocks this thread freed, any
                                          heap's                          */
    uint64_t cross_thread_frees;  /* of those, into another thread's pool  */
    uint64_t aligned_mallocs;     /* blocks alone in over-aligned pages    */
    uint64_t aligned_frees;
    uint64_t flushed[OB_POOL_CLASSES]; /* mallocs - frees already added to the
                                     process-wide estimate behind peaks    */
} ob_heap_stats_t;

/* OB_STATS_COUNTERS=0 compiles the counters out: only for measuring
 * what they cost (bench/run.sh --stats-cost); the statistics need them. */
#ifndef OB_STATS_COUNTERS
#define OB_STATS_COUNTERS 1
#endif

/* A plain add: one instruction on the fast paths.  Only the owning thread
 * writes; a reader in another thread (ob_stats_get) may see a value that
 * lags, which is why the figures are exact only when the other threads
 * are quiet (as mimalloc's thread-local statistics). */
OB_INLINE void ob_stat_add(uint64_t *counter, uint64_t n)
{
    if (OB_STATS_COUNTERS)
        *counter += n;
}

typedef struct ob_heap {
    /* current[c]: the pool malloc takes class c blocks from (the head of
     * pools[c]), or &_ob_empty_pool; it never is NULL. */
    ob_pool_t *current[OB_POOL_CLASSES];
    ob_pool_list_t pools[OB_POOL_CLASSES];
    /* owned[slot(a)] == a (the arena's base) only if this heap owns arena
     * a; an empty slot holds OB_OWNED_EMPTY, which no arena base (nor the
     * 0 that NULL masks to) equals.  Free's fast path proves with one load
     * that a pointer is in memory this thread owns, before any other read
     * (the arena map answers the rest).  Two arenas with one slot: the
     * later wins, the other takes the map. */
    uintptr_t owned[OB_OWNED_SLOTS];
    _Atomic uintptr_t delayed; /* blocks from notified full pools */
    ob_arena_t *buckets[OB_BUCKETS]; /* owned arenas by nfree            */
    uint64_t bucket_nonempty[OB_BUCKET_WORDS];
    size_t narenas;
    ob_heap_stats_t stats;
    uint64_t next_tick_ms;
    uint32_t slow_events;
    bool initialized;
    bool orphaned; /* in a fork child: its thread did not come along */
    struct ob_heap *reg_next, *reg_prev; /* registry of live heaps */
} ob_heap_t;

extern OB_HIDDEN ob_pool_t _ob_empty_pool;
extern OB_HIDDEN ob_heap_t _ob_heap_empty;
/* The thread's front heap, the one the fast paths use, and its own heap.
 * Normally the same; when diverted (see _ob_divert) the front one stays
 * &_ob_heap_empty.  Both are &_ob_heap_empty until the thread's first
 * allocation, and again after it exits. */
extern OB_HIDDEN __thread ob_heap_t *_ob_tls_heap
    __attribute__((tls_model("initial-exec")));
extern OB_HIDDEN __thread ob_heap_t *_ob_tls_own
    __attribute__((tls_model("initial-exec")));

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

OB_HIDDEN ob_heap_t *_ob_heap_init_thread(void);
OB_HIDDEN void *_ob_heap_refill(ob_heap_t *heap, unsigned cls);
OB_HIDDEN void *_ob_heap_alloc_dedicated(ob_heap_t *heap, size_t size,
                                         size_t align);
OB_HIDDEN void _ob_heap_drain_delayed(ob_heap_t *heap);
OB_HIDDEN void _ob_pool_emptied(ob_heap_t *heap, ob_pool_t *pool);
OB_HIDDEN void _ob_heap_collect(ob_heap_t *heap, bool force);
OB_HIDDEN void _ob_heap_thread_exit(ob_heap_t *heap);
OB_HIDDEN bool _ob_heap_adopt(ob_heap_t *heap, ob_arena_t *a);
OB_HIDDEN void _ob_heap_after_fork_child(void);

/* ---- pools (pool.c) --------------------------------------------------- */

OB_HIDDEN void _ob_pool_init(ob_pool_t *pool, unsigned cls, bool zeroed);
OB_HIDDEN bool _ob_pool_extend(ob_pool_t *pool);
OB_HIDDEN uint32_t _ob_pool_collect_remote(ob_pool_t *pool);
OB_HIDDEN bool _ob_pool_try_mark_full(ob_pool_t *pool);
OB_HIDDEN void _ob_pool_stop_notify(ob_pool_t *pool);

/* ---- arenas (arena.c) ------------------------------------------------- */

OB_HIDDEN ob_pool_t *_ob_arena_alloc_span(ob_heap_t *heap, size_t npages,
                                          size_t align_pages, bool *zeroed);
OB_HIDDEN void _ob_arena_free_span(ob_heap_t *heap, ob_pool_t *pool);
OB_HIDDEN void _ob_arena_purge(ob_heap_t *heap, bool all);
OB_HIDDEN void _ob_arena_release_empty(ob_heap_t *heap);
OB_HIDDEN void _ob_arena_abandon_all(ob_heap_t *heap);
OB_HIDDEN ob_arena_t *_ob_arena_take_abandoned(void);
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
OB_HIDDEN size_t _ob_arenas_mapped(void);

/* ---- the arena map (arena_map.c) -------------------------------------- */

/* Entries: (arena address | OB_MAP_ARENA), or an ob_huge_t pointer. */
#define OB_MAP_ARENA 1u
#define OB_MAP_BITS (48 - OB_ARENA_SHIFT) /* 26 */
#define OB_MAP_LEAF_BITS 13
#define OB_MAP_ROOT_SIZE ((size_t)1 << (OB_MAP_BITS - OB_MAP_LEAF_BITS))
#define OB_MAP_LEAF_SIZE ((size_t)1 << OB_MAP_LEAF_BITS)

typedef struct ob_map_leaf {
    _Atomic uintptr_t entry[OB_MAP_LEAF_SIZE];
} ob_map_leaf_t;

/* Root slots hold a leaf's distance from _ob_map_empty_leaf (an all-zero
 * leaf in BSS), so an unused slot is 0 and the root can live in BSS too,
 * and a lookup needs no NULL test: addresses beyond 48 bits are folded
 * into range and then fail the check of ob_map_is_arena. */
extern OB_HIDDEN _Atomic uintptr_t _ob_map_root[OB_MAP_ROOT_SIZE];
extern OB_HIDDEN ob_map_leaf_t _ob_map_empty_leaf;

/* The map entry for p's granule: 0 if p is not in memory obmalloc mapped. */
OB_INLINE uintptr_t ob_map_lookup(const void *p)
{
    uintptr_t granule = (uintptr_t)p >> OB_ARENA_SHIFT;
    uintptr_t delta = atomic_load_explicit(
        &_ob_map_root[(granule >> OB_MAP_LEAF_BITS) & (OB_MAP_ROOT_SIZE - 1)],
        memory_order_acquire);
    ob_map_leaf_t *leaf = (ob_map_leaf_t *)((uintptr_t)&_ob_map_empty_leaf + delta);
    return atomic_load_explicit(&leaf->entry[granule & (OB_MAP_LEAF_SIZE - 1)],
                                memory_order_relaxed);
}

/* True if the entry says p lies in one of our arenas. */
OB_INLINE bool ob_map_is_arena(uintptr_t entry, const void *p)
{
    return entry == (((uintptr_t)p & ~(uintptr_t)OB_ARENA_MASK) | OB_MAP_ARENA);
}

/* A huge entry is a descriptor pointer; folded high addresses must not
 * pass for it, so huge.c checks the block's bounds against p. */
OB_HIDDEN bool _ob_map_set(uintptr_t start, size_t size, uintptr_t entry);
OB_HIDDEN void _ob_map_clear(uintptr_t start, size_t size);

/* ---- huge blocks (huge.c) --------------------------------------------- */

typedef struct ob_huge {
    char *addr;         /* the block: start of the mapping, granule aligned */
    size_t size;        /* usable bytes (page multiple)                     */
    size_t mapped;      /* bytes mapped (>= size)                           */
    struct ob_huge *next, *prev; /* live or cached list                     */
    uint64_t cached_at_ms;
    bool live;
} ob_huge_t;

OB_HIDDEN void *_ob_huge_alloc(size_t size, size_t align, bool zero);
OB_HIDDEN void _ob_huge_free(ob_huge_t *h, void *p);
OB_HIDDEN void *_ob_huge_realloc(ob_huge_t *h, void *p, size_t size);
OB_HIDDEN void _ob_huge_cache_trim(uint64_t now_ms, bool all);

/* ---- frees (free.c) --------------------------------------------------- */

OB_HIDDEN void _ob_free_slow(void *p, uintptr_t entry);
OB_HIDDEN void _ob_free_unowned(ob_heap_t *heap, void *p);
OB_HIDDEN void _ob_free_checked(ob_heap_t *heap, ob_pool_t *pool, void *p);
OB_HIDDEN void _ob_free_remote(ob_arena_t *a, ob_pool_t *pool, ob_block_t *b);
OB_HIDDEN void _ob_free_block_local(ob_heap_t *heap, ob_pool_t *pool,
                                    ob_block_t *b);
OB_HIDDEN size_t _ob_usable_size_slow(const void *p, uintptr_t entry);

/* ---- the drop-in (override.c, in libobmalloc.so only: weak elsewhere) -- */

/* Notes the memory the process had before obmalloc started. */
OB_HIDDEN void _ob_override_init(void) __attribute__((weak));
/* Is p in such memory?  *extent: bytes from p to its mapping's end. */
OB_HIDDEN bool _ob_foreign_preexisting(const void *p, size_t *extent)
    __attribute__((weak));

OB_INLINE bool ob_foreign_preexisting(const void *p, size_t *extent)
{
    return _ob_foreign_preexisting != NULL && _ob_foreign_preexisting(p, extent);
}

/* ---- the OS (os.c): the only file that calls mmap, madvise, pthread --- */

typedef struct ob_lock {
    _Atomic int state;
} ob_lock_t;
#define OB_LOCK_INIT {0}

OB_HIDDEN void *_ob_os_map(size_t size, size_t align);
OB_HIDDEN void *_ob_os_reserve(size_t size, size_t align);
OB_HIDDEN void _ob_os_unmap(void *p, size_t size);
OB_HIDDEN void _ob_os_purge(void *p, size_t size);
OB_HIDDEN void _ob_os_guard(void *p, size_t size); /* PROT_NONE */
OB_HIDDEN void *_ob_os_remap(void *old, size_t old_size, size_t new_size,
                             void *fixed_at);
OB_HIDDEN bool _ob_os_try_grow(void *p, size_t old_size, size_t new_size);
OB_HIDDEN uint64_t _ob_os_now_ms(void);
OB_HIDDEN uintptr_t _ob_os_random(void);
OB_HIDDEN void _ob_lock(ob_lock_t *l);
OB_HIDDEN void _ob_unlock(ob_lock_t *l);
OB_HIDDEN void _ob_lock_reset(ob_lock_t *l);
OB_HIDDEN void _ob_os_thread_key_init(void (*on_exit)(void *));
OB_HIDDEN void _ob_os_thread_key_set(void *value);
OB_HIDDEN void _ob_os_atfork(void (*prepare)(void), void (*parent)(void),
                             void (*child)(void));
OB_HIDDEN size_t _ob_os_page_size(void);
OB_HIDDEN void _ob_os_yield(void);

/* A wait for another thread to finish a few instructions' worth of work:
 * spin briefly, then yield the CPU, since with more threads than cores the
 * other thread may have been preempted in the middle. */
OB_INLINE void ob_spin_wait(unsigned *spins)
{
    if (++*spins < 64)
        __builtin_ia32_pause();
    else
        _ob_os_yield();
}

/* ---- process state (init.c) ------------------------------------------- */

OB_HIDDEN void _ob_init(void);
extern OB_HIDDEN _Atomic int _ob_initialized;
OB_INLINE void ob_ensure_init(void)
{
    if (OB_UNLIKELY(!atomic_load_explicit(&_ob_initialized,
                                          memory_order_acquire)))
        _ob_init();
}
OB_HIDDEN void _ob_meta_init(void);
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

/* Options (options.c), read at init from OBMALLOC_* without allocating. */
typedef struct ob_options {
    uint64_t purge_delay_ms; /* OBMALLOC_PURGE_DELAY: empty pages go back
                                to the OS after this long (default 50)   */
    size_t arena_cache;      /* OBMALLOC_ARENA_CACHE: spare empty arenas
                                kept mapped (default 2)                  */
    size_t huge_cache_bytes; /* OBMALLOC_HUGE_CACHE: bytes of freed huge
                                blocks kept for reuse (default 64 MiB)   */
    bool debug;              /* OBMALLOC_DEBUG=1: the checking layer      */
    size_t quarantine_bytes; /* OBMALLOC_DEBUG_QUARANTINE: freed bytes
                                held back from reuse (default 32 MiB)    */
    int valgrind;            /* OBMALLOC_VALGRIND=0: do not describe
                                blocks to valgrind (default: when under it) */
    size_t block_offset;     /* OBMALLOC_BLOCK_OFFSET: where the blocks of
                                small pools start (size_class.c)         */
    bool block_offset_set;   /* ...and the environment said so: it wins  */
} ob_options_t;
extern OB_HIDDEN ob_options_t _ob_options;
OB_HIDDEN void _ob_options_init(void);

/* ---- statistics (stats.c) --------------------------------------------- */

OB_HIDDEN void _ob_stats_flush_class(ob_heap_t *heap, unsigned cls);
OB_HIDDEN void _ob_stats_heap_exit(ob_heap_t *heap);
OB_HIDDEN void _ob_stats_heapless_free(unsigned cls, bool aligned);
OB_HIDDEN void _ob_stats_init(void);
extern OB_HIDDEN ob_heap_t *_ob_heaps;                 /* heap.c, under _ob_heaps_lock */
extern OB_HIDDEN _Atomic size_t _ob_map_leaves;         /* arena_map.c */
extern OB_HIDDEN _Atomic size_t _ob_meta_bytes;         /* init.c */
OB_HIDDEN void _ob_arena_stats_totals(uint64_t *allocated, uint64_t *reclaimed,
                                      size_t *highwater);
OB_HIDDEN void _ob_arena_for_each_unowned(void (*fn)(ob_arena_t *, void *), void *ctx);
typedef struct ob_huge_totals {
    size_t live, bytes, mapped;
    uint64_t allocs, frees;
    size_t cached, cached_bytes;
} ob_huge_totals_t;
OB_HIDDEN void _ob_huge_totals(ob_huge_totals_t *t);
OB_HIDDEN void _ob_huge_for_each(void (*fn)(const ob_huge_t *, void *), void *ctx);

/* ---- reports (report.c) ----------------------------------------------- */

OB_HIDDEN _Noreturn void _ob_fatal(const char *problem, const void *p,
                                   const char *detail);
OB_HIDDEN _Noreturn void _ob_assert_fail(const char *cond, const char *file,
                                         int line);

/* A report under construction: text in a stack buffer, no allocation. */
typedef struct ob_report {
    size_t len;
    char buf[3072];
} ob_report_t;
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
/* Must this call go to the debug layer?  (Runs start-up first if it has
 * not run: until then _ob_divert is 1.) */
OB_INLINE bool ob_diverted(void)
{
    return OB_UNLIKELY(_ob_divert) && _ob_diverted_slow();
}
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

/* ---- small helpers ---------------------------------------------------- */

OB_INLINE size_t ob_align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
OB_INLINE bool ob_is_pow2(size_t x) { return x && !(x & (x - 1)); }

#endif /* OB_INTERNAL_H */
