/* mixed: casts against the scalar conversions, unscale-and-check, the loss
 * scaler's schedule (torch.cuda.amp.GradScaler's), and the 16-bit ops'
 * contract: the float32 op on widened inputs, each output rounded once,
 * accumulating outputs accumulated from their 16-bit values. */
#include <math.h>

#include "act.h"
#include "backend.h"
#include "dropout.h"
#include "dtype.h"
#include "mixed.h"
#include "nnfix.h"
#include "tensorops.h"
#include "testutil.h"

static const int types[2] = {LC_DTYPE_F16, LC_DTYPE_BF16};

static uint16_t narrow1(int dt, float f) { return dt == LC_DTYPE_F16 ? lc_f32_to_f16(f) : lc_f32_to_bf16(f); }
static float widen1(int dt, uint16_t h) { return dt == LC_DTYPE_F16 ? lc_f16_to_f32(h) : lc_bf16_to_f32(h); }

/* n values in dt (freed by nf_free: allocated as floats) */
static uint16_t *to_dt(int dt, const float *f, size_t n)
{
    uint16_t *h = (uint16_t *)nf_zeros(n / 2 + 1);
    for (size_t i = 0; i < n; i++) h[i] = narrow1(dt, f[i]);
    return h;
}

/* the widened values of a dt array */
static float *wide(int dt, const uint16_t *h, size_t n)
{
    float *f = nf_zeros(n);
    for (size_t i = 0; i < n; i++) f[i] = widen1(dt, h[i]);
    return f;
}

/* got (dt) == the float32 result f rounded to dt, bit for bit */
static void expect_rounded(int dt, const uint16_t *got, const float *f, size_t n, const char *what)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != narrow1(dt, f[i]) && !bad++) first = i;
    cr_expect_eq(bad, 0, "%s (%s): %zu of %zu differ, first at %zu: 0x%04x, want 0x%04x", what, lc_mixed_name(dt), bad,
                 n, first, got[first], narrow1(dt, f[first]));
}

