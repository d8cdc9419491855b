// tensor: CUDA twins of the activations ReLU, GELU and sigmoid (act.h), of
// the tensor arithmetic the attention blocks use (tensorops.h: multiply,
// concat, pixel shuffle, broadcast multiply, sum along a dim, L2
// normalisation) and of softmax / log-softmax (softmax.h). Elementwise
// kernels compute the CPU's float expression with each product and sum
// rounded as the CPU rounds it (__fmul_rn/__fadd_rn: no FMA contraction),
// so ReLU, multiply, concat, pixel shuffle and the broadcasts are the
// CPU's bits; erff/expf differ from glibc's by an ulp or two. Reductions
// along a dim run one thread per (outer, inner) row, summing in double in
// the CPU's order with every double product and sum rounded as the CPU
// rounds it (__dmul_rn/__dadd_rn): deterministic, and the CPU's bits
// (exp/log in double aside, where the last bit may differ).
#include <cuda_runtime.h>

#include "kernel.cuh"

// ---- activations (act.c)

static __global__ void relu_fwd(float *y, const float *x, long n)
{
    FOR_EACH(i, n) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

static __global__ void relu_bwd(float *dx, const float *dy, const float *y, long n)
{
    FOR_EACH(i, n) dx[i] = __fadd_rn(dx[i], y[i] > 0 ? dy[i] : 0.0f);
}

static __global__ void gelu_fwd(float *y, const float *x, long n)
{
    FOR_EACH(i, n)
    {
        float v = x[i];
        y[i] = __fmul_rn(__fmul_rn(0.5f, v), __fadd_rn(1.0f, erff(__fmul_rn(v, 0.70710678118654752f))));
    }
}

static __global__ void gelu_bwd(float *dx, const float *dy, const float *x, long n)
{
    FOR_EACH(i, n)
    {
        float v = x[i];
        float cdf = __fmul_rn(0.5f, __fadd_rn(1.0f, erff(__fmul_rn(v, 0.70710678118654752f))));
        float pdf = __fmul_rn(0.39894228040143268f, expf(__fmul_rn(__fmul_rn(-0.5f, v), v)));
        dx[i] = __fadd_rn(dx[i], __fmul_rn(dy[i], __fadd_rn(cdf, __fmul_rn(v, pdf))));
    }
}

static __global__ void sigmoid_fwd(float *y, const float *x, long n)
{
    FOR_EACH(i, n) y[i] = __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-x[i])));
}

static __global__ void sigmoid_bwd(float *dx, const float *dy, const float *y, long n)
{
    FOR_EACH(i, n) dx[i] = __fadd_rn(dx[i], __fmul_rn(__fmul_rn(dy[i], y[i]), __fadd_rn(1.0f, -y[i])));
}

extern "C" int lc_relu_forward_cuda(float *y, const float *x, size_t n, void *stream, struct lc_err *err)
{
    LAUNCH("relu forward", n, relu_fwd, y, x, (long)n);
}

extern "C" int lc_relu_backward_cuda(float *dx, const float *dy, const float *y, size_t n, void *stream,
                                     struct lc_err *err)
{
    LAUNCH("relu backward", n, relu_bwd, dx, dy, y, (long)n);
}

extern "C" int lc_gelu_forward_cuda(float *y, const float *x, size_t n, void *stream, struct lc_err *err)
{
    LAUNCH("gelu forward", n, gelu_fwd, y, x, (long)n);
}

extern "C" int lc_gelu_backward_cuda(float *dx, const float *dy, const float *x, size_t n, void *stream,
                                     struct lc_err *err)
{
    LAUNCH("gelu backward", n, gelu_bwd, dx, dy, x, (long)n);
}

extern "C" int lc_sigmoid_forward_cuda(float *y, const float *x, size_t n, void *stream, struct lc_err *err)
{
    LAUNCH("sigmoid forward", n, sigmoid_fwd, y, x, (long)n);
}

extern "C" int lc_sigmoid_backward_cuda(float *dx, const float *dy, const float *y, size_t n, void *stream,
                                        struct lc_err *err)
{
    LAUNCH("sigmoid backward", n, sigmoid_bwd, dx, dy, y, (long)n);
}

// ---- elementwise multiply, concat, pixel shuffle (tensorops.c)

static __global__ void mul_fwd(float *y, const float *a, const float *b, long n)
{
    FOR_EACH(i, n) y[i] = __fmul_rn(a[i], b[i]);
}

static __global__ void mul_bwd(float *da, float *db, const float *dy, const float *a, const float *b, long n)
{
    FOR_EACH(i, n)
    {
        if (da) da[i] = __fadd_rn(da[i], __fmul_rn(dy[i], b[i]));
        if (db) db[i] = __fadd_rn(db[i], __fmul_rn(dy[i], a[i]));
    }
}

