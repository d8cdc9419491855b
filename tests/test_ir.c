/* ir: a full IR-18 against PyTorch (tests/make_golden.py ir): parameter
 * names and order equal the reference state_dict; inference and training
 * forward; every parameter's gradient (sampled elements and the sum of
 * |grad|); one SGD step with the reference's weight-decay groups; running
 * statistics; bit-identical repeats. Weights come from the same hash-based
 * generator on both sides (det_fill), since 90 MB of weights are not
 * committed. */
#include <pthread.h>
#include <stdlib.h>

#include "backend.h"
#include "blas.h"
#include "comm.h"
#include "devparams.h"
#include "dtype.h"
#include "ir.h"
#include "needgpu.h"
#include "optim.h"
#include "params.h"
#include "rng.h"
#include "testutil.h"
#include "timelimit.h"

static uint32_t h32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* tests/make_golden.py det_fill, bit for bit */
static void det_fill(float *v, size_t n, uint32_t index, float scale, float offset)
{
    uint32_t base = h32(index);
    for (size_t i = 0; i < n; i++) {
        float u = (float)(h32(base ^ (uint32_t)i) >> 8) * (1.0f / 16777216.0f);
        v[i] = (u * 2.0f - 1.0f) * scale + offset;
    }
}

static void det_scale(const struct lc_param *p, float *scale, float *offset)
{
    const char *n = p->name;
    size_t l = strlen(n);
#define ENDS(s) (l >= strlen(s) && strcmp(n + l - strlen(s), s) == 0)
    *offset = 0;
    if (ENDS("running_var")) *scale = 0.25f, *offset = 1.0f;
    else if (ENDS("running_mean")) *scale = 0.1f;
    else if (p->rank == 4) *scale = (float)sqrt(6.0 / (double)(p->dims[1] * p->dims[2] * p->dims[3]));
    else if (p->rank == 2) *scale = (float)sqrt(6.0 / (double)p->dims[1]);
    else if (ENDS("bias")) *scale = 0.1f;
    else if (strstr(n, "input_layer.2") || strstr(n, "res_layer.3")) *scale = 0.05f, *offset = 0.25f;
    else *scale = 0.1f, *offset = 1.0f;
#undef ENDS
}

struct setup {
    struct lc_ir *m;
    float *x, *demb, *emb, *norm;
    int n;
};

static struct setup make(void)
{
    struct setup s = {.n = 4};
    struct lc_err err;
    cr_assert_eq(lc_ir_create(&s.m, 18, s.n, 1, &err), 0, "%s", err.msg);
    lc_ir_set_dropout(s.m, 0);
    struct lc_params *ps = lc_ir_params(s.m);
    for (size_t t = 0; t < ps->n; t++) {
        struct lc_param *p = &ps->v[t];
        if (p->kind == LC_PARAM_COUNTER) continue;
        float sc, off;
        det_scale(p, &sc, &off);
        det_fill(p->data, p->n, (uint32_t)t, sc, off);
    }
    s.x = malloc((size_t)s.n * 3 * 112 * 112 * 4);
    s.demb = malloc((size_t)s.n * 512 * 4);
    s.emb = malloc((size_t)s.n * 512 * 4);
    s.norm = malloc((size_t)s.n * 4);
    det_fill(s.x, (size_t)s.n * 3 * 112 * 112, 100001, 1, 0);
    det_fill(s.demb, (size_t)s.n * 512, 100002, 1, 0);
    return s;
}

static void release(struct setup *s)
{
    lc_ir_free(s->m);
    free(s->x), free(s->demb), free(s->emb), free(s->norm);
}

/* ||a - b|| / ||b|| over n values */
static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

Test(ir, names_match_the_reference_state_dict)
{
    struct lc_ir *m;
    static const int depths[] = {18, 34, 50, 100};
    for (int d = 0; d < 4; d++) {
        int layers = depths[d];
        cr_assert_eq(lc_ir_create(&m, layers, 1, 0, NULL), 0);
        struct lc_params *ps = lc_ir_params(m);
        if (layers == 18) {
            FILE *f = fopen("tests/fixtures/ir/names.txt", "r");
            char line[256];
            size_t t = 0;
            while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                cr_assert_lt(t, ps->n);
                cr_assert_str_eq(ps->v[t].name, line, "tensor %zu", t);
                t++;
            }
            fclose(f);
            cr_expect_eq(t, ps->n);
            cr_expect_eq(lc_params_count(ps), 24020352, "IR-18 has 24,020,352 trained parameters as in PyTorch");
        }
        cr_expect(lc_params_find(ps, layers == 100 ? "body.48.res_layer.5.running_var" : "body.3.res_layer.1.weight"));
        lc_ir_free(m);
    }
    struct lc_err err;
    cr_expect_eq(lc_ir_create(&m, 20, 1, 0, &err), LC_EUSAGE);
}

Test(ir, inference_matches_torch)
{
    TEST_TIME_LIMIT(300);
    struct setup s = make();
    struct tu_array emb = tu_fixture("ir/emb_eval.npy"), norm = tu_fixture("ir/norm_eval.npy");
    lc_ir_forward(s.m, s.emb, s.norm, s.x, s.n, 0, NULL);
    double e = rel_err(s.emb, emb.data, (size_t)s.n * 512), nn = rel_err(s.norm, norm.data, (size_t)s.n);
    cr_expect_lt(e, 1e-4, "embedding: relative error (L2 norm) %.3g", e);
    cr_expect_lt(nn, 1e-4, "norm: relative error %.3g", nn);
    tu_free(&emb), tu_free(&norm);
    release(&s);
}

