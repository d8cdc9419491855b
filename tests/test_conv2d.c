/* conv2d: forward and every gradient against PyTorch goldens (strides,
 * padding, groups, depthwise, bias on/off, odd sizes), each internal path
 * (direct 1x1, tiled planes, multi-image passes, depthwise) against a
 * double-precision reference, finite differences, bit-identical repeats,
 * and the inference helpers (BN folding, fused PReLU/residual). */
#include "bn.h"
#include "conv2d.h"
#include "nnfix.h"

/* mirrors make_nn_dense: n ci h w co k stride pad groups bias */
static const int CASES[][10] = {
    {2, 3, 7, 9, 4, 3, 1, 1, 1, 1}, {2, 4, 8, 8, 6, 3, 2, 1, 2, 0},     {2, 6, 9, 7, 6, 3, 1, 1, 6, 1},
    {2, 6, 9, 9, 6, 3, 2, 0, 6, 0}, {3, 8, 5, 5, 16, 1, 1, 0, 1, 1},    {2, 8, 6, 6, 8, 1, 2, 0, 1, 0},
    {1, 4, 11, 11, 6, 5, 2, 2, 2, 1}, {2, 5, 13, 13, 7, 3, 1, 1, 1, 0}, {2, 4, 6, 6, 8, 3, 1, 1, 4, 1},
    {2, 3, 10, 10, 4, 2, 2, 0, 1, 1}, {2, 16, 7, 7, 16, 3, 1, 1, 1, 1}, {1, 24, 9, 6, 16, 3, 1, 0, 1, 0},
    {2, 16, 5, 5, 20, 3, 1, 2, 1, 1}, /* the last three: Winograd */
};
#define NCASES (int)(sizeof CASES / sizeof CASES[0])

struct sizes {
    size_t x, y, w;
};

static struct sizes sizes_of(const struct lc_conv2d *p)
{
    return (struct sizes){(size_t)p->n * p->ci * p->h * p->w, (size_t)p->n * p->co * p->ho * p->wo,
                          (size_t)p->co * (p->ci / p->groups) * p->kh * p->kw};
}

static void init_case(struct lc_conv2d *p, const int *c)
{
    struct lc_err err;
    cr_assert_eq(lc_conv2d_init(p, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], &err), 0, "%s",
                 err.msg);
}

Test(conv2d, matches_torch)
{
    lc_threads_set(2);
    for (int i = 0; i < NCASES; i++) {
        struct lc_conv2d p;
        init_case(&p, CASES[i]);
        struct sizes s = sizes_of(&p);
        char cas[32], what[64];
        snprintf(cas, sizeof cas, "conv_%d", i);
        const float *x = nf_load(cas, "x", s.x), *w = nf_load(cas, "w", s.w), *dy = nf_load(cas, "dy", s.y);
        const float *b = p.bias ? nf_load(cas, "b", (size_t)p.co) : NULL;
        float *ws = nf_zeros(lc_conv2d_workspace(&p)), *y = nf_zeros(s.y);
        float *dx = nf_zeros(s.x), *dw = nf_zeros(s.w), *db = nf_zeros((size_t)p.co);
        lc_conv2d_forward(y, x, w, b, &p, ws);
        lc_conv2d_backward(dx, dw, p.bias ? db : NULL, dy, x, w, &p, ws);
        /* float32 against a float64 reference: rtol 1e-4, atol 1e-5 of the largest value */
        snprintf(what, sizeof what, "%s y", cas);
        nf_close(y, nf_load(cas, "y", s.y), s.y, 1e-4f, 1e-5f, what);
        snprintf(what, sizeof what, "%s dx", cas);
        nf_close(dx, nf_load(cas, "dx", s.x), s.x, 1e-4f, 1e-5f, what);
        snprintf(what, sizeof what, "%s dw", cas);
        nf_close(dw, nf_load(cas, "dw", s.w), s.w, 1e-4f, 1e-5f, what);
        if (p.bias) {
            snprintf(what, sizeof what, "%s db", cas);
            nf_close(db, nf_load(cas, "db", (size_t)p.co), (size_t)p.co, 1e-4f, 1e-5f, what);
        }
        /* backward accumulates, and each gradient alone gives the same */
        float *dx2 = nf_copy(dx, s.x), *dw2 = nf_zeros(s.w);
        lc_conv2d_backward(dx2, NULL, NULL, dy, x, w, &p, ws);
        lc_conv2d_backward(NULL, dw2, NULL, dy, x, w, &p, ws);
        float *twice = nf_copy(dx, s.x);
        for (size_t k = 0; k < s.x; k++) twice[k] *= 2;
        snprintf(what, sizeof what, "%s dx accumulated twice", cas);
        nf_close(dx2, twice, s.x, 1e-6f, 1e-7f, what);
        cr_expect(memcmp(dw2, dw, s.w * sizeof(float)) == 0, "%s: dw alone differs", cas);
    }
    nf_free();
}

