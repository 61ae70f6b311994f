/*
 * The sampling heap profiler: which code holds the memory
 * (OBMALLOC_PROF=1; docs/DESIGN.md, "The heap profiler").
 *
 * Sampling.  As jemalloc and tcmalloc do, the profiler looks at one
 * allocation every OBMALLOC_PROF_RATE bytes on average (512 KiB), chosen
 * by a Poisson process over the bytes allocated, so that an allocation of
 * s bytes is sampled with probability 1 - exp(-s/R) independently of the
 * others, and a sample of s bytes stands for s / (1 - exp(-s/R)) bytes:
 * the estimates are unbiased for every call site.
 *
 * obmalloc runs one such process per size class per thread instead of one
 * per thread.  That is the same thing (independent Poisson processes over
 * disjoint byte streams add up to one of the same rate), and it lets the
 * countdown be in blocks: every byte of a class-c block has the same
 * chance, so the blocks of class c between two samples are geometric with
 * p = 1 - exp(-size_c/R).  The countdown is the per-class malloc counter
 * the statistics keep anyway, counted down instead of up (types.h,
 * ob_heap_stats_t): the fast path pays one instruction (a sub with a
 * branch instead of an add), profiler on or off.  Off, the interval is
 * OB_SAMPLE_NEVER.  Huge and over-aligned blocks, outside the classes,
 * take a per-thread countdown of bytes on their slow paths.
 *
 * A sampled small block stays where it would have been, in its class's
 * pool; the pool is flagged OB_POOL_SAMPLED, which sets its free_bound to
 * 0, so that the owner's frees to it take the checked path while it holds
 * a sample (other threads' frees always do).  There a filter of the pools
 * that hold samples (one bit per hash of the pool, read with one load)
 * says whether to look the block up in the live set.  No memory moves and
 * the fast free path pays nothing.  The owner clears the flag at its next
 * free to the pool once no sample is left in it.

 * The stack.  _Unwind_Backtrace (libgcc's unwinder, over the .eh_frame
 * tables every Debian binary has; frame pointers are not there) gives the
 * return addresses; the frames of obmalloc itself are dropped, found by
 * address: libobmalloc.so's text segment, or in libobmalloc.a the section
 * obmalloc_text all its code is moved to at build time (CMakeLists.txt).
 * glibc's backtrace() is not used: it loads libgcc_s with dlopen, which
 * allocates, on its first call.  A thread inside the profiler samples
 * nothing (_ob_prof_busy), so whatever the unwinder does cannot recurse.
 *
 * Records.  Stacks are interned in a hash table (each holds its sampled
 * counts and estimates, live and total); sampled blocks live in a second
 * table, address -> stack, size, weight.  Both are mapped from the OS (the
 * profiler never calls malloc) and grow by doubling; both are under
 * _ob_prof_lock, taken once per sample and once per free of a sampled
 * block, both rare.  Lock order: _ob_huge_lock, then _ob_prof_lock.
 *
 * Output: prof_dump.c writes the stacks out (pprof's heap profile and
 * folded stacks), on request, on a signal and at exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unwind.h>

#include "pool.h"
#include "prof.h"

#define PROF_MAX_FRAMES 64

bool _ob_prof_on;
ob_lock_t _ob_prof_lock = OB_LOCK_INIT;
double _ob_prof_rate; /* mean bytes between samples */

__thread bool _ob_prof_busy __attribute__((tls_model("initial-exec")));
static __thread uint64_t rng;        /* xorshift state; 0: not seeded    */
static __thread int64_t bytes_until; /* the byte countdown (huge blocks) */
static __thread bool bytes_armed;

/* ---- the random intervals --------------------------------------------- */

