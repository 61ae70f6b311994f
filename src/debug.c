/*
 * Debug mode (OBMALLOC_DEBUG=1) and blocks described to valgrind.
 *
 * A layer around the normal allocator, switched on at start-up without a
 * rebuild.  Each block the program gets lives inside a larger block of the
 * normal allocator (the inner block), with a header before it and guard
 * bytes after it:
 *
 *   inner block (normal allocator)
 *   +---------+-------------------------------------+-----------+------------+
 *   | padding | header (64 bytes)                   | user data | tail guard |
 *   | (only   | link mark size serial prefix|state  | `size`    | 0xFD up to |
 *   | aligned)|          seal, guard: 16 x 0xFD     | bytes     | inner end  |
 *   +---------+-------------------------------------+-----------+------------+
 *   ^ inner                                         ^ user = inner + prefix
 *
 *   header.seal == seal_of(header, user)   (over size, serial, prefix and
 *                 state, the address and a per-process secret: a pointer
 *                 that is not a block's start, or a header that was written
 *                 over, does not match)
 *   header.link and header.mark are the inner block's first two words when
 *                 prefix == 64, the ones the normal allocator writes when
 *                 the inner block is freed (its free-list link and its
 *                 free mark, types.h); they are not sealed, so that a
 *                 block freed twice after it left the quarantine is still
 *                 recognised as one.
 *   prefix > 64 (over-aligned blocks): inner + 8 holds a note of the prefix
 *                 and inner + 16 the prefix, so that ob_heap_check can
 *                 find the header from the inner block.
 *
 * New memory is filled with 0xCD (calloc: zero), freed memory with 0xDD.
 * A freed block waits in a bounded FIFO quarantine (OBMALLOC_DEBUG_QUARANTINE
 * bytes) before its inner block goes back; when it leaves, its fill is
 * checked (a write after free shows as a byte that is not 0xDD).  Guards
 * are checked at free, at realloc and by ob_check_block/ob_heap_check.
 * realloc always moves, so a stale pointer to the old block is caught too.
 *
 * Block states: ALIVE -> FREED (in the quarantine) -> EVICTED (the inner
 * block went back).  A free of a FREED or EVICTED block is a double free,
 * as long as the memory has not been handed out again.
 *
 * Under valgrind (when built with its headers), the same layout is used
 * and each block is described to memcheck: MALLOCLIKE/FREELIKE for the
 * user data, header and guards marked inaccessible, so that memcheck
 * reports leaks and invalid accesses at the instruction that makes them.
 * Fills and the quarantine are then left to memcheck unless
 * OBMALLOC_DEBUG=1 asks for them too.
 *
 * Both modes are reached through `_ob_divert` (internal.h): the fast paths
 * of the normal allocator are untouched, and cost nothing when both are
 * off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define VG(x)                                                                 \
    do {                                                                      \
        if (_ob_valgrind_on) {                                                \
            x;                                                                \
        }                                                                     \
    } while (0)
#define OB_HAVE_MEMCHECK 1
#else
#define VG(x) ((void)0)
#define OB_HAVE_MEMCHECK 0
#endif

bool _ob_debug_on;
bool _ob_valgrind_on;

#define HDR 64
#define TAIL_MIN 16
#define GUARD 0xFD
#define FILL_NEW 0xCD
#define FILL_FREED 0xDD

enum { ALIVE = 0x4c697665, FREED = 0x46726565, EVICTED = 0x476f6e65 };

typedef struct dbg_header {
    uint64_t link;
    uint64_t mark;
    uint64_t size;   /* as requested */
    uint64_t serial; /* 1 for the process's first block, and so on */
    uint32_t prefix; /* user - inner */
    uint32_t state;
    uint64_t seal;
    uint8_t guard[16];
} dbg_header_t;
_Static_assert(sizeof(dbg_header_t) == HDR, "the header is 64 bytes");

static _Atomic uint64_t serial_next = 1;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static uint64_t seal_of(const dbg_header_t *h, const void *user)
{
    return mix((uintptr_t)user ^ _ob_secret ^ mix(h->size) ^ mix(h->serial ^ 0x5bd1e995) ^
               ((uint64_t)h->prefix << 32 | h->state));
}

