/* loader: training batches from a dataset, decoded, augmented and
 * normalised on worker threads while the model computes. Epoch e visits
 * the images in a permutation drawn from (seed, e); image p of the epoch is
 * augmented with its own random stream (seed, e, p), so batches are the
 * same for any thread count and an interrupted run resumes exactly from
 * (epoch, batch). Output: x (n, 3, 112, 112) float, (pixel/255 - 0.5)/0.5,
 * in the dataset's channel order (BGR), and int64 labels. */
#ifndef LC_LOADER_H
#define LC_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "augment.h"
#include "err.h"

struct lc_dataset;
struct lc_loader;

struct lc_loader_opts {
    int batch;
    int threads;          /* decoding threads (0: on the caller's thread) */
    uint64_t seed;
    int shuffle;          /* 0: dataset order (evaluation) */
    int drop_last;        /* skip the last, smaller batch (as the reference's DataLoader) */
    struct lc_augment aug;
    int shard, shards;    /* data parallelism (shards > 1): this rank's part of every epoch as
                             PyTorch's DistributedSampler deals it: the shuffled order padded by
                             wrapping around to a multiple of shards, then positions shard,
                             shard + shards, ...; augmentation follows the position in the
                             whole epoch */
    /* where the batches' images live (NULL: malloc): page-locked memory
     * from lc_host_alloc makes their copies to a GPU fast and asynchronous */
    void *(*alloc)(void *ctx, size_t bytes);
    void (*release)(void *ctx, void *p);
    void *alloc_ctx;
};

struct lc_batch {
    int n;
    float *x;             /* (n, 3, 112, 112), owned by the loader */
    int64_t *labels;      /* (n) */
    uint32_t *index;      /* dataset indices (n) */
};

int lc_loader_init(struct lc_loader **l, struct lc_dataset *d, const struct lc_loader_opts *o, struct lc_err *err);
void lc_loader_free(struct lc_loader *l);
/* Batches per epoch. */
size_t lc_loader_batches(const struct lc_loader *l);
/* Start epoch e at batch b (0 for a fresh epoch; resume otherwise). */
int lc_loader_start(struct lc_loader *l, int epoch, size_t batch, struct lc_err *err);
/* The next batch of the epoch: 1, 0 at its end, <0 on a bad image (the
 * error names its index and key; start an epoch again to go on). The
 * batch is valid until the next call. */
int lc_loader_next(struct lc_loader *l, struct lc_batch **b, struct lc_err *err);

#endif
