/* metrics: the reference's 10-fold protocol and TAR@FAR rule reproduced in
 * float64 exactly as numpy/sklearn/scipy compute them, and the exact ROC
 * (sklearn's roc_curve/roc_auc_score) with EER, TAR@FAR, best accuracy and
 * bootstrap intervals. Counting replaces the reference's threshold loops:
 * each distance is binned once by the first grid threshold above it, so a
 * grid of T thresholds costs O(n log T + folds*T), not O(n*T). */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------- numpy arithmetic */

#define NP_BLOCK 8192 /* numpy's ufunc buffer size: reductions go block by block */

/* numpy's pairwise_sum (loops_utils.h): 8 accumulators up to 128 values,
 * halves (rounded to a multiple of 8) above. */
static double pairwise(const double *a, size_t n)
{
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

double lc_np_sum(const double *x, size_t n)
{
    double total = 0.0; /* add's identity starts the reduction */
    for (size_t i = 0; i < n; i += NP_BLOCK) total += pairwise(x + i, n - i < NP_BLOCK ? n - i : NP_BLOCK);
    return total;
}

double lc_np_mean(const double *x, size_t n) { return lc_np_sum(x, n) / (double)n; }

double lc_np_std(const double *x, size_t n)
{
    double mean = lc_np_mean(x, n);
    double dev[LC_FOLDS_MAX * 4];
    double *d = n <= sizeof dev / sizeof *dev ? dev : malloc(n * sizeof *d);
    if (!d) return NAN;
    for (size_t i = 0; i < n; i++) {
        double v = x[i] - mean;
        d[i] = v * v;
    }
    double var = lc_np_sum(d, n) / (double)n;
    if (d != dev) free(d);
    return sqrt(var);
}

void lc_np_summer_init(struct lc_np_summer *s)
{
    s->total = 0.0;
    s->n = 0;
}

void lc_np_summer_add(struct lc_np_summer *s, double v)
{
    s->buf[s->n++] = v;
    if (s->n == NP_BLOCK) {
        s->total += pairwise(s->buf, s->n);
        s->n = 0;
    }
}

double lc_np_summer_result(struct lc_np_summer *s)
{
    if (s->n) s->total += pairwise(s->buf, s->n);
    s->n = 0;
    return s->total;
}

/* ------------------------------------------------ the 10-fold protocol */

void lc_protocol_default(struct lc_protocol *p)
{
    p->folds = 10;
    p->acc_thresholds = 400;
    p->acc_step = 0.01;
    p->val_thresholds = 4000;
    p->val_step = 0.001;
    p->far_target = 1e-3;
}

double lc_grid_threshold(int i, double step) { return 0.0 + (double)i * step; }

void lc_kfold_starts(size_t n, int folds, size_t *start)
{
    size_t base = n / (size_t)folds, extra = n % (size_t)folds;
    start[0] = 0;
    for (int f = 0; f < folds; f++) start[f + 1] = start[f] + base + ((size_t)f < extra ? 1 : 0);
}

/* Index of the first grid threshold t with d < t (T when none): the pair
 * is predicted "same" at exactly the thresholds from there on. */
static int first_above(const double *thr, int T, double d)
{
    int lo = 0, hi = T;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (d < thr[mid]) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* Per fold and class, how many pairs become "same" first at each grid
 * index: cnt[(f*2 + c)*(T+1) + k]. Also checks the inputs. */
struct binned {
    int folds, T;
    size_t start[LC_FOLDS_MAX + 1];
    double *thr;
    uint64_t *cnt;
    uint64_t n_class[LC_FOLDS_MAX][2];
};

static void binned_free(struct binned *b)
{
    free(b->thr);
    free(b->cnt);
}

static int check_protocol(const struct lc_protocol *p, int T, double step, size_t n, struct lc_err *err)
{
    if (p->folds < 1 || p->folds > LC_FOLDS_MAX)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "folds must be 1 to %d, got %d", LC_FOLDS_MAX, p->folds);
    if (T < 2 || T > 10000000 || !(step > 0) || !isfinite(step))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "bad threshold grid (%d thresholds of step %g)", T, step);
    if (n < (size_t)p->folds)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1,
                       "%zu pairs cannot be split into %d folds (KFold needs at least as many pairs as folds)", n,
                       p->folds);
    return 0;
}

