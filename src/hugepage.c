/*
 * Huge pages: arenas backed by transparent huge pages (OBMALLOC_HUGEPAGES).
 *
 * An arena is 4 MiB aligned to 4 MiB: two 2 MiB huge pages, its *halves*.
 * With 4 KiB pages a heap of hundreds of megabytes needs a page-table entry
 * per 4 KiB, far more than the TLB holds, and walking such a heap in random
 * order is a TLB miss per step; with huge pages it is one entry per 2 MiB.
 * The cost is memory: a huge page is resident as a whole once touched, and
 * giving back part of it (madvise(MADV_DONTNEED) on 16 KiB) splits it into
 * 4 KiB pages.  Each half of an arena that asked for huge pages is in one
 * of three states (half_state, types.h):
 *
 *       first pool placed               no pool left, a quiet tick
 *   FRESH -----------------> WHOLE -----------------------------> FRESH
 *     ^                        |  sparse for a second, or over the
 *     |  every page went back  |  heap's budget, or ob_collect(1):
 *     +------------------- BROKEN <-- its free pages go back, and
 *                                     MADV_NOHUGEPAGE
 *
 *   placement  the fullest arena with room first, as without huge pages
 *              (arena.c), and in it the fuller half with room: halves fill
 *              densely and the emptier one drains; but a fresh half, whose
 *              first page faults in 2 MiB, only when no arena of the heap
 *              has room elsewhere;
 *   return     a whole half goes back whole once it holds no pool and
 *              none of it was freed during the last tick (one 2 MiB
 *              madvise).  A half that still holds pools is kept whole,
 *              unless
 *              - it stays mostly empty (at most 1/8 of its pages in pools)
 *                for OB_SPARSE_TICKS ticks in a row: a second (20 ticks of
 *                the default 50 ms) is long enough that a program between
 *                two phases keeps its huge pages, and short enough that a
 *                heap that shrank for good gives back what it no longer
 *                uses; or
 *              - the heap's free pages kept in whole halves pass its
 *                budget (1/32 of its pages in use, at least one half):
 *                then its emptiest halves are broken up at the tick,
 *                which bounds the memory huge pages cost a heap whose
 *                frees leave holes everywhere (xmalloc);
 *              a broken half gives back all its free pages, written or
 *              not (all were resident), is marked MADV_NOHUGEPAGE (else
 *              khugepaged, which under its default max_ptes_none makes a
 *              huge page of any range with one page in use, would undo
 *              it), and is purged as small pages until it empties;
 *              ob_collect(1) purges everything at once, as it always did;
 *   guards     the arena's two guard pages (PROT_NONE, arena.c) would
 *              split its first half into three mappings, none of them a
 *              huge page: huge-backed arenas go without them.
 *
 * OBMALLOC_HUGEPAGES=auto, the default, asks for huge pages for the arenas
 * mapped once the process has OB_AUTO_ARENAS (64 MiB): below that the TLB
 * covers most of the heap, and a 2 MiB step in resident memory is a large
 * part of a small program's.  =1 asks for every arena.  Neither asks for
 * a heap's first arena (its header would make 2 MiB per thread resident
 * at once); 0 never.  Where the kernel says `never` the option is a quiet no-op and
 * the statistics say so.
 */
#include "internal.h"

#include "bitmap.h"

#include <string.h>

#define OB_HALF_PAGES (OB_ARENA_PAGES / 2)        /* 128 pages = 2 MiB */
#define OB_HALF_WORDS (OB_BITMAP_WORDS / 2)
#define OB_SPARSE_PAGES (OB_HALF_PAGES / 8)       /* "mostly empty"    */
#define OB_SPARSE_TICKS 20
#define OB_AUTO_ARENAS 16                          /* 64 MiB            */
#define OB_KEEP_SHARE 32          /* kept free pages: at most 1/32 of used */
#define OB_BREAK_MIN_FREE (OB_HALF_PAGES / 4)  /* never break a half fuller */
#define OB_BREAK_NOW 0xff         /* sparse_ticks: break it at this tick   */

static _Atomic int thp_mode = -1; /* the kernel's, read once */
static atomic_bool any_arena_asked; /* for the statistics */

int _ob_hugepage_kernel_mode(void)
{
    int mode = ob_atomic_load_relaxed(&thp_mode);
    if (mode < 0) { /* two threads may both read sysfs: same answer */
        mode = _ob_os_thp_mode();
        ob_atomic_store_relaxed(&thp_mode, mode);
    }
    return mode;
}

/* Called for a new arena (not yet in use): true if it asks for huge
 * pages.  `arenas`: the arenas mapped, this one included; `heap_arenas`:
 * how many the heap that wants it has already.  A heap's first arena stays
 * in small pages in every mode: its header makes its first half resident
 * at once, which in huge pages is 2 MiB per thread (a new thread in a big
 * process would pay it under `auto` too), while a heap big enough for the
 * TLB to matter has many arenas. */
