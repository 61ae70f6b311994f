/*
 * Size classes.
 *
 * Small: 1..512 bytes in 16-byte steps (32 classes), as pymalloc: every
 * block is 16-byte aligned and no request wastes more than 15 bytes.
 *
 * Medium and large: 513 bytes .. 1 MiB in geometric steps, four per
 * doubling (640, 768, 896, 1024, 1280, ...): 44 classes.  A request just
 * above a class boundary wastes at most a quarter of the request (20% of
 * the block); averaged over sizes the waste is about 10%.
 *
 * Above 1 MiB a block is "huge": its own mapping (huge.c).
 *
 * Fine classes: 24, 40 and 56 bytes, only 8-byte aligned, numbered after
 * the others (OB_SIZE_CLASSES..), for regions of a kind that asks for no
 * more (ob_kind_set_align).  A runtime's objects are often an odd number
 * of words: free-threaded CPython's header is 4 words, so a float takes
 * 40 bytes, a list 56, and 16-byte steps lose a sixth of such a heap.
 *
 * Each class's pool is a run of 16 KiB pages.  Small classes take one page
 * (pymalloc's pool).  Larger classes take the fewest pages, two at least,
 * that hold at least OB_MIN_BLOCKS blocks while losing at most 1/32 of the
 * pool to the tail that no block fits; classes too big for that take one block per
 * pool, rounded up to whole pages.  The chosen figures are printed by
 * tools/classes (and in docs/DESIGN.md).
 *
 * Block offset: the pools of the small classes start their first block
 * OBMALLOC_BLOCK_OFFSET bytes into their page (docs/DESIGN.md, "Where a
 * block starts in its cache line"), and lose those bytes, and up to one
 * block at the tail.  Larger classes start at the page: their blocks span
 * cache lines anyway, and pages are what aligned requests need.  Each
 * small class has an aligned twin (pool class OB_CLASSES + c) with the
 * same block size and no offset, for requests aligned beyond 16 bytes.
 */
#include <errno.h>

#include "internal.h"

#define OB_MIN_BLOCKS 8
#define OB_MEDIUM_MIN_PAGES 2

ob_class_info_t _ob_classes[OB_POOL_CLASSES];

static size_t class_block_size(unsigned c)
{
    if (c >= OB_SIZE_CLASSES)
        return 24 + (size_t)(c - OB_SIZE_CLASSES) * OB_ALIGNMENT;
    if (c < OB_SMALL_CLASSES)
        return (size_t)(c + 1) * OB_ALIGNMENT;
    unsigned k = c - OB_SMALL_CLASSES;
    unsigned e = 9 + k / OB_STEPS_PER_DOUBLING;
    return ((size_t)1 << e) + (size_t)(k % OB_STEPS_PER_DOUBLING + 1) *
                                  ((size_t)1 << (e - 2));
}

static unsigned class_pages(size_t block_size)
{
    if (block_size <= OB_SMALL_MAX)
        return 1;
    unsigned min_pages = (unsigned)((block_size + OB_PAGE_SIZE - 1) / OB_PAGE_SIZE);
    /* A medium pool spans two pages at least.  A program that churns
     * blocks of a class at random leaves each pool about as full as the
     * others; malloc then drains one pool after another, each visit a slow
     * path that yields the few blocks freed there since the last one.  One
     * page held 16 blocks of 1 KiB: larson's loop took the slow path on
     * one malloc in eight, and twice as many blocks per pool cut its
     * instructions by a tenth and its second-level cache misses by a third
     * (callgrind).  Pages are carved as they are needed, so a class with a
     * few blocks still touches a page or so. */
    if (min_pages < OB_MEDIUM_MIN_PAGES)
        min_pages = OB_MEDIUM_MIN_PAGES;
    unsigned most = 0;
    size_t most_blocks = 0;
    for (unsigned pages = min_pages; pages <= 16; pages++) {
        size_t bytes = pages * OB_PAGE_SIZE;
        size_t blocks = bytes / block_size;
        size_t waste = bytes - blocks * block_size;
        if (waste * 32 > bytes)
            continue;
        if (blocks >= OB_MIN_BLOCKS)
            return pages;
        if (blocks > most_blocks) {
            most = pages;
            most_blocks = blocks;
        }
    }
    /* OB_MIN_BLOCKS do not fit in 16 pages: the span that holds the most
     * blocks (at most 1/32 lost), if it holds at least 8. */
    if (most_blocks >= 8)
        return most;
    /* Few blocks fit however we slice it: take the span (up to 16 pages,
     * or the minimum) that wastes the smallest fraction. */
    unsigned best = min_pages;
    double best_waste = 1.0;
    unsigned limit = min_pages > 16 ? min_pages : 16;
    for (unsigned pages = min_pages; pages <= limit; pages++) {
        size_t bytes = pages * OB_PAGE_SIZE;
        double waste = (double)(bytes % block_size) / (double)bytes;
        if (waste + 1e-9 < best_waste) {
            best_waste = waste;
            best = pages;
        }
    }
    return best;
}

