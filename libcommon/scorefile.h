/* scorefile: verification scores on disk, written by verify-pairs and read
 * by roc-report. Two forms carry the same rows:
 *   - a `scores` stream: key KEY_A<TAB>KEY_B, labels[0] = 1 same / 0
 *     different, floats[0] = the score as f32, labels[1] = the IEEE-754 bits
 *     of the score as float64 (so the exact value survives); metadata
 *     score=cosine|sqeuclidean, dataset=NAME, order=pairs|gallery;
 *   - CSV (RFC 4180, via libcsv): header dataset,pair,key_a,key_b,label,<score>
 *     where <score> names the score (cosine, sqeuclidean) and the pair
 *     column (pair index in its dataset) is present when rows are in pair
 *     order; scores are written with 17 significant digits (exact). */
#ifndef LC_SCOREFILE_H
#define LC_SCOREFILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "io.h"
#include "stream.h"

/* ---- writing ---- */

/* One CSV field to o: quoted (by libcsv's csv_write) only when it holds a
 * comma, quote, CR/LF or leading/trailing space; last ends the row. */
int lc_csvw_field(struct lc_out *o, const char *field, int last, struct lc_err *err);
int lc_csvw_fieldf(struct lc_out *o, int last, struct lc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fill rec as a `scores` record for the pair (a, b). keybuf (size bytes),
 * labels (2) and floats (1) are the caller's storage. label: 1, 0, or -1
 * when unknown. LC_EINVAL when a key holds TAB, CR or LF or is too long. */
int lc_score_record(struct lc_record *rec, char *keybuf, size_t size, const char *a, const char *b, int label,
                    double score, int64_t *labels, float *floats, struct lc_err *err);

/* ---- reading ---- */

struct lc_scoreset {
    char name[128];     /* dataset */
    size_t n, cap;
    double *score;      /* (n,) */
    uint8_t *label;     /* (n,) 1 same, 0 different */
    int pair_order;     /* rows are the dataset's pairs 0..n-1 in order */
    int64_t next_pair;  /* reader state */
};

struct lc_scorefile {
    char path[1024];
    char kind[64];      /* cosine, sqeuclidean, or the score column's name */
    int distance;       /* lower scores mean "same" */
    int is_stream;
    int nsets;
    struct lc_scoreset *sets;
    char *meta;         /* the stream's metadata text (history= lines), or NULL */
};

struct lc_scorefile_opts {
    const char *dataset;   /* put every row into this dataset (NULL: from the file) */
    const char *score_col; /* CSV: the score column (NULL: score, cosine, sqeuclidean, similarity, distance) */
    const char *label_col; /* CSV: the label column (NULL: label) */
    int distance;          /* -1: from the score's name; 0 similarity; 1 distance */
};

/* Load a score file: a `scores` stream (also on stdin, "-") or CSV. Every
 * score must be finite and every label 1 or 0 (the spellings of
 * lc_pairs_label are accepted in CSV); errors name the file and the record
 * or line. Datasets come from the CSV's dataset column or the stream's
 * dataset= metadata, else the file's base name. */
int lc_scorefile_load(struct lc_scorefile *sf, const char *path, const struct lc_scorefile_opts *o,
                      struct lc_err *err);
void lc_scorefile_free(struct lc_scorefile *sf);

/* The base name of path without directories and extension ("-": "stdin"). */
void lc_path_stem(char *dst, size_t size, const char *path);

#endif