static uint64_t next_random(void)
{
    if (rng == 0)
        rng = _ob_os_random() | 1;
    uint64_t x = rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ln(x) for x > 0, to about 1e-7: the exponent, then atanh's series on
 * the mantissa centred on 1 (libm is not linked; nothing here needs
 * more). */
static double ln(double x)
{
    union {
        double d;
        uint64_t u;
    } v = {.d = x};
    int e = (int)((v.u >> 52) & 0x7ff) - 1023;
    v.u = (v.u & ((1ULL << 52) - 1)) | (1023ULL << 52); /* mantissa in [1, 2) */
    double m = v.d;
    if (m > 1.4142135623730951) {
        m /= 2;
        e++;
    }
    double t = (m - 1) / (m + 1), t2 = t * t;
    double series = t * (2 + t2 * (2.0 / 3 + t2 * (2.0 / 5 + t2 * (2.0 / 7 + t2 * (2.0 / 9 + t2 * (2.0 / 11))))));
    return e * 0.6931471805599453 + series;
}

/* exp(-x) for x >= 0. */
static double exp_neg(double x)
{
    if (x > 700)
        return 0;
    int k = (int)(x / 0.6931471805599453);
    double r = x - k * 0.6931471805599453; /* in [0, ln 2) */
    double term = 1, sum = 1;
    for (int i = 1; i < 16; i++) {
        term *= -r / i;
        sum += term;
    }
    while (k-- > 0)
        sum *= 0.5;
    return sum;
}

/* An exponential variable of mean 1. */
static double exponential(void)
{
    double u = (double)((next_random() >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
    return -ln(u);
}

/* Blocks of `block_size` until the next sample: geometric, with
 * P(more than k) = exp(-k * block_size / rate). */
static uint64_t blocks_until_sample(size_t block_size)
{
    if (!_ob_prof_on)
        return OB_SAMPLE_NEVER;
    double k = exponential() * _ob_prof_rate / (double)block_size;
    return k >= (double)(OB_SAMPLE_NEVER - 1) ? OB_SAMPLE_NEVER : (uint64_t)k + 1;
}

void _ob_prof_arm_heap(ob_heap_t *heap)
{
    for (unsigned c = 0; c < OB_POOL_CLASSES; c++) {
        uint64_t n = blocks_until_sample(_ob_classes[c].block_size);
        heap->stats.until_sample[c] = n;
        heap->stats.malloc_base[c] = n;
    }
}

bool _ob_prof_bytes_due(size_t size)
{
    if (!_ob_prof_on || _ob_prof_busy)
        return false;
    if (!bytes_armed) {
        bytes_until = (int64_t)(exponential() * _ob_prof_rate);
        bytes_armed = true;
    }
    bytes_until -= (int64_t)(size > INT64_MAX ? INT64_MAX : size);
    if (bytes_until >= 0)
        return false;
    /* Memoryless: the next interval starts where this block ends. */
    bytes_until = (int64_t)(exponential() * _ob_prof_rate);
    return true;
}

/* ---- the stack -------------------------------------------------------- */

/* obmalloc's own code, whose frames a stack starts with. */
static uintptr_t text_lo, text_hi;
static bool text_known;
extern char __start_obmalloc_text[] __attribute__((weak));
extern char __stop_obmalloc_text[] __attribute__((weak));

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t me = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me - lo < ph->p_memsz) {
            /* The main program holds more than obmalloc: no range then. */
            if (info->dlpi_name != NULL && info->dlpi_name[0] != 0) {
                text_lo = lo;
                text_hi = lo + ph->p_memsz;
            }
            return 1;
        }
    }
    return 0;
}

static void find_obmalloc_text(void)
{
    if (__start_obmalloc_text != NULL && __stop_obmalloc_text != NULL) {
        text_lo = (uintptr_t)__start_obmalloc_text;
        text_hi = (uintptr_t)__stop_obmalloc_text;
    } else {
        dl_iterate_phdr(find_text, (void *)(uintptr_t)find_obmalloc_text);
    }
    text_known = true;
}

typedef struct unwind_walk {
    void **frames;
    int depth, skip;
    bool in_obmalloc;
} unwind_walk_t;

