/* softmax: softmax and log-softmax along one axis of an (outer, dim, inner)
 * view, and the cross-entropy loss PyTorch's nn.CrossEntropyLoss computes
 * (mean over rows, label smoothing, ignore_index). Sums run in double and
 * subtract the row maximum first (log-sum-exp), as PyTorch does. */
#ifndef LC_SOFTMAX_H
#define LC_SOFTMAX_H

#include <stddef.h>
#include <stdint.h>

#define LC_IGNORE_INDEX (-100)

void lc_softmax_forward(float *y, const float *x, int outer, int dim, int inner);
/* uses the output y: dx += y * (dy - sum(dy * y)) */
void lc_softmax_backward(float *dx, const float *dy, const float *y, int outer, int dim, int inner);

void lc_log_softmax_forward(float *y, const float *x, int outer, int dim, int inner);
/* uses the output y: dx += dy - exp(y) * sum(dy) */
void lc_log_softmax_backward(float *dx, const float *dy, const float *y, int outer, int dim, int inner);

/* logits (n, c), labels (n) in [0, c) or LC_IGNORE_INDEX. Returns the mean
 * loss over rows that are not ignored (0 if all are), where a row's loss
 * is (1 - smoothing) * -log p[label] + smoothing * mean_k -log p[k]. prob
 * (n, c) receives the softmax, saved for backward. Labels out of range
 * count as ignored; callers validate them (lc_cross_entropy_check). */
double lc_cross_entropy_forward(float *prob, const float *logits, const int64_t *labels, int n, int c,
                                float smoothing);
/* The same per row, for devices: row_loss[i] the (smoothed) loss of row i
 * (0 for rows that are not counted); the caller takes the mean over the
 * rows it counts. */
void lc_cross_entropy_rows(float *prob, float *row_loss, const float *logits, const int64_t *labels, int n, int c,
                           float smoothing);
/* dlogits += scale * d(mean loss)/d logits */
void lc_cross_entropy_backward(float *dlogits, const float *prob, const int64_t *labels, int n, int c,
                               float smoothing, float scale);
/* index of the first label that is neither in [0, c) nor LC_IGNORE_INDEX,
 * or -1 */
int lc_cross_entropy_check(const int64_t *labels, int n, int c);

#endif
