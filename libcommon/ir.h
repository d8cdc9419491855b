/* ir: the IR-18/34/50/100 face-recognition backbones of AdaFace/SARFace
 * (REFERENCE.md section 3), forward and backward, with parameter names equal
 * to the reference's PyTorch state_dict keys (input_layer.0.weight,
 * body.3.res_layer.1.weight, output_layer.4.running_var, ...), so weights
 * move both ways without renaming.
 *
 *   input_layer:  conv3x3(3->64) -> BN -> PReLU(64)                  112x112
 *   body:         units of BasicBlockIR, stages of depth 64/128/256/512,
 *                 the first unit of each stage with stride 2   -> 56, 28, 14, 7
 *     unit: BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus the
 *     shortcut: subsampling (MaxPool2d(1, stride)) when channels match,
 *     else conv1x1(stride) -> BN; no activation after the sum
 *   output_layer: BN2d(512) -> Dropout(0.4) -> flatten (C,H,W) ->
 *                 Linear(25088->512) -> BN1d(512, affine=False)
 *   returns embedding = x/||x|| and norm = ||x||. */
#ifndef LC_IR_H
#define LC_IR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "params.h"

struct lc_rng;
struct lc_ir;

#define LC_IR_INPUT 112
#define LC_IR_EMBEDDING 512

/* layers: 18, 34, 50 or 100. batch: the most images per call. train: also
 * allocate what backward needs (activations of every layer); without it
 * (0) the model only runs inference, in a few ping-pong buffers; with
 * LC_IR_PARAMS_ONLY it holds parameters and shapes but runs nothing on the
 * host (the record of a model that lc_ir_dev / lc_ir_train_dev run on a
 * GPU, which keep their own activations). */
#define LC_IR_PARAMS_ONLY 2
int lc_ir_create(struct lc_ir **m, int layers, int batch, int train, struct lc_err *err);
void lc_ir_free(struct lc_ir *m);
int lc_ir_layers(const struct lc_ir *m);
/* The state_dict: parameters, running statistics, num_batches_tracked. */
struct lc_params *lc_ir_params(struct lc_ir *m);
/* The reference's initialisation: Kaiming normal (fan_out, ReLU gain) for
 * convolutions and the linear layer, zero biases, batch-norm weight 1 and
 * bias 0, running mean 0 and variance 1, PReLU 0.25. */
void lc_ir_init_weights(struct lc_ir *m, struct lc_rng *rng);

/* x (n,3,112,112), normalised BGR -> emb (n,512) unit rows, norm (n).
 * train: batch statistics (running ones updated as PyTorch does), dropout
 * drawn from rng, activations kept for backward (needs train at create).
 * Otherwise: running statistics, no dropout, and every batch norm after a
 * conv folded into it with PReLU or the shortcut sum fused (prepared once,
 * again after lc_ir_params or a training forward). n <= batch. */
void lc_ir_forward(struct lc_ir *m, float *emb, float *norm, const float *x, int n, int train, struct lc_rng *rng);
/* Dropout probability of the output layer (0.4, the reference's). */
void lc_ir_set_dropout(struct lc_ir *m, float p);
/* After a training forward (whose input x must still be alive): add the gradients of the parameters for the
 * upstream gradients demb (n,512) and dnorm (n) (NULL: zero, as the heads
 * detach the norm). Parameter gradients accumulate: zero them per step. */
void lc_ir_backward(struct lc_ir *m, const float *demb, const float *dnorm);

/* Inference on a device (libcommon/backend.h): the model's eval forward
 * run op by op through the device seam, each batch norm after a conv folded
 * into it (bias), the other batch norms, PReLU, shortcut and output layer
 * as separate ops. The weights are copied to the device at creation (folded
 * then): create it again after they change. On the CPU device it runs the
 * CPU ops (a check of the path; lc_ir_forward is the fast CPU inference);
 * on cuda:N, the CUDA twins (cuDNN convolutions).
 * forward: x (n,3,112,112) on the host, n <= the model's batch; emb and
 * norm on the host. Errors: allocation or device failures, with err set. */
struct lc_device;
struct lc_ir_dev;
/* dt: the activations' type: LC_DTYPE_F32, or LC_DTYPE_F16 / LC_DTYPE_BF16
 * (the folded weights cast once at creation; each conv followed by one
 * pass of bias and PReLU; the embedding and its norm float32).
 * channels_last (16-bit dt only, else LC_EINVAL): the backbone's
 * activations (N, H, W, C) and its conv weights (Co, K, K, Ci), the
 * layout cuDNN's tensor-core convolutions run on; the input is cast into
 * it and the last unit's output back to (N, C, H, W) before the output
 * layer, so the results are those of the (N, C, H, W) path (bit for bit
 * on the CPU device). */
int lc_ir_dev_create(struct lc_ir_dev **out, const struct lc_ir *m, const struct lc_device *d, int dt,
                     int channels_last, struct lc_err *err);
