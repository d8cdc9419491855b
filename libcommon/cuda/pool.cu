// pool: CUDA twins of max, average and global average pooling (pool.h) and
// of bilinear and nearest resizing (resize.h). They mirror the CPU
// reference expression for expression (__fmul_rn/__fadd_rn where the CPU
// rounds a product before adding, so nvcc cannot fuse them), so forward
// results are the CPU's bits. The CPU's backward passes scatter into dx;
// here each dx element gathers the dy elements that touch it, in the
// CPU's order of adds (ascending output index, then the CPU's tap order),
// so dx is the CPU's bits too, without float atomics. The one exception is
// the global average: a double sum per (n, c) in a fixed tree (one block
// each), which can differ from the CPU's serial double sum in its last
// float bit.
#include <cuda_runtime.h>

#include "kernel.cuh"

// ---- pooling

// the in-bounds part [lo, hi) of the window starting at o*s - pad (pool.c)
static __device__ __forceinline__ void window(int o, int s, int pad, int k, int size, int *lo, int *hi)
{
    int a = o * s - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > size ? size : b;
}

// the outputs [lo, hi] whose windows hold input i (hi < lo: none)
static __device__ __forceinline__ void outputs_of(int i, int s, int pad, int k, int out, int *lo, int *hi)
{
    int a = i + pad - k + 1;
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    int b = (i + pad) / s;
    *hi = b < out - 1 ? b : out - 1;
}

static __global__ void maxpool_fwd(float *y, int32_t *argmax, const float *x, long total, lc_pool2d p)
{
    FOR_EACH(i, total)
    {
        int ow = (int)(i % p.wo), oh = (int)(i / p.wo % p.ho);
        const float *xp = x + i / ((long)p.ho * p.wo) * p.h * p.w;
        int h0, h1, w0, w1;
        window(oh, p.s, p.pad, p.k, p.h, &h0, &h1);
        window(ow, p.s, p.pad, p.k, p.w, &w0, &w1);
        float best = -INFINITY;
        int32_t at = h0 * p.w + w0;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) {
                float v = xp[ih * p.w + iw];
                if (v > best || isnan(v)) { // the first maximum; the last NaN (pool.c)
                    best = v;
                    at = ih * p.w + iw;
                }
            }
        y[i] = best;
        argmax[i] = at;
    }
}

// dx[j] += dy[o] for the outputs o whose argmax is j, in ascending o as the
// CPU adds them; argmax is the forward's, so o's window holds j
static __global__ void maxpool_bwd(float *dx, const float *dy, const int32_t *argmax, long total, lc_pool2d p)
{
    FOR_EACH(i, total)
    {
        int iw = (int)(i % p.w), ih = (int)(i / p.w % p.h);
        long base = i / ((long)p.h * p.w) * p.ho * p.wo;
        int oh0, oh1, ow0, ow1;
        outputs_of(ih, p.s, p.pad, p.k, p.ho, &oh0, &oh1);
        outputs_of(iw, p.s, p.pad, p.k, p.wo, &ow0, &ow1);
        int32_t self = ih * p.w + iw;
        float acc = dx[i];
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++) {
                long o = base + (long)oh * p.wo + ow;
                if (argmax[o] == self) acc = __fadd_rn(acc, dy[o]);
            }
        dx[i] = acc;
    }
}

static __global__ void avgpool_fwd(float *y, const float *x, long total, lc_pool2d p, float inv)
{
    FOR_EACH(i, total)
    {
        int ow = (int)(i % p.wo), oh = (int)(i / p.wo % p.ho);
        const float *xp = x + i / ((long)p.ho * p.wo) * p.h * p.w;
        int h0, h1, w0, w1;
        window(oh, p.s, p.pad, p.k, p.h, &h0, &h1);
        window(ow, p.s, p.pad, p.k, p.w, &w0, &w1);
        float s = 0;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) s = __fadd_rn(s, xp[ih * p.w + iw]);
        y[i] = __fmul_rn(s, inv);
    }
}

// dx[j] += dy[o] * inv over the windows o holding j, in ascending o
static __global__ void avgpool_bwd(float *dx, const float *dy, long total, lc_pool2d p, float inv)
{
    FOR_EACH(i, total)
    {
        int iw = (int)(i % p.w), ih = (int)(i / p.w % p.h);
        const float *dyp = dy + i / ((long)p.h * p.w) * p.ho * p.wo;
        int oh0, oh1, ow0, ow1;
        outputs_of(ih, p.s, p.pad, p.k, p.ho, &oh0, &oh1);
        outputs_of(iw, p.s, p.pad, p.k, p.wo, &ow0, &ow1);
        float acc = dx[i];
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++) acc = __fadd_rn(acc, __fmul_rn(dyp[oh * p.wo + ow], inv));
        dx[i] = acc;
    }
}

