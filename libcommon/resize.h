/* resize: F.interpolate on NCHW float tensors, bilinear (align_corners =
 * False, antialias = False) and nearest ('nearest', PyTorch's legacy
 * floor(dst * in/out) rule, not 'nearest-exact'), with output sizes given
 * (no scale_factor). Index and weight arithmetic is float32, as in ATen's
 * CPU kernels, so the same source pixels and weights are chosen.
 * segment-cache uses bilinear 112 -> 128 on the image and nearest
 * 128 -> 112 on the region maps; lc_resize_nearest_u8 does the latter on a
 * label map directly (nearest commutes with one-hot). */
#ifndef LC_RESIZE_H
#define LC_RESIZE_H

#include <stdint.h>

/* x (nc, h, w) -> y (nc, ho, wo); nc = N * C planes */
void lc_resize_bilinear_forward(float *y, const float *x, int nc, int h, int w, int ho, int wo);
/* dx (nc, h, w) += adjoint of the forward applied to dy (nc, ho, wo) */
void lc_resize_bilinear_backward(float *dx, const float *dy, int nc, int h, int w, int ho, int wo);

void lc_resize_nearest_forward(float *y, const float *x, int nc, int h, int w, int ho, int wo);
void lc_resize_nearest_backward(float *dx, const float *dy, int nc, int h, int w, int ho, int wo);
void lc_resize_nearest_u8(uint8_t *y, const uint8_t *x, int nc, int h, int w, int ho, int wo);

#endif
