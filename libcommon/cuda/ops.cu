// ops: CUDA twins of PReLU, batch norm and the SGD and Adam updates (act.h,
// bn.h, optim.h), of the tensor arithmetic (tensorops.h) and of dropout
// (dropout.h). They mirror the CPU reference: per-channel sums in double, in a
// fixed order (chunks fixed by the shape, each summed by a fixed tree, then
// added in chunk order), so results do not depend on scheduling and match
// the CPU's within float32 rounding; the SGD update uses the CPU's
// expression and operation order.
// The activation kernels are templates on the storage type T (float,
// __half, __nv_bfloat16): they widen what they load, compute in float32
// exactly what the float32 kernel computes, and round each store once to
// nearest even (mixed.h's contract; T = float is the float32 op itself).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <type_traits>

#include "../dropout.h"
#include "../dtype.h" // the LC_DTYPE_* codes only: the library links none of dtype.c
#include "kernel.cuh"

// f(tag) with tag a null T * for the storage type of dt; LC_EINVAL for
// any other dt. The launchers below take T from the tag's type.
template <typename F> static int by_type(int dt, struct lc_err *err, const char *what, F f)
{
    switch (dt) {
    case LC_DTYPE_F32: return f((float *)0);
    case LC_DTYPE_F16: return f((__half *)0);
    case LC_DTYPE_BF16: return f((__nv_bfloat16 *)0);
    }
    return lc_errf(err, LC_EINVAL, NULL, -1, -1, "CUDA: %s: element type %d (not f32, f16 or bf16)", what, dt);
}
#define TAG_T(tag) typename std::remove_pointer<decltype(tag)>::type

// The channel of element i of an (n, c, hw) tensor, or of an (n, hw, c)
// one when cl (channels-last, mixed.h); c == 1 is one channel either way.
// Below 2^31 elements by multiply-and-shift dividers (kernel.cuh): a 64-bit
// division per element would cost the elementwise kernels more than their
// memory traffic.
// cv: packs of V elements hold V consecutive channels whose per-channel
// values may be read in 16-byte loads (chan_vals; set by with_vals).
struct chan_map {
    divider hw, c;
    int ci, hwi, cl, big, cv;
};

static chan_map chan_map_make(int c, int hw, int cl, long total)
{
    return chan_map{divider_make((unsigned)(hw > 0 ? hw : 1)), divider_make((unsigned)(c > 0 ? c : 1)), c, hw,
                    cl && c > 1, total >= 2147483648L, 0};
}

// cm for packs of V elements whose per-channel arrays are ps (nulls
// aside): cv when channels-last with c a multiple of V (a pack's channels
// are then consecutive, from a multiple of V) and every array 16-byte aligned
template <int V> static chan_map with_vals(chan_map cm, std::initializer_list<const float *> ps)
{
    bool ok = V > 1 && cm.cl && cm.ci % V == 0;
    for (const float *p : ps) ok = ok && (uintptr_t)p % 16 == 0;
    cm.cv = ok;
    return cm;
}

static __device__ __forceinline__ int chan(const chan_map &m, long i)
{
    if (m.ci == 1) return 0;
    if (m.big) return m.cl ? (int)(i % m.ci) : (int)(i / m.hwi % m.ci);
    unsigned u = (unsigned)i;
    if (m.cl) return (int)(u - div_by(m.c, u) * (unsigned)m.ci);
    unsigned q = div_by(m.hw, u);
    return (int)(q - div_by(m.c, q) * (unsigned)m.ci);
}

// The channels of the V elements of the pack at i, computed once for all
// the per-channel arrays a kernel reads (chan's divisions sit behind
// branches, so the compiler did not share them between arrays).
template <int V> static __device__ __forceinline__ void pack_chans(int *ks, const chan_map &cm, long i)
{
    if (cm.cv) {
        int k0 = chan(cm, i);
        for (int j = 0; j < V; j++) ks[j] = k0 + j;
    } else {
        for (int j = 0; j < V; j++) ks[j] = chan(cm, i + j);
    }
}

// The per-channel values p[S k + f] (f < S) of a pack's channels ks, into
// v[S j + f]. With cm.cv the pack's channels are ks[0] .. ks[0] + V - 1
// and the S V values come in 16-byte loads; otherwise element by element.
// (Channels-last, one 4-byte load an element spread each of a warp's loads
// over the 8 channels of each lane: up to 16 cache lines a load.)
template <int V, int S>
static __device__ __forceinline__ void chan_vals(float *v, const float *p, const chan_map &cm, const int *ks)
{
    if constexpr (V > 1 && S * V % 4 == 0) {
        if (cm.cv) {
            const float4 *q = reinterpret_cast<const float4 *>(p + (long)S * ks[0]);
            for (int u = 0; u < S * V / 4; u++) {
                float4 t = q[u];
                v[4 * u] = t.x, v[4 * u + 1] = t.y, v[4 * u + 2] = t.z, v[4 * u + 3] = t.w;
            }
            return;
        }
    }
    for (int j = 0; j < V; j++)
        for (int f = 0; f < S; f++) v[S * j + f] = p[(long)S * ks[j] + f];
}

// ---- PReLU

template <typename T, int V>
static __global__ void prelu_fwd(T *y, const T *x, const float *a, long total, chan_map cm)
{
    pack<T, V> xv[PACKS_A_THREAD];
    for_packs<V>(total, [&](int r, long i) { xv[r] = load_pack<V>(x, i); }, [&](int r, long i) {
        pack<T, V> yv;
        float av[V];
        int ks[V];
        pack_chans<V>(ks, cm, i);
        chan_vals<V, 1>(av, a, cm, ks);
        for (int j = 0; j < V; j++) {
            float s = av[j], v = to_f(xv[r].e[j]);
            yv.e[j] = from_f<T>(v > 0 ? v : s * v);
        }
        store_pack(y, i, yv);
    });
}

// set: dx = 0 + the gradient (what adding to zeros gives, -0 made +0)
// without reading dx
template <typename T, int V>
static __global__ void prelu_bwd_dx(T *dx, const T *dy, const T *x, const float *a, long total, chan_map cm, int set)
{
    pack<T, V> dyv[PACKS_A_THREAD], xv[PACKS_A_THREAD], dxv[PACKS_A_THREAD];
    auto load = [&](int r, long i) {
        dyv[r] = load_pack<V>(dy, i), xv[r] = load_pack<V>(x, i);
        if (!set) dxv[r] = load_pack<V>(dx, i);
    };
    for_packs<V>(total, load, [&](int r, long i) {
        float av[V];
        int ks[V];
        pack_chans<V>(ks, cm, i);
        chan_vals<V, 1>(av, a, cm, ks);
        for (int j = 0; j < V; j++) {
            float s = av[j], g = to_f(dyv[r].e[j]);
            float acc = set ? 0.0f : to_f(dxv[r].e[j]);
            // no FMA: the CPU rounds the product
            dxv[r].e[j] = from_f<T>(acc + (to_f(xv[r].e[j]) > 0 ? g : __fmul_rn(s, g)));
        }
        store_pack(dx, i, dxv[r]);
    });
}

extern "C" int lc_prelu_forward_cuda(float *y, const float *x, const float *a, int n, int c, int hw, void *stream,
                                     struct lc_err *err)
{
    return lc_prelu_forward_dt_cuda(LC_DTYPE_F32, y, x, a, n, c, hw, 0, stream, err);
}

extern "C" int lc_prelu_backward_cuda(float *dx, float *da, const float *dy, const float *x, const float *a, int n,
                                      int c, int hw, void *stream, struct lc_err *err)
{
    return lc_prelu_backward_dt_cuda(LC_DTYPE_F32, dx, da, dy, x, a, n, c, hw, 0, 0, stream, err);
}

// ---- batch norm (its statistics and backward sums: the per-channel sums below)

// y = x a + b, rounded to T: batch norm's output, the product rounded
// before the add as bn.c's axpb (no FMA)
template <typename T> static __device__ __forceinline__ T axpb(T x, float a, float b)
{
    return from_f<T>(__fadd_rn(__fmul_rn(to_f(x), a), b));
}

// y = axpb(x) per channel (ab[2k], ab[2k + 1]: chan_bn_stats or bn_eval_coef)
template <typename T, int V>
static __global__ void bn_axpb(T *y, const T *x, const float *ab, long total, chan_map cm)
{
    pack<T, V> xv[PACKS_A_THREAD];
    for_packs<V>(total, [&](int r, long i) { xv[r] = load_pack<V>(x, i); }, [&](int r, long i) {
        pack<T, V> yv;
        float abv[2 * V];
        int ks[V];
        pack_chans<V>(ks, cm, i);
        chan_vals<V, 2>(abv, ab, cm, ks);
        for (int j = 0; j < V; j++)
            yv.e[j] = axpb(xv[r].e[j], abv[2 * j], abv[2 * j + 1]);
        store_pack(y, i, yv);
    });
}

// Batch norm then PReLU, fused: y is not stored but recomputed where it is
// needed, as the unfused ops round it. bn_y: y as bn_axpb stores it (in T),
// widened; prelu_dy: PReLU's input gradient as prelu_bwd_dx with set
// stores it (in T), widened.
template <typename T> static __device__ __forceinline__ float bn_y(T x, float a, float b)
{
    return to_f(axpb(x, a, b));
}

template <typename T> static __device__ __forceinline__ float prelu_dy(float dz, float y, float s)
{
    return to_f(from_f<T>(__fadd_rn(0.0f, y > 0 ? dz : __fmul_rn(s, dz)))); // 0 + -0 is +0: not folded away
}