Test(mixed, casts_match_the_scalar_conversions)
{
    float edge[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65519.0f, 65520.0f, 1e6f, 6.1e-5f, 3e-7f, 2.98e-8f,
                    -1e-9f, INFINITY, -INFINITY, NAN, 1.00048828125f, 1.00146484375f, 3.14159265f, 1e-40f};
    size_t ne = sizeof edge / sizeof edge[0], n = 1000 + 3; /* not a multiple of 8 or 16 */
    float *f = nf_randn(n, 7, 100);
    memcpy(f, edge, sizeof edge);
    for (size_t i = ne; i < n; i += 50) f[i] *= 1e-6f; /* subnormal halves */
    for (int k = 0; k < 2; k++) {
        int dt = types[k];
        uint16_t *h = (uint16_t *)nf_zeros(n);
        lc_cast(h, dt, f, LC_DTYPE_F32, n);
        for (size_t i = 0; i < n; i++) {
            uint16_t want = narrow1(dt, f[i]);
            if (isnan(f[i])) cr_expect(isnan(widen1(dt, h[i])), "%s: NaN stays NaN", lc_mixed_name(dt));
            else cr_expect_eq(h[i], want, "%s: %g -> 0x%04x, want 0x%04x", lc_mixed_name(dt), f[i], h[i], want);
        }
    }
    uint16_t *all = (uint16_t *)nf_zeros(32768);
    for (uint32_t i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    float *w = nf_zeros(65536);
    for (int k = 0; k < 2; k++) {
        int dt = types[k];
        lc_cast(w, LC_DTYPE_F32, all, dt, 65536);
        for (uint32_t i = 0; i < 65536; i++) {
            float want = widen1(dt, (uint16_t)i);
            if (isnan(want)) cr_expect(isnan(w[i]));
            else cr_expect(w[i] == want && signbit(w[i]) == signbit(want), "%s 0x%04x", lc_mixed_name(dt), i);
        }
        /* between the 16-bit types: through float32 */
        uint16_t *other = (uint16_t *)nf_zeros(32768);
        int ot = types[1 - k];
        lc_cast(other, ot, all, dt, 65536);
        for (uint32_t i = 0; i < 65536; i += 97)
            if (!isnan(widen1(dt, (uint16_t)i))) cr_expect_eq(other[i], narrow1(ot, widen1(dt, (uint16_t)i)));
    }
    nf_free();
}

Test(mixed, cast_add_and_unscale_check)
{
    float y[5] = {1, 2, 3, 4, 5}, x[5] = {0.5f, -1, 1e-3f, 100, 0};
    uint16_t h[5];
    lc_cast(h, LC_DTYPE_BF16, x, LC_DTYPE_F32, 5);
    lc_cast_add(y, h, LC_DTYPE_BF16, 5);
    for (int i = 0; i < 5; i++) cr_expect_eq(y[i], (float)(i + 1) + lc_bf16_to_f32(h[i]));
    float g[4] = {65536, -131072, 3, 0}, found = 0;
    lc_unscale_check(g, 4, 1.0f / 65536, &found);
    cr_expect(g[0] == 1 && g[1] == -2 && g[2] == 3.0f / 65536 && g[3] == 0 && found == 0, "%g %g %g %g %g", g[0], g[1],
              g[2], g[3], found);
    float bad[3] = {1, INFINITY, 2};
    lc_unscale_check(bad, 3, 0.5f, &found);
    cr_expect_eq(found, 1, "an inf is found");
    cr_expect_eq(bad[2], 1, "the others are still unscaled");
    lc_unscale_check(g, 4, 1, &found);
    cr_expect_eq(found, 1, "found_inf is never cleared by a clean call");
    float nan[2] = {NAN, 1};
    found = 0;
    lc_unscale_check(nan, 2, 1, &found);
    cr_expect_eq(found, 1, "a NaN is found");
}

Test(mixed, loss_scaler_follows_grad_scaler)
{
    struct lc_loss_scaler s;
    lc_loss_scaler_init(&s, 0);
    cr_expect(s.scale == 65536 && s.growth == 2 && s.backoff == 0.5f && s.interval == 2000 && s.tracker == 0);
    lc_loss_scaler_update(&s, 1);
    cr_expect_eq(s.scale, 32768, "an overflow halves the scale");
    s.interval = 3;
    lc_loss_scaler_update(&s, 0);
    lc_loss_scaler_update(&s, 0);
    cr_expect(s.scale == 32768 && s.tracker == 2);
    lc_loss_scaler_update(&s, 1);
    cr_expect(s.scale == 16384 && s.tracker == 0, "an overflow resets the count of good steps");
    for (int i = 0; i < 3; i++) lc_loss_scaler_update(&s, 0);
    cr_expect(s.scale == 32768 && s.tracker == 0, "interval good steps double it: %g %d", s.scale, s.tracker);
    lc_loss_scaler_init(&s, 3e38f);
    s.interval = 1;
    lc_loss_scaler_update(&s, 0);
    cr_expect(s.scale == 3e38f && s.tracker == 0, "a growth to inf is not applied");
    cr_expect_eq(lc_mixed_parse("bf16"), LC_DTYPE_BF16);
    cr_expect_eq(lc_mixed_parse("fp16"), LC_DTYPE_F16);
    cr_expect_eq(lc_mixed_parse("int8"), -1);
}

/* Every 16-bit op: inputs made 16-bit, the float32 op run on their widened
 * values (accumulating outputs starting from their widened 16-bit values),
 * and the result rounded: the op's output, bit for bit. Also close to the
 * float32 op on the unrounded inputs (the 16-bit path computes the same thing). */
Test(mixed, ops_compute_in_float32_and_round_once)
{
    const int N = 2, C = 6, H = 7, W = 5, CO = 4;
    struct lc_conv2d cp;
    struct lc_err err;
    cr_assert_eq(lc_conv2d_init(&cp, N, C, H, W, CO, 3, 1, 1, 1, 0, &err), 0);
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * CO * H * W, nw = (size_t)CO * C * 9;
    float *ws = nf_zeros(lc_conv2d_workspace(&cp) + 1);
    for (int k = 0; k < 2; k++) {
        int dt = types[k];
        const char *nm = lc_mixed_name(dt);
        float tol = dt == LC_DTYPE_F16 ? 3e-3f : 3e-2f;
        float *x = nf_randn(nx, 1, 1), *w = nf_randn(nw, 2, 0.3f), *dy = nf_randn(ny, 3, 1), *dx0 = nf_randn(nx, 4, 1);
        uint16_t *hx = to_dt(dt, x, nx), *hw = to_dt(dt, w, nw), *hdy = to_dt(dt, dy, ny);
        float *fx = wide(dt, hx, nx), *fw = wide(dt, hw, nw), *fdy = wide(dt, hdy, ny);
        /* conv forward */
        uint16_t *hy = (uint16_t *)nf_zeros(ny);
        cr_assert_eq(lc_mixed_conv2d_forward(dt, hy, hx, hw, &cp, ws), 0);
        float *ref = nf_zeros(ny), *exact = nf_zeros(ny);
        lc_conv2d_forward(ref, fx, fw, NULL, &cp, ws);
        expect_rounded(dt, hy, ref, ny, "conv forward");
        lc_conv2d_forward(exact, x, w, NULL, &cp, ws);
        nf_close(wide(dt, hy, ny), exact, ny, tol, tol, "conv forward vs float32");
        /* conv backward: dx accumulated in 16 bits, dw rounded then added to float32 */
        uint16_t *hdx = to_dt(dt, dx0, nx);
        float *rdx = wide(dt, hdx, nx), *dw = nf_randn(nw, 5, 1), *rdw = nf_copy(dw, nw), *gw = nf_zeros(nw);
        cr_assert_eq(lc_mixed_conv2d_backward(dt, hdx, dw, hdy, hx, hw, &cp, ws), 0);
        lc_conv2d_backward(rdx, gw, NULL, fdy, fx, fw, &cp, ws);
        expect_rounded(dt, hdx, rdx, nx, "conv dx");
        for (size_t i = 0; i < nw; i++) rdw[i] += widen1(dt, narrow1(dt, gw[i]));
        cr_expect_arr_eq(dw, rdw, nw * sizeof *dw, "%s conv dw", nm);
        /* batch norm over (N, C, H*W) */
        struct lc_bn bp;
        cr_assert_eq(lc_bn_init(&bp, N, C, H * W, 1e-5f, 0.1f, 1, &err), 0);
        float *g = nf_randn(C, 6, 1), *b = nf_randn(C, 7, 1), *rm = nf_zeros(C), *rv = nf_zeros(C), *rm2 = nf_zeros(C),
              *rv2 = nf_zeros(C), *mean = nf_zeros(C), *istd = nf_zeros(C), *mean2 = nf_zeros(C), *istd2 = nf_zeros(C);
        uint16_t *hb = (uint16_t *)nf_zeros(nx);
        float *rb = nf_zeros(nx);
        cr_assert_eq(lc_mixed_bn_forward_train(dt, hb, mean, istd, rm, rv, hx, g, b, &bp), 0);
        lc_bn_forward_train(rb, mean2, istd2, rm2, rv2, fx, g, b, &bp);
        expect_rounded(dt, hb, rb, nx, "bn forward");
        cr_expect_arr_eq(mean, mean2, C * 4, "%s bn mean in float32", nm);
        cr_expect_arr_eq(rv, rv2, C * 4, "%s bn running variance in float32", nm);
        uint16_t *hbdx = to_dt(dt, dx0, nx);
        float *rbdx = wide(dt, hbdx, nx), *dg = nf_zeros(C), *db = nf_zeros(C), *dg2 = nf_zeros(C), *db2 = nf_zeros(C);
        float *fdyx = wide(dt, to_dt(dt, dx0, nx), nx);
        uint16_t *hdyx = to_dt(dt, dx0, nx);
        cr_assert_eq(lc_mixed_bn_backward(dt, hbdx, dg, db, hdyx, hx, mean, istd, g, &bp), 0);
        lc_bn_backward(rbdx, dg2, db2, fdyx, fx, mean, istd, g, &bp);
        expect_rounded(dt, hbdx, rbdx, nx, "bn dx");
        cr_expect_arr_eq(dg, dg2, C * 4, "%s bn dgamma", nm);
        /* PReLU */
        float *a = nf_randn(C, 8, 0.3f), *da = nf_zeros(C), *da2 = nf_zeros(C), *rp = nf_zeros(nx);
        uint16_t *hp = (uint16_t *)nf_zeros(nx);
        cr_assert_eq(lc_mixed_prelu_forward(dt, hp, hx, a, N, C, H * W, 0), 0);
        lc_prelu_forward(rp, fx, a, N, C, H * W);
        expect_rounded(dt, hp, rp, nx, "prelu forward");
        uint16_t *hpdx = to_dt(dt, dx0, nx);
        float *rpdx = wide(dt, hpdx, nx);
        cr_assert_eq(lc_mixed_prelu_backward(dt, hpdx, da, hdyx, hx, a, N, C, H * W, 0), 0);
        lc_prelu_backward(rpdx, da2, fdyx, fx, a, N, C, H * W);
        expect_rounded(dt, hpdx, rpdx, nx, "prelu dx");
        cr_expect_arr_eq(da, da2, C * 4, "%s prelu da", nm);
        /* add, subsample (stride 2) and its backward */
        uint16_t *hs = (uint16_t *)nf_zeros(nx);
        float *rs = nf_zeros(nx);
        cr_assert_eq(lc_mixed_add(dt, hs, hx, hdyx, nx), 0);
        lc_add_forward(rs, fx, fdyx, nx);
        expect_rounded(dt, hs, rs, nx, "add");
        size_t nsub = (size_t)N * C * 4 * 3;
        float *sub0 = nf_randn(nsub, 9, 1);
        uint16_t *hsub = to_dt(dt, sub0, nsub);
        float *rsub = wide(dt, hsub, nsub);
        cr_assert_eq(lc_mixed_subsample_add(dt, hsub, hx, N, C, H, W, 2, 0), 0);
        lc_subsample_add(rsub, fx, N, C, H, W, 2);
        expect_rounded(dt, hsub, rsub, nsub, "subsample add");
        uint16_t *hsdx = to_dt(dt, dx0, nx), *hsdy = to_dt(dt, sub0, nsub);
        float *rsdx = wide(dt, hsdx, nx);
        cr_assert_eq(lc_mixed_subsample_backward(dt, hsdx, hsdy, N, C, H, W, 2, 0), 0);
        lc_subsample_backward(rsdx, wide(dt, hsdy, nsub), N, C, H, W, 2);
        expect_rounded(dt, hsdx, rsdx, nx, "subsample backward");
        /* dropout */
        uint8_t *mask = (uint8_t *)nf_zeros(nx / 4 + 1);
        lc_dropout_mask_keyed(mask, nx, 0.4f, 1234);
        uint16_t *hd = (uint16_t *)nf_zeros(nx);
        float *rd = nf_zeros(nx);
        cr_assert_eq(lc_mixed_dropout_apply(dt, hd, hx, mask, nx, 0.4f), 0);
        lc_dropout_apply(rd, fx, mask, nx, 0.4f);
        expect_rounded(dt, hd, rd, nx, "dropout");
        uint16_t *hddx = to_dt(dt, dx0, nx);
        float *rddx = wide(dt, hddx, nx);
        cr_assert_eq(lc_mixed_dropout_backward(dt, hddx, hdyx, mask, nx, 0.4f), 0);
        lc_dropout_backward(rddx, fdyx, mask, nx, 0.4f);
        expect_rounded(dt, hddx, rddx, nx, "dropout backward");
        /* linear (N, C*H*W) -> (N, 8) with a float32 bias */
        struct lc_linear lp;
        cr_assert_eq(lc_linear_init(&lp, N, C * H * W, 8, 1, &err), 0);
        size_t lw = (size_t)8 * C * H * W;
        float *wl = nf_randn(lw, 10, 0.05f), *bl = nf_randn(8, 11, 1), *rl = nf_zeros(N * 8), *ly = nf_randn(N * 8, 12, 1);
        uint16_t *hwl = to_dt(dt, wl, lw), *hl = (uint16_t *)nf_zeros(N * 8), *hly = to_dt(dt, ly, N * 8);
        float *fwl = wide(dt, hwl, lw);
        cr_assert_eq(lc_mixed_linear_forward(dt, hl, hx, hwl, bl, &lp), 0);
        lc_linear_forward(rl, fx, fwl, bl, &lp);
        expect_rounded(dt, hl, rl, (size_t)N * 8, "linear forward");
        uint16_t *hldx = to_dt(dt, dx0, nx);
        float *rldx = wide(dt, hldx, nx), *dwl = nf_zeros(lw), *gwl = nf_zeros(lw), *dbl = nf_zeros(8), *dbl2 = nf_zeros(8);
        cr_assert_eq(lc_mixed_linear_backward(dt, hldx, dwl, dbl, hly, hx, hwl, &lp), 0);
        lc_linear_backward(rldx, gwl, dbl2, wide(dt, hly, N * 8), fx, fwl, &lp);
        expect_rounded(dt, hldx, rldx, nx, "linear dx");
        for (size_t i = 0; i < lw; i++) gwl[i] = widen1(dt, narrow1(dt, gwl[i]));
        cr_expect_arr_eq(dwl, gwl, lw * 4, "%s linear dw", nm);
        cr_expect_arr_eq(dbl, dbl2, 8 * 4, "%s linear db", nm);
    }
    nf_free();
}

/* Through the seam: float32 is the float32 op itself; other types are refused. */
Test(mixed, seam_dispatch)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    float x[6] = {-1, 2, -3, 4, -5, 6}, a[2] = {0.25f, 0.5f}, y[6], y2[6];
    cr_assert_eq(lc_op_prelu_forward_dt(&cpu, LC_DTYPE_F32, y, x, a, 1, 2, 3, 0, &err), 0);
    lc_prelu_forward(y2, x, a, 1, 2, 3);
    cr_expect_arr_eq(y, y2, sizeof y);
    cr_expect_eq(lc_op_prelu_forward_dt(&cpu, LC_DTYPE_I32, y, x, a, 1, 2, 3, 0, &err), LC_EINVAL);
    cr_expect(strstr(err.msg, "i32"), "%s", err.msg);
    uint16_t h[6];
    cr_assert_eq(lc_op_cast(&cpu, h, LC_DTYPE_BF16, x, LC_DTYPE_F32, 6, &err), 0);
    cr_assert_eq(lc_op_prelu_forward_dt(&cpu, LC_DTYPE_BF16, h, h, a, 1, 2, 3, 0, &err), 0, "in place");
    for (int i = 0; i < 6; i++) cr_expect_eq(lc_bf16_to_f32(h[i]), y2[i]);
    cr_expect_eq(lc_op_cast(&cpu, h, LC_DTYPE_U8, x, LC_DTYPE_F32, 6, &err), LC_EINVAL);
}

