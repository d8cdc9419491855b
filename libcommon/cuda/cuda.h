/* cuda: C declarations of the CUDA launchers and runtime helpers. Included
 * only by backend.c, and only when LC_CUDA is defined. A launcher takes the
 * CPU function's arguments plus a stream (cudaStream_t passed as void *)
 * and returns 0 or a negative LC_E* code with err filled. */
#ifndef LC_CUDA_H
#define LC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "../bn.h"
#include "../conv2d.h"
#include "../pool.h"
#include "../err.h"
#include "../linear.h"
#include "../margin.h"
#include "../normalize.h"
#include "../optim.h"
#include "../tensorops.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_NCCL_ID_BYTES 128 /* sizeof(ncclUniqueId) */

/* A block's share of an update table (backend.h): elements [lo, hi) of
 * tensor t; the tables and their chunks live on the device. */
struct lc_update_chunk {
    int64_t lo, hi;
    int32_t t, pad;
};

/* The CUDA backend is a shared library, libsarface-cuda.so, that
 * backend.c loads with dlopen only when a CUDA device is asked for, so CPU
 * runs never load cuDNN/cuBLAS/NCCL. It exports one symbol, LC_CUDA_API_SYMBOL,
 * which fills this table when the caller's size matches its own (tools and
 * library are built together; a table from another version is refused). */
