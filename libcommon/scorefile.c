/* scorefile: CSV fields through lc_out (atomic like every output), score
 * records, and a loader for score streams and CSV that keeps only what the
 * metrics need (score and label: 9 bytes a row), so 10^7 rows fit easily. */
#include "scorefile.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pairlist.h"

/* ------------------------------------------------------------ writing */

int lc_csvw_field(struct lc_out *o, const char *field, int last, struct lc_err *err)
{
    size_t n = strlen(field);
    int quote = n && (field[0] == ' ' || field[n - 1] == ' ');
    for (const char *p = field; *p && !quote; p++) quote = *p == ',' || *p == '"' || *p == '\r' || *p == '\n';
    int rc;
    if (quote) {
        size_t cap = 2 * n + 3;
        char *q = malloc(cap);
        if (!q) return lc_errf(err, LC_ENOMEM, lc_out_name(o), -1, -1, "out of memory");
        size_t qn = csv_write(q, cap, field, n);
        rc = lc_out_write(o, q, qn, err);
        free(q);
    } else {
        rc = lc_out_write(o, field, n, err);
    }
    if (!rc) rc = lc_out_write(o, last ? "\n" : ",", 1, err);
    return rc;
}

int lc_csvw_fieldf(struct lc_out *o, int last, struct lc_err *err, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return lc_csvw_field(o, buf, last, err);
}

int lc_score_record(struct lc_record *rec, char *keybuf, size_t size, const char *a, const char *b, int label,
                    double score, int64_t *labels, float *floats, struct lc_err *err)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 2 > size || la + lb + 1 > 65535)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "pair key '%s' + '%s' is too long", a, b);
    if (strpbrk(a, "\t\r\n") || strpbrk(b, "\t\r\n"))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "key '%s' or '%s' holds a TAB, CR or LF", a, b);
    memcpy(keybuf, a, la);
    keybuf[la] = '\t';
    memcpy(keybuf + la + 1, b, lb + 1);
    uint64_t bits;
    memcpy(&bits, &score, sizeof bits);
    labels[0] = label;
    labels[1] = (int64_t)bits;
    floats[0] = (float)score;
    memset(rec, 0, sizeof *rec);
    rec->key = keybuf;
    rec->key_len = (unsigned)(la + lb + 1);
    rec->labels = labels;
    rec->n_labels = 2;
    rec->floats = floats;
    rec->n_floats = 1;
    rec->dtype = LC_DTYPE_NONE;
    return 0;
}

/* ------------------------------------------------------------ reading */

void lc_path_stem(char *dst, size_t size, const char *path)
{
    if (!path || strcmp(path, "-") == 0) {
        snprintf(dst, size, "stdin");
        return;
    }
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    const char *dot = strchr(s, '.');
    size_t l = dot && dot > s ? (size_t)(dot - s) : strlen(s);
    snprintf(dst, size, "%.*s", (int)l, s);
}

void lc_scorefile_free(struct lc_scorefile *sf)
{
    if (!sf) return;
    for (int i = 0; i < sf->nsets; i++) {
        free(sf->sets[i].score);
        free(sf->sets[i].label);
    }
    free(sf->sets);
    free(sf->meta);
    memset(sf, 0, sizeof *sf);
}

static struct lc_scoreset *set_for(struct lc_scorefile *sf, const char *name)
{
    for (int i = sf->nsets - 1; i >= 0; i--)
        if (strcmp(sf->sets[i].name, name) == 0) return &sf->sets[i];
    struct lc_scoreset *s = realloc(sf->sets, (size_t)(sf->nsets + 1) * sizeof *s);
    if (!s) return NULL;
    sf->sets = s;
    s = &sf->sets[sf->nsets++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->pair_order = 1;
    return s;
}

static int set_add(struct lc_scoreset *s, double score, int label)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap + s->cap / 2 : 4096;
        double *sc = realloc(s->score, cap * sizeof *sc);
        if (!sc) return LC_ENOMEM;
        s->score = sc;
        uint8_t *lb = realloc(s->label, cap);
        if (!lb) return LC_ENOMEM;
        s->label = lb;
        s->cap = cap;
    }
    s->score[s->n] = score;
    s->label[s->n] = (uint8_t)label;
    s->n++;
    return 0;
}