// z = prelu(y), y = x a + b (bn_axpb then prelu_fwd in one pass)
template <typename T, int V>
static __global__ void bn_axpb_prelu(T *z, const T *x, const float *ab, const float *slope, long total, chan_map cm)
{
    pack<T, V> xv[PACKS_A_THREAD];
    for_packs<V>(total, [&](int r, long i) { xv[r] = load_pack<V>(x, i); }, [&](int r, long i) {
        pack<T, V> zv;
        float abv[2 * V], sv[V];
        int ks[V];
        pack_chans<V>(ks, cm, i);
        chan_vals<V, 2>(abv, ab, cm, ks);
        chan_vals<V, 1>(sv, slope, cm, ks);
        for (int j = 0; j < V; j++) {
            float s = sv[j], v = bn_y<T>(xv[r].e[j], abv[2 * j], abv[2 * j + 1]);
            zv.e[j] = from_f<T>(v > 0 ? v : s * v);
        }
        store_pack(z, i, zv);
    });
}

// bn.c's eval a and b, per channel, in double from the running statistics
static __global__ void bn_eval_coef(float *ab, const float *gamma, const float *beta, const float *run_mean,
                                    const float *run_var, int c, float eps)
{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= c) return;
    double a = (gamma ? (double)gamma[k] : 1.0) / sqrt((double)run_var[k] + eps);
    ab[2 * k] = (float)a;
    ab[2 * k + 1] = (float)__dadd_rn(beta ? (double)beta[k] : 0.0, -__dmul_rn((double)run_mean[k], a));
}

extern "C" int lc_bn_forward_train_cuda(float *y, float *save_mean, float *save_invstd, float *run_mean,
                                        float *run_var, const float *x, const float *gamma, const float *beta,
                                        const struct lc_bn *p, void *stream, struct lc_err *err)
{
    return lc_bn_forward_train_dt_cuda(LC_DTYPE_F32, y, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p,
                                       stream, err);
}

extern "C" int lc_bn_forward_eval_cuda(float *y, const float *x, const float *gamma, const float *beta,
                                       const float *run_mean, const float *run_var, const struct lc_bn *p,
                                       void *stream, struct lc_err *err)
{
    return lc_bn_forward_eval_dt_cuda(LC_DTYPE_F32, y, x, gamma, beta, run_mean, run_var, p, stream, err);
}

extern "C" int lc_bn_backward_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                   const float *save_mean, const float *save_invstd, const float *gamma,
                                   const struct lc_bn *p, void *stream, struct lc_err *err)
{
    return lc_bn_backward_dt_cuda(LC_DTYPE_F32, dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p, 0, stream,
                                  err);
}

// ---- SGD: the CPU's expression, element by element

// element i with weight decay wd (the one expression of both kernels below)
static __device__ __forceinline__ void sgd_at(float *p, float *buf, const float *g, long i, float wd,
                                              const lc_sgd_args &a)
{
    float d = wd != 0 ? __fadd_rn(g[i], __fmul_rn(wd, p[i])) : g[i];
    if (buf) {
        buf[i] = a.first ? d : __fadd_rn(__fmul_rn(buf[i], a.momentum), __fmul_rn(1 - a.dampening, d));
        d = a.nesterov ? __fadd_rn(d, __fmul_rn(a.momentum, buf[i])) : buf[i];
    }
    p[i] = __fadd_rn(p[i], __fmul_rn(-a.lr, d));
}

static __global__ void sgd(float *p, float *buf, const float *g, long n, lc_sgd_args a)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        sgd_at(p, buf, g, i, a.weight_decay, a);
}

// an update table: one block a chunk [lo, hi) of tensor t
static __global__ void sgd_table(const lc_update_tensor *ts, const lc_update_chunk *cs, lc_sgd_args a)
{
    const lc_update_chunk c = cs[blockIdx.x];
    const lc_update_tensor t = ts[c.t];
    for (long i = c.lo + threadIdx.x; i < c.hi; i += blockDim.x) sgd_at(t.p, t.s1, t.g, i, t.weight_decay, a);
}

extern "C" int lc_sgd_update_table_cuda(const struct lc_update_tensor *ts, const struct lc_update_chunk *cs,
                                        size_t chunks, const struct lc_sgd_args *a, void *stream, struct lc_err *err)
{
    if (chunks == 0) return 0;
    sgd_table<<<(unsigned)chunks, THREADS, 0, LC_STREAM(stream)>>>(ts, cs, *a);
    return launched(err, "sgd update of a table");
}

extern "C" int lc_sgd_update_cuda(float *p, float *buf, const float *g, size_t n, const struct lc_sgd_args *a,
                                  void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    sgd<<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>(p, buf, g, (long)n, *a);
    return launched(err, "sgd update");
}

// ---- Adam: the CPU's expression (lc_adam_update), each product and
// quotient rounded as the CPU rounds it (no FMA contraction)

static __device__ __forceinline__ void adam_at(float *p, float *m, float *v, const float *g, long i, float wd,
                                               const lc_adam_args &a)
{
    float gi = wd != 0 ? __fadd_rn(g[i], __fmul_rn(wd, p[i])) : g[i];
    float mi = __fadd_rn(__fmul_rn(m[i], a.beta1), __fmul_rn(1 - a.beta1, gi));
    float vi = __fadd_rn(__fmul_rn(v[i], a.beta2), __fmul_rn(1 - a.beta2, __fmul_rn(gi, gi)));
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), a.bc2_sqrt), a.eps);
    m[i] = mi, v[i] = vi;
    p[i] = __fadd_rn(p[i], __fmul_rn(-a.step_size, __fdiv_rn(mi, denom)));
}

static __global__ void adam(float *p, float *m, float *v, const float *g, long n, lc_adam_args a)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        adam_at(p, m, v, g, i, a.weight_decay, a);
}

static __global__ void adam_table(const lc_update_tensor *ts, const lc_update_chunk *cs, lc_adam_args a)
{
    const lc_update_chunk c = cs[blockIdx.x];
    const lc_update_tensor t = ts[c.t];
    for (long i = c.lo + threadIdx.x; i < c.hi; i += blockDim.x) adam_at(t.p, t.s1, t.s2, t.g, i, t.weight_decay, a);
}

extern "C" int lc_adam_update_table_cuda(const struct lc_update_tensor *ts, const struct lc_update_chunk *cs,
                                         size_t chunks, const struct lc_adam_args *a, void *stream, struct lc_err *err)
{
    if (chunks == 0) return 0;
    adam_table<<<(unsigned)chunks, THREADS, 0, LC_STREAM(stream)>>>(ts, cs, *a);
    return launched(err, "adam update of a table");
}

extern "C" int lc_adam_update_cuda(float *p, float *m, float *v, const float *g, size_t n,
                                   const struct lc_adam_args *a, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    adam<<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>(p, m, v, g, (long)n, *a);
    return launched(err, "adam update");
}

// ---- tensor arithmetic (tensorops.h)

template <typename T, int V> static __global__ void add(T *y, const T *a, const T *b, long n)
{
    pack<T, V> av[PACKS_A_THREAD], bv[PACKS_A_THREAD];
    auto load = [&](int r, long i) { av[r] = load_pack<V>(a, i), bv[r] = load_pack<V>(b, i); };
    for_packs<V>(n, load, [&](int r, long i) {
        pack<T, V> yv;
        for (int j = 0; j < V; j++) yv.e[j] = from_f<T>(to_f(av[r].e[j]) + to_f(bv[r].e[j]));
        store_pack(y, i, yv);
    });
}

// Where element i of the subsampled (ho, wo) tensor comes from in the
// (h, w) one: (n, c, h, w), or (n, h, w, c) when cl. s = 1 (the identity
// shortcut of most IR units) is i itself, without the divisions.
static __device__ __forceinline__ long subsample_src(long i, int c, int h, int w, int s, int ho, int wo, int cl)
{
    if (s == 1) return i;
    if (cl) {
        int k = (int)(i % c);
        long r = i / c;
        int oj = (int)(r % wo), oi = (int)(r / wo % ho);
        long nn = r / ((long)wo * ho);
        return ((nn * h + (long)oi * s) * w + (long)oj * s) * c + k;
    }
    long nc = i / ((long)ho * wo);
    int r = (int)(i % ((long)ho * wo)), oi = r / wo, oj = r % wo;
    return nc * h * w + (long)oi * s * w + (long)oj * s;
}

template <typename T>
static __global__ void subsample_add(T *y, const T *x, long total, int c, int h, int w, int s, int ho, int wo, int cl)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
        y[i] = from_f<T>(to_f(y[i]) + to_f(x[subsample_src(i, c, h, w, s, ho, wo, cl)]));
}

// y = x a + b, rounded to T as bn_axpb stores it, plus r's element as
// subsample_add adds it (the two in one pass: y written once, not read)
// (r is read packed only when s = 1: then it lies as y does)
template <typename T, int V>
static __global__ void bn_axpb_add(T *y, const T *x, const float *ab, const T *r, long total, chan_map cm, int c,
                                   int rh, int rw, int s, int ho, int wo, int cl)
{
    pack<T, V> xv[PACKS_A_THREAD], rv[PACKS_A_THREAD];
    auto load = [&](int u, long i) {
        xv[u] = load_pack<V>(x, i);
        if (s == 1) rv[u] = load_pack<V>(r, i);
        else
            for (int j = 0; j < V; j++) rv[u].e[j] = r[subsample_src(i + j, c, rh, rw, s, ho, wo, cl)];
    };
    for_packs<V>(total, load, [&](int u, long i) {
        pack<T, V> yv;
        float abv[2 * V];
        int ks[V];
        pack_chans<V>(ks, cm, i);
        chan_vals<V, 2>(abv, ab, cm, ks);
        for (int j = 0; j < V; j++)
            yv.e[j] = from_f<T>(bn_y<T>(xv[u].e[j], abv[2 * j], abv[2 * j + 1]) + to_f(rv[u].e[j]));
        store_pack(y, i, yv);
    });
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
    scale<<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>(y, x, s, (long)n);
    return launched(err, "scale");
}