struct lc_cuda_api {
    unsigned size; /* sizeof(struct lc_cuda_api): the caller sets it, the library refuses another */
    /* runtime.cu */
    int (*device_count)(char *why, size_t size);
    int (*set_device)(int index, struct lc_err *err);
    int (*alloc)(void **p, size_t bytes, struct lc_err *err);
    void (*free)(void *p);
    int (*memcpy)(void *dst, const void *src, size_t bytes, int to_device, struct lc_err *err);
    int (*sync)(struct lc_err *err);
    void (*versions)(char *buf, size_t size); /* "runtime 13.0, cuBLAS 13.0.0" */
    /* cudnn.cu, nccl.cu */
    void (*cudnn_version)(char *buf, size_t size);
    void (*nccl_version)(char *buf, size_t size);
    /* normalize.cu */
    int (*normalize_u8_forward)(float *y, const uint8_t *x, const struct lc_normalize *p, void *stream,
                                struct lc_err *err);
    /* ops.cu */
    int (*prelu_forward)(float *y, const float *x, const float *a, int n, int c, int hw, void *stream,
                         struct lc_err *err);
    int (*prelu_backward)(float *dx, float *da, const float *dy, const float *x, const float *a, int n, int c, int hw,
                          void *stream, struct lc_err *err);
    int (*bn_forward_train)(float *y, float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                            const float *x, const float *gamma, const float *beta, const struct lc_bn *p, void *stream,
                            struct lc_err *err);
    int (*bn_forward_eval)(float *y, const float *x, const float *gamma, const float *beta, const float *run_mean,
                           const float *run_var, const struct lc_bn *p, void *stream, struct lc_err *err);
    int (*bn_backward)(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *save_mean,
                       const float *save_invstd, const float *gamma, const struct lc_bn *p, void *stream,
                       struct lc_err *err);
    int (*sgd_update)(float *p, float *buf, const float *g, size_t n, const struct lc_sgd_args *a, void *stream,
                      struct lc_err *err);
    /* linear.cu */
    int (*linear_forward)(float *y, const float *x, const float *w, const float *b, const struct lc_linear *p,
                          void *stream, struct lc_err *err);
    int (*linear_backward)(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const struct lc_linear *p, void *stream, struct lc_err *err);
    /* cudnn.cu */
    int (*conv2d_forward)(float *y, const float *x, const float *w, const float *b, const struct lc_conv2d *p,
                          void *stream, struct lc_err *err);
    int (*conv2d_backward)(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const struct lc_conv2d *p, void *stream, struct lc_err *err);
    /* ops.cu: tensor arithmetic */
    int (*add_forward)(float *y, const float *a, const float *b, size_t n, void *stream, struct lc_err *err);
    int (*subsample_add)(float *y, const float *x, int n, int c, int h, int w, int s, void *stream,
                         struct lc_err *err);
    int (*l2norm_rows)(float *y, float *norm, const float *x, int n, int d, void *stream, struct lc_err *err);
    /* training (runtime.cu, ops.cu, margin.cu) */
    int (*memset0)(void *p, size_t bytes, void *stream, struct lc_err *err);
    int (*subsample_backward)(float *dx, const float *dy, int n, int c, int h, int w, int s, void *stream,
                              struct lc_err *err);
    int (*l2norm_rows_backward)(float *dx, const float *dy, const float *dnorm, const float *y, const float *norm,
                                int n, int d, void *stream, struct lc_err *err);
    int (*dropout_apply)(float *y, const float *x, const uint8_t *mask, size_t n, float p, void *stream,
                         struct lc_err *err);
    int (*dropout_backward)(float *dx, const float *dy, const uint8_t *mask, size_t n, float p, void *stream,
                            struct lc_err *err);
    int (*margin_logits)(float *logits, float *cos, const float *scaler, const float *emb, const float *kernel,
                         const int64_t *labels, const struct lc_margin *p, float *ws, void *stream,
                         struct lc_err *err);
    int (*margin_backward)(float *demb, float *dkernel, const float *dlogits, const float *emb, const int64_t *labels,
                           const struct lc_margin *p, float *ws, void *stream, struct lc_err *err);
    int (*cross_entropy_rows)(float *prob, float *row_loss, const float *logits, const int64_t *labels, int n, int c,
                              float smoothing, void *stream, struct lc_err *err);
    int (*cross_entropy_backward)(float *dlogits, const float *prob, const int64_t *labels, int n, int c,
                                  float smoothing, float scale, void *stream, struct lc_err *err);
    int (*argmax_rows)(int32_t *idx, const float *x, int n, int c, void *stream, struct lc_err *err);
    int (*dropout_mask)(uint8_t *mask, size_t n, float p, uint64_t key, void *stream, struct lc_err *err);
    /* nccl.cu: data parallelism; init and the collectives return 1 while NCCL goes on in the background:
     * poll until 0 */
    int (*nccl_unique_id)(uint8_t id[LC_NCCL_ID_BYTES], struct lc_err *err);
    int (*nccl_comm_init)(void **comm, const uint8_t id[LC_NCCL_ID_BYTES], int rank, int world, struct lc_err *err);
    int (*nccl_poll)(void *comm, struct lc_err *err);
    void (*nccl_comm_free)(void *comm, int abort);
    int (*nccl_allreduce)(void *comm, float *buf, size_t n, int mean, void *stream, struct lc_err *err);
    int (*nccl_broadcast)(void *comm, float *buf, size_t n, int root, void *stream, struct lc_err *err);
    int (*scale)(float *y, const float *x, float s, size_t n, void *stream, struct lc_err *err);
    /* runtime.cu: streams and events */
    int (*stream_create)(void **s, struct lc_err *err);
    void (*stream_destroy)(void *s);
    int (*event_create)(void **e, struct lc_err *err);
    void (*event_destroy)(void *e);
    int (*event_record)(void *e, void *stream, struct lc_err *err);
    int (*stream_wait)(void *stream, void *e, struct lc_err *err);
    /* runtime.cu: page-locked host memory, asynchronous upload */
    int (*host_alloc)(void **p, size_t bytes, struct lc_err *err);
    void (*host_free)(void *p);
    int (*memcpy_async)(void *dst, const void *src, size_t bytes, void *stream, struct lc_err *err);
    /* mixed precision (mixed.h's contract): dt is LC_DTYPE_F16 or LC_DTYPE_BF16
     * (dtype.h; the float32 ops above serve LC_DTYPE_F32); ops.cu, cudnn.cu, linear.cu */
    int (*cast)(void *y, int ydt, const void *x, int xdt, size_t n, void *stream, struct lc_err *err);
    int (*cast_add)(float *y, const void *x, int xdt, size_t n, void *stream, struct lc_err *err);
    /* (n, c, hw) -> (n, hw, c) when to_channels_last, else the reverse */
    int (*cast_layout)(void *y, int ydt, const void *x, int xdt, int n, int c, int hw, int to_channels_last,
                       void *stream, struct lc_err *err);
    int (*unscale_check)(float *g, size_t n, float inv_scale, float *found_inf, void *stream, struct lc_err *err);
    int (*conv2d_forward_dt)(int dt, void *y, const void *x, const void *w, const struct lc_conv2d *p, void *stream,
                             struct lc_err *err);
    /* the _dt backward ops: set writes dx (dx = the gradient) instead of adding to it */
    int (*conv2d_backward_dt)(int dt, void *dx, float *dw, const void *dy, const void *x, const void *w,
                              const struct lc_conv2d *p, int set, void *stream, struct lc_err *err);
    int (*bn_forward_train_dt)(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                               const void *x, const float *gamma, const float *beta, const struct lc_bn *p,
                               void *stream, struct lc_err *err);
    int (*bn_backward_dt)(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                          const float *save_mean, const float *save_invstd, const float *gamma, const struct lc_bn *p,
                          int set, void *stream, struct lc_err *err);
    int (*prelu_forward_dt)(int dt, void *y, const void *x, const float *a, int n, int c, int hw, int channels_last, void *stream,
                            struct lc_err *err);
    int (*prelu_backward_dt)(int dt, void *dx, float *da, const void *dy, const void *x, const float *a, int n, int c,
                             int hw, int channels_last, int set, void *stream, struct lc_err *err);
    /* batch norm then PReLU, fused (backend.h) */
    int (*bn_prelu_forward_train_dt)(int dt, void *z, float *save_ab, const float *slope, float *save_mean,
                                     float *save_invstd, float *run_mean, float *run_var, const void *x,
                                     const float *gamma, const float *beta, const struct lc_bn *p, void *stream,
                                     struct lc_err *err);
    int (*bn_prelu_backward_dt)(int dt, void *dx, float *dgamma, float *dbeta, float *dslope, const void *dz,
                                const void *x, const float *save_ab, const float *save_mean, const float *save_invstd,
                                const float *gamma, const float *slope, const struct lc_bn *p, int set, void *stream,
                                struct lc_err *err);
    /* batch norm with the residual added, fused (backend.h) */
    int (*bn_add_forward_train_dt)(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean,
                                   float *run_var, const void *x, const float *gamma, const float *beta, const void *r,
                                   int rh, int rw, int s, const struct lc_bn *p, void *stream, struct lc_err *err);
    int (*bn_backward_shortcut_dt)(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                                   const float *save_mean, const float *save_invstd, const float *gamma,
                                   const void *dr, int h, int w, int s, const struct lc_bn *p, void *stream,
                                   struct lc_err *err);
    int (*add_dt)(int dt, void *y, const void *a, const void *b, size_t n, void *stream, struct lc_err *err);
    int (*subsample_add_dt)(int dt, void *y, const void *x, int n, int c, int h, int w, int s, int channels_last, void *stream,
                            struct lc_err *err);
    int (*subsample_backward_dt)(int dt, void *dx, const void *dy, int n, int c, int h, int w, int s, int channels_last,
                                 int set, void *stream, struct lc_err *err);
    int (*dropout_apply_dt)(int dt, void *y, const void *x, const uint8_t *mask, size_t n, float p, void *stream,
                            struct lc_err *err);
    int (*dropout_backward_dt)(int dt, void *dx, const void *dy, const uint8_t *mask, size_t n, float p, void *stream,
                               struct lc_err *err);
    int (*linear_forward_dt)(int dt, void *y, const void *x, const void *w, const float *b, const struct lc_linear *p,
                             void *stream, struct lc_err *err);
    int (*linear_backward_dt)(int dt, void *dx, float *dw, float *db, const void *dy, const void *x, const void *w,
                              const struct lc_linear *p, void *stream, struct lc_err *err);
    /* 16-bit inference (ops.cu; bias_prelu_dt also takes LC_DTYPE_F32) */
    int (*bias_prelu_dt)(int dt, void *y, const float *b, const float *a, int n, int c, int hw, int channels_last, void *stream,
                         struct lc_err *err);
    int (*bn_forward_eval_dt)(int dt, void *y, const void *x, const float *gamma, const float *beta,
                              const float *run_mean, const float *run_var, const struct lc_bn *p, void *stream,
                              struct lc_err *err);
    int (*bias_add_dt)(int dt, void *y, const float *b, const void *r, int n, int c, int rh, int rw, int s,
                       int channels_last, void *stream, struct lc_err *err);
    int (*bias_add_bn_eval_dt)(int dt, void *y, void *z, const float *b, const void *r, int rh, int rw, int s,
                               const float *gamma, const float *beta, const float *run_mean, const float *run_var,
                               const struct lc_bn *p, void *stream, struct lc_err *err);
    /* runtime.cu: the card, for the benchmarks' fraction of its peak */
    int (*device_props)(int index, char *name, size_t size, int *sms, int *clock_khz, int *cc, struct lc_err *err);
    /* the rest of the CPU library (backend.h): elem.cu, pool.cu, linear.cu (matmul), ops.cu (Adam) */
    int (*relu_forward)(float *y, const float *x, size_t n, void *stream, struct lc_err *err);
    int (*relu_backward)(float *dx, const float *dy, const float *y, size_t n, void *stream, struct lc_err *err);
    int (*gelu_forward)(float *y, const float *x, size_t n, void *stream, struct lc_err *err);
    int (*gelu_backward)(float *dx, const float *dy, const float *x, size_t n, void *stream, struct lc_err *err);
    int (*sigmoid_forward)(float *y, const float *x, size_t n, void *stream, struct lc_err *err);
    int (*sigmoid_backward)(float *dx, const float *dy, const float *y, size_t n, void *stream, struct lc_err *err);
    int (*mul_forward)(float *y, const float *a, const float *b, size_t n, void *stream, struct lc_err *err);
    int (*mul_backward)(float *da, float *db, const float *dy, const float *a, const float *b, size_t n,
                        void *stream, struct lc_err *err);
    int (*concat_forward)(float *y, const float *const *xs, const int *cs, int k, int n, int hw, void *stream,
                          struct lc_err *err);
    int (*concat_backward)(float *const *dxs, const float *dy, const int *cs, int k, int n, int hw, void *stream,
                           struct lc_err *err);
    int (*pixel_shuffle_forward)(float *y, const float *x, int n, int c, int h, int w, int r, void *stream,
                                 struct lc_err *err);
    int (*pixel_shuffle_backward)(float *dx, const float *dy, int n, int c, int h, int w, int r, void *stream,
                                  struct lc_err *err);
    int (*mul_bcast_forward)(float *y, const float *x, const float *s, int outer, int dim, int inner, int s_over,
                             void *stream, struct lc_err *err);
    int (*mul_bcast_backward)(float *dx, float *ds, const float *dy, const float *x, const float *s, int outer,
                              int dim, int inner, int s_over, void *stream, struct lc_err *err);
    int (*sum_dim_forward)(float *y, const float *x, int outer, int dim, int inner, void *stream, struct lc_err *err);
    int (*sum_dim_backward)(float *dx, const float *dy, int outer, int dim, int inner, void *stream,
                            struct lc_err *err);
    int (*l2norm_forward)(float *y, float *norm, const float *x, int outer, int dim, int inner, float eps,
                          void *stream, struct lc_err *err);
    int (*l2norm_backward)(float *dx, const float *dy, const float *y, const float *norm, int outer, int dim,
                           int inner, float eps, void *stream, struct lc_err *err);
    int (*softmax_forward)(float *y, const float *x, int outer, int dim, int inner, void *stream, struct lc_err *err);
    int (*softmax_backward)(float *dx, const float *dy, const float *y, int outer, int dim, int inner, void *stream,
                            struct lc_err *err);
    int (*log_softmax_forward)(float *y, const float *x, int outer, int dim, int inner, void *stream,
                               struct lc_err *err);
    int (*log_softmax_backward)(float *dx, const float *dy, const float *y, int outer, int dim, int inner,
                                void *stream, struct lc_err *err);
    int (*maxpool2d_forward)(float *y, int32_t *argmax, const float *x, const struct lc_pool2d *p, void *stream,
                             struct lc_err *err);
    int (*maxpool2d_backward)(float *dx, const float *dy, const int32_t *argmax, const struct lc_pool2d *p,
                              void *stream, struct lc_err *err);
    int (*avgpool2d_forward)(float *y, const float *x, const struct lc_pool2d *p, void *stream, struct lc_err *err);
    int (*avgpool2d_backward)(float *dx, const float *dy, const struct lc_pool2d *p, void *stream,
                              struct lc_err *err);
    int (*gap_forward)(float *y, const float *x, int n, int c, int hw, void *stream, struct lc_err *err);
    int (*gap_backward)(float *dx, const float *dy, int n, int c, int hw, void *stream, struct lc_err *err);
    int (*resize_bilinear_forward)(float *y, const float *x, int nc, int h, int w, int ho, int wo, void *stream,
                                   struct lc_err *err);
    int (*resize_bilinear_backward)(float *dx, const float *dy, int nc, int h, int w, int ho, int wo, void *stream,
                                    struct lc_err *err);
    int (*resize_nearest_forward)(float *y, const float *x, int nc, int h, int w, int ho, int wo, void *stream,
                                  struct lc_err *err);
    int (*resize_nearest_backward)(float *dx, const float *dy, int nc, int h, int w, int ho, int wo, void *stream,
                                   struct lc_err *err);
    int (*resize_nearest_u8)(uint8_t *y, const uint8_t *x, int nc, int h, int w, int ho, int wo, void *stream,
                             struct lc_err *err);
    int (*matmul_forward)(float *c, const float *a, const float *b, int batch, int m, int n, int k, int ta, int tb,
                          void *stream, struct lc_err *err);
    int (*matmul_backward)(float *da, float *db, const float *dc, const float *a, const float *b, int batch, int m,
                           int n, int k, int ta, int tb, void *stream, struct lc_err *err);
    int (*adam_update)(float *p, float *m, float *v, const float *g, size_t n, const struct lc_adam_args *a,
                       void *stream, struct lc_err *err);
    /* api.cu: free this host thread's handles, plans and scratch */
    void (*thread_release)(void);
    /* runtime.cu: timing events (lc_prof) */
    int (*timer_create)(void **e, struct lc_err *err);
    int (*event_elapsed)(float *ms, void *a, void *b, struct lc_err *err);
    /* runtime.cu, nccl.cu: the collectives' watchdog (comm.c) */
    int (*event_query)(void *e, int *done, struct lc_err *err);
    int (*nccl_device)(void *comm, int *index, struct lc_err *err);
    int (*nccl_finalize)(void *comm, struct lc_err *err);
    /* runtime.cu: CUDA graphs of the calling thread's ops */
    int (*graph_begin)(struct lc_err *err);
    int (*graph_end)(void **exec, int keep, struct lc_err *err);
    int (*graph_launch)(void *exec, struct lc_err *err);
    void (*graph_free)(void *exec);
    unsigned long (*scratch_epoch)(void);
    /* ops.cu: optimiser steps over an update table */
    int (*sgd_update_table)(const struct lc_update_tensor *ts, const struct lc_update_chunk *cs, size_t chunks,
                            const struct lc_sgd_args *a, void *stream, struct lc_err *err);
    int (*adam_update_table)(const struct lc_update_tensor *ts, const struct lc_update_chunk *cs, size_t chunks,
                             const struct lc_adam_args *a, void *stream, struct lc_err *err);
    /* runtime.cu: the current GPU's free and total memory (cudaMemGetInfo) */
    int (*mem_info)(size_t *free_bytes, size_t *total_bytes, struct lc_err *err);
};