extern "C" int lc_mul_forward_cuda(float *y, const float *a, const float *b, size_t n, void *stream,
                                   struct lc_err *err)
{
    LAUNCH("mul forward", n, mul_fwd, y, a, b, (long)n);
}

extern "C" int lc_mul_backward_cuda(float *da, float *db, const float *dy, const float *a, const float *b, size_t n,
                                    void *stream, struct lc_err *err)
{
    LAUNCH("mul backward", n, mul_bwd, da, db, dy, a, b, (long)n);
}

// One input's part of the concatenation: x (n, len) <-> y (n, total) at
// column at. add: dx += dy's part (backward); else y's part = x.
static __global__ void concat_part(float *y, float *x, long n, long len, long total, long at, int add)
{
    FOR_EACH(i, n * len)
    {
        long b = i / len, j = i % len;
        if (add) x[i] = __fadd_rn(x[i], y[b * total + at + j]);
        else y[b * total + at + j] = x[i];
    }
}

extern "C" int lc_concat_forward_cuda(float *y, const float *const *xs, const int *cs, int k, int n, int hw,
                                      void *stream, struct lc_err *err)
{
    long total = 0, at = 0;
    for (int j = 0; j < k; j++) total += (long)cs[j] * hw;
    for (int j = 0; j < k; j++) {
        long len = (long)cs[j] * hw;
        if (len > 0 && n > 0)
            concat_part<<<grid_for(n * len), THREADS, 0, LC_STREAM(stream)>>>(y, (float *)xs[j], n, len, total, at,
                                                                                 0);
        at += len;
    }
    return launched(err, "concat forward");
}

extern "C" int lc_concat_backward_cuda(float *const *dxs, const float *dy, const int *cs, int k, int n, int hw,
                                       void *stream, struct lc_err *err)
{
    long total = 0, at = 0;
    for (int j = 0; j < k; j++) total += (long)cs[j] * hw;
    for (int j = 0; j < k; j++) {
        long len = (long)cs[j] * hw;
        if (dxs[j] && len > 0 && n > 0)
            concat_part<<<grid_for(n * len), THREADS, 0, LC_STREAM(stream)>>>((float *)dy, dxs[j], n, len, total,
                                                                                 at, 1);
        at += len;
    }
    return launched(err, "concat backward");
}

// y (n, c, h r, w r) from x (n, c r^2, h, w), PyTorch's channel order; the
// backward adds dy back along the same map (one dx element per dy element)
static __device__ __forceinline__ long shuffle_src(long i, int c, int h, int w, int r)
{
    int ho = h * r, wo = w * r;
    int xx = (int)(i % wo), yy = (int)(i / wo % ho), k = (int)(i / ((long)wo * ho) % c);
    long b = i / ((long)wo * ho * c);
    int ci = k * r * r + (yy % r) * r + xx % r;
    return ((b * c * r * r + ci) * h + yy / r) * w + xx / r;
}

static __global__ void shuffle_fwd(float *y, const float *x, long total, int c, int h, int w, int r)
{
    FOR_EACH(i, total) y[i] = x[shuffle_src(i, c, h, w, r)];
}

static __global__ void shuffle_bwd(float *dx, const float *dy, long total, int c, int h, int w, int r)
{
    FOR_EACH(i, total)
    {
        long s = shuffle_src(i, c, h, w, r);
        dx[s] = __fadd_rn(dx[s], dy[i]);
    }
}

extern "C" int lc_pixel_shuffle_forward_cuda(float *y, const float *x, int n, int c, int h, int w, int r,
                                             void *stream, struct lc_err *err)
{
    LAUNCH("pixel shuffle forward", (long)n * c * h * w * r * r, shuffle_fwd, y, x, (long)n * c * h * w * r * r, c, h,
           w, r);
}

extern "C" int lc_pixel_shuffle_backward_cuda(float *dx, const float *dy, int n, int c, int h, int w, int r,
                                              void *stream, struct lc_err *err)
{
    LAUNCH("pixel shuffle backward", (long)n * c * h * w * r * r, shuffle_bwd, dx, dy, (long)n * c * h * w * r * r, c,
           h, w, r);
}

// ---- broadcasts over (outer, dim, inner)

// s's value for element (o, d, i): s (outer, dim) or, s_over, (outer, inner)
static __device__ __forceinline__ float sval(const float *s, long o, long d, long i, int dim, int inner, int s_over)
{
    return s_over ? s[o * inner + i] : s[o * dim + d];
}

