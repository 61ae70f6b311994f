/*
 * obmalloc's shared structures, with their invariants (the inline helpers
 * that use them are in internal.h, the OS interface in os.h).
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
 */
#ifndef OB_TYPES_H
#define OB_TYPES_H

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
#define OB_SIZE_CLASSES (OB_SMALL_CLASSES + 11 * OB_STEPS_PER_DOUBLING) /* 76 */
#define OB_MAX_POOL_PAGES 64

/* Fine classes: 24, 40 and 56 bytes, the 8-byte steps between the small
 * classes up to 64, after the size classes (OB_SIZE_CLASSES + i holds
 * 24 + 16 i).  Blocks of these sizes are only 8-byte aligned, so plain
 * malloc never uses them (it promises 16); a region of a kind set to
 * 8-byte alignment does (ob_kind_set_align: an object of 40 bytes takes
 * 40, not 48).  Every size class, fine ones too, is a class of the
 * statistics. */
#define OB_FINE_CLASSES 3
#define OB_FINE_MAX 56
#define OB_CLASSES (OB_SIZE_CLASSES + OB_FINE_CLASSES) /* 79 */

/* Aligned twins: when small pools start their blocks at a block offset
 * (see ob_pool_t), a request for more than 16-byte alignment cannot use
 * them; each small class has a twin, a second kind of pool with the same
 * block size and no offset, serving aligned requests only.  Pools, the
 * heap's lists and its counters are indexed by pool class: the size
 * classes, then the twins.  The statistics fold a twin into its class. */
#define OB_POOL_CLASSES (OB_CLASSES + OB_SMALL_CLASSES) /* 111 */
#define OB_MAX_BLOCK_OFFSET 1024

typedef struct ob_class_info {
    uint32_t block_size;   /* bytes per block                               */
    uint16_t pages;        /* pages per pool                                */
    uint16_t capacity;     /* blocks per pool =
                              (pages*PAGE - block_offset) / block_size      */
    uint16_t block_offset; /* bytes from the pool's start to its first block */
    uint8_t reuse_max;     /* other heaps' blocks of the class a heap keeps
                              to hand out again (remote.c)                  */
} ob_class_info_t;

extern OB_HIDDEN ob_class_info_t _ob_classes[OB_POOL_CLASSES];

/* ---- blocks and free lists -------------------------------------------- */

/* A free block's first word links it into a list.  Links are stored
 * encoded (xor with a per-process random secret), so that a write after
 * free turns a link into noise, which pop_block catches before malloc can
 * hand it out (alloc.h), and steering malloc to a chosen address needs the
 * secret.  (Mixing in the link's own address as well, as glibc's
 * safe-linking does, cost 6 instructions per malloc/free pair and adds
 * little: whoever can read one link and knows the address it names has
 * the secret either way.)
 *
 * Its second word is the free mark: the secret, written when the block is
 * freed, cleared when malloc hands it out.  A free that finds the mark
 * already there is a double free, wherever the block waits (its pool's
 * free list, a remote list, an outbox, a reuse stack): found in two
 * instructions, confirmed and described off the fast path (free.c).
 * Every block is at least 16 bytes, so both words are the block's own.
 *
 * Invariant: every block on a free list carries the mark; no block the
 * program holds does (short of the program writing the secret there). */
typedef struct ob_block {
    uintptr_t next_encoded;
    uintptr_t free_mark;
} ob_block_t;

extern OB_HIDDEN uintptr_t _ob_secret; /* pool.c: the free-list encoding (pool.h) */

/* OB_HARDENED=0 compiles out the normal mode's defences on the fast paths
 * (link encoding, the checks of popped links and of freed pointers): only
 * for measuring what they cost (docs/BENCHMARKS.md).  Never ship it. */
#ifndef OB_HARDENED
#define OB_HARDENED 1
#endif

/* ---- pools ------------------------------------------------------------ */

