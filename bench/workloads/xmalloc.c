/* xmalloc-like: N producer threads allocate 64-byte objects and pass them
 * in batches to N consumer threads, which free them: every free is a
 * cross-thread free.  Checks: every object arrives intact, all are freed.
 *
 *   xmalloc [pairs] [objects per producer]                                */
#include "common.h"

#define BATCH 256

typedef struct batch {
    struct batch *next;
    void *obj[BATCH];
} batch_t;

typedef struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    batch_t *head;
    int done;
    long received;
} queue_t;

static long per_producer;

static void *producer(void *arg)
{
    queue_t *q = arg;
    for (long made = 0; made < per_producer; made += BATCH) {
        batch_t *b = malloc(sizeof *b);
        for (int i = 0; i < BATCH; i++) {
            uint64_t *o = malloc(64);
            o[0] = 0x600DF00Dull;
            o[7] = (uint64_t)(made + i);
            b->obj[i] = o;
        }
        pthread_mutex_lock(&q->lock);
        b->next = q->head;
        q->head = b;
        pthread_cond_signal(&q->cond);
        pthread_mutex_unlock(&q->lock);
    }
    pthread_mutex_lock(&q->lock);
    q->done = 1;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void *consumer(void *arg)
{
    queue_t *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (q->head == NULL && !q->done)
            pthread_cond_wait(&q->cond, &q->lock);
        batch_t *list = q->head;
        q->head = NULL;
        int done = q->done;
        pthread_mutex_unlock(&q->lock);
        while (list) {
            batch_t *next = list->next;
            for (int i = 0; i < BATCH; i++) {
                if (((uint64_t *)list->obj[i])[0] != 0x600DF00Dull)
                    fail("xmalloc: object corrupted");
                free(list->obj[i]);
                q->received++;
            }
            free(list);
            list = next;
        }
        if (done) {
            pthread_mutex_lock(&q->lock);
            int empty = q->head == NULL;
            pthread_mutex_unlock(&q->lock);
            if (empty)
                return NULL;
        }
    }
}

int main(int argc, char **argv)
{
    int pairs = (int)arg_long(argc, argv, 1, 4);
    per_producer = arg_long(argc, argv, 2, 2000000) / BATCH * BATCH;
    queue_t *q = calloc((size_t)pairs, sizeof *q);
    pthread_t tp[64], tc[64];
    double t0 = seconds();
    for (int i = 0; i < pairs; i++) {
        pthread_mutex_init(&q[i].lock, NULL);
        pthread_cond_init(&q[i].cond, NULL);
        pthread_create(&tp[i], NULL, producer, &q[i]);
        pthread_create(&tc[i], NULL, consumer, &q[i]);
    }
    long total = 0;
    for (int i = 0; i < pairs; i++) {
        pthread_join(tp[i], NULL);
        pthread_join(tc[i], NULL);
        total += q[i].received;
    }
    if (total != per_producer * pairs)
        fail("xmalloc: object count");
    printf("result xmalloc %.3f objects=%ld\n", seconds() - t0, total);
    return 0;
}
