// dnn: the CUDA emulator's cuDNN (tests/cudaemu/README.md): the legacy
// convolution API the project calls, with cuDNN's own rules checked where
// a GPU would refuse or misread: descriptors that agree with each other
// (channels and groups, the output's size, one element type), tensors
// inside their allocations, a workspace as large as the algorithm asked
// for, an algorithm the ranking offered. Layouts follow the descriptors
// (NCHW, or NHWC and a KRSC filter), so a descriptor that disagrees with
// the data gives a wrong result, as on a GPU. The ranking offers a
// non-deterministic algorithm first, as cuDNN often does, and running it
// is fatal (the project takes deterministic ones only). Arithmetic is
// float32 on float32 copies (im2col and OpenBLAS's GEMM), the output
// rounded once, and beta = 0 never reads the output (cuDNN's promise).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cblas.h>
#include <cudnn.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "emu.h"
#include "emu_internal.h"

struct cudnnContext {
    cudaStream_t stream;
};

struct cudnnTensorStruct {
    int set;
    cudnnTensorFormat_t format;
    cudnnDataType_t type;
    int n, c, h, w;
};

struct cudnnFilterStruct {
    int set;
    cudnnTensorFormat_t format;
    cudnnDataType_t type;
    int k, c, h, w;
};

struct cudnnConvolutionStruct {
    int set;
    int ph, pw, sh, sw, dh, dw, groups;
    cudnnConvolutionMode_t mode;
    cudnnDataType_t compute;
    cudnnMathType_t math;
};

// ---- a 4-d tensor: element (a, b, c, d) of an N,C,H,W (or K,C,R,S) shape

struct view {
    const char *what;
    cudnnDataType_t type;
    int d[4];
    long st[4]; // element strides of the four dimensions
};

static view tensor_view(const char *what, const cudnnTensorStruct *t)
{
    view v = {what, t->type, {t->n, t->c, t->h, t->w}, {0, 0, 0, 0}};
    if (t->format == CUDNN_TENSOR_NHWC) v.st[0] = (long)t->h * t->w * t->c, v.st[1] = 1, v.st[2] = (long)t->w * t->c, v.st[3] = t->c;
    else v.st[0] = (long)t->c * t->h * t->w, v.st[1] = (long)t->h * t->w, v.st[2] = t->w, v.st[3] = 1;
    return v;
}

static view filter_view(const char *what, const cudnnFilterStruct *f)
{
    view v = {what, f->type, {f->k, f->c, f->h, f->w}, {0, 0, 0, 0}};
    if (f->format == CUDNN_TENSOR_NHWC) v.st[0] = (long)f->h * f->w * f->c, v.st[1] = 1, v.st[2] = (long)f->w * f->c, v.st[3] = f->c;
    else v.st[0] = (long)f->c * f->h * f->w, v.st[1] = (long)f->h * f->w, v.st[2] = f->w, v.st[3] = 1;
    return v;
}

static size_t elem_size(cudnnDataType_t t) { return t == CUDNN_DATA_FLOAT ? 4 : 2; }
static long count(const view &v) { return (long)v.d[0] * v.d[1] * v.d[2] * v.d[3]; }

static void check_extent(const view &v, const void *p)
{
    if (emu_device_range(p, (size_t)count(v) * elem_size(v.type)) != 1)
        emu_fatal("cuDNN: %s (%d x %d x %d x %d) at %p: not inside one device allocation", v.what, v.d[0], v.d[1],
                  v.d[2], v.d[3], p);
    emu_check_device(p, emu_current_device(), "cuDNN: %s", v.what);
}

static float load(cudnnDataType_t t, const void *p, long i)
{
    switch (t) {
    case CUDNN_DATA_FLOAT: return ((const float *)p)[i];
    case CUDNN_DATA_HALF: return __half2float(((const __half *)p)[i]);
    case CUDNN_DATA_BFLOAT16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default: emu_fatal("cuDNN: element type %d", (int)t);
    }
}

static void store(cudnnDataType_t t, void *p, long i, float v)
{
    switch (t) {
    case CUDNN_DATA_FLOAT: ((float *)p)[i] = v; return;
    case CUDNN_DATA_HALF: ((__half *)p)[i] = __float2half_rn(v); return;
    case CUDNN_DATA_BFLOAT16: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v); return;
    default: emu_fatal("cuDNN: element type %d", (int)t);
    }
}

