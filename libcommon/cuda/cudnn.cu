// cudnn: the one unit that talks to cuDNN: the library version, and the
// CUDA twin of lc_conv2d_forward / lc_conv2d_backward (conv2d.h) on cuDNN's
// convolution API. Float32 with CUDNN_FMA_MATH (no TF32 on Ampere/Hopper),
// so results agree with the CPU to float32 rounding; only deterministic
// algorithms are taken (bit-identical reruns, as the CPU guarantees, and
// CUDA graphs that replay the ops' results exactly). Per host thread, each convolution shape gets a plan
// on first use: its descriptors and the algorithms cuDNN's heuristic ranks
// first among the allowed ones (a heuristic, not a timed search, so the
// choice and the results repeat run to run); a training step reuses a few
// dozen shapes hundreds of times. The workspace is one buffer per host
// thread, grown as needed.
// The 16-bit twins (mixed.h) keep x, w, y in half or bfloat16 and compute
// in float32 (CUDNN_DATA_FLOAT compute type) with tensor cores allowed;
// the plan key adds the element type. Their weight gradient goes to a 16-bit
// scratch (one per host thread, grown as needed) and is then added to the
// float32 dw. Channels-last (p->channels_last) uses cuDNN's NHWC format for
// x, y and w; its weight gradient comes out (Co,K,K,Ci/g) and is added to
// dw's (Co,Ci/g,K,K) through a layout cast.
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dtype.h" // the LC_DTYPE_* codes only: the library links none of dtype.c
#include "cuda.h"

extern "C" void lc_cudnn_version(char *buf, size_t size)
{
    size_t v = cudnnGetVersion(); // e.g. 91200 = 9.12.0
    snprintf(buf, size, "cuDNN %zu.%zu.%zu", v / 10000, v % 10000 / 100, v % 100);
}

static thread_local cudnnHandle_t handle;
static thread_local void *ws;
static thread_local size_t ws_size;
static thread_local void *wgrad; // the 16-bit weight gradient before it is added to dw
static thread_local size_t wgrad_size;

static int dnn_fail(struct lc_err *err, cudnnStatus_t st, const char *what)
{
    return lc_errf(err, LC_EIO, NULL, -1, -1, "cuDNN: %s: %s", what, cudnnGetErrorString(st));
}

#define DNN(call, what)                                                                                          \
    do {                                                                                                         \
        cudnnStatus_t st_ = (call);                                                                              \
        if (st_ != CUDNN_STATUS_SUCCESS) {                                                                       \
            rc = dnn_fail(err, st_, what);                                                                       \
            goto done;                                                                                           \
        }                                                                                                        \
    } while (0)

static int workspace(size_t bytes, void *stream, struct lc_err *err)
{
    return lc_cuda_grow(&ws, &ws_size, bytes, stream, "cuDNN workspace", err);
}

