/* roc-report: turn score files (one per run and dataset) into a report a
 * paper can use: exact ROC and DET curves, AUC, EER, TAR at FAR 1e-1..1e-6
 * with bootstrap intervals, best accuracy, the reference's 10-fold
 * accuracy, as CSV tables, gnuplot PNG/SVG plots, a self-contained HTML page
 * and a Markdown summary. gnuplot is optional: without it everything but
 * the rendered plots is still written. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "metrics.h"
#include "opt.h"
#include "scorefile.h"
#include "sha256.h"
#include "tool.h"
#include "version.h"

#define MAX_INPUTS 64
#define MAX_ENTRIES 256

struct input {
    char run[128], dataset[128]; /* dataset may be empty: from the file */
    const char *path;
    char sha[65];
    uint64_t bytes;
    char kind[64];
    char *history; /* "history=" lines of a stream, newline-separated, or NULL */
};

/* One (run, dataset) evaluated. */
struct entry {
    const char *run;
    char dataset[128];
    int input;
    size_t n, n_pos, n_neg;
    int distance;
    struct lc_roc_summary s;
    int have_boot;
    struct lc_bootstrap b;
    int have_acc, have_val;
    struct lc_tenfold acc;
    struct lc_val val;
    char acc_why[300];
    /* decimated curve for the plots */
    size_t np, cap;
    double *fpr, *tpr;
};

struct opts {
    const char *outdir, *title, *far_list, *tenfold, *gnuplot, *score_col, *label_col;
    int bootstrap, threads, all_points, plot_points, progress, distance, similarity;
    int64_t seed;
    double level;
    int n_far;
    double fars[LC_FAR_MAX];
    int ninputs;
    struct input in[MAX_INPUTS];
};

static int g_argc;
static char **g_argv;
static struct entry g_entries[MAX_ENTRIES];
static int g_nentries;

__attribute__((noreturn)) static void fail(const struct lc_err *e) { lc_tool_fail(e); }
__attribute__((noreturn)) static void nomem(void)
{
    struct lc_err e;
    lc_errf(&e, LC_ENOMEM, NULL, -1, -1, "out of memory");
    fail(&e);
}

/* ------------------------------------------------------------ writing */

struct file {
    struct lc_out *o;
    struct lc_err err;
};

static struct lc_out *out_open(const struct opts *o, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->outdir, name);
    struct lc_out *out;
    struct lc_err err;
    if (lc_out_open(&out, path, 0, &err)) fail(&err);
    return out;
}

static void out_commit(struct lc_out *out)
{
    struct lc_err err;
    if (lc_out_commit(out, &err)) fail(&err);
}

__attribute__((format(printf, 2, 3))) static void outf(struct lc_out *out, const char *fmt, ...)
{
    char stack[4096], *buf = stack;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof stack) {
        buf = malloc((size_t)n + 1);
        if (!buf) nomem();
        va_start(ap, fmt);
        vsnprintf(buf, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    struct lc_err err;
    if (lc_out_write(out, buf, (size_t)n, &err)) fail(&err);
    if (buf != stack) free(buf);
}

static void csv_row(struct lc_out *out, int n, const char **f)
{
    struct lc_err err;
    for (int i = 0; i < n; i++)
        if (lc_csvw_field(out, f[i], i + 1 == n, &err)) fail(&err);
}

/* Text for HTML: & < > " escaped. */
static void html_text(struct lc_out *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': outf(out, "&amp;"); break;
        case '<': outf(out, "&lt;"); break;
        case '>': outf(out, "&gt;"); break;
        case '"': outf(out, "&quot;"); break;
        default: outf(out, "%c", *s);
        }
    }
}

/* Markdown table cell: '|' escaped. */
static void md_text(struct lc_out *out, const char *s)
{
    for (; *s; s++) outf(out, *s == '|' ? "\\|" : "%c", *s);
}

/* The command line, shell-quoted where needed. */
static char *command_line(int argc, char **argv)
{
    size_t cap = 64;
    for (int i = 0; i < argc; i++) cap += 4 * strlen(argv[i]) + 3;
    char *s = malloc(cap), *p = s;
    if (!s) nomem();
    for (int i = 0; i < argc; i++) {
        const char *a = i == 0 && strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[i];
        int plain = *a != '\0';
        for (const char *c = a; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *c)) plain = 0;
        if (i) *p++ = ' ';
        if (plain) {
            p += sprintf(p, "%s", a);
        } else {
            *p++ = '\'';
            for (const char *c = a; *c; c++) {
                if (*c == '\'') p += sprintf(p, "'\\''");
                else *p++ = *c;
            }
            *p++ = '\'';
        }
    }
    *p = '\0';
    return s;
}

static void fmt_num(char *b, size_t n, const char *fmt, double v, int have)
{
    if (!have) snprintf(b, n, "%s", "");
    else if (isinf(v)) snprintf(b, n, "%s", v > 0 ? "inf" : "-inf");
    else snprintf(b, n, fmt, v);
}

/* ------------------------------------------------------------- metrics */

struct curve_ctx {
    struct entry *e;
    struct lc_out *csv;
    double last_lf, last_tpr;
    int have_last;
    double min_step_lf, min_step_tpr;
    struct lc_roc_point last_seen;
};

static void curve_add(struct entry *e, double fpr, double tpr)
{
    if (e->np == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 256;
        if (!(e->fpr = realloc(e->fpr, e->cap * sizeof *e->fpr)) || !(e->tpr = realloc(e->tpr, e->cap * sizeof *e->tpr)))
            nomem();
    }
    e->fpr[e->np] = fpr;
    e->tpr[e->np] = tpr;
    e->np++;
}

