/* backend: device parsing, the CPU normalisation against PyTorch (bit
 * exact), the op dispatch on the CPU, and every CUDA twin against the CPU
 * (suite cuda, skipped with a message where no GPU is usable). */
#include "act.h"
#include "backend.h"
#include "tensorops.h"
#include "nnfix.h"

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

static void need_gpu(void)
{
    char why[256] = "";
    if (!lc_backend_cuda_built()) cr_skip_test("CUDA tests skipped: this build has no CUDA support");
    if (lc_backend_cuda_devices(why, sizeof why) == 0) cr_skip_test("CUDA tests skipped: no usable GPU (%s)", why);
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

/* ---- CUDA twins against the CPU (float32: the GPU sums in another order) */

struct gbuf {
    void *p[32];
    int n;
};

/* a device copy of host (n floats) */
static float *up(struct gbuf *g, const struct lc_device *d, const float *host, size_t n)
{
    struct lc_err err;
    void *p;
    cr_assert_eq(lc_device_alloc(d, &p, n * 4, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_upload(d, p, host, n * 4, &err), 0, "%s", err.msg);
    cr_assert_lt(g->n, 32);
    g->p[g->n++] = p;
    return p;
}

static float *down(const struct lc_device *d, const float *dev, size_t n)
{
    struct lc_err err;
    float *h = nf_zeros(n);
    cr_assert_eq(lc_device_sync(d, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_download(d, h, dev, n * 4, &err), 0, "%s", err.msg);
    return h;
}

static void gfree(struct gbuf *g, const struct lc_device *d)
{
    for (int i = 0; i < g->n; i++) lc_device_free(d, g->p[i]);
    g->n = 0;
}

static struct lc_device open_gpu(void)
{
    need_gpu();
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    cr_assert_eq(lc_device_open(&gpu, &err), 0, "%s", err.msg);
    return gpu;
}

Test(cuda, prelu_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int shapes[][3] = {{2, 64, 56 * 56}, {3, 5, 7}, {4, 1, 33}}; /* the last: one shared slope */
    for (int s = 0; s < 3; s++) {
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
    static const int shapes[][4] = {{8, 64, 28 * 28, 1}, {4, 512, 1, 1}, {3, 6, 50, 0}}; /* n c hw affine */
    for (int s = 0; s < 3; s++) {
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
        nf_close(down(&gpu, gye, total), ye, total, 1e-6f, 1e-7f, "bn eval");
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
        /* deterministic: two backward passes into zeroed buffers give the same bits */
        float *zx = nf_zeros(nx), *zw = nf_zeros(nw);
        float *r[2][2];
        for (int k = 0; k < 2; k++) {
            r[k][0] = up(&g, &gpu, zx, nx), r[k][1] = up(&g, &gpu, zw, nw);
            cr_assert_eq(lc_op_conv2d_backward(&gpu, r[k][0], r[k][1], NULL, gdy, gx, gw, &p, NULL, &err), 0, "%s",
                         err.msg);
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
    float *sum = nf_zeros(ny), *rn = nf_zeros(nr), *nm = nf_zeros((size_t)n);
    float *gx = up(&g, &gpu, x, nx), *gy = up(&g, &gpu, y, ny), *ga = up(&g, &gpu, a, ny), *gr = up(&g, &gpu, r, nr);
    float *gsum = up(&g, &gpu, sum, ny), *grn = up(&g, &gpu, rn, nr), *gnm = up(&g, &gpu, nm, (size_t)n);
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
