/* test_metrics: the 10-fold protocol and TAR@FAR rule against a numpy/sklearn/
 * scipy transcription of the reference (tests/make_golden.py, section
 * metrics), bit for bit; the exact ROC, AUC, EER and TAR@FAR against
 * scikit-learn; numpy's summation; the radix sort; the bootstrap. */
#include <float.h>
#include <math.h>

#include "metrics.h"
#include "testutil.h"

static const double *D(const struct tu_array *a) { return (const double *)a->data; }

/* Exact equality (both NaN counts as equal); prints both values in full. */
#define EXPECT_SAME(got, want, what, ...)                                                       \
    cr_expect((got) == (want) || (isnan(got) && isnan(want)), what ": got %.17g, want %.17g", \
              ##__VA_ARGS__, (double)(got), (double)(want))

/* ---------------------------------------------------- numpy arithmetic */

static double *sum_input(size_t n)
{
    double *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        double h = (double)((i * 2654435761ull) % 4294967296ull) - 2147483648.0;
        x[i] = ldexp(h, -(int)(i % 40));
    }
    return x;
}

Test(np, sum_mean_std_match_numpy)
{
    struct tu_array sizes = tu_fixture("metrics/sum_n.npy"), ref = tu_fixture("metrics/sum_ref.npy");
    const int64_t *ns = sizes.data;
    for (size_t c = 0; c < sizes.n; c++) {
        size_t n = (size_t)ns[c];
        double *x = sum_input(n);
        EXPECT_SAME(lc_np_sum(x, n), D(&ref)[c * 3], "np.sum of %zu", n);
        if (n) {
            EXPECT_SAME(lc_np_mean(x, n), D(&ref)[c * 3 + 1], "np.mean of %zu", n);
            EXPECT_SAME(lc_np_std(x, n), D(&ref)[c * 3 + 2], "np.std of %zu", n);
        }
        struct lc_np_summer *s = malloc(sizeof *s);
        lc_np_summer_init(s);
        for (size_t i = 0; i < n; i++) lc_np_summer_add(s, x[i]);
        EXPECT_SAME(lc_np_summer_result(s), D(&ref)[c * 3], "streamed sum of %zu", n);
        free(s);
        free(x);
    }
    tu_free(&sizes);
    tu_free(&ref);
}

Test(np, grid_is_numpy_arange)
{
    /* np.arange(0, 4, 0.01)[35] is 0.35000000000000003 (35*0.01), not 0.35 */
    cr_expect_eq(lc_grid_threshold(35, 0.01), 0.35000000000000003);
    cr_expect_eq(lc_grid_threshold(57, 0.01), 0.5700000000000001);
    cr_expect_eq(lc_grid_threshold(7, 0.01), 0.07);
    cr_expect_eq(lc_grid_threshold(3999, 0.001), 3.9990000000000001);
}

Test(np, kfold_gives_extra_pairs_to_first_folds)
{
    size_t s[11];
    lc_kfold_starts(1003, 10, s);
    size_t want[11] = {0, 101, 202, 303, 403, 503, 603, 703, 803, 903, 1003};
    for (int i = 0; i < 11; i++) cr_expect_eq(s[i], want[i], "start[%d] = %zu, want %zu", i, s[i], want[i]);
}

/* ------------------------------------------------------- interp1d */

Test(interp, slinear_with_repeated_x_matches_scipy)
{
    struct tu_array a = tu_fixture("metrics/interp.npy");
    size_t rows = a.h.dims[0], cols = a.h.dims[1];
    for (size_t r = 0; r < rows; r++) {
        const double *row = D(&a) + r * cols;
        size_t n = (size_t)row[0];
        double got = -1;
        struct lc_err err;
        cr_assert_eq(lc_interp1d_slinear(row + 3, row + 33, n, row[1], &got, &err), 0, "%s", err.msg);
        EXPECT_SAME(got, row[2], "case %zu (n %zu, x %.17g)", r, n, row[1]);
    }
    tu_free(&a);
}

