/*
 * Statistics: where every byte goes.
 *
 * Counting costs the fast paths one load-add-store each: every heap counts
 * the blocks it hands out and the blocks its thread frees, per class, in
 * its own counters (no atomic instruction, no shared cache line).  A heap
 * that exits adds its counters to `retired`.  A thread that frees before
 * it ever allocated gets a heap for its counters (free.c); only if that
 * fails does it count into `heapless`, with atomics.
 * Blocks in use per class = all mallocs - all frees.
 *
 * The memory side comes from walking every arena (owned, abandoned, spare)
 * and every huge block, so the breakdown of mapped bytes adds up exactly:
 *
 *   per arena (4 MiB) = sizeof(ob_arena_t)                 metadata
 *                     + rest of the header pages           alignment
 *                     + pages in no pool                   unused pools
 *                     + per pool: its block offset (alignment), blocks
 *                       in use, free blocks, its tail (quantization);
 *                       an over-aligned block is in use
 *   per huge block    = its size (in use) + mapped beyond it (quantization);
 *                       a freed one kept for reuse is a free block
 *   arena map leaves, metadata chunks                      metadata
 *
 * Peaks: a heap adds (its mallocs - its frees) to a process-wide estimate
 * whenever one of its pools runs dry, and the class's peak is the highest
 * estimate seen then or at ob_stats_get.  So a peak is sampled, not exact
 * to the block: it can miss a spike that ends before any pool runs dry.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool.h"

typedef struct counters {
    uint64_t mallocs[OB_CLASSES], frees[OB_CLASSES];
    uint64_t cross_thread_frees, reused, aligned_mallocs, aligned_frees;
} counters_t;

static counters_t retired;  /* heaps that exited; under _ob_heaps_lock */
static counters_t heapless; /* atomics */
static uint64_t threads_seen;
static _Atomic int64_t live_estimate[OB_CLASSES];
static _Atomic uint64_t peak[OB_CLASSES];

/* What ob_stats_reset saw, subtracted from what is reported. */
static struct {
    counters_t counts;
    uint64_t arenas_allocated, arenas_reclaimed, huge_allocs, huge_frees;
    size_t arenas_highwater_floor;
} baseline;

static void raise_peak(unsigned cls, uint64_t value)
{
    uint64_t old = ob_atomic_load_relaxed(&peak[cls]);
    while (value > old && !ob_atomic_cas_weak_relaxed(&peak[cls], &old, value)) {
    }
}

/* Adds the heap's change in class cls since its last flush to the
 * process-wide estimate, if it is at least `min_delta` either way. */
static void flush_class(ob_heap_t *heap, unsigned cls, int64_t min_delta)
{
    ob_heap_stats_t *s = &heap->stats;
    uint64_t net = ob_heap_mallocs(s, cls) -
                   ob_relaxed_load(&s->frees[cls]);
    int64_t delta = (int64_t)(net - s->flushed[cls]);
    if (delta < min_delta && delta > -min_delta)
        return;
    s->flushed[cls] = net;
    unsigned c = ob_class_public(cls);
    int64_t now = ob_atomic_add_relaxed(&live_estimate[c], delta) + delta;
    if (now > 0)
        raise_peak(c, (uint64_t)now);
}

/* At every refill: a heap whose count in the class moved by fewer than
 * OB_PEAK_STEP blocks since its last flush skips the two atomic operations
 * on lines all threads share (a steady churn, as larson's, refills often
 * without changing much), so a sampled peak may lag by that much per heap. */
#define OB_PEAK_STEP 16
void _ob_stats_flush_class(ob_heap_t *heap, unsigned cls)
{
    flush_class(heap, cls, OB_PEAK_STEP);
}

