/* dropout: inverted dropout as nn.Dropout in training mode. Each element is
 * kept with probability 1 - p (mask 1) and scaled by 1 / (1 - p). The mask
 * comes from the caller's lc_rng, so a seeded run repeats exactly (it does
 * not reproduce PyTorch's random stream). In evaluation dropout is the
 * identity; callers skip it. */
#ifndef LC_DROPOUT_H
#define LC_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* y may equal x; mask (n) is saved for backward. p in [0, 1). */
void lc_dropout_forward(float *y, uint8_t *mask, const float *x, size_t n, float p, struct lc_rng *rng);
/* dx += dy * mask / (1 - p) */
void lc_dropout_backward(float *dx, const float *dy, const uint8_t *mask, size_t n, float p);

#endif