/* ---- channels-last: (n, c, hw) <-> (n, hw, c) */

Test(mixed, layout_casts_move_each_element_to_its_place)
{
    const int n = 3, c = 5, hw = 7;
    const size_t len = (size_t)n * c * hw;
    float *x = nf_randn(len, 30, 2), *cl = nf_zeros(len), *back = nf_zeros(len);
    lc_cast_to_channels_last(cl, LC_DTYPE_F32, x, LC_DTYPE_F32, n, c, hw);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++)
            for (int j = 0; j < hw; j++)
                cr_assert_eq(cl[((size_t)i * hw + j) * c + k], x[((size_t)i * c + k) * hw + j], "(%d, %d, %d)", i, k, j);
    lc_cast_from_channels_last(back, LC_DTYPE_F32, cl, LC_DTYPE_F32, n, c, hw);
    cr_expect_arr_eq(back, x, len * sizeof *x, "round trip");
    for (int t = 0; t < 2; t++) { /* with a type change: the element rounded as lc_cast rounds it */
        const int dt = types[t];
        uint16_t *h = (uint16_t *)nf_zeros(len), *want = to_dt(dt, cl, len);
        lc_cast_to_channels_last(h, dt, x, LC_DTYPE_F32, n, c, hw);
        cr_expect_arr_eq(h, want, len * 2, "%s to channels-last", lc_mixed_name(dt));
        float *f = nf_zeros(len), *fw = wide(dt, to_dt(dt, x, len), len);
        lc_cast_from_channels_last(f, LC_DTYPE_F32, h, dt, n, c, hw);
        cr_expect_arr_eq(f, fw, len * 4, "%s from channels-last, widened", lc_mixed_name(dt));
    }
    nf_free();
}

