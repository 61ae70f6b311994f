/*
 * Reports of heap bugs: a few lines on stderr, then abort().
 *
 * The heap may be corrupt when a report is made, so nothing here
 * allocates: the text is built in a buffer on the stack with hand-written
 * formatting and written with write(2).  The backtrace comes from glibc's
 * backtrace(), which allocates only the first time it is called (to load
 * the unwinder); debug mode calls it once at start-up for that reason
 * (_ob_report_warm_up), and a report made before that has no backtrace.
 *
 * Every report starts with one line that names the problem and the
 * address, "obmalloc: <problem> at address 0x...", which is what the
 * death tests match.
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"

static _Atomic int backtrace_ready;

void _ob_report_str(ob_report_t *r, const char *s)
{
    while (*s && r->len + 1 < sizeof r->buf)
        r->buf[r->len++] = *s++;
}

void _ob_report_hex(ob_report_t *r, uint64_t x)
{
    char tmp[OB_FMT_MAX];
    ob_fmt_hex(tmp, x);
    _ob_report_str(r, tmp);
}

void _ob_report_dec(ob_report_t *r, uint64_t x)
{
    char tmp[OB_FMT_MAX];
    ob_fmt_dec(tmp, x);
    _ob_report_str(r, tmp);
}

void _ob_report_byte(ob_report_t *r, unsigned byte)
{
    char tmp[5] = {'0', 'x', "0123456789abcdef"[byte >> 4 & 15],
                   "0123456789abcdef"[byte & 15], 0};
    _ob_report_str(r, tmp);
}

void _ob_report_begin(ob_report_t *r, const char *problem, const void *p)
{
    r->len = 0;
    _ob_report_str(r, "obmalloc: ");
    _ob_report_str(r, problem);
    _ob_report_str(r, " at address ");
    _ob_report_hex(r, (uintptr_t)p);
    _ob_report_str(r, "\n");
}

/* "  label 0x...: xx xx xx ... " for n bytes (at most 32) from p. */
void _ob_report_dump(ob_report_t *r, const char *label, const void *p, size_t n)
{
    const unsigned char *b = p;
    if (n > 32)
        n = 32;
    _ob_report_str(r, "  ");
    _ob_report_str(r, label);
    _ob_report_str(r, " ");
    _ob_report_hex(r, (uintptr_t)p);
    _ob_report_str(r, ":");
    for (size_t i = 0; i < n; i++) {
        char tmp[4] = {' ', "0123456789abcdef"[b[i] >> 4], "0123456789abcdef"[b[i] & 15], 0};
        if (i % 8 == 0 && i > 0)
            _ob_report_str(r, " ");
        _ob_report_str(r, tmp);
    }
    _ob_report_str(r, "\n");
}

void _ob_report_warm_up(void)
{
    void *frames[4];
    backtrace(frames, 4);
    ob_atomic_store_seq_cst(&backtrace_ready, 1);
}

void _ob_report_die(ob_report_t *r)
{
    ssize_t ignored = write(STDERR_FILENO, r->buf, r->len);
    if (ob_atomic_load_seq_cst(&backtrace_ready)) {
        void *frames[24];
        int n = backtrace(frames, 24);
        static const char head[] = "  backtrace (innermost first):\n";
        ignored = write(STDERR_FILENO, head, sizeof head - 1);
        /* Skip the report's own frames. */
        int skip = n > 2 ? 2 : 0;
        backtrace_symbols_fd(frames + skip, n - skip, STDERR_FILENO);
    }
    (void)ignored;
    abort();
}

void _ob_fatal(const char *problem, const void *p, const char *detail)
{
    ob_report_t r;
    _ob_report_begin(&r, problem, p);
    _ob_report_str(&r, "obmalloc: ");
    _ob_report_str(&r, detail);
    _ob_report_str(&r, "\n");
    _ob_report_die(&r);
}

void _ob_assert_fail(const char *cond, const char *file, int line)
{
    ob_report_t r;
    _ob_report_begin(&r, "internal assertion failed", NULL);
    _ob_report_str(&r, "obmalloc: ");
    _ob_report_str(&r, cond);
    _ob_report_str(&r, " (");
    _ob_report_str(&r, file);
    _ob_report_str(&r, ":");
    _ob_report_dec(&r, (uint64_t)line);
    _ob_report_str(&r, ")\n");
    _ob_report_die(&r);
}
