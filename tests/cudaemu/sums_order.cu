// sums_order: ops.cu's channels-last per-channel sums, packed
// (cl_packed_partials: a 16-byte pack of channels a thread) against one
// channel a thread (cl_partials), compared as the double partials they
// write, bit for bit: the packed kernel must add each channel's terms in
// the scalar kernel's order. The float outputs of the ops cannot show
// that (double sums of 16-bit terms hardly ever round to another float),
// so the partials are compared here, on inputs whose double sums depend
// on their order: values spread over many binades (spread), so their sums
// are not exact in double. Where each lane adds several rows, a host sum
// with the lanes in another order must differ somewhere, or the inputs
// could not tell (bf16 and float32: see spread). Compiled with ops.cu itself (its static
// kernels) and linked with the emulator; run by make test-cuda-emu.
#include "ops.cu"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "check.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}

// +-2^e (1 + f / 8), e from lo to hi
static float spread_value(int lo, int hi)
{
    uint64_t r = next_u64();
    float v = ldexpf(1.0f + (float)(r % 8) / 8, (int)((r >> 3) % (uint64_t)(hi - lo + 1)) + lo);
    return (r >> 12) & 1 ? -v : v;
}

// fp16's whole range; bf16 and float32 2^-60 to 2^60. (Any sum of a few
// thousand fp16 values is exact in double: their order shows only in the
// sums of products.)
template <typename T> static float spread(void)
{
    return std::is_same<T, __half>::value ? spread_value(-24, 15) : spread_value(-60, 60);
}

template <typename T> static void *device_copy(const std::vector<T> &h)
{
    void *p;
    cudaMalloc(&p, h.size() * sizeof(T));
    cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
    return p;
}

static std::vector<double> download(const double *p, size_t n)
{
    std::vector<double> h(n);
    cudaDeviceSynchronize();
    cudaMemcpy(h.data(), p, n * sizeof(double), cudaMemcpyDeviceToHost);
    return h;
}

// cl_partials' order on the host, but lanes added 7, 6, ..., 1 (the first
// sum, q = 0, of SUM_BN_BWD's dy): what a packed kernel in another order
// would give
static std::vector<double> reordered_q0(const std::vector<float> &dy, const chan_split &sp, int c)
{
    std::vector<double> out((size_t)sp.chunks * c);
    for (int b = 0; b < sp.chunks; b++)
        for (int k = 0; k < c; k++) {
            double lane[8] = {0};
            long r0 = (long)b * sp.per, r1 = r0 + sp.per < sp.m ? r0 + sp.per : sp.m;
            for (int t = 0; t < 8; t++)
                for (long r = r0 + t; r < r1; r += 8) lane[t] += dy[(size_t)r * c + k];
            double s = lane[0];
            for (int t = 7; t > 0; t--) s += lane[t];
            out[(size_t)b * c + k] = s;
        }
    return out;
}