static __global__ void bcast_fwd(float *y, const float *x, const float *s, long total, int dim, int inner, int s_over)
{
    FOR_EACH(at, total)
    {
        long i = at % inner, d = at / inner % dim, o = at / ((long)inner * dim);
        y[at] = __fmul_rn(x[at], sval(s, o, d, i, dim, inner, s_over));
    }
}

static __global__ void bcast_bwd_dx(float *dx, const float *dy, const float *s, long total, int dim, int inner,
                                    int s_over)
{
    FOR_EACH(at, total)
    {
        long i = at % inner, d = at / inner % dim, o = at / ((long)inner * dim);
        dx[at] = __fadd_rn(dx[at], __fmul_rn(dy[at], sval(s, o, d, i, dim, inner, s_over)));
    }
}

// ds += sum of dy x over inner (s_over 0: one thread per (o, d)) or over dim
// (s_over 1: one thread per (o, i)), in double in the CPU's order
static __global__ void bcast_bwd_ds(float *ds, const float *dy, const float *x, long rows, int dim, int inner,
                                    int s_over)
{
    FOR_EACH(r, rows)
    {
        double acc = 0;
        if (!s_over) {
            const long base = r * inner; // r = o dim + d
            for (int i = 0; i < inner; i++) acc = __dadd_rn(acc, __dmul_rn(dy[base + i], x[base + i]));
        } else {
            const long o = r / inner, i = r % inner, base = o * dim * inner + i;
            for (int d = 0; d < dim; d++)
                acc = __dadd_rn(acc, __dmul_rn(dy[base + (long)d * inner], x[base + (long)d * inner]));
        }
        ds[r] = __fadd_rn(ds[r], (float)acc);
    }
}

extern "C" int lc_mul_bcast_forward_cuda(float *y, const float *x, const float *s, int outer, int dim, int inner,
                                         int s_over, void *stream, struct lc_err *err)
{
    LAUNCH("broadcast multiply", (long)outer * dim * inner, bcast_fwd, y, x, s, (long)outer * dim * inner, dim, inner,
           s_over);
}

extern "C" int lc_mul_bcast_backward_cuda(float *dx, float *ds, const float *dy, const float *x, const float *s,
                                          int outer, int dim, int inner, int s_over, void *stream, struct lc_err *err)
{
    long total = (long)outer * dim * inner, rows = (long)outer * (s_over ? inner : dim);
    cudaStream_t st = LC_STREAM(stream);
    if (dx && total > 0) bcast_bwd_dx<<<grid_for(total), THREADS, 0, st>>>(dx, dy, s, total, dim, inner, s_over);
    // ds even over an empty dim or inner: the CPU adds its 0 (-0 becomes +0)
    if (ds && rows > 0) bcast_bwd_ds<<<grid_for(rows), THREADS, 0, st>>>(ds, dy, x, rows, dim, inner, s_over);
    return launched(err, "broadcast multiply backward");
}

// ---- sums and norms along dim: one thread per (o, i) row

static __global__ void sum_dim_fwd(float *y, const float *x, long rows, int dim, int inner)
{
    FOR_EACH(r, rows)
    {
        const long base = r / inner * dim * inner + r % inner;
        double acc = 0;
        for (int d = 0; d < dim; d++) acc += x[base + (long)d * inner];
        y[r] = (float)acc;
    }
}

static __global__ void sum_dim_bwd(float *dx, const float *dy, long total, int dim, int inner)
{
    FOR_EACH(at, total)
    {
        long o = at / ((long)dim * inner), i = at % inner;
        dx[at] = __fadd_rn(dx[at], dy[o * inner + i]);
    }
}

static __global__ void l2norm_fwd(float *y, float *norm, const float *x, long rows, int dim, int inner, float eps)
{
    FOR_EACH(r, rows)
    {
        const long base = r / inner * dim * inner + r % inner;
        double ss = 0;
        for (int d = 0; d < dim; d++) {
            float v = x[base + (long)d * inner];
            ss = __dadd_rn(ss, __dmul_rn(v, v));
        }
        float nrm = (float)sqrt(ss), den = nrm > eps ? nrm : eps;
        norm[r] = nrm;
        for (int d = 0; d < dim; d++) y[base + (long)d * inner] = __fdiv_rn(x[base + (long)d * inner], den);
    }
}

static __global__ void l2norm_bwd(float *dx, const float *dy, const float *y, const float *norm, long rows, int dim,
                                  int inner, float eps)
{
    FOR_EACH(r, rows)
    {
        const long base = r / inner * dim * inner + r % inner;
        float nrm = norm[r];
        double dot = 0;
        for (int d = 0; d < dim; d++)
            dot = __dadd_rn(dot, __dmul_rn(dy[base + (long)d * inner], y[base + (long)d * inner]));
        for (int d = 0; d < dim; d++) {
            long at = base + (long)d * inner;
            float g = nrm > eps ? __fdiv_rn(__fadd_rn(dy[at], -__fmul_rn(y[at], (float)dot)), nrm)
                                : __fdiv_rn(dy[at], eps);
            dx[at] = __fadd_rn(dx[at], g);
        }
    }
}

