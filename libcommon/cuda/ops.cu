// ops: CUDA twins of PReLU, batch norm and the SGD update (act.h, bn.h,
// optim.h), of the tensor arithmetic (tensorops.h) and of dropout
// (dropout.h). They mirror the CPU reference: per-channel sums in double, in a
// fixed order (one block per channel, a fixed tree), so results do not
// depend on scheduling and match the CPU's within float32 rounding; the
// SGD update uses the CPU's expression and operation order.
#include <cuda_runtime.h>

#include "../dropout.h"
#include "cuda.h"

#define THREADS 256

static int launched(struct lc_err *err, const char *what)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return 0;
    return lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: %s kernel: %s", what, cudaGetErrorString(e));
}

static unsigned grid_for(long total)
{
    long b = (total + THREADS - 1) / THREADS;
    return (unsigned)(b < 65535L * 32 ? (b > 0 ? b : 1) : 65535L * 32);
}

// Tree sum of the block's s[] (THREADS doubles); the result in s[0].
static __device__ void block_sum(double *s)
{
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
        __syncthreads();
    }
}

// ---- PReLU

static __global__ void prelu_fwd(float *y, const float *x, const float *a, long total, int c, int hw)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        float s = a[c == 1 ? 0 : (int)(i / hw % c)], v = x[i];
        y[i] = v > 0 ? v : s * v;
    }
}

static __global__ void prelu_bwd_dx(float *dx, const float *dy, const float *x, const float *a, long total, int c,
                                    int hw)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        float s = a[c == 1 ? 0 : (int)(i / hw % c)];
        dx[i] += x[i] > 0 ? dy[i] : __fmul_rn(s, dy[i]); // no FMA: the CPU build rounds the product
    }
}

// one block per channel k (c == 1: the whole tensor is one channel)
static __global__ void prelu_bwd_da(float *da, const float *dy, const float *x, int n, int c, int hw)
{
    __shared__ double s[THREADS];
    int k = blockIdx.x;
    long per = (long)(c == 1 ? (long)n * hw : hw), planes = c == 1 ? 1 : n;
    double acc = 0;
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + ((long)pl * c + k) * per, *dp = dy + ((long)pl * c + k) * per;
        for (long j = threadIdx.x; j < per; j += THREADS)
            if (xp[j] <= 0) acc += (double)dp[j] * xp[j];
    }
    s[threadIdx.x] = acc;
    block_sum(s);
    if (threadIdx.x == 0) da[k] += (float)s[0];
}

extern "C" int lc_prelu_forward_cuda(float *y, const float *x, const float *a, int n, int c, int hw, void *stream,
                                     struct lc_err *err)
{
    long total = (long)n * c * hw;
    if (total == 0) return 0;
    prelu_fwd<<<grid_for(total), THREADS, 0, (cudaStream_t)stream>>>(y, x, a, total, c, hw);
    return launched(err, "prelu forward");
}

extern "C" int lc_prelu_backward_cuda(float *dx, float *da, const float *dy, const float *x, const float *a, int n,
                                      int c, int hw, void *stream, struct lc_err *err)
{
    long total = (long)n * c * hw;
    if (total == 0) return 0;
    if (dx) prelu_bwd_dx<<<grid_for(total), THREADS, 0, (cudaStream_t)stream>>>(dx, dy, x, a, total, c, hw);
    if (da) prelu_bwd_da<<<c, THREADS, 0, (cudaStream_t)stream>>>(da, dy, x, n, c, hw);
    return launched(err, "prelu backward");
}

// ---- batch norm: statistics one block per channel, as bn.c does per thread

static __global__ void bn_stats(float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                                const float *x, int n, int c, int hw, float eps, float momentum)
{
    __shared__ double s[THREADS];
    int k = blockIdx.x;
    double m = (double)n * hw, acc = 0;
    for (int i = 0; i < n; i++)
        for (int j = threadIdx.x; j < hw; j += THREADS) acc += x[((long)i * c + k) * hw + j];
    s[threadIdx.x] = acc;
    block_sum(s);
    double mean = s[0] / m;
    __syncthreads();
    acc = 0;
    for (int i = 0; i < n; i++)
        for (int j = threadIdx.x; j < hw; j += THREADS) {
            double d = x[((long)i * c + k) * hw + j] - mean;
            acc += d * d;
        }
    s[threadIdx.x] = acc;
    block_sum(s);
    if (threadIdx.x) return;
    double q = s[0], var = q / m;
    save_mean[k] = (float)mean;
    save_invstd[k] = (float)(1.0 / sqrt(var + eps));
    if (run_mean) run_mean[k] = (float)((1.0 - momentum) * run_mean[k] + momentum * mean);
    if (run_var) run_var[k] = (float)((1.0 - momentum) * run_var[k] + momentum * (m > 1 ? q / (m - 1) : var));
}

