/*
 * The arena map: is this pointer obmalloc's, and if so whose?
 *
 * A two-level radix tree over the 4 MiB granules of a 48-bit address
 * space, as CPython 3.10's arena map: the root (in BSS) has 2^13 slots,
 * each leaf (mapped on first use, never freed) 2^13 entries.  An entry is
 * 0 (not ours), the arena's address | OB_MAP_ARENA, or the ob_huge_t of the
 * huge block covering that granule.  Every arena and huge block starts on
 * a granule boundary, so no granule is shared between two of our regions;
 * the part of a huge block's last granule past its end may hold a foreign
 * mapping, which huge.c tells apart by the block's bounds.
 *
 * A lookup reads only the root and a leaf, both memory obmalloc mapped and
 * zero-initialised, whatever the pointer: no foreign memory is touched and
 * valgrind sees no uninitialised read.  Writers hold _ob_map_lock; readers
 * take no lock (entries are published with release stores).
 */
#include "internal.h"

ob_map_leaf_t _ob_map_empty_leaf; /* never written */
_Atomic uintptr_t _ob_map_root[OB_MAP_ROOT_SIZE];

ob_lock_t _ob_map_lock = OB_LOCK_INIT;
_Atomic size_t _ob_map_leaves;

static ob_map_leaf_t *leaf_for(uintptr_t granule, bool create)
{
    _Atomic uintptr_t *slot = &_ob_map_root[granule >> OB_MAP_LEAF_BITS];
    uintptr_t delta = ob_atomic_load_acquire(slot);
    if (delta != 0)
        return (ob_map_leaf_t *)((uintptr_t)&_ob_map_empty_leaf + delta);
    if (!create)
        return NULL;
    ob_map_leaf_t *leaf = _ob_os_map(sizeof(ob_map_leaf_t), 0);
    if (leaf != NULL)
        ob_atomic_add_relaxed(&_ob_map_leaves, 1);
    if (leaf != NULL)
        ob_atomic_store_release(slot, (uintptr_t)leaf - (uintptr_t)&_ob_map_empty_leaf);
    return leaf;
}

/* Points every granule of [start, start+size) at `entry`.  start is granule
 * aligned.  False (nothing changed) if a leaf could not be mapped. */
bool _ob_map_set(uintptr_t start, size_t size, uintptr_t entry)
{
    uintptr_t first = start >> OB_ARENA_SHIFT;
    uintptr_t last = (start + size - 1) >> OB_ARENA_SHIFT;
    if (last >> OB_MAP_BITS)
        return false;
    _ob_lock(&_ob_map_lock);
    for (uintptr_t g = first; g <= last; g++) {
        if (leaf_for(g, true) == NULL) {
            _ob_unlock(&_ob_map_lock);
            return false;
        }
    }
    for (uintptr_t g = first; g <= last; g++)
        ob_atomic_store_release(&leaf_for(g, false)->entry[g & (OB_MAP_LEAF_SIZE - 1)], entry);
    _ob_unlock(&_ob_map_lock);
    return true;
}

void _ob_map_clear(uintptr_t start, size_t size)
{
    uintptr_t first = start >> OB_ARENA_SHIFT;
    uintptr_t last = (start + size - 1) >> OB_ARENA_SHIFT;
    _ob_lock(&_ob_map_lock);
    for (uintptr_t g = first; g <= last; g++) {
        ob_map_leaf_t *leaf = leaf_for(g, false);
        if (leaf != NULL)
            ob_atomic_store_release(&leaf->entry[g & (OB_MAP_LEAF_SIZE - 1)], 0);
    }
    _ob_unlock(&_ob_map_lock);
}
