/* rec-unpack: face datasets (MXNet RecordIO, InsightFace .bin validation
 * sets, image folders, tar/zip archives) to an images stream, a CSV
 * listing, or an image folder. Decoding runs on worker threads and output
 * keeps the dataset's order, so --threads never changes the result. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csvout.h"
#include "image.h"
#include "io.h"
#include "opt.h"
#include "pmap.h"
#include "source.h"
#include "stream.h"
#include "tool.h"

struct opts {
    const char *input, *output, *range, *shard, *to_dir, *format, *pairs, *class_map;
    int raw, rgb, list, skip_bad, swap_rb, progress, threads;
    int64_t limit;
};

struct job {
    uint64_t index;
    char *key;
    size_t key_cap;
    int64_t label, labels[LC_SOURCE_MAX_LABELS];
    unsigned n_labels, n_floats;
    float *floats;
    size_t floats_cap;
    uint8_t *data;
    size_t len, cap;
    int codec, dtype;
    unsigned rank;
    uint32_t dims[4];
    int64_t offset;
    struct lc_image img;
};

struct run {
    const struct opts *o;
    struct lc_source *src;
    struct lc_ranges ranges;
    uint64_t stop, emitted, bad;
    struct lc_image_decoder **dec;
    int pixels;
    struct lc_err src_err; /* the bad record that stopped the source */
    struct lc_progress pr;
};

static const struct lc_tool tool = {
    "rec-unpack",
    "Unpack face datasets to an images stream (decoded or raw), a CSV listing, or an image folder.",
    "[options] DATASET",
    NULL,
    "images (u8 H x W x 3, BGR unless --rgb; JPEG/PNG bytes with --raw); pairs (--pairs)",
    "DATASET is one of: a directory holding train.rec (+ train.idx, property); a .rec file (its .idx and a "
    "`property` beside it are used when present); an InsightFace validation .bin (lfw.bin, cfp_fp.bin, ...); "
    "a directory of class folders (CLASS/IMAGE.jpg); a tar, tar.gz or zip of such folders; an images stream; "
    "- for a RecordIO file on stdin.\n"
    "Order: InsightFace RecordIO records 1..max-1 (identity records are checked, not emitted); other RecordIO "
    "in .idx order, or file order without an .idx; folders sorted by class then path; archives in archive "
    "order. Labels: RecordIO [class, id, id2] with the stored float label(s) as floats; .bin [pair label] "
    "(images 2i and 2i+1 form pair i); folders [class] (classes sorted by name).\n"
    "Selection (positions in that order): --range, --limit, --shard I/N (contiguous part I of N, so "
    "`cat` of the N outputs in order is the whole set). Bad records stop the run with the file, record and "
    "byte offset, unless --skip-bad.\n"
    "--to-dir writes DIR/LABEL/IDX.EXT as the reference's convert.py does; JPEG records are copied "
    "byte for byte when --format is jpg. convert.py itself re-encodes with red and blue swapped (its images "
    "look blue-tinted, which the reference's PIL-based training then undoes): --swap-rb reproduces that.",
};

