/* tensorops: add, mul, concat, pixel shuffle, broadcasts, sums and L2
 * normalisation along a dimension. Sums along a dimension accumulate in
 * double in index order. */
#include "tensorops.h"

#include <math.h>
#include <string.h>

void lc_add_forward(float *y, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void lc_subsample_add(float *y, const float *x, int n, int c, int h, int w, int s)
{
    int ho = (h - 1) / s + 1, wo = (w - 1) / s + 1;
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)n * c; nc++)
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++)
                y[(size_t)nc * ho * wo + (size_t)i * wo + j] += x[(size_t)nc * h * w + (size_t)i * s * w + (size_t)j * s];
}

void lc_subsample_backward(float *dx, const float *dy, int n, int c, int h, int w, int s)
{
    int ho = (h - 1) / s + 1, wo = (w - 1) / s + 1;
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)n * c; nc++)
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++)
                dx[(size_t)nc * h * w + (size_t)i * s * w + (size_t)j * s] += dy[(size_t)nc * ho * wo + (size_t)i * wo + j];
}

void lc_l2norm_rows_backward(float *dx, const float *dy, const float *dnorm, const float *y, const float *norm, int n,
                             int d)
{
    for (int i = 0; i < n; i++) {
        const float *e = y + (size_t)i * d, *de = dy + (size_t)i * d;
        double dot = 0;
        for (int k = 0; k < d; k++) dot += (double)de[k] * e[k];
        float inv = 1.0f / norm[i], dn = dnorm ? dnorm[i] : 0.0f;
        for (int k = 0; k < d; k++) dx[(size_t)i * d + k] = (de[k] - e[k] * (float)dot) * inv + dn * e[k];
    }
}

void lc_argmax_rows(int32_t *idx, const float *x, int n, int c)
{
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * c;
        int best = 0;
        for (int k = 1; k < c; k++)
            if (r[k] > r[best]) best = k;
        idx[i] = best;
    }
}

void lc_l2norm_rows(float *y, float *norm, const float *x, int n, int d)
{
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        double ss = 0;
        for (int k = 0; k < d; k++) ss += (double)r[k] * r[k];
        float nm = (float)sqrt(ss);
        norm[i] = nm;
        for (int k = 0; k < d; k++) y[(size_t)i * d + k] = r[k] / nm;
    }
}

void lc_mul_forward(float *y, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void lc_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dy[i] * b[i];
        if (db) db[i] += dy[i] * a[i];
    }
}

void lc_scale_forward(float *y, const float *x, float s, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = s * x[i];
}

void lc_concat_forward(float *y, const float *const *xs, const int *cs, int k, int n, int hw)
{
    int total = 0;
    for (int j = 0; j < k; j++) total += cs[j];
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        size_t at = (size_t)i * total * hw;
        for (int j = 0; j < k; j++) {
            size_t len = (size_t)cs[j] * hw;
            memcpy(y + at, xs[j] + (size_t)i * len, len * sizeof *y);
            at += len;
        }
    }
}

void lc_concat_backward(float *const *dxs, const float *dy, const int *cs, int k, int n, int hw)
{
    int total = 0;
    for (int j = 0; j < k; j++) total += cs[j];
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        size_t at = (size_t)i * total * hw;
        for (int j = 0; j < k; j++) {
            size_t len = (size_t)cs[j] * hw;
            if (dxs[j]) {
                float *d = dxs[j] + (size_t)i * len;
                for (size_t p = 0; p < len; p++) d[p] += dy[at + p];
            }
            at += len;
        }
    }
}

/* y[n][c][h*r+i][w*r+j] = x[n][c*r*r + i*r + j][h][w] */
void lc_pixel_shuffle_forward(float *y, const float *x, int n, int c, int h, int w, int r)
{
    int ho = h * r, wo = w * r;
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < n; b++)
        for (int k = 0; k < c; k++)
            for (int yy = 0; yy < ho; yy++)
                for (int xx = 0; xx < wo; xx++) {
                    int ci = k * r * r + (yy % r) * r + xx % r;
                    y[(((size_t)b * c + k) * ho + yy) * wo + xx] = x[(((size_t)b * c * r * r + ci) * h + yy / r) * w + xx / r];
                }
}

