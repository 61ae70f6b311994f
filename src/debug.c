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
 *
 * This file has the block: finding its header, the guards and fills, the
 * quarantine, the reports, and the scans ob_heap_check makes.  The entry
 * points the diverted calls reach (malloc, free, realloc... and
 * ob_check_block) are in debug_entry.c; debug.h is what the two share.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"

bool _ob_debug_on;
bool _ob_valgrind_on;

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

_Noreturn void _ob_dbg_die_with_block(ob_report_t *r, const char *user, const dbg_header_t *h)
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
const char *_ob_dbg_user_in(const char *inner, size_t inner_size)
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
dbg_header_t *_ob_dbg_header_for(const void *p, const char *bug)
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
    const char *user = _ob_dbg_user_in(lo, size);
    if (user != NULL) {
        const dbg_header_t *h = header_of(user);
        ob_report_t r;
        _ob_report_begin(&r, bug, p);
        _ob_report_str(&r, "obmalloc: the address is not the start of a block: it is ");
        report_position(&r, p, user, user, " bytes before the start of\n", " bytes into\n");
        _ob_dbg_die_with_block(&r, user, h);
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
    _ob_dbg_die_with_block(&r, user, h);
}

void _ob_dbg_check_guards(const char *user, const dbg_header_t *h, const char *when)
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
    _ob_dbg_die_with_block(&r, user, h);
}

_Noreturn void _ob_dbg_die_freed(const char *bug, const void *p, const dbg_header_t *h,
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
void _ob_dbg_evict(char *user, dbg_header_t *h)
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
    _ob_dbg_check_guards(user, h, "the end of the quarantine");
    _ob_dbg_evict(user, h);
}

void _ob_dbg_quarantine(char *user, size_t size)
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

/* ---- for ob_heap_check ------------------------------------------------ */

const char *_ob_debug_scan(const void *inner, size_t size, const void **where)
{
    if (!_ob_debug_on || _ob_valgrind_on)
        return NULL; /* under valgrind, memcheck watches the guards */
    const char *user = _ob_dbg_user_in(inner, size);
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
