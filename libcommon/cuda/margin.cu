// margin: CUDA twins of the margin head's logits and backward (margin.h)
// and of the per-row cross-entropy (softmax.h). The workspace has the CPU's
// layout (lc_margin_carve), so lc_margin_workspace(p) floats serve both.
// The GEMMs run on cuBLAS in float32 with TF32 off; a
// row-major (R, K) matrix is a column-major (K, R) one to cuBLAS, so
//   raw^T  = Wn^T E^T          : gemm(N, N, C, N, D)
//   dE^T  += Wn dRaw^T         : gemm(T, N, D, N, C)
//   dWn_b^T = dRaw_b^T E       : gemm(N, T, cb, D, N), per block of columns
// Column norms and <dWn, Wn> are summed in double one thread per column,
// in index order as the CPU does (coalesced over columns); softmax sums are
// in double one block per row in a fixed tree. No float atomics anywhere:
// results do not depend on scheduling.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>

#include "kernel.cuh"

static int blas_ok(cublasStatus_t st, struct lc_err *err, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS) return 0;
    return lc_errf(err, LC_EIO, NULL, -1, -1, "cuBLAS: %s: %s", what, cublasGetStatusString(st));
}

static int blas_on(cublasHandle_t *h, void *stream, struct lc_err *err)
{
    void *v;
    int rc = lc_cuda_blas_handle(&v, stream, err);
    *h = (cublasHandle_t)v;
    return rc;
}

// ---- margin logits

// inv[c] = 1 / ||W[:, c]||: one thread per column, the CPU's sum in order
// (float products are exact in double, so a fused add rounds the same)
static __global__ void col_inv(float *inv, const float *kernel, int d, int c)
{
    FOR_EACH(j, c) {
        double ss = 0;
        for (int k = 0; k < d; k++) {
            double v = kernel[(long)k * c + j];
            ss += v * v;
        }
        inv[j] = (float)(1.0 / sqrt(ss));
    }
}

static __global__ void scale_cols(float *wn, const float *kernel, const float *inv, long total, int c)
{
    FOR_EACH(i, total) wn[i] = __fmul_rn(kernel[i], inv[i % c]);
}

static __global__ void clamp_logits(float *logits, float *cos, const float *raw, long total, float lo, float hi, float s)
{
    FOR_EACH(i, total) {
        float v = raw[i], cv = v < lo ? lo : v > hi ? hi : v;
        cos[i] = cv;
        logits[i] = __fmul_rn(s, cv);
    }
}

// one thread per row: the margin at the target, as lc_margin_logits does;
// tfac = d logit / d cos at the target over s (1 for CosFace). A label
// outside [0, C) gets no margin (the CPU would index out of bounds).
static __global__ void targets(float *logits, float *theta_out, float *tfac, const float *cos, const float *scaler,
                               const int64_t *labels, lc_margin p)
{
    const float pi = 3.14159265358979323846f;
    FOR_EACH(i, p.n) {
        int64_t y = labels[i];
        tfac[i] = 1;
        if (y < 0 || y >= p.classes) continue;
        long at = i * p.classes + y;
        float c = cos[at];
        if (p.kind == LC_MARGIN_COSFACE) {
            logits[at] = __fmul_rn(p.s, __fsub_rn(c, p.m));
            continue;
        }
        float theta = acosf(c);
        float add = p.kind == LC_MARGIN_ARCFACE ? p.m : __fmul_rn(-p.m, scaler[i]);
        float t = __fadd_rn(theta, add), tc = t < p.eps ? p.eps : t > pi - p.eps ? pi - p.eps : t;
        float out = cosf(tc);
        if (p.kind == LC_MARGIN_ADAFACE) out = __fsub_rn(out, __fadd_rn(p.m, __fmul_rn(p.m, scaler[i])));
        logits[at] = __fmul_rn(p.s, out);
        theta_out[i] = theta;
        int passes = t >= p.eps && t <= pi - p.eps;
        tfac[i] = passes ? __fdiv_rn(sinf(tc), sqrtf(__fsub_rn(1.0f, __fmul_rn(c, c)))) : 0.0f;
    }
}

