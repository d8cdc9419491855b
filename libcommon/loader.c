/* loader: an ordered parallel map (pmap) of images; batches are assembled
 * in order, and the next batch's images are already queued while the
 * caller trains on the current one. */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "image.h"
#include "normalize.h"
#include "pmap.h"
#include "rng.h"

#define S 112

struct job {
    uint32_t index;       /* dataset index */
    uint64_t pos;         /* position in the epoch (for the random stream) */
    int epoch;
    float *out;           /* where the normalised image goes */
    uint8_t *bytes;
    size_t cap;
    struct lc_image img;
};

struct lc_loader {
    struct lc_dataset *d;
    struct lc_loader_opts o;
    struct lc_pmap *p;
    struct lc_image_decoder **dec;
    uint8_t **aug_ws;
    int workers;
    uint32_t *order, *full; /* this rank's order; the whole epoch's (sharded runs) */
    size_t n, batches;      /* n: images this rank sees per epoch */
    size_t total;           /* images in the data set */
    int shards;
    int epoch;
    size_t next_submit, end;                /* positions in the epoch */
    struct lc_batch b[2];                   /* two slots: one with the caller, one filling */
    int cur, handed;                        /* slot to return next; slot the caller has (-1) */
};

static int work(void *ctx, int worker, void *item, struct lc_err *err)
{
    struct lc_loader *l = ctx;
    struct job *j = item;
    size_t len;
    int codec;
    uint32_t dims[3];
    int rc = lc_dataset_read(l->d, j->index, &j->bytes, &j->cap, &len, &codec, dims, err);
    if (rc) return rc;
    struct lc_image *im = &j->img;
    if (codec == 0) { /* raw u8 pixels from a stream */
        if (dims[0] != S || dims[1] != S || dims[2] != 3)
            return lc_errf(err, LC_EFORMAT, NULL, (int64_t)j->index, -1, "image %u is %ux%ux%u, not 112x112x3", j->index,
                           dims[0], dims[1], dims[2]);
        if (!im->data || im->cap < len) {
            uint8_t *p = realloc(im->data, len);
            if (!p) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
            im->data = p, im->cap = len;
        }
        memcpy(im->data, j->bytes, len);
        im->h = im->w = S, im->c = 3;
    } else if ((rc = lc_image_decode(l->dec[worker], j->bytes, len, LC_PIXELS_BGR, 1, im, err))) {
        char key[256], msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return lc_errf(err, rc, NULL, (int64_t)j->index, -1, "image %u ('%s'): %s", j->index,
                       lc_dataset_key(l->d, j->index, key, sizeof key), msg);
    }
    if (im->h != S || im->w != S)
        return lc_errf(err, LC_EFORMAT, NULL, (int64_t)j->index, -1, "image %u is %dx%d; training takes aligned 112x112 faces",
                       j->index, im->h, im->w);
    struct lc_rng rng;
    lc_rng_seed_stream(&rng, l->o.seed, ((uint64_t)(uint32_t)j->epoch << 34) ^ j->pos ^ 0xa5a5000000000000ull);
    lc_augment_apply(im->data, S, S, &l->o.aug, &rng, l->aug_ws[worker], NULL);
    struct lc_normalize nz;
    lc_normalize_init_reference(&nz, 1, S, S, 3);
    lc_normalize_u8_forward(j->out, im->data, &nz);
    return 0;
}

