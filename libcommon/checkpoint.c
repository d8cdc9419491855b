/* checkpoint: registries <-> safetensors (our own files) and PyTorch files
 * (through tensorfile), with the run's metadata. */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "tensorfile.h"
#include "version.h"

static int meta_int(struct lc_st_writer *w, const char *k, int64_t v, struct lc_err *err)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    return lc_st_meta(w, k, b, err);
}

static int meta_real(struct lc_st_writer *w, const char *k, double v, struct lc_err *err)
{
    char b[40];
    snprintf(b, sizeof b, "%.17g", v);
    return lc_st_meta(w, k, b, err);
}

static int add_params(struct lc_st_writer *w, const struct lc_params *ps, const char *prefix, struct lc_err *err)
{
    for (size_t i = 0; i < ps->n; i++) {
        const struct lc_param *p = &ps->v[i];
        char name[200];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        int rc = p->kind == LC_PARAM_COUNTER ? lc_st_add(w, name, LC_DTYPE_I64, 0, NULL, p->count, err)
                                             : lc_st_add(w, name, LC_DTYPE_F32, p->rank, p->dims, p->data, err);
        if (rc) return rc;
    }
    return 0;
}

/* The registry entry whose data an optimiser slot updates. */
static const struct lc_param *owner(const struct lc_params *a, const struct lc_params *b, const float *data,
                                    const char **prefix)
{
    for (int k = 0; k < 2; k++) {
        const struct lc_params *ps = k ? b : a;
        for (size_t i = 0; ps && i < ps->n; i++)
            if (ps->v[i].data == data) {
                *prefix = k ? "head." : "";
                return &ps->v[i];
            }
    }
    return NULL;
}

int lc_ckpt_save(const char *path, const struct lc_params *model, const struct lc_params *head,
                 const struct lc_optim *opt, const struct lc_ckpt_info *info, struct lc_err *err)
{
    struct lc_st_writer *w;
    int rc = lc_st_writer_open(&w, path, err);
    if (rc) return rc;
    rc = add_params(w, model, "", err);
    if (!rc && head) rc = add_params(w, head, "head.", err);
    for (size_t t = 0; !rc && opt && t < opt->n; t++) {
        const char *prefix;
        const struct lc_param *p = owner(model, head, opt->data[t], &prefix);
        if (!p) {
            rc = lc_errf(err, LC_EINVAL, path, -1, -1, "optimiser state for a parameter outside the model and head");
            break;
        }
        static const char *sgd[2] = {"momentum_buffer", NULL}, *adam[2] = {"exp_avg", "exp_avg_sq"};
        const char *const *st = opt->kind == LC_OPTIM_ADAM ? adam : sgd;
        for (int k = 0; k < 2 && !rc; k++) {
            float *buf = lc_optim_state(opt, t, k);
            if (!st[k] || !buf) continue;
            char name[240];
            snprintf(name, sizeof name, "optim.%s.%s%s", st[k], prefix, p->name);
            rc = lc_st_add(w, name, LC_DTYPE_F32, p->rank, p->dims, buf, err);
        }
    }
    char rng[80];
    snprintf(rng, sizeof rng, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, info->rng.s[0], info->rng.s[1],
             info->rng.s[2], info->rng.s[3]);
    if (!rc) rc = lc_st_meta(w, "format", "sarface-checkpoint", err);
    if (!rc) rc = lc_st_meta(w, "toolkit", LC_TOOLKIT " " LC_VERSION, err);
    if (!rc) rc = lc_st_meta(w, "arch", info->arch, err);
    if (!rc && head) rc = lc_st_meta(w, "head", info->head, err);
    if (!rc) rc = meta_int(w, "classes", info->classes, err);
    if (!rc) rc = meta_int(w, "epoch", info->epoch, err);
    if (!rc) rc = meta_int(w, "step", info->step, err);
    if (!rc) rc = meta_int(w, "batch", info->batch, err);
    if (!rc) rc = meta_real(w, "lr", info->lr, err);
    if (!rc) rc = meta_real(w, "best", info->best, err);
    if (!rc && info->loss_scale > 0) rc = meta_real(w, "loss_scale", info->loss_scale, err);
    if (!rc && info->loss_scale > 0) rc = meta_int(w, "loss_scale_growth_tracker", info->loss_scale_tracker, err);
    if (!rc) rc = lc_st_meta(w, "rng", rng, err);
    if (!rc && opt) {
        rc = lc_st_meta(w, "optim", opt->kind == LC_OPTIM_ADAM ? "adam" : "sgd", err);
        if (!rc) rc = meta_int(w, "optim_steps", opt->step, err);
        if (!rc) rc = meta_int(w, "optim_started", opt->started, err);
    }
    for (int k = 0; !rc && k < info->n_extra; k++) rc = lc_st_meta(w, info->extra_key[k], info->extra_val[k], err);
    if (rc) {
        lc_st_writer_abort(w);
        return rc;
    }
    return lc_st_writer_close(w, err);
}

