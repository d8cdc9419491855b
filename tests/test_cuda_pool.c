/* cuda_pool: the seam and the CUDA twins of pooling (pool.h), resizing
 * (resize.h) and batched matmul (matmul.h). On the CPU device each lc_op_*
 * must be the CPU function, bit for bit; on a GPU (suite cuda, skipped
 * with a message where none is usable) each twin is checked against the
 * CPU: bit for bit where it repeats the CPU's float operations in the
 * CPU's order (everything but the global average's forward and matmul). */
#include "backend.h"
#include "matmul.h"
#include "resize.h"
#include "nnfix.h"
#include "gpufix.h"

/* n bytes of each of two buffers are identical */
#define SAME(a, b, n, what) cr_expect(!memcmp((a), (b), (n)), "%s: not bit-identical", (what))

static int32_t *nf_ints(size_t n) { return (int32_t *)nf_zeros(n); }

static uint8_t *nf_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = (uint8_t *)nf_zeros((n + 3) / 4);
    struct lc_rng r;
    lc_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)lc_rng_u64(&r);
    return p;
}

/* ---- the seam on the CPU: outputs that are written start as random
 * garbage, accumulated ones from random values, so a wrong function, a
 * missing call or a write in place of an add all show. */

Test(backend, pool_resize_matmul_on_the_cpu_device_are_the_cpu_functions)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0}, bad = {7, 0};
    struct lc_err err;
    struct lc_pool2d p;
    cr_assert_eq(lc_pool2d_init(&p, 2, 3, 9, 7, 3, 2, 1, &err), 0);
    size_t nx = (size_t)p.n * p.c * p.h * p.w, ny = (size_t)p.n * p.c * p.ho * p.wo;
    float *x = nf_randn(nx, 1, 1), *dy = nf_randn(ny, 2, 1);
    float *y1 = nf_randn(ny, 3, 1), *y2 = nf_copy(y1, ny), *dx1 = nf_randn(nx, 4, 1), *dx2 = nf_copy(dx1, nx);
    int32_t *a1 = nf_ints(ny), *a2 = nf_ints(ny);
    memset(a1, 0x5a, ny * 4), memset(a2, 0x5a, ny * 4);
    cr_assert_eq(lc_op_maxpool2d_forward(&cpu, y1, a1, x, &p, &err), 0);
    lc_maxpool2d_forward(y2, a2, x, &p);
    SAME(y1, y2, ny * 4, "max pool y");
    SAME(a1, a2, ny * 4, "max pool argmax");
    cr_assert_eq(lc_op_maxpool2d_backward(&cpu, dx1, dy, a1, &p, &err), 0);
    lc_maxpool2d_backward(dx2, dy, a2, &p);
    SAME(dx1, dx2, nx * 4, "max pool dx");
    cr_assert_eq(lc_op_avgpool2d_forward(&cpu, y1, x, &p, &err), 0);
    lc_avgpool2d_forward(y2, x, &p);
    SAME(y1, y2, ny * 4, "average pool y");
    cr_assert_eq(lc_op_avgpool2d_backward(&cpu, dx1, dy, &p, &err), 0);
    lc_avgpool2d_backward(dx2, dy, &p);
    SAME(dx1, dx2, nx * 4, "average pool dx");
    const int planes = p.n * p.c, hw = p.h * p.w; /* global average over x as (n, c, h*w) */
    float *g1 = nf_randn((size_t)planes, 5, 1), *g2 = nf_copy(g1, (size_t)planes);
    cr_assert_eq(lc_op_gap_forward(&cpu, g1, x, p.n, p.c, hw, &err), 0);
    lc_gap_forward(g2, x, p.n, p.c, hw);
    SAME(g1, g2, (size_t)planes * 4, "global average y");
    cr_assert_eq(lc_op_gap_backward(&cpu, dx1, dy, p.n, p.c, hw, &err), 0);
    lc_gap_backward(dx2, dy, p.n, p.c, hw);
    SAME(dx1, dx2, nx * 4, "global average dx");

    /* resize x, as (6, 9, 7), to (6, 13, 5) */
    const int nc = planes, h = p.h, w = p.w, ho = 13, wo = 5;
    size_t nr = (size_t)nc * ho * wo;
    float *r1 = nf_randn(nr, 6, 1), *r2 = nf_copy(r1, nr), *dr = nf_randn(nr, 7, 1);
    cr_assert_eq(lc_op_resize_bilinear_forward(&cpu, r1, x, nc, h, w, ho, wo, &err), 0);
    lc_resize_bilinear_forward(r2, x, nc, h, w, ho, wo);
    SAME(r1, r2, nr * 4, "bilinear y");
    cr_assert_eq(lc_op_resize_bilinear_backward(&cpu, dx1, dr, nc, h, w, ho, wo, &err), 0);
    lc_resize_bilinear_backward(dx2, dr, nc, h, w, ho, wo);
    SAME(dx1, dx2, nx * 4, "bilinear dx");
    cr_assert_eq(lc_op_resize_nearest_forward(&cpu, r1, x, nc, h, w, ho, wo, &err), 0);
    lc_resize_nearest_forward(r2, x, nc, h, w, ho, wo);
    SAME(r1, r2, nr * 4, "nearest y");
    cr_assert_eq(lc_op_resize_nearest_backward(&cpu, dx1, dr, nc, h, w, ho, wo, &err), 0);
    lc_resize_nearest_backward(dx2, dr, nc, h, w, ho, wo);
    SAME(dx1, dx2, nx * 4, "nearest dx");
    uint8_t *ux = nf_bytes(nx, 8), *u1 = nf_bytes(nr, 9), *u2 = nf_bytes(nr, 9);
    cr_assert_eq(lc_op_resize_nearest_u8(&cpu, u1, ux, nc, h, w, ho, wo, &err), 0);
    lc_resize_nearest_u8(u2, ux, nc, h, w, ho, wo);
    SAME(u1, u2, nr, "nearest u8");

    /* matmul, batch 3, A stored transposed */
    const int b = 3, m = 5, n = 7, k = 3;
    size_t na = (size_t)b * m * k, nb = (size_t)b * k * n, nm = (size_t)b * m * n;
    float *ma = nf_randn(na, 10, 1), *mb = nf_randn(nb, 11, 1), *dc = nf_randn(nm, 12, 1);
    float *c1 = nf_randn(nm, 13, 1), *c2 = nf_copy(c1, nm);
    float *da1 = nf_randn(na, 14, 1), *da2 = nf_copy(da1, na), *db1 = nf_randn(nb, 15, 1), *db2 = nf_copy(db1, nb);
    cr_assert_eq(lc_op_matmul_forward(&cpu, c1, ma, mb, b, m, n, k, 1, 0, &err), 0);
    lc_matmul_forward(c2, ma, mb, b, m, n, k, 1, 0);
    SAME(c1, c2, nm * 4, "matmul c");
    cr_assert_eq(lc_op_matmul_backward(&cpu, da1, db1, dc, ma, mb, b, m, n, k, 1, 0, &err), 0);
    lc_matmul_backward(da2, db2, dc, ma, mb, b, m, n, k, 1, 0);
    SAME(da1, da2, na * 4, "matmul da");
    SAME(db1, db2, nb * 4, "matmul db");
    cr_assert_eq(lc_op_matmul_backward(&cpu, NULL, db1, dc, ma, mb, b, m, n, k, 1, 0, &err), 0);
    lc_matmul_backward(NULL, db2, dc, ma, mb, b, m, n, k, 1, 0);
    SAME(db1, db2, nb * 4, "matmul db (da NULL)");

    cr_expect_neq(lc_op_maxpool2d_forward(&bad, y1, a1, x, &p, &err), 0);
    cr_expect_neq(lc_op_resize_nearest_u8(&bad, u1, ux, nc, h, w, ho, wo, &err), 0);
    cr_expect_neq(lc_op_matmul_forward(&bad, c1, ma, mb, b, m, n, k, 1, 0, &err), 0);
    nf_free();
}

