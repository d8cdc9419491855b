/* devparams: a model's parameters and its SGD state mirrored on a device,
 * for training there. The host registry (lc_params, lc_optim) stays the
 * record that checkpoints read and write: upload after loading, download
 * before saving. Data and gradients each live in one device block, so
 * zeroing every gradient is one call. Counters (num_batches_tracked) stay
 * on the host. */
#ifndef LC_DEVPARAMS_H
#define LC_DEVPARAMS_H

#include <stddef.h>

#include "backend.h"
#include "err.h"
#include "optim.h"
#include "params.h"

struct lc_dev_params {
    struct lc_device d;
    struct lc_params *ps; /* the host registry (not owned) */
    float **data, **grad; /* per entry: device pointers (grad NULL where untrained, data NULL for counters) */
    float *data_block, *grad_block;
    size_t data_floats, grad_floats;
};

/* Allocate the mirror of ps on d and upload its data. */
int lc_dev_params_create(struct lc_dev_params *dp, struct lc_params *ps, const struct lc_device *d, struct lc_err *err);
void lc_dev_params_free(struct lc_dev_params *dp);
int lc_dev_params_upload(struct lc_dev_params *dp, struct lc_err *err);
/* Device data (parameters and float buffers) back into the host registry. */
int lc_dev_params_download(struct lc_dev_params *dp, struct lc_err *err);
int lc_dev_params_zero_grad(struct lc_dev_params *dp, struct lc_err *err);
/* The device pointer mirroring a host entry's data or grad pointer, or NULL. */
float *lc_dev_params_map(const struct lc_dev_params *dp, const float *host);

/* The optimiser on the device: the same per-tensor updates lc_optim_step
 * runs, all of a step in one op (an update table: one kernel on a GPU;
 * SGD's or Adam's per-tensor op where the weight decays changed since
 * create), with the state buffers (momentum; Adam's two moments) on the
 * device. */
struct lc_optim_dev {
    struct lc_device d;
    size_t n;
    float **data, **grad, **s1, **s2; /* device pointers per optimiser tensor (s1, s2: NULL where o has none) */
    float *s1_block, *s2_block;
    struct lc_update_table *table; /* every tensor, with the weight decays below */
    float weight_decay, weight_decay_bn;
};
/* o's tensors must all belong to the mirrors given; o's state buffers
 * are uploaded (a resumed run continues them). */
int lc_optim_dev_create(struct lc_optim_dev *od, const struct lc_optim *o, const struct lc_dev_params *const *mirrors,
                        int n_mirrors, struct lc_err *err);
void lc_optim_dev_free(struct lc_optim_dev *od);
/* One step at o->lr; advances o's step count as lc_optim_step does. */
int lc_optim_dev_step(struct lc_optim_dev *od, struct lc_optim *o, struct lc_err *err);
/* The state buffers back into o (for a checkpoint). */
int lc_optim_dev_download(const struct lc_optim_dev *od, struct lc_optim *o, struct lc_err *err);

#endif
