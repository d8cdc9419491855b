/* metrics: face verification metrics, bit for bit as the reference computes
 * them. Two families: (1) the reference's 10-fold protocol on squared L2
 * distances (insightface/AdaFace verification.py: calculate_roc,
 * calculate_accuracy, calculate_val, calculate_val_far), reproducing numpy's
 * float64 arithmetic, sklearn's KFold and scipy's interp1d(kind='slinear');
 * (2) the exact ROC over all distinct thresholds as sklearn's roc_curve and
 * roc_auc_score, EER, TAR at fixed FAR, best accuracy and stratified
 * bootstrap intervals, on 10^7 scores with an in-place radix sort. */
#ifndef LC_METRICS_H
#define LC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* ---------------------------------------------------- numpy arithmetic */

/* np.sum / np.add.reduce of a contiguous float64 vector: numpy sums blocks
 * of 8192 elements (its buffer size) by pairwise summation (8 accumulators
 * below 128 elements) and adds the block sums in order, starting from 0.0.
 * The result is bit-identical to numpy's. n may be 0 (returns 0.0). */
double lc_np_sum(const double *x, size_t n);
/* np.mean (sum / n) and np.std with ddof=0, bit-identical. n > 0. */
double lc_np_mean(const double *x, size_t n);
double lc_np_std(const double *x, size_t n);

/* The same blocked sum over values that arrive one at a time (so a sum over
 * 10^7 terms needs no array of them). Heap-allocate: 64 KiB. */
struct lc_np_summer {
    double total;
    size_t n;
    double buf[8192];
};
void lc_np_summer_init(struct lc_np_summer *s);
void lc_np_summer_add(struct lc_np_summer *s, double v);
double lc_np_summer_result(struct lc_np_summer *s);

/* ------------------------------------------------ the 10-fold protocol */

#define LC_FOLDS_MAX 64

/* Parameters of the reference protocol. lc_protocol_default gives the
 * reference's: 10 folds; accuracy thresholds np.arange(0, 4, 0.01) (400);
 * TAR@FAR thresholds np.arange(0, 4, 0.001) (4000), FAR target 1e-3. */
struct lc_protocol {
    int folds;          /* 1..LC_FOLDS_MAX; 1 = train and test on all (LFold) */
    int acc_thresholds; /* grid i*acc_step, i = 0..acc_thresholds-1 */
    double acc_step;
    int val_thresholds; /* grid i*val_step */
    double val_step;
    double far_target;
};
void lc_protocol_default(struct lc_protocol *p);

/* Threshold i of a grid np.arange(0, stop, step): numpy fills it as
 * 0 + i*step in float64, so threshold 35 is 0.35000000000000003, not 0.35. */
double lc_grid_threshold(int i, double step);

/* sklearn KFold(n_splits=folds, shuffle=False): fold f tests pairs
 * [start[f], start[f+1]); the first n % folds folds hold one pair more.
 * start has folds+1 entries. Needs n >= folds (as KFold). */
void lc_kfold_starts(size_t n, int folds, size_t *start);

/* 10-fold verification accuracy (calculate_roc + calculate_accuracy). */
struct lc_tenfold {
    int folds;
    size_t n, n_same, n_diff;
    double acc[LC_FOLDS_MAX];       /* accuracy on each held-out fold */
    double threshold[LC_FOLDS_MAX]; /* best threshold on its 9 training folds */
    double acc_mean, acc_std;       /* np.mean, np.std (ddof 0) of acc */
    double threshold_mean;          /* np.mean of threshold (AdaFace's best_threshold) */
};

/* dist (n,): squared L2 distances of L2-normalised embedding pairs, in pair
 * order; same (n,): 1 same identity, 0 different. Per fold: the threshold
 * of the grid with the best training accuracy (first best on ties),
 * predicting "same" where dist < threshold; accuracy = (tp+tn)/size in
 * float64. Errors (LC_EINVAL, message naming the cause): n < folds, a
 * non-finite dist. Single-class input is accepted (accuracy is defined). */
int lc_tenfold_accuracy(struct lc_tenfold *r, const double *dist, const uint8_t *same, size_t n,
                        const struct lc_protocol *p, struct lc_err *err);

/* TAR@FAR by the reference's rule (insightface calculate_val). */
struct lc_val {
    int folds;
    double far_target;
    double tar[LC_FOLDS_MAX], far[LC_FOLDS_MAX];
    double threshold[LC_FOLDS_MAX]; /* interpolated, or 0.0 when unreachable */
    double tar_mean, tar_std, far_mean;
};

/* Per fold: FAR on the training folds at every threshold of the val grid;
 * if its maximum reaches far_target, the threshold is
 * interp1d(far_train, thresholds, kind='slinear')(far_target), else 0.0;
 * then TAR and FAR on the held-out fold (predict same where dist <
 * threshold). Mean TAR, its std (ddof 0), mean FAR.
 * Errors (LC_EINVAL) where the reference raises: a fold whose training or
 * test part lacks same or different pairs (ZeroDivisionError there), a
 * target below the smallest training FAR (interp1d's bounds error). */
int lc_tenfold_val(struct lc_val *r, const double *dist, const uint8_t *same, size_t n,
                   const struct lc_protocol *p, struct lc_err *err);