enum ob_pool_state {
    OB_POOL_FREE = 0,   /* page not in any pool (or an arena header page) */
    OB_POOL_TAIL,       /* non-first page of a pool: see ob_arena_t.head  */
    OB_POOL_ACTIVE,     /* on its heap's list for its class               */
    OB_POOL_FULL,       /* no free block; off every list; wants NOTIFY    */
    OB_POOL_DEDICATED,  /* one over-aligned block; off every list         */
};

/* pool->remote: a list of blocks freed by other threads (16-aligned, below
 * 2^48, as every address obmalloc maps), the notification state in its low
 * two bits and the list's length in its top 16 (remote.c). */
#define OB_REMOTE_NONE 0u      /* plain remote frees                      */
#define OB_REMOTE_NOTIFY 1u    /* owner wants the next remote free        */
#define OB_REMOTE_NOTIFYING 2u /* a freer is handing a block to the owner */
#define OB_REMOTE_STATE 3u
#define OB_REMOTE_COUNT_SHIFT 48
#define OB_REMOTE_BLOCKS (((uintptr_t)1 << OB_REMOTE_COUNT_SHIFT) - 1 - OB_REMOTE_STATE)

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
 *   ob_pool_used(pool) + length(free) == carved
 *                                      (remote-pending blocks count as used)
 *   state == ACTIVE <=> the pool is on heap->pools[size_class]
 *   free_bound == (state == ACTIVE && !SAMPLED ? carved * step : 0): the owner's fast
 *     free needs no state test, as every product fails in another state
 *   FULL      => free == NULL && carved == capacity
 *   ob_pool_used(pool) == 0 => the pool holds no live block and may be
 *     released
 *   used & OB_USED_KEEP <=> pool == heap->current[size_class] && capacity > 1:
 *     the current pool stays when it empties, so the fast free's --used
 *     reaches 0 only for a pool that goes back to its arena
 * For every page i of a pool starting at page h (arena invariants below):
 *   arena->head[i] == h.
 */
enum {
    OB_POOL_ZEROED = 1,     /* uncarved memory is zero, and so is a single-
                               block pool's block, carved once and gone
                               with its pool when freed (calloc)           */
    OB_POOL_DRY = 2,        /* malloc found it with nothing to hand out and
                               sent it to the back of its list (heap.c)    */
    OB_POOL_SAMPLED = 4,    /* may hold a block the heap profiler sampled:
                               free_bound is 0, the owner's frees take the
                               checked path (prof.c)                       */
    OB_POOL_HELD = 8,       /* emptied in a kind with a reuse goal, and on
                               its heap's held ring since (pool.c)         */
};

typedef struct ob_pool {
    ob_block_t *free;      /* blocks ready to hand out (owner only)        */
    uint32_t free_bound;   /* carved * step while ACTIVE, else 0 (above)   */
    uint32_t block_size;   /* bytes per block                              */
    uint32_t first_lo;     /* the first block's address, low 32 bits       */
    uint16_t used;         /* blocks handed out and not yet freed locally,
                              | OB_USED_KEEP (ob_pool_used)                */
    uint16_t carved;       /* blocks carved so far (owner only)            */
    uint64_t divisor;      /* floor(2^64 / block_size) + 1                 */
    uint16_t capacity;     /* blocks the pool can hold                     */
    uint16_t held_seq;     /* which of the held ring's entries for this
                              pool is its latest (pool.c); kept across the
                              descriptor's reuse                           */
    uint8_t state;         /* enum ob_pool_state (see ob_pool_state)       */
    uint8_t size_class;    /* pool class: index into _ob_classes           */
    uint8_t npages;        /* pages in the pool                            */
    uint8_t flags;         /* OB_POOL_ZEROED, OB_POOL_DRY, OB_POOL_SAMPLED */
    struct ob_pool *next, *prev; /* heap->pools[size_class] links          */
    _Atomic uintptr_t remote;    /* other threads' frees | OB_REMOTE_*     */
} ob_pool_t;