Test(ir, training_step_matches_torch)
{
    TEST_TIME_LIMIT(600);
    struct setup s = make();
    struct lc_params *ps = lc_ir_params(s.m);
    struct tu_array emb = tu_fixture("ir/emb.npy"), norm = tu_fixture("ir/norm.npy"), idx = tu_fixture("ir/idx.npy"),
                    gs = tu_fixture("ir/grad_samples.npy"), gabs = tu_fixture("ir/grad_abs_sum.npy"),
                    after = tu_fixture("ir/after_samples.npy");
    struct lc_rng rng;
    lc_rng_seed(&rng, 1);
    lc_params_zero_grad(ps);
    lc_ir_forward(s.m, s.emb, s.norm, s.x, s.n, 1, &rng);
    double e = rel_err(s.emb, emb.data, (size_t)s.n * 512);
    cr_expect_lt(e, 1e-4, "training embedding: relative error %.3g", e);
    cr_expect_lt(rel_err(s.norm, norm.data, (size_t)s.n), 1e-4);
    lc_ir_backward(s.m, s.demb, NULL);
    const int K = 8;
    const int64_t *ix = idx.data;
    const double *want_abs = gabs.data;
    int worst = -1;
    double worst_e = 0, all_num = 0, all_den = 0;
    float(*before)[8] = calloc(ps->n, sizeof *before);
    char *zero = calloc(ps->n, 1);
    for (size_t t = 0; t < ps->n; t++) {
        struct lc_param *p = &ps->v[t];
        if (!p->grad) continue;
        float got[8];
        for (int k = 0; k < K; k++) got[k] = p->grad[ix[t * K + k]], before[t][k] = p->data[ix[t * K + k]];
        double abs_sum = 0;
        for (size_t i = 0; i < p->n; i++) abs_sum += fabs(p->grad[i]);
        /* A per-channel constant added to a unit's output is removed by the
         * batch norm every consumer applies first, so the last batch norm
         * biases of each unit (and the linear bias before BatchNorm1d) have
         * zero gradient in exact arithmetic: what both sides compute is
         * rounding noise, below 1e-4 of the matching weight's gradient. */
        size_t l = strlen(p->name);
        if (l > 4 && strcmp(p->name + l - 4, "bias") == 0) {
            char w[128];
            snprintf(w, sizeof w, "%.*sweight", (int)(l - 4), p->name);
            struct lc_param *pw = lc_params_find(ps, w);
            cr_assert(pw, "%s", w);
            double wsum = want_abs[pw - ps->v];
            if (want_abs[t] < 1e-4 * wsum) {
                zero[t] = 1;
                cr_expect_lt(abs_sum, 1e-4 * wsum, "%s: sum |grad| %.3g, zero in exact arithmetic", p->name, abs_sum);
                continue;
            }
        }
        double ge = rel_err(got, (const float *)gs.data + t * K, K);
        double se = fabs(abs_sum - want_abs[t]) / want_abs[t];
        if (ge > worst_e) worst_e = ge, worst = (int)t;
        for (int k = 0; k < K; k++) {
            double d = (double)got[k] - ((const float *)gs.data)[t * K + k];
            all_num += d * d, all_den += (double)got[k] * got[k];
        }
        /* gradients pass through 18 layers of float32 arithmetic in a
         * different summation order than PyTorch's: 1e-3 of the norm */
        cr_expect_lt(ge, 1e-3, "%s: gradient samples off by %.3g (relative, L2)", p->name, ge);
        cr_expect_lt(se, 1e-3, "%s: sum |grad| %.9g vs %.9g", p->name, abs_sum, want_abs[t]);
    }
    cr_log_info("worst gradient relative error %.3g at %s", worst_e, worst >= 0 ? ps->v[worst].name : "-");
    /* all sampled gradients of the model together: 1e-4 (L2) */
    cr_expect_lt(sqrt(all_num / all_den), 1e-4, "all gradient samples: relative error %.3g", sqrt(all_num / all_den));
    struct lc_optim opt;
    lc_optim_init_sgd(&opt, 0.1, 0.9f, 5e-4f, 0, NULL);
    cr_assert_eq(lc_optim_add(&opt, ps, NULL), 0);
    lc_optim_step(&opt);
    for (size_t t = 0; t < ps->n; t++) {
        struct lc_param *p = &ps->v[t];
        const float *want = (const float *)after.data + t * K;
        float got[8], moved[8], want_moved[8];
        for (int k = 0; k < K; k++)
            got[k] = p->kind == LC_PARAM_COUNTER ? (float)p->count[0] : p->data[ix[t * K + k]];
        if (!p->grad) {
            /* running statistics and counters: from the forward alone */
            double ae = rel_err(got, want, K);
            cr_expect_lt(ae, 1e-4, "%s after the step: %.3g", p->name, ae);
            continue;
        }
        if (zero[t]) continue;
        /* the step moves a weight by lr * (grad + wd * w): held to the
         * gradients' tolerance, not to that of the (much larger) weights */
        for (int k = 0; k < K; k++) moved[k] = got[k] - before[t][k], want_moved[k] = want[k] - before[t][k];
        double me = rel_err(moved, want_moved, K);
        cr_expect_lt(me, 1e-3, "%s: SGD step off by %.3g (relative, L2, of the change)", p->name, me);
    }
    free(before), free(zero);
    lc_optim_free(&opt);
    tu_free(&emb), tu_free(&norm), tu_free(&idx), tu_free(&gs), tu_free(&gabs), tu_free(&after);
    release(&s);
}

Test(ir, training_is_bit_identical_run_to_run)
{
    TEST_TIME_LIMIT(600);
    float *g[2];
    size_t total = 0;
    for (int run = 0; run < 2; run++) {
        struct setup s = make();
        lc_ir_set_dropout(s.m, 0.4f);
        struct lc_params *ps = lc_ir_params(s.m);
        struct lc_rng rng;
        lc_rng_seed(&rng, 7);
        lc_ir_forward(s.m, s.emb, s.norm, s.x, s.n, 1, &rng);
        lc_ir_backward(s.m, s.demb, NULL);
        total = lc_params_count(ps);
        g[run] = malloc(total * 4);
        size_t k = 0;
        for (size_t t = 0; t < ps->n; t++)
            if (ps->v[t].grad) memcpy(g[run] + k, ps->v[t].grad, ps->v[t].n * 4), k += ps->v[t].n;
        release(&s);
    }
    cr_expect_eq(memcmp(g[0], g[1], total * 4), 0, "same seed, same threads: identical gradients");
    free(g[0]), free(g[1]);
}

/* Inference runs on batch norms folded into prepared conv weights: changing
 * the weights through lc_ir_params, or a training step, must be seen by the
 * next inference exactly as by a model built fresh with those weights. */
Test(ir, inference_sees_weight_changes)
{
    TEST_TIME_LIMIT(300);
    struct setup s = make(), t = make();
    lc_ir_forward(s.m, s.emb, s.norm, s.x, s.n, 0, NULL);
    struct lc_params *ps = lc_ir_params(s.m), *pt = lc_ir_params(t.m);
    for (size_t k = 0; k < ps->n; k++)
        if (ps->v[k].kind != LC_PARAM_COUNTER)
            for (size_t i = 0; i < ps->v[k].n; i++) ps->v[k].data[i] = pt->v[k].data[i] *= 0.9f;
    lc_ir_forward(s.m, s.emb, s.norm, s.x, s.n, 0, NULL);
    lc_ir_forward(t.m, t.emb, t.norm, t.x, t.n, 0, NULL);
    cr_expect_eq(memcmp(s.emb, t.emb, (size_t)s.n * 512 * 4), 0, "weights changed after an inference are used");
    struct lc_rng rng;
    lc_rng_seed(&rng, 3);
    lc_ir_set_dropout(s.m, 0), lc_ir_set_dropout(t.m, 0);
    lc_ir_forward(s.m, s.emb, s.norm, s.x, s.n, 1, &rng);
    lc_ir_forward(t.m, t.emb, t.norm, t.x, t.n, 1, &rng);
    lc_ir_forward(s.m, s.emb, s.norm, s.x, s.n, 0, NULL);
    lc_ir_forward(t.m, t.emb, t.norm, t.x, t.n, 0, NULL);
    cr_expect_eq(memcmp(s.emb, t.emb, (size_t)s.n * 512 * 4), 0, "running statistics a training forward moved are used");
    struct lc_ir *fresh;
    cr_assert_eq(lc_ir_create(&fresh, 18, t.n, 0, NULL), 0);
    struct lc_params *pf = lc_ir_params(fresh);
    for (size_t k = 0; k < pf->n; k++)
        if (pf->v[k].kind == LC_PARAM_COUNTER) pf->v[k].count[0] = pt->v[k].count[0];
        else memcpy(pf->v[k].data, pt->v[k].data, pf->v[k].n * 4);
    lc_ir_forward(fresh, t.emb, t.norm, t.x, t.n, 0, NULL);
    cr_expect_eq(memcmp(s.emb, t.emb, (size_t)s.n * 512 * 4), 0, "equal to a model built with those weights");
    lc_ir_free(fresh);
    release(&s), release(&t);
}

/* The eval forward through the device seam (lc_ir_dev) on device d against
 * PyTorch's embeddings, for the whole batch and for its first 3 images. */
