/* backend: the device seam. Every op that can run on a GPU has one
 * device-generic entry point here (lc_op_*) that dispatches to the CPU
 * reference or to its CUDA twin in libcommon/cuda/. Only backend.c knows
 * whether CUDA was built (LC_CUDA); no public struct changes with it. */
#ifndef LC_BACKEND_H
#define LC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "conv2d.h"
#include "pool.h"
#include "dropout.h"
#include "err.h"
#include "linear.h"
#include "margin.h"
#include "normalize.h"
#include "optim.h"
#include "softmax.h"
#include "tensorops.h"

enum lc_device_type { LC_DEVICE_CPU = 0, LC_DEVICE_CUDA = 1 };

struct lc_device {
    int type;  /* enum lc_device_type */
    int index; /* GPU ordinal for CUDA */
};

/* "cpu", "cuda", "cuda:N" (as --device takes them). */
int lc_device_parse(struct lc_device *d, const char *s, struct lc_err *err);
char *lc_device_format(const struct lc_device *d, char *buf, size_t size);
/* Check that d can be used and make it current; errors say why not (CUDA
 * not built, no driver, no such device). */
int lc_device_open(const struct lc_device *d, struct lc_err *err);

/* Was the CUDA path compiled in? */
int lc_backend_cuda_built(void);
/* Usable CUDA devices; 0 with the reason in why when none. */
int lc_backend_cuda_devices(char *why, size_t size);
/* A CUDA device's name, multiprocessors, peak clock (kHz) and compute
 * capability (major * 10 + minor). */
int lc_backend_cuda_props(int index, char *name, size_t size, int *sms, int *clock_khz, int *cc, struct lc_err *err);
/* One-paragraph build configuration (for --version). Returns buf. */
char *lc_backend_describe(char *buf, size_t size);

/* Memory on d (plain malloc for the CPU; 64-byte aligned). */
int lc_device_alloc(const struct lc_device *d, void **p, size_t bytes, struct lc_err *err);
void lc_device_free(const struct lc_device *d, void *p);
int lc_device_upload(const struct lc_device *d, void *dst, const void *src, size_t bytes,
                     struct lc_err *err);
int lc_device_download(const struct lc_device *d, void *dst, const void *src, size_t bytes,
                       struct lc_err *err);
int lc_device_sync(const struct lc_device *d, struct lc_err *err);
/* A GPU's free and total memory, as the driver counts it (every process's
 * use included); LC_EUNSUPPORTED for the CPU, which has none of its own. */
int lc_device_memory(const struct lc_device *d, size_t *free_bytes, size_t *total_bytes, struct lc_err *err);
/* Free what the calling thread's ops keep between calls on d (cuDNN and
 * cuBLAS handles, convolution plans, scratch buffers); they are made again
 * on next use. That state lives on the GPU the thread first ran ops on: a
 * thread calls this before it ends, and before it drives another GPU
 * (nothing for the CPU). */
void lc_device_thread_release(const struct lc_device *d);
/* Host memory that d copies from fast and asynchronously (page-locked on
 * a GPU; 64-byte aligned malloc for the CPU), and a copy to d that returns
 * before it is done: src must stay unchanged until the ops queued after it
 * have run (a download or lc_device_sync waits for them). */
int lc_host_alloc(const struct lc_device *d, void **p, size_t bytes, struct lc_err *err);
void lc_host_free(const struct lc_device *d, void *p);
int lc_device_upload_async(const struct lc_device *d, void *dst, const void *src, size_t bytes, struct lc_err *err);
/* Set bytes of device memory to zero (asynchronous on a GPU). */
int lc_device_zero(const struct lc_device *d, void *p, size_t bytes, struct lc_err *err);

/* NCCL (CUDA builds; LC_EUNSUPPORTED otherwise): the raw calls behind
 * comm.h. id: 128 bytes (ncclUniqueId). Collectives run in place on float32
 * buffers of the calling thread's current GPU, on the ops' stream.
 * Communicators are non-blocking: lc_nccl_init returns while the setup may
 * still go on, and a collective returns 1 while its launch does; poll
 * (1: going on, 0: done, else the error) until 0 before the next call, and
 * abort (lc_nccl_free with abort set, from any thread) to give up. */
