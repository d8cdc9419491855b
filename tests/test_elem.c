/* Elementwise and structural ops (act, tensorops, softmax, dropout,
 * resize) against PyTorch goldens (tests/make_golden.py nn_elem), plus
 * finite-difference checks where the golden is not enough (cross-entropy
 * with smoothing, L2 normalisation) and dropout's statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "dropout.h"
#include "resize.h"
#include "rng.h"
#include "softmax.h"
#include "tensorops.h"
#include "testutil.h"
#include "threads.h"

static struct tu_array fx(const char *c, const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "nn/elem/%s_%s.npy", c, name);
    return tu_fixture(rel);
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* One unary op: forward into y, backward into a zeroed dx; both compared. */
typedef void (*unary_fwd)(float *, const float *, size_t);
static void check_unary(const char *c, unary_fwd fwd, int bwd_uses_y,
                        void (*bwd)(float *, const float *, const float *, size_t), float tol)
{
    struct tu_array x = fx(c, "x"), dy = fx(c, "dy"), wy = fx(c, "y"), wdx = fx(c, "dx");
    float *y = zeros(x.n), *dx = zeros(x.n);
    fwd(y, x.data, x.n);
    tu_expect_close(y, wy.data, x.n, tol, tol);
    bwd(dx, dy.data, bwd_uses_y ? y : x.data, x.n);
    tu_expect_close(dx, wdx.data, x.n, tol, tol);
    /* accumulates: a second backward doubles dx */
    bwd(dx, dy.data, bwd_uses_y ? y : x.data, x.n);
    for (size_t i = 0; i < x.n; i++) cr_expect_float_eq(dx[i], 2 * ((float *)wdx.data)[i], tol * 4 + 1e-6f);
    free(y), free(dx);
    tu_free(&x), tu_free(&dy), tu_free(&wy), tu_free(&wdx);
}

Test(act, relu) { check_unary("relu", lc_relu_forward, 1, lc_relu_backward, 0); }
Test(act, gelu) { check_unary("gelu", lc_gelu_forward, 0, lc_gelu_backward, 2e-6f); }
Test(act, sigmoid) { check_unary("sigmoid", lc_sigmoid_forward, 1, lc_sigmoid_backward, 2e-6f); }

static void check_prelu(const char *c)
{
    struct tu_array x = fx(c, "x"), a = fx(c, "a"), dy = fx(c, "dy"), wy = fx(c, "y"), wdx = fx(c, "dx"),
                    wda = fx(c, "da");
    int n = (int)x.h.dims[0], ch = (int)x.h.dims[1], hw = (int)(x.h.dims[2] * x.h.dims[3]);
    if (a.n == 1) hw *= ch; /* one shared slope: each sample is one channel */
    float *y = zeros(x.n), *dx = zeros(x.n), *da = zeros(a.n);
    lc_prelu_forward(y, x.data, a.data, n, (int)a.n, hw);
    tu_expect_close(y, wy.data, x.n, 1e-7f, 1e-6f);
    lc_prelu_backward(dx, da, dy.data, x.data, a.data, n, (int)a.n, hw);
    tu_expect_close(dx, wdx.data, x.n, 1e-7f, 1e-6f);
    tu_expect_close(da, wda.data, a.n, 1e-5f, 1e-5f);
    free(y), free(dx), free(da);
    tu_free(&x), tu_free(&a), tu_free(&dy), tu_free(&wy), tu_free(&wdx), tu_free(&wda);
}

Test(act, prelu_per_channel) { check_prelu("prelu_ch"); }
Test(act, prelu_shared) { check_prelu("prelu_one"); }

/* lc_prelu_backward_set overwrites dx with exactly the bits that zeroing it
 * and lc_prelu_backward give (dy = -0 where x > 0 gives +0 both ways); da
 * is still accumulated. Per-channel and shared slopes, with and without da. */
