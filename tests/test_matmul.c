/* matmul: batched products with every transpose flag against PyTorch
 * goldens, finite differences for each flag combination, bit-identical
 * repeats on both parallel paths (over batches, inside one product). */
#include "matmul.h"
#include "nnfix.h"

/* mirrors make_nn_dense: batch m n k ta tb */
static const int CASES[][6] = {{3, 4, 5, 6, 0, 0}, {3, 4, 5, 6, 0, 1}, {3, 4, 5, 6, 1, 0},
                               {3, 4, 5, 6, 1, 1}, {1, 20, 33, 17, 1, 0}, {2, 1, 7, 3, 0, 1}};

Test(matmul, matches_torch)
{
    for (int t = 1; t <= 2; t++) {
        lc_threads_set(t);
        for (int i = 0; i < (int)(sizeof CASES / sizeof CASES[0]); i++) {
            const int *k = CASES[i];
            int bt = k[0], m = k[1], n = k[2], kk = k[3];
            size_t na = (size_t)bt * m * kk, nb = (size_t)bt * kk * n, nc = (size_t)bt * m * n;
            char cas[16], what[64];
            snprintf(cas, sizeof cas, "matmul_%d", i);
            const float *a = nf_load(cas, "a", na), *b = nf_load(cas, "b", nb), *dc = nf_load(cas, "dc", nc);
            float *c = nf_zeros(nc), *da = nf_zeros(na), *db = nf_zeros(nb);
            lc_matmul_forward(c, a, b, bt, m, n, kk, k[4], k[5]);
            lc_matmul_backward(da, db, dc, a, b, bt, m, n, kk, k[4], k[5]);
            /* rtol 1e-4, atol 1e-5 of the largest reference value */
            snprintf(what, sizeof what, "%s c", cas);
            nf_close(c, nf_load(cas, "c", nc), nc, 1e-4f, 1e-5f, what);
            snprintf(what, sizeof what, "%s da", cas);
            nf_close(da, nf_load(cas, "da", na), na, 1e-4f, 1e-5f, what);
            snprintf(what, sizeof what, "%s db", cas);
            nf_close(db, nf_load(cas, "db", nb), nb, 1e-4f, 1e-5f, what);
            float *db2 = nf_zeros(nb);
            lc_matmul_backward(NULL, db2, dc, a, b, bt, m, n, kk, k[4], k[5]);
            cr_expect(!memcmp(db2, db, nb * 4), "%s: db alone differs", cas);
            nf_free();
        }
    }
}

struct gc {
    float *a, *b, *r, *c;
    int bt, m, n, k, ta, tb;
};

static double gc_loss(void *ctx)
{
    struct gc *g = ctx;
    lc_matmul_forward(g->c, g->a, g->b, g->bt, g->m, g->n, g->k, g->ta, g->tb);
    return nf_dot(g->c, g->r, (size_t)g->bt * g->m * g->n);
}

/* float32 central differences, eps 1e-2: |fd - g| <= 2e-3 + 1e-2 max(|fd|, |g|) */
Test(matmul, gradients_match_finite_differences)
{
    lc_threads_set(2);
    for (int f = 0; f < 4; f++) {
        struct gc g = {.bt = 3, .m = 5, .n = 6, .k = 7, .ta = f >> 1, .tb = f & 1};
        size_t na = 3 * 5 * 7, nb = 3 * 7 * 6, nc = 3 * 5 * 6;
        g.a = nf_randn(na, 1 + f, 1), g.b = nf_randn(nb, 10 + f, 1), g.r = nf_randn(nc, 20 + f, 1), g.c = nf_zeros(nc);
        float *da = nf_zeros(na), *db = nf_zeros(nb);
        lc_matmul_backward(da, db, g.r, g.a, g.b, g.bt, g.m, g.n, g.k, g.ta, g.tb);
        tu_grad_check(gc_loss, &g, g.a, da, na, 50, 1e-2f, 1e-2f, 2e-3f, "da");
        tu_grad_check(gc_loss, &g, g.b, db, nb, 50, 1e-2f, 1e-2f, 2e-3f, "db");
        nf_free();
    }
}

Test(matmul, repeat_runs_are_bit_identical)
{
    lc_threads_set(2);
    static const int shapes[][6] = {{8, 49, 49, 64, 0, 1}, {1, 300, 200, 150, 1, 1}};
    for (int s = 0; s < 2; s++) {
        const int *k = shapes[s];
        size_t na = (size_t)k[0] * k[1] * k[3], nb = (size_t)k[0] * k[3] * k[2], nc = (size_t)k[0] * k[1] * k[2];
        float *a = nf_randn(na, 1, 1), *b = nf_randn(nb, 2, 1), *dc = nf_randn(nc, 3, 1), *o[2][3];
        for (int r = 0; r < 2; r++) {
            o[r][0] = nf_zeros(nc), o[r][1] = nf_zeros(na), o[r][2] = nf_zeros(nb);
            lc_matmul_forward(o[r][0], a, b, k[0], k[1], k[2], k[3], k[4], k[5]);
            lc_matmul_backward(o[r][1], o[r][2], dc, a, b, k[0], k[1], k[2], k[3], k[4], k[5]);
        }
        size_t len[3] = {nc, na, nb};
        for (int j = 0; j < 3; j++) cr_expect(!memcmp(o[0][j], o[1][j], len[j] * 4), "shape %d output %d differs", s, j);
        nf_free();
    }
}