static void parse_args(struct opts *o, int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (struct opts){.output = "-", .format = "jpg", .threads = cpus > 8 ? 8 : cpus < 1 ? 1 : (int)cpus, .limit = -1};
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "output", 'o', &o->output, "FILE", "output stream or CSV (default: stdout)"},
        {LC_OPT_FLAG, "raw", 0, &o->raw, NULL, "keep the encoded image bytes (codec jpeg/png), do not decode"},
        {LC_OPT_FLAG, "rgb", 0, &o->rgb, NULL, "decode to RGB instead of the toolkit's BGR"},
        {LC_OPT_INT, "threads", 'j', &o->threads, "N", "decoding threads (default: CPUs, at most 8; 0: none)"},
        {LC_OPT_I64, "limit", 'n', &o->limit, "N", "at most N images"},
        {LC_OPT_STRING, "range", 'r', &o->range, "RANGES", "only these positions, e.g. 0:1000 or 5,10:20"},
        {LC_OPT_STRING, "shard", 0, &o->shard, "I/N", "only contiguous part I of N (needs a known count)"},
        {LC_OPT_FLAG, "list", 'l', &o->list, NULL,
         "CSV of index, key, label, labels, id, id2, offset, bytes, format; no decoding"},
        {LC_OPT_STRING, "to-dir", 'd', &o->to_dir, "DIR", "write an image folder DIR/LABEL/IDX.EXT instead of a stream"},
        {LC_OPT_STRING, "format", 'f', &o->format, "EXT", "with --to-dir: jpg (default; quality 95) or png"},
        {LC_OPT_FLAG, "swap-rb", 0, &o->swap_rb, NULL, "with --to-dir: swap red and blue as convert.py does"},
        {LC_OPT_STRING, "pairs", 'p', &o->pairs, "FILE", "validation .bin: also write its pairs as a pairs stream"},
        {LC_OPT_STRING, "class-map", 0, &o->class_map, "FILE", "folders: write label,class,images as CSV"},
        {LC_OPT_FLAG, "skip-bad", 0, &o->skip_bad, NULL, "skip bad records, count them, report at the end"},
        {LC_OPT_FLAG, "progress", 0, &o->progress, NULL, "report progress on stderr"},
        {LC_OPT_END},
    };
    int i = lc_opt_parse(&tool, opts, argc, argv);
    if (i + 1 != argc) lc_tool_usage(tool.name, "expected one DATASET");
    o->input = argv[i];
    if (o->threads < 0 || o->threads > 256) lc_tool_usage(tool.name, "--threads must be 0..256");
    if (strcmp(o->format, "jpg") && strcmp(o->format, "png")) lc_tool_usage(tool.name, "--format must be jpg or png");
    if ((o->list != 0) + (o->to_dir != NULL) + (o->raw != 0) > 1)
        lc_tool_usage(tool.name, "--list, --to-dir and --raw exclude each other");
    if (o->swap_rb && !o->to_dir) lc_tool_usage(tool.name, "--swap-rb applies to --to-dir only");
}

/* ------------------------------------------------------------ selection */

static void plan(struct run *r)
{
    const struct opts *o = r->o;
    struct lc_err err;
    r->stop = UINT64_MAX;
    if (o->range && lc_ranges_parse(&r->ranges, o->range, &err)) lc_tool_usage(tool.name, "--range: %s", err.msg);
    if (o->shard) {
        int64_t i, n, count = lc_source_count(r->src);
        if (lc_parse_shard(o->shard, &i, &n, &err)) lc_tool_usage(tool.name, "--shard: %s", err.msg);
        if (count < 0)
            lc_tool_usage(tool.name, "--shard needs the number of records: give the RecordIO its .idx");
        uint64_t lo = (uint64_t)(count * i / n), hi = (uint64_t)(count * (i + 1) / n);
        r->stop = hi;
        if (lc_source_seek(r->src, lo, &err)) lc_tool_fail(&err);
    }
}

/* The next selected item: 1, 0 at the end, or -1 with r->src_err set for a
 * bad record (fatal unless --skip-bad and the source can go on past it). */
static int next_selected(struct run *r, struct lc_source_item *it)
{
    struct lc_err err;
    for (;;) {
        uint64_t pos = lc_source_position(r->src);
        if (r->o->limit >= 0 && r->emitted >= (uint64_t)r->o->limit) return 0;
        if (pos >= r->stop) return 0;
        if (r->o->range) {
            if (lc_ranges_done(&r->ranges, pos)) return 0;
            if (!lc_ranges_has(&r->ranges, pos)) {
                uint64_t to = UINT64_MAX;
                for (int k = 0; k < r->ranges.n; k++)
                    if (r->ranges.lo[k] > pos && r->ranges.lo[k] < to) to = r->ranges.lo[k];
                if (lc_source_seek(r->src, to, &err)) lc_tool_fail(&err);
                if (lc_source_position(r->src) < to) return 0; /* the source ended first */
                continue;
            }
        }
        int rc = lc_source_next(r->src, it, &err);
        if (rc == 0) return 0;
        if (rc > 0) {
            r->emitted++;
            return 1;
        }
        if (!r->o->skip_bad || !lc_source_recoverable(r->src)) {
            r->src_err = err;
            return -1;
        }
        char buf[1200];
        if (r->bad++ < 10) lc_tool_warn("skipped: %s", lc_err_format(&err, buf, sizeof buf));
    }
}

