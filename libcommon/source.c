/* source: dataset detection and one item iterator over RecordIO,
 * validation .bin sets, image folders, archives and image streams.
 * RecordIO gets the most care: the InsightFace header and identity records
 * are checked against the images, so a broken dataset cannot yield a silently
 * wrong label. */
#include "source.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "folder.h"
#include "io.h"
#include "image.h"
#include "recordio.h"
#include "stream.h"
#include "valbin.h"

struct lc_source {
    int type;
    char path[4096];
    char *meta;
    int64_t count, classes;
    uint64_t next;        /* position of the next item */
    int recoverable;
    int skip_data;
    /* RecordIO */
    struct lc_rec_reader *rec;
    struct lc_rec_index ix;
    int have_idx;
    int64_t max_idx, id_end; /* InsightFace header: images 1..max_idx-1; identities max_idx..id_end-1 */
    int64_t *range_lo, *range_hi; /* identity ranges by class (indexed mode) */
    int64_t *seen_lo, *seen_hi, *seen_n; /* images per class (sequential mode, checked at the end) */
    const uint8_t *pending; /* sequential: a first record read while probing for a header */
    size_t pending_len;
    uint64_t pending_off;
    int have_pending;
    uint64_t meta_records; /* header/identity records skipped in a scan */
    char key[64];
    int64_t labels[LC_SOURCE_MAX_LABELS];
    float floats[LC_SOURCE_MAX_FLOATS];
    /* validation set */
    struct lc_valbin *vb;
    char dataset[256];
    /* folders and archives */
    struct lc_folder *folder;
    /* streams */
    struct lc_reader *stream;
};