static void check_device_path(const struct lc_device *d)
{
    struct setup s = make();
    struct tu_array emb = tu_fixture("ir/emb_eval.npy"), norm = tu_fixture("ir/norm_eval.npy");
    struct lc_ir_dev *g;
    struct lc_err err;
    cr_assert_eq(lc_ir_dev_create(&g, s.m, d, LC_DTYPE_F32, 0, &err), 0, "%s", err.msg);
    for (int n = s.n; n >= 3; n -= s.n - 3) {
        memset(s.emb, 0, (size_t)s.n * 512 * 4);
        cr_assert_eq(lc_ir_dev_forward(g, s.emb, s.norm, s.x, n, &err), 0, "%s", err.msg);
        double e = rel_err(s.emb, emb.data, (size_t)n * 512), nn = rel_err(s.norm, norm.data, (size_t)n);
        cr_expect_lt(e, 1e-4, "%d images: embedding: relative error (L2 norm) %.3g", n, e);
        cr_expect_lt(nn, 1e-4, "%d images: norm: relative error %.3g", n, nn);
        if (n == 3) break;
    }
    cr_expect_neq(lc_ir_dev_forward(g, s.emb, s.norm, s.x, s.n + 1, &err), 0, "more images than the batch");
    lc_ir_dev_free(g);
    tu_free(&emb), tu_free(&norm);
    release(&s);
}

Test(ir, device_path_on_the_cpu_matches_torch)
{
    TEST_TIME_LIMIT(300);
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_device_path(&cpu);
}

/* 16-bit inference (lc_ir_dev with fp16/bf16 activations) against the
 * float32 device path: embeddings within 5e-3 (fp16) and 4e-2 (bf16),
 * relative L2, on the CPU device's reference; the same on a GPU. */
static void check_half_inference(const struct lc_device *d, int channels_last)
{
    struct setup s = make();
    struct lc_err err;
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_ir_dev *g;
    cr_assert_eq(lc_ir_dev_create(&g, s.m, &cpu, LC_DTYPE_F32, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_ir_dev_forward(g, s.emb, s.norm, s.x, s.n, &err), 0, "%s", err.msg);
    lc_ir_dev_free(g);
    float *emb = malloc((size_t)s.n * 512 * 4), *norm = malloc((size_t)s.n * 4);
    const int types[2] = {LC_DTYPE_F16, LC_DTYPE_BF16};
    const double tol[2] = {5e-3, 4e-2};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(lc_ir_dev_create(&g, s.m, d, types[k], channels_last, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_ir_dev_forward(g, emb, norm, s.x, s.n, &err), 0, "%s", err.msg);
        double e = rel_err(emb, s.emb, (size_t)s.n * 512), en = rel_err(norm, s.norm, (size_t)s.n);
        cr_expect(e < tol[k] && e > 0, "%s: embeddings off by %.3g", lc_dtype_name(types[k]), e);
        cr_expect_lt(en, tol[k], "%s: norms off by %.3g", lc_dtype_name(types[k]), en);
        cr_log_info("%s%s inference: embeddings %.3g, norms %.3g", lc_dtype_name(types[k]),
                    channels_last ? " channels-last" : "", e, en);
        lc_ir_dev_free(g);
    }
    free(emb), free(norm);
    release(&s);
}

Test(ir, half_inference_on_the_cpu_device)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_half_inference(&cpu, 0);
}

Test(cuda, ir18_half_inference_matches_fp32)
{
    need_gpu();
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    check_half_inference(&gpu, 0);
    check_half_inference(&gpu, 1);
}

Test(cuda, ir18_inference_matches_torch)
{
    TEST_TIME_LIMIT(300);
    need_gpu();
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    check_device_path(&gpu);
}

/* Training through the device seam (lc_ir_train_dev, lc_optim_dev) against
 * the host path (lc_ir_forward, lc_ir_backward, lc_optim_step): two SGD
 * steps with dropout, from the same weights and generator. On the CPU
 * device the same functions run in the same order: bit-identical.
 * On a GPU the sums run in other orders, and this net (batch norm over
 * 3 or 4 random images, whose deep features are nearly alike) magnifies
 * rounding a few hundred times on the way back: a second host run whose
 * input is changed by 1e-7 (float32 rounding) measures that spread, and
 * each device result must lie within 4 times it, or within the PyTorch
 * comparison's tolerances above (embeddings 1e-4, gradients and the
 * weights' changes 1e-3 per tensor, relative, L2), whichever is larger.
 * Measured on the CPU: embeddings 2.3e-6 and gradients up to 6.1e-4 apart
 * at the first step, more after it; the CUDA emulator (tests/cudaemu),
 * whose GEMMs sum in other orders as a GPU's do, gave 2.4e-6 and 6.1e-4. */
/* 4 times the spread of the perturbed host run, or the floor */
static double spread_tol(double floor, double spread) { return 4 * spread > floor ? 4 * spread : floor; }