int lc_ckpt_export(const char *path, const struct lc_params *model, const struct lc_ckpt_info *info, struct lc_err *err)
{
    struct lc_st_writer *w;
    int rc = lc_st_writer_open(&w, path, err);
    if (rc) return rc;
    rc = add_params(w, model, "", err);
    if (!rc) rc = lc_st_meta(w, "format", "sarface-weights", err);
    if (!rc) rc = lc_st_meta(w, "arch", info->arch, err);
    if (!rc) rc = lc_st_meta(w, "toolkit", LC_TOOLKIT " " LC_VERSION, err);
    if (rc) {
        lc_st_writer_abort(w);
        return rc;
    }
    return lc_st_writer_close(w, err);
}

/* Copy an entry into float (or int64 counter) storage, converting dtypes. */
static int take(const struct lc_tensor_entry *e, struct lc_param *p, const char *path, struct lc_err *err)
{
    size_t n = 1;
    for (unsigned i = 0; i < e->rank; i++) n *= (size_t)e->dims[i];
    int shape_ok = n == p->n;
    if (shape_ok && p->kind != LC_PARAM_COUNTER && e->rank != p->rank) shape_ok = 0;
    for (unsigned i = 0; shape_ok && p->kind != LC_PARAM_COUNTER && i < e->rank; i++) shape_ok = e->dims[i] == p->dims[i];
    if (!shape_ok) {
        char a[64] = "", b[64] = "";
        for (unsigned i = 0, k = 0; i < e->rank; i++) k += (unsigned)snprintf(a + k, sizeof a - k, "%s%lld", i ? "x" : "", (long long)e->dims[i]);
        for (unsigned i = 0, k = 0; i < p->rank; i++) k += (unsigned)snprintf(b + k, sizeof b - k, "%s%lld", i ? "x" : "", (long long)p->dims[i]);
        return lc_errf(err, LC_EFORMAT, path, -1, -1, "%s has shape %s in the file, the model expects %s (another architecture?)",
                       p->name, e->rank ? a : "scalar", p->rank ? b : "scalar");
    }
    if (p->kind == LC_PARAM_COUNTER) {
        p->count[0] = (int64_t)lc_dtype_get(e->data, e->dtype, 0);
        return 0;
    }
    if (e->dtype == LC_DTYPE_F32) {
        memcpy(p->data, e->data, n * sizeof(float));
        return 0;
    }
    if (e->dtype != LC_DTYPE_F16 && e->dtype != LC_DTYPE_BF16 && e->dtype != LC_DTYPE_F64)
        return lc_errf(err, LC_EFORMAT, path, -1, -1, "%s is %s in the file: a float tensor is expected", p->name,
                       lc_dtype_name(e->dtype));
    for (size_t i = 0; i < n; i++) p->data[i] = (float)lc_dtype_get(e->data, e->dtype, i);
    return 0;
}

static const struct lc_tensor_entry *find(const struct lc_tensor_file *f, const char *prefix, const char *alt,
                                          const char *name)
{
    char key[256];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    const struct lc_tensor_entry *e = lc_tensor_file_find(f, key);
    if (!e && alt) {
        snprintf(key, sizeof key, "%s%s", alt, name);
        e = lc_tensor_file_find(f, key);
    }
    return e;
}