/* A heap's counters are by pool class; these, by size class. */
static void add_counters(counters_t *to, const ob_heap_stats_t *s)
{
    for (unsigned c = 0; c < OB_POOL_CLASSES; c++) {
        to->mallocs[ob_class_public(c)] += ob_heap_mallocs(s, c);
        to->frees[ob_class_public(c)] += ob_relaxed_load(&s->frees[c]);
    }
    to->cross_thread_frees += ob_relaxed_load(&s->cross_thread_frees);
    to->reused += ob_relaxed_load(&s->reused);
    to->aligned_mallocs += ob_relaxed_load(&s->aligned_mallocs);
    to->aligned_frees += ob_relaxed_load(&s->aligned_frees);
}

/* Called with _ob_heaps_lock held, as the heap leaves the registry. */
void _ob_stats_heap_exit(ob_heap_t *heap)
{
    for (unsigned c = 0; c < OB_POOL_CLASSES; c++)
        flush_class(heap, c, 1);
    add_counters(&retired, &heap->stats);
    if (heap->region == NULL)
        threads_seen++;
}

/* A region destroyed with `blocks[c]` blocks of pool class c (and `aligned`
 * over-aligned ones) still in it: freed, as far as the counts go.  Under
 * _ob_heaps_lock. */
void _ob_stats_region_dropped(const uint64_t *blocks, uint64_t aligned)
{
    for (unsigned c = 0; c < OB_POOL_CLASSES; c++)
        retired.frees[ob_class_public(c)] += blocks[c];
    retired.aligned_frees += aligned;
}

void _ob_stats_heapless_free(unsigned pool_class, bool aligned)
{
    unsigned cls = ob_class_public(pool_class);
    if (aligned)
        ob_relaxed_fetch_add(&heapless.aligned_frees, 1);
    else
        ob_relaxed_fetch_add(&heapless.frees[cls], 1);
    ob_relaxed_fetch_add(&heapless.cross_thread_frees, 1);
    ob_atomic_sub_relaxed(&live_estimate[cls], aligned ? 0 : 1);
}

/* ---- gathering ---------------------------------------------------------- */

typedef struct walk {
    size_t pools[OB_CLASSES], capacity[OB_CLASSES];
    size_t arenas, free_pages, committed_pages, huge_kept_pages, quantization, block_offsets;
    size_t aligned_blocks, aligned_bytes;
    size_t resident;
    size_t huge_cached_bytes, huge_slack;
    bool resident_wanted;
} walk_t;