static dbg_header_t *header_of(const void *user)
{
    return (dbg_header_t *)((uintptr_t)user - HDR);
}

static bool sealed(const dbg_header_t *h, const void *user)
{
    return h->seal == seal_of(h, user);
}

static void set_state(dbg_header_t *h, const void *user, uint32_t state)
{
    h->state = state;
    h->seal = seal_of(h, user);
}

static uint64_t prefix_note(const void *inner, uint64_t prefix)
{
    return mix((uintptr_t)inner ^ _ob_secret ^ 0x7072656669780000ull) ^ prefix;
}

static char *inner_of(const void *user, const dbg_header_t *h)
{
    return (char *)user - h->prefix;
}

/* ---- reports ---------------------------------------------------------- */

static void report_block(ob_report_t *r, const char *user, const dbg_header_t *h)
{
    _ob_report_str(r, "obmalloc: block ");
    _ob_report_hex(r, (uintptr_t)user);
    _ob_report_str(r, " of ");
    _ob_report_dec(r, h->size);
    _ob_report_str(r, " bytes, allocation #");
    _ob_report_dec(r, h->serial);
    _ob_report_str(r, h->state == ALIVE ? " (live)\n" : " (freed)\n");
}

/* The start and the end of the block, with the guards around them. */
static void report_dumps(ob_report_t *r, const char *user, const dbg_header_t *h)
{
    size_t size = h->size;
    VG(VALGRIND_MAKE_MEM_DEFINED(user - 16, size + 32));
    _ob_report_dump(r, "start (from 16 bytes before):", user - 16, size + 16 < 32 ? size + 32 : 32);
    if (size > 16)
        _ob_report_dump(r, "end (16 bytes to 16 past):   ", user + size - 16, 32);
}

static _Noreturn void die_with_block(ob_report_t *r, const char *user, const dbg_header_t *h)
{
    report_block(r, user, h);
    report_dumps(r, user, h);
    _ob_report_die(r);
}

/* "N<before>" if q is N bytes before start, else "N<after>" for q N bytes
 * past `from`. */
static void report_position(ob_report_t *r, const void *q, const char *start, const char *from,
                            const char *before, const char *after)
{
    const char *c = q;
    _ob_report_dec(r, (uint64_t)(c < start ? start - c : c - from));
    _ob_report_str(r, c < start ? before : after);
}

/* ---- finding a block's header ----------------------------------------- */

/* The inner block that holds p: [*lo, *lo + *size).  False, with why, if
 * p is in no live inner block. */
static bool inner_block_of(const void *p, const char **lo, size_t *size, const char **why)
{
    uintptr_t entry = ob_map_lookup(p);
    if (!ob_map_is_arena(entry, p)) {
        if (entry == 0 || (entry & OB_MAP_ARENA)) {
            *why = "the pointer was not allocated by obmalloc";
            return false;
        }
        const ob_huge_t *hg = (const ob_huge_t *)entry;
        if ((const char *)p < hg->addr || (const char *)p >= hg->addr + hg->mapped) {
            *why = "the pointer was not allocated by obmalloc";
            return false;
        }
        if (!hg->live) {
            *why = "the address is in a huge block that was freed";
            return false;
        }
        *lo = hg->addr;
        *size = hg->size;
        return true;
    }
    ob_arena_t *a = ob_arena_of(p);
    ob_pool_t *pool = ob_pool_of(a, p);
    if (ob_pool_state(pool) < OB_POOL_ACTIVE) {
        *why = "the address holds no block (freed long ago, or never allocated)";
        return false;
    }
    char *blocks = ob_pool_blocks(pool);
    size_t offset = ob_offset_in_pool(pool, p);
    if (offset >= ob_pool_capacity_end(pool)) {
        *why = "the address is in no block";
        return false;
    }
    *lo = blocks + offset / pool->block_size * pool->block_size;
    *size = pool->block_size;
    return true;
}