void lc_pixel_shuffle_backward(float *dx, const float *dy, int n, int c, int h, int w, int r)
{
    int ho = h * r, wo = w * r;
#pragma omp parallel for schedule(static) collapse(2)
    for (int b = 0; b < n; b++)
        for (int k = 0; k < c; k++)
            for (int yy = 0; yy < ho; yy++)
                for (int xx = 0; xx < wo; xx++) {
                    int ci = k * r * r + (yy % r) * r + xx % r;
                    dx[(((size_t)b * c * r * r + ci) * h + yy / r) * w + xx / r] += dy[(((size_t)b * c + k) * ho + yy) * wo + xx];
                }
}

static float sval(const float *s, int o, int d, int i, int dim, int inner, int s_over)
{
    return s_over ? s[(size_t)o * inner + i] : s[(size_t)o * dim + d];
}

void lc_mul_bcast_forward(float *y, const float *x, const float *s, int outer, int dim, int inner, int s_over)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int o = 0; o < outer; o++)
        for (int d = 0; d < dim; d++)
            for (int i = 0; i < inner; i++) {
                size_t at = ((size_t)o * dim + d) * inner + i;
                y[at] = x[at] * sval(s, o, d, i, dim, inner, s_over);
            }
}

void lc_mul_bcast_backward(float *dx, float *ds, const float *dy, const float *x, const float *s, int outer, int dim,
                           int inner, int s_over)
{
    if (dx) {
#pragma omp parallel for schedule(static) collapse(2)
        for (int o = 0; o < outer; o++)
            for (int d = 0; d < dim; d++)
                for (int i = 0; i < inner; i++) {
                    size_t at = ((size_t)o * dim + d) * inner + i;
                    dx[at] += dy[at] * sval(s, o, d, i, dim, inner, s_over);
                }
    }
    if (!ds) return;
    if (!s_over) { /* ds (outer, dim) = sum over inner */
#pragma omp parallel for schedule(static) collapse(2)
        for (int o = 0; o < outer; o++)
            for (int d = 0; d < dim; d++) {
                double acc = 0;
                for (int i = 0; i < inner; i++) {
                    size_t at = ((size_t)o * dim + d) * inner + i;
                    acc += (double)dy[at] * x[at];
                }
                ds[(size_t)o * dim + d] += (float)acc;
            }
    } else { /* ds (outer, inner) = sum over dim */
#pragma omp parallel for schedule(static) collapse(2)
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++) {
                double acc = 0;
                for (int d = 0; d < dim; d++) {
                    size_t at = ((size_t)o * dim + d) * inner + i;
                    acc += (double)dy[at] * x[at];
                }
                ds[(size_t)o * inner + i] += (float)acc;
            }
    }
}

void lc_sum_dim_forward(float *y, const float *x, int outer, int dim, int inner)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            double acc = 0;
            for (int d = 0; d < dim; d++) acc += x[((size_t)o * dim + d) * inner + i];
            y[(size_t)o * inner + i] = (float)acc;
        }
}

void lc_sum_dim_backward(float *dx, const float *dy, int outer, int dim, int inner)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int o = 0; o < outer; o++)
        for (int d = 0; d < dim; d++)
            for (int i = 0; i < inner; i++) dx[((size_t)o * dim + d) * inner + i] += dy[(size_t)o * inner + i];
}

void lc_l2norm_forward(float *y, float *norm, const float *x, int outer, int dim, int inner, float eps)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            double ss = 0;
            for (int d = 0; d < dim; d++) {
                float v = x[((size_t)o * dim + d) * inner + i];
                ss += (double)v * v;
            }
            float nrm = (float)sqrt(ss), den = nrm > eps ? nrm : eps;
            norm[(size_t)o * inner + i] = nrm;
            for (int d = 0; d < dim; d++) {
                size_t at = ((size_t)o * dim + d) * inner + i;
                y[at] = x[at] / den;
            }
        }
}

/* y = x / max(n, eps): where n > eps, dx = (dy - y <dy, y>) / n; else dx = dy / eps */
void lc_l2norm_backward(float *dx, const float *dy, const float *y, const float *norm, int outer, int dim, int inner,
                        float eps)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            float nrm = norm[(size_t)o * inner + i];
            double dot = 0;
            for (int d = 0; d < dim; d++) {
                size_t at = ((size_t)o * dim + d) * inner + i;
                dot += (double)dy[at] * y[at];
            }
            for (int d = 0; d < dim; d++) {
                size_t at = ((size_t)o * dim + d) * inner + i;
                dx[at] += nrm > eps ? (dy[at] - y[at] * (float)dot) / nrm : dy[at] / eps;
            }
        }
}
