/* bn: batch norm 1d and 2d against PyTorch goldens (training over two
 * steps with the running statistics after each, eval, affine or not,
 * without running statistics), finite differences of every gradient,
 * bit-identical repeats, eval in place. */
#include "act.h"
#include "bn.h"
#include "nnfix.h"

/* mirrors make_nn_dense: n c hw affine mode (0 train, 1 train without
 * running statistics, 2 eval) */
static const int CASES[][5] = {{8, 5, 1, 1, 0}, {4, 3, 35, 1, 0}, {3, 4, 36, 0, 0},
                               {3, 2, 20, 1, 1}, {2, 3, 20, 1, 2}, {6, 4, 1, 0, 2}};

Test(bn, matches_torch)
{
    lc_threads_set(2);
    for (int i = 0; i < (int)(sizeof CASES / sizeof CASES[0]); i++) {
        const int *k = CASES[i];
        struct lc_bn p;
        struct lc_err err;
        cr_assert_eq(lc_bn_init(&p, k[0], k[1], k[2], 1e-5f, 0.1f, k[3], &err), 0, "%s", err.msg);
        size_t n = (size_t)k[0] * k[1] * k[2], c = (size_t)k[1];
        char cas[16], what[64];
        snprintf(cas, sizeof cas, "bn_%d", i);
        const float *x1 = nf_load(cas, "x1", n), *x2 = nf_load(cas, "x2", n), *dy = nf_load(cas, "dy", n);
        const float *gamma = p.affine ? nf_load(cas, "gamma", c) : NULL, *beta = p.affine ? nf_load(cas, "beta", c) : NULL;
        float *rm = nf_copy(nf_load(cas, "run_mean0", c), c), *rv = nf_copy(nf_load(cas, "run_var0", c), c);
        float *y = nf_zeros(n), *sm = nf_zeros(c), *si = nf_zeros(c);
        /* tolerances: rtol 1e-4, atol 1e-5 of the largest reference value */
        if (k[4] == 2) {
            lc_bn_forward_eval(y, x2, gamma, beta, rm, rv, &p);
            snprintf(what, sizeof what, "%s eval y", cas);
            nf_close(y, nf_load(cas, "y2", n), n, 1e-4f, 1e-5f, what);
            float *inplace = nf_copy(x2, n);
            lc_bn_forward_eval(inplace, inplace, gamma, beta, rm, rv, &p);
            cr_expect(!memcmp(inplace, y, n * 4), "%s: eval in place differs", cas);
            nf_free();
            continue;
        }
        int stats = k[4] == 0;
        lc_bn_forward_train(y, sm, si, stats ? rm : NULL, stats ? rv : NULL, x1, gamma, beta, &p);
        snprintf(what, sizeof what, "%s step 1 y", cas);
        nf_close(y, nf_load(cas, "y1", n), n, 1e-4f, 1e-5f, what);
        if (stats) {
            snprintf(what, sizeof what, "%s running mean 1", cas);
            nf_close(rm, nf_load(cas, "run_mean1", c), c, 1e-5f, 1e-6f, what);
            snprintf(what, sizeof what, "%s running var 1", cas);
            nf_close(rv, nf_load(cas, "run_var1", c), c, 1e-5f, 1e-6f, what);
        }
        lc_bn_forward_train(y, sm, si, stats ? rm : NULL, stats ? rv : NULL, x2, gamma, beta, &p);
        snprintf(what, sizeof what, "%s step 2 y", cas);
        nf_close(y, nf_load(cas, "y2", n), n, 1e-4f, 1e-5f, what);
        snprintf(what, sizeof what, "%s save_mean", cas);
        nf_close(sm, nf_load(cas, "save_mean2", c), c, 1e-5f, 1e-6f, what);
        snprintf(what, sizeof what, "%s save_invstd", cas);
        nf_close(si, nf_load(cas, "save_invstd2", c), c, 1e-5f, 1e-6f, what);
        if (stats) {
            snprintf(what, sizeof what, "%s running mean 2", cas);
            nf_close(rm, nf_load(cas, "run_mean2", c), c, 1e-5f, 1e-6f, what);
            snprintf(what, sizeof what, "%s running var 2", cas);
            nf_close(rv, nf_load(cas, "run_var2", c), c, 1e-5f, 1e-6f, what);
        }
        float *dx = nf_zeros(n), *dg = nf_zeros(c), *db = nf_zeros(c);
        lc_bn_backward(dx, p.affine ? dg : NULL, p.affine ? db : NULL, dy, x2, sm, si, gamma, &p);
        snprintf(what, sizeof what, "%s dx", cas);
        nf_close(dx, nf_load(cas, "dx", n), n, 1e-4f, 1e-5f, what);
        if (p.affine) {
            snprintf(what, sizeof what, "%s dgamma", cas);
            nf_close(dg, nf_load(cas, "dgamma", c), c, 1e-4f, 1e-5f, what);
            snprintf(what, sizeof what, "%s dbeta", cas);
            nf_close(db, nf_load(cas, "dbeta", c), c, 1e-4f, 1e-5f, what);
        }
        /* accumulation: a second backward doubles every gradient */
        float *dx2 = nf_copy(dx, n), *twice = nf_copy(dx, n);
        lc_bn_backward(dx2, NULL, NULL, dy, x2, sm, si, gamma, &p);
        for (size_t j = 0; j < n; j++) twice[j] *= 2;
        snprintf(what, sizeof what, "%s dx accumulated", cas);
        nf_close(dx2, twice, n, 1e-6f, 1e-7f, what);
        nf_free();
    }
}

