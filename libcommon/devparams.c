/* devparams: parameter and optimiser-state mirrors on a device. */
#include "devparams.h"

#include <stdlib.h>
#include <string.h>

static int is_float(const struct lc_param *p) { return p->kind != LC_PARAM_COUNTER; }

int lc_dev_params_create(struct lc_dev_params *dp, struct lc_params *ps, const struct lc_device *d, struct lc_err *err)
{
    memset(dp, 0, sizeof *dp);
    dp->d = *d, dp->ps = ps;
    int rc = lc_device_open(d, err);
    if (rc) return rc;
    if (!(dp->data = calloc(ps->n ? ps->n : 1, sizeof *dp->data)) || !(dp->grad = calloc(ps->n ? ps->n : 1, sizeof *dp->grad))) {
        lc_dev_params_free(dp);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    /* 16-float (64-byte) alignment for every tensor inside the blocks */
    for (size_t i = 0; i < ps->n; i++) {
        const struct lc_param *p = &ps->v[i];
        size_t padded = (p->n + 15) & ~(size_t)15;
        if (is_float(p)) dp->data_floats += padded;
        if (p->grad) dp->grad_floats += padded;
    }
    if ((rc = lc_device_alloc(d, (void **)&dp->data_block, dp->data_floats * sizeof(float), err)) ||
        (rc = lc_device_alloc(d, (void **)&dp->grad_block, dp->grad_floats * sizeof(float), err))) {
        lc_dev_params_free(dp);
        return rc;
    }
    size_t at = 0, gat = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const struct lc_param *p = &ps->v[i];
        size_t padded = (p->n + 15) & ~(size_t)15;
        if (is_float(p)) dp->data[i] = dp->data_block + at, at += padded;
        if (p->grad) dp->grad[i] = dp->grad_block + gat, gat += padded;
    }
    if ((rc = lc_dev_params_upload(dp, err)) || (rc = lc_dev_params_zero_grad(dp, err))) {
        lc_dev_params_free(dp);
        return rc;
    }
    return 0;
}

void lc_dev_params_free(struct lc_dev_params *dp)
{
    if (dp->data_block) lc_device_free(&dp->d, dp->data_block);
    if (dp->grad_block) lc_device_free(&dp->d, dp->grad_block);
    free(dp->data), free(dp->grad);
    memset(dp, 0, sizeof *dp);
}

int lc_dev_params_upload(struct lc_dev_params *dp, struct lc_err *err)
{
    for (size_t i = 0; i < dp->ps->n; i++) {
        const struct lc_param *p = &dp->ps->v[i];
        int rc;
        if (dp->data[i] && (rc = lc_device_upload(&dp->d, dp->data[i], p->data, p->n * sizeof(float), err))) return rc;
    }
    return 0;
}

int lc_dev_params_download(struct lc_dev_params *dp, struct lc_err *err)
{
    for (size_t i = 0; i < dp->ps->n; i++) {
        const struct lc_param *p = &dp->ps->v[i];
        int rc;
        if (dp->data[i] && (rc = lc_device_download(&dp->d, p->data, dp->data[i], p->n * sizeof(float), err))) return rc;
    }
    return 0;
}

int lc_dev_params_zero_grad(struct lc_dev_params *dp, struct lc_err *err)
{
    return dp->grad_floats ? lc_device_zero(&dp->d, dp->grad_block, dp->grad_floats * sizeof(float), err) : 0;
}

float *lc_dev_params_map(const struct lc_dev_params *dp, const float *host)
{
    if (!host) return NULL;
    for (size_t i = 0; i < dp->ps->n; i++) {
        const struct lc_param *p = &dp->ps->v[i];
        if (p->data == host) return dp->data[i];
        if (p->grad && p->grad == host) return dp->grad[i];
    }
    return NULL;
}

/* ---------------------------------------------------------- optimisers */

/* the floats a state block takes: each tensor's buffer 64-byte aligned */
static size_t state_floats(const struct lc_optim *o, float *const *state)
{
    size_t total = 0;
    for (size_t t = 0; t < o->n; t++)
        if (state[t]) total += (o->len[t] + 15) & ~(size_t)15;
    return total;
}

/* The device copies of o's state buffers (s1 or s2): one block, uploaded. */
static int state_mirror(struct lc_optim_dev *od, const struct lc_optim *o, float *const *state, float **block,
                        float **dev, struct lc_err *err)
{
    size_t total = state_floats(o, state), at = 0;
    int rc = total ? lc_device_alloc(&od->d, (void **)block, total * sizeof(float), err) : 0;
    for (size_t t = 0; !rc && t < o->n; t++)
        if (state[t]) {
            dev[t] = *block + at, at += (o->len[t] + 15) & ~(size_t)15;
            rc = lc_device_upload(&od->d, dev[t], state[t], o->len[t] * sizeof(float), err);
        }
    return rc;
}