/* Plotted curves keep a point when it moved far enough in log FAR or TAR
 * from the last kept one (the CSV has every point). */
static int plot_point(void *vctx, const struct lc_roc_point *p, struct lc_err *err)
{
    (void)err;
    struct curve_ctx *c = vctx;
    c->last_seen = *p;
    if (p->fpr <= 0) return 0;
    double lf = log10(p->fpr);
    if (!c->have_last || fabs(lf - c->last_lf) >= c->min_step_lf || fabs(p->tpr - c->last_tpr) >= c->min_step_tpr) {
        curve_add(c->e, p->fpr, p->tpr);
        c->last_lf = lf;
        c->last_tpr = p->tpr;
        c->have_last = 1;
    }
    return 0;
}

static int csv_point(void *vctx, const struct lc_roc_point *p, struct lc_err *err)
{
    struct curve_ctx *c = vctx;
    char t[40], f[40], r[40];
    fmt_num(t, sizeof t, "%.17g", p->threshold, 1);
    snprintf(f, sizeof f, "%.17g", p->fpr);
    snprintf(r, sizeof r, "%.17g", p->tpr);
    const char *row[5] = {c->e->run, c->e->dataset, t, f, r};
    for (int i = 0; i < 5; i++) {
        int rc = lc_csvw_field(c->csv, row[i], i == 4, err);
        if (rc) return rc;
    }
    return 0;
}

static int tenfold_applies(const struct opts *o, const struct lc_scorefile *sf, const struct lc_scoreset *set,
                           char *why, size_t n)
{
    if (strcmp(o->tenfold, "no") == 0) return snprintf(why, n, "not asked for"), 0;
    int known = strcasecmp(sf->kind, "cosine") == 0 || strcasecmp(sf->kind, "sqeuclidean") == 0;
    if (strcmp(o->tenfold, "yes") == 0) {
        if (!known && !sf->distance)
            return snprintf(why, n, "the score '%s' is neither cosine nor a distance", sf->kind), 0;
        return 1;
    }
    if (!set->pair_order) return snprintf(why, n, "the scores are not marked as pairs in order"), 0;
    if (!known) return snprintf(why, n, "the score '%s' is not cosine or sqeuclidean", sf->kind), 0;
    return 1;
}

static void evaluate(const struct opts *o, struct entry *e, struct lc_scorefile *sf, struct lc_scoreset *set,
                     struct lc_out *roc_csv)
{
    struct lc_err err;
    e->n = set->n;
    e->distance = sf->distance;
    /* the 10-fold protocol needs pair order: before the in-place sort */
    if (tenfold_applies(o, sf, set, e->acc_why, sizeof e->acc_why)) {
        double *dist = set->score;
        int cosine = strcasecmp(sf->kind, "cosine") == 0 || !sf->distance;
        if (cosine) { /* squared L2 of unit vectors: 2 - 2 cos */
            dist = malloc(set->n * sizeof *dist);
            if (!dist) nomem();
            for (size_t i = 0; i < set->n; i++) dist[i] = 2.0 - 2.0 * set->score[i];
        }
        struct lc_protocol p;
        lc_protocol_default(&p);
        if (lc_tenfold_accuracy(&e->acc, dist, set->label, set->n, &p, &err) == 0) e->have_acc = 1;
        else snprintf(e->acc_why, sizeof e->acc_why, "%.299s", err.msg);
        if (lc_tenfold_val(&e->val, dist, set->label, set->n, &p, &err) == 0) e->have_val = 1;
        if (dist != set->score) free(dist);
    }
    struct lc_roc roc;
    if (lc_roc_init(&roc, set->score, set->label, set->n, sf->distance, 1, &err)) {
        snprintf(err.path, sizeof err.path, "%.511s", sf->path);
        char msg[600];
        snprintf(msg, sizeof msg, "dataset '%.100s': %.400s", set->name, err.msg);
        snprintf(err.msg, sizeof err.msg, "%.511s", msg);
        fail(&err);
    }
    e->n_pos = roc.n_pos;
    e->n_neg = roc.n_neg;
    if (lc_roc_summarize(&e->s, &roc, o->fars, o->n_far, &err)) fail(&err);
    if (o->bootstrap > 0) {
        e->b = (struct lc_bootstrap){.reps = o->bootstrap, .level = o->level, .seed = (uint64_t)o->seed,
                                     .threads = o->threads};
        if (lc_roc_bootstrap(&e->b, &roc, o->fars, o->n_far, &err)) fail(&err);
        e->have_boot = 1;
    }
    struct curve_ctx c = {.e = e, .csv = roc_csv, .min_step_lf = 6.0 / o->plot_points,
                          .min_step_tpr = 1.0 / o->plot_points};
    if (lc_roc_walk(&roc, !o->all_points, csv_point, &c, &err)) fail(&err);
    if (lc_roc_walk(&roc, 0, plot_point, &c, &err)) fail(&err);
    if (c.last_seen.fpr > 0 && (!e->np || e->fpr[e->np - 1] != c.last_seen.fpr || e->tpr[e->np - 1] != c.last_seen.tpr))
        curve_add(e, c.last_seen.fpr, c.last_seen.tpr);
    lc_roc_free(&roc);
}

/* ------------------------------------------------------------- tables */

static const char *SUMMARY_COLS[] = {
    "run", "dataset", "pairs", "same", "different", "score", "auc", "auc_lo", "auc_hi", "eer", "eer_threshold",
    "best_acc", "best_acc_threshold", "acc10_mean", "acc10_std", "acc10_threshold", "tar_ref", "tar_ref_std",
    "far_ref", "roc_points", "roc_points_dropped"};
