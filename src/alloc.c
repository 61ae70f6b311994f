/*
 * The public ob_* API.  The fast paths are in alloc.h.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "hooks.h"

/* ---- malloc ----------------------------------------------------------- */

/* ob_diverted (internal.h), once _ob_divert has said "maybe". */
OB_COLD bool _ob_diverted_slow(void)
{
    ob_ensure_init();
    return _ob_divert;
}

/* Not inlined into ob_malloc: its fast path would pay for the slow one's
 * stack frame. */
__attribute__((noinline)) void *_ob_malloc_slow(size_t size)
{
    if (ob_diverted())
        return ob_diverted_malloc(size, 0, false);
    return _ob_malloc_inner(size);
}

/* The countdown ran out: the block may be the heap profiler's sample. */
__attribute__((noinline)) void *_ob_take_at_countdown(ob_heap_t *heap, ob_pool_t *pool,
                                                      unsigned cls)
{
    ob_hook_countdown_out(heap, cls);
    void *b = ob_pool_take_block(pool);
    ob_hook_block_sampled(pool, b);
    return b;
}

/* A block of pool class `cls` from `heap` (the thread's own, or a
 * region's).  A countdown at 0 is malloc_in's, which counted this malloc
 * and passed it on for the sample (the countdown is otherwise >= 1). */
void *_ob_class_malloc(ob_heap_t *heap, unsigned cls)
{
    ob_pool_t *pool = heap->current[cls];
    if (pool->free != NULL) {
        if (OB_UNLIKELY(heap->stats.until_sample[cls] == 0))
            return _ob_take_at_countdown(heap, pool, cls);
        return pop_block(heap, pool, cls);
    }
    return _ob_heap_refill(heap, cls);
}