// cuDNN's element type for dt, and the name in messages
static cudnnDataType_t dnn_type(int dt)
{
    return dt == LC_DTYPE_F16 ? CUDNN_DATA_HALF : dt == LC_DTYPE_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

static const char *type_name(int dt)
{
    return dt == LC_DTYPE_F16 ? "float16" : dt == LC_DTYPE_BF16 ? "bfloat16" : "float32";
}

// The descriptors of one convolution.
struct descs {
    cudnnTensorDescriptor_t x, y, b;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t c;
};

static void descs_free(struct descs *d)
{
    if (d->x) cudnnDestroyTensorDescriptor(d->x);
    if (d->y) cudnnDestroyTensorDescriptor(d->y);
    if (d->b) cudnnDestroyTensorDescriptor(d->b);
    if (d->w) cudnnDestroyFilterDescriptor(d->w);
    if (d->c) cudnnDestroyConvolutionDescriptor(d->c);
}

// x, y and w in dt; the bias (float32 convolutions only) and the
// arithmetic in float32
static int descs_make(struct descs *d, const struct lc_conv2d *p, int dt, struct lc_err *err)
{
    int rc = 0;
    const cudnnDataType_t t = dnn_type(dt);
    // channels-last: x, y (N,H,W,C) and w (Co,K,K,Ci/g), cuDNN's NHWC for both
    const cudnnTensorFormat_t f = p->channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    *d = descs{};
    DNN(cudnnCreateTensorDescriptor(&d->x), "tensor descriptor");
    DNN(cudnnCreateTensorDescriptor(&d->y), "tensor descriptor");
    DNN(cudnnCreateTensorDescriptor(&d->b), "tensor descriptor");
    DNN(cudnnCreateFilterDescriptor(&d->w), "filter descriptor");
    DNN(cudnnCreateConvolutionDescriptor(&d->c), "convolution descriptor");
    DNN(cudnnSetTensor4dDescriptor(d->x, f, t, p->n, p->ci, p->h, p->w), "x shape");
    DNN(cudnnSetTensor4dDescriptor(d->y, f, t, p->n, p->co, p->ho, p->wo), "y shape");
    DNN(cudnnSetTensor4dDescriptor(d->b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, p->co, 1, 1), "bias shape");
    DNN(cudnnSetFilter4dDescriptor(d->w, t, f, p->co, p->ci / p->groups, p->kh, p->kw), "weight shape");
    DNN(cudnnSetConvolution2dDescriptor(d->c, p->ph, p->pw, p->sh, p->sw, 1, 1, CUDNN_CROSS_CORRELATION,
                                        CUDNN_DATA_FLOAT),
        "convolution");
    DNN(cudnnSetConvolutionGroupCount(d->c, p->groups), "groups");
    DNN(cudnnSetConvolutionMathType(d->c, dt == LC_DTYPE_F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH), "math type");
done:
    if (rc) descs_free(d);
    return rc;
}

enum { NOT_CHOSEN = -2, NONE = -1 };

// One convolution shape's descriptors and algorithms (NOT_CHOSEN until a
// pass first needs one); for 16-bit plans also the math type each
// algorithm was ranked with (set on the descriptor before it runs).
struct plan {
    struct lc_conv2d key;
    int dt;
    struct descs d;
    int fwd, data, filter;
    size_t fwd_mem, data_mem, filter_mem;
    cudnnMathType_t fwd_math, data_math, filter_math;
};

static thread_local struct plan *plans;
static thread_local int n_plans, cap_plans;

extern "C" void lc_cudnn_thread_release(void)
{
    for (int i = 0; i < n_plans; i++) descs_free(&plans[i].d);
    free(plans);
    plans = NULL, n_plans = cap_plans = 0;
    lc_cuda_drop(&ws, &ws_size);
    lc_cuda_drop(&wgrad, &wgrad_size);
    if (handle) cudnnDestroy(handle);
    handle = NULL;
}

// The plan of p in element type dt (made on first use), with the handle
// bound to stream.
static int plan_get(struct plan **out, const struct lc_conv2d *p, int dt, void *stream, struct lc_err *err)
{
    int rc = 0;
    if (!handle) DNN(cudnnCreate(&handle), "cannot create a handle");
    DNN(cudnnSetStream(handle, LC_STREAM(stream)), "cudnnSetStream");
    for (int i = 0; i < n_plans; i++)
        if (plans[i].dt == dt && memcmp(&plans[i].key, p, sizeof *p) == 0) {
            *out = &plans[i];
            return 0;
        }
    if (n_plans == cap_plans) {
        int cap = cap_plans ? 2 * cap_plans : 64;
        struct plan *np = (struct plan *)realloc(plans, (size_t)cap * sizeof *np);
        if (!np) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        plans = np, cap_plans = cap;
    }
    {
        struct plan *pl = &plans[n_plans];
        pl->key = *p;
        pl->dt = dt;
        pl->fwd = pl->data = pl->filter = NOT_CHOSEN;
        pl->fwd_mem = pl->data_mem = pl->filter_mem = 0;
        pl->fwd_math = pl->data_math = pl->filter_math = CUDNN_FMA_MATH;
        if ((rc = descs_make(&pl->d, p, dt, err))) return rc;
        n_plans++;
        *out = pl;
    }
done:
    return rc;
}

// The first ranked algorithm that ran and (when asked) is deterministic,
// for float32 preferring those ranked with plain FMA math; any but the
// tensor-op math types then, since the descriptor's FMA math is what runs
// (no TF32); -1 if none.
template <typename Perf> static int pick(const Perf *perf, int n, int deterministic, size_t *memory)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            cudnnMathType_t m = perf[i].mathType;
            if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
            if (pass == 0 ? m != CUDNN_FMA_MATH : m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
                continue;
            if (deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
            *memory = perf[i].memory;
            return (int)perf[i].algo;
        }
    return -1;
}

// The same for 16-bit data: tensor cores allowed (any math type but
// CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, which may narrow the float32
// arithmetic); *math gets the math type it was ranked with.
template <typename Perf>
static int pick16(const Perf *perf, int n, int deterministic, size_t *memory, cudnnMathType_t *math)
{
    for (int i = 0; i < n; i++) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
            continue;
        if (deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
        *memory = perf[i].memory;
        *math = perf[i].mathType;
        return (int)perf[i].algo;
    }
    return -1;
}

// One pass's algorithm for plan pl (*algo NONE if no usable one): cuDNN's
// whole ranking, count() entries long (with tensor-op math allowed it lists
// an algorithm once per math type, more than its *_ALGO_COUNT), then pick
// or pick16. 16-bit plans are ranked with tensor-op math allowed. A
// float32 choice runs with the descriptor's FMA math, which may need
// another workspace than the math it was ranked with: wsize asks.
template <typename Perf, typename Count, typename Rank, typename Wsize>
static int choose(struct plan *pl, int deterministic, int *algo, size_t *mem, cudnnMathType_t *math, Count count,
                  Rank rank, Wsize wsize, const char *what, struct lc_err *err)
{
    int rc = 0, m = 0, got = 0;
    Perf *perf = NULL;
    if (pl->dt != LC_DTYPE_F32) DNN(cudnnSetConvolutionMathType(pl->d.c, CUDNN_TENSOR_OP_MATH), "math type");
    DNN(count(&m), what);
    perf = (Perf *)calloc(m > 0 ? (size_t)m : 1, sizeof *perf);
    if (!perf) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    DNN(rank(m, &got, perf), what);
    *algo = pl->dt == LC_DTYPE_F32 ? pick(perf, got, deterministic, mem) : pick16(perf, got, deterministic, mem, math);
    if (*algo < 0) *algo = NONE;
    if (pl->dt == LC_DTYPE_F32 && *algo != NONE) {
        size_t need = 0;
        DNN(wsize(*algo, &need), what);
        if (need > *mem) *mem = need;
    }
done:
    free(perf);
    return rc;
}

static int choose_fwd(struct plan *pl, struct lc_err *err)
{
    const struct descs &d = pl->d;
    return choose<cudnnConvolutionFwdAlgoPerf_t>(
        pl, 1, &pl->fwd, &pl->fwd_mem, &pl->fwd_math,
        [](int *m) { return cudnnGetConvolutionForwardAlgorithmMaxCount(handle, m); },
        [&](int m, int *got, cudnnConvolutionFwdAlgoPerf_t *perf) {
            return cudnnGetConvolutionForwardAlgorithm_v7(handle, d.x, d.w, d.c, d.y, m, got, perf);
        },
        [&](int a, size_t *bytes) {
            return cudnnGetConvolutionForwardWorkspaceSize(handle, d.x, d.w, d.c, d.y, (cudnnConvolutionFwdAlgo_t)a,
                                                           bytes);
        },
        "forward algorithm", err);
}

static int choose_data(struct plan *pl, struct lc_err *err)
{
    const struct descs &d = pl->d;
    return choose<cudnnConvolutionBwdDataAlgoPerf_t>(
        pl, 1, &pl->data, &pl->data_mem, &pl->data_math,
        [](int *m) { return cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, m); },
        [&](int m, int *got, cudnnConvolutionBwdDataAlgoPerf_t *perf) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, d.w, d.y, d.c, d.x, m, got, perf);
        },
        [&](int a, size_t *bytes) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, d.w, d.y, d.c, d.x,
                                                                (cudnnConvolutionBwdDataAlgo_t)a, bytes);
        },
        "backward data algorithm", err);
}

