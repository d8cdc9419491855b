/* pool: max (with argmax), average and global average pooling against
 * PyTorch goldens (padding, kernel 1 stride 2, overlapping windows), finite
 * differences, bit-identical repeats, and init's checks. */
#include "nnfix.h"
#include "pool.h"

/* mirrors make_nn_dense: kind (0 max, 1 avg, 2 gap) n c h w k stride pad */
static const int CASES[][8] = {{0, 2, 3, 9, 9, 3, 2, 1}, {0, 2, 2, 8, 7, 2, 2, 0}, {0, 2, 3, 7, 7, 1, 2, 0},
                               {0, 1, 2, 6, 5, 3, 1, 1}, {1, 2, 3, 9, 8, 3, 2, 1}, {1, 2, 2, 5, 5, 2, 1, 1},
                               {1, 1, 3, 7, 6, 3, 3, 0}, {2, 2, 4, 5, 6, 0, 0, 0}};

Test(pool, matches_torch)
{
    lc_threads_set(2);
    for (int i = 0; i < (int)(sizeof CASES / sizeof CASES[0]); i++) {
        const int *k = CASES[i];
        char cas[16], what[64];
        snprintf(cas, sizeof cas, "pool_%d", i);
        size_t nx = (size_t)k[1] * k[2] * k[3] * k[4], ny;
        struct lc_pool2d p;
        if (k[0] == 2) {
            ny = (size_t)k[1] * k[2];
        } else {
            struct lc_err err;
            cr_assert_eq(lc_pool2d_init(&p, k[1], k[2], k[3], k[4], k[5], k[6], k[7], &err), 0, "%s", err.msg);
            ny = (size_t)p.n * p.c * p.ho * p.wo;
        }
        const float *x = nf_load(cas, "x", nx), *dy = nf_load(cas, "dy", ny);
        float *y = nf_zeros(ny), *dx = nf_zeros(nx);
        if (k[0] == 0) {
            int32_t *am = (int32_t *)nf_zeros(ny);
            lc_maxpool2d_forward(y, am, x, &p);
            const int32_t *want = nf_load_any(cas, "argmax", ny, LC_DTYPE_I32);
            cr_expect(!memcmp(am, want, ny * 4), "%s: argmax differs", cas);
            lc_maxpool2d_backward(dx, dy, am, &p);
        } else if (k[0] == 1) {
            lc_avgpool2d_forward(y, x, &p);
            lc_avgpool2d_backward(dx, dy, &p);
        } else {
            lc_gap_forward(y, x, k[1], k[2], k[3] * k[4]);
            lc_gap_backward(dx, dy, k[1], k[2], k[3] * k[4]);
        }
        /* max pooling copies values: exact; averages: rtol 1e-5 */
        snprintf(what, sizeof what, "%s y", cas);
        nf_close(y, nf_load(cas, "y", ny), ny, k[0] ? 1e-5f : 0, k[0] ? 1e-6f : 0, what);
        snprintf(what, sizeof what, "%s dx", cas);
        nf_close(dx, nf_load(cas, "dx", nx), nx, 1e-5f, 1e-6f, what);
        nf_free();
    }
}

Test(pool, max_ties_and_nan_follow_torch)
{
    struct lc_pool2d p;
    cr_assert_eq(lc_pool2d_init(&p, 1, 1, 2, 4, 2, 2, 0, NULL), 0);
    /* window 0 holds a tie (first wins), window 1 two NaNs (the last wins) */
    float x[8] = {5, 1, NAN, 2, 3, 5, 4, NAN}, y[2];
    int32_t am[2];
    lc_maxpool2d_forward(y, am, x, &p);
    cr_expect_eq(y[0], 5);
    cr_expect_eq(am[0], 0);
    cr_expect(isnan(y[1]));
    cr_expect_eq(am[1], 7);
}

struct gc {
    struct lc_pool2d p;
    int kind;
    float *x, *r, *y;
    int32_t *am;
    size_t ny;
};