bool _ob_hugepage_arena_wanted(size_t arenas, size_t heap_arenas)
{
    if (heap_arenas == 0)
        return false;
    switch (_ob_options.hugepages) {
    case OB_HUGEPAGES_ON:
        break;
    case OB_HUGEPAGES_AUTO:
        if (arenas < OB_AUTO_ARENAS)
            return false;
        break;
    default:
        return false;
    }
    return _ob_hugepage_kernel_mode() != OB_THP_NEVER;
}

/* Before the first write to the arena: a page touched before the advice
 * is a small page, and its 2 MiB can no longer fault in as a huge page.
 * The header is written next, so the first half is whole from now. */
void _ob_hugepage_arena_back(ob_arena_t *a)
{
    _ob_os_hugepage((void *)ob_arena_base(a), OB_ARENA_SIZE, true);
    ob_atomic_store_relaxed(&any_arena_asked, true);
    a->huge_backed = true;
    a->half_state[0] = OB_HALF_WHOLE;
    a->half_state[1] = OB_HALF_FRESH;
}

/* Pages [i, i + n) were taken by a pool: a fresh half they touch faults
 * in as one huge page. */
void _ob_hugepage_claimed(ob_arena_t *a, size_t i, size_t n)
{
    for (size_t half = i / OB_HALF_PAGES; half <= (i + n - 1) / OB_HALF_PAGES; half++)
        if (a->half_state[half] == OB_HALF_FRESH)
            a->half_state[half] = OB_HALF_WHOLE;
}

static unsigned half_used(const ob_arena_t *a, unsigned half)
{
    unsigned n = 0;
    for (unsigned w = 0; w < OB_HALF_WORDS; w++)
        n += (unsigned)__builtin_popcountll(a->used_map[half * OB_HALF_WORDS + w]);
    return n;
}

/* Narrows or widens `which` (free dirty pages a purge would return; with
 * `all`, every one) to what goes back (see above).  A whole half goes
 * back with all its free pages, written or not: they are all resident,
 * and a part left behind would stay so after the huge page splits. */
void _ob_hugepage_purge_filter(ob_arena_t *a, uint64_t *which, bool all)
{
    if (!a->huge_backed)
        return;
    for (unsigned half = 0; half < 2; half++) {
        uint64_t *part = which + half * OB_HALF_WORDS;
        const uint64_t *used = a->used_map + half * OB_HALF_WORDS;
        const uint64_t *dirty = a->dirty_map + half * OB_HALF_WORDS;
        unsigned in_use = half_used(a, half);
        char *start = (char *)ob_arena_base(a) + (size_t)half * OB_HALF_PAGES * OB_PAGE_SIZE;
        if (a->half_state[half] == OB_HALF_BROKEN) {
            /* Small pages, purged as such; once all of it goes back, it
             * may be a huge page again. */
            bool emptied = in_use == 0;
            for (unsigned w = 0; w < OB_HALF_WORDS && emptied; w++)
                emptied = part[w] == dirty[w];
            if (emptied) {
                _ob_os_hugepage(start, OB_HALF_PAGES * OB_PAGE_SIZE, true);
                a->half_state[half] = OB_HALF_FRESH;
            }
            continue;
        }
        if (a->half_state[half] == OB_HALF_FRESH)
            continue; /* nothing there */
        bool go;
        if (in_use == 0) {
            /* Once none of it was freed during the last tick. */
            go = true;
            for (unsigned w = 0; w < OB_HALF_WORDS; w++)
                if (part[w] != (dirty[w] & ~used[w]))
                    go = false;
            go = go || all;
            a->sparse_ticks[half] = 0;
        } else if (a->sparse_ticks[half] == OB_BREAK_NOW) {
            go = true; /* over the heap's budget (below) */
        } else if (in_use <= OB_SPARSE_PAGES) {
            go = all || a->sparse_ticks[half] >= OB_SPARSE_TICKS;
            if (!go)
                a->sparse_ticks[half]++;
        } else {
            go = all;
            a->sparse_ticks[half] = 0;
        }
        for (unsigned w = 0; w < OB_HALF_WORDS; w++)
            part[w] = go ? ~used[w] : 0;
        if (go && in_use > 0) {
            /* Else khugepaged would make it whole again, resident free
             * pages and all (a range with one page in use is enough for
             * it under the default max_ptes_none). */
            _ob_os_hugepage(start, OB_HALF_PAGES * OB_PAGE_SIZE, false);
            a->half_state[half] = OB_HALF_BROKEN;
        } else if (go) {
            a->half_state[half] = OB_HALF_FRESH;
        }
        if (go)
            a->sparse_ticks[half] = 0;
    }
}

/* After a purge: a half the filter let go of but whose pages the OS kept
 * (madvise refused) still holds them; it is handled as small pages. */
void _ob_hugepage_purged(ob_arena_t *a)
{
    for (unsigned half = 0; half < 2; half++)
        if (a->half_state[half] == OB_HALF_FRESH &&
            ob_bitmap_any(a->dirty_map, half * OB_HALF_PAGES, OB_HALF_PAGES))
            a->half_state[half] = OB_HALF_BROKEN;
}

