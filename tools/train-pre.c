/* train-pre: pretrain an IR backbone with a CosFace, ArcFace or AdaFace
 * head, as the reference's main.py does. Flags follow its names. The loop
 * is libcommon/train.c; this file only reads the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "dtype.h"
#include "margin.h"
#include "mixed.h"
#include "opt.h"
#include "tool.h"
#include "train.h"

struct opts {
    struct lc_train_opts t;
    const char *arch, *head, *device, *val, *precision, *layout;
    int gpus, use_16bit;
    double loss_scale;
    double crop, lowres, photo;
};

static int parse_arch(const char *a)
{
    if (!strcmp(a, "ir_18")) return 18;
    if (!strcmp(a, "ir_34")) return 34;
    if (!strcmp(a, "ir_50")) return 50;
    if (!strcmp(a, "ir_101") || !strcmp(a, "ir_100")) return 100;
    return 0;
}

static const struct lc_tool tool = {
    "train-pre",
    "Pretrain a face-recognition backbone (IR-18/34/50/100) with a margin head.",
    "[options] -o RUNDIR DATASET",
    "DATASET: RecordIO (InsightFace layout), image folders or archives, images streams; --val: .bin sets",
    "RUNDIR/last.safetensors and best.safetensors (full state), weights.safetensors (backbone, PyTorch keys), "
    "metrics.csv",
    "The reference's recipe: SGD (momentum 0.9), weight decay 5e-4 on everything but batch norm, MultiStepLR "
    "stepped at epoch ends, batches shuffled each epoch and dropped at the end, augmentation crop -> low-res -> "
    "photometric -> flip (p 0.5). Validation after every epoch on each --val set: flip-fused embeddings and the "
    "10-fold accuracy of the reference. Checkpoints are written atomically; --resume continues a run exactly "
    "(same losses as without the interruption). Ctrl-C saves and exits. Several processes (mpirun, srun) train "
    "together on GPUs, meeting through the file LC_NCCL_ID_FILE names; LC_NCCL_TIMEOUT (seconds, default 600, 0 for "
    "none) bounds any wait for another rank (docs/training.md).",
};

static void parse_args(struct opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    struct lc_train_opts *t = &o->t;
    o->arch = "ir_50", o->head = "adaface", o->device = "cpu", o->gpus = 1;
    t->m = 0.4f, t->h = 0.333f, t->s = 64.0f, t->t_alpha = 0.01f;
    t->lr = 0.1, t->lr_gamma = 0.1, t->milestones = "12,20,24", t->momentum = 0.9f, t->weight_decay = 5e-4f;
    t->epochs = 26, t->batch = 128, t->seed = 1, t->val_batch = 64, t->workers = -1, t->log_every = 20, t->val_every = 1;
    double m = 0.4, h = 0.333, s = 64, ta = 0.01, mom = 0.9, wd = 5e-4;
    int64_t seed = 1;
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "output", 'o', &t->out, "RUNDIR", "run directory (created)"},
        {LC_OPT_STRING, "arch", 0, &o->arch, "ARCH", "ir_18, ir_34, ir_50 (default) or ir_100"},
        {LC_OPT_STRING, "head", 0, &o->head, "HEAD", "cosface, arcface or adaface (default)"},
        {LC_OPT_DOUBLE, "m", 0, &m, "M", "margin (default 0.4)"},
        {LC_OPT_DOUBLE, "h", 0, &h, "H", "AdaFace's h (default 0.333)"},
        {LC_OPT_DOUBLE, "s", 0, &s, "S", "logit scale (default 64)"},
        {LC_OPT_DOUBLE, "t_alpha", 0, &ta, "A", "AdaFace's norm statistics update rate (default 0.01)"},
        {LC_OPT_DOUBLE, "lr", 0, &t->lr, "LR", "learning rate (default 0.1)"},
        {LC_OPT_STRING, "lr_milestones", 0, &t->milestones, "E,E,..", "epochs where lr is multiplied by --lr_gamma (default 12,20,24)"},
        {LC_OPT_DOUBLE, "lr_gamma", 0, &t->lr_gamma, "G", "(default 0.1)"},
        {LC_OPT_DOUBLE, "momentum", 0, &mom, "M", "(default 0.9)"},
        {LC_OPT_DOUBLE, "weight_decay", 0, &wd, "W", "(default 5e-4; batch norm parameters get none)"},
        {LC_OPT_INT, "epochs", 0, &t->epochs, "N", "(default 26)"},
        {LC_OPT_INT, "batch_size", 'b', &t->batch, "N", "(default 128)"},
        {LC_OPT_DOUBLE, "crop_augmentation_prob", 0, &o->crop, "P", "(default 0)"},
        {LC_OPT_DOUBLE, "low_res_augmentation_prob", 0, &o->lowres, "P", "(default 0)"},
        {LC_OPT_DOUBLE, "photometric_augmentation_prob", 0, &o->photo, "P", "(default 0)"},
        {LC_OPT_STRING, "val", 0, &o->val, "A.bin,B.bin", "validation sets, comma-separated"},
        {LC_OPT_INT, "val_every", 0, &t->val_every, "E", "validate every E epochs and after the last (default 1)"},
        {LC_OPT_INT, "val_batch", 0, &t->val_batch, "N", "embedding batch for validation (default 64)"},
        {LC_OPT_I64, "checkpoint_every", 0, &t->checkpoint_every, "STEPS", "also save every STEPS steps (default: epoch ends)"},
        {LC_OPT_I64, "max_steps", 0, &t->max_steps, "N", "stop after N steps (saved; --resume goes on)"},
        {LC_OPT_I64, "log_every", 0, &t->log_every, "STEPS", "a metrics.csv row every STEPS steps and at epoch ends (default 20)"},
        {LC_OPT_STRING, "resume", 0, &t->resume, "CKPT", "continue the run saved in CKPT"},
        {LC_OPT_STRING, "init", 0, &t->init, "WEIGHTS", "start from these backbone weights (ours or PyTorch's)"},
        {LC_OPT_I64, "seed", 0, &seed, "S", "random seed (default 1)"},
        {LC_OPT_INT, "threads", 'j', &t->threads, "N", "compute threads (default: all CPUs)"},
        {LC_OPT_INT, "num_workers", 0, &t->workers, "N", "decoding threads a rank (default: 2 on the CPU; on GPUs the machine's CPUs less one, shared by this process's GPUs, 2 to 16 each)"},
        {LC_OPT_STRING, "device", 0, &o->device, "DEV", "cpu (default), cuda or cuda:N"},
        {LC_OPT_INT, "gpus", 0, &o->gpus, "N", "data-parallel GPUs, from --device's index on (default 1; with --device cpu: ranks as threads, a check of the path)"},
        {LC_OPT_FLAG, "progress", 0, &t->progress, NULL, "progress on stderr"},
        {LC_OPT_FLAG, "check_seam", 0, &t->check_seam, NULL, "run the CPU step through the device seam (the GPU path's plumbing; same results, slower)"},
        {LC_OPT_FLAG, "use_16bit", 0, &o->use_16bit, NULL, "mixed precision in fp16 with dynamic loss scaling (the reference's flag; = --precision fp16)"},
        {LC_OPT_STRING, "precision", 0, &o->precision, "P", "fp32 (default), fp16 (dynamic loss scaling) or bf16: the activations' type; weights, gradients and the head stay fp32 (16 bits on the CPU: a slow check of the GPU path)"},
        {LC_OPT_DOUBLE, "loss_scale", 0, &o->loss_scale, "S", "fp16's initial loss scale (default 65536)"},
        {LC_OPT_STRING, "layout", 0, &o->layout, "L", LC_MIXED_LAYOUT_HELP},
        {LC_OPT_FLAG, "channels_last", 0, &t->channels_last, NULL, "= --layout channels_last"},
        {LC_OPT_FLAG, "cuda_graphs", 0, &t->cuda_graphs, NULL, "on a GPU: replay the backbone's forward and backward as CUDA graphs (less launch time; the same results)"},
        {LC_OPT_END},
    };
    int i = lc_opt_parse(&tool, opts, argc, argv);
    if (i + 1 != argc) lc_tool_usage(tool.name, "expected one DATASET");
    t->data = argv[i];
    if (!t->out) lc_tool_usage(tool.name, "-o RUNDIR is required");
    if (!(t->layers = parse_arch(o->arch))) lc_tool_usage(tool.name, "unknown --arch %s", o->arch);
    if ((t->head = lc_margin_parse(o->head)) < 0) lc_tool_usage(tool.name, "unknown --head %s", o->head);
    t->m = (float)m, t->h = (float)h, t->s = (float)s, t->t_alpha = (float)ta, t->momentum = (float)mom, t->weight_decay = (float)wd;
    t->seed = (uint64_t)seed;
    t->aug = (struct lc_augment){(float)o->crop, (float)o->lowres, (float)o->photo, 0.5f};
    if (t->epochs < 1 || t->batch < 2 || t->val_batch < 1) lc_tool_usage(tool.name, "--epochs >= 1 and --batch_size >= 2");
    if (t->log_every < 1 || t->val_every < 1 || t->checkpoint_every < 0 || t->max_steps < 0)
        lc_tool_usage(tool.name, "--log_every and --val_every must be positive, --checkpoint_every and --max_steps not negative");
    static char vals[4096];
    if (o->val) {
        snprintf(vals, sizeof vals, "%s", o->val);
        for (char *p = strtok(vals, ","); p && t->n_val < LC_TRAIN_MAX_VAL; p = strtok(NULL, ",")) t->val[t->n_val++] = p;
    }
    struct lc_device dev;
    struct lc_err err;
    if (lc_device_parse(&dev, o->device, &err)) lc_tool_usage(tool.name, "%s", err.msg);
    if (dev.type != LC_DEVICE_CPU && lc_device_open(&dev, &err)) lc_tool_fail(&err);
    if (o->gpus < 1 || o->gpus > 64) lc_tool_usage(tool.name, "--gpus takes 1 to 64");
    t->gpus = o->gpus;
    if (t->check_seam && dev.type != LC_DEVICE_CPU) lc_tool_usage(tool.name, "--check_seam is for --device cpu");
    t->precision = o->use_16bit ? LC_DTYPE_F16 : LC_DTYPE_F32;
    if (o->precision) {
        int p = lc_mixed_parse(o->precision);
        if (p < 0) lc_tool_usage(tool.name, "--precision takes fp32, fp16 or bf16, not %s", o->precision);
        if (o->use_16bit && p != LC_DTYPE_F16) lc_tool_usage(tool.name, "--use_16bit is --precision fp16");
        t->precision = p;
    }
    if (o->loss_scale < 0 || (o->loss_scale > 0 && t->precision != LC_DTYPE_F16))
        lc_tool_usage(tool.name, "--loss_scale takes a positive scale, with fp16");
    t->loss_scale = (float)o->loss_scale;
    int cl = lc_mixed_layout_opts(o->layout, t->channels_last, dev.type == LC_DEVICE_CUDA, t->precision, &err);
    if (cl < 0) lc_tool_usage(tool.name, "%s", err.msg);
    t->channels_last = cl;
    if (t->cuda_graphs && dev.type != LC_DEVICE_CUDA) lc_tool_usage(tool.name, "--cuda_graphs needs --device cuda");
    t->device = dev;
    if (t->workers < 0) t->workers = lc_train_auto_workers(dev.type != LC_DEVICE_CPU, t->gpus);
    t->argc = argc, t->argv = argv;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct lc_err err;
    lc_tool_init("train-pre");
    parse_args(&o, argc, argv);
    lc_tool_catch_interrupt();
    int rc = lc_train_run(&o.t, &err);
    if (rc == LC_EINTR) return 130;
    if (rc) lc_tool_fail(&err);
    return 0;
}
