/* rec-pack: an images stream, image folder, archive or RecordIO set to an
 * MXNet RecordIO dataset in the InsightFace layout (or im2rec's plain one).
 * The records are byte-identical to what MXNet's writer makes from the same
 * payloads, so MXNet/InsightFace/AdaFace training code reads the result. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "io.h"
#include "opt.h"
#include "recordio.h"
#include "recfile.h"
#include "source.h"
#include "stream.h"
#include "tool.h"

struct opts {
    const char *input, *output, *prefix;
    int quality, reencode, png, plain, progress;
};

static const struct lc_tool tool = {
    "rec-pack",
    "Pack images into an MXNet RecordIO dataset: PREFIX.rec, PREFIX.idx, PREFIX.lst and property.",
    "[options] INPUT -o DIR",
    "images streams (raw u8 (H,W,C) or JPEG/PNG bytes), or any dataset rec-unpack reads",
    NULL,
    "Layout (default) as InsightFace's tools write it: records 1..N are the images, with IRHeader "
    "(flag 0, label = class, id = record number); then one identity record per class c (key N+1+c, "
    "labels [first, last+1) of its images); then the header record under key 0 (labels [N+1, N+1+C]). "
    "Images of a class must be contiguous in the input (image folders are). property holds "
    "`classes,height,width` of the first image.\n"
    "--plain writes im2rec's layout instead: keys 0..N-1, no header or identity records, float label "
    "arrays kept as they are.\n"
    "Encoded inputs (JPEG, PNG) are stored byte for byte unless --reencode; raw pixels are encoded as JPEG "
    "(--quality, default 95, 4:2:0 as cv2.imencode) or PNG (--png), in the channel order the stream's "
    "`channels` metadata names. Records are framed exactly as MXNet's RecordIO writer frames them.",
};

static void parse_args(struct opts *o, int argc, char **argv)
{
    *o = (struct opts){.prefix = "train", .quality = 95};
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "output", 'o', &o->output, "DIR", "directory to write (created if needed)"},
        {LC_OPT_STRING, "prefix", 0, &o->prefix, "NAME", "file names NAME.rec, NAME.idx, NAME.lst (default train)"},
        {LC_OPT_INT, "quality", 'q', &o->quality, "Q", "JPEG quality 1-100 for encoded pixels (default 95)"},
        {LC_OPT_FLAG, "reencode", 0, &o->reencode, NULL, "decode and re-encode JPEG/PNG inputs too"},
        {LC_OPT_FLAG, "png", 0, &o->png, NULL, "encode as PNG (lossless) instead of JPEG"},
        {LC_OPT_FLAG, "plain", 0, &o->plain, NULL, "im2rec layout: no header or identity records"},
        {LC_OPT_FLAG, "progress", 0, &o->progress, NULL, "report progress on stderr"},
        {LC_OPT_END},
    };
    int i = lc_opt_parse(&tool, opts, argc, argv);
    if (i + 1 != argc) lc_tool_usage(tool.name, "expected one INPUT (- for stdin)");
    o->input = argv[i];
    if (!o->output) lc_tool_usage(tool.name, "-o DIR is required");
    if (o->quality < 1 || o->quality > 100) lc_tool_usage(tool.name, "--quality must be 1..100");
    if (!*o->prefix || strchr(o->prefix, '/')) lc_tool_usage(tool.name, "--prefix must be a plain file name");
}

/* Identity ranges by class, grown as labels appear; checks that each
 * class's images are contiguous. */
struct ids {
    int64_t *lo, *hi;
    size_t cap;
    int64_t classes, current;
};

static int ids_add(struct ids *d, int64_t label, int64_t idx, const char *key, struct lc_err *err)
{
    if (label < 0 || label > 100000000)
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "image '%s' has label %lld: the InsightFace layout needs class ids "
                       "0..10^8 (use --plain for other labels)", key, (long long)label);
    if ((size_t)label >= d->cap) {
        size_t cap = d->cap ? d->cap : 1024;
        while (cap <= (size_t)label) cap *= 2;
        int64_t *lo = realloc(d->lo, cap * sizeof *lo), *hi = lo ? realloc(d->hi, cap * sizeof *hi) : NULL;
        if (lo) d->lo = lo;
        if (!lo || !hi) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        d->hi = hi;
        for (size_t c = d->cap; c < cap; c++) d->lo[c] = d->hi[c] = -1;
        d->cap = cap;
    }
    if (label != d->current) {
        if (d->lo[label] >= 0)
            return lc_errf(err, LC_EFORMAT, NULL, -1, -1,
                           "image '%s' of class %lld comes after other classes followed that class's first images: "
                           "the InsightFace layout needs each class's images together (sort the input by label, or "
                           "use --plain)",
                           key, (long long)label);
        d->lo[label] = idx;
        d->current = label;
    }
    d->hi[label] = idx + 1;
    if (label + 1 > d->classes) d->classes = label + 1;
    return 0;
}