extern "C" int lc_sum_dim_forward_cuda(float *y, const float *x, int outer, int dim, int inner, void *stream,
                                       struct lc_err *err)
{
    LAUNCH("sum along a dim", (long)outer * inner, sum_dim_fwd, y, x, (long)outer * inner, dim, inner);
}

extern "C" int lc_sum_dim_backward_cuda(float *dx, const float *dy, int outer, int dim, int inner, void *stream,
                                        struct lc_err *err)
{
    LAUNCH("sum along a dim backward", (long)outer * dim * inner, sum_dim_bwd, dx, dy, (long)outer * dim * inner, dim,
           inner);
}

extern "C" int lc_l2norm_forward_cuda(float *y, float *norm, const float *x, int outer, int dim, int inner, float eps,
                                      void *stream, struct lc_err *err)
{
    LAUNCH("l2 normalise", (long)outer * inner, l2norm_fwd, y, norm, x, (long)outer * inner, dim, inner, eps);
}

extern "C" int lc_l2norm_backward_cuda(float *dx, const float *dy, const float *y, const float *norm, int outer,
                                       int dim, int inner, float eps, void *stream, struct lc_err *err)
{
    LAUNCH("l2 normalise backward", (long)outer * inner, l2norm_bwd, dx, dy, y, norm, (long)outer * inner, dim, inner,
           eps);
}

// ---- softmax and log-softmax along dim (softmax.c): one thread per row

static __global__ void softmax_fwd(float *y, const float *x, long rows, int dim, int inner, int log_space)
{
    FOR_EACH(r, rows)
    {
        const long base = r / inner * dim * inner + r % inner;
        float mx = -INFINITY;
        for (int k = 0; k < dim; k++)
            if (x[base + (long)k * inner] > mx) mx = x[base + (long)k * inner];
        if (mx == -INFINITY) mx = 0.0f; // all -inf: as the CPU, a finite max
        double s = 0;
        for (int k = 0; k < dim; k++) s += exp((double)x[base + (long)k * inner] - mx);
        if (log_space) {
            double lse = mx + log(s);
            for (int k = 0; k < dim; k++) y[base + (long)k * inner] = (float)((double)x[base + (long)k * inner] - lse);
        } else {
            for (int k = 0; k < dim; k++)
                y[base + (long)k * inner] = (float)(exp((double)x[base + (long)k * inner] - mx) / s);
        }
    }
}

static __global__ void softmax_bwd(float *dx, const float *dy, const float *y, long rows, int dim, int inner,
                                   int log_space)
{
    FOR_EACH(r, rows)
    {
        const long base = r / inner * dim * inner + r % inner;
        double s = 0;
        for (int k = 0; k < dim; k++) {
            long j = base + (long)k * inner;
            s = __dadd_rn(s, log_space ? (double)dy[j] : __dmul_rn(dy[j], y[j]));
        }
        for (int k = 0; k < dim; k++) {
            long j = base + (long)k * inner;
            float g = log_space ? (float)__dadd_rn(dy[j], -__dmul_rn(exp((double)y[j]), s))
                                : (float)__dmul_rn(y[j], __dadd_rn(dy[j], -s));
            dx[j] = __fadd_rn(dx[j], g);
        }
    }
}

extern "C" int lc_softmax_forward_cuda(float *y, const float *x, int outer, int dim, int inner, void *stream,
                                       struct lc_err *err)
{
    LAUNCH("softmax", (long)outer * inner, softmax_fwd, y, x, (long)outer * inner, dim, inner, 0);
}

extern "C" int lc_softmax_backward_cuda(float *dx, const float *dy, const float *y, int outer, int dim, int inner,
                                        void *stream, struct lc_err *err)
{
    LAUNCH("softmax backward", (long)outer * inner, softmax_bwd, dx, dy, y, (long)outer * inner, dim, inner, 0);
}

extern "C" int lc_log_softmax_forward_cuda(float *y, const float *x, int outer, int dim, int inner, void *stream,
                                           struct lc_err *err)
{
    LAUNCH("log-softmax", (long)outer * inner, softmax_fwd, y, x, (long)outer * inner, dim, inner, 1);
}

extern "C" int lc_log_softmax_backward_cuda(float *dx, const float *dy, const float *y, int outer, int dim, int inner,
                                            void *stream, struct lc_err *err)
{
    LAUNCH("log-softmax backward", (long)outer * inner, softmax_bwd, dx, dy, y, (long)outer * inner, dim, inner, 1);
}
