/* ir: IR backbones built from the op library. Training keeps every
 * activation backward needs (one buffer per op output, as PyTorch's autograd
 * would save them); inference runs in ping-pong buffers of the largest
 * activation (four on the host, three on a device), in place where ops
 * allow it. */
#include "ir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "backend.h"
#include "bn.h"
#include "conv2d.h"
#include "devparams.h"
#include "graph.h"
#include "dropout.h"
#include "dtype.h"
#include "linear.h"
#include "mixed.h"
#include "rng.h"
#include "tensorops.h"

struct bn_l {
    struct lc_bn p;
    float *g, *b, *dg, *db, *rm, *rv, *mean, *istd;
    int64_t *nbt;
};

struct conv_l {
    struct lc_conv2d p;
    float *w, *dw;
    float *pw, *pb; /* inference: the following batch norm folded in, weights prepared */
};

struct unit {
    int cin, d, s, h, w, ho, wo, conv_sc;
    struct bn_l bn1, bn2, bn3, bnsc;
    struct conv_l c1, c2, csc;
    float *pa, *dpa;
    /* training activations */
    float *t_bn1, *t_c1, *t_bn2, *t_pr, *t_c2, *t_sc, *out;
};

struct lc_ir {
    int layers, cap, n, train_capable, params_only;
    struct lc_params ps;
    struct conv_l in_conv;
    struct bn_l in_bn;
    float *in_pa, *in_dpa;
    float *t_in_c, *t_in_bn, *t_in_out;
    int n_units;
    struct unit *u;
    struct bn_l out_bn, feat_bn;
    struct lc_linear lin;
    float *lin_w, *lin_b, *dlin_w, *dlin_b;
    float *t_obn, *t_drop, *t_lin, *t_feat, *emb, *norm;
    uint8_t *mask;
    const float *x;     /* the training forward's input, for the first conv's weight gradient */
    float dropout;
    float *ws;          /* conv workspace (the largest any conv needs) */
    float *buf[4];      /* inference ping-pong / backward gradient buffers */
    size_t max_act;     /* floats of the largest activation at cap */
    size_t act_floats;
    int last_train;
    int prepared;       /* pw/pb hold the current weights (cleared whenever they may change) */
};

static float *falloc(struct lc_ir *m, size_t n)
{
    void *p;
    if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float))) return NULL;
    memset(p, 0, (n ? n : 1) * sizeof(float));
    m->act_floats += n;
    return p;
}

/* ------------------------------------------------------------ building */

static int add_bn(struct lc_ir *m, struct bn_l *l, int c, int hw, int affine, struct lc_err *err, const char *prefix)
{
    int64_t dims[1] = {c};
    struct lc_param *p;
    int rc = lc_bn_init(&l->p, m->cap, c, hw, 1e-5f, 0.1f, affine, err);
    if (rc) return rc;
    if (affine) {
        if (!(p = lc_params_add(&m->ps, LC_PARAM_NO_DECAY, 1, dims, err, "%s.weight", prefix))) return err->code;
        l->g = p->data, l->dg = p->grad;
        if (!(p = lc_params_add(&m->ps, LC_PARAM_NO_DECAY, 1, dims, err, "%s.bias", prefix))) return err->code;
        l->b = p->data, l->db = p->grad;
    }
    if (!(p = lc_params_add(&m->ps, LC_PARAM_BUFFER, 1, dims, err, "%s.running_mean", prefix))) return err->code;
    l->rm = p->data;
    if (!(p = lc_params_add(&m->ps, LC_PARAM_BUFFER, 1, dims, err, "%s.running_var", prefix))) return err->code;
    l->rv = p->data;
    if (!(p = lc_params_add(&m->ps, LC_PARAM_COUNTER, 0, NULL, err, "%s.num_batches_tracked", prefix))) return err->code;
    l->nbt = p->count;
    l->mean = falloc(m, (size_t)c);
    l->istd = falloc(m, (size_t)c);
    if (!l->mean || !l->istd) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    return 0;
}

static int add_conv(struct lc_ir *m, struct conv_l *l, int ci, int h, int co, int k, int s, int pad, struct lc_err *err,
                    const char *prefix)
{
    int rc = lc_conv2d_init(&l->p, m->cap, ci, h, h, co, k, s, pad, 1, 0, err);
    if (rc) return rc;
    int64_t dims[4] = {co, ci, k, k};
    struct lc_param *p = lc_params_add(&m->ps, LC_PARAM_DECAY, 4, dims, err, "%s.weight", prefix);
    if (!p) return err->code;
    l->w = p->data, l->dw = p->grad;
    return 0;
}

static int add_prelu(struct lc_ir *m, float **a, float **da, int c, struct lc_err *err, const char *prefix)
{
    int64_t dims[1] = {c};
    struct lc_param *p = lc_params_add(&m->ps, LC_PARAM_DECAY, 1, dims, err, "%s.weight", prefix);
    if (!p) return err->code;
    *a = p->data, *da = p->grad;
    return 0;
}

static void stage_units(int layers, int units[4])
{
    static const int u18[4] = {2, 2, 2, 2}, u34[4] = {3, 4, 6, 3}, u50[4] = {3, 4, 14, 3}, u100[4] = {3, 13, 30, 3};
    const int *u = layers == 18 ? u18 : layers == 34 ? u34 : layers == 50 ? u50 : u100;
    memcpy(units, u, sizeof u18);
}

int lc_ir_create(struct lc_ir **out, int layers, int batch, int train, struct lc_err *err)
{
    *out = NULL;
    if (layers != 18 && layers != 34 && layers != 50 && layers != 100)
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "IR depth %d is not one of 18, 34, 50, 100", layers);
    if (batch < 1) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "batch must be positive");
    struct lc_ir *m = calloc(1, sizeof *m);
    if (!m) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    m->layers = layers;
    m->cap = batch;
    m->dropout = 0.4f;
    m->train_capable = train;
    lc_params_init(&m->ps);
    int units[4], depth[4] = {64, 128, 256, 512}, rc;
    stage_units(layers, units);
    m->n_units = units[0] + units[1] + units[2] + units[3];
    m->u = calloc((size_t)m->n_units, sizeof *m->u);
    if (!m->u) {
        lc_ir_free(m);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    const int H = LC_IR_INPUT;
    const size_t N = (size_t)batch;
    if ((rc = add_conv(m, &m->in_conv, 3, H, 64, 3, 1, 1, err, "input_layer.0")) ||
        (rc = add_bn(m, &m->in_bn, 64, H * H, 1, err, "input_layer.1")) ||
        (rc = add_prelu(m, &m->in_pa, &m->in_dpa, 64, err, "input_layer.2")))
        goto fail;
    size_t max_act = N * 64 * H * H, ws = lc_conv2d_workspace(&m->in_conv.p);
    int cin = 64, h = H, k = 0;
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < units[s]; i++, k++) {
            struct unit *u = &m->u[k];
            char pre[64];
            u->cin = cin, u->d = depth[s], u->s = i == 0 ? 2 : 1, u->h = u->w = h;
            u->ho = u->wo = h / u->s;
            u->conv_sc = cin != u->d;
            /* the reference registers shortcut_layer before res_layer */
            if (u->conv_sc) {
                snprintf(pre, sizeof pre, "body.%d.shortcut_layer.0", k);
                if ((rc = add_conv(m, &u->csc, cin, h, u->d, 1, u->s, 0, err, pre))) goto fail;
                snprintf(pre, sizeof pre, "body.%d.shortcut_layer.1", k);
                if ((rc = add_bn(m, &u->bnsc, u->d, u->ho * u->wo, 1, err, pre))) goto fail;
                if (lc_conv2d_workspace(&u->csc.p) > ws) ws = lc_conv2d_workspace(&u->csc.p);
            }
            snprintf(pre, sizeof pre, "body.%d.res_layer.0", k);
            if ((rc = add_bn(m, &u->bn1, cin, h * h, 1, err, pre))) goto fail;
            snprintf(pre, sizeof pre, "body.%d.res_layer.1", k);
            if ((rc = add_conv(m, &u->c1, cin, h, u->d, 3, 1, 1, err, pre))) goto fail;
            snprintf(pre, sizeof pre, "body.%d.res_layer.2", k);
            if ((rc = add_bn(m, &u->bn2, u->d, h * h, 1, err, pre))) goto fail;
            snprintf(pre, sizeof pre, "body.%d.res_layer.3", k);
            if ((rc = add_prelu(m, &u->pa, &u->dpa, u->d, err, pre))) goto fail;
            snprintf(pre, sizeof pre, "body.%d.res_layer.4", k);
            if ((rc = add_conv(m, &u->c2, u->d, h, u->d, 3, u->s, 1, err, pre))) goto fail;
            snprintf(pre, sizeof pre, "body.%d.res_layer.5", k);
            if ((rc = add_bn(m, &u->bn3, u->d, u->ho * u->wo, 1, err, pre))) goto fail;
            size_t a_in = N * (size_t)cin * h * h, a_mid = N * (size_t)u->d * h * h;
            if (a_in > max_act) max_act = a_in;
            if (a_mid > max_act) max_act = a_mid;
            if (lc_conv2d_workspace(&u->c1.p) > ws) ws = lc_conv2d_workspace(&u->c1.p);
            if (lc_conv2d_workspace(&u->c2.p) > ws) ws = lc_conv2d_workspace(&u->c2.p);
            cin = u->d;
            h = u->ho;
        }
    /* output layer: BN2d(512) -> Dropout -> flatten -> Linear(512*7*7 -> 512) -> BN1d(512, affine=False) */
    if ((rc = add_bn(m, &m->out_bn, 512, h * h, 1, err, "output_layer.0"))) goto fail;
    int flat = 512 * h * h;
    if ((rc = lc_linear_init(&m->lin, batch, flat, LC_IR_EMBEDDING, 1, err))) goto fail;
    {
        int64_t dw[2] = {LC_IR_EMBEDDING, flat}, db[1] = {LC_IR_EMBEDDING};
        struct lc_param *p = lc_params_add(&m->ps, LC_PARAM_DECAY, 2, dw, err, "output_layer.3.weight");
        if (!p) goto fail_err;
        m->lin_w = p->data, m->dlin_w = p->grad;
        if (!(p = lc_params_add(&m->ps, LC_PARAM_DECAY, 1, db, err, "output_layer.3.bias"))) goto fail_err;
        m->lin_b = p->data, m->dlin_b = p->grad;
    }
    if ((rc = add_bn(m, &m->feat_bn, LC_IR_EMBEDDING, 1, 0, err, "output_layer.4"))) goto fail;
    m->max_act = max_act;
    m->act_floats = 0;
    if (train == LC_IR_PARAMS_ONLY) { /* a device keeps the activations */
        m->train_capable = 0, m->params_only = 1;
        *out = m;
        return 0;
    }
    /* buffers */
    m->ws = falloc(m, ws);
    for (int b = 0; b < 4; b++)
        if (!(m->buf[b] = falloc(m, max_act))) goto oom;
    size_t outsz = N * (size_t)flat;
    if (!(m->t_obn = falloc(m, outsz)) || !(m->t_drop = falloc(m, outsz)) || !(m->t_lin = falloc(m, N * 512)) ||
        !(m->t_feat = falloc(m, N * 512)) || !(m->emb = falloc(m, N * 512)) || !(m->norm = falloc(m, N)) || !m->ws)
        goto oom;
    if (!(m->mask = calloc(outsz, 1))) goto oom;
    if (train) {
        const size_t HH = (size_t)H * H;
        if (!(m->t_in_c = falloc(m, N * 64 * HH)) || !(m->t_in_bn = falloc(m, N * 64 * HH)) ||
            !(m->t_in_out = falloc(m, N * 64 * HH)))
            goto oom;
        for (k = 0; k < m->n_units; k++) {
            struct unit *u = &m->u[k];
            size_t in = N * (size_t)u->cin * u->h * u->w, mid = N * (size_t)u->d * u->h * u->w,
                   o = N * (size_t)u->d * u->ho * u->wo;
            if (!(u->t_bn1 = falloc(m, in)) || !(u->t_c1 = falloc(m, mid)) || !(u->t_bn2 = falloc(m, mid)) ||
                !(u->t_pr = falloc(m, mid)) || !(u->t_c2 = falloc(m, o)) || !(u->out = falloc(m, o)))
                goto oom;
            if (u->conv_sc && !(u->t_sc = falloc(m, o))) goto oom;
        }
    }
    *out = m;
    return 0;
