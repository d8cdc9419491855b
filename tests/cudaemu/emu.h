// emu.h: the CUDA kernel language on the CPU, for the CUDA emulator
// (tests/cudaemu/README.md). Force-included (g++ -include) ahead of each
// libcommon/cuda/*.cu file, which is then compiled as plain C++ after its
// launches `k<<<grid, block, smem, stream>>>(args)` were rewritten to
// `emu_launch("k", k, grid, block, smem, stream)(args)` (cudaemu.mk).
//
// Kernels wait in their stream until the host waits for them, and run on
// the thread that waits (runtime.cpp): each block's threads are fibers that
// switch only at __syncthreads, so a barrier a kernel needs but lacks
// shows up as a wrong result, and one that only some threads reach is
// reported. The rounding intrinsics are plain IEEE operations, compiled
// without contraction, so a kernel's float arithmetic is the GPU's.
#ifndef LC_CUDAEMU_EMU_H
#define LC_CUDAEMU_EMU_H

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

// the execution-space qualifiers mean nothing here; shared memory is one
// static per kernel instance (blocks run one after another)
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __host__
#define __host__
#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)

// the launch being emulated: the running thread's indices
struct emu_thread {
    uint3 tid, bid;
    dim3 bdim, gdim;
};
extern __attribute__((tls_model("initial-exec"))) thread_local const emu_thread *emu_cur;
#define threadIdx (emu_cur->tid)
#define blockIdx (emu_cur->bid)
#define blockDim (emu_cur->bdim)
#define gridDim (emu_cur->gdim)

// a barrier's site is its source line (the compiler may duplicate the call)
void emu_syncthreads(const char *file, int line);
int emu_syncthreads_or(int pred, const char *file, int line);
#define __syncthreads() emu_syncthreads(__FILE__, __LINE__)
#define __syncthreads_or(p) emu_syncthreads_or(p, __FILE__, __LINE__)

// correctly rounded IEEE operations (the GPU's *_rn intrinsics)
static inline float emu_fadd_rn(float a, float b) { return a + b; }
static inline float emu_fsub_rn(float a, float b) { return a - b; }
static inline float emu_fmul_rn(float a, float b) { return a * b; }
static inline float emu_fdiv_rn(float a, float b) { return a / b; }
static inline float emu_fsqrt_rn(float a) { return sqrtf(a); }
static inline double emu_dadd_rn(double a, double b) { return a + b; }
static inline double emu_dmul_rn(double a, double b) { return a * b; }
static inline unsigned emu_umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
static inline unsigned emu_float_as_uint(float f)
{
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}
#define __fadd_rn emu_fadd_rn
#define __fsub_rn emu_fsub_rn
#define __fmul_rn emu_fmul_rn
#define __fdiv_rn emu_fdiv_rn
#define __fsqrt_rn emu_fsqrt_rn
#define __dadd_rn emu_dadd_rn
#define __dmul_rn emu_dmul_rn
#define __umulhi emu_umulhi
#define __float_as_uint emu_float_as_uint

// what cuda.h defines for nvcc only
#define LC_STREAM(s) ((cudaStream_t)lc_cuda_ops_stream(s))

// ---- launches (runtime.cpp)

// 0, or the launch error of an invalid configuration (which then runs nothing)
cudaError_t emu_launch_check(const char *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream);
// a pointer argument: null or inside an allocation of the current device, else fatal
void emu_check_pointer(const char *kernel, int arg, const void *p);
// issue work on stream (run when the host waits for it; recorded while the stream captures a graph)
void emu_enqueue(cudaStream_t stream, std::function<void()> work);
// every block of grid, each block's threads as fibers running body
void emu_run_grid(const char *kernel, dim3 grid, dim3 block, const std::function<void()> &body);

template <typename T> static inline void emu_check_arg(const char *k, int i, T *const &p) { emu_check_pointer(k, i, p); }
template <typename T> static inline void emu_check_arg(const char *, int, const T &) {}

template <typename... P> struct emu_launcher {
    void (*kernel)(P...);
    const char *name;
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    // the arguments converted to the kernel's parameter types at the call, as a launch does
    void operator()(P... a) const
    {
        if (emu_launch_check(name, grid, block, smem, stream) != cudaSuccess) return;
        std::tuple<std::decay_t<P>...> args(a...);
        check_args(args, std::index_sequence_for<P...>{});
        auto k = kernel;
        auto nm = name;
        dim3 g = grid, b = block;
        emu_enqueue(stream, [k, nm, g, b, args]() { emu_run_grid(nm, g, b, [&] { std::apply(k, args); }); });
    }
    template <typename Tup, size_t... I> void check_args(const Tup &t, std::index_sequence<I...>) const
    {
        (emu_check_arg(name, (int)I, std::get<I>(t)), ...);
    }
};

// what the launch rewrite (rewrite.pl) calls, with the kernel's name
template <typename... P>
static inline emu_launcher<P...> emu_launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block,
                                            size_t smem = 0, cudaStream_t stream = 0)
{
    return emu_launcher<P...>{kernel, name, grid, block, smem, stream};
}

#endif
