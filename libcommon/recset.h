/* recset: writing an InsightFace-layout RecordIO training set (train.rec,
 * train.idx, train.lst, property), as InsightFace's own packer lays it out:
 * images under keys 1..N with IRHeader (flag 0, label = class, id = key),
 * then one identity record per class (key N+1+c, labels [first, last+1)),
 * then the header record under key 0 (labels [N+1, N+1+C]); `property` is
 * `C,height,width` without a newline. A class's images must be contiguous.
 * The im2rec ("plain") layout is the same without header, identities and
 * property, keys from 0. Used by rec-pack and the synthetic set generator. */
#ifndef LC_RECSET_H
#define LC_RECSET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lc_recset;

/* Files dir/prefix.rec, .idx, .lst (and dir/property unless plain); dir is
 * created if missing. Everything appears atomically on close. */
int lc_recset_open(struct lc_recset **s, const char *dir, const char *prefix, int plain, struct lc_err *err);
/* Append an encoded image. labels: the float label array for the plain
 * layout (n > 1), else NULL/0 and `label` is used. path goes to the .lst.
 * h, w: the image size for property (the first image's is written). */
int lc_recset_add(struct lc_recset *s, int64_t label, const float *labels, unsigned n, const void *bytes, size_t len,
                  const char *path, int h, int w, struct lc_err *err);
uint64_t lc_recset_count(const struct lc_recset *s);
/* Identity and header records, property; commit all files. Frees s. */
int lc_recset_close(struct lc_recset *s, struct lc_err *err);
void lc_recset_abort(struct lc_recset *s);

#endif
