#include "resize.h"

#include <math.h>
#include <stddef.h>

/* ATen's nearest_idx: identity and exact 2x upsampling are special-cased;
 * otherwise floor(dst * (float)in / out), clamped. */
static int nearest_src(int dst, int in, int out)
{
    if (in == out) return dst;
    if (out == 2 * in) return dst >> 1;
    float scale = (float)in / (float)out;
    int s = (int)floorf((float)dst * scale);
    return s < in - 1 ? s : in - 1;
}

/* ATen's linear source index with align_corners = False: src = scale *
 * (dst + 0.5) - 0.5, negative clamped to 0; i1 is i0 + 1 except at the
 * border, l1 the weight of i1. */
struct lin_tap {
    int i0, i1;
    float l0, l1;
};

static struct lin_tap linear_src(int dst, int in, int out)
{
    float scale = (float)in / (float)out;
    float src = scale * ((float)dst + 0.5f) - 0.5f;
    if (src < 0) src = 0;
    int i0 = (int)floorf(src);
    if (i0 > in - 1) i0 = in - 1;
    float l1 = src - (float)i0;
    if (l1 < 0) l1 = 0;
    if (l1 > 1) l1 = 1;
    struct lin_tap t = {i0, i0 + (i0 < in - 1), 1.0f - l1, l1};
    return t;
}

void lc_resize_bilinear_forward(float *y, const float *x, int nc, int h, int w, int ho, int wo)
{
#pragma omp parallel for schedule(static)
    for (int p = 0; p < nc; p++) {
        const float *xp = x + (size_t)p * h * w;
        float *yp = y + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            struct lin_tap ty = linear_src(oy, h, ho);
            const float *r0 = xp + (size_t)ty.i0 * w, *r1 = xp + (size_t)ty.i1 * w;
            for (int ox = 0; ox < wo; ox++) {
                struct lin_tap tx = linear_src(ox, w, wo);
                yp[(size_t)oy * wo + ox] =
                    ty.l0 * (tx.l0 * r0[tx.i0] + tx.l1 * r0[tx.i1]) + ty.l1 * (tx.l0 * r1[tx.i0] + tx.l1 * r1[tx.i1]);
            }
        }
    }
}

void lc_resize_bilinear_backward(float *dx, const float *dy, int nc, int h, int w, int ho, int wo)
{
    /* planes are independent: parallel over planes, serial scatter within */
#pragma omp parallel for schedule(static)
    for (int p = 0; p < nc; p++) {
        float *dp = dx + (size_t)p * h * w;
        const float *gp = dy + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            struct lin_tap ty = linear_src(oy, h, ho);
            float *r0 = dp + (size_t)ty.i0 * w, *r1 = dp + (size_t)ty.i1 * w;
            for (int ox = 0; ox < wo; ox++) {
                struct lin_tap tx = linear_src(ox, w, wo);
                float g = gp[(size_t)oy * wo + ox];
                r0[tx.i0] += ty.l0 * tx.l0 * g;
                r0[tx.i1] += ty.l0 * tx.l1 * g;
                r1[tx.i0] += ty.l1 * tx.l0 * g;
                r1[tx.i1] += ty.l1 * tx.l1 * g;
            }
        }
    }
}

void lc_resize_nearest_forward(float *y, const float *x, int nc, int h, int w, int ho, int wo)
{
#pragma omp parallel for schedule(static)
    for (int p = 0; p < nc; p++) {
        const float *xp = x + (size_t)p * h * w;
        float *yp = y + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            const float *r = xp + (size_t)nearest_src(oy, h, ho) * w;
            for (int ox = 0; ox < wo; ox++) yp[(size_t)oy * wo + ox] = r[nearest_src(ox, w, wo)];
        }
    }
}

void lc_resize_nearest_backward(float *dx, const float *dy, int nc, int h, int w, int ho, int wo)
{
#pragma omp parallel for schedule(static)
    for (int p = 0; p < nc; p++) {
        float *dp = dx + (size_t)p * h * w;
        const float *gp = dy + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            float *r = dp + (size_t)nearest_src(oy, h, ho) * w;
            for (int ox = 0; ox < wo; ox++) r[nearest_src(ox, w, wo)] += gp[(size_t)oy * wo + ox];
        }
    }
}

void lc_resize_nearest_u8(uint8_t *y, const uint8_t *x, int nc, int h, int w, int ho, int wo)
{
    for (int p = 0; p < nc; p++) {
        const uint8_t *xp = x + (size_t)p * h * w;
        uint8_t *yp = y + (size_t)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            const uint8_t *r = xp + (size_t)nearest_src(oy, h, ho) * w;
            for (int ox = 0; ox < wo; ox++) yp[(size_t)oy * wo + ox] = r[nearest_src(ox, w, wo)];
        }
    }
}
