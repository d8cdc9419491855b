/* margin: the margin-based classification heads of face recognition:
 * CosFace, ArcFace and AdaFace exactly as the reference (AdaFace's head.py)
 * computes them, forward and backward.
 *
 *   Wn = W / ||W||_col            W (D, C): the head's `kernel`
 *   cos = clamp(E Wn, -1+eps, 1-eps)       E (N, D): normalised embeddings
 *   CosFace (eps 1e-4): logit = s (cos - m [c = y])
 *   ArcFace (eps 1e-4): logit = s cos(clip(acos(cos) + m [c = y], eps, pi-eps))
 *   AdaFace (eps 1e-3): n = clip(norm, 1e-3, 100), no gradient through it;
 *     in training, mean <- t_alpha mean(n) + (1-t_alpha) mean, std likewise
 *     with the unbiased batch std (initial 20 and 100);
 *     ms = clip(h (n - mean) / (std + eps), -1, 1);
 *     logit = s (cos(clip(acos(cos) - m ms [c = y], eps, pi-eps)) - (m + m ms) [c = y])
 * The heads also return the clamped, un-margined cosine: predictions (for
 * accuracy and SARFace's rewards) are its argmax. For non-target classes
 * cos(clip(acos(x))) is x up to float rounding (the clip never binds inside
 * the clamp), so it is taken as x there: same result within 1 ulp-scale,
 * without N*C transcendental calls. Note: the reference updates AdaFace's
 * statistics on every forward call; here only training forwards do. */
#ifndef LC_MARGIN_H
#define LC_MARGIN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum lc_margin_kind { LC_MARGIN_COSFACE = 0, LC_MARGIN_ARCFACE, LC_MARGIN_ADAFACE };

struct lc_margin {
    int kind, n, d, classes;
    float m, h, s, t_alpha, eps;
};

/* AdaFace's buffers (state_dict keys t, batch_mean, batch_std). */
struct lc_margin_stats {
    float t, batch_mean, batch_std;
};

/* kind by name: "cosface", "arcface", "adaface"; -1 if unknown. */
int lc_margin_parse(const char *name);
const char *lc_margin_name(int kind);
/* eps is set from the kind as the reference does. */
int lc_margin_init(struct lc_margin *p, int kind, int n, int d, int classes, float m, float h, float s,
                   float t_alpha, struct lc_err *err);
void lc_margin_stats_init(struct lc_margin_stats *st); /* 0, 20, 100 */
/* Scratch floats for forward and backward: D*C + C + N*C + 2N + D*BLOCK. */
#define LC_MARGIN_BLOCK 256
size_t lc_margin_workspace(const struct lc_margin *p);
/* Its layout, shared by the CPU and CUDA heads: Wn (D*C) | 1/||W col|| (C) |
 * raw cosine, then its gradient (N*C) | theta (N) | target factor (N) |
 * a D x BLOCK block of dWn. */
struct lc_margin_ws {
    float *wn, *inv, *raw, *theta, *tfac, *block;
};
static inline struct lc_margin_ws lc_margin_carve(const struct lc_margin *p, float *ws)
{
    struct lc_margin_ws w;
    w.wn = ws;
    w.inv = w.wn + (size_t)p->d * p->classes;
    w.raw = w.inv + p->classes;
    w.theta = w.raw + (size_t)p->n * p->classes;
    w.tfac = w.theta + p->n;
    w.block = w.tfac + p->n;
    return w;
}

/* emb (N,D), norm (N), kernel (D,C), labels (N) -> logits (N,C) and cos (N,C)
 * (clamped, un-margined). scaler (N) saves AdaFace's ms for backward (may be
 * NULL for the other heads). train: AdaFace updates *st first. The ws must
 * be passed unchanged to backward. */
void lc_margin_forward(float *logits, float *cos, float *scaler, struct lc_margin_stats *st, const float *emb,
                       const float *norm, const float *kernel, const int64_t *labels, const struct lc_margin *p,
                       int train, float *ws);
/* lc_margin_forward in two parts, for devices: the AdaFace statistics and
 * scaler from the norms (on the host: N values; does nothing for the other
 * heads), then the logits, whose pointers may live on a device
 * (lc_op_margin_logits) with the scaler copied there. */
void lc_margin_scaler(float *scaler, struct lc_margin_stats *st, const float *norm, const struct lc_margin *p,
                      int train);
void lc_margin_logits(float *logits, float *cos, const float *scaler, const float *emb, const float *kernel,
                      const int64_t *labels, const struct lc_margin *p, float *ws);
/* demb += dlogits . d logits/d emb; dkernel += ... (through the column
 * normalisation); either may be NULL. cos, scaler and ws as forward left them. */
void lc_margin_backward(float *demb, float *dkernel, const float *dlogits, const float *cos, const float *scaler,
                        const float *emb, const float *kernel, const int64_t *labels, const struct lc_margin *p,
                        float *ws);

/* The reference's kernel initialisation: uniform(-1, 1) per element, then
 * each column rescaled to norm 1 (renorm(2, 1, 1e-5) * 1e5). */
struct lc_rng;
void lc_margin_init_kernel(float *kernel, int d, int classes, struct lc_rng *rng);

#endif
