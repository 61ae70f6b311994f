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
 * nothing (in_prof), so whatever the unwinder does cannot recurse.
 *
 * Records.  Stacks are interned in a hash table (each holds its sampled
 * counts and estimates, live and total); sampled blocks live in a second
 * table, address -> stack, size, weight.  Both are mapped from the OS (the
 * profiler never calls malloc) and grow by doubling; both are under
 * _ob_prof_lock, taken once per sample and once per free of a sampled
 * block, both rare.  Lock order: _ob_huge_lock, then _ob_prof_lock.
 *
 * Output: the heap profile format pprof and
 * jeprof read ("heap_v2/RATE": raw sampled counts, which the tools scale
 * back), with /proc/self/maps after MAPPED_LIBRARIES:, and the estimates
 * as folded stacks (PATH.inuse.folded, PATH.alloc.folded) for flame-graph
 * tools, named from the objects' symbol tables (symbolize.c), else
 * object+offset.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include "pool.h"

#define PROF_MAX_FRAMES 64

bool _ob_prof_on;
ob_lock_t _ob_prof_lock = OB_LOCK_INIT;
static double rate; /* mean bytes between samples */
static char file_option[4096];
static int dump_signal;
static _Atomic int dump_requested;
static ob_lock_t dump_lock = OB_LOCK_INIT;
static unsigned dump_seq;

static __thread bool in_prof;        /* this thread is inside the profiler */
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
    double k = exponential() * rate / (double)block_size;
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
    if (!_ob_prof_on || in_prof)
        return false;
    if (!bytes_armed) {
        bytes_until = (int64_t)(exponential() * rate);
        bytes_armed = true;
    }
    bytes_until -= (int64_t)(size > INT64_MAX ? INT64_MAX : size);
    if (bytes_until >= 0)
        return false;
    /* Memoryless: the next interval starts where this block ends. */
    bytes_until = (int64_t)(exponential() * rate);
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

