/* nnfix: helpers shared by the dense NN op tests (conv2d, bn, linear,
 * pool, matmul): golden arrays from tests/fixtures/nn/dense/ (written by
 * make_golden.py's make_nn_dense), scratch buffers freed in one call (the
 * sanitizer build checks for leaks), random tensors and labelled checks. */
#ifndef LC_NNFIX_H
#define LC_NNFIX_H

#include "dtype.h"
#include "rng.h"
#include "testutil.h"
#include "threads.h"

#define NF_MAX 256
static void *nf_mem[NF_MAX];
static struct tu_array nf_arr[NF_MAX];
static int nf_nmem, nf_narr;

/* Golden array <case>_<name>.npy; its element count must be n (0: any). */
static inline void *nf_load_any(const char *cas, const char *name, size_t n, int dtype)
{
    char rel[256];
    snprintf(rel, sizeof rel, "nn/dense/%s_%s.npy", cas, name);
    cr_assert(nf_narr < NF_MAX);
    struct tu_array a = tu_fixture(rel);
    cr_assert_eq(a.h.dtype, dtype, "%s: dtype %d", rel, a.h.dtype);
    if (n) cr_assert_eq(a.n, n, "%s: %zu elements, want %zu", rel, a.n, n);
    nf_arr[nf_narr++] = a;
    return a.data;
}
static inline float *nf_load(const char *cas, const char *name, size_t n)
{
    return nf_load_any(cas, name, n, LC_DTYPE_F32);
}

/* n floats, zeroed; freed by nf_free. */
static inline float *nf_zeros(size_t n)
{
    cr_assert(nf_nmem < NF_MAX);
    float *p = calloc(n ? n : 1, sizeof(float));
    cr_assert(p);
    return nf_mem[nf_nmem++] = p;
}

static inline float *nf_copy(const float *src, size_t n)
{
    float *p = nf_zeros(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}

/* n normal floats times scale, from seed. */
static inline float *nf_randn(size_t n, uint64_t seed, float scale)
{
    float *p = nf_zeros(n);
    struct lc_rng r;
    lc_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) p[i] = (float)lc_rng_normal(&r) * scale;
    return p;
}

static inline void nf_free(void)
{
    for (int i = 0; i < nf_nmem; i++) free(nf_mem[i]);
    for (int i = 0; i < nf_narr; i++) tu_free(&nf_arr[i]);
    nf_nmem = nf_narr = 0;
}

/* |a - ref| <= atol + rtol |ref| with atol = atol_rel * max|ref| (float32
 * sums of many terms lose digits near zero, relative to their scale). */
static inline void nf_close(const float *a, const float *ref, size_t n, float rtol, float atol_rel, const char *what)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)ref[i]));
    double atol = atol_rel * scale;
    size_t worst = 0;
    double excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]) - (atol + rtol * fabs((double)ref[i]));
        if (isnan(a[i]) != isnan(ref[i])) e = INFINITY;
        if (e > excess) excess = e, worst = i;
    }
    cr_expect(n == 0 || excess <= 0, "%s: worst at %zu: got %.9g, want %.9g (atol %.3g, rtol %.3g)", what, worst,
              n ? (double)a[worst] : 0.0, n ? (double)ref[worst] : 0.0, atol, (double)rtol);
}

/* sum(y * r) in double: the scalar loss whose gradient wrt y is r */
static inline double nf_dot(const float *y, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

#endif
