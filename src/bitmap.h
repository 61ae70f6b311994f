/*
 * Bitmaps over an arena's pages: one bit per page, OB_BITMAP_WORDS words.
 */
#ifndef OB_BITMAP_H
#define OB_BITMAP_H

#include "internal.h"

/* Mask of bits [lo, hi) within one word (0 <= lo < hi <= 64). */
static inline uint64_t ob_word_mask(unsigned lo, unsigned hi)
{
    uint64_t upper = hi == 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1);
    return upper & ~(((uint64_t)1 << lo) - 1);
}

/* Calls fn(word index, mask) for each word that [i, i+n) touches. */
#define OB_BITMAP_RANGE(i, n, w, mask, body)                                \
    do {                                                                    \
        size_t ob_r_lo = (i), ob_r_hi = (i) + (n);                          \
        while (ob_r_lo < ob_r_hi) {                                         \
            size_t w = ob_r_lo / 64;                                        \
            size_t ob_r_end = (w + 1) * 64 < ob_r_hi ? (w + 1) * 64 : ob_r_hi; \
            uint64_t mask = ob_word_mask((unsigned)(ob_r_lo % 64),          \
                                         (unsigned)(ob_r_end - w * 64));    \
            body;                                                           \
            ob_r_lo = ob_r_end;                                             \
        }                                                                   \
    } while (0)

static inline void ob_bitmap_set(uint64_t *map, size_t i, size_t n)
{
    OB_BITMAP_RANGE(i, n, w, mask, map[w] |= mask);
}

static inline void ob_bitmap_clear(uint64_t *map, size_t i, size_t n)
{
    OB_BITMAP_RANGE(i, n, w, mask, map[w] &= ~mask);
}

static inline bool ob_bitmap_any(const uint64_t *map, size_t i, size_t n)
{
    uint64_t any = 0;
    OB_BITMAP_RANGE(i, n, w, mask, any |= map[w] & mask);
    return any != 0;
}

static inline size_t ob_bitmap_count_range(const uint64_t *map, size_t i, size_t n)
{
    size_t count = 0;
    OB_BITMAP_RANGE(i, n, w, mask, count += (size_t)__builtin_popcountll(map[w] & mask));
    return count;
}

static inline size_t ob_bitmap_count(const uint64_t *map)
{
    size_t n = 0;
    for (size_t w = 0; w < OB_BITMAP_WORDS; w++)
        n += (size_t)__builtin_popcountll(map[w]);
    return n;
}

/* Index of the last set bit in [i, i+n), which must have one. */
static inline size_t ob_bitmap_last_set(const uint64_t *map, size_t i, size_t n)
{
    size_t last = i;
    OB_BITMAP_RANGE(i, n, w, mask, {
        uint64_t bits = map[w] & mask;
        if (bits)
            last = w * 64 + 63 - (size_t)__builtin_clzll(bits);
    });
    return last;
}

/* First run of n clear bits starting at a multiple of `align`; returns
 * OB_ARENA_PAGES if there is none. */
static inline size_t ob_bitmap_find_run(const uint64_t *map, size_t n,
                                        size_t align)
{
    if (n == 1 && align == 1) {
        for (size_t w = 0; w < OB_BITMAP_WORDS; w++)
            if (~map[w])
                return w * 64 + (size_t)__builtin_ctzll(~map[w]);
        return OB_ARENA_PAGES;
    }
    size_t i = 0;
    while (i + n <= OB_ARENA_PAGES) {
        if (!ob_bitmap_any(map, i, n))
            return i;
        size_t used = ob_bitmap_last_set(map, i, n);
        i = ob_align_up(used + 1, align);
    }
    return OB_ARENA_PAGES;
}

/* Calls body with (start, len) for each maximal run of set bits. */
#define OB_BITMAP_RUNS(map, start, len, body)                               \
    do {                                                                    \
        size_t start = 0;                                                   \
        while (start < OB_ARENA_PAGES) {                                    \
            if (!((map)[start / 64] >> (start % 64) & 1)) {                 \
                start++;                                                    \
                continue;                                                   \
            }                                                               \
            size_t len = 1;                                                 \
            while (start + len < OB_ARENA_PAGES &&                          \
                   ((map)[(start + len) / 64] >> ((start + len) % 64) & 1)) \
                len++;                                                      \
            body;                                                           \
            start += len;                                                   \
        }                                                                   \
    } while (0)

#endif /* OB_BITMAP_H */
