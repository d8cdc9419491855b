/* bn: batch norm forward (train/eval) and backward (see bn.h). Each
 * channel is one unit of work: its N planes of hw values are summed in
 * double in a fixed order, then transformed as y = x * a + b. */
#include "bn.h"

#include <math.h>
#include <string.h>

#include "simd.h"

int lc_bn_init(struct lc_bn *p, int n, int c, int hw, float eps, float momentum, int affine, struct lc_err *err)
{
    memset(p, 0, sizeof *p);
    if (n < 1 || c < 1 || hw < 1 || (double)n * c * hw >= 2147483648.0)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "bn: bad sizes n=%d c=%d hw=%d", n, c, hw);
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1) || (affine != 0 && affine != 1))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "bn: bad eps=%g momentum=%g or affine=%d", (double)eps,
                       (double)momentum, affine);
    *p = (struct lc_bn){.n = n, .c = c, .hw = hw, .eps = eps, .momentum = momentum, .affine = affine};
    return 0;
}

LC_CLONES static double sum_d(const float *x, int n)
{
    double s = 0;
LC_SIMD_SUM(s)
    for (int i = 0; i < n; i++) s += x[i];
    return s;
}

LC_CLONES static double sqdev_d(const float *x, int n, double mean)
{
    double s = 0;
LC_SIMD_SUM(s)
    for (int i = 0; i < n; i++) {
        double d = x[i] - mean;
        s += d * d;
    }
    return s;
}

LC_CLONES static void axpb(float *y, const float *x, int n, float a, float b)
{
    for (int i = 0; i < n; i++) y[i] = x[i] * a + b;
}

/* sum dy and sum dy * (x - mean) over one plane */
LC_CLONES static void dsums(const float *dy, const float *x, int n, float mean, double *sdy, double *sdyx)
{
    double a = 0, b = 0;
LC_SIMD_SUM(a, b)
    for (int i = 0; i < n; i++) {
        a += dy[i];
        b += (double)dy[i] * (x[i] - mean);
    }
    *sdy += a;
    *sdyx += b;
}

/* dx += k * (dy - mdy - (x - mean) * kx), or (set) dx = 0 + the same:
 * bit for bit what accumulating into zeros gives (0 + -0 is +0), without
 * the zeroing pass and the read */
LC_CLONES static void dxplane(float *dx, const float *dy, const float *x, int n, float k, float mdy, float mean,
                              float kx, int set)
{
    if (set)
        for (int i = 0; i < n; i++) dx[i] = 0.0f + k * (dy[i] - mdy - (x[i] - mean) * kx);
    else
        for (int i = 0; i < n; i++) dx[i] += k * (dy[i] - mdy - (x[i] - mean) * kx);
}

/* y = x a + b, and z = prelu(y) with slope s in the same pass */
LC_CLONES static void axpb_prelu(float *y, float *z, const float *x, int n, float a, float b, float s)
{
    for (int i = 0; i < n; i++) {
        float v = x[i] * a + b;
        y[i] = v;
        z[i] = v > 0 ? v : s * v;
    }
}

/* the training forward; z = prelu(y) too when z, and a and b kept when save_ab */
static void forward_train(float *y, float *z, const float *slope, float *save_ab, float *save_mean,
                          float *save_invstd, float *run_mean, float *run_var, const float *x, const float *gamma,
                          const float *beta, const struct lc_bn *p)
{
    size_t plane = (size_t)p->hw, cstride = (size_t)p->c * plane;
    double m = (double)p->n * p->hw;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < p->c; c++) {
        const float *xc = x + c * plane;
        double s = 0;
        for (int n = 0; n < p->n; n++) s += sum_d(xc + n * cstride, p->hw);
        double mean = s / m, q = 0;
        for (int n = 0; n < p->n; n++) q += sqdev_d(xc + n * cstride, p->hw, mean);
        double var = q / m, invstd = 1.0 / sqrt(var + p->eps);
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)invstd;
        if (run_mean) run_mean[c] = (float)((1.0 - p->momentum) * run_mean[c] + p->momentum * mean);
        if (run_var) {
            double unbiased = m > 1 ? q / (m - 1) : var;
            run_var[c] = (float)((1.0 - p->momentum) * run_var[c] + p->momentum * unbiased);
        }
        double a = invstd * (p->affine ? gamma[c] : 1.0);
        double b = (p->affine ? beta[c] : 0.0) - mean * a;
        if (save_ab) save_ab[2 * c] = (float)a, save_ab[2 * c + 1] = (float)b;
        for (int n = 0; n < p->n; n++) {
            size_t o = c * plane + n * cstride;
            if (z) axpb_prelu(y + o, z + o, xc + n * cstride, p->hw, (float)a, (float)b, slope[c]);
            else axpb(y + o, xc + n * cstride, p->hw, (float)a, (float)b);
        }
    }
}