/* a dt tensor (n, c, hw) as (n, hw, c) and back, new buffers */
static uint16_t *to_cl(int dt, const uint16_t *x, int n, int c, int hw)
{
    uint16_t *y = (uint16_t *)nf_zeros((size_t)n * c * hw / 2 + 1);
    lc_cast_to_channels_last(y, dt, x, dt, n, c, hw);
    return y;
}

static uint16_t *from_cl(int dt, const uint16_t *x, int n, int c, int hw)
{
    uint16_t *y = (uint16_t *)nf_zeros((size_t)n * c * hw / 2 + 1);
    lc_cast_from_channels_last(y, dt, x, dt, n, c, hw);
    return y;
}

/* Every channels-last reference op equals the (N, C, H, W) op on the same
 * tensors, bit for bit: the layout is all that changes. */
Test(mixed, channels_last_ops_equal_the_ops_on_transposed_tensors)
{
    enum { N = 2, C = 5, H = 6, W = 7, CO = 6 };
    struct lc_conv2d cp, ccl;
    struct lc_bn bp, bcl;
    struct lc_err err;
    cr_assert_eq(lc_conv2d_init(&cp, N, C, H, W, CO, 3, 2, 1, 1, 0, &err), 0);
    cr_assert_eq(lc_bn_init(&bp, N, C, H * W, 1e-5f, 0.1f, 1, &err), 0);
    ccl = cp, bcl = bp;
    ccl.channels_last = bcl.channels_last = 1;
    const int HW = H * W, HWO = cp.ho * cp.wo, KK = 9;
    const size_t nx = (size_t)N * C * HW, ny = (size_t)N * CO * HWO, nw = (size_t)CO * C * KK;
    for (int t = 0; t < 2; t++) {
        const int dt = types[t];
        const char *nm = lc_mixed_name(dt);
        float *ws = nf_zeros(lc_conv2d_workspace(&cp) + 1);
        uint16_t *x = to_dt(dt, nf_randn(nx, 31, 1), nx), *w = to_dt(dt, nf_randn(nw, 32, 0.3f), nw);
        uint16_t *dy = to_dt(dt, nf_randn(ny, 33, 1), ny), *dxy = to_dt(dt, nf_randn(nx, 34, 1), nx);
        uint16_t *xc = to_cl(dt, x, N, C, HW), *dyc = to_cl(dt, dy, N, CO, HWO), *dxyc = to_cl(dt, dxy, N, C, HW);
#define SAME(cl_result, nchw_result, c_, hw_, what)                                                                \
    cr_expect_arr_eq(from_cl(dt, cl_result, N, c_, hw_), nchw_result, (size_t)N * (c_) * (hw_) * 2, "%s %s", nm, what)
        /* convolution: the weights (Co, K, K, Ci); dw stays (Co, Ci, K, K) */
        uint16_t *y = (uint16_t *)nf_zeros(ny), *yc = (uint16_t *)nf_zeros(ny);
        cr_assert_eq(lc_mixed_conv2d_forward(dt, y, x, w, &cp, ws), 0);
        cr_assert_eq(lc_mixed_conv2d_forward(dt, yc, xc, to_cl(dt, w, CO, C, KK), &ccl, ws), 0);
        SAME(yc, y, CO, HWO, "conv y");
        uint16_t *dx = (uint16_t *)nf_copy((float *)dxy, nx / 2 + 1), *dxc = (uint16_t *)nf_copy((float *)dxyc, nx / 2 + 1);
        float *dw = nf_randn(nw, 35, 1), *dwc = nf_copy(dw, nw);
        cr_assert_eq(lc_mixed_conv2d_backward(dt, dx, dw, dy, x, w, &cp, ws), 0);
        cr_assert_eq(lc_mixed_conv2d_backward(dt, dxc, dwc, dyc, xc, to_cl(dt, w, CO, C, KK), &ccl, ws), 0);
        SAME(dxc, dx, C, HW, "conv dx");
        cr_expect_arr_eq(dwc, dw, nw * 4, "%s conv dw", nm);
        /* batch norm: training forward, backward, eval */
        float *g = nf_randn(C, 36, 1), *b = nf_randn(C, 37, 1), *st[2][6];
        uint16_t *by[2], *bdx[2], *ey[2];
        for (int l = 0; l < 2; l++) {
            for (int q = 0; q < 6; q++) st[l][q] = q == 3 ? nf_randn(C, 38, 0.1f) : nf_zeros(C);
            for (int k = 0; k < C; k++) st[l][3][k] = 1 + st[l][3][k] * st[l][3][k]; /* a running variance */
            by[l] = (uint16_t *)nf_zeros(nx);
            bdx[l] = (uint16_t *)nf_copy((float *)(l ? dxyc : dxy), nx / 2 + 1);
            ey[l] = (uint16_t *)nf_zeros(nx);
            const struct lc_bn *p = l ? &bcl : &bp;
            const uint16_t *xx = l ? xc : x;
            cr_assert_eq(lc_mixed_bn_forward_train(dt, by[l], st[l][0], st[l][1], st[l][2], st[l][3], xx, g, b, p), 0);
            cr_assert_eq(lc_mixed_bn_backward(dt, bdx[l], st[l][4], st[l][5], l ? dxyc : dxy, xx, st[l][0], st[l][1],
                                              g, p), 0);
            cr_assert_eq(lc_mixed_bn_forward_eval(dt, ey[l], xx, g, b, st[l][2], st[l][3], p), 0);
        }
        SAME(by[1], by[0], C, HW, "bn y");
        SAME(bdx[1], bdx[0], C, HW, "bn dx");
        SAME(ey[1], ey[0], C, HW, "bn eval");
        for (int q = 0; q < 6; q++) cr_expect_arr_eq(st[1][q], st[0][q], C * 4, "%s bn statistic/gradient %d", nm, q);
        /* PReLU, bias + PReLU */
        float *a = nf_randn(C, 39, 0.3f), *da = nf_zeros(C), *dac = nf_zeros(C), *bias = nf_randn(C, 40, 0.5f);
        uint16_t *py = (uint16_t *)nf_zeros(nx), *pyc = (uint16_t *)nf_zeros(nx);
        cr_assert_eq(lc_mixed_prelu_forward(dt, py, x, a, N, C, HW, 0), 0);
        cr_assert_eq(lc_mixed_prelu_forward(dt, pyc, xc, a, N, C, HW, 1), 0);
        SAME(pyc, py, C, HW, "prelu y");
        uint16_t *pdx = (uint16_t *)nf_copy((float *)dxy, nx / 2 + 1), *pdxc = (uint16_t *)nf_copy((float *)dxyc, nx / 2 + 1);
        cr_assert_eq(lc_mixed_prelu_backward(dt, pdx, da, dxy, x, a, N, C, HW, 0), 0);
        cr_assert_eq(lc_mixed_prelu_backward(dt, pdxc, dac, dxyc, xc, a, N, C, HW, 1), 0);
        SAME(pdxc, pdx, C, HW, "prelu dx");
        cr_expect_arr_eq(dac, da, C * 4, "%s prelu da", nm);
        uint16_t *bpy = (uint16_t *)nf_copy((float *)x, nx / 2 + 1), *bpyc = (uint16_t *)nf_copy((float *)xc, nx / 2 + 1);
        cr_assert_eq(lc_mixed_bias_prelu(dt, bpy, bias, a, N, C, HW, 0), 0);
        cr_assert_eq(lc_mixed_bias_prelu(dt, bpyc, bias, a, N, C, HW, 1), 0);
        SAME(bpyc, bpy, C, HW, "bias prelu");
        /* the stride-2 shortcut: y (N, C, 3, 4) += x[::2, ::2], and back */
        const int HWS = 3 * 4;
        uint16_t *sy = to_dt(dt, nf_randn((size_t)N * C * HWS, 41, 1), (size_t)N * C * HWS);
        uint16_t *syc = to_cl(dt, sy, N, C, HWS);
        cr_assert_eq(lc_mixed_subsample_add(dt, sy, x, N, C, H, W, 2, 0), 0);
        cr_assert_eq(lc_mixed_subsample_add(dt, syc, xc, N, C, H, W, 2, 1), 0);
        SAME(syc, sy, C, HWS, "subsample add");
        uint16_t *sdx = (uint16_t *)nf_copy((float *)dxy, nx / 2 + 1), *sdxc = (uint16_t *)nf_copy((float *)dxyc, nx / 2 + 1);
        cr_assert_eq(lc_mixed_subsample_backward(dt, sdx, sy, N, C, H, W, 2, 0), 0);
        cr_assert_eq(lc_mixed_subsample_backward(dt, sdxc, to_cl(dt, sy, N, C, HWS), N, C, H, W, 2, 1), 0);
        SAME(sdxc, sdx, C, HW, "subsample backward");
#undef SAME
        nf_free();
    }
}