// one block per plane: each thread sums its stride in order, then a fixed tree
static __global__ void gap_fwd(float *y, const float *x, int hw)
{
    __shared__ double s[THREADS];
    const float *xp = x + (long)blockIdx.x * hw;
    double acc = 0;
    for (int j = threadIdx.x; j < hw; j += THREADS) acc += xp[j];
    s[threadIdx.x] = acc;
    block_sum(s);
    if (threadIdx.x == 0) y[blockIdx.x] = (float)(s[0] / hw);
}

static __global__ void gap_bwd(float *dx, const float *dy, long total, int hw)
{
    FOR_EACH(i, total) dx[i] = __fadd_rn(dx[i], __fdiv_rn(dy[i / hw], (float)hw));
}

extern "C" int lc_maxpool2d_forward_cuda(float *y, int32_t *argmax, const float *x, const struct lc_pool2d *p,
                                         void *stream, struct lc_err *err)
{
    long total = (long)p->n * p->c * p->ho * p->wo;
    LAUNCH("max pool forward", total, maxpool_fwd, y, argmax, x, total, *p);
}

extern "C" int lc_maxpool2d_backward_cuda(float *dx, const float *dy, const int32_t *argmax, const struct lc_pool2d *p,
                                          void *stream, struct lc_err *err)
{
    long total = (long)p->n * p->c * p->h * p->w;
    LAUNCH("max pool backward", total, maxpool_bwd, dx, dy, argmax, total, *p);
}

extern "C" int lc_avgpool2d_forward_cuda(float *y, const float *x, const struct lc_pool2d *p, void *stream,
                                         struct lc_err *err)
{
    long total = (long)p->n * p->c * p->ho * p->wo;
    LAUNCH("average pool forward", total, avgpool_fwd, y, x, total, *p, 1.0f / (float)(p->k * p->k));
}

extern "C" int lc_avgpool2d_backward_cuda(float *dx, const float *dy, const struct lc_pool2d *p, void *stream,
                                          struct lc_err *err)
{
    long total = (long)p->n * p->c * p->h * p->w;
    LAUNCH("average pool backward", total, avgpool_bwd, dx, dy, total, *p, 1.0f / (float)(p->k * p->k));
}

extern "C" int lc_gap_forward_cuda(float *y, const float *x, int n, int c, int hw, void *stream, struct lc_err *err)
{
    long planes = (long)n * c;
    if (planes <= 0 || hw <= 0) return 0;
    gap_fwd<<<(unsigned)planes, THREADS, 0, LC_STREAM(stream)>>>(y, x, hw);
    return launched(err, "global average pool forward");
}

extern "C" int lc_gap_backward_cuda(float *dx, const float *dy, int n, int c, int hw, void *stream,
                                    struct lc_err *err)
{
    long total = (long)n * c * hw;
    LAUNCH("global average pool backward", total, gap_bwd, dx, dy, total, hw);
}

// ---- resizing: resize.c's index and weight arithmetic, in float32

static __device__ int nearest_src(int dst, int in, int out)
{
    if (in == out) return dst;
    if (out == 2 * in) return dst >> 1;
    float scale = __fdiv_rn((float)in, (float)out);
    int s = (int)floorf(__fmul_rn((float)dst, scale));
    return s < in - 1 ? s : in - 1;
}

struct lin_tap {
    int i0, i1;
    float l0, l1;
};

static __device__ lin_tap linear_src(int dst, int in, int out)
{
    float scale = __fdiv_rn((float)in, (float)out);
    float src = __fsub_rn(__fmul_rn(scale, __fadd_rn((float)dst, 0.5f)), 0.5f);
    if (src < 0) src = 0;
    int i0 = (int)floorf(src);
    if (i0 > in - 1) i0 = in - 1;
    float l1 = __fsub_rn(src, (float)i0);
    if (l1 < 0) l1 = 0;
    if (l1 > 1) l1 = 1;
    lin_tap t = {i0, i0 + (i0 < in - 1), __fsub_rn(1.0f, l1), l1};
    return t;
}