// y = x a + b per channel, a and b formed in double as bn.c does: from the
// batch statistics (run_var NULL) or the running ones (eval)
static __global__ void bn_apply(float *y, const float *x, const float *mean, const float *invstd,
                                const float *run_var, const float *gamma, const float *beta, long total, int c,
                                int hw, float eps)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        int k = (int)(i / hw % c);
        double g = gamma ? (double)gamma[k] : 1.0;
        double a = run_var ? g / sqrt((double)run_var[k] + eps) : (double)invstd[k] * g;
        double b = (beta ? beta[k] : 0.0) - mean[k] * a;
        y[i] = x[i] * (float)a + (float)b;
    }
}

static __global__ void bn_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                              const float *save_mean, const float *save_invstd, const float *gamma, int n, int c,
                              int hw)
{
    __shared__ double s[THREADS], t[THREADS];
    int k = blockIdx.x;
    float mean = save_mean[k];
    double a = 0, b = 0, m = (double)n * hw;
    for (int i = 0; i < n; i++)
        for (int j = threadIdx.x; j < hw; j += THREADS) {
            long o = ((long)i * c + k) * hw + j;
            a += dy[o];
            b += (double)dy[o] * (x[o] - mean);
        }
    s[threadIdx.x] = a;
    t[threadIdx.x] = b;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w], t[threadIdx.x] += t[threadIdx.x + w];
        __syncthreads();
    }
    double sdy = s[0], sdyx = t[0], invstd = save_invstd[k];
    if (threadIdx.x == 0) {
        if (dgamma) dgamma[k] += (float)(sdyx * invstd);
        if (dbeta) dbeta[k] += (float)sdy;
    }
    if (!dx) return;
    float kk = (float)((gamma ? gamma[k] : 1.0) * invstd), mdy = (float)(sdy / m);
    float kx = (float)(sdyx / m * invstd * invstd);
    for (int i = 0; i < n; i++)
        for (int j = threadIdx.x; j < hw; j += THREADS) {
            long o = ((long)i * c + k) * hw + j;
            dx[o] += kk * (dy[o] - mdy - (x[o] - mean) * kx);
        }
}

extern "C" int lc_bn_forward_train_cuda(float *y, float *save_mean, float *save_invstd, float *run_mean,
                                        float *run_var, const float *x, const float *gamma, const float *beta,
                                        const struct lc_bn *p, void *stream, struct lc_err *err)
{
    cudaStream_t st = (cudaStream_t)stream;
    bn_stats<<<p->c, THREADS, 0, st>>>(save_mean, save_invstd, run_mean, run_var, x, p->n, p->c, p->hw, p->eps,
                                       p->momentum);
    long total = (long)p->n * p->c * p->hw;
    bn_apply<<<grid_for(total), THREADS, 0, st>>>(y, x, save_mean, save_invstd, NULL, p->affine ? gamma : NULL,
                                                  p->affine ? beta : NULL, total, p->c, p->hw, p->eps);
    return launched(err, "batch norm forward");
}

extern "C" int lc_bn_forward_eval_cuda(float *y, const float *x, const float *gamma, const float *beta,
                                       const float *run_mean, const float *run_var, const struct lc_bn *p,
                                       void *stream, struct lc_err *err)
{
    long total = (long)p->n * p->c * p->hw;
    bn_apply<<<grid_for(total), THREADS, 0, (cudaStream_t)stream>>>(y, x, run_mean, NULL, run_var,
                                                                    p->affine ? gamma : NULL,
                                                                    p->affine ? beta : NULL, total, p->c, p->hw,
                                                                    p->eps);
    return launched(err, "batch norm eval");
}

extern "C" int lc_bn_backward_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                   const float *save_mean, const float *save_invstd, const float *gamma,
                                   const struct lc_bn *p, void *stream, struct lc_err *err)
{
    bn_bwd<<<p->c, THREADS, 0, (cudaStream_t)stream>>>(dx, p->affine ? dgamma : NULL, p->affine ? dbeta : NULL, dy,
                                                       x, save_mean, save_invstd, p->affine ? gamma : NULL, p->n,
                                                       p->c, p->hw);
    return launched(err, "batch norm backward");
}

// ---- SGD: the CPU's expression, element by element

