// blas: the CUDA emulator's cuBLAS (tests/cudaemu/README.md): the GEMMs
// the project calls, column-major as cuBLAS, in float32 (OpenBLAS on
// float32 copies of 16-bit operands), rounded once to C's type. Each
// matrix's extent (from its leading dimension) must lie inside one device
// allocation, and C is not read when beta is 0 (as cuBLAS promises), so a
// poisoned output buffer is fine there and only there.
#include <cblas.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdlib.h>

#include <vector>

#include "emu.h"
#include "emu_internal.h"

struct cublasContext {
    cudaStream_t stream;
    cublasMath_t math;
};

static double load(const void *p, cudaDataType t, size_t i)
{
    switch (t) {
    case CUDA_R_32F: return ((const float *)p)[i];
    case CUDA_R_16F: return __half2float(((const __half *)p)[i]);
    case CUDA_R_16BF: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default: emu_fatal("cuBLAS: element type %d", (int)t);
    }
}

static void store(void *p, cudaDataType t, size_t i, double v)
{
    switch (t) {
    case CUDA_R_32F: ((float *)p)[i] = (float)v; return;
    case CUDA_R_16F: ((__half *)p)[i] = __float2half_rn((float)v); return;
    case CUDA_R_16BF: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn((float)v); return;
    default: emu_fatal("cuBLAS: element type %d", (int)t);
    }
}

static size_t type_size(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

// a rows x cols column-major matrix with leading dimension ld inside one allocation
static void check_matrix(const char *what, const void *p, cudaDataType t, int rows, int cols, int ld)
{
    if (rows <= 0 || cols <= 0) return;
    if (ld < rows) emu_fatal("cuBLAS: %s: leading dimension %d below its %d rows", what, ld, rows);
    size_t bytes = ((size_t)ld * (cols - 1) + rows) * type_size(t);
    if (emu_device_range(p, bytes) != 1)
        emu_fatal("cuBLAS: %s (%d x %d, ld %d) at %p: not inside one device allocation", what, rows, cols, ld, p);
    emu_check_device(p, emu_current_device(), "cuBLAS: %s", what);
}

struct gemm {
    cublasOperation_t ta, tb;
    int m, n, k;
    float alpha, beta;
    const void *a, *b;
    void *c;
    cudaDataType at, bt, ct;
    int lda, ldb, ldc;
};

// a rows x cols operand with leading dimension ld as float32 (the same layout)
static std::vector<float> widen(const void *p, cudaDataType t, int rows, int cols, int ld)
{
    std::vector<float> o((size_t)ld * (cols - 1) + rows);
    for (size_t i = 0; i < o.size(); i++) o[i] = (float)load(p, t, i);
    return o;
}

static void gemm_run(const gemm &g)
{
    const int ar = g.ta == CUBLAS_OP_N ? g.m : g.k, ac = g.ta == CUBLAS_OP_N ? g.k : g.m;
    const int br = g.tb == CUBLAS_OP_N ? g.k : g.n, bc = g.tb == CUBLAS_OP_N ? g.n : g.k;
    std::vector<float> r((size_t)g.m * g.n, 0.0f);
    if (g.k > 0) {
        std::vector<float> aw, bw;
        const float *a = (const float *)g.a, *b = (const float *)g.b;
        if (g.at != CUDA_R_32F) aw = widen(g.a, g.at, ar, ac, g.lda), a = aw.data();
        if (g.bt != CUDA_R_32F) bw = widen(g.b, g.bt, br, bc, g.ldb), b = bw.data();
        cblas_sgemm(CblasColMajor, g.ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                    g.tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, g.m, g.n, g.k, 1.0f, a, g.lda, b, g.ldb, 0.0f,
                    r.data(), g.m);
    }
    for (int j = 0; j < g.n; j++)
        for (int i = 0; i < g.m; i++) {
            size_t ci = (size_t)j * g.ldc + i;
            float v = g.alpha * r[(size_t)j * g.m + i];
            if (g.beta != 0) v += g.beta * (float)load(g.c, g.ct, ci);
            store(g.c, g.ct, ci, v);
        }
}

static cublasStatus_t gemm_issue(cublasHandle_t h, const gemm &g)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (g.m < 0 || g.n < 0 || g.k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (g.m == 0 || g.n == 0) return CUBLAS_STATUS_SUCCESS;
    const int ar = g.ta == CUBLAS_OP_N ? g.m : g.k, ac = g.ta == CUBLAS_OP_N ? g.k : g.m;
    const int br = g.tb == CUBLAS_OP_N ? g.k : g.n, bc = g.tb == CUBLAS_OP_N ? g.n : g.k;
    if (g.k > 0) {
        check_matrix("A", g.a, g.at, ar, ac, g.lda);
        check_matrix("B", g.b, g.bt, br, bc, g.ldb);
    }
    check_matrix("C", g.c, g.ct, g.m, g.n, g.ldc);
    emu_enqueue(h->stream, [g] { gemm_run(g); });
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    *handle = (cublasHandle_t)calloc(1, sizeof(cublasContext));
    return *handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
{
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value)
{
    *value = type == MAJOR_VERSION ? CUBLAS_VER_MAJOR : type == MINOR_VERSION ? CUBLAS_VER_MINOR : CUBLAS_VER_PATCH;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t bytes)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (bytes && emu_device_range(workspace, bytes) != 1) emu_fatal("cuBLAS: a workspace that is not device memory");
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t *mode)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    *mode = handle->math;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    default: return "an error (CUDA emulator)";
    }
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                              int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                              const float *beta, float *C, int ldc)
{
    gemm g = {transa, transb, m, n, k, *alpha, *beta, A, B, C, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, lda, ldb, ldc};
    return gemm_issue(handle, g);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb, long long strideB,
                                         const float *beta, float *C, int ldc, long long strideC, int batchCount)
{
    for (int i = 0; i < batchCount; i++) {
        gemm g = {transa, transb, m, n, k, *alpha, *beta, A + i * strideA, B + i * strideB, C + i * strideC,
                  CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, lda, ldb, ldc};
        cublasStatus_t s = gemm_issue(handle, g);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    (void)algo;
    // float scaling factors: the 32F compute types (what the project uses)
    if (computeType != CUBLAS_COMPUTE_32F && computeType != CUBLAS_COMPUTE_32F_FAST_16F &&
        computeType != CUBLAS_COMPUTE_32F_FAST_16BF && computeType != CUBLAS_COMPUTE_32F_FAST_TF32 &&
        computeType != CUBLAS_COMPUTE_32F_PEDANTIC)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (Atype != Btype) return CUBLAS_STATUS_NOT_SUPPORTED;
    for (cudaDataType t : {Atype, Ctype})
        if (t != CUDA_R_32F && t != CUDA_R_16F && t != CUDA_R_16BF) return CUBLAS_STATUS_NOT_SUPPORTED;
    gemm g = {transa, transb, m, n, k, *(const float *)alpha, *(const float *)beta, A, B, C, Atype, Btype, Ctype,
              lda, ldb, ldc};
    return gemm_issue(handle, g);
}

} // extern "C"
