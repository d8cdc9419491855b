/* blas: the toolkit's one door to OpenBLAS for the NN ops. It repairs
 * OpenBLAS 0.3.21's CPU detection (unknown newer Xeons fall back to the
 * SSE3 "Prescott" kernels, 5-8x slower than its AVX-512 ones) and runs
 * GEMMs split over OpenMP threads with OpenBLAS single-threaded inside, so
 * the two thread pools never spin against each other and every output
 * element is computed by one serial GEMM (deterministic for a thread count). */
#ifndef LC_BLAS_H
#define LC_BLAS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Once per process (thread-safe, idempotent; every op here calls it):
 * if OpenBLAS picked its generic fallback kernel although the CPU has
 * AVX-512 (or AVX2+FMA), switch it to SkylakeX (or Haswell). An
 * OPENBLAS_CORETYPE set by the user is always respected. */
void lc_blas_init(void);

/* The OpenBLAS kernel in use (e.g. "SkylakeX"); calls lc_blas_init(). */
const char *lc_blas_core(void);

/* Row-major C (M,N) = alpha op(A) op(B) + beta C, op(A) (M,K), op(B) (K,N);
 * ta/tb nonzero = transposed (A stored (K,M), B stored (N,K)). Serial:
 * call it from inside parallel regions between lc_blas_serial_begin/end.
 * M, N or K == 0 is allowed (K == 0 scales C by beta). */
void lc_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
              int ldb, float beta, float *c, int ldc);

/* OpenBLAS single-threaded until lc_blas_serial_end(returned value): use
 * around OpenMP regions whose threads call lc_sgemm.
 * Why not OpenBLAS's own threads: after each threaded call they spin (with
 * sched_yield) for about 0.1 s before sleeping, and on a 2-core machine
 * that halved the throughput of the OpenMP loops that followed (measured:
 * a 64x512x576 GEMM per thread ran at 10 instead of 130 GFLOP/s). NN code
 * should therefore run its GEMMs through lc_sgemm_par, never cblas_sgemm
 * with OpenBLAS threads, so the two pools do not alternate. */
int lc_blas_serial_begin(void);
void lc_blas_serial_end(int prev);

/* The slice of a parallel GEMM that thread tid of nth computes: the
 * larger of M and N is cut into nth near-equal, 16-aligned pieces. Call
 * from every thread of an OpenMP region (OpenBLAS serial), or use
 * lc_sgemm_par, which opens the region itself. */
void lc_sgemm_slice(int tid, int nth, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc);
void lc_sgemm_par(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                  int ldb, float beta, float *c, int ldc);

/* [lo, hi) of n items for part i of parts (static, near-equal split). */
static inline void lc_split(size_t n, int parts, int i, size_t *lo, size_t *hi)
{
    size_t q = n / (size_t)parts, r = n % (size_t)parts;
    *lo = (size_t)i * q + ((size_t)i < r ? (size_t)i : r);
    *hi = *lo + q + ((size_t)i < r);
}

#ifdef __cplusplus
}
#endif
#endif