#define LC_NCCL_ID_SIZE 128
int lc_nccl_id(uint8_t id[LC_NCCL_ID_SIZE], struct lc_err *err);
int lc_nccl_init(void **comm, const uint8_t id[LC_NCCL_ID_SIZE], int rank, int world, struct lc_err *err);
int lc_nccl_poll(void *comm, struct lc_err *err);
void lc_nccl_free(void *comm, int abort);
/* stream: NULL for the ops' stream, or one of lc_gpu_stream_new */
int lc_nccl_allreduce(void *comm, float *buf, size_t n, int mean, void *stream, struct lc_err *err);
int lc_nccl_broadcast(void *comm, float *buf, size_t n, int root, struct lc_err *err);
/* Streams and events of the current GPU, to overlap collectives with the
 * ops (which run on the default stream, NULL): a new stream does not wait
 * for the ops by itself; record an event where it must, and wait for it. */
int lc_gpu_stream_new(void **stream, struct lc_err *err);
void lc_gpu_stream_free(void *stream);
int lc_gpu_event_new(void **event, struct lc_err *err);
/* an event that keeps time, and the milliseconds between two recorded
 * ones (both done: after a sync) */
int lc_gpu_timer_new(void **event, struct lc_err *err);
int lc_gpu_event_elapsed(float *ms, void *a, void *b, struct lc_err *err);
void lc_gpu_event_free(void *event);
int lc_gpu_event_record(void *event, void *stream, struct lc_err *err);
int lc_gpu_stream_wait(void *stream, void *event, struct lc_err *err);
/* done: the work queued before event's last record has run (from any
 * thread; an event never recorded is done) */
int lc_gpu_event_done(void *event, int *done, struct lc_err *err);
/* the GPU index of a communicator whose setup has finished */
int lc_nccl_device(void *comm, int *index, struct lc_err *err);
/* finish what the communicator started (poll), before lc_nccl_free */
int lc_nccl_finalize(void *comm, struct lc_err *err);

/* CUDA graphs of the calling thread's ops on d (graph.h builds on these).
 * From begin to end the ops are recorded, not run (keep 0 discards them,
 * after an op failed); the graph then runs them again with one launch, on
 * the same buffers with the same arguments. A capture is refused while
 * lc_prof times ops, and a call that waits for the GPU (a download, a
 * sync) or a scratch buffer that would grow fails inside one. The scratch
 * epoch changes whenever the backend reallocates or frees a scratch buffer
 * that graphs captured before then would read. On the CPU: LC_EUNSUPPORTED
 * (the epoch is 0). */
int lc_gpu_capture_begin(const struct lc_device *d, struct lc_err *err);
int lc_gpu_capture_end(const struct lc_device *d, void **graph, int keep, struct lc_err *err);
int lc_gpu_graph_launch(const struct lc_device *d, void *graph, struct lc_err *err);
void lc_gpu_graph_free(const struct lc_device *d, void *graph);
unsigned long lc_gpu_scratch_epoch(const struct lc_device *d);

/* ---- ops (pointers live on d) ----
 * Each runs the CPU function of the same name on the CPU and its CUDA twin
 * (libcommon/cuda/) on a GPU, with the CPU function's contract; GPU calls
 * are asynchronous on the default stream (lc_device_sync waits). Returns 0,
 * or LC_EUNSUPPORTED / LC_EIO with err saying why. */
int lc_op_normalize_u8(const struct lc_device *d, float *y, const uint8_t *x,
                       const struct lc_normalize *p, struct lc_err *err);
int lc_op_prelu_forward(const struct lc_device *d, float *y, const float *x, const float *a, int n, int c, int hw,
                        struct lc_err *err);
int lc_op_prelu_backward(const struct lc_device *d, float *dx, float *da, const float *dy, const float *x,
                         const float *a, int n, int c, int hw, struct lc_err *err);
int lc_op_bn_forward_train(const struct lc_device *d, float *y, float *save_mean, float *save_invstd, float *run_mean,
                           float *run_var, const float *x, const float *gamma, const float *beta,
                           const struct lc_bn *p, struct lc_err *err);