#define LC_CUDA_API_SYMBOL "lc_cuda_api_get"
typedef int (*lc_cuda_api_get_fn)(struct lc_cuda_api *api);

/* Launchers and helpers, defined in the .cu files and gathered in api.cu. */
int lc_cuda_device_count(char *why, size_t size);
int lc_cuda_set_device(int index, struct lc_err *err);
int lc_cuda_alloc(void **p, size_t bytes, struct lc_err *err);
void lc_cuda_free(void *p);
int lc_cuda_mem_info(size_t *free_bytes, size_t *total_bytes, struct lc_err *err);
/* *buf holds at least bytes, ordered on stream (grow-only: what it held is
 * lost); for the per-thread scratch buffers of the op files */
int lc_cuda_grow(void **buf, size_t *size, size_t bytes, void *stream, const char *what, struct lc_err *err);
/* The calling thread's ops' stream: the legacy default stream, or while
 * the thread captures a graph (lc_cuda_graph_begin), the capture stream.
 * Every launcher passes its stream argument through it: NULL means the
 * ops' stream, anything else is that stream. */
void *lc_cuda_ops_stream(void *stream);
#ifdef __CUDACC__
#define LC_STREAM(s) ((cudaStream_t)lc_cuda_ops_stream(s))
#endif
/* Capture the ops the calling thread issues from begin to end into a graph
 * instead of running them (end with keep 0 discards it, after an op
 * failed), then launch it on the ops' stream as often as wanted. A scratch
 * buffer may not grow during a capture (lc_cuda_grow fails: warm up with
 * one uncaptured run first); each time one is reallocated or freed the
 * thread's scratch epoch changes, and graphs captured before then must not
 * be launched (they read the old buffers). */