static void check_train_device(const struct lc_device *d, int exact)
{
    struct setup s = make(), t = make(), u = make(); /* u: the host run with its input perturbed */
    lc_ir_set_dropout(s.m, 0.4f), lc_ir_set_dropout(t.m, 0.4f), lc_ir_set_dropout(u.m, 0.4f);
    struct lc_params *ps = lc_ir_params(s.m), *pt = lc_ir_params(t.m), *pu = lc_ir_params(u.m);
    struct lc_rng pr;
    lc_rng_seed(&pr, 5);
    for (size_t i = 0; i < (size_t)u.n * 3 * LC_IR_INPUT * LC_IR_INPUT; i++)
        u.x[i] *= 1.0f + 1e-7f * (2 * lc_rng_uniform(&pr) - 1);
    struct lc_optim os, ot, ou;
    lc_optim_init_sgd(&os, 0.1, 0.9f, 5e-4f, 0, NULL);
    lc_optim_init_sgd(&ot, 0.1, 0.9f, 5e-4f, 0, NULL);
    lc_optim_init_sgd(&ou, 0.1, 0.9f, 5e-4f, 0, NULL);
    cr_assert_eq(lc_optim_add(&os, ps, NULL), 0);
    cr_assert_eq(lc_optim_add(&ot, pt, NULL), 0);
    cr_assert_eq(lc_optim_add(&ou, pu, NULL), 0);
    struct lc_err err;
    struct lc_ir_train_dev *g;
    cr_assert_eq(lc_ir_train_dev_create(&g, t.m, d, LC_DTYPE_F32, 0, 0, &err), 0, "%s", err.msg);
    struct lc_dev_params *dp = lc_ir_train_dev_params(g);
    const struct lc_dev_params *mirrors[1] = {dp};
    struct lc_optim_dev od;
    cr_assert_eq(lc_optim_dev_create(&od, &ot, mirrors, 1, &err), 0, "%s", err.msg);
    float *ddemb;
    cr_assert_eq(lc_device_alloc(d, (void **)&ddemb, (size_t)s.n * 512 * 4, &err), 0);
    cr_assert_eq(lc_device_upload(d, ddemb, s.demb, (size_t)s.n * 512 * 4, &err), 0);
    struct lc_rng rs, rt, ru;
    lc_rng_seed(&rs, 11), lc_rng_seed(&rt, 11), lc_rng_seed(&ru, 11);
    float *before = malloc(lc_params_count(ps) * 4 + 64), *before_u = malloc(lc_params_count(pu) * 4 + 64);
    float *gdev = NULL;
    for (int step = 0; step < 2; step++) {
        int n = step ? 3 : s.n; /* a partial batch too */
        lc_params_zero_grad(ps);
        lc_ir_forward(s.m, s.emb, s.norm, s.x, n, 1, &rs);
        lc_ir_backward(s.m, s.demb, NULL);
        if (!exact) {
            lc_params_zero_grad(pu);
            lc_ir_forward(u.m, u.emb, u.norm, u.x, n, 1, &ru);
            lc_ir_backward(u.m, s.demb, NULL);
        }
        cr_assert_eq(lc_dev_params_zero_grad(dp, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_ir_train_dev_forward(g, t.norm, t.x, n, &rt, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_download(d, t.emb, lc_ir_train_dev_emb(g), (size_t)n * 512 * 4, &err), 0);
        cr_assert_eq(lc_ir_train_dev_backward(g, ddemb, &err), 0, "%s", err.msg);
        if (exact) {
            cr_expect_eq(memcmp(s.emb, t.emb, (size_t)n * 512 * 4), 0, "step %d: embeddings identical", step);
            cr_expect_eq(memcmp(s.norm, t.norm, (size_t)n * 4), 0, "step %d: norms identical", step);
        } else {
            double e = rel_err(t.emb, s.emb, (size_t)n * 512), se = rel_err(u.emb, s.emb, (size_t)n * 512);
            cr_expect_lt(e, spread_tol(1e-4, se), "step %d: embeddings: relative error %.3g (the host's spread %.3g)",
                         step, e, se);
            cr_expect_lt(rel_err(t.norm, s.norm, (size_t)n), spread_tol(1e-4, rel_err(u.norm, s.norm, (size_t)n)));
        }
        for (size_t k = 0; k < ps->n; k++) {
            const struct lc_param *p = &ps->v[k];
            if (!p->grad) continue;
            gdev = realloc(gdev, p->n * 4);
            cr_assert_eq(lc_device_download(d, gdev, dp->grad[k], p->n * 4, &err), 0);
            if (exact) {
                cr_expect_eq(memcmp(gdev, p->grad, p->n * 4), 0, "step %d: %s: gradient identical", step, p->name);
            } else {
                double ge = rel_err(gdev, p->grad, p->n), sg = rel_err(pu->v[k].grad, p->grad, p->n);
                /* the biases of zero exact gradient (see above) are rounding noise on both sides */
                size_t l = strlen(p->name);
                if (l > 4 && strcmp(p->name + l - 4, "bias") == 0 && ge > 1e-3) continue;
                cr_expect_lt(ge, spread_tol(1e-3, sg), "step %d: %s: gradient off by %.3g (the host's spread %.3g)",
                             step, p->name, ge, sg);
            }
        }
        size_t at = 0;
        for (size_t k = 0; k < ps->n; k++)
            if (ps->v[k].grad) {
                memcpy(before + at, ps->v[k].data, ps->v[k].n * 4);
                memcpy(before_u + at, pu->v[k].data, pu->v[k].n * 4);
                at += ps->v[k].n;
            }
        lc_optim_step(&os);
        lc_optim_step(&ou);
        cr_assert_eq(lc_optim_dev_step(&od, &ot, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(lc_ir_train_dev_sync(g, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_optim_dev_download(&od, &ot, &err), 0, "%s", err.msg);
    cr_expect_eq(ot.step, os.step);
    size_t at = 0;
    for (size_t k = 0; k < ps->n; k++) {
        const struct lc_param *p = &ps->v[k], *q = &pt->v[k];
        if (p->kind == LC_PARAM_COUNTER) {
            cr_expect_eq(q->count[0], p->count[0], "%s", p->name);
            continue;
        }
        if (exact) {
            cr_expect_eq(memcmp(q->data, p->data, p->n * 4), 0, "%s after two steps: identical", p->name);
        } else if (!p->grad) {
            double e = rel_err(q->data, p->data, p->n), se = rel_err(pu->v[k].data, p->data, p->n);
            cr_expect_lt(e, spread_tol(1e-4, se), "%s: running statistics off by %.3g (the host's spread %.3g)",
                         p->name, e, se);
        } else {
            float *mv = malloc(p->n * 12), *want = mv + p->n, *mu = want + p->n;
            for (size_t i = 0; i < p->n; i++) {
                mv[i] = q->data[i] - before[at + i], want[i] = p->data[i] - before[at + i];
                mu[i] = pu->v[k].data[i] - before_u[at + i];
            }
            double me = rel_err(mv, want, p->n), sm = rel_err(mu, want, p->n);
            size_t l = strlen(p->name);
            if (!(l > 4 && strcmp(p->name + l - 4, "bias") == 0))
                cr_expect_lt(me, spread_tol(1e-3, sm), "%s: the last step's change off by %.3g (the host's spread %.3g)",
                             p->name, me, sm);
            free(mv);
        }
        if (p->grad) {
            for (size_t j = 0; j < ot.n; j++)
                if (ot.data[j] == q->data && exact)
                    cr_expect_eq(memcmp(ot.s1[j], os.s1[j], p->n * 4), 0, "%s: momentum identical", p->name);
            at += p->n;
        }
    }
    free(before), free(before_u), free(gdev);
    lc_device_free(d, ddemb);
    lc_optim_dev_free(&od);
    lc_ir_train_dev_free(g);
    lc_optim_free(&os), lc_optim_free(&ot), lc_optim_free(&ou);
    release(&s), release(&t), release(&u);
}

Test(ir, training_on_the_cpu_device_is_bit_identical)
{
    TEST_TIME_LIMIT(600);
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_train_device(&cpu, 1);
}

Test(cuda, ir18_training_matches_cpu)
{
    TEST_TIME_LIMIT(600);
    need_gpu();
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    check_train_device(&gpu, 0);
}

/* a gradient hook that halves each bucket where it runs (a device op
 * between the backward's spans, as an all-reduce), and counts them */
struct halver {
    const struct lc_device *d;
    int buckets;
    size_t floats;
};

static int halve_bucket(void *ctx, float *grads, size_t n, struct lc_err *err)
{
    struct halver *h = ctx;
    h->buckets++, h->floats += n;
    return lc_op_scale(h->d, grads, grads, 0.5f, n, err);
}

/* CUDA graphs (graph.h) replay the ops they captured: training steps with
 * graphs on give the embeddings, gradients and weights of the same steps
 * without, bit for bit (the same kernels on the same data), across the
 * warm-up, the capture, replays that read weights the optimiser changed,
 * and a partial batch run op by op between replays. hooked: with a
 * gradient hook taking 1 MB buckets, so the backward runs in spans, each
 * its own graph, the hook's op between them. */
static void check_train_graphs(const struct lc_device *d, int dt, int channels_last, int hooked)
{
    /* warm-ups (the backward's first run grows scratch buffers, which sends
     * the forward's warm-up round again), captures, replays, another size
     * (run op by op; it may grow a buffer, and the graphs warm up again),
     * the first size again */
    enum { STEPS = 6 };
    const int batch[STEPS] = {4, 4, 4, 4, 3, 4};
    struct setup s[2] = {make(), make()};
    struct lc_ir_train_dev *g[2];
    struct lc_optim opt[2];
    struct lc_optim_dev od[2];
    struct lc_rng rng[2];
    float *ddemb[2];
    struct lc_err err;
    struct halver hv[2] = {{d, 0, 0}, {d, 0, 0}};
    for (int k = 0; k < 2; k++) {
        lc_ir_set_dropout(s[k].m, 0.4f);
        cr_assert_eq(lc_ir_train_dev_create(&g[k], s[k].m, d, dt, channels_last, 0, &err), 0, "%s", err.msg);
        if (hooked)
            cr_assert_eq(lc_ir_train_dev_set_grad_hook(g[k], halve_bucket, &hv[k], (size_t)1 << 18, &err), 0, "%s",
                         err.msg);
        lc_ir_train_dev_use_graphs(g[k], k == 1);
        lc_optim_init_sgd(&opt[k], 0.1, 0.9f, 5e-4f, 0, NULL);
        cr_assert_eq(lc_optim_add(&opt[k], lc_ir_params(s[k].m), NULL), 0);
        const struct lc_dev_params *mirrors[1] = {lc_ir_train_dev_params(g[k])};
        cr_assert_eq(lc_optim_dev_create(&od[k], &opt[k], mirrors, 1, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_alloc(d, (void **)&ddemb[k], (size_t)s[k].n * 512 * 4, &err), 0);
        cr_assert_eq(lc_device_upload(d, ddemb[k], s[k].demb, (size_t)s[k].n * 512 * 4, &err), 0);
        lc_rng_seed(&rng[k], 11);
    }
    const size_t nb = lc_ir_train_dev_params(g[0])->grad_floats, image = 3 * 112 * 112;
    float *gb[2] = {malloc(nb * 4), malloc(nb * 4)};
    float *xs = malloc(((size_t)s[0].n * image + STEPS * 1000) * 4); /* each step its own images */
    det_fill(xs, (size_t)s[0].n * image + STEPS * 1000, 100004, 1, 0);
    for (int step = 0; step < STEPS; step++) {
        const int n = batch[step];
        for (int k = 0; k < 2; k++) {
            struct lc_dev_params *dp = lc_ir_train_dev_params(g[k]);
            cr_assert_eq(lc_dev_params_zero_grad(dp, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_ir_train_dev_forward(g[k], s[k].norm, xs + (size_t)step * 1000, n, &rng[k], &err), 0, "%s",
                         err.msg);
            cr_assert_eq(lc_device_download(d, s[k].emb, lc_ir_train_dev_emb(g[k]), (size_t)n * 512 * 4, &err), 0);
            cr_assert_eq(lc_ir_train_dev_backward(g[k], ddemb[k], &err), 0, "%s", err.msg);
            cr_assert_eq(lc_device_download(d, gb[k], dp->grad_block, nb * 4, &err), 0, "%s", err.msg);
            cr_assert_eq(lc_optim_dev_step(&od[k], &opt[k], &err), 0, "%s", err.msg);
        }
        cr_expect_eq(memcmp(s[0].emb, s[1].emb, (size_t)n * 512 * 4), 0, "step %d: embeddings differ (%.3g)", step,
                     rel_err(s[1].emb, s[0].emb, (size_t)n * 512));
        cr_expect_eq(memcmp(s[0].norm, s[1].norm, (size_t)n * 4), 0, "step %d: norms differ", step);
        cr_expect_eq(memcmp(gb[0], gb[1], nb * 4), 0, "step %d: gradients differ (%.3g)", step, rel_err(gb[1], gb[0], nb));
    }
    const char *off = NULL;
    long back = 0, launches = lc_ir_train_dev_graph_launches(g[1], &back, &off);
    cr_expect_null(off, "graphs went off: %s", off ? off : "");
    /* on a GPU each pass replays from step 1 on (g[0], run first, grew the scratch buffers in step 0), but for
     * the other size and perhaps the step after it (none on the CPU) */
    if (d->type == LC_DEVICE_CUDA) {
        cr_expect_geq(launches, 3, "%ld forward graph launches", launches);
        cr_expect_geq(back, 3, "%ld backward graph launches", back);
    } else {
        cr_expect_eq(launches + back, 0);
    }
    cr_expect_eq(lc_ir_train_dev_graph_launches(g[0], NULL, NULL), 0);
    cr_expect_eq(hv[0].buckets, hv[1].buckets);
    if (hooked) {
        cr_expect_gt(hv[1].buckets, 2 * STEPS, "%d buckets in %d steps: one span a step", hv[1].buckets, STEPS);
        cr_expect_eq(hv[1].floats, STEPS * nb, "every gradient once a step: %zu floats in %d steps of %zu", hv[1].floats,
                     STEPS, nb);
    }
    for (int k = 0; k < 2; k++) cr_assert_eq(lc_ir_train_dev_sync(g[k], &err), 0, "%s", err.msg);
    struct lc_params *p0 = lc_ir_params(s[0].m), *p1 = lc_ir_params(s[1].m);
    for (size_t t = 0; t < p0->n; t++) {
        const struct lc_param *a = &p0->v[t], *b = &p1->v[t];
        if (a->kind == LC_PARAM_COUNTER) cr_expect_eq(a->count[0], b->count[0], "%s", a->name);
        else cr_expect_eq(memcmp(a->data, b->data, a->n * 4), 0, "%s after %d steps", a->name, STEPS);
    }
    cr_log_info("%s%s%s: %ld forward and %ld backward passes replayed, identical to the ops run one by one",
                lc_dtype_name(dt), channels_last ? " channels-last" : "", hooked ? ", buckets" : "", launches, back);
    free(gb[0]), free(gb[1]), free(xs);
    for (int k = 0; k < 2; k++) {
        lc_device_free(d, ddemb[k]);
        lc_optim_dev_free(&od[k]);
        lc_ir_train_dev_free(g[k]);
        lc_optim_free(&opt[k]);
        release(&s[k]);
    }
}

/* the inference forward replayed: the same embeddings and norms */
static void check_inference_graphs(const struct lc_device *d, int dt, int channels_last)
{
    struct setup s = make();
    struct lc_ir_dev *g[2];
    struct lc_err err;
    float *emb[2], *norm[2];
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(lc_ir_dev_create(&g[k], s.m, d, dt, channels_last, &err), 0, "%s", err.msg);
        lc_ir_dev_use_graphs(g[k], k == 1);
        emb[k] = malloc((size_t)s.n * 512 * 4), norm[k] = malloc((size_t)s.n * 4);
    }
    const int batch[5] = {4, 4, 4, 2, 4}; /* warm-up, capture, replay, another size, replay or warm-up */
    const size_t image = 3 * 112 * 112;
    float *xs = malloc(((size_t)s.n * image + 5000) * 4); /* each forward its own images */
    det_fill(xs, (size_t)s.n * image + 5000, 100003, 1, 0);
    for (int i = 0; i < 5; i++) {
        const int n = batch[i];
        for (int k = 0; k < 2; k++)
            cr_assert_eq(lc_ir_dev_forward(g[k], emb[k], norm[k], xs + (size_t)i * 1000, n, &err), 0, "%s", err.msg);
        cr_expect_eq(memcmp(emb[0], emb[1], (size_t)n * 512 * 4), 0, "forward %d: embeddings differ", i);
        cr_expect_eq(memcmp(norm[0], norm[1], (size_t)n * 4), 0, "forward %d: norms differ", i);
    }
    const char *off = NULL;
    long launches = lc_ir_dev_graph_launches(g[1], &off);
    if (d->type == LC_DEVICE_CUDA) cr_expect_geq(launches, 2, "%ld graph launches", launches);
    else cr_expect_eq(launches, 0);
    cr_expect_null(off, "graphs went off: %s", off ? off : "");
    for (int k = 0; k < 2; k++) lc_ir_dev_free(g[k]), free(emb[k]), free(norm[k]);
    free(xs);
    release(&s);
}

Test(ir, graphs_asked_for_on_the_cpu_device_change_nothing)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_train_graphs(&cpu, LC_DTYPE_F32, 0, 1); /* the backward's spans, the hook between them */
    check_inference_graphs(&cpu, LC_DTYPE_F32, 0);
}

Test(cuda, ir18_graphs_replay_the_ops_exactly)
{
    TEST_TIME_LIMIT(600);
    need_gpu();
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    check_train_graphs(&gpu, LC_DTYPE_F32, 0, 0);
    check_train_graphs(&gpu, LC_DTYPE_F16, 1, 0);
    check_train_graphs(&gpu, LC_DTYPE_F16, 1, 1);
    check_inference_graphs(&gpu, LC_DTYPE_F32, 0);
    check_inference_graphs(&gpu, LC_DTYPE_F16, 1);
}

/* Mixed precision through the seam: one training step with 16-bit
 * activations against the float32 host path, from the same weights. The
 * 16-bit path computes the same function with rounded storage: embeddings
 * within emb_tol and every weight's gradient within grad_tol (relative, L2;
 * the zero-gradient biases before batch norm excepted; measured on the
 * CPU: fp16 2.2e-3 and 4.4e-2 (a batch norm weight), bf16 2.0e-2 and
 * 1.3e-1; tolerances about twice those). On the CPU both
 * sides are the CPU's; on a GPU, its 16-bit kernels. */
static void check_train_mixed(const struct lc_device *d, int dt, int channels_last, double emb_tol, double grad_tol)
{
    struct setup s = make(), t = make();
    struct lc_params *ps = lc_ir_params(s.m);
    struct lc_err err;
    struct lc_ir_train_dev *g;
    cr_assert_eq(lc_ir_train_dev_create(&g, t.m, d, dt, channels_last, 0, &err), 0, "%s", err.msg);
    struct lc_dev_params *dp = lc_ir_train_dev_params(g);
    float *ddemb, *gdev = NULL;
    cr_assert_eq(lc_device_alloc(d, (void **)&ddemb, (size_t)s.n * 512 * 4, &err), 0);
    cr_assert_eq(lc_device_upload(d, ddemb, s.demb, (size_t)s.n * 512 * 4, &err), 0);
    struct lc_rng rs, rt;
    lc_rng_seed(&rs, 11), lc_rng_seed(&rt, 11);
    lc_params_zero_grad(ps);
    lc_ir_forward(s.m, s.emb, s.norm, s.x, s.n, 1, &rs);
    lc_ir_backward(s.m, s.demb, NULL);
    cr_assert_eq(lc_dev_params_zero_grad(dp, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_ir_train_dev_forward(g, t.norm, t.x, s.n, &rt, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_download(d, t.emb, lc_ir_train_dev_emb(g), (size_t)s.n * 512 * 4, &err), 0);
    cr_assert_eq(lc_ir_train_dev_backward(g, ddemb, &err), 0, "%s", err.msg);
    double e = rel_err(t.emb, s.emb, (size_t)s.n * 512), worst = 0;
    cr_expect_lt(e, emb_tol, "%s: embeddings off by %.3g", lc_dtype_name(dt), e);
    cr_expect_gt(e, 0, "%s: 16-bit storage rounds", lc_dtype_name(dt));
    cr_expect_lt(rel_err(t.norm, s.norm, (size_t)s.n), emb_tol);
    const char *worst_name = "";
    for (size_t k = 0; k < ps->n; k++) {
        const struct lc_param *p = &ps->v[k];
        size_t l = strlen(p->name);
        if (!p->grad || (l > 4 && strcmp(p->name + l - 4, "bias") == 0)) continue;
        gdev = realloc(gdev, p->n * 4);
        cr_assert_eq(lc_device_download(d, gdev, dp->grad[k], p->n * 4, &err), 0);
        double ge = rel_err(gdev, p->grad, p->n);
        if (ge > worst) worst = ge, worst_name = p->name;
    }
    cr_expect_lt(worst, grad_tol, "%s: gradient of %s off by %.3g", lc_dtype_name(dt), worst_name, worst);
    cr_log_info("%s%s: embeddings %.3g, worst gradient %.3g (%s)", lc_dtype_name(dt),
                channels_last ? " channels-last" : "", e, worst, worst_name);
    free(gdev);
    lc_device_free(d, ddemb);
    lc_ir_train_dev_free(g);
    release(&s), release(&t);
}

Test(ir, mixed_precision_on_the_cpu_device)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    check_train_mixed(&cpu, LC_DTYPE_F16, 0, 1e-2, 1e-1);
    check_train_mixed(&cpu, LC_DTYPE_BF16, 0, 5e-2, 3e-1);
}

Test(cuda, ir18_mixed_precision_matches_fp32)
{
    need_gpu();
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    for (int cl = 0; cl < 2; cl++) {
        check_train_mixed(&gpu, LC_DTYPE_F16, cl, 1e-2, 1e-1);
        check_train_mixed(&gpu, LC_DTYPE_BF16, cl, 5e-2, 3e-1);
    }
}

/* Channels-last on the CPU device: the reference ops transpose exactly, so
 * a training step and an inference pass give the (N, C, H, W) path's
 * results bit for bit; what this checks is the plumbing: the input and the
 * conv weights cast into (N, H, W, C) / (Co, K, K, Ci), every backbone op
 * told the layout, the last unit's output cast back before the output
 * layer (flatten order, dropout mask) and its gradient cast forward. */
Test(ir, channels_last_on_the_cpu_device_equals_nchw)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    struct setup s[2] = {make(), make()};
    const int dt = LC_DTYPE_F16;
    struct lc_ir_train_dev *g[2];
    float *ddemb[2], *emb[2], *grads[2], *stats[2];
    struct lc_dev_params *dp[2];
    for (int l = 0; l < 2; l++) {
        lc_ir_set_dropout(s[l].m, 0.3f);
        cr_assert_eq(lc_ir_train_dev_create(&g[l], s[l].m, &cpu, dt, l, 0, &err), 0, "%s", err.msg);
        dp[l] = lc_ir_train_dev_params(g[l]);
        cr_assert_eq(lc_device_alloc(&cpu, (void **)&ddemb[l], (size_t)s[l].n * 512 * 4, &err), 0);
        memcpy(ddemb[l], s[l].demb, (size_t)s[l].n * 512 * 4);
        struct lc_rng rng;
        lc_rng_seed(&rng, 5);
        cr_assert_eq(lc_dev_params_zero_grad(dp[l], &err), 0, "%s", err.msg);
        cr_assert_eq(lc_ir_train_dev_forward(g[l], s[l].norm, s[l].x, s[l].n, &rng, &err), 0, "%s", err.msg);
        emb[l] = malloc((size_t)s[l].n * 512 * 4);
        cr_assert_eq(lc_device_download(&cpu, emb[l], lc_ir_train_dev_emb(g[l]), (size_t)s[l].n * 512 * 4, &err), 0);
        cr_assert_eq(lc_ir_train_dev_backward(g[l], ddemb[l], &err), 0, "%s", err.msg);
        grads[l] = dp[l]->grad_block;
        stats[l] = dp[l]->data_block;
    }
    cr_expect_eq(memcmp(emb[1], emb[0], (size_t)s[0].n * 512 * 4), 0, "training embeddings");
    cr_expect_eq(memcmp(s[1].norm, s[0].norm, (size_t)s[0].n * 4), 0, "training norms");
    cr_assert_eq(dp[0]->grad_floats, dp[1]->grad_floats);
    size_t diff = 0, first = 0, nonzero = 0;
    for (size_t i = 0; i < dp[0]->grad_floats; i++) {
        if (memcmp(&grads[0][i], &grads[1][i], 4) && !diff++) first = i;
        nonzero += grads[0][i] != 0;
    }
    cr_expect_eq(diff, 0, "gradients: %zu of %zu differ, first at %zu", diff, dp[0]->grad_floats, first);
    cr_expect_gt(nonzero, dp[0]->grad_floats / 2, "the gradients were computed");
    cr_expect_eq(memcmp(stats[1], stats[0], dp[0]->data_floats * 4), 0, "parameters and running statistics");
    for (int l = 0; l < 2; l++) { /* inference from the updated running statistics */
        struct lc_ir_dev *gi;
        cr_assert_eq(lc_ir_train_dev_sync(g[l], &err), 0, "%s", err.msg);
        cr_assert_eq(lc_ir_dev_create(&gi, s[l].m, &cpu, dt, l, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_ir_dev_forward(gi, emb[l], s[l].norm, s[l].x, 3, &err), 0, "%s", err.msg);
        lc_ir_dev_free(gi);
    }
    cr_expect_eq(memcmp(emb[1], emb[0], (size_t)3 * 512 * 4), 0, "inference embeddings");
    struct lc_ir_dev *bad;
    cr_expect_eq(lc_ir_dev_create(&bad, s[0].m, &cpu, LC_DTYPE_F32, 1, &err), LC_EINVAL, "channels-last in float32");
    for (int l = 0; l < 2; l++) {
        lc_device_free(&cpu, ddemb[l]);
        lc_ir_train_dev_free(g[l]);
        free(emb[l]);
        release(&s[l]);
    }
}

/* Data parallelism through the seam: two ranks as threads on the CPU
 * device (comm.h's local group), each with its own batch, dropout stream
 * and batch statistics, gradients averaged before each SGD step, against
 * one host model that computes the same thing in sequence: rank 1's
 * gradients (its running statistics then put back: only rank 0's are
 * kept, as DDP's buffer broadcast leaves them), rank 0's, their mean in
 * the group's order ((g0 + g1) * 0.5), one step. Bit-identical: rank 0's
 * weights and buffers, and rank 1's weights. */
struct ddp_rank {
    struct lc_comm *comm;
    struct lc_ir_train_dev *g;
    struct lc_optim *o;
    struct lc_optim_dev od;
    const float *x, *demb;
    float *ddemb;
    uint64_t seed;
    int n, steps, rc, buckets;
    size_t reduced;
    struct lc_err err;
};

/* a bucket of finished gradients: averaged at once, counted */
static int ddp_bucket(void *ctx, float *grads, size_t n, struct lc_err *err)
{
    struct ddp_rank *k = ctx;
    k->buckets++, k->reduced += n;
    return lc_comm_allreduce_start(k->comm, grads, n, 1, err);
}

static void *ddp_rank_main(void *arg)
{
    struct ddp_rank *k = arg;
    const struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_dev_params *dp = lc_ir_train_dev_params(k->g);
    struct lc_rng rng;
    lc_rng_seed(&rng, k->seed);
    for (int s = 0; s < k->steps && !k->rc; s++) {
        float norm[8];
        /* step 0: the whole gradient block after backward; then in buckets during it */
        if (s == 1 && (k->rc = lc_ir_train_dev_set_grad_hook(k->g, ddp_bucket, k, (size_t)1 << 18, &k->err))) break;
        if ((k->rc = lc_dev_params_zero_grad(dp, &k->err)) ||
            (k->rc = lc_ir_train_dev_forward(k->g, norm, k->x, k->n, &rng, &k->err)) ||
            (k->rc = lc_ir_train_dev_backward(k->g, k->ddemb, &k->err)) ||
            (s == 0 && (k->rc = lc_comm_allreduce(k->comm, dp->grad_block, dp->grad_floats, 1, &k->err))) ||
            (k->rc = lc_comm_wait(k->comm, &k->err)) || (k->rc = lc_optim_dev_step(&k->od, k->o, &k->err)))
            lc_comm_abort(k->comm);
    }
    (void)cpu;
    return NULL;
}

Test(ir, data_parallel_on_the_cpu_is_the_mean_of_the_ranks_gradients)
{
    TEST_TIME_LIMIT(600);
    const struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct setup ref = make(), rk[2] = {make(), make()};
    const int n = ref.n, steps = 2;
    float *x1 = malloc((size_t)n * 3 * 112 * 112 * 4), *demb1 = malloc((size_t)n * 512 * 4);
    det_fill(x1, (size_t)n * 3 * 112 * 112, 200001, 1, 0);
    det_fill(demb1, (size_t)n * 512, 200002, 1, 0);
    const float *xs[2] = {ref.x, x1}, *dembs[2] = {ref.demb, demb1};
    struct lc_optim oref, o[2];
    struct lc_comm *comms[2];
    cr_assert_eq(lc_comm_local_create(comms, 2, NULL), 0);
    struct ddp_rank k[2];
    struct lc_err err;
    for (int r = 0; r < 2; r++) {
        lc_ir_set_dropout(rk[r].m, 0.4f);
        lc_optim_init_sgd(&o[r], 0.1, 0.9f, 5e-4f, 0, NULL);
        cr_assert_eq(lc_optim_add(&o[r], lc_ir_params(rk[r].m), NULL), 0);
        k[r] = (struct ddp_rank){.comm = comms[r], .o = &o[r], .x = xs[r], .demb = dembs[r], .seed = 31 + (uint64_t)r,
                                 .n = n, .steps = steps};
        cr_assert_eq(lc_ir_train_dev_create(&k[r].g, rk[r].m, &cpu, LC_DTYPE_F32, 0, 0, &err), 0, "%s", err.msg);
        const struct lc_dev_params *mirrors[1] = {lc_ir_train_dev_params(k[r].g)};
        cr_assert_eq(lc_optim_dev_create(&k[r].od, &o[r], mirrors, 1, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_alloc(&cpu, (void **)&k[r].ddemb, (size_t)n * 512 * 4, NULL), 0);
        memcpy(k[r].ddemb, dembs[r], (size_t)n * 512 * 4);
    }
    pthread_t t[2];
    int blas = lc_blas_serial_begin(); /* OpenBLAS's own threads are not for concurrent callers */
    for (int r = 0; r < 2; r++) pthread_create(&t[r], NULL, ddp_rank_main, &k[r]);
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
    lc_blas_serial_end(blas);
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(k[r].rc, 0, "rank %d: %s", r, k[r].err.msg);
        cr_expect_eq(k[r].reduced, lc_ir_train_dev_params(k[r].g)->grad_floats, "every gradient averaged once");
        cr_expect_gt(k[r].buckets, 4, "in buckets (%d)", k[r].buckets);
    }
    /* the same in sequence on the host */
    lc_ir_set_dropout(ref.m, 0.4f);
    struct lc_params *ps = lc_ir_params(ref.m);
    lc_optim_init_sgd(&oref, 0.1, 0.9f, 5e-4f, 0, NULL);
    cr_assert_eq(lc_optim_add(&oref, ps, NULL), 0);
    size_t total = 0, nbuf = 0;
    for (size_t q = 0; q < ps->n; q++) total += ps->v[q].grad ? ps->v[q].n : 0, nbuf += ps->v[q].grad ? 0 : ps->v[q].n;
    float *g1 = malloc(total * 4), *saved = malloc((nbuf + 1) * 4);
    int64_t *counts = calloc(ps->n, sizeof *counts);
    struct lc_rng rr[2];
    lc_rng_seed(&rr[0], 31), lc_rng_seed(&rr[1], 32);
    for (int s = 0; s < steps; s++) {
        size_t at = 0, bt = 0;
        for (size_t q = 0; q < ps->n; q++) { /* buffers as they are before the step */
            const struct lc_param *p = &ps->v[q];
            if (p->kind == LC_PARAM_COUNTER) counts[q] = p->count[0];
            else if (!p->grad) memcpy(saved + bt, p->data, p->n * 4), bt += p->n;
        }
        lc_params_zero_grad(ps);
        lc_ir_forward(ref.m, ref.emb, ref.norm, x1, n, 1, &rr[1]);
        lc_ir_backward(ref.m, demb1, NULL);
        for (size_t q = 0; q < ps->n; q++)
            if (ps->v[q].grad) memcpy(g1 + at, ps->v[q].grad, ps->v[q].n * 4), at += ps->v[q].n;
        bt = 0;
        for (size_t q = 0; q < ps->n; q++) {
            struct lc_param *p = &ps->v[q];
            if (p->kind == LC_PARAM_COUNTER) p->count[0] = counts[q];
            else if (!p->grad) memcpy(p->data, saved + bt, p->n * 4), bt += p->n;
        }
        lc_params_zero_grad(ps);
        lc_ir_forward(ref.m, ref.emb, ref.norm, ref.x, n, 1, &rr[0]);
        lc_ir_backward(ref.m, ref.demb, NULL);
        at = 0;
        for (size_t q = 0; q < ps->n; q++) {
            struct lc_param *p = &ps->v[q];
            if (!p->grad) continue;
            for (size_t i = 0; i < p->n; i++) p->grad[i] = (p->grad[i] + g1[at + i]) * (1.0f / 2);
            at += p->n;
        }
        lc_optim_step(&oref);
    }
    for (int r = 0; r < 2; r++) cr_assert_eq(lc_ir_train_dev_sync(k[r].g, &err), 0, "%s", err.msg);
    struct lc_params *p0 = lc_ir_params(rk[0].m), *p1 = lc_ir_params(rk[1].m);
    for (size_t q = 0; q < ps->n; q++) {
        const struct lc_param *p = &ps->v[q];
        if (p->kind == LC_PARAM_COUNTER) {
            cr_expect_eq(p0->v[q].count[0], p->count[0], "%s", p->name);
            continue;
        }
        cr_expect_eq(memcmp(p0->v[q].data, p->data, p->n * 4), 0, "rank 0's %s: identical to the sequential mean", p->name);
        if (p->grad) cr_expect_eq(memcmp(p1->v[q].data, p->data, p->n * 4), 0, "rank 1's %s: identical to rank 0's", p->name);
    }
    /* the ranks' batch statistics differ: rank 1's running statistics are its own */
    const struct lc_param *rm = lc_params_find(p1, "input_layer.1.running_mean");
    cr_expect_neq(memcmp(rm->data, lc_params_find(ps, "input_layer.1.running_mean")->data, rm->n * 4), 0);
    for (int r = 0; r < 2; r++) {
        lc_device_free(&cpu, k[r].ddemb);
        lc_optim_dev_free(&k[r].od);
        lc_ir_train_dev_free(k[r].g);
        lc_optim_free(&o[r]);
        lc_comm_free(comms[r]);
        release(&rk[r]);
    }
    lc_optim_free(&oref);
    free(x1), free(demb1), free(g1), free(saved), free(counts);
    release(&ref);
}

/* A model that only holds parameters (for a GPU's runs) allocates no
 * activations and serves the device paths like a full one. */
Test(ir, params_only_model_serves_the_device_path)
{
    struct setup s = make();
    struct lc_ir *p;
    struct lc_err err;
    cr_assert_eq(lc_ir_create(&p, 18, s.n, LC_IR_PARAMS_ONLY, &err), 0, "%s", err.msg);
    cr_expect_eq(lc_ir_activation_floats(p), 0);
    struct lc_params *ps = lc_ir_params(s.m), *pp = lc_ir_params(p);
    for (size_t k = 0; k < ps->n; k++)
        if (ps->v[k].kind != LC_PARAM_COUNTER) memcpy(pp->v[k].data, ps->v[k].data, ps->v[k].n * 4);
    const struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_ir_dev *a, *b;
    cr_assert_eq(lc_ir_dev_create(&a, s.m, &cpu, LC_DTYPE_F32, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_ir_dev_create(&b, p, &cpu, LC_DTYPE_F32, 0, &err), 0, "%s", err.msg);
    float *e2 = malloc((size_t)s.n * 512 * 4), n2[8];
    cr_assert_eq(lc_ir_dev_forward(a, s.emb, s.norm, s.x, s.n, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_ir_dev_forward(b, e2, n2, s.x, s.n, &err), 0, "%s", err.msg);
    cr_expect_eq(memcmp(s.emb, e2, (size_t)s.n * 512 * 4), 0);
    lc_ir_dev_free(a), lc_ir_dev_free(b);
    struct lc_ir_train_dev *t;
    cr_assert_eq(lc_ir_train_dev_create(&t, p, &cpu, LC_DTYPE_F32, 0, 0, &err), 0, "%s", err.msg);
    struct lc_rng rng;
    lc_rng_seed(&rng, 5);
    cr_assert_eq(lc_ir_train_dev_forward(t, n2, s.x, s.n, &rng, &err), 0, "%s", err.msg);
    lc_ir_train_dev_free(t);
    free(e2);
    lc_ir_free(p);
    release(&s);
}

/* The device inference's memory, on the CPU device (its allocations are
 * the same): per image, three buffers of IR-18's largest activation (64 x
 * 112 x 112), the largest conv shortcut's output (128 x 28 x 28), the
 * input and the output layer's; apart from that,
 * the weights in dt with no float32 copy, plus the per-channel arrays. */
Test(ir, device_inference_holds_three_activations_and_typed_weights)
{
    struct lc_err err;
    struct lc_ir *m[2];
    struct lc_rng rng;
    lc_rng_seed(&rng, 3);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(lc_ir_create(&m[k], 18, 2 + 2 * k, LC_IR_PARAMS_ONLY, &err), 0, "%s", err.msg);
        lc_ir_init_weights(m[k], &rng);
    }
    const struct lc_device cpu = {LC_DEVICE_CPU, 0};
    const size_t params = lc_params_count(lc_ir_params(m[0])), in = 3 * 112 * 112;
    const int types[3] = {LC_DTYPE_F32, LC_DTYPE_F16, LC_DTYPE_BF16};
    for (int t = 0; t < 3; t++)
        for (int cl = 0; cl <= (types[t] != LC_DTYPE_F32); cl++) {
            const size_t es = lc_dtype_size(types[t]);
            size_t bytes[2];
            for (int k = 0; k < 2; k++) {
                struct lc_ir_dev *g;
                cr_assert_eq(lc_ir_dev_create(&g, m[k], &cpu, types[t], cl, &err), 0, "%s", err.msg);
                bytes[k] = lc_ir_dev_bytes(g);
                lc_ir_dev_free(g);
            }
            size_t per_image = (bytes[1] - bytes[0]) / 2, fixed = bytes[0] - 2 * per_image;
            /* 16 bits: also the input and the features in float32 (there
             * the features are the embeddings' input) */
            size_t want = (3 * 64 * 112 * 112 + 128 * 28 * 28 + 512 * 7 * 7 + 2 * 512) * es + in * 4 +
                          (es == 4 ? 0 : in * es + 512 * 4) + 512 * 4 + 4;
            cr_expect_eq(per_image, want, "%s%s: %zu bytes an image, not %zu", lc_dtype_name(types[t]),
                         cl ? " channels-last" : "", per_image, want);
            cr_expect(fixed > params * es * 9 / 10 && fixed < params * es + params / 100,
                      "%s%s: %zu bytes of weights for %zu parameters", lc_dtype_name(types[t]),
                      cl ? " channels-last" : "", fixed, params);
        }
    lc_ir_free(m[0]), lc_ir_free(m[1]);
}

/* A training copy sized for a smaller batch than the model's (train-pre's
 * model also serves validation's larger batch): it takes up to max_n. */
Test(ir, training_copy_takes_batches_up_to_its_max_n)
{
    TEST_TIME_LIMIT(300);
    struct setup s = make();
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_ir_train_dev *g;
    struct lc_rng rng;
    lc_rng_seed(&rng, 3);
    struct lc_err err;
    cr_assert_eq(lc_ir_train_dev_create(&g, s.m, &cpu, LC_DTYPE_F32, 0, s.n - 1, &err), 0, "%s", err.msg);
    cr_expect_eq(lc_ir_train_dev_forward(g, s.norm, s.x, s.n, &rng, &err), LC_EINVAL, "a batch of the model's %d", s.n);
    cr_expect(strstr(err.msg, "(1 to 3)") != NULL, "%s", err.msg);
    cr_expect_eq(lc_ir_train_dev_forward(g, s.norm, s.x, s.n - 1, &rng, &err), 0, "%s", err.msg);
    cr_expect_eq(lc_ir_train_dev_backward(g, s.demb, &err), 0, "%s", err.msg); /* in buffers sized for 3 */
    lc_ir_train_dev_free(g);
    release(&s);
}
