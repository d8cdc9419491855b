/* linear: fully connected layer y = x W^T + b (PyTorch's nn.Linear, W
 * stored (Out, In)) on float32, forward and backward, as GEMMs split over
 * OpenMP threads (blas.h). */
#ifndef LC_LINEAR_H
#define LC_LINEAR_H

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x (N,In)  w (Out,In)  b (Out)  y (N,Out) */
struct lc_linear {
    int n, in, out, bias;
};

/* Sizes >= 1, bias 0 or 1 (a record only: forward takes b or NULL).
 * Returns 0 or LC_EINVAL (err filled). */
int lc_linear_init(struct lc_linear *p, int n, int in, int out, int bias, struct lc_err *err);

/* y = x W^T + b; b may be NULL. y is overwritten and must not overlap x. */
void lc_linear_forward(float *y, const float *x, const float *w, const float *b, const struct lc_linear *p);

/* dx (N,In) += dy W; dw (Out,In) += dy^T x; db (Out) += column sums of dy
 * (in double). Any of them NULL = not needed. */
void lc_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const struct lc_linear *p);

#ifdef __cplusplus
}
#endif
#endif