static size_t resident_bytes_of(void *addr, size_t len)
{
    size_t page = _ob_os_page_size();
    size_t pages = len / page, resident = 0;
    unsigned char vec[1024];
    for (size_t done = 0; done < pages; done += sizeof vec) {
        size_t n = pages - done < sizeof vec ? pages - done : sizeof vec;
        if (mincore((char *)addr + done * page, n * page, vec) != 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            resident += vec[i] & 1;
    }
    return resident * page;
}

static void walk_pool(ob_pool_t *pool, void *ctx)
{
    walk_t *w = ctx;
    if (ob_pool_state(pool) == OB_POOL_DEDICATED) {
        w->aligned_blocks++;
        w->aligned_bytes += pool->block_size;
        return;
    }
    unsigned c = ob_class_public(pool->size_class);
    w->pools[c]++;
    w->capacity[c] += pool->capacity;
    w->block_offsets += ob_pool_block_offset(pool);
    w->quantization += (size_t)pool->npages * OB_PAGE_SIZE - ob_pool_block_offset(pool) -
                       ob_pool_capacity_end(pool);
}

static void walk_arena(ob_arena_t *a, void *ctx)
{
    walk_t *w = ctx;
    w->arenas++;
    w->free_pages += a->nfree;
    size_t kept;
    w->committed_pages += _ob_hugepage_committed_pages(a, &kept);
    w->huge_kept_pages += kept;
    if (w->resident_wanted)
        w->resident += resident_bytes_of((void *)ob_arena_base(a), OB_ARENA_SIZE);
    _ob_arena_for_each_pool(a, walk_pool, w);
}

static void walk_huge(const ob_huge_t *h, void *ctx)
{
    walk_t *w = ctx;
    if (h->live)
        w->huge_slack += h->mapped - h->size;
    else
        w->huge_cached_bytes += h->mapped;
    if (w->resident_wanted)
        w->resident += resident_bytes_of(h->addr, h->mapped);
}

static void sub_counters(counters_t *c, const counters_t *base)
{
    for (unsigned i = 0; i < OB_CLASSES; i++) {
        c->mallocs[i] -= base->mallocs[i];
        c->frees[i] -= base->frees[i];
    }
    c->cross_thread_frees -= base->cross_thread_frees;
    c->reused -= base->reused;
    c->aligned_mallocs -= base->aligned_mallocs;
    c->aligned_frees -= base->aligned_frees;
}

/* All counters since start, and the walk of all memory. */
static void gather(counters_t *all, walk_t *w, size_t *threads_current, size_t *regions,
                   size_t *region_bytes)
{
    memset(all, 0, sizeof *all);
    *threads_current = *regions = *region_bytes = 0;
    _ob_lock(&_ob_heaps_lock);
    *all = retired;
    for (ob_heap_t *h = _ob_heaps; h != NULL; h = h->reg_next) {
        add_counters(all, &h->stats);
        _ob_heap_for_each_arena(h, walk_arena, w);
        if (h->region == NULL) {
            (*threads_current)++;
        } else {
            (*regions)++;
            *region_bytes += h->narenas * OB_ARENA_SIZE;
        }
    }
    _ob_unlock(&_ob_heaps_lock);
    for (unsigned c = 0; c < OB_CLASSES; c++)
        all->frees[c] += ob_relaxed_load(&heapless.frees[c]);
    all->cross_thread_frees += ob_relaxed_load(&heapless.cross_thread_frees);
    all->aligned_frees += ob_relaxed_load(&heapless.aligned_frees);
    _ob_arena_for_each_unowned(walk_arena, w);
    _ob_huge_for_each(walk_huge, w);
}

/* Everything the figures are made of, taken at one go. */
typedef struct snapshot {
    counters_t all;
    walk_t w;
    size_t threads_current, regions, region_bytes;
    ob_huge_totals_t huge;
    uint64_t arenas_allocated, arenas_reclaimed;
    size_t arenas_highwater;
} snapshot_t;

static void take_snapshot(snapshot_t *snap, bool resident)
{
    memset(&snap->w, 0, sizeof snap->w);
    snap->w.resident_wanted = resident;
    gather(&snap->all, &snap->w, &snap->threads_current, &snap->regions, &snap->region_bytes);
    _ob_huge_totals(&snap->huge);
    _ob_arena_stats_totals(&snap->arenas_allocated, &snap->arenas_reclaimed,
                           &snap->arenas_highwater);
}

/* The figures of ob_stats_get; `resident` asks for the mincore walk (the
 * C library's mallinfo and malloc_info go without it).  `huge`, if not
 * NULL, gets the bytes mapped for huge blocks, in use and cached. */
void _ob_stats_fill(struct ob_stats *s, bool resident, ob_stats_huge_t *huge_out)
{
    snapshot_t snap;
    take_snapshot(&snap, resident);
    const counters_t *all = &snap.all;
    const walk_t *w = &snap.w;
    const ob_huge_totals_t *huge = &snap.huge;

    s->nclasses = OB_CLASSES;
    size_t in_use_bytes = 0, free_bytes = 0;
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        struct ob_class_stats *cs = &s->classes[c];
        size_t bs = _ob_classes[c].block_size;
        int64_t live = (int64_t)(all->mallocs[c] - all->frees[c]);
        if (live < 0)
            live = 0; /* a free counted before its malloc, in another thread */
        if ((size_t)live > w->capacity[c])
            live = (int64_t)w->capacity[c];
        raise_peak(c, (uint64_t)live);
        cs->block_size = bs;
        cs->pools = w->pools[c];
        cs->blocks_in_use = (size_t)live;
        cs->blocks_free = w->capacity[c] - (size_t)live;
        cs->bytes_in_use = (size_t)live * bs;
        cs->peak_blocks_in_use = ob_atomic_load_relaxed(&peak[c]);
        in_use_bytes += cs->bytes_in_use;
        free_bytes += cs->blocks_free * bs;
    }
    counters_t since = *all;
    sub_counters(&since, &baseline.counts);
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        s->classes[c].mallocs = since.mallocs[c];
        s->classes[c].frees = since.frees[c];
    }

    size_t arena_bytes = w->arenas * OB_ARENA_SIZE;
    size_t huge_mapped = huge->mapped + w->huge_cached_bytes;
    size_t leaves = ob_atomic_load_relaxed(&_ob_map_leaves) * sizeof(ob_map_leaf_t);
    size_t meta = ob_atomic_load_relaxed(&_ob_meta_bytes);

    s->arenas_allocated = snap.arenas_allocated - baseline.arenas_allocated;
    s->arenas_reclaimed = snap.arenas_reclaimed - baseline.arenas_reclaimed;
    s->arenas_current = w->arenas;
    s->arenas_highwater = snap.arenas_highwater > baseline.arenas_highwater_floor
                              ? snap.arenas_highwater : baseline.arenas_highwater_floor;
    s->huge_blocks = huge->live;
    s->huge_bytes = huge->bytes;
    s->huge_allocs = huge->allocs - baseline.huge_allocs;
    s->huge_frees = huge->frees - baseline.huge_frees;
    s->aligned_blocks = w->aligned_blocks;
    s->aligned_bytes = w->aligned_bytes;
    s->cross_thread_frees = since.cross_thread_frees;
    s->cross_thread_reused = since.reused;
    s->huge_pages_option = (uint32_t)_ob_options.hugepages;
    s->huge_pages_kernel = (uint32_t)_ob_hugepage_kernel_mode();
    s->bytes_huge_pages = _ob_hugepage_bytes();
    s->bytes_huge_kept = w->huge_kept_pages * OB_PAGE_SIZE;
    _ob_lock(&_ob_heaps_lock);
    s->threads_seen = threads_seen + snap.threads_current;
    _ob_unlock(&_ob_heaps_lock);
    s->threads_current = snap.threads_current;
    s->regions_current = snap.regions;
    s->bytes_regions = snap.region_bytes;
    uint64_t purged_pages, regret_pages;
    _ob_purge_stats(&s->purge_delay_ms, &purged_pages, &regret_pages);
    s->bytes_purged = purged_pages * OB_PAGE_SIZE;
    s->bytes_regretted = regret_pages * OB_PAGE_SIZE;
    _ob_arena_spare_stats(&s->spare_arenas, &s->spare_arenas_limit, &s->bytes_spare_resident);
    s->huge_cache_bytes = huge->cached_bytes;
    s->huge_cache_limit = huge->cache_limit;

    s->bytes_allocated_blocks = in_use_bytes + w->aligned_bytes + huge->bytes;
    s->bytes_free_blocks = free_bytes + w->huge_cached_bytes;
    s->bytes_unused_pools = w->free_pages * OB_PAGE_SIZE;
    s->bytes_metadata = w->arenas * sizeof(ob_arena_t) + leaves + meta;
    s->bytes_quantization = w->quantization + w->huge_slack;
    s->bytes_alignment = w->arenas * (OB_ARENA_HEADER_PAGES * OB_PAGE_SIZE - sizeof(ob_arena_t)) +
                         w->block_offsets;
    s->bytes_mapped = arena_bytes + huge_mapped + leaves + meta;
    s->bytes_committed = w->committed_pages * OB_PAGE_SIZE + huge_mapped + leaves + meta;
    s->bytes_resident = w->resident;
    s->bytes_in_use = s->bytes_allocated_blocks;
    if (huge_out != NULL) {
        huge_out->mapped_live = huge->mapped;
        huge_out->cached = w->huge_cached_bytes;
    }
}