static double gc_loss(void *ctx)
{
    struct gc *g = ctx;
    if (g->kind == 0) lc_maxpool2d_forward(g->y, g->am, g->x, &g->p);
    else if (g->kind == 1) lc_avgpool2d_forward(g->y, g->x, &g->p);
    else lc_gap_forward(g->y, g->x, g->p.n, g->p.c, g->p.h * g->p.w);
    return nf_dot(g->y, g->r, g->ny);
}

/* float32 central differences, eps 1e-3 (small enough not to change a
 * max-pool winner on these well-separated inputs): |fd - g| <= 1e-3 +
 * 1e-2 max(|fd|, |g|). */
Test(pool, gradients_match_finite_differences)
{
    lc_threads_set(2);
    for (int kind = 0; kind < 3; kind++) {
        struct gc g = {.kind = kind};
        cr_assert_eq(lc_pool2d_init(&g.p, 2, 3, 7, 6, 3, 2, 1, NULL), 0);
        size_t nx = 2 * 3 * 7 * 6;
        g.ny = kind == 2 ? 6 : (size_t)2 * 3 * g.p.ho * g.p.wo;
        g.x = nf_randn(nx, 5, 1), g.r = nf_randn(g.ny, 6, 1), g.y = nf_zeros(g.ny), g.am = (int32_t *)nf_zeros(g.ny);
        for (size_t i = 0; i < nx; i++) g.x[i] += 0.01f * (float)i; /* distinct values: unique maxima */
        gc_loss(&g);
        float *dx = nf_zeros(nx);
        if (kind == 0) lc_maxpool2d_backward(dx, g.r, g.am, &g.p);
        else if (kind == 1) lc_avgpool2d_backward(dx, g.r, &g.p);
        else lc_gap_backward(dx, g.r, 2, 3, 42);
        tu_grad_check(gc_loss, &g, g.x, dx, nx, 80, 1e-3f, 1e-2f, 1e-3f, kind == 0 ? "max dx" : kind == 1 ? "avg dx" : "gap dx");
        nf_free();
    }
}

Test(pool, repeat_runs_are_bit_identical)
{
    lc_threads_set(2);
    struct lc_pool2d p;
    cr_assert_eq(lc_pool2d_init(&p, 8, 16, 30, 30, 3, 2, 1, NULL), 0);
    size_t nx = 8 * 16 * 900, ny = (size_t)8 * 16 * p.ho * p.wo;
    float *x = nf_randn(nx, 1, 1), *dy = nf_randn(ny, 2, 1), *o[2][4];
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < 4; k++) o[r][k] = nf_zeros(k % 2 ? nx : ny);
        int32_t *am = (int32_t *)nf_zeros(ny);
        lc_maxpool2d_forward(o[r][0], am, x, &p);
        lc_maxpool2d_backward(o[r][1], dy, am, &p);
        lc_avgpool2d_forward(o[r][2], x, &p);
        lc_avgpool2d_backward(o[r][3], dy, &p);
    }
    for (int k = 0; k < 4; k++) cr_expect(!memcmp(o[0][k], o[1][k], (k % 2 ? nx : ny) * 4), "output %d differs", k);
    nf_free();
}

Test(pool, init_validates)
{
    struct lc_pool2d p;
    cr_expect_eq(lc_pool2d_init(&p, 1, 1, 5, 5, 3, 1, 2, NULL), LC_EINVAL, "pad > k/2");
    cr_expect_eq(lc_pool2d_init(&p, 1, 1, 2, 2, 5, 1, 1, NULL), LC_EINVAL);
    cr_expect_eq(lc_pool2d_init(&p, 1, 1, 5, 5, 3, 0, 1, NULL), LC_EINVAL);
    cr_assert_eq(lc_pool2d_init(&p, 1, 1, 7, 7, 1, 2, 0, NULL), 0);
    cr_expect_eq(p.ho, 4);
}