int lc_cuda_graph_begin(struct lc_err *err);
int lc_cuda_graph_end(void **exec, int keep, struct lc_err *err);
int lc_cuda_graph_launch(void *exec, struct lc_err *err);
void lc_cuda_graph_free(void *exec);
unsigned long lc_cuda_scratch_epoch(void);
void lc_cuda_runtime_thread_release(void);
/* frees *buf as lc_cuda_grow would (stream-ordered, on the ops' stream); *buf, *size = 0 */
void lc_cuda_drop(void **buf, size_t *size);
/* The per-host-thread state of each unit (handles, plans, scratch): freed
 * by lc_cuda_thread_release (api.cu), which a thread that ran ops on a GPU
 * calls before it ends (made again on the next use). */
void lc_cudnn_thread_release(void);
void lc_linear_thread_release(void);
void lc_ops_thread_release(void);
void lc_cuda_thread_release(void);
int lc_cuda_timer_create(void **ev, struct lc_err *err);
int lc_cuda_event_elapsed(float *ms, void *a, void *b, struct lc_err *err);
int lc_cuda_event_query(void *ev, int *done, struct lc_err *err);
int lc_nccl_device_cuda(void *comm, int *index, struct lc_err *err);
int lc_nccl_finalize_cuda(void *comm, struct lc_err *err);
int lc_cuda_memcpy(void *dst, const void *src, size_t bytes, int to_device, struct lc_err *err);
int lc_cuda_sync(struct lc_err *err);
void lc_cuda_versions(char *buf, size_t size);
/* linear.cu: this host thread's cuBLAS handle (a cublasHandle_t, made on
 * first use, TF32 off) bound to stream, shared by the units that call cuBLAS. */