static int meta_add(struct lc_source *s, const char *k, const char *v, struct lc_err *err)
{
    if (lc_meta_add(&s->meta, k, v)) return lc_errf(err, LC_ENOMEM, s->path, -1, -1, "out of memory");
    return 0;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ------------------------------------------------------------- RecordIO */

static int set_item(struct lc_source *s, struct lc_source_item *it, const uint8_t *rec, size_t len,
                    int64_t offset, const char *key, struct lc_err *err)
{
    struct lc_irheader h;
    const uint8_t *img;
    size_t img_len;
    int64_t index = (int64_t)s->next;
    struct lc_err e;
    int rc = lc_irheader_unpack(rec, len, &h, &img, &img_len, &e);
    if (rc) return lc_errf(err, rc, s->path, index, offset, "%s", e.msg);
    float l0 = lc_irheader_label(&h, 0);
    if (!isfinite(l0) || fabsf(l0) > 9.0e15f)
        return lc_errf(err, LC_EFORMAT, s->path, index, offset, "label %g is not a class id", (double)l0);
    unsigned nf = h.flag ? h.flag : 1;
    if (nf > LC_SOURCE_MAX_FLOATS)
        return lc_errf(err, LC_EFORMAT, s->path, index, offset, "%u labels in one record (at most %d)", nf,
                       LC_SOURCE_MAX_FLOATS);
    for (unsigned i = 0; i < nf; i++) s->floats[i] = lc_irheader_label(&h, i);
    memset(it, 0, sizeof *it);
    it->index = s->next;
    snprintf(s->key, sizeof s->key, "%s", key);
    it->key = s->key;
    it->label = (int64_t)l0; /* int(label[0]) as the reference casts it */
    s->labels[0] = it->label;
    s->labels[1] = (int64_t)h.id;
    s->labels[2] = (int64_t)h.id2;
    it->labels = s->labels;
    it->n_labels = 3;
    it->floats = s->floats;
    it->n_floats = nf;
    it->data = img;
    it->len = img_len;
    int f = lc_image_sniff(img, img_len);
    it->codec = f == LC_IMAGE_JPEG ? 1 : f == LC_IMAGE_PNG ? 2 : 3;
    it->dtype = 1;
    it->offset = offset;
    it->id = h.id;
    it->id2 = h.id2;
    return 0;
}

/* Is this record an InsightFace header (flag > 0, label[0] = max_idx, no image)? */
static int is_header(const uint8_t *rec, size_t len, int64_t *max_idx, int64_t *id_end)
{
    struct lc_irheader h;
    const uint8_t *img;
    size_t n;
    if (lc_irheader_unpack(rec, len, &h, &img, &n, NULL) || h.flag == 0 || n != 0) return 0;
    float a = lc_irheader_label(&h, 0), b = h.flag >= 2 ? lc_irheader_label(&h, 1) : a;
    if (!(a >= 1 && a < 4.0e9f && a == floorf(a) && b >= a && b < 4.0e9f && b == floorf(b))) return 0;
    *max_idx = (int64_t)a;
    *id_end = (int64_t)b;
    return 1;
}

/* Read the identity records of an indexed InsightFace set and check that
 * their image ranges are ascending, disjoint and inside 1..max_idx-1. */
static int load_identities(struct lc_source *s, struct lc_err *err)
{
    int64_t n = s->classes;
    s->range_lo = malloc((size_t)(n ? n : 1) * sizeof *s->range_lo);
    s->range_hi = malloc((size_t)(n ? n : 1) * sizeof *s->range_hi);
    if (!s->range_lo || !s->range_hi) return lc_errf(err, LC_ENOMEM, s->path, -1, -1, "out of memory");
    int64_t total = 0;
    for (int64_t c = 0; c < n; c++) {
        int64_t key = s->max_idx + c, off = lc_rec_index_find(&s->ix, key);
        if (off < 0)
            return lc_errf(err, LC_EFORMAT, s->path, key, -1, "identity record %lld (class %lld) is missing from the .idx",
                           (long long)key, (long long)c);
        const uint8_t *rec;
        size_t len;
        int rc = lc_rec_read_at(s->rec, (uint64_t)off, key, &rec, &len, err);
        if (rc) return rc;
        struct lc_irheader h;
        const uint8_t *img;
        size_t il;
        if (lc_irheader_unpack(rec, len, &h, &img, &il, err) || h.flag < 2)
            return lc_errf(err, LC_EFORMAT, s->path, key, off, "identity record %lld has no [first, last+1) label pair",
                           (long long)key);
        float a = lc_irheader_label(&h, 0), b = lc_irheader_label(&h, 1);
        if (!(a == floorf(a) && b == floorf(b) && a >= 1 && b >= a && b <= (float)s->max_idx))
            return lc_errf(err, LC_EFORMAT, s->path, key, off,
                           "identity record %lld (class %lld) has image range [%g, %g) outside [1, %lld)",
                           (long long)key, (long long)c, (double)a, (double)b, (long long)s->max_idx);
        s->range_lo[c] = (int64_t)a;
        s->range_hi[c] = (int64_t)b;
        total += (int64_t)b - (int64_t)a;
    }
    /* With every image inside its own class's range (checked per image),
     * ranges that add up to the image count partition the images. */
    if (total != s->max_idx - 1)
        return lc_errf(err, LC_EFORMAT, s->path, s->max_idx, -1,
                       "the identity records cover %lld images but the header says %lld: overlapping or missing ranges",
                       (long long)total, (long long)(s->max_idx - 1));
    return 0;
}

static int open_recordio(struct lc_source *s, const char *rec_path, const char *idx_path, const char *prop_path,
                         struct lc_in *in, struct lc_err *err)
{
    s->type = LC_SOURCE_RECORDIO;
    snprintf(s->path, sizeof s->path, "%s", rec_path);
    int rc = in ? lc_rec_open_in(&s->rec, in, err) : lc_rec_open(&s->rec, rec_path, err);
    if (rc) return rc;
    if (idx_path && file_exists(idx_path)) {
        rc = lc_rec_index_load(&s->ix, idx_path, err);
        if (rc) return rc;
        if (!lc_rec_seekable(s->rec))
            return lc_errf(err, LC_EUSAGE, rec_path, -1, -1, "an .idx needs the .rec as a regular file");
        s->have_idx = 1;
    }
    int64_t prop_classes = -1;
    if (prop_path && file_exists(prop_path)) {
        int h, w;
        rc = lc_rec_property_load(prop_path, &prop_classes, &h, &w, err);
        if (rc) return rc;
    }
    /* record 0: the InsightFace header, if there is one */
    const uint8_t *rec = NULL;
    size_t len = 0;
    uint64_t off0 = 0;
    int have0 = 0;
    if (s->have_idx) {
        int64_t off = s->ix.ikeys ? lc_rec_index_find(&s->ix, 0) : -1;
        if (off >= 0) {
            rc = lc_rec_read_at(s->rec, (uint64_t)off, 0, &rec, &len, err);
            if (rc) return rc;
            have0 = 1;
            off0 = (uint64_t)off;
        }
    } else {
        rc = lc_rec_next(s->rec, &rec, &len, &off0, err);
        if (rc < 0) return rc;
        have0 = rc == 1;
    }
    s->count = s->have_idx ? (int64_t)s->ix.n : -1;
    if (have0 && is_header(rec, len, &s->max_idx, &s->id_end)) {
        s->count = s->max_idx - 1;
        s->classes = s->id_end > s->max_idx ? s->id_end - s->max_idx : prop_classes;
        if (prop_classes >= 0 && s->id_end > s->max_idx && prop_classes != s->classes)
            return lc_errf(err, LC_EFORMAT, prop_path, -1, -1,
                           "property says %lld classes, the header record %lld identity records", (long long)prop_classes,
                           (long long)s->classes);
        if (s->have_idx && s->id_end > s->max_idx) {
            rc = load_identities(s, err);
            if (rc) return rc;
        } else if (s->id_end > s->max_idx) {
            size_t n = (size_t)s->classes;
            s->seen_lo = malloc(n * sizeof *s->seen_lo);
            s->seen_hi = calloc(n, sizeof *s->seen_hi);
            s->seen_n = calloc(n, sizeof *s->seen_n);
            if (!s->seen_lo || !s->seen_hi || !s->seen_n) return lc_errf(err, LC_ENOMEM, s->path, -1, -1, "out of memory");
            for (size_t c = 0; c < n; c++) s->seen_lo[c] = INT64_MAX;
        }
    } else {
        s->max_idx = 0;
        s->classes = prop_classes;
        if (have0 && !s->have_idx) { /* the first record is an image: keep it */
            if (len > (1u << 30)) return lc_errf(err, LC_EFORMAT, s->path, 0, 0, "record too large");
            uint8_t *copy = malloc(len ? len : 1);
            if (!copy) return lc_errf(err, LC_ENOMEM, s->path, -1, -1, "out of memory");
            memcpy(copy, rec, len);
            s->pending = copy;
            s->pending_len = len;
            s->pending_off = off0;
            s->have_pending = 1;
        }
    }
    char v[64];
    rc = meta_add(s, "source", rec_path, err);
    if (!rc && s->max_idx) rc = meta_add(s, "recordio_layout", "insightface", err);
    if (!rc && s->classes >= 0) {
        snprintf(v, sizeof v, "%lld", (long long)s->classes);
        rc = meta_add(s, "classes", v, err);
    }
    return rc;
}

/* Check an image's class against the identity records. */
static int check_identity(struct lc_source *s, int64_t k, int64_t label, int64_t off, struct lc_err *err)
{
    if (s->classes > 0 && (label < 0 || label >= s->classes))
        return lc_errf(err, LC_EFORMAT, s->path, (int64_t)s->next, off, "record %lld has label %lld, outside 0..%lld",
                       (long long)k, (long long)label, (long long)s->classes - 1);
    if (s->range_lo && (k < s->range_lo[label] || k >= s->range_hi[label]))
        return lc_errf(err, LC_EFORMAT, s->path, (int64_t)s->next, off,
                       "record %lld has label %lld, but identity record %lld gives that class records [%lld, %lld)",
                       (long long)k, (long long)label, (long long)(s->max_idx + label), (long long)s->range_lo[label],
                       (long long)s->range_hi[label]);
    if (s->seen_n) {
        if (k < s->seen_lo[label]) s->seen_lo[label] = k;
        if (k > s->seen_hi[label]) s->seen_hi[label] = k;
        s->seen_n[label]++;
    }
    return 0;
}

/* Sequential InsightFace set: after the images, check the identity records. */
static int check_trailing_identities(struct lc_source *s, struct lc_err *err)
{
    for (int64_t c = 0; c < s->classes; c++) {
        const uint8_t *rec;
        size_t len;
        uint64_t off;
        int64_t key = s->max_idx + c;
        int rc = lc_rec_next(s->rec, &rec, &len, &off, err);
        if (rc < 0) return rc;
        if (rc == 0)
            return lc_errf(err, LC_ETRUNC, s->path, key, -1, "the file ends before identity record %lld (of %lld)",
                           (long long)key, (long long)s->classes);
        struct lc_irheader h;
        const uint8_t *img;
        size_t il;
        if (lc_irheader_unpack(rec, len, &h, &img, &il, err) || h.flag < 2)
            return lc_errf(err, LC_EFORMAT, s->path, key, (int64_t)off, "identity record %lld has no label pair", (long long)key);
        float a = lc_irheader_label(&h, 0), b = lc_irheader_label(&h, 1);
        int64_t lo = s->seen_n[c] ? s->seen_lo[c] : 0, hi = s->seen_n[c] ? s->seen_hi[c] + 1 : 0;
        if (!(a == (float)lo && b == (float)hi && hi - lo == s->seen_n[c]) && s->seen_n[c])
            return lc_errf(err, LC_EFORMAT, s->path, key, (int64_t)off,
                           "identity record %lld says class %lld has records [%g, %g), but the images with that label are "
                           "%lld records in [%lld, %lld)",
                           (long long)key, (long long)c, (double)a, (double)b, (long long)s->seen_n[c], (long long)lo,
                           (long long)hi);
    }
    return 0;
}

static int next_recordio(struct lc_source *s, struct lc_source_item *it, struct lc_err *err)
{
    if (s->count >= 0 && (int64_t)s->next >= s->count) {
        if (s->seen_n && s->next == (uint64_t)s->count) {
            s->recoverable = 0;
            int rc = check_trailing_identities(s, err);
            s->next++; /* once */
            if (rc) return rc;
        }
        return 0;
    }
    const uint8_t *rec;
    size_t len;
    uint64_t off;
    char key[32];
    int64_t k;
    if (s->have_idx) {
        s->recoverable = 1;
        if (s->max_idx) {
            k = (int64_t)s->next + 1;
            int64_t o = lc_rec_index_find(&s->ix, k);
            if (o < 0) {
                int64_t idx = (int64_t)s->next++;
                return lc_errf(err, LC_EFORMAT, s->path, idx, -1, "record %lld is missing from the .idx", (long long)k);
            }
            off = (uint64_t)o;
            snprintf(key, sizeof key, "%lld", (long long)k);
        } else {
            k = s->ix.ikeys ? s->ix.ikeys[s->next] : (int64_t)s->next;
            off = s->ix.offsets[s->next];
            if (s->ix.ikeys) snprintf(key, sizeof key, "%lld", (long long)k);
        }
        const char *kstr = s->max_idx || s->ix.ikeys ? key : s->ix.keys[s->next];
        int rc = lc_rec_read_at(s->rec, off, (int64_t)s->next, &rec, &len, err);
        if (rc) { /* say which .idx key led here */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            snprintf(err->msg, sizeof err->msg, "key %.40s: %.440s", kstr, msg);
        }
        if (!rc) rc = set_item(s, it, rec, len, (int64_t)off, kstr, err);
        if (!rc && s->max_idx) rc = check_identity(s, k, it->label, (int64_t)off, err);
        s->next++;
        return rc ? rc : 1;
    }
    for (;;) {
        if (s->have_pending) {
            rec = s->pending;
            len = s->pending_len;
            off = s->pending_off;
            s->have_pending = 0;
        } else {
            s->recoverable = 0; /* a framing error leaves nothing to resync on */
            int rc = lc_rec_next(s->rec, &rec, &len, &off, err);
            if (rc <= 0) return rc;
        }
        /* InsightFace's packer writes identity records and then the header
         * (key 0) after the images: without an .idx they are met here, and
         * are metadata, not images. */
        struct lc_irheader h;
        const uint8_t *img;
        size_t il;
        if (!s->max_idx && lc_irheader_unpack(rec, len, &h, &img, &il, NULL) == 0 && h.flag >= 1 && il == 0) {
            s->meta_records++;
            continue;
        }
        break;
    }
    s->recoverable = 1;
    k = (int64_t)s->next + (s->max_idx ? 1 : 0);
    snprintf(key, sizeof key, "%lld", (long long)k);
    int rc = set_item(s, it, rec, len, (int64_t)off, key, err);
    if (!rc && s->max_idx) rc = check_identity(s, k, it->label, (int64_t)off, err);
    s->next++;
    return rc ? rc : 1;
}

/* --------------------------------------------------------- other kinds */

static int open_valbin(struct lc_source *s, const char *path, struct lc_err *err)
{
    s->type = LC_SOURCE_VALBIN;
    int rc = lc_valbin_load(&s->vb, path, err);
    if (rc) return rc;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(s->dataset, sizeof s->dataset, "%s", base);
    char *dot = strrchr(s->dataset, '.');
    if (dot && strcmp(dot, ".bin") == 0) *dot = '\0';
    for (char *c = s->dataset; *c; c++)
        if (*c == '\t' || *c == '\n' || *c == '\r' || *c == '=') *c = '_';
    s->count = (int64_t)(2 * s->vb->n_pairs);
    s->classes = -1;
    rc = meta_add(s, "source", path, err);
    if (!rc) rc = meta_add(s, "dataset", s->dataset, err);
    if (!rc) rc = meta_add(s, "pairs", "adjacent", err);
    return rc;
}

static int next_valbin(struct lc_source *s, struct lc_source_item *it, struct lc_err *err)
{
    (void)err;
    if ((int64_t)s->next >= s->count) return 0;
    size_t i = (size_t)s->next;
    memset(it, 0, sizeof *it);
    it->index = s->next++;
    snprintf(s->key, sizeof s->key, "%.40s/%zu", s->dataset, i);
    it->key = s->key;
    it->label = s->vb->issame[i / 2];
    s->labels[0] = it->label;
    it->labels = s->labels;
    it->n_labels = 1;
    it->data = s->vb->images[i];
    it->len = s->vb->sizes[i];
    int f = lc_image_sniff(it->data, it->len);
    it->codec = f == LC_IMAGE_JPEG ? 1 : f == LC_IMAGE_PNG ? 2 : 3;
    it->dtype = 1;
    it->offset = -1;
    return 1;
}

static int open_folder(struct lc_source *s, const char *path, struct lc_err *err)
{
    int rc = lc_folder_open(&s->folder, path, err);
    if (rc) return rc;
    s->type = lc_folder_is_archive(s->folder) ? LC_SOURCE_ARCHIVE : LC_SOURCE_FOLDER;
    s->count = (int64_t)lc_folder_count(s->folder);
    s->classes = (int64_t)lc_folder_num_classes(s->folder);
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)s->classes);
    rc = meta_add(s, "source", path, err);
    if (!rc) rc = meta_add(s, "classes", v, err);
    return rc;
}