int ob_stats_get(struct ob_stats *stats)
{
    if (stats == NULL || stats->version != OB_STATS_VERSION ||
        stats->size < offsetof(struct ob_stats, classes))
        return EINVAL;
    ob_ensure_init();
    struct ob_stats full;
    memset(&full, 0, sizeof full);
    _ob_stats_fill(&full, true, NULL);
    size_t size = stats->size < sizeof full ? stats->size : sizeof full;
    full.size = stats->size;
    full.version = OB_STATS_VERSION;
    /* A smaller struct (an older caller) gets the classes that fit. */
    memcpy(stats, &full, size);
    return 0;
}

void ob_stats_reset(void)
{
    ob_ensure_init();
    snapshot_t snap;
    take_snapshot(&snap, false);
    baseline.counts = snap.all;
    baseline.arenas_allocated = snap.arenas_allocated;
    baseline.arenas_reclaimed = snap.arenas_reclaimed;
    baseline.huge_allocs = snap.huge.allocs;
    baseline.huge_frees = snap.huge.frees;
    baseline.arenas_highwater_floor = snap.w.arenas;
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        int64_t live = (int64_t)(snap.all.mallocs[c] - snap.all.frees[c]);
        ob_atomic_store_relaxed(&peak[c], live > 0 ? (uint64_t)live : 0);
    }
}

