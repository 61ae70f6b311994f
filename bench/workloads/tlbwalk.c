/* tlb-walk: a TLB-bound heap.  Hundreds of MB of small blocks (48 to 128
 * bytes) linked in a random order, then walked again and again: every step
 * is a dependent load to an address far from the last, so with 4 KiB pages
 * nearly every step misses the TLB as well as the caches.  Checks: the
 * walk visits every block once per lap and the sum of their tags.
 *
 *   tlbwalk [megabytes] [laps]                                            */
#include "common.h"

typedef struct node {
    struct node *next;
    uint64_t tag;
} node_t;

int main(int argc, char **argv)
{
    long mb = arg_long(argc, argv, 1, 400);
    long laps = arg_long(argc, argv, 2, 4);
    uint64_t rng = 12345;
    /* Average block 88 bytes. */
    size_t n = (size_t)mb * 1024 * 1024 / 88;
    node_t **v = malloc(n * sizeof *v);
    if (v == NULL)
        fail("tlbwalk: out of memory");
    uint64_t want = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(48 + 16 * (rnd(&rng) % 6));
        if (v[i] == NULL)
            fail("tlbwalk: out of memory");
        v[i]->tag = i;
        want += i;
    }
    /* A random cyclic order (Fisher-Yates), then the links. */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rnd(&rng) % (i + 1);
        node_t *t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        v[i]->next = v[(i + 1) % n];
    node_t *start = v[0];
    free(v);
    double t0 = seconds();
    uint64_t sum = 0;
    for (long lap = 0; lap < laps; lap++) {
        size_t steps = 0;
        node_t *p = start;
        do {
            sum += p->tag;
            p = p->next;
            steps++;
        } while (p != start);
        if (steps != n)
            fail("tlbwalk: lost a block");
    }
    double walk = seconds() - t0;
    if (sum != want * (uint64_t)laps)
        fail("tlbwalk: tags");
    /* Free in the walk's order: random for the allocator too. */
    node_t *p = start->next;
    while (p != start) {
        node_t *next = p->next;
        free(p);
        p = next;
    }
    free(start);
    printf("result tlbwalk %.3f blocks=%zu\n", walk, n);
    return 0;
}