extern "C" int lc_margin_logits_cuda(float *logits, float *cos, const float *scaler, const float *emb,
                                     const float *kernel, const int64_t *labels, const struct lc_margin *p, float *ws,
                                     void *stream, struct lc_err *err)
{
    const int N = p->n, D = p->d, C = p->classes;
    cudaStream_t st = LC_STREAM(stream);
    cublasHandle_t h;
    int rc = blas_on(&h, stream, err);
    if (rc) return rc;
    struct lc_margin_ws w = lc_margin_carve(p, ws);
    col_inv<<<grid_for(C), THREADS, 0, st>>>(w.inv, kernel, D, C);
    scale_cols<<<grid_for((long)D * C), THREADS, 0, st>>>(w.wn, kernel, w.inv, (long)D * C, C);
    if ((rc = launched(err, "margin column norms"))) return rc;
    const float one = 1, zero = 0;
    rc = blas_ok(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, C, N, D, &one, w.wn, C, emb, D, &zero, w.raw, C), err,
                 "margin cosines");
    if (rc) return rc;
    clamp_logits<<<grid_for((long)N * C), THREADS, 0, st>>>(logits, cos, w.raw, (long)N * C, -1 + p->eps, 1 - p->eps,
                                                            p->s);
    targets<<<grid_for(N), THREADS, 0, st>>>(logits, w.theta, w.tfac, cos, scaler, labels, *p);
    return launched(err, "margin logits");
}

// ---- margin backward

// dRaw = s * dlogits * (tfac at the target) where the clamp passed, in
// place of raw
static __global__ void draw(float *raw, const float *dlogits, const float *tfac, const int64_t *labels, long total,
                            int c, float lo, float hi, float s)
{
    FOR_EACH(i, total) {
        long row = i / c;
        int k = (int)(i % c), y = (int)labels[row];
        float v = raw[i], g = __fmul_rn(__fmul_rn(s, dlogits[i]), k == y ? tfac[row] : 1.0f);
        raw[i] = v >= lo && v <= hi ? g : 0.0f; // torch.clamp passes the gradient at the bounds too
    }
}

// through Wn = W / ||W||, one thread per column of the block (cb columns
// from c0): dW[:, c] += (dWn[:, c] - Wn[:, c] <dWn[:, c], Wn[:, c]>) / ||W[:, c]||
static __global__ void col_project(float *dkernel, const float *block, const float *wn, const float *inv, int d,
                                   int c, int c0, int cb)
{
    FOR_EACH(j, cb) {
        long col = c0 + j;
        double dot = 0;
        for (int k = 0; k < d; k++) dot += (double)block[(long)k * cb + j] * wn[(long)k * c + col];
        float fd = (float)dot, iv = inv[col];
        for (int k = 0; k < d; k++) {
            long at = (long)k * c + col;
            dkernel[at] = __fadd_rn(dkernel[at], __fmul_rn(__fsub_rn(block[(long)k * cb + j], __fmul_rn(wn[at], fd)), iv));
        }
    }
}

extern "C" int lc_margin_backward_cuda(float *demb, float *dkernel, const float *dlogits, const float *emb,
                                       const int64_t *labels, const struct lc_margin *p, float *ws, void *stream,
                                       struct lc_err *err)
{
    const int N = p->n, D = p->d, C = p->classes;
    cudaStream_t st = LC_STREAM(stream);
    cublasHandle_t h;
    int rc = blas_on(&h, stream, err);
    if (rc) return rc;
    struct lc_margin_ws w = lc_margin_carve(p, ws);
    draw<<<grid_for((long)N * C), THREADS, 0, st>>>(w.raw, dlogits, w.tfac, labels, (long)N * C, C, -1 + p->eps,
                                                    1 - p->eps, p->s);
    if ((rc = launched(err, "margin backward"))) return rc;
    const float one = 1, zero = 0;
    if (demb && (rc = blas_ok(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, D, N, C, &one, w.wn, C, w.raw, C, &one, demb,
                                          D),
                              err, "margin backward (embeddings)")))
        return rc;
    if (!dkernel) return 0;
    for (int c0 = 0; c0 < C; c0 += LC_MARGIN_BLOCK) {
        int cb = C - c0 < LC_MARGIN_BLOCK ? C - c0 : LC_MARGIN_BLOCK;
        rc = blas_ok(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, cb, D, N, &one, w.raw + c0, C, emb, D, &zero, w.block,
                                 cb),
                     err, "margin backward (kernel)");
        if (rc) return rc;
        col_project<<<grid_for(cb), THREADS, 0, st>>>(dkernel, w.block, w.wn, w.inv, D, C, c0, cb);
        if ((rc = launched(err, "margin backward (kernel)"))) return rc;
    }
    return 0;
}