static __global__ void sgd(float *p, float *buf, const float *g, long n, lc_sgd_args a)
{
    const float damp = 1 - a.dampening;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float d = a.weight_decay != 0 ? __fadd_rn(g[i], __fmul_rn(a.weight_decay, p[i])) : g[i];
        if (buf) {
            buf[i] = a.first ? d : __fadd_rn(__fmul_rn(buf[i], a.momentum), __fmul_rn(damp, d));
            d = a.nesterov ? __fadd_rn(d, __fmul_rn(a.momentum, buf[i])) : buf[i];
        }
        p[i] = __fadd_rn(p[i], __fmul_rn(-a.lr, d));
    }
}

extern "C" int lc_sgd_update_cuda(float *p, float *buf, const float *g, size_t n, const struct lc_sgd_args *a,
                                  void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    sgd<<<grid_for((long)n), THREADS, 0, (cudaStream_t)stream>>>(p, buf, g, (long)n, *a);
    return launched(err, "sgd update");
}

// ---- tensor arithmetic (tensorops.h)

static __global__ void add(float *y, const float *a, const float *b, long n)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

static __global__ void subsample_add(float *y, const float *x, long total, int h, int w, int s, int ho, int wo)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long nc = i / ((long)ho * wo);
        int r = (int)(i % ((long)ho * wo)), oi = r / wo, oj = r % wo;
        y[i] += x[nc * h * w + (long)oi * s * w + (long)oj * s];
    }
}

// one block per row; the sum of squares in double, in a fixed tree
static __global__ void l2norm_rows(float *y, float *norm, const float *x, int d)
{
    __shared__ double s[THREADS];
    const float *r = x + (long)blockIdx.x * d;
    double acc = 0;
    for (int k = threadIdx.x; k < d; k += THREADS) acc += (double)r[k] * r[k];
    s[threadIdx.x] = acc;
    block_sum(s);
    float nm = (float)sqrt(s[0]);
    __syncthreads();
    if (threadIdx.x == 0) norm[blockIdx.x] = nm;
    for (int k = threadIdx.x; k < d; k += THREADS) y[(long)blockIdx.x * d + k] = __fdiv_rn(r[k], nm);
}

static __global__ void scale(float *y, const float *x, float s, long n)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] = __fmul_rn(s, x[i]);
}

extern "C" int lc_scale_cuda(float *y, const float *x, float s, size_t n, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    scale<<<grid_for((long)n), THREADS, 0, (cudaStream_t)stream>>>(y, x, s, (long)n);
    return launched(err, "scale");
}

extern "C" int lc_add_forward_cuda(float *y, const float *a, const float *b, size_t n, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    add<<<grid_for((long)n), THREADS, 0, (cudaStream_t)stream>>>(y, a, b, (long)n);
    return launched(err, "add");
}

extern "C" int lc_subsample_add_cuda(float *y, const float *x, int n, int c, int h, int w, int s, void *stream,
                                     struct lc_err *err)
{
    int ho = (h - 1) / s + 1, wo = (w - 1) / s + 1;
    long total = (long)n * c * ho * wo;
    if (total == 0) return 0;
    subsample_add<<<grid_for(total), THREADS, 0, (cudaStream_t)stream>>>(y, x, total, h, w, s, ho, wo);
    return launched(err, "subsample add");
}

extern "C" int lc_l2norm_rows_cuda(float *y, float *norm, const float *x, int n, int d, void *stream,
                                   struct lc_err *err)
{
    if (n == 0) return 0;
    l2norm_rows<<<n, THREADS, 0, (cudaStream_t)stream>>>(y, norm, x, d);
    return launched(err, "l2 norm");
}

// ---- training's elementwise ops and row reductions (tensorops.h, dropout.h)

// Each dy element goes to its own dx position (distinct for s >= 1): no
// two threads touch one dx, so no atomics, and one add as the CPU does.
static __global__ void subsample_bwd(float *dx, const float *dy, long total, int h, int w, int s, int ho, int wo)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long nc = i / ((long)ho * wo);
        int r = (int)(i % ((long)ho * wo)), oi = r / wo, oj = r % wo;
        dx[nc * h * w + (long)oi * s * w + (long)oj * s] += dy[i];
    }
}

// one block per row: <dy, y> in double (a fixed tree), then the CPU's float
// expression with every rounding spelled out (no FMA); writes dx
static __global__ void l2norm_rows_bwd(float *dx, const float *dy, const float *dnorm, const float *y,
                                       const float *norm, int d)
{
    __shared__ double s[THREADS];
    long row = (long)blockIdx.x * d;
    const float *e = y + row, *de = dy + row;
    double acc = 0;
    for (int k = threadIdx.x; k < d; k += THREADS) acc += (double)de[k] * e[k]; // exact products
    s[threadIdx.x] = acc;
    block_sum(s);
    float dot = (float)s[0], inv = __fdiv_rn(1.0f, norm[blockIdx.x]), dn = dnorm ? dnorm[blockIdx.x] : 0.0f;
    for (int k = threadIdx.x; k < d; k += THREADS)
        dx[row + k] = __fadd_rn(__fmul_rn(__fsub_rn(de[k], __fmul_rn(e[k], dot)), inv), __fmul_rn(dn, e[k]));
}

