/*
 * obmalloc: a small-object allocator in the spirit of CPython's pymalloc,
 * with per-thread heaps, out-of-line metadata and memory that goes back to
 * the OS.  See docs/DESIGN.md for how it works.
 *
 * Every function here is thread-safe.  Blocks may be freed by any thread.
 */
#ifndef OBMALLOC_H
#define OBMALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OB_EXPORT __attribute__((visibility("default")))
#define OB_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define OB_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define OB_EXPORT
#define OB_MALLOC_ATTR
#define OB_ALLOC_SIZE(...)
#endif

#define OB_VERSION_MAJOR 0
#define OB_VERSION_MINOR 1
#define OB_VERSION_PATCH 0

/*
 * Allocation.
 *
 * ob_malloc(size): a block of at least `size` bytes, aligned to 16 bytes,
 *   uninitialised.  ob_malloc(0) returns a unique pointer (a 16-byte block)
 *   that ob_free accepts.  Sizes above PTRDIFF_MAX, or memory exhaustion:
 *   NULL with errno = ENOMEM.
 * ob_calloc(n, size): n * size bytes, zeroed.  If the product overflows:
 *   NULL with errno = ENOMEM.
 * ob_usable_size(p): how many bytes the block at p really has (>= the size
 *   asked for); 0 for NULL.  Writing up to that many bytes is allowed.
 */
OB_EXPORT OB_MALLOC_ATTR OB_ALLOC_SIZE(1) void *ob_malloc(size_t size);
OB_EXPORT OB_MALLOC_ATTR OB_ALLOC_SIZE(1, 2) void *ob_calloc(size_t n, size_t size);
OB_EXPORT size_t ob_usable_size(const void *p);

/*
 * Resizing.
 *
 * ob_realloc(p, size): resizes the block, keeping min(old, new) bytes of its
 *   contents; may move it.  ob_realloc(NULL, size) is ob_malloc(size).
 *   ob_realloc(p, 0) with p != NULL frees p and returns NULL, as glibc does
 *   (errno unchanged).  On failure it returns NULL with errno = ENOMEM and
 *   the old block stays valid and unchanged.
 * ob_reallocarray(p, n, size): ob_realloc(p, n * size), but NULL with
 *   errno = ENOMEM (old block untouched) if the product overflows.
 */
OB_EXPORT OB_ALLOC_SIZE(2) void *ob_realloc(void *p, size_t size);
OB_EXPORT OB_ALLOC_SIZE(2, 3) void *ob_reallocarray(void *p, size_t n, size_t size);

/*
 * Release.
 *
 * ob_free(p): gives the block back.  ob_free(NULL) does nothing.  errno is
 *   never changed.  Freeing a pointer obmalloc did not return, or freeing
 *   twice, is a bug in the caller: obmalloc aborts with a message naming
 *   the problem when it sees it, and never corrupts its own state silently.
 * ob_free_sized(p, size): the same, where `size` is the size passed to the
 *   call that allocated p (or any size between it and ob_usable_size(p)).
 *   Its fast path needs no ownership lookup.  A wrong size is detected and
 *   reported where it maps to a different size class.
 */
OB_EXPORT void ob_free(void *p);
OB_EXPORT void ob_free_sized(void *p, size_t size);

/*
 * Aligned allocation.
 *
 * ob_aligned_alloc(alignment, size): a block of `size` bytes whose address
 *   is a multiple of `alignment`.  alignment must be a power of two (any
 *   size is accepted, as C17 DR 460 allows); otherwise NULL with
 *   errno = EINVAL.  Alignments up to 4 MiB are served from arenas, larger
 *   ones (tested up to 1 GiB) by the OS.  The block is freed with ob_free.
 * ob_posix_memalign(&p, alignment, size): as POSIX: returns 0 and sets *p,
 *   or returns EINVAL (alignment not a power of two multiple of
 *   sizeof(void *)) or ENOMEM; *p and errno are left untouched on error.
 */
OB_EXPORT OB_MALLOC_ATTR OB_ALLOC_SIZE(2) void *ob_aligned_alloc(size_t alignment, size_t size);
OB_EXPORT int ob_posix_memalign(void **p, size_t alignment, size_t size);