static int choose_filter(struct plan *pl, struct lc_err *err)
{
    const struct descs &d = pl->d;
    return choose<cudnnConvolutionBwdFilterAlgoPerf_t>(
        pl, 1, &pl->filter, &pl->filter_mem, &pl->filter_math,
        [](int *m) { return cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, m); },
        [&](int m, int *got, cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
            return cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, d.x, d.y, d.c, d.w, m, got, perf);
        },
        [&](int a, size_t *bytes) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, d.x, d.y, d.c, d.w,
                                                                  (cudnnConvolutionBwdFilterAlgo_t)a, bytes);
        },
        "backward filter algorithm", err);
}

extern "C" int lc_conv2d_forward_cuda(float *y, const float *x, const float *w, const float *b,
                                      const struct lc_conv2d *p, void *stream, struct lc_err *err)
{
    struct plan *pl;
    int rc = plan_get(&pl, p, LC_DTYPE_F32, stream, err);
    if (rc) return rc;
    const struct descs &d = pl->d;
    const float one = 1, zero = 0;
    if (pl->fwd == NOT_CHOSEN && (rc = choose_fwd(pl, err))) return rc;
    if (pl->fwd == NONE)
        return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "cuDNN: no float32 forward algorithm for this convolution");
    if ((rc = workspace(pl->fwd_mem, stream, err))) return rc;
    DNN(cudnnConvolutionForward(handle, &one, d.x, x, d.w, w, d.c, (cudnnConvolutionFwdAlgo_t)pl->fwd, ws,
                                pl->fwd_mem, &zero, d.y, y),
        "convolution forward");
    if (b) DNN(cudnnAddTensor(handle, &one, d.b, b, &one, d.y, y), "bias");