oom:
    rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory for an IR-%d at batch %d", layers, batch);
    goto fail;
fail_err:
    rc = err ? err->code : LC_ENOMEM;
fail:
    lc_ir_free(m);
    return rc;
}

static void free_bn(struct bn_l *l)
{
    free(l->mean);
    free(l->istd);
}

void lc_ir_free(struct lc_ir *m)
{
    if (!m) return;
    free_bn(&m->in_bn);
    free_bn(&m->out_bn);
    free_bn(&m->feat_bn);
    for (int k = 0; m->u && k < m->n_units; k++) {
        struct unit *u = &m->u[k];
        free_bn(&u->bn1), free_bn(&u->bn2), free_bn(&u->bn3), free_bn(&u->bnsc);
        free(u->c1.pw), free(u->c1.pb), free(u->c2.pw), free(u->c2.pb), free(u->csc.pw), free(u->csc.pb);
        free(u->t_bn1), free(u->t_c1), free(u->t_bn2), free(u->t_pr), free(u->t_c2), free(u->t_sc), free(u->out);
    }
    free(m->u);
    free(m->in_conv.pw), free(m->in_conv.pb);
    free(m->ws);
    for (int b = 0; b < 4; b++) free(m->buf[b]);
    free(m->t_in_c), free(m->t_in_bn), free(m->t_in_out);
    free(m->t_obn), free(m->t_drop), free(m->t_lin), free(m->t_feat), free(m->emb), free(m->norm), free(m->mask);
    lc_params_free(&m->ps);
    free(m);
}

int lc_ir_layers(const struct lc_ir *m) { return m->layers; }
void lc_ir_set_dropout(struct lc_ir *m, float p) { m->dropout = p; }
/* whoever holds the parameters may change them: prepare again before the
 * next inference */
struct lc_params *lc_ir_params(struct lc_ir *m)
{
    m->prepared = 0;
    return &m->ps;
}
size_t lc_ir_activation_floats(const struct lc_ir *m) { return m->act_floats; }

/* ------------------------------------------------------------- weights */

static void kaiming_fan_out(float *w, size_t n, double fan_out, struct lc_rng *rng)
{
    double std = sqrt(2.0 / fan_out); /* gain for ReLU: sqrt(2) */
    for (size_t i = 0; i < n; i++) w[i] = (float)(std * lc_rng_normal(rng));
}

void lc_ir_init_weights(struct lc_ir *m, struct lc_rng *rng)
{
    for (size_t i = 0; i < m->ps.n; i++) {
        struct lc_param *p = &m->ps.v[i];
        size_t len = strlen(p->name);
        const char *tail = strrchr(p->name, '.') + 1;
        if (p->kind == LC_PARAM_COUNTER) {
            p->count[0] = 0;
        } else if (strcmp(tail, "running_var") == 0) {
            for (size_t k = 0; k < p->n; k++) p->data[k] = 1;
        } else if (strcmp(tail, "running_mean") == 0 || strcmp(tail, "bias") == 0) {
            memset(p->data, 0, p->n * sizeof(float));
        } else if (p->rank == 4 || p->rank == 2) { /* conv (Co,Ci,K,K) or linear (Out,In): fan_out = Co*K*K or Out */
            double fan_out = (double)p->dims[0] * (p->rank == 4 ? (double)(p->dims[2] * p->dims[3]) : 1.0);
            kaiming_fan_out(p->data, p->n, fan_out, rng);
        } else if (p->kind == LC_PARAM_NO_DECAY) { /* batch-norm weight */
            for (size_t k = 0; k < p->n; k++) p->data[k] = 1;
        } else { /* PReLU */
            for (size_t k = 0; k < p->n; k++) p->data[k] = 0.25f;
        }
        (void)len;
    }
}

/* ------------------------------------------------------------- forward */

static void set_n(struct lc_ir *m, int n)
{
    m->n = n;
    m->in_conv.p.n = n, m->in_bn.p.n = n, m->out_bn.p.n = n, m->feat_bn.p.n = n, m->lin.n = n;
    for (int k = 0; k < m->n_units; k++) {
        struct unit *u = &m->u[k];
        u->bn1.p.n = u->bn2.p.n = u->bn3.p.n = u->bnsc.p.n = n;
        u->c1.p.n = u->c2.p.n = u->csc.p.n = n;
    }
}

/* batch norm, and (z non-NULL) PReLU with slope into z, in one pass */
static void bn_train_prelu(struct bn_l *l, float *y, float *z, const float *slope, const float *x)
{
    lc_bn_forward_train_prelu(y, z, slope, l->mean, l->istd, l->rm, l->rv, x, l->g, l->b, &l->p);
    l->nbt[0]++;
}

static void bn_train(struct bn_l *l, float *y, const float *x)
{
    bn_train_prelu(l, y, NULL, NULL, x);
}

static void bn_eval(struct bn_l *l, float *y, const float *x) { lc_bn_forward_eval(y, x, l->g, l->b, l->rm, l->rv, &l->p); }


static void forward_train(struct lc_ir *m, const float *x, struct lc_rng *rng)
{
    const int n = m->n;
    lc_conv2d_forward(m->t_in_c, x, m->in_conv.w, NULL, &m->in_conv.p, m->ws);
    bn_train_prelu(&m->in_bn, m->t_in_bn, m->t_in_out, m->in_pa, m->t_in_c);
    const float *cur = m->t_in_out;
    for (int k = 0; k < m->n_units; k++) {
        struct unit *u = &m->u[k];
        int ohw = u->ho * u->wo;
        bn_train(&u->bn1, u->t_bn1, cur);
        lc_conv2d_forward(u->t_c1, u->t_bn1, u->c1.w, NULL, &u->c1.p, m->ws);
        bn_train_prelu(&u->bn2, u->t_bn2, u->t_pr, u->pa, u->t_c1);
        lc_conv2d_forward(u->t_c2, u->t_pr, u->c2.w, NULL, &u->c2.p, m->ws);
        bn_train(&u->bn3, u->out, u->t_c2);
        if (u->conv_sc) {
            float *tmp = m->buf[0];
            lc_conv2d_forward(u->t_sc, cur, u->csc.w, NULL, &u->csc.p, m->ws);
            bn_train(&u->bnsc, tmp, u->t_sc);
            lc_add_forward(u->out, u->out, tmp, (size_t)n * u->d * ohw);
        } else {
            lc_subsample_add(u->out, cur, n, u->cin, u->h, u->w, u->s);
        }
        cur = u->out;
    }
    size_t flat = (size_t)m->lin.in;
    bn_train(&m->out_bn, m->t_obn, cur);
    lc_dropout_forward(m->t_drop, m->mask, m->t_obn, (size_t)n * flat, m->dropout, rng);
    lc_linear_forward(m->t_lin, m->t_drop, m->lin_w, m->lin_b, &m->lin);
    bn_train(&m->feat_bn, m->t_feat, m->t_lin);
}

/* Fold the eval-mode batch norm that follows conv l into a copy of its
 * weights and prepare them (Winograd filters transformed once). */
static int prepare_conv(struct conv_l *l, const struct bn_l *bn)
{
    size_t nw = (size_t)l->p.co * l->p.ci * l->p.kh * l->p.kw;
    if (!l->pw) {
        if (posix_memalign((void **)&l->pw, 64, lc_conv2d_prepared_size(&l->p) * sizeof(float))) return -1;
        if (!(l->pb = malloc((size_t)l->p.co * sizeof(float)))) return -1;
    }
    float *folded = malloc(nw * sizeof(float));
    if (!folded) return -1;
    lc_conv2d_fold_bn(folded, l->pb, l->w, NULL, bn->g, bn->b, bn->rm, bn->rv, bn->p.eps, &l->p);
    lc_conv2d_prepare(l->pw, folded, &l->p);
    free(folded);
    return 0;
}