static int next_folder(struct lc_source *s, struct lc_source_item *it, struct lc_err *err)
{
    struct lc_folder_item fi;
    s->recoverable = 1;
    int rc = s->skip_data ? lc_folder_skip(s->folder, &fi, err) : lc_folder_next(s->folder, &fi, err);
    if (rc <= 0) {
        if (rc < 0) s->next++;
        return rc;
    }
    memset(it, 0, sizeof *it);
    it->index = s->next++;
    it->key = fi.path;
    it->label = fi.label;
    s->labels[0] = fi.label;
    it->labels = s->labels;
    it->n_labels = 1;
    it->data = fi.data;
    it->len = fi.len;
    int f = fi.data ? lc_image_sniff(fi.data, fi.len) : LC_IMAGE_UNKNOWN;
    it->codec = f == LC_IMAGE_JPEG ? 1 : f == LC_IMAGE_PNG ? 2 : 3;
    it->dtype = 1;
    it->offset = -1;
    return 1;
}

static int open_stream(struct lc_source *s, const char *path, struct lc_in *in, struct lc_err *err)
{
    s->type = LC_SOURCE_STREAM;
    int rc = in ? lc_reader_open_in(&s->stream, in, err) : lc_reader_open(&s->stream, path, err);
    if (!rc) rc = lc_reader_expect_kind(s->stream, LC_KIND_IMAGES, err);
    if (rc) return rc;
    s->count = -1;
    s->classes = -1;
    const char *m = lc_reader_header(s->stream)->meta;
    char v[64];
    if (lc_meta_get(m, "classes", v, sizeof v)) s->classes = strtoll(v, NULL, 10);
    s->meta = strdup(m);
    if (!s->meta) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    return 0;
}