/* The user pointer of the debug block in an inner block, or NULL. */
static const char *user_in(const char *inner, size_t inner_size)
{
    if (inner_size < HDR + TAIL_MIN)
        return NULL;
    VG(VALGRIND_MAKE_MEM_DEFINED(inner, HDR));
    const char *user = inner + HDR;
    const dbg_header_t *h = header_of(user);
    if (sealed(h, user) && h->prefix == HDR)
        return user;
    uint64_t prefix = ((const uint64_t *)inner)[2];
    if (((const uint64_t *)inner)[1] != prefix_note(inner, prefix) || prefix <= HDR ||
        prefix + TAIL_MIN > inner_size)
        return NULL;
    user = inner + prefix;
    h = header_of(user);
    VG(VALGRIND_MAKE_MEM_DEFINED(h, HDR));
    return sealed(h, user) && h->prefix == prefix ? user : NULL;
}

/* The header of the block p points to, after checking that p is one: NULL
 * for memory of the loader's from before obmalloc (never ours), a report
 * for anything else that is not the start of a block. */
static dbg_header_t *header_for(const void *p, const char *bug)
{
    const char *lo, *why;
    size_t size;
    if (!inner_block_of(p, &lo, &size, &why)) {
        size_t extent;
        if (ob_map_lookup(p) == 0 && ob_foreign_preexisting(p, &extent))
            return NULL;
        _ob_fatal(bug, p, why);
    }
    size_t offset = (size_t)((const char *)p - lo);
    if (offset >= HDR && offset <= UINT32_MAX) {
        dbg_header_t *h = header_of(p);
        VG(VALGRIND_MAKE_MEM_DEFINED(h, HDR));
        if (sealed(h, p) && h->prefix == offset)
            return h;
    }
    /* Not the start of a block: inside one? */
    const char *user = user_in(lo, size);
    if (user != NULL) {
        const dbg_header_t *h = header_of(user);
        ob_report_t r;
        _ob_report_begin(&r, bug, p);
        _ob_report_str(&r, "obmalloc: the address is not the start of a block: it is ");
        report_position(&r, p, user, user, " bytes before the start of\n", " bytes into\n");
        die_with_block(&r, user, h);
    }
    _ob_fatal(bug, p, "the address is not the start of a block obmalloc returned");
}

/* ---- guards and fills ------------------------------------------------- */

/* A changed guard byte, or NULL; *bug names the problem. */
static const unsigned char *changed_guard(const char *user, const dbg_header_t *h,
                                          const char **bug)
{
    for (int i = (int)sizeof h->guard - 1; i >= 0; i--) {
        if (h->guard[i] != GUARD) {
            *bug = "buffer underflow";
            return &h->guard[i];
        }
    }
    const char *inner = inner_of(user, h);
    const unsigned char *q = (const unsigned char *)user + h->size;
    const unsigned char *end = (const unsigned char *)inner + _ob_usable_inner(inner);
    VG(VALGRIND_MAKE_MEM_DEFINED(q, (size_t)(end - q)));
    for (; q < end; q++) {
        if (*q != GUARD) {
            *bug = "buffer overflow";
            return q;
        }
    }
    return NULL;
}

static _Noreturn void die_guard(const char *bug, const unsigned char *q, const char *user,
                                const dbg_header_t *h, const char *when)
{
    ob_report_t r;
    _ob_report_begin(&r, bug, q);
    _ob_report_str(&r, "obmalloc: the guard byte ");
    report_position(&r, q, user, user + h->size, " before the block's start is ",
                    " past its end is ");
    _ob_report_byte(&r, *q);
    _ob_report_str(&r, ", not 0xfd (found at ");
    _ob_report_str(&r, when);
    _ob_report_str(&r, ")\n");
    die_with_block(&r, user, h);
}

static void check_guards(const char *user, const dbg_header_t *h, const char *when)
{
    if (!_ob_debug_on)
        return; /* under valgrind alone: memcheck reported the write as it happened */
    const char *bug;
    const unsigned char *q = changed_guard(user, h, &bug);
    if (OB_UNLIKELY(q != NULL))
        die_guard(bug, q, user, h, when);
}

/* The first byte of a freed block that is not the free fill, or NULL. */
static const unsigned char *written_after_free(const char *user, size_t size)
{
    const unsigned char *b = (const unsigned char *)user;
    size_t i = 0;
    const uint64_t fill = 0x0101010101010101ull * FILL_FREED;
    for (; i + 8 <= size; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w != fill)
            break;
    }
    for (; i < size; i++)
        if (b[i] != FILL_FREED)
            return b + i;
    return NULL;
}