static int kind_is_distance(const char *kind)
{
    return strcasecmp(kind, "sqeuclidean") == 0 || strcasecmp(kind, "distance") == 0 ||
           strcasecmp(kind, "dist") == 0 || strcasecmp(kind, "euclidean") == 0;
}

static int load_stream(struct lc_scorefile *sf, const char *path, const struct lc_scorefile_opts *o,
                       struct lc_err *err)
{
    struct lc_reader *r;
    int rc = lc_reader_open(&r, path, err);
    if (rc) return rc;
    const char *name = lc_reader_name(r);
    if ((rc = lc_reader_expect_kind(r, LC_KIND_SCORES, err))) goto done;
    const struct lc_stream_header *h = lc_reader_header(r);
    sf->is_stream = 1;
    if (h->meta_len && !(sf->meta = strdup(h->meta))) {
        rc = lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
        goto done;
    }
    char v[256], dataset[128];
    if (!lc_meta_get(h->meta, "score", sf->kind, sizeof sf->kind)) snprintf(sf->kind, sizeof sf->kind, "score");
    sf->distance = o && o->distance >= 0 ? o->distance : kind_is_distance(sf->kind);
    if (o && o->dataset) snprintf(dataset, sizeof dataset, "%s", o->dataset);
    else if (!lc_meta_get(h->meta, "dataset", dataset, sizeof dataset)) lc_path_stem(dataset, sizeof dataset, path);
    int pair_order = lc_meta_get(h->meta, "order", v, sizeof v) && strcmp(v, "pairs") == 0;
    struct lc_scoreset *s = set_for(sf, dataset);
    if (!s) {
        rc = lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
        goto done;
    }
    s->pair_order = pair_order;
    struct lc_record rec;
    while ((rc = lc_reader_next(r, &rec, err)) == 1) {
        int64_t ri = (int64_t)rec.index, off = (int64_t)rec.offset;
        if (rec.n_labels < 1 || (rec.labels[0] != 0 && rec.labels[0] != 1)) {
            rc = lc_errf(err, LC_EFORMAT, name, ri, off, "pair '%s': label %s%lld is not 1 (same) or 0 (different)",
                         rec.key, rec.n_labels ? "" : "(none) ", rec.n_labels ? (long long)rec.labels[0] : 0LL);
            goto done;
        }
        double score;
        if (rec.n_labels >= 2) {
            uint64_t bits = (uint64_t)rec.labels[1];
            memcpy(&score, &bits, sizeof score);
            if (rec.n_floats >= 1 && (float)score != rec.floats[0] && !(isnan(score) && isnan(rec.floats[0]))) {
                rc = lc_errf(err, LC_ECORRUPT, name, ri, off,
                             "pair '%s': exact score %.17g disagrees with its f32 copy %.9g", rec.key, score,
                             (double)rec.floats[0]);
                goto done;
            }
        } else if (rec.n_floats >= 1) {
            score = rec.floats[0];
        } else {
            rc = lc_errf(err, LC_EFORMAT, name, ri, off, "pair '%s' has no score (floats[0])", rec.key);
            goto done;
        }
        if (!isfinite(score)) {
            rc = lc_errf(err, LC_EINVAL, name, ri, off, "pair '%s': score is %g", rec.key, score);
            goto done;
        }
        if (set_add(s, score, (int)rec.labels[0])) {
            rc = lc_errf(err, LC_ENOMEM, name, ri, off, "out of memory");
            goto done;
        }
    }
done:
    lc_reader_free(r);
    return rc < 0 ? rc : 0;
}

/* ---- CSV ---- */

struct csv_ctx {
    struct lc_scorefile *sf;
    const struct lc_scorefile_opts *o;
    const char *path;
    struct lc_err *err;
    uint64_t row;
    int failed;
    int ncol, cur;
    int c_dataset, c_pair, c_label, c_score;
    char dataset[128], pair[32], label[64], score[64];
    char fixed_name[128];
    struct lc_scoreset *last;
    char **hdr;
};