static int prepare(struct lc_ir *m)
{
    if (prepare_conv(&m->in_conv, &m->in_bn)) return -1;
    for (int k = 0; k < m->n_units; k++) {
        struct unit *u = &m->u[k];
        if (prepare_conv(&u->c1, &u->bn2) || prepare_conv(&u->c2, &u->bn3) ||
            (u->conv_sc && prepare_conv(&u->csc, &u->bnsc)))
            return -1;
    }
    m->prepared = 1;
    return 0;
}

/* Inference: four buffers; the input of a unit is never overwritten before
 * its shortcut has used it. Every conv runs with the batch norm after it
 * folded in and its epilogue fused (PReLU, or the shortcut's sum), which
 * equals the separate ops up to float rounding. If memory for the
 * prepared weights cannot be had, the separate ops run instead. */
static void forward_eval(struct lc_ir *m, const float *x)
{
    const int n = m->n, H = LC_IR_INPUT;
    float *cur = m->buf[0];
    int fast = m->prepared || prepare(m) == 0;
    if (fast) {
        lc_conv2d_forward_prepared(cur, x, m->in_conv.pw, m->in_conv.pb, m->in_pa, NULL, &m->in_conv.p, m->ws);
    } else {
        lc_conv2d_forward(cur, x, m->in_conv.w, NULL, &m->in_conv.p, m->ws);
        bn_eval(&m->in_bn, cur, cur);
        lc_prelu_forward(cur, cur, m->in_pa, n, 64, H * H);
    }
    for (int k = 0; k < m->n_units; k++) {
        struct unit *u = &m->u[k];
        float *free3[3];
        for (int b = 0, f = 0; b < 4; b++)
            if (m->buf[b] != cur) free3[f++] = m->buf[b];
        float *a = free3[0], *b = free3[1], *c = free3[2];
        int hw = u->h * u->w, ohw = u->ho * u->wo;
        bn_eval(&u->bn1, a, cur);
        if (fast) {
            lc_conv2d_forward_prepared(b, a, u->c1.pw, u->c1.pb, u->pa, NULL, &u->c1.p, m->ws);
            const float *res = cur;
            if (u->conv_sc) {
                lc_conv2d_forward_prepared(c, cur, u->csc.pw, u->csc.pb, NULL, NULL, &u->csc.p, m->ws);
                res = c;
            } else if (u->s != 1) {
                memset(c, 0, (size_t)n * u->d * ohw * sizeof *c);
                lc_subsample_add(c, cur, n, u->cin, u->h, u->w, u->s);
                res = c;
            }
            lc_conv2d_forward_prepared(a, b, u->c2.pw, u->c2.pb, NULL, res, &u->c2.p, m->ws);
            cur = a;
            continue;
        }
        lc_conv2d_forward(b, a, u->c1.w, NULL, &u->c1.p, m->ws);
        bn_eval(&u->bn2, b, b);
        lc_prelu_forward(b, b, u->pa, n, u->d, hw);
        lc_conv2d_forward(a, b, u->c2.w, NULL, &u->c2.p, m->ws);
        bn_eval(&u->bn3, a, a);
        if (u->conv_sc) {
            lc_conv2d_forward(c, cur, u->csc.w, NULL, &u->csc.p, m->ws);
            bn_eval(&u->bnsc, c, c);
            lc_add_forward(a, a, c, (size_t)n * u->d * ohw);
        } else {
            lc_subsample_add(a, cur, n, u->cin, u->h, u->w, u->s);
        }
        cur = a;
    }
    bn_eval(&m->out_bn, m->t_obn, cur);
    lc_linear_forward(m->t_lin, m->t_obn, m->lin_w, m->lin_b, &m->lin); /* dropout: identity */
    bn_eval(&m->feat_bn, m->t_feat, m->t_lin);
}

void lc_ir_forward(struct lc_ir *m, float *emb, float *norm, const float *x, int n, int train, struct lc_rng *rng)
{
    LC_ASSERT(n >= 1 && n <= m->cap);
    LC_ASSERT(!train || (m->train_capable && rng));
    LC_ASSERT(!m->params_only);
    set_n(m, n);
    m->x = train ? x : NULL;
    if (train) m->prepared = 0; /* the statistics move, and an optimiser step follows */
    if (train) forward_train(m, x, rng);
    else forward_eval(m, x);
    m->last_train = train;
    lc_l2norm_rows(m->emb, m->norm, m->t_feat, n, LC_IR_EMBEDDING);
    memcpy(emb, m->emb, (size_t)n * 512 * sizeof *emb);
    memcpy(norm, m->norm, (size_t)n * sizeof *norm);
}

/* ------------------------------------------------------------ backward */

static void bn_back(struct bn_l *l, float *dx, const float *dy, const float *x)
{
    lc_bn_backward(dx, l->dg, l->db, dy, x, l->mean, l->istd, l->g, &l->p);
}

/* dx overwritten: bit for bit zeroing it and bn_back */
static void bn_back_set(struct bn_l *l, float *dx, const float *dy, const float *x)
{
    lc_bn_backward_set(dx, l->dg, l->db, dy, x, l->mean, l->istd, l->g, &l->p);
}

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof *p); }

void lc_ir_backward(struct lc_ir *m, const float *demb, const float *dnorm)
{
    LC_ASSERT(m->last_train);
    const int n = m->n, H = LC_IR_INPUT;
    size_t flat = (size_t)m->lin.in;
    /* through emb = feat/||feat|| and norm = ||feat|| */
    float *g_lin = m->buf[3];
    float *dfe = m->buf[2];
    lc_l2norm_rows_backward(dfe, demb, dnorm, m->emb, m->norm, n, LC_IR_EMBEDDING);
    bn_back_set(&m->feat_bn, g_lin, dfe, m->t_lin);
    /* linear: dW, db, and d(dropout output) */
    float *g_drop = m->buf[2];
    zero(g_drop, (size_t)n * flat);
    lc_linear_backward(g_drop, m->dlin_w, m->dlin_b, g_lin, m->t_drop, m->lin_w, &m->lin);
    float *g_obn = m->buf[3];
    zero(g_obn, (size_t)n * flat);
    lc_dropout_backward(g_obn, g_drop, m->mask, (size_t)n * flat, m->dropout);
    /* into the last unit's output */
    float *gout = m->buf[0];
    const struct unit *last = &m->u[m->n_units - 1];
    bn_back_set(&m->out_bn, gout, g_obn, last->out);
    /* units, last to first: gout is d(out of unit k); gin receives d(input) */
    float *gin = m->buf[1], *ga = m->buf[2], *gb = m->buf[3];
    for (int k = m->n_units - 1; k >= 0; k--) {
        struct unit *u = &m->u[k];
        const float *in = k ? m->u[k - 1].out : m->t_in_out;
        size_t in_n = (size_t)n * u->cin * u->h * u->w;
        int hw = u->h * u->w;
        zero(gin, in_n);
        if (u->conv_sc) { /* shortcut: BN then conv1x1 */
            bn_back_set(&u->bnsc, ga, gout, u->t_sc);
            lc_conv2d_backward(gin, u->csc.dw, NULL, ga, in, u->csc.w, &u->csc.p, m->ws);
        } else {
            lc_subsample_backward(gin, gout, n, u->cin, u->h, u->w, u->s);
        }
        /* the _set ops overwrite their dx: bit for bit zeroing it first and accumulating */
        bn_back_set(&u->bn3, ga, gout, u->t_c2); /* d t_c2 */
        lc_conv2d_backward_set(gb, u->c2.dw, NULL, ga, u->t_pr, u->c2.w, &u->c2.p, m->ws); /* d t_pr */
        lc_prelu_backward_set(ga, u->dpa, gb, u->t_bn2, u->pa, n, u->d, hw);               /* d t_bn2 */
        bn_back_set(&u->bn2, gb, ga, u->t_c1);                                             /* d t_c1 */
        lc_conv2d_backward_set(ga, u->c1.dw, NULL, gb, u->t_bn1, u->c1.w, &u->c1.p, m->ws); /* d t_bn1 */
        bn_back(&u->bn1, gin, ga, in);             /* d in, on top of the shortcut's */
        float *t = gout;
        gout = gin;
        gin = t;
    }
    /* input layer: PReLU, BN, conv (no gradient for the image) */
    lc_prelu_backward_set(ga, m->in_dpa, gout, m->t_in_bn, m->in_pa, n, 64, H * H);
    bn_back_set(&m->in_bn, gb, ga, m->t_in_c);
    lc_conv2d_backward(NULL, m->in_conv.dw, NULL, gb, m->x, m->in_conv.w, &m->in_conv.p, m->ws);
}

/* ------------------------------------------------------------ on a device */

struct dconv {
    struct lc_conv2d p;
    float *w, *b; /* the following batch norm folded in */
    void *wt;     /* w in the activation type (16 bits; NULL for float32) */
};

struct dbn {
    struct lc_bn p;
    float *g, *b, *rm, *rv;
};

struct dunit {
    struct dbn bn1;
    struct dconv c1, c2, csc;
    float *pa;
};

struct lc_ir_dev {
    struct lc_device d;
    const struct lc_ir *m; /* shapes only (weights were copied) */
    int dt;                /* activation type */
    int cl;                /* channels-last backbone (16-bit only) */
    size_t es;
    struct dconv in_conv;
    float *in_pa;
    struct dunit *u;
    struct dbn out_bn, feat_bn;
    struct lc_linear lin;
    float *lin_w, *lin_b;
    void *lin_wt;
    /* activations of type dt; x32, feat32, emb and norm float32 */
    void *x, *buf[3], *sc, *obn, *lin_out, *feat; /* sc: a conv shortcut's output */
    float *x32, *feat32, *emb, *norm;
    float *ws; /* host workspace of the CPU convolutions (NULL on a GPU) */
    int n;     /* the batch of the forward under way */
    struct lc_graph graph; /* the forward's CUDA graph (off unless asked) */
    void **mem;
    size_t nmem, capmem, bytes;
};