extern "C" int lc_add_forward_cuda(float *y, const float *a, const float *b, size_t n, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    return lc_add_dt_cuda(LC_DTYPE_F32, y, a, b, n, stream, err);
}

extern "C" int lc_subsample_add_cuda(float *y, const float *x, int n, int c, int h, int w, int s, void *stream,
                                     struct lc_err *err)
{
    return lc_subsample_add_dt_cuda(LC_DTYPE_F32, y, x, n, c, h, w, s, 0, stream, err);
}

extern "C" int lc_l2norm_rows_cuda(float *y, float *norm, const float *x, int n, int d, void *stream,
                                   struct lc_err *err)
{
    if (n == 0) return 0;
    l2norm_rows<<<n, THREADS, 0, LC_STREAM(stream)>>>(y, norm, x, d);
    return launched(err, "l2 norm");
}

// ---- training's elementwise ops and row reductions (tensorops.h, dropout.h)

// Each dy element goes to its own dx position (distinct for s >= 1): no
// two threads touch one dx, so no atomics, and one add as the CPU does.
template <typename T>
static __global__ void subsample_bwd(T *dx, const T *dy, long total, int c, int h, int w, int s, int ho, int wo, int cl)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        T *d = dx + subsample_src(i, c, h, w, s, ho, wo, cl);
        *d = from_f<T>(to_f(*d) + to_f(dy[i]));
    }
}

// The set backward's dx element i (widened), dx (n, c, h, w), or (n, h, w,
// c) when cl: 0 + dy where it was sampled, +0 elsewhere (what adding into
// zeros gives)
template <typename T>
static __device__ __forceinline__ float subsample_dx(const T *dy, long i, int c, int h, int w, int s, int ho, int wo,
                                                     int cl)
{
    if (s == 1) return to_f(from_f<T>(0.0f + to_f(dy[i])));
    long src;
    int hh, ww;
    if (cl) {
        int k = (int)(i % c);
        long r = i / c;
        ww = (int)(r % w), hh = (int)(r / w % h);
        src = ((r / ((long)w * h) * ho + hh / s) * wo + ww / s) * c + k;
    } else {
        long nc = i / ((long)h * w);
        int r = (int)(i % ((long)h * w));
        hh = r / w, ww = r % w;
        src = (nc * ho + hh / s) * wo + ww / s;
    }
    return hh % s == 0 && ww % s == 0 ? to_f(from_f<T>(0.0f + to_f(dy[src]))) : 0.0f;
}

// set: every element of the (h, w) dx written, dx not read (s = 1: in place)
template <typename T>
static __global__ void subsample_bwd_set(T *dx, const T *dy, long total, int c, int h, int w, int s, int ho, int wo,
                                         int cl)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
        dx[i] = from_f<T>(subsample_dx(dy, i, c, h, w, s, ho, wo, cl));
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
template <typename T>
static __global__ void dropout_apply(T *y, const T *x, const uint8_t *mask, long n, float keep, int scale)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] = mask[i] ? (scale ? from_f<T>(__fmul_rn(to_f(x[i]), keep)) : x[i]) : from_f<T>(0.0f);
}

template <typename T> static __global__ void dropout_bwd(T *dx, const T *dy, const uint8_t *mask, long n, float keep)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        if (mask[i]) dx[i] = from_f<T>(__fadd_rn(to_f(dx[i]), __fmul_rn(to_f(dy[i]), keep)));
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
    return lc_subsample_backward_dt_cuda(LC_DTYPE_F32, dx, dy, n, c, h, w, s, 0, 0, stream, err);
}

extern "C" int lc_l2norm_rows_backward_cuda(float *dx, const float *dy, const float *dnorm, const float *y,
                                            const float *norm, int n, int d, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    l2norm_rows_bwd<<<n, THREADS, 0, LC_STREAM(stream)>>>(dx, dy, dnorm, y, norm, d);
    return launched(err, "l2 norm backward");
}

extern "C" int lc_dropout_mask_cuda(uint8_t *mask, size_t n, float p, uint64_t key, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    if (p <= 0.0f) {
        cudaError_t e = cudaMemsetAsync(mask, 1, n, LC_STREAM(stream));
        return e == cudaSuccess ? 0
                                : lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: dropout mask: %s", cudaGetErrorString(e));
    }
    dropout_mask<<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>(mask, (long)n, p, key);
    return launched(err, "dropout mask");
}

extern "C" int lc_dropout_apply_cuda(float *y, const float *x, const uint8_t *mask, size_t n, float p, void *stream,
                                     struct lc_err *err)
{
    if (n == 0) return 0;
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
    dropout_apply<float><<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>(y, x, mask, (long)n, keep,
                                                                                   !(p <= 0.0f));
    return launched(err, "dropout");
}

extern "C" int lc_dropout_backward_cuda(float *dx, const float *dy, const uint8_t *mask, size_t n, float p,
                                        void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
    dropout_bwd<float><<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>(dx, dy, mask, (long)n, keep);
    return launched(err, "dropout backward");
}

extern "C" int lc_argmax_rows_cuda(int32_t *idx, const float *x, int n, int c, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    argmax_rows<<<n, THREADS, 0, LC_STREAM(stream)>>>(idx, x, c);
    return launched(err, "argmax");
}

// ---- mixed precision (mixed.h): casts, the unscale-and-check, and the
// activation ops above on 16-bit storage

template <typename Y, typename X> static __global__ void cast(Y *y, const X *x, long n)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] = from_f<Y>(to_f(x[i]));
}

template <typename X> static __global__ void cast_add(float *y, const X *x, long n)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] = __fadd_rn(y[i], to_f(x[i]));
}

// g *= inv; a block that met an inf or NaN (tested before the product, as
// the CPU does) sets *found_inf; nothing clears it
static __global__ void unscale_check(float *g, long n, float inv, float *found_inf)
{
    int bad = 0;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float v = g[i];
        bad |= (__float_as_uint(v) & 0x7f800000u) == 0x7f800000u;
        g[i] = __fmul_rn(v, inv);
    }
    if (__syncthreads_or(bad) && threadIdx.x == 0) *found_inf = 1.0f;
}

extern "C" int lc_cast_cuda(void *y, int ydt, const void *x, int xdt, size_t n, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    cudaStream_t st = LC_STREAM(stream);
    if (ydt == xdt) {
        if (!(xdt == LC_DTYPE_F32 || xdt == LC_DTYPE_F16 || xdt == LC_DTYPE_BF16))
            return lc_errf(err, LC_EINVAL, NULL, -1, -1, "CUDA: cast: element type %d (not f32, f16 or bf16)", xdt);
        size_t bytes = n * (xdt == LC_DTYPE_F32 ? 4 : 2);
        cudaError_t e = y == x ? cudaSuccess : cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice, st);
        return e == cudaSuccess ? 0
                                : lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: cast (copy): %s", cudaGetErrorString(e));
    }
    return by_type(ydt, err, "cast", [&](auto *ty) {
        return by_type(xdt, err, "cast", [&](auto *tx) {
            typedef TAG_T(ty) Y;
            typedef TAG_T(tx) X;
            cast<Y, X><<<grid_for((long)n), THREADS, 0, st>>>((Y *)y, (const X *)x, (long)n);
            return launched(err, "cast");
        });
    });
}

extern "C" int lc_cast_add_cuda(float *y, const void *x, int xdt, size_t n, void *stream, struct lc_err *err)
{
    if (n == 0) return 0;
    return by_type(xdt, err, "cast add", [&](auto *tag) {
        typedef TAG_T(tag) X;
        cast_add<X><<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>(y, (const X *)x, (long)n);
        return launched(err, "cast add");
    });
}

extern "C" int lc_unscale_check_cuda(float *g, size_t n, float inv_scale, float *found_inf, void *stream,
                                     struct lc_err *err)
{
    if (n == 0) return 0;
    unscale_check<<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>(g, (long)n, inv_scale, found_inf);
    return launched(err, "unscale check");
}

// ---- per-channel sums (batch norm's statistics and backward, PReLU's slopes)
// Each channel's m = n * hw values are cut into chunks fixed by the shape
// alone; a block sums one chunk in double, its threads' partials added in
// a fixed order, into part[chunk][q][channel] (q < NQ); a block per channel then
// adds the chunks (chunk_sums: a fixed split and tree). Deterministic, and
// many blocks per channel (one block per channel left most of the card idle).
// (N,C,H,W): a block of THREADS walks one channel's chunk plane by plane.
// Channels-last: a block of 32 channels x 8 row lanes, so a warp reads
// one row's 32 adjacent channels; or, where c is a multiple of a 16-byte
// pack (cl_packed_partials), a thread takes a pack of channels, in the
// same order.

// SUM_BNP_*: SUM_BN_BWD and SUM_PRELU_DA of a fused batch norm and PReLU,
// with PReLU's input y and its gradient dy recomputed from x and the
// incoming gradient dz (passed as dy) by bn_y and prelu_dy; SUM_BNP_ALL:
// both in one pass (q = 0, 1: SUM_BNP_BWD's, q = 2: SUM_BNP_DA's)
enum { SUM_SHIFTED, SUM_BN_BWD, SUM_PRELU_DA, SUM_BNP_BWD, SUM_BNP_DA, SUM_BNP_ALL };
enum { NQ = 3 }; // the most sums of a kind: part's q stride

// a channel's constants for add_terms: the shift K (SUM_SHIFTED), the saved
// mean (SUM_BN_BWD, SUM_BNP_BWD, SUM_BNP_ALL), y = x a + b's a and b and
// PReLU's slope s (SUM_BNP_*)
struct chan_k {
    double md;
    float mf, a, b, s;
};

// the kind's sums: q = 0 .. nsums - 1
template <int KIND> static __device__ __forceinline__ constexpr int nsums()
{
    return KIND == SUM_PRELU_DA || KIND == SUM_BNP_DA ? 1 : KIND == SUM_BNP_ALL ? 3 : 2;
}

