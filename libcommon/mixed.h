/* mixed: mixed-precision training on the CPU side: array casts between
 * float32 and the 16-bit types, the dynamic loss scaler, the unscale-and-
 * check of gradients, and the CPU reference of the ops whose activations
 * are 16-bit (backend.h's lc_op_*_dt).
 *
 * The contract of a 16-bit op (dt LC_DTYPE_F16 or LC_DTYPE_BF16): storage
 * in dt, arithmetic in float32. The op widens its dt inputs exactly,
 * computes what the float32 op computes, and rounds each dt output once,
 * to nearest even. An accumulating dt output (dx += ...) is widened,
 * accumulated in float32 and rounded. Parameters, their gradients, batch
 * norm's statistics and PReLU's slopes stay float32, except that
 * convolution and linear weights come in dt (a copy of the float32 master
 * cast each step); their gradient is rounded to dt (as cuDNN and cuBLAS
 * write it for dt weights) and then added to the float32 gradient. A GPU
 * computes the same expressions in another order: CPU and GPU agree
 * within dt's rounding, not bit for bit. */
#ifndef LC_MIXED_H
#define LC_MIXED_H

#include <stddef.h>

#include "bn.h"
#include "conv2d.h"
#include "linear.h"

/* 1 for LC_DTYPE_F32, LC_DTYPE_F16 and LC_DTYPE_BF16 (the activation types). */
int lc_mixed_type_ok(int dt);
/* "fp16" / "bf16" / "fp32" -> dtype, or -1. */
int lc_mixed_parse(const char *name);
const char *lc_mixed_name(int dt);
/* The activations' layout a tool's --layout names: "channels_last" 1,
 * "nchw" 0, "auto" (or NULL) channels-last for 16-bit activations on a GPU
 * (cuDNN's tensor cores run on it: IR-50 in fp16 on an H200, training
 * 1.13-1.23x and inference 1.28-1.42x the (N, C, H, W) rate over two runs)
 * and (N, C, H, W) otherwise;
 * -1 for another name, -2 for channels-last with float32 (which has none). */
int lc_mixed_layout(const char *name, int on_gpu, int dt);
/* A tool's --layout (NULL: auto) and --channels_last (= --layout
 * channels_last, which --layout auto leaves alone) resolved by
 * lc_mixed_layout: 1 or 0, or -1 with err set to the usage error. */
struct lc_err;
int lc_mixed_layout_opts(const char *layout, int channels_last, int on_gpu, int dt, struct lc_err *err);
/* --layout's help, the same in every tool that takes it */
#define LC_MIXED_LAYOUT_HELP                                                                                    \
    "the backbone's activations: auto (default: channels_last for fp16 or bf16 on a GPU, else nchw), nchw, or "  \
    "channels_last, i.e. (N, H, W, C), the layout cuDNN's tensor cores run on (same results)"

/* y (ydt) = x (xdt), n elements; equal types copy. */
void lc_cast(void *y, int ydt, const void *x, int xdt, size_t n);
/* y += widen(x) */
void lc_cast_add(float *y, const void *x, int xdt, size_t n);
/* g *= inv_scale, and *found_inf = 1 if any element of g was inf or NaN
 * (never cleared here), as PyTorch's _amp_foreach_non_finite_check_and_unscale_. */
void lc_unscale_check(float *g, size_t n, float inv_scale, float *found_inf);

/* Layout changes with a cast: to channels-last, y (n, hw, c) in ydt =
 * x (n, c, hw) in xdt; from channels-last the reverse. Convolution weights
 * (Co, Ci/g, K, K) go to (Co, K, K, Ci/g) as n = Co, c = Ci/g, hw = K*K. */
void lc_cast_to_channels_last(void *y, int ydt, const void *x, int xdt, int n, int c, int hw);
void lc_cast_from_channels_last(void *y, int ydt, const void *x, int xdt, int n, int c, int hw);

/* The dynamic loss scale of torch.cuda.amp.GradScaler: the loss is
 * multiplied by scale before backward; a step whose gradients hold an inf
 * or NaN is skipped and the scale multiplied by backoff; after interval
 * steps in a row without one, the scale is multiplied by growth (kept
 * only if finite). Defaults: 2^16, 2, 0.5, 2000. */
struct lc_loss_scaler {
    float scale, growth, backoff;
    int interval, tracker; /* tracker: good steps in a row */
};
void lc_loss_scaler_init(struct lc_loss_scaler *s, float init_scale);
/* After a step: found_inf says whether its gradients overflowed. */
void lc_loss_scaler_update(struct lc_loss_scaler *s, int found_inf);

/* The CPU reference of the 16-bit ops (the contract above; dt may also be
 * LC_DTYPE_F32, then exactly the float32 op). The ops that take a
 * convolution or linear weight w in dt accumulate its gradient into the
 * float32 dw. Each returns 0 or LC_ENOMEM (widened copies are allocated).
 * Channels-last (conv2d's and bn's p->channels_last, the channels_last
 * argument of the others): the activations are (N, H, W, C) and a
 * convolution's dt weight (Co, K, K, Ci/g); dw stays (Co, Ci/g, K, K), the
 * float32 master's layout. The reference transposes to (N, C, H, W), runs
 * the op and transposes back, so its results are those of the op on the
 * transposed tensors, bit for bit. */