done:
    return rc;
}

// dx = dx_beta dx + the gradient (1: accumulate, as conv2d.h; 0: set);
// dw, db accumulate
static int conv_backward_f32(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                             const struct lc_conv2d *p, float dx_beta, void *stream, struct lc_err *err)
{
    struct plan *pl;
    int rc = plan_get(&pl, p, LC_DTYPE_F32, stream, err);
    if (rc) return rc;
    const struct descs &d = pl->d;
    const float one = 1;
    if (db) DNN(cudnnConvolutionBackwardBias(handle, &one, d.y, dy, &one, d.b, db), "bias gradient");
    if (dx) {
        if (pl->data == NOT_CHOSEN && (rc = choose_data(pl, err))) return rc;
        if (pl->data == NONE)
            return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1,
                           "cuDNN: no deterministic float32 backward-data algorithm for this convolution");
        if ((rc = workspace(pl->data_mem, stream, err))) return rc;
        DNN(cudnnConvolutionBackwardData(handle, &one, d.w, w, d.y, dy, d.c, (cudnnConvolutionBwdDataAlgo_t)pl->data, ws,
                                         pl->data_mem, &dx_beta, d.x, dx),
            "convolution backward data");
    }
    if (dw) {
        if (pl->filter == NOT_CHOSEN && (rc = choose_filter(pl, err))) return rc;
        if (pl->filter == NONE)
            return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1,
                           "cuDNN: no deterministic float32 backward-filter algorithm for this convolution");
        if ((rc = workspace(pl->filter_mem, stream, err))) return rc;
        DNN(cudnnConvolutionBackwardFilter(handle, &one, d.x, x, d.y, dy, d.c, (cudnnConvolutionBwdFilterAlgo_t)pl->filter,
                                           ws, pl->filter_mem, &one, d.w, dw),
            "convolution backward filter");
    }
done:
    return rc;
}

extern "C" int lc_conv2d_backward_cuda(float *dx, float *dw, float *db, const float *dy, const float *x,
                                       const float *w, const struct lc_conv2d *p, void *stream, struct lc_err *err)
{
    return conv_backward_f32(dx, dw, db, dy, x, w, p, 1.0f, stream, err);
}

// ---- 16-bit activations (mixed.h): dt LC_DTYPE_F16 or LC_DTYPE_BF16 (F32
// runs the float32 convolution above)

static int dt_ok(int dt, struct lc_err *err)
{
    if (dt == LC_DTYPE_F16 || dt == LC_DTYPE_BF16) return 0;
    return lc_errf(err, LC_EINVAL, NULL, -1, -1, "cuDNN: convolution element type %d (not f32, f16 or bf16)", dt);
}