// Batch norm's statistics take one pass: sums of x - K and (x - K)^2 in
// double, K the channel's first value (shift_of), so the variance
// S2 / m - (S1 / m)^2 cancels nothing that matters (|mean - K| is a few
// standard deviations; double keeps 16 digits). bn.c's two passes give the
// same statistics to within float32 rounding; reading x once instead of
// twice saves a pass over every batch norm's input.
template <typename T> static __device__ __forceinline__ double shift_of(const T *x, int k, int hw, int cl)
{
    return to_f(x[cl ? (long)k : (long)k * hw]);
}

struct chan_split {
    long m, per; // values per channel, per chunk
    int chunks;
    int cl;
};

// m > 0 (the launchers return early on empty tensors); a chunk is about
// 64 rows channels-last (8 a row lane), 4096 values of one channel
// otherwise. (256 rows left the 14 x 14 and 7 x 7 stages' sums a few
// hundred blocks of 16 dependent loads a thread at batch 128.)
static chan_split split_channels(long m, int cl)
{
    long want = cl ? 64 : 4096, chunks = (m + want - 1) / want;
    chunks = chunks < 1 ? 1 : chunks > 1024 ? 1024 : chunks;
    long per = (m + chunks - 1) / chunks;
    return chan_split{m, per, (int)((m + per - 1) / per), cl};
}

template <typename T, int KIND>
static __device__ __forceinline__ chan_k chan_consts(const T *x, const float *mean_f, const float *ab,
                                                     const float *slope, int k, int hw, int cl)
{
    chan_k ck = {0.0, 0.0f, 0.0f, 0.0f, 0.0f};
    if constexpr (KIND == SUM_SHIFTED) ck.md = shift_of(x, k, hw, cl);
    if constexpr (KIND == SUM_BN_BWD || KIND == SUM_BNP_BWD || KIND == SUM_BNP_ALL) ck.mf = mean_f[k];
    if constexpr (KIND == SUM_BNP_BWD || KIND == SUM_BNP_DA || KIND == SUM_BNP_ALL)
        ck.a = ab[2 * k], ck.b = ab[2 * k + 1], ck.s = slope[k];
    return ck;
}

// one value's terms: q = 0: x - K (SUM_SHIFTED), dy (SUM_BN_BWD), dy x
// where x <= 0 (SUM_PRELU_DA); q = 1: (x - K)^2 (SUM_SHIFTED), dy (x -
// mean) (SUM_BN_BWD). The terms bn.c and act.c sum; the SUM_BNP_* kinds the
// same of the recomputed y and dy, SUM_BNP_ALL SUM_BNP_DA's as q = 2.
// (x and dy: the value's x and dy; dy is not read for SUM_SHIFTED)
template <typename T, int KIND>
static __device__ __forceinline__ void add_terms(double *s, T x, T dy, const chan_k &ck)
{
    if constexpr (KIND == SUM_SHIFTED) {
        double d = (double)to_f(x) - ck.md;
        s[0] += d;
        s[1] += d * d;
    } else if constexpr (KIND == SUM_BN_BWD || KIND == SUM_BNP_BWD || KIND == SUM_BNP_ALL) {
        float g, y = 0;
        if constexpr (KIND == SUM_BN_BWD) g = to_f(dy);
        else y = bn_y<T>(x, ck.a, ck.b), g = prelu_dy<T>(to_f(dy), y, ck.s);
        s[0] += g;
        s[1] += (double)g * (to_f(x) - ck.mf);
        if constexpr (KIND == SUM_BNP_ALL)
            if (y <= 0) s[2] += (double)to_f(dy) * y;
    } else {
        float v;
        if constexpr (KIND == SUM_PRELU_DA) v = to_f(x);
        else v = bn_y<T>(x, ck.a, ck.b);
        if (v <= 0) s[0] += (double)to_f(dy) * v;
    }
}

// A thread's values are loaded UNROLL at a time before any is added (in
// the order they were added one by one, so the sums are unchanged): the
// loads then overlap, where one load a thread kept too few bytes in flight.
enum { UNROLL = 8 };

// x[o[u]] and dy[o[u]] for u < cnt (dy unless SUM_SHIFTED), then their terms in u order
template <typename T, int KIND>
static __device__ __forceinline__ void add_unrolled(double *s, const T *x, const T *dy, const long *o, int cnt,
                                                    const chan_k &ck)
{
    T xs[UNROLL], ds[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; u++)
        if (u < cnt) {
            xs[u] = x[o[u]];
            if constexpr (KIND != SUM_SHIFTED) ds[u] = dy[o[u]];
            else ds[u] = xs[u];
        }
#pragma unroll
    for (int u = 0; u < UNROLL; u++)
        if (u < cnt) add_terms<T, KIND>(s, xs[u], ds[u], ck);
}

// grid (chunks, c): channel k's values [r0, r1) are planes' runs of hw;
// thread t takes r0 + t, r0 + t + THREADS, ... tracking (plane, offset)
template <typename T, int KIND>
static __global__ void nchw_partials(double *part, const T *x, const T *dy, const float *mean_f, const float *ab,
                                     const float *slope, int c, int hw, long m, long per)
{
    constexpr int ns = nsums<KIND>();
    __shared__ double sh[ns][THREADS];
    int k = blockIdx.y;
    long r0 = (long)blockIdx.x * per, r1 = r0 + per < m ? r0 + per : m, j = r0 + threadIdx.x;
    const chan_k ck = chan_consts<T, KIND>(x, mean_f, ab, slope, k, hw, 0);
    double s[NQ] = {0, 0, 0};
    long pl = j / hw;
    int off = (int)(j - pl * hw);
    while (j < r1) {
        long o[UNROLL];
        int cnt = 0; // the offsets below r1: a prefix of o
#pragma unroll
        for (int u = 0; u < UNROLL; u++, j += THREADS) {
            o[u] = (pl * c + k) * hw + off;
            cnt += j < r1;
            off += THREADS;
            if (off >= hw) {
                int q = off / hw;
                pl += q, off -= q * hw;
            }
        }
        add_unrolled<T, KIND>(s, x, dy, o, cnt, ck);
    }
    for (int q = 0; q < ns; q++) sh[q][threadIdx.x] = s[q];
    for (int q = 0; q < ns; q++) block_sum(sh[q]);
    if (threadIdx.x) return;
    for (int q = 0; q < ns; q++) part[((long)blockIdx.x * NQ + q) * c + k] = sh[q][0];
}

// grid (chunks, ceil(c / 32)), block (32, 8): rows [r0, r1) of (rows, c)
template <typename T, int KIND>
static __global__ void LC_MIN_BLOCKS(4) cl_partials(double *part, const T *x, const T *dy, const float *mean_f,
                                                    const float *ab, const float *slope, long rows, int c, long per)
{
    constexpr int ns = nsums<KIND>();
    __shared__ double sh[ns][8][32];
    int tx = threadIdx.x, ty = threadIdx.y, k = blockIdx.y * 32 + tx;
    long r0 = (long)blockIdx.x * per, r1 = r0 + per < rows ? r0 + per : rows;
    double s[NQ] = {0, 0, 0};
    if (k < c) {
        const chan_k ck = chan_consts<T, KIND>(x, mean_f, ab, slope, k, 0, 1);
        for (long r = r0 + ty; r < r1; r += 8 * UNROLL) {
            long o[UNROLL];
            int cnt = 0; // the rows below r1: a prefix of o
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                o[u] = (r + 8L * u) * c + k;
                cnt += r + 8L * u < r1;
            }
            add_unrolled<T, KIND>(s, x, dy, o, cnt, ck);
        }
    }
    for (int q = 0; q < ns; q++) sh[q][ty][tx] = s[q];
    __syncthreads();
    if (ty || k >= c) return;
    for (int q = 0; q < ns; q++) {
        for (int j = 1; j < 8; j++) s[q] += sh[q][j][tx];
        part[((long)blockIdx.x * NQ + q) * c + k] = s[q];
    }
}

// Channels-last with c a multiple of V = 16 / sizeof(T), x and dy 16-byte
// aligned: a thread takes V adjacent channels in one 16-byte load a row,
// where cl_partials' one element a thread gave a warp's load 64 bytes
// (fp16), eight times the load requests for the same bytes. Each channel's
// terms are added in cl_partials' order: row lane ty adds rows r0 + ty,
// r0 + ty + 8, ... in turn, and lane 0 adds the other lanes' sums in lane
// order, so the partials are cl_partials', bit for bit.
// grid (chunks, ceil(c / (PACKS V))), block (PACKS, LANES): a warp reads
// PACKS packs of 4 rows (whole 128-byte lines where c is a multiple of
// 128 bytes' channels).
enum { PACKS = 8, LANES = 8 };

// rows loaded at a time a thread: its double sums and per-channel constants
// take 50-80 registers, the loads the rest of 128 (the SUM_BNP_* kinds'
// recomputed y and gradient spilled with 4)
template <int KIND> static __host__ __device__ constexpr int packed_unroll()
{
    return KIND == SUM_SHIFTED ? 8 : KIND == SUM_BN_BWD || KIND == SUM_PRELU_DA ? 4 : 2;
}

