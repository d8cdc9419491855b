/* embdist: exact pair scores (numpy's pairwise summation via lc_np_sum)
 * and SGEMM score blocks. */
#include "embdist.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "metrics.h"

const char *lc_score_kind_name(int kind)
{
    return kind == LC_SCORE_SQEUCLIDEAN ? "sqeuclidean" : kind == LC_SCORE_COSINE ? "cosine" : "?";
}

int lc_score_kind_parse(const char *s)
{
    if (strcmp(s, "cosine") == 0) return LC_SCORE_COSINE;
    if (strcmp(s, "sqeuclidean") == 0 || strcmp(s, "sql2") == 0) return LC_SCORE_SQEUCLIDEAN;
    return -1;
}

int lc_emb_from_record(double *out, size_t cap, size_t *dim, const struct lc_record *rec, const char *path,
                       struct lc_err *err)
{
    int64_t ri = (int64_t)rec->index, off = (int64_t)rec->offset;
    if (rec->codec != LC_CODEC_NONE || rec->dtype == LC_DTYPE_NONE)
        return lc_errf(err, LC_EFORMAT, path, ri, off, "record '%s' holds no raw tensor (an embedding is a vector)",
                       rec->key);
    size_t D;
    if (rec->rank == 1) D = rec->dims[0];
    else if (rec->rank == 2 && rec->dims[0] == 1) D = rec->dims[1];
    else
        return lc_errf(err, LC_EFORMAT, path, ri, off, "record '%s' is not a vector of shape (D,) (rank %u)",
                       rec->key, rec->rank);
    int dt = rec->dtype;
    if (dt != LC_DTYPE_F32 && dt != LC_DTYPE_F64 && dt != LC_DTYPE_F16 && dt != LC_DTYPE_BF16)
        return lc_errf(err, LC_EFORMAT, path, ri, off, "record '%s': embeddings must be floating point, got %s",
                       rec->key, lc_dtype_name(dt));
    if (D == 0 || D > cap)
        return lc_errf(err, LC_EFORMAT, path, ri, off, "record '%s': dimension %zu is out of range (1 to %zu)",
                       rec->key, D, cap);
    if (dt == LC_DTYPE_F32) {
        const float *f = rec->payload;
        for (size_t i = 0; i < D; i++) out[i] = (double)f[i];
    } else {
        for (size_t i = 0; i < D; i++) out[i] = lc_dtype_get(rec->payload, dt, i);
    }
    for (size_t i = 0; i < D; i++)
        if (!isfinite(out[i]))
            return lc_errf(err, LC_EINVAL, path, ri, off, "record '%s': embedding value %zu is %g", rec->key, i,
                           out[i]);
    *dim = D;
    return 0;
}

int lc_emb_normalize(double *x, size_t D, double *scratch, struct lc_err *err)
{
    for (size_t i = 0; i < D; i++) scratch[i] = x[i] * x[i];
    double norm = sqrt(lc_np_sum(scratch, D));
    if (!(norm > 0) || !isfinite(norm))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "the embedding's norm is %g: it cannot be normalised", norm);
    for (size_t i = 0; i < D; i++) x[i] = x[i] / norm;
    return 0;
}

double lc_emb_sqdist(const double *a, const double *b, size_t D, double *scratch)
{
    for (size_t i = 0; i < D; i++) {
        double d = a[i] - b[i];
        scratch[i] = d * d;
    }
    return lc_np_sum(scratch, D);
}

double lc_emb_dot(const double *a, const double *b, size_t D, double *scratch)
{
    for (size_t i = 0; i < D; i++) scratch[i] = a[i] * b[i];
    return lc_np_sum(scratch, D);
}

void lc_emb_score_block(float *S, const float *P, size_t np, const float *G, size_t ng, size_t D, int kind)
{
    if (!np || !ng) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)np, (int)ng, (int)D, 1.0f, P, (int)D, G, (int)D, 0.0f,
                S, (int)ng);
    if (kind == LC_SCORE_SQEUCLIDEAN)
        for (size_t i = 0; i < np * ng; i++) S[i] = 2.0f - 2.0f * S[i];
}
