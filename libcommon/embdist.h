/* embdist: scores between face embeddings. Pair scores are computed in
 * float64 exactly as numpy computes them from the same float32 embeddings
 * (normalise, then np.sum(np.square(a - b)) or np.sum(a * b)), so the
 * reference protocol sees bit-identical distances; gallery/probe score
 * matrices come from blocked SGEMM (OpenBLAS) in float32. */
#ifndef LC_EMBDIST_H
#define LC_EMBDIST_H

#include <stddef.h>

#include "err.h"
#include "stream.h"

enum lc_score_kind {
    LC_SCORE_COSINE = 0,      /* cosine similarity: higher means "same" */
    LC_SCORE_SQEUCLIDEAN = 1, /* squared L2 of normalised embeddings (0..4): lower means "same" */
};
/* "cosine" / "sqeuclidean"; parse returns -1 for anything else. */
const char *lc_score_kind_name(int kind);
int lc_score_kind_parse(const char *s);

/* An embedding record's tensor as float64: f32, f64, f16 or bf16 of rank 1
 * (or rank 2 with a leading 1). *dim gets D. Errors name the record. */
int lc_emb_from_record(double *out, size_t cap, size_t *dim, const struct lc_record *rec, const char *path,
                       struct lc_err *err);

/* x (D,) /= sqrt(np.sum(x * x)), bit-identical to numpy's
 * x / np.sqrt(np.sum(x * x, axis=1, keepdims=True)). scratch: D doubles.
 * LC_EINVAL when a value or the norm is not finite, or the norm is 0. */
int lc_emb_normalize(double *x, size_t D, double *scratch, struct lc_err *err);

/* np.sum(np.square(a - b)) and np.sum(a * b) over D values, bit-identical
 * to numpy's (pairwise summation). scratch: D doubles. */
double lc_emb_sqdist(const double *a, const double *b, size_t D, double *scratch);
double lc_emb_dot(const double *a, const double *b, size_t D, double *scratch);

/* S (np, ng) = P (np, D) . G (ng, D)^T by cblas_sgemm, row-major; with
 * LC_SCORE_SQEUCLIDEAN each entry becomes 2 - 2*dot (exact only for unit
 * vectors; the pair modes compute distances directly). */
void lc_emb_score_block(float *S, const float *P, size_t np, const float *G, size_t ng, size_t D, int kind);

#endif