static int binned_init(struct binned *b, const double *dist, const uint8_t *same, size_t n,
                       const struct lc_protocol *p, int T, double step, struct lc_err *err)
{
    memset(b, 0, sizeof *b);
    int rc = check_protocol(p, T, step, n, err);
    if (rc) return rc;
    b->folds = p->folds;
    b->T = T;
    b->thr = malloc((size_t)T * sizeof *b->thr);
    b->cnt = calloc((size_t)p->folds * 2 * (size_t)(T + 1), sizeof *b->cnt);
    if (!b->thr || !b->cnt) {
        binned_free(b);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    for (int i = 0; i < T; i++) b->thr[i] = lc_grid_threshold(i, step);
    if (p->folds == 1) { /* LFold(1): train and test on everything */
        b->start[0] = 0;
        b->start[1] = n;
    } else {
        lc_kfold_starts(n, p->folds, b->start);
    }
    for (int f = 0; f < p->folds; f++) {
        for (size_t j = b->start[f]; j < b->start[f + 1]; j++) {
            if (!isfinite(dist[j])) {
                binned_free(b);
                return lc_errf(err, LC_EINVAL, NULL, (int64_t)j, -1, "pair %zu: distance is %g", j, dist[j]);
            }
            if (same[j] > 1) {
                binned_free(b);
                return lc_errf(err, LC_EINVAL, NULL, (int64_t)j, -1, "pair %zu: label %u is not 0 or 1", j,
                               (unsigned)same[j]);
            }
            int c = same[j];
            b->cnt[((size_t)f * 2 + (size_t)c) * (size_t)(T + 1) + (size_t)first_above(b->thr, T, dist[j])]++;
            b->n_class[f][c]++;
        }
    }
    return 0;
}

/* Cumulative "predicted same" counts of the training part of fold f (all
 * folds but f; with one fold, all) for class c, into out (T). */
static void train_cumulative(const struct binned *b, int f, int c, uint64_t *out, uint64_t *total)
{
    uint64_t run = 0, tot = 0;
    for (int k = 0; k < b->T; k++) {
        uint64_t v = 0;
        for (int g = 0; g < b->folds; g++) {
            if (g == f && b->folds > 1) continue;
            v += b->cnt[((size_t)g * 2 + (size_t)c) * (size_t)(b->T + 1) + (size_t)k];
        }
        run += v;
        out[k] = run;
    }
    for (int g = 0; g < b->folds; g++)
        if (g != f || b->folds == 1) tot += b->n_class[g][c];
    *total = tot;
}

static uint64_t test_cumulative(const struct binned *b, int f, int c, int upto)
{
    uint64_t run = 0;
    for (int k = 0; k <= upto; k++) run += b->cnt[((size_t)f * 2 + (size_t)c) * (size_t)(b->T + 1) + (size_t)k];
    return run;
}

int lc_tenfold_accuracy(struct lc_tenfold *r, const double *dist, const uint8_t *same, size_t n,
                        const struct lc_protocol *p, struct lc_err *err)
{
    struct binned b;
    int T = p->acc_thresholds;
    int rc = binned_init(&b, dist, same, n, p, T, p->acc_step, err);
    if (rc) return rc;
    uint64_t *cs = malloc((size_t)T * sizeof *cs), *cd = malloc((size_t)T * sizeof *cd);
    if (!cs || !cd) {
        free(cs);
        free(cd);
        binned_free(&b);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    memset(r, 0, sizeof *r);
    r->folds = p->folds;
    r->n = n;
    for (int f = 0; f < p->folds; f++) {
        r->n_same += b.n_class[f][1];
        r->n_diff += b.n_class[f][0];
    }
    for (int f = 0; f < p->folds; f++) {
        uint64_t n_same, n_diff;
        train_cumulative(&b, f, 1, cs, &n_same);
        train_cumulative(&b, f, 0, cd, &n_diff);
        double n_train = (double)(n_same + n_diff), best = -1.0;
        int bi = 0;
        for (int i = 0; i < T; i++) { /* np.argmax: the first maximum */
            double acc = (double)(cs[i] + (n_diff - cd[i])) / n_train;
            if (acc > best) best = acc, bi = i;
        }
        uint64_t tp = test_cumulative(&b, f, 1, bi), fp = test_cumulative(&b, f, 0, bi);
        uint64_t tn = b.n_class[f][0] - fp;
        r->acc[f] = (double)(tp + tn) / (double)(b.n_class[f][0] + b.n_class[f][1]);
        r->threshold[f] = b.thr[bi];
    }
    r->acc_mean = lc_np_mean(r->acc, (size_t)r->folds);
    r->acc_std = lc_np_std(r->acc, (size_t)r->folds);
    r->threshold_mean = lc_np_mean(r->threshold, (size_t)r->folds);
    free(cs);
    free(cd);
    binned_free(&b);
    return 0;
}

int lc_interp1d_slinear(const double *x, const double *y, size_t n, double xnew, double *out,
                        struct lc_err *err)
{
    if (n < 2) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "interp1d(kind='slinear') needs 2 points");
    if (!(xnew >= x[0] && xnew <= x[n - 1]))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1,
                       "interp1d: %.17g is outside the interpolation range [%.17g, %.17g]", xnew, x[0], x[n - 1]);
    /* Knots t = [x0, x0, x1, ..., x_{n-1}, x_{n-1}]; scipy's find_interval
     * returns the last l in [1, n-1] with t[l] <= xnew < t[l+1], i.e. the
     * first m >= 1 with x[m] > xnew, or n-1. Then the two basis functions
     * on [t[l], t[l+1]] = [x[l-1], x[l]] by de Boor's recurrence. */
    size_t l = 1;
    while (l < n - 1 && xnew >= x[l]) l++;
    double xa = x[l - 1], xb = x[l], h0 = 0.0, h1;
    if (xb == xa) {
        h1 = 0.0;
    } else {
        double w = 1.0 / (xb - xa);
        h0 += w * (xb - xnew);
        h1 = w * (xnew - xa);
    }
    double v = 0.0;
    v = v + y[l - 1] * h0;
    v = v + y[l] * h1;
    *out = v;
    return 0;
}