Test(interp, outside_the_range_is_an_error)
{
    double x[3] = {0, 0.5, 1}, y[3] = {0, 1, 2}, v;
    struct lc_err err;
    cr_expect_eq(lc_interp1d_slinear(x, y, 3, 1.5, &v, &err), LC_EINVAL);
    cr_expect(strstr(err.msg, "outside"), "%s", err.msg);
    cr_expect_eq(lc_interp1d_slinear(x, y, 3, NAN, &v, &err), LC_EINVAL);
}

/* ------------------------------------------------- the 10-fold protocol */

static void check_protocol(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "metrics/%s_dist.npy", name);
    struct tu_array dist = tu_fixture(p);
    snprintf(p, sizeof p, "metrics/%s_same.npy", name);
    struct tu_array same = tu_fixture(p);
    snprintf(p, sizeof p, "metrics/%s_ref.npy", name);
    struct tu_array ref = tu_fixture(p);
    const double *w = D(&ref);
    struct lc_protocol pr;
    lc_protocol_default(&pr);
    struct lc_tenfold t;
    struct lc_err err;
    cr_assert_eq(lc_tenfold_accuracy(&t, D(&dist), same.data, dist.n, &pr, &err), 0, "%s: %s", name, err.msg);
    for (int f = 0; f < 10; f++) {
        EXPECT_SAME(t.acc[f], w[f], "%s fold %d accuracy", name, f);
        EXPECT_SAME(t.threshold[f], w[10 + f], "%s fold %d best threshold", name, f);
    }
    EXPECT_SAME(t.acc_mean, w[20], "%s mean accuracy", name);
    EXPECT_SAME(t.acc_std, w[21], "%s accuracy std", name);
    EXPECT_SAME(t.threshold_mean, w[22], "%s mean threshold", name);
    struct lc_val v;
    int rc = lc_tenfold_val(&v, D(&dist), same.data, dist.n, &pr, &err);
    if (w[23] == 0) { /* the reference raised ZeroDivisionError */
        cr_expect_eq(rc, LC_EINVAL, "%s: val should fail like the reference", name);
        cr_expect(strstr(err.msg, "ZeroDivisionError"), "%s", err.msg);
    } else {
        cr_assert_eq(rc, 0, "%s: %s", name, err.msg);
        for (int f = 0; f < 10; f++) {
            EXPECT_SAME(v.tar[f], w[24 + f], "%s fold %d TAR", name, f);
            EXPECT_SAME(v.far[f], w[34 + f], "%s fold %d FAR", name, f);
            EXPECT_SAME(v.threshold[f], w[44 + f], "%s fold %d interpolated threshold", name, f);
        }
        EXPECT_SAME(v.tar_mean, w[54], "%s mean TAR", name);
        EXPECT_SAME(v.tar_std, w[55], "%s TAR std", name);
        EXPECT_SAME(v.far_mean, w[56], "%s mean FAR", name);
    }
    tu_free(&dist);
    tu_free(&same);
    tu_free(&ref);
}

Test(protocol, random_matches_reference) { check_protocol("proto_random"); }
Test(protocol, ties_on_the_grid_match_reference) { check_protocol("proto_ties"); }
Test(protocol, all_equal_matches_reference) { check_protocol("proto_equal"); }
Test(protocol, tiny_matches_reference) { check_protocol("proto_tiny"); }
Test(protocol, unbalanced_matches_reference) { check_protocol("proto_unbalanced"); }
Test(protocol, embeddings_match_reference) { check_protocol("emb"); }