static void copy_field(char *dst, size_t size, const void *s, size_t len)
{
    if (len >= size) len = size - 1;
    memcpy(dst, s ? s : "", len);
    dst[len] = '\0';
}

static void cb_field(void *s, size_t len, void *data)
{
    struct csv_ctx *c = data;
    if (c->failed) return;
    int i = c->cur++;
    if (c->row == 0) { /* header */
        char **h = realloc(c->hdr, (size_t)(i + 1) * sizeof *h);
        if (!h) {
            c->failed = lc_errf(c->err, LC_ENOMEM, c->path, -1, -1, "out of memory");
            return;
        }
        c->hdr = h;
        h[i] = malloc(len + 1);
        if (!h[i]) {
            c->failed = lc_errf(c->err, LC_ENOMEM, c->path, -1, -1, "out of memory");
            return;
        }
        copy_field(h[i], len + 1, s, len);
        c->ncol = i + 1;
        return;
    }
    if (i == c->c_dataset) copy_field(c->dataset, sizeof c->dataset, s, len);
    else if (i == c->c_pair) copy_field(c->pair, sizeof c->pair, s, len);
    if (i == c->c_label) copy_field(c->label, sizeof c->label, s, len);
    if (i == c->c_score) copy_field(c->score, sizeof c->score, s, len);
}

static int col(struct csv_ctx *c, const char *name)
{
    for (int i = 0; i < c->ncol; i++)
        if (strcasecmp(c->hdr[i], name) == 0) return i;
    return -1;
}

static void header_done(struct csv_ctx *c)
{
    const struct lc_scorefile_opts *o = c->o;
    c->c_dataset = o && o->dataset ? -1 : col(c, "dataset");
    c->c_pair = col(c, "pair");
    c->c_label = col(c, o && o->label_col ? o->label_col : "label");
    if (o && o->score_col) {
        c->c_score = col(c, o->score_col);
    } else {
        static const char *names[] = {"score", "cosine", "sqeuclidean", "similarity", "distance"};
        c->c_score = -1;
        for (size_t k = 0; k < sizeof names / sizeof *names && c->c_score < 0; k++) c->c_score = col(c, names[k]);
    }
    if (c->c_label < 0 || c->c_score < 0) {
        c->failed = lc_errf(c->err, LC_EFORMAT, c->path, -1, -1,
                            "line 1: the header needs a '%s' column and a score column (%s)",
                            o && o->label_col ? o->label_col : "label",
                            o && o->score_col ? o->score_col : "score, cosine, sqeuclidean, similarity or distance");
        return;
    }
    snprintf(c->sf->kind, sizeof c->sf->kind, "%s", c->hdr[c->c_score]);
    c->sf->distance = o && o->distance >= 0 ? o->distance : kind_is_distance(c->sf->kind);
}

static void cb_row(int term, void *data)
{
    (void)term;
    struct csv_ctx *c = data;
    int n = c->cur;
    c->cur = 0;
    if (c->failed) return;
    c->row++;
    if (c->row == 1) {
        header_done(c);
        return;
    }
    if (n == 1 && !c->label[0] && !c->score[0]) return; /* blank line */
    uint64_t line = c->row;
    if (n != c->ncol) {
        c->failed = lc_errf(c->err, LC_EFORMAT, c->path, -1, -1, "line %llu: %d fields, the header has %d",
                            (unsigned long long)line, n, c->ncol);
        return;
    }
    int label = lc_pairs_label(c->label, NULL);
    if (label < 0) {
        c->failed = lc_errf(c->err, LC_EFORMAT, c->path, -1, -1,
                            "line %llu: label '%s' is not 1 (same) or 0 (different)", (unsigned long long)line,
                            c->label);
        return;
    }
    char *end;
    double v = strtod(c->score, &end);
    if (!c->score[0] || *end || !isfinite(v)) {
        c->failed = lc_errf(c->err, LC_EINVAL, c->path, -1, -1, "line %llu: score '%s' is not a finite number",
                            (unsigned long long)line, c->score);
        return;
    }
    const char *ds = c->c_dataset >= 0 ? c->dataset : c->fixed_name;
    struct lc_scoreset *s = c->last && strcmp(c->last->name, ds) == 0 ? c->last : set_for(c->sf, ds);
    if (!s) {
        c->failed = lc_errf(c->err, LC_ENOMEM, c->path, -1, -1, "out of memory");
        return;
    }
    c->last = s;
    if (c->c_pair < 0) {
        s->pair_order = 0;
    } else if (s->pair_order) {
        char *pe;
        long long pv = strtoll(c->pair, &pe, 10);
        if (!c->pair[0] || *pe || pv != s->next_pair) s->pair_order = 0;
        s->next_pair++;
    }
    if (set_add(s, v, label)) c->failed = lc_errf(c->err, LC_ENOMEM, c->path, -1, -1, "out of memory");
    c->dataset[0] = c->pair[0] = c->label[0] = c->score[0] = '\0';
}

