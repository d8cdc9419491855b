// linear: CUDA twin of lc_linear_* (linear.h) on cuBLAS. Row-major (N,In)
// x and (Out,In) W are column-major x^T and W^T to cuBLAS, so
//   y^T = W x^T      : gemm(T, N, Out, N, In)
//   dx^T += W^T dy^T : gemm(N, N, In, N, Out)
//   dw^T += x^T dy   : gemm(N, T, In, Out, N)
// in float32 with TF32 off (CUBLAS_DEFAULT_MATH), so results agree with the
// CPU's SGEMM to float32 rounding. db: column sums of dy in double, one
// block per output.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "cuda.h"

#define THREADS 256

// one handle per host thread, made on first use on the thread's current device
static thread_local cublasHandle_t handle;

static int blas(cublasHandle_t *h, struct lc_err *err)
{
    if (!handle) {
        cublasStatus_t st = cublasCreate(&handle);
        if (st != CUBLAS_STATUS_SUCCESS) {
            handle = NULL;
            return lc_errf(err, LC_EIO, NULL, -1, -1, "cuBLAS: cannot create a handle: %s", cublasGetStatusString(st));
        }
        cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH);
    }
    *h = handle;
    return 0;
}

// the same handle for margin.cu (one per host thread, TF32 off)
extern "C" int lc_cuda_blas_handle(void **h, struct lc_err *err)
{
    cublasHandle_t t = NULL;
    int rc = blas(&t, err);
    *h = t;
    return rc;
}

static int blas_ok(cublasStatus_t st, struct lc_err *err, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS) return 0;
    return lc_errf(err, LC_EIO, NULL, -1, -1, "cuBLAS: %s: %s", what, cublasGetStatusString(st));
}

static __global__ void add_bias(float *y, const float *b, long total, int out)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
        y[i] += b[i % out];
}

static __global__ void col_sums(float *db, const float *dy, int n, int out)
{
    __shared__ double s[THREADS];
    int k = blockIdx.x;
    double acc = 0;
    for (int i = threadIdx.x; i < n; i += THREADS) acc += dy[(long)i * out + k];
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[k] += (float)s[0];
}

extern "C" int lc_linear_forward_cuda(float *y, const float *x, const float *w, const float *b,
                                      const struct lc_linear *p, void *stream, struct lc_err *err)
{
    cublasHandle_t h;
    int rc = blas(&h, err);
    if (rc) return rc;
    cublasSetStream(h, (cudaStream_t)stream);
    const float one = 1, zero = 0;
    rc = blas_ok(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, p->out, p->n, p->in, &one, w, p->in, x, p->in, &zero, y,
                             p->out),
                 err, "linear forward");
    if (rc || !b) return rc;
    long total = (long)p->n * p->out, blocks = (total + THREADS - 1) / THREADS;
    add_bias<<<(unsigned)(blocks < 65535L * 32 ? blocks : 65535L * 32), THREADS, 0, (cudaStream_t)stream>>>(y, b, total,
                                                                                                       p->out);
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: bias kernel: %s", cudaGetErrorString(e));
}

extern "C" int lc_linear_backward_cuda(float *dx, float *dw, float *db, const float *dy, const float *x,
                                       const float *w, const struct lc_linear *p, void *stream, struct lc_err *err)
{
    cublasHandle_t h;
    int rc = blas(&h, err);
    if (rc) return rc;
    cublasSetStream(h, (cudaStream_t)stream);
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
        col_sums<<<p->out, THREADS, 0, (cudaStream_t)stream>>>(db, dy, p->n, p->out);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            return lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: bias gradient kernel: %s", cudaGetErrorString(e));
    }
    return 0;
}
