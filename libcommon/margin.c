/* margin: CosFace, ArcFace and AdaFace heads. The cosine matrix is one
 * SGEMM against the column-normalised kernel; margins touch only the N
 * target entries; backward is two SGEMMs plus the normalisation's Jacobian. */
#include "margin.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "rng.h"

static const char *names[] = {"cosface", "arcface", "adaface"};

int lc_margin_parse(const char *name)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(name, names[k]) == 0) return k;
    return -1;
}

const char *lc_margin_name(int kind) { return kind >= 0 && kind < 3 ? names[kind] : "?"; }

int lc_margin_init(struct lc_margin *p, int kind, int n, int d, int classes, float m, float h, float s,
                   float t_alpha, struct lc_err *err)
{
    if (kind < 0 || kind > 2 || n < 1 || d < 1 || classes < 1)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "margin head: bad kind or sizes");
    *p = (struct lc_margin){kind, n, d, classes, m, h, s, t_alpha, kind == LC_MARGIN_ADAFACE ? 1e-3f : 1e-4f};
    return 0;
}

void lc_margin_stats_init(struct lc_margin_stats *st) { *st = (struct lc_margin_stats){0.0f, 20.0f, 100.0f}; }

size_t lc_margin_workspace(const struct lc_margin *p)
{
    return (size_t)p->d * p->classes + (size_t)p->classes + (size_t)p->n * p->classes + 2 * (size_t)p->n +
           (size_t)p->d * LC_MARGIN_BLOCK;
}

void lc_margin_scaler(float *scaler, struct lc_margin_stats *st, const float *norm, const struct lc_margin *p,
                      int train)
{
    if (p->kind != LC_MARGIN_ADAFACE) return;
    const int N = p->n;
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) {
        float x = norm[i] < 0.001f ? 0.001f : norm[i] > 100.0f ? 100.0f : norm[i];
        mean += x;
    }
    mean /= N;
    for (int i = 0; i < N; i++) {
        float x = norm[i] < 0.001f ? 0.001f : norm[i] > 100.0f ? 100.0f : norm[i];
        var += (x - mean) * (x - mean);
    }
    double std = N > 1 ? sqrt(var / (N - 1)) : NAN; /* torch.std: unbiased (NaN for one sample) */
    if (train) {
        st->batch_mean = (float)mean * p->t_alpha + (1 - p->t_alpha) * st->batch_mean;
        st->batch_std = (float)std * p->t_alpha + (1 - p->t_alpha) * st->batch_std;
    }
    for (int i = 0; i < N; i++) {
        float x = norm[i] < 0.001f ? 0.001f : norm[i] > 100.0f ? 100.0f : norm[i];
        float ms = (x - st->batch_mean) / (st->batch_std + p->eps) * p->h;
        scaler[i] = ms < -1 ? -1 : ms > 1 ? 1 : ms;
    }
}

void lc_margin_logits(float *logits, float *cos, const float *scaler, const float *emb, const float *kernel,
                      const int64_t *labels, const struct lc_margin *p, float *ws)
{
    const int N = p->n, D = p->d, C = p->classes;
    struct lc_margin_ws w = lc_margin_carve(p, ws);
    /* column norms, then Wn = W / norm (as torch.div(input, norm): no eps) */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double ss = 0;
        for (int k = 0; k < D; k++) ss += (double)kernel[(size_t)k * C + c] * kernel[(size_t)k * C + c];
        w.inv[c] = (float)(1.0 / sqrt(ss));
    }
