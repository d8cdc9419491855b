/* metrics: the reference's 10-fold protocol and TAR@FAR rule reproduced in
 * float64 exactly as numpy/sklearn/scipy compute them, and the exact ROC
 * (sklearn's roc_curve/roc_auc_score) with EER, TAR@FAR, best accuracy and
 * bootstrap intervals. Counting replaces the reference's threshold loops:
 * each distance is binned once by the first grid threshold above it, so a
 * grid of T thresholds costs O(n log T + folds*T), not O(n*T). */
#include "metrics.h"

#include "rng.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The sort runs on integer images of the doubles, made in place: the usual
 * sign flip makes doubles order as unsigned integers, and the complement
 * turns that into descending order. Loads and stores go through memcpy
 * (plain moves once compiled), so the double array is never accessed
 * through another type. */
static inline uint64_t to_image(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    b = (b >> 63) ? ~b : (b | (1ull << 63));
    return ~b;
}

static inline double from_image(uint64_t b)
{
    b = ~b;
    b = (b >> 63) ? (b & ~(1ull << 63)) : ~b;
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static inline uint64_t ld(const double *p)
{
    uint64_t b;
    memcpy(&b, p, sizeof b);
    return b;
}

static inline void st(double *p, uint64_t b) { memcpy(p, &b, sizeof b); }

#define SMALL_SORT 8192 /* buckets this small are finished by LSD radix in cache */

static void insertion(double *key, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t k = ld(key + i);
        size_t j = i;
        while (j > 0 && ld(key + j - 1) > k) {
            st(key + j, ld(key + j - 1));
            j--;
        }
        st(key + j, k);
    }
}

/* LSD radix over the varying bytes at or below shift, through tmp (n). */
static void lsd_small(double *key, size_t n, int shift, uint64_t mask, uint64_t *tmp)
{
    uint64_t local = 0, first = ld(key);
    for (size_t i = 0; i < n; i++) local |= ld(key + i) ^ first;
    mask &= local;
    int odd = 0; /* passes so far: the data lives in tmp after an odd number */
    for (int sh = 0; sh <= shift; sh += 8) {
        if (!((mask >> sh) & 255)) continue;
        size_t cnt[256] = {0};
        if (!odd) {
            for (size_t i = 0; i < n; i++) cnt[(ld(key + i) >> sh) & 255]++;
        } else {
            for (size_t i = 0; i < n; i++) cnt[(tmp[i] >> sh) & 255]++;
        }
        size_t pos = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = cnt[d];
            cnt[d] = pos;
            pos += c;
        }
        if (!odd) {
            for (size_t i = 0; i < n; i++) {
                uint64_t k = ld(key + i);
                tmp[cnt[(k >> sh) & 255]++] = k;
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                uint64_t k = tmp[i];
                st(key + cnt[(k >> sh) & 255]++, k);
            }
        }
        odd = !odd;
    }
    if (odd) memcpy(key, tmp, n * sizeof *tmp);
}

/* American flag sort (in-place MSD radix, a byte per level) on images;
 * bytes equal in every key (mask clear) are skipped without a pass.
 * Buckets that fit in cache are finished there (LSD radix when at most
 * three bytes still vary, else more MSD levels and insertion sort). */
static void flag_sort(double *key, size_t n, int shift, uint64_t mask, uint64_t *tmp)
{
    while (shift >= 0 && !((mask >> shift) & 255)) shift -= 8;
    if (shift < 0) return;
    if (n < 48) {
        insertion(key, n);
        return;
    }
    if (n <= SMALL_SORT) {
        uint64_t local = 0, first = ld(key);
        for (size_t i = 0; i < n; i++) local |= ld(key + i) ^ first;
        mask &= local;
        int bytes = 0;
        for (int sh = 0; sh <= shift; sh += 8) bytes += ((mask >> sh) & 255) != 0;
        if (bytes <= 3) {
            lsd_small(key, n, shift, mask, tmp);
            return;
        }
        while (shift >= 0 && !((mask >> shift) & 255)) shift -= 8;
    }
    size_t cnt[256] = {0};
    for (size_t i = 0; i < n; i++) cnt[(ld(key + i) >> shift) & 255]++;
    size_t start[257], next[256];
    start[0] = 0;
    for (int d = 0; d < 256; d++) start[d + 1] = start[d] + cnt[d];
    if (cnt[(ld(key) >> shift) & 255] != n) { /* more than one bucket: permute */
        /* ska_sort's order: sweep each unfinished bucket's unplaced range,
         * swapping every element to its bucket's write cursor. The swaps of a
         * sweep are independent, so their cache misses overlap (a cycle-
         * leader loop would wait for each in turn); sweeps repeat until one
         * bucket is left. */
        uint8_t rem[256];
        int nrem = 0;
        memcpy(next, start, sizeof next);
        for (int d = 0; d < 256; d++)
            if (cnt[d]) rem[nrem++] = (uint8_t)d;
        while (nrem > 1) {
            int w = 0;
            for (int r = 0; r < nrem; r++) {
                int d = rem[r];
                for (size_t it = next[d], end = start[d + 1]; it < end; it++) {
                    uint64_t k = ld(key + it);
                    size_t to = next[(k >> shift) & 255]++;
                    st(key + it, ld(key + to));
                    st(key + to, k);
                }
                if (next[d] < start[d + 1]) rem[w++] = (uint8_t)d;
            }
            nrem = w;
        }
    }
    if (shift == 0) return;
    for (int d = 0; d < 256; d++)
        if (cnt[d] > 1) flag_sort(key + start[d], cnt[d], shift - 8, mask, tmp);
}