Test(act, prelu_backward_set_equals_zeroing_and_accumulating)
{
    const int n = 3, ch = 4, hw = 29; /* hw not a multiple of 8: the tail loop too */
    size_t len = (size_t)n * ch * hw;
    float *x = malloc(len * 4), *dy = malloc(len * 4), *dx1 = malloc(len * 4), *dx2 = malloc(len * 4);
    float a[4] = {0.25f, -0.5f, 0.1f, 2.0f};
    uint32_t r = 12345;
    for (size_t i = 0; i < len; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)((int)(r >> 8) % 2001 - 1000) / 300.0f;
        r = r * 1664525u + 1013904223u;
        dy[i] = i % 5 == 0 ? -0.0f : (float)((int)(r >> 8) % 2001 - 1000) / 700.0f;
    }
    for (int shared = 0; shared < 2; shared++)
        for (int with_da = 0; with_da < 2; with_da++) {
            int c = shared ? 1 : ch, h = shared ? ch * hw : hw;
            float da1[4] = {1, 2, 3, 4}, da2[4] = {1, 2, 3, 4};
            for (size_t i = 0; i < len; i++) dx1[i] = 0, dx2[i] = (float)i - 7.5f;
            lc_prelu_backward(dx1, with_da ? da1 : NULL, dy, x, a, n, c, h);
            lc_prelu_backward_set(dx2, with_da ? da2 : NULL, dy, x, a, n, c, h);
            cr_expect_arr_eq(dx1, dx2, len * 4, "shared %d, da %d: dx", shared, with_da);
            cr_expect_arr_eq(da1, da2, sizeof da1, "shared %d, da %d: da", shared, with_da);
        }
    free(x), free(dy), free(dx1), free(dx2);
}

Test(act, relu_in_place)
{
    float x[4] = {-1, 0, 2, -0.5f};
    lc_relu_forward(x, x, 4);
    cr_expect(x[0] == 0 && x[1] == 0 && x[2] == 2 && x[3] == 0);
}

Test(tensorops, mul)
{
    struct tu_array a = fx("mul", "a"), b = fx("mul", "b"), dy = fx("mul", "dy"), wy = fx("mul", "y"),
                    wda = fx("mul", "da"), wdb = fx("mul", "db");
    float *y = zeros(a.n), *da = zeros(a.n), *db = zeros(a.n);
    lc_mul_forward(y, a.data, b.data, a.n);
    tu_expect_close(y, wy.data, a.n, 1e-7f, 1e-6f);
    lc_mul_backward(da, db, dy.data, a.data, b.data, a.n);
    tu_expect_close(da, wda.data, a.n, 1e-7f, 1e-6f);
    tu_expect_close(db, wdb.data, a.n, 1e-7f, 1e-6f);
    /* add and scale, by definition */
    lc_add_forward(y, a.data, b.data, a.n);
    for (size_t i = 0; i < a.n; i++) cr_expect_eq(y[i], ((float *)a.data)[i] + ((float *)b.data)[i]);
    lc_scale_forward(y, a.data, -3.0f, a.n);
    for (size_t i = 0; i < a.n; i++) cr_expect_eq(y[i], -3.0f * ((float *)a.data)[i]);
    free(y), free(da), free(db);
    tu_free(&a), tu_free(&b), tu_free(&dy), tu_free(&wy), tu_free(&wda), tu_free(&wdb);
}

Test(tensorops, pixel_shuffle_is_a_permutation)
{
    struct tu_array x = fx("pixel_shuffle", "x"), dy = fx("pixel_shuffle", "dy"), wy = fx("pixel_shuffle", "y"),
                    wdx = fx("pixel_shuffle", "dx");
    float *y = zeros(x.n), *dx = zeros(x.n);
    lc_pixel_shuffle_forward(y, x.data, 2, 3, 3, 4, 2);
    tu_expect_close(y, wy.data, x.n, 0, 0);
    lc_pixel_shuffle_backward(dx, dy.data, 2, 3, 3, 4, 2);
    tu_expect_close(dx, wdx.data, x.n, 0, 0);
    free(y), free(dx);
    tu_free(&x), tu_free(&dy), tu_free(&wy), tu_free(&wdx);
}

Test(tensorops, concat_round_trip)
{
    /* (2, 1+3, 5) from pieces (2,1,5) and (2,3,5); backward splits dy back */
    float a[10], b[30], y[40], da[10] = {0}, db[30] = {0};
    for (int i = 0; i < 10; i++) a[i] = (float)i;
    for (int i = 0; i < 30; i++) b[i] = 100.0f + (float)i;
    const float *xs[2] = {a, b};
    int cs[2] = {1, 3};
    lc_concat_forward(y, xs, cs, 2, 2, 5);
    cr_expect_eq(y[0], 0.0f);
    cr_expect_eq(y[5], 100.0f);
    cr_expect_eq(y[20], 5.0f);
    cr_expect_eq(y[25], 115.0f);
    float *dxs[2] = {da, db};
    lc_concat_backward(dxs, y, cs, 2, 2, 5);
    cr_expect_arr_eq(da, a, sizeof a);
    cr_expect_arr_eq(db, b, sizeof b);
}

