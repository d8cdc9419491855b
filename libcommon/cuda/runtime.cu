// runtime: device discovery, memory and versions over the CUDA runtime and
// cuBLAS. Without a driver every call fails cleanly with the runtime's reason.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>

#include <atomic>

#include "cuda.h"

static int cuda_fail(struct lc_err *err, cudaError_t e, const char *what)
{
    return lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

extern "C" int lc_cuda_device_count(char *why, size_t size)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (why) snprintf(why, size, "%s", cudaGetErrorString(e));
        cudaGetLastError(); // clear the sticky error
        return 0;
    }
    if (n == 0 && why) snprintf(why, size, "no CUDA devices");
    return n;
}

extern "C" int lc_cuda_device_props(int index, char *name, size_t size, int *sms, int *clock_khz, int *cc,
                                    struct lc_err *err)
{
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, index);
    if (e != cudaSuccess) return cuda_fail(err, e, "cudaGetDeviceProperties");
    int khz = 0;
    if ((e = cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, index)) != cudaSuccess)
        return cuda_fail(err, e, "cudaDeviceGetAttribute(clock rate)");
    snprintf(name, size, "%s", p.name);
    *sms = p.multiProcessorCount, *clock_khz = khz, *cc = p.major * 10 + p.minor;
    return 0;
}

extern "C" int lc_cuda_set_device(int index, struct lc_err *err)
{
    cudaError_t e = cudaSetDevice(index);
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaSetDevice");
}

extern "C" int lc_cuda_alloc(void **p, size_t bytes, struct lc_err *err)
{
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaMalloc");
}

extern "C" void lc_cuda_free(void *p)
{
    if (p) cudaFree(p);
}

extern "C" int lc_cuda_mem_info(size_t *free_bytes, size_t *total_bytes, struct lc_err *err)
{
    cudaError_t e = cudaMemGetInfo(free_bytes, total_bytes);
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaMemGetInfo");
}

// The ops' stream of this thread (0: the legacy default stream; the
// capture stream while a graph is captured), the stream graphs are
// captured on (made on first use, on the thread's device), and the scratch
// epoch (a captured graph reads the scratch buffers of its epoch).
static thread_local cudaStream_t ops_stream;
static thread_local cudaStream_t capture_stream;
static thread_local int capture_device;
static thread_local unsigned long scratch_epoch;
// epochs are drawn from one process-wide count, so no two threads' agree
// (a graph captured on one thread is stale on another)
static std::atomic<unsigned long> epochs;

static void new_epoch(void) { scratch_epoch = ++epochs; }

// a call that waits for the GPU cannot be part of a graph
static int in_capture(struct lc_err *err, const char *what)
{
    return lc_errf(err, LC_EINVAL, NULL, -1, -1, "%s inside a CUDA graph capture", what);
}

extern "C" void *lc_cuda_ops_stream(void *stream) { return stream ? stream : (void *)ops_stream; }
extern "C" unsigned long lc_cuda_scratch_epoch(void) { return scratch_epoch; }

// Stream-ordered (cudaFreeAsync, cudaMallocAsync): a scratch grown in the
// middle of a backward pass must not wait for the whole device, as
// cudaFree does: with ranks as threads that wait can hang on an all-reduce
// the other rank has not joined yet (a known NCCL hazard).
extern "C" int lc_cuda_grow(void **buf, size_t *size, size_t bytes, void *stream, const char *what,
                            struct lc_err *err)
{
    if (bytes <= *size) return 0;
    // inside a capture the allocation would become the graph's own
    if (ops_stream) {
        char why[160];
        snprintf(why, sizeof why, "the %s growing to %zu bytes (warm up first)", what, bytes);
        return in_capture(err, why);
    }
    cudaStream_t st = LC_STREAM(stream);
    new_epoch();
    if (*buf) cudaFreeAsync(*buf, st);
    *buf = NULL, *size = 0;
    cudaError_t e = cudaMallocAsync(buf, bytes, st);
    if (e != cudaSuccess) {
        *buf = NULL;
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "CUDA: cudaMallocAsync of a %zu-byte %s: %s", bytes, what,
                       cudaGetErrorString(e));
    }
    *size = bytes;
    return 0;
}