Test(protocol, bad_input_is_refused)
{
    double d[12] = {0.1, 0.2, NAN, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    uint8_t s[12] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0};
    struct lc_protocol pr;
    lc_protocol_default(&pr);
    struct lc_tenfold t;
    struct lc_err err;
    cr_expect_eq(lc_tenfold_accuracy(&t, d, s, 12, &pr, &err), LC_EINVAL);
    cr_expect_eq(err.record, 2);
    d[2] = 0.3;
    cr_expect_eq(lc_tenfold_accuracy(&t, d, s, 9, &pr, &err), LC_EINVAL);
    cr_expect(strstr(err.msg, "folds"), "%s", err.msg);
    s[4] = 2;
    cr_expect_eq(lc_tenfold_accuracy(&t, d, s, 12, &pr, &err), LC_EINVAL);
    cr_expect_eq(err.record, 4);
}

/* ------------------------------------------------------- sorting */

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

Test(sort, descending_radix_matches_qsort)
{
    size_t n = 300000;
    double *k = malloc(n * sizeof *k), *q = malloc(n * sizeof *q);
    uint64_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        double v = (double)(int64_t)(x >> 11) / 9007199254740992.0;
        if (i % 5 == 0) v = round(v * 100) / 100; /* ties */
        if (i % 7 == 0) v = (float)v;             /* float32-rounded: constant low bytes */
        if (i % 11 == 0) v = -v * 1e6;
        if (i == 7) v = DBL_MAX;
        if (i == 8) v = -DBL_MAX;
        if (i == 9) v = DBL_MIN;
        if (i == 10) v = -0.0;
        k[i] = q[i] = v;
    }
    cr_assert_eq(lc_sort_desc(k, n), 0);
    qsort(q, n, sizeof *q, cmp_desc);
    for (size_t i = 0; i < n; i++) cr_assert(k[i] == q[i], "at %zu: %g, want %g", i, k[i], q[i]);
    cr_expect_eq(k[0], DBL_MAX);
    cr_expect_eq(k[n - 1], -DBL_MAX);
    /* above 2^20 keys the first level's buckets are sorted by threads */
    size_t big = (1u << 20) + 12345;
    double *b = malloc(big * sizeof *b), *c = malloc(big * sizeof *c);
    for (size_t i = 0; i < big; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        b[i] = c[i] = (double)(int64_t)(x >> 11) / 9007199254740992.0 * (i % 3 ? 1 : -3);
    }
    cr_assert_eq(lc_sort_desc(b, big), 0);
    qsort(c, big, sizeof *c, cmp_desc);
    cr_assert(memcmp(b, c, big * sizeof *b) == 0, "threaded sort differs from qsort");
    free(b);
    free(c);
    /* sizes around the insertion, in-cache and flag-sort paths */
    for (size_t m = 1; m < 20000; m = m * 3 + 1) {
        for (size_t i = 0; i < m; i++) k[i] = q[i] = (double)((i * 2654435761u) % 1000) / 7.0;
        lc_sort_desc(k, m);
        qsort(q, m, sizeof *q, cmp_desc);
        cr_assert(memcmp(k, q, m * sizeof *k) == 0, "size %zu", m);
    }
    free(k);
    free(q);
}

/* ------------------------------------------------------- the exact ROC */

struct curve {
    size_t n, cap;
    double *fpr, *tpr, *thr;
};

static int collect(void *ctx, const struct lc_roc_point *p, struct lc_err *err)
{
    (void)err;
    struct curve *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->fpr = realloc(c->fpr, c->cap * sizeof(double));
        c->tpr = realloc(c->tpr, c->cap * sizeof(double));
        c->thr = realloc(c->thr, c->cap * sizeof(double));
    }
    c->fpr[c->n] = p->fpr;
    c->tpr[c->n] = p->tpr;
    c->thr[c->n] = p->threshold;
    c->n++;
    return 0;
}

