/* pairlist: readers for LFW, CSV (libcsv), whitespace-separated and stream
 * pair lists, and the key map that joins them to embeddings. The whole list
 * is read into memory first: pair lists are small (thousands of lines). */
#include "pairlist.h"

#include <csv.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io.h"
#include "stream.h"

static const char *DEFAULT_SAME = "1,yes,true,same,y,t";
static const char *DEFAULT_DIFF = "0,no,false,different,diff,n,f";

void lc_pairlist_free(struct lc_pairlist *pl)
{
    if (!pl) return;
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->pairs[i].a);
        free(pl->pairs[i].b);
    }
    free(pl->pairs);
    memset(pl, 0, sizeof *pl);
}

static int add_pair(struct lc_pairlist *pl, const char *a, const char *b, int label, uint64_t line)
{
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 256;
        struct lc_pair *p = realloc(pl->pairs, cap * sizeof *p);
        if (!p) return LC_ENOMEM;
        pl->pairs = p;
        pl->cap = cap;
    }
    struct lc_pair *p = &pl->pairs[pl->n];
    p->a = strdup(a);
    p->b = strdup(b);
    if (!p->a || !p->b) {
        free(p->a);
        free(p->b);
        return LC_ENOMEM;
    }
    p->label = label;
    p->line = line;
    pl->n++;
    return 0;
}

/* Is word (trimmed, any case) one of the comma-separated list? */
static int in_list(const char *word, const char *list)
{
    while (*word == ' ' || *word == '\t') word++;
    size_t wl = strlen(word);
    while (wl && (word[wl - 1] == ' ' || word[wl - 1] == '\t' || word[wl - 1] == '\r')) wl--;
    if (!wl) return 0;
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == wl && strncasecmp(p, word, wl) == 0) return 1;
        p += l + (c ? 1 : 0);
    }
    return 0;
}

int lc_pairs_label(const char *word, const struct lc_pairs_opts *o)
{
    const char *same = o && o->same ? o->same : DEFAULT_SAME, *diff = o && o->diff ? o->diff : DEFAULT_DIFF;
    if (in_list(word, same)) return 1;
    if (in_list(word, diff)) return 0;
    return -1;
}

static int bad_label(struct lc_err *err, const char *path, uint64_t line, const char *word,
                     const struct lc_pairs_opts *o)
{
    return lc_errf(err, LC_EFORMAT, path, -1, -1,
                   "line %llu: label '%s' is neither a 'same' spelling (%s) nor a 'different' one (%s); "
                   "set them with --same/--different",
                   (unsigned long long)line, word, o && o->same ? o->same : DEFAULT_SAME,
                   o && o->diff ? o->diff : DEFAULT_DIFF);
}

/* ------------------------------------------------------------- text */

static char *slurp(const char *path, size_t *len, struct lc_err *err)
{
    struct lc_in *in;
    if (lc_in_open(&in, path, err)) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
            break;
        }
        size_t got;
        if (lc_in_read(in, buf + n, cap - n, &got, err)) break;
        n += got;
        if (n < cap) {
            lc_in_close(in);
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        char *b = realloc(buf, cap * 2 + 1);
        if (!b) free(buf);
        buf = b;
        cap *= 2;
    }
    free(buf);
    lc_in_close(in);
    return NULL;
}

#define MAX_TOK 8

/* Split a line (modified in place) at spaces and tabs. Returns the token
 * count, up to MAX_TOK+1 (meaning "more"). */
static int tokens(char *line, char **tok)
{
    int k = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') *p++ = '\0';
        if (!*p) return k;
        if (k == MAX_TOK + 1) return k;
        tok[k++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r') p++;
    }
}

/* An image number: "259", "259." or "259.0" (real files write floats). */
static int lfw_number(const char *s, long *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < 0 || v > 1e9 || v != floor(v)) return -1;
    *out = (long)v;
    return 0;
}