/* ---- reports ------------------------------------------------------------ */

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* The process's command name (/proc/self/comm), for the report's first
 * line: with several processes reporting to one terminal, which is which. */
static void command_name(char *out, size_t cap)
{
    out[0] = 0;
    int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n <= 0)
        return;
    out[n] = 0;
    out[strcspn(out, "\n")] = 0;
}

void ob_stats_print(FILE *f)
{
    struct ob_stats s = {.size = sizeof s, .version = OB_STATS_VERSION};
    ob_stats_get(&s);
    char comm[32];
    command_name(comm, sizeof comm);
    fprintf(f, "obmalloc %s statistics (pid %d, %s)\n\n", ob_version(), (int)getpid(),
            comm[0] ? comm : "?");
    fprintf(f, "class   size   pools   in use     free  bytes in use     peak      mallocs        frees\n");
    for (unsigned i = 0; i < s.nclasses; i++) {
        unsigned c = _ob_classes_by_size[i]; /* the fine classes among the small */
        const struct ob_class_stats *cs = &s.classes[c];
        if (!cs->pools && !cs->mallocs && !cs->frees && !cs->peak_blocks_in_use)
            continue;
        fprintf(f, "%5u %7zu %6zu %8zu %8zu %13zu %8zu %12llu %12llu\n", c, cs->block_size,
                cs->pools, cs->blocks_in_use, cs->blocks_free, cs->bytes_in_use,
                cs->peak_blocks_in_use, (unsigned long long)cs->mallocs,
                (unsigned long long)cs->frees);
    }
    fprintf(f, "\narenas: %llu allocated, %llu reclaimed, %zu current, %zu high-water mark\n",
            (unsigned long long)s.arenas_allocated, (unsigned long long)s.arenas_reclaimed,
            s.arenas_current, s.arenas_highwater);
    fprintf(f, "bytes: %zu mapped (%.1f MiB), %zu committed, %zu resident, %zu in use\n",
            s.bytes_mapped, mib(s.bytes_mapped), s.bytes_committed, s.bytes_resident,
            s.bytes_in_use);
    fprintf(f, "huge blocks: %zu live (%zu bytes), %llu allocated, %llu freed\n", s.huge_blocks,
            s.huge_bytes, (unsigned long long)s.huge_allocs, (unsigned long long)s.huge_frees);
    fprintf(f, "over-aligned blocks: %zu (%zu bytes)\n", s.aligned_blocks, s.aligned_bytes);
    fprintf(f, "threads: %llu seen, %zu current; cross-thread frees: %llu "
               "(%llu handed out again by the freeing thread)\n",
            (unsigned long long)s.threads_seen, s.threads_current,
            (unsigned long long)s.cross_thread_frees, (unsigned long long)s.cross_thread_reused);
    fprintf(f, "regions: %zu live, %zu bytes of arenas\n", s.regions_current, s.bytes_regions);
    fprintf(f, "memory return: purge delay %llu ms; %.1f MiB purged, %.1f MiB of it needed "
               "again; %zu spare arenas of %zu allowed (%.1f MiB resident); huge cache %.1f "
               "of %.1f MiB\n",
            (unsigned long long)s.purge_delay_ms, mib(s.bytes_purged), mib(s.bytes_regretted),
            s.spare_arenas, s.spare_arenas_limit, mib(s.bytes_spare_resident),
            mib(s.huge_cache_bytes), mib(s.huge_cache_limit));
    static const char *const option[] = {"off", "on", "auto"};
    static const char *const kernel[] = {"never", "madvise", "always"};
    fprintf(f, "huge pages: %s (kernel: %s%s), %zu bytes of arenas in huge pages, "
               "%zu of them free pages kept with their huge page\n",
            option[s.huge_pages_option % 3], kernel[s.huge_pages_kernel % 3],
            s.huge_pages_kernel == OB_THP_NEVER && s.huge_pages_option ? ": the option does nothing"
                                                                       : "",
            s.bytes_huge_pages, s.bytes_huge_kept);
    fprintf(f, "\nbytes mapped, broken down:\n");
    fprintf(f, "  %14zu  in allocated blocks\n", s.bytes_allocated_blocks);
    fprintf(f, "  %14zu  in free blocks\n", s.bytes_free_blocks);
    fprintf(f, "  %14zu  in unused pools\n", s.bytes_unused_pools);
    fprintf(f, "  %14zu  metadata\n", s.bytes_metadata);
    fprintf(f, "  %14zu  lost to quantization\n", s.bytes_quantization);
    fprintf(f, "  %14zu  lost to alignment\n", s.bytes_alignment);
    fprintf(f, "= %14zu  mapped\n", s.bytes_mapped);
}