static void check_bcast(const char *c, int s_over)
{
    struct tu_array x = fx(c, "x"), s = fx(c, "s"), dy = fx(c, "dy"), wy = fx(c, "y"), wdx = fx(c, "dx"),
                    wds = fx(c, "ds");
    int O = (int)x.h.dims[0], D = (int)x.h.dims[1], I = (int)x.h.dims[2];
    float *y = zeros(x.n), *dx = zeros(x.n), *ds = zeros(s.n);
    lc_mul_bcast_forward(y, x.data, s.data, O, D, I, s_over);
    tu_expect_close(y, wy.data, x.n, 1e-7f, 1e-6f);
    lc_mul_bcast_backward(dx, ds, dy.data, x.data, s.data, O, D, I, s_over);
    tu_expect_close(dx, wdx.data, x.n, 1e-7f, 1e-6f);
    tu_expect_close(ds, wds.data, s.n, 1e-6f, 1e-5f);
    free(y), free(dx), free(ds);
    tu_free(&x), tu_free(&s), tu_free(&dy), tu_free(&wy), tu_free(&wdx), tu_free(&wds);
}

Test(tensorops, mul_bcast_per_row) { check_bcast("mul_bcast_row", 0); }
Test(tensorops, mul_bcast_per_vector) { check_bcast("mul_bcast_vec", 1); }

Test(tensorops, sum_dim)
{
    struct tu_array x = fx("sum_dim", "x"), dy = fx("sum_dim", "dy"), wy = fx("sum_dim", "y"), wdx = fx("sum_dim", "dx");
    float *y = zeros(wy.n), *dx = zeros(x.n);
    lc_sum_dim_forward(y, x.data, 2, 5, 7);
    tu_expect_close(y, wy.data, wy.n, 1e-6f, 1e-6f);
    lc_sum_dim_backward(dx, dy.data, 2, 5, 7);
    tu_expect_close(dx, wdx.data, x.n, 0, 0);
    free(y), free(dx);
    tu_free(&x), tu_free(&dy), tu_free(&wy), tu_free(&wdx);
}

Test(tensorops, l2norm_with_a_zero_vector)
{
    struct tu_array x = fx("l2norm", "x"), dy = fx("l2norm", "dy"), wy = fx("l2norm", "y"), wdx = fx("l2norm", "dx");
    float *y = zeros(x.n), *dx = zeros(x.n), norm[14];
    lc_l2norm_forward(y, norm, x.data, 2, 5, 7, 1e-12f);
    tu_expect_close(y, wy.data, x.n, 1e-7f, 1e-6f);
    lc_l2norm_backward(dx, dy.data, y, norm, 2, 5, 7, 1e-12f);
    /* the zero vector's gradient is dy / eps = O(1e12) in torch too */
    tu_expect_close(dx, wdx.data, x.n, 1e-5f, 1e-5f);
    free(y), free(dx);
    tu_free(&x), tu_free(&dy), tu_free(&wy), tu_free(&wdx);
}

static void check_softmax(const char *c, int log_space)
{
    struct tu_array x = fx(c, "x"), dy = fx(c, "dy"), wy = fx(c, "y"), wdx = fx(c, "dx");
    int O = 0, D = 0, I = 0;
    if (x.h.rank == 3) O = (int)x.h.dims[0], D = (int)x.h.dims[1], I = (int)x.h.dims[2];
    else O = (int)x.h.dims[0], D = (int)x.h.dims[1], I = 1;
    float *y = zeros(x.n), *dx = zeros(x.n);
    (log_space ? lc_log_softmax_forward : lc_softmax_forward)(y, x.data, O, D, I);
    tu_expect_close(y, wy.data, x.n, 1e-6f, 1e-6f);
    (log_space ? lc_log_softmax_backward : lc_softmax_backward)(dx, dy.data, y, O, D, I);
    tu_expect_close(dx, wdx.data, x.n, 2e-6f, 1e-5f);
    free(y), free(dx);
    tu_free(&x), tu_free(&dy), tu_free(&wy), tu_free(&wdx);
}

Test(softmax, softmax_middle_axis) { check_softmax("softmax_mid", 0); }
Test(softmax, softmax_last_axis) { check_softmax("softmax_last", 0); }
Test(softmax, log_softmax_middle_axis) { check_softmax("log_softmax_mid", 1); }
Test(softmax, log_softmax_last_axis) { check_softmax("log_softmax_last", 1); }