int lc_cuda_blas_handle(void **h, void *stream, struct lc_err *err);
void lc_cudnn_version(char *buf, size_t size);
void lc_nccl_version(char *buf, size_t size);
int lc_normalize_u8_forward_cuda(float *y, const uint8_t *x, const struct lc_normalize *p, void *stream,
                                 struct lc_err *err);
int lc_prelu_forward_cuda(float *y, const float *x, const float *a, int n, int c, int hw, void *stream,
                          struct lc_err *err);
int lc_prelu_backward_cuda(float *dx, float *da, const float *dy, const float *x, const float *a, int n, int c, int hw,
                           void *stream, struct lc_err *err);
int lc_bn_forward_train_cuda(float *y, float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                             const float *x, const float *gamma, const float *beta, const struct lc_bn *p,
                             void *stream, struct lc_err *err);
int lc_bn_forward_eval_cuda(float *y, const float *x, const float *gamma, const float *beta, const float *run_mean,
                            const float *run_var, const struct lc_bn *p, void *stream, struct lc_err *err);
int lc_bn_backward_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *save_mean, const float *save_invstd, const float *gamma, const struct lc_bn *p,
                        void *stream, struct lc_err *err);
int lc_sgd_update_table_cuda(const struct lc_update_tensor *ts, const struct lc_update_chunk *cs, size_t chunks,
                             const struct lc_sgd_args *a, void *stream, struct lc_err *err);
int lc_adam_update_table_cuda(const struct lc_update_tensor *ts, const struct lc_update_chunk *cs, size_t chunks,
                              const struct lc_adam_args *a, void *stream, struct lc_err *err);
int lc_sgd_update_cuda(float *p, float *buf, const float *g, size_t n, const struct lc_sgd_args *a, void *stream,
                       struct lc_err *err);
int lc_linear_forward_cuda(float *y, const float *x, const float *w, const float *b, const struct lc_linear *p,
                           void *stream, struct lc_err *err);
