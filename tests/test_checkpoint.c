/* checkpoint: a run's state saved and loaded exactly (weights, buffers,
 * counters, SGD and Adam state, run position, RNG), so that a resumed
 * optimiser takes bit-identical steps; PyTorch files (a state dict, a
 * Lightning checkpoint with model./head. keys) loaded into registries;
 * mismatches refused with messages naming the tensor. */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dtype.h"
#include "tensorfile.h"
#include "testutil.h"

/* A small "model": conv weight (decay), bn weight (no decay), running mean
 * (buffer), num_batches_tracked (counter); a head with a kernel. */
static void build(struct lc_params *m, struct lc_params *h, float fill)
{
    struct lc_err err;
    lc_params_init(m), lc_params_init(h);
    int64_t cw[4] = {2, 3, 1, 1}, c3[1] = {3}, k[2] = {4, 5};
    cr_assert(lc_params_add(m, LC_PARAM_DECAY, 4, cw, &err, "conv.weight"));
    cr_assert(lc_params_add(m, LC_PARAM_NO_DECAY, 1, c3, &err, "bn.weight"));
    cr_assert(lc_params_add(m, LC_PARAM_BUFFER, 1, c3, &err, "bn.running_mean"));
    cr_assert(lc_params_add(m, LC_PARAM_COUNTER, 0, NULL, &err, "bn.num_batches_tracked"));
    cr_assert(lc_params_add(h, LC_PARAM_DECAY, 2, k, &err, "kernel"));
    for (int r = 0; r < 2; r++) {
        struct lc_params *ps = r ? h : m;
        for (size_t i = 0; i < ps->n; i++) {
            struct lc_param *p = &ps->v[i];
            if (p->kind == LC_PARAM_COUNTER) p->count[0] = (int64_t)(fill * 10);
            else
                for (size_t j = 0; j < p->n; j++) p->data[j] = fill * (float)(j + 1) + (float)i;
        }
    }
}

static void fake_grads(struct lc_params *ps, int step)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].grad)
            for (size_t j = 0; j < ps->v[i].n; j++) ps->v[i].grad[j] = 0.01f * (float)((j * 7 + i * 3 + (size_t)step) % 11) - 0.05f;
}

static void step_all(struct lc_params *m, struct lc_params *h, struct lc_optim *o, int step)
{
    fake_grads(m, step), fake_grads(h, step);
    lc_optim_step(o);
}

static void expect_same(const struct lc_params *a, const struct lc_params *b)
{
    cr_assert_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct lc_param *p = &a->v[i], *q = &b->v[i];
        if (p->kind == LC_PARAM_COUNTER) cr_expect_eq(p->count[0], q->count[0], "%s", p->name);
        else cr_expect(memcmp(p->data, q->data, p->n * sizeof(float)) == 0, "%s differs", p->name);
    }
}

static void init_opt(struct lc_optim *o, int adam, struct lc_params *m, struct lc_params *h)
{
    struct lc_err err;
    if (adam) cr_assert_eq(lc_optim_init_adam(o, 1e-3, 0.9f, 0.999f, 1e-8f, 5e-4f, &err), 0);
    else cr_assert_eq(lc_optim_init_sgd(o, 0.1, 0.9f, 5e-4f, 0.0f, &err), 0);
    cr_assert_eq(lc_optim_add(o, m, &err), 0);
    cr_assert_eq(lc_optim_add(o, h, &err), 0);
}

