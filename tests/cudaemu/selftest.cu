// selftest: the CUDA emulator's own checks (tests/cudaemu/README.md),
// compiled as the project's .cu files are (rewrite.pl, emu.h) and linked
// with the emulator. Each misuse the emulator reports is provoked in a
// child process, which must die with the report.
#include <cuda_runtime.h>
#include <math.h>
#include <nccl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define N 256

// the sum of x[0..N) by a tree in shared memory, with or without the
// barriers it needs (K: another instance, with shared memory of its own)
template <bool SYNC, int K = 0> static __global__ void block_sum(float *out, const float *x)
{
    __shared__ float s[N];
    s[threadIdx.x] = x[threadIdx.x];
    if (SYNC) __syncthreads();
    for (int w = N / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
        if (SYNC) __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}

static __global__ void fill(float *y, float v, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = v;
}

static __global__ void add_one(float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += 1;
}

static __global__ void divergent(float *y)
{
    if (threadIdx.x < 16) __syncthreads();
    else __syncthreads();
    y[threadIdx.x] = 0;
}

static __global__ void any_odd(int *out, const int *x)
{
    int r = __syncthreads_or(x[threadIdx.x] & 1);
    if (threadIdx.x == 0) *out = r;
}

// fn, run in a child, must abort with what in its report
static void dies_with(const char *name, void (*fn)(void), const char *what)
{
    int p[2];
    if (pipe(p)) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        fn();
        _exit(0);
    }
    close(p[1]);
    char buf[4096] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(p[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: the child was not aborted (status %d)", name, status);
    CHECK(strstr(buf, what) != NULL, "%s: report lacks \"%s\": %s", name, what, buf);
}

static void host_pointer_argument(void)
{
    static float host[N];
    fill<<<1, N>>>(host, 1, N);
}

static void divergent_barrier(void)
{
    float *y;
    cudaMalloc((void **)&y, N * sizeof(float));
    divergent<<<1, 32>>>(y);
    cudaDeviceSynchronize();
}

static void use_after_free_async(void)
{
    float *y;
    cudaMalloc((void **)&y, N * sizeof(float));
    cudaFreeAsync(y, 0);
    fill<<<1, N>>>(y, 1, N);
}

static void another_devices_memory(void)
{
    float *y;
    setenv("LC_CUDA_EMU_DEVICES", "2", 1);
    cudaMalloc((void **)&y, N * sizeof(float));
    cudaSetDevice(1);
    fill<<<1, N>>>(y, 1, N);
}

static void another_devices_stream(void)
{
    cudaStream_t s;
    float *y;
    setenv("LC_CUDA_EMU_DEVICES", "2", 1);
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaSetDevice(1);
    cudaMalloc((void **)&y, N * sizeof(float));
    fill<<<1, N, 0, s>>>(y, 1, N);
}

static void stale_graph(void)
{
    cudaStream_t s;
    cudaGraph_t g;
    cudaGraphExec_t e;
    float *y;
    cudaMalloc((void **)&y, N * sizeof(float));
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    fill<<<1, N, 0, s>>>(y, 1, N);
    cudaStreamEndCapture(s, &g);
    cudaGraphInstantiate(&e, g, 0);
    cudaGraphLaunch(e, 0);
    cudaFree(y);
    cudaMalloc((void **)&y, N * sizeof(float)); // maybe at the same address
    cudaGraphLaunch(e, 0);
}

// rank 0 posts an all-reduce on a stream of its own, copies something
// else (a host's wait), then lets rank 1 post its all-reduce
static ncclUniqueId order_id;
static sem_t posted_second;
static void *ordered_rank(void *arg)
{
    int r = (int)(long)arg;
    ncclComm_t c;
    cudaStream_t s;
    float *y, h = 0;
    cudaSetDevice(r);
    ncclCommInitRankConfig(&c, 2, order_id, r, NULL);
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaMalloc((void **)&y, N * sizeof(float));
    cudaMemsetAsync(y, 0, N * sizeof(float), 0);
    if (r == 1) sem_wait(&posted_second);
    ncclAllReduce(y, y, N, ncclFloat32, ncclSum, c, s);
    if (r == 0) {
        cudaMemcpy(&h, y, sizeof h, cudaMemcpyDeviceToHost);
        sem_post(&posted_second);
    }
    cudaStreamSynchronize(s);
    cudaStreamDestroy(s);
    cudaFree(y);
    ncclCommDestroy(c);
    return NULL;
}

static void collective_after_a_wait(void)
{
    pthread_t t[2];
    setenv("LC_CUDA_EMU_DEVICES", "2", 1);
    sem_init(&posted_second, 0, 0);
    ncclGetUniqueId(&order_id);
    for (long r = 0; r < 2; r++) pthread_create(&t[r], NULL, ordered_rank, (void *)r);
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
    sem_destroy(&posted_second);
}

// two ranks whose all-reduces differ in size
static ncclUniqueId mismatch_id;
static void *mismatched_rank(void *arg)
{
    int r = (int)(long)arg;
    ncclComm_t c;
    float *y;
    cudaSetDevice(r);
    ncclCommInitRankConfig(&c, 2, mismatch_id, r, NULL);
    cudaMalloc((void **)&y, N * sizeof(float));
    ncclAllReduce(y, y, r ? N / 2 : N, ncclFloat32, ncclSum, c, 0);
    cudaDeviceSynchronize();
    return NULL;
}

static void mismatched_collectives(void)
{
    pthread_t t[2];
    setenv("LC_CUDA_EMU_DEVICES", "2", 1);
    ncclGetUniqueId(&mismatch_id);
    for (long r = 0; r < 2; r++) pthread_create(&t[r], NULL, mismatched_rank, (void *)r);
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
}

// x[0] after a on stream a and add_one on stream b, b waiting for a's
// event or not, and the host waiting for the device; b created first or last
static float two_streams(float *x, int wait, int b_first)
{
    cudaStream_t a, b;
    cudaEvent_t e;
    float h = -1;
    if (b_first) cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking);
    cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking);
    if (!b_first) cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking);
    cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    cudaMemsetAsync(x, 0, N * sizeof(float), 0);
    cudaDeviceSynchronize();
    fill<<<1, N, 0, a>>>(x, 5, N);
    cudaEventRecord(e, a);
    if (wait) cudaStreamWaitEvent(b, e, 0);
    add_one<<<1, N, 0, b>>>(x, N);
    cudaDeviceSynchronize();
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    cudaEventDestroy(e);
    cudaStreamDestroy(a);
    cudaStreamDestroy(b);
    return h;
}

