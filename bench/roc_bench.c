/* roc_bench: the metrics roc-report computes (exact ROC, AUC, EER, TAR at
 * six FARs, best accuracy) on 10^7 scores against scikit-learn on the same
 * data in the same run (bench/roc_peer.py), with peak memory beyond the
 * scores themselves; and the reference 10-fold protocol against its numpy
 * transcription. Override the size with ROC_BENCH_N. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dtype.h"
#include "metrics.h"
#include "npy.h"
#include "tool.h"

static void die(const struct lc_err *e) { lc_tool_fail(e); }

/* Deterministic scores: 10% same pairs ~ N(0.55, 0.15), others ~ N(0.1,
 * 0.15), rounded to float32 as scores from f32 embeddings are (so ties). */
static void make(double *s, uint8_t *y, size_t n)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            u[k] = ((double)(x >> 11) + 0.5) / 9007199254740992.0;
        }
        double g = sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
        y[i] = i % 10 == 3;
        s[i] = (float)((y[i] ? 0.55 : 0.1) + 0.15 * g);
    }
}

static double peak_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

struct cnt {
    size_t n;
};
static int count(void *ctx, const struct lc_roc_point *p, struct lc_err *err)
{
    (void)p, (void)err;
    ((struct cnt *)ctx)->n++;
    return 0;
}

/* In a child, so its peak memory is its own. Prints one line like the peer. */
static void ours(size_t n, int protocol_n)
{
    double *s = malloc(n * sizeof *s);
    uint8_t *y = malloc(n);
    make(s, y, n);
    struct lc_err err;
    if (protocol_n) {
        double *d = malloc((size_t)protocol_n * sizeof *d);
        double t0 = lc_now();
        for (int i = 0; i < protocol_n; i++) d[i] = 2.0 - 2.0 * s[i];
        struct lc_protocol p;
        lc_protocol_default(&p);
        struct lc_tenfold t;
        if (lc_tenfold_accuracy(&t, d, y, (size_t)protocol_n, &p, &err)) die(&err);
        printf("seconds=%.3f acc=%.17g\n", lc_now() - t0, t.acc_mean);
        free(d);
    } else {
        double base = peak_mb(), t0 = lc_now();
        struct lc_roc r;
        if (lc_roc_init(&r, s, y, n, 0, 1, &err)) die(&err);
        double ts = lc_now() - t0;
        static const double fars[6] = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};
        struct lc_roc_summary sum;
        if (lc_roc_summarize(&sum, &r, fars, 6, &err)) die(&err);
        double tm = lc_now() - t0;
        struct cnt c = {0};
        if (lc_roc_walk(&r, 1, count, &c, &err)) die(&err); /* what roc.csv gets */
        printf("seconds=%.3f extra_mb=%.0f points=%zu auc=%.17g eer=%.17g tar3=%.17g best=%.17g dropped=%zu sort=%.3f "
               "walk=%.3f\n", tm, peak_mb() - base, sum.points, sum.auc, sum.eer, sum.tar[2], sum.best_acc, c.n, ts,
               lc_now() - t0 - tm);
    }
    fflush(stdout);
    free(s);
    free(y);
}

/* Run a command, capture its one output line. */
static int run_line(char *const argv[], char *line, size_t size)
{
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    line[0] = '\0';
    if (!fgets(line, (int)size, f)) line[0] = '\0';
    fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && line[0] ? 0 : -1;
}

static int child_line(size_t n, int protocol_n, char *line, size_t size)
{
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        ours(n, protocol_n);
        _exit(0);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    if (!fgets(line, (int)size, f)) line[0] = '\0';
    fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return 0;
}

static double get(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "%s=", key);
    const char *p = strstr(line, k);
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

static const char *getstr(const char *line, const char *key, char *buf)
{
    char k[64];
    snprintf(k, sizeof k, "%s=", key);
    const char *p = strstr(line, k);
    if (!p) return "?";
    sscanf(p + strlen(k), "%63s", buf);
    return buf;
}

