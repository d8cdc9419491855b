// linear: CUDA twin of lc_linear_* (linear.h) on cuBLAS. Row-major (N,In)
// x and (Out,In) W are column-major x^T and W^T to cuBLAS, so
//   y^T = W x^T      : gemm(T, N, Out, N, In)
//   dx^T += W^T dy^T : gemm(N, N, In, N, Out)
//   dw^T += x^T dy   : gemm(N, T, In, Out, N)
// in float32 with TF32 off (CUBLAS_DEFAULT_MATH), so results agree with the
// CPU's SGEMM to float32 rounding. db: column sums of dy in double, one
// block per output.
// The 16-bit twins (mixed.h) run the same products with cublasGemmEx on
// half or bfloat16 operands and CUBLAS_COMPUTE_32F; the handle forbids
// split-K reductions in the 16-bit output type, so each dt output is
// rounded once from float32 (dx blended with beta = 1). With a bias, y
// goes through a float32 scratch (y = round(x W^T + b)); dw is written in
// dt into a scratch and then added to the float32 dw.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "../dtype.h" // the LC_DTYPE_* codes only: the library links none of dtype.c
#include "kernel.cuh"

static int blas_ok(cublasStatus_t st, struct lc_err *err, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS) return 0;
    return lc_errf(err, LC_EIO, NULL, -1, -1, "cuBLAS: %s: %s", what, cublasGetStatusString(st));
}

// one handle per host thread, made on first use on the thread's current
// device; *h is it, bound to stream
static thread_local cublasHandle_t handle;
static thread_local void *blas_ws;
static thread_local size_t blas_ws_size;
// the workspace NVIDIA's cuBLAS guide recommends for Hopper (more than enough before it)
#define BLAS_WORKSPACE ((size_t)32 << 20)

static int blas(cublasHandle_t *h, void *stream, struct lc_err *err)
{
    if (!handle) {
        cublasStatus_t st = cublasCreate(&handle);
        if (st != CUBLAS_STATUS_SUCCESS) {
            handle = NULL;
            return lc_errf(err, LC_EIO, NULL, -1, -1, "cuBLAS: cannot create a handle: %s", cublasGetStatusString(st));
        }
        // no TF32; 16-bit outputs reduced in float32 (no effect on SGEMM)
        int rc = blas_ok(cublasSetMathMode(handle, (cublasMath_t)(CUBLAS_DEFAULT_MATH |
                                                                  CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
                         err, "cublasSetMathMode");
        if (rc) {
            cublasDestroy(handle);
            handle = NULL;
            return rc;
        }
    }
    *h = handle;
    // our own workspace (cublasSetStream drops any): cuBLAS's default one
    // would be allocated inside a graph capture, as the graph's own memory
    int rc = blas_ok(cublasSetStream(handle, LC_STREAM(stream)), err, "cublasSetStream");
    if (!rc) rc = lc_cuda_grow(&blas_ws, &blas_ws_size, BLAS_WORKSPACE, stream, "cuBLAS workspace", err);
    return rc ? rc : blas_ok(cublasSetWorkspace(handle, blas_ws, blas_ws_size), err, "cublasSetWorkspace");
}

// the same handle for margin.cu (one per host thread, TF32 off), bound to stream
extern "C" int lc_cuda_blas_handle(void **h, void *stream, struct lc_err *err)
{
    cublasHandle_t t = NULL;
    int rc = blas(&t, stream, err);
    *h = t;
    return rc;
}

static __global__ void add_bias(float *y, const float *b, long total, int out)
{
    FOR_EACH(i, total) y[i] += b[i % out];
}

template <typename T> static __global__ void col_sums(float *db, const T *dy, int n, int out)
{
    __shared__ double s[THREADS];
    int k = blockIdx.x;
    double acc = 0;
    for (int i = threadIdx.x; i < n; i += THREADS) acc += to_f(dy[(long)i * out + k]);
    s[threadIdx.x] = acc;
    block_sum(s);
    if (threadIdx.x == 0) db[k] += (float)s[0];
}

extern "C" int lc_linear_forward_cuda(float *y, const float *x, const float *w, const float *b,
                                      const struct lc_linear *p, void *stream, struct lc_err *err)
{
    cublasHandle_t h;
    int rc = blas(&h, stream, err);
    if (rc) return rc;
    const float one = 1, zero = 0;
    rc = blas_ok(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, p->out, p->n, p->in, &one, w, p->in, x, p->in, &zero, y,
                             p->out),
                 err, "linear forward");
    if (rc || !b) return rc;
    long total = (long)p->n * p->out;
    add_bias<<<grid_for(total), THREADS, 0, LC_STREAM(stream)>>>(y, b, total, p->out);
    return launched(err, "bias");
}

extern "C" int lc_linear_backward_cuda(float *dx, float *dw, float *db, const float *dy, const float *x,
                                       const float *w, const struct lc_linear *p, void *stream, struct lc_err *err)
{
    cublasHandle_t h;
    int rc = blas(&h, stream, err);
    if (rc) return rc;
    const float one = 1;
    if (dx && (rc = blas_ok(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, p->in, p->n, p->out, &one, w, p->in, dy, p->out,
                                        &one, dx, p->in),
                            err, "linear backward (dx)")))
        return rc;
    if (dw && (rc = blas_ok(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, p->in, p->out, p->n, &one, x, p->in, dy, p->out,
                                        &one, dw, p->in),
                            err, "linear backward (dw)")))
        return rc;
    if (db) {
        col_sums<float><<<p->out, THREADS, 0, LC_STREAM(stream)>>>(db, dy, p->n, p->out);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            return lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: bias gradient kernel: %s", cudaGetErrorString(e));
    }
    return 0;
}

