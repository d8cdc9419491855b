#include "dropout.h"

#include <string.h>

uint64_t lc_dropout_key(float p, struct lc_rng *rng) { return p <= 0.0f ? 0 : lc_rng_u64(rng); }

void lc_dropout_mask_keyed(uint8_t *mask, size_t n, float p, uint64_t key)
{
    if (p <= 0.0f) {
        memset(mask, 1, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) mask[i] = lc_dropout_uniform(key, i) >= p;
}

void lc_dropout_mask(uint8_t *mask, size_t n, float p, struct lc_rng *rng)
{
    lc_dropout_mask_keyed(mask, n, p, lc_dropout_key(p, rng));
}

void lc_dropout_apply(float *y, const float *x, const uint8_t *mask, size_t n, float p)
{
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = mask[i] ? (p <= 0.0f ? x[i] : x[i] * keep) : 0.0f;
}

void lc_dropout_forward(float *y, uint8_t *mask, const float *x, size_t n, float p, struct lc_rng *rng)
{
    lc_dropout_mask(mask, n, p, rng);
    lc_dropout_apply(y, x, mask, n, p);
}

void lc_dropout_backward(float *dx, const float *dy, const uint8_t *mask, size_t n, float p)
{
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        if (mask[i]) dx[i] += dy[i] * keep;
}