static _Noreturn void die_written(const unsigned char *q, const char *user, const dbg_header_t *h)
{
    ob_report_t r;
    _ob_report_begin(&r, "write after free", q);
    _ob_report_str(&r, "obmalloc: byte ");
    _ob_report_dec(&r, (uint64_t)((const char *)q - user));
    _ob_report_str(&r, " of a freed block is ");
    _ob_report_byte(&r, *q);
    _ob_report_str(&r, ", not its fill 0xdd (found when it left the quarantine)\n");
    die_with_block(&r, user, h);
}

static _Noreturn void die_freed(const char *bug, const void *p, const dbg_header_t *h,
                                const char *what)
{
    ob_report_t r;
    _ob_report_begin(&r, bug, p);
    _ob_report_str(&r, "obmalloc: ");
    _ob_report_str(&r, what);
    _ob_report_str(&r, h->state == FREED ? "; it is in the quarantine\n"
                                         : "; it has left the quarantine\n");
    report_block(&r, p, h);
    _ob_report_die(&r);
}

/* ---- the quarantine --------------------------------------------------- */

#define Q_SLOTS 16384
ob_lock_t _ob_quarantine_lock = OB_LOCK_INIT;
#define q_lock _ob_quarantine_lock
static char *q_ring[Q_SLOTS];
static size_t q_head, q_count, q_bytes;

static size_t q_cost(size_t size)
{
    return size + HDR + TAIL_MIN;
}

/* Under q_lock: the oldest block, out of the quarantine. */
static char *q_pop(void)
{
    char *user = q_ring[q_head];
    q_head = (q_head + 1) % Q_SLOTS;
    q_count--;
    q_bytes -= q_cost(header_of(user)->size);
    return user;
}

/* The block's inner block goes back to the normal allocator. */
static void evict(char *user, dbg_header_t *h)
{
    char *inner = inner_of(user, h);
    set_state(h, user, EVICTED);
    /* The normal free reads the inner block's free mark and writes it and
     * the link (types.h): the header's first two words (defined: see
     * _ob_debug_malloc), or the prefix note of an over-aligned block. */
    VG(VALGRIND_MAKE_MEM_DEFINED(inner, 2 * sizeof(void *)));
    _ob_free_inner(inner);
}

static void leave_quarantine(char *user)
{
    dbg_header_t *h = header_of(user);
    VG(VALGRIND_MAKE_MEM_DEFINED(inner_of(user, h), _ob_usable_inner(inner_of(user, h))));
    if (!sealed(h, user) || h->state != FREED)
        _ob_fatal("write after free", h,
                  "the header of a block in the quarantine was written over");
    const unsigned char *q = written_after_free(user, h->size);
    if (q != NULL)
        die_written(q, user, h);
    check_guards(user, h, "the end of the quarantine");
    evict(user, h);
}

static void quarantine(char *user, size_t size)
{
    size_t cost = q_cost(size), limit = _ob_options.quarantine_bytes;
    bool pushed = false;
    for (;;) {
        char *victim = NULL;
        _ob_lock(&q_lock);
        if (q_count > 0 && (q_count == Q_SLOTS || q_bytes + cost > limit)) {
            victim = q_pop();
        } else if (cost <= limit) {
            q_ring[(q_head + q_count) % Q_SLOTS] = user;
            q_count++;
            q_bytes += cost;
            pushed = true;
        }
        _ob_unlock(&q_lock);
        if (victim == NULL)
            break;
        leave_quarantine(victim);
    }
    if (!pushed)
        leave_quarantine(user); /* larger than the whole quarantine */
}

/* ob_collect: everything in the quarantine goes back (checked first). */
void _ob_debug_flush_quarantine(void)
{
    for (;;) {
        char *victim = NULL;
        _ob_lock(&q_lock);
        if (q_count > 0)
            victim = q_pop();
        _ob_unlock(&q_lock);
        if (victim == NULL)
            return;
        leave_quarantine(victim);
    }
}