Test(softmax, large_logits_stay_finite)
{
    float x[3] = {1000.0f, 999.0f, -1000.0f}, y[3], ly[3];
    lc_softmax_forward(y, x, 1, 3, 1);
    lc_log_softmax_forward(ly, x, 1, 3, 1);
    cr_expect_float_eq(y[0], 1 / (1 + expf(-1)), 1e-6f);
    cr_expect_eq(y[2], 0.0f);
    cr_expect_float_eq(ly[2], -2000.0f - logf(1 + expf(-1)) + 0.0f, 1e-3f);
}

struct ce_ctx {
    float *logits;
    const int64_t *labels;
    int n, c;
    float smoothing;
    float *prob;
};

static double ce_loss(void *p)
{
    struct ce_ctx *c = p;
    return lc_cross_entropy_forward(c->prob, c->logits, c->labels, c->n, c->c, c->smoothing);
}

static void check_ce(const char *c, float smoothing)
{
    struct tu_array logits = fx(c, "logits"), labels = fx(c, "labels"), wloss = fx(c, "loss"),
                    wd = fx(c, "dlogits");
    int n = (int)logits.h.dims[0], k = (int)logits.h.dims[1];
    float *prob = zeros(logits.n), *d = zeros(logits.n);
    cr_assert_eq(lc_cross_entropy_check(labels.data, n, k), -1);
    double loss = lc_cross_entropy_forward(prob, logits.data, labels.data, n, k, smoothing);
    cr_expect_float_eq(loss, ((float *)wloss.data)[0], 1e-5 * fabs(loss));
    lc_cross_entropy_backward(d, prob, labels.data, n, k, smoothing, 1.0f);
    tu_expect_close(d, wd.data, logits.n, 1e-7f, 1e-5f);
    /* the ignored row has no gradient */
    for (int j = 0; j < k; j++) cr_expect_eq(d[2 * k + j], 0.0f);
    struct ce_ctx ctx = {logits.data, labels.data, n, k, smoothing, zeros(logits.n)};
    tu_grad_check(ce_loss, &ctx, logits.data, d, logits.n, 30, 1e-2f, 1e-2f, 1e-5f, "dlogits");
    free(prob), free(d), free(ctx.prob);
    tu_free(&logits), tu_free(&labels), tu_free(&wloss), tu_free(&wd);
}

Test(cross_entropy, matches_torch) { check_ce("ce", 0.0f); }
Test(cross_entropy, label_smoothing_matches_torch) { check_ce("ce_smooth", 0.1f); }

Test(cross_entropy, rejects_bad_labels_and_all_ignored_is_zero)
{
    int64_t bad[3] = {0, 5, -100}, ign[2] = {-100, -100};
    cr_expect_eq(lc_cross_entropy_check(bad, 3, 5), 1);
    float logits[10] = {1, 2, 3, 4, 5, 1, 2, 3, 4, 5}, prob[10], d[10] = {0};
    cr_expect_eq(lc_cross_entropy_forward(prob, logits, ign, 2, 5, 0), 0.0);
    lc_cross_entropy_backward(d, prob, ign, 2, 5, 0, 1);
    for (int i = 0; i < 10; i++) cr_expect_eq(d[i], 0.0f);
}

Test(dropout, keeps_one_minus_p_scaled_and_repeats_with_the_seed)
{
    enum { N = 200000 };
    float *x = zeros(N), *y = zeros(N), *y2 = zeros(N), *dx = zeros(N), *dy = zeros(N);
    uint8_t *mask = malloc(N), *mask2 = malloc(N);
    for (int i = 0; i < N; i++) x[i] = 1.0f, dy[i] = 2.0f;
    struct lc_rng r, r2;
    lc_rng_seed(&r, 7), lc_rng_seed(&r2, 7);
    lc_dropout_forward(y, mask, x, N, 0.4f, &r);
    lc_dropout_forward(y2, mask2, x, N, 0.4f, &r2);
    cr_expect_arr_eq(y, y2, N * sizeof *y);
    size_t kept = 0;
    for (int i = 0; i < N; i++) {
        kept += mask[i];
        cr_assert(mask[i] ? fabsf(y[i] - 1 / 0.6f) < 1e-6f : y[i] == 0.0f);
    }
    /* binomial(N, 0.6): sd ~ 219; 6 sd */
    cr_expect(fabs((double)kept - 0.6 * N) < 1320, "kept %zu of %d", kept, N);
    lc_dropout_backward(dx, dy, mask, N, 0.4f);
    for (int i = 0; i < N; i += 997) cr_expect_float_eq(dx[i], mask[i] ? 2 / 0.6f : 0.0f, 1e-6f);
    /* p = 0 is the identity */
    lc_dropout_forward(y, mask, x, N, 0.0f, &r);
    cr_expect_arr_eq(y, x, N * sizeof *y);
    free(x), free(y), free(y2), free(dx), free(dy), free(mask), free(mask2);
}

