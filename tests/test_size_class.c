/* The size-class table: every size maps to the smallest class that holds
 * it, blocks are 16-byte aligned (8 in the fine classes, which only a kind
 * aligned to 8 maps to), waste stays within the documented bounds, and
 * pools are sliced sensibly. */
#include "check.h"
#include "pool.h"

int main(void)
{
    ob_free(ob_malloc(1)); /* start-up computes the table */
    size_t prev = 0;
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        const ob_class_info_t *ci = &_ob_classes[c];
        bool fine = c >= OB_SIZE_CLASSES;
        if (c == OB_SIZE_CLASSES)
            prev = 16; /* the fine ones: 24, 40, 56, between the small ones */
        CHECK(ci->block_size > prev);
        CHECK(ci->block_size % OB_ALIGNMENT == (fine ? 8 : 0));
        CHECK(!fine || ci->block_size < 64);
        CHECK(ci->capacity >= 1);
        CHECK(ci->pages >= 1 && ci->pages <= OB_MAX_POOL_PAGES);
        size_t pool = ci->pages * OB_PAGE_SIZE;
        size_t room = pool - ci->block_offset; /* from the first block on */
        CHECK((size_t)ci->capacity * ci->block_size <= room);
        CHECK((size_t)(ci->capacity + 1) * ci->block_size > room);
        size_t tail = room - (size_t)ci->capacity * ci->block_size;
        if (ci->block_size <= OB_SMALL_MAX) {
            CHECK_EQ(ci->pages, 1); /* pymalloc's 16 KiB pools */
            /* The block offset (OBMALLOC_BLOCK_OFFSET) is the option's, and
             * costs at most the offset and one block. */
            CHECK_EQ(ci->block_offset, _ob_options.block_offset);
            CHECK(ci->block_offset % OB_ALIGNMENT == 0 && ci->block_offset <= OB_MAX_BLOCK_OFFSET);
            CHECK(ci->capacity + 1 + ci->block_offset / ci->block_size >= pool / ci->block_size);
            /* Its aligned twin: the same blocks from the page's start
             * (the fine classes have none: an aligned request is for 16
             * at least). */
            if (!fine) {
                const ob_class_info_t *twin = &_ob_classes[OB_CLASSES + c];
                CHECK_EQ(twin->block_size, ci->block_size);
                CHECK_EQ(twin->pages, 1);
                CHECK_EQ(twin->block_offset, 0);
                CHECK_EQ(twin->capacity, pool / ci->block_size);
            }
            CHECK(tail * 32 <= pool || ci->block_offset > 0);
        } else {
            CHECK_EQ(ci->block_offset, 0);
            CHECK(tail * 32 <= pool); /* at most 1/32 of a pool is lost at its end */
        }
        /* The divisibility test, and the free fast path's product and
         * bound, are exact at every offset a pointer into the pool can
         * have: in it, past it, and wrapped below its first block (by up
         * to the largest block offset), with the pool part or fully carved. */
        ob_pool_t desc = {.block_size = ci->block_size, .capacity = ci->capacity,
                          .divisor = ob_divisor_for(ci->block_size), .state = OB_POOL_ACTIVE};
        CHECK(ob_pool_step(&desc) >= 1 && ob_pool_step(&desc) <= ci->block_size);
        for (unsigned carved = ci->capacity / 2; carved <= ci->capacity; carved += ci->capacity - carved ? ci->capacity - carved : 1) {
            desc.carved = (uint16_t)carved;
            ob_pool_set_free_bound(&desc);
            size_t end = (size_t)carved * ci->block_size;
            for (size_t off = 0; off < pool + 64; off++) {
                int block = off % ci->block_size == 0;
                if (ob_pool_is_block_offset(&desc, off, (uint32_t)pool) != (block && off < pool) ||
                    ob_pool_is_free_target(&desc, off) != (block && off < end)) {
                    fprintf(stderr, "class %u: offset %zu misjudged\n", c, off);
                    CHECK(0);
                }
            }
            for (uint32_t j = 1; j <= OB_MAX_BLOCK_OFFSET; j++) {
                size_t wrapped = (uint32_t)(0u - j);
                if (ob_pool_is_free_target(&desc, wrapped) ||
                    ob_pool_is_block_offset(&desc, wrapped, (uint32_t)pool)) {
                    fprintf(stderr, "class %u: %u bytes below the first block misjudged\n", c, j);
                    CHECK(0);
                }
            }
        }
        desc.state = OB_POOL_FULL; /* no fast free in any other state */
        ob_pool_set_free_bound(&desc);
        CHECK(!ob_pool_is_free_target(&desc, 0));
        prev = ci->block_size;
    }
    CHECK_EQ(_ob_classes[OB_SMALL_CLASSES - 1].block_size, OB_SMALL_MAX);
    CHECK_EQ(_ob_classes[OB_SIZE_CLASSES - 1].block_size, OB_MAX_CLASS_SIZE);
    CHECK_EQ(_ob_classes[OB_CLASSES - 1].block_size, OB_FINE_MAX);

    /* Every class once in the report's order, by size. */
    for (unsigned i = 0; i < OB_CLASSES; i++) {
        CHECK(_ob_classes_by_size[i] < OB_CLASSES);
        if (i > 0)
            CHECK(_ob_classes[_ob_classes_by_size[i]].block_size >
                  _ob_classes[_ob_classes_by_size[i - 1]].block_size);
    }

    /* A region's map of the small sizes: with the fine classes, each size
     * takes the smallest block of 8-byte steps up to 64, of 16 above. */
    uint8_t map[OB_SMALL_MAX / 8], plain[OB_SMALL_MAX / 8];
    _ob_small_class_map(map, true);
    _ob_small_class_map(plain, false);
    for (size_t size = 1; size <= OB_SMALL_MAX; size++) {
        size_t bs = _ob_classes[map[(size - 1) >> 3]].block_size;
        size_t step = size <= 64 && size > 16 ? 8 : OB_ALIGNMENT;
        CHECK(bs >= size && bs - size < step);
        CHECK_EQ(plain[(size - 1) >> 3], ob_size_class_small(size));
    }

    /* Every size round-trips to the smallest class that holds it. */
    for (size_t size = 1; size <= OB_MAX_CLASS_SIZE; size++) {
        unsigned c = ob_size_class(size);
        CHECK(c < OB_SIZE_CLASSES);
        size_t bs = _ob_classes[c].block_size;
        if (bs < size || (c > 0 && _ob_classes[c - 1].block_size >= size)) {
            fprintf(stderr, "size %zu -> class %u (%zu bytes)\n", size, c, bs);
            CHECK(0);
        }
        if (size <= OB_SMALL_MAX)
            CHECK(bs - size < OB_ALIGNMENT);
        else
            CHECK((bs - size) * 4 < size); /* < 25% of the request, < 20% of the block */
    }

    /* And real blocks have those sizes and alignments. */
    for (unsigned c = 0; c < OB_SIZE_CLASSES; c++) {
        size_t bs = _ob_classes[c].block_size;
        void *p[3];
        for (int i = 0; i < 3; i++) {
            p[i] = ob_malloc(bs);
            CHECK(p[i] != NULL);
            CHECK((uintptr_t)p[i] % OB_ALIGNMENT == 0);
            CHECK_EQ(ob_usable_size(p[i]), bs);
            memset(p[i], 0x5a, bs);
        }
        for (int i = 0; i < 3; i++)
            ob_free(p[i]);
    }
    printf("size classes: %d classes checked, all sizes 1..%zu round-trip\n", OB_CLASSES,
           (size_t)OB_MAX_CLASS_SIZE);
    return 0;
}
