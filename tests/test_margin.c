/* margin heads against a torch transcription of the reference head.py
 * (goldens from tests/make_golden.py heads): logits, clamped cosine and
 * gradients; three AdaFace training steps with SGD and running statistics;
 * one CosFace step; finite-difference checks of both gradients. */
#include <stdlib.h>

#include "margin.h"
#include "optim.h"
#include "params.h"
#include "testutil.h"

static struct tu_array fx(const char *dir, const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "heads/%s/%s.npy", dir, name);
    return tu_fixture(rel);
}

static void check_head(const char *kind_name, float m)
{
    struct tu_array emb = fx(kind_name, "emb"), norms = fx(kind_name, "norms"), kernel = fx(kind_name, "kernel"),
                    labels = fx(kind_name, "labels"), dlogits = fx(kind_name, "dlogits"), want_logits = fx(kind_name, "logits"),
                    want_cos = fx(kind_name, "cos"), want_demb = fx(kind_name, "demb"), want_dk = fx(kind_name, "dkernel"),
                    stats = fx(kind_name, "stats");
    int N = (int)emb.h.dims[0], D = (int)emb.h.dims[1], C = (int)kernel.h.dims[1];
    struct lc_margin p;
    cr_assert_eq(lc_margin_init(&p, lc_margin_parse(kind_name), N, D, C, m, 0.333f, 64.0f, 0.01f, NULL), 0);
    float *ws = calloc(lc_margin_workspace(&p), 4), *logits = calloc((size_t)N * C, 4), *cos = calloc((size_t)N * C, 4);
    float *scaler = calloc((size_t)N, 4), *demb = calloc((size_t)N * D, 4), *dk = calloc((size_t)D * C, 4);
    struct lc_margin_stats st;
    lc_margin_stats_init(&st);
    lc_margin_forward(logits, cos, scaler, &st, emb.data, norms.data, kernel.data, labels.data, &p, 1, ws);
    /* logits are s * cos: 64 * 1e-6 relative of a cosine near 1 */
    tu_expect_close(logits, want_logits.data, (size_t)N * C, 2e-5f, 1e-5f);
    tu_expect_close(cos, want_cos.data, (size_t)N * C, 1e-6f, 1e-6f);
    if (p.kind == LC_MARGIN_ADAFACE) tu_expect_close(&st.batch_mean, stats.data, 2, 0, 1e-6f);
    lc_margin_backward(demb, dk, dlogits.data, cos, scaler, emb.data, kernel.data, labels.data, &p, ws);
    tu_expect_close(demb, want_demb.data, (size_t)N * D, 1e-4f, 1e-4f);
    tu_expect_close(dk, want_dk.data, (size_t)D * C, 1e-4f, 1e-4f);
    free(ws), free(logits), free(cos), free(scaler), free(demb), free(dk);
    tu_free(&emb), tu_free(&norms), tu_free(&kernel), tu_free(&labels), tu_free(&dlogits), tu_free(&want_logits);
    tu_free(&want_cos), tu_free(&want_demb), tu_free(&want_dk), tu_free(&stats);
}

Test(margin, cosface_matches_torch) { check_head("cosface", 0.4f); }
Test(margin, arcface_matches_torch) { check_head("arcface", 0.5f); }
Test(margin, adaface_matches_torch) { check_head("adaface", 0.4f); }

/* Mean softmax cross-entropy (double) and its gradient, as F.cross_entropy. */
static double cross_entropy(float *dlogits, const float *logits, const int64_t *labels, int n, int c)
{
    double loss = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        double mx = z[0], sum = 0;
        for (int k = 1; k < c; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < c; k++) sum += exp(z[k] - mx);
        loss += log(sum) + mx - z[labels[i]];
        for (int k = 0; k < c; k++)
            if (dlogits) dlogits[(size_t)i * c + k] = (float)((exp(z[k] - mx) / sum - (k == labels[i])) / n);
    }
    return loss / n;
}