_Static_assert(sizeof(ob_pool_t) == 64, "one cache line per descriptor");

/* The top bit of pool->used: the pool is its class's current pool (see
 * the invariants above).  Pools hold at most 1024 blocks. */
#define OB_USED_KEEP 0x8000u

/* ---- arenas ----------------------------------------------------------- */

/* Invariants:
 *   popcount(used_map) == OB_ARENA_PAGES - nfree
 *   header pages are always set in used_map
 *   dirty_map: pages that may hold non-zero data (set when a pool takes a
 *              page, cleared when a free page is purged)
 *   recent_map ⊆ ~used_map ∩ dirty_map: freed since the last purge tick
 *   purged_map ⊆ ~used_map ∩ ~dirty_map: given back by a purge and not
 *              taken since (a pool that takes one is a regret, purge.c)
 *   half_state[h] == OB_HALF_WHOLE only if huge_backed: every page of
 *              half h is resident, dirty or not (hugepage.c)
 *   head[i] == h for page i of a pool whose first page is h; 0 for a
 *              page in no pool (fresh pages are zero: no set-up needed)
 */
typedef struct ob_arena {
    _Atomic(struct ob_heap *) heap;   /* owner; NULL while abandoned      */
    struct ob_arena *next, *prev;     /* owner's bucket, or global lists  */
    uint32_t nfree;                   /* free pages                       */
    uint32_t bucket;                  /* which heap bucket it is in       */
    uint64_t used_map[OB_BITMAP_WORDS];
    uint64_t dirty_map[OB_BITMAP_WORDS];
    uint64_t recent_map[OB_BITMAP_WORDS];
    uint64_t purged_map[OB_BITMAP_WORDS];
    uint64_t cached_at_ms;            /* when it entered the spare cache  */
    bool huge_backed;                 /* MADV_HUGEPAGE asked (hugepage.c) */
    uint8_t sparse_ticks[2];          /* per 2 MiB half: purge ticks in a
                                         row it stayed mostly empty       */
    uint8_t half_state[2];            /* per 2 MiB half: OB_HALF_*        */
    uint8_t kind;                     /* its heaps' kind: 0, or a region
                                         kind (region.c), kept while it is
                                         abandoned: only a heap of the same
                                         kind adopts it                   */
    uint8_t _pad_bytes[2];
    uint32_t spare_pages;             /* resident free pages, as a spare  */
    uint32_t _pad32;
    uint64_t _pad;
    /* For each page, the first page of its pool; 0 for a page in no pool
     * (page 0 is the header's: its descriptor, FREE, fails every test a
     * free page's would).  A free finds its pool from here: 256 bytes
     * that stay in the first-level cache, where reading the page's own
     * descriptor first cost a second cache miss, one after the other, for
     * a block in a pool's second page. */
    uint8_t head[OB_ARENA_PAGES];
    ob_pool_t pages[OB_ARENA_PAGES];
} ob_arena_t;

_Static_assert(OB_ARENA_PAGES <= 256, "head[] holds page numbers in a byte");
_Static_assert(offsetof(ob_arena_t, pages) % 64 == 0, "descriptors on cache lines");

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

/* ---- heaps ----------------------------------------------------------- */

typedef struct ob_pool_list {
    ob_pool_t *head, *tail;
} ob_pool_list_t;

#define OB_BUCKETS (OB_ARENA_PAGES + 1) /* arenas by number of free pages */
#define OB_OWNED_SLOTS 64 /* the heap's direct-mapped cache of its arenas */
#define OB_OWNED_EMPTY ((uintptr_t)1)
#define OB_OWNED_REGION ((uintptr_t)2) /* tag: an arena of the thread's regions */
#define OB_BUCKET_WORDS ((OB_BUCKETS + 63) / 64)

