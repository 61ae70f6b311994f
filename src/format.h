/*
 * Numbers as text without allocating, for what obmalloc writes from inside
 * malloc: bug reports (report.c) and the heap profiler's files
 * (prof_dump.c).  Each writes a NUL-terminated string into `out`, which
 * has room for OB_FMT_MAX bytes, and returns its length.
 */
#ifndef OB_FORMAT_H
#define OB_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define OB_FMT_MAX 24 /* 20 decimal digits or "0x" and 16 hex ones, and NUL */

static inline size_t ob_fmt_dec(char *out, uint64_t v)
{
    char tmp[OB_FMT_MAX];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    size_t n = sizeof tmp - i;
    memcpy(out, tmp + i, n);
    out[n] = 0;
    return n;
}

/* "0x" and the digits, without leading zeros. */
static inline size_t ob_fmt_hex(char *out, uint64_t v)
{
    char tmp[OB_FMT_MAX];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    size_t n = sizeof tmp - i;
    memcpy(out, tmp + i, n);
    out[n] = 0;
    return n;
}

/* Up to n bytes of src (less at its NUL) appended at dst[at], within cap
 * bytes in all, NUL included; returns the new length.  For paths built
 * without allocating (the profiler's file names, debug files' paths). */
static inline size_t ob_str_append(char *dst, size_t at, size_t cap, const char *src, size_t n)
{
    for (size_t i = 0; i < n && src[i] && at + 1 < cap; i++)
        dst[at++] = src[i];
    dst[at] = 0;
    return at;
}

#endif /* OB_FORMAT_H */
