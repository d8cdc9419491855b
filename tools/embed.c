/* embed: aligned faces in, embeddings out. Images (u8 112x112x3 BGR, raw or
 * JPEG/PNG records) are embedded by an IR backbone in batches, fused with
 * their mirror image as the reference evaluates (--no-flip to skip), and
 * written as 512-d unit vectors with their norm, keyed and labelled like
 * the input so verify-pairs can join them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "embed.h"
#include "image.h"
#include "dtype.h"
#include "mixed.h"
#include "ir.h"
#include "normalize.h"
#include "opt.h"
#include "rng.h"
#include "stream.h"
#include "threads.h"
#include "tool.h"

struct opts {
    const char *input, *output, *model, *arch, *device, *precision, *layout;
    int no_flip, batch, threads, progress, untrained, channels_last, cuda_graphs;
    int64_t seed;
};

static const struct lc_tool tool = {
    "embed",
    "Embed aligned face images with an IR backbone (flip-fused as the reference evaluates).",
    "[options] -m WEIGHTS [INPUT]  |  --untrained --arch ARCH [INPUT]",
    "images (u8 112x112x3 in BGR, raw or JPEG/PNG records)",
    "embeddings (f32 512, unit length; floats[0] = the norm; key and labels as the image's)",
    "WEIGHTS: a train-pre checkpoint or weights file, or a PyTorch state_dict or Lightning checkpoint "
    "(AdaFace's adaface_ir50_ms1mv2.ckpt). The architecture comes from the file's metadata, or --arch. "
    "--untrained embeds with the reference's random initialisation instead: the baseline a trained model must beat.",
};

static int parse_arch(const char *a)
{
    return !strcmp(a, "ir_18") ? 18 : !strcmp(a, "ir_34") ? 34 : !strcmp(a, "ir_50") ? 50 :
           (!strcmp(a, "ir_100") || !strcmp(a, "ir_101")) ? 100 : 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.input = "-", .output = "-", .device = "cpu", .batch = 32, .seed = 1};
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "model", 'm', &o.model, "WEIGHTS", "the backbone's weights"},
        {LC_OPT_STRING, "arch", 0, &o.arch, "ARCH", "ir_18, ir_34, ir_50, ir_100 (default: from WEIGHTS)"},
        {LC_OPT_STRING, "input", 'i', &o.input, "FILE", "images stream (default: stdin)"},
        {LC_OPT_STRING, "output", 'o', &o.output, "FILE", "embeddings stream (default: stdout)"},
        {LC_OPT_FLAG, "no-flip", 0, &o.no_flip, NULL, "do not fuse with the mirrored image"},
        {LC_OPT_INT, "batch", 'b', &o.batch, "N", "images per forward pass (default 32)"},
        {LC_OPT_INT, "threads", 'j', &o.threads, "N", "compute threads (default: all CPUs)"},
        {LC_OPT_FLAG, "untrained", 0, &o.untrained, NULL, "no weights: the reference's random initialisation (a baseline)"},
        {LC_OPT_I64, "seed", 0, &o.seed, "S", "seed of --untrained (default 1)"},
        {LC_OPT_STRING, "device", 0, &o.device, "DEV", "cpu (default), cuda or cuda:N"},
        {LC_OPT_STRING, "precision", 0, &o.precision, "P", "fp32 (default), fp16 or bf16: the activations' type (16 bits on the CPU: the GPU path's slow reference)"},
        {LC_OPT_STRING, "layout", 0, &o.layout, "L", LC_MIXED_LAYOUT_HELP},
        {LC_OPT_FLAG, "channels_last", 0, &o.channels_last, NULL, "= --layout channels_last"},
        {LC_OPT_FLAG, "cuda_graphs", 0, &o.cuda_graphs, NULL, "on a GPU: replay each full batch's forward as a CUDA graph (less launch time; the same results)"},
        {LC_OPT_FLAG, "progress", 0, &o.progress, NULL, "progress on stderr"},
        {LC_OPT_END},
    };
    lc_tool_init("embed");
    int i = lc_opt_parse(&tool, opts, argc, argv);
    if (i < argc) o.input = argv[i++];
    if (i < argc) lc_tool_usage(tool.name, "one input at most");
    if (!o.model == !o.untrained) lc_tool_usage(tool.name, "give -m WEIGHTS or --untrained (one of them)");
    if (o.untrained && !o.arch) lc_tool_usage(tool.name, "--untrained needs --arch");
    if (o.batch < 1) lc_tool_usage(tool.name, "--batch must be positive");
    struct lc_err err;
    struct lc_device dev;
    if (lc_device_parse(&dev, o.device, &err)) lc_tool_usage(tool.name, "%s", err.msg);
    if (dev.type != LC_DEVICE_CPU && lc_device_open(&dev, &err)) lc_tool_fail(&err);
    int dt = o.precision ? lc_mixed_parse(o.precision) : LC_DTYPE_F32;
    if (dt < 0) lc_tool_usage(tool.name, "--precision takes fp32, fp16 or bf16, not %s", o.precision);
    int cl = lc_mixed_layout_opts(o.layout, o.channels_last, dev.type == LC_DEVICE_CUDA, dt, &err);
    if (cl < 0) lc_tool_usage(tool.name, "%s", err.msg);
    if (o.cuda_graphs && dev.type != LC_DEVICE_CUDA) lc_tool_usage(tool.name, "--cuda_graphs needs --device cuda");
    lc_threads_set(o.threads);
    struct lc_ckpt_info info = {0};
    if (o.model && lc_ckpt_peek(o.model, &info, &err)) lc_tool_fail(&err);
    int layers = parse_arch(o.arch ? o.arch : info.arch);
    if (!layers) lc_tool_usage(tool.name, "%s names no architecture: give --arch", o.model);
    struct lc_ir *m;
    if (lc_ir_create(&m, layers, o.batch, dev.type != LC_DEVICE_CPU || dt != LC_DTYPE_F32 ? LC_IR_PARAMS_ONLY : 0, &err))
        lc_tool_fail(&err);
    if (o.untrained) {
        struct lc_rng rng;
        lc_rng_seed(&rng, (uint64_t)o.seed);
        lc_ir_init_weights(m, &rng);
    } else if (lc_ckpt_load(o.model, lc_ir_params(m), NULL, NULL, NULL, LC_CKPT_WEIGHTS_ONLY, &err)) {
        lc_tool_fail(&err);
    }
    /* on a GPU (or in 16 bits): a device copy of the weights, the CPU model kept for its shapes */
    struct lc_ir_dev *gm = NULL;
    if ((dev.type != LC_DEVICE_CPU || dt != LC_DTYPE_F32) && lc_ir_dev_create(&gm, m, &dev, dt, cl, &err))
        lc_tool_fail(&err);
    if (gm) lc_ir_dev_use_graphs(gm, o.cuda_graphs);
    struct lc_reader *r;
    if (lc_reader_open(&r, o.input, &err) || lc_reader_expect_kind(r, LC_KIND_IMAGES, &err)) lc_tool_fail(&err);
    char *meta = NULL, arch[16];
    snprintf(arch, sizeof arch, "ir_%d", layers);
    const char *src = lc_reader_header(r)->meta;
    char v[512];
    if (lc_meta_get(src, "dataset", v, sizeof v)) lc_meta_add(&meta, "dataset", v);
    if (lc_meta_get(src, "pairs", v, sizeof v)) lc_meta_add(&meta, "pairs", v);
    if (lc_meta_add(&meta, "model", o.model ? o.model : "untrained") || lc_meta_add(&meta, "arch", arch) ||
        lc_meta_add(&meta, "flip", o.no_flip ? "0" : "1") || lc_tool_history(&meta, argc, argv)) {
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        lc_tool_fail(&err);
    }
    struct lc_writer *w;
    if (lc_writer_open(&w, o.output, LC_KIND_EMBEDDINGS, meta, &err)) lc_tool_fail(&err);
    free(meta);
    const int B = o.batch, PX = 3 * 112 * 112;
    /* the images and their mirrors (in ws) page-locked on a GPU: they are
       uploaded each batch (from pageable memory at 7 GB/s on an H200 machine) */
    float *x, *ws, *emb = malloc((size_t)B * 512 * 4), *norm = malloc((size_t)B * 4);
    if (lc_host_alloc(&dev, (void **)&x, (size_t)B * PX * 4, &err) ||
        lc_host_alloc(&dev, (void **)&ws, lc_embed_workspace(B) * 4, &err))
        lc_tool_fail(&err);
    char **keys = calloc((size_t)B, sizeof *keys);
    int64_t *labels = calloc((size_t)B * 8, sizeof *labels);
    unsigned *nlab = calloc((size_t)B, sizeof *nlab);
    struct lc_image_decoder *dec;
    struct lc_image img = {0};
    if (lc_image_decoder_init(&dec, &err)) lc_tool_fail(&err);
    struct lc_normalize nz;
    lc_normalize_init_reference(&nz, 1, 112, 112, 3);
    struct lc_progress pr;
    lc_progress_start(&pr, o.progress, 0, "faces");
    struct lc_record rec;
    int n = 0, rc, done = 0;
    unsigned long long total = 0;
    while (!done) {
        rc = lc_reader_next(r, &rec, &err);
        if (rc < 0) {
            lc_writer_abort(w);
            lc_tool_fail(&err);
        }
        if (rc == 1) {
            if (lc_reader_payload(r, &rec, &err)) {
                lc_writer_abort(w);
                lc_tool_fail(&err);
            }
            const uint8_t *px = rec.payload;
            if (rec.codec == LC_CODEC_JPEG || rec.codec == LC_CODEC_PNG) {
                if (lc_image_decode(dec, rec.payload, rec.payload_len, LC_PIXELS_BGR, 1, &img, &err)) {
                    lc_errf(&err, err.code, lc_reader_name(r), (int64_t)rec.index, (int64_t)rec.offset, "key '%s': %s", rec.key,
                            err.msg);
                    lc_writer_abort(w);
                    lc_tool_fail(&err);
                }
                px = img.data;
                if (img.h != 112 || img.w != 112) rec.rank = 0;
            }
            int ok = rec.codec != LC_CODEC_NONE ? img.h == 112 && img.w == 112 :
                     rec.dtype == LC_DTYPE_U8 && rec.rank == 3 && rec.dims[0] == 112 && rec.dims[1] == 112 && rec.dims[2] == 3;
            if (!ok) {
                lc_errf(&err, LC_EFORMAT, lc_reader_name(r), (int64_t)rec.index, (int64_t)rec.offset,
                        "key '%s' is not a 112x112x3 u8 face (align it first)", rec.key);
                lc_writer_abort(w);
                lc_tool_fail(&err);
            }
            lc_normalize_u8_forward(x + (size_t)n * PX, px, &nz);
            free(keys[n]);
            keys[n] = strdup(rec.key);
            nlab[n] = rec.n_labels < 8 ? rec.n_labels : 8;
            memcpy(labels + (size_t)n * 8, rec.labels, nlab[n] * sizeof *labels);
            n++;
        } else {
            done = 1;
        }
        if (n == B || (done && n)) {
            if (!gm) {
                lc_embed(m, emb, norm, x, n, !o.no_flip, ws);
            } else if (lc_embed_dev(gm, emb, norm, x, n, !o.no_flip, ws, &err)) {
                lc_writer_abort(w);
                lc_tool_fail(&err);
            }
            for (int k = 0; k < n; k++) {
                uint32_t dims[1] = {512};
                struct lc_record out = {.key = keys[k], .labels = labels + (size_t)k * 8, .n_labels = nlab[k],
                                        .floats = &norm[k], .n_floats = 1};
                lc_record_set_tensor(&out, LC_DTYPE_F32, 1, dims, emb + (size_t)k * 512);
                if (lc_writer_write(w, &out, &err)) {
                    lc_writer_abort(w);
                    lc_tool_fail(&err);
                }
            }
            total += (unsigned long long)n;
            lc_progress_update(&pr, total);
            n = 0;
        }
    }
    lc_progress_end(&pr, total);
    const char *graphs_off = NULL;
    if (gm && o.cuda_graphs && (lc_ir_dev_graph_launches(gm, &graphs_off), graphs_off))
        lc_tool_warn("CUDA graphs went off, the batches ran op by op: %s", graphs_off);
    if (lc_writer_close(w, &err)) lc_tool_fail(&err);
    for (int k = 0; k < B; k++) free(keys[k]);
    free(keys), free(labels), free(nlab), free(emb), free(norm);
    lc_host_free(&dev, x);
    lc_host_free(&dev, ws);
    lc_ir_dev_free(gm);
    lc_image_release(&img);
    lc_image_decoder_free(dec);
    lc_reader_free(r);
    lc_ir_free(m);
    return 0;
}
