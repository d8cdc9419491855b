/* params: a model's named tensors, the C view of a PyTorch state_dict.
 * Each entry has the reference's key (e.g. `body.3.res_layer.1.weight`), a
 * shape, its data and (for trainable ones) a gradient, and a kind that
 * decides its optimiser group: the reference decays every parameter except
 * batch-norm ones. Buffers (running statistics, counters) are saved and
 * loaded but never trained. */
#ifndef LC_PARAMS_H
#define LC_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum lc_param_kind {
    LC_PARAM_DECAY = 0,    /* trained, weight decay (convs, linear, PReLU, head kernel) */
    LC_PARAM_NO_DECAY = 1, /* trained, no weight decay (batch-norm weight and bias) */
    LC_PARAM_BUFFER = 2,   /* float state saved with the model (running mean/var, AdaFace stats) */
    LC_PARAM_COUNTER = 3,  /* int64 state (num_batches_tracked) */
};

struct lc_param {
    char name[128];
    int kind;
    unsigned rank;
    int64_t dims[4];
    size_t n;        /* elements */
    float *data;     /* float kinds; 64-byte aligned, owned by the registry */
    float *grad;     /* trained kinds only, else NULL */
    int64_t *count;  /* LC_PARAM_COUNTER only */
};

struct lc_params {
    struct lc_param *v;
    size_t n, cap;
};

void lc_params_init(struct lc_params *ps);
void lc_params_free(struct lc_params *ps);
/* Register name (printf-style) with a shape; returns the entry (data and
 * grad zeroed) or NULL with err filled (duplicate name, out of memory).
 * The entry pointer is valid until the next add (the table grows); its
 * data, grad and count pointers stay valid until lc_params_free. */
struct lc_param *lc_params_add(struct lc_params *ps, int kind, unsigned rank, const int64_t *dims,
                               struct lc_err *err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
struct lc_param *lc_params_find(const struct lc_params *ps, const char *name);
void lc_params_zero_grad(struct lc_params *ps);
/* Trained elements (the parameter count as PyTorch reports it). */
size_t lc_params_count(const struct lc_params *ps);

#endif