/* A heap's statistics counters.  Only the heap's thread writes them;
 * readers sum them over all heaps (stats.c). */
typedef struct ob_heap_stats {
    /* Blocks this heap handed out, counted down: mallocs of class c ==
     * malloc_base[c] - until_sample[c] (ob_heap_mallocs).  The count is
     * also the heap profiler's clock: when until_sample[c] reaches 0, the
     * block is sampled and both are moved on by the next interval (prof.c);
     * with the profiler off the interval is OB_SAMPLE_NEVER.  One
     * instruction more on malloc's fast path than counting up. */
    uint64_t until_sample[OB_POOL_CLASSES];
    uint64_t malloc_base[OB_POOL_CLASSES];
    uint64_t frees[OB_POOL_CLASSES];   /* blocks this thread freed, any
                                          heap's                          */
    uint64_t cross_thread_frees;  /* of those, into another thread's pool  */
    uint64_t reused;              /* blocks of other threads' pools this
                                     thread freed and handed out again     */
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

/* Blocks of another heap's pool on their way back to it (remote.c). */
#define OB_OUTBOX_SLOTS 16 /* pools a thread gathers frees for at once */
#define OB_BATCH_MAX 32    /* blocks handed back with one atomic operation */
#define OB_REUSE_BYTES (32 * 1024) /* per class, kept to hand out again */
#define OB_REUSE_MAX 32            /* blocks, per class                 */
#define OB_REUSE_FILTER 512        /* reused blocks remembered           */
typedef struct ob_outbox {
    ob_pool_t *pool;         /* NULL: an empty slot                       */
    ob_block_t *head, *tail; /* linked from head to tail                  */
    uint32_t count;          /* 1..OB_BATCH_MAX                           */
} ob_outbox_t;

typedef struct ob_heap {
    /* current[c]: the pool malloc takes class c blocks from (the head of
     * pools[c]), or &_ob_empty_pool; it never is NULL. */
    ob_pool_t *current[OB_POOL_CLASSES];
    /* A region's small classes by size: small_class[(size - 1) >> 3]
     * (the fine classes for a kind aligned to 8, else the 16-byte steps
     * of ob_size_class_small; a thread's heap computes those). */
    uint8_t small_class[OB_SMALL_MAX / 8];
    ob_pool_list_t pools[OB_POOL_CLASSES];
    /* owned[slot(a)] == a (the arena's base) only if this heap owns arena
     * a; an empty slot holds OB_OWNED_EMPTY, which no arena base (nor the
     * 0 that NULL masks to) equals.  Free's fast path proves with one load
     * that a pointer is in memory this thread owns, before any other read
     * (the arena map answers the rest).  Two arenas with one slot: the
     * later wins, the other takes the map.  A thread's own heap also tags
     * the arenas of its regions: owned[slot(a)] == a | OB_OWNED_REGION
     * only while a belongs to one of them (set by the free of one of its
     * blocks, cleared when a leaves the region), so that the owner's frees
     * of region blocks skip the map too (free.c). */
    uintptr_t owned[OB_OWNED_SLOTS];
    _Atomic uintptr_t delayed; /* blocks from notified full pools */
    ob_arena_t *buckets[OB_BUCKETS]; /* owned arenas by nfree            */
    uint64_t bucket_nonempty[OB_BUCKET_WORDS];
    size_t narenas;
    ob_heap_stats_t stats;
    /* This thread's frees of other heaps' blocks (remote.c): kept to hand
     * out again while the thread mostly frees other threads' blocks
     * (reuse_on), else on their way back to their pools' owners. */
    ob_block_t *reuse[OB_CLASSES];
    uint8_t reuse_count[OB_CLASSES];
    ob_outbox_t outbox[OB_OUTBOX_SLOTS];
    uint32_t recently_reused[OB_REUSE_FILTER]; /* bits 4..35 of blocks handed
                                                  out from `reuse` (remote.c) */
    bool reuse_on;
    uint32_t remote_frees;
    uint32_t window_returns; /* remote frees of recently reused blocks */
    uint64_t window_frees, window_mallocs; /* totals when reuse_on was decided */
    uint64_t next_tick_ms;
    uint32_t slow_events;
    bool initialized;
    bool orphaned; /* in a fork child: its thread did not come along */
    struct ob_region *region;  /* a region's heap: the region (region.c) */
    uint8_t kind;              /* 0, or a region's kind (1..OB_KINDS-1)  */
    /* Emptied pools held back from reuse until their goal (pool.c), in
     * the order they emptied: held[(held_first + i) % held_cap]. */
    struct ob_held *held;
    uint32_t held_first, held_count, held_cap;
    struct ob_heap *region_owner; /* ...and its owning thread's own heap   */
    bool slow_only; /* a region's heap in debug mode: current[] stays the
                       empty pool, so that every malloc takes the slow path */
    struct ob_region *regions; /* a thread's heap: the regions it owns   */
    struct ob_heap *reg_next, *reg_prev; /* registry of live heaps */
} ob_heap_t;

/* Region kinds (region.c): a runtime's partition of its memory.  Kind 0
 * is the threads' own heaps and plain regions. */
#define OB_KINDS 16

/* A kind's reuse goal (ob_kind_set_reuse_goal): a pool of the kind that
 * empties is held, FULL and on no list, until reached(goal) for the goal
 * goal() gave when it was held; then its pages go back to the arena. */
typedef struct ob_kind_reuse {
    _Atomic int on; /* set last, with release: the fields below are read */
    uint64_t (*goal)(void *arg);
    int (*reached)(uint64_t goal, void *arg);
    void *arg;
} ob_kind_reuse_t;

typedef struct ob_held {
    struct ob_pool *pool;
    uint64_t goal;
    uint16_t seq; /* the pool's held_seq when it was held */
} ob_held_t;

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

/* ---- huge blocks (huge.c) --------------------------------------------- */

typedef struct ob_huge {
    char *addr;         /* the block: start of the mapping, granule aligned */
    size_t size;        /* usable bytes (page multiple)                     */
    size_t mapped;      /* bytes mapped (>= size)                           */
    struct ob_huge *next, *prev; /* live or cached list                     */
    uint64_t cached_at_ms;
    bool live;
    bool sampled; /* in the heap profiler's live set (prof.c) */
    /* The list of an owner that keeps its own huge blocks (a region:
     * region.c), or NULL; huge.c unlinks a block from it when it is freed,
     * knowing nothing else of the owner.  Under _ob_huge_lock. */
    struct ob_huge **owner_list;
    struct ob_huge *owner_next, *owner_prev;
} ob_huge_t;

typedef struct ob_huge_totals {
    size_t live, bytes, mapped;
    uint64_t allocs, frees;
    size_t cached, cached_bytes, cache_limit;
} ob_huge_totals_t;

/* ---- options (options.c) ---------------------------------------------- */

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
    int hugepages;           /* OBMALLOC_HUGEPAGES: OB_HUGEPAGES_*       */
} ob_options_t;

enum { OB_HUGEPAGES_OFF, OB_HUGEPAGES_ON, OB_HUGEPAGES_AUTO };

/* What a 2 MiB half of a huge-backed arena is to the kernel (hugepage.c):
 * FRESH, nothing mapped (its next fault may bring a huge page); WHOLE, a
 * huge page, resident as a whole; BROKEN, 4 KiB pages (part of it went
 * back; it stays so until khugepaged collapses it). */
enum { OB_HALF_FRESH, OB_HALF_WHOLE, OB_HALF_BROKEN };

/* ---- reports (report.c) ----------------------------------------------- */

/* A report under construction: text in a stack buffer, no allocation. */
typedef struct ob_report {
    size_t len;
    char buf[3072];
} ob_report_t;

#endif /* OB_TYPES_H */