typedef struct prof_stack {
    struct prof_stack *next; /* all stacks, for the dump */
    uint64_t hash;
    uint64_t live_count, live_bytes, alloc_count, alloc_bytes; /* sampled */
    double est_live_bytes, est_alloc_bytes;                     /* scaled  */
    uint32_t depth;
    void *frames[];
} prof_stack_t;

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
static prof_stack_t *all_stacks;
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
    for (prof_stack_t *s = all_stacks; s != NULL; s = s->next) {
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
    s->next = all_stacks;
    all_stacks = s;
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

static void dump_if_requested(void);

void _ob_prof_record(void *p, size_t bytes, ob_pool_t *pool)
{
    bool was_in = in_prof;
    in_prof = true;
    void *frames[PROF_MAX_FRAMES];
    int depth = capture(frames);
    double weight = 1 / (1 - exp_neg((double)bytes / rate));
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
    in_prof = was_in;
    if (!was_in)
        dump_if_requested();
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
    if (in_prof)
        return;
    in_prof = true;
    pool->flags |= OB_POOL_SAMPLED;
    ob_pool_set_free_bound(pool);
    _ob_prof_record(b, pool->block_size, pool);
    in_prof = false;
    dump_if_requested();
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
    _ob_lock_reset(&dump_lock);
    _ob_symbols_forget();
}

/* ---- writing the files ---------------------------------------------------- */

typedef struct writer {
    int fd;
    bool failed;
    size_t len;
    char buf[8192];
} writer_t;

static void w_flush(writer_t *w)
{
    size_t done = 0;
    while (done < w->len && !w->failed) {
        ssize_t n = write(w->fd, w->buf + done, w->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            w->failed = true;
        else
            done += (size_t)n;
    }
    w->len = 0;
}

static void w_bytes(writer_t *w, const char *s, size_t n)
{
    while (n > 0) {
        if (w->len == sizeof w->buf)
            w_flush(w);
        size_t room = sizeof w->buf - w->len, k = n < room ? n : room;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
    }
}

static void w_str(writer_t *w, const char *s) { w_bytes(w, s, strlen(s)); }

static void w_uint(writer_t *w, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    w_bytes(w, tmp + i, sizeof tmp - (size_t)i);
}

static void w_hex(writer_t *w, uint64_t v)
{
    char tmp[20];
    int i = sizeof tmp;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    w_bytes(w, tmp + i, sizeof tmp - (size_t)i);
}

/* "count: bytes [count: bytes]", pprof's spacing. */
static void w_counts(writer_t *w, uint64_t n1, uint64_t s1, uint64_t n2, uint64_t s2)
{
    w_uint(w, n1);
    w_str(w, ": ");
    w_uint(w, s1);
    w_str(w, " [");
    w_uint(w, n2);
    w_str(w, ": ");
    w_uint(w, s2);
    w_str(w, "]");
}

static int w_open(writer_t *w, const char *path)
{
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    w->failed = w->fd < 0;
    w->len = 0;
    return w->fd < 0 ? errno : 0;
}

static int w_close(writer_t *w)
{
    w_flush(w);
    int err = w->failed ? (errno ? errno : EIO) : 0;
    if (close(w->fd) != 0 && err == 0)
        err = errno;
    return err;
}

/* A copy of the stacks, taken under the lock and written without it (the
 * names need the loader's list of objects, and dl_iterate_phdr takes the
 * loader's lock: a thread holding that lock may be waiting for ours inside
 * malloc). */
typedef struct snapshot {
    char *mem;
    size_t bytes, count;
} snapshot_t;

static size_t stack_record_size(uint32_t depth)
{
    return ob_align_up(sizeof(prof_stack_t) + depth * sizeof(void *), 16);
}

static bool take_snapshot(snapshot_t *snap)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        _ob_lock(&_ob_prof_lock);
        size_t bytes = 0;
        for (prof_stack_t *s = all_stacks; s != NULL; s = s->next)
            bytes += stack_record_size(s->depth);
        _ob_unlock(&_ob_prof_lock);
        size_t mapped = ob_align_up(bytes + 16, OB_PAGE_SIZE);
        char *mem = _ob_os_map(mapped, 0);
        if (mem == NULL)
            return false;
        _ob_lock(&_ob_prof_lock);
        size_t used = 0, count = 0;
        bool fits = true;
        for (prof_stack_t *s = all_stacks; s != NULL; s = s->next) {
            size_t n = stack_record_size(s->depth);
            if (used + n > mapped) {
                fits = false;
                break;
            }
            memcpy(mem + used, s, sizeof *s + s->depth * sizeof(void *));
            used += n;
            count++;
        }
        _ob_unlock(&_ob_prof_lock);
        if (fits) {
            snap->mem = mem;
            snap->bytes = mapped;
            snap->count = count;
            return true;
        }
        _ob_os_unmap(mem, mapped); /* stacks were added meanwhile */
    }
    return false;
}

