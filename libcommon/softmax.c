#include "softmax.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* One row of `dim` values strided by `inner`. */
static void softmax_row(float *y, const float *x, int dim, int inner, int log_space)
{
    float mx = -INFINITY;
    for (int k = 0; k < dim; k++)
        if (x[(size_t)k * inner] > mx) mx = x[(size_t)k * inner];
    if (mx == -INFINITY) mx = 0.0f; /* all -inf: PyTorch gives NaN via 0/0 below; keep finite max */
    double s = 0;
    for (int k = 0; k < dim; k++) s += exp((double)x[(size_t)k * inner] - mx);
    if (log_space) {
        double lse = mx + log(s);
        for (int k = 0; k < dim; k++) y[(size_t)k * inner] = (float)((double)x[(size_t)k * inner] - lse);
    } else {
        for (int k = 0; k < dim; k++) y[(size_t)k * inner] = (float)(exp((double)x[(size_t)k * inner] - mx) / s);
    }
}

static void softmax_any(float *y, const float *x, int outer, int dim, int inner, int log_space)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            size_t base = (size_t)o * dim * inner + i;
            softmax_row(y + base, x + base, dim, inner, log_space);
        }
}

void lc_softmax_forward(float *y, const float *x, int outer, int dim, int inner)
{
    softmax_any(y, x, outer, dim, inner, 0);
}

void lc_log_softmax_forward(float *y, const float *x, int outer, int dim, int inner)
{
    softmax_any(y, x, outer, dim, inner, 1);
}

void lc_softmax_backward(float *dx, const float *dy, const float *y, int outer, int dim, int inner)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            size_t base = (size_t)o * dim * inner + i;
            double s = 0;
            for (int k = 0; k < dim; k++) s += (double)dy[base + (size_t)k * inner] * y[base + (size_t)k * inner];
            for (int k = 0; k < dim; k++) {
                size_t j = base + (size_t)k * inner;
                dx[j] += (float)(y[j] * ((double)dy[j] - s));
            }
        }
}

void lc_log_softmax_backward(float *dx, const float *dy, const float *y, int outer, int dim, int inner)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            size_t base = (size_t)o * dim * inner + i;
            double s = 0;
            for (int k = 0; k < dim; k++) s += dy[base + (size_t)k * inner];
            for (int k = 0; k < dim; k++) {
                size_t j = base + (size_t)k * inner;
                dx[j] += (float)((double)dy[j] - exp((double)y[j]) * s);
            }
        }
}

static int valid_label(int64_t l, int c)
{
    return l >= 0 && l < c;
}

int lc_cross_entropy_check(const int64_t *labels, int n, int c)
{
    for (int i = 0; i < n; i++)
        if (!valid_label(labels[i], c) && labels[i] != LC_IGNORE_INDEX) return i;
    return -1;
}

/* p = softmax(x) of one row; returns log-sum-exp, *sum_x = sum of x */
static double softmax_lse(float *p, const float *x, int c, double *sum_x)
{
    float mx = -INFINITY;
    for (int k = 0; k < c; k++)
        if (x[k] > mx) mx = x[k];
    double s = 0, sx = 0;
    for (int k = 0; k < c; k++) s += exp((double)x[k] - mx), sx += x[k];
    double lse = mx + log(s);
    for (int k = 0; k < c; k++) p[k] = (float)exp((double)x[k] - lse);
    *sum_x = sx;
    return lse;
}

double lc_cross_entropy_forward(float *prob, const float *logits, const int64_t *labels, int n, int c,
                                float smoothing)
{
    /* per-thread partial sums over contiguous row ranges, combined in
     * thread order: bit-identical for a given thread count */
    enum { MAX_PARTS = 256 };
    double part[MAX_PARTS] = {0};
    int counted = 0, parts = 1;
#pragma omp parallel reduction(+ : counted)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), nt = omp_get_num_threads();
#endif
        if (nt > MAX_PARTS) nt = MAX_PARTS;
        if (t == 0) parts = nt;
        if (t < nt) {
            int lo = (int)((long long)n * t / nt), hi = (int)((long long)n * (t + 1) / nt);
            double acc = 0;
            for (int i = lo; i < hi; i++) {
                const float *x = logits + (size_t)i * c;
                double sum_x, lse = softmax_lse(prob + (size_t)i * c, x, c, &sum_x);
                if (!valid_label(labels[i], c)) continue;
                counted++;
                double nll = lse - x[labels[i]], smooth = lse - sum_x / c; /* mean_k -log p[k] */
                acc += (1.0 - smoothing) * nll + smoothing * smooth;
            }
            part[t] = acc;
        }
    }
    double total = 0;
    for (int t = 0; t < parts; t++) total += part[t];
    return counted ? total / counted : 0.0;
}

void lc_cross_entropy_rows(float *prob, float *row_loss, const float *logits, const int64_t *labels, int n, int c,
                           float smoothing)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *x = logits + (size_t)i * c;
        double sum_x, lse = softmax_lse(prob + (size_t)i * c, x, c, &sum_x);
        row_loss[i] = valid_label(labels[i], c)
                          ? (float)((1.0 - smoothing) * (lse - x[labels[i]]) + smoothing * (lse - sum_x / c))
                          : 0.0f;
    }
}

void lc_cross_entropy_backward(float *dlogits, const float *prob, const int64_t *labels, int n, int c,
                               float smoothing, float scale)
{
    int counted = 0;
    for (int i = 0; i < n; i++) counted += valid_label(labels[i], c);
    if (!counted) return;
    const double g = (double)scale / counted, off = (double)smoothing / c;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        if (!valid_label(labels[i], c)) continue;
        const float *p = prob + (size_t)i * c;
        float *d = dlogits + (size_t)i * c;
        for (int k = 0; k < c; k++) {
            double t = off + (k == labels[i] ? 1.0 - smoothing : 0.0);
            d[k] += (float)(g * ((double)p[k] - t));
        }
    }
}
