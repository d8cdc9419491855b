/* normalize: CPU reference of u8 HWC -> f32 CHW normalisation. A 256-entry
 * table per channel computes the exact float expression once per value. */
#include "normalize.h"

#include <stddef.h>

void lc_normalize_init_reference(struct lc_normalize *p, int n, int h, int w, int c)
{
    p->n = n;
    p->h = h;
    p->w = w;
    p->c = c;
    for (int k = 0; k < LC_NORMALIZE_MAX_C; k++) {
        p->mean[k] = 0.5f;
        p->std[k] = 0.5f;
    }
    p->reverse_channels = 0;
}

void lc_normalize_u8_forward(float *y, const uint8_t *x, const struct lc_normalize *p)
{
    float lut[LC_NORMALIZE_MAX_C][256];
    for (int k = 0; k < p->c; k++)
        for (int v = 0; v < 256; v++) lut[k][v] = ((float)v / 255.0f - p->mean[k]) / p->std[k];
    size_t plane = (size_t)p->h * p->w;
    for (int n = 0; n < p->n; n++) {
        const uint8_t *xi = x + (size_t)n * plane * p->c;
        float *yi = y + (size_t)n * plane * p->c;
        for (int k = 0; k < p->c; k++) {
            int src = p->reverse_channels ? p->c - 1 - k : k;
            const float *t = lut[k];
            float *yo = yi + (size_t)k * plane;
            for (size_t i = 0; i < plane; i++) yo[i] = t[xi[i * p->c + src]];
        }
    }
}
