/*
 * A parser that builds each document's tree in a region of its own and
 * drops the whole tree at once: the shape of a request handler, a compiler
 * pass, a game frame.  obmalloc's regions (include/obmalloc.h).
 *
 *   region_parser [DOCUMENTS]
 *
 * Each document is a nested list of numbers and words, "(1 (2 three) 4 ...)",
 * parsed into a tree of nodes allocated from the document's region, summed,
 * then thrown away with ob_region_destroy: no walk of the tree to free it.
 * The same is done with ob_malloc and a recursive free for comparison; both
 * must compute the same sums.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obmalloc.h"

typedef struct node {
    struct node *child, *next; /* a list's items, and the next sibling */
    long number;               /* a number's value                     */
    char *word;                /* a word's text, or NULL               */
} node_t;

typedef struct parser {
    const char *at;
    ob_region_t *region; /* NULL: ob_malloc */
} parser_t;

static void *alloc(parser_t *p, size_t size)
{
    void *q = p->region ? ob_region_malloc(p->region, size) : ob_malloc(size);
    if (q == NULL) {
        perror("region_parser");
        exit(1);
    }
    return q;
}

static node_t *parse(parser_t *p)
{
    while (*p->at == ' ')
        p->at++;
    node_t *n = alloc(p, sizeof *n);
    memset(n, 0, sizeof *n);
    if (*p->at == '(') {
        p->at++;
        node_t **tail = &n->child;
        while (*p->at != ')' && *p->at != 0) {
            *tail = parse(p);
            tail = &(*tail)->next;
            while (*p->at == ' ')
                p->at++;
        }
        if (*p->at == ')')
            p->at++;
    } else if (*p->at >= '0' && *p->at <= '9') {
        n->number = strtol(p->at, (char **)&p->at, 10);
    } else {
        const char *start = p->at;
        while (*p->at != ' ' && *p->at != ')' && *p->at != 0)
            p->at++;
        size_t len = (size_t)(p->at - start);
        n->word = alloc(p, len + 1);
        memcpy(n->word, start, len);
        n->word[len] = 0;
    }
    return n;
}

static long sum(const node_t *n)
{
    long s = n->number + (n->word ? (long)strlen(n->word) : 0);
    for (const node_t *c = n->child; c != NULL; c = c->next)
        s += sum(c);
    return s;
}

static void free_tree(node_t *n)
{
    while (n != NULL) {
        node_t *next = n->next;
        free_tree(n->child);
        ob_free(n->word);
        ob_free(n);
        n = next;
    }
}

/* A document of about `items` items, nested, made from `seed`. */
static char *make_document(unsigned seed, int items)
{
    size_t cap = (size_t)items * 16 + 64, len = 0;
    char *doc = malloc(cap);
    static const char *words[] = {"alpha", "beta", "gamma", "delta", "epsilon"};
    int depth = 0;
    doc[len++] = '(';
    for (int i = 0; i < items; i++) {
        seed = seed * 1103515245 + 12345;
        unsigned r = (seed >> 16) % 10;
        if (r < 2 && depth < 20) {
            len += (size_t)sprintf(doc + len, " (");
            depth++;
        } else if (r < 4 && depth > 0) {
            len += (size_t)sprintf(doc + len, ")");
            depth--;
        } else if (r < 7) {
            len += (size_t)sprintf(doc + len, " %u", seed % 1000);
        } else {
            len += (size_t)sprintf(doc + len, " %s", words[seed % 5]);
        }
    }
    while (depth-- >= 0)
        doc[len++] = ')';
    doc[len] = 0;
    return doc;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int documents = argc > 1 ? atoi(argv[1]) : 2000;
    char *doc = make_document(42, 20000);
    long total_region = 0, total_malloc = 0;
    double drop_region = 0, drop_malloc = 0;
    for (int d = 0; d < documents; d++) {
        parser_t p = {doc, ob_region_new()};
        node_t *tree = parse(&p);
        total_region += sum(tree);
        double t0 = seconds();
        ob_region_destroy(p.region); /* the whole tree at once */
        drop_region += seconds() - t0;

        parser_t q = {doc, NULL};
        tree = parse(&q);
        total_malloc += sum(tree);
        t0 = seconds();
        free_tree(tree); /* node by node */
        drop_malloc += seconds() - t0;
    }
    free(doc);
    if (total_region != total_malloc) {
        fprintf(stderr, "region_parser: sums differ: %ld and %ld\n", total_region, total_malloc);
        return 1;
    }
    printf("%d documents of 20000 items, sum %ld\n", documents, total_region);
    printf("dropping the trees: ob_region_destroy %.1f us each, freeing node by node %.1f us each\n",
           drop_region / documents * 1e6, drop_malloc / documents * 1e6);
    return 0;
}