/* Big inputs: the first levels run here; once a level has split the keys
 * into many buckets, the buckets are shared among threads (largest first,
 * taken from a common counter), each with its own scratch. The result does
 * not depend on the thread count. */
struct sort_task {
    double *key;
    size_t n;
};

struct sort_pool {
    struct sort_task *task;
    size_t ntask, next;
    int shift;
    uint64_t mask;
    pthread_mutex_t lock;
    int failed;
};

static void *sort_worker(void *arg)
{
    struct sort_pool *p = arg;
    uint64_t *tmp = malloc(SMALL_SORT * sizeof *tmp);
    if (!tmp) {
        p->failed = 1;
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t t = p->next < p->ntask ? p->next++ : SIZE_MAX;
        pthread_mutex_unlock(&p->lock);
        if (t == SIZE_MAX) break;
        flag_sort(p->task[t].key, p->task[t].n, p->shift, p->mask, tmp);
    }
    free(tmp);
    return NULL;
}

static int cmp_task(const void *a, const void *b)
{
    size_t x = ((const struct sort_task *)a)->n, y = ((const struct sort_task *)b)->n;
    return (x < y) - (x > y);
}

static int threads_default(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > 16 ? 16 : (int)c;
}

/* One American-flag level on the whole input (as flag_sort does), then the
 * buckets in parallel. Returns 0, or -1 when the pool could not run (the
 * caller then sorts single-threaded; nothing is lost). */
static int parallel_sort(double *key, size_t n, uint64_t mask, int threads, uint64_t *tmp)
{
    int shift = 56;
    for (;;) {
        while (shift >= 0 && !((mask >> shift) & 255)) shift -= 8;
        if (shift < 0) return 0;
        size_t cnt[256] = {0};
        for (size_t i = 0; i < n; i++) cnt[(ld(key + i) >> shift) & 255]++;
        if (cnt[(ld(key) >> shift) & 255] == n) { /* one bucket: the next byte */
            shift -= 8;
            continue;
        }
        flag_sort(key, n, shift, mask & (0xffull << shift), tmp); /* this level only */
        size_t start = 0;
        struct sort_task task[256];
        size_t nt = 0;
        for (int d = 0; d < 256; d++) {
            if (cnt[d] > 1) task[nt++] = (struct sort_task){key + start, cnt[d]};
            start += cnt[d];
        }
        if (shift == 0) return 0;
        qsort(task, nt, sizeof *task, cmp_task);
        struct sort_pool pool = {.task = task, .ntask = nt, .shift = shift - 8, .mask = mask};
        pthread_mutex_init(&pool.lock, NULL);
        pthread_t tid[16];
        int started = 0;
        for (int t = 1; t < threads && t < 16; t++)
            if (pthread_create(&tid[started], NULL, sort_worker, &pool) == 0) started++;
        sort_worker(&pool);
        for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
        pthread_mutex_destroy(&pool.lock);
        return pool.failed ? -1 : 0;
    }
}

/* negate: sort -key instead (distances), in the same pass */
static int sort_desc(double *key, size_t n, int negate)
{
    if (n < 1) return 0;
    uint64_t *tmp = malloc(SMALL_SORT * sizeof *tmp); /* 64 KiB, whatever n */
    if (!tmp) return LC_ENOMEM;
    uint64_t first = to_image((negate ? -key[0] : key[0]) + 0.0), mask = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = to_image((negate ? -key[i] : key[i]) + 0.0); /* -0.0 becomes 0.0 */
        mask |= b ^ first;
        st(key + i, b);
    }
    int threads = n >= (1u << 20) ? threads_default() : 1;
    if (threads < 2 || parallel_sort(key, n, mask, threads, tmp) != 0) flag_sort(key, n, 56, mask, tmp);
    for (size_t i = 0; i < n; i++) key[i] = from_image(ld(key + i));
    free(tmp);
    return 0;
}

