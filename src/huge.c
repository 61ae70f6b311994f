/*
 * Huge blocks (above 1 MiB): each is its own mapping, starting on a 4 MiB
 * granule so that the arena map can name it, with its descriptor out of
 * line (in metadata memory), so the block's start is page aligned and no
 * overflow can reach the descriptor.
 *
 * realloc moves the pages with mremap instead of copying them: in place
 * when the address space after the block is free, else onto a new aligned
 * reservation.  Freed huge blocks are kept for a purge delay and reused by
 * the next huge request, so that a loop allocating big buffers does not
 * map, fault in and unmap the same memory every time, which is what
 * glibc's dynamic mmap threshold also avoids.  The cache holds up to
 * OBMALLOC_HUGE_CACHE bytes (64 MiB), or a quarter of the live huge bytes
 * if that is more: a program that keeps 300 MB of big buffers and
 * replaces one at a time (mimalloc-bench's malloc-large) needs more than a
 * fixed budget to find a freed buffer when it asks for the next.  A
 * request takes the smallest cached block that holds it, whole, if that
 * leaves at most the request's size or HUGE_FIT_SLACK unused (its pages
 * were resident anyway; giving its tail back only to fault in another
 * block's pages cost malloc-large six times the page faults), else grows
 * the largest smaller one.  Blocks evicted and then needed again (a new
 * mapping soon after an eviction) count as regrets of the purge delay
 * (purge.c), as purged arena pages do.
 */
#include <errno.h>
#include <string.h>

#include "hooks.h"

ob_lock_t _ob_huge_lock = OB_LOCK_INIT;
static ob_huge_t *live;   /* live blocks, via next/prev              */
static ob_huge_t *cached; /* freed blocks kept mapped, newest first  */
static size_t cached_bytes;
static size_t live_count;
static size_t live_bytes, live_mapped;
static uint64_t total_allocs, total_frees;
/* Bytes evicted from the cache and not yet mapped again, and when. */
static size_t evicted_bytes;
static uint64_t evicted_at_ms;

static size_t cache_limit_locked(void)
{
    size_t opt = _ob_options.huge_cache_bytes;
    if (opt == 0)
        return 0;
    return live_bytes / 4 > opt ? live_bytes / 4 : opt;
}

/* A new mapping of `bytes` (fresh, or a cached block's growth): the part
 * of it that an eviction gave back a purge delay or two ago is a regret. */
static void note_mapped_locked(size_t bytes, uint64_t now_ms)
{
    if (evicted_bytes == 0)
        return;
    if (now_ms - evicted_at_ms > 2 * _ob_purge_delay_ms()) {
        evicted_bytes = 0;
        return;
    }
    size_t regret = bytes < evicted_bytes ? bytes : evicted_bytes;
    evicted_bytes -= regret;
    _ob_purge_note_regret(regret / OB_PAGE_SIZE);
}

void _ob_huge_totals(ob_huge_totals_t *t)
{
    _ob_lock(&_ob_huge_lock);
    t->live = live_count;
    t->bytes = live_bytes;
    t->mapped = live_mapped;
    t->allocs = total_allocs;
    t->frees = total_frees;
    t->cached = 0;
    for (ob_huge_t *h = cached; h != NULL; h = h->next)
        t->cached++;
    t->cached_bytes = cached_bytes;
    t->cache_limit = cache_limit_locked();
    _ob_unlock(&_ob_huge_lock);
}

/* Visits every huge block, live and cached, under the lock. */
void _ob_huge_for_each(void (*fn)(const ob_huge_t *, void *), void *ctx)
{
    _ob_lock(&_ob_huge_lock);
    for (ob_huge_t *h = live; h != NULL; h = h->next)
        fn(h, ctx);
    for (ob_huge_t *h = cached; h != NULL; h = h->next)
        fn(h, ctx);
    _ob_unlock(&_ob_huge_lock);
}

/* Keeps the live totals: call with the lock held, +1 or -1. */
static void account(const ob_huge_t *h, int sign)
{
    live_count += (size_t)sign;
    live_bytes += (size_t)sign * h->size;
    live_mapped += (size_t)sign * h->mapped;
    if (sign > 0)
        total_allocs++;
    else
        total_frees++;
}


