/* embed: a whole IR-18 written by torch.save (a bare state_dict and an
 * AdaFace-style Lightning checkpoint, tests/make_golden_ir_ckpt.py) loads
 * into lc_ir and embeds four images exactly as PyTorch does, with and
 * without the reference's flip fusion; the reference's input
 * normalisation; a Lightning checkpoint's head kernel. */
#include <stdlib.h>

#include "backend.h"
#include "checkpoint.h"
#include "embed.h"
#include "dtype.h"
#include "ir.h"
#include "needgpu.h"
#include "normalize.h"
#include "testutil.h"
#include "timelimit.h"

static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    return sqrt(num / den);
}

/* d NULL: lc_embed on the CPU model; else lc_embed_dev on a copy on d */
static void check_file_on(const char *path, const struct lc_device *d)
{
    struct lc_ir *m;
    struct lc_err err;
    const int n = 4;
    cr_assert_eq(lc_ir_create(&m, 18, n, 0, &err), 0, "%s", err.msg);
    struct lc_ckpt_info info = {0};
    cr_assert_eq(lc_ckpt_load(path, lc_ir_params(m), NULL, NULL, &info, LC_CKPT_WEIGHTS_ONLY, &err), 0, "%s: %s", path,
                 err.msg);
    struct lc_param *nbt = lc_params_find(lc_ir_params(m), "input_layer.1.num_batches_tracked");
    cr_assert(nbt);
    cr_expect_eq(nbt->count[0], 1005, "int64 buffers load too (%lld)", (long long)nbt->count[0]);
    struct tu_array img = tu_fixture("ckpt/ir18_images.npy");
    cr_assert_eq(img.n, (size_t)n * 112 * 112 * 3);
    struct lc_normalize nz;
    lc_normalize_init_reference(&nz, n, 112, 112, 3);
    float *x = malloc((size_t)n * 3 * 112 * 112 * 4), *emb = malloc((size_t)n * 512 * 4), *norm = malloc((size_t)n * 4);
    float *ws = malloc(lc_embed_workspace(n) * 4);
    lc_normalize_u8_forward(x, img.data, &nz);
    const char *want_e[2] = {"ckpt/ir18_emb.npy", "ckpt/ir18_emb_flip.npy"},
               *want_n[2] = {"ckpt/ir18_norm.npy", "ckpt/ir18_norm_flip.npy"};
    struct lc_ir_dev *g = NULL;
    if (d) cr_assert_eq(lc_ir_dev_create(&g, m, d, LC_DTYPE_F32, 0, &err), 0, "%s", err.msg);
    for (int flip = 0; flip < 2; flip++) {
        if (g) cr_assert_eq(lc_embed_dev(g, emb, norm, x, n, flip, ws, &err), 0, "%s", err.msg);
        else lc_embed(m, emb, norm, x, n, flip, ws);
        struct tu_array we = tu_fixture(want_e[flip]), wn = tu_fixture(want_n[flip]);
        double e = rel_err(emb, we.data, (size_t)n * 512), nn = rel_err(norm, wn.data, (size_t)n);
        cr_expect_lt(e, 1e-4, "%s, flip %d: embeddings off by %.3g (relative, L2)", path, flip, e);
        cr_expect_lt(nn, 1e-4, "%s, flip %d: norms off by %.3g", path, flip, nn);
        tu_free(&we), tu_free(&wn);
    }
    lc_ir_dev_free(g);
    free(x), free(emb), free(norm), free(ws);
    tu_free(&img);
    lc_ir_free(m);
}

static void check_file(const char *path) { check_file_on(path, NULL); }

/* the op-by-op device path (lc_ir_dev) with flip fusion, on the CPU device */
Test(embed, device_path_gives_pytorch_embeddings)
{
    TEST_TIME_LIMIT(120);
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_file_on("tests/fixtures/ckpt/ir18_lightning.ckpt", &cpu);
}

Test(cuda, embed_gives_pytorch_embeddings)
{
    TEST_TIME_LIMIT(120);
    need_gpu();
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    check_file_on("tests/fixtures/ckpt/ir18_lightning.ckpt", &gpu);
}

Test(embed, pytorch_state_dict_gives_pytorch_embeddings)
{
    TEST_TIME_LIMIT(120);
    check_file("tests/fixtures/ckpt/ir18_state_dict.pth");
}

Test(embed, lightning_checkpoint_gives_pytorch_embeddings)
{
    TEST_TIME_LIMIT(120);
    check_file("tests/fixtures/ckpt/ir18_lightning.ckpt");
}

/* The head travels too: head.kernel (512, 7) from the Lightning file. */
Test(embed, lightning_head_kernel_loads)
{
    struct lc_ir *m;
    struct lc_err err;
    cr_assert_eq(lc_ir_create(&m, 18, 1, 0, &err), 0);
    struct lc_params head;
    lc_params_init(&head);
    int64_t kd[2] = {512, 7};
    cr_assert(lc_params_add(&head, LC_PARAM_DECAY, 2, kd, &err, "kernel"));
    cr_assert_eq(lc_ckpt_load("tests/fixtures/ckpt/ir18_lightning.ckpt", lc_ir_params(m), &head, NULL, NULL,
                              LC_CKPT_WEIGHTS_ONLY, &err), 0, "%s", err.msg);
    double s = 0;
    for (size_t i = 0; i < head.v[0].n; i++) s += fabs(head.v[0].data[i]);
    cr_expect_gt(s / (double)head.v[0].n, 0.01, "the kernel holds the file's values, not zeros");
    /* a head of the wrong shape is named */
    struct lc_params bad;
    lc_params_init(&bad);
    int64_t bd[2] = {512, 8};
    cr_assert(lc_params_add(&bad, LC_PARAM_DECAY, 2, bd, &err, "kernel"));
    cr_expect_neq(lc_ckpt_load("tests/fixtures/ckpt/ir18_lightning.ckpt", lc_ir_params(m), &bad, NULL, NULL,
                               LC_CKPT_WEIGHTS_ONLY, &err), 0);
    cr_expect(strstr(err.msg, "kernel"), "the message names the tensor: %s", err.msg);
    lc_params_free(&bad), lc_params_free(&head);
    lc_ir_free(m);
}