int lc_loader_init(struct lc_loader **out, struct lc_dataset *d, const struct lc_loader_opts *o, struct lc_err *err)
{
    *out = NULL;
    if (o->batch < 1) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "batch must be positive");
    struct lc_loader *l = calloc(1, sizeof *l);
    if (!l) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    l->d = d;
    l->o = *o;
    l->total = lc_dataset_count(d);
    l->shards = o->shards > 1 ? o->shards : 1;
    if (o->shard < 0 || o->shard >= l->shards) {
        int shards = l->shards;
        free(l);
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "shard %d of %d", o->shard, shards);
    }
    l->n = (l->total + (size_t)l->shards - 1) / (size_t)l->shards;
    l->batches = o->drop_last ? l->n / (size_t)o->batch : (l->n + (size_t)o->batch - 1) / (size_t)o->batch;
    l->workers = o->threads > 0 ? o->threads : 1;
    l->order = malloc((l->n ? l->n : 1) * sizeof *l->order);
    l->full = l->shards > 1 ? malloc((l->total ? l->total : 1) * sizeof *l->full) : NULL;
    l->dec = calloc((size_t)l->workers, sizeof *l->dec);
    l->aug_ws = calloc((size_t)l->workers, sizeof *l->aug_ws);
    int rc = (!l->order || !l->dec || !l->aug_ws || (l->shards > 1 && !l->full)) ? lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory") : 0;
    for (int w = 0; !rc && w < l->workers; w++) {
        rc = lc_image_decoder_init(&l->dec[w], err);
        if (!rc && !(l->aug_ws[w] = malloc(lc_augment_workspace(S, S)))) rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    for (int k = 0; !rc && k < 2; k++) {
        size_t xb = (size_t)o->batch * 3 * S * S * sizeof(float);
        l->b[k].x = o->alloc ? o->alloc(o->alloc_ctx, xb) : malloc(xb);
        l->b[k].labels = malloc((size_t)o->batch * sizeof(int64_t));
        l->b[k].index = malloc((size_t)o->batch * sizeof(uint32_t));
        if (!l->b[k].x || !l->b[k].labels || !l->b[k].index) rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    if (!rc) rc = lc_pmap_init(&l->p, o->threads, (size_t)o->batch * 2, sizeof(struct job), work, l, err);
    if (rc) {
        lc_loader_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

static void drain(struct lc_loader *l)
{
    int status;
    while (lc_pmap_collect(l->p, &status, NULL)) lc_pmap_release(l->p);
}

void lc_loader_free(struct lc_loader *l)
{
    if (!l) return;
    if (l->p) {
        drain(l);
        for (size_t i = 0; i < lc_pmap_depth(l->p); i++) {
            struct job *j = lc_pmap_item(l->p, i);
            free(j->bytes);
            lc_image_release(&j->img);
        }
        lc_pmap_free(l->p);
    }
    for (int w = 0; w < l->workers; w++) {
        if (l->dec) lc_image_decoder_free(l->dec[w]);
        if (l->aug_ws) free(l->aug_ws[w]);
    }
    for (int k = 0; k < 2; k++) {
        if (l->o.alloc && l->b[k].x) l->o.release(l->o.alloc_ctx, l->b[k].x);
        else free(l->b[k].x);
        free(l->b[k].labels), free(l->b[k].index);
    }
    free(l->dec), free(l->aug_ws), free(l->order), free(l->full), free(l);
}

size_t lc_loader_batches(const struct lc_loader *l) { return l->batches; }

/* Queue the images of the batch that starts at position pos into slot k. */
static void submit_batch(struct lc_loader *l, int k)
{
    struct lc_batch *b = &l->b[k];
    b->n = 0;
    while (l->next_submit < l->end && b->n < l->o.batch) {
        struct job *j = lc_pmap_acquire(l->p);
        if (!j) break; /* ring full: cannot happen with depth 2 batches */
        j->index = l->order[l->next_submit];
        j->pos = l->next_submit * (size_t)l->shards + (size_t)l->o.shard; /* in the whole epoch */
        j->epoch = l->epoch;
        j->out = b->x + (size_t)b->n * 3 * S * S;
        b->labels[b->n] = lc_dataset_label(l->d, j->index);
        b->index[b->n] = j->index;
        b->n++;
        l->next_submit++;
        lc_pmap_submit(l->p);
    }
}

int lc_loader_start(struct lc_loader *l, int epoch, size_t batch, struct lc_err *err)
{
    drain(l);
    l->epoch = epoch;
    uint32_t *all = l->shards > 1 ? l->full : l->order;
    for (size_t i = 0; i < l->total; i++) all[i] = (uint32_t)i;
    if (l->o.shuffle) {
        struct lc_rng r;
        lc_rng_seed_stream(&r, l->o.seed, 0x5e1f000000000000ull ^ (uint64_t)(uint32_t)epoch);
        lc_rng_shuffle(&r, all, l->total);
    }
    if (l->shards > 1)
        for (size_t i = 0; i < l->n; i++) l->order[i] = all[(i * (size_t)l->shards + (size_t)l->o.shard) % l->total];
    l->end = l->o.drop_last ? l->batches * (size_t)l->o.batch : l->n;
    if (batch > l->batches) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "batch %zu is past the epoch's %zu", batch, l->batches);
    l->next_submit = batch * (size_t)l->o.batch;
    l->cur = 0;
    l->handed = -1;
    submit_batch(l, 0);
    submit_batch(l, 1);
    return 0;
}

int lc_loader_next(struct lc_loader *l, struct lc_batch **out, struct lc_err *err)
{
    /* the batch handed out last time is done with: its slot takes the batch
     * after the current one, decoded while the caller trains on this one */
    if (l->handed >= 0) {
        submit_batch(l, l->handed);
        l->handed = -1;
    }
    struct lc_batch *b = &l->b[l->cur];
    if (b->n == 0) return 0;
    int bad = 0;
    for (int i = 0; i < b->n; i++) {
        int status;
        struct lc_err e;
        if (!lc_pmap_collect(l->p, &status, &e)) break;
        if (status && !bad) {
            bad = status;
            if (err) *err = e;
        }
        lc_pmap_release(l->p);
    }
    if (bad) return bad;
    *out = b;
    l->handed = l->cur;
    l->cur = 1 - l->cur;
    return 1;
}
