// normalize: CUDA twin of lc_normalize_u8_forward. One thread per output
// element; the same float expression as the CPU table, so results match
// bit for bit (IEEE division, no fast-math).
#include <cuda_runtime.h>

#include "cuda.h"

struct params {
    int c, reverse;
    float mean[LC_NORMALIZE_MAX_C], std[LC_NORMALIZE_MAX_C];
};

static __global__ void normalize_u8_kernel(float *y, const uint8_t *x, long plane, long total,
                                           params p)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    long n = i / (plane * p.c), r = i % (plane * p.c);
    int k = (int)(r / plane);
    long pix = r % plane;
    int src = p.reverse ? p.c - 1 - k : k;
    float v = (float)x[(n * plane + pix) * p.c + src];
    y[i] = (v / 255.0f - p.mean[k]) / p.std[k];
}

extern "C" int lc_normalize_u8_forward_cuda(float *y, const uint8_t *x, const struct lc_normalize *p,
                                            void *stream, struct lc_err *err)
{
    params q;
    q.c = p->c;
    q.reverse = p->reverse_channels;
    for (int k = 0; k < LC_NORMALIZE_MAX_C; k++) {
        q.mean[k] = p->mean[k];
        q.std[k] = p->std[k];
    }
    long plane = (long)p->h * p->w, total = plane * p->c * p->n;
    if (total == 0) return 0;
    int threads = 256;
    long blocks = (total + threads - 1) / threads;
    normalize_u8_kernel<<<(unsigned)blocks, threads, 0, LC_STREAM(stream)>>>(y, x, plane, total, q);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: normalize kernel: %s", cudaGetErrorString(e));
    return 0;
}