// y = conv(x, w), written (no bias: the 16-bit layers have none)
extern "C" int lc_conv2d_forward_dt_cuda(int dt, void *y, const void *x, const void *w, const struct lc_conv2d *p,
                                         void *stream, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32)
        return lc_conv2d_forward_cuda((float *)y, (const float *)x, (const float *)w, NULL, p, stream, err);
    int rc = dt_ok(dt, err);
    struct plan *pl;
    if (rc || (rc = plan_get(&pl, p, dt, stream, err))) return rc;
    const struct descs &d = pl->d;
    const float one = 1, zero = 0;
    if (pl->fwd == NOT_CHOSEN && (rc = choose_fwd(pl, err))) return rc;
    if (pl->fwd == NONE)
        return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "cuDNN: no %s forward algorithm for this convolution",
                       type_name(dt));
    if ((rc = workspace(pl->fwd_mem, stream, err))) return rc;
    DNN(cudnnSetConvolutionMathType(d.c, pl->fwd_math), "math type");
    DNN(cudnnConvolutionForward(handle, &one, d.x, x, d.w, w, d.c, (cudnnConvolutionFwdAlgo_t)pl->fwd, ws,
                                pl->fwd_mem, &zero, d.y, y),
        "convolution forward");
done:
    return rc;
}

// dx (dt) += ...: blended by cuDNN (beta = 1, float32 scaling), as the
// float32 backward, or written (set: beta = 0); dw (float32) += the
// gradient cuDNN writes in dt. Deterministic algorithms only, as the
// float32 backward.
extern "C" int lc_conv2d_backward_dt_cuda(int dt, void *dx, float *dw, const void *dy, const void *x, const void *w,
                                          const struct lc_conv2d *p, int set, void *stream, struct lc_err *err)
{
    const float dx_beta = set ? 0.0f : 1.0f;
    if (dt == LC_DTYPE_F32)
        return conv_backward_f32((float *)dx, dw, NULL, (const float *)dy, (const float *)x, (const float *)w, p,
                                 dx_beta, stream, err);
    int rc = dt_ok(dt, err);
    struct plan *pl;
    if (rc || (rc = plan_get(&pl, p, dt, stream, err))) return rc;
    const struct descs &d = pl->d;
    const float one = 1, zero = 0;
    if (dx) {
        if (pl->data == NOT_CHOSEN && (rc = choose_data(pl, err))) return rc;
        if (pl->data == NONE)
            return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1,
                           "cuDNN: no deterministic %s backward-data algorithm for this convolution", type_name(dt));
        if ((rc = workspace(pl->data_mem, stream, err))) return rc;
        DNN(cudnnSetConvolutionMathType(d.c, pl->data_math), "math type");
        DNN(cudnnConvolutionBackwardData(handle, &one, d.w, w, d.y, dy, d.c, (cudnnConvolutionBwdDataAlgo_t)pl->data,
                                         ws, pl->data_mem, &dx_beta, d.x, dx),
            "convolution backward data");
    }
    if (dw) {
        if (pl->filter == NOT_CHOSEN && (rc = choose_filter(pl, err))) return rc;
        if (pl->filter == NONE)
            return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1,
                           "cuDNN: no deterministic %s backward-filter algorithm for this convolution", type_name(dt));
        size_t nw = (size_t)p->co * (p->ci / p->groups) * p->kh * p->kw;
        if ((rc = workspace(pl->filter_mem, stream, err)) ||
            (rc = lc_cuda_grow(&wgrad, &wgrad_size, nw * 2, stream, "weight-gradient scratch", err)))
            return rc;
        DNN(cudnnSetConvolutionMathType(d.c, pl->filter_math), "math type");
        DNN(cudnnConvolutionBackwardFilter(handle, &one, d.x, x, d.y, dy, d.c,
                                           (cudnnConvolutionBwdFilterAlgo_t)pl->filter, ws, pl->filter_mem, &zero, d.w,
                                           wgrad),
            "convolution backward filter");
        rc = p->channels_last ? lc_cast_add_from_channels_last_cuda(dw, wgrad, dt, p->co, p->ci / p->groups,
                                                                     p->kh * p->kw, stream, err)
                              : lc_cast_add_cuda(dw, wgrad, dt, nw, stream, err);
    }
done:
    return rc;
}