/* device memory for n floats, copied from host when host is not NULL */
static float *dev_get_bytes(struct lc_ir_dev *g, const float *host, size_t bytes, struct lc_err *err);
static float *dev_get(struct lc_ir_dev *g, const float *host, size_t n, struct lc_err *err)
{
    return dev_get_bytes(g, host, n * sizeof(float), err);
}

/* w (host, float32, n) on the device in the activation type, into *f32
 * for float32, else into *typed, cast on the host (bit for bit the
 * device's casts for every weight but a NaN) so that no float32 copy takes
 * device memory; with
 * channels_last (16 bits) a conv's (co, k, hw) as (co, hw, k) */
static int dev_weights(struct lc_ir_dev *g, float **f32, void **typed, const float *w, size_t n, int co, int k,
                       int hw, int channels_last, struct lc_err *err)
{
    *f32 = NULL, *typed = NULL;
    if (g->dt == LC_DTYPE_F32) return (*f32 = dev_get(g, w, n, err)) ? 0 : err->code;
    const struct lc_device cpu = {LC_DEVICE_CPU, 0};
    void *t = malloc(n * g->es);
    if (!t) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    int rc = channels_last ? lc_op_cast_to_channels_last(&cpu, t, g->dt, w, LC_DTYPE_F32, co, k, hw, err)
                           : lc_op_cast(&cpu, t, g->dt, w, LC_DTYPE_F32, n, err);
    if (!rc && !(*typed = dev_get_bytes(g, t, n * g->es, err))) rc = err->code;
    free(t);
    return rc;
}

static float *dev_get_bytes(struct lc_ir_dev *g, const float *host, size_t bytes, struct lc_err *err)
{
    if (g->nmem == g->capmem) {
        size_t cap = g->capmem ? 2 * g->capmem : 64;
        void **mem = realloc(g->mem, cap * sizeof *mem);
        if (!mem) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory"), NULL;
        g->mem = mem, g->capmem = cap;
    }
    void *p;
    if (lc_device_alloc(&g->d, &p, bytes ? bytes : 4, err)) return NULL;
    g->mem[g->nmem++] = p;
    g->bytes += bytes ? bytes : 4;
    if (host && lc_device_upload(&g->d, p, host, bytes, err)) return NULL;
    return p;
}

static int dev_conv(struct lc_ir_dev *g, struct dconv *dc, const struct conv_l *c, const struct bn_l *bn,
                    struct lc_err *err)
{
    dc->p = c->p;
    dc->p.channels_last = g->cl; /* (Co, K, K, Ci) weights for cuDNN's NHWC */
    size_t nw = (size_t)c->p.co * c->p.ci * c->p.kh * c->p.kw;
    float *w = malloc(nw * sizeof *w), *b = malloc((size_t)c->p.co * sizeof *b);
    int rc = 0;
    if (!w || !b) rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    if (!rc) {
        lc_conv2d_fold_bn(w, b, c->w, NULL, bn->g, bn->b, bn->rm, bn->rv, bn->p.eps, &c->p);
        if (!(dc->b = dev_get(g, b, (size_t)c->p.co, err))) rc = err->code;
    }
    if (!rc) rc = dev_weights(g, &dc->w, &dc->wt, w, nw, c->p.co, c->p.ci / c->p.groups, c->p.kh * c->p.kw, g->cl, err);
    free(w), free(b);
    return rc;
}

static int dev_bn(struct lc_ir_dev *g, struct dbn *db, const struct bn_l *bn, struct lc_err *err)
{
    size_t c = (size_t)bn->p.c;
    db->p = bn->p;
    if (bn->p.affine && (!(db->g = dev_get(g, bn->g, c, err)) || !(db->b = dev_get(g, bn->b, c, err)))) return err->code;
    if (!(db->rm = dev_get(g, bn->rm, c, err)) || !(db->rv = dev_get(g, bn->rv, c, err))) return err->code;
    return 0;
}

void lc_ir_dev_free(struct lc_ir_dev *g)
{
    if (!g) return;
    lc_graph_free(&g->graph, &g->d);
    for (size_t i = 0; i < g->nmem; i++) lc_device_free(&g->d, g->mem[i]);
    free(g->mem);
    free(g->u);
    free(g->ws);
    free(g);
}

/* channels-last needs a 16-bit type (the float32 ops are NCHW only) */
static int layout_ok(int dt, int channels_last, struct lc_err *err)
{
    if (!lc_mixed_type_ok(dt))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "activation type %s (f32, f16 or bf16)", lc_dtype_name(dt));
    if (channels_last && dt == LC_DTYPE_F32)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "channels-last needs 16-bit activations (fp16 or bf16)");
    return 0;
}