static void unlink_from(ob_huge_t **list, ob_huge_t *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        *list = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

static void push_to(ob_huge_t **list, ob_huge_t *h)
{
    h->prev = NULL;
    h->next = *list;
    if (*list)
        (*list)->prev = h;
    *list = h;
}

static void destroy(ob_huge_t *h)
{
    _ob_map_clear((uintptr_t)h->addr, h->mapped);
    _ob_os_unmap(h->addr, h->mapped);
    _ob_meta_free(h, sizeof *h);
}

static size_t page_round(size_t size)
{
    return ob_align_up(size, _ob_os_page_size());
}

#define HUGE_FIT_SLACK ((size_t)32 << 20)

/* A cached mapping for `need` bytes: the smallest that holds it without
 * leaving more than need or HUGE_FIT_SLACK unused, or else the largest
 * smaller one, which the caller grows (its pages are already faulted in;
 * only the rest is new). */
static ob_huge_t *take_cached(size_t need, size_t align)
{
    ob_huge_t *fit = NULL, *grow = NULL;
    for (ob_huge_t *h = cached; h != NULL; h = h->next) {
        if (((uintptr_t)h->addr & (align - 1)) != 0)
            continue;
        if (h->mapped >= need) {
            size_t slack = h->mapped - need;
            if ((slack <= need || slack <= HUGE_FIT_SLACK) &&
                (fit == NULL || h->mapped < fit->mapped))
                fit = h;
        } else if (grow == NULL || h->mapped > grow->mapped) {
            grow = h;
        }
    }
    ob_huge_t *h = fit ? fit : grow;
    if (h != NULL) {
        unlink_from(&cached, h);
        cached_bytes -= h->mapped;
    }
    return h;
}

/* Grows h's mapping to `need` bytes at an address aligned to `align`:
 * in place if the address space after it is free, else by moving its pages
 * (mremap) to a new reservation.  False if neither works. */
static bool grow_mapping(ob_huge_t *h, size_t need, size_t align)
{
    /* In place: any region of ours after it would start on a granule
     * inside the range and make mremap fail, so the map entries it then
     * takes were nobody's. */
    if (_ob_os_try_grow(h->addr, h->mapped, need)) {
        if (_ob_map_set((uintptr_t)h->addr, need, (uintptr_t)h)) {
            h->mapped = need;
            return true;
        }
        _ob_os_try_grow(h->addr, need, h->mapped);
        return false;
    }
    char *dest = _ob_os_reserve(need, align);
    if (dest != NULL && _ob_map_set((uintptr_t)dest, need, (uintptr_t)h)) {
        /* The old range leaves the map before its pages leave it: the
         * moment they do, another thread's new arena or huge block may be
         * mapped there, and clearing afterwards would erase its entries
         * (its next free would be "not allocated by obmalloc"). */
        _ob_map_clear((uintptr_t)h->addr, h->mapped);
        if (_ob_os_remap(h->addr, h->mapped, need, dest) != NULL) {
            h->addr = dest;
            h->mapped = need;
            return true;
        }
        /* Put back: the leaves exist, so this cannot fail. */
        _ob_map_set((uintptr_t)h->addr, h->mapped, (uintptr_t)h);
        _ob_map_clear((uintptr_t)dest, need);
    }
    if (dest != NULL)
        _ob_os_unmap(dest, need);
    return false;
}

/* A new huge block, about to be handed out: the heap profiler's, if its
 * byte countdown says so.  No other thread can know of it yet. */
static void *sample(ob_huge_t *h)
{
    h->owner_list = NULL;
    h->sampled = ob_hook_bytes_due(h->size);
    if (h->sampled)
        ob_hook_bytes_sampled(h->addr, h->size, NULL);
    return h->addr;
}

void *_ob_huge_alloc(size_t size, size_t align, bool zero)
{
    size_t need = page_round(size);
    if (align < OB_ARENA_SIZE)
        align = OB_ARENA_SIZE;
    uint64_t now = _ob_os_now_ms();
    _ob_lock(&_ob_huge_lock);
    ob_huge_t *h = take_cached(need, align);
    note_mapped_locked(h == NULL ? need : h->mapped < need ? need - h->mapped : 0, now);
    _ob_unlock(&_ob_huge_lock);
    if (h != NULL && h->mapped < need && !grow_mapping(h, need, align)) {
        destroy(h);
        h = NULL;
    }
    if (h != NULL) {
        /* Reused memory is dirty; only what grow_mapping added is zero. */
        if (zero)
            memset(h->addr, 0, need);
        h->size = need;
        h->live = true;
        _ob_lock(&_ob_huge_lock);
        push_to(&live, h);
        account(h, +1);
        _ob_unlock(&_ob_huge_lock);
        return sample(h);
    }

    h = _ob_meta_alloc(sizeof *h);
    if (h == NULL)
        goto oom;
    char *addr = _ob_os_map(need, align);
    if (addr == NULL) {
        _ob_meta_free(h, sizeof *h);
        goto oom;
    }
    *h = (ob_huge_t){.addr = addr, .size = need, .mapped = need, .live = true};
    if (!_ob_map_set((uintptr_t)addr, need, (uintptr_t)h)) {
        _ob_os_unmap(addr, need);
        _ob_meta_free(h, sizeof *h);
        goto oom;
    }
    _ob_lock(&_ob_huge_lock);
    push_to(&live, h);
    account(h, +1);
    _ob_unlock(&_ob_huge_lock);
    return sample(h);
oom:
    errno = ENOMEM;
    return NULL;
}

/* Evicts cached blocks older than the purge delay (or all, or beyond the
 * byte budget) into *out, to be destroyed after the lock is dropped. */
static void evict_locked(uint64_t now_ms, bool all, ob_huge_t **out)
{
    /* Oldest first (the list is newest first): walk to the tail. */
    ob_huge_t *h = cached;
    while (h != NULL && h->next != NULL)
        h = h->next;
    size_t limit = cache_limit_locked();
    while (h != NULL) {
        ob_huge_t *prev = h->prev;
        if (all || cached_bytes > limit || now_ms - h->cached_at_ms >= _ob_purge_delay_ms()) {
            unlink_from(&cached, h);
            cached_bytes -= h->mapped;
            h->next = *out;
            *out = h;
            if (!all) {
                evicted_bytes += h->mapped;
                evicted_at_ms = now_ms;
                _ob_purge_note_purged(h->mapped / OB_PAGE_SIZE);
            }
        }
        h = prev;
    }
    if (all)
        evicted_bytes = 0;
}

static void destroy_list(ob_huge_t *list)
{
    while (list != NULL) {
        ob_huge_t *next = list->next;
        destroy(list);
        list = next;
    }
}

void _ob_huge_free(ob_huge_t *h, void *p)
{
    ob_huge_t *evicted = NULL;
    _ob_lock(&_ob_huge_lock);
    if (!h->live || (char *)p != h->addr) {
        bool was_live = h->live;
        _ob_unlock(&_ob_huge_lock);
        if (!was_live)
            _ob_fatal("double free", p, "the huge block was already freed");
        _ob_fatal("invalid free", p, "the address is inside a huge block, not at its start");
    }
    h->live = false;
    if (h->owner_list != NULL) { /* out of its owner's list */
        if (h->owner_prev != NULL)
            h->owner_prev->owner_next = h->owner_next;
        else
            *h->owner_list = h->owner_next;
        if (h->owner_next != NULL)
            h->owner_next->owner_prev = h->owner_prev;
        h->owner_list = NULL;
    }
    /* Out of the profiler's live set before the mapping can be reused
     * (lock order: huge, then prof). */
    if (h->sampled) {
        h->sampled = false;
        ob_hook_sample_freed(p);
    }
    unlink_from(&live, h);
    account(h, -1);
    uint64_t now = _ob_os_now_ms();
    _ob_purge_adapt(now); /* a program of big blocks alone may never tick */
    if (h->mapped <= cache_limit_locked()) {
        h->cached_at_ms = now;
        push_to(&cached, h);
        cached_bytes += h->mapped;
        h = NULL;
    }
    evict_locked(now, false, &evicted);
    _ob_unlock(&_ob_huge_lock);
    if (h != NULL)
        destroy(h);
    destroy_list(evicted);
}

void _ob_huge_cache_trim(uint64_t now_ms, bool all)
{
    ob_huge_t *evicted = NULL;
    _ob_lock(&_ob_huge_lock);
    evict_locked(now_ms, all, &evicted);
    _ob_unlock(&_ob_huge_lock);
    destroy_list(evicted);
}

/* New size > OB_MAX_CLASS_SIZE.  The caller owns the block, so only the
 * lists need the lock; the descriptor's fields are the caller's. */
static void *resized(ob_huge_t *h, void *old, size_t old_size, size_t old_mapped, void *result)
{
    _ob_lock(&_ob_huge_lock);
    live_bytes += h->size - old_size;
    live_mapped += h->mapped - old_mapped;
    if (h->sampled)
        ob_hook_sample_moved(old, result, h->size);
    _ob_unlock(&_ob_huge_lock);
    return result;
}

void *_ob_huge_realloc(ob_huge_t *h, void *p, size_t size)
{
    size_t need = page_round(size);
    size_t old_size = h->size, old_mapped = h->mapped;
    if (need <= h->mapped) {
        if (need < h->mapped / 2) {
            /* Give the tail back: whole granules past the block's end
             * leave the map, the rest is just unmapped. */
            size_t keep_granules = ob_align_up(need, OB_ARENA_SIZE);
            if (keep_granules < h->mapped)
                _ob_map_clear((uintptr_t)h->addr + keep_granules,
                              h->mapped - keep_granules);
            _ob_os_unmap(h->addr + need, h->mapped - need);
            h->mapped = need;
        }
        h->size = need;
        return resized(h, p, old_size, old_mapped, p);
    }
    if (grow_mapping(h, need, OB_ARENA_SIZE)) {
        h->size = need;
        return resized(h, p, old_size, old_mapped, h->addr);
    }
    /* No mremap (no address space, or valgrind): a new block and a copy. */
    void *q = _ob_huge_alloc(size, 0, false);
    if (q == NULL)
        return NULL; /* errno = ENOMEM; the old block is untouched */
    memcpy(q, p, old_size);
    _ob_huge_free(h, p);
    return q;
}

/* A new huge block p (or NULL) joins an owner's list (a region's), under
 * the huge-block lock, which every free of it takes to unlink it. */
void *_ob_huge_attach(void *p, ob_huge_t **list)
{
    if (p == NULL)
        return NULL;
    ob_huge_t *h = (ob_huge_t *)ob_map_lookup(p);
    _ob_lock(&_ob_huge_lock);
    h->owner_list = list;
    h->owner_prev = NULL;
    h->owner_next = *list;
    if (*list != NULL)
        (*list)->owner_prev = h;
    *list = h;
    _ob_unlock(&_ob_huge_lock);
    return p;
}