int lc_sort_desc(double *key, size_t n) { return sort_desc(key, n, 0); }

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
        memcpy(r->key, score, n * sizeof *r->key);
        r->owned = 1;
    }
    /* Partition: same pairs first (their order does not matter, the sort
     * follows), then the keys alone are sorted, each class on its own. */
    double *k = r->key;
    size_t a = 0, b = n;
    if (in_place) {
        while (a < b) {
            if (label[a]) {
                a++;
            } else {
                b--;
                double t = k[a];
                uint8_t l = label[b];
                k[a] = k[b];
                k[b] = t;
                label[a] = l;
                label[b] = 0;
            }
        }
    } else { /* a copy: partition while copying would need a second buffer, so swap as above */
        for (size_t i = 0; i < n; i++) r->label[i] = label[i];
        uint8_t *lab = r->label;
        while (a < b) {
            if (lab[a]) {
                a++;
            } else {
                b--;
                double t = k[a];
                uint8_t l = lab[b];
                k[a] = k[b];
                k[b] = t;
                lab[a] = l;
                lab[b] = 0;
            }
        }
    }
    /* -0.0 becomes 0.0 on the way (numpy's diff sees them equal) */
    if (sort_desc(k, pos, distance) || sort_desc(k + pos, n - pos, distance)) {
        lc_roc_free(r);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
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

/* Walk the merged classes: the next distinct key and how many of each
 * class hold it (with per-position weights w, or 1 each when w is NULL).
 * Returns 0 when both are used up. */
struct merge {
    const double *pos, *neg;
    size_t np, nn, i, j;
    const uint32_t *wp, *wn;
};

static inline int merge_next(struct merge *m, double *key, uint64_t *dtp, uint64_t *dfp)
{
    if (m->i == m->np && m->j == m->nn) return 0;
    double v;
    if (m->i == m->np) v = m->neg[m->j];
    else if (m->j == m->nn) v = m->pos[m->i];
    else v = m->pos[m->i] >= m->neg[m->j] ? m->pos[m->i] : m->neg[m->j];
    uint64_t a = 0, b = 0;
    if (m->wp) {
        while (m->i < m->np && m->pos[m->i] == v) a += m->wp[m->i++];
        while (m->j < m->nn && m->neg[m->j] == v) b += m->wn[m->j++];
    } else {
        size_t i0 = m->i, j0 = m->j;
        while (m->i < m->np && m->pos[m->i] == v) m->i++;
        while (m->j < m->nn && m->neg[m->j] == v) m->j++;
        a = m->i - i0;
        b = m->j - j0;
    }
    *key = v;
    *dtp = a;
    *dfp = b;
    return 1;
}

static void merge_init(struct merge *m, const struct lc_roc *r)
{
    *m = (struct merge){.pos = r->key, .neg = r->key + r->n_pos, .np = r->n_pos, .nn = r->n_neg};
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
    struct merge m;
    merge_init(&m, r);
    uint64_t tp = 0, fp = 0, dtp, dfp;
    double key;
    size_t k = 0; /* points produced so far */
    int have_prev = 0, have_cur = 0;
    while (merge_next(&m, &key, &dtp, &dfp)) {
        tp += dtp;
        fp += dfp;
        struct lc_roc_point p = {.threshold = report_threshold(r, key), .tp = tp, .fp = fp};
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
    s->n_far = n_far;
    uint64_t allowed[LC_FAR_MAX];
    for (int t = 0; t < n_far; t++) {
        s->far[t] = fars[t];
        allowed[t] = s->fp_allowed[t] = fp_allowed(fars[t], r->n_neg);
        s->supported[t] = s->fp_allowed[t] >= 1;
        s->tar_threshold[t] = INFINITY; /* the (0, 0) point always qualifies */
    }
    struct lc_np_summer *sum = malloc(sizeof *sum);
    if (!sum) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    lc_np_summer_init(sum);
    const double np_ = (double)r->n_pos, nn = (double)r->n_neg;
    /* the (0, 0) point: accept nothing */
    int64_t best = -(int64_t)0; /* tp - fp of the best point so far, (0, 0) first */
    s->best_acc_threshold = INFINITY;
    s->points = 1;
    s->points_dropped = 1;
    double eer_fpr = 0, eer_tpr = 0, eer_thr = INFINITY; /* the point before the crossing */
    int eer_done = 0;
    /* drop_intermediate state over sklearn's list (without the (0,0) point) */
    uint64_t ptp = 0, pfp = 0, ctp = 0, cfp = 0; /* previous and current list points */
    double kept_fpr = 0, kept_tpr = 0;           /* the last kept point, for the trapezoid */
    size_t k = 0;
    struct merge m;
    merge_init(&m, r);
    uint64_t tp = 0, fp = 0, dtp, dfp;
    double key;
    while (merge_next(&m, &key, &dtp, &dfp)) {
        tp += dtp;
        fp += dfp;
        double thr = report_threshold(r, key);
        s->points++;
        if ((int64_t)tp - (int64_t)fp > best) best = (int64_t)tp - (int64_t)fp, s->best_acc_threshold = thr;
        for (int t = 0; t < n_far; t++)
            if (fp <= allowed[t]) s->tar[t] = (double)tp / np_, s->tar_fpr[t] = (double)fp / nn, s->tar_threshold[t] = thr;
        if (!eer_done) {
            double tpr = (double)tp / np_, fpr = (double)fp / nn, g = (1.0 - tpr) - fpr;
            if (g <= 0) {
                double gq = (1.0 - eer_tpr) - eer_fpr, t = gq / (gq - g);
                s->eer = eer_fpr + t * (fpr - eer_fpr);
                s->eer_threshold = isinf(eer_thr) ? thr : eer_thr + t * (thr - eer_thr);
                eer_done = 1;
            }
            eer_fpr = fpr, eer_tpr = tpr, eer_thr = thr;
        }
        /* the dropped curve: decide the current point now its successor is known */
        if (k >= 2 && ((fp - cfp) != (cfp - pfp) || (tp - ctp) != (ctp - ptp))) {
            double f = (double)cfp / nn, t = (double)ctp / np_;
            lc_np_summer_add(sum, (f - kept_fpr) * (t + kept_tpr) / 2.0); /* np.trapz's term */
            kept_fpr = f, kept_tpr = t;
            s->points_dropped++;
        } else if (k == 1) { /* the list's first point is always kept */
            double f = (double)cfp / nn, t = (double)ctp / np_;
            lc_np_summer_add(sum, (f - kept_fpr) * (t + kept_tpr) / 2.0);
            kept_fpr = f, kept_tpr = t;
            s->points_dropped++;
        }
        ptp = ctp, pfp = cfp, ctp = tp, cfp = fp;
        k++;
    }
    if (k >= 1) { /* the list's last point */
        double f = (double)cfp / nn, t = (double)ctp / np_;
        lc_np_summer_add(sum, (f - kept_fpr) * (t + kept_tpr) / 2.0);
        s->points_dropped++;
    }
    s->auc = lc_np_summer_result(sum);
    s->best_acc = (double)((uint64_t)((int64_t)r->n_neg + best)) / (double)r->n;
    free(sum);
    return 0;
}

/* ------------------------------------------------------- bootstrap */

/* The bootstrap draws from lc_rng streams (seed, replicate), so it depends
 * on nothing else. */

/* Uniform in [0, n), unbiased (Lemire's multiply and reject). */
static uint64_t rng_below(struct lc_rng *g, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)lc_rng_u64(g) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (unsigned __int128)lc_rng_u64(g) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

struct boot_job {
    const struct lc_roc *r;
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
        struct lc_rng g;
        lc_rng_seed_stream(&g, j->seed, (uint64_t)b);
        memset(w, 0, r->n * sizeof *w);
        for (size_t i = 0; i < r->n_pos; i++) w[rng_below(&g, r->n_pos)]++;
        for (size_t i = 0; i < r->n_neg; i++) w[r->n_pos + rng_below(&g, r->n_neg)]++;
        struct merge m;
        merge_init(&m, r);
        m.wp = w;
        m.wn = w + r->n_pos;
        uint64_t tp = 0, fp = 0, ptp = 0, pfp = 0, area2 = 0, best_tp[LC_FAR_MAX] = {0}, dtp, dfp;
        double key;
        while (merge_next(&m, &key, &dtp, &dfp)) {
            tp += dtp;
            fp += dfp;
            area2 += (fp - pfp) * (tp + ptp); /* twice the trapezoid, in counts: exact */
            for (int t = 0; t < j->n_far; t++)
                if (fp <= j->fp_allowed[t]) best_tp[t] = tp;
            ptp = tp;
            pfp = fp;
        }
        j->auc[b] = (double)area2 / (2.0 * (double)r->n_pos * (double)r->n_neg);
        for (int t = 0; t < j->n_far; t++)
            j->tar[(size_t)t * (size_t)j->reps + (size_t)b] = (double)best_tp[t] / (double)r->n_pos;
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
    double *auc = malloc((size_t)bs->reps * sizeof *auc);
    double *tar = malloc(((size_t)n_far + 1) * (size_t)bs->reps * sizeof *tar);
    int rc = 0;
    if (!auc || !tar) {
        rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        goto done;
    }
    uint64_t allowed[LC_FAR_MAX];
    for (int t = 0; t < n_far; t++) allowed[t] = fp_allowed(fars[t], r->n_neg);
    struct boot_job jobs[64];
    pthread_t tid[64];
    int started[64] = {0};
    for (int t = 0; t < threads; t++)
        jobs[t] = (struct boot_job){.r = r, .fp_allowed = allowed, .n_far = n_far,
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
    free(auc);
    free(tar);
    return rc;
}
