#include "dropout.h"

void lc_dropout_forward(float *y, uint8_t *mask, const float *x, size_t n, float p, struct lc_rng *rng)
{
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++) mask[i] = 1, y[i] = x[i];
        return;
    }
    const float keep = 1.0f / (1.0f - p);
    /* serial: the mask is a function of the rng state alone, whatever the
     * thread count */
    for (size_t i = 0; i < n; i++) {
        mask[i] = lc_rng_uniform(rng) >= p;
        y[i] = mask[i] ? x[i] * keep : 0.0f;
    }
}

void lc_dropout_backward(float *dx, const float *dy, const uint8_t *mask, size_t n, float p)
{
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        if (mask[i]) dx[i] += dy[i] * keep;
}