static void copy_past_the_end(void)
{
    float *y, h[N + 1];
    cudaMalloc((void **)&y, N * sizeof(float));
    cudaMemcpy(h, y, (N + 1) * sizeof(float), cudaMemcpyDeviceToHost);
}

int main(void)
{
    alarm(300); // a hang fails
    float hx[N], *x, *out, h;
    for (int i = 0; i < N; i++) hx[i] = (float)(i % 7) - 3 + 0.25f * (i % 3);
    double want = 0;
    for (int i = 0; i < N; i++) want += hx[i];
    CHECK(cudaMalloc((void **)&x, N * sizeof(float)) == cudaSuccess, "cudaMalloc");
    CHECK(cudaMalloc((void **)&out, sizeof(float)) == cudaSuccess, "cudaMalloc");

    // fresh device memory reads as NaN (0xff bytes)
    cudaMemcpy(&h, out, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(isnan(h), "fresh device memory reads %g, not NaN", h);

    // a block's barriers: the tree sum is right with them, wrong without
    cudaMemcpy(x, hx, sizeof hx, cudaMemcpyHostToDevice);
    block_sum<true><<<1, N>>>(out, x);
    cudaMemcpy(&h, out, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(fabs(h - want) < 1e-3, "tree sum with barriers: %g, want %g", h, want);
    // (launches alternate the threads' order: one of two runs shows the race;
    // each instance's shared memory is fresh, not the sums of a run before)
    float h2;
    block_sum<false, 1><<<1, N>>>(out, x);
    cudaMemcpy(&h, out, sizeof h, cudaMemcpyDeviceToHost);
    block_sum<false, 2><<<1, N>>>(out, x);
    cudaMemcpy(&h2, out, sizeof h2, cudaMemcpyDeviceToHost);
    CHECK(fabs(h - want) > 1e-3 || fabs(h2 - want) > 1e-3,
          "tree sum without its barriers came out right twice (%g, %g): the order hides the race", h, h2);

    // __syncthreads_or: the block's vote
    int hi[N], *xi, *vote, v = -1;
    cudaMalloc((void **)&xi, sizeof hi);
    cudaMalloc((void **)&vote, sizeof(int));
    for (int i = 0; i < N; i++) hi[i] = 2 * i;
    cudaMemcpy(xi, hi, sizeof hi, cudaMemcpyHostToDevice);
    any_odd<<<1, N>>>(vote, xi);
    cudaMemcpy(&v, vote, sizeof v, cudaMemcpyDeviceToHost);
    CHECK(v == 0, "__syncthreads_or of all-even: %d", v);
    hi[N - 1] = 3;
    cudaMemcpy(xi, hi, sizeof hi, cudaMemcpyHostToDevice);
    any_odd<<<1, N>>>(vote, xi);
    cudaMemcpy(&v, vote, sizeof v, cudaMemcpyDeviceToHost);
    CHECK(v == 1, "__syncthreads_or with one odd: %d", v);

    // a launch beyond CUDA's limits runs nothing and leaves its error
    cudaGetLastError();
    fill<<<1, 2048>>>(x, 5, N);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads a block: no configuration error");
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h == hx[0], "a refused launch ran");

    // a capture records; its graph replays the record each launch
    cudaStream_t s;
    cudaGraph_t g;
    cudaGraphExec_t e;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    fill<<<1, N>>>(x, 0, N);
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "begin capture");
    add_one<<<1, N, 0, s>>>(x, N);
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(cudaGetLastError() == cudaErrorStreamCaptureUnsupported, "a synchronous copy inside a capture was allowed");
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated, "a spoilt capture ended well");
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "begin capture");
    add_one<<<1, N, 0, s>>>(x, N);
    CHECK(cudaStreamEndCapture(s, &g) == cudaSuccess, "end capture");
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h == 0, "a captured kernel ran at capture (%g)", h);
    cudaGraphInstantiate(&e, g, 0);
    cudaGraphLaunch(e, 0);
    cudaGraphLaunch(e, 0);
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h == 2, "two graph launches: %g, want 2", h);
    cudaGraphExecDestroy(e);
    cudaGraphDestroy(g);
    cudaStreamDestroy(s);

    // streams: work runs when the host waits, and streams that do not wait
    // for each other's events run out of step: every time the consumer is
    // the newer stream under late, the older under early; under coin, each
    // at least once in sixteen tries
    const char *policy = getenv("LC_CUDA_EMU_STREAMS") ? getenv("LC_CUDA_EMU_STREAMS") : "coin";
    for (int b_first = 0; b_first < 2; b_first++) {
        int out_of_step = 0, tries = 16;
        for (int t = 0; t < tries; t++) {
            float w = two_streams(x, 1, b_first), nw = two_streams(x, 0, b_first);
            CHECK(w == 6, "b waiting for a's event: %g, want 6", w);
            CHECK(nw == 6 || nw == 5, "b not waiting: %g", nw);
            out_of_step += nw != 6;
        }
        int every = (!strcmp(policy, "late") && !b_first) || (!strcmp(policy, "early") && b_first);
        CHECK(every ? out_of_step == tries : !strcmp(policy, "coin") ? out_of_step > 0 : 1,
              "streams that do not wait for each other (the consumer %s) ran out of step %d times in %d under %s",
              b_first ? "older" : "newer", out_of_step, tries, policy);
    }
    // synchronous copies keep the legacy stream's order with blocking streams
    cudaStreamCreate(&s);
    fill<<<1, N, 0, s>>>(x, 7, N);
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h == 7, "a synchronous copy ran before a blocking stream's kernel (%g)", h);
    cudaStreamDestroy(s);
    // a host's wait does not run another stream's collective ahead, which
    // waits for a rank that posts its own only after that wait
    collective_after_a_wait();
    cudaEvent_t ev;
    cudaEventCreate(&ev);
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    fill<<<1, N, 0, s>>>(x, 3, N);
    cudaEventRecord(ev, s);
    CHECK(cudaEventQuery(ev) == cudaErrorNotReady, "an event ready before the host waited for its stream");
    CHECK(cudaEventSynchronize(ev) == cudaSuccess && cudaEventQuery(ev) == cudaSuccess, "an event waited for is not ready");
    // a copy from page-locked memory reads it when it runs, one from pageable memory when it is issued
    float *pinned, pageable[N];
    cudaHostAlloc((void **)&pinned, N * sizeof(float), cudaHostAllocDefault);
    for (int i = 0; i < N; i++) pinned[i] = 1, pageable[i] = 1;
    cudaMemcpyAsync(x, pinned, N * sizeof(float), cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(out, pageable, sizeof(float), cudaMemcpyHostToDevice, s);
    pinned[0] = 2, pageable[0] = 2;
    cudaStreamSynchronize(s);
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h == 2, "a copy from page-locked memory read it when issued (%g)", h);
    cudaMemcpy(&h, out, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h == 1, "a copy from pageable memory read it when run (%g)", h);
    cudaFreeHost(pinned);
    cudaEventDestroy(ev);
    cudaStreamDestroy(s);

    // misuse a GPU punishes is fatal, with a report
    dies_with("host pointer", host_pointer_argument, "is not device memory");
    dies_with("divergent barrier", divergent_barrier, "wait at different __syncthreads");
    dies_with("copy past the end", copy_past_the_end, "not inside one device allocation");
    dies_with("use after cudaFreeAsync", use_after_free_async, "is not device memory");
    dies_with("mismatched collectives", mismatched_collectives, "meets rank");
    dies_with("a stale graph", stale_graph, "a graph launched after memory its capture used");
    dies_with("another device's memory", another_devices_memory, "memory of device 0, used on device 1");
    dies_with("another device's stream", another_devices_stream, "on a stream of device 0 while device 1 is current");

    cudaFree(x), cudaFree(out), cudaFree(xi), cudaFree(vote);
    CHECK(cudaFree(hx) == cudaErrorInvalidValue, "freeing host memory was accepted");
    if (failures) {
        fprintf(stderr, "cudaemu selftest: %d failures\n", failures);
        return 1;
    }
    printf("cudaemu selftest: passed\n");
    return 0;
}