/* ---- CUDA twins against the CPU */

Test(cuda, pooling_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    char what[96];
    /* n c h w k stride pad */
    static const int shapes[][7] = {{2, 3, 9, 7, 2, 2, 0}, {2, 3, 9, 7, 3, 2, 1}, {1, 5, 11, 6, 3, 1, 1},
                                    {4, 16, 28, 28, 3, 2, 1}};
    for (int s = 0; s < 4; s++) {
        const int *q = shapes[s];
        struct lc_pool2d p;
        cr_assert_eq(lc_pool2d_init(&p, q[0], q[1], q[2], q[3], q[4], q[5], q[6], &err), 0);
        size_t nx = (size_t)p.n * p.c * p.h * p.w, ny = (size_t)p.n * p.c * p.ho * p.wo;
        /* max pool input: halves, so windows tie often; two NaNs in the
         * first window (the last wins) and one further on */
        float *xm = nf_randn(nx, 1 + s, 1), *x = nf_randn(nx, 2 + s, 1), *dy = nf_randn(ny, 3 + s, 1);
        for (size_t i = 0; i < nx; i++) xm[i] = roundf(xm[i] * 2) / 2;
        xm[0] = xm[1] = xm[nx / 2] = NAN;
        float *y = nf_zeros(ny), *ya = nf_zeros(ny), *dx = nf_randn(nx, 4 + s, 1), *dxa = nf_randn(nx, 5 + s, 1);
        int32_t *am = nf_ints(ny);
        float *gxm = up(&g, &gpu, xm, nx), *gx = up(&g, &gpu, x, nx), *gdy = up(&g, &gpu, dy, ny);
        float *gy = up(&g, &gpu, y, ny), *gya = up(&g, &gpu, ya, ny), *gdx = up(&g, &gpu, dx, nx);
        float *gdxa = up(&g, &gpu, dxa, nx);
        int32_t *gam = upb(&g, &gpu, am, ny * 4);
        cr_assert_eq(lc_op_maxpool2d_forward(&gpu, gy, gam, gxm, &p, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_avgpool2d_forward(&gpu, gya, gx, &p, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_avgpool2d_backward(&gpu, gdxa, gdy, &p, &err), 0, "%s", err.msg);
        lc_maxpool2d_forward(y, am, xm, &p);
        lc_avgpool2d_forward(ya, x, &p);
        lc_avgpool2d_backward(dxa, dy, &p);
        /* backward from the CPU's argmax, so it is checked on its own */
        int32_t *gam_cpu = upb(&g, &gpu, am, ny * 4);
        cr_assert_eq(lc_op_maxpool2d_backward(&gpu, gdx, gdy, gam_cpu, &p, &err), 0, "%s", err.msg);
        lc_maxpool2d_backward(dx, dy, am, &p);
        snprintf(what, sizeof what, "pool %d (k=%d s=%d pad=%d)", s, p.k, p.s, p.pad);
        cr_expect(!memcmp(down(&gpu, gy, ny), y, ny * 4), "%s: max pool y not bit-identical", what);
        cr_expect(!memcmp(down_copy(&gpu, gam, ny * 4), am, ny * 4), "%s: max pool argmax differs", what);
        cr_expect(!memcmp(down(&gpu, gdx, nx), dx, nx * 4), "%s: max pool dx not bit-identical", what);
        cr_expect(!memcmp(down(&gpu, gya, ny), ya, ny * 4), "%s: average pool y not bit-identical", what);
        cr_expect(!memcmp(down(&gpu, gdxa, nx), dxa, nx * 4), "%s: average pool dx not bit-identical", what);
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, global_average_pool_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    static const int shapes[][3] = {{2, 3, 1}, {3, 5, 49}, {2, 7, 1001}, {8, 512, 7 * 7}}; /* n c hw */
    for (int s = 0; s < 4; s++) {
        const int n = shapes[s][0], c = shapes[s][1], hw = shapes[s][2];
        size_t nx = (size_t)n * c * hw, np = (size_t)n * c;
        float *x = nf_randn(nx, 1 + s, 1), *dy = nf_randn(np, 2 + s, 1);
        float *y = nf_randn(np, 3 + s, 1), *dx = nf_randn(nx, 4 + s, 1); /* y is written, dx accumulates */
        float *gx = up(&g, &gpu, x, nx), *gdy = up(&g, &gpu, dy, np), *gy = up(&g, &gpu, y, np);
        float *gdx = up(&g, &gpu, dx, nx);
        cr_assert_eq(lc_op_gap_forward(&gpu, gy, gx, n, c, hw, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_gap_backward(&gpu, gdx, gdy, n, c, hw, &err), 0, "%s", err.msg);
        lc_gap_forward(y, x, n, c, hw);
        lc_gap_backward(dx, dy, n, c, hw);
        /* the double sums run in another order (a tree): they agree to far
         * below a float's precision, so the float means are equal or one
         * rounding apart (2^-23 relative; 2.4e-7 allows two) */
        nf_close(down(&gpu, gy, np), y, np, 2.4e-7f, 0, "global average y");
        cr_expect(!memcmp(down(&gpu, gdx, nx), dx, nx * 4), "global average dx (hw=%d): not bit-identical", hw);
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, resize_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    char what[96];
    /* nc h w ho wo: up and down by non-integer factors, the segment cache's
     * 112 <-> 128, exact 2x (nearest's special case), identity, 1x1 out
     * and in */
    static const int shapes[][5] = {{3, 9, 7, 13, 10}, {3, 13, 10, 9, 7}, {2, 112, 112, 128, 128},
                                    {2, 128, 128, 112, 112}, {2, 5, 4, 10, 8}, {2, 6, 6, 6, 6},
                                    {4, 7, 5, 1, 1}, {3, 1, 1, 3, 5}, {2, 11, 3, 4, 7}};
    for (int s = 0; s < 9; s++) {
        const int nc = shapes[s][0], h = shapes[s][1], w = shapes[s][2], ho = shapes[s][3], wo = shapes[s][4];
        size_t nx = (size_t)nc * h * w, ny = (size_t)nc * ho * wo;
        float *x = nf_randn(nx, 1 + s, 1), *dy = nf_randn(ny, 2 + s, 1);
        float *yb = nf_zeros(ny), *yn = nf_zeros(ny), *dxb = nf_randn(nx, 3 + s, 1), *dxn = nf_randn(nx, 4 + s, 1);
        uint8_t *ux = nf_bytes(nx, 5 + s), *uy = nf_bytes(ny, 6 + s);
        float *gx = up(&g, &gpu, x, nx), *gdy = up(&g, &gpu, dy, ny), *gyb = up(&g, &gpu, yb, ny);
        float *gyn = up(&g, &gpu, yn, ny), *gdxb = up(&g, &gpu, dxb, nx), *gdxn = up(&g, &gpu, dxn, nx);
        uint8_t *gux = upb(&g, &gpu, ux, nx), *guy = upb(&g, &gpu, uy, ny);
        cr_assert_eq(lc_op_resize_bilinear_forward(&gpu, gyb, gx, nc, h, w, ho, wo, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_resize_bilinear_backward(&gpu, gdxb, gdy, nc, h, w, ho, wo, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_resize_nearest_forward(&gpu, gyn, gx, nc, h, w, ho, wo, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_resize_nearest_backward(&gpu, gdxn, gdy, nc, h, w, ho, wo, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_resize_nearest_u8(&gpu, guy, gux, nc, h, w, ho, wo, &err), 0, "%s", err.msg);
        lc_resize_bilinear_forward(yb, x, nc, h, w, ho, wo);
        lc_resize_bilinear_backward(dxb, dy, nc, h, w, ho, wo);
        lc_resize_nearest_forward(yn, x, nc, h, w, ho, wo);
        lc_resize_nearest_backward(dxn, dy, nc, h, w, ho, wo);
        lc_resize_nearest_u8(uy, ux, nc, h, w, ho, wo);
        snprintf(what, sizeof what, "resize %dx%d -> %dx%d", h, w, ho, wo);
        cr_expect(!memcmp(down(&gpu, gyb, ny), yb, ny * 4), "%s: bilinear y not bit-identical", what);
        cr_expect(!memcmp(down(&gpu, gdxb, nx), dxb, nx * 4), "%s: bilinear dx not bit-identical", what);
        cr_expect(!memcmp(down(&gpu, gyn, ny), yn, ny * 4), "%s: nearest y not bit-identical", what);
        cr_expect(!memcmp(down(&gpu, gdxn, nx), dxn, nx * 4), "%s: nearest dx not bit-identical", what);
        cr_expect(!memcmp(down_copy(&gpu, guy, ny), uy, ny), "%s: nearest u8 differs", what);
        gfree(&g, &gpu);
        nf_free();
    }
}

Test(cuda, matmul_matches_cpu)
{
    struct lc_device gpu = open_gpu();
    struct gbuf g = {0};
    struct lc_err err;
    char what[96];
    static const int shapes[][4] = {{1, 5, 7, 3}, {3, 17, 9, 33}, {3, 1, 13, 5}}; /* batch m n k */
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < 4; t++) {
            const int b = shapes[s][0], m = shapes[s][1], n = shapes[s][2], k = shapes[s][3], ta = t >> 1, tb = t & 1;
            size_t na = (size_t)b * m * k, nb = (size_t)b * k * n, nc = (size_t)b * m * n;
            uint64_t seed = 10 * (uint64_t)(4 * s + t);
            float *a = nf_randn(na, seed + 1, 1), *bm = nf_randn(nb, seed + 2, 1), *dc = nf_randn(nc, seed + 3, 1);
            float *c = nf_randn(nc, seed + 4, 1); /* written */
            float *da = nf_randn(na, seed + 5, 1), *db = nf_randn(nb, seed + 6, 1); /* accumulated */
            float *ga = up(&g, &gpu, a, na), *gb = up(&g, &gpu, bm, nb), *gdc = up(&g, &gpu, dc, nc);
            float *gc = up(&g, &gpu, c, nc), *gda = up(&g, &gpu, da, na), *gdb = up(&g, &gpu, db, nb);
            cr_assert_eq(lc_op_matmul_forward(&gpu, gc, ga, gb, b, m, n, k, ta, tb, &err), 0, "%s", err.msg);
            /* one gradient per call: each with the other NULL */
            cr_assert_eq(lc_op_matmul_backward(&gpu, gda, NULL, gdc, ga, gb, b, m, n, k, ta, tb, &err), 0, "%s",
                         err.msg);
            cr_assert_eq(lc_op_matmul_backward(&gpu, NULL, gdb, gdc, ga, gb, b, m, n, k, ta, tb, &err), 0, "%s",
                         err.msg);
            lc_matmul_forward(c, a, bm, b, m, n, k, ta, tb);
            lc_matmul_backward(da, db, dc, a, bm, b, m, n, k, ta, tb);
            /* cuBLAS and OpenBLAS order and fuse the k-sums differently
             * (float32 both, TF32 off): a few roundings of the largest
             * partial sums, as the linear layer's test allows */
            snprintf(what, sizeof what, "matmul b=%d m=%d n=%d k=%d ta=%d tb=%d", b, m, n, k, ta, tb);
            char wc[128], wa[128], wb[128];
            snprintf(wc, sizeof wc, "%s: c", what);
            snprintf(wa, sizeof wa, "%s: da", what);
            snprintf(wb, sizeof wb, "%s: db", what);
            nf_close(down(&gpu, gc, nc), c, nc, 1e-4f, 1e-5f, wc);
            nf_close(down(&gpu, gda, na), da, na, 1e-4f, 1e-5f, wa);
            nf_close(down(&gpu, gdb, nb), db, nb, 1e-4f, 1e-5f, wb);
            gfree(&g, &gpu);
            nf_free();
        }
}