/*
 * Where blocks start in their cache lines (a runtime's choice).
 *
 * ob_prefer_block_offset(bytes): the pools of blocks up to 512 bytes start
 *   their first block `bytes` into their 16 KiB page (OBMALLOC_BLOCK_OFFSET
 *   says the same), so that a block whose size is a multiple of 64 starts
 *   `bytes` before the end of a cache line.  A runtime whose objects begin
 *   with a header that its garbage collector walks from object to object
 *   makes that walk faster this way: with CPython's 16-byte GC header and
 *   48, an object's own header starts a line, and that line also holds
 *   the next object's GC header.  C programs that read their small blocks
 *   whole lose a little (more blocks straddle two lines), which is why the
 *   default is 0 (see docs/DESIGN.md: obpython, and CPython on the drop-in
 *   with PYTHONMALLOC=malloc, use 48).  OBMALLOC_BLOCK_OFFSET, when set,
 *   wins over this call.  Aligned requests are served from pools without
 *   the offset.  Call it before the first allocation, from one thread.
 *   Returns 0, EINVAL (not a multiple of 16, or above 1024), or EBUSY
 *   (blocks were already allocated).
 */
#define OB_CPYTHON_BLOCK_OFFSET 48
OB_EXPORT int ob_prefer_block_offset(size_t bytes);

/*
 * Giving memory back.
 *
 * obmalloc returns free memory to the OS by itself: pages that stay free
 * for OBMALLOC_PURGE_DELAY milliseconds (default 50) are purged while the
 * program allocates and frees.  ob_collect does it now, for a program that
 * is about to sit idle: it releases the calling thread's empty pools and
 * purges its free pages that have been free for a tick; with force != 0
 * it purges every free page, releases the thread's empty arenas and
 * unmaps the spare arenas and cached huge blocks kept for reuse.  In debug
 * mode it first empties the quarantine (checking each block).
 */
OB_EXPORT void ob_collect(int force);

/*
 * Statistics: where every byte goes.
 *
 * ob_stats_get(&s): fills `s`, whose first two fields the caller sets to
 *   sizeof(struct ob_stats) and OB_STATS_VERSION (a later obmalloc fills
 *   an older, smaller struct correctly).  Returns 0, or EINVAL if the size
 *   or version is not one it knows.  Counting is per thread and merged
 *   here; the figures are exact when no other thread allocates meanwhile.
 * ob_stats_print(f) / ob_stats_print_json(f): the same as a report (text
 *   or JSON).  OBMALLOC_STATS=1 (or =json) prints it to stderr at exit,
 *   OBMALLOC_STATS_FILE=path to that file instead.
 * ob_stats_reset(): restarts the counters (mallocs, frees, cross-thread
 *   frees, arena and huge totals) from zero and the peaks from the present.
 *
 * The breakdown adds up exactly:
 *   bytes_allocated_blocks + bytes_free_blocks + bytes_unused_pools
 *   + bytes_metadata + bytes_quantization + bytes_alignment == bytes_mapped
 */
#define OB_STATS_VERSION 1
#define OB_STATS_CLASSES 80 /* room for every size class; nclasses are used */

struct ob_class_stats {
    size_t block_size;
    size_t pools;              /* pools of this class                          */
    size_t blocks_in_use;      /* blocks handed out and not freed              */
    size_t blocks_free;        /* other blocks of its pools, carved or not     */
    size_t bytes_in_use;       /* blocks_in_use * block_size                   */
    size_t peak_blocks_in_use; /* sampled whenever a pool runs dry, and here   */
    uint64_t mallocs, frees;   /* since start or ob_stats_reset                */
};