template <typename T, int KIND> static void check(const char *tn, const char *kn, long rows, int c)
{
    constexpr int V = 16 / sizeof(T), ns = nsums<KIND>();
    const size_t total = (size_t)rows * c;
    std::vector<T> hx(total), hdy(total);
    std::vector<float> fdy(total);
    for (size_t i = 0; i < total; i++) {
        hx[i] = from_f<T>(spread<T>());
        hdy[i] = from_f<T>(spread<T>());
        fdy[i] = to_f(hdy[i]);
    }
    std::vector<float> hmean(c), hab(2 * c), hslope(c);
    for (int k = 0; k < c; k++)
        hmean[k] = spread<T>(), hab[2 * k] = spread<T>(), hab[2 * k + 1] = spread<T>(),
        hslope[k] = 0.25f * (1 + k % 4);
    const T *x = (const T *)device_copy(hx), *dy = (const T *)device_copy(hdy);
    const float *mean = (const float *)device_copy(hmean), *ab = (const float *)device_copy(hab),
                *slope = (const float *)device_copy(hslope);
    const chan_split sp = split_channels(rows, 1);
    const size_t np = (size_t)sp.chunks * NQ * c;
    double *part[2];
    for (int i = 0; i < 2; i++) {
        cudaMalloc((void **)&part[i], np * sizeof(double));
        cudaMemsetAsync(part[i], 0, np * sizeof(double), 0);
    }
    dim3 grid((unsigned)sp.chunks, (unsigned)((c + 31) / 32)), block(32, 8);
    cl_partials<T, KIND><<<grid, block>>>(part[0], x, dy, mean, ab, slope, sp.m, c, sp.per);
    dim3 pgrid((unsigned)sp.chunks, (unsigned)((c + PACKS * V - 1) / (PACKS * V))), pblock(PACKS, LANES);
    cl_packed_partials<T, KIND, V><<<pgrid, pblock>>>(part[1], x, dy, mean, ab, slope, sp.m, c, sp.per);
    std::vector<double> a = download(part[0], np), b = download(part[1], np);
    size_t first = np, nonzero = 0;
    for (int ch = 0; ch < sp.chunks; ch++)
        for (int q = 0; q < ns; q++)
            for (int k = 0; k < c; k++) {
                size_t i = ((size_t)ch * NQ + q) * c + k;
                nonzero += a[i] != 0;
                if (first == np && memcmp(&a[i], &b[i], sizeof(double))) first = i;
            }
    CHECK(first == np, "%s %s (%ld rows, %d channels): partial %zu packed %.17g, one channel a thread %.17g", tn, kn,
          rows, c, first, first < np ? b[first] : 0.0, first < np ? a[first] : 0.0);
    CHECK(nonzero > 0, "%s %s: every partial zero", tn, kn);
    if (KIND == SUM_BN_BWD && !std::is_same<T, __half>::value && rows >= 64) { // the inputs tell the order
        std::vector<double> r = reordered_q0(fdy, sp, c);
        size_t differ = 0;
        for (int ch = 0; ch < sp.chunks; ch++)
            for (int k = 0; k < c; k++) differ += memcmp(&r[(size_t)ch * c + k], &a[(size_t)ch * NQ * c + k], 8) != 0;
        CHECK(differ > 0, "%s (%ld rows, %d channels): lanes added in reverse give the same partials: the inputs "
                          "cannot tell the order", tn, rows, c);
    }
    for (const void *p : {(const void *)x, (const void *)dy, (const void *)mean, (const void *)ab,
                          (const void *)slope, (const void *)part[0], (const void *)part[1]})
        cudaFree((void *)p);
}

template <typename T> static void check_kinds(const char *tn, long rows, int c)
{
    check<T, SUM_SHIFTED>(tn, "statistics", rows, c);
    check<T, SUM_BN_BWD>(tn, "batch-norm backward", rows, c);
    check<T, SUM_PRELU_DA>(tn, "PReLU slopes", rows, c);
    check<T, SUM_BNP_BWD>(tn, "fused backward", rows, c);
    check<T, SUM_BNP_ALL>(tn, "fused backward with the slopes", rows, c);
}

int main(void)
{
    // rows c: chunks ending between unrolled loads, channels not a multiple of a block's, several
    // channel blocks, fewer rows than row lanes
    static const long shapes[][2] = {{3000, 64}, {784, 40}, {98, 512}, {5, 16}};
    for (const auto &s : shapes) {
        check_kinds<__half>("fp16", s[0], (int)s[1]);
        check_kinds<__nv_bfloat16>("bf16", s[0], (int)s[1]);
        check_kinds<float>("float32", s[0], (int)s[1]);
    }
    if (failures) {
        fprintf(stderr, "sums_order: %d failures\n", failures);
        return 1;
    }
    printf("sums_order: packed channels-last partials identical to one channel a thread's (fp16, bf16, float32; 5 "
           "kinds, 4 shapes)\n");
    return 0;
}