#pragma omp parallel for schedule(static)
    for (int k = 0; k < D; k++)
        for (int c = 0; c < C; c++) w.wn[(size_t)k * C + c] = kernel[(size_t)k * C + c] * w.inv[c];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, D, 1.0f, emb, D, w.wn, C, 0.0f, w.raw, C);
    const float lo = -1 + p->eps, hi = 1 - p->eps, pi = 3.14159265358979323846f;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < (size_t)N * C; i++) {
        float v = w.raw[i];
        cos[i] = v < lo ? lo : v > hi ? hi : v;
        logits[i] = p->s * cos[i];
    }
    for (int i = 0; i < N; i++) {
        size_t at = (size_t)i * C + (size_t)labels[i];
        float c = cos[at];
        w.tfac[i] = 1; /* d logit / d cos at the target, over s */
        if (p->kind == LC_MARGIN_COSFACE) {
            logits[at] = p->s * (c - p->m);
            continue;
        }
        float theta = acosf(c);
        float add = p->kind == LC_MARGIN_ARCFACE ? p->m : -p->m * scaler[i];
        float t = theta + add, tc = t < p->eps ? p->eps : t > pi - p->eps ? pi - p->eps : t;
        float out = cosf(tc);
        if (p->kind == LC_MARGIN_ADAFACE) out -= p->m + p->m * scaler[i];
        logits[at] = p->s * out;
        w.theta[i] = theta;
        /* d cos(tc)/d c = -sin(tc) * [clip passes] * (-1/sqrt(1-c^2)) */
        int passes = t >= p->eps && t <= pi - p->eps;
        w.tfac[i] = passes ? sinf(tc) / sqrtf(1 - c * c) : 0.0f;
    }
}

void lc_margin_forward(float *logits, float *cos, float *scaler, struct lc_margin_stats *st, const float *emb,
                       const float *norm, const float *kernel, const int64_t *labels, const struct lc_margin *p,
                       int train, float *ws)
{
    lc_margin_scaler(scaler, st, norm, p, train);
    lc_margin_logits(logits, cos, scaler, emb, kernel, labels, p, ws);
}

void lc_margin_backward(float *demb, float *dkernel, const float *dlogits, const float *cos, const float *scaler,
                        const float *emb, const float *kernel, const int64_t *labels, const struct lc_margin *p,
                        float *ws)
{
    (void)cos;
    (void)scaler;
    (void)kernel;
    const int N = p->n, D = p->d, C = p->classes;
    struct lc_margin_ws w = lc_margin_carve(p, ws);
    const float lo = -1 + p->eps, hi = 1 - p->eps;
    /* dRaw = s * dlogits * (target factor) where the clamp passed; in place of raw */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *r = w.raw + (size_t)i * C;
        const float *dl = dlogits + (size_t)i * C;
        int y = (int)labels[i];
        for (int c = 0; c < C; c++) {
            float v = r[c];
            float g = p->s * dl[c] * (c == y ? w.tfac[i] : 1.0f);
            r[c] = v >= lo && v <= hi ? g : 0.0f; /* torch.clamp passes the gradient at the bounds too */
        }
    }
    if (demb) /* dE += dRaw Wn^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, D, C, 1.0f, w.raw, C, w.wn, C, 1.0f, demb, D);
    if (!dkernel) return;
    /* dWn = E^T dRaw, a block of columns at a time; then through Wn = W/||W||:
     * dW[:,c] += (dWn[:,c] - Wn[:,c] <dWn[:,c], Wn[:,c]>) / ||W[:,c]|| */
    for (int c0 = 0; c0 < C; c0 += LC_MARGIN_BLOCK) {
        int cb = C - c0 < LC_MARGIN_BLOCK ? C - c0 : LC_MARGIN_BLOCK;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, cb, N, 1.0f, emb, D, w.raw + c0, C, 0.0f, w.block, cb);
#pragma omp parallel for schedule(static)
        for (int j = 0; j < cb; j++) {
            int c = c0 + j;
            double dot = 0;
            for (int k = 0; k < D; k++) dot += (double)w.block[(size_t)k * cb + j] * w.wn[(size_t)k * C + c];
            for (int k = 0; k < D; k++)
                dkernel[(size_t)k * C + c] += (w.block[(size_t)k * cb + j] - w.wn[(size_t)k * C + c] * (float)dot) * w.inv[c];
        }
    }
}

void lc_margin_init_kernel(float *kernel, int d, int classes, struct lc_rng *rng)
{
    for (size_t i = 0; i < (size_t)d * classes; i++) kernel[i] = 2 * lc_rng_uniform(rng) - 1;
    for (int c = 0; c < classes; c++) {
        double ss = 0;
        for (int k = 0; k < d; k++) ss += (double)kernel[(size_t)k * classes + c] * kernel[(size_t)k * classes + c];
        float inv = (float)(1.0 / sqrt(ss));
        for (int k = 0; k < d; k++) kernel[(size_t)k * classes + c] *= inv;
    }
}