#define N_SUMMARY (int)(sizeof SUMMARY_COLS / sizeof *SUMMARY_COLS)

static void write_summary_csv(const struct opts *o)
{
    struct lc_out *out = out_open(o, "summary.csv");
    csv_row(out, N_SUMMARY, SUMMARY_COLS);
    for (int k = 0; k < g_nentries; k++) {
        const struct entry *e = &g_entries[k];
        char v[N_SUMMARY][48];
        const char *f[N_SUMMARY];
        for (int i = 0; i < N_SUMMARY; i++) v[i][0] = '\0', f[i] = v[i];
        f[0] = e->run;
        f[1] = e->dataset;
        snprintf(v[2], 48, "%zu", e->n);
        snprintf(v[3], 48, "%zu", e->n_pos);
        snprintf(v[4], 48, "%zu", e->n_neg);
        f[5] = o->in[e->input].kind;
        fmt_num(v[6], 48, "%.17g", e->s.auc, 1);
        fmt_num(v[7], 48, "%.17g", e->b.auc_lo, e->have_boot);
        fmt_num(v[8], 48, "%.17g", e->b.auc_hi, e->have_boot);
        fmt_num(v[9], 48, "%.17g", e->s.eer, 1);
        fmt_num(v[10], 48, "%.17g", e->s.eer_threshold, 1);
        fmt_num(v[11], 48, "%.17g", e->s.best_acc, 1);
        fmt_num(v[12], 48, "%.17g", e->s.best_acc_threshold, 1);
        fmt_num(v[13], 48, "%.17g", e->acc.acc_mean, e->have_acc);
        fmt_num(v[14], 48, "%.17g", e->acc.acc_std, e->have_acc);
        fmt_num(v[15], 48, "%.17g", e->acc.threshold_mean, e->have_acc);
        fmt_num(v[16], 48, "%.17g", e->val.tar_mean, e->have_val);
        fmt_num(v[17], 48, "%.17g", e->val.tar_std, e->have_val);
        fmt_num(v[18], 48, "%.17g", e->val.far_mean, e->have_val);
        snprintf(v[19], 48, "%zu", e->s.points);
        snprintf(v[20], 48, "%zu", e->s.points_dropped);
        csv_row(out, N_SUMMARY, f);
    }
    out_commit(out);
}

static void write_tar_csv(const struct opts *o)
{
    struct lc_out *out = out_open(o, "tar_at_far.csv");
    const char *cols[] = {"run", "dataset", "far", "tar", "tar_lo", "tar_hi", "fpr_reached", "threshold",
                          "negatives", "false_accepts_allowed", "supported"};
    csv_row(out, 11, cols);
    for (int k = 0; k < g_nentries; k++) {
        const struct entry *e = &g_entries[k];
        for (int t = 0; t < e->s.n_far; t++) {
            char v[11][48];
            const char *f[11];
            for (int i = 0; i < 11; i++) v[i][0] = '\0', f[i] = v[i];
            f[0] = e->run;
            f[1] = e->dataset;
            snprintf(v[2], 48, "%g", e->s.far[t]);
            fmt_num(v[3], 48, "%.17g", e->s.tar[t], 1);
            fmt_num(v[4], 48, "%.17g", e->b.tar_lo[t], e->have_boot);
            fmt_num(v[5], 48, "%.17g", e->b.tar_hi[t], e->have_boot);
            fmt_num(v[6], 48, "%.17g", e->s.tar_fpr[t], 1);
            fmt_num(v[7], 48, "%.17g", e->s.tar_threshold[t], 1);
            snprintf(v[8], 48, "%zu", e->n_neg);
            snprintf(v[9], 48, "%llu", (unsigned long long)e->s.fp_allowed[t]);
            f[10] = e->s.supported[t] ? "yes" : "no";
            csv_row(out, 11, f);
        }
    }
    out_commit(out);
}

/* --------------------------------------------------------------- plots */

/* Datasets in order of first appearance. */
static int datasets(const char **names)
{
    int n = 0;
    for (int k = 0; k < g_nentries; k++) {
        int seen = 0;
        for (int i = 0; i < n; i++) seen |= strcmp(names[i], g_entries[k].dataset) == 0;
        if (!seen) names[n++] = g_entries[k].dataset;
    }
    return n;
}