int lc_linear_backward_cuda(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            const struct lc_linear *p, void *stream, struct lc_err *err);
int lc_conv2d_forward_cuda(float *y, const float *x, const float *w, const float *b, const struct lc_conv2d *p,
                           void *stream, struct lc_err *err);
int lc_conv2d_backward_cuda(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            const struct lc_conv2d *p, void *stream, struct lc_err *err);
int lc_add_forward_cuda(float *y, const float *a, const float *b, size_t n, void *stream, struct lc_err *err);
int lc_subsample_add_cuda(float *y, const float *x, int n, int c, int h, int w, int s, void *stream,
                          struct lc_err *err);
int lc_l2norm_rows_cuda(float *y, float *norm, const float *x, int n, int d, void *stream, struct lc_err *err);
int lc_cuda_memset0(void *p, size_t bytes, void *stream, struct lc_err *err);
int lc_subsample_backward_cuda(float *dx, const float *dy, int n, int c, int h, int w, int s, void *stream,
                               struct lc_err *err);
int lc_l2norm_rows_backward_cuda(float *dx, const float *dy, const float *dnorm, const float *y, const float *norm,
                                 int n, int d, void *stream, struct lc_err *err);
int lc_dropout_apply_cuda(float *y, const float *x, const uint8_t *mask, size_t n, float p, void *stream,
                          struct lc_err *err);
int lc_dropout_backward_cuda(float *dx, const float *dy, const uint8_t *mask, size_t n, float p, void *stream,
                             struct lc_err *err);
int lc_margin_logits_cuda(float *logits, float *cos, const float *scaler, const float *emb, const float *kernel,
                          const int64_t *labels, const struct lc_margin *p, float *ws, void *stream,
                          struct lc_err *err);
int lc_margin_backward_cuda(float *demb, float *dkernel, const float *dlogits, const float *emb,
                            const int64_t *labels, const struct lc_margin *p, float *ws, void *stream,
                            struct lc_err *err);
int lc_cross_entropy_rows_cuda(float *prob, float *row_loss, const float *logits, const int64_t *labels, int n, int c,
                               float smoothing, void *stream, struct lc_err *err);
int lc_cross_entropy_backward_cuda(float *dlogits, const float *prob, const int64_t *labels, int n, int c,
                                   float smoothing, float scale, void *stream, struct lc_err *err);
int lc_argmax_rows_cuda(int32_t *idx, const float *x, int n, int c, void *stream, struct lc_err *err);
int lc_dropout_mask_cuda(uint8_t *mask, size_t n, float p, uint64_t key, void *stream, struct lc_err *err);
int lc_nccl_unique_id_cuda(uint8_t id[LC_NCCL_ID_BYTES], struct lc_err *err);
int lc_nccl_comm_init_cuda(void **comm, const uint8_t id[LC_NCCL_ID_BYTES], int rank, int world, struct lc_err *err);
int lc_nccl_poll_cuda(void *comm, struct lc_err *err);
void lc_nccl_comm_free_cuda(void *comm, int abort);
int lc_nccl_allreduce_cuda(void *comm, float *buf, size_t n, int mean, void *stream, struct lc_err *err);
int lc_nccl_broadcast_cuda(void *comm, float *buf, size_t n, int root, void *stream, struct lc_err *err);
int lc_cuda_host_alloc(void **p, size_t bytes, struct lc_err *err);
void lc_cuda_host_free(void *p);
int lc_cuda_memcpy_async(void *dst, const void *src, size_t bytes, void *stream, struct lc_err *err);
int lc_cuda_stream_create(void **s, struct lc_err *err);
void lc_cuda_stream_destroy(void *s);
int lc_cuda_event_create(void **e, struct lc_err *err);
void lc_cuda_event_destroy(void *e);
int lc_cuda_event_record(void *e, void *stream, struct lc_err *err);
int lc_cuda_stream_wait(void *stream, void *e, struct lc_err *err);
int lc_scale_cuda(float *y, const float *x, float s, size_t n, void *stream, struct lc_err *err);
/* mixed precision (mixed.h): ops.cu (lc_cast_add_cuda also serves cudnn.cu
 * and linear.cu), cudnn.cu, linear.cu */
int lc_cast_cuda(void *y, int ydt, const void *x, int xdt, size_t n, void *stream, struct lc_err *err);
int lc_cast_add_cuda(float *y, const void *x, int xdt, size_t n, void *stream, struct lc_err *err);
int lc_cast_layout_cuda(void *y, int ydt, const void *x, int xdt, int n, int c, int hw, int to_channels_last,
                        void *stream, struct lc_err *err);
/* y (n, c, hw) += x (n, hw, c): a channels-last weight gradient into the float32 one */
int lc_cast_add_from_channels_last_cuda(float *y, const void *x, int xdt, int n, int c, int hw, void *stream,
                                        struct lc_err *err);
int lc_unscale_check_cuda(float *g, size_t n, float inv_scale, float *found_inf, void *stream, struct lc_err *err);
int lc_conv2d_forward_dt_cuda(int dt, void *y, const void *x, const void *w, const struct lc_conv2d *p, void *stream,
                              struct lc_err *err);
