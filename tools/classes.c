/* Prints obmalloc's size-class table: class, block size, pages per pool,
 * blocks per pool, bytes lost at the pool's tail, worst-case waste; the
 * fine classes (24, 40, 56: kinds aligned to 8) last. */
#include <stdio.h>

#include "pool.h"

int main(void)
{
    ob_free(ob_malloc(1)); /* runs start-up: the table is computed there */
    printf("| class | block size | pool pages | blocks/pool | tail loss | worst waste |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    size_t prev = 0;
    for (unsigned c = 0; c < OB_CLASSES; c++) {
        const ob_class_info_t *ci = &_ob_classes[c];
        size_t pool = ci->pages * OB_PAGE_SIZE;
        size_t tail = pool - (size_t)ci->capacity * ci->block_size;
        if (c >= OB_SIZE_CLASSES) /* fine: sizes from 8 below (kinds aligned to 8) */
            prev = ci->block_size - 8;
        double worst = 100.0 * (double)(ci->block_size - prev - 1) / ci->block_size;
        printf("| %u | %u | %u | %u | %.1f%% | %.1f%% |\n", c, ci->block_size, ci->pages,
               ci->capacity, 100.0 * (double)tail / (double)pool, worst);
        prev = ci->block_size;
    }
    return 0;
}
