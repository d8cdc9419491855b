/* synth-faces: a deterministic synthetic identity set in the layouts of the
 * real ones: train.rec/.idx/.lst/property (InsightFace layout) for training,
 * a .bin of same/different pairs of held-out identities for validation, and
 * for every image its 19-class label map and five landmarks. For demos and
 * tests; see datasets/README.md for what it is and is not. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io.h"
#include "image.h"
#include "opt.h"
#include "recset.h"
#include "rng.h"
#include "stream.h"
#include "synthface.h"
#include "tool.h"
#include "valbin.h"

struct opts {
    const char *output, *val_name;
    int identities, images, val_identities, val_images, pairs, quality, progress;
    int64_t seed;
    double nuisance;
};

static const struct lc_tool tool = {
    "synth-faces",
    "Generate a synthetic face identity set: RecordIO training set, .bin validation pairs, label maps.",
    "[options] -o DIR",
    NULL,
    "DIR/train.rec, train.idx, train.lst, property; DIR/NAME.bin; DIR/train-labelmaps.sft and "
    "DIR/NAME-labelmaps.sft (kind labelmaps: u8 112x112 CelebAMask-HQ classes, floats = 5 landmarks x,y)",
    "Identities 0..I-1 train; identities I..I+V-1 are held out for validation, which draws --pairs pairs "
    "among their images, half of the same identity and half of two different ones, in random order. "
    "Every image depends only on (seed, identity, image), so sets with more identities or images contain "
    "the smaller ones' images. Label maps are keyed like rec-unpack's output (the record number for train, "
    "NAME/I for the .bin).",
};

static void parse_args(struct opts *o, int argc, char **argv)
{
    *o = (struct opts){.val_name = "synth_val", .identities = 200, .images = 20, .val_identities = 40,
                       .val_images = 10, .pairs = 600, .quality = 92, .seed = 1, .nuisance = 1.0};
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "output", 'o', &o->output, "DIR", "output directory (created)"},
        {LC_OPT_INT, "identities", 'n', &o->identities, "I", "training identities (default 200)"},
        {LC_OPT_INT, "images", 'k', &o->images, "K", "images per training identity (default 20)"},
        {LC_OPT_INT, "val-identities", 0, &o->val_identities, "V", "held-out identities for validation (default 40)"},
        {LC_OPT_INT, "val-images", 0, &o->val_images, "K", "images per validation identity (default 10)"},
        {LC_OPT_INT, "pairs", 0, &o->pairs, "P", "validation pairs, even (default 600)"},
        {LC_OPT_STRING, "val-name", 0, &o->val_name, "NAME", "name of the .bin set (default synth_val)"},
        {LC_OPT_I64, "seed", 's', &o->seed, "S", "random seed (default 1)"},
        {LC_OPT_DOUBLE, "nuisance", 0, &o->nuisance, "X", "scale of pose/light/occlusion variation, 0..1 (default 1)"},
        {LC_OPT_INT, "quality", 'q', &o->quality, "Q", "JPEG quality (default 92)"},
        {LC_OPT_FLAG, "progress", 0, &o->progress, NULL, "report progress on stderr"},
        {LC_OPT_END},
    };
    int i = lc_opt_parse(&tool, opts, argc, argv);
    if (i != argc) lc_tool_usage(tool.name, "unexpected operand '%s'", argv[i]);
    if (!o->output) lc_tool_usage(tool.name, "-o DIR is required");
    if (o->identities < 1 || o->images < 1 || o->val_identities < 2 || o->val_images < 2)
        lc_tool_usage(tool.name, "need at least 1 identity of 1 image, and 2 validation identities of 2 images");
    if (o->pairs < 2 || o->pairs % 2) lc_tool_usage(tool.name, "--pairs must be even and at least 2");
    if (o->nuisance < 0 || o->nuisance > 1) lc_tool_usage(tool.name, "--nuisance must be in [0, 1]");
    if (o->quality < 1 || o->quality > 100) lc_tool_usage(tool.name, "--quality must be 1..100");
    if (strchr(o->val_name, '/') || !*o->val_name) lc_tool_usage(tool.name, "--val-name must be a plain name");
}

struct rendered {
    uint8_t px[LC_SYNTH_SIZE * LC_SYNTH_SIZE * 3], lab[LC_SYNTH_SIZE * LC_SYNTH_SIZE];
    float lm[10];
    uint8_t *jpg;
    size_t len;
};

/* Render ids[i]/imgs[i] for i < n in parallel (results depend only on the pair). */
static void render_batch(struct rendered *out, const int *ids, const int *imgs, int n, const struct opts *o)
{
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(| : failed)
    for (int i = 0; i < n; i++) {
        struct lc_synth_identity id;
        struct lc_synth_view v;
        lc_synth_identity(&id, (uint64_t)o->seed, ids[i]);
        lc_synth_view(&v, (uint64_t)o->seed, ids[i], imgs[i], (float)o->nuisance);
        lc_synth_render(out[i].px, out[i].lab, out[i].lm, &id, &v);
        struct lc_image img = {LC_SYNTH_SIZE, LC_SYNTH_SIZE, 3, out[i].px, 0};
        failed |= lc_image_encode_jpeg(&img, LC_PIXELS_BGR, o->quality, &out[i].jpg, &out[i].len, NULL) != 0;
    }
    if (failed) {
        struct lc_err err;
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "JPEG encoding failed");
        lc_tool_fail(&err);
    }
}