static _Unwind_Reason_Code unwind_step(struct _Unwind_Context *ctx, void *arg)
{
    unwind_walk_t *w = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (ip == 0)
        return _URC_END_OF_STACK;
    if (w->in_obmalloc) {
        if (text_hi != 0 ? ip - text_lo < text_hi - text_lo : w->skip-- > 0)
            return _URC_NO_REASON;
        w->in_obmalloc = false;
    }
    w->frames[w->depth++] = (void *)ip;
    return w->depth == PROF_MAX_FRAMES ? _URC_END_OF_STACK : _URC_NO_REASON;
}

/* The caller's stack, obmalloc's frames left out.  Without a known range
 * for obmalloc's code (a build that links its sources directly), only the
 * profiler's own two frames are. */
static __attribute__((noinline)) int capture(void **frames)
{
    if (!text_known)
        find_obmalloc_text();
    unwind_walk_t w = {.frames = frames, .skip = 2, .in_obmalloc = true};
    _Unwind_Backtrace(unwind_step, &w);
    return w.depth;
}

/* ---- the tables ------------------------------------------------------- */


typedef struct prof_live {
    uintptr_t addr; /* 0: empty */
    prof_stack_t *stack;
    ob_pool_t *pool; /* the block's pool; NULL for a huge block */
    size_t bytes;
    double weight; /* 1 / (1 - exp(-bytes/rate)): allocations it stands for */
} prof_live_t;

/* Pools that hold samples, with how many: exact, under the lock.  And the
 * filter free reads without the lock: bit h(pool) is set while a pool of
 * that hash holds a sample (bit_pools counts them). */
typedef struct prof_pool {
    uintptr_t pool; /* the pool's address; 0: empty */
    size_t samples;
} prof_pool_t;
#define FILTER_BITS 65536
_Atomic uint64_t _ob_prof_filter[FILTER_BITS / 64];
static uint32_t bit_pools[FILTER_BITS];

static prof_stack_t **stack_index; /* open addressing, power of two */
static size_t stack_cap, stack_count;
prof_stack_t *_ob_prof_stacks;
static char *stack_bump, *stack_end; /* records come from mapped chunks */
/* Open-addressing tables keyed by the address in each entry's first word
 * (0: an empty slot): linear probing, mapped from the OS, doubled when
 * half full. */
typedef struct addr_table {
    char *slots;
    size_t cap, count;
    size_t entry_size, first_cap;
} addr_table_t;
static addr_table_t live_blocks = {.entry_size = sizeof(prof_live_t), .first_cap = 4096};
static addr_table_t pools = {.entry_size = sizeof(prof_pool_t), .first_cap = 1024};
static uint64_t samples_dropped; /* no memory for the tables */
#define STACK_CHUNK ((size_t)1 << 20)

static void *table_map(size_t bytes)
{
    void *p = _ob_os_map(bytes, 0);
    if (p != NULL)
        ob_atomic_add_relaxed(&_ob_meta_bytes, bytes);
    return p;
}

static void table_unmap(void *p, size_t bytes)
{
    if (p != NULL && _ob_os_unmap(p, bytes))
        ob_atomic_sub_relaxed(&_ob_meta_bytes, bytes);
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_frames(void *const *frames, int depth)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)depth;
    for (int i = 0; i < depth; i++)
        h = mix(h ^ (uint64_t)(uintptr_t)frames[i]) + (uint64_t)i;
    return h | 1;
}

static bool stack_index_grow(void)
{
    size_t cap = stack_cap ? stack_cap * 2 : 4096;
    prof_stack_t **index = table_map(cap * sizeof *index);
    if (index == NULL)
        return false;
    for (prof_stack_t *s = _ob_prof_stacks; s != NULL; s = s->next) {
        size_t i = s->hash & (cap - 1);
        while (index[i] != NULL)
            i = (i + 1) & (cap - 1);
        index[i] = s;
    }
    table_unmap(stack_index, stack_cap * sizeof *stack_index);
    stack_index = index;
    stack_cap = cap;
    return true;
}