static int is_int(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static int expand_key(char *dst, size_t size, const char *tmpl, const char *name, long num, const char *path,
                      struct lc_err *err)
{
    size_t k = 0;
    for (const char *p = tmpl; *p;) {
        char piece[64];
        const char *add;
        if (strncmp(p, "{name}", 6) == 0) add = name, p += 6;
        else if (strncmp(p, "{num}", 5) == 0) snprintf(piece, sizeof piece, "%ld", num), add = piece, p += 5;
        else if (strncmp(p, "{num4}", 6) == 0) snprintf(piece, sizeof piece, "%04ld", num), add = piece, p += 6;
        else if (*p == '{')
            return lc_errf(err, LC_EUSAGE, path, -1, -1,
                           "LFW key template '%s': unknown placeholder (use {name}, {num} and {num4})", tmpl);
        else piece[0] = *p++, piece[1] = '\0', add = piece;
        size_t l = strlen(add);
        if (k + l >= size) return lc_errf(err, LC_EFORMAT, path, -1, -1, "key too long");
        memcpy(dst + k, add, l);
        k += l;
    }
    dst[k] = '\0';
    return 0;
}

/* Walk the lines of buf: fn(line, number) for every non-empty one. */
typedef int (*line_fn)(void *ctx, char *line, uint64_t no, struct lc_err *err);
static int each_line(char *buf, line_fn fn, void *ctx, struct lc_err *err)
{
    uint64_t no = 0;
    for (char *p = buf; *p;) {
        char *e = strchr(p, '\n');
        if (e) *e = '\0';
        no++;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (*q) {
            int rc = fn(ctx, p, no, err);
            if (rc) return rc;
        }
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

struct text_ctx {
    struct lc_pairlist *pl;
    const struct lc_pairs_opts *o;
    const char *path;
    int seen; /* non-empty lines so far */
};

static int lfw_line(void *vctx, char *line, uint64_t no, struct lc_err *err)
{
    struct text_ctx *c = vctx;
    char *t[MAX_TOK + 1];
    int k = tokens(line, t);
    int first = c->seen++ == 0;
    if (first && k <= 2 && is_int(t[0]) && (k == 1 || is_int(t[1]))) return 0; /* "10 300": the header */
    long n1, n2;
    char a[1024], b[1024];
    const char *tmpl = c->o && c->o->lfw_key ? c->o->lfw_key : "{name}/{name}_{num4}";
    int rc;
    if (k == 3) {
        if (lfw_number(t[1], &n1) || lfw_number(t[2], &n2)) goto badnum;
        if ((rc = expand_key(a, sizeof a, tmpl, t[0], n1, c->path, err)) ||
            (rc = expand_key(b, sizeof b, tmpl, t[0], n2, c->path, err)))
            return rc;
        return add_pair(c->pl, a, b, 1, no) ? lc_errf(err, LC_ENOMEM, c->path, -1, -1, "out of memory") : 0;
    }
    if (k == 4) {
        if (lfw_number(t[1], &n1) || lfw_number(t[3], &n2)) goto badnum;
        if ((rc = expand_key(a, sizeof a, tmpl, t[0], n1, c->path, err)) ||
            (rc = expand_key(b, sizeof b, tmpl, t[2], n2, c->path, err)))
            return rc;
        return add_pair(c->pl, a, b, 0, no) ? lc_errf(err, LC_ENOMEM, c->path, -1, -1, "out of memory") : 0;
    }
    return lc_errf(err, LC_EFORMAT, c->path, -1, -1,
                   "line %llu: LFW pairs have 3 fields (NAME N1 N2: same) or 4 (NAME1 N1 NAME2 N2: different), "
                   "this line has %s%d",
                   (unsigned long long)no, k > MAX_TOK ? "more than " : "", k > MAX_TOK ? MAX_TOK : k);
badnum:
    return lc_errf(err, LC_EFORMAT, c->path, -1, -1, "line %llu: '%s' is not an image number", (unsigned long long)no,
                   k == 3 ? (lfw_number(t[1], &n1) ? t[1] : t[2]) : (lfw_number(t[1], &n1) ? t[1] : t[3]));
}

static int ssv_line(void *vctx, char *line, uint64_t no, struct lc_err *err)
{
    struct text_ctx *c = vctx;
    char *t[MAX_TOK + 1];
    int k = tokens(line, t);
    int first = c->seen++ == 0;
    if (k != 3) {
        if (first && k >= 2) return 0; /* a header such as "img1 img2 label" */
        return lc_errf(err, LC_EFORMAT, c->path, -1, -1, "line %llu: expected 3 fields (KEY_A KEY_B LABEL), got %d",
                       (unsigned long long)no, k);
    }
    int label = lc_pairs_label(t[2], c->o);
    if (label < 0) {
        if (first) return 0; /* the header */
        return bad_label(err, c->path, no, t[2], c->o);
    }
    return add_pair(c->pl, t[0], t[1], label, no) ? lc_errf(err, LC_ENOMEM, c->path, -1, -1, "out of memory") : 0;
}

/* -------------------------------------------------------------- CSV */

struct csv_ctx {
    struct lc_pairlist *pl;
    const struct lc_pairs_opts *o;
    const char *path;
    char **field;
    size_t n_field, cap_field;
    uint64_t row;
    int ca, cb, cl; /* column indices, -1 until the header is read */
    int failed;
    struct lc_err *err;
};

static void csv_cb_field(void *s, size_t len, void *data)
{
    struct csv_ctx *c = data;
    if (c->failed) return;
    if (c->n_field == c->cap_field) {
        size_t cap = c->cap_field ? c->cap_field * 2 : 16;
        char **f = realloc(c->field, cap * sizeof *f);
        if (!f) {
            c->failed = lc_errf(c->err, LC_ENOMEM, c->path, -1, -1, "out of memory");
            return;
        }
        c->field = f;
        c->cap_field = cap;
    }
    char *v = malloc(len + 1);
    if (!v) {
        c->failed = lc_errf(c->err, LC_ENOMEM, c->path, -1, -1, "out of memory");
        return;
    }
    memcpy(v, s ? s : "", len);
    v[len] = '\0';
    c->field[c->n_field++] = v;
}

/* A column given by name (any case) or 1-based number. */
static int find_col(struct csv_ctx *c, const char *want, const char *what)
{
    if (is_int(want)) {
        long v = strtol(want, NULL, 10);
        if (v >= 1 && (size_t)v <= c->n_field) return (int)v - 1;
    } else {
        for (size_t i = 0; i < c->n_field; i++)
            if (strcasecmp(c->field[i], want) == 0) return (int)i;
    }
    c->failed = lc_errf(c->err, LC_EFORMAT, c->path, -1, -1, "line 1: no column '%s' for %s (the header has %zu columns)",
                        want, what, c->n_field);
    return -1;
}

static void csv_header(struct csv_ctx *c)
{
    const struct lc_pairs_opts *o = c->o;
    c->ca = o && o->col_a ? find_col(c, o->col_a, "key A") : 0;
    if (c->failed) return;
    c->cb = o && o->col_b ? find_col(c, o->col_b, "key B") : 1;
    if (c->failed) return;
    if (o && o->col_label) {
        c->cl = find_col(c, o->col_label, "the label");
        return;
    }
    static const char *names[] = {"decision", "label", "issame", "is_same", "same", "match", "target"};
    c->cl = -1;
    for (size_t n = 0; n < sizeof names / sizeof *names && c->cl < 0; n++)
        for (size_t i = 0; i < c->n_field; i++)
            if (strcasecmp(c->field[i], names[n]) == 0) c->cl = (int)i;
    if (c->cl < 0) c->cl = 2;
    if ((size_t)c->cl >= c->n_field || (size_t)c->ca >= c->n_field || (size_t)c->cb >= c->n_field)
        c->failed = lc_errf(c->err, LC_EFORMAT, c->path, -1, -1,
                            "line 1: a header with at least 3 columns (key A, key B, label) was expected");
}

static void csv_cb_row(int term, void *data)
{
    (void)term;
    struct csv_ctx *c = data;
    if (!c->failed) {
        c->row++;
        if (c->row == 1) {
            csv_header(c);
        } else if (c->n_field == 1 && !c->field[0][0]) {
            /* a blank line */
        } else {
            int need = c->ca > c->cb ? c->ca : c->cb;
            if (c->cl > need) need = c->cl;
            if ((int)c->n_field <= need) {
                c->failed = lc_errf(c->err, LC_EFORMAT, c->path, -1, -1, "line %llu: %zu fields, expected at least %d",
                                    (unsigned long long)c->row, c->n_field, need + 1);
            } else {
                int label = lc_pairs_label(c->field[c->cl], c->o);
                if (label < 0) c->failed = bad_label(c->err, c->path, c->row, c->field[c->cl], c->o);
                else if (!c->field[c->ca][0] || !c->field[c->cb][0])
                    c->failed = lc_errf(c->err, LC_EFORMAT, c->path, -1, -1, "line %llu: an empty key",
                                        (unsigned long long)c->row);
                else if (add_pair(c->pl, c->field[c->ca], c->field[c->cb], label, c->row))
                    c->failed = lc_errf(c->err, LC_ENOMEM, c->path, -1, -1, "out of memory");
            }
        }
    }
    for (size_t i = 0; i < c->n_field; i++) free(c->field[i]);
    c->n_field = 0;
}

static int read_csv(struct lc_pairlist *pl, const char *buf, size_t len, const char *path,
                    const struct lc_pairs_opts *o, struct lc_err *err)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    struct csv_ctx c = {.pl = pl, .o = o, .path = path, .err = err};
    size_t used = csv_parse(&p, buf, len, csv_cb_field, csv_cb_row, &c);
    if (!c.failed && used != len)
        c.failed = lc_errf(err, LC_EFORMAT, path, -1, (int64_t)used, "line %llu: CSV syntax error (%s)",
                           (unsigned long long)c.row + 1, csv_strerror(csv_error(&p)));
    if (!c.failed && csv_fini(&p, csv_cb_field, csv_cb_row, &c) != 0)
        c.failed = lc_errf(err, LC_EFORMAT, path, -1, -1, "line %llu: CSV syntax error at the end (%s)",
                           (unsigned long long)c.row + 1, csv_strerror(csv_error(&p)));
    for (size_t i = 0; i < c.n_field; i++) free(c.field[i]);
    free(c.field);
    csv_free(&p);
    return c.failed;
}

/* ------------------------------------------------------------ stream */

static int read_sft(struct lc_pairlist *pl, const char *path, struct lc_err *err)
{
    struct lc_reader *r;
    int rc = lc_reader_open(&r, path, err);
    if (rc) return rc;
    if ((rc = lc_reader_expect_kind(r, LC_KIND_PAIRS, err))) goto done;
    struct lc_record rec;
    while ((rc = lc_reader_next(r, &rec, err)) == 1) {
        const char *tab = strchr(rec.key, '\t');
        if (!tab || strchr(tab + 1, '\t') || tab == rec.key || !tab[1]) {
            rc = lc_errf(err, LC_EFORMAT, lc_reader_name(r), (int64_t)rec.index, (int64_t)rec.offset,
                         "key '%s' is not KEY_A<TAB>KEY_B", rec.key);
            goto done;
        }
        if (rec.n_labels < 1 || (rec.labels[0] != 0 && rec.labels[0] != 1)) {
            rc = lc_errf(err, LC_EFORMAT, lc_reader_name(r), (int64_t)rec.index, (int64_t)rec.offset,
                         "pair label must be 1 (same) or 0 (different), got %s%lld", rec.n_labels ? "" : "none",
                         rec.n_labels ? (long long)rec.labels[0] : 0LL);
            goto done;
        }
        char a[4096];
        snprintf(a, sizeof a, "%.*s", (int)(tab - rec.key), rec.key);
        if (add_pair(pl, a, tab + 1, (int)rec.labels[0], rec.index)) {
            rc = lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
            goto done;
        }
    }
done:
    lc_reader_free(r);
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------- entry */

static const char *guess(const char *buf)
{
    if (strncmp(buf, "\x89SFT", 4) == 0) return "sft";
    const char *p = buf;
    while (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t') p++;
    const char *e = strchr(p, '\n');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(l < sizeof line ? l : sizeof line - 1), p);
    if (strchr(line, ',')) return "csv";
    char *t[MAX_TOK + 1];
    int k = tokens(line, t);
    long v;
    if ((k == 3 && !lfw_number(t[1], &v) && !lfw_number(t[2], &v)) ||
        (k == 4 && !lfw_number(t[1], &v) && !lfw_number(t[3], &v)) || (k >= 1 && k <= 2 && is_int(t[0])))
        return "lfw";
    return "ssv";
}

int lc_pairs_read(struct lc_pairlist *pl, const char *path, const struct lc_pairs_opts *o, struct lc_err *err)
{
    memset(pl, 0, sizeof *pl);
    const char *fmt = o && o->format ? o->format : "auto";
    const char *name = !path || strcmp(path, "-") == 0 ? "<stdin>" : path;
    if (strcmp(fmt, "auto") && strcmp(fmt, "lfw") && strcmp(fmt, "csv") && strcmp(fmt, "ssv") && strcmp(fmt, "sft"))
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "unknown pair list format '%s' (auto, lfw, csv, ssv, sft)", fmt);
    int rc;
    if (strcmp(fmt, "sft") == 0) {
        rc = read_sft(pl, path, err);
    } else {
        size_t len;
        char *buf = slurp(path, &len, err);
        if (!buf) return err ? err->code : LC_EIO;
        if (strcmp(fmt, "auto") == 0) fmt = guess(buf);
        if (strcmp(fmt, "sft") == 0) {
            free(buf);
            if (!path || strcmp(path, "-") == 0)
                return lc_errf(err, LC_EUSAGE, name, -1, -1, "a pairs stream on stdin needs --pairs-format sft first");
            rc = read_sft(pl, path, err);
        } else {
            struct text_ctx c = {.pl = pl, .o = o, .path = name};
            if (strcmp(fmt, "csv") == 0) rc = read_csv(pl, buf, len, name, o, err);
            else rc = each_line(buf, strcmp(fmt, "lfw") == 0 ? lfw_line : ssv_line, &c, err);
            free(buf);
        }
    }
    snprintf(pl->format, sizeof pl->format, "%s", fmt);
    if (!rc && pl->n == 0) rc = lc_errf(err, LC_EFORMAT, name, -1, -1, "no pairs found (read as %s)", fmt);
    if (rc) lc_pairlist_free(pl);
    return rc;
}

void lc_key_match_form(char *dst, size_t size, const char *key, int basename, int strip_ext)
{
    if (basename) {
        const char *s = strrchr(key, '/');
        if (s) key = s + 1;
    }
    size_t l = strlen(key);
    if (strip_ext) {
        const char *slash = strrchr(key, '/');
        const char *base = slash ? slash + 1 : key;
        const char *dot = strrchr(base, '.');
        if (dot && dot > base) l = (size_t)(dot - key);
    }
    if (l >= size) l = size - 1;
    memcpy(dst, key, l);
    dst[l] = '\0';
}

/* ------------------------------------------------------------ keymap */

struct slot {
    char *key;
    size_t value;
};

struct lc_keymap {
    size_t cap, used;
    struct slot *s;
};

static uint64_t hash(const char *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *k; k++) h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

int lc_keymap_init(struct lc_keymap **m, size_t expected, struct lc_err *err)
{
    size_t cap = 64;
    while (cap < expected * 2) cap *= 2;
    *m = calloc(1, sizeof **m);
    if (*m) (*m)->s = calloc(cap, sizeof *(*m)->s);
    if (!*m || !(*m)->s) {
        free(*m);
        *m = NULL;
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    (*m)->cap = cap;
    return 0;
}

static int grow(struct lc_keymap *m)
{
    size_t cap = m->cap * 2;
    struct slot *s = calloc(cap, sizeof *s);
    if (!s) return LC_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->s[i].key) continue;
        size_t j = hash(m->s[i].key) & (cap - 1);
        while (s[j].key) j = (j + 1) & (cap - 1);
        s[j] = m->s[i];
    }
    free(m->s);
    m->s = s;
    m->cap = cap;
    return 0;
}

int lc_keymap_put(struct lc_keymap *m, const char *key, size_t value)
{
    if ((m->used + 1) * 2 > m->cap && grow(m)) return LC_ENOMEM;
    size_t j = hash(key) & (m->cap - 1);
    while (m->s[j].key) {
        if (strcmp(m->s[j].key, key) == 0) {
            m->s[j].value = LC_KEYMAP_AMBIGUOUS;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (!(m->s[j].key = strdup(key))) return LC_ENOMEM;
    m->s[j].value = value;
    m->used++;
    return 0;
}

size_t lc_keymap_get(const struct lc_keymap *m, const char *key)
{
    size_t j = hash(key) & (m->cap - 1);
    while (m->s[j].key) {
        if (strcmp(m->s[j].key, key) == 0) return m->s[j].value;
        j = (j + 1) & (m->cap - 1);
    }
    return LC_KEYMAP_MISSING;
}

void lc_keymap_free(struct lc_keymap *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++) free(m->s[i].key);
    free(m->s);
    free(m);
}