static void check_steps(const char *kind_name, int steps)
{
    char dir[64], name[32];
    snprintf(dir, sizeof dir, "%s_steps", kind_name);
    struct tu_array k0 = fx(dir, "kernel0");
    int D = (int)k0.h.dims[0], C = (int)k0.h.dims[1];
    struct lc_params ps;
    lc_params_init(&ps);
    int64_t dims[2] = {D, C};
    struct lc_param *kp = lc_params_add(&ps, LC_PARAM_DECAY, 2, dims, NULL, "kernel");
    memcpy(kp->data, k0.data, (size_t)D * C * 4);
    float *kernel = kp->data, *dkernel = kp->grad;
    struct lc_optim opt;
    lc_optim_init_sgd(&opt, 0.1, 0.9f, 5e-4f, 0, NULL);
    cr_assert_eq(lc_optim_add(&opt, &ps, NULL), 0);
    struct lc_margin_stats st;
    lc_margin_stats_init(&st);
    for (int t = 0; t < steps; t++) {
        snprintf(name, sizeof name, "emb%d", t);
        struct tu_array emb = fx(dir, name);
        snprintf(name, sizeof name, "norms%d", t);
        struct tu_array norms = fx(dir, name);
        snprintf(name, sizeof name, "labels%d", t);
        struct tu_array labels = fx(dir, name);
        int N = (int)emb.h.dims[0];
        struct lc_margin p;
        lc_margin_init(&p, lc_margin_parse(kind_name), N, D, C, 0.4f, 0.333f, 64.0f, 0.01f, NULL);
        float *ws = calloc(lc_margin_workspace(&p), 4), *logits = calloc((size_t)N * C, 4), *cos = calloc((size_t)N * C, 4);
        float *scaler = calloc((size_t)N, 4), *demb = calloc((size_t)N * D, 4), *dl = calloc((size_t)N * C, 4);
        lc_params_zero_grad(&ps);
        lc_margin_forward(logits, cos, scaler, &st, emb.data, norms.data, kernel, labels.data, &p, 1, ws);
        double loss = cross_entropy(dl, logits, labels.data, N, C);
        lc_margin_backward(demb, dkernel, dl, cos, scaler, emb.data, kernel, labels.data, &p, ws);
        lc_optim_step(&opt);
        snprintf(name, sizeof name, "loss%d", t);
        struct tu_array want_loss = fx(dir, name);
        cr_expect(fabs(loss - *(double *)want_loss.data) <= 1e-5 * fabs(loss) + 1e-6, "step %d loss %.9g vs %.9g", t, loss,
                  *(double *)want_loss.data);
        snprintf(name, sizeof name, "demb%d", t);
        struct tu_array want_demb = fx(dir, name);
        tu_expect_close(demb, want_demb.data, (size_t)N * D, 1e-5f, 1e-4f);
        snprintf(name, sizeof name, "kernel%d", t + 1);
        struct tu_array want_k = fx(dir, name);
        tu_expect_close(kernel, want_k.data, (size_t)D * C, 1e-6f, 1e-5f);
        snprintf(name, sizeof name, "stats%d", t + 1);
        struct tu_array want_st = fx(dir, name);
        if (p.kind == LC_MARGIN_ADAFACE) tu_expect_close(&st.batch_mean, want_st.data, 2, 0, 1e-6f);
        tu_free(&emb), tu_free(&norms), tu_free(&labels), tu_free(&want_loss), tu_free(&want_demb), tu_free(&want_k), tu_free(&want_st);
        free(ws), free(logits), free(cos), free(scaler), free(demb), free(dl);
    }
    lc_optim_free(&opt);
    lc_params_free(&ps);
    tu_free(&k0);
}

Test(margin, three_adaface_training_steps_match_torch) { check_steps("adaface", 3); }
Test(margin, a_cosface_training_step_matches_torch) { check_steps("cosface", 1); }

/* finite differences of loss = sum(logits * r) */
struct fd_ctx {
    struct lc_margin p;
    float *emb, *norms, *kernel, *r, *ws, *logits, *cos, *scaler;
    int64_t *labels;
    struct lc_margin_stats st;
};

static double fd_loss(void *v)
{
    struct fd_ctx *c = v;
    struct lc_margin_stats st = c->st;
    lc_margin_forward(c->logits, c->cos, c->scaler, &st, c->emb, c->norms, c->kernel, c->labels, &c->p, 0, c->ws);
    double l = 0;
    for (int i = 0; i < c->p.n * c->p.classes; i++) l += (double)c->logits[i] * c->r[i];
    return l;
}

Test(margin, gradients_match_finite_differences)
{
    for (int kind = 0; kind < 3; kind++) {
        struct fd_ctx c;
        int N = 5, D = 6, C = 7;
        lc_margin_init(&c.p, kind, N, D, C, 0.4f, 0.333f, 1.0f /* s=1 keeps logits O(1) */, 0.01f, NULL);
        lc_margin_stats_init(&c.st);
        c.st.batch_mean = 10, c.st.batch_std = 3;
        uint32_t s = 99;
#define RND() ((s = s * 1664525u + 1013904223u), ((float)(s >> 8) / 16777216.0f - 0.5f))
        c.emb = calloc((size_t)N * D, 4), c.norms = calloc(N, 4), c.kernel = calloc((size_t)D * C, 4), c.r = calloc((size_t)N * C, 4);
        c.labels = calloc(N, 8), c.ws = calloc(lc_margin_workspace(&c.p), 4), c.logits = calloc((size_t)N * C, 4);
        c.cos = calloc((size_t)N * C, 4), c.scaler = calloc(N, 4);
        for (int i = 0; i < N * D; i++) c.emb[i] = RND() * 0.8f; /* |cos| well inside the clamp */
        for (int i = 0; i < D * C; i++) c.kernel[i] = RND();
        for (int i = 0; i < N * C; i++) c.r[i] = RND();
        for (int i = 0; i < N; i++) c.norms[i] = 10 + 4 * RND(), c.labels[i] = (i * 3) % C;
        float *demb = calloc((size_t)N * D, 4), *dk = calloc((size_t)D * C, 4);
        fd_loss(&c);
        lc_margin_backward(demb, dk, c.r, c.cos, c.scaler, c.emb, c.kernel, c.labels, &c.p, c.ws);
        /* float32 forward, eps 1e-3: central differences good to ~1e-3 relative */
        tu_grad_check(fd_loss, &c, c.emb, demb, (size_t)N * D, 30, 1e-3f, 2e-2f, 2e-3f, lc_margin_name(kind));
        tu_grad_check(fd_loss, &c, c.kernel, dk, (size_t)D * C, 42, 1e-3f, 2e-2f, 2e-3f, lc_margin_name(kind));
        free(c.emb), free(c.norms), free(c.kernel), free(c.r), free(c.labels), free(c.ws), free(c.logits), free(c.cos);
        free(c.scaler), free(demb), free(dk);
    }
}