/* ---------------------------------------------------------------- jobs */

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(p, c * elem);
    if (!q) {
        struct lc_err err;
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        lc_tool_fail(&err);
    }
    *cap = c;
    return q;
}

static void fill_job(struct job *j, const struct lc_source_item *it)
{
    size_t kl = strlen(it->key) + 1;
    j->key = grow(j->key, &j->key_cap, kl, 1);
    memcpy(j->key, it->key, kl);
    j->index = it->index;
    j->label = it->label;
    j->n_labels = it->n_labels < LC_SOURCE_MAX_LABELS ? it->n_labels : LC_SOURCE_MAX_LABELS;
    memcpy(j->labels, it->labels, j->n_labels * sizeof *j->labels);
    j->floats = grow(j->floats, &j->floats_cap, it->n_floats + 1, sizeof *j->floats);
    if (it->n_floats) memcpy(j->floats, it->floats, it->n_floats * sizeof *j->floats);
    j->n_floats = it->n_floats;
    j->data = grow(j->data, &j->cap, it->len + 1, 1);
    if (it->len) memcpy(j->data, it->data, it->len);
    j->len = it->len;
    j->codec = it->codec;
    j->dtype = it->dtype;
    j->rank = it->rank;
    memcpy(j->dims, it->dims, sizeof j->dims);
    j->offset = it->offset;
}

/* Into j->img: decode encoded bytes, or take a raw u8 (H,W,C) stream record. */
static int job_pixels(struct run *r, struct job *j, struct lc_image_decoder *dec, int pixels, struct lc_err *err)
{
    if (j->codec != LC_CODEC_NONE) return lc_image_decode(dec, j->data, j->len, pixels, 1, &j->img, err);
    if (j->dtype != LC_DTYPE_U8 || j->rank != 3 || (j->dims[2] != 1 && j->dims[2] != 3))
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "a raw record must be u8 (H, W, 1 or 3)");
    (void)r;
    if (j->img.cap < j->len) {
        uint8_t *p = realloc(j->img.data, j->len);
        if (!p) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        j->img.data = p;
        j->img.cap = j->len;
    }
    memcpy(j->img.data, j->data, j->len);
    j->img.h = (int)j->dims[0], j->img.w = (int)j->dims[1], j->img.c = (int)j->dims[2];
    return 0;
}

static void free_jobs(struct lc_pmap *p)
{
    for (size_t i = 0; i < lc_pmap_depth(p); i++) {
        struct job *j = lc_pmap_item(p, i);
        free(j->key);
        free(j->floats);
        free(j->data);
        lc_image_release(&j->img);
    }
}

/* Errors from a decode name the dataset, the position and the key. */
static int job_error(struct run *r, struct job *j, struct lc_err *err)
{
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return lc_errf(err, err->code, r->o->input, (int64_t)j->index, j->offset, "key '%s': %s", j->key, msg);
}

static int decode_job(void *ctx, int worker, void *item, struct lc_err *err)
{
    struct run *r = ctx;
    struct job *j = item;
    if (job_pixels(r, j, r->dec[worker], r->pixels, err)) return job_error(r, j, err);
    return 0;
}

/* Directory name for a file: the key when it is a number (InsightFace and
 * im2rec record ids, as convert.py names files), else the position. */
static void file_stem(const struct job *j, char *out, size_t n)
{
    const char *k = j->key;
    int digits = *k != '\0';
    for (const char *c = k; *c; c++) digits &= *c >= '0' && *c <= '9';
    if (digits && strlen(k) < 30) snprintf(out, n, "%s", k);
    else snprintf(out, n, "%llu", (unsigned long long)j->index);
}