static int zero_division(struct lc_err *err, const struct binned *b, int f, const char *part, const char *cls)
{
    return lc_errf(err, LC_EINVAL, NULL, -1, -1,
                   "fold %d (pairs %zu to %zu): its %s part has no %s pairs, so FAR/TAR are undefined "
                   "(the reference raises ZeroDivisionError here)",
                   f, b->start[f], b->start[f + 1] - 1, part, cls);
}

int lc_tenfold_val(struct lc_val *r, const double *dist, const uint8_t *same, size_t n,
                   const struct lc_protocol *p, struct lc_err *err)
{
    struct binned b;
    int T = p->val_thresholds;
    int rc = binned_init(&b, dist, same, n, p, T, p->val_step, err);
    if (rc) return rc;
    uint64_t *cs = malloc((size_t)T * sizeof *cs), *cd = malloc((size_t)T * sizeof *cd);
    double *far_train = malloc((size_t)T * sizeof *far_train);
    if (!cs || !cd || !far_train) {
        rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        goto done;
    }
    memset(r, 0, sizeof *r);
    r->folds = p->folds;
    r->far_target = p->far_target;
    for (int f = 0; f < p->folds; f++) {
        uint64_t n_same, n_diff;
        train_cumulative(&b, f, 1, cs, &n_same);
        train_cumulative(&b, f, 0, cd, &n_diff);
        /* calculate_val_far divides by n_same before n_diff */
        if (!n_same) { rc = zero_division(err, &b, f, "training", "same"); goto done; }
        if (!n_diff) { rc = zero_division(err, &b, f, "training", "different"); goto done; }
        double maxfar = -INFINITY;
        for (int i = 0; i < T; i++) {
            far_train[i] = (double)cd[i] / (double)n_diff;
            if (far_train[i] > maxfar) maxfar = far_train[i];
        }
        double thr = 0.0;
        if (maxfar >= p->far_target) {
            /* interp1d sorts x stably first; far_train is nondecreasing in
             * the threshold, so that order is the grid's own. */
            rc = lc_interp1d_slinear(far_train, b.thr, (size_t)T, p->far_target, &thr, err);
            if (rc) goto done;
        }
        uint64_t ta = 0, fa = 0, ns = 0, nd = 0;
        size_t lo = p->folds == 1 ? 0 : b.start[f], hi = p->folds == 1 ? n : b.start[f + 1];
        for (size_t j = lo; j < hi; j++) {
            int acc = dist[j] < thr;
            if (same[j]) ns++, ta += (uint64_t)acc;
            else nd++, fa += (uint64_t)acc;
        }
        if (!ns) { rc = zero_division(err, &b, f, "test", "same"); goto done; }
        if (!nd) { rc = zero_division(err, &b, f, "test", "different"); goto done; }
        r->tar[f] = (double)ta / (double)ns;
        r->far[f] = (double)fa / (double)nd;
        r->threshold[f] = thr;
    }
    r->tar_mean = lc_np_mean(r->tar, (size_t)r->folds);
    r->far_mean = lc_np_mean(r->far, (size_t)r->folds);
    r->tar_std = lc_np_std(r->tar, (size_t)r->folds);
done:
    free(cs);
    free(cd);
    free(far_train);
    binned_free(&b);
    return rc;
}

