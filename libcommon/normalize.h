/* normalize: u8 images to the float tensors networks take.
 * (N,H,W,C) u8 in the stream's channel order -> (N,C,H,W) f32 with
 * y = (x/255 - mean[c]) / std[c], computed in that order in float so the
 * result is bit-identical to torchvision's ToTensor + Normalize. The
 * reference's setting is mean = std = 0.5 (values in [-1, 1]), BGR kept. */
#ifndef LC_NORMALIZE_H
#define LC_NORMALIZE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LC_NORMALIZE_MAX_C 4

struct lc_normalize {
    int n, h, w, c;                  /* c <= LC_NORMALIZE_MAX_C */
    float mean[LC_NORMALIZE_MAX_C];
    float std[LC_NORMALIZE_MAX_C];
    int reverse_channels;            /* 1: output channel k = input C-1-k (BGR<->RGB) */
};

/* The reference's normalisation: mean = std = 0.5 for every channel. */
void lc_normalize_init_reference(struct lc_normalize *p, int n, int h, int w, int c);

/* x (N,H,W,C) u8 -> y (N,C,H,W) f32. CPU reference. */
void lc_normalize_u8_forward(float *y, const uint8_t *x, const struct lc_normalize *p);

#ifdef __cplusplus
}
#endif
#endif