void lc_bn_forward_train(float *y, float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                         const float *x, const float *gamma, const float *beta, const struct lc_bn *p)
{
    forward_train(y, NULL, NULL, NULL, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p);
}

void lc_bn_forward_train_prelu(float *y, float *z, const float *slope, float *save_mean, float *save_invstd,
                               float *run_mean, float *run_var, const float *x, const float *gamma, const float *beta,
                               const struct lc_bn *p)
{
    forward_train(y, z, slope, NULL, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p);
}

void lc_bn_forward_train_ab(float *y, float *save_ab, float *save_mean, float *save_invstd, float *run_mean,
                            float *run_var, const float *x, const float *gamma, const float *beta, const struct lc_bn *p)
{
    forward_train(y, NULL, NULL, save_ab, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p);
}

void lc_bn_apply_ab(float *y, const float *x, const float *save_ab, const struct lc_bn *p)
{
    size_t plane = (size_t)p->hw;
    long units = (long)p->n * p->c;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < units; i++) {
        int c = (int)(i % p->c);
        axpb(y + (size_t)i * plane, x + (size_t)i * plane, p->hw, save_ab[2 * c], save_ab[2 * c + 1]);
    }
}

void lc_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta, const float *run_mean,
                        const float *run_var, const struct lc_bn *p)
{
    size_t plane = (size_t)p->hw;
    long units = (long)p->n * p->c;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < units; i++) {
        int c = (int)(i % p->c);
        double a = (p->affine ? gamma[c] : 1.0) / sqrt((double)run_var[c] + p->eps);
        double b = (p->affine ? beta[c] : 0.0) - run_mean[c] * a;
        axpb(y + (size_t)i * plane, x + (size_t)i * plane, p->hw, (float)a, (float)b);
    }
}

static void bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *save_mean,
                        const float *save_invstd, const float *gamma, const struct lc_bn *p, int set)
{
    size_t plane = (size_t)p->hw, cstride = (size_t)p->c * plane;
    double m = (double)p->n * p->hw;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < p->c; c++) {
        double sdy = 0, sdyx = 0;
        float mean = save_mean[c];
        for (int n = 0; n < p->n; n++) dsums(dy + c * plane + n * cstride, x + c * plane + n * cstride, p->hw, mean,
                                             &sdy, &sdyx);
        double invstd = save_invstd[c];
        if (p->affine && dgamma) dgamma[c] += (float)(sdyx * invstd);
        if (p->affine && dbeta) dbeta[c] += (float)sdy;
        if (!dx) continue;
        /* dx = g invstd (dy - mean(dy) - xhat mean(dy xhat)), xhat = (x - mean) invstd */
        double k = (p->affine ? gamma[c] : 1.0) * invstd;
        double kx = sdyx / m * invstd * invstd;
        for (int n = 0; n < p->n; n++)
            dxplane(dx + c * plane + n * cstride, dy + c * plane + n * cstride, x + c * plane + n * cstride, p->hw,
                    (float)k, (float)(sdy / m), mean, (float)kx, set);
    }
}

void lc_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *save_mean,
                    const float *save_invstd, const float *gamma, const struct lc_bn *p)
{
    bn_backward(dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p, 0);
}

void lc_bn_backward_set(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *save_mean, const float *save_invstd, const float *gamma, const struct lc_bn *p)
{
    bn_backward(dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p, 1);
}