template <typename T, int KIND, int V>
static __global__ void __launch_bounds__(PACKS * LANES, 8)
    cl_packed_partials(double *part, const T *x, const T *dy, const float *mean_f, const float *ab,
                       const float *slope, long rows, int c, long per)
{
    constexpr int ns = nsums<KIND>(), U = packed_unroll<KIND>();
    __shared__ double sh[LANES - 1][PACKS * V];
    static_assert(LANES == 8, "cl_partials' row lanes: the order of the sums");
    int tx = threadIdx.x, ty = threadIdx.y, k0 = (blockIdx.y * PACKS + tx) * V;
    long r0 = (long)blockIdx.x * per, r1 = r0 + per < rows ? r0 + per : rows;
    double s[V][NQ];
    for (int j = 0; j < V; j++)
        for (int q = 0; q < NQ; q++) s[j][q] = 0;
    if (k0 < c) {
        chan_k ck[V];
        for (int j = 0; j < V; j++) ck[j] = chan_consts<T, KIND>(x, mean_f, ab, slope, k0 + j, 0, 1);
        for (long r = r0 + ty; r < r1; r += LANES * U) {
            pack<T, V> xs[U], ds[U];
            int cnt = 0; // the rows below r1: a prefix
#pragma unroll
            for (int u = 0; u < U; u++)
                if (r + (long)LANES * u < r1) {
                    long o = (r + (long)LANES * u) * c + k0;
                    xs[u] = load_pack<V>(x, o);
                    if constexpr (KIND != SUM_SHIFTED) ds[u] = load_pack<V>(dy, o);
                    cnt++;
                }
#pragma unroll
            for (int u = 0; u < U; u++)
                if (u < cnt)
                    for (int j = 0; j < V; j++)
                        add_terms<T, KIND>(s[j], xs[u].e[j], KIND == SUM_SHIFTED ? xs[u].e[j] : ds[u].e[j], ck[j]);
        }
    }
    for (int q = 0; q < ns; q++) {
        if (ty && k0 < c)
            for (int j = 0; j < V; j++) sh[ty - 1][tx * V + j] = s[j][q];
        __syncthreads();
        if (!ty && k0 < c)
            for (int j = 0; j < V; j++) {
                double a = s[j][q];
                for (int l = 0; l < LANES - 1; l++) a += sh[l][tx * V + j];
                part[((long)blockIdx.x * NQ + q) * c + k0 + j] = a;
            }
        __syncthreads();
    }
}

template <typename T, int KIND>
static void sum_partials(const chan_split &sp, double *part, const T *x, const T *dy, const float *mean_f, int c,
                         int hw, cudaStream_t st, const float *ab = NULL, const float *slope = NULL)
{
    constexpr int V = 16 / sizeof(T);
    if (sp.cl && c % V == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)dy % 16 == 0) {
        dim3 grid((unsigned)sp.chunks, (unsigned)((c + PACKS * V - 1) / (PACKS * V))), block(PACKS, LANES);
        cl_packed_partials<T, KIND, V><<<grid, block, 0, st>>>(part, x, dy, mean_f, ab, slope, sp.m, c, sp.per);
    } else if (sp.cl) {
        dim3 grid((unsigned)sp.chunks, (unsigned)((c + 31) / 32)), block(32, 8);
        cl_partials<T, KIND><<<grid, block, 0, st>>>(part, x, dy, mean_f, ab, slope, sp.m, c, sp.per);
    } else {
        dim3 grid((unsigned)sp.chunks, (unsigned)c);
        nchw_partials<T, KIND><<<grid, THREADS, 0, st>>>(part, x, dy, mean_f, ab, slope, c, hw, sp.m, sp.per);
    }
}

// The chunks' partials qa and (when qb >= 0) qb of channel k, summed by
// the block (THREADS threads, sa and sb its shared arrays): thread t adds
// chunks t, t + THREADS, ... in order, then block_sum's fixed tree; the
// sums in sa[0] and sb[0] for every thread. (One thread a channel adding up
// to 1024 chunks in turn was a chain of dependent loads on a card holding a
// block or two: latency, not bandwidth.)
static __device__ void chunk_sums(double *sa, double *sb, const double *part, int chunks, int c, int k, int qa,
                                  int qb)
{
    double a = 0, b = 0;
    for (int i = threadIdx.x; i < chunks; i += THREADS) {
        a += part[((long)i * NQ + qa) * c + k];
        if (qb >= 0) b += part[((long)i * NQ + qb) * c + k];
    }
    sa[threadIdx.x] = a, sb[threadIdx.x] = b;
    block_sum(sa);
    if (qb >= 0) block_sum(sb);
}

// bn.c's statistics, per channel: biased variance for the normalisation,
// unbiased for the running estimate; and y = x a + b's a and b (ab), from
// the double mean and invstd. Products and sums rounded one by one, as on
// the CPU (no FMA).
static __device__ __forceinline__ float blend(double momentum, float run, double batch)
{
    return (float)__dadd_rn(__dmul_rn(1.0 - momentum, (double)run), __dmul_rn(momentum, batch));
}

template <typename T>
static __global__ void chan_bn_stats(float *save_mean, float *save_invstd, float *run_mean, float *run_var, float *ab,
                                     const float *gamma, const float *beta, const T *x, int hw, int cl,
                                     const double *part, int chunks, int c, double m, float eps, float momentum)
{
    __shared__ double sa[THREADS], sb[THREADS];
    int k = blockIdx.x; // a block a channel
    chunk_sums(sa, sb, part, chunks, c, k, 0, 1);
    if (threadIdx.x) return;
    double s1 = sa[0], s2 = sb[0], d = s1 / m;
    double mean = shift_of(x, k, hw, cl) + d, q = s2 - s1 * d; // q: the sum of (x - mean)^2
    if (q < 0) q = 0;
    double var = q / m, invstd = 1.0 / sqrt(var + eps);
    save_mean[k] = (float)mean;
    save_invstd[k] = (float)invstd;
    if (run_mean) run_mean[k] = blend(momentum, run_mean[k], mean);
    if (run_var) run_var[k] = blend(momentum, run_var[k], m > 1 ? q / (m - 1) : var);
    double a = invstd * (gamma ? (double)gamma[k] : 1.0);
    ab[2 * k] = (float)a;
    ab[2 * k + 1] = (float)__dadd_rn(beta ? (double)beta[k] : 0.0, -__dmul_rn(mean, a));
}

// bn.c's backward, per channel: the parameter gradients and dx's three
// coefficients (coef[3k..3k+2]: gamma invstd, mean dy, <dy, x - mean> invstd^2 / m)
static __global__ void chan_bn_bwd_coef(float *coef, float *dgamma, float *dbeta, const double *part, int chunks,
                                        int c, double m, const float *save_invstd, const float *gamma)
{
    __shared__ double sa[THREADS], sb[THREADS];
    int k = blockIdx.x; // a block a channel
    chunk_sums(sa, sb, part, chunks, c, k, 0, 1);
    if (threadIdx.x) return;
    double sdy = sa[0], sdyx = sb[0], invstd = save_invstd[k];
    if (dgamma) dgamma[k] += (float)(sdyx * invstd);
    if (dbeta) dbeta[k] += (float)sdy;
    coef[3 * k] = (float)((gamma ? gamma[k] : 1.0) * invstd);
    coef[3 * k + 1] = (float)(sdy / m);
    coef[3 * k + 2] = (float)(sdyx / m * invstd * invstd);
}

// set: dx = 0 + the gradient (bn.c's dxplane with set), dx not read.
// FUSED: dy is a fused PReLU's incoming gradient dz, and the gradient of
// its input (y = x a + b, ab) is recomputed (prelu_dy).
// a shortcut's gradient dr, put back into the (h, w) dx as
// subsample_bwd_set puts it (bn_dx's SHORTCUT)
struct shortcut_map {
    const void *dr;
    int c, h, w, s, ho, wo, cl;
};

// (dr is read packed only when s = 1: then it lies as dx does)
// Two packs a thread take 64-96 registers (fp16 fused: 80, three blocks an
// SM; bf16's conversions 96, two): no register cap, since bf16 spilled
// under a cap of three blocks.
template <typename T, int V, bool FUSED, bool SHORTCUT = false>
static __global__ void bn_dx(T *dx, const T *dy, const T *x, const float *save_mean, const float *coef,
                             const float *ab, const float *slope, long total, chan_map cm, int set, shortcut_map sc)
{
    pack<T, V> dyvs[PACKS_A_THREAD], xvs[PACKS_A_THREAD], dxvs[PACKS_A_THREAD];
    auto load = [&](int r, long i) {
        dyvs[r] = load_pack<V>(dy, i), xvs[r] = load_pack<V>(x, i);
        if (SHORTCUT ? sc.s == 1 : !set) dxvs[r] = load_pack<V>(SHORTCUT ? (const T *)sc.dr : dx, i);
    };
    for_packs<V>(total, load, [&](int r, long i) {
        const pack<T, V> &dyv = dyvs[r], &xv = xvs[r];
        pack<T, V> &dxv = dxvs[r];
        int ks[V];
        pack_chans<V>(ks, cm, i);
        // the per-channel values of H channels at a time: all 7 V of them
        // at once took more registers (96 at one pack a thread)
        constexpr int H = V > 4 ? 4 : V;
        for (int h = 0; h < V; h += H) {
            float cv[3 * H], mv[H], abv[FUSED ? 2 * H : 1], sv[FUSED ? H : 1];
            chan_vals<H, 3>(cv, coef, cm, ks + h);
            chan_vals<H, 1>(mv, save_mean, cm, ks + h);
            if constexpr (FUSED) chan_vals<H, 2>(abv, ab, cm, ks + h), chan_vals<H, 1>(sv, slope, cm, ks + h);
            for (int u = 0; u < H; u++) {
                const int j = h + u;
                float kk = cv[3 * u], mdy = cv[3 * u + 1], kx = cv[3 * u + 2], g, acc;
                if constexpr (FUSED)
                    g = prelu_dy<T>(to_f(dyv.e[j]), bn_y<T>(xv.e[j], abv[2 * u], abv[2 * u + 1]), sv[u]);
                else g = to_f(dyv.e[j]);
                // the shortcut's gradient as the set subsample backward stores it, then the add
                if constexpr (SHORTCUT)
                    acc = sc.s == 1 ? to_f(from_f<T>(0.0f + to_f(dxv.e[j])))
                                    : subsample_dx((const T *)sc.dr, i + j, sc.c, sc.h, sc.w, sc.s, sc.ho, sc.wo,
                                                   sc.cl);
                else acc = set ? 0.0f : to_f(dxv.e[j]);
                // bn.c's dxplane, each operation rounded (no FMA)
                float t = __fsub_rn(__fsub_rn(g, mdy), __fmul_rn(__fsub_rn(to_f(xv.e[j]), mv[u]), kx));
                dxv.e[j] = from_f<T>(__fadd_rn(acc, __fmul_rn(kk, t)));
            }
        }
        store_pack(dx, i, dxv);
    });
}

