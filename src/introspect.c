/*
 * The C library's introspection calls, answered from obmalloc's statistics
 * (drop-in only, like override.c).  Programs and monitoring tools call
 * mallinfo2, malloc_stats, malloc_info and mallopt; under glibc's
 * definitions they would describe glibc's arena, which nobody uses once
 * obmalloc serves malloc.
 *
 * glibc describes one heap made of an sbrk'd arena plus mmapped chunks.
 * obmalloc's figures map onto that shape as follows (docs/DESIGN.md,
 * "The C library's introspection calls"):
 *
 *   arena    = committed bytes of obmalloc's arenas, their headers and the
 *              arena map (everything committed but the huge blocks)
 *   uordblks = bytes of the blocks in use inside arenas (usable sizes)
 *   fordblks = arena - uordblks: free blocks, free pages still committed,
 *              metadata
 *   ordblks  = free blocks in pools
 *   hblks, hblkhd = huge blocks (mapped alone) in use, and their mapped bytes
 *   keepcost = committed memory malloc_trim would give back now: free
 *              pages and cached huge blocks
 *   usmblks, smblks, fsmblks = 0 (glibc too: unused, or fastbins)
 *
 * So uordblks + hblkhd is what the program holds (hblkhd rounded to pages),
 * as under glibc, and arena == uordblks + fordblks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define OB_EXPORT_C __attribute__((visibility("default")))

typedef struct libc_figures {
    size_t arena, uordblks, fordblks, ordblks, hblks, hblkhd, keepcost;
} libc_figures_t;

static void figures(libc_figures_t *f, struct ob_stats *s)
{
    memset(s, 0, sizeof *s);
    s->size = sizeof *s;
    s->version = OB_STATS_VERSION;
    ob_ensure_init();
    ob_stats_huge_t huge;
    _ob_stats_fill(s, false, &huge);
    size_t free_blocks = 0;
    for (unsigned c = 0; c < s->nclasses; c++)
        free_blocks += s->classes[c].blocks_free;
    f->hblks = s->huge_blocks;
    f->hblkhd = huge.mapped_live;
    f->arena = s->bytes_committed - huge.mapped_live - huge.cached;
    f->uordblks = s->bytes_in_use - s->huge_bytes;
    if (f->arena < f->uordblks)
        f->arena = f->uordblks; /* the counters of other threads lag */
    f->fordblks = f->arena - f->uordblks;
    f->ordblks = free_blocks;
    /* What malloc_trim gives back: arena pages in no pool that are still
     * committed (bytes_unused_pools less what was purged already), and the
     * cached huge blocks. */
    size_t uncommitted = s->bytes_mapped - s->bytes_committed;
    f->keepcost = (s->bytes_unused_pools > uncommitted ? s->bytes_unused_pools - uncommitted : 0) +
                  huge.cached;
}

OB_EXPORT_C struct mallinfo2 mallinfo2(void)
{
    struct ob_stats s;
    libc_figures_t f;
    figures(&f, &s);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = f.arena;
    mi.ordblks = f.ordblks;
    mi.hblks = f.hblks;
    mi.hblkhd = f.hblkhd;
    mi.uordblks = f.uordblks;
    mi.fordblks = f.fordblks;
    mi.keepcost = f.keepcost;
    return mi;
}

static int clamp_int(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

/* The old interface, in ints: figures beyond INT_MAX read INT_MAX (glibc
 * lets them wrap). */
OB_EXPORT_C struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = clamp_int(m2.arena);
    mi.ordblks = clamp_int(m2.ordblks);
    mi.hblks = clamp_int(m2.hblks);
    mi.hblkhd = clamp_int(m2.hblkhd);
    mi.uordblks = clamp_int(m2.uordblks);
    mi.fordblks = clamp_int(m2.fordblks);
    mi.keepcost = clamp_int(m2.keepcost);
    return mi;
}

/* glibc prints its per-arena totals on stderr; obmalloc prints its own
 * report there, the one OBMALLOC_STATS=1 prints at exit. */
OB_EXPORT_C void malloc_stats(void)
{
    ob_stats_print(stderr);
}

/* glibc's XML, with obmalloc's figures: one <heap> (the process), the free
 * blocks of each size class as <size> elements, then the totals. */
OB_EXPORT_C int malloc_info(int options, FILE *fp)
{
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    if (fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    struct ob_stats s;
    libc_figures_t f;
    figures(&f, &s);
    fputs("<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", fp);
    size_t from = 1;
    for (unsigned i = 0; i < s.nclasses; i++) {
        const struct ob_class_stats *cs = &s.classes[_ob_classes_by_size[i]];
        if (cs->blocks_free != 0)
            fprintf(fp, "<size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n", from,
                    cs->block_size, cs->blocks_free * cs->block_size, cs->blocks_free);
        from = cs->block_size + 1;
    }
    fputs("</sizes>\n", fp);
    size_t free_bytes = f.fordblks;
    for (int pass = 0; pass < 2; pass++) {
        fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
                    "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n",
                f.ordblks, free_bytes);
        if (pass == 1)
            fprintf(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", f.hblks, f.hblkhd);
        fprintf(fp,
                "<system type=\"current\" size=\"%zu\"/>\n"
                "<system type=\"max\" size=\"%zu\"/>\n"
                "<aspace type=\"total\" size=\"%zu\"/>\n"
                "<aspace type=\"mprotect\" size=\"%zu\"/>\n",
                f.arena, s.arenas_highwater * OB_ARENA_SIZE, s.bytes_mapped, f.arena);
        if (pass == 0)
            fputs("</heap>\n", fp);
    }
    fputs("</malloc>\n", fp);
    return 0;
}

/*
 * mallopt: the options with a meaning for obmalloc change its settings and
 * return 1; the others return 0 and change nothing (glibc returns 0 for
 * options it does not know).
 *   M_TRIM_THRESHOLD: free memory kept mapped for reuse instead of given
 *     back: the huge-block cache holds up to that many bytes, and the arena
 *     cache as many spare arenas as fit in it.  Negative: keep everything
 *     (glibc: never trim).
 *   M_MMAP_THRESHOLD: refused (0).  Blocks above 1 MiB are mapped alone;
 *     that bound is the size-class table's, not a setting.
 *   M_ARENA_MAX, M_ARENA_TEST, M_MMAP_MAX, M_TOP_PAD, M_MXFAST, M_PERTURB,
 *     M_CHECK_ACTION: no meaning (per-thread heaps, no sbrk, no fastbins;
 *     heap corruption always stops the program with a report): 0.
 */
OB_EXPORT_C int mallopt(int param, int value)
{
    ob_ensure_init();
    switch (param) {
    case M_TRIM_THRESHOLD: {
        size_t keep = value < 0 ? SIZE_MAX : (size_t)value;
        ob_relaxed_store(&_ob_options.huge_cache_bytes, keep);
        ob_relaxed_store(&_ob_options.arena_cache, keep / OB_ARENA_SIZE);
        return 1;
    }
    default:
        return 0;
    }
}
