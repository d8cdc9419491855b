/* pool: max, average and global average pooling (see pool.h). Planes are
 * independent, so each is one unit of static OpenMP work and backward
 * scatters stay inside the plane a thread owns (deterministic). */
#include "pool.h"

#include <math.h>
#include <string.h>

int lc_pool2d_init(struct lc_pool2d *p, int n, int c, int h, int w, int k, int stride, int pad, struct lc_err *err)
{
    memset(p, 0, sizeof *p);
    if (n < 1 || c < 1 || h < 1 || w < 1 || k < 1 || stride < 1 || pad < 0)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "pool2d: bad sizes n=%d c=%d h=%d w=%d k=%d stride=%d pad=%d",
                       n, c, h, w, k, stride, pad);
    if (pad > k / 2)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "pool2d: pad %d must be at most half the kernel %d", pad, k);
    if ((long)h + 2L * pad < k || (long)w + 2L * pad < k)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "pool2d: kernel %d larger than padded input", k);
    if ((double)n * c * h * w >= 2147483648.0)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "pool2d: tensor of 2^31 elements or more");
    *p = (struct lc_pool2d){.n = n, .c = c, .h = h, .w = w, .k = k, .s = stride, .pad = pad,
                            .ho = (h + 2 * pad - k) / stride + 1, .wo = (w + 2 * pad - k) / stride + 1};
    return 0;
}

/* the in-bounds part [lo, hi) of the window starting at o*s - pad */
static inline void window(int o, int s, int pad, int k, int size, int *lo, int *hi)
{
    int a = o * s - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > size ? size : b;
}

void lc_maxpool2d_forward(float *y, int32_t *argmax, const float *x, const struct lc_pool2d *p)
{
    long planes = (long)p->n * p->c;
    size_t hwi = (size_t)p->h * p->w, hwo = (size_t)p->ho * p->wo;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * hwi;
        float *yp = y + (size_t)pl * hwo;
        int32_t *ap = argmax + (size_t)pl * hwo;
        for (int oh = 0; oh < p->ho; oh++) {
            int h0, h1;
            window(oh, p->s, p->pad, p->k, p->h, &h0, &h1);
            for (int ow = 0; ow < p->wo; ow++) {
                int w0, w1;
                window(ow, p->s, p->pad, p->k, p->w, &w0, &w1);
                float best = -INFINITY;
                int32_t at = h0 * p->w + w0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        float v = xp[(size_t)ih * p->w + iw];
                        if (v > best || isnan(v)) { /* PyTorch's test: the last NaN wins */
                            best = v;
                            at = ih * p->w + iw;
                        }
                    }
                yp[(size_t)oh * p->wo + ow] = best;
                ap[(size_t)oh * p->wo + ow] = at;
            }
        }
    }
}

void lc_maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax, const struct lc_pool2d *p)
{
    long planes = (long)p->n * p->c;
    size_t hwi = (size_t)p->h * p->w, hwo = (size_t)p->ho * p->wo;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        float *dxp = dx + (size_t)pl * hwi;
        const float *dyp = dy + (size_t)pl * hwo;
        const int32_t *ap = argmax + (size_t)pl * hwo;
        for (size_t i = 0; i < hwo; i++) dxp[ap[i]] += dyp[i];
    }
}

void lc_avgpool2d_forward(float *y, const float *x, const struct lc_pool2d *p)
{
    long planes = (long)p->n * p->c;
    size_t hwi = (size_t)p->h * p->w, hwo = (size_t)p->ho * p->wo;
    float inv = 1.0f / (float)(p->k * p->k);
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * hwi;
        float *yp = y + (size_t)pl * hwo;
        for (int oh = 0; oh < p->ho; oh++) {
            int h0, h1;
            window(oh, p->s, p->pad, p->k, p->h, &h0, &h1);
            for (int ow = 0; ow < p->wo; ow++) {
                int w0, w1;
                window(ow, p->s, p->pad, p->k, p->w, &w0, &w1);
                float s = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) s += xp[(size_t)ih * p->w + iw];
                yp[(size_t)oh * p->wo + ow] = s * inv;
            }
        }
    }
}

void lc_avgpool2d_backward(float *dx, const float *dy, const struct lc_pool2d *p)
{
    long planes = (long)p->n * p->c;
    size_t hwi = (size_t)p->h * p->w, hwo = (size_t)p->ho * p->wo;
    float inv = 1.0f / (float)(p->k * p->k);
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        float *dxp = dx + (size_t)pl * hwi;
        const float *dyp = dy + (size_t)pl * hwo;
        for (int oh = 0; oh < p->ho; oh++) {
            int h0, h1;
            window(oh, p->s, p->pad, p->k, p->h, &h0, &h1);
            for (int ow = 0; ow < p->wo; ow++) {
                int w0, w1;
                window(ow, p->s, p->pad, p->k, p->w, &w0, &w1);
                float g = dyp[(size_t)oh * p->wo + ow] * inv;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dxp[(size_t)ih * p->w + iw] += g;
            }
        }
    }
}

void lc_gap_forward(float *y, const float *x, int n, int c, int hw)
{
    long planes = (long)n * c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * hw;
        double s = 0;
        for (int i = 0; i < hw; i++) s += xp[i];
        y[pl] = (float)(s / hw);
    }
}

void lc_gap_backward(float *dx, const float *dy, int n, int c, int hw)
{
    long planes = (long)n * c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        float *dxp = dx + (size_t)pl * hw, g = dy[pl] / (float)hw;
        for (int i = 0; i < hw; i++) dxp[i] += g;
    }
}
