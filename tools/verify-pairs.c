/* verify-pairs: score pairs of face embeddings and evaluate them by the
 * reference protocol (10-fold accuracy, TAR@FAR), for one or several named
 * datasets at once. Pairs come from adjacent records (as `.bin` sets
 * unpack), a pair list (LFW pairs.txt, CSV, "a b label" lines, a pairs
 * stream) or a gallery/probe set scored by blocked SGEMM. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embdist.h"
#include "io.h"
#include "metrics.h"
#include "opt.h"
#include "pairlist.h"
#include "scorefile.h"
#include "stream.h"
#include "tool.h"

#define MAX_DATASETS 64
#define MAX_DIM 65536

struct opts {
    const char *output, *csv, *summary, *score, *pairs, *pairs_format, *col_a, *col_b, *col_label;
    const char *same, *diff, *lfw_key, *probe, *matrix;
    int no_normalize, basename, strip_ext, gallery, top, block, progress, folds;
    double far;
    int kind; /* enum lc_score_kind */
    int nsets;
    char *names[MAX_DATASETS], *paths[MAX_DATASETS];
};

static int g_argc;
static char **g_argv;

__attribute__((noreturn)) static void fail(const struct lc_err *e) { lc_tool_fail(e); }
__attribute__((noreturn)) static void nomem(void)
{
    struct lc_err e;
    lc_errf(&e, LC_ENOMEM, NULL, -1, -1, "out of memory");
    fail(&e);
}
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) nomem();
    return p;
}

/* ------------------------------------------------------------ outputs */

/* Every output is opened up front and committed only when all datasets
 * succeeded, so a failed run leaves no partial file behind. */
#define MAX_OUTS (3 * MAX_DATASETS + 2)
static struct lc_out *g_outs[MAX_OUTS];
static int g_nouts;

static struct lc_out *open_out(const char *path, unsigned flags)
{
    struct lc_out *o;
    struct lc_err err;
    if (lc_out_open(&o, path, flags, &err)) fail(&err);
    g_outs[g_nouts++] = o;
    return o;
}

static void commit_all(void)
{
    struct lc_err err;
    for (int i = 0; i < g_nouts; i++)
        if (lc_out_commit(g_outs[i], &err)) fail(&err);
    g_nouts = 0;
}

/* "{dataset}" in a path template replaced by name. */
static char *expand(const char *tmpl, const char *name)
{
    const char *p = strstr(tmpl, "{dataset}");
    size_t n = strlen(tmpl) + strlen(name) + 1;
    char *s = xmalloc(n);
    if (!p) snprintf(s, n, "%s", tmpl);
    else snprintf(s, n, "%.*s%s%s", (int)(p - tmpl), tmpl, name, p + 9);
    return s;
}

static char *stream_meta(const struct opts *o, const char *name, const char *source, const char *order)
{
    char *m = NULL;
    if (lc_meta_set(&m, "score", lc_score_kind_name(o->kind)) || lc_meta_set(&m, "dataset", name) ||
        lc_meta_set(&m, "order", order) || lc_meta_set(&m, "normalized", o->no_normalize ? "no" : "yes") ||
        lc_meta_set(&m, "source", source) || lc_tool_history(&m, g_argc, g_argv))
        nomem();
    return m;
}

struct sink {
    struct lc_writer *w;  /* scores stream, or NULL */
    struct lc_out *csv;   /* CSV, or NULL */
    const char *name;
    int pair_col;         /* CSV rows carry the pair index */
};

static void csv_header(struct lc_out *csv, const struct opts *o, int pair_col)
{
    struct lc_err err;
    if (lc_csvw_field(csv, "dataset", 0, &err) || (pair_col && lc_csvw_field(csv, "pair", 0, &err)) ||
        lc_csvw_field(csv, "key_a", 0, &err) || lc_csvw_field(csv, "key_b", 0, &err) ||
        lc_csvw_field(csv, "label", 0, &err) || lc_csvw_field(csv, lc_score_kind_name(o->kind), 1, &err))
        fail(&err);
}

static void sink_pair(struct sink *s, uint64_t pair, const char *a, const char *b, int label, double score)
{
    struct lc_err err;
    if (s->w) {
        struct lc_record rec;
        char key[8192];
        int64_t labels[2];
        float f;
        if (lc_score_record(&rec, key, sizeof key, a, b, label, score, labels, &f, &err) ||
            lc_writer_write(s->w, &rec, &err))
            fail(&err);
    }
    if (s->csv) {
        if (lc_csvw_field(s->csv, s->name, 0, &err) ||
            (s->pair_col && lc_csvw_fieldf(s->csv, 0, &err, "%llu", (unsigned long long)pair)) ||
            lc_csvw_field(s->csv, a, 0, &err) || lc_csvw_field(s->csv, b, 0, &err) ||
            lc_csvw_fieldf(s->csv, 0, &err, "%d", label) || lc_csvw_fieldf(s->csv, 1, &err, "%.17g", score))
            fail(&err);
    }
}