int lc_ir_dev_create(struct lc_ir_dev **out, const struct lc_ir *m, const struct lc_device *d, int dt,
                     int channels_last, struct lc_err *err)
{
    *out = NULL;
    if (layout_ok(dt, channels_last, err)) return err->code;
    int rc = lc_device_open(d, err);
    if (rc) return rc;
    struct lc_ir_dev *g = calloc(1, sizeof *g);
    if (!g || !(g->u = calloc((size_t)m->n_units, sizeof *g->u))) {
        free(g);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    g->d = *d, g->m = m, g->lin = m->lin, g->dt = dt, g->cl = !!channels_last, g->es = lc_dtype_size(dt);
    size_t N = (size_t)m->cap, ws = 0;
#define TRY(x)                                                                                                   \
    do {                                                                                                         \
        if ((rc = (x))) goto fail;                                                                               \
    } while (0)
#define GET(ptr, host, n)                                                                                        \
    do {                                                                                                         \
        if (!((ptr) = dev_get(g, (host), (n), err))) {                                                           \
            rc = err->code;                                                                                      \
            goto fail;                                                                                           \
        }                                                                                                        \
    } while (0)
    TRY(dev_conv(g, &g->in_conv, &m->in_conv, &m->in_bn, err));
    GET(g->in_pa, m->in_pa, 64);
    ws = lc_conv2d_workspace(&m->in_conv.p);
    for (int k = 0; k < m->n_units; k++) {
        const struct unit *u = &m->u[k];
        struct dunit *du = &g->u[k];
        TRY(dev_bn(g, &du->bn1, &u->bn1, err));
        du->bn1.p.channels_last = g->cl;
        TRY(dev_conv(g, &du->c1, &u->c1, &u->bn2, err));
        TRY(dev_conv(g, &du->c2, &u->c2, &u->bn3, err));
        GET(du->pa, u->pa, (size_t)u->d);
        if (u->conv_sc) {
            TRY(dev_conv(g, &du->csc, &u->csc, &u->bnsc, err));
            if (lc_conv2d_workspace(&u->csc.p) > ws) ws = lc_conv2d_workspace(&u->csc.p);
        }
        if (lc_conv2d_workspace(&u->c1.p) > ws) ws = lc_conv2d_workspace(&u->c1.p);
        if (lc_conv2d_workspace(&u->c2.p) > ws) ws = lc_conv2d_workspace(&u->c2.p);
    }
    TRY(dev_bn(g, &g->out_bn, &m->out_bn, err));
    TRY(dev_bn(g, &g->feat_bn, &m->feat_bn, err));
    TRY(dev_weights(g, &g->lin_w, &g->lin_wt, m->lin_w, (size_t)m->lin.out * m->lin.in, 0, 0, 0, 0, err));
    GET(g->lin_b, m->lin_b, (size_t)m->lin.out);
#define GETT(ptr, n)                                                                                             \
    do {                                                                                                         \
        if (!((ptr) = dev_get_bytes(g, NULL, (n) * g->es, err))) {                                               \
            rc = err->code;                                                                                      \
            goto fail;                                                                                           \
        }                                                                                                        \
    } while (0)
    GET(g->x32, NULL, N * 3 * LC_IR_INPUT * LC_IR_INPUT);
    if (dt == LC_DTYPE_F32) g->x = g->x32;
    else GETT(g->x, N * 3 * LC_IR_INPUT * LC_IR_INPUT);
    for (int b = 0; b < 3; b++) GETT(g->buf[b], m->max_act);
    size_t sc = 0;
    for (int k = 0; k < m->n_units; k++) {
        size_t sc_k = N * m->u[k].d * m->u[k].ho * m->u[k].wo;
        if (m->u[k].conv_sc && sc_k > sc) sc = sc_k;
    }
    if (sc) GETT(g->sc, sc);
    GETT(g->obn, N * m->lin.in);
    GETT(g->lin_out, N * LC_IR_EMBEDDING);
    GETT(g->feat, N * LC_IR_EMBEDDING);
    if (dt == LC_DTYPE_F32) g->feat32 = g->feat;
    else GET(g->feat32, NULL, N * LC_IR_EMBEDDING);
    GET(g->emb, NULL, N * LC_IR_EMBEDDING);
    GET(g->norm, NULL, N);
    if (d->type == LC_DEVICE_CPU && ws && !(g->ws = malloc(ws * sizeof(float)))) {
        rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        goto fail;
    }
#undef TRY
#undef GET
#undef GETT
    *out = g;
    return 0;
fail:
    lc_ir_dev_free(g);
    return rc;
}

/* y = conv(x) with the folded batch norm's bias, then PReLU where slope is
 * given: float32 as one conv with bias and a PReLU pass; 16 bits as a
 * conv, then bias and PReLU in one pass */
static int dconv_fwd(const struct lc_ir_dev *g, const struct dconv *dc, void *y, const void *x, const float *slope,
                     int n, struct lc_err *err)
{
    struct lc_conv2d p = dc->p;
    p.n = n;
    int rc, hw = p.ho * p.wo;
    if (g->dt == LC_DTYPE_F32) {
        if ((rc = lc_op_conv2d_forward(&g->d, y, x, dc->w, dc->b, &p, g->ws, err))) return rc;
        return slope ? lc_op_prelu_forward(&g->d, y, y, slope, n, p.co, hw, err) : 0;
    }
    if ((rc = lc_op_conv2d_forward_dt(&g->d, g->dt, y, x, dc->wt, &p, g->ws, err))) return rc;
    return lc_op_bias_prelu_dt(&g->d, g->dt, y, dc->b, slope, n, p.co, hw, p.channels_last, err);
}

static int dbn_eval(const struct lc_ir_dev *g, const struct dbn *db, void *y, const void *x, int n, struct lc_err *err)
{
    struct lc_bn bp = db->p;
    bp.n = n;
    return lc_op_bn_forward_eval_dt(&g->d, g->dt, y, x, db->g, db->b, db->rm, db->rv, &bp, err);
}

/* a unit's last convolution, then every s-th row and column of its
 * shortcut r (n, co, rh, rw) added: 16 bits as the conv, then its bias and
 * the add in one pass, which also writes z = next(y) where the next unit's
 * first batch norm is given; float32 as the conv with its bias, then the
 * add (and next, a pass of its own) */
static int dconv_fwd_add(const struct lc_ir_dev *g, const struct dconv *dc, void *y, const void *x, const void *r,
                         int rh, int rw, int s, const struct dbn *next, void *z, int n, struct lc_err *err)
{
    struct lc_conv2d p = dc->p;
    p.n = n;
    int rc;
    if (g->dt == LC_DTYPE_F32) {
        if ((rc = lc_op_conv2d_forward(&g->d, y, x, dc->w, dc->b, &p, g->ws, err))) return rc;
        if ((rc = lc_op_subsample_add(&g->d, y, r, n, p.co, rh, rw, s, err))) return rc;
        return next ? dbn_eval(g, next, z, y, n, err) : 0;
    }
    if ((rc = lc_op_conv2d_forward_dt(&g->d, g->dt, y, x, dc->wt, &p, g->ws, err))) return rc;
    if (!next) return lc_op_bias_add_dt(&g->d, g->dt, y, dc->b, r, n, p.co, rh, rw, s, p.channels_last, err);
    struct lc_bn bp = next->p;
    bp.n = n;
    return lc_op_bias_add_bn_eval_dt(&g->d, g->dt, y, z, dc->b, r, rh, rw, s, next->g, next->b, next->rm, next->rv,
                                     &bp, err);
}

#define TRY(x)                                                                                                   \
    do {                                                                                                         \
        if ((rc = (x))) return rc;                                                                               \
    } while (0)

/* the ops from the copied input to the embedding and its norm, for g->n
 * images (graph.h's issue: device ops only) */
static int dev_forward_ops(void *ctx, struct lc_err *err)
{
    struct lc_ir_dev *g = ctx;
    const struct lc_ir *m = g->m;
    const struct lc_device *d = &g->d;
    const int H = LC_IR_INPUT, n = g->n;
    int rc, dt = g->dt;
    if (g->cl) TRY(lc_op_cast_to_channels_last(d, g->x, dt, g->x32, LC_DTYPE_F32, n, 3, H * H, err));
    else if (dt != LC_DTYPE_F32) TRY(lc_op_cast(d, g->x, dt, g->x32, LC_DTYPE_F32, (size_t)n * 3 * H * H, err));
    /* three buffers of the largest activation: a unit's input cur, its
     * first batch norm's output pre, and t, conv1's output; the unit's sum
     * goes where pre was, the next unit's pre where t was (g->sc: a conv
     * shortcut's output, smaller) */
    void *cur = g->buf[0], *pre = g->buf[1], *t = g->buf[2];
    TRY(dconv_fwd(g, &g->in_conv, cur, g->x, g->in_pa, n, err));
    TRY(dbn_eval(g, &g->u[0].bn1, pre, cur, n, err));
    for (int k = 0; k < m->n_units; k++) {
        const struct unit *u = &m->u[k];
        const struct dunit *du = &g->u[k];
        TRY(dconv_fwd(g, &du->c1, t, pre, du->pa, n, err));
        const void *r = cur;
        int rh = u->h, rw = u->w, s = u->s;
        if (u->conv_sc) {
            TRY(dconv_fwd(g, &du->csc, g->sc, cur, NULL, n, err));
            r = g->sc, rh = u->ho, rw = u->wo, s = 1;
        }
        const struct dbn *next = k + 1 < m->n_units ? &g->u[k + 1].bn1 : NULL;
        TRY(dconv_fwd_add(g, &du->c2, pre, t, r, rh, rw, s, next, t, n, err));
        void *in = cur;
        cur = pre, pre = t, t = in;
    }
    if (g->cl) { /* the output layer flattens (C, H, W) as PyTorch does */
        const struct unit *u = &m->u[m->n_units - 1];
        TRY(lc_op_cast_from_channels_last(d, t, dt, cur, dt, n, u->d, u->ho * u->wo, err));
        cur = t;
    }
    TRY(dbn_eval(g, &g->out_bn, g->obn, cur, n, err));
    struct lc_linear lp = g->lin;
    lp.n = n; /* dropout: identity in eval */
    TRY(lc_op_linear_forward_dt(d, dt, g->lin_out, g->obn, dt == LC_DTYPE_F32 ? (const void *)g->lin_w : g->lin_wt,
                                g->lin_b, &lp, err));
    TRY(dbn_eval(g, &g->feat_bn, g->feat, g->lin_out, n, err));
    if (dt != LC_DTYPE_F32) TRY(lc_op_cast(d, g->feat32, LC_DTYPE_F32, g->feat, dt, (size_t)n * LC_IR_EMBEDDING, err));
    return lc_op_l2norm_rows(d, g->emb, g->norm, g->feat32, n, LC_IR_EMBEDDING, err);
}

int lc_ir_dev_forward(struct lc_ir_dev *g, float *emb, float *norm, const float *x, int n, struct lc_err *err)
{
    const struct lc_device *d = &g->d;
    if (n < 1 || n > g->m->cap) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "batch of %d (1 to %d)", n, g->m->cap);
    const int H = LC_IR_INPUT;
    int rc;
    g->n = n;
    TRY(lc_device_upload(d, g->x32, x, (size_t)n * 3 * H * H * sizeof(float), err));
    TRY(lc_graph_run(&g->graph, d, n, dev_forward_ops, g, err));
    TRY(lc_device_download(d, emb, g->emb, (size_t)n * LC_IR_EMBEDDING * sizeof(float), err));
    return lc_device_download(d, norm, g->norm, (size_t)n * sizeof(float), err);
}
#undef TRY

size_t lc_ir_dev_bytes(const struct lc_ir_dev *g) { return g->bytes; }

void lc_ir_dev_use_graphs(struct lc_ir_dev *g, int on)
{
    lc_graph_free(&g->graph, &g->d);
    lc_graph_init(&g->graph, on);
}

long lc_ir_dev_graph_launches(const struct lc_ir_dev *g, const char **off)
{
    if (off) *off = lc_graph_off(&g->graph);
    return g->graph.launches;
}

/* ------------------------------------------------------ training on a device */

struct tbn {
    struct lc_bn p;
    float *g, *b, *dg, *db, *rm, *rv, *mean, *istd; /* on the device */
    float *ab; /* y = x a + b's a and b, for a batch norm fused with a PReLU (backend.h) */
    int64_t *nbt;                                   /* the host's counter */
};

struct tconv {
    struct lc_conv2d p;
    float *w, *dw;
    const void *wt; /* the weights in the activation type (w itself for float32) */
};

/* activations and their gradients are of the activation type (void *) */
struct tunit {
    struct tbn bn1, bn2, bn3, bnsc;
    struct tconv c1, c2, csc;
    float *pa, *dpa;
    void *t_bn1, *t_c1, *t_pr, *t_c2, *t_sc, *out; /* bn2's output is not kept (fused with the PReLU) */
};

struct lc_ir_train_dev {
    struct lc_device d;
    struct lc_ir *m;
    struct lc_dev_params dp;
    int dt;      /* activation type: LC_DTYPE_F32, F16 or BF16 */
    int cl;      /* channels-last backbone (16-bit only) */
    size_t es;   /* its bytes per element */
    void *wdata; /* the data block cast to dt each forward (NULL for float32) */
    struct tconv in_conv;
    struct tbn in_bn;
    float *in_pa, *in_dpa;
    void *t_in_c, *t_in_out; /* in_bn's output is not kept (fused with the PReLU) */
    struct tunit *u;
    struct tbn out_bn, feat_bn;
    float *lin_w, *lin_b, *dlin_w, *dlin_b;
    const void *lin_wt;
    void *x, *t_obn, *t_drop, *t_lin, *t_feat, *buf[4];
    void *t_last; /* channels-last: the last unit's output as (N, C, H, W), the output layer's input */
    float *x32, *feat32, *dfe32, *emb, *norm; /* float32 whatever dt */
    uint8_t *mask;
    float *ws;      /* host workspace of the CPU convolutions (NULL on a GPU) */
    int cap;        /* the largest batch: its activations' size */
    int n, trained; /* the last forward's batch; a training forward ran since the last backward */
    const float *demb;                /* the backward's input */
    float graph_dropout;              /* dropout's p in the graphs */
    /* CUDA graphs (off unless asked): the forward's, and the backward's spans' (stages() of them at most) */
    struct lc_graph fwd_graph, *bwd;
    long bwd_replays; /* backward passes whose every span was a graph launch */
    /* the backward's stages (and the most spans): 0 the output layer (down to its batch norm), 1 + j the unit
     * n_units - 1 - j, n_units + 1 the input layer; after each, the gradients it finished may go to the hook */
    int n_stages;
    /* gradient buckets handed out during backward (lc_ir_train_dev_set_grad_hook) */
    int (*hook)(void *ctx, float *grads, size_t n, struct lc_err *err);
    void *hook_ctx;
    size_t bucket, out_off, issued, *unit_off; /* offsets in the gradient block where each part starts */
    void **mem;
    size_t nmem, capmem;
};

