// kernel: what every kernel file shares: the block size, grid-stride loops
// over a flat index, the grid for a flat launch, the launch check, a
// fixed-order block sum (deterministic, unlike atomics), and the storage
// types' conversions to and from float32.
#ifndef LC_CUDA_KERNEL_CUH
#define LC_CUDA_KERNEL_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#include <initializer_list>
#include <type_traits>

#include "cuda.h"

#define THREADS 256

// A kernel of THREADS-thread blocks that should fit at least min_blocks
// blocks on an SM: ptxas then caps its registers at 65536 / (THREADS *
// min_blocks). For memory-bound kernels whose registers (per-channel
// values, double sums) left two or three blocks an SM, too few loads in
// flight; the arithmetic is unchanged.
#define LC_MIN_BLOCKS(min_blocks) __launch_bounds__(THREADS, min_blocks)

// i over [0, total) across the grid
#define FOR_EACH(i, total)                                                                                            \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (total); i += (long)gridDim.x * blockDim.x)

// enough THREADS-blocks for total elements (at least 1; capped, the loops stride)
static inline unsigned grid_for(long total)
{
    long b = (total + THREADS - 1) / THREADS;
    return (unsigned)(b < 65535L * 32 ? (b > 0 ? b : 1) : 65535L * 32);
}

// the last launch's error as err, naming what
static inline int launched(struct lc_err *err, const char *what)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return 0;
    return lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: %s kernel: %s", what, cudaGetErrorString(e));
}

// In a launcher (stream, err in scope): kernel over total elements on
// grid_for(total) blocks (nothing for none), then the launch check.
#define LAUNCH(what, total, kernel, ...)                                                                               \
    do {                                                                                                               \
        long total_ = (long)(total);                                                                                   \
        if (total_ <= 0) return 0;                                                                                     \
        kernel<<<grid_for(total_), THREADS, 0, LC_STREAM(stream)>>>(__VA_ARGS__);                                   \
        return launched(err, what);                                                                                    \
    } while (0)

// Tree sum of the block's s[] (THREADS doubles); the result in s[0].
static __device__ __forceinline__ void block_sum(double *s)
{
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
        __syncthreads();
    }
}

// n / d for a fixed d (1 <= d < 2^31) and n < 2^31 by a multiply and a
// shift (Granlund and Montgomery's method, as PyTorch's IntDivider): the
// magic number and shift are made once on the host.
struct divider {
    unsigned d, m, s;
};

static inline divider divider_make(unsigned d)
{
    unsigned s = 0;
    while (s < 31 && (1u << s) < d) s++;
    unsigned long long m = ((1ull << 32) * ((1ull << s) - d)) / d + 1;
    return divider{d, (unsigned)m, s};
}

static __device__ __forceinline__ unsigned div_by(const divider &v, unsigned n)
{
    return (__umulhi(n, v.m) + n) >> v.s;
}

// ---- packed access: V consecutive elements of T in one 16-byte load or
// store (V = 16 / sizeof(T)), or one element (V = 1). One 2-byte element a
// thread leaves a warp 64 bytes in flight, far too few to keep the card's
// memory busy: IR-50's fp16 batch norms ran at about a quarter of the
// H200's bandwidth so. Each element's arithmetic is unchanged by packing.
template <typename T, int V> struct __align__(sizeof(T) * V) pack {
    T e[V];
};

template <int V, typename T> static __device__ __forceinline__ pack<T, V> load_pack(const T *p, long i)
{
    pack<T, V> v;
    if constexpr (sizeof(T) * V == 16) {
        uint4 u = *reinterpret_cast<const uint4 *>(p + i);
        memcpy(&v, &u, 16);
    } else {
        for (int j = 0; j < V; j++) v.e[j] = p[i + j];
    }
    return v;
}

template <int V, typename T> static __device__ __forceinline__ void store_pack(T *p, long i, const pack<T, V> &v)
{
    if constexpr (sizeof(T) * V == 16) {
        uint4 u;
        memcpy(&u, &v, 16);
        *reinterpret_cast<uint4 *>(p + i) = u;
    } else {
        for (int j = 0; j < V; j++) p[i + j] = v.e[j];
    }
}

// The elementwise kernels' packs a thread takes at a time, all their loads
// issued before the first is used. At one pack a thread these kernels held
// 20-32 KB of loads in flight an SM (their registers allow 3-6 blocks),
// about what an H200's memory needs to stay busy with no slack: bias and
// PReLU ran at about 57% of its bandwidth.
enum { PACKS_A_THREAD = 2 };

// THREADS-blocks for total elements in packs of V, PACKS_A_THREAD a thread
static inline unsigned grid_for_packs(long total, int v)
{
    return grid_for((total / v + PACKS_A_THREAD - 1) / PACKS_A_THREAD);
}

// The packs of V elements in [0, total) (total % V == 0) of a thread of a
// grid_for_packs launch, PACKS_A_THREAD at a time, THREADS packs apart (a
// warp's loads stay adjacent): load(r, i) for each (r: the pack's slot,
// i: its first element), then work(r, i) for each. A pack's work writes
// only its own elements, so in-place kernels may load them all first.
template <int V, typename L, typename W> static __device__ __forceinline__ void for_packs(long total, L load, W work)
{
    constexpr long gap = (long)THREADS * V;
    for (long i0 = ((long)blockIdx.x * THREADS * PACKS_A_THREAD + threadIdx.x) * V; i0 < total;
         i0 += (long)gridDim.x * gap * PACKS_A_THREAD) {
#pragma unroll
        for (int r = 0; r < PACKS_A_THREAD; r++)
            if (i0 + r * gap < total) load(r, i0 + r * gap);
#pragma unroll
        for (int r = 0; r < PACKS_A_THREAD; r++)
            if (i0 + r * gap < total) work(r, i0 + r * gap);
    }
}

// launch(std::integral_constant<int, V>) with V = 16 / sizeof(T) when total
// is a multiple of it and every pointer in ps (nulls aside) is 16-byte
// aligned, else with V = 1; what launch returns
template <typename T, typename L> static int launch_packed(long total, std::initializer_list<const void *> ps, L launch)
{
    constexpr int V = 16 / sizeof(T);
    bool ok = total % V == 0;
    for (const void *p : ps) ok = ok && (uintptr_t)p % 16 == 0;
    if (ok) return launch(std::integral_constant<int, V>{});
    return launch(std::integral_constant<int, 1>{});
}

// storage <-> float32: widening is exact, narrowing rounds to nearest even
static __device__ __forceinline__ float to_f(float v) { return v; }
static __device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
static __device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> static __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

#endif