static int write_file_job(void *ctx, int worker, void *item, struct lc_err *err)
{
    struct run *r = ctx;
    struct job *j = item;
    const struct opts *o = r->o;
    char dir[4200], path[4300], stem[40];
    snprintf(dir, sizeof dir, "%s/%lld", o->to_dir, (long long)j->label);
    int made = lc_mkdirs(dir, err);
    if (made) return made;
    file_stem(j, stem, sizeof stem);
    snprintf(path, sizeof path, "%s/%s.%s", dir, stem, o->format);
    int jpg = strcmp(o->format, "jpg") == 0;
    if (jpg && j->codec == LC_CODEC_JPEG && !o->swap_rb) { /* lossless: the original bytes */
        struct lc_out *out;
        int rc = lc_out_open(&out, path, LC_OUT_BINARY, err);
        if (!rc) rc = lc_out_write(out, j->data, j->len, err);
        if (rc) {
            lc_out_abort(out);
            return rc;
        }
        return lc_out_commit(out, err);
    }
    if (job_pixels(r, j, r->dec[worker], LC_PIXELS_BGR, err)) return job_error(r, j, err);
    /* convert.py hands cv2's BGR array to PIL as if it were RGB */
    return lc_image_save(path, &j->img, o->swap_rb ? LC_PIXELS_RGB : LC_PIXELS_BGR, err);
}

/* ------------------------------------------------------------- outputs */

static struct lc_writer *open_images(struct run *r, int argc, char **argv)
{
    char *meta = strdup(lc_source_meta(r->src));
    struct lc_err err;
    int rc = meta ? 0 : LC_ENOMEM;
    if (!rc && !r->o->raw) rc = lc_meta_set(&meta, "channels", r->o->rgb ? "RGB" : "BGR");
    if (!rc && !r->o->raw) rc = lc_meta_set(&meta, "layout", "HWC");
    if (!rc && !r->o->raw) rc = lc_meta_set(&meta, "normalization", "none");
    if (!rc && r->o->raw) rc = lc_meta_set(&meta, "encoded", "jpeg/png bytes; decode to BGR");
    if (!rc) rc = lc_tool_history(&meta, argc, argv);
    if (rc) {
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        lc_tool_fail(&err);
    }
    struct lc_writer *w;
    if (lc_writer_open(&w, r->o->output, LC_KIND_IMAGES, meta, &err)) lc_tool_fail(&err);
    free(meta);
    return w;
}

static void write_record(struct lc_writer *w, const char *key, const int64_t *labels, unsigned nl, const float *floats,
                         unsigned nf, const struct lc_image *img, const uint8_t *bytes, size_t len, int codec)
{
    struct lc_err err;
    if (strchr(key, '\t')) {
        lc_errf(&err, LC_EFORMAT, NULL, -1, -1, "key '%s' contains a TAB, which pair keys reserve", key);
        lc_writer_abort(w);
        lc_tool_fail(&err);
    }
    struct lc_record rec = {.key = key, .labels = labels, .n_labels = nl, .floats = floats, .n_floats = nf};
    if (img) {
        uint32_t dims[3] = {(uint32_t)img->h, (uint32_t)img->w, (uint32_t)img->c};
        lc_record_set_tensor(&rec, LC_DTYPE_U8, 3, dims, img->data);
    } else {
        rec.dtype = LC_DTYPE_U8;
        rec.codec = codec;
        rec.payload = bytes;
        rec.payload_len = len;
        int h, wd, c;
        if (codec != LC_CODEC_BYTES && lc_image_probe(bytes, len, &h, &wd, &c, NULL) == 0) {
            rec.rank = 3; /* the decoded shape (decoding gives 3 channels) */
            rec.dims[0] = (uint32_t)h, rec.dims[1] = (uint32_t)wd, rec.dims[2] = 3;
        }
    }
    if (lc_writer_write(w, &rec, &err)) {
        lc_writer_abort(w);
        lc_tool_fail(&err);
    }
}

