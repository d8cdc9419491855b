/* act: ReLU, PReLU, GELU, sigmoid. PReLU's slope gradient is summed per
 * channel in double, channel by channel, so results do not depend on the
 * thread count. */
#include "act.h"

#include <math.h>

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

void lc_prelu_forward(float *y, const float *x, const float *a, int n, int c, int hw)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            size_t o = ((size_t)i * c + k) * hw;
            float s = a[c == 1 ? 0 : k];
            for (int p = 0; p < hw; p++) {
                float v = x[o + p];
                y[o + p] = v > 0 ? v : s * v;
            }
        }
}

void lc_prelu_backward(float *dx, float *da, const float *dy, const float *x, const float *a, int n, int c, int hw)
{
    if (dx) {
#pragma omp parallel for schedule(static) collapse(2)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < c; k++) {
                size_t o = ((size_t)i * c + k) * hw;
                float s = a[c == 1 ? 0 : k];
                for (int p = 0; p < hw; p++) dx[o + p] += x[o + p] > 0 ? dy[o + p] : s * dy[o + p];
            }
    }
    if (da) { /* per channel, in a fixed order (no OpenMP reduction: its order varies) */
#pragma omp parallel for schedule(static) if (c > 1)
        for (int k = 0; k < c; k++) {
            double acc = 0;
            for (int i = 0; i < n; i++) {
                size_t o = ((size_t)i * c + k) * hw;
                for (int p = 0; p < hw; p++)
                    if (x[o + p] <= 0) acc += (double)dy[o + p] * x[o + p];
            }
            da[k] += (float)acc;
        }
    }
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
