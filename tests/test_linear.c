/* linear: y = x W^T + b against PyTorch goldens (bias on/off, a single
 * sample, a single output), finite differences, bit-identical repeats,
 * accumulation and the IR-50 output layer's shape (25088 -> 512). */
#include "linear.h"
#include "nnfix.h"

/* mirrors make_nn_dense: n in out bias */
static const int CASES[][4] = {{5, 7, 3, 1}, {4, 33, 17, 0}, {1, 10, 1, 1}, {16, 300, 40, 1}};

Test(linear, matches_torch)
{
    for (int t = 1; t <= 2; t++) {
        lc_threads_set(t);
        for (int i = 0; i < (int)(sizeof CASES / sizeof CASES[0]); i++) {
            const int *k = CASES[i];
            struct lc_linear p;
            struct lc_err err;
            cr_assert_eq(lc_linear_init(&p, k[0], k[1], k[2], k[3], &err), 0, "%s", err.msg);
            size_t nx = (size_t)k[0] * k[1], ny = (size_t)k[0] * k[2], nw = (size_t)k[1] * k[2], nb = (size_t)k[2];
            char cas[16], what[64];
            snprintf(cas, sizeof cas, "linear_%d", i);
            const float *x = nf_load(cas, "x", nx), *w = nf_load(cas, "w", nw), *dy = nf_load(cas, "dy", ny);
            const float *b = p.bias ? nf_load(cas, "b", nb) : NULL;
            float *y = nf_zeros(ny), *dx = nf_zeros(nx), *dw = nf_zeros(nw), *db = nf_zeros(nb);
            lc_linear_forward(y, x, w, b, &p);
            lc_linear_backward(dx, dw, p.bias ? db : NULL, dy, x, w, &p);
            /* rtol 1e-4, atol 1e-5 of the largest reference value */
            snprintf(what, sizeof what, "%s y", cas);
            nf_close(y, nf_load(cas, "y", ny), ny, 1e-4f, 1e-5f, what);
            snprintf(what, sizeof what, "%s dx", cas);
            nf_close(dx, nf_load(cas, "dx", nx), nx, 1e-4f, 1e-5f, what);
            snprintf(what, sizeof what, "%s dw", cas);
            nf_close(dw, nf_load(cas, "dw", nw), nw, 1e-4f, 1e-5f, what);
            if (p.bias) {
                snprintf(what, sizeof what, "%s db", cas);
                nf_close(db, nf_load(cas, "db", nb), nb, 1e-4f, 1e-5f, what);
            }
            float *dw2 = nf_copy(dw, nw), *twice = nf_copy(dw, nw);
            lc_linear_backward(NULL, dw2, NULL, dy, x, w, &p);
            for (size_t j = 0; j < nw; j++) twice[j] *= 2;
            snprintf(what, sizeof what, "%s dw accumulated", cas);
            nf_close(dw2, twice, nw, 1e-6f, 1e-7f, what);
            nf_free();
        }
    }
}

struct gc {
    struct lc_linear p;
    float *x, *w, *b, *r, *y;
};

static double gc_loss(void *ctx)
{
    struct gc *g = ctx;
    lc_linear_forward(g->y, g->x, g->w, g->b, &g->p);
    return nf_dot(g->y, g->r, (size_t)g->p.n * g->p.out);
}

/* float32 central differences, eps 1e-2: |fd - g| <= 2e-3 + 1e-2 max(|fd|, |g|) */
Test(linear, gradients_match_finite_differences)
{
    lc_threads_set(2);
    struct gc g;
    cr_assert_eq(lc_linear_init(&g.p, 6, 40, 24, 1, NULL), 0);
    g.x = nf_randn(240, 1, 1), g.w = nf_randn(960, 2, 0.2f), g.b = nf_randn(24, 3, 1), g.r = nf_randn(144, 4, 1);
    g.y = nf_zeros(144);
    float *dx = nf_zeros(240), *dw = nf_zeros(960), *db = nf_zeros(24);
    lc_linear_backward(dx, dw, db, g.r, g.x, g.w, &g.p);
    tu_grad_check(gc_loss, &g, g.x, dx, 240, 40, 1e-2f, 1e-2f, 2e-3f, "dx");
    tu_grad_check(gc_loss, &g, g.w, dw, 960, 40, 1e-2f, 1e-2f, 2e-3f, "dw");
    tu_grad_check(gc_loss, &g, g.b, db, 24, 24, 1e-2f, 1e-2f, 2e-3f, "db");
    nf_free();
}

/* IR-50's output layer at batch 16: the GEMM split over threads */
Test(linear, repeat_runs_are_bit_identical)
{
    lc_threads_set(2);
    struct lc_linear p;
    cr_assert_eq(lc_linear_init(&p, 16, 25088, 512, 1, NULL), 0);
    size_t nx = 16 * 25088, nw = 25088 * 512, ny = 16 * 512;
    float *x = nf_randn(nx, 1, 1), *w = nf_randn(nw, 2, 0.01f), *b = nf_randn(512, 3, 1), *dy = nf_randn(ny, 4, 1);
    float *o[2][4];
    for (int r = 0; r < 2; r++) {
        o[r][0] = nf_zeros(ny), o[r][1] = nf_zeros(nx), o[r][2] = nf_zeros(nw), o[r][3] = nf_zeros(512);
        lc_linear_forward(o[r][0], x, w, b, &p);
        lc_linear_backward(o[r][1], o[r][2], o[r][3], dy, x, w, &p);
    }
    size_t len[4] = {ny, nx, nw, 512};
    for (int k = 0; k < 4; k++) cr_expect(!memcmp(o[0][k], o[1][k], len[k] * 4), "output %d differs", k);
    nf_free();
}

Test(linear, init_validates)
{
    struct lc_linear p;
    cr_expect_eq(lc_linear_init(&p, 0, 3, 4, 1, NULL), LC_EINVAL);
    cr_expect_eq(lc_linear_init(&p, 2, 3, 4, 2, NULL), LC_EINVAL);
    cr_expect_eq(lc_linear_init(&p, 2, 3, 4, 0, NULL), 0);
}