/* ---- a double-precision reference for the larger shapes below */

static void ref_forward(double *y, const float *x, const float *w, const float *b, const struct lc_conv2d *p)
{
    int cig = p->ci / p->groups, cog = p->co / p->groups;
    for (int n = 0; n < p->n; n++)
        for (int o = 0; o < p->co; o++)
            for (int oh = 0; oh < p->ho; oh++)
                for (int ow = 0; ow < p->wo; ow++) {
                    double s = b ? b[o] : 0;
                    int g = o / cog;
                    for (int c = 0; c < cig; c++)
                        for (int ki = 0; ki < p->kh; ki++)
                            for (int kj = 0; kj < p->kw; kj++) {
                                int ih = oh * p->sh - p->ph + ki, iw = ow * p->sw - p->pw + kj;
                                if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w) continue;
                                s += (double)x[(((size_t)n * p->ci + g * cig + c) * p->h + ih) * p->w + iw] *
                                     w[(((size_t)o * cig + c) * p->kh + ki) * p->kw + kj];
                            }
                    y[(((size_t)n * p->co + o) * p->ho + oh) * p->wo + ow] = s;
                }
}

static void ref_backward(double *dx, double *dw, const float *dy, const float *x, const float *w,
                         const struct lc_conv2d *p)
{
    int cig = p->ci / p->groups, cog = p->co / p->groups;
    for (int n = 0; n < p->n; n++)
        for (int o = 0; o < p->co; o++)
            for (int oh = 0; oh < p->ho; oh++)
                for (int ow = 0; ow < p->wo; ow++) {
                    double d = dy[(((size_t)n * p->co + o) * p->ho + oh) * p->wo + ow];
                    int g = o / cog;
                    for (int c = 0; c < cig; c++)
                        for (int ki = 0; ki < p->kh; ki++)
                            for (int kj = 0; kj < p->kw; kj++) {
                                int ih = oh * p->sh - p->ph + ki, iw = ow * p->sw - p->pw + kj;
                                if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w) continue;
                                size_t xi = (((size_t)n * p->ci + g * cig + c) * p->h + ih) * p->w + iw;
                                size_t wi = (((size_t)o * cig + c) * p->kh + ki) * p->kw + kj;
                                dx[xi] += d * w[wi];
                                dw[wi] += d * x[xi];
                            }
                }
}

static void to_float(float *f, const double *d, size_t n)
{
    for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
}

/* Shapes chosen to reach each internal path: 1x1 stride-1 straight to GEMM
 * (planes >= 4096), planes cut into several passes (> 8192 positions with
 * a small kernel), many small images per pass, depthwise with stride and
 * a 5x5 kernel, a depthwise multiplier (groups == Ci, Co = 2 Ci: GEMM),
 * Winograd with many chunks per thread, odd planes, padding 0 and 2,
 * depthwise as a whole-plane dot (7x7 on 7x7), with stride 3, and on
 * planes too wide for its stack strips (the per-row fallback), IR-like
 * channels on 14x14 (F(4x4) at depth), a plane that F(4x4) refuses
 * (4x4 out: F(2x2) at inference too), and more output channels than tiles
 * (Winograd split between threads by channel, not by tile). */