static void sink_open(struct sink *s, const struct opts *o, const char *name, const char *source, int pair_mode,
                      struct lc_out *shared_csv)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->pair_col = pair_mode;
    if (o->output) {
        char *path = expand(o->output, name), *meta = stream_meta(o, name, source, pair_mode ? "pairs" : "gallery");
        struct lc_err err;
        struct lc_out *out = open_out(path, LC_OUT_BINARY);
        if (lc_writer_open_out(&s->w, out, LC_KIND_SCORES, meta, &err)) fail(&err);
        free(path);
        free(meta);
    }
    if (shared_csv) {
        s->csv = shared_csv;
    } else if (o->csv) {
        char *path = expand(o->csv, name);
        s->csv = open_out(path, 0);
        csv_header(s->csv, o, pair_mode);
        free(path);
    }
}

static void sink_close(struct sink *s)
{
    struct lc_err err;
    if (s->w && lc_writer_close(s->w, &err)) fail(&err);
    s->w = NULL;
}

/* ------------------------------------------------------- embeddings */

static struct lc_reader *open_embeddings(const char *path)
{
    struct lc_reader *r;
    struct lc_err err;
    if (lc_reader_open(&r, path, &err) || lc_reader_expect_kind(r, LC_KIND_EMBEDDINGS, &err)) fail(&err);
    return r;
}

/* Next record with its embedding as float64 (normalised unless asked not
 * to); 0 at the end. */
static int next_embedding(struct lc_reader *r, struct lc_record *rec, double *v, size_t *D, size_t want_D,
                          const struct opts *o, double *scratch)
{
    struct lc_err err;
    int rc = lc_reader_next(r, rec, &err);
    if (rc < 0) fail(&err);
    if (!rc) return 0;
    if (lc_reader_payload(r, rec, &err) || lc_emb_from_record(v, MAX_DIM, D, rec, lc_reader_name(r), &err)) fail(&err);
    if (want_D && *D != want_D) {
        lc_errf(&err, LC_EFORMAT, lc_reader_name(r), (int64_t)rec->index, (int64_t)rec->offset,
                "record '%s' has dimension %zu, earlier records %zu", rec->key, *D, want_D);
        fail(&err);
    }
    if (!o->no_normalize && lc_emb_normalize(v, *D, scratch, &err)) {
        char why[512];
        snprintf(why, sizeof why, "%s", err.msg);
        lc_errf(&err, LC_EINVAL, lc_reader_name(r), (int64_t)rec->index, (int64_t)rec->offset, "record '%s': %s",
                rec->key, why);
        fail(&err);
    }
    return 1;
}

/* A whole embeddings file in memory (pair lists and galleries need random
 * access). */
struct embset {
    size_t n, cap, D;
    double *v;      /* (n, D) float64, or NULL when only f32 is kept */
    float *f;       /* (n, D) float32 copy for SGEMM, or NULL */
    char **key;
    int64_t *label; /* labels[0], or INT64_MIN when the record has none */
};

static void embset_load(struct embset *e, const char *path, const struct opts *o, int keep_f64, int keep_f32)
{
    memset(e, 0, sizeof *e);
    struct lc_reader *r = open_embeddings(path);
    double *v = xmalloc(MAX_DIM * sizeof *v), *scratch = xmalloc(MAX_DIM * sizeof *scratch);
    struct lc_record rec;
    struct lc_progress pr;
    lc_progress_start(&pr, o->progress, 0, "embeddings");
    size_t D = 0;
    while (next_embedding(r, &rec, v, &D, e->D, o, scratch)) {
        if (!e->D) e->D = D;
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 1024;
            if (keep_f64 && !(e->v = realloc(e->v, e->cap * D * sizeof *e->v))) nomem();
            if (keep_f32 && !(e->f = realloc(e->f, e->cap * D * sizeof *e->f))) nomem();
            if (!(e->key = realloc(e->key, e->cap * sizeof *e->key))) nomem();
            if (!(e->label = realloc(e->label, e->cap * sizeof *e->label))) nomem();
        }
        if (keep_f64) memcpy(e->v + e->n * D, v, D * sizeof *v);
        if (keep_f32)
            for (size_t i = 0; i < D; i++) e->f[e->n * D + i] = (float)v[i];
        if (!(e->key[e->n] = strdup(rec.key))) nomem();
        e->label[e->n] = rec.n_labels ? rec.labels[0] : INT64_MIN;
        e->n++;
        lc_progress_update(&pr, e->n);
    }
    lc_progress_end(&pr, e->n);
    if (!e->n) {
        struct lc_err err;
        lc_errf(&err, LC_EFORMAT, lc_reader_name(r), -1, -1, "no embeddings in the stream");
        fail(&err);
    }
    lc_reader_free(r);
    free(v);
    free(scratch);
}

static void embset_free(struct embset *e)
{
    for (size_t i = 0; i < e->n; i++) free(e->key[i]);
    free(e->key);
    free(e->label);
    free(e->v);
    free(e->f);
}

/* ------------------------------------------------------- evaluation */