/* The heap's budget of kept pages, at each purge tick: free pages kept
 * resident because their half is whole may be at most 1/OB_KEEP_SHARE of
 * the pages in use (and one half's worth whatever the heap's size), else
 * the emptiest halves (at least a quarter free) are broken up, emptiest
 * first, until the rest fits.  This bounds what huge pages cost in memory
 * for a heap whose frees leave holes everywhere (producers and consumers,
 * caches), where waiting for halves to empty or go sparse never ends. */
void _ob_hugepage_budget_add(ob_keep_budget_t *b, const ob_arena_t *a)
{
    for (unsigned half = 0; half < 2; half++) {
        unsigned used = half_used(a, half);
        b->used += used;
        if (!a->huge_backed || a->half_state[half] != OB_HALF_WHOLE || used == 0)
            continue;
        b->kept += OB_HALF_PAGES - used;
        b->halves_by_free[OB_HALF_PAGES - used]++;
    }
}

/* After every arena was added: the least free pages a half must have to
 * be broken up now (above OB_HALF_PAGES: none). */
unsigned _ob_hugepage_budget_threshold(const ob_keep_budget_t *b)
{
    size_t budget = b->used / OB_KEEP_SHARE;
    if (budget < OB_HALF_PAGES)
        budget = OB_HALF_PAGES;
    size_t kept = b->kept;
    unsigned t = OB_HALF_PAGES + 1;
    while (kept > budget && t > OB_BREAK_MIN_FREE) {
        t--;
        kept -= (size_t)b->halves_by_free[t] * t;
    }
    return t;
}

void _ob_hugepage_budget_apply(ob_arena_t *a, unsigned threshold)
{
    if (!a->huge_backed)
        return;
    for (unsigned half = 0; half < 2; half++) {
        unsigned used = half_used(a, half);
        if (a->half_state[half] == OB_HALF_WHOLE && used > 0 &&
            OB_HALF_PAGES - used >= threshold)
            a->sparse_ticks[half] = OB_BREAK_NOW;
    }
}

/* Where a run of n pages goes in a huge-backed arena: the fuller half
 * that has room, then the other, then across the middle; not in a fresh
 * half unless `fresh_too`.  Returns OB_ARENA_PAGES if there is no room. */
size_t _ob_hugepage_find_run(const ob_arena_t *a, size_t n, size_t align, bool fresh_too)
{
    uint64_t avoid[OB_BITMAP_WORDS];
    for (unsigned w = 0; w < OB_BITMAP_WORDS; w++)
        avoid[w] = a->used_map[w] |
                   (!fresh_too && a->half_state[w / OB_HALF_WORDS] == OB_HALF_FRESH
                        ? ~(uint64_t)0 : 0);
    unsigned first = half_used(a, 1) > half_used(a, 0) ? 1 : 0;
    for (unsigned k = 0; k < 2; k++) {
        unsigned half = k == 0 ? first : 1 - first;
        uint64_t busy[OB_BITMAP_WORDS];
        for (unsigned w = 0; w < OB_BITMAP_WORDS; w++)
            busy[w] = w / OB_HALF_WORDS == half ? avoid[w] : ~(uint64_t)0;
        size_t i = ob_bitmap_find_run(busy, n, align);
        if (i < OB_ARENA_PAGES)
            return i;
    }
    return ob_bitmap_find_run(avoid, n, align);
}

/* ---- statistics -------------------------------------------------------- */

/* Pages of the arena the kernel holds for it: those obmalloc wrote and
 * has not given back, and all of every whole half.  `kept`: of those, the
 * free pages that are resident only because their half is whole. */
size_t _ob_hugepage_committed_pages(const ob_arena_t *a, size_t *kept)
{
    size_t committed = 0;
    *kept = 0;
    for (unsigned w = 0; w < OB_BITMAP_WORDS; w++) {
        if (a->huge_backed && a->half_state[w / OB_HALF_WORDS] == OB_HALF_WHOLE) {
            committed += 64;
            *kept += (size_t)__builtin_popcountll(~a->used_map[w]);
        } else {
            committed += (size_t)__builtin_popcountll(a->used_map[w] | a->dirty_map[w]);
        }
    }
    return committed;
}

/* A mapping that holds an arena (the kernel may have merged several, or an
 * arena with other anonymous memory: then the mapping counts whole). */
static bool holds_arena(uintptr_t start, uintptr_t end)
{
    for (uintptr_t g = (start + OB_ARENA_SIZE - 1) & ~(uintptr_t)(OB_ARENA_SIZE - 1);
         g < end; g += OB_ARENA_SIZE)
        if (ob_map_is_arena(ob_map_lookup((void *)g), (void *)g))
            return true;
    return false;
}

/* Bytes of arena memory in transparent huge pages.  Read from
 * /proc/self/smaps only when huge pages may be there: asked for, or the
 * kernel's mode is `always`. */
size_t _ob_hugepage_bytes(void)
{
    if (!ob_atomic_load_relaxed(&any_arena_asked) &&
        _ob_hugepage_kernel_mode() != OB_THP_ALWAYS)
        return 0;
    if (_ob_hugepage_kernel_mode() == OB_THP_NEVER)
        return 0;
    return _ob_os_anon_huge_bytes(holds_arena);
}
