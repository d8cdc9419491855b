/* train: the pretraining loop (train-pre). One step: loader batch ->
 * lc_ir forward (training) -> margin head -> cross-entropy -> backward
 * through head and backbone -> SGD. Epoch ends: MultiStepLR, validation,
 * checkpoints. */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas.h"
#include "checkpoint.h"
#include "comm.h"
#include "csvout.h"
#include "dataset.h"
#include "devparams.h"
#include "dtype.h"
#include "embed.h"
#include "io.h"
#include "ir.h"
#include "loader.h"
#include "margin.h"
#include "metrics.h"
#include "mixed.h"
#include "optim.h"
#include "params.h"
#include "rng.h"
#include "scorefile.h"
#include "softmax.h"
#include "stream.h"
#include "threads.h"
#include "tool.h"

#define PX (3 * 112 * 112)

struct run {
    const struct lc_train_opts *o;
    struct lc_dataset *data;
    struct lc_loader *loader;
    struct lc_ir *model;
    struct lc_params head;
    float *kernel, *dkernel, *hstats; /* hstats: t, batch_mean, batch_std buffers (AdaFace) */
    struct lc_margin mg;
    struct lc_margin_stats st;
    float *mws, *logits, *cos, *scaler, *prob, *dlogits, *emb, *norm, *demb;
    struct lc_optim opt;
    struct lc_multistep sched;
    struct lc_ckpt_info info;
    struct lc_out *log;
    char path[4096];
    /* data parallelism: this rank of world (rank 0 logs, validates and saves) */
    int rank, world, stop;
    struct lc_comm *comm;
    struct lc_device dev; /* this rank's device */
    float *d_stats;       /* 4 floats on dev: collectives of the step's figures */
    /* the step on a device (a GPU, --check_seam, or ranks on the CPU) */
    int on_dev;
    int host_current;     /* the host records hold the device's state (no step since the last sync) */
    struct lc_ir_train_dev *tdev;
    struct lc_dev_params head_dev;
    struct lc_optim_dev opt_dev;
    float *d_logits, *d_cos, *d_prob, *d_dlogits, *d_demb, *d_scaler, *d_mws, *d_rowloss;
    int64_t *d_labels;
    int32_t *d_pred, *pred;
    float *rowloss;
    /* mixed precision: the activations' type; fp16's loss scale */
    int amp_type;
    struct lc_loss_scaler ls;
    float *d_found;
    long skipped; /* steps the loss scaler skipped this epoch */
    int graphs_off_told; /* the warning that CUDA graphs went off was given */
};

/* The loss scaler's state travels in checkpoints (as GradScaler's state_dict in Lightning's) */
static void scaler_out(struct run *r)
{
    r->info.loss_scale = r->ls.scale, r->info.loss_scale_tracker = r->ls.tracker;
}

static void scaler_in(struct run *r)
{
    if (r->info.loss_scale > 0) r->ls.scale = (float)r->info.loss_scale, r->ls.tracker = (int)r->info.loss_scale_tracker;
}

static const char *arch_name(int layers)
{
    return layers == 18 ? "ir_18" : layers == 34 ? "ir_34" : layers == 50 ? "ir_50" : "ir_100";
}

/* ---------------------------------------------------------------- setup */

static int setup_head(struct run *r, int64_t classes, struct lc_err *err)
{
    lc_params_init(&r->head);
    int64_t kd[2] = {LC_IR_EMBEDDING, classes}, one[1] = {1};
    struct lc_param *p = lc_params_add(&r->head, LC_PARAM_DECAY, 2, kd, err, "kernel");
    if (!p) return err->code;
    r->kernel = p->data, r->dkernel = p->grad;
    if (r->o->head == LC_MARGIN_ADAFACE) { /* the reference's buffers, saved with the head */
        const char *names[3] = {"t", "batch_mean", "batch_std"};
        float init[3] = {0, 20, 100};
        r->hstats = NULL;
        for (int k = 0; k < 3; k++) {
            if (!(p = lc_params_add(&r->head, LC_PARAM_BUFFER, 1, one, err, "%s", names[k]))) return err->code;
            p->data[0] = init[k];
        }
    }
    return 0;
}

/* AdaFace's buffers live in the head registry (so checkpoints carry them). */
static void stats_in(struct run *r)
{
    struct lc_param *t = lc_params_find(&r->head, "t"), *m = lc_params_find(&r->head, "batch_mean"),
                    *s = lc_params_find(&r->head, "batch_std");
    if (t) r->st = (struct lc_margin_stats){t->data[0], m->data[0], s->data[0]};
}

static void stats_out(struct run *r)
{
    struct lc_param *m = lc_params_find(&r->head, "batch_mean"), *s = lc_params_find(&r->head, "batch_std");
    if (m) m->data[0] = r->st.batch_mean, s->data[0] = r->st.batch_std;
}

static int open_log(struct run *r, struct lc_err *err)
{
    snprintf(r->path, sizeof r->path, "%s/metrics.csv", r->o->out);
    /* a resumed run appends: the old rows are kept by copying them first */
    uint8_t *old = NULL;
    size_t cap = 0, len = 0;
    if (r->o->resume) {
        struct lc_err ignore;
        if (lc_file_read(r->path, &old, &cap, &len, (size_t)1 << 30, &ignore)) len = 0;
    }
    int rc = lc_out_open(&r->log, r->path, 0, err);
    if (!rc && len) rc = lc_out_write(r->log, old, len, err);
    else if (!rc) {
        const char *h[] = {"kind", "epoch", "step", "lr", "loss", "accuracy", "images_per_s", "dataset", "val_accuracy",
                           "val_std", "val_threshold"};
        for (int k = 0; k < 11 && !rc; k++) rc = lc_csv_field(r->log, h[k], k == 10, err);
    }
    free(old);
    return rc;
}