extern "C" void lc_cuda_drop(void **buf, size_t *size)
{
    new_epoch();
    if (*buf) cudaFreeAsync(*buf, LC_STREAM(NULL));
    *buf = NULL, *size = 0;
}

extern "C" int lc_cuda_memcpy(void *dst, const void *src, size_t bytes, int to_device,
                              struct lc_err *err)
{
    if (ops_stream) return in_capture(err, "a synchronous copy");
    cudaError_t e = cudaMemcpy(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaMemcpy");
}

extern "C" int lc_cuda_host_alloc(void **p, size_t bytes, struct lc_err *err)
{
    cudaError_t e = cudaHostAlloc(p, bytes ? bytes : 1, cudaHostAllocPortable);
    if (e != cudaSuccess)
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "CUDA: cudaHostAlloc of %zu bytes: %s", bytes, cudaGetErrorString(e));
    return 0;
}

extern "C" void lc_cuda_host_free(void *p)
{
    if (p) cudaFreeHost(p);
}

extern "C" int lc_cuda_memcpy_async(void *dst, const void *src, size_t bytes, void *stream, struct lc_err *err)
{
    if (ops_stream) return in_capture(err, "a copy from host memory"); // a replay would copy what is there then
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, LC_STREAM(stream));
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaMemcpyAsync");
}

extern "C" int lc_cuda_memset0(void *p, size_t bytes, void *stream, struct lc_err *err)
{
    if (bytes == 0) return 0;
    cudaError_t e = cudaMemsetAsync(p, 0, bytes, LC_STREAM(stream));
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaMemsetAsync");
}

extern "C" int lc_cuda_sync(struct lc_err *err)
{
    if (ops_stream) return in_capture(err, "a device synchronization");
    cudaError_t e = cudaDeviceSynchronize();
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaDeviceSynchronize");
}

// streams and events: collectives overlapped with the ops (which run on
// the legacy default stream, NULL); a non-blocking stream does not wait
// for it implicitly, events order the two where needed
extern "C" int lc_cuda_stream_create(void **s, struct lc_err *err)
{
    cudaStream_t st;
    cudaError_t e = cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    if (e != cudaSuccess) return cuda_fail(err, e, "cudaStreamCreateWithFlags");
    *s = st;
    return 0;
}

extern "C" void lc_cuda_stream_destroy(void *s)
{
    if (s) cudaStreamDestroy((cudaStream_t)s);
}

extern "C" int lc_cuda_event_create(void **ev, struct lc_err *err)
{
    cudaEvent_t e;
    cudaError_t r = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    if (r != cudaSuccess) return cuda_fail(err, r, "cudaEventCreateWithFlags");
    *ev = e;
    return 0;
}

// an event that keeps time (lc_prof: op timing)
extern "C" int lc_cuda_timer_create(void **ev, struct lc_err *err)
{
    cudaEvent_t e;
    cudaError_t r = cudaEventCreate(&e);
    if (r != cudaSuccess) return cuda_fail(err, r, "cudaEventCreate");
    *ev = e;
    return 0;
}

extern "C" int lc_cuda_event_elapsed(float *ms, void *a, void *b, struct lc_err *err)
{
    cudaError_t r = cudaEventElapsedTime(ms, (cudaEvent_t)a, (cudaEvent_t)b);
    return r == cudaSuccess ? 0 : cuda_fail(err, r, "cudaEventElapsedTime");
}

// done: the work before the event's last record has finished (or it was never recorded)
extern "C" int lc_cuda_event_query(void *ev, int *done, struct lc_err *err)
{
    cudaError_t r = cudaEventQuery((cudaEvent_t)ev);
    *done = r == cudaSuccess;
    if (r == cudaErrorNotReady) {
        cudaGetLastError(); // not an error: leave none behind
        return 0;
    }
    return r == cudaSuccess ? 0 : cuda_fail(err, r, "cudaEventQuery");
}