struct gc {
    struct lc_bn p;
    float *x, *gamma, *beta, *r, *y, *sm, *si;
    size_t n;
};

static double gc_loss(void *ctx)
{
    struct gc *g = ctx;
    lc_bn_forward_train(g->y, g->sm, g->si, NULL, NULL, g->x, g->gamma, g->beta, &g->p);
    return nf_dot(g->y, g->r, g->n);
}

/* Central differences in float32, eps 1e-2 on inputs of unit scale:
 * |fd - g| <= 3e-3 + 2e-2 max(|fd|, |g|) (the loss is a normalised sum, so
 * cancellation costs a little more than for conv). */
Test(bn, gradients_match_finite_differences)
{
    lc_threads_set(2);
    static const int shapes[][4] = {{6, 3, 1, 1}, {3, 4, 10, 1}, {2, 3, 12, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct gc g;
        cr_assert_eq(lc_bn_init(&g.p, shapes[i][0], shapes[i][1], shapes[i][2], 1e-5f, 0.1f, shapes[i][3], NULL), 0);
        size_t n = (size_t)shapes[i][0] * shapes[i][1] * shapes[i][2], c = (size_t)shapes[i][1];
        g.n = n, g.x = nf_randn(n, 1 + i, 1), g.r = nf_randn(n, 2 + i, 1), g.y = nf_zeros(n);
        g.gamma = nf_randn(c, 3 + i, 0.5f), g.beta = nf_randn(c, 4 + i, 1), g.sm = nf_zeros(c), g.si = nf_zeros(c);
        for (size_t j = 0; j < c; j++) g.gamma[j] += 1;
        gc_loss(&g);
        float *dx = nf_zeros(n), *dg = nf_zeros(c), *db = nf_zeros(c);
        lc_bn_backward(dx, dg, db, g.r, g.x, g.sm, g.si, g.gamma, &g.p);
        tu_grad_check(gc_loss, &g, g.x, dx, n, 60, 1e-2f, 2e-2f, 3e-3f, "dx");
        if (g.p.affine) {
            tu_grad_check(gc_loss, &g, g.gamma, dg, c, 10, 1e-2f, 2e-2f, 3e-3f, "dgamma");
            tu_grad_check(gc_loss, &g, g.beta, db, c, 10, 1e-2f, 2e-2f, 3e-3f, "dbeta");
        }
        nf_free();
    }
}

Test(bn, repeat_runs_are_bit_identical)
{
    lc_threads_set(2);
    struct lc_bn p;
    cr_assert_eq(lc_bn_init(&p, 16, 64, 14 * 14, 1e-5f, 0.1f, 1, NULL), 0);
    size_t n = 16 * 64 * 196, c = 64;
    float *x = nf_randn(n, 1, 2), *dy = nf_randn(n, 2, 1), *gamma = nf_randn(c, 3, 1), *beta = nf_randn(c, 4, 1);
    float *out[2][7];
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < 7; k++) out[r][k] = nf_zeros(k < 2 ? n : c);
        lc_bn_forward_train(out[r][0], out[r][2], out[r][3], out[r][4], out[r][5], x, gamma, beta, &p);
        lc_bn_backward(out[r][1], out[r][6], out[r][6], dy, x, out[r][2], out[r][3], gamma, &p);
    }
    for (int k = 0; k < 7; k++) cr_expect(!memcmp(out[0][k], out[1][k], (k < 2 ? n : c) * 4), "output %d differs", k);
    nf_free();
}