// (q: the sum's index in part, 0 or SUM_BNP_ALL's 2)
static __global__ void chan_prelu_da(float *da, const double *part, int chunks, int c, int q)
{
    __shared__ double sa[THREADS], sb[THREADS];
    int k = blockIdx.x; // a block a channel
    chunk_sums(sa, sb, part, chunks, c, k, q, -1);
    if (threadIdx.x == 0) da[k] += (float)sa[0];
}

// The partial sums and batch norm's per-channel coefficients: one device
// buffer per host thread (ops on a thread's stream run in order), grown as
// needed: *part, then 3c floats (the backward's dx coefficients, or
// y = x a + b's a and b).
static thread_local void *sum_scratch;
static thread_local size_t sum_scratch_bytes;

extern "C" void lc_ops_thread_release(void) { lc_cuda_drop(&sum_scratch, &sum_scratch_bytes); }

// The split of an (n, c, hw) tensor's channels (channels-last when cl)
// and its buffers.
static int channel_sums(int n, int c, int hw, int cl, chan_split *sp, double **part, float **coef,
                        cudaStream_t stream, struct lc_err *err)
{
    if (!cl && c > 65535)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "CUDA: per-channel sums: %d channels (at most 65535)", c);
    *sp = split_channels((long)n * hw, cl);
    size_t np = (size_t)sp->chunks * NQ * c, bytes = np * sizeof(double) + 3 * (size_t)c * sizeof(float);
    int rc = lc_cuda_grow(&sum_scratch, &sum_scratch_bytes, bytes, stream, "channel-sums scratch", err);
    if (rc) return rc;
    double *d = (double *)sum_scratch;
    *part = d, *coef = (float *)(d + np);
    return 0;
}

static unsigned per_channel(int c) { return (unsigned)((c + THREADS - 1) / THREADS); }

static int bn_sums(const struct lc_bn *p, chan_split *sp, double **part, float **coef, cudaStream_t st,
                   struct lc_err *err)
{
    return channel_sums(p->n, p->c, p->hw, p->channels_last, sp, part, coef, st, err);
}

extern "C" int lc_prelu_forward_dt_cuda(int dt, void *y, const void *x, const float *a, int n, int c, int hw,
                                        int channels_last, void *stream, struct lc_err *err)
{
    long total = (long)n * c * hw;
    return by_type(dt, err, "prelu forward", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (total == 0) return 0;
        return launch_packed<T>(total, {y, x}, [&](auto v) {
            constexpr int V = decltype(v)::value;
            prelu_fwd<T, V><<<grid_for_packs(total, V), THREADS, 0, LC_STREAM(stream)>>>(
                (T *)y, (const T *)x, a, total, with_vals<V>(chan_map_make(c, hw, channels_last, total), {a}));
            return launched(err, "prelu forward");
        });
    });
}

extern "C" int lc_prelu_backward_dt_cuda(int dt, void *dx, float *da, const void *dy, const void *x, const float *a,
                                         int n, int c, int hw, int channels_last, int set, void *stream,
                                         struct lc_err *err)
{
    long total = (long)n * c * hw;
    cudaStream_t st = LC_STREAM(stream);
    const int cl = channels_last && c > 1;
    return by_type(dt, err, "prelu backward", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (total == 0) return 0;
        if (da) { // first: dx may be dy (an in-place backward)
            chan_split sp;
            double *part;
            float *coef;
            int rc = channel_sums(n, c, hw, cl, &sp, &part, &coef, st, err);
            if (rc) return rc;
            sum_partials<T, SUM_PRELU_DA>(sp, part, (const T *)x, (const T *)dy, NULL, c, hw, st);
            chan_prelu_da<<<(unsigned)c, THREADS, 0, st>>>(da, part, sp.chunks, c, 0);
        }
        if (dx)
            return launch_packed<T>(total, {dx, dy, x}, [&](auto v) {
                constexpr int V = decltype(v)::value;
                prelu_bwd_dx<T, V><<<grid_for_packs(total, V), THREADS, 0, st>>>(
                    (T *)dx, (const T *)dy, (const T *)x, a, total, with_vals<V>(chan_map_make(c, hw, cl, total), {a}),
                    set);
                return launched(err, "prelu backward");
            });
        return launched(err, "prelu backward");
    });
}

// A shortcut beside a batch norm, in its layout: forward, the residual r
// (n, c, rh, rw) whose every s-th row and column is added to y; backward,
// the gradient r of a shortcut that took every s-th row and column of x,
// (n, c, rh, rw), put back into dx.
struct residual {
    const void *r;
    int rh, rw, s;
};

// Batch norm's training forward: y = x a + b; or, fused with the PReLU
// that follows it (z), z = prelu(y) with y not stored and a and b kept in
// save_ab; or, with res, y = x a + b + the residual (each the unfused
// ops' arithmetic, in one elementwise pass)
static int bn_train_fwd(int dt, void *y, void *z, float *save_ab, const float *slope, float *save_mean,
                        float *save_invstd, float *run_mean, float *run_var, const void *x, const float *gamma,
                        const float *beta, const struct residual *res, const struct lc_bn *p, void *stream,
                        const char *what, struct lc_err *err)
{
    cudaStream_t st = LC_STREAM(stream);
    return by_type(dt, err, what, [&](auto *tag) {
        typedef TAG_T(tag) T;
        long total = (long)p->n * p->c * p->hw;
        if (total == 0) return 0;
        chan_split sp;
        double *part, m = (double)p->n * p->hw;
        float *coef;
        if (int rc = bn_sums(p, &sp, &part, &coef, st, err)) return rc;
        float *ab = z ? save_ab : coef;
        sum_partials<T, SUM_SHIFTED>(sp, part, (const T *)x, NULL, NULL, p->c, p->hw, st);
        chan_bn_stats<T><<<(unsigned)p->c, THREADS, 0, st>>>(
            save_mean, save_invstd, run_mean, run_var, ab, p->affine ? gamma : NULL, p->affine ? beta : NULL,
            (const T *)x, p->hw, sp.cl, part, sp.chunks, p->c, m, p->eps, p->momentum);
        chan_map cm = chan_map_make(p->c, p->hw, p->channels_last, total);
        const void *rp = res && res->s == 1 ? res->r : NULL; // r is read packed when s = 1
        return launch_packed<T>(total, {y, z, x, rp}, [&](auto v) {
            constexpr int V = decltype(v)::value;
            unsigned grid = grid_for_packs(total, V);
            const chan_map cmv = with_vals<V>(cm, {ab, z ? slope : NULL});
            if (z) bn_axpb_prelu<T, V><<<grid, THREADS, 0, st>>>((T *)z, (const T *)x, ab, slope, total, cmv);
            else if (res)
                bn_axpb_add<T, V><<<grid, THREADS, 0, st>>>(
                    (T *)y, (const T *)x, ab, (const T *)res->r, total, cmv, p->c, res->rh, res->rw, res->s,
                    (res->rh - 1) / res->s + 1, (res->rw - 1) / res->s + 1, p->channels_last);
            else bn_axpb<T, V><<<grid, THREADS, 0, st>>>((T *)y, (const T *)x, ab, total, cmv);
            return launched(err, what);
        });
    });
}