static int next_stream(struct lc_source *s, struct lc_source_item *it, struct lc_err *err)
{
    struct lc_record r;
    s->recoverable = 0;
    int rc = lc_reader_next(s->stream, &r, err);
    if (rc <= 0) return rc;
    if (!s->skip_data && (rc = lc_reader_payload(s->stream, &r, err))) return rc;
    memset(it, 0, sizeof *it);
    it->index = s->next++;
    it->key = r.key;
    it->label = r.n_labels ? r.labels[0] : -1;
    it->labels = r.labels;
    it->n_labels = r.n_labels;
    it->floats = r.floats;
    it->n_floats = r.n_floats;
    it->data = r.payload;
    it->len = r.payload_len;
    it->codec = r.codec;
    it->dtype = r.dtype;
    it->rank = r.rank;
    memcpy(it->dims, r.dims, sizeof it->dims);
    it->offset = (int64_t)r.offset;
    return 1;
}

/* ------------------------------------------------------------- dispatch */

int lc_source_open(struct lc_source **out, const char *path, struct lc_err *err)
{
    *out = NULL;
    struct lc_source *s = calloc(1, sizeof *s);
    if (!s) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    snprintf(s->path, sizeof s->path, "%s", path);
    s->recoverable = 1;
    int rc;
    struct stat st;
    int is_stdin = strcmp(path, "-") == 0;
    if (!is_stdin && stat(path, &st) != 0) {
        rc = lc_errno(err, errno, path, "cannot open");
    } else if (!is_stdin && S_ISDIR(st.st_mode)) {
        char rec[4200], idx[4200], prop[4200];
        snprintf(rec, sizeof rec, "%s/train.rec", path);
        snprintf(idx, sizeof idx, "%s/train.idx", path);
        snprintf(prop, sizeof prop, "%s/property", path);
        rc = file_exists(rec) ? open_recordio(s, rec, idx, prop, NULL, err) : open_folder(s, path, err);
    } else if (is_stdin) { /* a stream or a RecordIO file: look at the first bytes */
        struct lc_in *in;
        const void *p;
        size_t got;
        rc = lc_in_open(&in, "-", err);
        if (!rc && (rc = lc_in_peek(in, 4, &p, &got, err))) lc_in_close(in);
        if (!rc) {
            if (got == 4 && memcmp(p, "\x89SFT", 4) == 0) rc = open_stream(s, "-", in, err);
            else rc = open_recordio(s, "-", NULL, NULL, in, err);
        }
    } else {
        uint8_t head[8] = {0};
        size_t n = 0;
        FILE *f = fopen(path, "rb");
        if (f) {
            n = fread(head, 1, sizeof head, f);
            fclose(f);
        }
        uint32_t magic;
        memcpy(&magic, head, 4);
        size_t len = strlen(path);
        int rec_name = len > 4 && strcmp(path + len - 4, ".rec") == 0;
        if ((n >= 4 && (magic == LC_REC_MAGIC || magic == LC_REC_MAGIC_EARLY)) || rec_name) {
            char idx[4200], prop[4200];
            snprintf(idx, sizeof idx, "%.*s.idx", (int)(rec_name ? len - 4 : len), path);
            const char *slash = strrchr(path, '/');
            snprintf(prop, sizeof prop, "%.*sproperty", slash ? (int)(slash - path + 1) : 0, path);
            rc = open_recordio(s, path, idx, prop, NULL, err);
        } else if ((n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) ||
                   (len > 4 && strcmp(path + len - 4, ".bin") == 0 && !(n >= 4 && memcmp(head, "\x89SFT", 4) == 0))) {
            /* a pickle: protocol 2+ starts with PROTO; older ones are found by the name */
            rc = open_valbin(s, path, err);
        } else if (n >= 4 && memcmp(head, "\x89SFT", 4) == 0) {
            rc = open_stream(s, path, NULL, err);
        } else if (lc_folder_path_is_archive(path)) {
            rc = open_folder(s, path, err);
        } else {
            rc = lc_errf(err, LC_EFORMAT, path, -1, 0,
                         "not a dataset this toolkit reads (RecordIO .rec, InsightFace .bin, tensor stream, image "
                         "folder, tar or zip archive)");
        }
    }
    if (rc) {
        lc_source_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void lc_source_close(struct lc_source *s)
{
    if (!s) return;
    lc_rec_close(s->rec);
    lc_rec_index_free(&s->ix);
    lc_valbin_free(s->vb);
    lc_folder_close(s->folder);
    lc_reader_free(s->stream);
    free((void *)s->pending);
    free(s->range_lo);
    free(s->range_hi);
    free(s->seen_lo);
    free(s->seen_hi);
    free(s->seen_n);
    free(s->meta);
    free(s);
}

int lc_source_type(const struct lc_source *s) { return s->type; }

const char *lc_source_type_name(const struct lc_source *s)
{
    switch (s->type) {
    case LC_SOURCE_RECORDIO: return s->max_idx ? "RecordIO (InsightFace layout)" : "RecordIO";
    case LC_SOURCE_VALBIN: return "InsightFace validation set";
    case LC_SOURCE_FOLDER: return "image folder";
    case LC_SOURCE_ARCHIVE: return "image archive";
    case LC_SOURCE_STREAM: return "tensor stream";
    }
    return "?";
}

int64_t lc_source_count(const struct lc_source *s) { return s->count; }
int64_t lc_source_classes(const struct lc_source *s) { return s->classes; }
const char *lc_source_meta(const struct lc_source *s) { return s->meta ? s->meta : ""; }
int lc_source_recoverable(const struct lc_source *s) { return s->recoverable; }
uint64_t lc_source_position(const struct lc_source *s) { return s->next; }
const char *lc_source_path(const struct lc_source *s) { return s->path; }
int lc_source_indexed(const struct lc_source *s) { return s->type == LC_SOURCE_RECORDIO && s->have_idx; }
int lc_source_set_skip_data(struct lc_source *s, int skip) { return s->skip_data = skip; }

const char *lc_source_class_name(const struct lc_source *s, int64_t label)
{
    return s->folder && label >= 0 ? lc_folder_class(s->folder, (size_t)label) : NULL;
}

uint64_t lc_source_class_images(const struct lc_source *s, int64_t label)
{
    return s->folder && label >= 0 ? lc_folder_class_count(s->folder, (size_t)label) : 0;
}

size_t lc_source_pairs(const struct lc_source *s, const uint8_t **issame)
{
    if (!s->vb) return 0;
    *issame = s->vb->issame;
    return s->vb->n_pairs;
}

int lc_source_next(struct lc_source *s, struct lc_source_item *it, struct lc_err *err)
{
    switch (s->type) {
    case LC_SOURCE_RECORDIO: return next_recordio(s, it, err);
    case LC_SOURCE_VALBIN: return next_valbin(s, it, err);
    case LC_SOURCE_FOLDER:
    case LC_SOURCE_ARCHIVE: return next_folder(s, it, err);
    case LC_SOURCE_STREAM: return next_stream(s, it, err);
    }
    return lc_errf(err, LC_EINVAL, s->path, -1, -1, "bad source");
}

int lc_source_seek(struct lc_source *s, uint64_t index, struct lc_err *err)
{
    if (index < s->next && !(s->type == LC_SOURCE_VALBIN || (s->type == LC_SOURCE_RECORDIO && s->have_idx)))
        return lc_errf(err, LC_EINVAL, s->path, (int64_t)index, -1, "cannot go back in a sequential source");
    if (s->count >= 0 && (int64_t)index > s->count) index = (uint64_t)s->count;
    if (s->type == LC_SOURCE_VALBIN || (s->type == LC_SOURCE_RECORDIO && s->have_idx)) {
        s->next = index;
        return 0;
    }
    int skip = s->skip_data;
    s->skip_data = 1;
    struct lc_source_item it;
    int rc = 0;
    while (s->next < index && (rc = lc_source_next(s, &it, err)) == 1) {
    }
    s->skip_data = skip;
    return rc < 0 ? rc : 0;
}