/* scipy interp1d(x, y, kind='slinear')(xnew) as SciPy 0.19-1.8 evaluates it
 * (later versions refuse duplicate x): a degree-1 B-spline on the knots
 * [x0, x0, x1, ..., x_{n-1}, x_{n-1}], evaluated by de Boor's recurrence,
 * including its handling of repeated x (the interval found is the last
 * knot <= xnew; a zero-length interval gives 0.0). x (n >= 2)
 * nondecreasing, y (n). Returns 0 and *out, or LC_EINVAL when xnew lies
 * outside [x0, x_{n-1}] or is NaN (interp1d's bounds error). */
int lc_interp1d_slinear(const double *x, const double *y, size_t n, double xnew, double *out,
                        struct lc_err *err);

/* ------------------------------------------------------- the exact ROC */

/* Scores ready for ROC work: each class sorted by decreasing "sameness"
 * (score for similarities, -score for distances); walks merge the two. */
struct lc_roc {
    size_t n, n_pos, n_neg;
    double *key;        /* (n,): the n_pos same-pair keys, descending, then the
                           n_neg different-pair keys, descending; -0.0 stored as 0.0 */
    uint8_t *label;     /* (n,): n_pos ones, then n_neg zeros */
    int distance;       /* 1: key = -score, thresholds reported as distances */
    int owned;          /* key/label were allocated by lc_roc_init */
};

/* Sort scores for ROC work. score (n,) and label (n,) are rearranged in
 * place (they become r->key and r->label, still owned by the caller) when
 * in_place, else copied. distance: lower scores mean "same" (squared L2).
 * Memory: nothing beyond the arrays and 64 KiB per thread (an in-place
 * partition by class, then lc_sort_desc of each class's keys).
 * Errors: LC_EINVAL for a non-finite score (naming its index), a label
 * other than 0/1, or a single class (no ROC exists); LC_ENOMEM. */
int lc_roc_init(struct lc_roc *r, double *score, uint8_t *label, size_t n, int distance,
                int in_place, struct lc_err *err);
void lc_roc_free(struct lc_roc *r);

/* Sort doubles descending in place: American flag MSD radix on their
 * order-preserving integer images, LSD radix for buckets that fit in cache,
 * and above 2^20 keys the buckets of the first level shared among the
 * online CPUs (the result does not depend on how many). -0.0 is stored as
 * 0.0. Memory: 64 KiB per thread. Exposed for tests. 0 or LC_ENOMEM. */
int lc_sort_desc(double *key, size_t n);

/* One ROC point: accept pairs whose score is >= threshold (distances:
 * <= threshold). The first point is (0, 0) with threshold +inf (sklearn
 * >= 1.3 writes inf there; 1.2 wrote max+1). */
struct lc_roc_point {
    double threshold;
    uint64_t tp, fp;
    double tpr, fpr; /* tp / n_pos, fp / n_neg in float64, as sklearn */
};
typedef int (*lc_roc_fn)(void *ctx, const struct lc_roc_point *p, struct lc_err *err);

/* Call fn for every point of the ROC in order of decreasing threshold:
 * one per distinct score, plus the initial (0, 0). drop_intermediate as
 * sklearn's: keep a point unless both its fp and tp steps equal the next
 * ones (second differences zero). A nonzero return from fn stops the walk
 * and is returned. */
int lc_roc_walk(const struct lc_roc *r, int drop_intermediate, lc_roc_fn fn, void *ctx,
                struct lc_err *err);

#define LC_FAR_MAX 16

/* Everything roc-report prints for one score set. */
struct lc_roc_summary {
    size_t points, points_dropped; /* ROC points, all and with drop_intermediate */
    double auc;             /* roc_auc_score: trapezoid over the dropped curve, numpy sum */
    double eer;             /* FPR where FPR = 1 - TPR on the ROC polyline */
    double eer_threshold;   /* score there, linearly interpolated */
    double best_acc;        /* max (tp + tn) / n over all points, first best */
    double best_acc_threshold;
    int n_far;
    double far[LC_FAR_MAX];        /* targets */
    double tar[LC_FAR_MAX];        /* max TPR over points with FPR <= target */
    double tar_fpr[LC_FAR_MAX];    /* the FPR actually reached there */
    double tar_threshold[LC_FAR_MAX];
    uint64_t fp_allowed[LC_FAR_MAX]; /* floor(target * n_neg) false accepts */
    int supported[LC_FAR_MAX];     /* 1 when n_neg * target >= 1 */
};

/* One pass over the sorted scores. fars: n_far targets (<= LC_FAR_MAX). */
int lc_roc_summarize(struct lc_roc_summary *s, const struct lc_roc *r, const double *fars, int n_far,
                     struct lc_err *err);

/* Stratified bootstrap: each replicate draws n_pos same and n_neg different
 * pairs with replacement (their counts fixed, so every replicate has the
 * same FAR resolution), recomputes AUC and TAR at each target, and the
 * interval is the (1-level)/2 and (1+level)/2 percentiles (numpy's linear
 * rule). Deterministic for a seed whatever the thread count: replicate b
 * draws from its own generator seeded by (seed, b). */
struct lc_bootstrap {
    int reps;
    double level;
    uint64_t seed;
    int threads;
    double auc_lo, auc_hi;
    double tar_lo[LC_FAR_MAX], tar_hi[LC_FAR_MAX];
};
int lc_roc_bootstrap(struct lc_bootstrap *b, const struct lc_roc *r, const double *fars, int n_far,
                     struct lc_err *err);

/* np.percentile(v, q*100) with the default linear rule; sorts v. n > 0. */
double lc_percentile(double *v, size_t n, double q);

#endif
