/* matmul: batched matrix product C[b] = op(A[b]) op(B[b]) on float32 with
 * transposes as flags (for attention: Q K^T, softmax(.) V, ...), forward
 * and backward. Batches run in parallel, or one product is split over
 * the threads when there are fewer batches than threads (blas.h). */
#ifndef LC_MATMUL_H
#define LC_MATMUL_H

#ifdef __cplusplus
extern "C" {
#endif

/* op(A[b]) is (m,k): A[b] stored (m,k), or (k,m) when ta. op(B[b]) is
 * (k,n): B[b] stored (k,n), or (n,k) when tb. C[b] (m,n). Batches are
 * contiguous (A[b] = a + b*m*k, ...). c is overwritten and must not
 * overlap a or b. Sizes >= 1 (batch, m, n or k of 0: nothing happens but
 * C is zeroed when k == 0). */
void lc_matmul_forward(float *c, const float *a, const float *b, int batch, int m, int n, int k, int ta, int tb);

/* da += dC op(B)^T (laid out as A is, i.e. transposed back when ta), db +=
 * op(A)^T dC (laid out as B is); either may be NULL. */
void lc_matmul_backward(float *da, float *db, const float *dc, const float *a, const float *b, int batch, int m,
                        int n, int k, int ta, int tb);

#ifdef __cplusplus
}
#endif
#endif