// ---- cross-entropy per row

static __device__ int valid_label(int64_t l, int c) { return l >= 0 && l < c; }

// one block per row: the max, then sum exp(x - max) and sum x in double in
// a fixed tree, then the softmax and the row's (smoothed) loss
static __global__ void ce_rows(float *prob, float *row_loss, const float *logits, const int64_t *labels, int c,
                               float smoothing)
{
    __shared__ float sm[THREADS];
    __shared__ double s1[THREADS], s2[THREADS];
    const float *x = logits + (long)blockIdx.x * c;
    float *pr = prob + (long)blockIdx.x * c;
    float mx = -INFINITY;
    for (int k = threadIdx.x; k < c; k += THREADS)
        if (x[k] > mx) mx = x[k]; // NaN never wins, as on the CPU
    sm[threadIdx.x] = mx;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w && sm[threadIdx.x + w] > sm[threadIdx.x]) sm[threadIdx.x] = sm[threadIdx.x + w];
        __syncthreads();
    }
    mx = sm[0];
    double s = 0, sx = 0;
    for (int k = threadIdx.x; k < c; k += THREADS) s += exp((double)x[k] - mx), sx += x[k];
    s1[threadIdx.x] = s;
    s2[threadIdx.x] = sx;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s1[threadIdx.x] += s1[threadIdx.x + w], s2[threadIdx.x] += s2[threadIdx.x + w];
        __syncthreads();
    }
    double lse = mx + log(s1[0]), sum_x = s2[0];
    for (int k = threadIdx.x; k < c; k += THREADS) pr[k] = (float)exp((double)x[k] - lse);
    if (threadIdx.x) return;
    int64_t l = labels[blockIdx.x];
    row_loss[blockIdx.x] =
        valid_label(l, c)
            ? (float)__dadd_rn(__dmul_rn(1.0 - smoothing, lse - x[l]), __dmul_rn((double)smoothing, lse - sum_x / c))
            : 0.0f;
}

// one block per row; each block counts the valid labels itself (n int
// reads), so the launcher needs no scratch and no second pass
static __global__ void ce_bwd(float *dlogits, const float *prob, const int64_t *labels, int n, int c,
                              float smoothing, float scale)
{
    __shared__ int cnt[THREADS];
    int m = 0;
    for (int i = threadIdx.x; i < n; i += THREADS) m += valid_label(labels[i], c);
    cnt[threadIdx.x] = m;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) cnt[threadIdx.x] += cnt[threadIdx.x + w];
        __syncthreads();
    }
    int counted = cnt[0];
    int64_t l = labels[blockIdx.x];
    if (!counted || !valid_label(l, c)) return;
    const double g = (double)scale / counted, off = (double)smoothing / c;
    const float *pr = prob + (long)blockIdx.x * c;
    float *d = dlogits + (long)blockIdx.x * c;
    for (int k = threadIdx.x; k < c; k += THREADS) {
        double t = off + (k == l ? 1.0 - smoothing : 0.0);
        d[k] = __fadd_rn(d[k], (float)__dmul_rn(g, (double)pr[k] - t));
    }
}

extern "C" int lc_cross_entropy_rows_cuda(float *prob, float *row_loss, const float *logits, const int64_t *labels,
                                          int n, int c, float smoothing, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    ce_rows<<<n, THREADS, 0, LC_STREAM(stream)>>>(prob, row_loss, logits, labels, c, smoothing);
    return launched(err, "cross-entropy");
}

extern "C" int lc_cross_entropy_backward_cuda(float *dlogits, const float *prob, const int64_t *labels, int n, int c,
                                              float smoothing, float scale, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    ce_bwd<<<n, THREADS, 0, LC_STREAM(stream)>>>(dlogits, prob, labels, n, c, smoothing, scale);
    return launched(err, "cross-entropy backward");
}