extern "C" void lc_cuda_event_destroy(void *ev)
{
    if (ev) cudaEventDestroy((cudaEvent_t)ev);
}

extern "C" int lc_cuda_event_record(void *ev, void *stream, struct lc_err *err)
{
    cudaError_t e = cudaEventRecord((cudaEvent_t)ev, LC_STREAM(stream));
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaEventRecord");
}

extern "C" int lc_cuda_stream_wait(void *stream, void *ev, struct lc_err *err)
{
    cudaError_t e = cudaStreamWaitEvent(LC_STREAM(stream), (cudaEvent_t)ev, 0);
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaStreamWaitEvent");
}

// ---- CUDA graphs (cuda.h). Captured in thread-local mode: the loader's
// and the other ranks' threads may allocate meanwhile; this one may not.

extern "C" int lc_cuda_graph_begin(struct lc_err *err)
{
    if (ops_stream) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "a CUDA graph capture is already under way");
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return cuda_fail(err, e, "cudaGetDevice");
    if (capture_stream && capture_device != dev) { // a stream of the GPU the thread drove before
        cudaStreamDestroy(capture_stream);
        capture_stream = NULL;
        new_epoch();
    }
    if (!capture_stream && (e = cudaStreamCreateWithFlags(&capture_stream, cudaStreamNonBlocking)) != cudaSuccess) {
        capture_stream = NULL;
        return cuda_fail(err, e, "cudaStreamCreateWithFlags (graph capture)");
    }
    capture_device = dev;
    if ((e = cudaStreamBeginCapture(capture_stream, cudaStreamCaptureModeThreadLocal)) != cudaSuccess)
        return cuda_fail(err, e, "cudaStreamBeginCapture");
    ops_stream = capture_stream;
    return 0;
}

extern "C" int lc_cuda_graph_end(void **exec, int keep, struct lc_err *err)
{
    *exec = NULL;
    if (!ops_stream) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "no CUDA graph capture under way");
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(capture_stream, &graph);
    ops_stream = 0;
    if (e != cudaSuccess || !keep) {
        cudaGetLastError(); // an invalidated capture leaves its error behind
        if (graph) cudaGraphDestroy(graph);
        return e != cudaSuccess && keep ? cuda_fail(err, e, "cudaStreamEndCapture") : 0;
    }
    cudaGraphExec_t x = NULL;
    e = cudaGraphInstantiate(&x, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return cuda_fail(err, e, "cudaGraphInstantiate");
    }
    *exec = x;
    return 0;
}

extern "C" int lc_cuda_graph_launch(void *exec, struct lc_err *err)
{
    if (ops_stream) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "a CUDA graph launched inside a capture");
    cudaError_t e = cudaGraphLaunch((cudaGraphExec_t)exec, 0);
    return e == cudaSuccess ? 0 : cuda_fail(err, e, "cudaGraphLaunch");
}

extern "C" void lc_cuda_graph_free(void *exec)
{
    if (exec) cudaGraphExecDestroy((cudaGraphExec_t)exec);
}

// the capture stream belongs to the thread's current device; a thread that
// moves to another makes a new one (and its graphs are stale: new epoch)
extern "C" void lc_cuda_runtime_thread_release(void)
{
    if (capture_stream && !ops_stream) {
        cudaStreamDestroy(capture_stream);
        capture_stream = NULL;
    }
    new_epoch();
}

extern "C" void lc_cuda_versions(char *buf, size_t size)
{
    int rt = 0;
    cudaRuntimeGetVersion(&rt);
    int maj = 0, min = 0, pat = 0;
    cublasGetProperty(MAJOR_VERSION, &maj);
    cublasGetProperty(MINOR_VERSION, &min);
    cublasGetProperty(PATCH_LEVEL, &pat);
    snprintf(buf, size, "runtime %d.%d, cuBLAS %d.%d.%d", rt / 1000, rt % 1000 / 10, maj, min, pat);
}