static void resume_is_exact(int adam)
{
    const char *dir = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/run.safetensors", dir);
    struct lc_params m, h, m2, h2;
    struct lc_optim o, o2;
    struct lc_err err;
    build(&m, &h, 0.5f);
    init_opt(&o, adam, &m, &h);
    step_all(&m, &h, &o, 0);
    step_all(&m, &h, &o, 1);
    struct lc_ckpt_info info = {.arch = "ir_test", .head = "adaface", .classes = 5, .epoch = 2, .step = 2, .batch = 7,
                                .lr = 0.1, .best = 0.75, .n_extra = 1};
    lc_rng_seed(&info.rng, 99);
    lc_rng_u64(&info.rng);
    snprintf(info.extra_key[0], sizeof info.extra_key[0], "command");
    snprintf(info.extra_val[0], sizeof info.extra_val[0], "train-pre --arch ir_test");
    cr_assert_eq(lc_ckpt_save(path, &m, &h, &o, &info, &err), 0, "%s", err.msg);

    /* a fresh run with other values resumes from the file */
    build(&m2, &h2, -3.0f);
    init_opt(&o2, adam, &m2, &h2);
    struct lc_ckpt_info got = {.best = -1};
    cr_assert_eq(lc_ckpt_load(path, &m2, &h2, &o2, &got, 0, &err), 0, "%s", err.msg);
    expect_same(&m, &m2), expect_same(&h, &h2);
    cr_expect_str_eq(got.arch, "ir_test");
    cr_expect_str_eq(got.head, "adaface");
    cr_expect_eq(got.classes, 5);
    cr_expect_eq(got.epoch, 2);
    cr_expect_eq(got.step, 2);
    cr_expect_eq(got.batch, 7);
    cr_expect_eq(got.lr, 0.1);
    cr_expect_eq(got.best, 0.75);
    cr_expect_arr_eq(got.rng.s, info.rng.s, sizeof info.rng.s);
    cr_expect_eq(o2.step, o.step);
    cr_expect_eq(o2.started, o.started);
    /* the next steps agree to the bit */
    for (int s = 2; s < 5; s++) step_all(&m, &h, &o, s), step_all(&m2, &h2, &o2, s);
    expect_same(&m, &m2), expect_same(&h, &h2);

    /* the metadata, without loading tensors */
    struct lc_ckpt_info peek = {0};
    cr_assert_eq(lc_ckpt_peek(path, &peek, &err), 0);
    cr_expect_str_eq(peek.arch, "ir_test");
    struct lc_tensor_file *f;
    cr_assert_eq(lc_tensor_file_open(&f, path, &err), 0);
    cr_expect_str_eq(lc_tensor_file_meta(f, "format"), "sarface-checkpoint");
    cr_expect_str_eq(lc_tensor_file_meta(f, "command"), "train-pre --arch ir_test");
    cr_expect_str_eq(lc_tensor_file_meta(f, "optim"), adam ? "adam" : "sgd");
    cr_expect(lc_tensor_file_find(f, "head.kernel"));
    cr_expect(lc_tensor_file_find(f, adam ? "optim.exp_avg_sq.conv.weight" : "optim.momentum_buffer.head.kernel"));
    lc_tensor_file_close(f);

    /* resuming with the other optimiser is refused; weights-only works */
    struct lc_params m3, h3;
    struct lc_optim o3;
    build(&m3, &h3, 1.0f);
    init_opt(&o3, !adam, &m3, &h3);
    cr_expect_eq(lc_ckpt_load(path, &m3, &h3, &o3, NULL, 0, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, adam ? "no SGD optimiser state" : "no Adam optimiser state"), "%s", err.msg);
    cr_expect_eq(lc_ckpt_load(path, &m3, &h3, &o3, NULL, LC_CKPT_WEIGHTS_ONLY, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_ckpt_load(path, &m2, &h2, &o2, NULL, 0, &err), 0, "%s", err.msg); /* back to the saved state */
    expect_same(&m3, &m2), expect_same(&h3, &h2);
    lc_optim_free(&o), lc_optim_free(&o2), lc_optim_free(&o3);
    lc_params_free(&m), lc_params_free(&h), lc_params_free(&m2), lc_params_free(&h2), lc_params_free(&m3), lc_params_free(&h3);
}

Test(checkpoint, sgd_resume_is_bit_exact) { resume_is_exact(0); }
Test(checkpoint, adam_resume_is_bit_exact) { resume_is_exact(1); }

Test(checkpoint, export_holds_only_the_backbone)
{
    const char *dir = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    struct lc_params m, h, m2, h2;
    struct lc_err err;
    build(&m, &h, 2.0f);
    struct lc_ckpt_info info = {.arch = "ir_test"};
    cr_assert_eq(lc_ckpt_export(path, &m, &info, &err), 0, "%s", err.msg);
    struct lc_tensor_file *f;
    cr_assert_eq(lc_tensor_file_open(&f, path, &err), 0);
    cr_expect_eq(lc_tensor_file_count(f), m.n);
    cr_expect_str_eq(lc_tensor_file_meta(f, "format"), "sarface-weights");
    lc_tensor_file_close(f);
    build(&m2, &h2, 0.0f);
    cr_expect_eq(lc_ckpt_load(path, &m2, &h2, NULL, NULL, 0, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "no head.kernel"), "%s", err.msg);
    cr_assert_eq(lc_ckpt_load(path, &m2, &h2, NULL, NULL, LC_CKPT_NO_HEAD, &err), 0, "%s", err.msg);
    expect_same(&m, &m2);
    lc_params_free(&m), lc_params_free(&h), lc_params_free(&m2), lc_params_free(&h2);
}

Test(checkpoint, loads_pytorch_files)
{
    struct lc_err err;
    /* torch.save(state_dict): float, half converted to float, a counter */
    struct lc_params m;
    lc_params_init(&m);
    int64_t w[2] = {3, 4}, b[1] = {3}, hf[2] = {2, 3};
    cr_assert(lc_params_add(&m, LC_PARAM_DECAY, 2, w, &err, "linear.weight"));
    cr_assert(lc_params_add(&m, LC_PARAM_NO_DECAY, 1, b, &err, "linear.bias"));
    cr_assert(lc_params_add(&m, LC_PARAM_COUNTER, 0, NULL, &err, "bn.num_batches_tracked"));
    cr_assert(lc_params_add(&m, LC_PARAM_BUFFER, 2, hf, &err, "half"));
    cr_assert_eq(lc_ckpt_load("tests/fixtures/ckpt/state_dict.pth", &m, NULL, NULL, NULL, 0, &err), 0, "%s", err.msg);
    struct tu_array lw = tu_fixture("ckpt/state_dict/linear_weight.npy"), half = tu_fixture("ckpt/state_dict/half.npy");
    cr_expect(memcmp(m.v[0].data, lw.data, 12 * sizeof(float)) == 0);
    cr_expect_eq(m.v[2].count[0], 42);
    for (int i = 0; i < 6; i++) cr_expect_eq(m.v[3].data[i], lc_f16_to_f32(((uint16_t *)half.data)[i]));
    tu_free(&lw), tu_free(&half);
    /* a wrong shape names the tensor and both shapes */
    struct lc_params bad;
    lc_params_init(&bad);
    int64_t w2[2] = {4, 3};
    cr_assert(lc_params_add(&bad, LC_PARAM_DECAY, 2, w2, &err, "linear.weight"));
    cr_expect_eq(lc_ckpt_load("tests/fixtures/ckpt/state_dict.pth", &bad, NULL, NULL, NULL, 0, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "linear.weight has shape 3x4 in the file, the model expects 4x3"), "%s", err.msg);
    lc_params_free(&bad);
    lc_params_free(&m);

    /* Lightning: model. and head. prefixes, global_step as the step */
    struct lc_params lm, lh;
    lc_params_init(&lm), lc_params_init(&lh);
    int64_t l2[2] = {2, 2}, k2[2] = {2, 3};
    cr_assert(lc_params_add(&lm, LC_PARAM_DECAY, 2, l2, &err, "layer.weight"));
    cr_assert(lc_params_add(&lh, LC_PARAM_DECAY, 2, k2, &err, "kernel"));
    struct lc_ckpt_info info = {0};
    cr_assert_eq(lc_ckpt_load("tests/fixtures/ckpt/lightning.ckpt", &lm, &lh, NULL, &info, 0, &err), 0, "%s", err.msg);
    struct tu_array want_w = tu_fixture("ckpt/lightning/model_layer_weight.npy"), want_k = tu_fixture("ckpt/lightning/head_kernel.npy");
    cr_expect(memcmp(lm.v[0].data, want_w.data, 4 * sizeof(float)) == 0);
    cr_expect(memcmp(lh.v[0].data, want_k.data, 6 * sizeof(float)) == 0);
    cr_expect_eq(info.step, 120);
    cr_expect_eq(info.epoch, 3);
    tu_free(&want_w), tu_free(&want_k);
    /* a name the file lacks */
    cr_assert(lc_params_add(&lm, LC_PARAM_DECAY, 2, l2, &err, "other.weight"));
    cr_expect_eq(lc_ckpt_load("tests/fixtures/ckpt/lightning.ckpt", &lm, NULL, NULL, NULL, 0, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "no other.weight (nor model.other.weight)"), "%s", err.msg);
    lc_params_free(&lm), lc_params_free(&lh);
}