Test(conv2d, every_path_matches_reference)
{
    static const int paths[][10] = {
        {2, 4, 72, 72, 6, 1, 1, 0, 1, 1},  {1, 2, 100, 100, 3, 3, 1, 1, 1, 1}, {6, 16, 7, 7, 32, 1, 1, 0, 1, 0},
        {5, 12, 9, 9, 8, 3, 2, 1, 4, 1},   {2, 8, 40, 40, 8, 3, 1, 1, 8, 1},   {2, 8, 41, 39, 8, 5, 2, 2, 8, 0},
        {3, 4, 12, 12, 8, 3, 1, 1, 4, 1},  {2, 3, 130, 66, 4, 3, 2, 1, 1, 0},  {2, 16, 70, 70, 16, 3, 1, 1, 1, 1},
        {3, 24, 13, 11, 32, 3, 1, 1, 1, 0}, {2, 32, 9, 10, 16, 3, 1, 0, 1, 1}, {1, 16, 6, 7, 48, 3, 1, 2, 1, 1},
        {3, 8, 7, 7, 8, 7, 1, 0, 8, 1},    {2, 6, 30, 30, 6, 3, 3, 1, 6, 1},   {1, 2, 3, 3000, 2, 3, 1, 1, 2, 0},
        {1, 2, 5, 3001, 2, 3, 2, 1, 2, 1},  {2, 128, 14, 14, 128, 3, 1, 1, 1, 0}, {1, 16, 6, 6, 16, 3, 1, 0, 1, 1},
        {2, 20, 7, 7, 72, 3, 1, 1, 1, 1},
        /* F(2x2) with short tile rows (10 tiles), patches gathered; two bordered planes exceed the stack buffer */
        {2, 16, 250, 20, 16, 3, 1, 1, 1, 1},
        /* stride 1, output as wide as the input, padding as wide as the plane or wider */
        {2, 3, 1, 1, 4, 5, 1, 2, 1, 1}, {3, 2, 2, 3, 3, 7, 1, 3, 1, 0},
    };
    for (int t = 1; t <= 3; t++) { /* 3 threads: uneven splits of channels and columns */
        lc_threads_set(t);
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            struct lc_conv2d p;
            init_case(&p, paths[i]);
            struct sizes s = sizes_of(&p);
            float *x = nf_randn(s.x, 1 + i, 1), *w = nf_randn(s.w, 100 + i, 0.3f), *dy = nf_randn(s.y, 200 + i, 1);
            float *b = p.bias ? nf_randn((size_t)p.co, 300 + i, 1) : NULL;
            float *y = nf_zeros(s.y), *dx = nf_zeros(s.x), *dw = nf_zeros(s.w), *ws = nf_zeros(lc_conv2d_workspace(&p));
            double *ry = calloc(s.y, sizeof(double)), *rdx = calloc(s.x, sizeof(double)), *rdw = calloc(s.w, sizeof(double));
            float *fy = nf_zeros(s.y), *fdx = nf_zeros(s.x), *fdw = nf_zeros(s.w);
            lc_conv2d_forward(y, x, w, b, &p, ws);
            lc_conv2d_backward(dx, dw, NULL, dy, x, w, &p, ws);
            float *yi = nf_zeros(s.y); /* the inference entry (F(4x4) Winograd where it applies) */
            lc_conv2d_forward_fused(yi, x, w, b, NULL, NULL, &p, ws);
            ref_forward(ry, x, w, b, &p);
            ref_backward(rdx, rdw, dy, x, w, &p);
            to_float(fy, ry, s.y), to_float(fdx, rdx, s.x), to_float(fdw, rdw, s.w);
            char what[64];
            snprintf(what, sizeof what, "path %zu (%d threads) y", i, t);
            nf_close(y, fy, s.y, 1e-4f, 1e-5f, what);
            snprintf(what, sizeof what, "path %zu (%d threads) inference y", i, t);
            nf_close(yi, fy, s.y, 1e-4f, 1e-5f, what);
            snprintf(what, sizeof what, "path %zu (%d threads) dx", i, t);
            nf_close(dx, fdx, s.x, 1e-4f, 1e-5f, what);
            snprintf(what, sizeof what, "path %zu (%d threads) dw", i, t);
            nf_close(dw, fdw, s.w, 1e-4f, 1e-5f, what);
            free(ry), free(rdx), free(rdw);
            nf_free();
        }
    }
}

struct gc {
    struct lc_conv2d p;
    float *x, *w, *b, *r, *y, *ws;
    size_t ny;
};