/* A file name part from a dataset name. */
static void safe_name(char *dst, size_t n, const char *s)
{
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        dst[k++] = (isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.') ? *s : '_';
    dst[k] = '\0';
}

static void gp_string(struct lc_out *out, const char *s)
{
    outf(out, "\"");
    for (; *s; s++) outf(out, (*s == '"' || *s == '\\') ? "\\%c" : (*s == '@' || *s == '_' || *s == '^' || *s == '{' || *s == '}' || *s == '&') ? "\\\\%c" : "%c", *s);
    outf(out, "\"");
}

static void write_gnuplot(const struct opts *o, const char **names, int nd)
{
    struct lc_out *out = out_open(o, "plots.gp");
    outf(out, "# ROC and DET curves made by roc-report (%s %s). Run: gnuplot plots.gp\n", LC_TOOLKIT, LC_VERSION);
    outf(out, "# It writes roc-DATASET.{png,svg} and det-DATASET.{png,svg} beside itself.\n");
    outf(out, "if (!exists(\"prefix\")) prefix = ''\n");
    outf(out, "set datafile separator whitespace\nset key bottom right box opaque noautotitle\nset grid\n");
    for (int k = 0; k < g_nentries; k++) {
        const struct entry *e = &g_entries[k];
        outf(out, "$c%d << EOD\n", k);
        for (size_t i = 0; i < e->np; i++) outf(out, "%.9g %.9g\n", e->fpr[i], e->tpr[i]);
        outf(out, "EOD\n");
    }
    static const char *terms[2][2] = {{"svg", "set terminal svg size 720,540 dynamic enhanced font 'Helvetica,13'"},
                                      {"png", "set terminal pngcairo size 960,720 enhanced font 'Helvetica,13'"}};
    for (int d = 0; d < nd; d++) {
        char safe[160];
        safe_name(safe, sizeof safe, names[d]);
        double minfar = 1;
        for (int k = 0; k < g_nentries; k++)
            if (strcmp(g_entries[k].dataset, names[d]) == 0 && g_entries[k].n_neg)
                if (1.0 / (double)g_entries[k].n_neg < minfar) minfar = 1.0 / (double)g_entries[k].n_neg;
        double xmin = pow(10, floor(log10(minfar)));
        if (xmin < 1e-6) xmin = 1e-6;
        for (int t = 0; t < 2; t++) {
            outf(out, "\n%s\nset output prefix.'roc-%s.%s'\n", terms[t][1], safe, terms[t][0]);
            outf(out, "set title ");
            gp_string(out, names[d]);
            outf(out, "\nset logscale x\nset format x '10^{%%L}'\nset xrange [%g:1]\nset yrange [0:1.0001]\n", xmin);
            outf(out, "set xlabel 'False accept rate (FAR)'\nset ylabel 'True accept rate (TAR)'\n");
            outf(out, "set xtics auto\nset ytics auto\nplot ");
            int first = 1;
            for (int k = 0; k < g_nentries; k++) {
                if (strcmp(g_entries[k].dataset, names[d])) continue;
                outf(out, "%s$c%d using 1:2 with lines lw 2 title ", first ? "" : ", \\\n     ", k);
                gp_string(out, g_entries[k].run);
                first = 0;
            }
            outf(out, "\nunset logscale x\nset format x '%%g'\n");
            /* DET: miss rate against false accepts on normal-deviate axes */
            outf(out, "\nset output prefix.'det-%s.%s'\nset title ", safe, terms[t][0]);
            gp_string(out, names[d]);
            outf(out, " . ' (DET)'\n");
            outf(out, "set xlabel 'False accept rate (%%)'\nset ylabel 'False reject rate (%%)'\n");
            outf(out, "set xrange [invnorm(%g):invnorm(0.5)]\nset yrange [invnorm(0.0001):invnorm(0.5)]\n",
                  xmin > 1e-4 ? xmin : 1e-4);
            outf(out, "set xtics (");
            static const char *tics[] = {"0.01", "0.1", "0.5", "1", "2", "5", "10", "20", "40"};
            for (int i = 0; i < 9; i++) outf(out, "%s'%s' invnorm(%s/100.)", i ? ", " : "", tics[i], tics[i]);
            outf(out, ")\nset ytics (");
            for (int i = 0; i < 9; i++) outf(out, "%s'%s' invnorm(%s/100.)", i ? ", " : "", tics[i], tics[i]);
            outf(out, ")\nset key top right\nplot ");
            first = 1;
            for (int k = 0; k < g_nentries; k++) {
                if (strcmp(g_entries[k].dataset, names[d])) continue;
                outf(out, "%s$c%d using (invnorm($1)):($2 < 1 ? invnorm(1-$2) : NaN) with lines lw 2 title ",
                     first ? "" : ", \\\n     ", k);
                gp_string(out, g_entries[k].run);
                first = 0;
            }
            outf(out, "\nset key bottom right\nunset output\n");
        }
    }
    out_commit(out);
}

/* A program on PATH (or a path); NULL when not found. */
static char *which(const char *prog)
{
    if (strchr(prog, '/')) return access(prog, X_OK) == 0 ? strdup(prog) : NULL;
    const char *path = getenv("PATH");
    if (!path) return NULL;
    for (const char *p = path; *p;) {
        const char *c = strchr(p, ':');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char buf[4096];
        snprintf(buf, sizeof buf, "%.*s/%s", (int)l, l ? p : ".", prog);
        if (access(buf, X_OK) == 0) return strdup(buf);
        p += l + (c ? 1 : 0);
    }
    return NULL;
}

/* Run gnuplot on plots.gp in the output directory, writing its files under
 * temporary names that are renamed into place only when it succeeded.
 * Returns 0, or fills why. */
static int run_gnuplot(const struct opts *o, const char **names, int nd, char *why, size_t n)
{
    if (strcmp(o->gnuplot, "none") == 0) return snprintf(why, n, "not asked for (--gnuplot none)"), -1;
    char *prog = which(o->gnuplot);
    if (!prog) return snprintf(why, n, "gnuplot ('%s') was not found", o->gnuplot), -1;
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".tmp-%ld-", (long)getpid());
    char arg[128];
    snprintf(arg, sizeof arg, "prefix='%s'", prefix);
    char log[4096];
    snprintf(log, sizeof log, "%s/.gnuplot-%ld.log", o->outdir, (long)getpid());
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        free(prog);
        return snprintf(why, n, "fork failed: %s", strerror(errno)), -1;
    }
    if (pid == 0) {
        FILE *lf = freopen(log, "w", stderr);
        (void)lf;
        if (!freopen("/dev/null", "w", stdout)) _exit(126);
        if (chdir(o->outdir) != 0) _exit(126);
        execl(prog, "gnuplot", "-e", arg, "plots.gp", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    free(prog);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    char first_line[300] = "";
    FILE *lf = fopen(log, "r");
    if (lf) {
        if (!fgets(first_line, sizeof first_line, lf)) first_line[0] = '\0';
        first_line[strcspn(first_line, "\n")] = '\0';
        fclose(lf);
    }
    unlink(log);
    static const char *kinds[] = {"roc", "det"}, *exts[] = {"svg", "png"};
    int missing = 0;
    for (int d = 0; d < nd; d++) {
        char safe[160];
        safe_name(safe, sizeof safe, names[d]);
        for (int k = 0; k < 2; k++)
            for (int x = 0; x < 2; x++) {
                char tmp[4400], fin[4400];
                snprintf(tmp, sizeof tmp, "%s/%s%s-%s.%s", o->outdir, prefix, kinds[k], safe, exts[x]);
                snprintf(fin, sizeof fin, "%s/%s-%s.%s", o->outdir, kinds[k], safe, exts[x]);
                struct stat st;
                if (!ok || stat(tmp, &st) != 0 || st.st_size == 0) {
                    unlink(tmp);
                    missing = 1;
                } else if (rename(tmp, fin) != 0) {
                    missing = 1;
                }
            }
    }
    if (!ok || missing)
        return snprintf(why, n, "gnuplot failed (%s)", first_line[0] ? first_line : "no message"), -1;
    return 0;
}

/* --------------------------------------------------------------- HTML */

static void embed_svg(struct lc_out *out, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        outf(out, "<p class=note>(plot missing)</p>\n");
        return;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (!b) nomem();
    size_t got = fread(b, 1, (size_t)len, f);
    b[got] = '\0';
    fclose(f);
    char *svg = strstr(b, "<svg"); /* inline SVG: no XML declaration or DOCTYPE */
    struct lc_err err;
    if (svg && lc_out_write(out, svg, strlen(svg), &err)) fail(&err);
    free(b);
}

static void fmt_ci(char *b, size_t n, double v, int have_ci, double lo, double hi, int digits)
{
    if (have_ci) snprintf(b, n, "%.*f [%.*f, %.*f]", digits, v, digits, lo, digits, hi);
    else snprintf(b, n, "%.*f", digits, v);
}

static void write_html(const struct opts *o, const char **names, int nd, int plots, const char *skipped,
                       const char *cmd)
{
    struct lc_out *out = out_open(o, "index.html");
    const char *title = o->title ? o->title : "Face verification report";
    outf(out, "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n<title>");
    html_text(out, title);
    outf(out, "</title>\n<style>\nbody{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;"
              "padding:0 1em;color:#222}\ntable{border-collapse:collapse;margin:1em 0;font-size:14px}\n"
              "th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}\nth{background:#eee}\n"
              "td.l,th.l{text-align:left}\ntd.no{color:#999}\ncode,pre{font-size:13px;background:#f6f6f6}\n"
              "pre{padding:8px;overflow-x:auto;white-space:pre-wrap}\n.plots svg{max-width:49%%;height:auto}\n"
              ".note{color:#555;font-size:13px}\n</style>\n</head>\n<body>\n<h1>");
    html_text(out, title);
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    outf(out, "</h1>\n<p class=note>Made by roc-report (%s %s) on %s.", LC_TOOLKIT, LC_VERSION, date);
    if (o->bootstrap > 0)
        outf(out, " Intervals: %g%% stratified bootstrap, %d replicates, seed %lld.", o->level * 100, o->bootstrap,
             (long long)o->seed);
    outf(out, " TAR at a FAR target is the highest TAR of the exact ROC with FAR &le; target; a row is "
              "<em>supported</em> when the negatives allow at least one false accept there.</p>\n");
    for (int d = 0; d < nd; d++) {
        outf(out, "<h2>");
        html_text(out, names[d]);
        outf(out, "</h2>\n<table>\n<tr><th class=l>run</th><th>pairs</th><th>same / different</th><th>AUC</th>"
                  "<th>EER</th><th>best accuracy</th><th>10-fold accuracy</th><th>TAR@FAR=0.001, 10-fold</th></tr>\n");
        for (int k = 0; k < g_nentries; k++) {
            const struct entry *e = &g_entries[k];
            if (strcmp(e->dataset, names[d])) continue;
            char auc[96], acc[96], val[96];
            fmt_ci(auc, sizeof auc, e->s.auc, e->have_boot, e->b.auc_lo, e->b.auc_hi, 5);
            if (e->have_acc) snprintf(acc, sizeof acc, "%.5f &plusmn; %.5f", e->acc.acc_mean, e->acc.acc_std);
            else snprintf(acc, sizeof acc, "n/a");
            if (e->have_val) snprintf(val, sizeof val, "%.5f &plusmn; %.5f", e->val.tar_mean, e->val.tar_std);
            else snprintf(val, sizeof val, "n/a");
            outf(out, "<tr><td class=l>");
            html_text(out, e->run);
            outf(out, "</td><td>%zu</td><td>%zu / %zu</td><td>%s</td><td>%.5f</td><td>%.5f</td><td>%s</td><td>%s</td></tr>\n",
                 e->n, e->n_pos, e->n_neg, auc, e->s.eer, e->s.best_acc, acc, val);
        }
        outf(out, "</table>\n<table>\n<tr><th class=l>run</th>");
        for (int t = 0; t < o->n_far; t++) outf(out, "<th>TAR@FAR=%g</th>", o->fars[t]);
        outf(out, "</tr>\n");
        for (int k = 0; k < g_nentries; k++) {
            const struct entry *e = &g_entries[k];
            if (strcmp(e->dataset, names[d])) continue;
            outf(out, "<tr><td class=l>");
            html_text(out, e->run);
            outf(out, "</td>");
            for (int t = 0; t < e->s.n_far; t++) {
                char v[96];
                fmt_ci(v, sizeof v, e->s.tar[t], e->have_boot, e->b.tar_lo[t], e->b.tar_hi[t], 4);
                if (e->s.supported[t]) outf(out, "<td>%s</td>", v);
                else outf(out, "<td class=no title='%zu negatives: fewer than 1/FAR'>%s (unsupported)</td>", e->n_neg, v);
            }
            outf(out, "</tr>\n");
        }
        outf(out, "</table>\n");
        if (plots) {
            char safe[160], path[4400];
            safe_name(safe, sizeof safe, names[d]);
            outf(out, "<div class=plots>\n");
            snprintf(path, sizeof path, "%s/roc-%s.svg", o->outdir, safe);
            embed_svg(out, path);
            snprintf(path, sizeof path, "%s/det-%s.svg", o->outdir, safe);
            embed_svg(out, path);
            outf(out, "</div>\n");
        }
    }
    if (!plots) {
        outf(out, "<p class=note>Plots skipped: ");
        html_text(out, skipped);
        outf(out, ". Run <code>gnuplot plots.gp</code> in this directory to make them.</p>\n");
    }
    outf(out, "<h2>Inputs</h2>\n<table>\n<tr><th class=l>run</th><th class=l>file</th><th class=l>score</th>"
              "<th>bytes</th><th class=l>SHA-256</th></tr>\n");
    for (int i = 0; i < o->ninputs; i++) {
        const struct input *in = &o->in[i];
        outf(out, "<tr><td class=l>");
        html_text(out, in->run);
        outf(out, "</td><td class=l>");
        html_text(out, in->path);
        outf(out, "</td><td class=l>");
        html_text(out, in->kind);
        outf(out, "</td><td>%llu</td><td class=l><code>%s</code></td></tr>\n", (unsigned long long)in->bytes, in->sha);
    }
    outf(out, "</table>\n<h2>How it was made</h2>\n<pre>");
    html_text(out, cmd);
    outf(out, "</pre>\n");
    for (int i = 0; i < o->ninputs; i++) {
        if (!o->in[i].history) continue;
        outf(out, "<p class=note>");
        html_text(out, o->in[i].path);
        outf(out, " was made by:</p>\n<pre>");
        html_text(out, o->in[i].history);
        outf(out, "</pre>\n");
    }
    outf(out, "<p class=note>Tables: summary.csv, tar_at_far.csv, roc.csv; plots: plots.gp. "
              "Semantics: docs/roc-report.md.</p>\n</body>\n</html>\n");
    out_commit(out);
}

static void write_markdown(const struct opts *o, const char **names, int nd, int plots, const char *skipped,
                           const char *cmd)
{
    struct lc_out *out = out_open(o, "summary.md");
    outf(out, "# ");
    md_text(out, o->title ? o->title : "Face verification report");
    outf(out, "\n\n");
    if (o->bootstrap > 0)
        outf(out, "Brackets: %g%% stratified bootstrap intervals (%d replicates, seed %lld).\n",
             o->level * 100, o->bootstrap, (long long)o->seed);
    outf(out, "TAR@FAR: highest TAR of the exact ROC with FAR <= target; * marks targets the negatives cannot "
              "support (fewer than 1/FAR of them).\n");
    for (int d = 0; d < nd; d++) {
        outf(out, "\n## ");
        md_text(out, names[d]);
        outf(out, "\n\n| run | pairs | AUC | EER | best acc. | 10-fold acc. |");
        for (int t = 0; t < o->n_far; t++) outf(out, " TAR@%g |", o->fars[t]);
        outf(out, "\n|---|---:|---:|---:|---:|---:|");
        for (int t = 0; t < o->n_far; t++) outf(out, "---:|");
        outf(out, "\n");
        for (int k = 0; k < g_nentries; k++) {
            const struct entry *e = &g_entries[k];
            if (strcmp(e->dataset, names[d])) continue;
            char auc[96], acc[96];
            fmt_ci(auc, sizeof auc, e->s.auc, e->have_boot, e->b.auc_lo, e->b.auc_hi, 5);
            if (e->have_acc) snprintf(acc, sizeof acc, "%.5f ± %.5f", e->acc.acc_mean, e->acc.acc_std);
            else snprintf(acc, sizeof acc, "n/a");
            outf(out, "| ");
            md_text(out, e->run);
            outf(out, " | %zu | %s | %.5f | %.5f | %s |", e->n, auc, e->s.eer, e->s.best_acc, acc);
            for (int t = 0; t < e->s.n_far; t++) {
                char v[96];
                fmt_ci(v, sizeof v, e->s.tar[t], e->have_boot, e->b.tar_lo[t], e->b.tar_hi[t], 4);
                outf(out, " %s%s |", v, e->s.supported[t] ? "" : "*");
            }
            outf(out, "\n");
        }
        if (plots) {
            char safe[160];
            safe_name(safe, sizeof safe, names[d]);
            outf(out, "\n![ROC %s](roc-%s.svg) ![DET %s](det-%s.svg)\n", safe, safe, safe, safe);
        }
    }
    if (!plots) outf(out, "\nPlots skipped: %s.\n", skipped);
    outf(out, "\nInputs:\n\n");
    for (int i = 0; i < o->ninputs; i++) {
        outf(out, "- ");
        md_text(out, o->in[i].run);
        outf(out, ": `%s` (%llu bytes, sha256 `%s`)\n", o->in[i].path, (unsigned long long)o->in[i].bytes, o->in[i].sha);
    }
    outf(out, "\nMade by: `%s`\n", cmd);
    out_commit(out);
}

/* ---------------------------------------------------------------- args */

static int parse_fars(void *dest, const char *arg, struct lc_err *err)
{
    struct opts *o = dest;
    o->n_far = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        double v;
        if (o->n_far == LC_FAR_MAX) return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "at most %d FAR targets", LC_FAR_MAX);
        if (lc_parse_double(tok, &v, err)) return LC_EUSAGE;
        if (!(v > 0 && v <= 1)) return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "FAR %s is not in (0, 1]", tok);
        o->fars[o->n_far++] = v;
    }
    if (!o->n_far) return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "no FAR targets in '%s'", arg);
    return 0;
}