int lc_op_bn_forward_eval(const struct lc_device *d, float *y, const float *x, const float *gamma, const float *beta,
                          const float *run_mean, const float *run_var, const struct lc_bn *p, struct lc_err *err);
int lc_op_bn_backward(const struct lc_device *d, float *dx, float *dgamma, float *dbeta, const float *dy,
                      const float *x, const float *save_mean, const float *save_invstd, const float *gamma,
                      const struct lc_bn *p, struct lc_err *err);
int lc_op_sgd_update(const struct lc_device *d, float *p, float *buf, const float *g, size_t n,
                     const struct lc_sgd_args *a, struct lc_err *err);
int lc_op_linear_forward(const struct lc_device *d, float *y, const float *x, const float *w, const float *b,
                         const struct lc_linear *p, struct lc_err *err);
int lc_op_linear_backward(const struct lc_device *d, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const struct lc_linear *p, struct lc_err *err);
/* ws: lc_conv2d_workspace(p) floats on the CPU; ignored on a GPU (cuDNN's
 * workspace is the backend's own). */
int lc_op_conv2d_forward(const struct lc_device *d, float *y, const float *x, const float *w, const float *b,
                         const struct lc_conv2d *p, float *ws, struct lc_err *err);
int lc_op_conv2d_backward(const struct lc_device *d, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const struct lc_conv2d *p, float *ws, struct lc_err *err);
/* y = s * x (lc_scale_forward) */
int lc_op_scale(const struct lc_device *d, float *y, const float *x, float s, size_t n, struct lc_err *err);
int lc_op_add(const struct lc_device *d, float *y, const float *a, const float *b, size_t n, struct lc_err *err);
int lc_op_subsample_add(const struct lc_device *d, float *y, const float *x, int n, int c, int h, int w, int s,
                        struct lc_err *err);
int lc_op_l2norm_rows(const struct lc_device *d, float *y, float *norm, const float *x, int n, int dim,
                      struct lc_err *err);

/* Training's remaining ops: the backward of the shortcut and of the
 * embedding normalisation, dropout (the mask drawn on d from a key the
 * host draws), the margin head's logits (scaler: AdaFace's, from
 * lc_margin_scaler, on d; labels int64 on d; ws: lc_margin_workspace(p)
 * floats on d, passed unchanged to backward) and backward, cross-entropy
 * per row, and the arg-max of rows (predictions). */
int lc_op_subsample_backward(const struct lc_device *d, float *dx, const float *dy, int n, int c, int h, int w, int s,
                             struct lc_err *err);
int lc_op_l2norm_rows_backward(const struct lc_device *d, float *dx, const float *dy, const float *dnorm,
                               const float *y, const float *norm, int n, int dim, struct lc_err *err);
/* the mask for a key (lc_dropout_mask_keyed), drawn on d */
int lc_op_dropout_mask(const struct lc_device *d, uint8_t *mask, size_t n, float p, uint64_t key, struct lc_err *err);
int lc_op_dropout_apply(const struct lc_device *d, float *y, const float *x, const uint8_t *mask, size_t n, float p,
                        struct lc_err *err);
int lc_op_dropout_backward(const struct lc_device *d, float *dx, const float *dy, const uint8_t *mask, size_t n,
                           float p, struct lc_err *err);
int lc_op_margin_logits(const struct lc_device *d, float *logits, float *cos, const float *scaler, const float *emb,
                        const float *kernel, const int64_t *labels, const struct lc_margin *p, float *ws,
                        struct lc_err *err);
int lc_op_margin_backward(const struct lc_device *d, float *demb, float *dkernel, const float *dlogits,
                          const float *emb, const int64_t *labels, const struct lc_margin *p, float *ws,
                          struct lc_err *err);
int lc_op_cross_entropy_rows(const struct lc_device *d, float *prob, float *row_loss, const float *logits,
                             const int64_t *labels, int n, int c, float smoothing, struct lc_err *err);
int lc_op_cross_entropy_backward(const struct lc_device *d, float *dlogits, const float *prob, const int64_t *labels,
                                 int n, int c, float smoothing, float scale, struct lc_err *err);
int lc_op_argmax_rows(const struct lc_device *d, int32_t *idx, const float *x, int n, int c, struct lc_err *err);

