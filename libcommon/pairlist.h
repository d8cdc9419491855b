/* pairlist: verification pair lists as they come in the wild, and matching
 * their names to embedding keys. Formats: LFW pairs.txt (NAME N1 N2 for a
 * same pair, NAME1 N1 NAME2 N2 for a different one, an optional header line
 * of counts, numbers possibly written as floats like "259."), CSV with a
 * header (file_x,file_y,Decision with Yes/No, ...; read with libcsv),
 * whitespace-separated "a.png b.png 1" lines, and `pairs` streams. */
#ifndef LC_PAIRLIST_H
#define LC_PAIRLIST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lc_pair {
    char *a, *b;   /* keys as the list names them (LFW: expanded by the template) */
    int label;     /* 1 same, 0 different */
    uint64_t line; /* where it was read: 1-based line (CSV: row, header = 1), or record index */
};

struct lc_pairlist {
    size_t n, cap;
    struct lc_pair *pairs;
    char format[8]; /* what was read: "lfw", "csv", "ssv" or "sft" */
};

struct lc_pairs_opts {
    const char *format;    /* "auto" (or NULL), "lfw", "csv", "ssv", "sft" */
    const char *col_a;     /* CSV columns: header names (any case) or 1-based numbers; */
    const char *col_b;     /*   NULL: the first two columns, and the label column named */
    const char *col_label; /*   decision/label/issame/same/match/target, else the third */
    const char *same;      /* label spellings, comma-separated, any case; NULL: defaults */
    const char *diff;      /*   (same: 1,yes,true,same,y,t; different: 0,no,false,different,diff,n,f) */
    const char *lfw_key;   /* LFW key template, NULL: "{name}/{name}_{num4}" ({num}: unpadded) */
};

/* Read a pair list (path "-": stdin). Errors name the file and line: an
 * unknown label spelling, a malformed line, a missing column. An empty
 * list is an error. Free with lc_pairlist_free. */
int lc_pairs_read(struct lc_pairlist *pl, const char *path, const struct lc_pairs_opts *o, struct lc_err *err);
void lc_pairlist_free(struct lc_pairlist *pl);

/* Parse one label with the spellings of o (NULL: defaults): 1, 0, or -1. */
int lc_pairs_label(const char *word, const struct lc_pairs_opts *o);

/* The form of key used for matching: with basename, the part after the
 * last '/'; with strip_ext, without a final ".ext" (not a leading dot).
 * Writes at most size-1 bytes and a NUL into dst. */
void lc_key_match_form(char *dst, size_t size, const char *key, int basename, int strip_ext);

/* A string -> index map for joining pair lists to embedding keys. */
struct lc_keymap;
#define LC_KEYMAP_MISSING ((size_t)-1)
#define LC_KEYMAP_AMBIGUOUS ((size_t)-2)
int lc_keymap_init(struct lc_keymap **m, size_t expected, struct lc_err *err);
/* Add key -> value (key copied). A key added twice maps to
 * LC_KEYMAP_AMBIGUOUS from then on. Returns 0, or LC_ENOMEM. */
int lc_keymap_put(struct lc_keymap *m, const char *key, size_t value);
/* The value, LC_KEYMAP_MISSING or LC_KEYMAP_AMBIGUOUS. */
size_t lc_keymap_get(const struct lc_keymap *m, const char *key);
void lc_keymap_free(struct lc_keymap *m);

#endif