static void add_input(struct opts *o, const char *arg)
{
    if (o->ninputs == MAX_INPUTS) lc_tool_usage(NULL, "at most %d inputs", MAX_INPUTS);
    struct input *in = &o->in[o->ninputs++];
    const char *eq = strchr(arg, '=');
    const char *slash = strchr(arg, '/');
    if (eq && eq > arg && (!slash || eq < slash)) {
        char spec[260];
        snprintf(spec, sizeof spec, "%.*s", (int)(eq - arg), arg);
        char *colon = strchr(spec, ':');
        if (colon) {
            *colon = '\0';
            snprintf(in->dataset, sizeof in->dataset, "%s", colon + 1);
        }
        snprintf(in->run, sizeof in->run, "%.127s", spec);
        in->path = eq + 1;
    } else {
        in->path = arg;
        lc_path_stem(in->run, sizeof in->run, arg);
    }
    if (!in->run[0] || !*in->path) lc_tool_usage(NULL, "bad input '%s' (expected [RUN[:DATASET]=]FILE)", arg);
}

static void parse_args(struct opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->bootstrap = 1000;
    o->level = 0.95;
    o->seed = 1;
    o->tenfold = "auto";
    o->gnuplot = "gnuplot";
    o->plot_points = 2000;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cpus > 0 ? (int)cpus : 1;
    static const double def[6] = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};
    o->n_far = 6;
    memcpy(o->fars, def, sizeof def);
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "output", 'o', &o->outdir, "DIR", "the report directory (created if needed; each file is replaced atomically)"},
        {LC_OPT_STRING, "title", 't', &o->title, "TEXT", "title of the HTML and Markdown reports"},
        {LC_OPT_CALL, "far", 0, o, "LIST", "FAR targets, comma-separated (default 1e-1,1e-2,1e-3,1e-4,1e-5,1e-6)", parse_fars},
        {LC_OPT_INT, "bootstrap", 'b', &o->bootstrap, "N", "bootstrap replicates for the intervals of AUC and TAR@FAR (default 1000; 0: none)"},
        {LC_OPT_DOUBLE, "level", 0, &o->level, "P", "confidence level of the intervals (default 0.95)"},
        {LC_OPT_I64, "seed", 0, &o->seed, "N", "bootstrap seed (default 1): same seed, same intervals"},
        {LC_OPT_INT, "threads", 0, &o->threads, "N", "bootstrap threads (default: all CPUs; results do not depend on it)"},
        {LC_OPT_FLAG, "all-points", 0, &o->all_points, NULL, "roc.csv with every ROC point (default: sklearn's drop_intermediate)"},
        {LC_OPT_STRING, "tenfold", 0, &o->tenfold, "WHEN", "the reference's 10-fold accuracy: auto (default: when the scores are pairs in order), yes, no"},
        {LC_OPT_FLAG, "distance", 0, &o->distance, NULL, "lower scores mean 'same' (default: from the score's name)"},
        {LC_OPT_FLAG, "similarity", 0, &o->similarity, NULL, "higher scores mean 'same'"},
        {LC_OPT_STRING, "score-col", 0, &o->score_col, "COL", "CSV score column (default: score, cosine, sqeuclidean, similarity or distance)"},
        {LC_OPT_STRING, "label-col", 0, &o->label_col, "COL", "CSV label column (default: label)"},
        {LC_OPT_INT, "plot-points", 0, &o->plot_points, "N", "resolution of the plotted curves (default 2000; the CSV keeps every point)"},
        {LC_OPT_STRING, "gnuplot", 0, &o->gnuplot, "PROG", "the gnuplot program (default: gnuplot on PATH; none: no plots)"},
        {LC_OPT_FLAG, "progress", 0, &o->progress, NULL, "report each run and dataset on stderr as it is done"},
        {LC_OPT_END},
    };
    struct lc_tool t = {
        "roc-report", "Report ROC, DET, AUC, EER and TAR@FAR of score files as CSV, plots, HTML and Markdown.",
        "[options] -o DIR [RUN[:DATASET]=]SCORES...", "scores (streams or CSV from verify-pairs)",
        "no stream: a report directory (CSV, gnuplot PNG/SVG, HTML, Markdown)",
        "Each SCORES file is one run (named RUN, or by its file name) holding one or more datasets (a "
        "CSV's dataset column, a stream's dataset= metadata, or :DATASET). Standard input (-) is read "
        "as a stream.\n"
        "DIR receives summary.csv, tar_at_far.csv, roc.csv, plots.gp, roc-DATASET.{png,svg}, "
        "det-DATASET.{png,svg}, index.html (self-contained: tables, inline SVG, command line, input "
        "checksums) and summary.md. Without gnuplot everything but the images is written and the tool "
        "says what it skipped.\n"
        "Metrics: the exact ROC over all distinct scores as sklearn's roc_curve, AUC as roc_auc_score, "
        "EER where FAR equals 1-TAR on the ROC polyline, TAR at each FAR target (highest TAR with FAR <= "
        "target, with whether the negatives support it), best accuracy, and, for pairs in order, the "
        "reference's 10-fold accuracy and TAR@FAR=1e-3. Details: docs/roc-report.md."};
    int i = lc_opt_parse(&t, opts, argc, argv);
    for (; i < argc; i++) add_input(o, argv[i]);
    if (!o->outdir) lc_tool_usage(t.name, "-o DIR is required");
    if (!o->ninputs) lc_tool_usage(t.name, "expected at least one score file");
    if (o->bootstrap < 0 || o->bootstrap == 1 || o->bootstrap > 1000000)
        lc_tool_usage(t.name, "--bootstrap must be 0 or 2..1000000");
    if (!(o->level > 0 && o->level < 1)) lc_tool_usage(t.name, "--level must lie in (0, 1)");
    if (o->threads < 1 || o->threads > 64) lc_tool_usage(t.name, "--threads must lie in 1..64");
    if (o->plot_points < 10 || o->plot_points > 1000000) lc_tool_usage(t.name, "--plot-points must lie in 10..1000000");
    if (strcmp(o->tenfold, "auto") && strcmp(o->tenfold, "yes") && strcmp(o->tenfold, "no"))
        lc_tool_usage(t.name, "--tenfold must be auto, yes or no");
    if (o->distance && o->similarity) lc_tool_usage(t.name, "--distance and --similarity exclude each other");
    int stdin_uses = 0;
    for (int k = 0; k < o->ninputs; k++) stdin_uses += strcmp(o->in[k].path, "-") == 0;
    if (stdin_uses > 1) lc_tool_usage(t.name, "standard input can be read once only");
}

