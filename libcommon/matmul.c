/* matmul: batched GEMMs with transpose flags (see matmul.h). */
#include "matmul.h"

#include <omp.h>
#include <stddef.h>

#include "blas.h"

/* C[i] (mm,nn) = alpha op(A[i]) op(B[i]) + beta C[i] for every batch i,
 * batch-parallel when there are enough batches, else GEMM-parallel. */
static void batched(int batch, int ta, int tb, int mm, int nn, int kk, const float *a, int lda, size_t sa,
                    const float *b, int ldb, size_t sb, float beta, float *c, size_t sc)
{
    if (batch < 1 || mm < 1 || nn < 1) return;
    if (batch >= omp_get_max_threads() && batch > 1) {
        int prev = lc_blas_serial_begin();
#pragma omp parallel for schedule(static)
        for (int i = 0; i < batch; i++)
            lc_sgemm(ta, tb, mm, nn, kk, 1, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, nn);
        lc_blas_serial_end(prev);
    } else {
        for (int i = 0; i < batch; i++)
            lc_sgemm_par(ta, tb, mm, nn, kk, 1, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, nn);
    }
}

void lc_matmul_forward(float *c, const float *a, const float *b, int batch, int m, int n, int k, int ta, int tb)
{
    lc_blas_init();
    size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n;
    batched(batch, ta, tb, m, n, k, a, ta ? m : k, sa, b, tb ? k : n, sb, 0, c, sc);
}

void lc_matmul_backward(float *da, float *db, const float *dc, const float *a, const float *b, int batch, int m,
                        int n, int k, int ta, int tb)
{
    lc_blas_init();
    size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n;
    int lda = ta ? m : k, ldb = tb ? k : n;
    if (da) {
        if (!ta) /* dA (m,k) += dC (m,n) op(B)^T (n,k) */
            batched(batch, 0, !tb, m, k, n, dc, n, sc, b, ldb, sb, 1, da, sa);
        else /* dA (k,m) += op(B) (k,n) dC^T (n,m) */
            batched(batch, tb, 1, k, m, n, b, ldb, sb, dc, n, sc, 1, da, sa);
    }
    if (db) {
        if (!tb) /* dB (k,n) += op(A)^T (k,m) dC (m,n) */
            batched(batch, !ta, 0, k, n, m, a, lda, sa, dc, n, sc, 1, db, sb);
        else /* dB (n,k) += dC^T (n,m) op(A) (m,k) */
            batched(batch, 1, ta, n, k, m, dc, n, sc, a, lda, sa, 1, db, sb);
    }
}