// Batch norm's backward from dy; or, fused with the PReLU that followed it
// (save_ab), from the PReLU's output gradient (dy) with y and PReLU's input
// gradient recomputed where they are read, and the slopes' gradient summed
// as lc_prelu_backward_dt_cuda sums it: the unfused pair's sums in the same
// order. Where the two splits agree (all but one channel channels-last,
// which the PReLU splits as (N, C, H, W)) the slopes' sums and batch norm's
// come from one pass over x and dy (SUM_BNP_ALL), each added in the order
// its own pass adds it; otherwise the slopes' pass runs first
static int bn_train_bwd(int dt, void *dx, float *dgamma, float *dbeta, float *dslope, const void *dy, const void *x,
                        const float *save_ab, const float *slope, const float *save_mean, const float *save_invstd,
                        const float *gamma, const struct residual *res, const struct lc_bn *p, int set, void *stream,
                        const char *what, struct lc_err *err)
{
    cudaStream_t st = LC_STREAM(stream);
    return by_type(dt, err, what, [&](auto *tag) {
        typedef TAG_T(tag) T;
        long total = (long)p->n * p->c * p->hw;
        if (total == 0) return 0;
        chan_split sp;
        double *part, m = (double)p->n * p->hw;
        float *coef;
        const bool one_pass = save_ab && dslope && !(p->channels_last && p->c == 1);
        if (save_ab && dslope && !one_pass) {
            int rc = channel_sums(p->n, p->c, p->hw, 0, &sp, &part, &coef, st, err);
            if (rc) return rc;
            sum_partials<T, SUM_BNP_DA>(sp, part, (const T *)x, (const T *)dy, NULL, p->c, p->hw, st, save_ab, slope);
            chan_prelu_da<<<(unsigned)p->c, THREADS, 0, st>>>(dslope, part, sp.chunks, p->c, 0);
        }
        if (int rc = bn_sums(p, &sp, &part, &coef, st, err)) return rc;
        if (one_pass) {
            sum_partials<T, SUM_BNP_ALL>(sp, part, (const T *)x, (const T *)dy, save_mean, p->c, p->hw, st, save_ab,
                                         slope);
            chan_prelu_da<<<(unsigned)p->c, THREADS, 0, st>>>(dslope, part, sp.chunks, p->c, 2);
        } else if (save_ab)
            sum_partials<T, SUM_BNP_BWD>(sp, part, (const T *)x, (const T *)dy, save_mean, p->c, p->hw, st, save_ab,
                                         slope);
        else
            sum_partials<T, SUM_BN_BWD>(sp, part, (const T *)x, (const T *)dy, save_mean, p->c, p->hw, st);
        chan_bn_bwd_coef<<<(unsigned)p->c, THREADS, 0, st>>>(coef, p->affine ? dgamma : NULL,
                                                                 p->affine ? dbeta : NULL, part, sp.chunks, p->c, m,
                                                                 save_invstd, p->affine ? gamma : NULL);
        if (dx) {
            chan_map cm = chan_map_make(p->c, p->hw, p->channels_last, total);
            shortcut_map sc = {};
            if (res)
                sc = {res->r, p->c, res->rh, res->rw, res->s, (res->rh - 1) / res->s + 1, (res->rw - 1) / res->s + 1,
                      p->channels_last};
            const void *rp = res && res->s == 1 ? res->r : NULL; // dr is read packed when s = 1
            return launch_packed<T>(total, {dx, dy, x, rp}, [&](auto v) {
                constexpr int V = decltype(v)::value;
                unsigned grid = grid_for_packs(total, V);
                const chan_map cmv = with_vals<V>(cm, {coef, save_mean, save_ab, save_ab ? slope : NULL});
                if (save_ab)
                    bn_dx<T, V, true><<<grid, THREADS, 0, st>>>((T *)dx, (const T *)dy, (const T *)x, save_mean,
                                                                  coef, save_ab, slope, total, cmv, set, sc);
                else if (res)
                    bn_dx<T, V, false, true><<<grid, THREADS, 0, st>>>(
                        (T *)dx, (const T *)dy, (const T *)x, save_mean, coef, NULL, NULL, total, cmv, 1, sc);
                else
                    bn_dx<T, V, false><<<grid, THREADS, 0, st>>>((T *)dx, (const T *)dy, (const T *)x, save_mean,
                                                                   coef, NULL, NULL, total, cmv, set, sc);
                return launched(err, what);
            });
        }
        return launched(err, what);
    });
}

extern "C" int lc_bn_forward_train_dt_cuda(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean,
                                           float *run_var, const void *x, const float *gamma, const float *beta,
                                           const struct lc_bn *p, void *stream, struct lc_err *err)
{
    return bn_train_fwd(dt, y, NULL, NULL, NULL, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, NULL, p,
                        stream, "batch norm forward", err);
}

extern "C" int lc_bn_add_forward_train_dt_cuda(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean,
                                               float *run_var, const void *x, const float *gamma, const float *beta,
                                               const void *r, int rh, int rw, int s, const struct lc_bn *p,
                                               void *stream, struct lc_err *err)
{
    struct residual res = {r, rh, rw, s};
    return bn_train_fwd(dt, y, NULL, NULL, NULL, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, &res, p,
                        stream, "batch norm and residual forward", err);
}

extern "C" int lc_bn_backward_dt_cuda(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                                      const float *save_mean, const float *save_invstd, const float *gamma,
                                      const struct lc_bn *p, int set, void *stream, struct lc_err *err)
{
    return bn_train_bwd(dt, dx, dgamma, dbeta, NULL, dy, x, NULL, NULL, save_mean, save_invstd, gamma, NULL, p, set,
                        stream, "batch norm backward", err);
}

extern "C" int lc_bn_backward_shortcut_dt_cuda(int dt, void *dx, float *dgamma, float *dbeta, const void *dy,
                                               const void *x, const float *save_mean, const float *save_invstd,
                                               const float *gamma, const void *dr, int h, int w, int s,
                                               const struct lc_bn *p, void *stream, struct lc_err *err)
{
    struct residual res = {dr, h, w, s};
    return bn_train_bwd(dt, dx, dgamma, dbeta, NULL, dy, x, NULL, NULL, save_mean, save_invstd, gamma, &res, p, 1,
                        stream, "batch norm and shortcut backward", err);
}

extern "C" int lc_bn_prelu_forward_train_dt_cuda(int dt, void *z, float *save_ab, const float *slope,
                                                 float *save_mean, float *save_invstd, float *run_mean,
                                                 float *run_var, const void *x, const float *gamma, const float *beta,
                                                 const struct lc_bn *p, void *stream, struct lc_err *err)
{
    return bn_train_fwd(dt, NULL, z, save_ab, slope, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, NULL,
                        p, stream, "batch norm and PReLU forward", err);
}

extern "C" int lc_bn_prelu_backward_dt_cuda(int dt, void *dx, float *dgamma, float *dbeta, float *dslope,
                                            const void *dz, const void *x, const float *save_ab,
                                            const float *save_mean, const float *save_invstd, const float *gamma,
                                            const float *slope, const struct lc_bn *p, int set, void *stream,
                                            struct lc_err *err)
{
    return bn_train_bwd(dt, dx, dgamma, dbeta, dslope, dz, x, save_ab, slope, save_mean, save_invstd, gamma, NULL, p,
                        set, stream, "batch norm and PReLU backward", err);
}

extern "C" int lc_add_dt_cuda(int dt, void *y, const void *a, const void *b, size_t n, void *stream,
                              struct lc_err *err)
{
    return by_type(dt, err, "add", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (n == 0) return 0;
        return launch_packed<T>((long)n, {y, a, b}, [&](auto v) {
            constexpr int V = decltype(v)::value;
            add<T, V><<<grid_for_packs((long)n, V), THREADS, 0, LC_STREAM(stream)>>>((T *)y, (const T *)a,
                                                                                  (const T *)b, (long)n);
            return launched(err, "add");
        });
    });
}

extern "C" int lc_subsample_add_dt_cuda(int dt, void *y, const void *x, int n, int c, int h, int w, int s,
                                        int channels_last, void *stream, struct lc_err *err)
{
    int ho = (h - 1) / s + 1, wo = (w - 1) / s + 1;
    long total = (long)n * c * ho * wo;
    return by_type(dt, err, "subsample add", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (total == 0) return 0;
        subsample_add<T><<<grid_for(total), THREADS, 0, LC_STREAM(stream)>>>((T *)y, (const T *)x, total, c, h, w,
                                                                                s, ho, wo, channels_last);
        return launched(err, "subsample add");
    });
}

extern "C" int lc_subsample_backward_dt_cuda(int dt, void *dx, const void *dy, int n, int c, int h, int w, int s,
                                             int channels_last, int set, void *stream, struct lc_err *err)
{
    int ho = (h - 1) / s + 1, wo = (w - 1) / s + 1;
    long total = (long)n * c * ho * wo, total_in = (long)n * c * h * w;
    cudaStream_t st = LC_STREAM(stream);
    return by_type(dt, err, "subsample backward", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (total_in == 0) return 0;
        if (set)
            subsample_bwd_set<T><<<grid_for(total_in), THREADS, 0, st>>>((T *)dx, (const T *)dy, total_in, c, h, w, s,
                                                                          ho, wo, channels_last);
        else
            subsample_bwd<T><<<grid_for(total), THREADS, 0, st>>>((T *)dx, (const T *)dy, total, c, h, w, s, ho, wo,
                                                                  channels_last);
        return launched(err, "subsample backward");
    });
}

extern "C" int lc_dropout_apply_dt_cuda(int dt, void *y, const void *x, const uint8_t *mask, size_t n, float p,
                                        void *stream, struct lc_err *err)
{
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
    return by_type(dt, err, "dropout", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (n == 0) return 0;
        dropout_apply<T><<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>((T *)y, (const T *)x, mask, (long)n,
                                                                                  keep, !(p <= 0.0f));
        return launched(err, "dropout");
    });
}

extern "C" int lc_dropout_backward_dt_cuda(int dt, void *dx, const void *dy, const uint8_t *mask, size_t n, float p,
                                           void *stream, struct lc_err *err)
{
    const float keep = p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
    return by_type(dt, err, "dropout backward", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (n == 0) return 0;
        dropout_bwd<T><<<grid_for((long)n), THREADS, 0, LC_STREAM(stream)>>>((T *)dx, (const T *)dy, mask, (long)n,
                                                                                keep);
        return launched(err, "dropout backward");
    });
}

// Inference (mixed.h's lc_mixed_bias_prelu, lc_mixed_bn_forward_eval)

// y = prelu(y + b) in place: b NULL adds 0, a NULL is slope 1 (bias only)
template <typename T, int V>
static __global__ void bias_prelu(T *y, const float *b, const float *a, long total, chan_map cm)
{
    pack<T, V> yvs[PACKS_A_THREAD];
    for_packs<V>(total, [&](int r, long i) { yvs[r] = load_pack<V>(y, i); }, [&](int r, long i) {
        pack<T, V> &yv = yvs[r];
        float bv[V] = {}, av[V] = {}; // (read only where b and a are given)
        int ks[V];
        pack_chans<V>(ks, cm, i);
        if (b) chan_vals<V, 1>(bv, b, cm, ks);
        if (a) chan_vals<V, 1>(av, a, cm, ks);
        for (int j = 0; j < V; j++) {
            float t = to_f(yv.e[j]) + (b ? bv[j] : 0.0f), s = a ? av[j] : 1.0f;
            yv.e[j] = from_f<T>(t > 0 ? t : __fmul_rn(s, t));
        }
        store_pack(y, i, yv);
    });
}