static int write_heap_profile(const char *path, const snapshot_t *snap)
{
    writer_t w;
    int err = w_open(&w, path);
    if (err != 0)
        return err;
    uint64_t n1 = 0, s1 = 0, n2 = 0, s2 = 0;
    const char *cur = snap->mem;
    for (size_t i = 0; i < snap->count; i++, cur += stack_record_size(((const prof_stack_t *)cur)->depth)) {
        const prof_stack_t *s = (const prof_stack_t *)cur;
        n1 += s->live_count;
        s1 += s->live_bytes;
        n2 += s->alloc_count;
        s2 += s->alloc_bytes;
    }
    w_str(&w, "heap profile: ");
    w_counts(&w, n1, s1, n2, s2);
    w_str(&w, " @ heap_v2/");
    w_uint(&w, (uint64_t)rate);
    w_str(&w, "\n");
    cur = snap->mem;
    for (size_t i = 0; i < snap->count; i++, cur += stack_record_size(((const prof_stack_t *)cur)->depth)) {
        const prof_stack_t *s = (const prof_stack_t *)cur;
        w_counts(&w, s->live_count, s->live_bytes, s->alloc_count, s->alloc_bytes);
        w_str(&w, " @");
        for (uint32_t f = 0; f < s->depth; f++) {
            w_str(&w, " ");
            w_hex(&w, (uint64_t)(uintptr_t)s->frames[f]);
        }
        w_str(&w, "\n");
    }
    /* The mappings, for the tools to find each address's object. */
    w_str(&w, "\nMAPPED_LIBRARIES:\n");
    int maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (maps >= 0) {
        w_flush(&w);
        char buf[4096];
        ssize_t n;
        while ((n = read(maps, buf, sizeof buf)) > 0)
            w_bytes(&w, buf, (size_t)n);
        close(maps);
    }
    return w_close(&w);
}

/* One frame of a folded stack: its function's name (symbolize.c), else
 * object+offset. */
static void w_frame(writer_t *w, void *ip)
{
    const char *object;
    uintptr_t offset;
    const char *name = _ob_symbolize(ip, &object, &offset);
    if (name != NULL) {
        /* ';' separates frames and ' ' ends the stack: neither may be in a
         * name (C++ names have spaces). */
        for (const char *c = name; *c; c++)
            w_bytes(w, *c == ';' ? ":" : *c == ' ' ? "_" : c, 1);
        return;
    }
    if (object != NULL) {
        w_str(w, object);
        w_str(w, "+");
    }
    w_hex(w, (uint64_t)offset);
}

/* Folded stacks: "outermost;...;innermost BYTES", the estimated bytes
 * (live or allocated in total) of each stack. */
static int write_folded(const char *path, const snapshot_t *snap, bool live)
{
    writer_t w;
    int err = w_open(&w, path);
    if (err != 0)
        return err;
    const char *cur = snap->mem;
    for (size_t i = 0; i < snap->count; i++, cur += stack_record_size(((const prof_stack_t *)cur)->depth)) {
        const prof_stack_t *s = (const prof_stack_t *)cur;
        double est = live ? s->est_live_bytes : s->est_alloc_bytes;
        if ((live ? s->live_count : s->alloc_count) == 0 || est < 0.5)
            continue;
        if (s->depth == 0)
            w_str(&w, "[unknown]");
        for (uint32_t f = s->depth; f-- > 0;) {
            w_frame(&w, s->frames[f]);
            if (f != 0)
                w_str(&w, ";");
        }
        w_str(&w, " ");
        w_uint(&w, (uint64_t)(est + 0.5));
        w_str(&w, "\n");
    }
    return w_close(&w);
}

static size_t append(char *dst, size_t at, size_t cap, const char *src)
{
    while (*src && at + 1 < cap)
        dst[at++] = *src++;
    dst[at] = 0;
    return at;
}

static void utoa(char *out, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp - 1;
    tmp[i] = 0;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    memcpy(out, tmp + i, sizeof tmp - (size_t)i);
}

/* With dump_lock held (one dump at a time: the symbol cache is shared). */
static int dump_locked(const char *path)
{
    bool was_in = in_prof;
    in_prof = true;
    int saved_errno = errno;
    snapshot_t snap;
    int err = ENOMEM;
    if (take_snapshot(&snap)) {
        char folded[4096 + 32];
        err = write_heap_profile(path, &snap);
        size_t n = append(folded, 0, sizeof folded, path);
        append(folded, n, sizeof folded, ".inuse.folded");
        int e2 = write_folded(folded, &snap, true);
        append(folded, n, sizeof folded, ".alloc.folded");
        int e3 = write_folded(folded, &snap, false);
        if (err == 0)
            err = e2 ? e2 : e3;
        _ob_os_unmap(snap.mem, snap.bytes);
        _ob_symbols_release();
    }
    errno = saved_errno;
    in_prof = was_in;
    return err;
}