/* What one dataset produced, for the summary. */
struct result {
    const char *name;
    size_t pairs, same;
    int have_acc, have_val, have_roc, gallery;
    struct lc_tenfold acc;
    struct lc_val val;
    double auc, eer;
    char acc_why[600], val_why[600];
    /* gallery */
    size_t probes, gallery_n, rank1_probes, rank1_hits;
    double seconds, gflop;
};

static void evaluate(struct result *res, double *dist, uint8_t *same, double *score, size_t n,
                     const struct opts *o, const char *source)
{
    struct lc_err err;
    res->pairs = n;
    res->same = 0;
    for (size_t i = 0; i < n; i++) res->same += same[i];
    if (res->same == 0 || res->same == n) {
        lc_errf(&err, LC_EINVAL, source, -1, -1,
                "dataset '%s': all %zu pairs are %s; verification needs both same and different pairs", res->name, n,
                res->same ? "'same'" : "'different'");
        fail(&err);
    }
    struct lc_protocol p;
    lc_protocol_default(&p);
    p.folds = o->folds;
    p.far_target = o->far;
    if (lc_tenfold_accuracy(&res->acc, dist, same, n, &p, &err) == 0) res->have_acc = 1;
    else snprintf(res->acc_why, sizeof res->acc_why, "%s", err.msg);
    if (lc_tenfold_val(&res->val, dist, same, n, &p, &err) == 0) res->have_val = 1;
    else snprintf(res->val_why, sizeof res->val_why, "%s", err.msg);
    struct lc_roc roc;
    struct lc_roc_summary s;
    if (lc_roc_init(&roc, score, same, n, o->kind == LC_SCORE_SQEUCLIDEAN, 0, &err) ||
        lc_roc_summarize(&s, &roc, NULL, 0, &err))
        fail(&err);
    res->auc = s.auc;
    res->eer = s.eer;
    res->have_roc = 1;
    lc_roc_free(&roc);
}

static void report(const struct result *r, const struct opts *o)
{
    char acc[256], val[256];
    if (r->gallery) {
        char rank[128] = "";
        if (r->rank1_probes)
            snprintf(rank, sizeof rank, "; rank-1 identification %.6f (%zu of %zu probes)",
                     (double)r->rank1_hits / (double)r->rank1_probes, r->rank1_hits, r->rank1_probes);
        lc_tool_note("%s: %zu probes x %zu gallery, %zu pairs scored (%zu same)%s; SGEMM %.3g GFLOP in %.3f s", r->name,
                     r->probes, r->gallery_n, r->pairs, r->same, rank, r->gflop, r->seconds);
        return;
    }
    if (r->have_acc)
        snprintf(acc, sizeof acc, "%d-fold accuracy %.6f +- %.6f, threshold %.4f", r->acc.folds, r->acc.acc_mean,
                 r->acc.acc_std, r->acc.threshold_mean);
    else snprintf(acc, sizeof acc, "%d-fold accuracy n/a (%s)", o->folds, r->acc_why);
    if (r->have_val)
        snprintf(val, sizeof val, "TAR %.6f +- %.6f at FAR %.6f (target %g)", r->val.tar_mean, r->val.tar_std,
                 r->val.far_mean, o->far);
    else snprintf(val, sizeof val, "TAR@FAR=%g n/a (%.200s)", o->far, r->val_why);
    lc_tool_note("%s: %zu pairs (%zu same, %zu different): %s; %s; AUC %.6f, EER %.6f", r->name, r->pairs, r->same,
                 r->pairs - r->same, acc, val, r->auc, r->eer);
}

/* ------------------------------------------------------- pair modes */

struct pairbuf {
    size_t n, cap;
    double *dist, *score;
    uint8_t *same;
};

static void pairbuf_add(struct pairbuf *b, double dist, double score, int same)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        if (!(b->dist = realloc(b->dist, b->cap * sizeof *b->dist)) ||
            !(b->score = realloc(b->score, b->cap * sizeof *b->score)) || !(b->same = realloc(b->same, b->cap)))
            nomem();
    }
    b->dist[b->n] = dist;
    b->score[b->n] = score;
    b->same[b->n] = (uint8_t)same;
    b->n++;
}

static void pairbuf_free(struct pairbuf *b)
{
    free(b->dist);
    free(b->score);
    free(b->same);
}

static void score_pair(const double *a, const double *b, size_t D, const struct opts *o, double *scratch,
                       double *dist, double *score)
{
    *dist = lc_emb_sqdist(a, b, D, scratch);
    *score = o->kind == LC_SCORE_COSINE ? lc_emb_dot(a, b, D, scratch) : *dist;
}

static int pair_label(const struct lc_record *rec, const char *path)
{
    struct lc_err err;
    if (!rec->n_labels || (rec->labels[0] != 0 && rec->labels[0] != 1)) {
        lc_errf(&err, LC_EFORMAT, path, (int64_t)rec->index, (int64_t)rec->offset,
                "record '%s': labels[0] must hold the pair's issame (1 same, 0 different), got %s%lld", rec->key,
                rec->n_labels ? "" : "no label", rec->n_labels ? (long long)rec->labels[0] : 0LL);
        fail(&err);
    }
    return (int)rec->labels[0];
}

