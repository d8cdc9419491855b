/* conv2d: 2-D convolution (PyTorch's nn.Conv2d: cross-correlation, zero
 * padding, groups) on float32 NCHW, forward and backward, plus what makes
 * eval-mode inference fast: batch norm folded into the weights, a fused
 * bias + PReLU + residual epilogue, weights prepared once. Engines: im2col
 * + OpenBLAS SGEMM (1x1 stride-1 convs straight to GEMM), Winograd for
 * 3x3 stride-1 convs with >= 16 channels in and out (F(2x2,3x3) for
 * training's forward and dx; F(4x4,3x3), 4x fewer multiplies than the
 * direct sum, for the inference entry points on planes of 6x6 and up), a
 * direct kernel for depthwise (groups == Ci == Co). */
#ifndef LC_CONV2D_H
#define LC_CONV2D_H

#include <stddef.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shapes: x (N,Ci,H,W)  w (Co,Ci/groups,Kh,Kw)  b (Co)  y (N,Co,Ho,Wo)
 * with Ho = (H + 2 ph - kh) / sh + 1 (floor), Wo likewise. */
struct lc_conv2d {
    int n, ci, h, w, co, kh, kw, sh, sw, ph, pw, groups, bias;
    int ho, wo;
    /* 0: x, y (N,C,H,W) and w (Co,Ci/g,K,K). 1 (the 16-bit device ops only,
     * backend.h): x, y (N,H,W,C) and w (Co,K,K,Ci/g); lc_conv2d_init sets 0 */
    int channels_last;
};

/* Square kernel k, stride and pad; fills every field. bias is 0 or 1 and
 * only records whether the layer has one (forward takes b or NULL either
 * way). Returns 0, or LC_EINVAL (err filled) for non-positive sizes,
 * negative pad, Ci or Co not divisible by groups, an empty output, or a
 * tensor of 2^31 or more elements. */
int lc_conv2d_init(struct lc_conv2d *p, int n, int ci, int h, int w, int co, int k, int stride, int pad,
                   int groups, int bias, struct lc_err *err);

/* Floats of scratch that forward and backward need (0 for depthwise and
 * for 1x1 stride-1 unpadded convs over planes of >= 256 positions; up to
 * 16 Ci Co + 4M for Winograd layers, about 8 MB for the others). It
 * depends on the shape only, not on the thread count (threads split it);
 * one buffer of the largest size serves every layer of a model. */
size_t lc_conv2d_workspace(const struct lc_conv2d *p);

/* y = conv(x, w) + b, as training needs it (the forward that backward
 * mirrors). b may be NULL (no bias). ws: lc_conv2d_workspace(p)
 * floats (may be NULL when that is 0). y is overwritten and must not
 * overlap x. */
void lc_conv2d_forward(float *y, const float *x, const float *w, const float *b, const struct lc_conv2d *p,
                       float *ws);

/* Gradients of forward, accumulated: dx (N,Ci,H,W) += ..., dw (Co,Ci/g,Kh,Kw)
 * += ..., db (Co) += ...; any of them NULL = not needed (skipped). dy is
 * (N,Co,Ho,Wo); x and w as given to forward. Deterministic for a given
 * thread count (each thread owns a set of input channels; db sums planes
 * in double). */
void lc_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const struct lc_conv2d *p, float *ws);

/* lc_conv2d_backward with dx overwritten (dw, db still accumulated): bit
 * for bit what zeroing dx and calling lc_conv2d_backward gives. Winograd
 * layers write dx in their output pass, skipping the zeroing pass and a
 * read; the other paths zero dx and accumulate. */
void lc_conv2d_backward_set(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            const struct lc_conv2d *p, float *ws);

/* Inference with an epilogue fused into the convolution's output pass:
 *   y = prelu(conv(x, w) + b, slope) + res
 * slope (Co) is PReLU's per-channel weight (v < 0 -> slope[c] v); b, slope
 * and res (same shape as y, must not overlap it) may each be NULL. With
 * folded batch norm (lc_conv2d_fold_bn) this runs conv -> BN -> PReLU, or
 * conv -> BN -> + shortcut, in one pass over y. No backward: training
 * uses the separate ops. Winograd layers use F(4x4,3x3) here, so results
 * differ from lc_conv2d_forward's in the last bits (both within 1e-4 of
 * the exact sum). */
void lc_conv2d_forward_fused(float *y, const float *x, const float *w, const float *b, const float *slope,
                             const float *res, const struct lc_conv2d *p, float *ws);

/* Same as lc_conv2d_forward_fused(y, x, w, b, slope, NULL, p, ws). */
void lc_conv2d_forward_prelu(float *y, const float *x, const float *w, const float *b, const float *slope,
                             const struct lc_conv2d *p, float *ws);

/* Inference with the weights transformed once. For 3x3 stride-1 convs the
 * Winograd filter transform (36 Ci Co floats, 4x the weights, for F(4x4);
 * 16 Ci Co on planes under 6x6) then happens once per model instead of once
 * per forward; for other convs the prepared weights are a plain copy.
 * lc_conv2d_prepared_size: floats of pw; lc_conv2d_prepare writes pw
 * (caller-owned) from w (fold batch norm into w first); forward_prepared
 * equals lc_conv2d_forward_fused with w, bit for bit. */
size_t lc_conv2d_prepared_size(const struct lc_conv2d *p);
void lc_conv2d_prepare(float *pw, const float *w, const struct lc_conv2d *p);
void lc_conv2d_forward_prepared(float *y, const float *x, const float *pw, const float *b, const float *slope,
                                const float *res, const struct lc_conv2d *p, float *ws);

/* Fold an eval-mode batch norm that follows the conv into its weights:
 *   s = gamma / sqrt(run_var + eps);  w_out = w * s (per output channel);
 *   b_out = (b - run_mean) * s + beta
 * computed in double. w, w_out (Co,Ci/g,Kh,Kw); b, b_out, gamma, beta,
 * run_mean, run_var (Co). b NULL = no conv bias; gamma/beta NULL = BN
 * without affine. w_out may be w and b_out may be b (in place). */
void lc_conv2d_fold_bn(float *w_out, float *b_out, const float *w, const float *b, const float *gamma,
                       const float *beta, const float *run_mean, const float *run_var, float eps,
                       const struct lc_conv2d *p);

#ifdef __cplusplus
}
#endif
#endif
