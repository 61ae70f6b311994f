/*
 * Atomic operations, named by what they order.
 *
 * Every atomic access in obmalloc goes through these names, so that the
 * memory order of each is read in the name at the call site and the set of
 * orders the allocator relies on is this short list.  Two families:
 *
 *   ob_atomic_*   on _Atomic objects (C11 <stdatomic.h>): the cross-thread
 *                 protocol's lists and states, the arena map, counters
 *                 shared by all threads
 *   ob_relaxed_*  relaxed accesses to plain fields that one thread writes
 *                 and others read now and then (a pool's state, a heap's
 *                 counters): well-defined, and a plain move on x86
 *
 * Compare-and-swap: ob_atomic_cas_{weak,strong}_<order>(p, &expected,
 * desired) orders a success by <order> and a failure (which rereads
 * *expected) relaxed, unless the name carries a second order for it.
 * Fetch-and-op returns the old value, as C11's does.
 */
#ifndef OB_ATOMIC_H
#define OB_ATOMIC_H

#include <stdatomic.h>

#define OB_ORDER_relaxed memory_order_relaxed
#define OB_ORDER_acquire memory_order_acquire
#define OB_ORDER_release memory_order_release
#define OB_ORDER_acq_rel memory_order_acq_rel

#define ob_atomic_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define ob_atomic_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)

#define ob_atomic_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define ob_atomic_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)

#define ob_atomic_exchange_relaxed(p, v) atomic_exchange_explicit((p), (v), memory_order_relaxed)
#define ob_atomic_exchange_acquire(p, v) atomic_exchange_explicit((p), (v), memory_order_acquire)
#define ob_atomic_exchange_release(p, v) atomic_exchange_explicit((p), (v), memory_order_release)

#define ob_atomic_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define ob_atomic_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define ob_atomic_and_relaxed(p, v) atomic_fetch_and_explicit((p), (v), memory_order_relaxed)
#define ob_atomic_or_relaxed(p, v) atomic_fetch_or_explicit((p), (v), memory_order_relaxed)

#define OB_CAS_(kind, p, e, d, ok, fail)                                                         \
    atomic_compare_exchange_##kind##_explicit((p), (e), (d), OB_ORDER_##ok, OB_ORDER_##fail)
#define ob_atomic_cas_weak_relaxed(p, e, d) OB_CAS_(weak, p, e, d, relaxed, relaxed)
#define ob_atomic_cas_weak_acquire(p, e, d) OB_CAS_(weak, p, e, d, acquire, relaxed)
#define ob_atomic_cas_weak_release(p, e, d) OB_CAS_(weak, p, e, d, release, relaxed)
#define ob_atomic_cas_weak_acq_rel(p, e, d) OB_CAS_(weak, p, e, d, acq_rel, relaxed)
#define ob_atomic_cas_weak_acq_rel_acquire(p, e, d) OB_CAS_(weak, p, e, d, acq_rel, acquire)
#define ob_atomic_cas_strong_relaxed(p, e, d) OB_CAS_(strong, p, e, d, relaxed, relaxed)
#define ob_atomic_cas_strong_acquire(p, e, d) OB_CAS_(strong, p, e, d, acquire, relaxed)

/* Sequentially consistent, where a rare path wants the simplest reasoning
 * (start-up, fault injection, a dump request, the report's warm-up). */
#define ob_atomic_load_seq_cst(p) atomic_load(p)
#define ob_atomic_store_seq_cst(p, v) atomic_store((p), (v))
#define ob_atomic_exchange_seq_cst(p, v) atomic_exchange((p), (v))
#define ob_atomic_add_seq_cst(p, v) atomic_fetch_add((p), (v))
#define ob_atomic_cas_strong_seq_cst(p, e, d) atomic_compare_exchange_strong((p), (e), (d))

#define ob_relaxed_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ob_relaxed_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ob_relaxed_fetch_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define ob_relaxed_add_fetch(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

#endif /* OB_ATOMIC_H */