/* Records 2i and 2i+1 form pair i; both carry its issame in labels[0]. */
static void run_adjacent(struct result *res, const struct opts *o, const char *path, struct sink *s)
{
    struct lc_reader *r = open_embeddings(path);
    const char *name = lc_reader_name(r);
    double *a = xmalloc(MAX_DIM * sizeof *a), *b = xmalloc(MAX_DIM * sizeof *b),
           *scratch = xmalloc(MAX_DIM * sizeof *scratch);
    struct lc_record rec;
    struct pairbuf pb = {0};
    struct lc_progress pr;
    lc_progress_start(&pr, o->progress, 0, "pairs");
    size_t D = 0, Db;
    char key_a[4096];
    struct lc_err err;
    for (;;) {
        if (!next_embedding(r, &rec, a, &D, D, o, scratch)) break;
        int la = pair_label(&rec, name);
        uint64_t ia = rec.index;
        snprintf(key_a, sizeof key_a, "%s", rec.key);
        if (!next_embedding(r, &rec, b, &Db, D, o, scratch)) {
            lc_errf(&err, LC_EFORMAT, name, (int64_t)ia, -1,
                    "odd number of records (%llu): adjacent pairs need 2 per pair (the last record '%s' has no partner)",
                    (unsigned long long)ia + 1, key_a);
            fail(&err);
        }
        int lb = pair_label(&rec, name);
        if (la != lb) {
            lc_errf(&err, LC_EFORMAT, name, (int64_t)rec.index, (int64_t)rec.offset,
                    "records %llu ('%s') and %llu ('%s') form pair %zu but disagree on its label (%d and %d)",
                    (unsigned long long)ia, key_a, (unsigned long long)rec.index, rec.key, pb.n, la, lb);
            fail(&err);
        }
        double dist, score;
        score_pair(a, b, D, o, scratch, &dist, &score);
        sink_pair(s, pb.n, key_a, rec.key, la, score);
        pairbuf_add(&pb, dist, score, la);
        lc_progress_update(&pr, pb.n);
    }
    lc_progress_end(&pr, pb.n);
    if (!pb.n) {
        lc_errf(&err, LC_EFORMAT, name, -1, -1, "no embeddings in the stream");
        fail(&err);
    }
    evaluate(res, pb.dist, pb.same, pb.score, pb.n, o, name);
    lc_reader_free(r);
    pairbuf_free(&pb);
    free(a);
    free(b);
    free(scratch);
}

static size_t resolve(const struct lc_keymap *m, const char *key, const struct opts *o, const char *list_path,
                      uint64_t line, const char *emb_path, size_t n_emb)
{
    char form[4096];
    lc_key_match_form(form, sizeof form, key, o->basename, o->strip_ext);
    size_t i = lc_keymap_get(m, form);
    if (i < LC_KEYMAP_AMBIGUOUS) return i;
    struct lc_err err;
    if (i == LC_KEYMAP_AMBIGUOUS)
        lc_errf(&err, LC_EFORMAT, list_path, -1, -1,
                "line %llu: key '%s' (matched as '%s') fits several embeddings of %s", (unsigned long long)line, key,
                form, emb_path);
    else
        lc_errf(&err, LC_EFORMAT, list_path, -1, -1,
                "line %llu: key '%s' (matched as '%s') is not among the %zu embeddings of %s%s",
                (unsigned long long)line, key, form, n_emb, emb_path,
                o->basename && o->strip_ext ? "" : " (see --basename and --strip-ext)");
    fail(&err);
}

static void run_list(struct result *res, const struct opts *o, const char *path, const struct lc_pairlist *pl,
                     struct sink *s)
{
    struct embset e;
    embset_load(&e, path, o, 1, 0);
    struct lc_keymap *m;
    struct lc_err err;
    if (lc_keymap_init(&m, e.n, &err)) fail(&err);
    for (size_t i = 0; i < e.n; i++) {
        char form[4096];
        lc_key_match_form(form, sizeof form, e.key[i], o->basename, o->strip_ext);
        if (lc_keymap_put(m, form, i)) nomem();
    }
    double *scratch = xmalloc(e.D * sizeof *scratch);
    struct pairbuf pb = {0};
    struct lc_progress pr;
    lc_progress_start(&pr, o->progress, pl->n, "pairs");
    for (size_t k = 0; k < pl->n; k++) {
        const struct lc_pair *p = &pl->pairs[k];
        size_t ia = resolve(m, p->a, o, o->pairs, p->line, path, e.n);
        size_t ib = resolve(m, p->b, o, o->pairs, p->line, path, e.n);
        double dist, score;
        score_pair(e.v + ia * e.D, e.v + ib * e.D, e.D, o, scratch, &dist, &score);
        sink_pair(s, k, e.key[ia], e.key[ib], p->label, score);
        pairbuf_add(&pb, dist, score, p->label);
        lc_progress_update(&pr, k + 1);
    }
    lc_progress_end(&pr, pl->n);
    evaluate(res, pb.dist, pb.same, pb.score, pb.n, o, o->pairs);
    lc_keymap_free(m);
    pairbuf_free(&pb);
    free(scratch);
    embset_free(&e);
}