/* The fused form (batch norm and PReLU in one pass) is the two ops, bit for bit. */
Test(bn, fused_prelu_equals_the_two_ops)
{
    lc_threads_set(2);
    struct lc_bn p;
    struct lc_err err;
    cr_assert_eq(lc_bn_init(&p, 3, 5, 37, 1e-5f, 0.1f, 1, &err), 0);
    size_t n = 3 * 5 * 37;
    float *x = nf_randn(n, 1, 2), *g = nf_randn(5, 2, 1), *b = nf_randn(5, 3, 1), *a = nf_randn(5, 4, 0.3f);
    float *y1 = nf_zeros(n), *z1 = nf_zeros(n), *y2 = nf_zeros(n), *z2 = nf_zeros(n);
    float *m1 = nf_zeros(5), *s1 = nf_zeros(5), *rm1 = nf_zeros(5), *rv1 = nf_zeros(5);
    float *m2 = nf_zeros(5), *s2 = nf_zeros(5), *rm2 = nf_zeros(5), *rv2 = nf_zeros(5);
    lc_bn_forward_train(y1, m1, s1, rm1, rv1, x, g, b, &p);
    lc_prelu_forward(z1, y1, a, 3, 5, 37);
    lc_bn_forward_train_prelu(y2, z2, a, m2, s2, rm2, rv2, x, g, b, &p);
    cr_expect_arr_eq(y1, y2, n * 4, "y");
    cr_expect_arr_eq(z1, z2, n * 4, "prelu(y)");
    cr_expect_arr_eq(rv1, rv2, 5 * 4, "running variance");
    int neg = 0;
    for (size_t i = 0; i < n; i++) neg += y1[i] < 0 && z1[i] != y1[i];
    cr_expect_gt(neg, 0, "PReLU changed something");
    nf_free();
}

/* lc_bn_backward_set overwrites dx with exactly the bits that zeroing it and
 * lc_bn_backward give; dgamma and dbeta are still accumulated. */
Test(bn, backward_set_equals_zeroing_and_accumulating)
{
    lc_threads_set(2);
    struct lc_bn p;
    struct lc_err err;
    cr_assert_eq(lc_bn_init(&p, 3, 5, 37, 1e-5f, 0.1f, 1, &err), 0);
    size_t n = 3 * 5 * 37;
    float *x = nf_randn(n, 1, 2), *g = nf_randn(5, 2, 1), *b = nf_randn(5, 3, 1), *dy = nf_randn(n, 4, 1);
    float *y = nf_zeros(n), *m = nf_zeros(5), *s = nf_zeros(5), *rm = nf_zeros(5), *rv = nf_zeros(5);
    lc_bn_forward_train(y, m, s, rm, rv, x, g, b, &p);
    float *dx1 = nf_zeros(n), *dx2 = nf_randn(n, 5, 7); /* dx2: garbage to be overwritten */
    float *dg1 = nf_randn(5, 6, 1), *dg2 = nf_copy(dg1, 5), *db1 = nf_randn(5, 7, 1), *db2 = nf_copy(db1, 5);
    lc_bn_backward(dx1, dg1, db1, dy, x, m, s, g, &p);
    lc_bn_backward_set(dx2, dg2, db2, dy, x, m, s, g, &p);
    cr_expect_arr_eq(dx1, dx2, n * 4, "dx");
    cr_expect_arr_eq(dg1, dg2, 5 * 4, "dgamma accumulated");
    cr_expect_arr_eq(db1, db2, 5 * 4, "dbeta accumulated");
    nf_free();
}

Test(bn, init_validates)
{
    struct lc_bn p;
    cr_expect_eq(lc_bn_init(&p, 0, 3, 1, 1e-5f, 0.1f, 1, NULL), LC_EINVAL);
    cr_expect_eq(lc_bn_init(&p, 2, 3, 1, -1, 0.1f, 1, NULL), LC_EINVAL);
    cr_expect_eq(lc_bn_init(&p, 2, 3, 1, 1e-5f, 1.5f, 1, NULL), LC_EINVAL);
    cr_expect_eq(lc_bn_init(&p, 2, 3, 1, 1e-5f, 0.1f, 2, NULL), LC_EINVAL);
    cr_expect_eq(lc_bn_init(&p, 2, 3, 4, 1e-5f, 0.1f, 0, NULL), 0);
}