static void check_curve(const char *name, const struct lc_roc *r, int drop)
{
    char p[128];
    snprintf(p, sizeof p, "metrics/%s_roc%s.npy", name, drop ? "_drop" : "");
    struct tu_array want = tu_fixture(p);
    size_t m = want.h.dims[1];
    struct curve c = {0};
    struct lc_err err;
    cr_assert_eq(lc_roc_walk(r, drop, collect, &c, &err), 0);
    cr_assert_eq(c.n, m, "%s: %zu points, sklearn has %zu (drop %d)", name, c.n, m, drop);
    for (size_t i = 0; i < m; i++) {
        EXPECT_SAME(c.fpr[i], D(&want)[i], "%s point %zu fpr (drop %d)", name, i, drop);
        EXPECT_SAME(c.tpr[i], D(&want)[m + i], "%s point %zu tpr (drop %d)", name, i, drop);
        EXPECT_SAME(c.thr[i], D(&want)[2 * m + i], "%s point %zu threshold (drop %d)", name, i, drop);
    }
    free(c.fpr);
    free(c.tpr);
    free(c.thr);
    tu_free(&want);
}

static void check_roc(const char *name, int distance)
{
    char p[128];
    snprintf(p, sizeof p, "metrics/%s_score.npy", name);
    struct tu_array score = tu_fixture(p);
    snprintf(p, sizeof p, "metrics/%s_label.npy", name);
    struct tu_array label = tu_fixture(p);
    snprintf(p, sizeof p, "metrics/%s_summary.npy", name);
    struct tu_array sum = tu_fixture(p);
    const double *w = D(&sum);
    struct lc_roc r;
    struct lc_err err;
    cr_assert_eq(lc_roc_init(&r, score.data, label.data, score.n, distance, 0, &err), 0, "%s", err.msg);
    check_curve(name, &r, 1);
    check_curve(name, &r, 0);
    double fars[6] = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};
    struct lc_roc_summary s;
    cr_assert_eq(lc_roc_summarize(&s, &r, fars, 6, &err), 0);
    EXPECT_SAME(s.auc, w[0], "%s AUC (roc_auc_score)", name);
    EXPECT_SAME(s.eer, w[1], "%s EER", name);
    EXPECT_SAME(s.eer_threshold, w[2], "%s EER threshold", name);
    EXPECT_SAME(s.best_acc, w[3], "%s best accuracy", name);
    EXPECT_SAME(s.best_acc_threshold, w[4], "%s best accuracy threshold", name);
    EXPECT_SAME((double)s.points, w[5], "%s points", name);
    for (int t = 0; t < 6; t++) {
        EXPECT_SAME(s.tar[t], w[6 + 3 * t], "%s TAR at FAR %g", name, fars[t]);
        EXPECT_SAME(s.tar_fpr[t], w[7 + 3 * t], "%s FPR reached at FAR %g", name, fars[t]);
        EXPECT_SAME(s.tar_threshold[t], w[8 + 3 * t], "%s threshold at FAR %g", name, fars[t]);
        cr_expect_eq(s.supported[t], (double)r.n_neg * fars[t] >= 1.0 - 1e-9, "%s supported at %g", name,
                     fars[t]);
    }
    lc_roc_free(&r);
    tu_free(&score);
    tu_free(&label);
    tu_free(&sum);
}

Test(roc, ties_match_sklearn) { check_roc("roc_ties", 0); }
Test(roc, all_equal_matches_sklearn) { check_roc("roc_equal", 0); }
Test(roc, tiny_matches_sklearn) { check_roc("roc_tiny", 0); }
Test(roc, unbalanced_matches_sklearn) { check_roc("roc_unbalanced", 0); }
Test(roc, distances_match_sklearn_on_negated_scores) { check_roc("roc_dist", 1); }