/* ---- the rest of the CPU library: activations (act.h), tensor arithmetic
 * (tensorops.h), softmax (softmax.h), pooling (pool.h), resizing
 * (resize.h), batched matmul (matmul.h), Adam (optim.h). Each takes the
 * CPU function's arguments, as device pointers (concat's arrays of
 * pointers and sizes stay on the host; a pool's struct too); the CUDA
 * twins mirror the CPU's expressions, sums in double in a fixed order. */
int lc_op_relu_forward(const struct lc_device *d, float *y, const float *x, size_t n, struct lc_err *err);
int lc_op_relu_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, size_t n,
                        struct lc_err *err);
int lc_op_gelu_forward(const struct lc_device *d, float *y, const float *x, size_t n, struct lc_err *err);
int lc_op_gelu_backward(const struct lc_device *d, float *dx, const float *dy, const float *x, size_t n,
                        struct lc_err *err);
int lc_op_sigmoid_forward(const struct lc_device *d, float *y, const float *x, size_t n, struct lc_err *err);
int lc_op_sigmoid_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, size_t n,
                           struct lc_err *err);
int lc_op_mul_forward(const struct lc_device *d, float *y, const float *a, const float *b, size_t n,
                      struct lc_err *err);
int lc_op_mul_backward(const struct lc_device *d, float *da, float *db, const float *dy, const float *a,
                       const float *b, size_t n, struct lc_err *err);
int lc_op_concat_forward(const struct lc_device *d, float *y, const float *const *xs, const int *cs, int k, int n,
                         int hw, struct lc_err *err);
int lc_op_concat_backward(const struct lc_device *d, float *const *dxs, const float *dy, const int *cs, int k, int n,
                          int hw, struct lc_err *err);
int lc_op_pixel_shuffle_forward(const struct lc_device *d, float *y, const float *x, int n, int c, int h, int w,
                                int r, struct lc_err *err);
int lc_op_pixel_shuffle_backward(const struct lc_device *d, float *dx, const float *dy, int n, int c, int h, int w,
                                 int r, struct lc_err *err);
int lc_op_mul_bcast_forward(const struct lc_device *d, float *y, const float *x, const float *s, int outer, int dim,
                            int inner, int s_over, struct lc_err *err);
int lc_op_mul_bcast_backward(const struct lc_device *d, float *dx, float *ds, const float *dy, const float *x,
                             const float *s, int outer, int dim, int inner, int s_over, struct lc_err *err);
int lc_op_sum_dim_forward(const struct lc_device *d, float *y, const float *x, int outer, int dim, int inner,
                          struct lc_err *err);
int lc_op_sum_dim_backward(const struct lc_device *d, float *dx, const float *dy, int outer, int dim, int inner,
                           struct lc_err *err);
int lc_op_l2norm_forward(const struct lc_device *d, float *y, float *norm, const float *x, int outer, int dim,
                         int inner, float eps, struct lc_err *err);
int lc_op_l2norm_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, const float *norm,
                          int outer, int dim, int inner, float eps, struct lc_err *err);
int lc_op_softmax_forward(const struct lc_device *d, float *y, const float *x, int outer, int dim, int inner,
                          struct lc_err *err);
int lc_op_softmax_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, int outer, int dim,
                           int inner, struct lc_err *err);
int lc_op_log_softmax_forward(const struct lc_device *d, float *y, const float *x, int outer, int dim, int inner,
                              struct lc_err *err);
int lc_op_log_softmax_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, int outer,
                               int dim, int inner, struct lc_err *err);
int lc_op_maxpool2d_forward(const struct lc_device *d, float *y, int32_t *argmax, const float *x,
                            const struct lc_pool2d *p, struct lc_err *err);
int lc_op_maxpool2d_backward(const struct lc_device *d, float *dx, const float *dy, const int32_t *argmax,
                             const struct lc_pool2d *p, struct lc_err *err);
int lc_op_avgpool2d_forward(const struct lc_device *d, float *y, const float *x, const struct lc_pool2d *p,
                            struct lc_err *err);
int lc_op_avgpool2d_backward(const struct lc_device *d, float *dx, const float *dy, const struct lc_pool2d *p,
                             struct lc_err *err);