struct out {
    struct lc_rec_writer *rec;
    struct lc_out *lst, *prop;
    char dir[4096];
};

static void abort_out(struct out *w)
{
    lc_rec_writer_abort(w->rec);
    lc_out_abort(w->lst);
    lc_out_abort(w->prop);
}

static void die(struct out *w, struct lc_err *err)
{
    abort_out(w);
    lc_tool_fail(err);
}

static void open_out(struct out *w, const struct opts *o)
{
    struct lc_err err;
    char rec[4200], idx[4200], lst[4200], prop[4200];
    if (mkdir(o->output, 0777) != 0 && errno != EEXIST) {
        lc_errno(&err, errno, o->output, "cannot create directory");
        lc_tool_fail(&err);
    }
    snprintf(rec, sizeof rec, "%s/%s.rec", o->output, o->prefix);
    snprintf(idx, sizeof idx, "%s/%s.idx", o->output, o->prefix);
    snprintf(lst, sizeof lst, "%s/%s.lst", o->output, o->prefix);
    snprintf(prop, sizeof prop, "%s/property", o->output);
    if (lc_rec_writer_open(&w->rec, rec, idx, &err)) lc_tool_fail(&err);
    if (lc_out_open(&w->lst, lst, 0, &err)) die(w, &err);
    if (!o->plain && lc_out_open(&w->prop, prop, 0, &err)) die(w, &err);
}

/* The image bytes to store: passed through, or encoded from pixels. */
static int payload(const struct opts *o, const struct lc_source_item *it, int pixels, struct lc_image_decoder *dec,
                   struct lc_image *img, uint8_t **owned, const uint8_t **bytes, size_t *len, int *h, int *w,
                   struct lc_err *err)
{
    *owned = NULL;
    int encoded = it->codec != LC_CODEC_NONE;
    if (encoded && !o->reencode) {
        *bytes = it->data;
        *len = it->len;
        int c;
        if (lc_image_probe(it->data, it->len, h, w, &c, NULL)) *h = *w = 0;
        return 0;
    }
    if (encoded) {
        int rc = lc_image_decode(dec, it->data, it->len, pixels, 1, img, err);
        if (rc) return rc;
    } else {
        if (it->dtype != LC_DTYPE_U8 || it->rank != 3 || (it->dims[2] != 1 && it->dims[2] != 3))
            return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "record is not a u8 (H, W, 1 or 3) image");
        *img = (struct lc_image){(int)it->dims[0], (int)it->dims[1], (int)it->dims[2], (uint8_t *)it->data, 0};
    }
    *h = img->h;
    *w = img->w;
    int rc = o->png ? lc_image_encode_png(img, pixels, -1, owned, len, err)
                    : lc_image_encode_jpeg(img, pixels, o->quality, owned, len, err);
    if (!encoded) img->data = NULL; /* borrowed from the item */
    *bytes = *owned;
    return rc;
}

static void write_lst(struct out *w, int64_t idx, const float *labels, unsigned n, const char *path)
{
    char line[8192];
    size_t k = (size_t)snprintf(line, sizeof line, "%lld\t", (long long)idx);
    for (unsigned i = 0; i < n && k < sizeof line - 64; i++) k += (size_t)snprintf(line + k, sizeof line - k, "%f\t", (double)labels[i]);
    k += (size_t)snprintf(line + k, sizeof line - k, "%s\n", path);
    struct lc_err err;
    if (k >= sizeof line) {
        lc_errf(&err, LC_EINVAL, path, -1, -1, "path too long for the .lst");
        die(w, &err);
    }
    if (lc_out_write(w->lst, line, k, &err)) die(w, &err);
}

