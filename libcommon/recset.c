/* recset: InsightFace-layout (and im2rec) RecordIO set writer. */
#include "recset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io.h"
#include "recordio.h"

struct lc_recset {
    struct lc_rec_writer *rec;
    struct lc_out *lst, *prop;
    int plain;
    int64_t idx, h, w, n;
    int64_t *lo, *hi; /* identity ranges by class */
    size_t cap;
    int64_t classes, current;
    uint8_t *buf;
    size_t buf_cap;
};

void lc_recset_abort(struct lc_recset *s)
{
    if (!s) return;
    lc_rec_writer_abort(s->rec);
    lc_out_abort(s->lst);
    lc_out_abort(s->prop);
    free(s->lo);
    free(s->hi);
    free(s->buf);
    free(s);
}

int lc_recset_open(struct lc_recset **out, const char *dir, const char *prefix, int plain, struct lc_err *err)
{
    *out = NULL;
    int made = lc_mkdirs(dir, err);
    if (made) return made;
    struct lc_recset *s = calloc(1, sizeof *s);
    if (!s) return lc_errf(err, LC_ENOMEM, dir, -1, -1, "out of memory");
    s->plain = plain;
    s->idx = plain ? 0 : 1;
    s->current = -1;
    char rec[4200], idx[4200], lst[4200], prop[4200];
    snprintf(rec, sizeof rec, "%s/%s.rec", dir, prefix);
    snprintf(idx, sizeof idx, "%s/%s.idx", dir, prefix);
    snprintf(lst, sizeof lst, "%s/%s.lst", dir, prefix);
    snprintf(prop, sizeof prop, "%s/property", dir);
    int rc = lc_rec_writer_open(&s->rec, rec, idx, err);
    if (!rc) rc = lc_out_open(&s->lst, lst, 0, err);
    if (!rc && !plain) rc = lc_out_open(&s->prop, prop, 0, err);
    if (rc) {
        lc_recset_abort(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int ids_add(struct lc_recset *s, int64_t label, const char *path, struct lc_err *err)
{
    if (label < 0 || label > 100000000)
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1,
                       "image '%s' has label %lld: the InsightFace layout needs class ids 0..10^8 (use --plain for other labels)",
                       path, (long long)label);
    if ((size_t)label >= s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap <= (size_t)label) cap *= 2;
        int64_t *lo = realloc(s->lo, cap * sizeof *lo);
        if (lo) s->lo = lo;
        int64_t *hi = lo ? realloc(s->hi, cap * sizeof *hi) : NULL;
        if (!lo || !hi) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        s->hi = hi;
        for (size_t c = s->cap; c < cap; c++) s->lo[c] = s->hi[c] = -1;
        s->cap = cap;
    }
    if (label != s->current) {
        if (s->lo[label] >= 0)
            return lc_errf(err, LC_EFORMAT, NULL, -1, -1,
                           "image '%s' of class %lld comes after other classes followed that class's first images: the "
                           "InsightFace layout needs each class's images together (sort the input by label, or use --plain)",
                           path, (long long)label);
        s->lo[label] = s->idx;
        s->current = label;
    }
    s->hi[label] = s->idx + 1;
    if (label + 1 > s->classes) s->classes = label + 1;
    return 0;
}

static int put(struct lc_recset *s, int64_t key, const uint8_t *rec, size_t len, struct lc_err *err)
{
    char k[32];
    snprintf(k, sizeof k, "%lld", (long long)key);
    return lc_rec_write(s->rec, k, rec, len, err);
}

int lc_recset_add(struct lc_recset *s, int64_t label, const float *labels, unsigned n, const void *bytes, size_t len,
                  const char *path, int h, int w, struct lc_err *err)
{
    float scalar = (float)label;
    if (!s->plain || n <= 1) labels = NULL, n = 0;
    int rc = s->plain ? 0 : ids_add(s, label, path, err);
    if (rc) return rc;
    size_t need = LC_IRHEADER_SIZE + 4 * (size_t)n + len;
    if (need > s->buf_cap) {
        uint8_t *b = realloc(s->buf, need * 2);
        if (!b) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        s->buf = b;
        s->buf_cap = need * 2;
    }
    size_t hl = lc_irheader_pack(s->buf, scalar, labels, n, (uint64_t)s->idx, 0);
    if (len) memcpy(s->buf + hl, bytes, len);
    if ((rc = put(s, s->idx, s->buf, hl + len, err))) return rc;
    /* im2rec's .lst: key, each label as %f, path */
    char line[8192];
    size_t k = (size_t)snprintf(line, sizeof line, "%lld\t", (long long)s->idx);
    const float *ls = n ? labels : &scalar;
    for (unsigned i = 0; i < (n ? n : 1) && k < sizeof line - 64; i++)
        k += (size_t)snprintf(line + k, sizeof line - k, "%f\t", (double)ls[i]);
    k += (size_t)snprintf(line + k, sizeof line - k, "%s\n", path);
    if (k >= sizeof line) return lc_errf(err, LC_EINVAL, path, -1, -1, "path too long for the .lst");
    if ((rc = lc_out_write(s->lst, line, k, err))) return rc;
    if (s->n == 0) s->h = h, s->w = w;
    s->n++;
    s->idx++;
    return 0;
}

uint64_t lc_recset_count(const struct lc_recset *s) { return (uint64_t)s->n; }

int lc_recset_close(struct lc_recset *s, struct lc_err *err)
{
    int rc = 0;
    if (s->n == 0) rc = lc_errf(err, LC_EFORMAT, NULL, -1, -1, "no images to pack");
    if (!rc && !s->plain) {
        int64_t id_first = s->idx;
        uint8_t meta[LC_IRHEADER_SIZE + 8];
        for (int64_t c = 0; c < s->classes && !rc; c++) { /* a class without images gets an empty range */
            float range[2] = {(float)(s->lo[c] >= 0 ? s->lo[c] : id_first), (float)(s->lo[c] >= 0 ? s->hi[c] : id_first)};
            rc = put(s, s->idx, meta, lc_irheader_pack(meta, 0, range, 2, (uint64_t)s->idx, 0), err);
            s->idx++;
        }
        float head[2] = {(float)id_first, (float)s->idx};
        if (!rc) rc = put(s, 0, meta, lc_irheader_pack(meta, 0, head, 2, 0, 0), err);
        char prop[96];
        int k = snprintf(prop, sizeof prop, "%lld,%lld,%lld", (long long)s->classes, (long long)s->h, (long long)s->w);
        if (!rc) rc = lc_out_write(s->prop, prop, (size_t)k, err);
    }
    if (rc) {
        lc_recset_abort(s);
        return rc;
    }
    rc = lc_rec_writer_close(s->rec, err);
    s->rec = NULL;
    if (!rc) rc = lc_out_commit(s->lst, err);
    else lc_out_abort(s->lst);
    s->lst = NULL;
    if (s->prop) {
        if (!rc) rc = lc_out_commit(s->prop, err);
        else lc_out_abort(s->prop);
        s->prop = NULL;
    }
    lc_recset_abort(s); /* frees what is left */
    return rc;
}