int lc_op_gap_forward(const struct lc_device *d, float *y, const float *x, int n, int c, int hw, struct lc_err *err);
int lc_op_gap_backward(const struct lc_device *d, float *dx, const float *dy, int n, int c, int hw,
                       struct lc_err *err);
int lc_op_resize_bilinear_forward(const struct lc_device *d, float *y, const float *x, int nc, int h, int w, int ho,
                                  int wo, struct lc_err *err);
int lc_op_resize_bilinear_backward(const struct lc_device *d, float *dx, const float *dy, int nc, int h, int w,
                                   int ho, int wo, struct lc_err *err);
int lc_op_resize_nearest_forward(const struct lc_device *d, float *y, const float *x, int nc, int h, int w, int ho,
                                 int wo, struct lc_err *err);
int lc_op_resize_nearest_backward(const struct lc_device *d, float *dx, const float *dy, int nc, int h, int w,
                                  int ho, int wo, struct lc_err *err);
int lc_op_resize_nearest_u8(const struct lc_device *d, uint8_t *y, const uint8_t *x, int nc, int h, int w, int ho,
                            int wo, struct lc_err *err);
int lc_op_matmul_forward(const struct lc_device *d, float *c, const float *a, const float *b, int batch, int m,
                         int n, int k, int ta, int tb, struct lc_err *err);
int lc_op_matmul_backward(const struct lc_device *d, float *da, float *db, const float *dc, const float *a,
                          const float *b, int batch, int m, int n, int k, int ta, int tb, struct lc_err *err);
int lc_op_adam_update(const struct lc_device *d, float *p, float *m, float *v, const float *g, size_t n,
                      const struct lc_adam_args *a, struct lc_err *err);
/* An optimiser step over many tensors in one op (an update table: the
 * tensors' pointers on d, made once): on the CPU lc_sgd_update or
 * lc_adam_update on each tensor in turn, with the tensor's weight decay in
 * place of a's; on a GPU one kernel over them all (the table kept on the
 * device, each block a chunk of up to LC_UPDATE_CHUNK elements of one
 * tensor), instead of a launch a tensor. Bit for bit the per-tensor ops. */
#define LC_UPDATE_CHUNK 65536
struct lc_update_table;
int lc_update_table_create(struct lc_update_table **out, const struct lc_device *d, const struct lc_update_tensor *t,
                           size_t count, struct lc_err *err);
void lc_update_table_free(struct lc_update_table *tab);
int lc_op_sgd_update_table(const struct lc_update_table *tab, const struct lc_sgd_args *a, struct lc_err *err);
int lc_op_adam_update_table(const struct lc_update_table *tab, const struct lc_adam_args *a, struct lc_err *err);

/* ---- mixed precision (mixed.h has the contract) ----
 * Casts between float32 and the 16-bit types, the unscale-and-check of
 * gradients (found_inf: one float on d, set to 1 on an inf or NaN, never
 * cleared), and the ops of the IR training step with activations of type
 * dt: LC_DTYPE_F32 runs the float32 op above (bit for bit), LC_DTYPE_F16 and
 * LC_DTYPE_BF16 the 16-bit one (on the CPU mixed.c's reference; on a GPU
 * cuDNN, cuBLAS and kernels that compute in float32). Convolution and
 * linear weights are in dt; their gradients dw are float32, accumulated.
 * Channels-last (mixed.h): p->channels_last of conv2d and batch norm, the
 * channels_last argument of the others; 16-bit dt only (LC_EINVAL for
 * float32, except bias_prelu), as the float32 ops are (N, C, H, W) only.
 * The layout casts take (n, c, hw) to (n, hw, c) and back (x and y do
 * not overlap).
 * The backward ops add to dx, or with set write it: what adding to zeros
 * gives (bit for bit but for cuDNN's dx, which may keep a -0), without the
 * zeroing pass and the read (the 16-bit CUDA twins; elsewhere dx is zeroed
 * first, so with set dx must not be dy or x). */
int lc_op_cast_to_channels_last(const struct lc_device *d, void *y, int ydt, const void *x, int xdt, int n, int c,
                                int hw, struct lc_err *err);
