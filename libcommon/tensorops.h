/* tensorops: structure and simple arithmetic on NCHW (or outer/dim/inner)
 * tensors, forward and backward. Flatten is a no-op on contiguous tensors
 * (the (N,C,H,W) buffer is the (N,C*H*W) one) and has no function.
 *
 * Broadcasts: a tensor viewed as (outer, dim, inner). lc_mul_bcast
 * multiplies x by s, where s spans either (outer, dim) (s_over = 0: one
 * value per row, broadcast over inner) or (outer, inner) (s_over = 1: one
 * vector per outer, broadcast over dim). SwiftFormer's efficient additive
 * attention: query weights (tokens) x query, summed over tokens
 * (lc_sum_dim), then the global query broadcast over the keys' tokens. */
#ifndef LC_TENSOROPS_H
#define LC_TENSOROPS_H

#include <stddef.h>
#include <stdint.h>

/* y = a + b; y may equal a or b. Backward: both gradients are dy. */
void lc_add_forward(float *y, const float *a, const float *b, size_t n);
/* y = a * b (elementwise); backward da += dy b, db += dy a */
void lc_mul_forward(float *y, const float *a, const float *b, size_t n);
void lc_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b, size_t n);
/* y = s * x */
void lc_scale_forward(float *y, const float *x, float s, size_t n);

/* MaxPool2d(kernel 1, stride s), added into y: y (n, c, (h-1)/s+1,
 * (w-1)/s+1) += x[:, :, ::s, ::s] (the IR shortcut when channels match).
 * Backward scatters dy back to the same positions. */
void lc_subsample_add(float *y, const float *x, int n, int c, int h, int w, int s);
/* dx (n, c, h, w) += dy scattered back to the subsampled positions */
void lc_subsample_backward(float *dx, const float *dy, int n, int c, int h, int w, int s);

/* Rows of x (n, d) to unit length: norm[i] = ||x_i|| (summed in double),
 * y_i = x_i / norm[i] (no epsilon: the reference's l2_norm divides by the
 * norm as it is). y may equal x. */
void lc_l2norm_rows(float *y, float *norm, const float *x, int n, int d);
/* Its backward from y and norm as forward left them: for upstream dy (n, d)
 * and dnorm (n) (NULL: zero), dx = (dy - y <dy, y>) / norm + dnorm y.
 * Writes dx (not accumulated); the dot product runs in double. */
void lc_l2norm_rows_backward(float *dx, const float *dy, const float *dnorm, const float *y, const float *norm, int n,
                             int d);

/* idx[i] = the first index of the largest value of row i of x (n, c). */
void lc_argmax_rows(int32_t *idx, const float *x, int n, int c);

/* concatenate k tensors (n, cs[i], hw) along C into y (n, sum cs, hw) */
void lc_concat_forward(float *y, const float *const *xs, const int *cs, int k, int n, int hw);
void lc_concat_backward(float *const *dxs, const float *dy, const int *cs, int k, int n, int hw);

/* (N, C*r*r, H, W) -> (N, C, H*r, W*r), PyTorch's PixelShuffle */
void lc_pixel_shuffle_forward(float *y, const float *x, int n, int c, int h, int w, int r);
void lc_pixel_shuffle_backward(float *dx, const float *dy, int n, int c, int h, int w, int r);

void lc_mul_bcast_forward(float *y, const float *x, const float *s, int outer, int dim, int inner, int s_over);
void lc_mul_bcast_backward(float *dx, float *ds, const float *dy, const float *x, const float *s, int outer, int dim,
                           int inner, int s_over);
/* y (outer, inner) = sum over dim of x (outer, dim, inner) */
void lc_sum_dim_forward(float *y, const float *x, int outer, int dim, int inner);
void lc_sum_dim_backward(float *dx, const float *dy, int outer, int dim, int inner);

/* F.normalize(x, dim): y = x / max(||x||, eps) along dim; norm (outer,
 * inner) saved for backward. */
void lc_l2norm_forward(float *y, float *norm, const float *x, int outer, int dim, int inner, float eps);
void lc_l2norm_backward(float *dx, const float *dy, const float *y, const float *norm, int outer, int dim, int inner,
                        float eps);

#endif