/* the backward's graphs, dropped when what they hold changes */
static void drop_backward_graphs(struct lc_ir_train_dev *g)
{
    for (int j = 0; j < g->n_stages; j++) lc_graph_free(&g->bwd[j], &g->d);
}

static void *tdev_get(struct lc_ir_train_dev *g, size_t bytes, struct lc_err *err)
{
    if (g->nmem == g->capmem) {
        size_t cap = g->capmem ? 2 * g->capmem : 256;
        void **mem = realloc(g->mem, cap * sizeof *mem);
        if (!mem) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory"), NULL;
        g->mem = mem, g->capmem = cap;
    }
    void *p;
    if (lc_device_alloc(&g->d, &p, bytes ? bytes : 4, err)) return NULL;
    g->mem[g->nmem++] = p;
    return p;
}

/* a batch norm of the backbone: channels-last with it */
static int tdev_bn(struct lc_ir_train_dev *g, struct tbn *t, const struct bn_l *l, struct lc_err *err)
{
    t->p = l->p;
    t->p.channels_last = g->cl;
    t->g = lc_dev_params_map(&g->dp, l->g), t->b = lc_dev_params_map(&g->dp, l->b);
    t->dg = lc_dev_params_map(&g->dp, l->dg), t->db = lc_dev_params_map(&g->dp, l->db);
    t->rm = lc_dev_params_map(&g->dp, l->rm), t->rv = lc_dev_params_map(&g->dp, l->rv);
    t->nbt = l->nbt;
    if (!t->rm || !t->rv || (l->p.affine && (!t->g || !t->b || !t->dg || !t->db)))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "a batch norm has no device mirror");
    if (!(t->mean = tdev_get(g, (size_t)l->p.c * sizeof(float), err)) ||
        !(t->istd = tdev_get(g, (size_t)l->p.c * sizeof(float), err)) ||
        !(t->ab = tdev_get(g, 2 * (size_t)l->p.c * sizeof(float), err)))
        return err->code;
    return 0;
}

/* the dt copy of a float32 parameter on the device */
static const void *tdev_typed(const struct lc_ir_train_dev *g, const float *w)
{
    return g->wdata ? (const char *)g->wdata + (size_t)(w - g->dp.data_block) * g->es : (const void *)w;
}

static int tdev_conv(struct lc_ir_train_dev *g, struct tconv *t, const struct conv_l *l, size_t *ws, struct lc_err *err)
{
    t->p = l->p;
    t->p.channels_last = g->cl;
    t->w = lc_dev_params_map(&g->dp, l->w), t->dw = lc_dev_params_map(&g->dp, l->dw);
    if (!t->w || !t->dw) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "a convolution has no device mirror");
    t->wt = tdev_typed(g, t->w);
    if (lc_conv2d_workspace(&l->p) > *ws) *ws = lc_conv2d_workspace(&l->p);
    return 0;
}

void lc_ir_train_dev_free(struct lc_ir_train_dev *g)
{
    if (!g) return;
    lc_graph_free(&g->fwd_graph, &g->d);
    drop_backward_graphs(g);
    free(g->bwd);
    for (size_t i = 0; i < g->nmem; i++) lc_device_free(&g->d, g->mem[i]);
    lc_dev_params_free(&g->dp);
    free(g->mem);
    free(g->unit_off);
    free(g->u);
    free(g->ws);
    free(g);
}