int lc_ir_dev_forward(struct lc_ir_dev *g, float *emb, float *norm, const float *x, int n, struct lc_err *err);
void lc_ir_dev_free(struct lc_ir_dev *g);
/* The device memory it holds, in bytes: the weights in dt (16 bits: no
 * float32 copy), the per-channel parameters in float32, and for cap
 * images the input, three buffers of the largest activation, one of the
 * largest conv shortcut's output and the output layer's */
size_t lc_ir_dev_bytes(const struct lc_ir_dev *g);
/* CUDA graphs (graph.h: a GPU only, off by default): the forward's ops,
 * from the copied input to the embedding, replayed as one graph for the
 * batch size it was captured at (the second forward of that size; other
 * sizes run op by op). The same results as without. graph_launches: the
 * replays so far; *off (when not NULL): why graphs went off after a
 * capture failed, or NULL. */
void lc_ir_dev_use_graphs(struct lc_ir_dev *g, int on);
long lc_ir_dev_graph_launches(const struct lc_ir_dev *g, const char **off);

/* Training on a device: the training forward and backward of lc_ir_forward
 * and lc_ir_backward, op for op through the device seam (on the CPU device
 * the very same CPU functions in the same order: bit-identical to them),
 * with the model's parameters, gradients and running statistics mirrored
 * on the device (lc_dev_params) and every activation kept there. The
 * host model m stays the record: create after its weights are final
 * (loaded, initialised), call sync to copy the device's parameters and
 * running statistics back into it (before saving or evaluating on the
 * host), upload after changing them on the host. num_batches_tracked
 * counts on the host. Dropout's key comes from rng as lc_ir_forward draws
 * it; the mask is made on the device.
 * forward: x (n,3,112,112) on the host (copied asynchronously: keep it
 * unchanged until a download or sync; page-locked memory from
 * lc_host_alloc makes the copy overlap); the embeddings and norms stay on
 * the device (emb, norm); norm (n) is also copied to the host when not
 * NULL. backward: demb (n,512) on the device; the norm's gradient is zero
 * (the heads detach it); parameter gradients accumulate on the device
 * (zero them with lc_dev_params_zero_grad).
 * dt: the type of the activations (mixed.h): LC_DTYPE_F32, or LC_DTYPE_F16 /
 * LC_DTYPE_BF16 for mixed precision, where each forward casts the input
 * and the float32 parameters (the master copy, which the optimiser
 * updates) to dt, every op of the backbone computes in float32 on dt
 * storage, and the embedding, its norm and its gradient stay float32.
 * channels_last: as lc_ir_dev_create's (16-bit only); each forward casts
 * the conv weights into (Co, K, K, Ci/g), their float32 gradients stay
 * (Co, Ci/g, K, K).
 * max_n: the largest batch it trains on (its activations' size), at most
 * the model's; 0 for the model's (which may be larger for validation). */
struct lc_dev_params;
struct lc_ir_train_dev;
int lc_ir_train_dev_create(struct lc_ir_train_dev **out, struct lc_ir *m, const struct lc_device *d, int dt,
                           int channels_last, int max_n, struct lc_err *err);
void lc_ir_train_dev_free(struct lc_ir_train_dev *g);
int lc_ir_train_dev_forward(struct lc_ir_train_dev *g, float *norm, const float *x, int n, struct lc_rng *rng,
                            struct lc_err *err);
int lc_ir_train_dev_backward(struct lc_ir_train_dev *g, const float *demb, struct lc_err *err);
const float *lc_ir_train_dev_emb(const struct lc_ir_train_dev *g);
const float *lc_ir_train_dev_norm(const struct lc_ir_train_dev *g);
struct lc_dev_params *lc_ir_train_dev_params(struct lc_ir_train_dev *g);
int lc_ir_train_dev_sync(struct lc_ir_train_dev *g, struct lc_err *err);
/* Data parallelism: backward hands the parameter gradients to hook as
 * they become final, in buckets of at least bucket_floats (contiguous
 * ranges of the device's gradient block, from its end: the output layer
 * and the last units first), so their all-reduce overlaps the rest of the
 * backward pass; every gradient exactly once per backward, the last bucket
 * when the input layer is done. hook NULL: none. */
int lc_ir_train_dev_set_grad_hook(struct lc_ir_train_dev *g, int (*hook)(void *ctx, float *grads, size_t n, struct lc_err *err),
                                  void *ctx, size_t bucket_floats, struct lc_err *err);
int lc_ir_train_dev_upload(struct lc_ir_train_dev *g, struct lc_err *err);
/* CUDA graphs, as lc_ir_dev_use_graphs: the forward's ops (the input's
 * copy and dropout's mask run before) and the backward's (for one demb
 * buffer; with a gradient hook, in spans between the buckets it takes,
 * one graph each, the hook called between them), replayed as graphs.
 * num_batches_tracked still counts. Returns the forward passes replayed,
 * and in *backward (when not NULL) the backward passes whose every span
 * was. */
void lc_ir_train_dev_use_graphs(struct lc_ir_train_dev *g, int on);
long lc_ir_train_dev_graph_launches(const struct lc_ir_train_dev *g, long *backward, const char **off);

/* Floats of activation memory held for training at the created batch. */
size_t lc_ir_activation_floats(const struct lc_ir *m);

#endif