int lc_mixed_conv2d_forward(int dt, void *y, const void *x, const void *w, const struct lc_conv2d *p, float *ws);
int lc_mixed_conv2d_backward(int dt, void *dx, float *dw, const void *dy, const void *x, const void *w,
                             const struct lc_conv2d *p, float *ws);
int lc_mixed_bn_forward_train(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                              const void *x, const float *gamma, const float *beta, const struct lc_bn *p);
int lc_mixed_bn_backward(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                         const float *save_mean, const float *save_invstd, const float *gamma, const struct lc_bn *p);
int lc_mixed_prelu_forward(int dt, void *y, const void *x, const float *a, int n, int c, int hw, int channels_last);
int lc_mixed_prelu_backward(int dt, void *dx, float *da, const void *dy, const void *x, const float *a, int n, int c,
                            int hw, int channels_last);
/* Batch norm (training) then PReLU, fused as the GPU fuses them: z =
 * prelu(y) with y = bn(x) rounded to dt as lc_mixed_bn_forward_train stores
 * it, and y's per-channel a and b in save_ab (bn.h's lc_bn_forward_train_ab)
 * instead of y itself. The backward recomputes y from x and save_ab,
 * PReLU's gradient dy (rounded to dt, as lc_mixed_prelu_backward stores it)
 * and its slope gradient (added to dslope), then batch norm's backward from
 * dy. Bit for bit the unfused ops. */
int lc_mixed_bn_prelu_forward_train(int dt, void *z, float *save_ab, const float *slope, float *save_mean,
                                    float *save_invstd, float *run_mean, float *run_var, const void *x,
                                    const float *gamma, const float *beta, const struct lc_bn *p);
int lc_mixed_bn_prelu_backward(int dt, void *dx, float *dgamma, float *dbeta, float *dslope, const void *dz,
                               const void *x, const float *save_ab, const float *save_mean, const float *save_invstd,
                               const float *gamma, const float *slope, const struct lc_bn *p);
/* Batch norm (training) then the residual's add, fused as the GPU fuses
 * them: y = bn(x), rounded to dt as lc_mixed_bn_forward_train stores it,
 * plus every s-th row and column of r (n, c, rh, rw), as
 * lc_mixed_subsample_add adds it. Bit for bit the unfused ops. */
int lc_mixed_bn_add_forward_train(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean,
                                  float *run_var, const void *x, const float *gamma, const float *beta, const void *r,
                                  int rh, int rw, int s, const struct lc_bn *p);
/* Batch norm's backward with a shortcut's gradient, fused as the GPU
 * fuses them: dx zeroed, dr put back by lc_mixed_subsample_backward, then
 * lc_mixed_bn_backward adding to it (backend.h's
 * lc_op_bn_backward_shortcut_dt). */
int lc_mixed_bn_backward_shortcut(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                                  const float *save_mean, const float *save_invstd, const float *gamma, const void *dr,
                                  int h, int w, int s, const struct lc_bn *p);
int lc_mixed_add(int dt, void *y, const void *a, const void *b, size_t n);
int lc_mixed_subsample_add(int dt, void *y, const void *x, int n, int c, int h, int w, int s, int channels_last);
int lc_mixed_subsample_backward(int dt, void *dx, const void *dy, int n, int c, int h, int w, int s,
                                int channels_last);
int lc_mixed_dropout_apply(int dt, void *y, const void *x, const unsigned char *mask, size_t n, float p);
int lc_mixed_dropout_backward(int dt, void *dx, const void *dy, const unsigned char *mask, size_t n, float p);
/* Inference: y (n, c, hw) = prelu(y + b[c]) in place (a NULL: only the
 * bias), the bias and the ReLU of a folded convolution; and batch norm
 * with running statistics. */
int lc_mixed_bias_prelu(int dt, void *y, const float *b, const float *a, int n, int c, int hw, int channels_last);
/* y = y + b[c] (rounded to dt), then every s-th row and column of r (n, c,
 * rh, rw) added: lc_mixed_bias_prelu then lc_mixed_subsample_add */
int lc_mixed_bias_add(int dt, void *y, const float *b, const void *r, int n, int c, int rh, int rw, int s,
                      int channels_last);
int lc_mixed_bn_forward_eval(int dt, void *y, const void *x, const float *gamma, const float *beta,
                             const float *run_mean, const float *run_var, const struct lc_bn *p);
/* A unit's end then the next unit's first batch norm: lc_mixed_bias_add
 * (y in place; n, c, layout and the output's positions from p) then
 * lc_mixed_bn_forward_eval from y into z */
int lc_mixed_bias_add_bn_eval(int dt, void *y, void *z, const float *b, const void *r, int rh, int rw, int s,
                              const float *gamma, const float *beta, const float *run_mean, const float *run_var,
                              const struct lc_bn *p);
int lc_mixed_linear_forward(int dt, void *y, const void *x, const void *w, const float *b, const struct lc_linear *p);
int lc_mixed_linear_backward(int dt, void *dx, float *dw, float *db, const void *dy, const void *x, const void *w,
                             const struct lc_linear *p);

#endif