static struct lc_writer *open_maps(const char *dir, const char *name, const struct opts *o, int argc, char **argv)
{
    char path[4200], *meta = NULL, v[64];
    snprintf(path, sizeof path, "%s/%s-labelmaps.sft", dir, name);
    snprintf(v, sizeof v, "%lld", (long long)o->seed);
    struct lc_err err;
    if (lc_meta_add(&meta, "classes_map", "celebamask-hq-19") || lc_meta_add(&meta, "landmarks", "left_eye,right_eye,nose,mouth_left,mouth_right") ||
        lc_meta_add(&meta, "source", "synth-faces") || lc_meta_add(&meta, "seed", v) || lc_tool_history(&meta, argc, argv)) {
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        lc_tool_fail(&err);
    }
    struct lc_writer *w;
    if (lc_writer_open(&w, path, "labelmaps", meta, &err)) lc_tool_fail(&err);
    free(meta);
    return w;
}

static void write_map(struct lc_writer *w, const char *key, int64_t label, const struct rendered *r)
{
    struct lc_err err;
    uint32_t dims[2] = {LC_SYNTH_SIZE, LC_SYNTH_SIZE};
    struct lc_record rec = {.key = key, .labels = &label, .n_labels = 1, .floats = r->lm, .n_floats = 10};
    lc_record_set_tensor(&rec, LC_DTYPE_U8, 2, dims, r->lab);
    if (lc_writer_write(w, &rec, &err)) lc_tool_fail(&err);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct lc_err err;
    lc_tool_init("synth-faces");
    parse_args(&o, argc, argv);
    if (lc_mkdirs(o.output, &err)) lc_tool_fail(&err);
    struct lc_progress pr;
    uint64_t total = (uint64_t)o.identities * o.images + (uint64_t)o.val_identities * o.val_images;
    lc_progress_start(&pr, o.progress, total, "images");
    enum { B = 256 };
    static struct rendered r[B];
    int ids[B], imgs[B];
    /* training set: identity by identity, so classes are contiguous */
    struct lc_recset *set;
    if (lc_recset_open(&set, o.output, "train", 0, &err)) lc_tool_fail(&err);
    struct lc_writer *maps = open_maps(o.output, "train", &o, argc, argv);
    uint64_t done = 0;
    int64_t key = 1;
    for (int64_t start = 0; start < (int64_t)o.identities * o.images; start += B) {
        int n = 0;
        for (int64_t j = start; j < (int64_t)o.identities * o.images && n < B; j++, n++)
            ids[n] = (int)(j / o.images), imgs[n] = (int)(j % o.images);
        render_batch(r, ids, imgs, n, &o);
        for (int i = 0; i < n; i++) {
            char path[64], k[32];
            snprintf(path, sizeof path, "id%05d/%03d.jpg", ids[i], imgs[i]);
            if (lc_recset_add(set, ids[i], NULL, 0, r[i].jpg, r[i].len, path, LC_SYNTH_SIZE, LC_SYNTH_SIZE, &err))
                lc_tool_fail(&err);
            snprintf(k, sizeof k, "%lld", (long long)key++);
            write_map(maps, k, ids[i], &r[i]);
            free(r[i].jpg);
        }
        lc_progress_update(&pr, done += (uint64_t)n);
    }
    if (lc_recset_close(set, &err)) lc_tool_fail(&err);
    if (lc_writer_close(maps, &err)) lc_tool_fail(&err);
    /* validation: pairs among held-out identities */
    struct lc_rng rng;
    lc_rng_seed_stream(&rng, (uint64_t)o.seed, 0x7a11);
    size_t np = (size_t)o.pairs;
    int *pid = malloc(2 * np * sizeof *pid), *pim = malloc(2 * np * sizeof *pim);
    uint8_t *same = malloc(np);
    for (size_t i = 0; i < np; i++) {
        int a = o.identities + (int)lc_rng_below(&rng, (uint64_t)o.val_identities), b = a;
        same[i] = i % 2 == 0;
        if (!same[i])
            while (b == a) b = o.identities + (int)lc_rng_below(&rng, (uint64_t)o.val_identities);
        int ia = (int)lc_rng_below(&rng, (uint64_t)o.val_images), ib = ia;
        if (same[i])
            while (ib == ia) ib = (int)lc_rng_below(&rng, (uint64_t)o.val_images);
        else ib = (int)lc_rng_below(&rng, (uint64_t)o.val_images);
        pid[2 * i] = a, pim[2 * i] = ia, pid[2 * i + 1] = b, pim[2 * i + 1] = ib;
    }
    for (size_t i = np; i > 1; i--) { /* shuffle pair order, keeping each pair together */
        size_t j = (size_t)lc_rng_below(&rng, i);
        int t;
        uint8_t s;
        t = pid[2 * (i - 1)], pid[2 * (i - 1)] = pid[2 * j], pid[2 * j] = t;
        t = pid[2 * (i - 1) + 1], pid[2 * (i - 1) + 1] = pid[2 * j + 1], pid[2 * j + 1] = t;
        t = pim[2 * (i - 1)], pim[2 * (i - 1)] = pim[2 * j], pim[2 * j] = t;
        t = pim[2 * (i - 1) + 1], pim[2 * (i - 1) + 1] = pim[2 * j + 1], pim[2 * j + 1] = t;
        s = same[i - 1], same[i - 1] = same[j], same[j] = s;
    }
    uint8_t **jpgs = calloc(2 * np, sizeof *jpgs);
    size_t *sizes = calloc(2 * np, sizeof *sizes);
    struct lc_writer *vmaps = open_maps(o.output, o.val_name, &o, argc, argv);
    for (size_t start = 0; start < 2 * np; start += B) {
        int n = 0;
        for (size_t j = start; j < 2 * np && n < B; j++, n++) ids[n] = pid[j], imgs[n] = pim[j];
        render_batch(r, ids, imgs, n, &o);
        for (int i = 0; i < n; i++) {
            char k[300];
            jpgs[start + (size_t)i] = r[i].jpg;
            sizes[start + (size_t)i] = r[i].len;
            snprintf(k, sizeof k, "%s/%zu", o.val_name, start + (size_t)i);
            write_map(vmaps, k, same[(start + (size_t)i) / 2], &r[i]);
        }
    }
    char vpath[4200];
    snprintf(vpath, sizeof vpath, "%s/%s.bin", o.output, o.val_name);
    if (lc_valbin_write(vpath, (const uint8_t *const *)jpgs, sizes, np, same, &err)) lc_tool_fail(&err);
    if (lc_writer_close(vmaps, &err)) lc_tool_fail(&err);
    lc_progress_end(&pr, total);
    for (size_t i = 0; i < 2 * np; i++) free(jpgs[i]);
    free(jpgs), free(sizes), free(pid), free(pim), free(same);
    return 0;
}
