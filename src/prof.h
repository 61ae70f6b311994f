/*
 * The heap profiler's two halves and what they share: prof.c samples and
 * keeps the live set and the stacks; prof_dump.c writes them out (pprof's
 * heap profile, folded stacks, dumps on a signal and at exit).
 */
#ifndef OB_PROF_H
#define OB_PROF_H

#include "internal.h"

/* An interned stack with its sampled counts and estimates (prof.c), on the
 * list _ob_prof_stacks, under _ob_prof_lock. */
typedef struct prof_stack {
    struct prof_stack *next; /* all stacks, for the dump */
    uint64_t hash;
    uint64_t live_count, live_bytes, alloc_count, alloc_bytes; /* sampled */
    double est_live_bytes, est_alloc_bytes;                     /* scaled  */
    uint32_t depth;
    void *frames[];
} prof_stack_t;

extern OB_HIDDEN prof_stack_t *_ob_prof_stacks;
extern OB_HIDDEN double _ob_prof_rate; /* mean bytes between samples */
/* This thread is inside the profiler: it samples nothing, so whatever the
 * unwinder or a dump does cannot recurse. */
extern OB_HIDDEN __thread bool _ob_prof_busy __attribute__((tls_model("initial-exec")));

#endif /* OB_PROF_H */