void _ob_debug_vg_reuse(void *p, size_t n)
{
    VG(VALGRIND_MAKE_MEM_UNDEFINED(p, n));
    (void)p, (void)n;
}

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
        die_freed("double free", user, h, "the block was already freed");
    check_guards(user, h, when);
    set_state(h, user, FREED);
    if (_ob_debug_on) {
        memset(user, FILL_FREED, h->size);
        VG(VALGRIND_FREELIKE_BLOCK(user, 0));
        quarantine(user, h->size);
        return;
    }
    VG(VALGRIND_FREELIKE_BLOCK(user, 0));
    evict(user, h);
}

void _ob_debug_free(void *p)
{
    if (p == NULL)
        return;
    dbg_header_t *h = header_for(p, "invalid free");
    if (h != NULL)
        release(p, h, "free");
}

void _ob_debug_free_sized(void *p, size_t size)
{
    if (p == NULL)
        return;
    dbg_header_t *h = header_for(p, "invalid free");
    if (h == NULL)
        return;
    if (h->state != ALIVE)
        die_freed("double free", p, h, "the block was already freed");
    if (size != h->size) {
        ob_report_t r;
        _ob_report_begin(&r, "sized free with a wrong size", p);
        _ob_report_str(&r, "obmalloc: the size given is ");
        _ob_report_dec(&r, size);
        _ob_report_str(&r, ", the block was allocated with ");
        _ob_report_dec(&r, h->size);
        _ob_report_str(&r, "\n");
        die_with_block(&r, p, h);
    }
    release(p, h, "free_sized");
}

void *_ob_debug_realloc(void *p, size_t size)
{
    if (p == NULL)
        return _ob_debug_malloc(size, 0, false);
    dbg_header_t *h = header_for(p, "invalid realloc");
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
        die_freed("realloc of a freed block", p, h, "the block was already freed");
    check_guards(p, h, "realloc");
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
    const dbg_header_t *h = header_for(p, "invalid pointer");
    if (h == NULL)
        return 0;
    if (h->state != ALIVE)
        die_freed("use after free", p, h, "malloc_usable_size of a freed block");
    return h->size;
}

/* ob_check_block in debug mode: the block's size, 0 for the loader's. */
static size_t check_block(const void *p)
{
    const dbg_header_t *h = header_for(p, "invalid pointer");
    if (h == NULL)
        return 0;
    if (h->state != ALIVE)
        die_freed("use after free", p, h, "ob_check_block of a freed block");
    check_guards(p, h, "ob_check_block");
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
    const char *u = user_in(inner, inner_size);
    if (u == NULL || header_of(u)->state != ALIVE)
        return false;
    *user = (void *)u;
    *size = header_of(u)->size;
    return true;
}

/* Checks the guards of a live debug block a region's destroy drops. */
void _ob_debug_check_dropped(const void *user)
{
    check_guards(user, header_of(user), "ob_region_destroy");
}

/* ---- for ob_heap_check ------------------------------------------------ */

const char *_ob_debug_scan(const void *inner, size_t size, const void **where)
{
    if (!_ob_debug_on || _ob_valgrind_on)
        return NULL; /* under valgrind, memcheck watches the guards */
    const char *user = user_in(inner, size);
    if (user == NULL)
        return NULL; /* free, or not a block of this mode */
    const dbg_header_t *h = header_of(user);
    const char *bug;
    const unsigned char *q;
    if (h->state == ALIVE && (q = changed_guard(user, h, &bug)) != NULL) {
        *where = q;
        return bug;
    }
    if (h->state == FREED && (q = written_after_free(user, h->size)) != NULL) {
        *where = q;
        return "write after free";
    }
    return NULL;
}

const char *_ob_debug_scan_quarantine(const void **where)
{
    const char *bug = NULL;
    _ob_lock(&q_lock);
    for (size_t i = 0; i < q_count && bug == NULL; i++) {
        const char *user = q_ring[(q_head + i) % Q_SLOTS];
        const dbg_header_t *h = header_of(user);
        const unsigned char *q;
        if (!sealed(h, user) || h->state != FREED) {
            *where = h;
            bug = "write after free (a quarantined block's header)";
        } else if ((q = written_after_free(user, h->size)) != NULL) {
            *where = q;
            bug = "write after free";
        } else if ((q = changed_guard(user, h, &bug)) != NULL) {
            *where = q;
        }
    }
    _ob_unlock(&q_lock);
    return bug;
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