static long offset(const view &v, int a, int b, int c, int d)
{
    return a * v.st[0] + b * v.st[1] + c * v.st[2] + d * v.st[3];
}

// the tensor as dense float32, dimensions in order
static std::vector<float> dense(const view &v, const void *p)
{
    std::vector<float> o((size_t)count(v));
    size_t i = 0;
    for (int a = 0; a < v.d[0]; a++)
        for (int b = 0; b < v.d[1]; b++)
            for (int c = 0; c < v.d[2]; c++)
                for (int d = 0; d < v.d[3]; d++) o[i++] = load(v.type, p, offset(v, a, b, c, d));
    return o;
}

// out = alpha r + beta out, out not read when beta is 0
static void blend(const view &v, void *p, const std::vector<float> &r, float alpha, float beta)
{
    size_t i = 0;
    for (int a = 0; a < v.d[0]; a++)
        for (int b = 0; b < v.d[1]; b++)
            for (int c = 0; c < v.d[2]; c++)
                for (int d = 0; d < v.d[3]; d++) {
                    long o = offset(v, a, b, c, d);
                    float x = alpha * r[i++];
                    store(v.type, p, o, beta != 0 ? x + beta * load(v.type, p, o) : x);
                }
}

// ---- a convolution's shapes, checked as cuDNN checks them

struct conv {
    int n, c, h, w, k, cg, r, s, oh, ow, g;
    int ph, pw, sh, sw, dh, dw, flip;
    view x, wv, y;
};

static cudnnStatus_t conv_make(conv *cv, const cudnnTensorStruct *x, const cudnnFilterStruct *w,
                               const cudnnConvolutionStruct *c, const cudnnTensorStruct *y)
{
    if (!x || !w || !c || !y || !x->set || !w->set || !c->set || !y->set) return CUDNN_STATUS_BAD_PARAM;
    if (x->type != w->type || x->type != y->type) return CUDNN_STATUS_BAD_PARAM;
    if (c->compute != CUDNN_DATA_FLOAT && c->compute != x->type) return CUDNN_STATUS_BAD_PARAM;
    const int g = c->groups;
    if (x->c != w->c * g || w->k % g || y->c != w->k || x->n != y->n) return CUDNN_STATUS_BAD_PARAM;
    if (x->h + 2 * c->ph < c->dh * (w->h - 1) + 1 || x->w + 2 * c->pw < c->dw * (w->w - 1) + 1)
        return CUDNN_STATUS_BAD_PARAM; // a filter larger than the padded input
    int oh = (x->h + 2 * c->ph - c->dh * (w->h - 1) - 1) / c->sh + 1;
    int ow = (x->w + 2 * c->pw - c->dw * (w->w - 1) - 1) / c->sw + 1;
    if (oh != y->h || ow != y->w) return CUDNN_STATUS_BAD_PARAM;
    *cv = conv{x->n, x->c, x->h, x->w, w->k, w->c, w->h, w->w, oh, ow, g, c->ph, c->pw, c->sh, c->sw, c->dh, c->dw,
               c->mode == CUDNN_CONVOLUTION, tensor_view("x", x), filter_view("w", w), tensor_view("y", y)};
    return CUDNN_STATUS_SUCCESS;
}

// One image's group g as columns: col[(c, r, s)][(oh, ow)] = x at that tap
// (0 in the padding), the filter taps flipped for CUDNN_CONVOLUTION.
static void im2col(const conv &v, const float *x, int n, int g, float *col)
{
    const long ohw = (long)v.oh * v.ow;
    for (int c = 0; c < v.cg; c++)
        for (int r = 0; r < v.r; r++)
            for (int s = 0; s < v.s; s++) {
                float *row = col + (((long)c * v.r + r) * v.s + s) * ohw;
                const int tr = v.flip ? v.r - 1 - r : r, ts = v.flip ? v.s - 1 - s : s;
                const float *plane = x + ((long)n * v.c + (long)g * v.cg + c) * v.h * v.w;
                for (int oh = 0; oh < v.oh; oh++) {
                    const int ih = oh * v.sh - v.ph + tr * v.dh;
                    for (int ow = 0; ow < v.ow; ow++) {
                        const int iw = ow * v.sw - v.pw + ts * v.dw;
                        row[(long)oh * v.ow + ow] = ih >= 0 && ih < v.h && iw >= 0 && iw < v.w ? plane[(long)ih * v.w + iw] : 0;
                    }
                }
            }
}