// ---- 16-bit activations (mixed.h): dt LC_DTYPE_F16 or LC_DTYPE_BF16 (F32
// runs the float32 ops above)

// one scratch per host thread, grown as needed: y before its bias (float32)
// or the dt weight gradient
static thread_local void *scratch;
static thread_local size_t scratch_size;

extern "C" void lc_linear_thread_release(void)
{
    lc_cuda_drop(&scratch, &scratch_size);
    lc_cuda_drop(&blas_ws, &blas_ws_size);
    if (handle) cublasDestroy(handle);
    handle = NULL;
}

static int scratch_get(size_t bytes, void *stream, struct lc_err *err)
{
    return lc_cuda_grow(&scratch, &scratch_size, bytes, stream, "linear scratch", err);
}

// cuBLAS's type of dt; LC_EINVAL (err filled) unless F16 or BF16
static int blas_type(int dt, cudaDataType_t *t, struct lc_err *err)
{
    if (dt == LC_DTYPE_F16 || dt == LC_DTYPE_BF16) {
        *t = dt == LC_DTYPE_F16 ? CUDA_R_16F : CUDA_R_16BF;
        return 0;
    }
    return lc_errf(err, LC_EINVAL, NULL, -1, -1, "cuBLAS: linear element type %d (not f32, f16 or bf16)", dt);
}

extern "C" int lc_linear_forward_dt_cuda(int dt, void *y, const void *x, const void *w, const float *b,
                                         const struct lc_linear *p, void *stream, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32)
        return lc_linear_forward_cuda((float *)y, (const float *)x, (const float *)w, b, p, stream, err);
    cudaDataType_t t = CUDA_R_16F;
    cublasHandle_t h;
    int rc = blas_type(dt, &t, err);
    if (rc || (rc = blas(&h, stream, err))) return rc;
    const float one = 1, zero = 0;
    long total = (long)p->n * p->out;
    if (!b)
        return blas_ok(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, p->out, p->n, p->in, &one, w, t, p->in, x, t, p->in,
                                    &zero, y, t, p->out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                       err, "linear forward");
    if ((rc = scratch_get((size_t)total * sizeof(float), stream, err))) return rc;
    float *acc = (float *)scratch;
    if ((rc = blas_ok(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, p->out, p->n, p->in, &one, w, t, p->in, x, t, p->in,
                                   &zero, acc, CUDA_R_32F, p->out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      err, "linear forward")))
        return rc;
    add_bias<<<grid_for(total), THREADS, 0, LC_STREAM(stream)>>>(acc, b, total, p->out);
    if ((rc = launched(err, "bias"))) return rc;
    return lc_cast_cuda(y, dt, acc, LC_DTYPE_F32, (size_t)total, stream, err);
}