static prof_stack_t *stack_intern(void *const *frames, int depth)
{
    uint64_t h = hash_frames(frames, depth);
    if (stack_cap != 0) {
        for (size_t i = h & (stack_cap - 1); stack_index[i] != NULL; i = (i + 1) & (stack_cap - 1)) {
            prof_stack_t *s = stack_index[i];
            if (s->hash == h && s->depth == (uint32_t)depth &&
                memcmp(s->frames, frames, (size_t)depth * sizeof *frames) == 0)
                return s;
        }
    }
    if (2 * (stack_count + 1) > stack_cap && !stack_index_grow())
        return NULL;
    size_t need = ob_align_up(sizeof(prof_stack_t) + (size_t)depth * sizeof(void *), 16);
    if (stack_bump == NULL || (size_t)(stack_end - stack_bump) < need) {
        stack_bump = table_map(STACK_CHUNK);
        stack_end = stack_bump ? stack_bump + STACK_CHUNK : NULL;
        if (stack_bump == NULL)
            return NULL;
    }
    prof_stack_t *s = (prof_stack_t *)stack_bump;
    stack_bump += need;
    memset(s, 0, sizeof *s);
    s->hash = h;
    s->depth = (uint32_t)depth;
    memcpy(s->frames, frames, (size_t)depth * sizeof *frames);
    s->next = _ob_prof_stacks;
    _ob_prof_stacks = s;
    size_t i = h & (stack_cap - 1);
    while (stack_index[i] != NULL)
        i = (i + 1) & (stack_cap - 1);
    stack_index[i] = s;
    stack_count++;
    return s;
}

static uintptr_t *slot_at(const addr_table_t *t, size_t i)
{
    return (uintptr_t *)(t->slots + i * t->entry_size);
}

static size_t home_of(const addr_table_t *t, uintptr_t key) { return mix(key) & (t->cap - 1); }

static void *table_find(const addr_table_t *t, uintptr_t key)
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = home_of(t, key); *slot_at(t, i) != 0; i = (i + 1) & (t->cap - 1))
        if (*slot_at(t, i) == key)
            return slot_at(t, i);
    return NULL;
}

/* The empty slot where `key` goes (the table has one). */
static void *free_slot(const addr_table_t *t, uintptr_t key)
{
    size_t i = home_of(t, key);
    while (*slot_at(t, i) != 0)
        i = (i + 1) & (t->cap - 1);
    return slot_at(t, i);
}

static bool table_grow(addr_table_t *t)
{
    addr_table_t old = *t;
    t->cap = old.cap ? old.cap * 2 : old.first_cap;
    t->slots = table_map(t->cap * t->entry_size);
    if (t->slots == NULL) {
        *t = old;
        return false;
    }
    for (size_t j = 0; j < old.cap; j++)
        if (*slot_at(&old, j) != 0)
            memcpy(free_slot(t, *slot_at(&old, j)), slot_at(&old, j), t->entry_size);
    table_unmap(old.slots, old.cap * old.entry_size);
    return true;
}

/* A new entry for `key` (not in the table), zero but for its key; NULL if
 * the table cannot grow. */
static void *table_add(addr_table_t *t, uintptr_t key)
{
    if (2 * (t->count + 1) > t->cap && !table_grow(t))
        return NULL;
    uintptr_t *e = free_slot(t, key);
    memset(e, 0, t->entry_size);
    *e = key;
    t->count++;
    return e;
}

/* Linear probing's deletion: the entries after the hole that hash at or
 * before it move back into it, so that no lookup stops short. */
static void table_delete(addr_table_t *t, void *entry)
{
    size_t hole = (size_t)((char *)entry - t->slots) / t->entry_size;
    for (size_t i = hole;;) {
        i = (i + 1) & (t->cap - 1);
        if (*slot_at(t, i) == 0)
            break;
        size_t home = home_of(t, *slot_at(t, i));
        /* Movable if its home is not in (hole, i], cyclically. */
        if (((i - home) & (t->cap - 1)) >= ((i - hole) & (t->cap - 1))) {
            memcpy(slot_at(t, hole), slot_at(t, i), t->entry_size);
            hole = i;
        }
    }
    *slot_at(t, hole) = 0;
    t->count--;
}

