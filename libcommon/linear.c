/* linear: y = x W^T + b through lc_sgemm_par (see linear.h). */
#include "linear.h"

#include <string.h>

#include "blas.h"

int lc_linear_init(struct lc_linear *p, int n, int in, int out, int bias, struct lc_err *err)
{
    memset(p, 0, sizeof *p);
    if (n < 1 || in < 1 || out < 1 || (bias != 0 && bias != 1) || (double)n * in >= 2147483648.0 ||
        (double)n * out >= 2147483648.0 || (double)in * out >= 2147483648.0)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "linear: bad sizes n=%d in=%d out=%d bias=%d", n, in, out, bias);
    *p = (struct lc_linear){.n = n, .in = in, .out = out, .bias = bias};
    return 0;
}

void lc_linear_forward(float *y, const float *x, const float *w, const float *b, const struct lc_linear *p)
{
    if (b)
        for (int i = 0; i < p->n; i++) memcpy(y + (size_t)i * p->out, b, sizeof(float) * (size_t)p->out);
    lc_sgemm_par(0, 1, p->n, p->out, p->in, 1, x, p->in, w, p->in, b ? 1 : 0, y, p->out);
}

void lc_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const struct lc_linear *p)
{
    if (dx) lc_sgemm_par(0, 0, p->n, p->in, p->out, 1, dy, p->out, w, p->in, 1, dx, p->in);
    if (dw) lc_sgemm_par(1, 0, p->out, p->in, p->n, 1, dy, p->out, x, p->in, 1, dw, p->in);
    if (db) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < p->out; o++) {
            double s = 0;
            for (int i = 0; i < p->n; i++) s += dy[(size_t)i * p->out + o];
            db[o] += (float)s;
        }
    }
}