extern "C" int lc_linear_backward_dt_cuda(int dt, void *dx, float *dw, float *db, const void *dy, const void *x,
                                          const void *w, const struct lc_linear *p, void *stream, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32)
        return lc_linear_backward_cuda((float *)dx, dw, db, (const float *)dy, (const float *)x, (const float *)w, p,
                                       stream, err);
    cudaDataType_t t = CUDA_R_16F;
    cublasHandle_t h;
    int rc = blas_type(dt, &t, err);
    if (rc || (rc = blas(&h, stream, err))) return rc;
    const float one = 1, zero = 0;
    if (dx && (rc = blas_ok(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, p->in, p->n, p->out, &one, w, t, p->in, dy, t,
                                         p->out, &one, dx, t, p->in, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                            err, "linear backward (dx)")))
        return rc;
    if (dw) {
        size_t nw = (size_t)p->out * p->in;
        if ((rc = scratch_get(nw * 2, stream, err))) return rc;
        if ((rc = blas_ok(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_T, p->in, p->out, p->n, &one, x, t, p->in, dy, t,
                                       p->out, &zero, scratch, t, p->in, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                          err, "linear backward (dw)")) ||
            (rc = lc_cast_add_cuda(dw, scratch, dt, nw, stream, err)))
            return rc;
    }
    if (db) {
        if (dt == LC_DTYPE_F16)
            col_sums<__half><<<p->out, THREADS, 0, LC_STREAM(stream)>>>(db, (const __half *)dy, p->n, p->out);
        else
            col_sums<__nv_bfloat16>
                <<<p->out, THREADS, 0, LC_STREAM(stream)>>>(db, (const __nv_bfloat16 *)dy, p->n, p->out);
        if ((rc = launched(err, "bias gradient"))) return rc;
    }
    return 0;
}

// ---- batched matmul (matmul.h): C[b] = op(A[b]) op(B[b]), row-major

// Row-major C (mm,nn) = op(A) (mm,kk) op(B) (kk,nn) + beta C for each of
// batch products, A, B, C with row strides lda, ldb, nn and batch strides
// sa, sb, sc: to column-major cuBLAS that is C^T = op(B)^T op(A)^T. The
// same arguments as matmul.c's batched(), so the products match it.
static int gemm_rows(cublasHandle_t h, int batch, int ta, int tb, int mm, int nn, int kk, const float *a, int lda,
                     long long sa, const float *b, int ldb, long long sb, float beta, float *c, long long sc,
                     struct lc_err *err, const char *what)
{
    const float one = 1;
    return blas_ok(cublasSgemmStridedBatched(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, nn, mm,
                                             kk, &one, b, ldb, sb, a, lda, sa, &beta, c, nn, sc, batch),
                   err, what);
}

extern "C" int lc_matmul_forward_cuda(float *c, const float *a, const float *b, int batch, int m, int n, int k, int ta,
                                      int tb, void *stream, struct lc_err *err)
{
    if (batch < 1 || m < 1 || n < 1) return 0;
    size_t nc = (size_t)batch * m * n;
    if (k < 1) { // an empty sum: C = 0, as the CPU writes it (cuBLAS wants ld >= 1)
        cudaError_t e = cudaMemsetAsync(c, 0, nc * sizeof(float), LC_STREAM(stream));
        return e == cudaSuccess ? 0 : lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: matmul zero: %s", cudaGetErrorString(e));
    }
    cublasHandle_t h;
    int rc = blas(&h, stream, err);
    if (rc) return rc;
    long long sa = (long long)m * k, sb = (long long)k * n, sc = (long long)m * n;
    return gemm_rows(h, batch, ta, tb, m, n, k, a, ta ? m : k, sa, b, tb ? k : n, sb, 0, c, sc, err, "matmul forward");
}

// da += ..., db += ... (beta = 1), as matmul.c; either may be NULL
extern "C" int lc_matmul_backward_cuda(float *da, float *db, const float *dc, const float *a, const float *b, int batch,
                                       int m, int n, int k, int ta, int tb, void *stream, struct lc_err *err)
{
    if (batch < 1 || m < 1 || n < 1 || k < 1) return 0; // empty gradients, or adding empty sums
    cublasHandle_t h;
    int rc = blas(&h, stream, err);
    if (rc) return rc;
    long long sa = (long long)m * k, sb = (long long)k * n, sc = (long long)m * n;
    int lda = ta ? m : k, ldb = tb ? k : n;
    if (da) {
        if (!ta) // dA (m,k) += dC (m,n) op(B)^T (n,k)
            rc = gemm_rows(h, batch, 0, !tb, m, k, n, dc, n, sc, b, ldb, sb, 1, da, sa, err, "matmul backward (da)");
        else // dA (k,m) += op(B) (k,n) dC^T (n,m)
            rc = gemm_rows(h, batch, tb, 1, k, m, n, b, ldb, sb, dc, n, sc, 1, da, sa, err, "matmul backward (da)");
        if (rc) return rc;
    }
    if (db) {
        if (!tb) // dB (k,n) += op(A)^T (k,m) dC (m,n)
            rc = gemm_rows(h, batch, !ta, 0, k, n, m, a, lda, sa, dc, n, sc, 1, db, sb, err, "matmul backward (db)");
        else // dB (n,k) += dC^T (n,m) op(A) (m,k)
            rc = gemm_rows(h, batch, 1, ta, n, k, m, dc, n, sc, a, lda, sa, 1, db, sb, err, "matmul backward (db)");
    }
    return rc;
}