static void put(struct out *w, int64_t key, const uint8_t *rec, size_t len)
{
    struct lc_err err;
    char k[32];
    snprintf(k, sizeof k, "%lld", (long long)key);
    if (lc_rec_write(w->rec, k, rec, len, &err)) die(w, &err);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct lc_err err;
    lc_tool_init("rec-pack");
    parse_args(&o, argc, argv);
    struct lc_source *src;
    if (lc_source_open(&src, o.input, &err)) lc_tool_fail(&err);
    int pixels = lc_meta_pixels(lc_source_meta(src));
    struct lc_image_decoder *dec;
    if (lc_image_decoder_init(&dec, &err)) lc_tool_fail(&err);
    struct out w = {0};
    open_out(&w, &o);
    struct ids ids = {.current = -1};
    struct lc_image img = {0};
    struct lc_source_item it;
    struct lc_progress pr;
    lc_progress_start(&pr, o.progress, lc_source_count(src) > 0 ? (unsigned long long)lc_source_count(src) : 0, "images");
    int64_t idx = o.plain ? 0 : 1, first_h = 0, first_w = 0, n = 0;
    uint8_t *rec = NULL;
    size_t rec_cap = 0;
    int rc;
    while ((rc = lc_source_next(src, &it, &err)) == 1) {
        uint8_t *owned = NULL;
        const uint8_t *bytes = NULL;
        size_t len;
        int h, wd;
        if (payload(&o, &it, pixels, dec, &img, &owned, &bytes, &len, &h, &wd, &err)) {
            char msg[sizeof err.msg + 600];
            snprintf(msg, sizeof msg, "key '%.500s': %s", it.key, err.msg);
            lc_errf(&err, err.code, o.input, (int64_t)it.index, it.offset, "%s", msg);
            die(&w, &err);
        }
        if (n == 0) first_h = h, first_w = wd;
        /* plain layout keeps a stored label array; InsightFace uses the class */
        float scalar = (float)it.label;
        const float *labels = o.plain && it.n_floats > 1 ? it.floats : &scalar;
        unsigned nl = o.plain && it.n_floats > 1 ? it.n_floats : 1;
        if (!o.plain && ids_add(&ids, it.label, idx, it.key, &err)) {
            err.record = (int64_t)it.index;
            snprintf(err.path, sizeof err.path, "%s", o.input);
            die(&w, &err);
        }
        size_t need = LC_IRHEADER_SIZE + 4 * (size_t)nl + len;
        if (need > rec_cap) {
            rec_cap = need * 2;
            uint8_t *p = realloc(rec, rec_cap);
            if (!p) {
                lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
                die(&w, &err);
            }
            rec = p;
        }
        size_t hl = nl > 1 ? lc_irheader_pack(rec, 0, labels, nl, (uint64_t)idx, 0)
                           : lc_irheader_pack(rec, scalar, NULL, 0, (uint64_t)idx, 0);
        if (len) memcpy(rec + hl, bytes, len);
        put(&w, idx, rec, hl + len);
        write_lst(&w, idx, labels, nl, it.key);
        free(owned);
        idx++;
        n++;
        lc_progress_update(&pr, (unsigned long long)n);
    }
    if (rc < 0) die(&w, &err);
    if (n == 0) {
        lc_errf(&err, LC_EFORMAT, o.input, -1, -1, "no images to pack");
        die(&w, &err);
    }
    if (!o.plain) {
        int64_t id_first = idx;
        uint8_t meta[LC_IRHEADER_SIZE + 8];
        for (int64_t c = 0; c < ids.classes; c++) { /* empty classes get an empty range */
            float range[2] = {(float)(ids.lo[c] >= 0 ? ids.lo[c] : id_first), (float)(ids.lo[c] >= 0 ? ids.hi[c] : id_first)};
            put(&w, idx, meta, lc_irheader_pack(meta, 0, range, 2, (uint64_t)idx, 0));
            idx++;
        }
        float head[2] = {(float)id_first, (float)idx};
        put(&w, 0, meta, lc_irheader_pack(meta, 0, head, 2, 0, 0));
        char prop[96];
        int k = snprintf(prop, sizeof prop, "%lld,%lld,%lld", (long long)ids.classes, (long long)first_h, (long long)first_w);
        if (lc_out_write(w.prop, prop, (size_t)k, &err)) die(&w, &err);
    }
    if (lc_rec_writer_close(w.rec, &err)) {
        w.rec = NULL;
        die(&w, &err);
    }
    w.rec = NULL;
    if (lc_out_commit(w.lst, &err)) {
        w.lst = NULL;
        die(&w, &err);
    }
    w.lst = NULL;
    if (w.prop && lc_out_commit(w.prop, &err)) lc_tool_fail(&err);
    lc_progress_end(&pr, (unsigned long long)n);
    if (o.progress)
        lc_tool_note("packed %lld images%s into %s/%s.rec", (long long)n,
                     o.plain ? "" : " with identity and header records", o.output, o.prefix);
    free(rec);
    free(ids.lo);
    free(ids.hi);
    lc_image_release(&img);
    lc_image_decoder_free(dec);
    lc_source_close(src);
    return 0;
}