Test(mixed, channels_last_needs_16_bits_at_the_seam)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    float x[6] = {-1, 2, -3, 4, -5, 6}, a[2] = {0.25f, 0.5f}, y[6];
    cr_expect_eq(lc_op_prelu_forward_dt(&cpu, LC_DTYPE_F32, y, x, a, 1, 2, 3, 1, &err), LC_EINVAL);
    cr_expect(strstr(err.msg, "channels-last"), "%s", err.msg);
    struct lc_conv2d p;
    cr_assert_eq(lc_conv2d_init(&p, 1, 2, 3, 1, 2, 1, 1, 0, 1, 0, &err), 0);
    p.channels_last = 1;
    float w[4] = {1, 0, 0, 1};
    cr_expect_eq(lc_op_conv2d_forward(&cpu, y, x, w, NULL, &p, NULL, &err), LC_EINVAL);
    cr_expect_eq(lc_op_conv2d_forward_dt(&cpu, LC_DTYPE_F32, y, x, w, &p, NULL, &err), LC_EINVAL);
    struct lc_bn bp;
    cr_assert_eq(lc_bn_init(&bp, 1, 2, 3, 1e-5f, 0.1f, 0, &err), 0);
    bp.channels_last = 1;
    float m[2], s[2];
    cr_expect_eq(lc_op_bn_forward_train(&cpu, y, m, s, NULL, NULL, x, NULL, NULL, &bp, &err), LC_EINVAL);
    /* 16 bits: it runs */
    uint16_t h[6], hy[6];
    lc_cast(h, LC_DTYPE_F16, x, LC_DTYPE_F32, 6);
    cr_expect_eq(lc_op_prelu_forward_dt(&cpu, LC_DTYPE_F16, hy, h, a, 1, 2, 3, 1, &err), 0, "%s", err.msg);
    for (int i = 0; i < 6; i++) /* (1, hw 3, c 2): channel i % 2 */
        cr_expect_eq(lc_f16_to_f32(hy[i]), x[i] > 0 ? x[i] : a[i % 2] * x[i], "element %d", i);
}