static void filter_update(const ob_pool_t *pool, int delta)
{
    size_t bit = ob_prof_filter_bit(pool);
    bit_pools[bit] += (uint32_t)delta;
    uint64_t mask = (uint64_t)1 << (bit % 64);
    if (bit_pools[bit] == 0)
        ob_atomic_and_relaxed(&_ob_prof_filter[bit / 64], ~mask);
    else
        ob_atomic_or_relaxed(&_ob_prof_filter[bit / 64], mask);
}

/* One more sample in `pool`; false if the table cannot grow. */
static bool pool_add(ob_pool_t *pool)
{
    prof_pool_t *e = table_find(&pools, (uintptr_t)pool);
    if (e == NULL) {
        if ((e = table_add(&pools, (uintptr_t)pool)) == NULL)
            return false;
        filter_update(pool, +1);
    }
    e->samples++;
    return true;
}

static void pool_remove_one(ob_pool_t *pool)
{
    prof_pool_t *e = table_find(&pools, (uintptr_t)pool);
    if (e == NULL || --e->samples != 0)
        return;
    filter_update(pool, -1);
    table_delete(&pools, e);
}

static void account_live(prof_stack_t *s, const prof_live_t *e, int sign)
{
    if (sign > 0) {
        s->live_count++;
        s->live_bytes += e->bytes;
        s->est_live_bytes += (double)e->bytes * e->weight;
    } else {
        s->live_count--;
        s->live_bytes -= e->bytes;
        s->est_live_bytes -= (double)e->bytes * e->weight;
    }
}

/* ---- recording ---------------------------------------------------------- */

void _ob_prof_record(void *p, size_t bytes, ob_pool_t *pool)
{
    bool was_in = _ob_prof_busy;
    _ob_prof_busy = true;
    void *frames[PROF_MAX_FRAMES];
    int depth = capture(frames);
    double weight = 1 / (1 - exp_neg((double)bytes / _ob_prof_rate));
    _ob_lock(&_ob_prof_lock);
    prof_stack_t *s = stack_intern(frames, depth);
    prof_live_t *e = s != NULL ? table_add(&live_blocks, (uintptr_t)p) : NULL;
    if (e != NULL && pool != NULL && !pool_add(pool)) {
        table_delete(&live_blocks, e);
        e = NULL;
    }
    if (e != NULL) {
        e->stack = s;
        e->pool = pool;
        e->bytes = bytes;
        e->weight = weight;
        account_live(s, e, +1);
        s->alloc_count++;
        s->alloc_bytes += bytes;
        s->est_alloc_bytes += (double)bytes * weight;
    } else {
        samples_dropped++;
    }
    _ob_unlock(&_ob_prof_lock);
    _ob_prof_busy = was_in;
}

void _ob_prof_rearm(ob_heap_t *heap, unsigned cls)
{
    uint64_t next = blocks_until_sample(_ob_classes[cls].block_size);
    heap->stats.until_sample[cls] = next; /* first: a reader sees too few */
    heap->stats.malloc_base[cls] += next;
}

/* The owner's block b of `pool` is the sample: into the live set, and the
 * pool's frees onto the checked path while it holds one. */
void _ob_prof_sample_block(ob_pool_t *pool, void *b)
{
    if (_ob_prof_busy)
        return;
    _ob_prof_busy = true;
    pool->flags |= OB_POOL_SAMPLED;
    ob_pool_set_free_bound(pool);
    _ob_prof_record(b, pool->block_size, pool);
    _ob_prof_busy = false;
}

/* The owner's free found its pool flagged: the flag goes once no sample
 * is left in the pool (the filter is only a hint; this is exact). */