static int load_csv(struct lc_scorefile *sf, const char *path, const struct lc_scorefile_opts *o,
                    struct lc_err *err)
{
    struct lc_in *in;
    int rc = lc_in_open(&in, path, err);
    if (rc) return rc;
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        lc_in_close(in);
        return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    }
    struct csv_ctx c = {.sf = sf, .o = o, .path = lc_in_name(in), .err = err, .c_dataset = -1, .c_pair = -1,
                        .c_label = -1, .c_score = -1};
    if (o && o->dataset) snprintf(c.fixed_name, sizeof c.fixed_name, "%s", o->dataset);
    else lc_path_stem(c.fixed_name, sizeof c.fixed_name, path);
    for (;;) {
        const void *buf;
        size_t got;
        if ((rc = lc_in_borrow(in, LC_IN_BORROW_MAX, &buf, &got, err))) break;
        if (!got) break;
        size_t used = csv_parse(&p, buf, got, cb_field, cb_row, &c);
        if (c.failed) break;
        if (used != got) {
            rc = lc_errf(err, LC_EFORMAT, c.path, -1, -1, "line %llu: CSV syntax error (%s)",
                         (unsigned long long)c.row + 1, csv_strerror(csv_error(&p)));
            break;
        }
    }
    if (!rc && !c.failed && csv_fini(&p, cb_field, cb_row, &c) != 0)
        rc = lc_errf(err, LC_EFORMAT, c.path, -1, -1, "line %llu: CSV syntax error at the end (%s)",
                     (unsigned long long)c.row + 1, csv_strerror(csv_error(&p)));
    if (!rc && c.failed) rc = c.failed;
    if (!rc && c.row == 0) rc = lc_errf(err, LC_EFORMAT, c.path, -1, -1, "empty file (no header)");
    for (int i = 0; i < c.ncol; i++) free(c.hdr[i]);
    free(c.hdr);
    csv_free(&p);
    lc_in_close(in);
    return rc;
}

int lc_scorefile_load(struct lc_scorefile *sf, const char *path, const struct lc_scorefile_opts *o,
                      struct lc_err *err)
{
    memset(sf, 0, sizeof *sf);
    snprintf(sf->path, sizeof sf->path, "%s", path ? path : "-");
    int stream = 1;
    if (path && strcmp(path, "-") != 0) { /* a named file: look at its first bytes */
        FILE *f = fopen(path, "rb");
        if (!f) return lc_errno(err, errno, path, "cannot open");
        unsigned char m[4] = {0};
        size_t got = fread(m, 1, 4, f);
        fclose(f);
        stream = got == 4 && memcmp(m, "\x89SFT", 4) == 0;
    }
    int rc = stream ? load_stream(sf, path, o, err) : load_csv(sf, path, o, err);
    if (!rc && sf->nsets == 0)
        rc = lc_errf(err, LC_EFORMAT, sf->path, -1, -1, "no scores in the file");
    for (int i = 0; !rc && i < sf->nsets; i++)
        if (sf->sets[i].n == 0) rc = lc_errf(err, LC_EFORMAT, sf->path, -1, -1, "dataset '%s' has no scores", sf->sets[i].name);
    if (rc) lc_scorefile_free(sf);
    return rc;
}
