/* cuda_tensor: the seam and the CUDA twins of ReLU, GELU, sigmoid (act.h),
 * multiply, concat, pixel shuffle, broadcast multiply, sum along a dim, L2
 * normalisation (tensorops.h), softmax and log-softmax (softmax.h). The
 * same sequence of ops runs through the seam on a device and directly on
 * the CPU: on the CPU device every output must be the CPU function's, bit
 * for bit; on a GPU (suite cuda, skipped with a message where none is
 * usable) bit for bit where the twin repeats the CPU's float operations in
 * its order, within 1e-6 where erff/expf or exp/log in double enter (an ulp
 * or two from glibc's). Outputs that are written start as garbage,
 * accumulated ones from random values, so a write in place of an add, a
 * wrong argument order or a missing call all show. */
#include "act.h"
#include "backend.h"
#include "nnfix.h"
#include "gpufix.h"
#include "softmax.h"
#include "tensorops.h"

enum { N_ELEM = 10007, N_OUT = 30, N_CAT = 3 };

/* the inputs of one run: elementwise tensors of N_ELEM, a (outer, dim,
 * inner) view for the broadcasts and reductions, concat's three inputs */
struct inputs {
    int outer, dim, inner, sn, sc, sh, sw, sr; /* sn..sr: pixel shuffle's n, c, h, w, r */
    float *a, *b, *dy, *acc;                   /* N_ELEM each; acc: an accumulator's start */
    float *v, *vdy, *vacc, *s0, *s1, *sacc;    /* (outer, dim, inner); s0 (outer, dim), s1 (outer, inner) */
    int cs[N_CAT], hw, cn;
    float *cat[N_CAT];
};

struct outputs {
    float *o[N_OUT];
    size_t n[N_OUT];
    const char *name[N_OUT];
};

static size_t vlen(const struct inputs *in) { return (size_t)in->outer * in->dim * in->inner; }
static size_t cat_len(const struct inputs *in, int j) { return (size_t)in->cn * in->cs[j] * in->hw; }
static size_t cat_total(const struct inputs *in) { return cat_len(in, 0) + cat_len(in, 1) + cat_len(in, 2); }
static size_t shuffle_len(const struct inputs *in) { return (size_t)in->sn * in->sc * in->sh * in->sw * in->sr * in->sr; }

/* view k: the (outer, dim, inner) view; pixel shuffle's factor 3 or 2 and
 * concat's channel counts change with k */
static struct inputs make_inputs(int outer, int dim, int inner, int k)
{
    struct inputs in = {.outer = outer, .dim = dim, .inner = inner, .sn = 2, .sc = 3, .sh = 5, .sw = 4,
                        .sr = k == 1 ? 2 : 3, .cs = {2 + k, 5 - 2 * k, 1}, .hw = 13, .cn = 3};
    in.a = nf_randn(N_ELEM, 1, 2), in.b = nf_randn(N_ELEM, 2, 1), in.dy = nf_randn(N_ELEM, 3, 1);
    in.acc = nf_randn(N_ELEM, 4, 1);
    size_t v = vlen(&in);
    in.v = nf_randn(v, 5, 3), in.vdy = nf_randn(v, 6, 1), in.vacc = nf_randn(v, 7, 1);
    in.s0 = nf_randn((size_t)outer * dim, 8, 1), in.s1 = nf_randn((size_t)outer * inner, 9, 1);
    in.sacc = nf_randn((size_t)outer * (dim > inner ? dim : inner), 10, 1);
    in.v[0] = -90; /* exp(-90) underflows float, not double */
    for (int j = 0; j < N_CAT; j++) in.cat[j] = nf_randn(cat_len(&in, j), 11 + (uint64_t)j, 1);
    return in;
}

/* device buffers of one run, freed together */
struct dev {
    const struct lc_device *d;
    void *p[64];
    int n;
};