/* ---------------------------------------------------- gallery / probe */

struct topk {
    int k, n;
    float *s;
    size_t *j;
};

/* Keep the k best (higher is better when better_high) in order. */
static void topk_offer(struct topk *t, float s, size_t j, int better_high)
{
    if (t->n == t->k) {
        float worst = t->s[t->n - 1];
        if (better_high ? !(s > worst) : !(s < worst)) return;
        t->n--;
    }
    int i = t->n++;
    while (i > 0 && (better_high ? s > t->s[i - 1] : s < t->s[i - 1])) {
        t->s[i] = t->s[i - 1];
        t->j[i] = t->j[i - 1];
        i--;
    }
    t->s[i] = s;
    t->j[i] = j;
}

static int same_label(int64_t a, int64_t b) { return a == INT64_MIN || b == INT64_MIN ? -1 : a == b; }

static void run_gallery(struct result *res, const struct opts *o, const char *path, struct sink *s,
                        struct lc_writer *matrix)
{
    struct embset g;
    embset_load(&g, path, o, 0, 1);
    size_t D = g.D, G = g.n, B = (size_t)o->block;
    int all_vs_all = !o->probe, high = o->kind == LC_SCORE_COSINE;
    struct lc_reader *pr_r = all_vs_all ? NULL : open_embeddings(o->probe);
    float *P = xmalloc(B * D * sizeof *P), *S = xmalloc(B * G * sizeof *S);
    double *v = xmalloc(MAX_DIM * sizeof *v), *scratch = xmalloc(MAX_DIM * sizeof *scratch);
    char **pkey = xmalloc(B * sizeof *pkey);
    int64_t *plabel = xmalloc(B * sizeof *plabel);
    for (size_t i = 0; i < B; i++) pkey[i] = NULL;
    struct topk t = {.k = o->top};
    if (o->top) {
        t.s = xmalloc((size_t)o->top * sizeof *t.s);
        t.j = xmalloc((size_t)o->top * sizeof *t.j);
    }
    struct lc_progress prog;
    lc_progress_start(&prog, o->progress, all_vs_all ? G : 0, "probes");
    size_t done = 0, pairs = 0, same = 0;
    double gemm_s = 0;
    int labelled = 1;
    for (;;) {
        size_t nb = 0; /* fill a block of probes */
        if (all_vs_all) {
            nb = G - done < B ? G - done : B;
            memcpy(P, g.f + done * D, nb * D * sizeof *P);
            for (size_t i = 0; i < nb; i++) {
                pkey[i] = g.key[done + i];
                plabel[i] = g.label[done + i];
            }
        } else {
            struct lc_record rec;
            size_t Dp;
            while (nb < B && next_embedding(pr_r, &rec, v, &Dp, D, o, scratch)) {
                for (size_t i = 0; i < D; i++) P[nb * D + i] = (float)v[i];
                free(pkey[nb]);
                if (!(pkey[nb] = strdup(rec.key))) nomem();
                plabel[nb] = rec.n_labels ? rec.labels[0] : INT64_MIN;
                nb++;
            }
        }
        if (!nb) break;
        double t0 = lc_now();
        lc_emb_score_block(S, P, nb, g.f, G, D, o->kind);
        gemm_s += lc_now() - t0;
        for (size_t i = 0; i < nb; i++) {
            size_t gi = done + i; /* the probe's index (its gallery index in all-vs-all) */
            const float *row = S + i * G;
            if (matrix) {
                struct lc_record rec = {.key = pkey[i]};
                int64_t lab = plabel[i];
                if (lab != INT64_MIN) rec.labels = &lab, rec.n_labels = 1;
                uint32_t dims[1] = {(uint32_t)G};
                lc_record_set_tensor(&rec, LC_DTYPE_F32, 1, dims, row);
                struct lc_err err;
                if (lc_writer_write(matrix, &rec, &err)) fail(&err);
            }
            t.n = 0;
            size_t best = SIZE_MAX;
            for (size_t j = 0; j < G; j++) {
                if (all_vs_all && j == gi) continue;
                if (best == SIZE_MAX || (high ? row[j] > row[best] : row[j] < row[best])) best = j;
                if (o->top) topk_offer(&t, row[j], j, high);
            }
            if (plabel[i] == INT64_MIN) labelled = 0;
            if (best != SIZE_MAX && same_label(plabel[i], g.label[best]) >= 0) {
                res->rank1_probes++;
                res->rank1_hits += (size_t)same_label(plabel[i], g.label[best]);
            }
            if (o->top) {
                for (int k = 0; k < t.n; k++) {
                    int l = same_label(plabel[i], g.label[t.j[k]]);
                    sink_pair(s, pairs, pkey[i], g.key[t.j[k]], l, row[t.j[k]]);
                    pairs++;
                    same += l == 1;
                }
            } else {
                for (size_t j = all_vs_all ? gi + 1 : 0; j < G; j++) {
                    int l = same_label(plabel[i], g.label[j]);
                    if (s->w || s->csv) sink_pair(s, pairs, pkey[i], g.key[j], l, row[j]);
                    pairs++;
                    same += l == 1;
                }
            }
        }
        done += nb;
        lc_progress_update(&prog, done);
    }
    lc_progress_end(&prog, done);
    res->gallery = 1;
    res->probes = done;
    res->gallery_n = G;
    res->pairs = pairs;
    res->same = labelled ? same : 0;
    res->seconds = gemm_s;
    res->gflop = 2.0 * (double)done * (double)G * (double)D / 1e9;
    if (pr_r) lc_reader_free(pr_r);
    if (!all_vs_all)
        for (size_t i = 0; i < B; i++) free(pkey[i]);
    free(pkey);
    free(plabel);
    free(P);
    free(S);
    free(v);
    free(scratch);
    free(t.s);
    free(t.j);
    embset_free(&g);
}

