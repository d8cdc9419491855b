/* train: pretraining a face-recognition backbone with a margin head, as
 * the reference's train_val.py does it (REFERENCE.md sections 1 and 3-5):
 * per-epoch shuffled, augmented batches; IR backbone -> CosFace, ArcFace or
 * AdaFace -> softmax cross-entropy; SGD with momentum in two weight-decay
 * groups; MultiStepLR stepped at each epoch's end; validation on .bin sets
 * with flip fusion and the 10-fold protocol; best and last checkpoints.
 * A run resumes exactly: the loader's order and augmentation, dropout and
 * every optimiser and head state come from (seed, epoch, batch, step). */
#ifndef LC_TRAIN_H
#define LC_TRAIN_H

#include <stdint.h>

#include "augment.h"
#include "backend.h"
#include "err.h"

#define LC_TRAIN_MAX_VAL 8

struct lc_train_opts {
    const char *data;                     /* training set (anything lc_dataset_open takes) */
    const char *val[LC_TRAIN_MAX_VAL];    /* validation sets (.bin, or image streams in pair order) */
    int n_val;
    int val_every;                        /* validate every this many epochs, and after the last */
    const char *out;                      /* run directory */
    int layers;                           /* 18, 34, 50, 100 */
    int head;                             /* enum lc_margin_kind */
    float m, h, s, t_alpha;
    double lr, lr_gamma;
    const char *milestones;
    float momentum, weight_decay;
    int epochs, batch, threads, workers;
    uint64_t seed;
    struct lc_augment aug;
    int64_t checkpoint_every;             /* steps; 0: only at epoch ends */
    int64_t max_steps;                    /* stop after this many steps (0: no limit) */
    int64_t log_every;                    /* a metrics.csv row every this many steps, and at epoch ends */
    int val_batch;
    const char *resume;                   /* a checkpoint of this run's kind to continue */
    const char *init;                     /* backbone weights to start from */
    int progress;
    struct lc_device device;              /* where the step runs (the CPU: the host path) */
    int check_seam;                       /* on the CPU, run the step through the device seam anyway
                                             (a check of the GPU path's plumbing: bit-identical results) */
    int gpus;                             /* data-parallel ranks in this process (GPUs from device's index
                                             on; on the CPU, threads: a check of the path) */
    int precision;                        /* activations: LC_DTYPE_F32 (or 0), LC_DTYPE_F16 (with dynamic loss
                                             scaling) or LC_DTYPE_BF16; 16 bits run through the device seam
                                             (on the CPU, mixed.c's reference: a check, slower than fp32) */
    float loss_scale;                     /* fp16's initial loss scale (0: 65536) */
    int channels_last;                    /* 16 bits: the backbone's activations (N, H, W, C) (ir.h) */
    int cuda_graphs;                      /* a GPU: the backbone's forward and (one rank) backward replayed as
                                             CUDA graphs (ir.h, graph.h); off by itself, with a warning, when a
                                             capture fails */
    int argc;                             /* the command line, kept in checkpoints */
    char **argv;
};

/* Run (or resume) training. Ends early on SIGINT/SIGTERM after saving.
 * Data parallel when gpus > 1 or the launcher's environment says this is
 * one of several processes (comm.h: LC_RANK/LC_WORLD_SIZE, mpirun, srun;
 * the NCCL id through LC_NCCL_ID_FILE): one rank per GPU, world =
 * processes x gpus, each rank taking its shard of every epoch and --batch
 * images per step (the global batch is world x batch, as the reference's 4
 * GPUs x 128), gradients averaged over the ranks, rank 0 logging,
 * validating and saving.
 * Returns 0, LC_EINTR when interrupted (state saved), or an error. */
int lc_train_run(const struct lc_train_opts *o, struct lc_err *err);

/* The loader threads a rank gets by default: 2 on the CPU (whose threads
 * also compute the step); on GPUs, this machine's CPUs less one (the
 * process's own) shared by the process's gpus ranks, 2 to 16 each. On a
 * 16-CPU H200 machine the loader gave about 2400-3300 images/s with 2
 * threads and 9500-12900 with 16, where IR-50 trains at about 4200 in fp16. */
int lc_train_auto_workers(int on_gpu, int gpus);

#endif