static float *din(struct dev *g, const float *host, size_t n)
{
    struct lc_err err;
    void *p;
    cr_assert_eq(lc_device_alloc(g->d, &p, n ? n * 4 : 4, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_upload(g->d, p, host, n * 4, &err), 0, "%s", err.msg);
    cr_assert_lt(g->n, 64);
    g->p[g->n++] = p;
    return p;
}

/* the device buffer's n floats into out k (a new host array) */
static void dout(struct dev *g, struct outputs *o, int k, const float *dev, size_t n, const char *name)
{
    struct lc_err err;
    o->o[k] = nf_zeros(n), o->n[k] = n, o->name[k] = name;
    cr_assert_eq(lc_device_sync(g->d, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_download(g->d, o->o[k], dev, n * 4, &err), 0, "%s", err.msg);
}

#define OK(call) cr_assert_eq((call), 0, "%s: %s", #call, err.msg)

/* every op through the seam on device d */
static struct outputs run_seam(const struct lc_device *d, const struct inputs *in)
{
    struct dev g = {.d = d};
    struct outputs o = {0};
    struct lc_err err;
    const size_t n = N_ELEM, v = vlen(in);
    const int O = in->outer, D = in->dim, I = in->inner;
    float *a = din(&g, in->a, n), *b = din(&g, in->b, n), *dy = din(&g, in->dy, n);
    float *y = din(&g, in->acc, n), *dx = din(&g, in->acc, n), *dx2 = din(&g, in->b, n);
    OK(lc_op_relu_forward(d, y, a, n, &err));
    dout(&g, &o, 0, y, n, "relu y");
    OK(lc_op_relu_backward(d, dx, dy, y, n, &err));
    dout(&g, &o, 1, dx, n, "relu dx");
    OK(lc_op_gelu_forward(d, y, a, n, &err));
    dout(&g, &o, 2, y, n, "gelu y");
    OK(lc_op_gelu_backward(d, dx, dy, a, n, &err));
    dout(&g, &o, 3, dx, n, "gelu dx");
    OK(lc_op_sigmoid_forward(d, y, a, n, &err));
    dout(&g, &o, 4, y, n, "sigmoid y");
    OK(lc_op_sigmoid_backward(d, dx, dy, y, n, &err));
    dout(&g, &o, 5, dx, n, "sigmoid dx");
    OK(lc_op_mul_forward(d, y, a, b, n, &err));
    dout(&g, &o, 6, y, n, "mul y");
    /* da into a fresh buffer: dx holds the GPU's erff/expf gradients (within
       1e-6 of the CPU's), whose last bits would carry into the exact ops' */
    float *da = din(&g, in->acc, n);
    OK(lc_op_mul_backward(d, da, dx2, dy, a, b, n, &err));
    dout(&g, &o, 7, da, n, "mul da");
    dout(&g, &o, 8, dx2, n, "mul db");
    const float *xs[N_CAT];
    float *dxs[N_CAT];
    for (int j = 0; j < N_CAT; j++) xs[j] = din(&g, in->cat[j], cat_len(in, j));
    float *cy = din(&g, in->acc, cat_total(in)); /* garbage: written */
    OK(lc_op_concat_forward(d, cy, xs, in->cs, N_CAT, in->cn, in->hw, &err));
    dout(&g, &o, 9, cy, cat_total(in), "concat y");
    for (int j = 0; j < N_CAT; j++) dxs[j] = din(&g, in->acc, cat_len(in, j));
    dxs[1] = NULL; /* an input without a gradient */
    OK(lc_op_concat_backward(d, dxs, a, in->cs, N_CAT, in->cn, in->hw, &err));
    dout(&g, &o, 10, dxs[0], cat_len(in, 0), "concat dx 0");
    dout(&g, &o, 11, dxs[2], cat_len(in, 2), "concat dx 2");
    size_t sl = shuffle_len(in);
    float *sy = din(&g, in->acc, sl), *sdx = din(&g, in->b, sl);
    OK(lc_op_pixel_shuffle_forward(d, sy, a, in->sn, in->sc, in->sh, in->sw, in->sr, &err));
    dout(&g, &o, 12, sy, sl, "pixel shuffle y");
    OK(lc_op_pixel_shuffle_backward(d, sdx, dy, in->sn, in->sc, in->sh, in->sw, in->sr, &err));
    dout(&g, &o, 13, sdx, sl, "pixel shuffle dx");
    float *x = din(&g, in->v, v), *vdy = din(&g, in->vdy, v), *vy = din(&g, in->vacc, v), *vdx = din(&g, in->vacc, v);
    const float *s[2] = {din(&g, in->s0, (size_t)O * D), din(&g, in->s1, (size_t)O * I)};
    for (int so = 0; so < 2; so++) {
        float *ds = din(&g, in->sacc, (size_t)O * (so ? I : D));
        OK(lc_op_mul_bcast_forward(d, vy, x, s[so], O, D, I, so, &err));
        dout(&g, &o, 14 + 3 * so, vy, v, so ? "broadcast y (s over dim)" : "broadcast y (s over inner)");
        OK(lc_op_mul_bcast_backward(d, vdx, ds, vdy, x, s[so], O, D, I, so, &err));
        dout(&g, &o, 15 + 3 * so, vdx, v, so ? "broadcast dx (s over dim)" : "broadcast dx (s over inner)");
        dout(&g, &o, 16 + 3 * so, ds, (size_t)O * (so ? I : D), so ? "broadcast ds (over dim)" : "broadcast ds (over inner)");
    }
    float *r = din(&g, in->sacc, (size_t)O * I), *nrm = din(&g, in->sacc, (size_t)O * I);
    OK(lc_op_sum_dim_forward(d, r, x, O, D, I, &err));
    dout(&g, &o, 20, r, (size_t)O * I, "sum y");
    OK(lc_op_sum_dim_backward(d, vdx, r, O, D, I, &err));
    dout(&g, &o, 21, vdx, v, "sum dx");
    float *fin = din(&g, in->vdy, v); /* finite: L2 normalise */
    OK(lc_op_l2norm_forward(d, vy, nrm, fin, O, D, I, 1e-12f, &err));
    dout(&g, &o, 22, vy, v, "l2 y");
    dout(&g, &o, 23, nrm, (size_t)O * I, "l2 norm");
    OK(lc_op_l2norm_backward(d, vdx, vdy, vy, nrm, O, D, I, 1e-12f, &err));
    dout(&g, &o, 24, vdx, v, "l2 dx");
    OK(lc_op_softmax_forward(d, vy, x, O, D, I, &err));
    dout(&g, &o, 25, vy, v, "softmax y");
    OK(lc_op_softmax_backward(d, vdx, vdy, vy, O, D, I, &err));
    dout(&g, &o, 26, vdx, v, "softmax dx");
    OK(lc_op_log_softmax_forward(d, vy, x, O, D, I, &err));
    dout(&g, &o, 27, vy, v, "log-softmax y");
    OK(lc_op_log_softmax_backward(d, vdx, vdy, vy, O, D, I, &err));
    dout(&g, &o, 28, vdx, v, "log-softmax dx");
    for (int i = 0; i < g.n; i++) lc_device_free(d, g.p[i]);
    return o;
}

/* the same sequence on the CPU functions themselves */
static struct outputs run_cpu(const struct inputs *in)
{
    struct outputs o = {0};
    const size_t n = N_ELEM, v = vlen(in);
    const int O = in->outer, D = in->dim, I = in->inner;
    float *y = nf_copy(in->acc, n), *dx = nf_copy(in->acc, n), *dx2 = nf_copy(in->b, n);
#define KEEP(k, p, len, nm) (o.o[k] = nf_copy((p), (len)), o.n[k] = (len), o.name[k] = (nm))
    lc_relu_forward(y, in->a, n), KEEP(0, y, n, "relu y");
    lc_relu_backward(dx, in->dy, y, n), KEEP(1, dx, n, "relu dx");
    lc_gelu_forward(y, in->a, n), KEEP(2, y, n, "gelu y");
    lc_gelu_backward(dx, in->dy, in->a, n), KEEP(3, dx, n, "gelu dx");
    lc_sigmoid_forward(y, in->a, n), KEEP(4, y, n, "sigmoid y");
    lc_sigmoid_backward(dx, in->dy, y, n), KEEP(5, dx, n, "sigmoid dx");
    lc_mul_forward(y, in->a, in->b, n), KEEP(6, y, n, "mul y");
    float *da = nf_copy(in->acc, n);
    lc_mul_backward(da, dx2, in->dy, in->a, in->b, n), KEEP(7, da, n, "mul da"), KEEP(8, dx2, n, "mul db");
    const float *xs[N_CAT] = {in->cat[0], in->cat[1], in->cat[2]};
    float *cy = nf_zeros(cat_total(in)), *dxs[N_CAT];
    lc_concat_forward(cy, xs, in->cs, N_CAT, in->cn, in->hw), KEEP(9, cy, cat_total(in), "concat y");
    for (int j = 0; j < N_CAT; j++) dxs[j] = nf_copy(in->acc, cat_len(in, j));
    dxs[1] = NULL;
    lc_concat_backward(dxs, in->a, in->cs, N_CAT, in->cn, in->hw);
    KEEP(10, dxs[0], cat_len(in, 0), "concat dx 0"), KEEP(11, dxs[2], cat_len(in, 2), "concat dx 2");
    size_t sl = shuffle_len(in);
    float *sy = nf_zeros(sl), *sdx = nf_copy(in->b, sl);
    lc_pixel_shuffle_forward(sy, in->a, in->sn, in->sc, in->sh, in->sw, in->sr), KEEP(12, sy, sl, "pixel shuffle y");
    lc_pixel_shuffle_backward(sdx, in->dy, in->sn, in->sc, in->sh, in->sw, in->sr), KEEP(13, sdx, sl, "pixel shuffle dx");
    float *vy = nf_copy(in->vacc, v), *vdx = nf_copy(in->vacc, v);
    const float *s[2] = {in->s0, in->s1};
    for (int so = 0; so < 2; so++) {
        size_t ns = (size_t)O * (so ? I : D);
        float *ds = nf_copy(in->sacc, ns);
        lc_mul_bcast_forward(vy, in->v, s[so], O, D, I, so), KEEP(14 + 3 * so, vy, v, "broadcast y");
        lc_mul_bcast_backward(vdx, ds, in->vdy, in->v, s[so], O, D, I, so);
        KEEP(15 + 3 * so, vdx, v, "broadcast dx"), KEEP(16 + 3 * so, ds, ns, "broadcast ds");
    }
    float *r = nf_copy(in->sacc, (size_t)O * I), *nrm = nf_copy(in->sacc, (size_t)O * I);
    lc_sum_dim_forward(r, in->v, O, D, I), KEEP(20, r, (size_t)O * I, "sum y");
    lc_sum_dim_backward(vdx, r, O, D, I), KEEP(21, vdx, v, "sum dx");
    lc_l2norm_forward(vy, nrm, in->vdy, O, D, I, 1e-12f), KEEP(22, vy, v, "l2 y"), KEEP(23, nrm, (size_t)O * I, "l2 norm");
    lc_l2norm_backward(vdx, in->vdy, vy, nrm, O, D, I, 1e-12f), KEEP(24, vdx, v, "l2 dx");
    lc_softmax_forward(vy, in->v, O, D, I), KEEP(25, vy, v, "softmax y");
    lc_softmax_backward(vdx, in->vdy, vy, O, D, I), KEEP(26, vdx, v, "softmax dx");
    lc_log_softmax_forward(vy, in->v, O, D, I), KEEP(27, vy, v, "log-softmax y");
    lc_log_softmax_backward(vdx, in->vdy, vy, O, D, I), KEEP(28, vdx, v, "log-softmax dx");
#undef KEEP
    return o;
}

/* (outer, dim, inner) views: strided rows, contiguous rows (softmax over classes), one-element rows */
static const int views[][3] = {{3, 37, 11}, {5, 301, 1}, {4, 1, 9}};

Test(backend, tensor_ops_on_the_cpu_device_are_the_cpu_functions)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0}, bad = {7, 0};
    for (int k = 0; k < 3; k++) {
        struct inputs in = make_inputs(views[k][0], views[k][1], views[k][2], k);
        struct outputs got = run_seam(&cpu, &in), want = run_cpu(&in);
        for (int i = 0; i < 29; i++) {
            cr_assert_eq(got.n[i], want.n[i], "%s: length", want.name[i]);
            cr_expect(!memcmp(got.o[i], want.o[i], want.n[i] * 4), "view %d: %s: not the CPU function's bits", k,
                      want.name[i]);
        }
        nf_free();
    }
    struct lc_err err;
    float x = 1, y;
    cr_expect_neq(lc_op_relu_forward(&bad, &y, &x, 1, &err), 0, "an unknown device is an error");
}

/* outputs the GPU computes with erff/expf or double exp/log: within 1e-6 */
static int approximate(int k) { return (k >= 2 && k <= 5) || k >= 25; }

Test(cuda, tensor_ops_match_cpu)
{
    struct lc_device gpu = open_gpu();
    for (int k = 0; k < 3; k++) {
        struct inputs in = make_inputs(views[k][0], views[k][1], views[k][2], k);
        struct outputs got = run_seam(&gpu, &in), want = run_cpu(&in);
        char what[96];
        for (int i = 0; i < 29; i++) {
            snprintf(what, sizeof what, "view %d: %s", k, want.name[i]);
            if (approximate(i)) nf_close(got.o[i], want.o[i], want.n[i], 1e-6f, 1e-7f, what);
            else cr_expect(!memcmp(got.o[i], want.o[i], want.n[i] * 4), "%s: not bit-identical", what);
        }
        nf_free();
    }
}
