/* blas: OpenBLAS kernel repair, serial/parallel GEMM helpers (see blas.h). */
#include "blas.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Present in DYNAMIC_ARCH builds of OpenBLAS only (Debian's is one). */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void pick_core(void)
{
    if (getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
    const char *core = openblas_get_corename();
    /* "Prescott" is what 0.3.21 answers for CPU models it does not know
     * (Sapphire/Emerald Rapids among them); anything else it chose itself. */
    if (!core || strcmp(core, "Prescott") != 0) return;
    const char *want = NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
#endif
    if (!want) return;
    /* gotoblas_dynamic_init reads the variable; unset it again so child
     * processes see the environment they were given. */
    setenv("OPENBLAS_CORETYPE", want, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
}

void lc_blas_init(void) { pthread_once(&once, pick_core); }

const char *lc_blas_core(void)
{
    lc_blas_init();
    return openblas_get_corename();
}

void lc_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
              int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * c[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
                lda, b, ldb, beta, c, ldc);
}

int lc_blas_serial_begin(void)
{
    lc_blas_init();
    int prev = openblas_get_num_threads();
    if (prev != 1) openblas_set_num_threads(1);
    return prev;
}

void lc_blas_serial_end(int prev)
{
    if (prev != 1) openblas_set_num_threads(prev);
}

/* Cut n into parts pieces at multiples of 16 (whole cache lines of C or B). */
static void split16(int n, int parts, int i, int *lo, int *hi)
{
    size_t blocks = ((size_t)n + 15) / 16, l, h;
    lc_split(blocks, parts, i, &l, &h);
    *lo = (int)(l * 16 < (size_t)n ? l * 16 : (size_t)n);
    *hi = (int)(h * 16 < (size_t)n ? h * 16 : (size_t)n);
}

void lc_sgemm_slice(int tid, int nth, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc)
{
    int lo, hi;
    if (n >= m) {
        split16(n, nth, tid, &lo, &hi);
        if (hi > lo)
            lc_sgemm(ta, tb, m, hi - lo, k, alpha, a, lda, tb ? b + (size_t)lo * ldb : b + lo, ldb, beta, c + lo,
                     ldc);
    } else {
        split16(m, nth, tid, &lo, &hi);
        if (hi > lo)
            lc_sgemm(ta, tb, hi - lo, n, k, alpha, ta ? a + lo : a + (size_t)lo * lda, lda, b, ldb, beta,
                     c + (size_t)lo * ldc, ldc);
    }
}

void lc_sgemm_par(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                  int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    if (omp_in_parallel()) { /* the caller's region: OpenBLAS is already serial */
        lc_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if ((double)m * n * k < 1e5) { /* small: one serial GEMM */
        int prev = lc_blas_serial_begin();
        lc_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        lc_blas_serial_end(prev);
        return;
    }
    int prev = lc_blas_serial_begin();
#pragma omp parallel
    lc_sgemm_slice(omp_get_thread_num(), omp_get_num_threads(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                   ldc);
    lc_blas_serial_end(prev);
}