int lc_optim_dev_create(struct lc_optim_dev *od, const struct lc_optim *o, const struct lc_dev_params *const *mirrors,
                        int n_mirrors, struct lc_err *err)
{
    memset(od, 0, sizeof *od);
    if (n_mirrors < 1) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "no parameter mirrors");
    od->d = mirrors[0]->d;
    od->n = o->n;
    const size_t slots = o->n ? o->n : 1;
    int rc = 0;
    if (!(od->data = calloc(slots, sizeof *od->data)) || !(od->grad = calloc(slots, sizeof *od->grad)) ||
        !(od->s1 = calloc(slots, sizeof *od->s1)) || !(od->s2 = calloc(slots, sizeof *od->s2)))
        rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    for (size_t t = 0; !rc && t < o->n; t++) {
        for (int k = 0; k < n_mirrors && !od->data[t]; k++) {
            od->data[t] = lc_dev_params_map(mirrors[k], o->data[t]);
            od->grad[t] = lc_dev_params_map(mirrors[k], o->grad[t]);
        }
        if (!od->data[t] || !od->grad[t])
            rc = lc_errf(err, LC_EINVAL, NULL, -1, -1, "optimiser tensor %zu has no device mirror", t);
    }
    if (!rc) rc = state_mirror(od, o, o->s1, &od->s1_block, od->s1, err);
    if (!rc && o->kind == LC_OPTIM_ADAM) rc = state_mirror(od, o, o->s2, &od->s2_block, od->s2, err);
    struct lc_update_tensor *t = rc ? NULL : malloc(slots * sizeof *t);
    if (!rc && !t) rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    for (size_t k = 0; !rc && k < o->n; k++)
        t[k] = (struct lc_update_tensor){od->data[k], od->s1[k], od->s2[k], od->grad[k], o->len[k],
                                         o->decay[k] ? o->weight_decay : o->weight_decay_bn};
    od->weight_decay = o->weight_decay, od->weight_decay_bn = o->weight_decay_bn;
    if (!rc) rc = lc_update_table_create(&od->table, &od->d, t, o->n, err);
    free(t);
    if (rc) lc_optim_dev_free(od);
    return rc;
}

void lc_optim_dev_free(struct lc_optim_dev *od)
{
    lc_update_table_free(od->table);
    if (od->s1_block) lc_device_free(&od->d, od->s1_block);
    if (od->s2_block) lc_device_free(&od->d, od->s2_block);
    free(od->data), free(od->grad), free(od->s1), free(od->s2);
    memset(od, 0, sizeof *od);
}

int lc_optim_dev_step(struct lc_optim_dev *od, struct lc_optim *o, struct lc_err *err)
{
    o->step++;
    const float lr = (float)o->lr;
    if (od->weight_decay == o->weight_decay && od->weight_decay_bn == o->weight_decay_bn && od->n) {
        int rc; /* the table's weight decays are o's: one op (the args' weight decay is the table's) */
        if (o->kind == LC_OPTIM_ADAM) {
            struct lc_adam_args a = lc_adam_args_at(o, 0);
            rc = lc_op_adam_update_table(od->table, &a, err);
        } else {
            struct lc_sgd_args a = {lr, o->momentum, o->dampening, 0, o->nesterov, !o->started};
            rc = lc_op_sgd_update_table(od->table, &a, err);
        }
        if (!rc) o->started = 1;
        return rc;
    }
    for (size_t t = 0; t < od->n; t++) {
        int rc;
        if (o->kind == LC_OPTIM_ADAM) {
            struct lc_adam_args a = lc_adam_args_at(o, t);
            rc = lc_op_adam_update(&od->d, od->data[t], od->s1[t], od->s2[t], od->grad[t], o->len[t], &a, err);
        } else {
            struct lc_sgd_args a = {lr, o->momentum, o->dampening, o->decay[t] ? o->weight_decay : o->weight_decay_bn,
                                    o->nesterov, !o->started};
            rc = lc_op_sgd_update(&od->d, od->data[t], od->s1[t], od->grad[t], o->len[t], &a, err);
        }
        if (rc) return rc;
    }
    o->started = 1;
    return 0;
}

int lc_optim_dev_download(const struct lc_optim_dev *od, struct lc_optim *o, struct lc_err *err)
{
    for (size_t t = 0; t < od->n; t++) {
        int rc;
        if (od->s1[t] && (rc = lc_device_download(&od->d, o->s1[t], od->s1[t], o->len[t] * sizeof(float), err))) return rc;
        if (od->s2[t] && (rc = lc_device_download(&od->d, o->s2[t], od->s2[t], o->len[t] * sizeof(float), err))) return rc;
    }
    return 0;
}
