/* rec-pack: an images stream, image folder, archive or RecordIO set to an
 * MXNet RecordIO dataset in the InsightFace layout (or im2rec's plain one).
 * The records are byte-identical to what MXNet's writer makes from the same
 * payloads, so MXNet/InsightFace/AdaFace training code reads the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "io.h"
#include "opt.h"
#include "recfile.h"
#include "recset.h"
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
    struct lc_recset *set;
    if (lc_recset_open(&set, o.output, o.prefix, o.plain, &err)) lc_tool_fail(&err);
    struct lc_image img = {0};
    struct lc_source_item it;
    struct lc_progress pr;
    lc_progress_start(&pr, o.progress, lc_source_count(src) > 0 ? (unsigned long long)lc_source_count(src) : 0, "images");
    int rc;
    while ((rc = lc_source_next(src, &it, &err)) == 1) {
        uint8_t *owned = NULL;
        const uint8_t *bytes = NULL;
        size_t len = 0;
        int h = 0, wd = 0;
        rc = payload(&o, &it, pixels, dec, &img, &owned, &bytes, &len, &h, &wd, &err);
        /* the plain layout keeps a stored label array; InsightFace uses the class */
        if (!rc) rc = lc_recset_add(set, it.label, it.floats, it.n_floats, bytes, len, it.key, h, wd, &err);
        free(owned);
        if (rc) {
            char msg[sizeof err.msg + 600];
            snprintf(msg, sizeof msg, "key '%.500s': %s", it.key, err.msg);
            lc_errf(&err, err.code, o.input, (int64_t)it.index, it.offset, "%s", msg);
            break;
        }
        lc_progress_update(&pr, lc_recset_count(set));
    }
    if (rc < 0) {
        lc_recset_abort(set);
        lc_tool_fail(&err);
    }
    uint64_t n = lc_recset_count(set);
    if (lc_recset_close(set, &err)) lc_tool_fail(&err);
    lc_progress_end(&pr, n);
    if (o.progress)
        lc_tool_note("packed %llu images%s into %s/%s.rec", (unsigned long long)n,
                     o.plain ? "" : " with identity and header records", o.output, o.prefix);
    lc_image_release(&img);
    lc_image_decoder_free(dec);
    lc_source_close(src);
    return 0;
}