struct ob_stats {
    uint32_t size;    /* set by the caller: sizeof(struct ob_stats) */
    uint32_t version; /* set by the caller: OB_STATS_VERSION        */
    uint32_t nclasses;
    uint32_t _reserved;
    /* arenas (4 MiB each) */
    uint64_t arenas_allocated, arenas_reclaimed;
    size_t arenas_current, arenas_highwater;
    /* bytes */
    size_t bytes_mapped;    /* everything obmalloc has mapped              */
    size_t bytes_committed; /* mapped and not given back with madvise      */
    size_t bytes_resident;  /* of the arenas and huge blocks, per mincore  */
    size_t bytes_in_use;    /* in blocks the program holds (usable sizes)  */
    /* huge blocks (above 1 MiB), and blocks alone in over-aligned pages */
    size_t huge_blocks, huge_bytes;
    uint64_t huge_allocs, huge_frees;
    size_t aligned_blocks, aligned_bytes;
    /* threads */
    uint64_t cross_thread_frees, threads_seen;
    size_t threads_current;
    /* the breakdown of bytes_mapped */
    size_t bytes_allocated_blocks; /* blocks in use (small, medium, huge, aligned)  */
    size_t bytes_free_blocks;      /* free blocks in pools; freed huge blocks kept */
    size_t bytes_unused_pools;     /* arena pages in no pool                       */
    size_t bytes_metadata;         /* arena headers, the arena map, heaps          */
    size_t bytes_quantization;     /* pool tails no block fits; huge-block slack   */
    size_t bytes_alignment;        /* arena header pages beyond the header itself,
                                      block offsets (ob_prefer_block_offset)     */
    struct ob_class_stats classes[OB_STATS_CLASSES];
    /* (after the classes, for callers built before it) of the
     * cross-thread frees, blocks the freeing thread handed out again */
    uint64_t cross_thread_reused;
    /* huge pages (OBMALLOC_HUGEPAGES): arena memory the kernel backs with
     * transparent huge pages (AnonHugePages of the arenas' mappings); the
     * option (0 off, 1 on, 2 auto) and the kernel's mode (0 never,
     * 1 madvise, 2 always) */
    size_t bytes_huge_pages;
    uint32_t huge_pages_option, huge_pages_kernel;
    /* free arena pages that stay resident because the rest of their huge
     * page is in use (what huge pages cost in memory; part of
     * bytes_unused_pools, and counted in bytes_committed) */
    size_t bytes_huge_kept;
    /* regions (ob_region_new) alive, and the bytes of their arenas */
    size_t regions_current, bytes_regions;
    /* memory return: the policy's bounds now.  The purge delay (free pages
     * stay resident this long; it adapts between OBMALLOC_PURGE_DELAY and
     * 32 times that, doubling when purged memory is soon needed again);
     * since start, bytes purged and bytes purged then needed again
     * ("regretted"); empty arenas kept mapped as spares, how many may be
     * (as many as were handed out in the last two purge delays, at least
     * OBMALLOC_ARENA_CACHE) and their resident bytes; freed huge blocks
     * kept mapped, and how many bytes may be (OBMALLOC_HUGE_CACHE, or a
     * quarter of the live huge bytes if more) */
    uint64_t purge_delay_ms;
    uint64_t bytes_purged, bytes_regretted;
    size_t spare_arenas, spare_arenas_limit, bytes_spare_resident;
    size_t huge_cache_bytes, huge_cache_limit;
};

OB_EXPORT int ob_stats_get(struct ob_stats *stats);
OB_EXPORT void ob_stats_print(FILE *f);
OB_EXPORT void ob_stats_print_json(FILE *f);
OB_EXPORT void ob_stats_reset(void);

/*
 * Consistency check.
 *
 * ob_heap_check(&r): walks every arena and pool and checks obmalloc's
 *   invariants: map entries, page bitmaps and counts, pool geometry, every
 *   free list (length against the pool's counts, every link inside the
 *   pool at a block start, no block twice), and that the statistics
 *   breakdown adds up.  It reports what it finds in `r` instead of
 *   crashing, and returns the number of problems (0: all is well).  Call
 *   it while other threads are not allocating.  In the child of a fork,
 *   the heaps of the parent's other threads (frozen wherever they were)
 *   are not checked, nor is the breakdown, which counts their memory.
 */
struct ob_heap_check_result {
    size_t arenas, pools, free_blocks_checked;
    size_t problems;
    const void *first_address; /* where the first problem was seen */
    char first_problem[160];
};

OB_EXPORT size_t ob_heap_check(struct ob_heap_check_result *result);

/*
 * Checks one block: that p is the start of a live block obmalloc returned
 * (in normal mode the owning thread also sees whether it is on its pool's
 * free list) and, in debug mode, that its guard bytes are intact.  Returns
 * the block's usable size (debug mode: the size requested), 0 for NULL.
 * A problem is reported like any heap bug: a report on stderr naming it,
 * then abort().
 */
OB_EXPORT size_t ob_check_block(const void *p);

