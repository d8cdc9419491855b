/* pool: 2-D max pooling (with the argmax saved for backward), average
 * pooling and global average pooling on float32 NCHW, as PyTorch's
 * max_pool2d / avg_pool2d (count_include_pad=True, ceil_mode=False, its
 * defaults) / adaptive_avg_pool2d(1) compute them. One plane per thread. */
#ifndef LC_POOL_H
#define LC_POOL_H

#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x (N,C,H,W) -> y (N,C,Ho,Wo), Ho = (H + 2 pad - k) / s + 1 (floor). */
struct lc_pool2d {
    int n, c, h, w, k, s, pad;
    int ho, wo;
};

/* Square window k, stride and padding pad with pad <= k/2 (PyTorch's
 * rule, so every window holds an input element). Returns 0 or LC_EINVAL. */
int lc_pool2d_init(struct lc_pool2d *p, int n, int c, int h, int w, int k, int stride, int pad,
                   struct lc_err *err);

/* Max over each window (padding never wins; a NaN wins, the last one, as
 * in PyTorch).
 * argmax (N,C,Ho,Wo), caller-owned: flat index ih*W + iw of the winner in
 * its input plane (PyTorch's return_indices); the first maximum on ties. */
void lc_maxpool2d_forward(float *y, int32_t *argmax, const float *x, const struct lc_pool2d *p);
/* dx[plane][argmax] += dy. */
void lc_maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax, const struct lc_pool2d *p);

/* Mean over each window, padding counted as zeros (divisor k*k). */
void lc_avgpool2d_forward(float *y, const float *x, const struct lc_pool2d *p);
/* dx += dy / (k*k) over each window's in-bounds elements. */
void lc_avgpool2d_backward(float *dx, const float *dy, const struct lc_pool2d *p);

/* Global average pool: x (N,C,hw) -> y (N,C), mean in double. */
void lc_gap_forward(float *y, const float *x, int n, int c, int hw);
/* dx (N,C,hw) += dy (N,C) / hw. */
void lc_gap_backward(float *dx, const float *dy, int n, int c, int hw);

#ifdef __cplusplus
}
#endif
#endif