/* ------------------------------------------------------------- summary */

static void write_summary(const struct opts *o, const struct result *res, int n)
{
    struct lc_out *out = open_out(o->summary, 0);
    struct lc_err err;
    static const char *cols[] = {"dataset", "pairs",    "same",     "different", "acc_mean", "acc_std", "threshold_mean",
                                 "tar_mean", "tar_std", "far_mean", "far_target", "auc",     "eer"};
    size_t nc = sizeof cols / sizeof *cols;
    for (size_t c = 0; c < nc; c++)
        if (lc_csvw_field(out, cols[c], c + 1 == nc, &err)) fail(&err);
    double acc[MAX_DATASETS], thr[MAX_DATASETS], tar[MAX_DATASETS], auc[MAX_DATASETS];
    int na = 0, nv = 0;
    for (int i = 0; i < n; i++) {
        const struct result *r = &res[i];
        char f[13][40];
        memset(f, 0, sizeof f);
        snprintf(f[1], 40, "%zu", r->pairs);
        snprintf(f[2], 40, "%zu", r->same);
        snprintf(f[3], 40, "%zu", r->pairs - r->same);
        if (r->have_acc) {
            snprintf(f[4], 40, "%.17g", r->acc.acc_mean);
            snprintf(f[5], 40, "%.17g", r->acc.acc_std);
            snprintf(f[6], 40, "%.17g", r->acc.threshold_mean);
            acc[na] = r->acc.acc_mean;
            thr[na++] = r->acc.threshold_mean;
        }
        if (r->have_val) {
            snprintf(f[7], 40, "%.17g", r->val.tar_mean);
            snprintf(f[8], 40, "%.17g", r->val.tar_std);
            snprintf(f[9], 40, "%.17g", r->val.far_mean);
            tar[nv++] = r->val.tar_mean;
        }
        snprintf(f[10], 40, "%.17g", o->far);
        if (r->have_roc) {
            snprintf(f[11], 40, "%.17g", r->auc);
            snprintf(f[12], 40, "%.17g", r->eer);
            auc[i] = r->auc;
        }
        if (lc_csvw_field(out, r->name, 0, &err)) fail(&err);
        for (size_t c = 1; c < nc; c++)
            if (lc_csvw_field(out, f[c], c + 1 == nc, &err)) fail(&err);
    }
    if (n > 1) { /* the reference reports the mean accuracy over its datasets */
        char a[40] = "", t[40] = "", v[40] = "", u[40] = "";
        if (na) snprintf(a, 40, "%.17g", lc_np_mean(acc, (size_t)na)), snprintf(t, 40, "%.17g", lc_np_mean(thr, (size_t)na));
        if (nv == n) snprintf(v, 40, "%.17g", lc_np_mean(tar, (size_t)nv));
        int all_roc = 1;
        for (int i = 0; i < n; i++) all_roc &= res[i].have_roc;
        if (all_roc) snprintf(u, 40, "%.17g", lc_np_mean(auc, (size_t)n));
        const char *row[13] = {"mean", "", "", "", a, "", t, v, "", "", "", u, ""};
        for (size_t c = 0; c < nc; c++)
            if (lc_csvw_field(out, row[c], c + 1 == nc, &err)) fail(&err);
    }
}

/* ---------------------------------------------------------------- args */

static int add_dataset(struct opts *o, char *arg)
{
    if (o->nsets == MAX_DATASETS) lc_tool_usage(NULL, "at most %d datasets", MAX_DATASETS);
    char *eq = strchr(arg, '=');
    char *slash = strchr(arg, '/');
    static char stems[MAX_DATASETS][128];
    if (eq && (!slash || eq < slash) && eq > arg) { /* argv stays whole: history= shows it */
        snprintf(stems[o->nsets], sizeof stems[0], "%.*s", (int)(eq - arg < 127 ? eq - arg : 127), arg);
        o->names[o->nsets] = stems[o->nsets];
        o->paths[o->nsets] = eq + 1;
    } else {
        o->paths[o->nsets] = arg;
        lc_path_stem(stems[o->nsets], sizeof stems[0], arg);
        o->names[o->nsets] = stems[o->nsets];
    }
    for (const char *p = o->names[o->nsets]; *p; p++)
        if (*p == ',' || *p == '\n' || *p == '/' || *p == '\t')
            lc_tool_usage(NULL, "dataset name '%s' must not hold ',', '/', TAB or newlines", o->names[o->nsets]);
    for (int i = 0; i < o->nsets; i++)
        if (strcmp(o->names[i], o->names[o->nsets]) == 0)
            lc_tool_usage(NULL, "dataset name '%s' given twice (name them: NAME=FILE)", o->names[i]);
    return o->nsets++;
}