int main(void)
{
    lc_tool_init("roc_bench");
    size_t n = getenv("ROC_BENCH_N") ? strtoull(getenv("ROC_BENCH_N"), NULL, 10) : 10000000;
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char dir[] = "/tmp/roc-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    double *s = malloc(n * sizeof *s);
    uint8_t *y = malloc(n);
    make(s, y, n);
    char p1[300], p2[300];
    snprintf(p1, sizeof p1, "%s/score.npy", dir);
    snprintf(p2, sizeof p2, "%s/label.npy", dir);
    struct lc_err err;
    uint64_t dims[1] = {n};
    if (lc_npy_save(p1, LC_DTYPE_F64, 1, dims, s, &err) || lc_npy_save(p2, LC_DTYPE_U8, 1, dims, y, &err)) die(&err);
    free(s);
    free(y);
    double scores_mb = (double)n * 9 / 1048576.0;
    printf("roc_bench: %zu scores (10%% same, float32-rounded, ties), roc-report's metrics "
           "(ROC, AUC, EER, TAR at 6 FARs, best accuracy)\n", n);
    char a[1024], b[1024], buf1[64], buf2[64];
    double best = 1e30;
    char keep[1024] = "";
    for (int rep = 0; rep < 3; rep++) { /* best of 3, counting the walk over the curve too */
        child_line(n, 0, a, sizeof a);
        double t = get(a, "seconds") + get(a, "walk");
        if (t < best) best = t, snprintf(keep, sizeof keep, "%s", a);
    }
    memcpy(a, keep, sizeof keep);
    printf("  ours          %7.3f s = sort %.3f + metrics %.3f + walking the %s drop_intermediate points roc.csv gets "
           "%.3f; extra memory %.0f MB beyond the %.0f MB of scores and labels; %s ROC points\n",
           best, get(a, "sort"), get(a, "seconds") - get(a, "sort"), getstr(a, "dropped", buf2), get(a, "walk"),
           get(a, "extra_mb"), scores_mb, getstr(a, "points", buf1));
    char script[] = "bench/roc_peer.py";
    char *argv_peer[] = {(char *)py, script, "roc", dir, NULL};
    if (access(script, R_OK) != 0 || run_line(argv_peer, b, sizeof b) != 0) {
        printf("  scikit-learn  skipped (%s with sklearn and %s needed)\n", py, script);
    } else {
        double pbest = get(b, "seconds");
        for (int rep = 1; rep < 3; rep++)
            if (run_line(argv_peer, b, sizeof b) == 0 && get(b, "seconds") < pbest) pbest = get(b, "seconds");
        printf("  scikit-learn  %7.3f s, extra memory %4.0f MB (roc_curve over all points, auc, numpy for the rest)\n",
               pbest, get(b, "extra_mb"));
        printf("  ratio %.1fx faster (target >= 5x); memory %.2f x the scores vs sklearn %.2f x\n", pbest / best,
               (scores_mb + get(a, "extra_mb")) / scores_mb, (scores_mb + get(b, "extra_mb")) / scores_mb);
        int same = get(a, "auc") == get(b, "auc") && get(a, "eer") == get(b, "eer") &&
                   get(a, "tar3") == get(b, "tar3") && get(a, "best") == get(b, "best") &&
                   get(a, "points") == get(b, "points");
        printf("  results identical to scikit-learn's (AUC %s, EER, TAR@1e-3, best accuracy, point count): %s\n",
               getstr(a, "auc", buf1), same ? "yes" : "NO");
    }
    /* the reference protocol: numpy's threshold loop is O(n * 400 * 10) */
    int pn = 100000;
    child_line(n, pn, a, sizeof a);
    char pns[32];
    snprintf(pns, sizeof pns, "%d", pn);
    char *argv_proto[] = {(char *)py, script, "protocol", dir, pns, NULL};
    if (access(script, R_OK) == 0 && run_line(argv_proto, b, sizeof b) == 0)
        printf("  10-fold protocol on %d pairs: ours %.3f s, numpy reference %.3f s (ratio %.0fx), accuracy %s %s\n",
               pn, get(a, "seconds"), get(b, "seconds"), get(b, "seconds") / get(a, "seconds"), getstr(a, "acc", buf1),
               get(a, "acc") == get(b, "acc") ? "(identical)" : "(DIFFERS)");
    if (n >= 1000000) {
        child_line(n, (int)n, a, sizeof a);
        printf("  10-fold protocol on all %zu pairs: ours %.3f s\n", n, get(a, "seconds"));
    }
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    return 0;
}