/* ------------------------------------------------------- sorting */

/* Integer image of a double that sorts descending when the images sort
 * ascending: the usual sign flip makes doubles order as unsigned integers,
 * and the complement reverses that. */
static inline uint64_t desc_image(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    b = (b >> 63) ? ~b : (b | (1ull << 63));
    return ~b;
}

static void insertion(double *key, uint8_t *lab, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double k = key[i];
        uint8_t l = lab[i];
        uint64_t im = desc_image(k);
        size_t j = i;
        while (j > 0 && desc_image(key[j - 1]) > im) {
            key[j] = key[j - 1];
            lab[j] = lab[j - 1];
            j--;
        }
        key[j] = k;
        lab[j] = l;
    }
}

/* American flag sort (in-place MSD radix, one byte per level). */
static void flag_sort(double *key, uint8_t *lab, size_t n, int shift)
{
    for (;;) {
        if (n < 48) {
            insertion(key, lab, n);
            return;
        }
        size_t cnt[256] = {0};
        for (size_t i = 0; i < n; i++) cnt[(desc_image(key[i]) >> shift) & 255]++;
        size_t first = (desc_image(key[0]) >> shift) & 255;
        if (cnt[first] == n) { /* one bucket: go to the next byte without moving */
            if (shift == 0) return;
            shift -= 8;
            continue;
        }
        size_t start[257], next[256];
        start[0] = 0;
        for (int d = 0; d < 256; d++) start[d + 1] = start[d] + cnt[d];
        memcpy(next, start, sizeof next);
        for (int d = 0; d < 256; d++) {
            while (next[d] < start[d + 1]) {
                double k = key[next[d]];
                uint8_t l = lab[next[d]];
                size_t e = (desc_image(k) >> shift) & 255;
                while (e != (size_t)d) { /* carry the element to its bucket */
                    size_t to = next[e]++;
                    double tk = key[to];
                    uint8_t tl = lab[to];
                    key[to] = k;
                    lab[to] = l;
                    k = tk;
                    l = tl;
                    e = (desc_image(k) >> shift) & 255;
                }
                key[next[d]] = k;
                lab[next[d]] = l;
                next[d]++;
            }
        }
        if (shift == 0) return;
        for (int d = 0; d < 256; d++)
            if (cnt[d] > 1) flag_sort(key + start[d], lab + start[d], cnt[d], shift - 8);
        return;
    }
}

void lc_sort_desc(double *key, uint8_t *lab, size_t n)
{
    if (n > 1) flag_sort(key, lab, n, 56);
}

/* ------------------------------------------------------- the exact ROC */