int lc_ir_train_dev_create(struct lc_ir_train_dev **out, struct lc_ir *m, const struct lc_device *d, int dt,
                           int channels_last, int max_n, struct lc_err *err)
{
    *out = NULL;
    if (layout_ok(dt, channels_last, err)) return err->code;
    struct lc_ir_train_dev *g = calloc(1, sizeof *g);
    if (!g || !(g->u = calloc((size_t)m->n_units, sizeof *g->u)) ||
        !(g->bwd = calloc((size_t)m->n_units + 2, sizeof *g->bwd))) {
        if (g) free(g->u);
        free(g);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    g->d = *d, g->m = m, g->dt = dt, g->cl = !!channels_last, g->es = lc_dtype_size(dt);
    g->n_stages = m->n_units + 2;
    g->cap = max_n > 0 && max_n < m->cap ? max_n : m->cap;
    int rc = lc_dev_params_create(&g->dp, &m->ps, d, err);
    if (rc) {
        free(g->u), free(g->bwd), free(g);
        return rc;
    }
    if (dt != LC_DTYPE_F32 && !(g->wdata = tdev_get(g, g->dp.data_floats * g->es, err))) {
        lc_ir_train_dev_free(g);
        return err->code;
    }
    const size_t N = (size_t)g->cap, HH = (size_t)LC_IR_INPUT * LC_IR_INPUT, flat = (size_t)m->lin.in;
    size_t ws = 0;
#define TRY(x)                                                                                                   \
    do {                                                                                                         \
        if ((rc = (x))) goto fail;                                                                               \
    } while (0)
#define GETB(ptr, bytes)                                                                                         \
    do {                                                                                                         \
        if (!((ptr) = tdev_get(g, (bytes), err))) {                                                              \
            rc = err->code;                                                                                      \
            goto fail;                                                                                           \
        }                                                                                                        \
    } while (0)
#define GET(ptr, elems) GETB(ptr, (elems) * g->es)          /* an activation */
#define GETF(ptr, floats) GETB(ptr, (floats) * sizeof(float)) /* float32 */
#define MAP(dst, host)                                                                                           \
    do {                                                                                                         \
        if (!((dst) = lc_dev_params_map(&g->dp, (host)))) {                                                      \
            rc = lc_errf(err, LC_EINVAL, NULL, -1, -1, "a parameter has no device mirror");                      \
            goto fail;                                                                                           \
        }                                                                                                        \
    } while (0)
    TRY(tdev_conv(g, &g->in_conv, &m->in_conv, &ws, err));
    TRY(tdev_bn(g, &g->in_bn, &m->in_bn, err));
    MAP(g->in_pa, m->in_pa);
    MAP(g->in_dpa, m->in_dpa);
    GET(g->t_in_c, N * 64 * HH);
    GET(g->t_in_out, N * 64 * HH);
    for (int k = 0; k < m->n_units; k++) {
        const struct unit *u = &m->u[k];
        struct tunit *t = &g->u[k];
        size_t in = N * (size_t)u->cin * u->h * u->w, mid = N * (size_t)u->d * u->h * u->w,
               o = N * (size_t)u->d * u->ho * u->wo;
        TRY(tdev_bn(g, &t->bn1, &u->bn1, err));
        TRY(tdev_conv(g, &t->c1, &u->c1, &ws, err));
        TRY(tdev_bn(g, &t->bn2, &u->bn2, err));
        TRY(tdev_conv(g, &t->c2, &u->c2, &ws, err));
        TRY(tdev_bn(g, &t->bn3, &u->bn3, err));
        MAP(t->pa, u->pa);
        MAP(t->dpa, u->dpa);
        if (u->conv_sc) {
            TRY(tdev_conv(g, &t->csc, &u->csc, &ws, err));
            TRY(tdev_bn(g, &t->bnsc, &u->bnsc, err));
            GET(t->t_sc, o);
        }
        GET(t->t_bn1, in);
        GET(t->t_c1, mid);
        GET(t->t_pr, mid);
        GET(t->t_c2, o);
        GET(t->out, o);
    }
    TRY(tdev_bn(g, &g->out_bn, &m->out_bn, err));
    TRY(tdev_bn(g, &g->feat_bn, &m->feat_bn, err));
    g->out_bn.p.channels_last = g->feat_bn.p.channels_last = 0; /* after the layout cast back */
    if (g->cl) GET(g->t_last, N * flat);
    MAP(g->lin_w, m->lin_w);
    MAP(g->lin_b, m->lin_b);
    MAP(g->dlin_w, m->dlin_w);
    MAP(g->dlin_b, m->dlin_b);
    g->lin_wt = tdev_typed(g, g->lin_w);
    GETF(g->x32, N * 3 * HH);
    if (dt == LC_DTYPE_F32) g->x = g->x32;
    else GET(g->x, N * 3 * HH);
    GET(g->t_obn, N * flat);
    GET(g->t_drop, N * flat);
    GET(g->t_lin, N * LC_IR_EMBEDDING);
    GET(g->t_feat, N * LC_IR_EMBEDDING);
    if (dt == LC_DTYPE_F32) g->feat32 = g->t_feat;
    else GETF(g->feat32, N * LC_IR_EMBEDDING);
    GETF(g->dfe32, N * LC_IR_EMBEDDING);
    GETF(g->emb, N * LC_IR_EMBEDDING);
    GETF(g->norm, N);
    for (int b = 0; b < 4; b++) GET(g->buf[b], m->max_act / (size_t)m->cap * N); /* max_act is cap images' */
    if (!(g->mask = tdev_get(g, N * flat, err))) {
        rc = err->code;
        goto fail;
    }
    if (d->type == LC_DEVICE_CPU && ws && !(g->ws = malloc(ws * sizeof(float)))) {
        rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        goto fail;
    }
#undef TRY
#undef GETB
#undef GET
#undef GETF
#undef MAP
    *out = g;
    return 0;
fail:
    lc_ir_train_dev_free(g);
    return rc;
}

struct lc_dev_params *lc_ir_train_dev_params(struct lc_ir_train_dev *g) { return &g->dp; }

/* the lowest offset in the gradient block among the given device gradients */
static size_t low_off(const struct lc_ir_train_dev *g, const float *const *ps, int n)
{
    size_t lo = g->dp.grad_floats;
    for (int i = 0; i < n; i++)
        if (ps[i] && (size_t)(ps[i] - g->dp.grad_block) < lo) lo = (size_t)(ps[i] - g->dp.grad_block);
    return lo;
}

int lc_ir_train_dev_set_grad_hook(struct lc_ir_train_dev *g, int (*hook)(void *, float *, size_t, struct lc_err *),
                                  void *ctx, size_t bucket_floats, struct lc_err *err)
{
    const struct lc_ir *m = g->m;
    if (!g->unit_off && !(g->unit_off = malloc((size_t)m->n_units * sizeof *g->unit_off)))
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    size_t prev = 0;
    int ordered = 1;
    for (int k = 0; k < m->n_units; k++) {
        const struct tunit *t = &g->u[k];
        const float *ps[12] = {t->bn1.dg, t->bn1.db, t->c1.dw, t->bn2.dg, t->bn2.db, t->dpa, t->c2.dw,
                               t->bn3.dg, t->bn3.db, t->csc.dw, t->bnsc.dg, t->bnsc.db};
        g->unit_off[k] = low_off(g, ps, m->u[k].conv_sc ? 12 : 9);
        ordered &= g->unit_off[k] > prev;
        prev = g->unit_off[k];
    }
    const float *ps[4] = {g->out_bn.dg, g->out_bn.db, g->dlin_w, g->dlin_b};
    g->out_off = low_off(g, ps, 4);
    ordered &= g->out_off > prev;
    g->hook = hook, g->hook_ctx = ctx;
    drop_backward_graphs(g); /* the spans change */
    /* parameters registered out of order: one bucket, the whole block, at the end */
    g->bucket = ordered ? (bucket_floats ? bucket_floats : 1) : (size_t)-1;
    return 0;
}

void lc_ir_train_dev_use_graphs(struct lc_ir_train_dev *g, int on)
{
    lc_graph_free(&g->fwd_graph, &g->d);
    drop_backward_graphs(g);
    lc_graph_init(&g->fwd_graph, on);
    for (int j = 0; j < g->n_stages; j++) lc_graph_init(&g->bwd[j], on);
    g->bwd_replays = 0;
}

long lc_ir_train_dev_graph_launches(const struct lc_ir_train_dev *g, long *backward, const char **off)
{
    if (off) {
        *off = lc_graph_off(&g->fwd_graph);
        for (int j = 0; j < g->n_stages && !*off; j++) *off = lc_graph_off(&g->bwd[j]);
    }
    if (backward) *backward = g->bwd_replays;
    return g->fwd_graph.launches;
}

const float *lc_ir_train_dev_emb(const struct lc_ir_train_dev *g) { return g->emb; }
const float *lc_ir_train_dev_norm(const struct lc_ir_train_dev *g) { return g->norm; }

int lc_ir_train_dev_sync(struct lc_ir_train_dev *g, struct lc_err *err)
{
    g->m->prepared = 0; /* the host's weights change under its prepared copies */
    return lc_dev_params_download(&g->dp, err);
}

int lc_ir_train_dev_upload(struct lc_ir_train_dev *g, struct lc_err *err) { return lc_dev_params_upload(&g->dp, err); }

/* The steps of forward_train, op for op, through the seam. */
#define TRY(x)                                                                                                       \
    do {                                                                                                             \
        if ((rc = (x))) return rc;                                                                                   \
    } while (0)

/* the dt copies of the weights the step reads in dt (convolutions and the
 * linear layer): all of the data block in one cast, or, channels-last, the
 * linear weight and each convolution's (Co, K, K, Ci/g) on their own */
static int tconv_cast(struct lc_ir_train_dev *g, const struct tconv *t, struct lc_err *err)
{
    const struct lc_conv2d *p = &t->p;
    return lc_op_cast_to_channels_last(&g->d, (void *)t->wt, g->dt, t->w, LC_DTYPE_F32, p->co, p->ci / p->groups,
                                       p->kh * p->kw, err);
}

static int cast_weights(struct lc_ir_train_dev *g, struct lc_err *err)
{
    int rc;
    if (!g->cl) return lc_op_cast(&g->d, g->wdata, g->dt, g->dp.data_block, LC_DTYPE_F32, g->dp.data_floats, err);
    const struct lc_linear *lp = &g->m->lin;
    TRY(lc_op_cast(&g->d, (void *)g->lin_wt, g->dt, g->lin_w, LC_DTYPE_F32, (size_t)lp->out * lp->in, err));
    TRY(tconv_cast(g, &g->in_conv, err));
    for (int k = 0; k < g->m->n_units; k++) {
        TRY(tconv_cast(g, &g->u[k].c1, err));
        TRY(tconv_cast(g, &g->u[k].c2, err));
        if (g->m->u[k].conv_sc) TRY(tconv_cast(g, &g->u[k].csc, err));
    }
    return 0;
}

static int tbn_train(struct lc_ir_train_dev *g, struct tbn *t, void *y, const void *x, struct lc_err *err)
{
    struct lc_bn p = t->p;
    p.n = g->n;
    return lc_op_bn_forward_train_dt(&g->d, g->dt, y, t->mean, t->istd, t->rm, t->rv, x, t->g, t->b, &p, err);
}

/* z = prelu(bn(x)), the batch norm's output not kept (its a and b are) */
static int tbn_train_prelu(struct lc_ir_train_dev *g, struct tbn *t, void *z, const void *x, const float *slope,
                           struct lc_err *err)
{
    struct lc_bn p = t->p;
    p.n = g->n;
    return lc_op_bn_prelu_forward_train_dt(&g->d, g->dt, z, t->ab, slope, t->mean, t->istd, t->rm, t->rv, x, t->g,
                                           t->b, &p, err);
}

/* y = bn(x) + every s-th row and column of r (n, c, rh, rw): the unit's
 * last batch norm and its shortcut's add in one pass over y */
static int tbn_train_add(struct lc_ir_train_dev *g, struct tbn *t, void *y, const void *x, const void *r, int rh,
                         int rw, int s, struct lc_err *err)
{
    struct lc_bn p = t->p;
    p.n = g->n;
    return lc_op_bn_add_forward_train_dt(&g->d, g->dt, y, t->mean, t->istd, t->rm, t->rv, x, t->g, t->b, r, rh, rw, s,
                                         &p, err);
}

/* num_batches_tracked of every batch norm, once per training forward */
static void tbn_count(struct lc_ir_train_dev *g)
{
    g->in_bn.nbt[0]++, g->out_bn.nbt[0]++, g->feat_bn.nbt[0]++;
    for (int k = 0; k < g->m->n_units; k++) {
        struct tunit *t = &g->u[k];
        t->bn1.nbt[0]++, t->bn2.nbt[0]++, t->bn3.nbt[0]++;
        if (g->m->u[k].conv_sc) t->bnsc.nbt[0]++;
    }
}

static int tconv_fwd(struct lc_ir_train_dev *g, const struct tconv *t, void *y, const void *x, struct lc_err *err)
{
    struct lc_conv2d p = t->p;
    p.n = g->n;
    return lc_op_conv2d_forward_dt(&g->d, g->dt, y, x, t->wt, &p, g->ws, err);
}

/* The forward's ops from the copied input to the embedding and its norm,
 * for g->n images (graph.h's issue: device ops only). */
static int train_forward_ops(void *ctx, struct lc_err *err)
{
    struct lc_ir_train_dev *g = ctx;
    struct lc_ir *m = g->m;
    const struct lc_device *d = &g->d;
    const int H = LC_IR_INPUT, dt = g->dt, n = g->n;
    int rc;
    if (g->cl) TRY(lc_op_cast_to_channels_last(d, g->x, dt, g->x32, LC_DTYPE_F32, n, 3, H * H, err));
    else if (dt != LC_DTYPE_F32) TRY(lc_op_cast(d, g->x, dt, g->x32, LC_DTYPE_F32, (size_t)n * 3 * H * H, err));
    if (dt != LC_DTYPE_F32) TRY(cast_weights(g, err)); /* this step's weights in dt */
    TRY(tconv_fwd(g, &g->in_conv, g->t_in_c, g->x, err));
    TRY(tbn_train_prelu(g, &g->in_bn, g->t_in_out, g->t_in_c, g->in_pa, err));
    const void *cur = g->t_in_out;
    for (int k = 0; k < m->n_units; k++) {
        const struct unit *u = &m->u[k];
        struct tunit *t = &g->u[k];
        TRY(tbn_train(g, &t->bn1, t->t_bn1, cur, err));
        TRY(tconv_fwd(g, &t->c1, t->t_c1, t->t_bn1, err));
        TRY(tbn_train_prelu(g, &t->bn2, t->t_pr, t->t_c1, t->pa, err));
        TRY(tconv_fwd(g, &t->c2, t->t_c2, t->t_pr, err));
        if (u->conv_sc) {
            TRY(tconv_fwd(g, &t->csc, t->t_sc, cur, err));
            TRY(tbn_train(g, &t->bnsc, g->buf[0], t->t_sc, err));
            TRY(tbn_train_add(g, &t->bn3, t->out, t->t_c2, g->buf[0], u->ho, u->wo, 1, err));
        } else {
            TRY(tbn_train_add(g, &t->bn3, t->out, t->t_c2, cur, u->h, u->w, u->s, err));
        }
        cur = t->out;
    }
    if (g->cl) { /* the output layer flattens (C, H, W) as PyTorch does */
        const struct unit *u = &m->u[m->n_units - 1];
        TRY(lc_op_cast_from_channels_last(d, g->t_last, dt, cur, dt, n, u->d, u->ho * u->wo, err));
        cur = g->t_last;
    }
    size_t flat = (size_t)m->lin.in;
    TRY(tbn_train(g, &g->out_bn, g->t_obn, cur, err));
    TRY(lc_op_dropout_apply_dt(d, dt, g->t_drop, g->t_obn, g->mask, (size_t)n * flat, m->dropout, err));
    struct lc_linear lp = m->lin;
    lp.n = n;
    TRY(lc_op_linear_forward_dt(d, dt, g->t_lin, g->t_drop, g->lin_wt, g->lin_b, &lp, err));
    TRY(tbn_train(g, &g->feat_bn, g->t_feat, g->t_lin, err));
    /* the embedding and its norm in float32 (AdaFace's statistics, the head) */
    if (dt != LC_DTYPE_F32)
        TRY(lc_op_cast(d, g->feat32, LC_DTYPE_F32, g->t_feat, dt, (size_t)n * LC_IR_EMBEDDING, err));
    return lc_op_l2norm_rows(d, g->emb, g->norm, g->feat32, n, LC_IR_EMBEDDING, err);
}

int lc_ir_train_dev_forward(struct lc_ir_train_dev *g, float *norm, const float *x, int n, struct lc_rng *rng,
                            struct lc_err *err)
{
    struct lc_ir *m = g->m;
    const struct lc_device *d = &g->d;
    if (n < 1 || n > g->cap) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "batch of %d (1 to %d)", n, g->cap);
    const int H = LC_IR_INPUT;
    int rc;
    g->n = n;
    m->prepared = 0;
    if (m->dropout != g->graph_dropout) { /* the graphs hold dropout's scale */
        lc_graph_free(&g->fwd_graph, d);
        drop_backward_graphs(g);
        g->graph_dropout = m->dropout;
    }
    /* asynchronous (x stays until the step's results come back) */
    TRY(lc_device_upload_async(d, g->x32, x, (size_t)n * 3 * H * H * sizeof(float), err));
    /* dropout's key from the host's generator, as the CPU path draws it; the
     * mask on the device, before the ops (a graph's arguments stay fixed) */
    TRY(lc_op_dropout_mask(d, g->mask, (size_t)n * m->lin.in, m->dropout, lc_dropout_key(m->dropout, rng), err));
    TRY(lc_graph_run(&g->fwd_graph, d, n, train_forward_ops, g, err));
    tbn_count(g);
    if (norm) TRY(lc_device_download(d, norm, g->norm, (size_t)n * sizeof(float), err));
    g->trained = 1;
    return 0;
}

