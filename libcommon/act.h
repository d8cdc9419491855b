/* act: elementwise activations, forward and backward (docs/nn.md). y may
 * equal x; backward accumulates into dx. PReLU's slope is per channel
 * (a has C entries) on x (N, C, HW), or shared: c == 1 with hw = C*H*W. GELU is the exact
 * (erf) form, PyTorch's default. */
#ifndef LC_ACT_H
#define LC_ACT_H

#include <stddef.h>

void lc_relu_forward(float *y, const float *x, size_t n);
/* uses the output y (y > 0 where x > 0) */
void lc_relu_backward(float *dx, const float *dy, const float *y, size_t n);

void lc_prelu_forward(float *y, const float *x, const float *a, int n, int c, int hw);
/* dx += dy * (x > 0 ? 1 : a); da += sum dy * x over x <= 0 */
void lc_prelu_backward(float *dx, float *da, const float *dy, const float *x, const float *a, int n, int c, int hw);
/* dx = ... (overwritten; da still accumulated): bit for bit what zeroing dx
 * and calling lc_prelu_backward gives, with one pass over dx fewer */
void lc_prelu_backward_set(float *dx, float *da, const float *dy, const float *x, const float *a, int n, int c, int hw);

void lc_gelu_forward(float *y, const float *x, size_t n);
void lc_gelu_backward(float *dx, const float *dy, const float *x, size_t n);

void lc_sigmoid_forward(float *y, const float *x, size_t n);
/* uses the output y */
void lc_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n);

#endif