int lc_op_cast_from_channels_last(const struct lc_device *d, void *y, int ydt, const void *x, int xdt, int n, int c,
                                  int hw, struct lc_err *err);
int lc_op_cast(const struct lc_device *d, void *y, int ydt, const void *x, int xdt, size_t n, struct lc_err *err);
int lc_op_cast_add(const struct lc_device *d, float *y, const void *x, int xdt, size_t n, struct lc_err *err);
int lc_op_unscale_check(const struct lc_device *d, float *g, size_t n, float inv_scale, float *found_inf,
                        struct lc_err *err);
int lc_op_conv2d_forward_dt(const struct lc_device *d, int dt, void *y, const void *x, const void *w,
                            const struct lc_conv2d *p, float *ws, struct lc_err *err);
int lc_op_conv2d_backward_dt(const struct lc_device *d, int dt, void *dx, float *dw, const void *dy, const void *x,
                             const void *w, const struct lc_conv2d *p, int set, float *ws, struct lc_err *err);
int lc_op_bn_forward_train_dt(const struct lc_device *d, int dt, void *y, float *save_mean, float *save_invstd,
                              float *run_mean, float *run_var, const void *x, const float *gamma, const float *beta,
                              const struct lc_bn *p, struct lc_err *err);
int lc_op_bn_backward_dt(const struct lc_device *d, int dt, void *dx, float *dgamma, float *dbeta, const void *dy,
                         const void *x, const float *save_mean, const float *save_invstd, const float *gamma,
                         const struct lc_bn *p, int set, struct lc_err *err);
int lc_op_prelu_forward_dt(const struct lc_device *d, int dt, void *y, const void *x, const float *a, int n, int c,
                           int hw, int channels_last, struct lc_err *err);
int lc_op_prelu_backward_dt(const struct lc_device *d, int dt, void *dx, float *da, const void *dy, const void *x,
                            const float *a, int n, int c, int hw, int channels_last, int set, struct lc_err *err);
/* Batch norm (training) then PReLU with per-channel slopes, fused
 * (mixed.h's lc_mixed_bn_prelu_*; any dt, float32 (N, C, H, W) only): the
 * forward writes z = prelu(bn(x)) and, instead of y = bn(x), y's
 * per-channel a and b (save_ab, 2c floats); the backward recomputes y from
 * x and save_ab, adds the slopes' gradient to dslope and batch norm's to
 * dgamma and dbeta, and writes (set) or adds dx (not dz or x). Bit for bit
 * the unfused ops on the same device, with y neither stored nor read back.
 * The CPU reference holds up to five float32 copies of the tensor. */
int lc_op_bn_prelu_forward_train_dt(const struct lc_device *d, int dt, void *z, float *save_ab, const float *slope,
                                    float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                                    const void *x, const float *gamma, const float *beta, const struct lc_bn *p,
                                    struct lc_err *err);
int lc_op_bn_prelu_backward_dt(const struct lc_device *d, int dt, void *dx, float *dgamma, float *dbeta, float *dslope,
                               const void *dz, const void *x, const float *save_ab, const float *save_mean,
                               const float *save_invstd, const float *gamma, const float *slope,
                               const struct lc_bn *p, int set, struct lc_err *err);
/* Batch norm (training) with the residual added, fused (mixed.h's
 * lc_mixed_bn_add_forward_train; any dt, float32 (N, C, H, W) only): y =
 * bn(x) + r', r' every s-th row and column of r, (p->n, p->c, rh, rw) in
 * p's layout (s = 1: r itself, of x's shape), as lc_op_subsample_add_dt
 * adds it to y. Bit for bit lc_op_bn_forward_train_dt then that add, with
 * y written once and not read back; y overlaps neither x nor r. Its
 * backward is the two ops' (dy goes to both). */
int lc_op_bn_add_forward_train_dt(const struct lc_device *d, int dt, void *y, float *save_mean, float *save_invstd,
                                  float *run_mean, float *run_var, const void *x, const float *gamma,
                                  const float *beta, const void *r, int rh, int rw, int s, const struct lc_bn *p,
                                  struct lc_err *err);