// the adjoint of im2col: dx of image n, group g, += the columns' gradient
static void col2im(const conv &v, const float *col, int n, int g, float *dx)
{
    const long ohw = (long)v.oh * v.ow;
    for (int c = 0; c < v.cg; c++)
        for (int r = 0; r < v.r; r++)
            for (int s = 0; s < v.s; s++) {
                const float *row = col + (((long)c * v.r + r) * v.s + s) * ohw;
                const int tr = v.flip ? v.r - 1 - r : r, ts = v.flip ? v.s - 1 - s : s;
                float *plane = dx + ((long)n * v.c + (long)g * v.cg + c) * v.h * v.w;
                for (int oh = 0; oh < v.oh; oh++) {
                    const int ih = oh * v.sh - v.ph + tr * v.dh;
                    if (ih < 0 || ih >= v.h) continue;
                    for (int ow = 0; ow < v.ow; ow++) {
                        const int iw = ow * v.sw - v.pw + ts * v.dw;
                        if (iw >= 0 && iw < v.w) plane[(long)ih * v.w + iw] += row[(long)oh * v.ow + ow];
                    }
                }
            }
}

// row-major C (m x n) = A (m x k, or its transpose) B (k x n, or its transpose) + beta C
static void sgemm(bool ta, bool tb, int m, int n, int k, const float *a, const float *b, float beta, float *c)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                ta ? m : k, b, tb ? k : n, beta, c, n);
}

// ---- algorithms: a non-deterministic one ranked first, then a deterministic one needing a workspace

// The deterministic algorithm's workspace: one image's unfolded columns,
// as an im2col algorithm would take, so it grows with the shape (a caller
// that sizes it once for the first convolution fails on a larger one). It
// is filled with 0xff bytes each call, as cuDNN scribbles on it.
static size_t ws_bytes(const conv &cv) { return ((size_t)cv.cg * cv.r * cv.s * cv.oh * cv.ow + 64) * sizeof(float); }

template <typename Perf, typename Algo>
static void rank(const conv &cv, const cudnnConvolutionStruct *c, int requested, int *got, Perf *perf, Algo nondet,
                 Algo det)
{
    Perf all[2] = {};
    all[0].algo = nondet, all[0].memory = 0, all[0].determinism = CUDNN_NON_DETERMINISTIC;
    all[1].algo = det, all[1].memory = ws_bytes(cv), all[1].determinism = CUDNN_DETERMINISTIC;
    for (Perf &p : all) p.status = CUDNN_STATUS_SUCCESS, p.mathType = c->math, p.time = 1;
    *got = requested < 2 ? requested : 2;
    for (int i = 0; i < *got; i++) perf[i] = all[i];
}

// the ranking of a convolution whose descriptors agree
template <typename Perf, typename Algo>
static cudnnStatus_t rank_conv(const cudnnTensorStruct *x, const cudnnFilterStruct *w, const cudnnConvolutionStruct *c,
                               const cudnnTensorStruct *y, int requested, int *got, Perf *perf, Algo nondet, Algo det)
{
    conv cv;
    cudnnStatus_t st = conv_make(&cv, x, w, c, y);
    if (st == CUDNN_STATUS_SUCCESS) rank(cv, c, requested, got, perf, nondet, det);
    return st;
}

static size_t ws_need(const conv &cv, int algo, int det) { return algo == det ? ws_bytes(cv) : 0; }

static cudnnStatus_t ws_check(const conv &cv, int algo, int det, int nondet, void *ws, size_t bytes)
{
    if (algo != det && algo != nondet) return CUDNN_STATUS_NOT_SUPPORTED;
    if (algo == nondet) emu_fatal("cuDNN: a non-deterministic algorithm ran (the project takes deterministic ones only)");
    size_t need = ws_need(cv, algo, det);
    if (bytes < need) return CUDNN_STATUS_BAD_PARAM;
    if (need && emu_device_range(ws, need) != 1) emu_fatal("cuDNN: a workspace that is not device memory");
    return CUDNN_STATUS_SUCCESS;
}

static float scalar(const void *p) { return *(const float *)p; } // float compute: float scaling factors