int lc_roc_init(struct lc_roc *r, double *score, uint8_t *label, size_t n, int distance, int in_place,
                struct lc_err *err)
{
    memset(r, 0, sizeof *r);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(score[i]))
            return lc_errf(err, LC_EINVAL, NULL, (int64_t)i, -1, "score %zu is %g", i, score[i]);
        if (label[i] > 1)
            return lc_errf(err, LC_EINVAL, NULL, (int64_t)i, -1, "label %u of score %zu is not 0 or 1",
                           (unsigned)label[i], i);
        pos += label[i];
    }
    if (pos == 0 || pos == n)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1,
                       "all %zu pairs are %s: a ROC needs both same and different pairs", n,
                       pos ? "'same'" : "'different'");
    r->n = n;
    r->n_pos = pos;
    r->n_neg = n - pos;
    r->distance = distance;
    if (in_place) {
        r->key = score;
        r->label = label;
    } else {
        r->key = malloc(n * sizeof *r->key);
        r->label = malloc(n);
        if (!r->key || !r->label) {
            free(r->key);
            free(r->label);
            memset(r, 0, sizeof *r);
            return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory for %zu scores", n);
        }
        memcpy(r->label, label, n);
        r->owned = 1;
    }
    for (size_t i = 0; i < n; i++) {
        double v = distance ? -score[i] : score[i];
        r->key[i] = v + 0.0; /* -0.0 becomes 0.0: numpy's diff sees them equal */
    }
    lc_sort_desc(r->key, r->label, n);
    return 0;
}

void lc_roc_free(struct lc_roc *r)
{
    if (!r) return;
    if (r->owned) {
        free(r->key);
        free(r->label);
    }
    memset(r, 0, sizeof *r);
}

static double report_threshold(const struct lc_roc *r, double key)
{
    return r->distance ? -key + 0.0 : key;
}

static void fill_rates(const struct lc_roc *r, struct lc_roc_point *p)
{
    p->tpr = (double)p->tp / (double)r->n_pos;
    p->fpr = (double)p->fp / (double)r->n_neg;
}

int lc_roc_walk(const struct lc_roc *r, int drop_intermediate, lc_roc_fn fn, void *ctx, struct lc_err *err)
{
    struct lc_roc_point p0 = {.threshold = INFINITY}, prev, cur;
    int rc;
    fill_rates(r, &p0);
    if ((rc = fn(ctx, &p0, err))) return rc;
    /* sklearn's point list: one per distinct score (before the (0,0) it
     * prepends); drop_intermediate looks at second differences of that
     * list, keeping its first and last points. */
    uint64_t tp = 0, fp = 0;
    size_t k = 0; /* points produced so far */
    int have_prev = 0, have_cur = 0;
    for (size_t i = 0; i < r->n; i++) {
        tp += r->label[i];
        fp += (uint64_t)(1 - r->label[i]);
        if (i + 1 < r->n && r->key[i + 1] == r->key[i]) continue;
        struct lc_roc_point p = {.threshold = report_threshold(r, r->key[i]), .tp = tp, .fp = fp};
        fill_rates(r, &p);
        if (!drop_intermediate) {
            if ((rc = fn(ctx, &p, err))) return rc;
            continue;
        }
        if (!have_cur) { /* first point: always kept */
            cur = p;
            have_cur = 1;
            if ((rc = fn(ctx, &cur, err))) return rc;
        } else {
            if (have_prev) { /* decide cur now that its successor is known */
                int keep = (p.fp - cur.fp) != (cur.fp - prev.fp) || (p.tp - cur.tp) != (cur.tp - prev.tp);
                if (keep && (rc = fn(ctx, &cur, err))) return rc;
            }
            prev = cur;
            have_prev = 1;
            cur = p;
        }
        k++;
    }
    if (drop_intermediate && k >= 2 && (rc = fn(ctx, &cur, err))) return rc; /* the last point */
    return 0;
}

struct summary_ctx {
    const struct lc_roc *r;
    struct lc_roc_summary *s;
    struct lc_roc_point prev;
    int have_prev, eer_done;
    uint64_t fp_allowed[LC_FAR_MAX];
    struct lc_np_summer *sum;
};

static int summary_all(void *vctx, const struct lc_roc_point *p, struct lc_err *err)
{
    (void)err;
    struct summary_ctx *c = vctx;
    struct lc_roc_summary *s = c->s;
    const struct lc_roc *r = c->r;
    s->points++;
    double acc = (double)(p->tp + (r->n_neg - p->fp)) / (double)r->n;
    if (acc > s->best_acc) s->best_acc = acc, s->best_acc_threshold = p->threshold;
    for (int t = 0; t < s->n_far; t++) /* the last point within the FAR: the highest TAR */
        if (p->fp <= c->fp_allowed[t])
            s->tar[t] = p->tpr, s->tar_fpr[t] = p->fpr, s->tar_threshold[t] = p->threshold;
    double g = (1.0 - p->tpr) - p->fpr; /* FNR - FPR: starts at 1, ends at -1 */
    if (!c->eer_done && g <= 0 && c->have_prev) {
        const struct lc_roc_point *q = &c->prev;
        double gq = (1.0 - q->tpr) - q->fpr;
        double t = gq / (gq - g);
        s->eer = q->fpr + t * (p->fpr - q->fpr);
        s->eer_threshold = isinf(q->threshold) ? p->threshold : q->threshold + t * (p->threshold - q->threshold);
        c->eer_done = 1;
    }
    c->prev = *p;
    c->have_prev = 1;
    return 0;
}