/* ---------------------------------------------------------- validation */

/* RUNDIR/scores-NAME.sft: the latest validation's pair scores as
 * verify-pairs writes them (squared L2 of the flip-fused embeddings), for
 * roc-report. */
static int write_scores(struct run *r, struct lc_dataset *d, const char *path, const double *dist, const uint8_t *same,
                        size_t np, struct lc_err *err)
{
    char stem[256], out[4400], epoch[32], ka[512], kb[512], key[1100];
    lc_path_stem(stem, sizeof stem, path);
    snprintf(out, sizeof out, "%s/scores-%s.sft", r->o->out, stem);
    snprintf(epoch, sizeof epoch, "%d", r->info.epoch);
    char *meta = NULL;
    if (lc_meta_set(&meta, "score", "sqeuclidean") || lc_meta_set(&meta, "dataset", stem) ||
        lc_meta_set(&meta, "order", "pairs") || lc_meta_set(&meta, "normalized", "yes") ||
        lc_meta_set(&meta, "source", path) || lc_meta_set(&meta, "epoch", epoch)) {
        free(meta);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    struct lc_writer *w = NULL;
    int rc = lc_writer_open(&w, out, LC_KIND_SCORES, meta, err);
    free(meta);
    for (size_t i = 0; !rc && i < np; i++) {
        struct lc_record rec;
        int64_t labels[2];
        float floats[1];
        lc_dataset_key(d, 2 * i, ka, sizeof ka);
        lc_dataset_key(d, 2 * i + 1, kb, sizeof kb);
        rc = lc_score_record(&rec, key, sizeof key, ka, kb, same[i], dist[i], labels, floats, err);
        if (!rc) rc = lc_writer_write(w, &rec, err);
    }
    if (rc) {
        if (w) lc_writer_abort(w);
        return rc;
    }
    return lc_writer_close(w, err);
}

/* Accuracy of one .bin set (images 2i, 2i+1 a pair; labels[0] its flag). */
/* the warning, once a run, that a capture failed (off: its reason, or NULL) */
static void tell_graphs_off(struct run *r, const char *off, const char *what)
{
    if (!off || r->graphs_off_told) return;
    lc_tool_warn("rank %d: CUDA graphs off, %s run op by op: %s", r->rank, what, off);
    r->graphs_off_told = 1;
}

static int validate(struct run *r, const char *path, double *acc, struct lc_err *err)
{
    struct lc_dataset *d;
    int rc = lc_dataset_open(&d, path, err);
    if (rc) return rc;
    size_t n = lc_dataset_count(d);
    if (n < 20 || n % 2)
        rc = lc_errf(err, LC_EFORMAT, path, -1, -1, "a validation set needs an even number of images in pairs (got %zu)", n);
    struct lc_loader *l = NULL;
    struct lc_loader_opts lo = {.batch = r->o->val_batch, .threads = r->o->workers, .seed = 0, .shuffle = 0};
    float *emb = NULL, *norm = NULL, *ws = NULL, *e = NULL;
    if (!rc) rc = lc_loader_init(&l, d, &lo, err);
    if (!rc) rc = lc_loader_start(l, 0, 0, err);
    if (!rc && (!(emb = malloc(n * 512 * sizeof *emb)) || !(norm = malloc((size_t)lo.batch * sizeof *norm)) ||
                !(ws = malloc(lc_embed_workspace(lo.batch) * sizeof *ws)) || !(e = malloc((size_t)lo.batch * 512 * sizeof *e))))
        rc = lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    /* on a GPU, validation runs there too (the trained weights, folded) */
    struct lc_ir_dev *g = NULL;
    if (!rc && r->dev.type != LC_DEVICE_CPU) rc = lc_ir_dev_create(&g, r->model, &r->dev, LC_DTYPE_F32, 0, err);
    if (g) lc_ir_dev_use_graphs(g, r->o->cuda_graphs); /* its full batches replayed */
    struct lc_batch *b;
    size_t done = 0;
    while (!rc && (rc = lc_loader_next(l, &b, err)) == 1) {
        if (g && (rc = lc_embed_dev(g, e, norm, b->x, b->n, 1, ws, err))) break;
        if (!g) lc_embed(r->model, e, norm, b->x, b->n, 1, ws);
        for (int i = 0; i < b->n; i++) memcpy(emb + (size_t)b->index[i] * 512, e + (size_t)i * 512, 512 * sizeof *e);
        done += (size_t)b->n;
        rc = 0;
    }
    if (rc < 0) goto out;
    rc = 0;
    if (g && r->o->cuda_graphs) {
        const char *off = NULL;
        lc_ir_dev_graph_launches(g, &off);
        tell_graphs_off(r, off, "validation's batches");
    }
    size_t np = n / 2;
    double *dist = malloc(np * sizeof *dist);
    uint8_t *same = malloc(np);
    if (!dist || !same) rc = lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    for (size_t i = 0; !rc && i < np; i++) { /* squared L2 of the normalised embeddings, in double as numpy does */
        double s = 0;
        for (int k = 0; k < 512; k++) {
            double diff = (double)emb[(2 * i) * 512 + k] - (double)emb[(2 * i + 1) * 512 + k];
            s += diff * diff;
        }
        dist[i] = s;
        same[i] = (uint8_t)(lc_dataset_label(d, 2 * i) != 0);
    }
    struct lc_tenfold tf;
    struct lc_protocol proto;
    lc_protocol_default(&proto);
    if (!rc) rc = lc_tenfold_accuracy(&tf, dist, same, np, &proto, err);
    if (!rc) rc = write_scores(r, d, path, dist, same, np, err);
    if (!rc) {
        *acc = tf.acc_mean;
        char name[256];
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        snprintf(name, sizeof name, "%s", base);
        rc = lc_csv_field(r->log, "val", 0, err) || lc_csv_fieldf(r->log, 0, err, "%d", r->info.epoch) ||
             lc_csv_fieldf(r->log, 0, err, "%lld", (long long)r->info.step) || lc_csv_field(r->log, "", 0, err) ||
             lc_csv_field(r->log, "", 0, err) || lc_csv_field(r->log, "", 0, err) || lc_csv_field(r->log, "", 0, err) ||
             lc_csv_field(r->log, name, 0, err) || lc_csv_fieldf(r->log, 0, err, "%.6f", tf.acc_mean) ||
             lc_csv_fieldf(r->log, 0, err, "%.6f", tf.acc_std) || lc_csv_fieldf(r->log, 1, err, "%.4f", tf.threshold_mean);
        lc_tool_note("epoch %d: %s accuracy %.4f +- %.4f (threshold %.3f, %zu pairs)", r->info.epoch, name, tf.acc_mean,
                         tf.acc_std, tf.threshold_mean, np);
    }
    free(dist), free(same);
out:
    lc_ir_dev_free(g);
    free(emb), free(norm), free(ws), free(e);
    lc_loader_free(l);
    lc_dataset_close(d);
    return rc;
}

/* ------------------------------------------------------------ the loop */

/* ------------------------------------------------------- on a device */

/* The device's weights, head and momentum back into the host records
 * (checkpoints and host-side validation read those), then AdaFace's live
 * statistics: the head's device copy of those buffers is never updated
 * (the host keeps them), so its download brought stale ones. */
static int sync_host(struct run *r, struct lc_err *err)
{
    int rc = 0;
    if (r->on_dev && !r->host_current) {
        rc = lc_ir_train_dev_sync(r->tdev, err);
        if (!rc) rc = lc_dev_params_download(&r->head_dev, err);
        if (!rc) rc = lc_optim_dev_download(&r->opt_dev, &r->opt, err);
        r->host_current = !rc;
    }
    if (!rc) stats_out(r);
    return rc;
}

/* DDP's default bucket: 25 MB */
#define GRAD_BUCKET_FLOATS ((size_t)25 << 18)

static int allreduce_bucket(void *ctx, float *grads, size_t n, struct lc_err *err)
{
    return lc_comm_allreduce_start(((struct run *)ctx)->comm, grads, n, 1, err);
}

static int dev_setup(struct run *r, struct lc_err *err)
{
    const struct lc_device *d = &r->dev;
    size_t N = (size_t)r->o->batch, C = (size_t)r->mg.classes;
    int rc = lc_ir_train_dev_create(&r->tdev, r->model, d, r->amp_type, r->o->channels_last, r->o->batch, err);
    if (!rc) rc = lc_dev_params_create(&r->head_dev, &r->head, d, err);
    if (rc) return rc;
    const struct lc_dev_params *mirrors[2] = {lc_ir_train_dev_params(r->tdev), &r->head_dev};
    if ((rc = lc_optim_dev_create(&r->opt_dev, &r->opt, mirrors, 2, err))) return rc;
    if (r->world > 1 && (rc = lc_ir_train_dev_set_grad_hook(r->tdev, allreduce_bucket, r, GRAD_BUCKET_FLOATS, err)))
        return rc;
    lc_ir_train_dev_use_graphs(r->tdev, r->o->cuda_graphs);
    r->on_dev = 1;
    struct {
        void **p;
        size_t bytes;
    } want[] = {{(void **)&r->d_logits, N * C * 4},  {(void **)&r->d_cos, N * C * 4},    {(void **)&r->d_prob, N * C * 4},
                {(void **)&r->d_dlogits, N * C * 4}, {(void **)&r->d_demb, N * 512 * 4}, {(void **)&r->d_scaler, N * 4},
                {(void **)&r->d_rowloss, N * 4},     {(void **)&r->d_labels, N * 8},     {(void **)&r->d_pred, N * 4},
                {(void **)&r->d_mws, lc_margin_workspace(&r->mg) * 4}, {(void **)&r->d_stats, 4 * 4},
                {(void **)&r->d_found, 4}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if ((rc = lc_device_alloc(d, want[k].p, want[k].bytes, err))) return rc;
    if (!(r->pred = malloc(N * sizeof *r->pred)) || !(r->rowloss = malloc(N * sizeof *r->rowloss)))
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    return 0;
}

static void dev_free(struct run *r)
{
    const struct lc_device *d = &r->dev;
    void *p[] = {r->d_logits, r->d_cos, r->d_prob, r->d_dlogits, r->d_demb, r->d_scaler, r->d_rowloss, r->d_labels,
                 r->d_pred, r->d_mws, r->d_stats, r->d_found};
    for (size_t k = 0; k < sizeof p / sizeof p[0]; k++)
        if (p[k]) lc_device_free(d, p[k]);
    lc_optim_dev_free(&r->opt_dev);
    if (r->head_dev.data) lc_dev_params_free(&r->head_dev);
    lc_ir_train_dev_free(r->tdev);
    free(r->pred), free(r->rowloss);
}

/* The step of step() below on the device: the same ops in the same order;
 * only the dropout key, AdaFace's statistics (from the norms), the loss
 * and the predictions pass through the host. With several ranks (as
 * PyTorch's DistributedDataParallel): every rank starts from rank 0's
 * AdaFace statistics (DDP broadcasts buffers), the gradients are averaged
 * over the ranks before the update, batch norm stays per rank, and loss,
 * accuracy and an interruption are summed over the ranks. *count: the
 * images the figures cover. */
static int step_dev(struct run *r, const struct lc_batch *b, double *loss, long *correct, long *count, struct lc_err *err)
{
    const struct lc_device *d = &r->dev;
    const int n = b->n, C = r->mg.classes;
    const size_t nc = (size_t)n * C;
    r->host_current = 0;
    struct lc_rng drop;
    lc_rng_seed_stream(&drop, r->o->seed, 0xd409000000000000ull ^ (uint64_t)r->info.step ^ ((uint64_t)r->rank << 40));
    int rc;
#define TRY(x)                                                                                                   \
    do {                                                                                                         \
        if ((rc = (x))) return rc;                                                                               \
    } while (0)
    TRY(lc_dev_params_zero_grad(lc_ir_train_dev_params(r->tdev), err));
    TRY(lc_dev_params_zero_grad(&r->head_dev, err));
    TRY(lc_device_upload(d, r->d_labels, b->labels, (size_t)n * sizeof *b->labels, err));
    /* the norms come to the host only for AdaFace's statistics (a mid-step wait) */
    TRY(lc_ir_train_dev_forward(r->tdev, r->mg.kind == LC_MARGIN_ADAFACE ? r->norm : NULL, b->x, n, &drop, err));
    r->mg.n = n;
    const float *emb = lc_ir_train_dev_emb(r->tdev);
    float *kernel = lc_dev_params_map(&r->head_dev, r->kernel), *dkernel = lc_dev_params_map(&r->head_dev, r->dkernel);
    if (r->world > 1 && r->mg.kind == LC_MARGIN_ADAFACE) {
        float st[2] = {r->st.batch_mean, r->st.batch_std};
        TRY(lc_device_upload(d, r->d_stats, st, sizeof st, err));
        TRY(lc_comm_broadcast(r->comm, r->d_stats, 2, 0, err));
        TRY(lc_device_download(d, st, r->d_stats, sizeof st, err));
        r->st.batch_mean = st[0], r->st.batch_std = st[1];
    }
    lc_margin_scaler(r->scaler, &r->st, r->norm, &r->mg, 1);
    if (r->mg.kind == LC_MARGIN_ADAFACE) TRY(lc_device_upload(d, r->d_scaler, r->scaler, (size_t)n * sizeof *r->scaler, err));
    TRY(lc_op_margin_logits(d, r->d_logits, r->d_cos, r->d_scaler, emb, kernel, r->d_labels, &r->mg, r->d_mws, err));
    TRY(lc_op_cross_entropy_rows(d, r->d_prob, r->d_rowloss, r->d_logits, r->d_labels, n, C, 0, err));
    TRY(lc_device_zero(d, r->d_dlogits, nc * sizeof(float), err));
    /* fp16: the loss scaled, so that small gradients survive in 16 bits */
    const int scaled = r->amp_type == LC_DTYPE_F16;
    const float S = scaled ? r->ls.scale : 1.0f;
    TRY(lc_op_cross_entropy_backward(d, r->d_dlogits, r->d_prob, r->d_labels, n, C, 0, S, err));
    TRY(lc_device_zero(d, r->d_demb, (size_t)n * 512 * sizeof(float), err));
    TRY(lc_op_margin_backward(d, r->d_demb, dkernel, r->d_dlogits, emb, r->d_labels, &r->mg, r->d_mws, err));
    /* ranks: the head's gradients, then the backbone's in buckets as its
     * backward finishes them (the hook), averaged while it goes on */
    if (r->world > 1) TRY(lc_comm_allreduce_start(r->comm, r->head_dev.grad_block, r->head_dev.grad_floats, 1, err));
    TRY(lc_ir_train_dev_backward(r->tdev, r->d_demb, err));
    if (r->world > 1) TRY(lc_comm_wait(r->comm, err));
    if (r->o->cuda_graphs) {
        const char *off = NULL;
        lc_ir_train_dev_graph_launches(r->tdev, NULL, &off);
        tell_graphs_off(r, off, "the steps");
    }
    int skip = 0;
    if (scaled) { /* unscale; a step with an inf or NaN gradient is skipped (GradScaler.step) */
        const struct lc_dev_params *bb = lc_ir_train_dev_params(r->tdev);
        float found = 0;
        TRY(lc_device_zero(d, r->d_found, sizeof(float), err));
        TRY(lc_op_unscale_check(d, bb->grad_block, bb->grad_floats, 1.0f / S, r->d_found, err));
        TRY(lc_op_unscale_check(d, r->head_dev.grad_block, r->head_dev.grad_floats, 1.0f / S, r->d_found, err));
        TRY(lc_device_download(d, &found, r->d_found, sizeof found, err));
        skip = found != 0;
        r->skipped += skip;
        lc_loss_scaler_update(&r->ls, skip);
    }
    if (!skip) TRY(lc_optim_dev_step(&r->opt_dev, &r->opt, err));
    TRY(lc_op_argmax_rows(d, r->d_pred, r->d_cos, n, C, err));
    TRY(lc_device_download(d, r->pred, r->d_pred, (size_t)n * sizeof *r->pred, err));
    TRY(lc_device_download(d, r->rowloss, r->d_rowloss, (size_t)n * sizeof *r->rowloss, err));
    double sum = 0;
    int right = 0;
    for (int i = 0; i < n; i++) sum += r->rowloss[i], right += r->pred[i] == b->labels[i];
    *loss = sum / n, *correct = right, *count = n;
    if (r->world > 1) { /* whole numbers below 2^24 stay exact in float */
        float fig[4] = {(float)sum, (float)right, (float)n, (float)lc_tool_interrupted()};
        if ((rc = lc_device_upload(d, r->d_stats, fig, sizeof fig, err)) ||
            (rc = lc_comm_allreduce(r->comm, r->d_stats, 4, 0, err)) ||
            (rc = lc_device_download(d, fig, r->d_stats, sizeof fig, err)))
            return rc;
        *loss = fig[0] / fig[2], *correct = (long)fig[1], *count = (long)fig[2];
        r->stop = fig[3] > 0;
    }
#undef TRY
    return 0;
}

static int save(struct run *r, const char *name, struct lc_err *err)
{
    if (r->rank) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", r->o->out, name);
    int rc = sync_host(r, err);
    if (rc) return rc;
    if (r->amp_type == LC_DTYPE_F16) scaler_out(r);
    return lc_ckpt_save(path, lc_ir_params(r->model), &r->head, &r->opt, &r->info, err);
}

static int step(struct run *r, const struct lc_batch *b, double *loss, long *correct, long *count)
{
    const int n = b->n, C = r->mg.classes;
    struct lc_rng drop;
    lc_rng_seed_stream(&drop, r->o->seed, 0xd409000000000000ull ^ (uint64_t)r->info.step);
    lc_params_zero_grad(lc_ir_params(r->model));
    lc_params_zero_grad(&r->head);
    lc_ir_forward(r->model, r->emb, r->norm, b->x, n, 1, &drop);
    r->mg.n = n;
    lc_margin_forward(r->logits, r->cos, r->scaler, &r->st, r->emb, r->norm, r->kernel, b->labels, &r->mg, 1, r->mws);
    *loss = lc_cross_entropy_forward(r->prob, r->logits, b->labels, n, C, 0);
    memset(r->dlogits, 0, (size_t)n * C * sizeof *r->dlogits);
    lc_cross_entropy_backward(r->dlogits, r->prob, b->labels, n, C, 0, 1.0f);
    memset(r->demb, 0, (size_t)n * 512 * sizeof *r->demb);
    lc_margin_backward(r->demb, r->dkernel, r->dlogits, r->cos, r->scaler, r->emb, r->kernel, b->labels, &r->mg, r->mws);
    lc_ir_backward(r->model, r->demb, NULL);
    lc_optim_step(&r->opt);
    *correct = 0, *count = n; /* predictions: argmax of the un-margined cosine */
    for (int i = 0; i < n; i++) {
        const float *c = r->cos + (size_t)i * C;
        int best = 0;
        for (int k = 1; k < C; k++)
            if (c[k] > c[best]) best = k;
        *correct += best == b->labels[i];
    }
    return 0;
}

static int train_epochs(struct run *r, struct lc_err *err)
{
    const struct lc_train_opts *o = r->o;
    int rc = 0;
    for (; r->info.epoch < o->epochs; r->info.epoch++, r->info.batch = 0) {
        r->opt.lr = r->info.lr = lc_multistep_lr(&r->sched, r->info.epoch);
        if ((rc = lc_loader_start(r->loader, r->info.epoch, (size_t)r->info.batch, err))) return rc;
        struct lc_progress pr;
        lc_progress_start(&pr, o->progress && r->rank == 0, lc_loader_batches(r->loader), "batches");
        struct lc_batch *b;
        /* a row of metrics.csv: the steps since the previous row */
        double t0 = lc_now(), sum_loss = 0, e_loss = 0, t_epoch = t0;
        long seen = 0, right = 0, e_seen = 0, e_right = 0;
        while ((rc = lc_loader_next(r->loader, &b, err)) == 1) {
            double loss;
            long correct, count;
            if (r->on_dev) {
                if ((rc = step_dev(r, b, &loss, &correct, &count, err))) return rc;
            } else {
                step(r, b, &loss, &correct, &count);
            }
            if (!isfinite(loss))
                return lc_errf(err, LC_EINVAL, NULL, -1, -1, "the loss became %g at step %lld (learning rate too high?)", loss,
                               (long long)r->info.step);
            r->info.step++, r->info.batch++;
            sum_loss += loss * count, seen += count, right += correct;
            e_loss += loss * count, e_seen += count, e_right += correct;
            lc_progress_update(&pr, (unsigned long long)r->info.batch);
            int last_of_epoch = (size_t)r->info.batch == lc_loader_batches(r->loader);
            if (r->rank == 0 && (r->info.step % o->log_every == 0 || last_of_epoch)) {
                double ips = seen / (lc_now() - t0);
                rc = lc_csv_field(r->log, "train", 0, err) || lc_csv_fieldf(r->log, 0, err, "%d", r->info.epoch) ||
                     lc_csv_fieldf(r->log, 0, err, "%lld", (long long)r->info.step) ||
                     lc_csv_fieldf(r->log, 0, err, "%.10g", r->info.lr) || lc_csv_fieldf(r->log, 0, err, "%.6f", sum_loss / seen) ||
                     lc_csv_fieldf(r->log, 0, err, "%.6f", (double)right / seen) || lc_csv_fieldf(r->log, 0, err, "%.2f", ips) ||
                     lc_csv_field(r->log, "", 0, err) || lc_csv_field(r->log, "", 0, err) || lc_csv_field(r->log, "", 0, err) ||
                     lc_csv_field(r->log, "", 1, err);
                if (rc) return rc;
                t0 = lc_now(), sum_loss = 0, seen = 0, right = 0;
            }
            if (o->checkpoint_every && r->info.step % o->checkpoint_every == 0 && (rc = save(r, "last.safetensors", err)))
                return rc;
            if (r->world > 1 ? r->stop : lc_tool_interrupted()) {
                lc_progress_end(&pr, (unsigned long long)r->info.batch);
                if ((rc = save(r, "last.safetensors", err))) return rc;
                if (r->rank == 0) lc_tool_note("interrupted: state saved in %s/last.safetensors (resume with --resume)", o->out);
                return LC_EINTR;
            }
            if (o->max_steps && r->info.step >= o->max_steps) break;
        }
        if (rc < 0) return rc;
        lc_progress_end(&pr, (unsigned long long)r->info.batch);
        if (e_seen && r->rank == 0 && r->amp_type == LC_DTYPE_F16)
            lc_tool_note("epoch %d: loss %.4f, train accuracy %.4f, %.1f images/s; %ld steps skipped on overflow, "
                         "loss scale %g", r->info.epoch, e_loss / e_seen, (double)e_right / e_seen,
                         e_seen / (lc_now() - t_epoch), r->skipped, (double)r->ls.scale);
        else if (e_seen && r->rank == 0)
            lc_tool_note("epoch %d: loss %.4f, train accuracy %.4f, %.1f images/s", r->info.epoch, e_loss / e_seen,
                         (double)e_right / e_seen, e_seen / (lc_now() - t_epoch));
        if (e_seen && r->rank == 0 && r->on_dev && o->cuda_graphs) {
            long back = 0, fwd = lc_ir_train_dev_graph_launches(r->tdev, &back, NULL);
            lc_tool_note("epoch %d: CUDA graphs: %ld forward and %ld backward passes replayed so far", r->info.epoch,
                         fwd, back);
        }
        r->skipped = 0;
        int ended = (size_t)r->info.batch >= lc_loader_batches(r->loader);
        if (!ended) { /* stopped inside the epoch (--max_steps): save where it is, validate at its end */
            if ((rc = save(r, "last.safetensors", err))) return rc;
            break;
        }
        double mean = 0;
        int validate_now = r->rank == 0 && ((r->info.epoch + 1) % o->val_every == 0 || r->info.epoch + 1 == o->epochs);
        if (validate_now && o->n_val && (rc = sync_host(r, err))) return rc;
        for (int v = 0; validate_now && v < o->n_val; v++) {
            double acc = 0;
            if ((rc = validate(r, o->val[v], &acc, err))) return rc;
            mean += acc / o->n_val;
        }
        r->info.epoch++, r->info.batch = 0; /* the checkpoint says where to go on */
        if (validate_now && o->n_val && mean > r->info.best) {
            r->info.best = mean;
            if ((rc = save(r, "best.safetensors", err))) return rc;
        }
        if ((rc = save(r, "last.safetensors", err))) return rc;
        r->info.epoch--; /* the for loop advances it */
        if (o->max_steps && r->info.step >= o->max_steps) break;
    }
    return 0;
}

static void *pinned_alloc(void *ctx, size_t bytes)
{
    void *p = NULL;
    return lc_host_alloc(ctx, &p, bytes, NULL) ? NULL : p;
}

static void pinned_release(void *ctx, void *p) { lc_host_free(ctx, p); }

/* One rank's run (the whole run when world is 1). */
static int run_rank(const struct lc_train_opts *o, int rank, int world, struct lc_comm *comm, struct lc_device dev,
                    struct lc_err *err)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.o = o, r.rank = rank, r.world = world, r.comm = comm, r.dev = dev;
    r.amp_type = o->precision ? o->precision : LC_DTYPE_F32;
    lc_loss_scaler_init(&r.ls, o->loss_scale);
    int rc = 0;
    if (rank == 0 && (rc = lc_mkdirs(o->out, err))) return rc;
    if (world == 1) lc_threads_set(o->threads);
    else lc_threads_set_local(o->threads); /* OpenBLAS stays serial (lc_train_run) */
    if ((rc = lc_dataset_open(&r.data, o->data, err))) return rc;
    int64_t classes = lc_dataset_classes(r.data);
    struct lc_loader_opts lo = {.batch = o->batch, .threads = o->workers, .seed = o->seed, .shuffle = 1, .drop_last = 1,
                                .aug = o->aug, .shard = rank, .shards = world};
    if (dev.type != LC_DEVICE_CPU) /* batches in page-locked memory: fast, asynchronous uploads */
        lo.alloc = pinned_alloc, lo.release = pinned_release, lo.alloc_ctx = &r.dev;
    lo.aug.flip_p = 0.5f;
    if (lc_dataset_count(r.data) < (size_t)o->batch * (size_t)world)
        rc = lc_errf(err, LC_EINVAL, o->data, -1, -1, "%zu images is less than one batch of %d%s", lc_dataset_count(r.data),
                     o->batch, world > 1 ? " per rank" : "");
    if (!rc) rc = lc_loader_init(&r.loader, r.data, &lo, err);
    /* on a device the host model keeps no training activations; on a GPU
     * none at all (validation runs there too) */
    int on_dev = dev.type != LC_DEVICE_CPU || o->check_seam || world > 1 || r.amp_type != LC_DTYPE_F32;
    int host_train = dev.type != LC_DEVICE_CPU ? LC_IR_PARAMS_ONLY : !on_dev;
    if (!rc) rc = lc_ir_create(&r.model, o->layers, o->batch > o->val_batch ? o->batch : o->val_batch, host_train, err);
    if (!rc) rc = setup_head(&r, classes, err);
    if (!rc) rc = lc_margin_init(&r.mg, o->head, o->batch, LC_IR_EMBEDDING, (int)classes, o->m, o->h, o->s, o->t_alpha, err);
    size_t nc = (size_t)o->batch * (size_t)classes;
    if (!rc && (!(r.mws = malloc(lc_margin_workspace(&r.mg) * sizeof(float))) || !(r.logits = malloc(nc * 4)) ||
                !(r.cos = malloc(nc * 4)) || !(r.prob = malloc(nc * 4)) || !(r.dlogits = malloc(nc * 4)) ||
                !(r.scaler = malloc((size_t)o->batch * 4)) || !(r.emb = malloc((size_t)o->batch * 512 * 4)) ||
                !(r.demb = malloc((size_t)o->batch * 512 * 4)) || !(r.norm = malloc((size_t)o->batch * 4))))
        rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    if (!rc) rc = lc_optim_init_sgd(&r.opt, o->lr, o->momentum, o->weight_decay, 0, err);
    if (!rc) rc = lc_optim_add(&r.opt, lc_ir_params(r.model), err);
    if (!rc) rc = lc_optim_add(&r.opt, &r.head, err);
    if (!rc) rc = lc_multistep_parse(&r.sched, o->lr, o->lr_gamma, o->milestones, err);
    /* state: fresh, from given weights, or resumed */
    snprintf(r.info.arch, sizeof r.info.arch, "%s", arch_name(o->layers));
    snprintf(r.info.head, sizeof r.info.head, "%s", lc_margin_name(o->head));
    r.info.classes = classes;
    r.info.best = -1;
    lc_rng_seed(&r.info.rng, o->seed);
    if (!rc) {
        struct lc_rng init;
        lc_rng_seed_stream(&init, o->seed, 0x1417);
        lc_ir_init_weights(r.model, &init);
        lc_margin_init_kernel(r.kernel, LC_IR_EMBEDDING, (int)classes, &init);
    }
    if (!rc && o->init) rc = lc_ckpt_load(o->init, lc_ir_params(r.model), NULL, NULL, NULL, LC_CKPT_WEIGHTS_ONLY, err);
    if (!rc && o->resume) {
        /* the run must be the same kind of run: say which part differs */
        struct lc_ckpt_info was = r.info;
        rc = lc_ckpt_peek(o->resume, &was, err);
        if (!rc && was.classes != classes)
            rc = lc_errf(err, LC_EINVAL, o->resume, -1, -1, "the checkpoint has %lld classes, the data %lld",
                         (long long)was.classes, (long long)classes);
        if (!rc && (strcmp(was.arch, r.info.arch) || strcmp(was.head, r.info.head)))
            rc = lc_errf(err, LC_EINVAL, o->resume, -1, -1, "the checkpoint is %s with the %s head; this run is %s with %s",
                         was.arch, was.head, r.info.arch, r.info.head);
        if (!rc) rc = lc_ckpt_load(o->resume, lc_ir_params(r.model), &r.head, &r.opt, &r.info, 0, err);
        if (!rc && rank == 0) lc_tool_note("resuming at epoch %d, batch %lld, step %lld", r.info.epoch, (long long)r.info.batch, (long long)r.info.step);
    }
    if (!rc && rank == 0 && r.amp_type != LC_DTYPE_F32)
        lc_tool_note("%s activations in %s", lc_mixed_name(r.amp_type),
                     o->channels_last ? "channels-last (N, H, W, C)" : "(N, C, H, W)");
    if (!rc) stats_in(&r);
    if (!rc && r.amp_type == LC_DTYPE_F16) scaler_in(&r);
    /* the command line travels in the checkpoint */
    if (!rc && o->argc > 0) {
        char cmd[256] = "";
        size_t k = 0;
        for (int i = 0; i < o->argc && k < sizeof cmd - 2; i++)
            k += (size_t)snprintf(cmd + k, sizeof cmd - k, "%s%s", i ? " " : "", o->argv[i]);
        r.info.n_extra = 1;
        snprintf(r.info.extra_key[0], sizeof r.info.extra_key[0], "command");
        snprintf(r.info.extra_val[0], sizeof r.info.extra_val[0], "%s", cmd);
    }
    if (!rc && on_dev) rc = dev_setup(&r, err);
    if (!rc && rank == 0) rc = open_log(&r, err);
    if (!rc) rc = train_epochs(&r, err);
    /* a failed rank lets the others go before its own cleanup waits on its GPU */
    if (rc && rc != LC_EINTR && comm) lc_comm_abort(comm);
    if ((!rc || rc == LC_EINTR) && r.on_dev) {
        int rc2 = sync_host(&r, err);
        if (!rc) rc = rc2;
    }
    if ((!rc || rc == LC_EINTR) && rank == 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/weights.safetensors", o->out);
        int rc2 = lc_ckpt_export(path, lc_ir_params(r.model), &r.info, err);
        if (!rc) rc = rc2;
    }
    if (r.log) {
        if (rc && rc != LC_EINTR) lc_out_abort(r.log);
        else {
            struct lc_err e2;
            if (lc_out_commit(r.log, &e2) && !rc) rc = LC_EIO, *err = e2;
        }
    }
    dev_free(&r);
    lc_optim_free(&r.opt);
    lc_params_free(&r.head);
    lc_ir_free(r.model);
    lc_loader_free(r.loader);
    lc_dataset_close(r.data);
    free(r.mws), free(r.logits), free(r.cos), free(r.prob), free(r.dlogits), free(r.scaler), free(r.emb), free(r.demb), free(r.norm);
    return rc;
}

/* ------------------------------------------------- data parallelism */

struct rank_job {
    const struct lc_train_opts *o;
    int rank, world;
    struct lc_device dev;
    struct lc_comm *comm;      /* local ranks: made beforehand */
    const uint8_t *nccl_id;    /* GPU ranks: the comm is made on the rank's thread */
    struct lc_comm_group *group; /* GPU ranks: which it joins, as slot */
    int slot;
    const char *id_file;       /* rank 0 of several processes: the id file, deleted once every rank has joined */
    struct lc_err err;
    int rc;
};

static void *rank_main(void *arg)
{
    struct rank_job *j = arg;
    j->rc = 0;
    if (j->nccl_id && !(j->rc = lc_device_open(&j->dev, &j->err)))
        j->rc = lc_comm_nccl_create(&j->comm, j->nccl_id, j->rank, j->world, j->group, j->slot, &j->err);
    if (!j->rc && j->id_file) unlink(j->id_file); /* every process read it: no later run can find it stale */
    if (!j->rc) {
        j->rc = run_rank(j->o, j->rank, j->world, j->comm, j->dev, &j->err);
    }
    if (j->rc && j->rc != LC_EINTR && j->comm) lc_comm_abort(j->comm);
    else if (j->rc && j->rc != LC_EINTR && j->group) lc_comm_group_abort(j->group); /* failed before joining */
    if (j->nccl_id) { /* a GPU rank's communicator, stream and state go on its own thread, device current */
        struct lc_err e2;
        lc_device_sync(&j->dev, &e2);
        lc_comm_free(j->comm);
        j->comm = NULL;
        lc_device_thread_release(&j->dev);
    }
    return NULL;
}

int lc_train_auto_workers(int on_gpu, int gpus)
{
    if (!on_gpu) return 2;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long w = ((cpus > 1 ? cpus : 2) - 1) / (gpus > 0 ? gpus : 1);
    return (int)(w < 2 ? 2 : w > 16 ? 16 : w);
}

int lc_train_run(const struct lc_train_opts *o, struct lc_err *err)
{
    struct lc_comm_env env;
    int rc = lc_comm_env(&env, err);
    if (rc) return rc;
    int local = o->gpus > 1 ? o->gpus : 1, world = env.world * local;
    if (world == 1) return run_rank(o, 0, 1, NULL, o->device, err);
    int cpu = o->device.type == LC_DEVICE_CPU;
    if (cpu && env.world > 1)
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1,
                       "%d processes: training across processes runs on GPUs (NCCL); on the CPU, --gpus N runs N ranks "
                       "as threads of one process", env.world);
    struct rank_job *jobs = calloc((size_t)local, sizeof *jobs);
    struct lc_comm **comms = calloc((size_t)local, sizeof *comms);
    pthread_t *threads = calloc((size_t)local, sizeof *threads);
    uint8_t id[LC_NCCL_ID_SIZE];
    struct lc_comm_group *group = NULL;
    if (!jobs || !comms || !threads) rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    if (!rc && cpu) rc = lc_comm_local_create(comms, local, err);
    if (!rc && !cpu) {
        /* every GPU must be there: a rank that cannot open its GPU never joins, and the others would wait in
         * NCCL's setup for ever */
        char why[256] = "";
        int have = lc_backend_cuda_devices(why, sizeof why), first = o->device.index + env.local_rank * local;
        if (first + local > have)
            rc = lc_errf(err, LC_EUSAGE, NULL, -1, -1,
                         "--gpus %d needs GPUs cuda:%d to cuda:%d; this machine has %d%s%s", local, first,
                         first + local - 1, have, have ? "" : ": ", have ? "" : why);
    }
    if (!rc && !cpu) rc = lc_comm_group_new(&group, local, err);
    double timeout_s = 0;
    char id_file[4200] = "";
    if (!rc && !cpu) rc = lc_comm_timeout(&timeout_s, err);
    if (!rc && !cpu && env.world > 1) rc = lc_comm_id_path(id_file, sizeof id_file, getenv("LC_NCCL_ID_FILE"), err);
    if (!rc && !cpu)
        rc = env.world > 1 ? lc_comm_share_id(id, env.rank == 0, id_file, timeout_s > 0 ? timeout_s : 1e9, err)
                           : lc_nccl_id(id, err);
    /* OpenBLAS's thread pool is not for concurrent callers: serial while ranks run */
    int started = 0, blas = lc_blas_serial_begin();
    for (int t = 0; !rc && t < local; t++) {
        struct rank_job *j = &jobs[t];
        *j = (struct rank_job){o, env.rank * local + t, world, o->device, cpu ? comms[t] : NULL, cpu ? NULL : id, group, t,
                               env.rank == 0 && t == 0 && *id_file ? id_file : NULL, {0}, 0};
        if (!cpu) j->dev.index = o->device.index + env.local_rank * local + t;
        if (pthread_create(&threads[t], NULL, rank_main, j)) {
            rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "cannot start the thread of rank %d", j->rank);
            if (j->comm) lc_comm_abort(j->comm);
            else if (group) lc_comm_group_abort(group); /* the GPU ranks started wait in NCCL's setup for this one */
            break;
        }
        started++;
    }
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    lc_blas_serial_end(blas);
    if (env.rank == 0 && *id_file) unlink(id_file); /* also after a failed run: the next must not read it */
    /* the first rank that failed by itself (not woken by another's failure) */
    int first = -1, interrupted = 0;
    for (int t = 0; !rc && t < started; t++) {
        if (jobs[t].rc == LC_EINTR) interrupted = 1;
        else if (jobs[t].rc && (first < 0 || strstr(jobs[first].err.msg, "another rank stopped"))) first = t;
    }
    if (!rc && first >= 0) {
        *err = jobs[first].err;
        rc = jobs[first].rc;
    } else if (!rc && interrupted) {
        rc = LC_EINTR;
    }
    for (int t = 0; cpu && comms && t < local; t++)
        if (comms[t]) lc_comm_free(comms[t]); /* the GPU ranks freed theirs */
    lc_comm_group_free(group);
    free(jobs), free(comms), free(threads);
    return rc;
}
