/* backend: device parsing, the CPU normalisation against PyTorch (bit
 * exact), the op dispatch on the CPU, and every CUDA twin against the CPU
 * (suite cuda, skipped with a message where no GPU is usable). */
#include <time.h>

#include "act.h"
#include "backend.h"
#include "mixed.h"
#include "prof.h"
#include "tensorops.h"
#include "nnfix.h"
#include "gpufix.h"

Test(backend, device_names)
{
    struct lc_device d;
    char b[32];
    cr_expect_eq(lc_device_parse(&d, "cpu", NULL), 0);
    cr_expect_eq(d.type, LC_DEVICE_CPU);
    cr_expect_eq(lc_device_parse(&d, "cuda:3", NULL), 0);
    cr_expect(d.type == LC_DEVICE_CUDA && d.index == 3);
    cr_expect_str_eq(lc_device_format(&d, b, sizeof b), "cuda:3");
    cr_expect_eq(lc_device_parse(&d, "cuda", NULL), 0);
    cr_expect_eq(d.index, 0);
    cr_expect_eq(lc_device_parse(&d, "gpu", NULL), LC_EUSAGE);
    cr_expect_eq(lc_device_parse(&d, "cuda:-1", NULL), LC_EUSAGE);
    cr_expect_eq(lc_device_parse(&d, "cuda:x", NULL), LC_EUSAGE);
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    cr_expect_eq(lc_device_open(&cpu, NULL), 0);
}

Test(backend, unusable_cuda_device_is_a_clear_error)
{
    char why[256];
    if (lc_backend_cuda_devices(why, sizeof why) > 0) cr_skip_test("a GPU is present");
    struct lc_device d = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    cr_expect_eq(lc_device_open(&d, &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "cuda:0 is not available"), "%s", err.msg);
}

static void check_normalize(const char *golden, int reverse, const float *mean, const float *std)
{
    struct tu_array x = tu_fixture("normalize/x.npy"), y = tu_fixture(golden);
    struct lc_normalize p;
    lc_normalize_init_reference(&p, (int)x.h.dims[0], (int)x.h.dims[1], (int)x.h.dims[2], (int)x.h.dims[3]);
    p.reverse_channels = reverse;
    if (mean)
        for (int k = 0; k < 3; k++) p.mean[k] = mean[k], p.std[k] = std[k];
    float *out = malloc(y.n * sizeof *out);
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    cr_assert_eq(lc_op_normalize_u8(&cpu, out, x.data, &p, NULL), 0);
    if (!mean) /* mean = std = 0.5 is exact in float: demand identical bits */
        cr_expect_eq(memcmp(out, y.data, y.n * sizeof *out), 0, "%s: not bit-identical to torch", golden);
    tu_expect_close(out, y.data, y.n, 0, 1e-6f);
    free(out);
    tu_free(&x);
    tu_free(&y);
}

Test(backend, normalize_matches_torch)
{
    check_normalize("normalize/y_bgr.npy", 0, NULL, NULL);
    check_normalize("normalize/y_rgb.npy", 1, NULL, NULL);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    check_normalize("normalize/y_imagenet.npy", 0, mean, std);
}

