/* test_embdist: pair scores from float32 embeddings bit-identical to numpy
 * (tests/make_golden.py, section metrics: normalise, squared L2, cosine),
 * SGEMM score blocks against them, and the checks on embedding records. */
#include <math.h>

#include "dtype.h"
#include "embdist.h"
#include "testutil.h"

Test(embdist, pair_scores_are_numpy_exact)
{
    struct tu_array x = tu_fixture("metrics/emb_x.npy"), dist = tu_fixture("metrics/emb_dist.npy"),
                    cos = tu_fixture("metrics/emb_cos.npy"), raw = tu_fixture("metrics/emb_rawdist.npy");
    size_t n = x.h.dims[0], D = x.h.dims[1];
    const float *e = x.data;
    double *v = malloc(n * D * sizeof *v), scratch[64];
    for (size_t i = 0; i < n * D; i++) v[i] = e[i];
    for (size_t p = 0; p < n / 2; p++) {
        double got = lc_emb_sqdist(v + 2 * p * D, v + (2 * p + 1) * D, D, scratch);
        cr_expect_eq(got, ((double *)raw.data)[p], "raw pair %zu: %.17g vs %.17g", p, got, ((double *)raw.data)[p]);
    }
    struct lc_err err;
    for (size_t i = 0; i < n; i++) cr_assert_eq(lc_emb_normalize(v + i * D, D, scratch, &err), 0);
    for (size_t p = 0; p < n / 2; p++) {
        double d = lc_emb_sqdist(v + 2 * p * D, v + (2 * p + 1) * D, D, scratch);
        double c = lc_emb_dot(v + 2 * p * D, v + (2 * p + 1) * D, D, scratch);
        cr_expect_eq(d, ((double *)dist.data)[p], "pair %zu dist: %.17g vs %.17g", p, d, ((double *)dist.data)[p]);
        cr_expect_eq(c, ((double *)cos.data)[p], "pair %zu cosine: %.17g vs %.17g", p, c, ((double *)cos.data)[p]);
    }
    /* SGEMM blocks: float32 products of the same unit vectors */
    float *f = malloc(n * D * sizeof *f), *S = malloc(n * n * sizeof *S);
    for (size_t i = 0; i < n * D; i++) f[i] = (float)v[i];
    lc_emb_score_block(S, f, n, f, n, D, LC_SCORE_COSINE);
    for (size_t p = 0; p < n / 2; p++)
        cr_expect(fabs(S[(2 * p) * n + 2 * p + 1] - ((double *)cos.data)[p]) < 1e-5, "gemm pair %zu", p);
    for (size_t i = 0; i < n; i++) cr_expect(fabsf(S[i * n + i] - 1.0f) < 1e-5f);
    lc_emb_score_block(S, f, 3, f, n, D, LC_SCORE_SQEUCLIDEAN);
    cr_expect(fabs(S[1] - ((double *)dist.data)[0]) < 1e-5);
    free(v);
    free(f);
    free(S);
    tu_free(&x);
    tu_free(&dist);
    tu_free(&cos);
    tu_free(&raw);
}

Test(embdist, zero_vector_cannot_be_normalised)
{
    double v[4] = {0, 0, 0, 0}, s[4];
    struct lc_err err;
    cr_expect_eq(lc_emb_normalize(v, 4, s, &err), LC_EINVAL);
}

Test(embdist, records_convert_and_bad_ones_are_named)
{
    double out[8];
    size_t D;
    struct lc_err err;
    uint16_t h[3] = {lc_f32_to_f16(1.5f), lc_f32_to_f16(-2.0f), lc_f32_to_f16(0.25f)};
    uint32_t d3[2] = {1, 3};
    struct lc_record r = {.key = "k", .index = 4};
    lc_record_set_tensor(&r, LC_DTYPE_F16, 2, d3, h);
    cr_assert_eq(lc_emb_from_record(out, 8, &D, &r, "e.sft", &err), 0, "%s", err.msg);
    cr_expect_eq(D, 3);
    cr_expect_eq(out[0], 1.5);
    cr_expect_eq(out[1], -2.0);
    float f[2] = {1.0f, NAN};
    uint32_t d2[1] = {2};
    lc_record_set_tensor(&r, LC_DTYPE_F32, 1, d2, f);
    cr_expect_eq(lc_emb_from_record(out, 8, &D, &r, "e.sft", &err), LC_EINVAL);
    cr_expect_eq(err.record, 4);
    cr_expect(strstr(err.msg, "value 1 is nan"), "%s", err.msg);
    int32_t ints[2] = {1, 2};
    lc_record_set_tensor(&r, LC_DTYPE_I32, 1, d2, ints);
    cr_expect_eq(lc_emb_from_record(out, 8, &D, &r, "e.sft", &err), LC_EFORMAT);
    uint32_t d22[2] = {2, 1};
    lc_record_set_tensor(&r, LC_DTYPE_F32, 2, d22, f);
    cr_expect_eq(lc_emb_from_record(out, 8, &D, &r, "e.sft", &err), LC_EFORMAT);
    cr_expect_eq(lc_score_kind_parse("sqeuclidean"), LC_SCORE_SQEUCLIDEAN);
    cr_expect_eq(lc_score_kind_parse("l1"), -1);
}