void ob_stats_print_json(FILE *f)
{
    struct ob_stats s = {.size = sizeof s, .version = OB_STATS_VERSION};
    ob_stats_get(&s);
    fprintf(f, "{\"obmalloc\": \"%s\", \"stats_version\": %d, \"pid\": %d,\n \"classes\": [",
            ob_version(), OB_STATS_VERSION, (int)getpid());
    for (unsigned c = 0; c < s.nclasses; c++) {
        const struct ob_class_stats *cs = &s.classes[c];
        fprintf(f, "%s\n  {\"class\": %u, \"block_size\": %zu, \"pools\": %zu, \"blocks_in_use\": %zu, "
                   "\"blocks_free\": %zu, \"bytes_in_use\": %zu, \"peak_blocks_in_use\": %zu, "
                   "\"mallocs\": %llu, \"frees\": %llu}",
                c ? "," : "", c, cs->block_size, cs->pools, cs->blocks_in_use, cs->blocks_free,
                cs->bytes_in_use, cs->peak_blocks_in_use, (unsigned long long)cs->mallocs,
                (unsigned long long)cs->frees);
    }
    fprintf(f, "],\n \"arenas\": {\"allocated\": %llu, \"reclaimed\": %llu, \"current\": %zu, "
               "\"highwater\": %zu},\n",
            (unsigned long long)s.arenas_allocated, (unsigned long long)s.arenas_reclaimed,
            s.arenas_current, s.arenas_highwater);
    fprintf(f, " \"bytes\": {\"mapped\": %zu, \"committed\": %zu, \"resident\": %zu, \"in_use\": %zu},\n",
            s.bytes_mapped, s.bytes_committed, s.bytes_resident, s.bytes_in_use);
    fprintf(f, " \"huge\": {\"blocks\": %zu, \"bytes\": %zu, \"allocs\": %llu, \"frees\": %llu},\n",
            s.huge_blocks, s.huge_bytes, (unsigned long long)s.huge_allocs,
            (unsigned long long)s.huge_frees);
    fprintf(f, " \"aligned\": {\"blocks\": %zu, \"bytes\": %zu},\n", s.aligned_blocks, s.aligned_bytes);
    fprintf(f, " \"threads\": {\"seen\": %llu, \"current\": %zu, \"cross_thread_frees\": %llu, "
               "\"cross_thread_reused\": %llu},\n",
            (unsigned long long)s.threads_seen, s.threads_current,
            (unsigned long long)s.cross_thread_frees, (unsigned long long)s.cross_thread_reused);
    fprintf(f, " \"regions\": {\"current\": %zu, \"bytes\": %zu},\n", s.regions_current,
            s.bytes_regions);
    fprintf(f, " \"memory_return\": {\"purge_delay_ms\": %llu, \"bytes_purged\": %llu, "
               "\"bytes_regretted\": %llu, \"spare_arenas\": %zu, \"spare_arenas_limit\": %zu, "
               "\"bytes_spare_resident\": %zu, \"huge_cache_bytes\": %zu, "
               "\"huge_cache_limit\": %zu},\n",
            (unsigned long long)s.purge_delay_ms, (unsigned long long)s.bytes_purged,
            (unsigned long long)s.bytes_regretted, s.spare_arenas, s.spare_arenas_limit,
            s.bytes_spare_resident, s.huge_cache_bytes, s.huge_cache_limit);
    fprintf(f, " \"huge_pages\": {\"option\": %u, \"kernel\": %u, \"bytes\": %zu, \"kept\": %zu},\n",
            s.huge_pages_option, s.huge_pages_kernel, s.bytes_huge_pages, s.bytes_huge_kept);
    fprintf(f, " \"breakdown\": {\"allocated_blocks\": %zu, \"free_blocks\": %zu, "
               "\"unused_pools\": %zu, \"metadata\": %zu, \"quantization\": %zu, "
               "\"alignment\": %zu, \"mapped\": %zu}}\n",
            s.bytes_allocated_blocks, s.bytes_free_blocks, s.bytes_unused_pools, s.bytes_metadata,
            s.bytes_quantization, s.bytes_alignment, s.bytes_mapped);
}

