/*
 * Debug mode's entry points: the calls the diverted paths hand over
 * (hooks.h) build and retire debug blocks (debug.c, debug.h), and
 * ob_check_block, in either mode.  Start-up decides whether anything is
 * diverted at all (_ob_debug_init).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"

static _Atomic uint64_t serial_next = 1;

/* ---- the diverted entry points ---------------------------------------- */

/* Is a valgrind tool that tracks heap blocks running us (memcheck,
 * massif, helgrind, drd, dhat)?  Each preloads its own library; callgrind
 * and cachegrind do not, and there obmalloc keeps its normal paths, which
 * are what a profile should show. */
static bool heap_tool_running(void)
{
#if OB_HAVE_MEMCHECK
    static const char *const tools[] = {"vgpreload_memcheck", "vgpreload_massif",
                                        "vgpreload_helgrind", "vgpreload_drd",
                                        "vgpreload_dhat"};
    const char *preload = getenv("LD_PRELOAD");
    if (!RUNNING_ON_VALGRIND || preload == NULL)
        return false;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
        if (strstr(preload, tools[i]) != NULL)
            return true;
#endif
    return false;
}

void _ob_debug_init(void)
{
    _ob_debug_on = _ob_options.debug;
    _ob_valgrind_on = _ob_options.valgrind && heap_tool_running();
    _ob_divert = _ob_debug_on || _ob_valgrind_on;
}

/* backtrace() allocates the first time (it loads the unwinder): do that
 * now, while malloc is safe to call, not in the middle of a report. */
__attribute__((constructor)) static void warm_up_backtrace(void)
{
    ob_ensure_init();
    if (_ob_debug_on)
        _ob_report_warm_up();
}

/* The normal allocator's block for a debug block: the thread's heap. */
static void *thread_inner(void *ctx, size_t align, size_t total)
{
    (void)ctx;
    return align <= OB_ALIGNMENT ? _ob_malloc_inner(total) : _ob_aligned_inner(align, total);
}

void *_ob_debug_malloc(size_t size, size_t align, bool zero)
{
    return _ob_debug_malloc_from(thread_inner, NULL, size, align, zero);
}

/* A debug block whose inner block comes from inner(ctx, align, total): the
 * thread's heap, or a region's (region.c). */
void *_ob_debug_malloc_from(void *(*inner_alloc)(void *ctx, size_t align, size_t total), void *ctx,
                            size_t size, size_t align, bool zero)
{
    size_t prefix = align <= OB_ALIGNMENT ? HDR : ob_align_up(HDR, align);
    if (prefix > UINT32_MAX || size > PTRDIFF_MAX - prefix - TAIL_MIN) {
        errno = ENOMEM;
        return NULL;
    }
    size_t total = prefix + size + TAIL_MIN;
    char *inner = inner_alloc(ctx, align, total);
    if (inner == NULL)
        return NULL;
    size_t inner_size = _ob_usable_inner(inner);
    VG(VALGRIND_MAKE_MEM_UNDEFINED(inner, inner_size));
    char *user = inner + prefix;
    if (prefix > HDR) {
        ((uint64_t *)inner)[1] = prefix_note(inner, prefix);
        ((uint64_t *)inner)[2] = prefix;
        /* Where an unaligned block's header would be, an earlier block of
         * this memory may have left one, and the two words just written
         * can make it look whole again (its size field is the one that
         * now holds the prefix): user_in must not take it for this block. */
        dbg_header_t *stale = (dbg_header_t *)inner;
        stale->seal = ~seal_of(stale, inner + HDR);
    }
    dbg_header_t *h = header_of(user);
    h->link = h->mark = 0;
    h->size = size;
    h->serial = ob_atomic_add_relaxed(&serial_next, 1);
    h->prefix = (uint32_t)prefix;
    memset(h->guard, GUARD, sizeof h->guard);
    set_state(h, user, ALIVE);
    if (zero)
        memset(user, 0, size);
    else if (_ob_debug_on)
        memset(user, FILL_NEW, size);
    memset(user + size, GUARD, inner_size - prefix - size);
    VG(VALGRIND_MAKE_MEM_NOACCESS(inner, prefix));
    VG(VALGRIND_MAKE_MEM_NOACCESS(user + size, inner_size - prefix - size));
    VG(VALGRIND_MALLOCLIKE_BLOCK(user, size, 0, zero));
    return user;
}

void *_ob_debug_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return _ob_debug_malloc(total, 0, true);
}

/* The block is checked; it goes to the quarantine (debug mode) or back. */
static void release(char *user, dbg_header_t *h, const char *when)
{
    if (h->state != ALIVE)
        _ob_dbg_die_freed("double free", user, h, "the block was already freed");
    _ob_dbg_check_guards(user, h, when);
    set_state(h, user, FREED);
    if (_ob_debug_on) {
        memset(user, FILL_FREED, h->size);
        VG(VALGRIND_FREELIKE_BLOCK(user, 0));
        _ob_dbg_quarantine(user, h->size);
        return;
    }
    VG(VALGRIND_FREELIKE_BLOCK(user, 0));
    _ob_dbg_evict(user, h);
}