int lc_conv2d_backward_dt_cuda(int dt, void *dx, float *dw, const void *dy, const void *x, const void *w,
                               const struct lc_conv2d *p, int set, void *stream, struct lc_err *err);
int lc_bn_forward_train_dt_cuda(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean,
                                float *run_var, const void *x, const float *gamma, const float *beta,
                                const struct lc_bn *p, void *stream, struct lc_err *err);
int lc_bn_backward_dt_cuda(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                           const float *save_mean, const float *save_invstd, const float *gamma, const struct lc_bn *p,
                           int set, void *stream, struct lc_err *err);
int lc_bn_prelu_forward_train_dt_cuda(int dt, void *z, float *save_ab, const float *slope, float *save_mean,
                                      float *save_invstd, float *run_mean, float *run_var, const void *x,
                                      const float *gamma, const float *beta, const struct lc_bn *p, void *stream,
                                      struct lc_err *err);
int lc_bn_prelu_backward_dt_cuda(int dt, void *dx, float *dgamma, float *dbeta, float *dslope, const void *dz,
                                 const void *x, const float *save_ab, const float *save_mean, const float *save_invstd,
                                 const float *gamma, const float *slope, const struct lc_bn *p, int set, void *stream,
                                 struct lc_err *err);
int lc_prelu_forward_dt_cuda(int dt, void *y, const void *x, const float *a, int n, int c, int hw, int channels_last, void *stream,
                             struct lc_err *err);
int lc_prelu_backward_dt_cuda(int dt, void *dx, float *da, const void *dy, const void *x, const float *a, int n, int c,
                              int hw, int channels_last, int set, void *stream, struct lc_err *err);
int lc_add_dt_cuda(int dt, void *y, const void *a, const void *b, size_t n, void *stream, struct lc_err *err);
int lc_bn_add_forward_train_dt_cuda(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean,
                                    float *run_var, const void *x, const float *gamma, const float *beta,
                                    const void *r, int rh, int rw, int s, const struct lc_bn *p, void *stream,
                                    struct lc_err *err);
int lc_bn_backward_shortcut_dt_cuda(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                                    const float *save_mean, const float *save_invstd, const float *gamma,
                                    const void *dr, int h, int w, int s, const struct lc_bn *p, void *stream,
                                    struct lc_err *err);
int lc_subsample_add_dt_cuda(int dt, void *y, const void *x, int n, int c, int h, int w, int s, int channels_last, void *stream,
                             struct lc_err *err);
int lc_subsample_backward_dt_cuda(int dt, void *dx, const void *dy, int n, int c, int h, int w, int s, int channels_last,
                                  int set, void *stream, struct lc_err *err);
int lc_dropout_apply_dt_cuda(int dt, void *y, const void *x, const uint8_t *mask, size_t n, float p, void *stream,
                             struct lc_err *err);
int lc_dropout_backward_dt_cuda(int dt, void *dx, const void *dy, const uint8_t *mask, size_t n, float p,
                                void *stream, struct lc_err *err);
int lc_linear_forward_dt_cuda(int dt, void *y, const void *x, const void *w, const float *b,
                              const struct lc_linear *p, void *stream, struct lc_err *err);
int lc_linear_backward_dt_cuda(int dt, void *dx, float *dw, float *db, const void *dy, const void *x, const void *w,
                               const struct lc_linear *p, void *stream, struct lc_err *err);
/* runtime.cu; ops.cu: mixed.h's lc_mixed_bias_prelu and lc_mixed_bn_forward_eval */
int lc_cuda_device_props(int index, char *name, size_t size, int *sms, int *clock_khz, int *cc, struct lc_err *err);
int lc_bias_prelu_dt_cuda(int dt, void *y, const float *b, const float *a, int n, int c, int hw, int channels_last, void *stream,
                          struct lc_err *err);
int lc_bn_forward_eval_dt_cuda(int dt, void *y, const void *x, const float *gamma, const float *beta,
                               const float *run_mean, const float *run_var, const struct lc_bn *p, void *stream,
                               struct lc_err *err);
int lc_bias_add_dt_cuda(int dt, void *y, const float *b, const void *r, int n, int c, int rh, int rw, int s,
                        int channels_last, void *stream, struct lc_err *err);
int lc_bias_add_bn_eval_dt_cuda(int dt, void *y, void *z, const float *b, const void *r, int rh, int rw, int s,
                                const float *gamma, const float *beta, const float *run_mean, const float *run_var,
                                const struct lc_bn *p, void *stream, struct lc_err *err);
