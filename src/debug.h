/*
 * Debug mode's block (debug.c) and its entry points (debug_entry.c): what
 * the two share.  The layout is drawn at the top of debug.c.
 */
#ifndef OB_DEBUG_H
#define OB_DEBUG_H

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

OB_INLINE uint64_t dbg_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

OB_INLINE uint64_t seal_of(const dbg_header_t *h, const void *user)
{
    return dbg_mix((uintptr_t)user ^ _ob_secret ^ dbg_mix(h->size) ^
                   dbg_mix(h->serial ^ 0x5bd1e995) ^ ((uint64_t)h->prefix << 32 | h->state));
}

OB_INLINE dbg_header_t *header_of(const void *user)
{
    return (dbg_header_t *)((uintptr_t)user - HDR);
}

OB_INLINE bool sealed(const dbg_header_t *h, const void *user)
{
    return h->seal == seal_of(h, user);
}

OB_INLINE void set_state(dbg_header_t *h, const void *user, uint32_t state)
{
    h->state = state;
    h->seal = seal_of(h, user);
}

OB_INLINE uint64_t prefix_note(const void *inner, uint64_t prefix)
{
    return dbg_mix((uintptr_t)inner ^ _ob_secret ^ 0x7072656669780000ull) ^ prefix;
}

OB_INLINE char *inner_of(const void *user, const dbg_header_t *h)
{
    return (char *)user - h->prefix;
}

/* debug.c: finding, checking and retiring blocks. */
OB_HIDDEN dbg_header_t *_ob_dbg_header_for(const void *p, const char *bug);
OB_HIDDEN const char *_ob_dbg_user_in(const char *inner, size_t inner_size);
OB_HIDDEN void _ob_dbg_check_guards(const char *user, const dbg_header_t *h, const char *when);
OB_HIDDEN _Noreturn void _ob_dbg_die_freed(const char *bug, const void *p, const dbg_header_t *h,
                                           const char *detail);
OB_HIDDEN _Noreturn void _ob_dbg_die_with_block(ob_report_t *r, const char *user,
                                                const dbg_header_t *h);
OB_HIDDEN void _ob_dbg_quarantine(char *user, size_t size);
OB_HIDDEN void _ob_dbg_evict(char *user, dbg_header_t *h);

#endif /* OB_DEBUG_H */
