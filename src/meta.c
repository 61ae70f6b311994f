/*
 * The metadata allocator: obmalloc's own structures (heaps, regions, huge
 * block descriptors, the profiler's tables) out of the way of blocks.
 * Chunks mapped from the OS, cut into slots of a few fixed sizes, freed
 * slots kept on per-size lists.  It sits just above the OS layer so that
 * every other layer may use it.
 */
#include <string.h>

#include "internal.h"

ob_lock_t _ob_meta_lock = OB_LOCK_INIT;

#define META_CHUNK ((size_t)256 << 10)
#define META_SIZES 8

typedef struct meta_free {
    struct meta_free *next;
} meta_free_t;

static struct {
    size_t size;
    meta_free_t *free;
} meta_lists[META_SIZES];
static char *meta_bump, *meta_end;
_Atomic size_t _ob_meta_bytes;

void *_ob_meta_alloc(size_t size)
{
    size = ob_align_up(size, 64);
    void *p = NULL;
    _ob_lock(&_ob_meta_lock);
    for (size_t i = 0; i < META_SIZES; i++) {
        if (meta_lists[i].size == size && meta_lists[i].free != NULL) {
            p = meta_lists[i].free;
            meta_lists[i].free = meta_lists[i].free->next;
            break;
        }
    }
    if (p == NULL) {
        if (meta_bump == NULL || (size_t)(meta_end - meta_bump) < size) {
            size_t chunk = size > META_CHUNK ? ob_align_up(size, META_CHUNK) : META_CHUNK;
            meta_bump = _ob_os_map(chunk, 0);
            meta_end = meta_bump ? meta_bump + chunk : NULL;
            if (meta_bump != NULL)
                ob_atomic_add_relaxed(&_ob_meta_bytes, chunk);
        }
        if (meta_bump != NULL) {
            p = meta_bump;
            meta_bump += size;
        }
    }
    _ob_unlock(&_ob_meta_lock);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

void _ob_meta_free(void *p, size_t size)
{
    size = ob_align_up(size, 64);
    _ob_lock(&_ob_meta_lock);
    for (size_t i = 0; i < META_SIZES; i++) {
        if (meta_lists[i].size == size || meta_lists[i].size == 0) {
            meta_lists[i].size = size;
            ((meta_free_t *)p)->next = meta_lists[i].free;
            meta_lists[i].free = p;
            break;
        }
    }
    _ob_unlock(&_ob_meta_lock);
}