static void write_pairs(struct run *r, int argc, char **argv)
{
    const uint8_t *same;
    size_t n = lc_source_pairs(r->src, &same);
    struct lc_err err;
    if (!n) {
        lc_errf(&err, LC_EUSAGE, r->o->input, -1, -1, "--pairs needs a validation .bin set");
        lc_tool_fail(&err);
    }
    char *meta = strdup(lc_source_meta(r->src));
    if (!meta || lc_tool_history(&meta, argc, argv)) {
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        lc_tool_fail(&err);
    }
    char dataset[256] = "";
    lc_meta_get(meta, "dataset", dataset, sizeof dataset);
    struct lc_writer *w;
    if (lc_writer_open(&w, r->o->pairs, LC_KIND_PAIRS, meta, &err)) lc_tool_fail(&err);
    free(meta);
    for (size_t i = 0; i < n; i++) {
        char key[600];
        int64_t label = same[i];
        snprintf(key, sizeof key, "%s/%zu\t%s/%zu", dataset, 2 * i, dataset, 2 * i + 1);
        struct lc_record rec = {.key = key, .labels = &label, .n_labels = 1};
        if (lc_writer_write(w, &rec, &err)) {
            lc_writer_abort(w);
            lc_tool_fail(&err);
        }
    }
    if (lc_writer_close(w, &err)) lc_tool_fail(&err);
}

static void write_class_map(struct run *r)
{
    struct lc_err err;
    struct lc_out *o;
    int64_t n = lc_source_classes(r->src);
    if (!lc_source_class_name(r->src, 0)) {
        lc_errf(&err, LC_EUSAGE, r->o->input, -1, -1, "--class-map needs an image folder or archive");
        lc_tool_fail(&err);
    }
    if (lc_out_open(&o, r->o->class_map, 0, &err)) lc_tool_fail(&err);
    int rc = lc_csv_field(o, "label", 0, &err) || lc_csv_field(o, "class", 0, &err) || lc_csv_field(o, "images", 1, &err);
    for (int64_t c = 0; c < n && !rc; c++) {
        rc = lc_csv_fieldf(o, 0, &err, "%lld", (long long)c) || lc_csv_field(o, lc_source_class_name(r->src, c), 0, &err) ||
             lc_csv_fieldf(o, 1, &err, "%llu", (unsigned long long)lc_source_class_images(r->src, c));
    }
    if (rc) {
        lc_out_abort(o);
        lc_tool_fail(&err);
    }
    if (lc_out_commit(o, &err)) lc_tool_fail(&err);
}

/* ---------------------------------------------------------------- runs */

static void run_list(struct run *r)
{
    struct lc_err err;
    struct lc_out *o;
    lc_source_set_skip_data(r->src, 1);
    if (lc_out_open(&o, r->o->output, 0, &err)) lc_tool_fail(&err);
    const char *head[] = {"index", "key", "label", "labels", "id", "id2", "offset", "bytes", "format"};
    int rc = 0;
    for (int k = 0; k < 9 && !rc; k++) rc = lc_csv_field(o, head[k], k == 8, &err);
    struct lc_source_item it;
    int more;
    while (!rc && (more = next_selected(r, &it)) == 1) {
        char labels[512] = "";
        size_t n = 0;
        for (unsigned k = 0; k < it.n_floats && n < sizeof labels - 32; k++)
            n += (size_t)snprintf(labels + n, sizeof labels - n, "%s%.9g", k ? " " : "", (double)it.floats[k]);
        const char *fmt = it.data ? lc_codec_name(it.codec) : "";
        rc = lc_csv_fieldf(o, 0, &err, "%llu", (unsigned long long)it.index) || lc_csv_field(o, it.key, 0, &err) ||
             lc_csv_fieldf(o, 0, &err, "%lld", (long long)it.label) || lc_csv_field(o, labels, 0, &err) ||
             lc_csv_fieldf(o, 0, &err, "%llu", (unsigned long long)it.id) ||
             lc_csv_fieldf(o, 0, &err, "%llu", (unsigned long long)it.id2) ||
             lc_csv_fieldf(o, 0, &err, "%lld", (long long)it.offset) ||
             lc_csv_fieldf(o, 0, &err, "%zu", it.len) || lc_csv_field(o, fmt, 1, &err);
        lc_progress_update(&r->pr, r->emitted);
    }
    if (!rc && more < 0) {
        err = r->src_err;
        rc = -1;
    }
    if (rc) {
        lc_out_abort(o);
        lc_tool_fail(&err);
    }
    if (lc_out_commit(o, &err)) lc_tool_fail(&err);
}