Test(roc, bad_scores_are_refused)
{
    double s[4] = {0.1, INFINITY, 0.3, 0.4};
    uint8_t l[4] = {0, 1, 0, 1};
    struct lc_roc r;
    struct lc_err err;
    cr_expect_eq(lc_roc_init(&r, s, l, 4, 0, 0, &err), LC_EINVAL);
    cr_expect_eq(err.record, 1);
    s[1] = 0.2;
    uint8_t one[4] = {1, 1, 1, 1};
    cr_expect_eq(lc_roc_init(&r, s, one, 4, 0, 0, &err), LC_EINVAL);
    cr_expect(strstr(err.msg, "both same and different"), "%s", err.msg);
    l[2] = 3;
    cr_expect_eq(lc_roc_init(&r, s, l, 4, 0, 0, &err), LC_EINVAL);
    cr_expect_eq(err.record, 2);
}

Test(roc, in_place_sorts_the_callers_arrays)
{
    double s[5] = {0.1, 0.9, 0.5, 0.5, 0.2};
    uint8_t l[5] = {0, 1, 1, 0, 0};
    struct lc_roc r;
    struct lc_err err;
    cr_assert_eq(lc_roc_init(&r, s, l, 5, 1, 1, &err), 0);
    cr_expect(r.key == s && !r.owned);
    double want[5] = {-0.5, -0.9, -0.1, -0.2, -0.5}; /* same pairs, then different, each descending */
    uint8_t wl[5] = {1, 1, 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(s[i], want[i], "key %d: %g", i, s[i]);
        cr_expect_eq(l[i], wl[i], "label %d", i);
    }
    lc_roc_free(&r);
}

/* ------------------------------------------------------- bootstrap */

Test(bootstrap, seeded_thread_independent_and_sane)
{
    size_t n = 4000;
    double *s = malloc(n * sizeof *s);
    uint8_t *l = malloc(n);
    uint64_t x = 99;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = i % 3 == 0;
        s[i] = (double)(x >> 40) / 16777216.0 + (l[i] ? 0.4 : 0.0);
    }
    struct lc_roc r;
    struct lc_err err;
    cr_assert_eq(lc_roc_init(&r, s, l, n, 0, 0, &err), 0);
    double fars[2] = {1e-1, 1e-2};
    struct lc_roc_summary sum;
    lc_roc_summarize(&sum, &r, fars, 2, &err);
    struct lc_bootstrap a = {.reps = 200, .level = 0.95, .seed = 7, .threads = 1};
    struct lc_bootstrap b = a, c = a;
    b.threads = 3;
    c.seed = 8;
    cr_assert_eq(lc_roc_bootstrap(&a, &r, fars, 2, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_roc_bootstrap(&b, &r, fars, 2, &err), 0);
    cr_assert_eq(lc_roc_bootstrap(&c, &r, fars, 2, &err), 0);
    cr_expect_eq(a.auc_lo, b.auc_lo);
    cr_expect_eq(a.auc_hi, b.auc_hi);
    cr_expect_eq(a.tar_lo[1], b.tar_lo[1]);
    cr_expect(a.auc_lo != c.auc_lo || a.auc_hi != c.auc_hi, "another seed gave the same interval");
    cr_expect(a.auc_lo < sum.auc && sum.auc < a.auc_hi, "AUC %g outside [%g, %g]", sum.auc, a.auc_lo, a.auc_hi);
    cr_expect(a.auc_hi - a.auc_lo < 0.05, "interval too wide: [%g, %g]", a.auc_lo, a.auc_hi);
    cr_expect(a.tar_lo[0] <= sum.tar[0] && sum.tar[0] <= a.tar_hi[0]);
    lc_roc_free(&r);
    free(s);
    free(l);
}

Test(bootstrap, percentile_is_numpys_linear_rule)
{
    double v[5] = {5, 1, 4, 2, 3};
    cr_expect_eq(lc_percentile(v, 5, 0.025), 1.1);  /* np.percentile([1..5], 2.5) */
    cr_expect_eq(lc_percentile(v, 5, 0.975), 4.9);
    cr_expect_eq(lc_percentile(v, 5, 0.5), 3.0);
}