static __global__ void dropout_mask(uint8_t *mask, long n, float p, uint64_t key)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        mask[i] = lc_dropout_uniform(key, (uint64_t)i) >= p;
}

// keep: 1 / (1 - p) as the host rounds it; scale 0: p <= 0, x passes as is
static __global__ void dropout_apply(float *y, const float *x, const uint8_t *mask, long n, float keep, int scale)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] = mask[i] ? (scale ? __fmul_rn(x[i], keep) : x[i]) : 0.0f;
}

static __global__ void dropout_bwd(float *dx, const float *dy, const uint8_t *mask, long n, float keep)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        if (mask[i]) dx[i] = __fadd_rn(dx[i], __fmul_rn(dy[i], keep));
}

// one block per row. The CPU keeps the first index whose value beats every
// earlier best (r[k] > r[best]): the first index of the largest non-NaN
// value, or 0 when r[0] is NaN or every value is. Each thread scans its
// stride in order; the tree keeps the larger value, the smaller index on ties.
static __global__ void argmax_rows(int32_t *idx, const float *x, int c)
{
    __shared__ float sv[THREADS];
    __shared__ int si[THREADS];
    const float *r = x + (long)blockIdx.x * c;
    float best = 0;
    int at = -1;
    for (int k = threadIdx.x; k < c; k += THREADS) {
        float v = r[k];
        if (v == v && (at < 0 || v > best)) best = v, at = k;
    }
    sv[threadIdx.x] = best;
    si[threadIdx.x] = at;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) {
            float ov = sv[threadIdx.x + w];
            int oi = si[threadIdx.x + w], mi = si[threadIdx.x];
            if (oi >= 0 && (mi < 0 || ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < mi)))
                sv[threadIdx.x] = ov, si[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) idx[blockIdx.x] = c > 0 && r[0] != r[0] ? 0 : (si[0] < 0 ? 0 : si[0]);
}

extern "C" int lc_subsample_backward_cuda(float *dx, const float *dy, int n, int c, int h, int w, int s, void *stream,
                                          struct lc_err *err)
{
    int ho = (h - 1) / s + 1, wo = (w - 1) / s + 1;
    long total = (long)n * c * ho * wo;
    if (total == 0) return 0;
    subsample_bwd<<<grid_for(total), THREADS, 0, (cudaStream_t)stream>>>(dx, dy, total, h, w, s, ho, wo);
    return launched(err, "subsample backward");
}

extern "C" int lc_l2norm_rows_backward_cuda(float *dx, const float *dy, const float *dnorm, const float *y,
                                            const float *norm, int n, int d, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    l2norm_rows_bwd<<<n, THREADS, 0, (cudaStream_t)stream>>>(dx, dy, dnorm, y, norm, d);
    return launched(err, "l2 norm backward");
}

extern "C" int lc_dropout_mask_cuda(uint8_t *mask, size_t n, float p, uint64_t key, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    if (p <= 0.0f) {
        cudaError_t e = cudaMemsetAsync(mask, 1, n, (cudaStream_t)stream);
        return e == cudaSuccess ? 0
                                : lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: dropout mask: %s", cudaGetErrorString(e));
    }
    dropout_mask<<<grid_for((long)n), THREADS, 0, (cudaStream_t)stream>>>(mask, (long)n, p, key);
    return launched(err, "dropout mask");
}

extern "C" int lc_dropout_apply_cuda(float *y, const float *x, const uint8_t *mask, size_t n, float p, void *stream,
                                     struct lc_err *err)
{
    if (n == 0) return 0;
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
    dropout_apply<<<grid_for((long)n), THREADS, 0, (cudaStream_t)stream>>>(y, x, mask, (long)n, keep, !(p <= 0.0f));
    return launched(err, "dropout");
}

extern "C" int lc_dropout_backward_cuda(float *dx, const float *dy, const uint8_t *mask, size_t n, float p,
                                        void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
    dropout_bwd<<<grid_for((long)n), THREADS, 0, (cudaStream_t)stream>>>(dx, dy, mask, (long)n, keep);
    return launched(err, "dropout backward");
}

extern "C" int lc_argmax_rows_cuda(int32_t *idx, const float *x, int n, int c, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    argmax_rows<<<n, THREADS, 0, (cudaStream_t)stream>>>(idx, x, c);
    return launched(err, "argmax");
}