/* The backward ops write dx (SET) where it holds nothing yet, else add
 * (ADD): a write saves zeroing dx and reading the zeros back. */
enum { ADD = 0, SET = 1 };

static int tbn_back(struct lc_ir_train_dev *g, const struct tbn *t, void *dx, const void *dy, const void *x, int set,
                    struct lc_err *err)
{
    struct lc_bn p = t->p;
    p.n = g->n;
    return lc_op_bn_backward_dt(&g->d, g->dt, dx, t->dg, t->db, dy, x, t->mean, t->istd, t->g, &p, set, err);
}

/* dx = bn's input gradient + the gradient dr of the shortcut that took
 * every s-th row and column of x, (h, w): written in one pass */
static int tbn_back_shortcut(struct lc_ir_train_dev *g, const struct tbn *t, void *dx, const void *dy, const void *x,
                             const void *dr, int h, int w, int s, struct lc_err *err)
{
    struct lc_bn p = t->p;
    p.n = g->n;
    return lc_op_bn_backward_shortcut_dt(&g->d, g->dt, dx, t->dg, t->db, dy, x, t->mean, t->istd, t->g, dr, h, w, s,
                                         &p, err);
}

/* the backward of tbn_train_prelu: dx from the PReLU's output gradient dz */
static int tbn_prelu_back(struct lc_ir_train_dev *g, const struct tbn *t, void *dx, float *dslope, const void *dz,
                          const void *x, const float *slope, int set, struct lc_err *err)
{
    struct lc_bn p = t->p;
    p.n = g->n;
    return lc_op_bn_prelu_backward_dt(&g->d, g->dt, dx, t->dg, t->db, dslope, dz, x, t->ab, t->mean, t->istd, t->g,
                                      slope, &p, set, err);
}

static int tconv_back(struct lc_ir_train_dev *g, const struct tconv *t, void *dx, const void *dy, const void *x,
                      int set, struct lc_err *err)
{
    struct lc_conv2d p = t->p;
    p.n = g->n;
    return lc_op_conv2d_backward_dt(&g->d, g->dt, dx, t->dw, dy, x, t->wt, &p, set, g->ws, err);
}

/* n activations of the activation type */
static int tzero(struct lc_ir_train_dev *g, void *p, size_t n, struct lc_err *err)
{
    return lc_device_zero(&g->d, p, n * g->es, err);
}

/* where stage s's gradients start in the gradient block, and whether it is the last */
static size_t stage_off(const struct lc_ir_train_dev *g, int s, int *last)
{
    const int U = g->m->n_units;
    *last = s == U + 1;
    if (s == 0) return g->out_off;
    if (s <= U) return g->unit_off ? g->unit_off[U - s] : 0;
    return 0;
}

/* lc_ir_backward, op for op, stages first to last from g->demb (graph.h's
 * issue: device ops only) */
static int backward_stages(struct lc_ir_train_dev *g, int first, int last, struct lc_err *err)
{
    struct lc_ir *m = g->m;
    const struct lc_device *d = &g->d;
    const int n = g->n, dt = g->dt, U = m->n_units;
    size_t flat = (size_t)m->lin.in;
    int rc;
    void *ga = g->buf[2], *gb = g->buf[3];
    if (first == 0) {
        void *g_lin = g->buf[3], *dfe = dt == LC_DTYPE_F32 ? (void *)g->dfe32 : g->buf[2];
        TRY(lc_op_l2norm_rows_backward(d, g->dfe32, g->demb, NULL, g->emb, g->norm, n, LC_IR_EMBEDDING, err));
        if (dt != LC_DTYPE_F32) TRY(lc_op_cast(d, dfe, dt, g->dfe32, LC_DTYPE_F32, (size_t)n * LC_IR_EMBEDDING, err));
        TRY(tbn_back(g, &g->feat_bn, g_lin, dfe, g->t_lin, SET, err));
        void *g_drop = g->buf[2];
        TRY(tzero(g, g_drop, (size_t)n * flat, err));
        struct lc_linear lp = m->lin;
        lp.n = n;
        TRY(lc_op_linear_backward_dt(d, dt, g_drop, g->dlin_w, g->dlin_b, g_lin, g->t_drop, g->lin_wt, &lp, err));
        void *g_obn = g->buf[3];
        TRY(tzero(g, g_obn, (size_t)n * flat, err));
        TRY(lc_op_dropout_backward_dt(d, dt, g_obn, g_drop, g->mask, (size_t)n * flat, m->dropout, err));
        void *gout = g->buf[0];
        if (g->cl) { /* the output layer's dx, then back to channels-last */
            const struct unit *u = &m->u[U - 1];
            TRY(tbn_back(g, &g->out_bn, g->buf[1], g_obn, g->t_last, SET, err));
            TRY(lc_op_cast_to_channels_last(d, gout, dt, g->buf[1], dt, n, u->d, u->ho * u->wo, err));
        } else {
            TRY(tbn_back(g, &g->out_bn, gout, g_obn, g->u[U - 1].out, SET, err));
        }
    }
    for (int s = first > 1 ? first : 1; s <= last && s <= U; s++) {
        const int k = U - s;
        const struct unit *u = &m->u[k];
        const struct tunit *t = &g->u[k];
        const void *in = k ? g->u[k - 1].out : g->t_in_out;
        /* the output's gradient and the input's alternate between buf[0] and buf[1] unit by unit */
        void *gout = g->buf[(s - 1) & 1], *gin = g->buf[s & 1];
        /* gin: a convolution shortcut's gradient written, the main path's
         * added; a subsampling shortcut's put back with the main path's */
        if (u->conv_sc) {
            TRY(tbn_back(g, &t->bnsc, ga, gout, t->t_sc, SET, err));
            TRY(tconv_back(g, &t->csc, gin, ga, in, SET, err));
        }
        TRY(tbn_back(g, &t->bn3, ga, gout, t->t_c2, SET, err));                  /* d t_c2 */
        TRY(tconv_back(g, &t->c2, gb, ga, t->t_pr, SET, err));                   /* d t_pr */
        TRY(tbn_prelu_back(g, &t->bn2, ga, t->dpa, gb, t->t_c1, t->pa, SET, err)); /* d t_c1 */
        TRY(tconv_back(g, &t->c1, gb, ga, t->t_bn1, SET, err));                  /* d t_bn1 */
        if (u->conv_sc) TRY(tbn_back(g, &t->bn1, gin, gb, in, ADD, err));
        else TRY(tbn_back_shortcut(g, &t->bn1, gin, gb, in, gout, u->h, u->w, u->s, err));
    }
    if (last == U + 1) {
        void *gout = g->buf[U & 1];
        TRY(tbn_prelu_back(g, &g->in_bn, gb, g->in_dpa, gout, g->t_in_c, g->in_pa, SET, err));
        TRY(tconv_back(g, &g->in_conv, NULL, gb, g->x, ADD, err));
    }
    return 0;
}

struct span {
    struct lc_ir_train_dev *g;
    int first, last;
};

static int span_ops(void *ctx, struct lc_err *err)
{
    const struct span *sp = ctx;
    return backward_stages(sp->g, sp->first, sp->last, err);
}

/* Stages run in spans, each ending where the hook takes a bucket (one span
 * without a hook), each span a graph of its own, keyed by the batch and its
 * stages; the hook runs between them. */
int lc_ir_train_dev_backward(struct lc_ir_train_dev *g, const float *demb, struct lc_err *err)
{
    if (!g->trained) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "backward without a training forward");
    const int S = g->n_stages;
    if (demb != g->demb) drop_backward_graphs(g); /* a graph keeps its buffers */
    g->demb = demb;
    g->issued = g->dp.grad_floats;
    int rc = 0, first = 0, span = 0, replayed = 1;
    for (int s = 0; s < S && !rc; s++) {
        int last;
        size_t lo = stage_off(g, s, &last);
        const int takes = g->hook && lo < g->issued && (last || g->issued - lo >= g->bucket);
        if (!takes && s < S - 1) continue;
        struct span sp = {g, first, s};
        struct lc_graph *gr = &g->bwd[span++];
        long before = gr->launches;
        rc = lc_graph_run(gr, &g->d, ((long)g->n << 20) | (first << 10) | s, span_ops, &sp, err);
        replayed &= gr->launches > before;
        if (!rc && takes) {
            rc = g->hook(g->hook_ctx, g->dp.grad_block + lo, g->issued - lo, err);
            g->issued = lo;
        }
        first = s + 1;
    }
    if (!rc) g->trained = 0, g->bwd_replays += replayed;
    return rc;
}
#undef TRY