static void parse_args(struct opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->score = "cosine";
    o->block = 1024;
    o->folds = 10;
    o->far = 1e-3;
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "output", 'o', &o->output, "FILE", "scores stream (kind scores); {dataset} in FILE is replaced by the dataset's name (needed with several datasets)"},
        {LC_OPT_STRING, "csv", 0, &o->csv, "FILE", "scores as CSV: dataset,pair,key_a,key_b,label,<score> (one file for all datasets, or one each with {dataset})"},
        {LC_OPT_STRING, "summary", 0, &o->summary, "FILE", "one CSV row per dataset (and their mean): pairs, accuracy, TAR@FAR, AUC, EER"},
        {LC_OPT_STRING, "score", 's', &o->score, "KIND", "cosine (default) or sqeuclidean (squared L2 of normalised embeddings)"},
        {LC_OPT_FLAG, "no-normalize", 0, &o->no_normalize, NULL, "use the embeddings as stored (default: L2-normalise each in float64)"},
        {LC_OPT_STRING, "pairs", 'p', &o->pairs, "FILE", "pair list: LFW pairs.txt, CSV, 'a b label' lines or a pairs stream (default: records 2i and 2i+1 form pair i)"},
        {LC_OPT_STRING, "pairs-format", 0, &o->pairs_format, "FMT", "auto (default), lfw, csv, ssv or sft"},
        {LC_OPT_STRING, "key-a", 0, &o->col_a, "COL", "CSV column of the first key (name or 1-based number; default the first)"},
        {LC_OPT_STRING, "key-b", 0, &o->col_b, "COL", "CSV column of the second key (default the second)"},
        {LC_OPT_STRING, "label-col", 0, &o->col_label, "COL", "CSV label column (default: one named decision, label, issame, same, match or target, else the third)"},
        {LC_OPT_STRING, "same", 0, &o->same, "WORDS", "comma-separated spellings of 'same' (default 1,yes,true,same,y,t; any case)"},
        {LC_OPT_STRING, "different", 0, &o->diff, "WORDS", "spellings of 'different' (default 0,no,false,different,diff,n,f)"},
        {LC_OPT_STRING, "lfw-key", 0, &o->lfw_key, "TEMPLATE", "key of an LFW image from {name} and {num} or {num4} (default {name}/{name}_{num4})"},
        {LC_OPT_FLAG, "basename", 0, &o->basename, NULL, "match keys by the part after the last '/' only"},
        {LC_OPT_FLAG, "strip-ext", 0, &o->strip_ext, NULL, "match keys without their file extension"},
        {LC_OPT_FLAG, "gallery", 'g', &o->gallery, NULL, "gallery mode: score every pair of the input (i < j) by blocked SGEMM"},
        {LC_OPT_STRING, "probe", 0, &o->probe, "FILE", "gallery mode with probes: score every probe of FILE against the input"},
        {LC_OPT_STRING, "matrix", 0, &o->matrix, "FILE", "gallery mode: the full score matrix, one record per probe (kind scorerows, f32 (G,))"},
        {LC_OPT_INT, "top", 'k', &o->top, "K", "gallery mode: keep only each probe's K best matches as pairs"},
        {LC_OPT_INT, "block", 0, &o->block, "N", "gallery mode: probes per SGEMM block (default 1024); memory ~ 4*N*(G+D) bytes"},
        {LC_OPT_INT, "folds", 0, &o->folds, "N", "folds of the protocol (default 10)"},
        {LC_OPT_DOUBLE, "far", 0, &o->far, "F", "FAR target of the reference TAR@FAR (default 0.001)"},
        {LC_OPT_FLAG, "progress", 0, &o->progress, NULL, "report progress on stderr"},
        {LC_OPT_END},
    };
    struct lc_tool t = {
        "verify-pairs", "Score face pairs and evaluate them by the reference verification protocol.",
        "[options] [NAME=]EMBEDDINGS...", "embeddings (and pairs, with --pairs)", "scores (and scorerows, with --matrix)",
        "Each EMBEDDINGS stream is one dataset, named NAME or by its file name; several datasets are "
        "evaluated in one run and their mean accuracy reported, as the reference validates agedb_30, "
        "cfp_fp, lfw, cplfw and calfw.\n"
        "Pairs: by default records 2i and 2i+1 form pair i and both hold its issame in labels[0] "
        "(1 same, 0 different), as a .bin validation set unpacks. --pairs FILE names the pairs instead "
        "and joins them to the embeddings by key (--basename, --strip-ext loosen the match).\n"
        "Protocol (per dataset, on squared L2 distances of the normalised embeddings in float64, bit for "
        "bit as numpy): KFold(10) without shuffling; per fold the threshold of 0.00, 0.01, ..., 3.99 "
        "with the best training accuracy (the first on ties), predicting same where dist < threshold; "
        "mean and std of the fold accuracies and the mean threshold. TAR@FAR as insightface's "
        "calculate_val (thresholds 0.000 ... 3.999, interp1d slinear). Also AUC and EER of the exact ROC.\n"
        "One line per dataset on stderr; --summary writes them as CSV. Gallery mode (--gallery or "
        "--probe) scores blocks of probes against the whole gallery with cblas_sgemm and reports "
        "rank-1 identification when records carry class labels; outputs stream out block by block.\n"
        "Details: docs/verify-pairs.md."};
    int i = lc_opt_parse(&t, opts, argc, argv);
    for (; i < argc; i++) add_dataset(o, argv[i]);
    if (!o->nsets) lc_tool_usage(t.name, "expected at least one embeddings stream (or - for stdin)");
    if ((o->kind = lc_score_kind_parse(o->score)) < 0) lc_tool_usage(t.name, "--score must be cosine or sqeuclidean");
    if (o->probe) o->gallery = 1;
    if (o->gallery && o->pairs) lc_tool_usage(t.name, "--pairs does not combine with gallery mode");
    if (!o->gallery && (o->matrix || o->top)) lc_tool_usage(t.name, "--matrix and --top need --gallery or --probe");
    if (o->top < 0 || o->top > 100000) lc_tool_usage(t.name, "--top must lie in 0..100000");
    if (o->block < 1 || o->block > 1000000) lc_tool_usage(t.name, "--block must lie in 1..1000000");
    if (o->folds < 1 || o->folds > LC_FOLDS_MAX) lc_tool_usage(t.name, "--folds must lie in 1..%d", LC_FOLDS_MAX);
    if (!(o->far > 0 && o->far <= 1)) lc_tool_usage(t.name, "--far must lie in (0, 1]");
    int stdin_uses = 0;
    for (int k = 0; k < o->nsets; k++) stdin_uses += strcmp(o->paths[k], "-") == 0;
    if (stdin_uses + (o->pairs && strcmp(o->pairs, "-") == 0) + (o->probe && strcmp(o->probe, "-") == 0) > 1)
        lc_tool_usage(t.name, "standard input can be read once only");
    if (o->nsets > 1) {
        if (o->output && !strstr(o->output, "{dataset}"))
            lc_tool_usage(t.name, "with several datasets -o needs {dataset} in its name");
        if (o->matrix && !strstr(o->matrix, "{dataset}"))
            lc_tool_usage(t.name, "with several datasets --matrix needs {dataset} in its name");
    }
}