extern "C" {

size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

const char *cudnnGetErrorString(cudnnStatus_t status)
{
    switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    default: return "CUDNN_STATUS (CUDA emulator)";
    }
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *handle)
{
    *handle = (cudnnHandle_t)calloc(1, sizeof(cudnnContext));
    return *handle ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle)
{
    free(handle);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream)
{
    handle->stream = stream;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d)
{
    *d = (cudnnTensorDescriptor_t)calloc(1, sizeof(cudnnTensorStruct));
    return *d ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED;
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d)
{
    free(d);
    return CUDNN_STATUS_SUCCESS;
}

static int type_ok(cudnnDataType_t t)
{
    return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_HALF || t == CUDNN_DATA_BFLOAT16;
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type,
                                         int n, int c, int h, int w)
{
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || !type_ok(type)) return CUDNN_STATUS_BAD_PARAM;
    if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC) return CUDNN_STATUS_NOT_SUPPORTED;
    *d = cudnnTensorStruct{1, format, type, n, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d)
{
    *d = (cudnnFilterDescriptor_t)calloc(1, sizeof(cudnnFilterStruct));
    return *d ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_ALLOC_FAILED;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d)
{
    free(d);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                         int k, int c, int h, int w)
{
    if (k <= 0 || c <= 0 || h <= 0 || w <= 0 || !type_ok(type)) return CUDNN_STATUS_BAD_PARAM;
    if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC) return CUDNN_STATUS_NOT_SUPPORTED;
    *d = cudnnFilterStruct{1, format, type, k, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d)
{
    *d = (cudnnConvolutionDescriptor_t)calloc(1, sizeof(cudnnConvolutionStruct));
    if (!*d) return CUDNN_STATUS_ALLOC_FAILED;
    (*d)->groups = 1, (*d)->math = CUDNN_DEFAULT_MATH;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d)
{
    free(d);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int ph, int pw, int sh, int sw, int dh,
                                              int dw, cudnnConvolutionMode_t mode, cudnnDataType_t compute)
{
    if (ph < 0 || pw < 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || !type_ok(compute))
        return CUDNN_STATUS_BAD_PARAM;
    d->set = 1, d->ph = ph, d->pw = pw, d->sh = sh, d->sw = sw, d->dh = dh, d->dw = dw, d->mode = mode;
    d->compute = compute;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups)
{
    if (groups <= 0) return CUDNN_STATUS_BAD_PARAM;
    d->groups = groups;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math)
{
    d->math = math;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t h, int *n)
{
    (void)h;
    *n = 2;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t h, int *n)
{
    (void)h;
    *n = 2;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t h, int *n)
{
    (void)h;
    *n = 2;
    return CUDNN_STATUS_SUCCESS;
}