static void run_raw(struct run *r, int argc, char **argv)
{
    struct lc_writer *w = open_images(r, argc, argv);
    struct lc_source_item it;
    struct lc_err err;
    int more;
    while ((more = next_selected(r, &it)) == 1) {
        write_record(w, it.key, it.labels, it.n_labels, it.floats, it.n_floats, NULL, it.data, it.len,
                     it.codec ? it.codec : LC_CODEC_BYTES);
        lc_progress_update(&r->pr, r->emitted);
    }
    if (more < 0) {
        lc_writer_abort(w);
        lc_tool_fail(&r->src_err);
    }
    if (lc_writer_close(w, &err)) lc_tool_fail(&err);
}

/* Decode (or write files) on the workers; collect in order. */
static void run_parallel(struct run *r, int argc, char **argv)
{
    const struct opts *o = r->o;
    struct lc_err err;
    int workers = o->threads ? o->threads : 1;
    r->dec = calloc((size_t)workers, sizeof *r->dec);
    for (int k = 0; k < workers; k++)
        if (!r->dec || lc_image_decoder_init(&r->dec[k], &err)) lc_tool_fail(&err);
    struct lc_pmap *p;
    if (lc_pmap_init(&p, o->threads, (size_t)(4 * workers + 4), sizeof(struct job), o->to_dir ? write_file_job : decode_job,
                     r, &err))
        lc_tool_fail(&err);
    if (o->to_dir && lc_mkdirs(o->to_dir, &err)) lc_tool_fail(&err);
    struct lc_writer *w = o->to_dir ? NULL : open_images(r, argc, argv);
    struct lc_source_item it;
    int more = 1;
    uint64_t written = 0;
    for (;;) {
        struct job *j;
        while (more == 1 && (j = lc_pmap_acquire(p))) {
            if ((more = next_selected(r, &it)) != 1) break;
            fill_job(j, &it);
            lc_pmap_submit(p);
        }
        int status;
        /* a source error is reported after the items before it, in order */
        if (!(j = lc_pmap_collect(p, &status, &err))) {
            if (more < 0) {
                lc_writer_abort(w);
                lc_tool_fail(&r->src_err);
            }
            break;
        }
        if (status) {
            char buf[1200];
            if (!o->skip_bad || status == LC_ENOMEM || status == LC_EIO) {
                lc_writer_abort(w);
                lc_tool_fail(&err);
            }
            if (r->bad++ < 10) lc_tool_warn("skipped: %s", lc_err_format(&err, buf, sizeof buf));
        } else {
            if (w) write_record(w, j->key, j->labels, j->n_labels, j->floats, j->n_floats, &j->img, NULL, 0, 0);
            written++;
        }
        lc_pmap_release(p);
        lc_progress_update(&r->pr, written);
    }
    if (w && lc_writer_close(w, &err)) lc_tool_fail(&err);
    free_jobs(p);
    lc_pmap_free(p);
    for (int k = 0; k < workers; k++) lc_image_decoder_free(r->dec[k]);
    free(r->dec);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct run r = {.o = &o};
    struct lc_err err;
    lc_tool_init("rec-unpack");
    parse_args(&o, argc, argv);
    if (lc_source_open(&r.src, o.input, &err)) lc_tool_fail(&err);
    if (lc_source_type(r.src) == LC_SOURCE_STREAM && !o.list && !o.to_dir)
        lc_tool_usage(tool.name, "the input is already an images stream (sft slice cuts streams; --to-dir and --list work)");
    r.pixels = o.rgb ? LC_PIXELS_RGB : LC_PIXELS_BGR;
    plan(&r);
    int64_t total = lc_source_count(r.src);
    lc_progress_start(&r.pr, o.progress, total > 0 ? (unsigned long long)total : 0, "images");
    if (o.pairs) write_pairs(&r, argc, argv);
    if (o.class_map) write_class_map(&r);
    if (o.list) run_list(&r);
    else if (o.raw) run_raw(&r, argc, argv);
    else run_parallel(&r, argc, argv);
    lc_progress_end(&r.pr, r.emitted);
    if (r.bad) lc_tool_note("%llu bad record%s skipped", (unsigned long long)r.bad, r.bad == 1 ? "" : "s");
    lc_source_close(r.src);
    return 0;
}