/* elem.cu, pool.cu, linear.cu (matmul), ops.cu (Adam): the rest of the CPU library */
int lc_relu_forward_cuda(float *y, const float *x, size_t n, void *stream, struct lc_err *err);
int lc_relu_backward_cuda(float *dx, const float *dy, const float *y, size_t n, void *stream, struct lc_err *err);
int lc_gelu_forward_cuda(float *y, const float *x, size_t n, void *stream, struct lc_err *err);
int lc_gelu_backward_cuda(float *dx, const float *dy, const float *x, size_t n, void *stream, struct lc_err *err);
int lc_sigmoid_forward_cuda(float *y, const float *x, size_t n, void *stream, struct lc_err *err);
int lc_sigmoid_backward_cuda(float *dx, const float *dy, const float *y, size_t n, void *stream, struct lc_err *err);
int lc_mul_forward_cuda(float *y, const float *a, const float *b, size_t n, void *stream, struct lc_err *err);
int lc_mul_backward_cuda(float *da, float *db, const float *dy, const float *a, const float *b, size_t n,
                         void *stream, struct lc_err *err);
int lc_concat_forward_cuda(float *y, const float *const *xs, const int *cs, int k, int n, int hw, void *stream,
                           struct lc_err *err);
int lc_concat_backward_cuda(float *const *dxs, const float *dy, const int *cs, int k, int n, int hw, void *stream,
                            struct lc_err *err);
int lc_pixel_shuffle_forward_cuda(float *y, const float *x, int n, int c, int h, int w, int r, void *stream,
                                  struct lc_err *err);
int lc_pixel_shuffle_backward_cuda(float *dx, const float *dy, int n, int c, int h, int w, int r, void *stream,
                                   struct lc_err *err);
int lc_mul_bcast_forward_cuda(float *y, const float *x, const float *s, int outer, int dim, int inner, int s_over,
                              void *stream, struct lc_err *err);
int lc_mul_bcast_backward_cuda(float *dx, float *ds, const float *dy, const float *x, const float *s, int outer,
                               int dim, int inner, int s_over, void *stream, struct lc_err *err);
int lc_sum_dim_forward_cuda(float *y, const float *x, int outer, int dim, int inner, void *stream,
                            struct lc_err *err);
int lc_sum_dim_backward_cuda(float *dx, const float *dy, int outer, int dim, int inner, void *stream,
                             struct lc_err *err);
int lc_l2norm_forward_cuda(float *y, float *norm, const float *x, int outer, int dim, int inner, float eps,
                           void *stream, struct lc_err *err);
int lc_l2norm_backward_cuda(float *dx, const float *dy, const float *y, const float *norm, int outer, int dim,
                            int inner, float eps, void *stream, struct lc_err *err);
int lc_softmax_forward_cuda(float *y, const float *x, int outer, int dim, int inner, void *stream,
                            struct lc_err *err);
int lc_softmax_backward_cuda(float *dx, const float *dy, const float *y, int outer, int dim, int inner, void *stream,
                             struct lc_err *err);
int lc_log_softmax_forward_cuda(float *y, const float *x, int outer, int dim, int inner, void *stream,
                                struct lc_err *err);
int lc_log_softmax_backward_cuda(float *dx, const float *dy, const float *y, int outer, int dim, int inner,
                                 void *stream, struct lc_err *err);
int lc_maxpool2d_forward_cuda(float *y, int32_t *argmax, const float *x, const struct lc_pool2d *p, void *stream,
                              struct lc_err *err);
int lc_maxpool2d_backward_cuda(float *dx, const float *dy, const int32_t *argmax, const struct lc_pool2d *p,
                               void *stream, struct lc_err *err);
int lc_avgpool2d_forward_cuda(float *y, const float *x, const struct lc_pool2d *p, void *stream, struct lc_err *err);
int lc_avgpool2d_backward_cuda(float *dx, const float *dy, const struct lc_pool2d *p, void *stream,
                               struct lc_err *err);
int lc_gap_forward_cuda(float *y, const float *x, int n, int c, int hw, void *stream, struct lc_err *err);
int lc_gap_backward_cuda(float *dx, const float *dy, int n, int c, int hw, void *stream, struct lc_err *err);
int lc_resize_bilinear_forward_cuda(float *y, const float *x, int nc, int h, int w, int ho, int wo, void *stream,
                                    struct lc_err *err);
int lc_resize_bilinear_backward_cuda(float *dx, const float *dy, int nc, int h, int w, int ho, int wo, void *stream,
                                     struct lc_err *err);
int lc_resize_nearest_forward_cuda(float *y, const float *x, int nc, int h, int w, int ho, int wo, void *stream,
                                   struct lc_err *err);
int lc_resize_nearest_backward_cuda(float *dx, const float *dy, int nc, int h, int w, int ho, int wo, void *stream,
                                    struct lc_err *err);
int lc_resize_nearest_u8_cuda(uint8_t *y, const uint8_t *x, int nc, int h, int w, int ho, int wo, void *stream,
                              struct lc_err *err);
int lc_matmul_forward_cuda(float *c, const float *a, const float *b, int batch, int m, int n, int k, int ta, int tb,
                           void *stream, struct lc_err *err);
int lc_matmul_backward_cuda(float *da, float *db, const float *dc, const float *a, const float *b, int batch, int m,
                            int n, int k, int ta, int tb, void *stream, struct lc_err *err);
int lc_adam_update_cuda(float *p, float *m, float *v, const float *g, size_t n, const struct lc_adam_args *a,
                        void *stream, struct lc_err *err);

#ifdef __cplusplus
}
#endif
#endif