void _ob_debug_free(void *p)
{
    if (p == NULL)
        return;
    dbg_header_t *h = _ob_dbg_header_for(p, "invalid free");
    if (h != NULL)
        release(p, h, "free");
}

void _ob_debug_free_sized(void *p, size_t size)
{
    if (p == NULL)
        return;
    dbg_header_t *h = _ob_dbg_header_for(p, "invalid free");
    if (h == NULL)
        return;
    if (h->state != ALIVE)
        _ob_dbg_die_freed("double free", p, h, "the block was already freed");
    if (size != h->size) {
        ob_report_t r;
        _ob_report_begin(&r, "sized free with a wrong size", p);
        _ob_report_str(&r, "obmalloc: the size given is ");
        _ob_report_dec(&r, size);
        _ob_report_str(&r, ", the block was allocated with ");
        _ob_report_dec(&r, h->size);
        _ob_report_str(&r, "\n");
        _ob_dbg_die_with_block(&r, p, h);
    }
    release(p, h, "free_sized");
}

void *_ob_debug_realloc(void *p, size_t size)
{
    if (p == NULL)
        return _ob_debug_malloc(size, 0, false);
    dbg_header_t *h = _ob_dbg_header_for(p, "invalid realloc");
    if (h == NULL) {
        /* The loader's memory: copy what may be the block out of it. */
        size_t extent;
        ob_foreign_preexisting(p, &extent);
        void *q = _ob_debug_malloc(size, 0, false);
        if (q != NULL)
            memcpy(q, p, extent < size ? extent : size);
        return q;
    }
    if (h->state != ALIVE)
        _ob_dbg_die_freed("realloc of a freed block", p, h, "the block was already freed");
    _ob_dbg_check_guards(p, h, "realloc");
    if (size == 0) {
        release(p, h, "realloc");
        return NULL;
    }
    void *q = _ob_debug_malloc(size, 0, false);
    if (q == NULL)
        return NULL; /* errno = ENOMEM; p untouched */
    memcpy(q, p, h->size < size ? h->size : size);
    release(p, h, "realloc");
    return q;
}

size_t _ob_debug_usable_size(const void *p)
{
    if (p == NULL)
        return 0;
    const dbg_header_t *h = _ob_dbg_header_for(p, "invalid pointer");
    if (h == NULL)
        return 0;
    if (h->state != ALIVE)
        _ob_dbg_die_freed("use after free", p, h, "malloc_usable_size of a freed block");
    return h->size;
}

/* ob_check_block in debug mode: the block's size, 0 for the loader's. */
static size_t check_block(const void *p)
{
    const dbg_header_t *h = _ob_dbg_header_for(p, "invalid pointer");
    if (h == NULL)
        return 0;
    if (h->state != ALIVE)
        _ob_dbg_die_freed("use after free", p, h, "ob_check_block of a freed block");
    _ob_dbg_check_guards(p, h, "ob_check_block");
    VG(VALGRIND_MAKE_MEM_NOACCESS(inner_of(p, h), h->prefix));
    VG(VALGRIND_MAKE_MEM_NOACCESS((const char *)p + h->size,
                                  _ob_usable_inner(inner_of(p, h)) - h->prefix - h->size));
    return h->size;
}

/* ---- for regions (region.c) ------------------------------------------ */

/* The live debug block in an inner block: its user pointer and size;
 * false for a block in the quarantine (or not a debug block). */
bool _ob_debug_live_in(const void *inner, size_t inner_size, void **user, size_t *size)
{
    const char *u = _ob_dbg_user_in(inner, inner_size);
    if (u == NULL || header_of(u)->state != ALIVE)
        return false;
    *user = (void *)u;
    *size = header_of(u)->size;
    return true;
}

/* Checks the guards of a live debug block a region's destroy drops. */
void _ob_debug_check_dropped(const void *user)
{
    _ob_dbg_check_guards(user, header_of(user), "ob_region_destroy");
}

/* ---- ob_check_block --------------------------------------------------- */

size_t ob_check_block(const void *p)
{
    if (p == NULL)
        return 0;
    if (ob_diverted())
        return check_block(p);
    uintptr_t entry = ob_map_lookup(p);
    if (!ob_map_is_arena(entry, p))
        return _ob_usable_size_slow(p, entry); /* reports what is not a live huge block */
    ob_arena_t *a = ob_arena_of(p);
    ob_pool_t *pool = ob_pool_of(a, p);
    int state = ob_pool_state(pool);
    if (state < OB_POOL_ACTIVE)
        _ob_fatal("invalid pointer", p, "the address holds no block (freed, or never allocated)");
    if (!ob_pool_is_block_offset(pool, ob_offset_in_pool(pool, p), ob_pool_capacity_end(pool)))
        _ob_fatal("invalid pointer", p, "the address is not the start of a block");
    /* The owner can also see whether the block is free. */
    if (ob_atomic_load_relaxed(&a->heap) == ob_heap_own()) {
        size_t n = 0;
        for (ob_block_t *b = pool->free; b != NULL && n <= pool->capacity;
             b = ob_block_next(b), n++)
            if (b == p)
                _ob_fatal("use after free", p, "the block is on its pool's free list: it was freed");
    }
    return pool->block_size;
}