extern "C" int lc_bias_prelu_dt_cuda(int dt, void *y, const float *b, const float *a, int n, int c, int hw,
                                     int channels_last, void *stream, struct lc_err *err)
{
    long total = (long)n * c * hw;
    return by_type(dt, err, "bias prelu", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (total == 0) return 0;
        return launch_packed<T>(total, {y}, [&](auto v) {
            constexpr int V = decltype(v)::value;
            bias_prelu<T, V><<<grid_for_packs(total, V), THREADS, 0, LC_STREAM(stream)>>>(
                (T *)y, b, a, total, with_vals<V>(chan_map_make(c, hw, channels_last, total), {b, a}));
            return launched(err, "bias prelu");
        });
    });
}

// y = y + b, rounded to T as bias_prelu (slope 1) stores it, plus r's
// element as subsample_add adds it: a unit's end in one pass
// (r is read packed only when s = 1: then it lies as y does). BN: also
// z = y a + b (ab: bn_eval_coef's), the next unit's first batch norm, as
// bn_axpb computes it from the stored y
template <typename T, int V, bool BN>
static __global__ void bias_add(T *y, T *z, const float *b, const T *r, const float *ab, long total, chan_map cm,
                                int c, int rh, int rw, int s, int ho, int wo, int cl)
{
    pack<T, V> yvs[PACKS_A_THREAD], rvs[PACKS_A_THREAD];
    auto load = [&](int u, long i) {
        yvs[u] = load_pack<V>(y, i);
        if (s == 1) rvs[u] = load_pack<V>(r, i);
        else
            for (int j = 0; j < V; j++) rvs[u].e[j] = r[subsample_src(i + j, c, rh, rw, s, ho, wo, cl)];
    };
    for_packs<V>(total, load, [&](int u, long i) {
        pack<T, V> &yv = yvs[u], &rv = rvs[u], zv;
        float bv[V], abv[BN ? 2 * V : 1];
        int ks[V];
        pack_chans<V>(ks, cm, i);
        chan_vals<V, 1>(bv, b, cm, ks);
        if constexpr (BN) chan_vals<V, 2>(abv, ab, cm, ks);
        for (int j = 0; j < V; j++) {
            float t = to_f(from_f<T>(to_f(yv.e[j]) + bv[j]));
            yv.e[j] = from_f<T>(t + to_f(rv.e[j]));
            if constexpr (BN) zv.e[j] = axpb(yv.e[j], abv[2 * j], abv[2 * j + 1]);
        }
        store_pack(y, i, yv);
        if constexpr (BN) store_pack(z, i, zv);
    });
}

// bias_add's launch: z and ab given (the batch norm fused) or both NULL
static int bias_add_run(int dt, void *y, void *z, const float *b, const void *r, const float *ab, int n, int c,
                        int rh, int rw, int s, int channels_last, cudaStream_t st, const char *what,
                        struct lc_err *err)
{
    int ho = (rh - 1) / s + 1, wo = (rw - 1) / s + 1;
    long total = (long)n * c * ho * wo;
    return by_type(dt, err, what, [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (total == 0) return 0;
        return launch_packed<T>(total, {y, z, s == 1 ? r : NULL}, [&](auto v) {
            constexpr int V = decltype(v)::value;
            chan_map cm = chan_map_make(c, ho * wo, channels_last, total);
            if (z)
                bias_add<T, V, true><<<grid_for_packs(total, V), THREADS, 0, st>>>(
                    (T *)y, (T *)z, b, (const T *)r, ab, total, with_vals<V>(cm, {b, ab}), c, rh, rw, s, ho, wo,
                    channels_last);
            else
                bias_add<T, V, false><<<grid_for_packs(total, V), THREADS, 0, st>>>(
                    (T *)y, NULL, b, (const T *)r, NULL, total, with_vals<V>(cm, {b}), c, rh, rw, s, ho, wo,
                    channels_last);
            return launched(err, what);
        });
    });
}

extern "C" int lc_bias_add_dt_cuda(int dt, void *y, const float *b, const void *r, int n, int c, int rh, int rw,
                                   int s, int channels_last, void *stream, struct lc_err *err)
{
    return bias_add_run(dt, y, NULL, b, r, NULL, n, c, rh, rw, s, channels_last, LC_STREAM(stream),
                        "bias and residual add", err);
}

// the scratch's 2c floats: bn.c's eval a and b of each channel
static int bn_eval_coefs(float **ab, const float *gamma, const float *beta, const float *run_mean,
                         const float *run_var, const struct lc_bn *p, cudaStream_t st, struct lc_err *err)
{
    int rc = lc_cuda_grow(&sum_scratch, &sum_scratch_bytes, 2 * (size_t)p->c * sizeof(float), st,
                          "channel-sums scratch", err);
    if (rc) return rc;
    *ab = (float *)sum_scratch;
    bn_eval_coef<<<per_channel(p->c), THREADS, 0, st>>>(*ab, p->affine ? gamma : NULL, p->affine ? beta : NULL,
                                                         run_mean, run_var, p->c, p->eps);
    return launched(err, "batch norm eval coefficients");
}

extern "C" int lc_bias_add_bn_eval_dt_cuda(int dt, void *y, void *z, const float *b, const void *r, int rh, int rw,
                                           int s, const float *gamma, const float *beta, const float *run_mean,
                                           const float *run_var, const struct lc_bn *p, void *stream,
                                           struct lc_err *err)
{
    cudaStream_t st = LC_STREAM(stream);
    float *ab;
    if ((long)p->n * p->c * p->hw == 0) return 0;
    int rc = bn_eval_coefs(&ab, gamma, beta, run_mean, run_var, p, st, err);
    return rc ? rc
              : bias_add_run(dt, y, z, b, r, ab, p->n, p->c, rh, rw, s, p->channels_last, st,
                             "bias and residual add with batch norm eval", err);
}

extern "C" int lc_bn_forward_eval_dt_cuda(int dt, void *y, const void *x, const float *gamma, const float *beta,
                                          const float *run_mean, const float *run_var, const struct lc_bn *p,
                                          void *stream, struct lc_err *err)
{
    long total = (long)p->n * p->c * p->hw;
    cudaStream_t st = LC_STREAM(stream);
    return by_type(dt, err, "batch norm eval", [&](auto *tag) {
        typedef TAG_T(tag) T;
        if (total == 0) return 0;
        float *ab;
        int rc = bn_eval_coefs(&ab, gamma, beta, run_mean, run_var, p, st, err);
        if (rc) return rc;
        return launch_packed<T>(total, {y, x}, [&](auto v) {
            constexpr int V = decltype(v)::value;
            bn_axpb<T, V><<<grid_for_packs(total, V), THREADS, 0, st>>>(
                (T *)y, (const T *)x, ab, total,
                with_vals<V>(chan_map_make(p->c, p->hw, p->channels_last, total), {ab}));
            return launched(err, "batch norm eval");
        });
    });
}

// ---- layout casts: n blocks of (rows, cols) -> (cols, rows) through a
// 32 x 33 float tile (reads and writes both along rows); ADD (float32 y
// only) accumulates instead of storing

template <typename Y, typename X, bool ADD>
static __global__ void transpose_cast(Y *y, const X *x, int rows, int cols)
{
    __shared__ float t[32][33];
    long base = (long)blockIdx.z * rows * cols;
    int r0 = blockIdx.y * 32, c0 = blockIdx.x * 32, tx = threadIdx.x;
    for (int j = threadIdx.y; j < 32; j += 8)
        if (r0 + j < rows && c0 + tx < cols) t[j][tx] = to_f(x[base + (long)(r0 + j) * cols + c0 + tx]);
    __syncthreads();
    for (int j = threadIdx.y; j < 32; j += 8)
        if (c0 + j < cols && r0 + tx < rows) {
            long o = base + (long)(c0 + j) * rows + r0 + tx;
            if constexpr (ADD) y[o] = __fadd_rn(y[o], t[tx][j]);
            else y[o] = from_f<Y>(t[tx][j]);
        }
}

static int transpose_grid(dim3 *grid, int n, int rows, int cols, struct lc_err *err)
{
    if (n > 65535 || rows > 65535 * 32)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "CUDA: layout cast of %d blocks of %d rows (at most 65535 and %d)",
                       n, rows, 65535 * 32);
    *grid = dim3((unsigned)((cols + 31) / 32), (unsigned)((rows + 31) / 32), (unsigned)n);
    return 0;
}

extern "C" int lc_cast_layout_cuda(void *y, int ydt, const void *x, int xdt, int n, int c, int hw,
                                   int to_channels_last, void *stream, struct lc_err *err)
{
    if ((long)n * c * hw == 0) return 0;
    int rows = to_channels_last ? c : hw, cols = to_channels_last ? hw : c;
    dim3 grid;
    int rc = transpose_grid(&grid, n, rows, cols, err);
    if (rc) return rc;
    return by_type(ydt, err, "layout cast", [&](auto *ty) {
        return by_type(xdt, err, "layout cast", [&](auto *tx) {
            typedef TAG_T(ty) Y;
            typedef TAG_T(tx) X;
            transpose_cast<Y, X, false><<<grid, dim3(32, 8), 0, LC_STREAM(stream)>>>((Y *)y, (const X *)x, rows,
                                                                                        cols);
            return launched(err, "layout cast");
        });
    });
}

extern "C" int lc_cast_add_from_channels_last_cuda(float *y, const void *x, int xdt, int n, int c, int hw,
                                                   void *stream, struct lc_err *err)
{
    if ((long)n * c * hw == 0) return 0;
    dim3 grid;
    int rc = transpose_grid(&grid, n, hw, c, err);
    if (rc) return rc;
    return by_type(xdt, err, "layout cast add", [&](auto *tx) {
        typedef TAG_T(tx) X;
        transpose_cast<float, X, true><<<grid, dim3(32, 8), 0, LC_STREAM(stream)>>>(y, (const X *)x, hw, c);
        return launched(err, "layout cast add");
    });
}
