/* optim: SGD with momentum and Adam, updating parameters as PyTorch's
 * single-tensor implementations do (same operations in the same order; a
 * step agrees with torch.optim to a few ulp: torch fuses some products into
 * FMAs in its vector loops only), and MultiStepLR.
 *   SGD:  g = grad + wd p;  buf = g (first step) or momentum buf + (1-dampening) g;
 *         d = nesterov ? g + momentum buf : buf;  p -= lr d
 *   Adam: g = grad + wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *         p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * Weight decay comes in two groups as the reference configures SGD: one
 * value for LC_PARAM_DECAY parameters (5e-4), another (0) for batch-norm
 * parameters. */
#ifndef LC_OPTIM_H
#define LC_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "params.h"

enum lc_optim_kind { LC_OPTIM_SGD = 0, LC_OPTIM_ADAM = 1 };

struct lc_optim {
    int kind;
    double lr;
    float weight_decay, weight_decay_bn; /* LC_PARAM_DECAY / LC_PARAM_NO_DECAY groups */
    float momentum, dampening;           /* SGD */
    int nesterov;
    float beta1, beta2, eps;             /* Adam */
    int64_t step;                        /* steps taken (Adam's t) */
    size_t n, cap;
    float **data, **grad, **s1, **s2;   /* s1: momentum buffer / exp_avg; s2: exp_avg_sq */
    size_t *len;
    int *decay;
    int started;                         /* SGD: momentum buffers initialised */
};

int lc_optim_init_sgd(struct lc_optim *o, double lr, float momentum, float weight_decay, float weight_decay_bn,
                      struct lc_err *err);
int lc_optim_init_adam(struct lc_optim *o, double lr, float beta1, float beta2, float eps, float weight_decay,
                       struct lc_err *err);
/* Add every trained parameter of ps (in registry order: the state order). */
int lc_optim_add(struct lc_optim *o, struct lc_params *ps, struct lc_err *err);
void lc_optim_step(struct lc_optim *o);
void lc_optim_free(struct lc_optim *o);
/* State tensors for checkpoints: parameter i's buffers (NULL if unused). */
float *lc_optim_state(const struct lc_optim *o, size_t i, int which);

/* One SGD update of one tensor, as lc_optim_step does it (the formula at
 * the top). buf may be NULL when momentum is 0; first: the step that
 * initialises buf (buf = g). The device seam's lc_op_sgd_update runs this
 * on the CPU and its CUDA twin on a GPU. */
struct lc_sgd_args {
    float lr, momentum, dampening, weight_decay;
    int nesterov, first;
};
void lc_sgd_update(float *p, float *buf, const float *g, size_t n, const struct lc_sgd_args *a);

/* One Adam update of one tensor with the step's constants, as
 * lc_optim_step does it: step_size = lr / (1 - beta1^t) and bc2_sqrt =
 * sqrt(1 - beta2^t), formed in double and rounded once (lc_adam_args_at).
 * m and v are the moment buffers. lc_op_adam_update runs it on a device. */
struct lc_adam_args {
    float step_size, bc2_sqrt, beta1, beta2, eps, weight_decay;
};
void lc_adam_update(float *p, float *m, float *v, const float *g, size_t n, const struct lc_adam_args *a);

/* One tensor of a step that updates many at once (backend.h's update
 * tables): its parameter, its optimiser state (SGD's momentum in s1, or
 * Adam's moments in s1 and s2; NULL where none), its gradient, and its own
 * weight decay, which replaces the step's arguments' for it. */
struct lc_update_tensor {
    float *p, *s1, *s2;
    const float *g;
    size_t n;
    float weight_decay;
};
/* The constants of o's step number o->step (already advanced) for tensor t. */
struct lc_adam_args lc_adam_args_at(const struct lc_optim *o, size_t t);

/* MultiStepLR: lr = base * gamma^(number of milestones <= epoch), computed
 * as PyTorch does it (one multiplication at each milestone, in double). */
#define LC_MULTISTEP_MAX 32
struct lc_multistep {
    double base_lr;
    double gamma;
    int n, milestones[LC_MULTISTEP_MAX];
};
/* "12,20,24" -> milestones; 0 or LC_EUSAGE. */
int lc_multistep_parse(struct lc_multistep *s, double base_lr, double gamma, const char *milestones, struct lc_err *err);
double lc_multistep_lr(const struct lc_multistep *s, int epoch);

#endif