/* OBMALLOC_STATS=1|json: the report at exit, to stderr or
 * OBMALLOC_STATS_FILE; with OBMALLOC_STATS_PID=n, only process n reports
 * (obmalloc-run --stats: the program it runs, not every child it starts,
 * which inherit the environment).  Programs may close stderr before the end (coreutils
 * does, in an atexit handler), so when a report is wanted obmalloc keeps
 * its own close-on-exec copy of descriptor 2, numbered high so as not to
 * disturb the program's own numbering. */
static int report_fd = -1;

static const char *report_mode(void)
{
    const char *mode = getenv("OBMALLOC_STATS");
    if (mode == NULL || *mode == 0 || strcmp(mode, "0") == 0)
        return NULL;
    const char *only = getenv("OBMALLOC_STATS_PID");
    if (only != NULL && *only != 0 && strtol(only, NULL, 10) != (long)getpid())
        return NULL;
    return mode;
}

void _ob_stats_init(void)
{
    const char *mode = report_mode();
    if (mode == NULL)
        return;
    const char *path = getenv("OBMALLOC_STATS_FILE");
    if (path == NULL || *path == 0)
        report_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 200);
}

__attribute__((destructor)) static void stats_at_exit(void)
{
    const char *mode = report_mode();
    if (mode == NULL)
        return;
    const char *path = getenv("OBMALLOC_STATS_FILE");
    FILE *f = NULL;
    if (path && *path)
        f = fopen(path, "w");
    else if (report_fd >= 0)
        f = fdopen(report_fd, "w");
    if (f == NULL)
        f = stderr;
    if (strcmp(mode, "json") == 0)
        ob_stats_print_json(f);
    else
        ob_stats_print(f);
    if (f != stderr)
        fclose(f);
    else
        fflush(f);
}