void *_ob_malloc_inner(size_t size)
{
    if (size == 0)
        size = 1;
    if (OB_UNLIKELY(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    if (size > OB_MAX_CLASS_SIZE) {
        ob_ensure_init();
        return _ob_huge_alloc(size, 0, false);
    }
    return _ob_class_malloc(ob_heap_own(), (unsigned)ob_size_class(size));
}

void *ob_malloc(size_t size)
{
    return malloc_fast(size);
}

/* ---- free ------------------------------------------------------------- */

void ob_free(void *p)
{
    free_fast(p);
}

/* A sized free that the fast path did not take (alloc.h): another
 * thread's block, a huge one, debug mode, or a size that may be wrong. */
__attribute__((noinline)) void _ob_free_sized_slow(void *p, size_t size)
{
    if (ob_diverted()) {
        ob_diverted_free_sized(p, size);
        return;
    }
    /* Only a size larger than the block is certainly wrong: sizes between
     * the request and the usable size are allowed, and aligned blocks sit
     * in classes larger than their request. */
    if (p != NULL && OB_UNLIKELY(size > ob_usable_size(p)))
        _ob_fatal("sized free with a wrong size", p,
                  "the size given is larger than the block");
    free_fast(p);
}

void ob_free_sized(void *p, size_t size)
{
    free_sized_fast(p, size);
}

/* ---- sizes ------------------------------------------------------------ */

size_t ob_usable_size(const void *p)
{
    if (ob_diverted())
        return ob_diverted_usable_size(p);
    return _ob_usable_inner(p);
}

size_t _ob_usable_inner(const void *p)
{
    uintptr_t entry = ob_map_lookup(p);
    if (OB_UNLIKELY(!ob_map_is_arena(entry, p)))
        return _ob_usable_size_slow(p, entry);
    ob_arena_t *a = ob_arena_of(p);
    ob_pool_t *pool = ob_pool_of(a, p);
    if (OB_UNLIKELY(ob_pool_state(pool) < OB_POOL_ACTIVE))
        _ob_fatal("invalid pointer", p, "ob_usable_size of memory that holds no live block");
    return pool->block_size;
}

/* ---- calloc ----------------------------------------------------------- */

void *ob_calloc(size_t n, size_t size)
{
    if (ob_diverted())
        return ob_diverted_calloc(n, size);
    size_t total;
    if (OB_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > OB_MAX_CLASS_SIZE) {
        if (OB_UNLIKELY(total > PTRDIFF_MAX)) {
            errno = ENOMEM;
            return NULL;
        }
        ob_ensure_init();
        return _ob_huge_alloc(total, 0, true);
    }
    void *p = malloc_fast(total);
    if (OB_UNLIKELY(p == NULL))
        return NULL;
    /* A block alone in pages that were never used (or were purged) is
     * already zero: skip the memset that would fault every page in. */
    ob_pool_t *pool = ob_pool_of(ob_arena_of(p), p);
    if ((pool->flags & OB_POOL_ZEROED) && pool->capacity == 1)
        ((ob_block_t *)p)->next_encoded = 0; /* the free-list link it carried */
    else
        memset(p, 0, total);
    return p;
}

/* ---- realloc ---------------------------------------------------------- */

static void *move_block(void *p, size_t old_usable, size_t size)
{
    void *q = malloc_fast(size);
    if (q == NULL)
        return NULL; /* errno = ENOMEM; p untouched */
    memcpy(q, p, old_usable < size ? old_usable : size);
    free_fast(p);
    return q;
}

/* A block alone in its pool (48 KiB and up), growing, by the thread that
 * owns it: into the free pages after it, if there are enough, with no
 * copy (as glibc's realloc at the top of its heap). */
static bool grow_in_place(ob_arena_t *a, ob_pool_t *pool, void *p, size_t size)
{
    ob_heap_t *heap = ob_heap_own();
    if (ob_atomic_load_relaxed(&a->heap) != heap)
        return false;
    int state = ob_pool_state(pool);
    if ((state != OB_POOL_ACTIVE && state != OB_POOL_FULL) || ob_pool_used(pool) != 1 ||
        (char *)p != ob_pool_blocks(pool))
        return false; /* not a live block's start: move_block's free reports it */
    unsigned cls = (unsigned)ob_size_class(size);
    return _ob_classes[cls].capacity == 1 && _ob_heap_grow_in_place(heap, pool, cls);
}

void *ob_realloc(void *p, size_t size)
{
    if (ob_diverted())
        return ob_diverted_realloc(p, size);
    if (p == NULL)
        return malloc_fast(size);
    if (size == 0) {
        free_fast(p);
        return NULL;
    }
    if (OB_UNLIKELY(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t entry = ob_map_lookup(p);
    if (OB_UNLIKELY(!ob_map_is_arena(entry, p))) {
        size_t extent;
        if (entry == 0 && ob_foreign_preexisting(p, &extent)) {
            /* The loader's memory: copy what may be the block out of it. */
            void *q = malloc_fast(size);
            if (q != NULL)
                memcpy(q, p, extent < size ? extent : size);
            return q;
        }
        if (entry == 0 || (entry & OB_MAP_ARENA))
            _ob_fatal("invalid realloc", p, "the pointer was not allocated by obmalloc "
                                            "(or its huge block was already freed)");
        ob_huge_t *h = (ob_huge_t *)entry;
        if (!h->live || (char *)p != h->addr)
            _ob_fatal("invalid realloc", p, "the huge block was freed, or this is an interior pointer");
        if (size > OB_MAX_CLASS_SIZE)
            return _ob_huge_realloc(h, p, size);
        return move_block(p, h->size, size);
    }
    ob_arena_t *a = ob_arena_of(p);
    ob_pool_t *pool = ob_pool_of(a, p);
    if (OB_UNLIKELY(ob_pool_state(pool) < OB_POOL_ACTIVE))
        _ob_fatal("invalid realloc", p, "the address holds no live block (freed twice, "
                                        "never allocated, or an interior pointer)");
    size_t usable = pool->block_size;
    if (size <= usable) {
        /* Shrinking: a move costs a copy and saves at most half the
         * block; stay put unless the block would be more than half empty
         * (small blocks, where a copy is cheap, move to their own class). */
        if (size > usable / 2 && (usable > OB_SMALL_MAX ||
                                  ob_size_class(size) == pool->size_class))
            return p;
    }
    /* Growing: a block that grows once tends to grow again (lists,
     * string builders, buffers), and each move is a copy.  Give it a
     * quarter more room, as glibc's in-place growth often does for free. */
    if (size > usable && size < (SIZE_MAX >> 2)) {
        size_t roomy = size + (size >> 2);
        if (roomy <= OB_MAX_CLASS_SIZE && size < 2 * usable)
            size = roomy;
    }
    if (size > usable && pool->capacity == 1 && size <= OB_MAX_CLASS_SIZE &&
        grow_in_place(a, pool, p, size))
        return p;
    return move_block(p, usable, size);
}

void *ob_reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (OB_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    return ob_realloc(p, total);
}

/* ---- aligned allocation ----------------------------------------------- */

/* Does every block of pool class c have alignment `align` (at most a
 * page)?  Pools start at page boundaries, so: if its block size and its
 * block offset are multiples of `align`. */
static bool class_aligned(unsigned c, size_t align)
{
    return _ob_classes[c].block_size % align == 0 && _ob_classes[c].block_offset % align == 0;
}

/* The smallest pool class that fits `size` with every block aligned: a
 * size class, or the aligned twin of a small class whose pools have a
 * block offset.  -1 if none. */
static int aligned_class(size_t align, size_t size)
{
    for (unsigned c = (unsigned)ob_size_class(size); c < OB_SIZE_CLASSES; c++) {
        if (class_aligned(c, align))
            return (int)c;
        if (c < OB_SMALL_CLASSES && class_aligned(OB_CLASSES + c, align))
            return (int)(OB_CLASSES + c);
    }
    return -1;
}

/* A block of `size` (1 to OB_MAX_CLASS_SIZE) bytes aligned to `align`
 * (above 16, at most half an arena) from `heap`: from an aligned class if
 * one fits, else alone in pages (sampled by bytes for the profiler). */
void *_ob_heap_aligned(ob_heap_t *heap, size_t align, size_t size)
{
    if (align <= OB_PAGE_SIZE) {
        int c = aligned_class(align, size);
        if (c >= 0)
            return _ob_class_malloc(heap, (unsigned)c);
    }
    void *p = _ob_heap_alloc_dedicated(heap, size, align < OB_PAGE_SIZE ? OB_PAGE_SIZE : align);
    if (p != NULL && ob_hook_bytes_due(size))
        ob_hook_bytes_sampled(p, size, ob_pool_of(ob_arena_of(p), p));
    return p;
}

/* `inner`: for the debug layer (which has made sure start-up ran). */
OB_INLINE void *aligned_alloc_in(size_t align, size_t size, bool inner)
{
    if (align <= OB_ALIGNMENT)
        return inner ? _ob_malloc_inner(size) : malloc_fast(size);
    if (OB_UNLIKELY(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    ob_ensure_init();
    if (size == 0)
        size = 1;
    if (size <= OB_MAX_CLASS_SIZE && align <= OB_ARENA_SIZE / 2)
        return _ob_heap_aligned(ob_heap_own(), align, size);
    return _ob_huge_alloc(size, align, false);
}

static void *aligned_alloc_impl(size_t align, size_t size)
{
    if (ob_diverted())
        return ob_diverted_malloc(size, align, false);
    return aligned_alloc_in(align, size, false);
}

void *_ob_aligned_inner(size_t align, size_t size)
{
    return aligned_alloc_in(align, size, true);
}

void *ob_aligned_alloc(size_t alignment, size_t size)
{
    if (OB_UNLIKELY(!ob_is_pow2(alignment))) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_alloc_impl(alignment, size);
}

int ob_posix_memalign(void **p, size_t alignment, size_t size)
{
    if (!ob_is_pow2(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *q = aligned_alloc_impl(alignment, size);
    errno = saved;
    if (q == NULL)
        return ENOMEM;
    *p = q;
    return 0;
}

void ob_collect(int force)
{
    ob_ensure_init();
    ob_hook_quarantine_flush();
    ob_heap_t *heap = ob_heap_own();
    if (heap->initialized) {
        _ob_heap_collect(heap, force != 0);
        return;
    }
    uint64_t now = _ob_os_now_ms();
    _ob_arena_cache_trim(now, force != 0);
    _ob_huge_cache_trim(now, force != 0);
}

const char *ob_version(void)
{
#define OB_STR2(x) #x
#define OB_STR(x) OB_STR2(x)
    return OB_STR(OB_VERSION_MAJOR) "." OB_STR(OB_VERSION_MINOR) "." OB_STR(OB_VERSION_PATCH);
}