static void read_info(const struct lc_tensor_file *f, struct lc_ckpt_info *info)
{
    const char *v;
    if ((v = lc_tensor_file_meta(f, "arch"))) snprintf(info->arch, sizeof info->arch, "%s", v);
    if ((v = lc_tensor_file_meta(f, "head"))) snprintf(info->head, sizeof info->head, "%s", v);
    if ((v = lc_tensor_file_meta(f, "classes"))) info->classes = strtoll(v, NULL, 10);
    if ((v = lc_tensor_file_meta(f, "epoch"))) info->epoch = (int)strtol(v, NULL, 10);
    if ((v = lc_tensor_file_meta(f, "step"))) info->step = strtoll(v, NULL, 10);
    else if ((v = lc_tensor_file_meta(f, "global_step"))) info->step = strtoll(v, NULL, 10); /* Lightning */
    if ((v = lc_tensor_file_meta(f, "batch"))) info->batch = strtoll(v, NULL, 10);
    if ((v = lc_tensor_file_meta(f, "lr"))) info->lr = strtod(v, NULL);
    if ((v = lc_tensor_file_meta(f, "best"))) info->best = strtod(v, NULL);
    if ((v = lc_tensor_file_meta(f, "loss_scale"))) info->loss_scale = strtod(v, NULL);
    if ((v = lc_tensor_file_meta(f, "loss_scale_growth_tracker"))) info->loss_scale_tracker = strtoll(v, NULL, 10);
    if ((v = lc_tensor_file_meta(f, "rng")) && strlen(v) == 64)
        for (int k = 0; k < 4; k++) {
            char part[17];
            memcpy(part, v + 16 * k, 16);
            part[16] = 0;
            info->rng.s[k] = strtoull(part, NULL, 16);
        }
}

int lc_ckpt_peek(const char *path, struct lc_ckpt_info *info, struct lc_err *err)
{
    struct lc_tensor_file *f;
    int rc = lc_tensor_file_open(&f, path, err);
    if (rc) return rc;
    read_info(f, info);
    lc_tensor_file_close(f);
    return 0;
}

int lc_ckpt_load(const char *path, struct lc_params *model, struct lc_params *head, struct lc_optim *opt,
                 struct lc_ckpt_info *info, unsigned flags, struct lc_err *err)
{
    struct lc_tensor_file *f;
    int rc = lc_tensor_file_open(&f, path, err);
    if (rc) return rc;
    /* our files have no prefix; Lightning's (AdaFace's .ckpt) say model. */
    for (size_t i = 0; !rc && i < model->n; i++) {
        struct lc_param *p = &model->v[i];
        const struct lc_tensor_entry *e = find(f, "", "model.", p->name);
        if (!e)
            rc = lc_errf(err, LC_EFORMAT, path, -1, -1, "the file has no %s (nor model.%s): not this architecture's weights",
                         p->name, p->name);
        else rc = take(e, p, path, err);
    }
    for (size_t i = 0; !rc && head && !(flags & LC_CKPT_NO_HEAD) && i < head->n; i++) {
        struct lc_param *p = &head->v[i];
        const struct lc_tensor_entry *e = find(f, "head.", NULL, p->name);
        if (!e) rc = lc_errf(err, LC_EFORMAT, path, -1, -1, "the file has no head.%s (use the backbone only?)", p->name);
        else rc = take(e, p, path, err);
    }
    if (!rc && info) read_info(f, info);
    if (!rc && opt && !(flags & LC_CKPT_WEIGHTS_ONLY)) {
        const char *kind = lc_tensor_file_meta(f, "optim");
        if (!kind || strcmp(kind, opt->kind == LC_OPTIM_ADAM ? "adam" : "sgd") != 0)
            rc = lc_errf(err, LC_EFORMAT, path, -1, -1, "the checkpoint holds no %s optimiser state to resume",
                         opt->kind == LC_OPTIM_ADAM ? "Adam" : "SGD");
        for (size_t t = 0; !rc && t < opt->n; t++) {
            const char *prefix;
            const struct lc_param *p = owner(model, head, opt->data[t], &prefix);
            static const char *sgd[2] = {"momentum_buffer", NULL}, *adam[2] = {"exp_avg", "exp_avg_sq"};
            const char *const *st = opt->kind == LC_OPTIM_ADAM ? adam : sgd;
            for (int k = 0; !rc && p && k < 2; k++) {
                float *buf = lc_optim_state(opt, t, k);
                if (!st[k] || !buf) continue;
                char key[256];
                snprintf(key, sizeof key, "optim.%s.%s%s", st[k], prefix, p->name);
                const struct lc_tensor_entry *e = lc_tensor_file_find(f, key);
                if (!e || e->dtype != LC_DTYPE_F32 || e->bytes != p->n * sizeof(float))
                    rc = lc_errf(err, LC_EFORMAT, path, -1, -1, "optimiser state %s is missing or malformed", key);
                else memcpy(buf, e->data, e->bytes);
            }
        }
        const char *v;
        if (!rc && (v = lc_tensor_file_meta(f, "optim_steps"))) opt->step = strtoll(v, NULL, 10);
        if (!rc && (v = lc_tensor_file_meta(f, "optim_started"))) opt->started = (int)strtol(v, NULL, 10);
    }
    lc_tensor_file_close(f);
    return rc;
}