/*
 * Regions: heaps of your own, allocated into by the thread that made them
 * and destroyed at once (src/region.c; docs/DESIGN.md, "Regions").
 *
 * ob_region_new(): a new, empty region owned by the calling thread; NULL
 *   with errno ENOMEM if it cannot be made.
 * ob_region_malloc/calloc/realloc/aligned_alloc(r, ...): as ob_malloc and
 *   friends, from r.  Only r's owner may call them; realloc takes a block
 *   of r (or NULL) and keeps the result in r.
 * Any thread may ob_free (or free) a region's block; ob_usable_size and
 *   ob_realloc accept one as any other block (ob_realloc's result is the
 *   thread's, not the region's).
 * ob_region_destroy(r): frees every block still in r at once and gives its
 *   memory back, without looking at the blocks; r is gone.
 * ob_region_release(r): r goes away; its live blocks stay valid and become
 *   ordinary blocks.  A thread that exits releases the regions it owns.
 * ob_region_visit(r, fn, arg): calls fn(block, usable size, arg) for every
 *   live block of r; a non-zero return stops the walk and is returned
 *   (else 0).  fn must not allocate from r or free r's blocks.
 * ob_region_contains(r, p): 1 if p points into a live block of r, else 0.
 * ob_region_stats(r, &s): r's blocks and bytes in use.
 * A region used by a thread other than its owner, or a pointer that is no
 * live region, gets a report and an abort.
 */
typedef struct ob_region ob_region_t;
struct ob_region_stats {
    size_t blocks_in_use; /* blocks allocated from the region and not freed */
    size_t bytes_in_use;  /* their usable sizes                             */
    size_t bytes_mapped;  /* the region's arenas and huge blocks            */
};
OB_EXPORT ob_region_t *ob_region_new(void);
OB_EXPORT void *ob_region_malloc(ob_region_t *r, size_t size);
OB_EXPORT void *ob_region_calloc(ob_region_t *r, size_t n, size_t size);
OB_EXPORT void *ob_region_realloc(ob_region_t *r, void *p, size_t size);
OB_EXPORT void *ob_region_aligned_alloc(ob_region_t *r, size_t alignment, size_t size);
OB_EXPORT void ob_region_destroy(ob_region_t *r);
OB_EXPORT void ob_region_release(ob_region_t *r);
OB_EXPORT int ob_region_visit(ob_region_t *r, int (*fn)(void *block, size_t usable, void *arg),
                              void *arg);
OB_EXPORT int ob_region_contains(const ob_region_t *r, const void *p);
OB_EXPORT void ob_region_stats(const ob_region_t *r, struct ob_region_stats *stats);

