/* checkpoint: a training run's whole state in one safetensors file, and
 * weights in and out in the forms other tools use.
 *
 * Layout of a checkpoint (tensor names):
 *   <name>                          the backbone's state_dict (reference keys)
 *   head.<name>                     the head's (kernel; AdaFace t, batch_mean, batch_std)
 *   optim.<state>.<group>.<name>    optimiser state (momentum_buffer, exp_avg, exp_avg_sq)
 * and metadata: format=sarface-checkpoint, version, toolkit, arch, head,
 * classes, epoch, step (optimiser steps), batch (within the epoch), lr,
 * optim (sgd|adam) with its settings, rng (the run's random state), plus
 * the command line. Everything needed to resume a run exactly.
 *
 * Loading accepts our checkpoints, exported weights, and PyTorch files:
 * plain state_dicts and Lightning checkpoints whose keys carry `model.`
 * and `head.` (AdaFace's published adaface_ir50_ms1mv2.ckpt). */
#ifndef LC_CHECKPOINT_H
#define LC_CHECKPOINT_H

#include <stdint.h>

#include "err.h"
#include "optim.h"
#include "params.h"
#include "rng.h"

#define LC_CKPT_META_MAX 32

struct lc_ckpt_info {
    char arch[32], head[32];
    int64_t classes;
    int epoch;            /* the epoch to run next */
    int64_t step;         /* optimiser steps taken */
    int64_t batch;        /* batches done in `epoch` */
    double lr;
    double best;          /* best validation accuracy so far (-1: none) */
    struct lc_rng rng;
    double loss_scale;    /* fp16's dynamic loss scale (0: none; stored only when set) */
    int64_t loss_scale_tracker; /* its good steps in a row */
    int n_extra;          /* more metadata (key, value) to store or that was read */
    char extra_key[LC_CKPT_META_MAX][64], extra_val[LC_CKPT_META_MAX][256];
};

/* Save model (no prefix), head ("head."), optimiser (may be NULL) and info
 * atomically (fsync, rename). */
int lc_ckpt_save(const char *path, const struct lc_params *model, const struct lc_params *head,
                 const struct lc_optim *opt, const struct lc_ckpt_info *info, struct lc_err *err);
/* Only the backbone's weights, under the reference's keys: a file that
 * PyTorch's load_state_dict takes unchanged. */
int lc_ckpt_export(const char *path, const struct lc_params *model, const struct lc_ckpt_info *info,
                   struct lc_err *err);

enum lc_ckpt_flags {
    LC_CKPT_WEIGHTS_ONLY = 1 << 0, /* ignore optimiser state and run position */
    LC_CKPT_NO_HEAD = 1 << 1,      /* load the backbone only */
};
/* Load into the registries (shapes must match; every model parameter must
 * be present; head when head != NULL and not NO_HEAD). opt may be NULL.
 * info gets what the file says (fields it lacks stay as they were). */
int lc_ckpt_load(const char *path, struct lc_params *model, struct lc_params *head, struct lc_optim *opt,
                 struct lc_ckpt_info *info, unsigned flags, struct lc_err *err);

/* Read only the metadata (arch, head, classes) to build the right model. */
int lc_ckpt_peek(const char *path, struct lc_ckpt_info *info, struct lc_err *err);

#endif