Test(dropout, mask_is_a_function_of_the_key_alone)
{
    enum { N = 100003 };
    uint8_t *a = malloc(N), *b = malloc(N), *c = malloc(N);
    struct lc_rng r;
    lc_rng_seed(&r, 9);
    struct lc_rng r2 = r;
    lc_threads_set(1);
    lc_dropout_mask(a, N, 0.4f, &r);
    lc_threads_set(3);
    lc_dropout_mask_keyed(b, N, 0.4f, lc_rng_u64(&r2));
    cr_expect_arr_eq(a, b, N, "the same key and mask on 1 and 3 threads");
    cr_expect_eq(lc_rng_u64(&r), lc_rng_u64(&r2), "one draw from the generator");
    lc_dropout_mask_keyed(c, N, 0.4f, 12345);
    size_t same = 0, runs = 0;
    for (int i = 0; i < N; i++) same += a[i] == c[i], runs += i && a[i] != a[i - 1];
    /* another key: an independent mask (agreement 0.6^2 + 0.4^2 = 0.52);
     * neighbours independent (changes 2 * 0.6 * 0.4 = 0.48 of the time) */
    cr_expect(fabs((double)same / N - 0.52) < 0.01, "agreement with another key %.4f", (double)same / N);
    cr_expect(fabs((double)runs / N - 0.48) < 0.01, "neighbour changes %.4f", (double)runs / N);
    lc_threads_set(0);
    free(a), free(b), free(c);
}

static void check_resize(const char *c, int bilinear, float tol)
{
    struct tu_array x = fx(c, "x"), dy = fx(c, "dy"), wy = fx(c, "y"), wdx = fx(c, "dx");
    int nc = (int)x.h.dims[1], h = (int)x.h.dims[2], w = (int)x.h.dims[3];
    int ho = (int)wy.h.dims[2], wo = (int)wy.h.dims[3];
    float *y = zeros(wy.n), *dx = zeros(x.n);
    (bilinear ? lc_resize_bilinear_forward : lc_resize_nearest_forward)(y, x.data, nc, h, w, ho, wo);
    tu_expect_close(y, wy.data, wy.n, tol, tol);
    (bilinear ? lc_resize_bilinear_backward : lc_resize_nearest_backward)(dx, dy.data, nc, h, w, ho, wo);
    tu_expect_close(dx, wdx.data, x.n, tol * 4, tol * 4);
    if (!bilinear) {
        /* the u8 label-map version picks the same pixels */
        uint8_t *lx = malloc(x.n), *ly = malloc(wy.n);
        for (size_t i = 0; i < x.n; i++) lx[i] = (uint8_t)(i * 7919 % 251);
        lc_resize_nearest_u8(ly, lx, nc, h, w, ho, wo);
        float *fx_ = zeros(x.n), *fy = zeros(wy.n);
        for (size_t i = 0; i < x.n; i++) fx_[i] = lx[i];
        lc_resize_nearest_forward(fy, fx_, nc, h, w, ho, wo);
        for (size_t i = 0; i < wy.n; i++) cr_assert_eq(ly[i], (uint8_t)fy[i]);
        free(lx), free(ly), free(fx_), free(fy);
    }
    free(y), free(dx);
    tu_free(&x), tu_free(&dy), tu_free(&wy), tu_free(&wdx);
}

Test(resize, bilinear_up) { check_resize("bilinear_up", 1, 1e-6f); }
Test(resize, bilinear_down) { check_resize("bilinear_down", 1, 1e-6f); }
Test(resize, bilinear_112_to_128) { check_resize("bilinear_112_128", 1, 1e-6f); }
Test(resize, nearest_128_to_112) { check_resize("nearest_128_112", 0, 0); }
Test(resize, nearest_up) { check_resize("nearest_up", 0, 0); }
Test(resize, nearest_exact_2x) { check_resize("nearest_2x", 0, 0); }