/* Batch norm's backward with a shortcut's gradient, fused (mixed.h's
 * lc_mixed_bn_backward_shortcut; any dt, float32 (N, C, H, W) only): the
 * gradient of an input x, (p->n, p->c, h, w) with h w = p->hw, read by the
 * batch norm and by a shortcut that took every s-th row and column of it:
 * dx = the shortcut's gradient dr, (p->n, p->c, (h - 1) / s + 1,
 * (w - 1) / s + 1) in p's layout, put back as lc_op_subsample_backward_dt
 * writes it (set), plus batch norm's input gradient from dy, as
 * lc_op_bn_backward_dt adds it. Bit for bit the two ops, with dx written
 * once and not read (nor zeroed first); dgamma and dbeta are added to; dx
 * overlaps neither dy, x nor dr. */
int lc_op_bn_backward_shortcut_dt(const struct lc_device *d, int dt, void *dx, float *dgamma, float *dbeta,
                                  const void *dy, const void *x, const float *save_mean, const float *save_invstd,
                                  const float *gamma, const void *dr, int h, int w, int s, const struct lc_bn *p,
                                  struct lc_err *err);
int lc_op_add_dt(const struct lc_device *d, int dt, void *y, const void *a, const void *b, size_t n,
                 struct lc_err *err);
int lc_op_subsample_add_dt(const struct lc_device *d, int dt, void *y, const void *x, int n, int c, int h, int w,
                           int s, int channels_last, struct lc_err *err);
int lc_op_subsample_backward_dt(const struct lc_device *d, int dt, void *dx, const void *dy, int n, int c, int h,
                                int w, int s, int channels_last, int set, struct lc_err *err);
int lc_op_dropout_apply_dt(const struct lc_device *d, int dt, void *y, const void *x, const uint8_t *mask, size_t n,
                           float p, struct lc_err *err);
int lc_op_dropout_backward_dt(const struct lc_device *d, int dt, void *dx, const void *dy, const uint8_t *mask,
                              size_t n, float p, struct lc_err *err);
/* inference: y = prelu(y + b) in place (a NULL: bias only), batch norm with running statistics */
int lc_op_bias_prelu_dt(const struct lc_device *d, int dt, void *y, const float *b, const float *a, int n, int c,
                        int hw, int channels_last, struct lc_err *err);
int lc_op_bn_forward_eval_dt(const struct lc_device *d, int dt, void *y, const void *x, const float *gamma,
                             const float *beta, const float *run_mean, const float *run_var, const struct lc_bn *p,
                             struct lc_err *err);
/* inference, a unit's end: y (n, c, (rh - 1) / s + 1, (rw - 1) / s + 1) =
 * y + b in place, then every s-th row and column of r (n, c, rh, rw) added,
 * as lc_op_bias_prelu_dt (a NULL) then lc_op_subsample_add_dt give it, bit
 * for bit, in one pass; b is given, r is not y */
int lc_op_bias_add_dt(const struct lc_device *d, int dt, void *y, const float *b, const void *r, int n, int c, int rh,
                      int rw, int s, int channels_last, struct lc_err *err);
/* inference, a unit's end and the next unit's first batch norm, fused
 * (mixed.h's lc_mixed_bias_add_bn_eval): y = y + b then r's every s-th
 * row and column added, in place, as lc_op_bias_add_dt gives it, and z =
 * the batch norm p of that y with running statistics, as
 * lc_op_bn_forward_eval_dt gives it; bit for bit the two ops, with y not
 * read back. p->n, p->c, p->hw and p->channels_last are y's; z overlaps
 * neither y nor r. */
int lc_op_bias_add_bn_eval_dt(const struct lc_device *d, int dt, void *y, void *z, const float *b, const void *r,
                              int rh, int rw, int s, const float *gamma, const float *beta, const float *run_mean,
                              const float *run_var, const struct lc_bn *p, struct lc_err *err);
int lc_op_linear_forward_dt(const struct lc_device *d, int dt, void *y, const void *x, const void *w, const float *b,
                            const struct lc_linear *p, struct lc_err *err);
int lc_op_linear_backward_dt(const struct lc_device *d, int dt, void *dx, float *dw, float *db, const void *dy,
                             const void *x, const void *w, const struct lc_linear *p, struct lc_err *err);

#endif