int ob_prof_dump(const char *path)
{
    if (path == NULL || *path == 0)
        return EINVAL;
    ob_ensure_init();
    if (!_ob_prof_on)
        return ENOTSUP;
    _ob_lock(&dump_lock);
    int err = dump_locked(path);
    _ob_unlock(&dump_lock);
    return err;
}

/* OBMALLOC_PROF_FILE, with %p replaced by the process id; by default
 * obmalloc.PID.heap in the working directory. */
static void default_path(char *out, size_t cap)
{
    char pid[24];
    utoa(pid, (uint64_t)getpid());
    const char *pattern = file_option[0] ? file_option : "obmalloc.%p.heap";
    size_t n = 0;
    for (const char *c = pattern; *c && n + 1 < cap; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            n = append(out, n, cap, pid);
            c++;
        } else {
            out[n++] = *c;
        }
    }
    out[n] = 0;
}

/* A dump asked for by the signal: written by the next thread that takes a
 * sample, outside the signal handler (writing the files needs locks a
 * handler cannot take), as PATH.N.  Never from a free: a free of a huge
 * block holds the huge-block lock. */
static void dump_if_requested(void)
{
    if (OB_LIKELY(ob_atomic_load_relaxed(&dump_requested) == 0) || in_prof)
        return;
    /* Inside malloc, this thread may hold the loader's lock, which a
     * dump in another thread may be waiting for (symbolize.c): never wait for
     * that dump; the request stays for the next sample. */
    if (!_ob_trylock(&dump_lock))
        return;
    if (atomic_exchange(&dump_requested, 0) == 0) {
        _ob_unlock(&dump_lock);
        return;
    }
    char path[4096 + 32], seq[24];
    default_path(path, sizeof path - 32);
    utoa(seq, ob_relaxed_add_fetch(&dump_seq, 1));
    size_t n = append(path, strlen(path), sizeof path, ".");
    append(path, n, sizeof path, seq);
    (void)dump_locked(path);
    _ob_unlock(&dump_lock);
}

static void on_dump_signal(int sig)
{
    (void)sig;
    ob_atomic_store_relaxed(&dump_requested, 1);
}

static int signal_number(const char *s)
{
    if (s == NULL || *s == 0)
        return 0;
    if (s[0] >= '0' && s[0] <= '9')
        return atoi(s);
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    static const struct {
        const char *name;
        int number;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP},
                 {"PROF", SIGPROF}, {"URG", SIGURG},   {"WINCH", SIGWINCH}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].number;
    if (strncmp(s, "RTMIN+", 6) == 0)
        return SIGRTMIN + atoi(s + 6);
    return 0;
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
    rate = 512 * 1024;
    if (r != NULL && r[0] >= '0' && r[0] <= '9') {
        uint64_t v = 0;
        for (; *r >= '0' && *r <= '9' && v < ((uint64_t)1 << 50); r++)
            v = v * 10 + (uint64_t)(*r - '0');
        if (*r == 'k' || *r == 'K')
            v <<= 10;
        else if (*r == 'm' || *r == 'M')
            v <<= 20;
        if (v > 0)
            rate = (double)v;
    }
    const char *f = getenv("OBMALLOC_PROF_FILE");
    if (f != NULL)
        append(file_option, 0, sizeof file_option, f);
    dump_signal = signal_number(getenv("OBMALLOC_PROF_SIGNAL"));
    if (dump_signal > 0 && dump_signal < NSIG) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_dump_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(dump_signal, &sa, NULL);
    }
    _ob_prof_on = true;
}

/* The profile of the whole run, at exit. */
__attribute__((destructor)) static void prof_at_exit(void)
{
    if (!_ob_prof_on)
        return;
    char path[4096 + 32];
    default_path(path, sizeof path);
    (void)ob_prof_dump(path);
}