int main(int argc, char **argv)
{
    lc_tool_init("roc-report");
    g_argc = argc;
    g_argv = argv;
    struct opts o;
    parse_args(&o, argc, argv);
    struct lc_err err;
    if (mkdir(o.outdir, 0777) != 0 && errno != EEXIST) {
        lc_errno(&err, errno, o.outdir, "cannot create the report directory");
        fail(&err);
    }
    struct lc_out *roc_csv = out_open(&o, "roc.csv");
    const char *roc_cols[] = {"run", "dataset", "threshold", "fpr", "tpr"};
    csv_row(roc_csv, 5, roc_cols);
    for (int i = 0; i < o.ninputs; i++) { /* one file at a time: memory is one file's scores */
        struct input *in = &o.in[i];
        struct lc_scorefile sf;
        struct lc_scorefile_opts so = {.dataset = in->dataset[0] ? in->dataset : NULL, .score_col = o.score_col,
                                       .label_col = o.label_col, .distance = o.distance ? 1 : o.similarity ? 0 : -1};
        if (lc_scorefile_load(&sf, in->path, &so, &err)) fail(&err);
        if (strcmp(in->path, "-") == 0) snprintf(in->sha, sizeof in->sha, "n/a (standard input)");
        else if (lc_sha256_file(in->path, in->sha, &in->bytes, &err)) fail(&err);
        snprintf(in->kind, sizeof in->kind, "%.50s%s", sf.kind, sf.distance ? " (distance)" : "");
        if (sf.meta) { /* keep the history lines for the report */
            size_t cap = strlen(sf.meta) + 1, k = 0;
            in->history = calloc(cap, 1);
            if (!in->history) nomem();
            for (const char *p = sf.meta; *p;) {
                const char *e = strchr(p, '\n');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                if (l > 8 && strncmp(p, "history=", 8) == 0) k += (size_t)snprintf(in->history + k, cap - k, "%.*s\n", (int)(l - 8), p + 8);
                p += l + (e ? 1 : 0);
            }
        }
        for (int s = 0; s < sf.nsets; s++) {
            for (int k = 0; k < g_nentries; k++)
                if (strcmp(g_entries[k].run, in->run) == 0 && strcmp(g_entries[k].dataset, sf.sets[s].name) == 0) {
                    lc_errf(&err, LC_EUSAGE, in->path, -1, -1, "run '%s' has dataset '%s' twice (name runs: RUN=FILE)",
                            in->run, sf.sets[s].name);
                    fail(&err);
                }
            if (g_nentries == MAX_ENTRIES) lc_tool_usage(NULL, "at most %d run/dataset pairs", MAX_ENTRIES);
            struct entry *e = &g_entries[g_nentries++];
            e->run = in->run;
            e->input = i;
            snprintf(e->dataset, sizeof e->dataset, "%s", sf.sets[s].name);
            double t0 = lc_now();
            evaluate(&o, e, &sf, &sf.sets[s], roc_csv);
            if (o.progress)
                lc_tool_note("%s / %s: %zu scores, AUC %.6f, %.2f s", e->run, e->dataset, e->n, e->s.auc, lc_now() - t0);
        }
        lc_scorefile_free(&sf);
    }
    out_commit(roc_csv);
    write_summary_csv(&o);
    write_tar_csv(&o);
    const char *names[MAX_ENTRIES];
    int nd = datasets(names);
    write_gnuplot(&o, names, nd);
    char why[600] = "";
    int plots = run_gnuplot(&o, names, nd, why, sizeof why) == 0;
    char *cmd = command_line(argc, argv);
    write_html(&o, names, nd, plots, why, cmd);
    write_markdown(&o, names, nd, plots, why, cmd);
    lc_tool_note("wrote %s: summary.csv tar_at_far.csv roc.csv plots.gp %sindex.html summary.md", o.outdir,
                 plots ? "roc-*.png/svg det-*.png/svg " : "");
    if (!plots) lc_tool_note("skipped the PNG and SVG plots: %s (the report says so; plots.gp is written)", why);
    free(cmd);
    for (int k = 0; k < g_nentries; k++) free(g_entries[k].fpr), free(g_entries[k].tpr);
    for (int i = 0; i < o.ninputs; i++) free(o.in[i].history);
    return 0;
}