/* The backward ops' set mode at the seam: dx written as if it held zeros
 * (a dx of garbage gives, bit for bit, what adding into zeros gives), for
 * each type and every element of dx (the zeroing sized right). */
Test(mixed, backward_set_mode_equals_adding_into_zeros)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    const int dts[3] = {LC_DTYPE_F32, LC_DTYPE_F16, LC_DTYPE_BF16};
    for (int t = 0; t < 3; t++) {
        const int dt = dts[t], es = (int)lc_dtype_size(dt);
        struct lc_conv2d cp;
        struct lc_bn bp;
        cr_assert_eq(lc_conv2d_init(&cp, 2, 4, 9, 9, 6, 3, 2, 1, 1, 0, &err), 0);
        cr_assert_eq(lc_bn_init(&bp, 2, 4, 81, 1e-5f, 0.1f, 1, &err), 0);
        const size_t nx = 2 * 4 * 81, ny = 2 * 6 * 5 * 5, nw = 6 * 4 * 9;
        /* inputs as floats, then in dt; every dx buffer gets room for float32 */
        float *xf = nf_randn(nx, 1, 1), *dyf = nf_randn(nx, 2, 1), *wf = nf_randn(nw, 3, 0.2f), *dycf = nf_randn(ny, 4, 1);
        float *a = nf_randn(4, 5, 0.3f), *gm = nf_randn(4, 6, 1), *sm = nf_randn(4, 7, 0.1f), *si = nf_zeros(4);
        for (int k = 0; k < 4; k++) si[k] = 1.5f + 0.1f * (float)k;
        float *ws = nf_zeros(lc_conv2d_workspace(&cp) + 1);
        void *x = nf_zeros(nx), *dy = nf_zeros(nx), *w = nf_zeros(nw), *dyc = nf_zeros(ny);
        cr_assert_eq(lc_op_cast(&cpu, x, dt, xf, LC_DTYPE_F32, nx, &err), 0);
        cr_assert_eq(lc_op_cast(&cpu, dy, dt, dyf, LC_DTYPE_F32, nx, &err), 0);
        cr_assert_eq(lc_op_cast(&cpu, w, dt, wf, LC_DTYPE_F32, nw, &err), 0);
        cr_assert_eq(lc_op_cast(&cpu, dyc, dt, dycf, LC_DTYPE_F32, ny, &err), 0);
        for (int op = 0; op < 4; op++) {
            void *want = nf_zeros(nx), *got = nf_randn(nx, 50 + op, 1e3f); /* got: garbage */
            float *p1 = nf_zeros(nw > 4 ? nw : 4), *p2 = nf_zeros(nw > 4 ? nw : 4), *q1 = nf_zeros(4), *q2 = nf_zeros(4);
            size_t n = nx;
            switch (op) {
            case 0:
                cr_assert_eq(lc_op_conv2d_backward_dt(&cpu, dt, want, p1, dyc, x, w, &cp, 0, ws, &err), 0, "%s", err.msg);
                cr_assert_eq(lc_op_conv2d_backward_dt(&cpu, dt, got, p2, dyc, x, w, &cp, 1, ws, &err), 0, "%s", err.msg);
                break;
            case 1:
                cr_assert_eq(lc_op_bn_backward_dt(&cpu, dt, want, p1, q1, dy, x, sm, si, gm, &bp, 0, &err), 0);
                cr_assert_eq(lc_op_bn_backward_dt(&cpu, dt, got, p2, q2, dy, x, sm, si, gm, &bp, 1, &err), 0);
                break;
            case 2:
                cr_assert_eq(lc_op_prelu_backward_dt(&cpu, dt, want, p1, dy, x, a, 2, 4, 81, 0, 0, &err), 0);
                cr_assert_eq(lc_op_prelu_backward_dt(&cpu, dt, got, p2, dy, x, a, 2, 4, 81, 0, 1, &err), 0);
                break;
            case 3: /* dx (2, 4, 9, 9) from dy (2, 4, 5, 5): the unsampled places zero */
                cr_assert_eq(lc_op_subsample_backward_dt(&cpu, dt, want, dyc, 2, 4, 9, 9, 2, 0, 0, &err), 0);
                cr_assert_eq(lc_op_subsample_backward_dt(&cpu, dt, got, dyc, 2, 4, 9, 9, 2, 0, 1, &err), 0);
                break;
            }
            cr_expect(!memcmp(got, want, n * (size_t)es), "%s: op %d's dx with set differs from adding into zeros",
                      lc_dtype_name(dt), op);
            cr_expect(!memcmp(p1, p2, (nw > 4 ? nw : 4) * 4), "%s: op %d's parameter gradient", lc_dtype_name(dt), op);
        }
        nf_free();
    }
}