static int summary_dropped(void *vctx, const struct lc_roc_point *p, struct lc_err *err)
{
    (void)err;
    struct summary_ctx *c = vctx;
    c->s->points_dropped++;
    if (c->have_prev) /* np.trapz: d * (y[1:] + y[:-1]) / 2.0, summed by add.reduce */
        lc_np_summer_add(c->sum, (p->fpr - c->prev.fpr) * (p->tpr + c->prev.tpr) / 2.0);
    c->prev = *p;
    c->have_prev = 1;
    return 0;
}

/* Largest fp with fp / n_neg <= far in float64 (the comparison sklearn
 * users write as fpr <= far). */
static uint64_t fp_allowed(double far, size_t n_neg)
{
    if (!(far >= 0)) return 0;
    double k = floor(far * (double)n_neg);
    if (k > (double)n_neg) k = (double)n_neg;
    uint64_t v = (uint64_t)k;
    while (v < n_neg && (double)(v + 1) / (double)n_neg <= far) v++;
    while (v > 0 && (double)v / (double)n_neg > far) v--;
    return v;
}

int lc_roc_summarize(struct lc_roc_summary *s, const struct lc_roc *r, const double *fars, int n_far,
                     struct lc_err *err)
{
    if (n_far < 0 || n_far > LC_FAR_MAX)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "at most %d FAR targets", LC_FAR_MAX);
    memset(s, 0, sizeof *s);
    s->best_acc = -1;
    s->n_far = n_far;
    struct summary_ctx c = {.r = r, .s = s};
    for (int t = 0; t < n_far; t++) {
        s->far[t] = fars[t];
        c.fp_allowed[t] = s->fp_allowed[t] = fp_allowed(fars[t], r->n_neg);
        s->supported[t] = s->fp_allowed[t] >= 1;
    }
    int rc = lc_roc_walk(r, 0, summary_all, &c, err);
    if (rc) return rc;
    c.sum = malloc(sizeof *c.sum);
    if (!c.sum) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    lc_np_summer_init(c.sum);
    c.have_prev = 0;
    rc = lc_roc_walk(r, 1, summary_dropped, &c, err);
    s->auc = lc_np_summer_result(c.sum);
    free(c.sum);
    return rc;
}

/* ------------------------------------------------------- bootstrap */

/* xoshiro256** seeded through splitmix64: a private generator, so the
 * bootstrap depends on nothing but (seed, replicate). */
