/* pmap: a ring of items with three cursors (filled, claimed by workers,
 * collected), one mutex and two condition variables. Items complete out of
 * order but are collected strictly in order. */
#include "pmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { FREE, QUEUED, RUNNING, DONE };

struct slot {
    int state;
    int status;
    struct lc_err err;
};

struct lc_pmap {
    pthread_mutex_t mu;
    pthread_cond_t work, done; /* work queued or stopping; an item done or freed */
    pthread_t *threads;
    int n_threads, stop;
    size_t depth, item_size;
    unsigned char *items;
    struct slot *slots;
    size_t head, claim, tail; /* next to fill, next to run, next to collect (counters) */
    int acquired;
    lc_pmap_fn fn;
    void *ctx;
};

static void *item_at(struct lc_pmap *p, size_t counter) { return p->items + (counter % p->depth) * p->item_size; }

struct worker_arg {
    struct lc_pmap *p;
    int id;
};

static void *worker(void *arg)
{
    struct worker_arg *a = arg;
    struct lc_pmap *p = a->p;
    int id = a->id;
    free(a);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->claim == p->head) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        size_t c = p->claim++;
        struct slot *s = &p->slots[c % p->depth];
        s->state = RUNNING;
        pthread_mutex_unlock(&p->mu);
        lc_err_clear(&s->err);
        int status = p->fn(p->ctx, id, item_at(p, c), &s->err);
        pthread_mutex_lock(&p->mu);
        s->status = status;
        s->state = DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int lc_pmap_init(struct lc_pmap **out, int threads, size_t depth, size_t item_size, lc_pmap_fn fn, void *ctx,
                 struct lc_err *err)
{
    *out = NULL;
    if (depth == 0 || threads < 0) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "pmap: bad depth or thread count");
    struct lc_pmap *p = calloc(1, sizeof *p);
    if (!p) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    p->depth = depth;
    p->item_size = (item_size + 15) & ~(size_t)15;
    p->fn = fn;
    p->ctx = ctx;
    p->items = calloc(depth, p->item_size);
    p->slots = calloc(depth, sizeof *p->slots);
    p->threads = calloc((size_t)threads + 1, sizeof *p->threads);
    if (!p->items || !p->slots || !p->threads) {
        lc_pmap_free(p);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < threads; i++) {
        struct worker_arg *a = malloc(sizeof *a);
        if (a) *a = (struct worker_arg){p, i};
        if (!a || pthread_create(&p->threads[i], NULL, worker, a) != 0) {
            free(a);
            lc_pmap_free(p);
            return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "cannot start worker threads");
        }
        p->n_threads++;
    }
    *out = p;
    return 0;
}

void lc_pmap_free(struct lc_pmap *p)
{
    if (!p) return;
    if (p->n_threads) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    }
    if (p->slots) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->work);
        pthread_cond_destroy(&p->done);
    }
    free(p->threads);
    free(p->items);
    free(p->slots);
    free(p);
}

void *lc_pmap_acquire(struct lc_pmap *p)
{
    if (p->head - p->tail >= p->depth) return NULL;
    p->acquired = 1;
    return item_at(p, p->head);
}

void lc_pmap_submit(struct lc_pmap *p)
{
    if (!p->acquired) return;
    p->acquired = 0;
    pthread_mutex_lock(&p->mu);
    p->slots[p->head % p->depth].state = QUEUED;
    p->head++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

size_t lc_pmap_pending(const struct lc_pmap *p) { return p->head - p->tail; }

void *lc_pmap_collect(struct lc_pmap *p, int *status, struct lc_err *err)
{
    if (p->tail == p->head) return NULL;
    struct slot *s = &p->slots[p->tail % p->depth];
    if (!p->n_threads) { /* inline */
        lc_err_clear(&s->err);
        s->status = p->fn(p->ctx, 0, item_at(p, p->tail), &s->err);
        s->state = DONE;
        p->claim = p->tail + 1;
    } else {
        pthread_mutex_lock(&p->mu);
        while (s->state != DONE) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    *status = s->status;
    if (err && s->status) *err = s->err;
    return item_at(p, p->tail);
}

void lc_pmap_release(struct lc_pmap *p)
{
    if (p->tail == p->head) return;
    pthread_mutex_lock(&p->mu);
    p->slots[p->tail % p->depth].state = FREE;
    p->tail++;
    pthread_mutex_unlock(&p->mu);
}

void *lc_pmap_item(struct lc_pmap *p, size_t i) { return p->items + i * p->item_size; }
size_t lc_pmap_depth(const struct lc_pmap *p) { return p->depth; }
