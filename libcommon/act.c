/* act: ReLU, PReLU, GELU, sigmoid. PReLU's slope gradient is summed per
 * channel in double, channel by channel (in eight interleaved partial sums
 * added in order), so results do not depend on the thread count. */
#include "act.h"

#include <math.h>

#include "simd.h"

void lc_relu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

void lc_relu_backward(float *dx, const float *dy, const float *y, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0.0f;
}

LC_CLONES static void prelu_plane(float *y, const float *x, int n, float s)
{
    for (int p = 0; p < n; p++) {
        float v = x[p];
        y[p] = v > 0 ? v : s * v;
    }
}

void lc_prelu_forward(float *y, const float *x, const float *a, int n, int c, int hw)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            size_t o = ((size_t)i * c + k) * hw;
            prelu_plane(y + o, x + o, hw, a[c == 1 ? 0 : k]);
        }
}

/* set: dx = 0 + ..., bit for bit accumulating into zeros (0 + -0 is +0) */
LC_CLONES static void prelu_dx_plane(float *dx, const float *dy, const float *x, int n, float s, int set)
{
    for (int p = 0; p < n; p++) {
        float g = dy[p], sg = s * g, d = x[p] > 0 ? g : sg;
        if (set) dx[p] = 0.0f + d; /* dx is read only when accumulating */
        else dx[p] += d;
    }
}

/* acc[p % 8] += dy[p] x[p] where x[p] <= 0: eight independent double sums
 * (one long dependency chain was the bottleneck), in a fixed order. The
 * products are computed unconditionally and selected, and the sums kept in
 * a local array, so the loops vectorise. */
LC_CLONES static void prelu_da_plane(double acc[8], const float *restrict dy, const float *restrict x, int n)
{
    double a[8];
    for (int l = 0; l < 8; l++) a[l] = acc[l];
    int p = 0;
    for (; p + 8 <= n; p += 8)
        for (int l = 0; l < 8; l++) {
            float v = x[p + l];
            double m = (double)dy[p + l] * v;
            a[l] += v <= 0 ? m : 0.0;
        }
    for (; p < n; p++)
        if (x[p] <= 0) a[p & 7] += (double)dy[p] * x[p];
    for (int l = 0; l < 8; l++) acc[l] = a[l];
}

/* both in one pass over x and dy */
LC_CLONES static void prelu_dx_da_plane(float *restrict dx, double acc[8], const float *restrict dy,
                                        const float *restrict x, int n, float s, int set)
{
    double a[8];
    for (int l = 0; l < 8; l++) a[l] = acc[l];
    int p = 0;
    if (set)
        for (; p + 8 <= n; p += 8)
            for (int l = 0; l < 8; l++) {
                float v = x[p + l], g = dy[p + l], sg = s * g;
                double m = (double)g * v;
                dx[p + l] = 0.0f + (v > 0 ? g : sg);
                a[l] += v <= 0 ? m : 0.0;
            }
    else
        for (; p + 8 <= n; p += 8)
            for (int l = 0; l < 8; l++) {
                float v = x[p + l], g = dy[p + l], sg = s * g;
                double m = (double)g * v;
                dx[p + l] += v > 0 ? g : sg;
                a[l] += v <= 0 ? m : 0.0;
            }
    for (; p < n; p++) {
        float v = x[p], g = dy[p];
        dx[p] = (set ? 0.0f : dx[p]) + (v > 0 ? g : s * g);
        if (v <= 0) a[p & 7] += (double)g * v;
    }
    for (int l = 0; l < 8; l++) acc[l] = a[l];
}

static float lanes_sum(const double acc[8])
{
    double t = 0;
    for (int l = 0; l < 8; l++) t += acc[l];
    return (float)t;
}

static void prelu_backward(float *dx, float *da, const float *dy, const float *x, const float *a, int n, int c, int hw,
                           int set)
{
    if (da && c > 1) { /* per channel, in a fixed order: no OpenMP reduction, whose order varies */
#pragma omp parallel for schedule(static)
        for (int k = 0; k < c; k++) {
            double acc[8] = {0};
            for (int i = 0; i < n; i++) {
                size_t o = ((size_t)i * c + k) * hw;
                if (dx) prelu_dx_da_plane(dx + o, acc, dy + o, x + o, hw, a[k], set);
                else prelu_da_plane(acc, dy + o, x + o, hw);
            }
            da[k] += lanes_sum(acc);
        }
        return;
    }
    if (dx) {
#pragma omp parallel for schedule(static) collapse(2)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < c; k++) {
                size_t o = ((size_t)i * c + k) * hw;
                prelu_dx_plane(dx + o, dy + o, x + o, hw, a[c == 1 ? 0 : k], set);
            }
    }
    if (da) { /* one shared slope: its sum over the whole tensor, plane by plane */
        double acc[8] = {0};
        for (size_t o = 0; o < (size_t)n * c * hw; o += (size_t)hw) prelu_da_plane(acc, dy + o, x + o, hw);
        da[0] += lanes_sum(acc);
    }
}

void lc_prelu_backward(float *dx, float *da, const float *dy, const float *x, const float *a, int n, int c, int hw)
{
    prelu_backward(dx, da, dy, x, a, n, c, hw, 0);
}

void lc_prelu_backward_set(float *dx, float *da, const float *dy, const float *x, const float *a, int n, int c, int hw)
{
    prelu_backward(dx, da, dy, x, a, n, c, hw, 1);
}

void lc_gelu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

void lc_gelu_backward(float *dx, const float *dy, const float *x, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
        dx[i] += dy[i] * (cdf + v * pdf);
    }
}

void lc_sigmoid_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

void lc_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}