static void set_class(unsigned c, size_t bs, size_t offset)
{
    unsigned pages = class_pages(bs);
    _ob_classes[c].block_size = (uint32_t)bs;
    _ob_classes[c].pages = (uint16_t)pages;
    _ob_classes[c].block_offset = (uint16_t)offset;
    _ob_classes[c].capacity = (uint16_t)((pages * OB_PAGE_SIZE - offset) / bs);
    size_t reuse = OB_REUSE_BYTES / bs;
    _ob_classes[c].reuse_max = (uint8_t)(reuse < OB_REUSE_MAX ? reuse : OB_REUSE_MAX);
}

_Atomic int _ob_classes_fixed;
uint8_t _ob_classes_by_size[OB_CLASSES];
uint8_t _ob_medium_classes[OB_MEDIUM_TABLE_MAX / OB_ALIGNMENT];

/* After the options: the small classes' offset is one of them. */
void _ob_size_classes_init(void)
{
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        size_t bs = class_block_size(c);
        set_class(c, bs, bs <= OB_SMALL_MAX ? _ob_options.block_offset : 0);
        if (c < OB_SMALL_CLASSES)
            set_class(OB_CLASSES + c, bs, 0);
    }
    for (size_t i = OB_SMALL_CLASSES; i < OB_MEDIUM_TABLE_MAX / OB_ALIGNMENT; i++)
        _ob_medium_classes[i] = (uint8_t)ob_size_class_computed((i + 1) * OB_ALIGNMENT);
    /* The classes in order of size, for reports: the fine ones among the
     * small (insertion, on 79 entries once). */
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        unsigned i = c;
        uint32_t bs = _ob_classes[c].block_size;
        for (; i > 0 && _ob_classes[_ob_classes_by_size[i - 1]].block_size > bs; i--)
            _ob_classes_by_size[i] = _ob_classes_by_size[i - 1];
        _ob_classes_by_size[i] = (uint8_t)c;
    }
}

void _ob_small_class_map(uint8_t map[OB_SMALL_MAX / 8], bool fine)
{
    for (size_t i = 0; i < OB_SMALL_MAX / 8; i++) {
        size_t size = (i + 1) * 8;
        bool odd_words = size % OB_ALIGNMENT != 0 && size > OB_ALIGNMENT;
        map[i] = (uint8_t)(fine && odd_words && size <= OB_FINE_MAX
                               ? OB_SIZE_CLASSES + (size - 24) / OB_ALIGNMENT
                               : ob_size_class_small(size));
    }
}

int ob_prefer_block_offset(size_t bytes)
{
    if (bytes % OB_ALIGNMENT != 0 || bytes > OB_MAX_BLOCK_OFFSET)
        return EINVAL;
    ob_ensure_init();
    if (_ob_options.block_offset_set || bytes == _ob_options.block_offset)
        return 0; /* the environment wins; or nothing changes */
    if (ob_atomic_load_relaxed(&_ob_classes_fixed))
        return EBUSY; /* pools exist with the present table */
    _ob_options.block_offset = bytes;
    _ob_size_classes_init();
    return 0;
}