// Both source indices never decrease with dst (every step is monotonic),
// so the outputs that read a source index form one run: these find its
// start, the first dst whose index is at least i.
static __device__ int first_nearest(int i, int in, int out)
{
    int lo = 0, hi = out;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (nearest_src(mid, in, out) < i) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static __device__ int first_linear(int i, int in, int out)
{
    int lo = 0, hi = out;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (linear_src(mid, in, out).i0 < i) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static __global__ void bilinear_fwd(float *y, const float *x, long total, int h, int w, int ho, int wo)
{
    FOR_EACH(i, total)
    {
        int ox = (int)(i % wo), oy = (int)(i / wo % ho);
        const float *xp = x + i / ((long)ho * wo) * h * w;
        lin_tap ty = linear_src(oy, h, ho), tx = linear_src(ox, w, wo);
        const float *r0 = xp + (long)ty.i0 * w, *r1 = xp + (long)ty.i1 * w;
        float a = __fadd_rn(__fmul_rn(tx.l0, r0[tx.i0]), __fmul_rn(tx.l1, r0[tx.i1]));
        float b = __fadd_rn(__fmul_rn(tx.l0, r1[tx.i0]), __fmul_rn(tx.l1, r1[tx.i1]));
        y[i] = __fadd_rn(__fmul_rn(ty.l0, a), __fmul_rn(ty.l1, b));
    }
}

// dx[iy][ix] gathers, in the CPU's order (oy, ox ascending, then its taps
// r0[i0], r0[i1], r1[i0], r1[i1]), every (l_y * l_x) * g the CPU adds to it.
// The rows reading iy are those with i0 in {iy - 1, iy}.
static __global__ void bilinear_bwd(float *dx, const float *dy, long total, int h, int w, int ho, int wo)
{
    FOR_EACH(i, total)
    {
        int ix = (int)(i % w), iy = (int)(i / w % h);
        const float *gp = dy + i / ((long)h * w) * ho * wo;
        int ox0 = first_linear(ix - 1, w, wo);
        float acc = dx[i];
        for (int oy = first_linear(iy - 1, h, ho); oy < ho; oy++) {
            lin_tap ty = linear_src(oy, h, ho);
            if (ty.i0 > iy) break;
            for (int ox = ox0; ox < wo; ox++) {
                lin_tap tx = linear_src(ox, w, wo);
                if (tx.i0 > ix) break;
                float g = gp[(long)oy * wo + ox];
                if (ty.i0 == iy) {
                    if (tx.i0 == ix) acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(ty.l0, tx.l0), g));
                    if (tx.i1 == ix) acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(ty.l0, tx.l1), g));
                }
                if (ty.i1 == iy) {
                    if (tx.i0 == ix) acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(ty.l1, tx.l0), g));
                    if (tx.i1 == ix) acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(ty.l1, tx.l1), g));
                }
            }
        }
        dx[i] = acc;
    }
}

template <typename T> static __global__ void nearest_fwd(T *y, const T *x, long total, int h, int w, int ho, int wo)
{
    FOR_EACH(i, total)
    {
        int ox = (int)(i % wo), oy = (int)(i / wo % ho);
        const T *xp = x + i / ((long)ho * wo) * h * w;
        y[i] = xp[(long)nearest_src(oy, h, ho) * w + nearest_src(ox, w, wo)];
    }
}

// dx[iy][ix] += every dy[oy][ox] that reads it, in ascending (oy, ox)
static __global__ void nearest_bwd(float *dx, const float *dy, long total, int h, int w, int ho, int wo)
{
    FOR_EACH(i, total)
    {
        int ix = (int)(i % w), iy = (int)(i / w % h);
        const float *gp = dy + i / ((long)h * w) * ho * wo;
        int ox0 = first_nearest(ix, w, wo);
        float acc = dx[i];
        for (int oy = first_nearest(iy, h, ho); oy < ho && nearest_src(oy, h, ho) == iy; oy++)
            for (int ox = ox0; ox < wo && nearest_src(ox, w, wo) == ix; ox++)
                acc = __fadd_rn(acc, gp[(long)oy * wo + ox]);
        dx[i] = acc;
    }
}

extern "C" int lc_resize_bilinear_forward_cuda(float *y, const float *x, int nc, int h, int w, int ho, int wo,
                                               void *stream, struct lc_err *err)
{
    long total = (long)nc * ho * wo;
    LAUNCH("bilinear resize forward", total, bilinear_fwd, y, x, total, h, w, ho, wo);
}

extern "C" int lc_resize_bilinear_backward_cuda(float *dx, const float *dy, int nc, int h, int w, int ho, int wo,
                                                void *stream, struct lc_err *err)
{
    long total = (long)nc * h * w;
    if (ho <= 0 || wo <= 0) return 0;
    LAUNCH("bilinear resize backward", total, bilinear_bwd, dx, dy, total, h, w, ho, wo);
}

extern "C" int lc_resize_nearest_forward_cuda(float *y, const float *x, int nc, int h, int w, int ho, int wo,
                                              void *stream, struct lc_err *err)
{
    long total = (long)nc * ho * wo;
    LAUNCH("nearest resize forward", total, nearest_fwd<float>, y, x, total, h, w, ho, wo);
}

extern "C" int lc_resize_nearest_backward_cuda(float *dx, const float *dy, int nc, int h, int w, int ho, int wo,
                                               void *stream, struct lc_err *err)
{
    long total = (long)nc * h * w;
    if (ho <= 0 || wo <= 0) return 0;
    LAUNCH("nearest resize backward", total, nearest_bwd, dx, dy, total, h, w, ho, wo);
}

extern "C" int lc_resize_nearest_u8_cuda(uint8_t *y, const uint8_t *x, int nc, int h, int w, int ho, int wo,
                                         void *stream, struct lc_err *err)
{
    long total = (long)nc * ho * wo;
    LAUNCH("nearest resize (u8)", total, nearest_fwd<uint8_t>, y, x, total, h, w, ho, wo);
}