#define FWD_NONDET CUDNN_CONVOLUTION_FWD_ALGO_GEMM /* (deterministic on a GPU; ranked here as if not) */
#define FWD_DET CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
#define DATA_NONDET CUDNN_CONVOLUTION_BWD_DATA_ALGO_0
#define DATA_DET CUDNN_CONVOLUTION_BWD_DATA_ALGO_1
#define FILTER_NONDET CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0
#define FILTER_DET CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                     const cudnnFilterDescriptor_t w,
                                                     const cudnnConvolutionDescriptor_t c,
                                                     const cudnnTensorDescriptor_t y, const int requested, int *got,
                                                     cudnnConvolutionFwdAlgoPerf_t *perf)
{
    (void)h;
    return rank_conv(x, w, c, y, requested, got, perf, FWD_NONDET, FWD_DET);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, const cudnnFilterDescriptor_t w,
                                                          const cudnnTensorDescriptor_t dy,
                                                          const cudnnConvolutionDescriptor_t c,
                                                          const cudnnTensorDescriptor_t dx, const int requested,
                                                          int *got, cudnnConvolutionBwdDataAlgoPerf_t *perf)
{
    (void)h;
    return rank_conv(dx, w, c, dy, requested, got, perf, DATA_NONDET, DATA_DET);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                            const cudnnTensorDescriptor_t dy,
                                                            const cudnnConvolutionDescriptor_t c,
                                                            const cudnnFilterDescriptor_t dw, const int requested,
                                                            int *got, cudnnConvolutionBwdFilterAlgoPerf_t *perf)
{
    (void)h;
    return rank_conv(x, dw, c, dy, requested, got, perf, FILTER_NONDET, FILTER_DET);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t w,
                                                      const cudnnConvolutionDescriptor_t c,
                                                      const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t *bytes)
{
    (void)h;
    conv cv;
    cudnnStatus_t st = conv_make(&cv, x, w, c, y);
    *bytes = st ? 0 : ws_need(cv, algo, FWD_DET);
    return st;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, const cudnnFilterDescriptor_t w,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t c,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t *bytes)
{
    (void)h;
    conv cv;
    cudnnStatus_t st = conv_make(&cv, dx, w, c, dy);
    *bytes = st ? 0 : ws_need(cv, algo, DATA_DET);
    return st;
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                             const cudnnTensorDescriptor_t dy,
                                                             const cudnnConvolutionDescriptor_t c,
                                                             const cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t *bytes)
{
    (void)h;
    conv cv;
    cudnnStatus_t st = conv_make(&cv, x, dw, c, dy);
    *bytes = st ? 0 : ws_need(cv, algo, FILTER_DET);
    return st;
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t xd,
                                      const void *x, const cudnnFilterDescriptor_t wd, const void *w,
                                      const cudnnConvolutionDescriptor_t cd, cudnnConvolutionFwdAlgo_t algo, void *ws,
                                      size_t ws_bytes, const void *beta, const cudnnTensorDescriptor_t yd, void *y)
{
    conv cv;
    cudnnStatus_t st = conv_make(&cv, xd, wd, cd, yd);
    if (st || (st = ws_check(cv, algo, FWD_DET, FWD_NONDET, ws, ws_bytes))) return st;
    const size_t scribble = ws_need(cv, algo, FWD_DET);
    check_extent(cv.x, x), check_extent(cv.wv, w), check_extent(cv.y, y);
    float a = scalar(alpha), b = scalar(beta);
    emu_enqueue(h->stream, [=] {
        if (scribble) memset(ws, 0xff, scribble);
        std::vector<float> X = dense(cv.x, x), W = dense(cv.wv, w), Y((size_t)count(cv.y));
        const int kg = cv.k / cv.g, taps = cv.cg * cv.r * cv.s, ohw = cv.oh * cv.ow;
        std::vector<float> col((size_t)taps * ohw);
        for (int n = 0; n < cv.n; n++)
            for (int g = 0; g < cv.g; g++) {
                im2col(cv, X.data(), n, g, col.data());
                sgemm(false, false, kg, ohw, taps, &W[(size_t)g * kg * taps], col.data(), 0.0f,
                      &Y[((size_t)n * cv.k + (size_t)g * kg) * ohw]);
            }
        blend(cv.y, y, Y, a, b);
    });
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha, const cudnnFilterDescriptor_t wd,
                                           const void *w, const cudnnTensorDescriptor_t dyd, const void *dy,
                                           const cudnnConvolutionDescriptor_t cd, cudnnConvolutionBwdDataAlgo_t algo,
                                           void *ws, size_t ws_bytes, const void *beta,
                                           const cudnnTensorDescriptor_t dxd, void *dx)
{
    conv cv;
    cudnnStatus_t st = conv_make(&cv, dxd, wd, cd, dyd);
    if (st || (st = ws_check(cv, algo, DATA_DET, DATA_NONDET, ws, ws_bytes))) return st;
    const size_t scribble = ws_need(cv, algo, DATA_DET);
    check_extent(cv.x, dx), check_extent(cv.wv, w), check_extent(cv.y, dy);
    float a = scalar(alpha), b = scalar(beta);
    emu_enqueue(h->stream, [=] {
        if (scribble) memset(ws, 0xff, scribble);
        std::vector<float> DY = dense(cv.y, dy), W = dense(cv.wv, w), DX((size_t)count(cv.x), 0.0f);
        const int kg = cv.k / cv.g, taps = cv.cg * cv.r * cv.s, ohw = cv.oh * cv.ow;
        std::vector<float> col((size_t)taps * ohw);
        for (int n = 0; n < cv.n; n++)
            for (int g = 0; g < cv.g; g++) {
                sgemm(true, false, taps, ohw, kg, &W[(size_t)g * kg * taps],
                      &DY[((size_t)n * cv.k + (size_t)g * kg) * ohw], 0.0f, col.data());
                col2im(cv, col.data(), n, g, DX.data());
            }
        blend(cv.x, dx, DX, a, b);
    });
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t xd,
                                             const void *x, const cudnnTensorDescriptor_t dyd, const void *dy,
                                             const cudnnConvolutionDescriptor_t cd,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void *ws, size_t ws_bytes,
                                             const void *beta, const cudnnFilterDescriptor_t dwd, void *dw)
{
    conv cv;
    cudnnStatus_t st = conv_make(&cv, xd, dwd, cd, dyd);
    if (st || (st = ws_check(cv, algo, FILTER_DET, FILTER_NONDET, ws, ws_bytes))) return st;
    const size_t scribble = ws_need(cv, algo, FILTER_DET);
    check_extent(cv.x, x), check_extent(cv.wv, dw), check_extent(cv.y, dy);
    float a = scalar(alpha), b = scalar(beta);
    emu_enqueue(h->stream, [=] {
        if (scribble) memset(ws, 0xff, scribble);
        std::vector<float> X = dense(cv.x, x), DY = dense(cv.y, dy), DW((size_t)count(cv.wv), 0.0f);
        const int kg = cv.k / cv.g, taps = cv.cg * cv.r * cv.s, ohw = cv.oh * cv.ow;
        std::vector<float> col((size_t)taps * ohw);
        for (int n = 0; n < cv.n; n++)
            for (int g = 0; g < cv.g; g++) {
                im2col(cv, X.data(), n, g, col.data());
                sgemm(false, true, kg, taps, ohw, &DY[((size_t)n * cv.k + (size_t)g * kg) * ohw], col.data(), 1.0f,
                      &DW[(size_t)g * kg * taps]);
            }
        blend(cv.wv, dw, DW, a, b);
    });
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t dyd,
                                           const void *dy, const void *beta, const cudnnTensorDescriptor_t dbd,
                                           void *db)
{
    if (!dyd->set || !dbd->set || dbd->n != 1 || dbd->h != 1 || dbd->w != 1 || dbd->c != dyd->c)
        return CUDNN_STATUS_BAD_PARAM;
    view vy = tensor_view("dy", dyd), vb = tensor_view("db", dbd);
    check_extent(vy, dy), check_extent(vb, db);
    float a = scalar(alpha), b = scalar(beta);
    emu_enqueue(h->stream, [=] {
        std::vector<float> DY = dense(vy, dy), DB((size_t)vy.d[1], 0.0f);
        const long hw = (long)vy.d[2] * vy.d[3];
        for (int n = 0; n < vy.d[0]; n++)
            for (int c = 0; c < vy.d[1]; c++)
                for (long i = 0; i < hw; i++) DB[c] += DY[((long)n * vy.d[1] + c) * hw + i];
        blend(vb, db, DB, a, b);
    });
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t ad, const void *A,
                             const void *beta, const cudnnTensorDescriptor_t cd, void *C)
{
    if (!ad->set || !cd->set) return CUDNN_STATUS_BAD_PARAM;
    const int ac[4] = {ad->n, ad->c, ad->h, ad->w}, cc[4] = {cd->n, cd->c, cd->h, cd->w};
    for (int i = 0; i < 4; i++)
        if (ac[i] != 1 && ac[i] != cc[i]) return CUDNN_STATUS_BAD_PARAM;
    view va = tensor_view("A", ad), vc = tensor_view("C", cd);
    check_extent(va, A), check_extent(vc, C);
    float a = scalar(alpha), b = scalar(beta);
    emu_enqueue(h->stream, [=] {
        std::vector<float> AD = dense(va, A), R((size_t)count(vc));
        size_t i = 0;
        for (int n = 0; n < vc.d[0]; n++)
            for (int c = 0; c < vc.d[1]; c++)
                for (int y = 0; y < vc.d[2]; y++)
                    for (int x = 0; x < vc.d[3]; x++) {
                        int j[4] = {va.d[0] == 1 ? 0 : n, va.d[1] == 1 ? 0 : c, va.d[2] == 1 ? 0 : y,
                                    va.d[3] == 1 ? 0 : x};
                        R[i++] = AD[(((size_t)j[0] * va.d[1] + j[1]) * va.d[2] + j[2]) * va.d[3] + j[3]];
                    }
        blend(vc, C, R, a, b);
    });
    return CUDNN_STATUS_SUCCESS;
}

} // extern "C"