/*
 * Region kinds: a runtime's partition of its memory (CPython's
 * free-threaded build keeps four: PyMem buffers, plain objects, GC objects
 * and GC objects with a pre-header), each thread with a region of each.
 * Kinds are numbers 1..15, the runtime's to give meaning to.
 *
 * ob_region_new_kind(kind, tag): a region as ob_region_new's, of `kind`,
 *   whose blocks ob_block_owner names `tag` (CPython: the thread's id);
 *   NULL with errno EINVAL for a kind out of range, ENOMEM without memory.
 *   When it is released (ob_region_release, or its thread's exit), its
 *   blocks stay of its kind: its arenas are adopted, with their live
 *   blocks, only by a later region of the same kind, never by another
 *   kind's or by malloc; until then they belong to nobody.
 * ob_kind_visit(kind, fn, arg): calls fn(block, usable size, arg) for
 *   every live block of the kind: in every live region of it, whichever
 *   thread owns it, and in the memory released regions left.  The program
 *   must see to it that nothing allocates from or frees into regions of
 *   the kind meanwhile (CPython stops the world); fn must not allocate
 *   from them or free their blocks.  A non-zero return from fn stops the
 *   walk and is returned; else 0; -1 with errno EINVAL for a bad kind.
 * ob_block_owner(p): the tag of the live region whose memory holds p, or
 *   0 (a block of a released region not yet adopted, of a thread's own
 *   heap, or no block of obmalloc's).
 * ob_block_kind(p): the kind of the memory that holds p, live region or
 *   released (0 for a thread's own heap, a plain region, or no block of
 *   obmalloc's).
 * ob_kind_set_reuse_goal(kind, goal, reached, arg): delayed reuse, for a
 *   runtime whose lock-free readers may read a block just freed by
 *   another thread (CPython's QSBR).  A pool of the kind whose blocks are
 *   all freed keeps its pages and its size class (it hands out blocks of
 *   that class only, as before) until reached(g, arg) is non-zero for the
 *   g that goal(arg) returned when it last emptied; goals must not
 *   decrease.  goal runs on the thread
 *   that owns the region, when a pool empties; reached on that thread too,
 *   when the region needs a new pool and at its purge ticks; neither may
 *   allocate from or free into a region of the kind.  The empty pools of
 *   a released region wait for a region of the kind to adopt them, which
 *   asks for a goal of its own.  Both NULL turns it off; 0, or EINVAL for
 *   a kind out of range or only one of the two functions.  Set it before
 *   the kind's regions allocate.
 * ob_kind_set_free_link_only(kind, on): a free of a block of the kind
 *   writes only its first word (the free list's link, encoded); every
 *   other byte keeps what the program left there until the block is
 *   handed out again (CPython unlocks an object's mutex, in its second
 *   word, after the object may have been freed, and its readers look at a
 *   freed object's reference counts).  Such a block is known free by its
 *   first word, the link, so a region's malloc hands out every block with
 *   its first word 0 (one store more than ob_malloc, in every region),
 *   and double frees are still caught.  Debug mode
 *   (OBMALLOC_DEBUG) fills freed blocks all the same.  0, or EINVAL for a
 *   kind out of range; set it before the kind's regions allocate.
 * ob_kind_set_align(kind, align): align 8 gives the kind's regions the
 *   8-byte steps below 64 bytes: a request of 17..24, 33..40 or 49..56
 *   bytes takes a block of 24, 40 or 56 bytes (16-byte steps take 32, 48
 *   and 64), aligned to 8 only, as mimalloc's are; for a runtime whose
 *   objects are an odd number of words (free-threaded CPython's header is
 *   four, so a float is 40 bytes).  ob_region_aligned_alloc with an
 *   alignment of 16 still gets 16.  16, the default, turns it off.
 *   Regions made after the call follow it.  0, or EINVAL for a kind out of
 *   range or another alignment.
 */
OB_EXPORT ob_region_t *ob_region_new_kind(unsigned kind, uintptr_t tag);
OB_EXPORT int ob_kind_set_reuse_goal(unsigned kind, uint64_t (*goal)(void *arg),
                                     int (*reached)(uint64_t goal, void *arg), void *arg);
OB_EXPORT int ob_kind_set_free_link_only(unsigned kind, int on);
OB_EXPORT int ob_kind_set_align(unsigned kind, size_t align);
OB_EXPORT int ob_kind_visit(unsigned kind, int (*fn)(void *block, size_t usable, void *arg),
                            void *arg);
OB_EXPORT uintptr_t ob_block_owner(const void *p);
OB_EXPORT unsigned ob_block_kind(const void *p);

/*
 * Heap profiler.  OBMALLOC_PROF=1 samples one allocation every
 * OBMALLOC_PROF_RATE bytes on average (default 512 KiB) with its call
 * stack, and writes at exit a heap profile google-pprof and jeprof read
 * (OBMALLOC_PROF_FILE, default obmalloc.PID.heap; "%p" in it is the
 * process id) and the same as folded stacks (FILE.inuse.folded,
 * FILE.alloc.folded).  The profile names its own frames (pprof's symbol
 * section: read it as `google-pprof --text FILE`, without the program);
 * OBMALLOC_PROF_SYMBOLS=0 writes addresses only.  OBMALLOC_PROF_SIGNAL=USR2
 * (a name or a number) asks for FILE.1, FILE.2, ... on that signal.
 *
 * ob_prof_dump(path): writes the profile now, to path (and the folded
 * files beside it).  Returns 0, ENOTSUP if the profiler is off, EINVAL for
 * an empty path, or the errno of the failed open or write.
 */
OB_EXPORT int ob_prof_dump(const char *path);

/*
 * Version: "MAJOR.MINOR.PATCH".
 */
OB_EXPORT const char *ob_version(void);

#ifdef __cplusplus
}
#endif

#endif /* OBMALLOC_H */