Test(cuda, normalize_matches_cpu_bit_for_bit)
{
    need_gpu();
    struct tu_array x = tu_fixture("normalize/x.npy");
    struct lc_normalize p;
    lc_normalize_init_reference(&p, (int)x.h.dims[0], (int)x.h.dims[1], (int)x.h.dims[2], (int)x.h.dims[3]);
    struct lc_device gpu = {LC_DEVICE_CUDA, 0}, cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    cr_assert_eq(lc_device_open(&gpu, &err), 0, "%s", err.msg);
    for (int reverse = 0; reverse < 2; reverse++) {
        p.reverse_channels = reverse;
        float *want = malloc(x.n * 4), *got = malloc(x.n * 4);
        void *dx, *dy;
        cr_assert_eq(lc_device_alloc(&gpu, &dx, x.n, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_alloc(&gpu, &dy, x.n * 4, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_upload(&gpu, dx, x.data, x.n, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_normalize_u8(&gpu, dy, dx, &p, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_download(&gpu, got, dy, x.n * 4, &err), 0, "%s", err.msg);
        lc_op_normalize_u8(&cpu, want, x.data, &p, NULL);
        cr_expect_eq(memcmp(got, want, x.n * 4), 0, "GPU and CPU differ (reverse=%d)", reverse);
        lc_device_free(&gpu, dx);
        lc_device_free(&gpu, dy);
        free(want);
        free(got);
    }
    tu_free(&x);
}

/* ---- the op seam on the CPU: lc_op_* runs the CPU function itself */

Test(backend, cpu_ops_dispatch_to_the_cpu_functions)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    const int n = 3, c = 4, hw = 5;
    size_t total = (size_t)n * c * hw;
    float *x = nf_randn(total, 1, 1), *a = nf_randn((size_t)c, 2, 0.3f), *y = nf_zeros(total), *z = nf_zeros(total);
    cr_assert_eq(lc_op_prelu_forward(&cpu, y, x, a, n, c, hw, &err), 0);
    lc_prelu_forward(z, x, a, n, c, hw);
    cr_expect(!memcmp(y, z, total * 4));
    struct lc_linear lp;
    cr_assert_eq(lc_linear_init(&lp, n, 6, 7, 1, &err), 0);
    float *lx = nf_randn(18, 3, 1), *lw = nf_randn(42, 4, 1), *lb = nf_randn(7, 5, 1), *ly = nf_zeros(21),
          *lz = nf_zeros(21);
    cr_assert_eq(lc_op_linear_forward(&cpu, ly, lx, lw, lb, &lp, &err), 0);
    lc_linear_forward(lz, lx, lw, lb, &lp);
    cr_expect(!memcmp(ly, lz, 21 * 4));
    struct lc_device bad = {7, 0};
    cr_expect_neq(lc_op_prelu_forward(&bad, y, x, a, n, c, hw, &err), 0);
    nf_free();
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* lc_prof: each op timed under its name while on, none after the report */
Test(backend, the_op_profile_counts_each_op_while_on)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    const int n = 64, c = 8, hw = 1024;
    size_t total = (size_t)n * c * hw;
    float *x = nf_randn(total, 1, 1), *a = nf_randn((size_t)c, 2, 0.3f), *y = nf_zeros(total);
    cr_assert_eq(lc_op_add(&cpu, y, x, x, total, &err), 0); /* before the start: not counted */
    lc_prof_start();
    double t0 = now_s();
    for (int k = 0; k < 3; k++) cr_assert_eq(lc_op_prelu_forward(&cpu, y, x, a, n, c, hw, &err), 0);
    cr_assert_eq(lc_op_add(&cpu, y, x, x, total, &err), 0);
    cr_assert_eq(lc_device_zero(&cpu, y, total * 4, &err), 0); /* zeroing runs on the ops' stream: timed too */
    double wall = 1e3 * (now_s() - t0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    double ms = lc_prof_report(f, wall, &err);
    fclose(f);
    cr_expect(ms > 0 && ms <= wall, "%g ms in ops, %g ms wall", ms, wall);
    char *pr = strstr(text, "lc_op_prelu_forward"), *ad = strstr(text, "lc_op_add");
    cr_assert(pr && ad, "%s", text);
    /* "ms share calls op": the calls are the number just before the name */
    cr_expect(strstr(text, "       3  lc_op_prelu_forward") != NULL, "%s", text);
    cr_expect(strstr(text, "       1  lc_op_add") != NULL, "%s", text);
    cr_expect(strstr(text, "       1  lc_device_zero") != NULL, "%s", text);
    cr_expect(strstr(text, "no op running") != NULL, "%s", text);
    free(text);
    /* off after the report: nothing counted, an empty table */
    cr_assert_eq(lc_op_add(&cpu, y, x, x, total, &err), 0);
    f = open_memstream(&text, &len);
    cr_expect_eq(lc_prof_report(f, 0, &err), 0.0);
    fclose(f);
    cr_expect(strstr(text, "lc_op_add") == NULL, "%s", text);
    free(text);
    nf_free();
}

/* the training ops: lc_op_* on the CPU is the CPU function, bit for bit */
Test(backend, cpu_training_ops_dispatch_to_the_cpu_functions)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    /* subsample backward (accumulates) */
    const int n = 2, c = 3, h = 7, w = 6, s = 2, ho = (h - 1) / s + 1, wo = (w - 1) / s + 1;
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * ho * wo;
    float *dy = nf_randn(ny, 1, 1), *dx = nf_randn(nx, 2, 1), *dx2 = nf_copy(dx, nx);
    cr_assert_eq(lc_op_subsample_backward(&cpu, dx, dy, n, c, h, w, s, &err), 0);
    lc_subsample_backward(dx2, dy, n, c, h, w, s);
    cr_expect(!memcmp(dx, dx2, nx * 4), "subsample backward");
    /* l2 norm backward, with dnorm */
    const int rn = 4, rd = 9;
    float *x = nf_randn((size_t)rn * rd, 3, 1), *y = nf_zeros((size_t)rn * rd), *nm = nf_zeros((size_t)rn);
    float *ry = nf_randn((size_t)rn * rd, 4, 1), *dn = nf_randn((size_t)rn, 5, 1);
    float *rx = nf_zeros((size_t)rn * rd), *rx2 = nf_zeros((size_t)rn * rd);
    lc_l2norm_rows(y, nm, x, rn, rd);
    cr_assert_eq(lc_op_l2norm_rows_backward(&cpu, rx, ry, dn, y, nm, rn, rd, &err), 0);
    lc_l2norm_rows_backward(rx2, ry, dn, y, nm, rn, rd);
    cr_expect(!memcmp(rx, rx2, (size_t)rn * rd * 4), "l2 norm backward");
    /* dropout: mask, apply, backward */
    const size_t dn_ = 1001;
    uint8_t m1[1001], m2[1001];
    float *dxx = nf_randn(dn_, 6, 1), *d1 = nf_zeros(dn_), *d2 = nf_zeros(dn_);
    float *g1 = nf_randn(dn_, 7, 1), *g2 = nf_copy(g1, dn_);
    cr_assert_eq(lc_op_dropout_mask(&cpu, m1, dn_, 0.3f, 77, &err), 0);
    lc_dropout_mask_keyed(m2, dn_, 0.3f, 77);
    cr_expect(!memcmp(m1, m2, dn_), "dropout mask");
    cr_assert_eq(lc_op_dropout_apply(&cpu, d1, dxx, m1, dn_, 0.3f, &err), 0);
    lc_dropout_apply(d2, dxx, m1, dn_, 0.3f);
    cr_expect(!memcmp(d1, d2, dn_ * 4), "dropout apply");
    cr_assert_eq(lc_op_dropout_backward(&cpu, g1, dxx, m1, dn_, 0.3f, &err), 0);
    lc_dropout_backward(g2, dxx, m1, dn_, 0.3f);
    cr_expect(!memcmp(g1, g2, dn_ * 4), "dropout backward");
    /* margin head (ArcFace): logits, cos, then backward */
    struct lc_margin mp;
    const int N = 4, D = 8, C = 5;
    cr_assert_eq(lc_margin_init(&mp, LC_MARGIN_ARCFACE, N, D, C, 0.5f, 0.333f, 64, 0.01f, &err), 0);
    size_t nws = lc_margin_workspace(&mp), nl = (size_t)N * C;
    const int64_t labels[4] = {0, 4, 2, 3};
    float *emb = nf_randn((size_t)N * D, 8, 0.35f), *ker = nf_randn((size_t)D * C, 9, 1);
    float *l1 = nf_zeros(nl), *l2 = nf_zeros(nl), *c1 = nf_zeros(nl), *c2 = nf_zeros(nl);
    float *w1 = nf_zeros(nws), *w2 = nf_zeros(nws), *dl = nf_randn(nl, 10, 0.1f);
    float *de1 = nf_randn((size_t)N * D, 11, 1), *de2 = nf_copy(de1, (size_t)N * D);
    float *dk1 = nf_randn((size_t)D * C, 12, 1), *dk2 = nf_copy(dk1, (size_t)D * C);
    cr_assert_eq(lc_op_margin_logits(&cpu, l1, c1, NULL, emb, ker, labels, &mp, w1, &err), 0);
    lc_margin_logits(l2, c2, NULL, emb, ker, labels, &mp, w2);
    cr_expect(!memcmp(l1, l2, nl * 4) && !memcmp(c1, c2, nl * 4), "margin logits");
    cr_assert_eq(lc_op_margin_backward(&cpu, de1, dk1, dl, emb, labels, &mp, w1, &err), 0);
    lc_margin_backward(de2, dk2, dl, c2, NULL, emb, ker, labels, &mp, w2);
    cr_expect(!memcmp(de1, de2, (size_t)N * D * 4), "margin backward demb");
    cr_expect(!memcmp(dk1, dk2, (size_t)D * C * 4), "margin backward dkernel");
    /* cross-entropy per row (one ignored label), backward, argmax */
    const int64_t cl[4] = {1, LC_IGNORE_INDEX, 4, 0};
    float *p1 = nf_zeros(nl), *p2 = nf_zeros(nl), *r1 = nf_zeros((size_t)N), *r2 = nf_zeros((size_t)N);
    float *dd1 = nf_randn(nl, 13, 1), *dd2 = nf_copy(dd1, nl);
    cr_assert_eq(lc_op_cross_entropy_rows(&cpu, p1, r1, l2, cl, N, C, 0.1f, &err), 0);
    lc_cross_entropy_rows(p2, r2, l2, cl, N, C, 0.1f);
    cr_expect(!memcmp(p1, p2, nl * 4) && !memcmp(r1, r2, (size_t)N * 4), "cross-entropy rows");
    cr_expect_eq(r1[1], 0.0f);
    cr_assert_eq(lc_op_cross_entropy_backward(&cpu, dd1, p1, cl, N, C, 0.1f, 0.5f, &err), 0);
    lc_cross_entropy_backward(dd2, p2, cl, N, C, 0.1f, 0.5f);
    cr_expect(!memcmp(dd1, dd2, nl * 4), "cross-entropy backward");
    int32_t i1[4], i2[4];
    cr_assert_eq(lc_op_argmax_rows(&cpu, i1, l2, N, C, &err), 0);
    lc_argmax_rows(i2, l2, N, C);
    cr_expect(!memcmp(i1, i2, sizeof i1), "argmax");
    /* device zero: every byte, and only the bytes asked for */
    unsigned char z[64];
    memset(z, 0xab, sizeof z);
    cr_assert_eq(lc_device_zero(&cpu, z + 3, 50, &err), 0);
    for (int k = 0; k < 64; k++) cr_expect_eq(z[k], k >= 3 && k < 53 ? 0 : 0xab, "byte %d", k);
    cr_assert_eq(lc_device_zero(&cpu, z, 0, &err), 0);
    struct lc_device bad = {7, 0};
    cr_expect_neq(lc_device_zero(&bad, z, 8, &err), 0);
    cr_expect_neq(lc_op_argmax_rows(&bad, i1, l2, N, C, &err), 0);
    nf_free();
}

/* ---- CUDA twins against the CPU (float32: the GPU sums in another order) */

Test(cuda, prelu_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    /* one shared slope (c = 1); a chunk of the slope sums starting mid-plane
     * (3 x 1500 values a channel: two chunks of 2250); planes shorter than a
     * block's stride (hw = 49) */
    static const int shapes[][3] = {{2, 64, 56 * 56}, {3, 5, 7}, {4, 1, 33}, {3, 2, 1500}, {101, 3, 49}};
    for (int s = 0; s < 5; s++) {
        int n = shapes[s][0], c = shapes[s][1], hw = shapes[s][2];
        size_t total = (size_t)n * c * hw;
        float *x = nf_randn(total, 10 + s, 1), *a = nf_randn((size_t)c, 20 + s, 0.3f), *dy = nf_randn(total, 30 + s, 1);
        float *y = nf_zeros(total), *dx = nf_randn(total, 40 + s, 1), *da = nf_randn((size_t)c, 50 + s, 1);
        float *gx = up(&g, &gpu, x, total), *ga = up(&g, &gpu, a, (size_t)c), *gdy = up(&g, &gpu, dy, total);
        float *gy = up(&g, &gpu, y, total), *gdx = up(&g, &gpu, dx, total), *gda = up(&g, &gpu, da, (size_t)c);
        cr_assert_eq(lc_op_prelu_forward(&gpu, gy, gx, ga, n, c, hw, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_prelu_backward(&gpu, gdx, gda, gdy, gx, ga, n, c, hw, &err), 0, "%s", err.msg);
        lc_prelu_forward(y, x, a, n, c, hw);
        lc_prelu_backward(dx, da, dy, x, a, n, c, hw);
        cr_expect(!memcmp(down(&gpu, gy, total), y, total * 4), "prelu forward: not bit-identical");
        cr_expect(!memcmp(down(&gpu, gdx, total), dx, total * 4), "prelu dx: not bit-identical");
        nf_close(down(&gpu, gda, (size_t)c), da, (size_t)c, 1e-6f, 1e-7f, "prelu da");
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, batch_norm_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    /* n c hw affine; the last two: chunks of a channel's sums that start
     * mid-plane (5 x 1000: two of 2500; 101 x 49: two of 2475) */
    static const int shapes[][4] = {{8, 64, 28 * 28, 1}, {4, 512, 1, 1}, {3, 6, 50, 0}, {5, 3, 1000, 1}, {101, 4, 49, 1}};
    for (int s = 0; s < 5; s++) {
        struct lc_bn p;
        cr_assert_eq(lc_bn_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], 1e-5f, 0.1f, shapes[s][3], &err), 0);
        size_t total = (size_t)p.n * p.c * p.hw, c = (size_t)p.c;
        float *x = nf_randn(total, 1 + s, 2), *gm = nf_randn(c, 2 + s, 1), *bt = nf_randn(c, 3 + s, 1);
        float *rm = nf_randn(c, 4 + s, 1), *rv = nf_randn(c, 5 + s, 0.5f), *dy = nf_randn(total, 6 + s, 1);
        for (size_t k = 0; k < c; k++) rv[k] = rv[k] * rv[k] + 0.1f;
        float *y = nf_zeros(total), *sm = nf_zeros(c), *si = nf_zeros(c), *dx = nf_randn(total, 7 + s, 1);
        float *dg = nf_randn(c, 8 + s, 1), *db = nf_randn(c, 9 + s, 1), *ye = nf_zeros(total);
        float *G[12] = {up(&g, &gpu, x, total), up(&g, &gpu, gm, c), up(&g, &gpu, bt, c), up(&g, &gpu, rm, c),
                        up(&g, &gpu, rv, c),    up(&g, &gpu, dy, total), up(&g, &gpu, y, total), up(&g, &gpu, sm, c),
                        up(&g, &gpu, si, c),    up(&g, &gpu, dx, total), up(&g, &gpu, dg, c), up(&g, &gpu, db, c)};
        float *gye = up(&g, &gpu, ye, total);
        /* eval with the running statistics before training moves them */
        cr_assert_eq(lc_op_bn_forward_eval(&gpu, gye, G[0], G[1], G[2], G[3], G[4], &p, &err), 0, "%s", err.msg);
        lc_bn_forward_eval(ye, x, gm, bt, rm, rv, &p);
        /* eval: a and b per channel in double as bn.c forms them, x a + b without FMA */
        cr_expect(!memcmp(down(&gpu, gye, total), ye, total * 4), "bn eval: not bit-identical");
        cr_assert_eq(lc_op_bn_forward_train(&gpu, G[6], G[7], G[8], G[3], G[4], G[0], G[1], G[2], &p, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(lc_op_bn_backward(&gpu, G[9], G[10], G[11], G[5], G[0], G[7], G[8], G[1], &p, &err), 0, "%s",
                     err.msg);
        lc_bn_forward_train(y, sm, si, rm, rv, x, gm, bt, &p);
        lc_bn_backward(dx, dg, db, dy, x, sm, si, gm, &p);
        nf_close(down(&gpu, G[6], total), y, total, 1e-5f, 1e-6f, "bn train y");
        nf_close(down(&gpu, G[7], c), sm, c, 1e-5f, 1e-6f, "bn mean");
        nf_close(down(&gpu, G[8], c), si, c, 1e-6f, 0, "bn invstd");
        nf_close(down(&gpu, G[3], c), rm, c, 1e-6f, 1e-7f, "bn running mean");
        nf_close(down(&gpu, G[4], c), rv, c, 1e-6f, 1e-7f, "bn running var");
        nf_close(down(&gpu, G[9], total), dx, total, 1e-4f, 1e-5f, "bn dx");
        nf_close(down(&gpu, G[10], c), dg, c, 1e-5f, 1e-6f, "bn dgamma");
        nf_close(down(&gpu, G[11], c), db, c, 1e-5f, 1e-6f, "bn dbeta");
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, sgd_update_is_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    const size_t n = 100003;
    float *p = nf_randn(n, 1, 1), *buf = nf_zeros(n), *gr = nf_randn(n, 2, 1);
    float *gp = up(&g, &gpu, p, n), *gbuf_ = up(&g, &gpu, buf, n), *ggr = up(&g, &gpu, gr, n);
    for (int step = 0; step < 3; step++) {
        struct lc_sgd_args a = {0.1f, 0.9f, 0, step == 2 ? 0 : 5e-4f, step == 1, step == 0};
        cr_assert_eq(lc_op_sgd_update(&gpu, gp, gbuf_, ggr, n, &a, &err), 0, "%s", err.msg);
        lc_sgd_update(p, buf, gr, n, &a);
    }
    cr_expect(!memcmp(down(&gpu, gp, n), p, n * 4), "parameters differ");
    cr_expect(!memcmp(down(&gpu, gbuf_, n), buf, n * 4), "momentum buffers differ");
    gfree(&g, &gpu);
    nf_free();
}

Test(cuda, adam_update_is_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    const size_t n = 100003;
    float *p = nf_randn(n, 1, 1), *m = nf_zeros(n), *v = nf_zeros(n), *gr = nf_randn(n, 2, 1);
    float *gp = up(&g, &gpu, p, n), *gm = up(&g, &gpu, m, n), *gv = up(&g, &gpu, v, n), *ggr = up(&g, &gpu, gr, n);
    for (int step = 1; step <= 3; step++) { /* the constants lc_optim_step forms at steps 1-3; decay off at step 3 */
        double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.999, step);
        struct lc_adam_args a = {(float)(1e-3 / bc1), (float)sqrt(bc2), 0.9f, 0.999f, 1e-8f, step == 3 ? 0 : 5e-4f};
        cr_assert_eq(lc_op_adam_update(&gpu, gp, gm, gv, ggr, n, &a, &err), 0, "%s", err.msg);
        lc_adam_update(p, m, v, gr, n, &a);
    }
    cr_expect(!memcmp(down(&gpu, gp, n), p, n * 4), "parameters differ");
    cr_expect(!memcmp(down(&gpu, gm, n), m, n * 4), "first moments differ");
    cr_expect(!memcmp(down(&gpu, gv, n), v, n * 4), "second moments differ");
    gfree(&g, &gpu);
    nf_free();
}

/* An update table against the per-tensor CPU updates, bit for bit: five
 * tensors (none, one element, two chunks and 3 elements, one without
 * momentum, an odd size), each with its own weight decay, three SGD steps
 * (the first, nesterov, dampening; the args' weight decay is not used: the
 * table's counts) and three Adam steps. On d's own memory; the reference on the host's. */
static void check_update_tables(const struct lc_device *d)
{
    enum { K = 5 };
    const size_t n[K] = {0, 1, 2 * LC_UPDATE_CHUNK + 3, 777, 100003};
    const float wd[K] = {1e-3f, 5e-4f, 0, 5e-4f, 2e-2f};
    struct gbuf gb = {0};
    struct lc_err err;
    for (int adam = 0; adam < 2; adam++) {
        float *p[K], *s1[K], *s2[K], *g[K];
        struct lc_update_tensor dev[K];
        for (int k = 0; k < K; k++) {
            p[k] = nf_randn(n[k] + 1, 10 + k, 1), g[k] = nf_randn(n[k] + 1, 20 + k, 1);
            s1[k] = k == 3 && !adam ? NULL : nf_zeros(n[k] + 1), s2[k] = adam ? nf_zeros(n[k] + 1) : NULL;
            dev[k] = (struct lc_update_tensor){up(&gb, d, p[k], n[k]), s1[k] ? up(&gb, d, s1[k], n[k]) : NULL,
                                               s2[k] ? up(&gb, d, s2[k], n[k]) : NULL, up(&gb, d, g[k], n[k]), n[k],
                                               wd[k]};
        }
        struct lc_update_table *tab;
        cr_assert_eq(lc_update_table_create(&tab, d, dev, K, &err), 0, "%s", err.msg);
        for (int step = 1; step <= 3; step++) {
            if (adam) {
                double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.999, step);
                struct lc_adam_args a = {(float)(1e-3 / bc1), (float)sqrt(bc2), 0.9f, 0.999f, 1e-8f, 0.5f};
                cr_assert_eq(lc_op_adam_update_table(tab, &a, &err), 0, "%s", err.msg);
                for (int k = 0; k < K; k++) {
                    a.weight_decay = wd[k];
                    lc_adam_update(p[k], s1[k], s2[k], g[k], n[k], &a);
                }
            } else {
                struct lc_sgd_args a = {0.1f, 0.9f, step == 3 ? 0.1f : 0, 0.5f, step == 2, step == 1};
                cr_assert_eq(lc_op_sgd_update_table(tab, &a, &err), 0, "%s", err.msg);
                for (int k = 0; k < K; k++) {
                    a.weight_decay = wd[k];
                    lc_sgd_update(p[k], s1[k], g[k], n[k], &a);
                }
            }
        }
        for (int k = 1; k < K; k++) {
            cr_expect(!memcmp(down(d, dev[k].p, n[k]), p[k], n[k] * 4), "%s: tensor %d's parameters differ",
                      adam ? "adam" : "sgd", k);
            if (s1[k]) cr_expect(!memcmp(down(d, dev[k].s1, n[k]), s1[k], n[k] * 4), "tensor %d's state differs", k);
            if (s2[k]) cr_expect(!memcmp(down(d, dev[k].s2, n[k]), s2[k], n[k] * 4), "tensor %d's moment differs", k);
        }
        lc_update_table_free(tab);
        gfree(&gb, d);
    }
    nf_free();
}

Test(backend, update_tables_on_the_cpu)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_update_tables(&cpu);
}

Test(cuda, update_tables_are_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    check_update_tables(&gpu);
}

Test(backend, the_cpu_has_no_device_memory_to_query)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err = {0};
    size_t free_b = 1, total = 1;
    cr_expect_eq(lc_device_memory(&cpu, &free_b, &total, &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "the CPU has no device memory") != NULL, "%s", err.msg);
    cr_expect(free_b == 0 && total == 0);
}

/* the driver's count of free memory falls by an allocation and comes back */
Test(cuda, device_memory_counts_an_allocation)
{
    struct lc_device gpu = open_gpu();
    struct lc_err err;
    /* free memory is the device's: the other tests of this program, run in
       parallel, allocate and free beside this one (on an H200, 254 of 256 MiB
       freed were seen), so 512 MiB are asked for and an eighth of that is slack */
    const size_t mib = 1 << 20, bytes = 512 * mib, slack = bytes / 8;
    size_t free0, free1, free2, total;
    void *p;
    cr_assert_eq(lc_device_memory(&gpu, &free0, &total, &err), 0, "%s", err.msg);
    cr_expect(total > 0 && free0 <= total, "free %zu of %zu bytes", free0, total);
    cr_assert_eq(lc_device_alloc(&gpu, &p, bytes, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_memory(&gpu, &free1, &total, &err), 0, "%s", err.msg);
    lc_device_free(&gpu, p);
    cr_assert_eq(lc_device_memory(&gpu, &free2, &total, &err), 0, "%s", err.msg);
    cr_expect(free0 + slack >= free1 + bytes, "512 MiB allocated: free went from %zu to %zu MiB", free0 / mib,
              free1 / mib);
    cr_expect(free2 + slack >= free1 + bytes, "512 MiB freed: free went from %zu to %zu MiB", free1 / mib, free2 / mib);
}

Test(cuda, linear_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int shapes[][3] = {{32, 25088, 512}, {5, 7, 3}}; /* n in out: IR's output layer, and odd sizes */
    for (int s = 0; s < 2; s++) {
        struct lc_linear p;
        cr_assert_eq(lc_linear_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], 1, &err), 0);
        size_t nx = (size_t)p.n * p.in, nw = (size_t)p.out * p.in, ny = (size_t)p.n * p.out;
        float *x = nf_randn(nx, 1, 1), *w = nf_randn(nw, 2, 0.01f), *b = nf_randn((size_t)p.out, 3, 1);
        float *dy = nf_randn(ny, 4, 1), *y = nf_zeros(ny), *dx = nf_randn(nx, 5, 1), *dw = nf_randn(nw, 6, 1);
        float *db = nf_randn((size_t)p.out, 7, 1);
        float *gx = up(&g, &gpu, x, nx), *gw = up(&g, &gpu, w, nw), *gb = up(&g, &gpu, b, (size_t)p.out);
        float *gdy = up(&g, &gpu, dy, ny), *gy = up(&g, &gpu, y, ny), *gdx = up(&g, &gpu, dx, nx);
        float *gdw = up(&g, &gpu, dw, nw), *gdb = up(&g, &gpu, db, (size_t)p.out);
        cr_assert_eq(lc_op_linear_forward(&gpu, gy, gx, gw, gb, &p, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_linear_backward(&gpu, gdx, gdw, gdb, gdy, gx, gw, &p, &err), 0, "%s", err.msg);
        lc_linear_forward(y, x, w, b, &p);
        lc_linear_backward(dx, dw, db, dy, x, w, &p);
        nf_close(down(&gpu, gy, ny), y, ny, 1e-4f, 1e-5f, "linear y");
        nf_close(down(&gpu, gdx, nx), dx, nx, 1e-4f, 1e-5f, "linear dx");
        nf_close(down(&gpu, gdw, nw), dw, nw, 1e-4f, 1e-5f, "linear dw");
        nf_close(down(&gpu, gdb, (size_t)p.out), db, (size_t)p.out, 1e-5f, 1e-6f, "linear db");
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, conv2d_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    /* n ci h w co k stride pad groups bias: IR's 3x3 s1 and s2, the 1x1 shortcut, depthwise, odd sizes */
    static const int shapes[][10] = {{4, 64, 28, 28, 64, 3, 1, 1, 1, 0}, {4, 64, 28, 28, 128, 3, 2, 1, 1, 0},
                                     {4, 64, 28, 28, 128, 1, 2, 0, 1, 0}, {2, 32, 15, 15, 32, 3, 1, 1, 32, 1},
                                     {3, 5, 9, 7, 6, 5, 2, 2, 1, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int *c = shapes[s];
        struct lc_conv2d p;
        cr_assert_eq(lc_conv2d_init(&p, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], &err), 0);
        size_t nx = (size_t)p.n * p.ci * p.h * p.w, ny = (size_t)p.n * p.co * p.ho * p.wo;
        size_t nw = (size_t)p.co * (p.ci / p.groups) * p.kh * p.kw, nb = (size_t)p.co;
        float *x = nf_randn(nx, 1 + s, 1), *w = nf_randn(nw, 2 + s, 0.1f), *b = p.bias ? nf_randn(nb, 3 + s, 1) : NULL;
        float *dy = nf_randn(ny, 4 + s, 1), *y = nf_zeros(ny), *dx = nf_randn(nx, 5 + s, 1), *dw = nf_randn(nw, 6 + s, 1);
        float *db = nf_randn(nb, 7 + s, 1), *ws = nf_zeros(lc_conv2d_workspace(&p));
        float *gx = up(&g, &gpu, x, nx), *gw = up(&g, &gpu, w, nw), *gb = b ? up(&g, &gpu, b, nb) : NULL;
        float *gdy = up(&g, &gpu, dy, ny), *gy = up(&g, &gpu, y, ny), *gdx = up(&g, &gpu, dx, nx);
        float *gdw = up(&g, &gpu, dw, nw), *gdb = up(&g, &gpu, db, nb);
        cr_assert_eq(lc_op_conv2d_forward(&gpu, gy, gx, gw, gb, &p, NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_conv2d_backward(&gpu, gdx, gdw, gdb, gdy, gx, gw, &p, NULL, &err), 0, "%s", err.msg);
        lc_conv2d_forward(y, x, w, b, &p, ws);
        lc_conv2d_backward(dx, dw, db, dy, x, w, &p, ws);
        char what[64];
        snprintf(what, sizeof what, "conv %zu y", s);
        nf_close(down(&gpu, gy, ny), y, ny, 1e-4f, 1e-5f, what);
        snprintf(what, sizeof what, "conv %zu dx", s);
        nf_close(down(&gpu, gdx, nx), dx, nx, 1e-4f, 1e-5f, what);
        snprintf(what, sizeof what, "conv %zu dw", s);
        nf_close(down(&gpu, gdw, nw), dw, nw, 1e-4f, 1e-5f, what);
        snprintf(what, sizeof what, "conv %zu db", s);
        nf_close(down(&gpu, gdb, nb), db, nb, 1e-5f, 1e-6f, what);
        /* deterministic: two backward passes into zeroed buffers give the same
         * bits, also with the thread's handle, plans and scratch released
         * between them (made again, the same algorithms chosen) */
        float *zx = nf_zeros(nx), *zw = nf_zeros(nw);
        float *r[2][2];
        for (int k = 0; k < 2; k++) {
            r[k][0] = up(&g, &gpu, zx, nx), r[k][1] = up(&g, &gpu, zw, nw);
            cr_assert_eq(lc_op_conv2d_backward(&gpu, r[k][0], r[k][1], NULL, gdy, gx, gw, &p, NULL, &err), 0, "%s",
                         err.msg);
            if (k == 0 && s % 2 == 0) lc_device_thread_release(&gpu);
        }
        cr_expect(!memcmp(down(&gpu, r[0][0], nx), down(&gpu, r[1][0], nx), nx * 4), "conv %zu: dx not deterministic", s);
        cr_expect(!memcmp(down(&gpu, r[0][1], nw), down(&gpu, r[1][1], nw), nw * 4), "conv %zu: dw not deterministic", s);
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, tensor_arithmetic_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    const int n = 3, c = 8, h = 14, w = 13, s = 2, ho = (h - 1) / s + 1, wo = (w - 1) / s + 1, d = 512;
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * ho * wo, nr = (size_t)n * d;
    float *x = nf_randn(nx, 1, 1), *y = nf_randn(ny, 2, 1), *a = nf_randn(ny, 3, 1), *r = nf_randn(nr, 4, 1);
    float *sum = nf_zeros(ny), *rn = nf_zeros(nr), *nm = nf_zeros((size_t)n), *sc = nf_zeros(nx);
    float *gx = up(&g, &gpu, x, nx), *gy = up(&g, &gpu, y, ny), *ga = up(&g, &gpu, a, ny), *gr = up(&g, &gpu, r, nr);
    float *gsum = up(&g, &gpu, sum, ny), *grn = up(&g, &gpu, rn, nr), *gnm = up(&g, &gpu, nm, (size_t)n);
    float *gsc = up(&g, &gpu, sc, nx);
    cr_assert_eq(lc_op_scale(&gpu, gsc, gx, -0.3f, nx, &err), 0, "%s", err.msg);
    lc_scale_forward(sc, x, -0.3f, nx);
    cr_expect(!memcmp(down(&gpu, gsc, nx), sc, nx * 4), "scale: not bit-identical");
    cr_assert_eq(lc_op_add(&gpu, gsum, gy, ga, ny, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_op_subsample_add(&gpu, gy, gx, n, c, h, w, s, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_op_l2norm_rows(&gpu, grn, gnm, gr, n, d, &err), 0, "%s", err.msg);
    lc_add_forward(sum, y, a, ny);
    lc_subsample_add(y, x, n, c, h, w, s);
    lc_l2norm_rows(rn, nm, r, n, d);
    cr_expect(!memcmp(down(&gpu, gsum, ny), sum, ny * 4), "add: not bit-identical");
    cr_expect(!memcmp(down(&gpu, gy, ny), y, ny * 4), "subsample add: not bit-identical");
    nf_close(down(&gpu, gnm, (size_t)n), nm, (size_t)n, 1e-6f, 0, "l2 norms");
    nf_close(down(&gpu, grn, nr), rn, nr, 1e-6f, 1e-7f, "l2-normalised rows");
    gfree(&g, &gpu);
    nf_free();
}

/* ---- training's ops (CUDA twins against the CPU functions) */

Test(cuda, device_zero_clears_only_its_bytes)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    unsigned char h[1001];
    memset(h, 0xab, sizeof h);
    unsigned char *p = upb(&g, &gpu, h, sizeof h);
    cr_assert_eq(lc_device_zero(&gpu, p + 3, 990, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_zero(&gpu, p, 0, &err), 0, "%s", err.msg);
    downb(&gpu, h, p, sizeof h);
    int bad = -1;
    for (int k = 0; k < 1001 && bad < 0; k++)
        if (h[k] != (k >= 3 && k < 993 ? 0 : 0xab)) bad = k;
    cr_expect(bad < 0, "byte %d is %#x", bad, bad < 0 ? 0 : h[bad]);
    gfree(&g, &gpu);
}

Test(cuda, subsample_backward_is_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int shapes[][5] = {{3, 8, 14, 13, 2}, {2, 5, 7, 7, 1}, {2, 4, 11, 10, 3}}; /* n c h w s */
    for (int k = 0; k < 3; k++) {
        const int n = shapes[k][0], c = shapes[k][1], h = shapes[k][2], w = shapes[k][3], s = shapes[k][4];
        size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * ((h - 1) / s + 1) * ((w - 1) / s + 1);
        float *dy = nf_randn(ny, 1 + k, 1), *dx = nf_randn(nx, 10 + k, 1); /* dx accumulates */
        float *gdy = up(&g, &gpu, dy, ny), *gdx = up(&g, &gpu, dx, nx);
        cr_assert_eq(lc_op_subsample_backward(&gpu, gdx, gdy, n, c, h, w, s, &err), 0, "%s", err.msg);
        lc_subsample_backward(dx, dy, n, c, h, w, s);
        cr_expect(!memcmp(down(&gpu, gdx, nx), dx, nx * 4), "subsample backward (s=%d): not bit-identical", s);
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, l2norm_rows_backward_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int shapes[][2] = {{8, 512}, {5, 77}};
    for (int k = 0; k < 2; k++) {
        const int n = shapes[k][0], d = shapes[k][1];
        size_t nr = (size_t)n * d;
        float *x = nf_randn(nr, 1 + k, 3), *y = nf_zeros(nr), *nm = nf_zeros((size_t)n);
        lc_l2norm_rows(y, nm, x, n, d);
        float *dy = nf_randn(nr, 5 + k, 1), *dn = nf_randn((size_t)n, 7 + k, 1), *garbage = nf_randn(nr, 9 + k, 5);
        float *gy = up(&g, &gpu, y, nr), *gnm = up(&g, &gpu, nm, (size_t)n), *gdy = up(&g, &gpu, dy, nr);
        float *gdn = up(&g, &gpu, dn, (size_t)n);
        for (int with = 0; with < 2; with++) {
            /* dx is written, not accumulated: the device copy starts as garbage */
            float *dx = nf_zeros(nr), *gdx = up(&g, &gpu, garbage, nr);
            cr_assert_eq(lc_op_l2norm_rows_backward(&gpu, gdx, gdy, with ? gdn : NULL, gy, gnm, n, d, &err), 0, "%s",
                         err.msg);
            lc_l2norm_rows_backward(dx, dy, with ? dn : NULL, y, nm, n, d);
            char what[64];
            snprintf(what, sizeof what, "l2 norm backward (d=%d, %s dnorm)", d, with ? "with" : "without");
            nf_close(down(&gpu, gdx, nr), dx, nr, 1e-5f, 1e-6f, what);
        }
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, dropout_is_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    const size_t n = 100003;
    static const float ps[] = {0.1f, 0.5f, 0.0f};
    uint8_t *mask = malloc(n), *gmask_h = malloc(n);
    cr_assert(mask && gmask_h);
    for (int k = 0; k < 3; k++) {
        const float p = ps[k];
        const uint64_t key = 0x9d2c5680a5f3e1b7ull + (uint64_t)k;
        lc_dropout_mask_keyed(mask, n, p, key);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) kept += mask[i];
        cr_expect(p > 0 ? kept > 0 && kept < n : kept == n, "p=%g: %zu of %zu kept", p, kept, n);
        /* the mask drawn on the device from the same key */
        uint8_t *gm = upb(&g, &gpu, gmask_h, n);
        cr_assert_eq(lc_op_dropout_mask(&gpu, gm, n, p, key, &err), 0, "%s", err.msg);
        downb(&gpu, gmask_h, gm, n);
        cr_expect(!memcmp(gmask_h, mask, n), "p=%g: dropout mask differs", p);
        /* apply and backward on the CPU's mask */
        float *x = nf_randn(n, 1 + k, 1), *dy = nf_randn(n, 2 + k, 1), *dx = nf_randn(n, 3 + k, 1), *y = nf_zeros(n);
        uint8_t *gmc = upb(&g, &gpu, mask, n);
        float *gx = up(&g, &gpu, x, n), *gdy = up(&g, &gpu, dy, n), *gdx = up(&g, &gpu, dx, n);
        float *gy = up(&g, &gpu, dx, n); /* garbage: apply writes */
        cr_assert_eq(lc_op_dropout_apply(&gpu, gy, gx, gmc, n, p, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_dropout_backward(&gpu, gdx, gdy, gmc, n, p, &err), 0, "%s", err.msg);
        lc_dropout_apply(y, x, mask, n, p);
        lc_dropout_backward(dx, dy, mask, n, p);
        cr_expect(!memcmp(down(&gpu, gy, n), y, n * 4), "p=%g: dropout apply differs", p);
        cr_expect(!memcmp(down(&gpu, gdx, n), dx, n * 4), "p=%g: dropout backward differs", p);
        /* in place (y == x) */
        cr_assert_eq(lc_op_dropout_apply(&gpu, gx, gx, gmc, n, p, &err), 0, "%s", err.msg);
        cr_expect(!memcmp(down(&gpu, gx, n), y, n * 4), "p=%g: dropout apply in place differs", p);
        gfree(&g, &gpu);
        nf_free();
    }
    free(mask);
    free(gmask_h);
}

Test(cuda, argmax_rows_is_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int shapes[][2] = {{9, 1000}, {3, 3}};
    for (int s = 0; s < 2; s++) {
        const int n = shapes[s][0], c = shapes[s][1];
        float *x = nf_randn((size_t)n * c, 1 + s, 1);
        if (c == 1000) {
            float *r;
            r = x + 1 * c; /* the max twice, in different threads' strides: the first wins */
            r[700] = r[300] = 50;
            r = x + 2 * c; /* twice in one thread's stride */
            r[800] = r[544] = 60;
            r = x + 3 * c; /* all equal: 0 */
            for (int k = 0; k < c; k++) r[k] = 1.5f;
            r = x + 4 * c; /* NaN first: the CPU keeps 0 */
            r[0] = NAN, r[500] = 70;
            r = x + 5 * c; /* NaN elsewhere never wins */
            r[10] = NAN, r[999] = NAN, r[600] = 80;
            r = x + 6 * c; /* all -inf: 0 */
            for (int k = 0; k < c; k++) r[k] = -INFINITY;
            r = x + 7 * c; /* -0 before +0: equal, the first wins */
            for (int k = 0; k < c; k++) r[k] = -1;
            r[5] = -0.0f, r[261] = 0.0f;
            r = x + 8 * c; /* the max last */
            r[999] = 90;
        }
        int32_t *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
        memset(got, 0xff, (size_t)n * 4);
        float *gx = up(&g, &gpu, x, (size_t)n * c);
        int32_t *gi = upb(&g, &gpu, got, (size_t)n * 4);
        cr_assert_eq(lc_op_argmax_rows(&gpu, gi, gx, n, c, &err), 0, "%s", err.msg);
        lc_argmax_rows(want, x, n, c);
        downb(&gpu, got, gi, (size_t)n * 4);
        for (int i = 0; i < n; i++) cr_expect_eq(got[i], want[i], "c=%d row %d: got %d, want %d", c, i, got[i], want[i]);
        if (c == 1000) cr_expect(want[1] == 300 && want[2] == 544 && want[4] == 0 && want[5] == 600 && want[8] == 999);
        free(want);
        free(got);
        gfree(&g, &gpu);
        nf_free();
    }
}

/* The margin head on N=8 embeddings, D=64, C=300 classes (two
 * LC_MARGIN_BLOCKs). Row 0 is its target's column (cos clamped at 1-eps),
 * row 1 its negation (clamped at -1+eps; ArcFace's clip binds), row 2 at
 * cos 0.99 to its target; the rest random. Labels reach both blocks. */
enum { MG_N = 8, MG_D = 64, MG_C = 300 };
static const int64_t mg_labels[MG_N] = {5, 299, 256, 17, 100, 255, 280, 0};
static const float mg_scaler[MG_N] = {-1, 1, 0.3f, -0.2f, 0.7f, 0, -0.6f, 0.05f};

static void mg_inputs(float **emb, float **kernel)
{
    float *w = nf_randn((size_t)MG_D * MG_C, 1, 0.05f), *e = nf_randn((size_t)MG_N * MG_D, 2, 1);
    float *u = nf_randn(MG_D, 3, 1), *nm = nf_zeros(MG_N);
    double col[MG_D], ss = 0, dot = 0, uu = 0;
    for (int r = 0; r < 3; r++) {
        int64_t y = mg_labels[r];
        ss = 0;
        for (int k = 0; k < MG_D; k++) col[k] = w[(size_t)k * MG_C + y], ss += col[k] * col[k];
        for (int k = 0; k < MG_D; k++) col[k] /= sqrt(ss);
        if (r == 2) { /* 0.99 col + sqrt(1 - 0.99^2) u, u orthogonal to col */
            dot = 0, uu = 0;
            for (int k = 0; k < MG_D; k++) dot += u[k] * col[k];
            for (int k = 0; k < MG_D; k++) u[k] -= (float)(dot * col[k]), uu += (double)u[k] * u[k];
            for (int k = 0; k < MG_D; k++) col[k] = 0.99 * col[k] + sqrt(1 - 0.99 * 0.99) * u[k] / sqrt(uu);
        }
        for (int k = 0; k < MG_D; k++) e[(size_t)r * MG_D + k] = (float)(r == 1 ? -col[k] : col[k]);
    }
    lc_l2norm_rows(e, nm, e, MG_N, MG_D);
    *emb = e, *kernel = w;
}

static void mg_init(struct lc_margin *p, int kind)
{
    static const float m[3] = {0.35f, 0.5f, 0.4f};
    cr_assert_eq(lc_margin_init(p, kind, MG_N, MG_D, MG_C, m[kind], 0.333f, 64, 0.01f, NULL), 0);
}

Test(cuda, margin_logits_match_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    for (int kind = 0; kind < 3; kind++) {
        struct lc_margin p;
        mg_init(&p, kind);
        float *emb, *kernel;
        mg_inputs(&emb, &kernel);
        size_t nl = (size_t)MG_N * MG_C, nws = lc_margin_workspace(&p);
        float *logits = nf_zeros(nl), *cos = nf_zeros(nl), *ws = nf_zeros(nws), *junk = nf_randn(nws, 9, 1);
        float *gemb = up(&g, &gpu, emb, (size_t)MG_N * MG_D), *gker = up(&g, &gpu, kernel, (size_t)MG_D * MG_C);
        float *gsc = up(&g, &gpu, mg_scaler, MG_N), *glog = up(&g, &gpu, junk, nl), *gcos = up(&g, &gpu, junk, nl);
        float *gws = up(&g, &gpu, junk, nws);
        int64_t *glab = upb(&g, &gpu, mg_labels, sizeof mg_labels);
        cr_assert_eq(lc_op_margin_logits(&gpu, glog, gcos, gsc, gemb, gker, glab, &p, gws, &err), 0, "%s", err.msg);
        lc_margin_logits(logits, cos, mg_scaler, emb, kernel, mg_labels, &p, ws);
        float *gl = down(&gpu, glog, nl), *gc = down(&gpu, gcos, nl);
        char what[64];
        snprintf(what, sizeof what, "%s logits", lc_margin_name(kind));
        nf_close(gl, logits, nl, 1e-5f, 1e-6f, what);
        snprintf(what, sizeof what, "%s cos", lc_margin_name(kind));
        nf_close(gc, cos, nl, 1e-5f, 1e-6f, what);
        /* the clamped targets: the bound itself on both */
        size_t a0 = (size_t)mg_labels[0], a1 = (size_t)MG_C + (size_t)mg_labels[1];
        cr_expect(cos[a0] == 1 - p.eps && gc[a0] == cos[a0], "%s: row 0 not clamped at 1-eps: cpu %.9g gpu %.9g",
                  lc_margin_name(kind), cos[a0], gc[a0]);
        cr_expect(cos[a1] == -1 + p.eps && gc[a1] == cos[a1], "%s: row 1 not clamped at -1+eps: cpu %.9g gpu %.9g",
                  lc_margin_name(kind), cos[a1], gc[a1]);
        /* every target carries its margin: logit != s cos there */
        for (int i = 0; i < MG_N; i++) {
            size_t at = (size_t)i * MG_C + (size_t)mg_labels[i];
            cr_expect(fabsf(gl[at] - p.s * gc[at]) > 1e-3f, "%s row %d: no margin at the target", lc_margin_name(kind),
                      i);
        }
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, margin_backward_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    for (int kind = 0; kind < 3; kind++)
        for (int which = 0; which < 3; which++) { /* both, demb only, dkernel only */
            struct lc_margin p;
            mg_init(&p, kind);
            float *emb, *kernel;
            mg_inputs(&emb, &kernel);
            size_t nl = (size_t)MG_N * MG_C, nws = lc_margin_workspace(&p), ne = (size_t)MG_N * MG_D,
                   nk = (size_t)MG_D * MG_C;
            float *logits = nf_zeros(nl), *cos = nf_zeros(nl), *ws = nf_zeros(nws);
            float *dl = nf_randn(nl, 4, 0.1f), *demb = nf_randn(ne, 5, 1), *dker = nf_randn(nk, 6, 1);
            float *gemb = up(&g, &gpu, emb, ne), *gker = up(&g, &gpu, kernel, nk), *gsc = up(&g, &gpu, mg_scaler, MG_N);
            float *glog = up(&g, &gpu, logits, nl), *gcos = up(&g, &gpu, cos, nl), *gws = up(&g, &gpu, ws, nws);
            float *gdl = up(&g, &gpu, dl, nl), *gdemb = up(&g, &gpu, demb, ne), *gdker = up(&g, &gpu, dker, nk);
            int64_t *glab = upb(&g, &gpu, mg_labels, sizeof mg_labels);
            float *de = which == 2 ? NULL : demb, *dk = which == 1 ? NULL : dker;
            cr_assert_eq(lc_op_margin_logits(&gpu, glog, gcos, gsc, gemb, gker, glab, &p, gws, &err), 0, "%s",
                         err.msg);
            cr_assert_eq(lc_op_margin_backward(&gpu, de ? gdemb : NULL, dk ? gdker : NULL, gdl, gemb, glab, &p, gws,
                                               &err),
                         0, "%s", err.msg);
            lc_margin_logits(logits, cos, mg_scaler, emb, kernel, mg_labels, &p, ws);
            lc_margin_backward(de, dk, dl, cos, mg_scaler, emb, kernel, mg_labels, &p, ws);
            char what[64];
            snprintf(what, sizeof what, "%s demb (case %d)", lc_margin_name(kind), which);
            nf_close(down(&gpu, gdemb, ne), demb, ne, 1e-5f, 1e-5f, what); /* untouched when NULL: the initial values */
            snprintf(what, sizeof what, "%s dkernel (case %d)", lc_margin_name(kind), which);
            nf_close(down(&gpu, gdker, nk), dker, nk, 1e-5f, 1e-5f, what);
            gfree(&g, &gpu);
            nf_free();
        }
}

Test(cuda, cross_entropy_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    const int n = 8, c = 300;
    size_t nl = (size_t)n * c;
    /* row 3 ignored; row 5's label out of range counts as ignored too */
    const int64_t labels[8] = {7, 299, 256, LC_IGNORE_INDEX, 0, 300, 150, 42};
    const int64_t none[8] = {LC_IGNORE_INDEX, LC_IGNORE_INDEX, LC_IGNORE_INDEX, LC_IGNORE_INDEX,
                             LC_IGNORE_INDEX, LC_IGNORE_INDEX, LC_IGNORE_INDEX, LC_IGNORE_INDEX};
    static const float smooth[2] = {0.0f, 0.1f};
    for (int s = 0; s < 2; s++) {
        float *x = nf_randn(nl, 1 + s, 3), *prob = nf_zeros(nl), *loss = nf_zeros((size_t)n);
        x[2 * c + 256] += 12; /* one confident row */
        float *dl = nf_randn(nl, 3 + s, 1), *dl0 = nf_copy(dl, nl), *junk = nf_randn(nl, 5, 1);
        float *gx = up(&g, &gpu, x, nl), *gp = up(&g, &gpu, junk, nl), *gloss = up(&g, &gpu, junk, (size_t)n);
        int64_t *glab = upb(&g, &gpu, labels, sizeof labels), *gnone = upb(&g, &gpu, none, sizeof none);
        cr_assert_eq(lc_op_cross_entropy_rows(&gpu, gp, gloss, gx, glab, n, c, smooth[s], &err), 0, "%s", err.msg);
        lc_cross_entropy_rows(prob, loss, x, labels, n, c, smooth[s]);
        float *gl = down(&gpu, gloss, (size_t)n);
        char what[64];
        snprintf(what, sizeof what, "softmax (smoothing %g)", smooth[s]);
        nf_close(down(&gpu, gp, nl), prob, nl, 1e-5f, 1e-6f, what);
        snprintf(what, sizeof what, "row losses (smoothing %g)", smooth[s]);
        nf_close(gl, loss, (size_t)n, 1e-5f, 1e-6f, what);
        cr_expect(gl[3] == 0 && gl[5] == 0, "ignored rows: loss %g, %g", gl[3], gl[5]);
        /* backward on the CPU's probabilities: the same double expression */
        float *gprob = up(&g, &gpu, prob, nl), *gdl = up(&g, &gpu, dl, nl);
        cr_assert_eq(lc_op_cross_entropy_backward(&gpu, gdl, gprob, glab, n, c, smooth[s], 0.7f, &err), 0, "%s",
                     err.msg);
        lc_cross_entropy_backward(dl, prob, labels, n, c, smooth[s], 0.7f);
        cr_expect(!memcmp(down(&gpu, gdl, nl), dl, nl * 4), "cross-entropy backward (smoothing %g): not bit-identical",
                  smooth[s]);
        cr_expect(!memcmp(dl + 3 * c, dl0 + 3 * c, (size_t)c * 4), "the ignored row has a gradient");
        /* every label ignored: no gradient at all */
        float *gdl0 = up(&g, &gpu, dl0, nl);
        cr_assert_eq(lc_op_cross_entropy_backward(&gpu, gdl0, gprob, gnone, n, c, smooth[s], 0.7f, &err), 0, "%s",
                     err.msg);
        cr_expect(!memcmp(down(&gpu, gdl0, nl), dl0, nl * 4), "all ignored: dlogits changed");
        gfree(&g, &gpu);
        nf_free();
    }
}

/* ---- mixed precision: each 16-bit op (mixed.h) on cuda:0 against the same
 * op on the CPU device (mixed.c's reference), for f16 and bf16; the inputs
 * are rounded to dt once and shared. An elementwise op computing the same
 * float32 expression gives the same bits (compared widened; two NaNs are
 * equal). The others agree to two units in dt's last place (mx_rtol: 2e-3
 * for f16, 1.6e-2 for bf16) plus an absolute slack per test: 1e-4 of the
 * largest value for batch norm (float32 reassociation), one unit of dt's last
 * place (mx_ulp) of it for convolution and linear (other sum orders and
 * algorithms before the rounding); float32 outputs computed from the same
 * widened values (statistics, dgamma, dbeta, db, da) keep the float32 tests'
 * tolerances. */

static const int mx_types[2] = {LC_DTYPE_F16, LC_DTYPE_BF16};
static const struct lc_device mx_cpu = {LC_DEVICE_CPU, 0};

static float mx_ulp(int dt) { return dt == LC_DTYPE_F16 ? 1e-3f : 8e-3f; } /* 2^-10, 2^-7: rounded up */
static float mx_rtol(int dt) { return 2 * mx_ulp(dt); }

/* n elements of dt on the host, zeroed (freed by nf_free) */
static void *mx_buf(size_t n, int dt) { return nf_zeros((n * lc_dtype_size(dt) + 3) / 4); }

/* x (n floats) rounded to dt */
static void *mx_from(const float *x, size_t n, int dt)
{
    void *h = mx_buf(n, dt);
    lc_cast(h, dt, x, LC_DTYPE_F32, n);
    return h;
}

static void *mx_randn(size_t n, uint64_t seed, float scale, int dt) { return mx_from(nf_randn(n, seed, scale), n, dt); }

/* n elements of dt at host h, widened */
static float *mx_wide(const void *h, size_t n, int dt)
{
    float *f = nf_zeros(n);
    lc_cast(f, LC_DTYPE_F32, h, dt, n);
    return f;
}

static void *mx_up(struct gbuf *g, const struct lc_device *d, const void *h, size_t n, int dt)
{
    return upb(g, d, h, n * lc_dtype_size(dt));
}

/* the device's n elements of dt, widened */
static float *mx_down(const struct lc_device *d, const void *dev, size_t n, int dt)
{
    void *h = mx_buf(n, dt);
    downb(d, h, dev, n * lc_dtype_size(dt));
    return mx_wide(h, n, dt);
}

/* the same bits (two NaNs count as equal); reports the first difference */
static void mx_same(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(isnan(got[i]) && isnan(want[i])) && memcmp(&got[i], &want[i], 4)) {
            cr_expect(0, "%s: not bit-identical, first at %zu: gpu %.9g, cpu %.9g", what, i, (double)got[i],
                      (double)want[i]);
            return;
        }
}

Test(cuda, mixed_casts_are_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int types[3] = {LC_DTYPE_F32, LC_DTYPE_F16, LC_DTYPE_BF16};
    /* ties (1 + 2^-11, 1 + 3 2^-11 in f16; 1 + 2^-8, 1 + 3 2^-8 in bf16), f16's largest, overflow in f16 and in
     * bf16, f16 subnormals and underflow, signed zero, infinities, NaN */
    static const float special[] = {1.00048828125f, 1.00146484375f, 1.00390625f, 1.01171875f, 65504.0f, 65520.0f,
                                    -1e5f, 3.4e38f, 1e-5f, 3e-8f, -1e-9f, -0.0f, INFINITY, -INFINITY, NAN};
    const size_t n = 10007;
    float *src = nf_randn(n, 1, 3);
    memcpy(src, special, sizeof special);
    char what[64];
    for (int yi = 0; yi < 3; yi++)
        for (int xi = 0; xi < 3; xi++) {
            const int ydt = types[yi], xdt = types[xi];
            void *x = mx_from(src, n, xdt), *want = mx_buf(n, ydt);
            cr_assert_eq(lc_op_cast(&mx_cpu, want, ydt, x, xdt, n, &err), 0, "%s", err.msg);
            void *gx = mx_up(&g, &gpu, x, n, xdt), *gy = mx_up(&g, &gpu, mx_buf(n, ydt), n, ydt);
            cr_assert_eq(lc_op_cast(&gpu, gy, ydt, gx, xdt, n, &err), 0, "%s", err.msg);
            snprintf(what, sizeof what, "cast %s -> %s", lc_mixed_name(xdt), lc_mixed_name(ydt));
            float *got = mx_down(&gpu, gy, n, ydt), *ref = mx_wide(want, n, ydt);
            mx_same(got, ref, n, what);
            if (ydt == LC_DTYPE_F16 && xdt == LC_DTYPE_F32) /* the ties went to even; 65520 overflowed */
                cr_expect(got[0] == 1 && got[1] == 1.001953125f && isinf(got[5]), "%s: %.9g %.9g %.9g", what,
                          (double)got[0], (double)got[1], (double)got[5]);
            if (ydt == LC_DTYPE_BF16 && xdt == LC_DTYPE_F32)
                cr_expect(got[2] == 1 && got[3] == 1.015625f && isinf(got[7]), "%s: %.9g %.9g %.9g", what,
                          (double)got[2], (double)got[3], (double)got[7]);
            /* y += widen(x) into float32 */
            if (yi == 0) {
                float *y = nf_randn(n, 2, 1), *gy32 = up(&g, &gpu, y, n);
                cr_assert_eq(lc_op_cast_add(&mx_cpu, y, x, xdt, n, &err), 0, "%s", err.msg);
                cr_assert_eq(lc_op_cast_add(&gpu, gy32, gx, xdt, n, &err), 0, "%s", err.msg);
                snprintf(what, sizeof what, "cast add %s", lc_mixed_name(xdt));
                mx_same(down(&gpu, gy32, n), y, n, what);
            }
            gfree(&g, &gpu);
        }
    nf_free();
}

Test(cuda, layout_casts_are_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int types[3] = {LC_DTYPE_F32, LC_DTYPE_F16, LC_DTYPE_BF16};
    static const int shapes[][3] = {{2, 3, 12544}, {3, 64, 49}, {5, 33, 35}, {64, 64, 9}}; /* n c hw */
    char what[96];
    for (int sh = 0; sh < 4; sh++)
        for (int yi = 0; yi < 3; yi++)
            for (int xi = 0; xi < 3; xi++)
                for (int to = 0; to < 2; to++) {
                    const int n = shapes[sh][0], c = shapes[sh][1], hw = shapes[sh][2], ydt = types[yi],
                              xdt = types[xi];
                    size_t len = (size_t)n * c * hw;
                    void *x = mx_randn(len, 20 + sh, 2, xdt), *want = mx_buf(len, ydt);
                    void *gx = mx_up(&g, &gpu, x, len, xdt), *gy = mx_up(&g, &gpu, want, len, ydt);
                    if (to) {
                        cr_assert_eq(lc_op_cast_to_channels_last(&mx_cpu, want, ydt, x, xdt, n, c, hw, &err), 0);
                        cr_assert_eq(lc_op_cast_to_channels_last(&gpu, gy, ydt, gx, xdt, n, c, hw, &err), 0, "%s",
                                     err.msg);
                    } else {
                        cr_assert_eq(lc_op_cast_from_channels_last(&mx_cpu, want, ydt, x, xdt, n, c, hw, &err), 0);
                        cr_assert_eq(lc_op_cast_from_channels_last(&gpu, gy, ydt, gx, xdt, n, c, hw, &err), 0, "%s",
                                     err.msg);
                    }
                    snprintf(what, sizeof what, "%s channels-last %s -> %s (%d, %d, %d)", to ? "to" : "from",
                             lc_mixed_name(xdt), lc_mixed_name(ydt), n, c, hw);
                    mx_same(mx_down(&gpu, gy, len, ydt), mx_wide(want, len, ydt), len, what);
                    gfree(&g, &gpu);
                    nf_free();
                }
}

Test(cuda, mixed_unscale_check_is_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    const size_t n = 100003;
    const float inv = 0.3f, zero = 0, one = 1; /* not a power of two: every product rounds */
    for (int k = 0; k < 3; k++) { /* all finite; +inf and -inf; a NaN */
        float *gr = nf_randn(n, 3 + k, 1e4f);
        if (k == 1) gr[17] = INFINITY, gr[n - 1] = -INFINITY;
        if (k == 2) gr[5000] = NAN;
        float *want = nf_copy(gr, n), found = 0;
        cr_assert_eq(lc_op_unscale_check(&mx_cpu, want, n, inv, &found, &err), 0, "%s", err.msg);
        cr_expect_eq(found, k ? 1.0f : 0.0f, "case %d: cpu found_inf %g", k, (double)found);
        float *gg = up(&g, &gpu, gr, n), *gg2 = up(&g, &gpu, gr, n);
        float *gf = up(&g, &gpu, &zero, 1), *gf1 = up(&g, &gpu, &one, 1);
        cr_assert_eq(lc_op_unscale_check(&gpu, gg, n, inv, gf, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_unscale_check(&gpu, gg2, n, inv, gf1, &err), 0, "%s", err.msg);
        char what[64];
        snprintf(what, sizeof what, "unscale (case %d)", k);
        mx_same(down(&gpu, gg, n), want, n, what);
        float f = down(&gpu, gf, 1)[0], f1 = down(&gpu, gf1, 1)[0];
        cr_expect_eq(f, k ? 1.0f : 0.0f, "case %d: gpu found_inf %g", k, (double)f);
        cr_expect_eq(f1, 1.0f, "case %d: found_inf was cleared (%g)", k, (double)f1);
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, mixed_elementwise_ops_are_bit_identical_to_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    char what[96];
    for (int t = 0; t < 2; t++) {
        const int dt = mx_types[t];
        const char *tn = lc_mixed_name(dt);
        /* add */
        const size_t n = 10007;
        void *a = mx_randn(n, 1, 1, dt), *b = mx_randn(n, 2, 1, dt), *y = mx_buf(n, dt);
        void *ga = mx_up(&g, &gpu, a, n, dt), *gb = mx_up(&g, &gpu, b, n, dt), *gy = mx_up(&g, &gpu, y, n, dt);
        cr_assert_eq(lc_op_add_dt(&mx_cpu, dt, y, a, b, n, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_add_dt(&gpu, dt, gy, ga, gb, n, &err), 0, "%s", err.msg);
        snprintf(what, sizeof what, "%s add", tn);
        mx_same(mx_down(&gpu, gy, n, dt), mx_wide(y, n, dt), n, what);
        gfree(&g, &gpu);
        /* subsample add (y += x[::s, ::s]) and its backward (dx[::s, ::s] += dy, or with set dx = that into
         * zeros: every other run, the GPU's dx starting as garbage) */
        static const int shapes[][5] = {{3, 8, 14, 13, 2}, {2, 5, 7, 7, 1}, {2, 4, 11, 10, 3}}; /* n c h w s */
        for (int kc = 0; kc < 6; kc++) { /* each shape (N, C, H, W), then channels-last */
            const int k = kc % 3, cl = kc / 3, set = kc % 2;
            const int sn = shapes[k][0], c = shapes[k][1], h = shapes[k][2], w = shapes[k][3], s = shapes[k][4];
            size_t nx = (size_t)sn * c * h * w, ny = (size_t)sn * c * ((h - 1) / s + 1) * ((w - 1) / s + 1);
            float *fdy = nf_randn(ny, 5 + k, 1);
            for (size_t e = 0; e < ny; e += 7) fdy[e] = e % 14 ? -0.0f : 0.0f; /* set: 0 + -0 is +0 */
            void *x = mx_randn(nx, 3 + k, 1, dt), *sy = mx_randn(ny, 4 + k, 1, dt);
            void *dy = mx_from(fdy, ny, dt), *dx = mx_randn(nx, 6 + k, 1, dt);
            void *gx = mx_up(&g, &gpu, x, nx, dt), *gsy = mx_up(&g, &gpu, sy, ny, dt);
            void *gdy = mx_up(&g, &gpu, dy, ny, dt), *gdx = mx_up(&g, &gpu, dx, nx, dt);
            cr_assert_eq(lc_op_subsample_add_dt(&mx_cpu, dt, sy, x, sn, c, h, w, s, cl, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_subsample_add_dt(&gpu, dt, gsy, gx, sn, c, h, w, s, cl, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_subsample_backward_dt(&mx_cpu, dt, dx, dy, sn, c, h, w, s, cl, set, &err), 0, "%s",
                         err.msg);
            cr_assert_eq(lc_op_subsample_backward_dt(&gpu, dt, gdx, gdy, sn, c, h, w, s, cl, set, &err), 0, "%s",
                         err.msg);
            snprintf(what, sizeof what, "%s subsample add (s=%d, channels-last %d)", tn, s, cl);
            mx_same(mx_down(&gpu, gsy, ny, dt), mx_wide(sy, ny, dt), ny, what);
            snprintf(what, sizeof what, "%s subsample backward (s=%d, channels-last %d, set %d)", tn, s, cl, set);
            mx_same(mx_down(&gpu, gdx, nx, dt), mx_wide(dx, nx, dt), nx, what);
            gfree(&g, &gpu);
        }
        /* dropout: apply (written) and backward (accumulated) on the CPU's mask */
        static const float ps[] = {0.1f, 0.0f};
        uint8_t *mask = (uint8_t *)nf_zeros(n);
        for (int k = 0; k < 2; k++) {
            lc_dropout_mask_keyed(mask, n, ps[k], 0x5eedull + (uint64_t)k);
            void *x = mx_randn(n, 7 + k, 1, dt), *dy = mx_randn(n, 8 + k, 1, dt), *dx = mx_randn(n, 9 + k, 1, dt);
            void *ay = mx_buf(n, dt);
            uint8_t *gm = upb(&g, &gpu, mask, n);
            void *gx = mx_up(&g, &gpu, x, n, dt), *gdy = mx_up(&g, &gpu, dy, n, dt), *gdx = mx_up(&g, &gpu, dx, n, dt);
            void *gay = mx_up(&g, &gpu, dx, n, dt); /* garbage: apply writes */
            cr_assert_eq(lc_op_dropout_apply_dt(&mx_cpu, dt, ay, x, mask, n, ps[k], &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_dropout_apply_dt(&gpu, dt, gay, gx, gm, n, ps[k], &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_dropout_backward_dt(&mx_cpu, dt, dx, dy, mask, n, ps[k], &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_dropout_backward_dt(&gpu, dt, gdx, gdy, gm, n, ps[k], &err), 0, "%s", err.msg);
            snprintf(what, sizeof what, "%s dropout apply (p=%g)", tn, (double)ps[k]);
            mx_same(mx_down(&gpu, gay, n, dt), mx_wide(ay, n, dt), n, what);
            snprintf(what, sizeof what, "%s dropout backward (p=%g)", tn, (double)ps[k]);
            mx_same(mx_down(&gpu, gdx, n, dt), mx_wide(dx, n, dt), n, what);
            gfree(&g, &gpu);
        }
        /* PReLU: y and dx bit for bit, the float32 da (double sums) as the float32 test */
        /* the last: one shared slope; {3, 40, 300}: several chunks and a partial channel group channels-last */
        static const int pshapes[][3] = {{2, 16, 49}, {3, 5, 7}, {4, 1, 33}, {3, 40, 300}};
        for (int kc = 0; kc < 8; kc++) { /* each shape (N, C, H, W), then channels-last */
            const int k = kc % 4, cl = kc / 4, set = kc % 3 == 0; /* set: dx written, as into zeros */
            const int pn = pshapes[k][0], c = pshapes[k][1], hw = pshapes[k][2];
            size_t total = (size_t)pn * c * hw;
            void *x = mx_randn(total, 10 + k, 1, dt), *dy = mx_randn(total, 11 + k, 1, dt);
            void *dx = mx_randn(total, 12 + k, 1, dt), *py = mx_buf(total, dt);
            float *pa = nf_randn((size_t)c, 13 + k, 0.3f), *da = nf_randn((size_t)c, 14 + k, 1);
            void *gx = mx_up(&g, &gpu, x, total, dt), *gdy = mx_up(&g, &gpu, dy, total, dt);
            void *gdx = mx_up(&g, &gpu, dx, total, dt), *gpy = mx_up(&g, &gpu, py, total, dt);
            float *gpa = up(&g, &gpu, pa, (size_t)c), *gda = up(&g, &gpu, da, (size_t)c);
            cr_assert_eq(lc_op_prelu_forward_dt(&mx_cpu, dt, py, x, pa, pn, c, hw, cl, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_prelu_forward_dt(&gpu, dt, gpy, gx, gpa, pn, c, hw, cl, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_prelu_backward_dt(&mx_cpu, dt, dx, da, dy, x, pa, pn, c, hw, cl, set, &err), 0, "%s",
                         err.msg);
            cr_assert_eq(lc_op_prelu_backward_dt(&gpu, dt, gdx, gda, gdy, gx, gpa, pn, c, hw, cl, set, &err), 0, "%s",
                         err.msg);
            snprintf(what, sizeof what, "%s prelu forward (c=%d, channels-last %d)", tn, c, cl);
            mx_same(mx_down(&gpu, gpy, total, dt), mx_wide(py, total, dt), total, what);
            snprintf(what, sizeof what, "%s prelu dx (c=%d, channels-last %d, set %d)", tn, c, cl, set);
            mx_same(mx_down(&gpu, gdx, total, dt), mx_wide(dx, total, dt), total, what);
            snprintf(what, sizeof what, "%s prelu da (c=%d, channels-last %d)", tn, c, cl);
            nf_close(down(&gpu, gda, (size_t)c), da, (size_t)c, 1e-6f, 1e-7f, what);
            gfree(&g, &gpu);
        }
        nf_free();
    }
}

Test(cuda, mixed_batch_norm_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    char what[96];
    /* n c hw affine; the last two channels-last: several row chunks, a partial group of 32 channels; then more
       chunks than a block has threads (the per-channel sums' threads each add several), in both layouts */
    static const int shapes[][5] = {{4, 16, 49, 1, 0},  {8, 32, 1, 1, 0},       {3, 6, 50, 0, 0}, {4, 40, 196, 1, 1},
                                    {3, 6, 50, 0, 1},   {1, 2, 1050000, 1, 0}, {2, 3, 33000, 1, 1}};
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < (int)(sizeof shapes / sizeof *shapes); s++) {
            const int dt = mx_types[t];
            const float rt = mx_rtol(dt);
            struct lc_bn p;
            cr_assert_eq(lc_bn_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], 1e-5f, 0.1f, shapes[s][3], &err), 0);
            p.channels_last = shapes[s][4];
            size_t total = (size_t)p.n * p.c * p.hw, c = (size_t)p.c;
            void *x = mx_randn(total, 1 + s, 2, dt), *dy = mx_randn(total, 6 + s, 1, dt);
            void *dx = mx_randn(total, 7 + s, 1, dt), *y = mx_buf(total, dt);
            float *gm = nf_randn(c, 2 + s, 1), *bt = nf_randn(c, 3 + s, 1), *rm = nf_randn(c, 4 + s, 1);
            float *rv = nf_randn(c, 5 + s, 0.5f), *dg = nf_randn(c, 8 + s, 1), *db = nf_randn(c, 9 + s, 1);
            for (size_t k = 0; k < c; k++) rv[k] = rv[k] * rv[k] + 0.1f;
            float *sm = nf_zeros(c), *si = nf_zeros(c);
            void *gx = mx_up(&g, &gpu, x, total, dt), *gdy = mx_up(&g, &gpu, dy, total, dt);
            void *gdx = mx_up(&g, &gpu, dx, total, dt), *gy = mx_up(&g, &gpu, y, total, dt);
            float *ggm = up(&g, &gpu, gm, c), *gbt = up(&g, &gpu, bt, c), *grm = up(&g, &gpu, rm, c);
            float *grv = up(&g, &gpu, rv, c), *gdg = up(&g, &gpu, dg, c), *gdb = up(&g, &gpu, db, c);
            float *gsm = up(&g, &gpu, sm, c), *gsi = up(&g, &gpu, si, c);
            cr_assert_eq(lc_op_bn_forward_train_dt(&gpu, dt, gy, gsm, gsi, grm, grv, gx, ggm, gbt, &p, &err), 0, "%s",
                         err.msg);
            const int set = s % 2; /* dx written, as into zeros */
            cr_assert_eq(lc_op_bn_backward_dt(&gpu, dt, gdx, gdg, gdb, gdy, gx, gsm, gsi, ggm, &p, set, &err), 0, "%s",
                         err.msg);
            cr_assert_eq(lc_op_bn_forward_train_dt(&mx_cpu, dt, y, sm, si, rm, rv, x, gm, bt, &p, &err), 0, "%s",
                         err.msg);
            cr_assert_eq(lc_op_bn_backward_dt(&mx_cpu, dt, dx, dg, db, dy, x, sm, si, gm, &p, set, &err), 0, "%s",
                         err.msg);
#define MX_CHECK(got, want, len, rtol, atol, name)                                                                 \
    do {                                                                                                           \
        snprintf(what, sizeof what, "%s bn %s (shape %d)", lc_mixed_name(dt), name, s);                            \
        nf_close(got, want, len, rtol, atol, what);                                                                \
    } while (0)
            MX_CHECK(mx_down(&gpu, gy, total, dt), mx_wide(y, total, dt), total, rt, 1e-4f, "y");
            MX_CHECK(down(&gpu, gsm, c), sm, c, 1e-5f, 1e-6f, "mean");
            MX_CHECK(down(&gpu, gsi, c), si, c, 1e-6f, 0, "invstd");
            MX_CHECK(down(&gpu, grm, c), rm, c, 1e-6f, 1e-7f, "running mean");
            MX_CHECK(down(&gpu, grv, c), rv, c, 1e-6f, 1e-7f, "running var");
            MX_CHECK(mx_down(&gpu, gdx, total, dt), mx_wide(dx, total, dt), total, rt, 1e-4f, "dx");
            MX_CHECK(down(&gpu, gdg, c), dg, c, 1e-5f, 1e-6f, "dgamma");
            MX_CHECK(down(&gpu, gdb, c), db, c, 1e-5f, 1e-6f, "dbeta");
#undef MX_CHECK
            gfree(&g, &gpu);
            nf_free();
        }
}

/* dev's n elements of dt, bit for bit the same as dev2's */
static void same_bits(const struct lc_device *d, const void *dev, const void *dev2, size_t n, int dt, const char *what,
                      const char *tn, int s, int set)
{
    size_t bytes = n * lc_dtype_size(dt);
    const unsigned char *a = down_copy(d, dev, bytes), *b = down_copy(d, dev2, bytes);
    size_t i = 0;
    while (i < bytes && a[i] == b[i]) i++;
    cr_expect(i == bytes, "%s (shape %d, set %d): %s differs from the unfused ops' at element %zu", tn, s, set, what,
              i / lc_dtype_size(dt));
}

/* x for check_bn_prelu's crafted shapes: in each channel, pairs v, -v,
 * zeros, and one -2^-24 (fp16's least subnormal), so the mean is a hair
 * below zero and, without affine, y = x a + b of a zero x is a positive
 * b below fp16's least subnormal: 0 once rounded to fp16, where PReLU
 * takes the slope, positive (the other branch) unrounded. */
static float crafted_x(size_t e, int c, int hw, int cl)
{
    size_t t = cl ? e / (size_t)c : e / ((size_t)hw * c) * hw + e % (size_t)hw; /* within its channel */
    if (t == 0) return -0x1p-24f;
    size_t q = (t + 1) / 2; /* the pair */
    return q % 5 == 0 ? 0.0f : (t % 2 ? 1.0f : -1.0f) * 0.25f * (float)(q % 7 + 1);
}

/* Batch norm then PReLU fused against the two ops on the same device, bit
 * for bit: z, the statistics and running estimates, dx (written, and added
 * to), dgamma, dbeta and the slopes' gradient; float32 and both 16-bit
 * types, (N, C, H, W) and channels-last (one channel too), with and
 * without affine, shapes whose channels take one chunk and several, an
 * upstream gradient with zeros of both signs, and crafted inputs whose y
 * rounds to zero in fp16. */
static void check_bn_prelu(const struct lc_device *d)
{
    static const int types[3] = {LC_DTYPE_F32, LC_DTYPE_F16, LC_DTYPE_BF16};
    /* n c hw affine channels-last crafted (n hw odd) */
    static const int shapes[][6] = {{4, 16, 49, 1, 0, 0},  {3, 6, 50, 0, 0, 0},   {8, 64, 784, 1, 0, 0},
                                    {2, 40, 196, 1, 1, 0}, {3, 6, 50, 0, 1, 0},   {8, 64, 784, 1, 1, 0},
                                    {4, 1, 300, 1, 1, 0},  {3, 2, 101, 0, 0, 1},  {3, 2, 101, 0, 1, 1}};
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    struct gbuf g = {0};
    struct lc_err err;
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < n_shapes; s++)
            for (int set = 0; set < 2; set++) {
                const int dt = types[t];
                const char *tn = lc_mixed_name(dt);
                if (dt == LC_DTYPE_F32 && shapes[s][4]) continue; /* float32 is (N, C, H, W) only */
                struct lc_bn p;
                cr_assert_eq(lc_bn_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], 1e-5f, 0.1f, shapes[s][3], &err),
                             0);
                p.channels_last = shapes[s][4];
                const size_t total = (size_t)p.n * p.c * p.hw, c = (size_t)p.c, es = lc_dtype_size(dt);
                float *fx = nf_randn(total, 11 + s, 2), *fdz = nf_randn(total, 12 + s, 1);
                for (size_t e = 0; e < total; e++) {
                    if (shapes[s][5]) fx[e] = crafted_x(e, p.c, p.hw, p.channels_last);
                    if (e % 13 == 0) fdz[e] = e % 26 ? -0.0f : 0.0f;
                }
                void *hx = mx_from(fx, total, dt), *hdz = mx_from(fdz, total, dt);
                void *hdx = mx_randn(total, 13 + s, 1, dt), *hzero = mx_buf(total, dt);
                float *gm = nf_randn(c, 14 + s, 1), *bt = nf_randn(c, 15 + s, 1), *rm = nf_randn(c, 16 + s, 1);
                float *rv = nf_randn(c, 17 + s, 0.5f), *acc = nf_randn(c, 18 + s, 1), *slope = nf_randn(c, 19 + s, 0.3f);
                for (size_t k = 0; k < c; k++) rv[k] = rv[k] * rv[k] + 0.1f;
                const void *x = upb(&g, d, hx, total * es), *dz = upb(&g, d, hdz, total * es);
                const float *ggm = up(&g, d, gm, c), *gbt = up(&g, d, bt, c), *gsl = up(&g, d, slope, c);
                /* the unfused ops (u) and the fused (f), each on its own copies */
                void *yu = upb(&g, d, hzero, total * es), *zu = upb(&g, d, hzero, total * es);
                void *dyu = upb(&g, d, hzero, total * es), *dxu = upb(&g, d, hdx, total * es);
                void *zf = upb(&g, d, hzero, total * es), *dxf = upb(&g, d, hdx, total * es);
                float *su[6], *sf[6]; /* mean, invstd, running mean, running var, then dgamma, dbeta, dslope below */
                const float *init[4] = {acc, acc, rm, rv};
                for (int i = 0; i < 4; i++) su[i] = up(&g, d, init[i], c), sf[i] = up(&g, d, init[i], c);
                float *dgu = up(&g, d, acc, c), *dbu = up(&g, d, gm, c), *dsu = up(&g, d, bt, c);
                float *dgf = up(&g, d, acc, c), *dbf = up(&g, d, gm, c), *dsf = up(&g, d, bt, c);
                float *ab = up(&g, d, nf_zeros(2 * c), 2 * c); /* y's a and b */
                cr_assert_eq(lc_op_bn_forward_train_dt(d, dt, yu, su[0], su[1], su[2], su[3], x, ggm, gbt, &p, &err), 0,
                             "%s", err.msg);
                cr_assert_eq(lc_op_prelu_forward_dt(d, dt, zu, yu, gsl, p.n, p.c, p.hw, p.channels_last, &err), 0, "%s",
                             err.msg);
                cr_assert_eq(lc_op_prelu_backward_dt(d, dt, dyu, dsu, dz, yu, gsl, p.n, p.c, p.hw, p.channels_last, 1,
                                                     &err),
                             0, "%s", err.msg);
                cr_assert_eq(lc_op_bn_backward_dt(d, dt, dxu, dgu, dbu, dyu, x, su[0], su[1], ggm, &p, set, &err), 0,
                             "%s", err.msg);
                cr_assert_eq(lc_op_bn_prelu_forward_train_dt(d, dt, zf, ab, gsl, sf[0], sf[1], sf[2], sf[3], x, ggm,
                                                             gbt, &p, &err),
                             0, "%s", err.msg);
                cr_assert_eq(lc_op_bn_prelu_backward_dt(d, dt, dxf, dgf, dbf, dsf, dz, x, ab, sf[0], sf[1], ggm, gsl,
                                                        &p, set, &err),
                             0, "%s", err.msg);
                same_bits(d, zf, zu, total, dt, "z", tn, s, set);
                same_bits(d, dxf, dxu, total, dt, "dx", tn, s, set);
                const char *names[4] = {"mean", "invstd", "running mean", "running var"};
                for (int i = 0; i < 4; i++) same_bits(d, sf[i], su[i], c, LC_DTYPE_F32, names[i], tn, s, set);
                same_bits(d, dgf, dgu, c, LC_DTYPE_F32, "dgamma", tn, s, set);
                same_bits(d, dbf, dbu, c, LC_DTYPE_F32, "dbeta", tn, s, set);
                same_bits(d, dsf, dsu, c, LC_DTYPE_F32, "dslope", tn, s, set);
                gfree(&g, d);
                nf_free();
            }
}

Test(backend, bn_prelu_fused_on_the_cpu_is_the_two_ops)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_bn_prelu(&cpu);
}

Test(cuda, bn_prelu_fused_is_bit_identical_to_the_two_ops)
{
    struct lc_device gpu = open_gpu();
    check_bn_prelu(&gpu);
}

/* The shapes of the fused shortcut ops' tests: n c h w (the residual's, or
 * the input's in the backward) s (its stride) affine channels-last; the
 * identity residual and subsampled ones (strides 2 and 3, odd sizes),
 * channels of one chunk and of several, one channel. */
static const int shortcut_shapes[][7] = {{4, 16, 7, 7, 1, 1, 0},   {3, 6, 9, 9, 2, 0, 0},   {8, 64, 56, 56, 2, 1, 0},
                                         {2, 3, 5, 5, 3, 1, 0},    {2, 40, 14, 14, 2, 1, 1}, {3, 6, 10, 7, 2, 0, 1},
                                         {8, 64, 28, 28, 1, 1, 1}, {4, 1, 20, 15, 1, 1, 1}, {3, 5, 11, 9, 2, 1, 1}};
#define N_SHORTCUT_SHAPES ((int)(sizeof shortcut_shapes / sizeof shortcut_shapes[0]))

/* One case of the fused shortcut ops' tests: a type and one of
 * shortcut_shapes (k, its index, seeds the data), the residual (n, c, h, w)
 * taken every st rows and columns into (n, c, ho, wo). */
struct shortcut_case {
    int dt, k, n, c, h, w, st, affine, cl, ho, wo;
    size_t es;
    const char *tn;
};

/* check on the device for every type and shape (float32 in (N, C, H, W)
 * only), the device buffers freed after each */
static void each_shortcut_case(const struct lc_device *d,
                               void (*check)(const struct lc_device *, const struct shortcut_case *, struct gbuf *))
{
    static const int types[3] = {LC_DTYPE_F32, LC_DTYPE_F16, LC_DTYPE_BF16};
    struct gbuf g = {0};
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < N_SHORTCUT_SHAPES; k++) {
            const int *sh = shortcut_shapes[k], st = sh[4];
            if (types[t] == LC_DTYPE_F32 && sh[6]) continue;
            const struct shortcut_case sc = {types[t], k,  sh[0], sh[1], sh[2], sh[3], st, sh[5], sh[6],
                                             (sh[2] - 1) / st + 1, (sh[3] - 1) / st + 1, lc_dtype_size(types[t]),
                                             lc_mixed_name(types[t])};
            check(d, &sc, &g);
            gfree(&g, d);
            nf_free();
        }
}

/* Batch norm with the residual added, fused, against batch norm then the
 * add on the same device, bit for bit: y (over garbage, which it must not
 * read), the statistics and running estimates. */
static void check_bn_add(const struct lc_device *d, const struct shortcut_case *k, struct gbuf *g)
{
    const int s = k->k, dt = k->dt;
    struct lc_err err;
    struct lc_bn p;
    cr_assert_eq(lc_bn_init(&p, k->n, k->c, k->ho * k->wo, 1e-5f, 0.1f, k->affine, &err), 0);
    p.channels_last = k->cl;
    const size_t total = (size_t)p.n * p.c * p.hw, rtotal = (size_t)p.n * p.c * k->h * k->w;
    const size_t c = (size_t)p.c, es = k->es;
    void *hx = mx_randn(total, 31 + s, 2, dt), *hr = mx_randn(rtotal, 32 + s, 1.5f, dt);
    void *hy = mx_randn(total, 33 + s, 1, dt);
    float *gm = nf_randn(c, 34 + s, 1), *bt = nf_randn(c, 35 + s, 1), *rm = nf_randn(c, 36 + s, 1);
    float *rv = nf_randn(c, 37 + s, 0.5f), *acc = nf_randn(c, 38 + s, 1);
    for (size_t i = 0; i < c; i++) rv[i] = rv[i] * rv[i] + 0.1f;
    const void *x = upb(g, d, hx, total * es), *r = upb(g, d, hr, rtotal * es);
    const float *ggm = up(g, d, gm, c), *gbt = up(g, d, bt, c);
    void *yu = upb(g, d, hy, total * es), *yf = upb(g, d, hy, total * es);
    float *su[4], *sf[4]; /* mean, invstd, running mean, running var */
    const float *init[4] = {acc, acc, rm, rv};
    for (int i = 0; i < 4; i++) su[i] = up(g, d, init[i], c), sf[i] = up(g, d, init[i], c);
    cr_assert_eq(lc_op_bn_forward_train_dt(d, dt, yu, su[0], su[1], su[2], su[3], x, ggm, gbt, &p, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(lc_op_subsample_add_dt(d, dt, yu, r, p.n, p.c, k->h, k->w, k->st, p.channels_last, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(lc_op_bn_add_forward_train_dt(d, dt, yf, sf[0], sf[1], sf[2], sf[3], x, ggm, gbt, r, k->h, k->w,
                                               k->st, &p, &err),
                 0, "%s", err.msg);
    same_bits(d, yf, yu, total, dt, "y", k->tn, s, 0);
    const char *names[4] = {"mean", "invstd", "running mean", "running var"};
    for (int i = 0; i < 4; i++) same_bits(d, sf[i], su[i], c, LC_DTYPE_F32, names[i], k->tn, s, 0);
}

/* Batch norm's backward with a shortcut's gradient, fused, against the
 * subsample backward writing dx then batch norm's adding to it, on the same
 * device, bit for bit: dx (over garbage, which it must not read), dgamma
 * and dbeta; the gradients with zeros of both signs. */
static void check_bn_shortcut(const struct lc_device *d, const struct shortcut_case *k, struct gbuf *g)
{
    const int s = k->k, dt = k->dt;
    struct lc_err err;
    struct lc_bn p;
    cr_assert_eq(lc_bn_init(&p, k->n, k->c, k->h * k->w, 1e-5f, 0.1f, k->affine, &err), 0);
    p.channels_last = k->cl;
    const size_t total = (size_t)p.n * p.c * p.hw, rtotal = (size_t)p.n * p.c * k->ho * k->wo;
    const size_t c = (size_t)p.c, es = k->es;
    float *fdy = nf_randn(total, 41 + s, 1), *fdr = nf_randn(rtotal, 42 + s, 1);
    for (size_t e = 0; e < total; e++)
        if (e % 11 == 0) fdy[e] = e % 22 ? -0.0f : 0.0f;
    for (size_t e = 0; e < rtotal; e++)
        if (e % 7 == 0) fdr[e] = e % 14 ? -0.0f : 0.0f;
    void *hx = mx_randn(total, 43 + s, 2, dt), *hdy = mx_from(fdy, total, dt), *hdr = mx_from(fdr, rtotal, dt);
    void *hdx = mx_randn(total, 44 + s, 1, dt);
    float *gm = nf_randn(c, 45 + s, 1), *mean = nf_randn(c, 46 + s, 1), *istd = nf_randn(c, 47 + s, 1);
    float *dg = nf_randn(c, 48 + s, 1), *db = nf_randn(c, 49 + s, 1);
    const void *x = upb(g, d, hx, total * es), *dy = upb(g, d, hdy, total * es);
    const void *dr = upb(g, d, hdr, rtotal * es);
    const float *ggm = up(g, d, gm, c), *gmean = up(g, d, mean, c), *gistd = up(g, d, istd, c);
    void *dxu = upb(g, d, hdx, total * es), *dxf = upb(g, d, hdx, total * es);
    float *dgu = up(g, d, dg, c), *dbu = up(g, d, db, c), *dgf = up(g, d, dg, c), *dbf = up(g, d, db, c);
    cr_assert_eq(lc_op_subsample_backward_dt(d, dt, dxu, dr, p.n, p.c, k->h, k->w, k->st, p.channels_last, 1, &err),
                 0, "%s", err.msg);
    cr_assert_eq(lc_op_bn_backward_dt(d, dt, dxu, dgu, dbu, dy, x, gmean, gistd, ggm, &p, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_op_bn_backward_shortcut_dt(d, dt, dxf, dgf, dbf, dy, x, gmean, gistd, ggm, dr, k->h, k->w, k->st,
                                               &p, &err),
                 0, "%s", err.msg);
    same_bits(d, dxf, dxu, total, dt, "dx", k->tn, s, 1);
    same_bits(d, dgf, dgu, c, LC_DTYPE_F32, "dgamma", k->tn, s, 1);
    same_bits(d, dbf, dbu, c, LC_DTYPE_F32, "dbeta", k->tn, s, 1);
}

/* Inference's bias and residual add, fused, against bias-PReLU (bias only)
 * then the subsample add on the same device, bit for bit (affine unused). */
static void check_bias_add(const struct lc_device *d, const struct shortcut_case *k, struct gbuf *g)
{
    const int s = k->k, dt = k->dt, n = k->n, c = k->c, cl = k->cl;
    struct lc_err err;
    const size_t total = (size_t)n * c * k->ho * k->wo, rtotal = (size_t)n * c * k->h * k->w, es = k->es;
    void *hy = mx_randn(total, 51 + s, 2, dt), *hr = mx_randn(rtotal, 52 + s, 1.5f, dt);
    const float *b = up(g, d, nf_randn((size_t)c, 53 + s, 1), (size_t)c);
    const void *r = upb(g, d, hr, rtotal * es);
    void *yu = upb(g, d, hy, total * es), *yf = upb(g, d, hy, total * es);
    cr_assert_eq(lc_op_bias_prelu_dt(d, dt, yu, b, NULL, n, c, k->ho * k->wo, cl, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_op_subsample_add_dt(d, dt, yu, r, n, c, k->h, k->w, k->st, cl, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_op_bias_add_dt(d, dt, yf, b, r, n, c, k->h, k->w, k->st, cl, &err), 0, "%s", err.msg);
    same_bits(d, yf, yu, total, dt, "y", k->tn, s, 0);
}

/* The bias and residual add with the next batch norm (eval), fused,
 * against the bias and residual add then batch norm on the same device,
 * bit for bit: y, and z (starting as garbage: every element written). */
static void check_bias_add_bn(const struct lc_device *d, const struct shortcut_case *k, struct gbuf *g)
{
    const int s = k->k, dt = k->dt, n = k->n, c = k->c, cl = k->cl;
    struct lc_err err;
    struct lc_bn p;
    cr_assert_eq(lc_bn_init(&p, n, c, k->ho * k->wo, 1e-5f, 0.1f, k->affine, &err), 0);
    p.channels_last = cl;
    const size_t total = (size_t)n * c * p.hw, rtotal = (size_t)n * c * k->h * k->w, es = k->es;
    void *hy = mx_randn(total, 61 + s, 2, dt), *hr = mx_randn(rtotal, 62 + s, 1.5f, dt);
    void *hz = mx_randn(total, 63 + s, 1, dt);
    float *rv = nf_randn((size_t)c, 64 + s, 0.5f);
    for (int i = 0; i < c; i++) rv[i] = rv[i] * rv[i] + 0.1f;
    const float *b = up(g, d, nf_randn((size_t)c, 65 + s, 1), (size_t)c);
    const float *gm = up(g, d, nf_randn((size_t)c, 66 + s, 1), (size_t)c);
    const float *bt = up(g, d, nf_randn((size_t)c, 67 + s, 1), (size_t)c);
    const float *rm = up(g, d, nf_randn((size_t)c, 68 + s, 1), (size_t)c), *grv = up(g, d, rv, (size_t)c);
    const void *r = upb(g, d, hr, rtotal * es);
    void *yu = upb(g, d, hy, total * es), *yf = upb(g, d, hy, total * es);
    void *zu = upb(g, d, hz, total * es), *zf = upb(g, d, hz, total * es);
    cr_assert_eq(lc_op_bias_add_dt(d, dt, yu, b, r, n, c, k->h, k->w, k->st, cl, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_op_bn_forward_eval_dt(d, dt, zu, yu, gm, bt, rm, grv, &p, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_op_bias_add_bn_eval_dt(d, dt, yf, zf, b, r, k->h, k->w, k->st, gm, bt, rm, grv, &p, &err), 0,
                 "%s", err.msg);
    same_bits(d, yf, yu, total, dt, "y", k->tn, s, 0);
    same_bits(d, zf, zu, total, dt, "z", k->tn, s, 0);
}

/* every fused shortcut op, every case */
static void check_shortcut_ops(const struct lc_device *d)
{
    each_shortcut_case(d, check_bn_add);
    each_shortcut_case(d, check_bn_shortcut);
    each_shortcut_case(d, check_bias_add);
    each_shortcut_case(d, check_bias_add_bn);
}

Test(backend, shortcut_ops_fused_on_the_cpu_are_the_op_pairs)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_shortcut_ops(&cpu);
}

Test(cuda, shortcut_ops_fused_are_bit_identical_to_the_op_pairs)
{
    struct lc_device gpu = open_gpu();
    check_shortcut_ops(&gpu);
}

/* a device copy of bytes of host, off bytes into its allocation (one
 * element: a tensor the kernels cannot read in 16-byte loads) */
static void *upb_at(struct gbuf *g, const struct lc_device *d, const void *host, size_t bytes, size_t off)
{
    struct lc_err err;
    char *p = upb(g, d, nf_zeros((bytes + off + 3) / 4), bytes + off);
    cr_assert_eq(lc_device_upload(d, p + off, host, bytes, &err), 0, "%s", err.msg);
    return p + off;
}

/* The channels-last batch-norm and PReLU training ops on 16-byte aligned
 * tensors (16-byte loads: the per-channel sums' packed kernel and the
 * packed elementwise kernels) and on the same tensors one element further
 * (a load an element), bit for bit: y, z, dx and every per-channel output.
 * Channels a multiple of a pack's 8 but not of a block's 64, several
 * channel blocks, chunks whose rows end between unrolled loads, and fewer
 * rows than a block's row lanes. A row or lane lost or added shows; the
 * order of the double sums hardly ever reaches a float (a mutation adding
 * the lanes in reverse passes here): tests/cudaemu/sums_order.cu compares
 * the two kernels' double partials. The other packed kernels are checked
 * bit for bit against the CPU on packed and unpacked shapes above. */
Test(cuda, channels_last_sums_are_the_same_bits_packed_or_not)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int shapes[][3] = {{4, 40, 196}, {2, 512, 49}, {3, 64, 1000}, {5, 16, 1}}; /* n c hw */
    /* the per-channel arrays, c floats each (ab: 2c) */
    enum { GAMMA, BETA, SLOPE, MEAN, ISTD, RMEAN, RVAR, DG, DB, DA, AB, MEAN2 = AB + 2, ISTD2, RMEAN2, RVAR2, DG2, DB2,
           DS, DG3, DB3, NPC };
    enum { Y, DX, DXP, Z, DXF, DXF2, NT }; /* the tensors written */
    static const char *names[NT] = {"bn y",        "bn dx",       "prelu dx",
                                    "bn+prelu z", "bn+prelu dx", "bn+prelu dx (no dslope)"};
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < (int)(sizeof shapes / sizeof *shapes); s++) {
            const int dt = mx_types[t];
            struct lc_bn p;
            cr_assert_eq(lc_bn_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], 1e-5f, 0.1f, 1, &err), 0);
            p.channels_last = 1;
            const size_t total = (size_t)p.n * p.c * p.hw, c = (size_t)p.c, bytes = total * lc_dtype_size(dt);
            const void *hx = mx_randn(total, 21 + s, 2, dt), *hdy = mx_randn(total, 22 + s, 1, dt);
            const void *hdx = mx_randn(total, 23 + s, 1, dt);
            float *hpc = nf_randn(NPC * c, 24 + s, 1);
            for (size_t k = 0; k < c; k++) {
                hpc[RVAR * c + k] = hpc[RVAR * c + k] * hpc[RVAR * c + k] + 0.1f;
                hpc[RVAR2 * c + k] = hpc[RVAR * c + k];
                hpc[SLOPE * c + k] *= 0.3f;
            }
            unsigned char *out[2][NT], *pcs[2];
            for (int a = 0; a < 2; a++) { /* a = 1: each tensor one element past 16-byte alignment */
                const size_t off = a * lc_dtype_size(dt);
                const void *x = upb_at(&g, &gpu, hx, bytes, off), *dy = upb_at(&g, &gpu, hdy, bytes, off);
                cr_assert_eq((uintptr_t)x % 16 == 0 && (uintptr_t)dy % 16 == 0, !a, "x and dy %s16-byte aligned",
                             a ? "" : "not ");
                void *o[NT];
                for (int i = 0; i < NT; i++) o[i] = upb_at(&g, &gpu, hdx, bytes, off);
                float *pc = up(&g, &gpu, hpc, NPC * c), *v[NPC];
                for (int i = 0; i < NPC; i++) v[i] = pc + i * c;
                cr_assert_eq(lc_op_bn_forward_train_dt(&gpu, dt, o[Y], v[MEAN], v[ISTD], v[RMEAN], v[RVAR], x, v[GAMMA],
                                                       v[BETA], &p, &err),
                             0, "%s", err.msg);
                cr_assert_eq(lc_op_bn_backward_dt(&gpu, dt, o[DX], v[DG], v[DB], dy, x, v[MEAN], v[ISTD], v[GAMMA], &p,
                                                  0, &err),
                             0, "%s", err.msg);
                cr_assert_eq(lc_op_prelu_backward_dt(&gpu, dt, o[DXP], v[DA], dy, x, v[SLOPE], p.n, p.c, p.hw, 1, 0,
                                                     &err),
                             0, "%s", err.msg);
                cr_assert_eq(lc_op_bn_prelu_forward_train_dt(&gpu, dt, o[Z], v[AB], v[SLOPE], v[MEAN2], v[ISTD2],
                                                             v[RMEAN2], v[RVAR2], x, v[GAMMA], v[BETA], &p, &err),
                             0, "%s", err.msg);
                cr_assert_eq(lc_op_bn_prelu_backward_dt(&gpu, dt, o[DXF], v[DG2], v[DB2], v[DS], dy, x, v[AB],
                                                        v[MEAN2], v[ISTD2], v[GAMMA], v[SLOPE], &p, 0, &err),
                             0, "%s", err.msg);
                cr_assert_eq(lc_op_bn_prelu_backward_dt(&gpu, dt, o[DXF2], v[DG3], v[DB3], NULL, dy, x, v[AB],
                                                        v[MEAN2], v[ISTD2], v[GAMMA], v[SLOPE], &p, 1, &err),
                             0, "%s", err.msg);
                for (int i = 0; i < NT; i++) out[a][i] = down_copy(&gpu, o[i], bytes);
                pcs[a] = down_copy(&gpu, pc, NPC * c * 4);
            }
            for (int i = 0; i < NT; i++) {
                size_t e = 0;
                while (e < bytes && out[0][i][e] == out[1][i][e]) e++;
                cr_expect(e == bytes, "%s (shape %d): %s differs at element %zu", lc_mixed_name(dt), s, names[i],
                          e / lc_dtype_size(dt));
            }
            size_t e = 0;
            while (e < NPC * c * 4 && pcs[0][e] == pcs[1][e]) e++;
            cr_expect(e == NPC * c * 4, "%s (shape %d): per-channel array %zu differs at channel %zu",
                      lc_mixed_name(dt), s, e / 4 / c, e / 4 % c);
            gfree(&g, &gpu);
            nf_free();
        }
}

/* a residual or shortcut gradient whose size does not fit x's (and a bias
 * add without its bias), refused before any work */
Test(backend, shortcut_ops_refuse_a_residual_of_another_size)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    struct lc_bn p;
    cr_assert_eq(lc_bn_init(&p, 2, 3, 25, 1e-5f, 0.1f, 1, &err), 0);
    float x[150] = {0}, y[150], r[2 * 3 * 100] = {0}, st[4][3] = {{0}}, gm[3] = {1, 1, 1}, bt[3] = {0};
    /* 10x10 every 2: 5x5, x's 25 positions; every 3: 4x4, 9x9 every 1: 81 */
    cr_assert_eq(lc_op_bn_add_forward_train_dt(&cpu, LC_DTYPE_F32, y, st[0], st[1], st[2], st[3], x, gm, bt, r, 10, 10,
                                               2, &p, &err),
                 0, "%s", err.msg);
    const int bad[][3] = {{10, 10, 3}, {9, 9, 1}, {10, 10, 0}, {0, 10, 2}};
    for (int b = 0; b < 4; b++) {
        cr_expect_eq(lc_op_bn_add_forward_train_dt(&cpu, LC_DTYPE_F32, y, st[0], st[1], st[2], st[3], x, gm, bt, r,
                                                   bad[b][0], bad[b][1], bad[b][2], &p, &err),
                     LC_EINVAL, "%dx%d every %d", bad[b][0], bad[b][1], bad[b][2]);
        cr_expect(strstr(err.msg, "positions of x"), "%s", err.msg);
    }
    /* the backward's dx is x's own shape: 5x5 (from 3x3 every 2), not 10x10 */
    cr_assert_eq(lc_op_bn_backward_shortcut_dt(&cpu, LC_DTYPE_F32, y, st[0], st[1], x, x, st[2], st[3], gm, r, 5, 5, 2,
                                               &p, &err),
                 0, "%s", err.msg);
    cr_expect_eq(lc_op_bn_backward_shortcut_dt(&cpu, LC_DTYPE_F32, y, st[0], st[1], x, x, st[2], st[3], gm, r, 10, 10,
                                               2, &p, &err),
                 LC_EINVAL);
    cr_expect(strstr(err.msg, "positions of x"), "%s", err.msg);
    cr_expect_eq(lc_op_bn_backward_shortcut_dt(&cpu, LC_DTYPE_F32, y, st[0], st[1], x, x, st[2], st[3], gm, r, 5, 5, 0,
                                               &p, &err),
                 LC_EINVAL);
    cr_expect_eq(lc_op_bias_add_dt(&cpu, LC_DTYPE_F32, y, NULL, r, 2, 3, 10, 10, 2, 0, &err), LC_EINVAL, "no bias");
    cr_expect_eq(lc_op_bias_add_dt(&cpu, LC_DTYPE_F32, y, gm, r, 2, 3, 10, 10, 0, 0, &err), LC_EINVAL, "stride 0");
    /* y is 5x5: 10x10 every 2, not every 3 */
    float z[150];
    cr_assert_eq(lc_op_bias_add_bn_eval_dt(&cpu, LC_DTYPE_F32, y, z, gm, r, 10, 10, 2, gm, bt, st[0], gm, &p, &err), 0,
                 "%s", err.msg);
    cr_expect_eq(lc_op_bias_add_bn_eval_dt(&cpu, LC_DTYPE_F32, y, z, gm, r, 10, 10, 3, gm, bt, st[0], gm, &p, &err),
                 LC_EINVAL);
    cr_expect(strstr(err.msg, "positions of y"), "%s", err.msg);
    cr_expect_eq(lc_op_bias_add_bn_eval_dt(&cpu, LC_DTYPE_F32, y, z, NULL, r, 10, 10, 2, gm, bt, st[0], gm, &p, &err),
                 LC_EINVAL, "no bias");
    p.channels_last = 1;
    cr_expect_eq(lc_op_bn_add_forward_train_dt(&cpu, LC_DTYPE_F32, y, st[0], st[1], st[2], st[3], x, gm, bt, r, 10, 10,
                                               2, &p, &err),
                 LC_EINVAL, "float32 channels-last");
    cr_expect_eq(lc_op_bn_backward_shortcut_dt(&cpu, LC_DTYPE_F32, y, st[0], st[1], x, x, st[2], st[3], gm, r, 5, 5, 2,
                                               &p, &err),
                 LC_EINVAL, "float32 channels-last");
    cr_expect_eq(lc_op_bias_add_bn_eval_dt(&cpu, LC_DTYPE_F32, y, z, gm, r, 10, 10, 2, gm, bt, st[0], gm, &p, &err),
                 LC_EINVAL, "float32 channels-last");
}

Test(cuda, mixed_conv2d_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    char what[96];
    /* n ci h w co k stride pad groups: 3x3 s1 and s2, the 1x1 s2 shortcut, depthwise, and IR's input layer
     * (three channels, no dx: nothing below it) */
    static const int shapes[][9] = {{2, 16, 12, 12, 16, 3, 1, 1, 1}, {2, 16, 12, 12, 32, 3, 2, 1, 1},
                                    {2, 16, 12, 12, 32, 1, 2, 0, 1}, {2, 16, 9, 9, 16, 3, 1, 1, 16},
                                    {2, 3, 16, 16, 8, 3, 1, 1, 1}};
    for (int t = 0; t < 2; t++)
        for (int sc = 0; sc < 10; sc++) { /* each shape (N, C, H, W), then channels-last */
            const int s = sc % 5, dt = mx_types[t], *c = shapes[s], with_dx = s != 4, set = sc % 2;
            const float rt = mx_rtol(dt), at = mx_ulp(dt);
            struct lc_conv2d p;
            cr_assert_eq(lc_conv2d_init(&p, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], 0, &err), 0);
            p.channels_last = sc / 5;
            size_t nx = (size_t)p.n * p.ci * p.h * p.w, ny = (size_t)p.n * p.co * p.ho * p.wo;
            size_t nw = (size_t)p.co * (p.ci / p.groups) * p.kh * p.kw;
            void *x = mx_randn(nx, 1 + s, 1, dt), *w = mx_randn(nw, 2 + s, 0.1f, dt), *dy = mx_randn(ny, 4 + s, 1, dt);
            void *dx = mx_randn(nx, 5 + s, 1, dt), *y = mx_buf(ny, dt);
            float *dw = nf_randn(nw, 6 + s, 1), *ws = nf_zeros(lc_conv2d_workspace(&p));
            void *gx = mx_up(&g, &gpu, x, nx, dt), *gw = mx_up(&g, &gpu, w, nw, dt), *gdy = mx_up(&g, &gpu, dy, ny, dt);
            void *gdx = mx_up(&g, &gpu, dx, nx, dt), *gy = mx_up(&g, &gpu, y, ny, dt);
            float *gdw = up(&g, &gpu, dw, nw);
            cr_assert_eq(lc_op_conv2d_forward_dt(&gpu, dt, gy, gx, gw, &p, NULL, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_conv2d_backward_dt(&gpu, dt, with_dx ? gdx : NULL, gdw, gdy, gx, gw, &p, set, NULL, &err),
                         0, "%s", err.msg);
            cr_assert_eq(lc_op_conv2d_forward_dt(&mx_cpu, dt, y, x, w, &p, ws, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_conv2d_backward_dt(&mx_cpu, dt, with_dx ? dx : NULL, dw, dy, x, w, &p, set, ws, &err), 0,
                         "%s", err.msg);
            snprintf(what, sizeof what, "%s conv %d y (channels-last %d)", lc_mixed_name(dt), s, p.channels_last);
            nf_close(mx_down(&gpu, gy, ny, dt), mx_wide(y, ny, dt), ny, rt, at, what);
            snprintf(what, sizeof what, "%s conv %d dx (channels-last %d, set %d)", lc_mixed_name(dt), s, p.channels_last,
                     set);
            nf_close(mx_down(&gpu, gdx, nx, dt), mx_wide(dx, nx, dt), nx, rt, at, what);
            snprintf(what, sizeof what, "%s conv %d dw (channels-last %d)", lc_mixed_name(dt), s, p.channels_last);
            nf_close(down(&gpu, gdw, nw), dw, nw, rt, at, what);
            gfree(&g, &gpu);
            nf_free();
        }
}

Test(cuda, mixed_linear_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    char what[96];
    /* n in out bias: with a bias; odd sizes without one, and no dx */
    static const int shapes[][4] = {{8, 64, 16, 1}, {5, 7, 3, 0}};
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 2; s++) {
            const int dt = mx_types[t], with_dx = s == 0;
            const float rt = mx_rtol(dt), at = mx_ulp(dt);
            struct lc_linear p;
            cr_assert_eq(lc_linear_init(&p, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], &err), 0);
            size_t nx = (size_t)p.n * p.in, nw = (size_t)p.out * p.in, ny = (size_t)p.n * p.out, no = (size_t)p.out;
            void *x = mx_randn(nx, 1, 1, dt), *w = mx_randn(nw, 2, 0.1f, dt), *dy = mx_randn(ny, 4, 1, dt);
            void *dx = mx_randn(nx, 5, 1, dt), *y = mx_buf(ny, dt);
            float *b = p.bias ? nf_randn(no, 3, 1) : NULL, *dw = nf_randn(nw, 6, 1), *db = nf_randn(no, 7, 1);
            void *gx = mx_up(&g, &gpu, x, nx, dt), *gw = mx_up(&g, &gpu, w, nw, dt), *gdy = mx_up(&g, &gpu, dy, ny, dt);
            void *gdx = mx_up(&g, &gpu, dx, nx, dt), *gy = mx_up(&g, &gpu, y, ny, dt);
            float *gb = b ? up(&g, &gpu, b, no) : NULL, *gdw = up(&g, &gpu, dw, nw), *gdb = up(&g, &gpu, db, no);
            cr_assert_eq(lc_op_linear_forward_dt(&gpu, dt, gy, gx, gw, gb, &p, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_linear_backward_dt(&gpu, dt, with_dx ? gdx : NULL, gdw, gdb, gdy, gx, gw, &p, &err), 0,
                         "%s", err.msg);
            cr_assert_eq(lc_op_linear_forward_dt(&mx_cpu, dt, y, x, w, b, &p, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_op_linear_backward_dt(&mx_cpu, dt, with_dx ? dx : NULL, dw, db, dy, x, w, &p, &err), 0,
                         "%s", err.msg);
            snprintf(what, sizeof what, "%s linear %d y", lc_mixed_name(dt), s);
            nf_close(mx_down(&gpu, gy, ny, dt), mx_wide(y, ny, dt), ny, rt, at, what);
            snprintf(what, sizeof what, "%s linear %d dx", lc_mixed_name(dt), s); /* untouched when NULL */
            nf_close(mx_down(&gpu, gdx, nx, dt), mx_wide(dx, nx, dt), nx, rt, at, what);
            snprintf(what, sizeof what, "%s linear %d dw", lc_mixed_name(dt), s);
            nf_close(down(&gpu, gdw, nw), dw, nw, rt, at, what);
            snprintf(what, sizeof what, "%s linear %d db", lc_mixed_name(dt), s);
            nf_close(down(&gpu, gdb, no), db, no, 1e-5f, 1e-6f, what);
            gfree(&g, &gpu);
            nf_free();
        }
}