/* the tools' --layout and --channels_last: auto follows the device and the
 * type, the flag is --layout channels_last, and each misuse names itself */
Test(mixed, layout_options_resolve_or_say_why_not)
{
    struct lc_err err;
    const int f16 = LC_DTYPE_F16, f32 = LC_DTYPE_F32;
    cr_expect_eq(lc_mixed_layout_opts(NULL, 0, 1, f16, &err), 1, "auto, 16 bits on a GPU");
    cr_expect_eq(lc_mixed_layout_opts("auto", 0, 0, f16, &err), 0, "auto on the CPU");
    cr_expect_eq(lc_mixed_layout_opts(NULL, 0, 1, f32, &err), 0, "auto, float32");
    cr_expect_eq(lc_mixed_layout_opts("nchw", 0, 1, f16, &err), 0);
    cr_expect_eq(lc_mixed_layout_opts("channels_last", 0, 0, f16, &err), 1);
    cr_expect_eq(lc_mixed_layout_opts(NULL, 1, 0, f16, &err), 1, "the flag");
    cr_expect_eq(lc_mixed_layout_opts("auto", 1, 0, f16, &err), 1, "the flag with --layout auto");
    const struct {
        const char *layout;
        int flag, dt;
        const char *why;
    } bad[] = {{NULL, 1, f32, "--channels_last needs --precision fp16 or bf16"},
               {"nchw", 1, f16, "--channels_last contradicts --layout nchw"},
               {"channels_last", 0, f32, "--layout channels_last needs --precision fp16 or bf16"},
               {"nhwc", 0, f16, "--layout takes auto, nchw or channels_last, not nhwc"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        cr_expect_eq(lc_mixed_layout_opts(bad[i].layout, bad[i].flag, 1, bad[i].dt, &err), -1, "%s", bad[i].why);
        cr_expect_str_eq(err.msg, bad[i].why);
    }
}
