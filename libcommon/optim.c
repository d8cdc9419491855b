/* optim: SGD, Adam and MultiStepLR as torch.optim computes them. */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct lc_optim *o, struct lc_err *err)
{
    if (o->n < o->cap) return 0;
    size_t cap = o->cap ? 2 * o->cap : 64;
#define G(f) \
    do { \
        void *q = realloc(o->f, cap * sizeof *o->f); \
        if (!q) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory"); \
        o->f = q; \
    } while (0)
    G(data);
    G(grad);
    G(s1);
    G(s2);
    G(len);
    G(decay);
#undef G
    o->cap = cap;
    return 0;
}

int lc_optim_init_sgd(struct lc_optim *o, double lr, float momentum, float weight_decay, float weight_decay_bn,
                      struct lc_err *err)
{
    (void)err;
    memset(o, 0, sizeof *o);
    o->kind = LC_OPTIM_SGD;
    o->lr = lr;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    o->weight_decay_bn = weight_decay_bn;
    return 0;
}

int lc_optim_init_adam(struct lc_optim *o, double lr, float beta1, float beta2, float eps, float weight_decay,
                       struct lc_err *err)
{
    (void)err;
    memset(o, 0, sizeof *o);
    o->kind = LC_OPTIM_ADAM;
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = o->weight_decay_bn = weight_decay;
    return 0;
}

static float *zeros(size_t n)
{
    void *p;
    if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float))) return NULL;
    memset(p, 0, (n ? n : 1) * sizeof(float));
    return p;
}

int lc_optim_add(struct lc_optim *o, struct lc_params *ps, struct lc_err *err)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct lc_param *p = &ps->v[i];
        if (!p->grad) continue;
        int rc = grow(o, err);
        if (rc) return rc;
        o->data[o->n] = p->data;
        o->grad[o->n] = p->grad;
        o->len[o->n] = p->n;
        o->decay[o->n] = p->kind == LC_PARAM_DECAY;
        o->s1[o->n] = (o->kind == LC_OPTIM_ADAM || o->momentum != 0) ? zeros(p->n) : NULL;
        o->s2[o->n] = o->kind == LC_OPTIM_ADAM ? zeros(p->n) : NULL;
        if ((o->kind == LC_OPTIM_ADAM || o->momentum != 0) && (!o->s1[o->n] || (o->kind == LC_OPTIM_ADAM && !o->s2[o->n])))
            return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory for optimiser state of %s", p->name);
        o->n++;
    }
    return 0;
}

float *lc_optim_state(const struct lc_optim *o, size_t i, int which) { return i < o->n ? (which ? o->s2[i] : o->s1[i]) : NULL; }

void lc_sgd_update(float *p, float *buf, const float *g, size_t n, const struct lc_sgd_args *a)
{
    const float lr = a->lr, wd = a->weight_decay, mom = a->momentum, damp = 1 - a->dampening;
    const int first = a->first, nesterov = a->nesterov;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float d = wd != 0 ? g[i] + wd * p[i] : g[i];
        if (buf) {
            buf[i] = first ? d : buf[i] * mom + damp * d;
            d = nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] = p[i] + -lr * d;
    }
}

void lc_optim_step(struct lc_optim *o)
{
    o->step++;
    const float lr = (float)o->lr;
    if (o->kind == LC_OPTIM_SGD) {
        for (size_t t = 0; t < o->n; t++) {
            struct lc_sgd_args a = {lr, o->momentum, o->dampening,
                                    o->decay[t] ? o->weight_decay : o->weight_decay_bn, o->nesterov, !o->started};
            lc_sgd_update(o->data[t], o->s1[t], o->grad[t], o->len[t], &a);
        }
        o->started = 1;
        return;
    }
    for (size_t t = 0; t < o->n; t++) {
        struct lc_adam_args a = lc_adam_args_at(o, t);
        lc_adam_update(o->data[t], o->s1[t], o->s2[t], o->grad[t], o->len[t], &a);
    }
}

struct lc_adam_args lc_adam_args_at(const struct lc_optim *o, size_t t)
{
    /* the bias corrections in double, as Python computes them */
    double bc1 = 1 - pow(o->beta1, (double)o->step), bc2 = 1 - pow(o->beta2, (double)o->step);
    return (struct lc_adam_args){(float)(o->lr / bc1), (float)sqrt(bc2), o->beta1, o->beta2, o->eps,
                                 o->decay[t] ? o->weight_decay : o->weight_decay_bn};
}

void lc_adam_update(float *p, float *m, float *v, const float *g, size_t n, const struct lc_adam_args *a)
{
    const float b1 = a->beta1, b2 = a->beta2, one_b1 = 1 - b1, one_b2 = 1 - b2, eps = a->eps, wd = a->weight_decay;
    const float step_size = a->step_size, bc2_sqrt = a->bc2_sqrt;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = wd != 0 ? g[i] + wd * p[i] : g[i];
        m[i] = m[i] * b1 + one_b1 * gi;
        v[i] = v[i] * b2 + one_b2 * (gi * gi);
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] = p[i] + -step_size * (m[i] / denom);
    }
}

void lc_optim_free(struct lc_optim *o)
{
    for (size_t t = 0; t < o->n; t++) {
        free(o->s1[t]);
        free(o->s2[t]);
    }
    free(o->data);
    free(o->grad);
    free(o->s1);
    free(o->s2);
    free(o->len);
    free(o->decay);
    memset(o, 0, sizeof *o);
}

int lc_multistep_parse(struct lc_multistep *s, double base_lr, double gamma, const char *milestones, struct lc_err *err)
{
    memset(s, 0, sizeof *s);
    s->base_lr = base_lr;
    s->gamma = gamma;
    const char *p = milestones;
    while (p && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000 || (*end && *end != ',') || s->n == LC_MULTISTEP_MAX ||
            (s->n && v <= s->milestones[s->n - 1]))
            return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "bad milestones '%s' (ascending epochs, e.g. 12,20,24)",
                           milestones);
        s->milestones[s->n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

double lc_multistep_lr(const struct lc_multistep *s, int epoch)
{
    double lr = s->base_lr;
    for (int i = 0; i < s->n; i++)
        if (s->milestones[i] <= epoch) lr *= s->gamma; /* python float * python float */
    return lr;
}