static double gc_loss(void *ctx)
{
    struct gc *g = ctx;
    lc_conv2d_forward(g->y, g->x, g->w, g->b, &g->p, g->ws);
    return nf_dot(g->y, g->r, g->ny);
}

/* Central differences in float32 with eps 1e-2: |fd - g| <= 2e-3 + 1e-2 max(|fd|, |g|). */
Test(conv2d, gradients_match_finite_differences)
{
    lc_threads_set(2);
    static const int shapes[][10] = {{2, 4, 7, 6, 6, 3, 2, 1, 2, 1}, {2, 6, 8, 8, 6, 3, 1, 1, 6, 1},
                                     {3, 5, 6, 6, 4, 1, 1, 0, 1, 1}, {1, 3, 9, 9, 4, 2, 2, 0, 1, 1},
                                     {2, 16, 5, 6, 16, 3, 1, 1, 1, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct gc g;
        init_case(&g.p, shapes[i]);
        struct sizes s = sizes_of(&g.p);
        g.x = nf_randn(s.x, 10 + i, 1), g.w = nf_randn(s.w, 20 + i, 0.5f), g.b = nf_randn((size_t)g.p.co, 30 + i, 1);
        g.r = nf_randn(s.y, 40 + i, 1), g.y = nf_zeros(s.y), g.ws = nf_zeros(lc_conv2d_workspace(&g.p)), g.ny = s.y;
        float *dx = nf_zeros(s.x), *dw = nf_zeros(s.w), *db = nf_zeros((size_t)g.p.co);
        lc_conv2d_backward(dx, dw, db, g.r, g.x, g.w, &g.p, g.ws);
        tu_grad_check(gc_loss, &g, g.x, dx, s.x, 40, 1e-2f, 1e-2f, 2e-3f, "dx");
        tu_grad_check(gc_loss, &g, g.w, dw, s.w, 40, 1e-2f, 1e-2f, 2e-3f, "dw");
        tu_grad_check(gc_loss, &g, g.b, db, (size_t)g.p.co, 40, 1e-2f, 1e-2f, 2e-3f, "db");
        nf_free();
    }
}

Test(conv2d, repeat_runs_are_bit_identical)
{
    lc_threads_set(2);
    static const int shapes[][10] = {{4, 16, 20, 20, 16, 3, 1, 1, 1, 1}, {16, 32, 7, 7, 64, 3, 2, 1, 1, 0},
                                     {2, 8, 70, 70, 8, 1, 1, 0, 1, 0},   {4, 16, 15, 15, 16, 3, 1, 1, 16, 1},
                                     {4, 8, 9, 9, 16, 3, 1, 1, 1, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct lc_conv2d p;
        init_case(&p, shapes[i]);
        struct sizes s = sizes_of(&p);
        float *x = nf_randn(s.x, 1, 1), *w = nf_randn(s.w, 2, 0.2f), *b = nf_randn((size_t)p.co, 3, 1);
        float *dy = nf_randn(s.y, 4, 1), *ws = nf_zeros(lc_conv2d_workspace(&p));
        float *out[2][4];
        for (int r = 0; r < 2; r++) {
            out[r][0] = nf_zeros(s.y), out[r][1] = nf_zeros(s.x), out[r][2] = nf_zeros(s.w);
            out[r][3] = nf_zeros((size_t)p.co);
            lc_conv2d_forward(out[r][0], x, w, b, &p, ws);
            lc_conv2d_backward(out[r][1], out[r][2], out[r][3], dy, x, w, &p, ws);
        }
        cr_expect(!memcmp(out[0][0], out[1][0], s.y * 4), "shape %zu: y differs", i);
        cr_expect(!memcmp(out[0][1], out[1][1], s.x * 4), "shape %zu: dx differs", i);
        cr_expect(!memcmp(out[0][2], out[1][2], s.w * 4), "shape %zu: dw differs", i);
        cr_expect(!memcmp(out[0][3], out[1][3], (size_t)p.co * 4), "shape %zu: db differs", i);
        nf_free();
    }
}

/* conv -> BN(eval) -> PReLU and conv -> BN(eval) -> + shortcut, done as
 * separate ops and as folded weights with the fused epilogue. */
Test(conv2d, folded_bn_and_fused_epilogue_equal_separate_ops)
{
    lc_threads_set(2);
    static const int shapes[][10] = {{2, 8, 9, 9, 12, 3, 1, 1, 1, 0}, {3, 16, 7, 7, 16, 3, 2, 1, 1, 1},
                                     {2, 8, 10, 10, 8, 3, 1, 1, 8, 1}, {4, 16, 6, 6, 24, 1, 1, 0, 1, 0},
                                     {2, 16, 9, 9, 16, 3, 1, 1, 1, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct lc_conv2d p;
        init_case(&p, shapes[i]);
        struct sizes s = sizes_of(&p);
        size_t co = (size_t)p.co, hw = (size_t)p.ho * p.wo;
        float *x = nf_randn(s.x, 1, 1), *w = nf_randn(s.w, 2, 0.3f), *b = p.bias ? nf_randn(co, 3, 1) : NULL;
        float *gamma = nf_randn(co, 4, 0.3f), *beta = nf_randn(co, 5, 1), *rm = nf_randn(co, 6, 1);
        float *rv = nf_randn(co, 7, 0.5f), *slope = nf_randn(co, 8, 0.3f), *res = nf_randn(s.y, 9, 1);
        for (size_t c = 0; c < co; c++) rv[c] = rv[c] * rv[c] + 0.2f, gamma[c] += 1;
        float *ws = nf_zeros(lc_conv2d_workspace(&p)), *y = nf_zeros(s.y), *z = nf_zeros(s.y);
        struct lc_bn bn;
        cr_assert_eq(lc_bn_init(&bn, p.n, p.co, (int)hw, 1e-5f, 0.1f, 1, NULL), 0);
        lc_conv2d_forward(y, x, w, b, &p, ws);
        lc_bn_forward_eval(y, y, gamma, beta, rm, rv, &bn);
        float *wf = nf_zeros(s.w), *bf = nf_zeros(co);
        lc_conv2d_fold_bn(wf, bf, w, b, gamma, beta, rm, rv, 1e-5f, &p);
        lc_conv2d_forward(z, x, wf, bf, &p, ws);
        nf_close(z, y, s.y, 1e-4f, 1e-5f, "folded conv");
        /* PReLU */
        float *want = nf_copy(y, s.y);
        for (size_t k = 0; k < s.y; k++) {
            float sl = slope[(k / hw) % co];
            if (want[k] < 0) want[k] *= sl;
        }
        lc_conv2d_forward_prelu(z, x, wf, bf, slope, &p, ws);
        nf_close(z, want, s.y, 1e-4f, 1e-5f, "fused prelu");
        /* residual, and both */
        for (size_t k = 0; k < s.y; k++) want[k] = y[k] + res[k];
        lc_conv2d_forward_fused(z, x, wf, bf, NULL, res, &p, ws);
        nf_close(z, want, s.y, 1e-4f, 1e-5f, "fused residual");
        for (size_t k = 0; k < s.y; k++) {
            float v = y[k];
            want[k] = (v < 0 ? v * slope[(k / hw) % co] : v) + res[k];
        }
        lc_conv2d_forward_fused(z, x, wf, bf, slope, res, &p, ws);
        nf_close(z, want, s.y, 1e-4f, 1e-5f, "fused prelu + residual");
        /* prepared weights: the same numbers, bit for bit */
        float *pw = nf_zeros(lc_conv2d_prepared_size(&p)), *z2 = nf_zeros(s.y);
        lc_conv2d_prepare(pw, wf, &p);
        lc_conv2d_forward_prepared(z2, x, pw, bf, slope, res, &p, ws);
        cr_expect(!memcmp(z, z2, s.y * 4), "shape %zu: prepared forward differs", i);
        /* in place */
        lc_conv2d_fold_bn(w, b ? b : bf, w, b, gamma, beta, rm, rv, 1e-5f, &p);
        cr_expect(!memcmp(w, wf, s.w * 4), "fold in place");
        nf_free();
    }
}

Test(conv2d, init_validates_and_workspace)
{
    struct lc_conv2d p;
    struct lc_err err;
    cr_expect_eq(lc_conv2d_init(&p, 0, 3, 8, 8, 4, 3, 1, 1, 1, 0, &err), LC_EINVAL);
    cr_expect_eq(lc_conv2d_init(&p, 1, 3, 8, 8, 4, 3, 1, 1, 2, 0, &err), LC_EINVAL); /* 3 % 2 */
    cr_expect_eq(lc_conv2d_init(&p, 1, 4, 8, 8, 6, 3, 1, -1, 4, 0, &err), LC_EINVAL);
    cr_expect_eq(lc_conv2d_init(&p, 1, 4, 2, 2, 4, 5, 1, 1, 1, 0, &err), LC_EINVAL); /* kernel > padded input */
    cr_expect_eq(lc_conv2d_init(&p, 1, 4, 8, 8, 4, 3, 0, 1, 1, 0, &err), LC_EINVAL);
    cr_expect_eq(lc_conv2d_init(&p, 1 << 16, 64, 256, 256, 4, 3, 1, 1, 1, 0, &err), LC_EINVAL);
    cr_assert_eq(lc_conv2d_init(&p, 16, 64, 56, 56, 64, 3, 2, 1, 1, 0, &err), 0);
    cr_expect_eq(p.ho, 28);
    cr_expect_eq(p.wo, 28);
    cr_expect_gt(lc_conv2d_workspace(&p), 0);
    cr_assert_eq(lc_conv2d_init(&p, 16, 64, 56, 56, 64, 3, 1, 1, 64, 0, &err), 0);
    cr_expect_eq(lc_conv2d_workspace(&p), 0, "depthwise needs no scratch");
    cr_assert_eq(lc_conv2d_init(&p, 16, 64, 112, 112, 128, 1, 1, 0, 1, 0, &err), 0);
    cr_expect_eq(lc_conv2d_workspace(&p), 0, "large 1x1 stride 1 goes straight to GEMM");
}

/* lc_conv2d_backward_set overwrites dx (whatever it held) with exactly the
 * bits that zeroing it and lc_conv2d_backward give, on the Winograd path
 * (written in its output pass) and the others (zeroed, then accumulated);
 * dw is still accumulated. */
Test(conv2d, backward_set_equals_zeroing_and_accumulating)
{
    static const int shapes[][10] = {{2, 16, 9, 9, 24, 3, 1, 1, 1, 0},  /* Winograd */
                                     {2, 16, 40, 40, 16, 3, 1, 1, 1, 0}, /* Winograd, rows transformed whole */
                                     {2, 6, 9, 8, 10, 3, 2, 1, 1, 1},    /* im2col + col2im */
                                     {2, 8, 9, 9, 8, 3, 1, 1, 8, 0},     /* depthwise */
                                     {2, 8, 16, 16, 12, 1, 1, 0, 1, 0}}; /* 1x1: x is the column matrix */
    lc_threads_set(2);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct lc_conv2d p;
        init_case(&p, shapes[i]);
        struct sizes s = sizes_of(&p);
        float *x = nf_randn(s.x, 10 + i, 1), *w = nf_randn(s.w, 20 + i, 0.3f), *dy = nf_randn(s.y, 30 + i, 1);
        for (size_t k = 0; k < s.y; k += 7) dy[k] = -0.0f; /* gradients that are exactly -0 */
        float *dx1 = nf_zeros(s.x), *dx2 = nf_randn(s.x, 40 + i, 5); /* dx2: garbage to be overwritten */
        float *dw1 = nf_randn(s.w, 50 + i, 1), *dw2 = nf_copy(dw1, s.w), *ws = nf_zeros(lc_conv2d_workspace(&p));
        float *db1 = nf_zeros((size_t)p.co), *db2 = nf_zeros((size_t)p.co);
        lc_conv2d_backward(dx1, dw1, p.bias ? db1 : NULL, dy, x, w, &p, ws);
        lc_conv2d_backward_set(dx2, dw2, p.bias ? db2 : NULL, dy, x, w, &p, ws);
        cr_expect_arr_eq(dx1, dx2, s.x * 4, "shape %zu: dx", i);
        cr_expect_arr_eq(dw1, dw2, s.w * 4, "shape %zu: dw accumulated", i);
        cr_expect_arr_eq(db1, db2, (size_t)p.co * 4, "shape %zu: db", i);
        nf_free();
    }
}