int main(int argc, char **argv)
{
    lc_tool_init("verify-pairs");
    g_argc = argc;
    g_argv = argv;
    struct opts o;
    parse_args(&o, argc, argv);
    struct lc_pairlist pl = {0};
    struct lc_err err;
    if (o.pairs) {
        struct lc_pairs_opts po = {o.pairs_format, o.col_a, o.col_b, o.col_label, o.same, o.diff, o.lfw_key};
        if (lc_pairs_read(&pl, o.pairs, &po, &err)) fail(&err);
    }
    struct lc_out *shared_csv = NULL;
    if (o.csv && !strstr(o.csv, "{dataset}")) {
        shared_csv = open_out(o.csv, 0);
        csv_header(shared_csv, &o, !o.gallery);
    }
    static struct result res[MAX_DATASETS];
    for (int d = 0; d < o.nsets; d++) {
        struct sink s;
        res[d].name = o.names[d];
        sink_open(&s, &o, o.names[d], o.paths[d], !o.gallery, shared_csv);
        if (o.gallery) {
            struct lc_writer *mw = NULL;
            if (o.matrix) {
                char *path = expand(o.matrix, o.names[d]), *meta = stream_meta(&o, o.names[d], o.paths[d], "gallery");
                if (lc_meta_set(&meta, "gallery", o.paths[d])) nomem();
                if (lc_writer_open_out(&mw, open_out(path, LC_OUT_BINARY), "scorerows", meta, &err)) fail(&err);
                free(path);
                free(meta);
            }
            run_gallery(&res[d], &o, o.paths[d], &s, mw);
            if (mw && lc_writer_close(mw, &err)) fail(&err);
        } else if (o.pairs) {
            run_list(&res[d], &o, o.paths[d], &pl, &s);
        } else {
            run_adjacent(&res[d], &o, o.paths[d], &s);
        }
        sink_close(&s);
        report(&res[d], &o);
    }
    if (o.nsets > 1 && !o.gallery) {
        double acc[MAX_DATASETS];
        int n = 0;
        for (int d = 0; d < o.nsets; d++)
            if (res[d].have_acc) acc[n++] = res[d].acc.acc_mean;
        if (n) lc_tool_note("mean %d-fold accuracy over %d datasets: %.6f", o.folds, n, lc_np_mean(acc, (size_t)n));
    }
    if (o.summary) write_summary(&o, res, o.nsets);
    commit_all();
    lc_pairlist_free(&pl);
    return 0;
}
