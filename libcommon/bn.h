/* bn: batch normalisation over (N,C) (BatchNorm1d, hw = 1) and (N,C,H,W)
 * (BatchNorm2d, hw = H*W), float32, training and eval, with PyTorch's
 * running-statistics update. Statistics are accumulated in double, one
 * channel per thread, so results do not depend on the thread count. */
#ifndef LC_BN_H
#define LC_BN_H

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x, y, dx, dy: (N, C, hw) contiguous. gamma, beta, means, variances: (C). */
struct lc_bn {
    int n, c, hw;
    float eps, momentum;
    int affine;
    /* 0: x (N,C,hw); 1 (the 16-bit device ops only, backend.h): x (N,hw,C); lc_bn_init sets 0 */
    int channels_last;
};

/* eps >= 0 (PyTorch: 1e-5), 0 <= momentum <= 1 (PyTorch: 0.1; its
 * momentum=None cumulative average is not offered), affine 0 or 1.
 * Returns 0 or LC_EINVAL (err filled). */
int lc_bn_init(struct lc_bn *p, int n, int c, int hw, float eps, float momentum, int affine, struct lc_err *err);

/* Training: normalise with the batch mean and biased variance,
 *   y = (x - mean) / sqrt(var + eps) * gamma + beta,
 * write save_mean and save_invstd = 1/sqrt(var + eps) (C each, needed by
 * backward), and, when run_mean/run_var are not NULL, update them in place
 * as PyTorch does: run = (1 - momentum) run + momentum stat, with the
 * UNBIASED batch variance var * M/(M-1), M = N*hw. (PyTorch refuses M == 1
 * in training; here the update then uses the biased variance.) gamma/beta
 * are read only when affine (may be NULL otherwise). y may equal x. */
void lc_bn_forward_train(float *y, float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                         const float *x, const float *gamma, const float *beta, const struct lc_bn *p);
/* The same, and z = PReLU(y) with per-channel slopes in the same pass
 * (y is kept: PReLU's backward reads it): bit-identical to
 * lc_bn_forward_train then lc_prelu_forward, one read of y fewer. */
void lc_bn_forward_train_prelu(float *y, float *z, const float *slope, float *save_mean, float *save_invstd,
                               float *run_mean, float *run_var, const float *x, const float *gamma, const float *beta,
                               const struct lc_bn *p);

/* lc_bn_forward_train that also keeps y = x a + b's per-channel a and b
 * (save_ab: 2C floats, a then b for each channel), from which
 * lc_bn_apply_ab recomputes y bit for bit: a backward that needs y need
 * not keep it. */
void lc_bn_forward_train_ab(float *y, float *save_ab, float *save_mean, float *save_invstd, float *run_mean,
                            float *run_var, const float *x, const float *gamma, const float *beta, const struct lc_bn *p);
/* y = x a + b per channel with save_ab's a and b (lc_bn_forward_train_ab). y may equal x. */
void lc_bn_apply_ab(float *y, const float *x, const float *save_ab, const struct lc_bn *p);
/* Eval: y = (x - run_mean) / sqrt(run_var + eps) * gamma + beta. y may equal x. */
void lc_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta, const float *run_mean,
                        const float *run_var, const struct lc_bn *p);

/* Backward of lc_bn_forward_train (batch statistics; gradients flow through
 * mean and variance). Accumulates dx += ..., dgamma += sum dy*xhat, dbeta
 * += sum dy; any of them NULL = not needed (dgamma/dbeta are never touched
 * when !affine). x, save_mean, save_invstd as forward used/wrote them. */
void lc_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *save_mean,
                    const float *save_invstd, const float *gamma, const struct lc_bn *p);

/* lc_bn_backward with dx overwritten (dgamma, dbeta still accumulated):
 * bit for bit what zeroing dx and calling lc_bn_backward gives, with one
 * pass over dx fewer. */
void lc_bn_backward_set(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *save_mean, const float *save_invstd, const float *gamma, const struct lc_bn *p);

#ifdef __cplusplus
}
#endif
#endif