void _ob_prof_pool_settle(ob_pool_t *pool)
{
    _ob_lock(&_ob_prof_lock);
    bool holds = table_find(&pools, (uintptr_t)pool) != NULL;
    _ob_unlock(&_ob_prof_lock);
    if (!holds) {
        pool->flags &= (uint8_t)~OB_POOL_SAMPLED;
        ob_pool_set_free_bound(pool);
    }
}

void _ob_prof_freed(const void *p)
{
    _ob_lock(&_ob_prof_lock);
    prof_live_t *e = table_find(&live_blocks, (uintptr_t)p);
    if (e != NULL) {
        account_live(e->stack, e, -1);
        if (e->pool != NULL)
            pool_remove_one(e->pool);
        table_delete(&live_blocks, e);
    }
    _ob_unlock(&_ob_prof_lock);
}

/* A region's heap is destroyed (region.c): the samples in its arenas,
 * whose pages are freed whole without a free per block, leave the live
 * set.  One pass over the
 * table; a delete may move a later entry into the slot just emptied, so
 * the slot is looked at again.  Entries only move backwards, so none is
 * skipped (one that wraps around to the end is looked at twice). */
void _ob_prof_heap_dropped(const ob_heap_t *heap)
{
    _ob_lock(&_ob_prof_lock);
    for (size_t i = 0; i < live_blocks.cap;) {
        prof_live_t *e = (prof_live_t *)slot_at(&live_blocks, i);
        if (e->addr != 0 && e->pool != NULL &&
            ob_atomic_load_relaxed(&ob_arena_of((void *)e->addr)->heap) == heap) {
            account_live(e->stack, e, -1);
            pool_remove_one(e->pool);
            table_delete(&live_blocks, e);
            continue;
        }
        i++;
    }
    _ob_unlock(&_ob_prof_lock);
}

/* A sampled huge block resized (in place or moved by mremap). */
void _ob_prof_moved(const void *from, void *to, size_t bytes)
{
    _ob_lock(&_ob_prof_lock);
    prof_live_t *e = table_find(&live_blocks, (uintptr_t)from);
    if (e != NULL) {
        prof_live_t moved = *e;
        account_live(moved.stack, &moved, -1);
        table_delete(&live_blocks, e);
        /* The table had room for it a moment ago: no growth, no failure. */
        e = table_add(&live_blocks, (uintptr_t)to);
        moved.addr = (uintptr_t)to;
        moved.bytes = bytes;
        *e = moved;
        account_live(moved.stack, &moved, +1);
    }
    _ob_unlock(&_ob_prof_lock);
}

void _ob_prof_after_fork_child(void)
{
    /* The child keeps a copy of the profile: the blocks it inherited are
     * live in it too (_ob_prof_lock was held across the fork).  A dump
     * another thread was writing stops here: its lock and symbol cache
     * start afresh. */
}

/* From _ob_init, after the options: nothing here allocates. */
void _ob_prof_init(void)
{
    const char *on = getenv("OBMALLOC_PROF");
    if (on == NULL || on[0] == 0 || strcmp(on, "0") == 0)
        return;
    if (!OB_HARDENED) {
        /* The unhardened fast free tests the pool's state, not its
         * free_bound: it would miss the frees of sampled blocks. */
        static const char msg[] = "obmalloc: OBMALLOC_PROF needs a hardened build "
                                  "(this one has OB_HARDENED=0): the profiler stays off\n";
        (void)!write(2, msg, sizeof msg - 1);
        return;
    }
    const char *r = getenv("OBMALLOC_PROF_RATE");
    _ob_prof_rate = 512 * 1024;
    if (r != NULL && r[0] >= '0' && r[0] <= '9') {
        uint64_t v = 0;
        for (; *r >= '0' && *r <= '9' && v < ((uint64_t)1 << 50); r++)
            v = v * 10 + (uint64_t)(*r - '0');
        if (*r == 'k' || *r == 'K')
            v <<= 10;
        else if (*r == 'm' || *r == 'M')
            v <<= 20;
        if (v > 0)
            _ob_prof_rate = (double)v;
    }
    _ob_prof_on = true;
}