struct rng {
    uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *g, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull + 0x632be59bd9b4e019ull);
    for (int i = 0; i < 4; i++) g->s[i] = splitmix(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(struct rng *g)
{
    uint64_t *s = g->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n), unbiased (Lemire's multiply and reject). */
static uint64_t rng_below(struct rng *g, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)rng_next(g) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (unsigned __int128)rng_next(g) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

struct boot_job {
    const struct lc_roc *r;
    const uint32_t *pos, *neg; /* sorted positions of each class */
    const uint64_t *fp_allowed;
    int n_far, reps, stride, first;
    uint64_t seed;
    double *auc, *tar; /* (reps), (n_far, reps) */
    int failed;
};

static void *boot_worker(void *arg)
{
    struct boot_job *j = arg;
    const struct lc_roc *r = j->r;
    uint32_t *w = malloc(r->n * sizeof *w);
    if (!w) {
        j->failed = 1;
        return NULL;
    }
    for (int b = j->first; b < j->reps; b += j->stride) {
        struct rng g;
        rng_seed(&g, j->seed, (uint64_t)b);
        memset(w, 0, r->n * sizeof *w);
        for (size_t i = 0; i < r->n_pos; i++) w[j->pos[rng_below(&g, r->n_pos)]]++;
        for (size_t i = 0; i < r->n_neg; i++) w[j->neg[rng_below(&g, r->n_neg)]]++;
        uint64_t tp = 0, fp = 0, ptp = 0, pfp = 0, area2 = 0, best_tp[LC_FAR_MAX] = {0};
        for (size_t i = 0; i < r->n; i++) {
            if (r->label[i]) tp += w[i];
            else fp += w[i];
            if (i + 1 < r->n && r->key[i + 1] == r->key[i]) continue;
            area2 += (fp - pfp) * (tp + ptp); /* twice the trapezoid, in counts: exact */
            for (int t = 0; t < j->n_far; t++)
                if (fp <= j->fp_allowed[t]) best_tp[t] = tp;
            ptp = tp;
            pfp = fp;
        }
        j->auc[b] = (double)area2 / (2.0 * (double)r->n_pos * (double)r->n_neg);
        for (int t = 0; t < j->n_far; t++) j->tar[(size_t)t * (size_t)j->reps + (size_t)b] = (double)best_tp[t] / (double)r->n_pos;
    }
    free(w);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lc_percentile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    double idx = q * (double)(n - 1);
    size_t lo = (size_t)floor(idx), hi = lo + 1 < n ? lo + 1 : lo;
    double t = idx - (double)lo, a = v[lo], b = v[hi], d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t; /* numpy's _lerp */
}

int lc_roc_bootstrap(struct lc_bootstrap *bs, const struct lc_roc *r, const double *fars, int n_far,
                     struct lc_err *err)
{
    if (bs->reps < 2) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "the bootstrap needs at least 2 replicates");
    if (!(bs->level > 0 && bs->level < 1))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "confidence level must lie in (0, 1)");
    if (n_far < 0 || n_far > LC_FAR_MAX) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "too many FAR targets");
    if (r->n > UINT32_MAX) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "bootstrap over more than 2^32 scores");
    int threads = bs->threads < 1 ? 1 : bs->threads > 64 ? 64 : bs->threads;
    uint32_t *pos = malloc(r->n_pos * sizeof *pos), *neg = malloc(r->n_neg * sizeof *neg);
    double *auc = malloc((size_t)bs->reps * sizeof *auc);
    double *tar = malloc(((size_t)n_far + 1) * (size_t)bs->reps * sizeof *tar);
    int rc = 0;
    if (!pos || !neg || !auc || !tar) {
        rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        goto done;
    }
    size_t np_ = 0, nn = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->label[i]) pos[np_++] = (uint32_t)i;
        else neg[nn++] = (uint32_t)i;
    }
    uint64_t allowed[LC_FAR_MAX];
    for (int t = 0; t < n_far; t++) allowed[t] = fp_allowed(fars[t], r->n_neg);
    struct boot_job jobs[64];
    pthread_t tid[64];
    int started[64] = {0};
    for (int t = 0; t < threads; t++)
        jobs[t] = (struct boot_job){.r = r, .pos = pos, .neg = neg, .fp_allowed = allowed, .n_far = n_far,
                                    .reps = bs->reps, .stride = threads, .first = t, .seed = bs->seed,
                                    .auc = auc, .tar = tar};
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, boot_worker, &jobs[t]) == 0;
    boot_worker(&jobs[0]);
    for (int t = 1; t < threads; t++) { /* a share whose thread did not start runs here */
        if (started[t]) pthread_join(tid[t], NULL);
        else boot_worker(&jobs[t]);
    }
    for (int t = 0; t < threads; t++)
        if (jobs[t].failed) {
            rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
            goto done;
        }
    double lo = (1.0 - bs->level) / 2.0, hi = (1.0 + bs->level) / 2.0;
    bs->auc_lo = lc_percentile(auc, (size_t)bs->reps, lo);
    bs->auc_hi = lc_percentile(auc, (size_t)bs->reps, hi);
    for (int t = 0; t < n_far; t++) {
        double *v = tar + (size_t)t * (size_t)bs->reps;
        bs->tar_lo[t] = lc_percentile(v, (size_t)bs->reps, lo);
        bs->tar_hi[t] = lc_percentile(v, (size_t)bs->reps, hi);
    }
done:
    free(pos);
    free(neg);
    free(auc);
    free(tar);
    return rc;
}
