/* backend: device parsing, availability, memory, and the op dispatch table.
 * The only file that tests LC_CUDA: a CPU-only build compiles the same
 * public API and reports CUDA as "not built". With CUDA, the GPU code lives
 * in libsarface-cuda.so, loaded on first use: CPU runs never pay for
 * loading cuDNN and cuBLAS. Calls that need a device run after
 * lc_device_open succeeded, which guarantees the library is loaded. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "dtype.h"
#include "matmul.h"
#include "mixed.h"
#include "opt.h"
#include "prof.h"
#include "resize.h"

#include "cuda/cuda.h" /* plain C: the table of the CUDA library's entry points */

#ifdef LC_CUDA
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>

/* Where make put the library; a tool also looks in ../lib beside itself. */
#ifndef LC_CUDA_LIB_DEFAULT
#define LC_CUDA_LIB_DEFAULT "libsarface-cuda.so"
#endif

static struct lc_cuda_api cuda;
static char cuda_why[512];
static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;

static void *try_open(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h && !cuda_why[0]) snprintf(cuda_why, sizeof cuda_why, "cannot load the CUDA backend: %s", dlerror());
    return h;
}

static void cuda_load(void)
{
    void *h = NULL;
    const char *env = getenv("LC_CUDA_LIB");
    if (env) h = try_open(env);
    if (!h) {
        char exe[PATH_MAX], path[PATH_MAX + 64];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            char *slash = strrchr(exe, '/');
            if (slash) *slash = '\0';
            snprintf(path, sizeof path, "%s/../lib/libsarface-cuda.so", exe);
            if (access(path, F_OK) == 0) h = try_open(path);
        }
    }
    if (!h) h = try_open(LC_CUDA_LIB_DEFAULT);
    if (!h) return;
    lc_cuda_api_get_fn get = (lc_cuda_api_get_fn)dlsym(h, LC_CUDA_API_SYMBOL);
    cuda.size = sizeof cuda;
    if (!get || get(&cuda) || cuda.size != sizeof cuda) {
        snprintf(cuda_why, sizeof cuda_why, "the CUDA backend library is from another version of the toolkit");
        memset(&cuda, 0, sizeof cuda);
        return;
    }
    cuda_why[0] = '\0';
}

/* The loaded table, or NULL (cuda_why says why). */
static const struct lc_cuda_api *cuda_api(void)
{
    pthread_once(&cuda_once, cuda_load);
    return cuda.size ? &cuda : NULL;
}

/* The table, or NULL with err saying why the backend cannot be loaded. */
static const struct lc_cuda_api *cuda_or_err(struct lc_err *err)
{
    const struct lc_cuda_api *api = cuda_api();
    if (!api) lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "%s", cuda_why);
    return api;
}
#endif

int lc_device_parse(struct lc_device *d, const char *s, struct lc_err *err)
{
    if (strcmp(s, "cpu") == 0) {
        *d = (struct lc_device){LC_DEVICE_CPU, 0};
        return 0;
    }
    if (strcmp(s, "cuda") == 0) {
        *d = (struct lc_device){LC_DEVICE_CUDA, 0};
        return 0;
    }
    if (strncmp(s, "cuda:", 5) == 0) {
        int64_t i;
        if (lc_parse_i64(s + 5, 0, 1023, &i, NULL) == 0) {
            *d = (struct lc_device){LC_DEVICE_CUDA, (int)i};
            return 0;
        }
    }
    return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "unknown device '%s' (expected cpu, cuda or cuda:N)", s);
}

char *lc_device_format(const struct lc_device *d, char *buf, size_t size)
{
    if (d->type == LC_DEVICE_CPU) snprintf(buf, size, "cpu");
    else snprintf(buf, size, "cuda:%d", d->index);
    return buf;
}

int lc_backend_cuda_built(void)
{
#ifdef LC_CUDA
    return 1;
#else
    return 0;
#endif
}

int lc_backend_cuda_devices(char *why, size_t size)
{
#ifdef LC_CUDA
    const struct lc_cuda_api *api = cuda_api();
    if (!api) {
        if (why) snprintf(why, size, "%s", cuda_why);
        return 0;
    }
    return api->device_count(why, size);
#else
    if (why) snprintf(why, size, "this build has no CUDA support (rebuild with nvcc on PATH and CUDA=auto)");
    return 0;
#endif
}

int lc_device_open(const struct lc_device *d, struct lc_err *err)
{
    if (d->type == LC_DEVICE_CPU) return 0;
    char why[256] = "";
    int n = lc_backend_cuda_devices(why, sizeof why);
    if (n == 0) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "cuda:%d is not available: %s", d->index, why);
    if (d->index >= n)
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "cuda:%d does not exist (%d device%s)", d->index, n,
                       n == 1 ? "" : "s");
#ifdef LC_CUDA
    return cuda.set_device(d->index, err); /* loaded: a device was counted */
#else
    return 0;
#endif
}

char *lc_backend_describe(char *buf, size_t size)
{
#ifdef LC_CUDA
    const struct lc_cuda_api *api = cuda_api();
    if (!api) {
        snprintf(buf, size, "backends: cpu; cuda built but unavailable (%s)", cuda_why);
        return buf;
    }
    char v[128], dnn[64], nccl[64], why[256] = "";
    api->versions(v, sizeof v);
    api->cudnn_version(dnn, sizeof dnn);
    api->nccl_version(nccl, sizeof nccl);
    int n = api->device_count(why, sizeof why);
    char devs[300];
    if (n) snprintf(devs, sizeof devs, "%d device%s", n, n == 1 ? "" : "s");
    else snprintf(devs, sizeof devs, "no usable device: %s", why);
    snprintf(buf, size, "backends: cpu, cuda (%s, %s, %s; %s)", v, dnn, nccl, devs);
#else
    snprintf(buf, size, "backends: cpu (CUDA not built)");
#endif
    return buf;
}

int lc_device_alloc(const struct lc_device *d, void **p, size_t bytes, struct lc_err *err)
{
    *p = NULL;
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        const struct lc_cuda_api *api = cuda_or_err(err);
        return api ? api->alloc(p, bytes, err) : LC_EUNSUPPORTED;
    }
#endif
    if (d->type != LC_DEVICE_CPU) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA not built");
    if (posix_memalign(p, 64, bytes ? bytes : 64) != 0)
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory (%zu bytes)", bytes);
    return 0;
}

void lc_device_free(const struct lc_device *d, void *p)
{
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        if (cuda_api()) cuda.free(p);
        return;
    }
#endif
    (void)d;
    free(p);
}

int lc_device_memory(const struct lc_device *d, size_t *free_bytes, size_t *total_bytes, struct lc_err *err)
{
    *free_bytes = *total_bytes = 0;
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        const struct lc_cuda_api *api = cuda_or_err(err);
        return api ? api->mem_info(free_bytes, total_bytes, err) : LC_EUNSUPPORTED;
    }
#endif
    return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "%s has no device memory to query",
                   d->type == LC_DEVICE_CPU ? "the CPU" : "this device");
}

static int copy(const struct lc_device *d, void *dst, const void *src, size_t n, int up,
                struct lc_err *err)
{
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        const struct lc_cuda_api *api = cuda_or_err(err);
        return api ? api->memcpy(dst, src, n, up, err) : LC_EUNSUPPORTED;
    }
#else
    (void)up;
#endif
    if (d->type != LC_DEVICE_CPU) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA not built");
    memcpy(dst, src, n);
    return 0;
}

int lc_device_upload(const struct lc_device *d, void *dst, const void *src, size_t bytes,
                     struct lc_err *err)
{
    return copy(d, dst, src, bytes, 1, err);
}

int lc_device_download(const struct lc_device *d, void *dst, const void *src, size_t bytes,
                       struct lc_err *err)
{
    return copy(d, dst, src, bytes, 0, err);
}

void lc_device_thread_release(const struct lc_device *d)
{
#ifdef LC_CUDA
    const struct lc_cuda_api *api = d->type == LC_DEVICE_CUDA ? cuda_api() : NULL;
    if (api) api->thread_release();
#endif
    (void)d;
}

int lc_device_sync(const struct lc_device *d, struct lc_err *err)
{
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        const struct lc_cuda_api *api = cuda_or_err(err);
        return api ? api->sync(err) : LC_EUNSUPPORTED;
    }
#endif
    (void)d;
    (void)err;
    return 0;
}

int lc_host_alloc(const struct lc_device *d, void **p, size_t bytes, struct lc_err *err)
{
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        const struct lc_cuda_api *api = cuda_or_err(err);
        return api ? api->host_alloc(p, bytes, err) : LC_EUNSUPPORTED;
    }
#endif
    if (d->type != LC_DEVICE_CPU) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA not built");
    if (posix_memalign(p, 64, bytes ? bytes : 64) != 0)
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory (%zu bytes)", bytes);
    return 0;
}

void lc_host_free(const struct lc_device *d, void *p)
{
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        if (p && cuda_api()) cuda.host_free(p);
        return;
    }
#endif
    (void)d;
    free(p);
}

/* the asynchronous copy and the zeroing run on the ops' stream: lc_prof
 * times them as ops */
int lc_device_upload_async(const struct lc_device *d, void *dst, const void *src, size_t bytes, struct lc_err *err)
{
    int prof = lc_prof_begin(__func__, d->type == LC_DEVICE_CUDA), rc;
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        const struct lc_cuda_api *api = cuda_or_err(err);
        rc = api ? api->memcpy_async(dst, src, bytes, NULL, err) : LC_EUNSUPPORTED;
    } else
#endif
        rc = copy(d, dst, src, bytes, 1, err);
    lc_prof_end(prof);
    return rc;
}

int lc_device_zero(const struct lc_device *d, void *p, size_t bytes, struct lc_err *err)
{
    int prof = lc_prof_begin(__func__, d->type == LC_DEVICE_CUDA), rc = 0;
    if (d->type == LC_DEVICE_CPU) {
        memset(p, 0, bytes);
    } else {
#ifdef LC_CUDA
        const struct lc_cuda_api *api = d->type == LC_DEVICE_CUDA ? cuda_or_err(err) : NULL;
        if (d->type != LC_DEVICE_CUDA) rc = lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "unknown device");
        else rc = api ? api->memset0(p, bytes, NULL, err) : LC_EUNSUPPORTED;
#else
        rc = lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA not built");
#endif
    }
    lc_prof_end(prof);
    return rc;
}

/* ---- NCCL ---- */

#ifdef LC_CUDA
#define NCCL_CALL(call)                                                                                            \
    do {                                                                                                           \
        const struct lc_cuda_api *api = cuda_or_err(err);                                                          \
        return api ? (call) : LC_EUNSUPPORTED;                                                                     \
    } while (0)
#else /* the call is compiled (its arguments used) but never made */
#define NCCL_CALL(call)                                                                                            \
    do {                                                                                                           \
        const struct lc_cuda_api *api = NULL;                                                                      \
        if (api) return (call);                                                                                    \
        return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "this needs a CUDA build");                             \
    } while (0)
#endif

int lc_nccl_id(uint8_t id[LC_NCCL_ID_SIZE], struct lc_err *err) { NCCL_CALL(api->nccl_unique_id(id, err)); }

int lc_nccl_init(void **comm, const uint8_t id[LC_NCCL_ID_SIZE], int rank, int world, struct lc_err *err)
{
    NCCL_CALL(api->nccl_comm_init(comm, id, rank, world, err));
}

int lc_nccl_poll(void *comm, struct lc_err *err) { NCCL_CALL(api->nccl_poll(comm, err)); }

void lc_nccl_free(void *comm, int abort)
{
#ifdef LC_CUDA
    if (comm && cuda_api()) cuda.nccl_comm_free(comm, abort);
#else
    (void)comm, (void)abort;
#endif
}

int lc_nccl_allreduce(void *comm, float *buf, size_t n, int mean, void *stream, struct lc_err *err)
{
    NCCL_CALL(api->nccl_allreduce(comm, buf, n, mean, stream, err));
}

int lc_nccl_broadcast(void *comm, float *buf, size_t n, int root, struct lc_err *err)
{
    NCCL_CALL(api->nccl_broadcast(comm, buf, n, root, NULL, err));
}

int lc_gpu_stream_new(void **stream, struct lc_err *err) { NCCL_CALL(api->stream_create(stream, err)); }
int lc_gpu_event_new(void **event, struct lc_err *err) { NCCL_CALL(api->event_create(event, err)); }
int lc_gpu_timer_new(void **event, struct lc_err *err) { NCCL_CALL(api->timer_create(event, err)); }
int lc_gpu_event_elapsed(float *ms, void *a, void *b, struct lc_err *err) { NCCL_CALL(api->event_elapsed(ms, a, b, err)); }
int lc_gpu_event_record(void *event, void *stream, struct lc_err *err) { NCCL_CALL(api->event_record(event, stream, err)); }
int lc_gpu_stream_wait(void *stream, void *event, struct lc_err *err) { NCCL_CALL(api->stream_wait(stream, event, err)); }
int lc_gpu_event_done(void *event, int *done, struct lc_err *err) { NCCL_CALL(api->event_query(event, done, err)); }
int lc_nccl_device(void *comm, int *index, struct lc_err *err) { NCCL_CALL(api->nccl_device(comm, index, err)); }
int lc_nccl_finalize(void *comm, struct lc_err *err) { NCCL_CALL(api->nccl_finalize(comm, err)); }

void lc_gpu_stream_free(void *stream)
{
#ifdef LC_CUDA
    if (stream && cuda_api()) cuda.stream_destroy(stream);
#else
    (void)stream;
#endif
}

void lc_gpu_event_free(void *event)
{
#ifdef LC_CUDA
    if (event && cuda_api()) cuda.event_destroy(event);
#else
    (void)event;
#endif
}

/* ---- CUDA graphs ---- */

#define GRAPH_CALL(d, call)                                                                                        \
    do {                                                                                                           \
        if ((d)->type != LC_DEVICE_CUDA) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA graphs need a GPU"); \
        NCCL_CALL(call);                                                                                           \
    } while (0)

int lc_gpu_capture_begin(const struct lc_device *d, struct lc_err *err)
{
    if (lc_prof_active())
        return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "the op profiler cannot time ops inside a CUDA graph");
    GRAPH_CALL(d, api->graph_begin(err));
}

int lc_gpu_capture_end(const struct lc_device *d, void **graph, int keep, struct lc_err *err)
{
    *graph = NULL;
    GRAPH_CALL(d, api->graph_end(graph, keep, err));
}

int lc_gpu_graph_launch(const struct lc_device *d, void *graph, struct lc_err *err)
{
    GRAPH_CALL(d, api->graph_launch(graph, err));
}

void lc_gpu_graph_free(const struct lc_device *d, void *graph)
{
#ifdef LC_CUDA
    if (graph && d->type == LC_DEVICE_CUDA && cuda_api()) cuda.graph_free(graph);
#else
    (void)d, (void)graph;
#endif
}

unsigned long lc_gpu_scratch_epoch(const struct lc_device *d)
{
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA && cuda_api()) return cuda.scratch_epoch();
#else
    (void)d;
#endif
    return 0;
}

/* ---- op dispatch ---- */

int lc_op_normalize_u8(const struct lc_device *d, float *y, const uint8_t *x,
                       const struct lc_normalize *p, struct lc_err *err)
{
    if (p->c < 1 || p->c > LC_NORMALIZE_MAX_C || p->n < 0 || p->h < 0 || p->w < 0)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "normalize: bad shape");
#ifdef LC_CUDA
    if (d->type == LC_DEVICE_CUDA) {
        const struct lc_cuda_api *api = cuda_or_err(err);
        return api ? api->normalize_u8_forward(y, x, p, NULL, err) : LC_EUNSUPPORTED;
    }
#endif
    if (d->type != LC_DEVICE_CPU) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA not built");
    lc_normalize_u8_forward(y, x, p);
    return 0;
}

/* The CUDA twin's call (an expression using api) on a GPU, else the CPU
 * statement; every op below has this shape. Timed under the op's name
 * while lc_prof is on (an early return from the CPU statement, an error,
 * goes untimed). */
#ifdef LC_CUDA
#define DISPATCH(d, err, gpu_call, cpu_stmt)                                                                       \
    do {                                                                                                           \
        if ((d)->type == LC_DEVICE_CUDA) {                                                                         \
            const struct lc_cuda_api *api = cuda_or_err(err);                                                      \
            if (!api) return LC_EUNSUPPORTED;                                                                      \
            int prof_ = lc_prof_begin(__func__, 1), rc_call_ = (gpu_call);                                        \
            lc_prof_end(prof_);                                                                                    \
            return rc_call_;                                                                                       \
        }                                                                                                          \
        if ((d)->type != LC_DEVICE_CPU) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "unknown device");     \
        int prof_ = lc_prof_begin(__func__, 0);                                                                    \
        cpu_stmt;                                                                                                  \
        lc_prof_end(prof_);                                                                                        \
        return 0;                                                                                                  \
    } while (0)
#else
#define DISPATCH(d, err, gpu_call, cpu_stmt)                                                                       \
    do {                                                                                                           \
        if ((d)->type != LC_DEVICE_CPU) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA not built");     \
        int prof_ = lc_prof_begin(__func__, 0);                                                                    \
        cpu_stmt;                                                                                                  \
        lc_prof_end(prof_);                                                                                        \
        return 0;                                                                                                  \
    } while (0)
#endif

/* The float32 ops are (N, C, H, W) only; channels-last runs on the 16-bit ones. */
static int f32_layout(struct lc_err *err)
{
    return lc_errf(err, LC_EINVAL, NULL, -1, -1, "channels-last needs 16-bit activations (fp16 or bf16)");
}

int lc_op_prelu_forward(const struct lc_device *d, float *y, const float *x, const float *a, int n, int c, int hw,
                        struct lc_err *err)
{
    DISPATCH(d, err, api->prelu_forward(y, x, a, n, c, hw, NULL, err), lc_prelu_forward(y, x, a, n, c, hw));
}

int lc_op_prelu_backward(const struct lc_device *d, float *dx, float *da, const float *dy, const float *x,
                         const float *a, int n, int c, int hw, struct lc_err *err)
{
    DISPATCH(d, err, api->prelu_backward(dx, da, dy, x, a, n, c, hw, NULL, err),
             lc_prelu_backward(dx, da, dy, x, a, n, c, hw));
}

int lc_op_bn_forward_train(const struct lc_device *d, float *y, float *save_mean, float *save_invstd, float *run_mean,
                           float *run_var, const float *x, const float *gamma, const float *beta,
                           const struct lc_bn *p, struct lc_err *err)
{
    if (p->channels_last) return f32_layout(err);
    DISPATCH(d, err, api->bn_forward_train(y, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p, NULL, err),
             lc_bn_forward_train(y, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p));
}

int lc_op_bn_forward_eval(const struct lc_device *d, float *y, const float *x, const float *gamma, const float *beta,
                          const float *run_mean, const float *run_var, const struct lc_bn *p, struct lc_err *err)
{
    if (p->channels_last) return f32_layout(err);
    DISPATCH(d, err, api->bn_forward_eval(y, x, gamma, beta, run_mean, run_var, p, NULL, err),
             lc_bn_forward_eval(y, x, gamma, beta, run_mean, run_var, p));
}

int lc_op_bn_backward(const struct lc_device *d, float *dx, float *dgamma, float *dbeta, const float *dy,
                      const float *x, const float *save_mean, const float *save_invstd, const float *gamma,
                      const struct lc_bn *p, struct lc_err *err)
{
    if (p->channels_last) return f32_layout(err);
    DISPATCH(d, err, api->bn_backward(dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p, NULL, err),
             lc_bn_backward(dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p));
}

int lc_op_sgd_update(const struct lc_device *d, float *p, float *buf, const float *g, size_t n,
                     const struct lc_sgd_args *a, struct lc_err *err)
{
    DISPATCH(d, err, api->sgd_update(p, buf, g, n, a, NULL, err), lc_sgd_update(p, buf, g, n, a));
}

int lc_op_linear_forward(const struct lc_device *d, float *y, const float *x, const float *w, const float *b,
                         const struct lc_linear *p, struct lc_err *err)
{
    DISPATCH(d, err, api->linear_forward(y, x, w, b, p, NULL, err), lc_linear_forward(y, x, w, b, p));
}

int lc_op_linear_backward(const struct lc_device *d, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const struct lc_linear *p, struct lc_err *err)
{
    DISPATCH(d, err, api->linear_backward(dx, dw, db, dy, x, w, p, NULL, err),
             lc_linear_backward(dx, dw, db, dy, x, w, p));
}

int lc_op_conv2d_forward(const struct lc_device *d, float *y, const float *x, const float *w, const float *b,
                         const struct lc_conv2d *p, float *ws, struct lc_err *err)
{
    if (p->channels_last) return f32_layout(err);
    DISPATCH(d, err, api->conv2d_forward(y, x, w, b, p, NULL, err), lc_conv2d_forward(y, x, w, b, p, ws));
}

int lc_op_conv2d_backward(const struct lc_device *d, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const struct lc_conv2d *p, float *ws, struct lc_err *err)
{
    if (p->channels_last) return f32_layout(err);
    DISPATCH(d, err, api->conv2d_backward(dx, dw, db, dy, x, w, p, NULL, err),
             lc_conv2d_backward(dx, dw, db, dy, x, w, p, ws));
}

int lc_op_scale(const struct lc_device *d, float *y, const float *x, float s, size_t n, struct lc_err *err)
{
    DISPATCH(d, err, api->scale(y, x, s, n, NULL, err), lc_scale_forward(y, x, s, n));
}

int lc_op_add(const struct lc_device *d, float *y, const float *a, const float *b, size_t n, struct lc_err *err)
{
    DISPATCH(d, err, api->add_forward(y, a, b, n, NULL, err), lc_add_forward(y, a, b, n));
}

int lc_op_subsample_add(const struct lc_device *d, float *y, const float *x, int n, int c, int h, int w, int s,
                        struct lc_err *err)
{
    DISPATCH(d, err, api->subsample_add(y, x, n, c, h, w, s, NULL, err), lc_subsample_add(y, x, n, c, h, w, s));
}

int lc_op_l2norm_rows(const struct lc_device *d, float *y, float *norm, const float *x, int n, int dim,
                      struct lc_err *err)
{
    DISPATCH(d, err, api->l2norm_rows(y, norm, x, n, dim, NULL, err), lc_l2norm_rows(y, norm, x, n, dim));
}

int lc_op_subsample_backward(const struct lc_device *d, float *dx, const float *dy, int n, int c, int h, int w, int s,
                             struct lc_err *err)
{
    DISPATCH(d, err, api->subsample_backward(dx, dy, n, c, h, w, s, NULL, err), lc_subsample_backward(dx, dy, n, c, h, w, s));
}

int lc_op_l2norm_rows_backward(const struct lc_device *d, float *dx, const float *dy, const float *dnorm,
                               const float *y, const float *norm, int n, int dim, struct lc_err *err)
{
    DISPATCH(d, err, api->l2norm_rows_backward(dx, dy, dnorm, y, norm, n, dim, NULL, err),
             lc_l2norm_rows_backward(dx, dy, dnorm, y, norm, n, dim));
}

int lc_op_dropout_mask(const struct lc_device *d, uint8_t *mask, size_t n, float p, uint64_t key, struct lc_err *err)
{
    DISPATCH(d, err, api->dropout_mask(mask, n, p, key, NULL, err), lc_dropout_mask_keyed(mask, n, p, key));
}

int lc_op_dropout_apply(const struct lc_device *d, float *y, const float *x, const uint8_t *mask, size_t n, float p,
                        struct lc_err *err)
{
    DISPATCH(d, err, api->dropout_apply(y, x, mask, n, p, NULL, err), lc_dropout_apply(y, x, mask, n, p));
}

int lc_op_dropout_backward(const struct lc_device *d, float *dx, const float *dy, const uint8_t *mask, size_t n,
                           float p, struct lc_err *err)
{
    DISPATCH(d, err, api->dropout_backward(dx, dy, mask, n, p, NULL, err), lc_dropout_backward(dx, dy, mask, n, p));
}

int lc_op_margin_logits(const struct lc_device *d, float *logits, float *cos, const float *scaler, const float *emb,
                        const float *kernel, const int64_t *labels, const struct lc_margin *p, float *ws,
                        struct lc_err *err)
{
    DISPATCH(d, err, api->margin_logits(logits, cos, scaler, emb, kernel, labels, p, ws, NULL, err),
             lc_margin_logits(logits, cos, scaler, emb, kernel, labels, p, ws));
}

int lc_op_margin_backward(const struct lc_device *d, float *demb, float *dkernel, const float *dlogits,
                          const float *emb, const int64_t *labels, const struct lc_margin *p, float *ws,
                          struct lc_err *err)
{
    DISPATCH(d, err, api->margin_backward(demb, dkernel, dlogits, emb, labels, p, ws, NULL, err),
             lc_margin_backward(demb, dkernel, dlogits, NULL, NULL, emb, NULL, labels, p, ws));
}

int lc_op_cross_entropy_rows(const struct lc_device *d, float *prob, float *row_loss, const float *logits,
                             const int64_t *labels, int n, int c, float smoothing, struct lc_err *err)
{
    DISPATCH(d, err, api->cross_entropy_rows(prob, row_loss, logits, labels, n, c, smoothing, NULL, err),
             lc_cross_entropy_rows(prob, row_loss, logits, labels, n, c, smoothing));
}

int lc_op_cross_entropy_backward(const struct lc_device *d, float *dlogits, const float *prob, const int64_t *labels,
                                 int n, int c, float smoothing, float scale, struct lc_err *err)
{
    DISPATCH(d, err, api->cross_entropy_backward(dlogits, prob, labels, n, c, smoothing, scale, NULL, err),
             lc_cross_entropy_backward(dlogits, prob, labels, n, c, smoothing, scale));
}

int lc_op_argmax_rows(const struct lc_device *d, int32_t *idx, const float *x, int n, int c, struct lc_err *err)
{
    DISPATCH(d, err, api->argmax_rows(idx, x, n, c, NULL, err), lc_argmax_rows(idx, x, n, c));
}

/* ---- mixed precision ---- */

/* The 16-bit ops: dt checked; on the CPU mixed.c's reference (LC_ENOMEM
 * from its widened copies). */
#define DISPATCH_DT(d, dt, err, gpu_call, cpu_call)                                                                \
    do {                                                                                                           \
        if ((dt) != LC_DTYPE_F16 && (dt) != LC_DTYPE_BF16)                                                         \
            return lc_errf(err, LC_EINVAL, NULL, -1, -1, "activation type %s (f32, f16 or bf16)",                 \
                           lc_dtype_name(dt));                                                                     \
        int rc_;                                                                                                   \
        DISPATCH(d, err, gpu_call, if ((rc_ = (cpu_call))) return lc_errf(err, rc_, NULL, -1, -1, "out of memory")); \
    } while (0)

int lc_op_cast(const struct lc_device *d, void *y, int ydt, const void *x, int xdt, size_t n, struct lc_err *err)
{
    if (!lc_mixed_type_ok(ydt) || !lc_mixed_type_ok(xdt))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "cast from %s to %s", lc_dtype_name(xdt), lc_dtype_name(ydt));
    DISPATCH(d, err, api->cast(y, ydt, x, xdt, n, NULL, err), lc_cast(y, ydt, x, xdt, n));
}

int lc_op_cast_to_channels_last(const struct lc_device *d, void *y, int ydt, const void *x, int xdt, int n, int c,
                                int hw, struct lc_err *err)
{
    if (!lc_mixed_type_ok(ydt) || !lc_mixed_type_ok(xdt))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "cast from %s to %s", lc_dtype_name(xdt), lc_dtype_name(ydt));
    DISPATCH(d, err, api->cast_layout(y, ydt, x, xdt, n, c, hw, 1, NULL, err),
             lc_cast_to_channels_last(y, ydt, x, xdt, n, c, hw));
}

int lc_op_cast_from_channels_last(const struct lc_device *d, void *y, int ydt, const void *x, int xdt, int n, int c,
                                  int hw, struct lc_err *err)
{
    if (!lc_mixed_type_ok(ydt) || !lc_mixed_type_ok(xdt))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "cast from %s to %s", lc_dtype_name(xdt), lc_dtype_name(ydt));
    DISPATCH(d, err, api->cast_layout(y, ydt, x, xdt, n, c, hw, 0, NULL, err),
             lc_cast_from_channels_last(y, ydt, x, xdt, n, c, hw));
}

int lc_op_cast_add(const struct lc_device *d, float *y, const void *x, int xdt, size_t n, struct lc_err *err)
{
    if (!lc_mixed_type_ok(xdt)) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "cast from %s", lc_dtype_name(xdt));
    DISPATCH(d, err, api->cast_add(y, x, xdt, n, NULL, err), lc_cast_add(y, x, xdt, n));
}

int lc_op_unscale_check(const struct lc_device *d, float *g, size_t n, float inv_scale, float *found_inf,
                        struct lc_err *err)
{
    DISPATCH(d, err, api->unscale_check(g, n, inv_scale, found_inf, NULL, err),
             lc_unscale_check(g, n, inv_scale, found_inf));
}

int lc_op_conv2d_forward_dt(const struct lc_device *d, int dt, void *y, const void *x, const void *w,
                            const struct lc_conv2d *p, float *ws, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return lc_op_conv2d_forward(d, y, x, w, NULL, p, ws, err);
    DISPATCH_DT(d, dt, err, api->conv2d_forward_dt(dt, y, x, w, p, NULL, err),
                lc_mixed_conv2d_forward(dt, y, x, w, p, ws));
}

/* The backward ops' set mode (backend.h): the 16-bit CUDA twins write dx
 * themselves (1); elsewhere dx (bytes) is zeroed here and the op adds to it
 * (0), which the CPU functions make bit for bit the same; an error (< 0). */
static int set_mode(const struct lc_device *d, int dt, int set, void *dx, size_t bytes, struct lc_err *err)
{
    if (!set || !dx) return 0;
    if (d->type == LC_DEVICE_CUDA && dt != LC_DTYPE_F32) return 1;
    return lc_device_zero(d, dx, bytes, err); /* 0, or an error (negative) */
}

#define SET_MODE(native, d, dt, set, dx, elems)                                                                    \
    int native = set_mode(d, dt, set, dx, (size_t)(elems) * lc_dtype_size(dt), err);                              \
    if (native < 0) return native;                                                                                 \
    (void)native /* a CPU-only build compiles no CUDA call */

int lc_op_conv2d_backward_dt(const struct lc_device *d, int dt, void *dx, float *dw, const void *dy, const void *x,
                             const void *w, const struct lc_conv2d *p, int set, float *ws, struct lc_err *err)
{
    SET_MODE(native, d, dt, set, dx, (size_t)p->n * p->ci * p->h * p->w);
    if (dt == LC_DTYPE_F32) return lc_op_conv2d_backward(d, dx, dw, NULL, dy, x, w, p, ws, err);
    DISPATCH_DT(d, dt, err, api->conv2d_backward_dt(dt, dx, dw, dy, x, w, p, native, NULL, err),
                lc_mixed_conv2d_backward(dt, dx, dw, dy, x, w, p, ws));
}

int lc_op_bn_forward_train_dt(const struct lc_device *d, int dt, void *y, float *save_mean, float *save_invstd,
                              float *run_mean, float *run_var, const void *x, const float *gamma, const float *beta,
                              const struct lc_bn *p, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32)
        return lc_op_bn_forward_train(d, y, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p, err);
    DISPATCH_DT(d, dt, err,
                api->bn_forward_train_dt(dt, y, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p, NULL, err),
                lc_mixed_bn_forward_train(dt, y, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, p));
}

int lc_op_bn_backward_dt(const struct lc_device *d, int dt, void *dx, float *dgamma, float *dbeta, const void *dy,
                         const void *x, const float *save_mean, const float *save_invstd, const float *gamma,
                         const struct lc_bn *p, int set, struct lc_err *err)
{
    SET_MODE(native, d, dt, set, dx, (size_t)p->n * p->c * p->hw);
    if (dt == LC_DTYPE_F32) return lc_op_bn_backward(d, dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p, err);
    DISPATCH_DT(d, dt, err,
                api->bn_backward_dt(dt, dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p, native, NULL, err),
                lc_mixed_bn_backward(dt, dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p));
}

int lc_op_prelu_forward_dt(const struct lc_device *d, int dt, void *y, const void *x, const float *a, int n, int c,
                           int hw, int channels_last, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return channels_last ? f32_layout(err) : lc_op_prelu_forward(d, y, x, a, n, c, hw, err);
    DISPATCH_DT(d, dt, err, api->prelu_forward_dt(dt, y, x, a, n, c, hw, channels_last, NULL, err),
                lc_mixed_prelu_forward(dt, y, x, a, n, c, hw, channels_last));
}

int lc_op_prelu_backward_dt(const struct lc_device *d, int dt, void *dx, float *da, const void *dy, const void *x,
                            const float *a, int n, int c, int hw, int channels_last, int set, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32 && channels_last) return f32_layout(err);
    SET_MODE(native, d, dt, set, dx, (size_t)n * c * hw);
    if (dt == LC_DTYPE_F32) return lc_op_prelu_backward(d, dx, da, dy, x, a, n, c, hw, err);
    DISPATCH_DT(d, dt, err, api->prelu_backward_dt(dt, dx, da, dy, x, a, n, c, hw, channels_last, native, NULL, err),
                lc_mixed_prelu_backward(dt, dx, da, dy, x, a, n, c, hw, channels_last));
}

/* the fused ops take float32 too: their CPU reference (mixed.c) runs it exactly */
static int fused_type(int dt, int channels_last, struct lc_err *err)
{
    if (!lc_mixed_type_ok(dt))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "activation type %s (f32, f16 or bf16)", lc_dtype_name(dt));
    return dt == LC_DTYPE_F32 && channels_last ? f32_layout(err) : 0;
}

int lc_op_bn_prelu_forward_train_dt(const struct lc_device *d, int dt, void *z, float *save_ab, const float *slope,
                                    float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                                    const void *x, const float *gamma, const float *beta, const struct lc_bn *p,
                                    struct lc_err *err)
{
    int rc = fused_type(dt, p->channels_last, err);
    if (rc) return rc;
    DISPATCH(d, err,
             api->bn_prelu_forward_train_dt(dt, z, save_ab, slope, save_mean, save_invstd, run_mean, run_var, x,
                                            gamma, beta, p, NULL, err),
             if ((rc = lc_mixed_bn_prelu_forward_train(dt, z, save_ab, slope, save_mean, save_invstd, run_mean,
                                                       run_var, x, gamma, beta, p)))
                 return lc_errf(err, rc, NULL, -1, -1, "out of memory"));
}

int lc_op_bn_prelu_backward_dt(const struct lc_device *d, int dt, void *dx, float *dgamma, float *dbeta, float *dslope,
                               const void *dz, const void *x, const float *save_ab, const float *save_mean,
                               const float *save_invstd, const float *gamma, const float *slope,
                               const struct lc_bn *p, int set, struct lc_err *err)
{
    int rc = fused_type(dt, p->channels_last, err);
    if (rc) return rc;
    SET_MODE(native, d, dt, set, dx, (size_t)p->n * p->c * p->hw);
    DISPATCH(d, err,
             api->bn_prelu_backward_dt(dt, dx, dgamma, dbeta, dslope, dz, x, save_ab, save_mean, save_invstd, gamma,
                                       slope, p, native, NULL, err),
             if ((rc = lc_mixed_bn_prelu_backward(dt, dx, dgamma, dbeta, dslope, dz, x, save_ab, save_mean,
                                                  save_invstd, gamma, slope, p)))
                 return lc_errf(err, rc, NULL, -1, -1, "out of memory"));
}

int lc_op_bn_add_forward_train_dt(const struct lc_device *d, int dt, void *y, float *save_mean, float *save_invstd,
                                  float *run_mean, float *run_var, const void *x, const float *gamma,
                                  const float *beta, const void *r, int rh, int rw, int s, const struct lc_bn *p,
                                  struct lc_err *err)
{
    int rc = fused_type(dt, p->channels_last, err);
    if (rc) return rc;
    if (s < 1 || rh < 1 || rw < 1 || (long)((rh - 1) / s + 1) * ((rw - 1) / s + 1) != p->hw)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1,
                       "a residual of %dx%d taken every %d rows and columns does not give the %d positions of x", rh,
                       rw, s, p->hw);
    DISPATCH(d, err,
             api->bn_add_forward_train_dt(dt, y, save_mean, save_invstd, run_mean, run_var, x, gamma, beta, r, rh, rw,
                                          s, p, NULL, err),
             if ((rc = lc_mixed_bn_add_forward_train(dt, y, save_mean, save_invstd, run_mean, run_var, x, gamma, beta,
                                                     r, rh, rw, s, p)))
                 return lc_errf(err, rc, NULL, -1, -1, "out of memory"));
}

int lc_op_bn_backward_shortcut_dt(const struct lc_device *d, int dt, void *dx, float *dgamma, float *dbeta,
                                  const void *dy, const void *x, const float *save_mean, const float *save_invstd,
                                  const float *gamma, const void *dr, int h, int w, int s, const struct lc_bn *p,
                                  struct lc_err *err)
{
    int rc = fused_type(dt, p->channels_last, err);
    if (rc) return rc;
    if (s < 1 || h < 1 || w < 1 || (long)h * w != p->hw)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "a shortcut from %dx%d every %d rows and columns for the %d "
                       "positions of x", h, w, s, p->hw);
    DISPATCH(d, err,
             api->bn_backward_shortcut_dt(dt, dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, dr, h, w, s, p,
                                          NULL, err),
             if ((rc = lc_mixed_bn_backward_shortcut(dt, dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, dr,
                                                     h, w, s, p)))
                 return lc_errf(err, rc, NULL, -1, -1, "out of memory"));
}

int lc_op_add_dt(const struct lc_device *d, int dt, void *y, const void *a, const void *b, size_t n,
                 struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return lc_op_add(d, y, a, b, n, err);
    DISPATCH_DT(d, dt, err, api->add_dt(dt, y, a, b, n, NULL, err), lc_mixed_add(dt, y, a, b, n));
}

int lc_op_subsample_add_dt(const struct lc_device *d, int dt, void *y, const void *x, int n, int c, int h, int w,
                           int s, int channels_last, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return channels_last ? f32_layout(err) : lc_op_subsample_add(d, y, x, n, c, h, w, s, err);
    DISPATCH_DT(d, dt, err, api->subsample_add_dt(dt, y, x, n, c, h, w, s, channels_last, NULL, err),
                lc_mixed_subsample_add(dt, y, x, n, c, h, w, s, channels_last));
}

int lc_op_subsample_backward_dt(const struct lc_device *d, int dt, void *dx, const void *dy, int n, int c, int h,
                                int w, int s, int channels_last, int set, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32 && channels_last) return f32_layout(err);
    SET_MODE(native, d, dt, set, dx, (size_t)n * c * h * w);
    if (dt == LC_DTYPE_F32) return lc_op_subsample_backward(d, dx, dy, n, c, h, w, s, err);
    DISPATCH_DT(d, dt, err, api->subsample_backward_dt(dt, dx, dy, n, c, h, w, s, channels_last, native, NULL, err),
                lc_mixed_subsample_backward(dt, dx, dy, n, c, h, w, s, channels_last));
}

int lc_op_dropout_apply_dt(const struct lc_device *d, int dt, void *y, const void *x, const uint8_t *mask, size_t n,
                           float p, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return lc_op_dropout_apply(d, y, x, mask, n, p, err);
    DISPATCH_DT(d, dt, err, api->dropout_apply_dt(dt, y, x, mask, n, p, NULL, err),
                lc_mixed_dropout_apply(dt, y, x, mask, n, p));
}

int lc_op_dropout_backward_dt(const struct lc_device *d, int dt, void *dx, const void *dy, const uint8_t *mask,
                              size_t n, float p, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return lc_op_dropout_backward(d, dx, dy, mask, n, p, err);
    DISPATCH_DT(d, dt, err, api->dropout_backward_dt(dt, dx, dy, mask, n, p, NULL, err),
                lc_mixed_dropout_backward(dt, dx, dy, mask, n, p));
}

int lc_op_linear_forward_dt(const struct lc_device *d, int dt, void *y, const void *x, const void *w, const float *b,
                            const struct lc_linear *p, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return lc_op_linear_forward(d, y, x, w, b, p, err);
    DISPATCH_DT(d, dt, err, api->linear_forward_dt(dt, y, x, w, b, p, NULL, err),
                lc_mixed_linear_forward(dt, y, x, w, b, p));
}

int lc_op_linear_backward_dt(const struct lc_device *d, int dt, void *dx, float *dw, float *db, const void *dy,
                             const void *x, const void *w, const struct lc_linear *p, struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return lc_op_linear_backward(d, dx, dw, db, dy, x, w, p, err);
    DISPATCH_DT(d, dt, err, api->linear_backward_dt(dt, dx, dw, db, dy, x, w, p, NULL, err),
                lc_mixed_linear_backward(dt, dx, dw, db, dy, x, w, p));
}

int lc_op_bias_prelu_dt(const struct lc_device *d, int dt, void *y, const float *b, const float *a, int n, int c,
                        int hw, int channels_last, struct lc_err *err)
{
    if (!lc_mixed_type_ok(dt))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "activation type %s (f32, f16 or bf16)", lc_dtype_name(dt));
    int rc_;
    DISPATCH(d, err, api->bias_prelu_dt(dt, y, b, a, n, c, hw, channels_last, NULL, err),
             if ((rc_ = lc_mixed_bias_prelu(dt, y, b, a, n, c, hw, channels_last)))
                 return lc_errf(err, rc_, NULL, -1, -1, "out of memory"));
}

int lc_op_bias_add_dt(const struct lc_device *d, int dt, void *y, const float *b, const void *r, int n, int c, int rh,
                      int rw, int s, int channels_last, struct lc_err *err)
{
    int rc = fused_type(dt, channels_last, err);
    if (rc) return rc;
    if (!b) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "the bias and residual add without a bias");
    if (s < 1 || rh < 1 || rw < 1) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "a %dx%d residual every %d", rh, rw, s);
    DISPATCH(d, err, api->bias_add_dt(dt, y, b, r, n, c, rh, rw, s, channels_last, NULL, err),
             if ((rc = lc_mixed_bias_add(dt, y, b, r, n, c, rh, rw, s, channels_last)))
                 return lc_errf(err, rc, NULL, -1, -1, "out of memory"));
}

int lc_op_bias_add_bn_eval_dt(const struct lc_device *d, int dt, void *y, void *z, const float *b, const void *r,
                              int rh, int rw, int s, const float *gamma, const float *beta, const float *run_mean,
                              const float *run_var, const struct lc_bn *p, struct lc_err *err)
{
    int rc = fused_type(dt, p->channels_last, err);
    if (rc) return rc;
    if (!b) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "the bias and residual add without a bias");
    if (s < 1 || rh < 1 || rw < 1 || (long)((rh - 1) / s + 1) * ((rw - 1) / s + 1) != p->hw)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1,
                       "a residual of %dx%d taken every %d rows and columns does not give the %d positions of y", rh,
                       rw, s, p->hw);
    DISPATCH(d, err, api->bias_add_bn_eval_dt(dt, y, z, b, r, rh, rw, s, gamma, beta, run_mean, run_var, p, NULL, err),
             if ((rc = lc_mixed_bias_add_bn_eval(dt, y, z, b, r, rh, rw, s, gamma, beta, run_mean, run_var, p)))
                 return lc_errf(err, rc, NULL, -1, -1, "out of memory"));
}

int lc_op_bn_forward_eval_dt(const struct lc_device *d, int dt, void *y, const void *x, const float *gamma,
                             const float *beta, const float *run_mean, const float *run_var, const struct lc_bn *p,
                             struct lc_err *err)
{
    if (dt == LC_DTYPE_F32) return lc_op_bn_forward_eval(d, y, x, gamma, beta, run_mean, run_var, p, err);
    DISPATCH_DT(d, dt, err, api->bn_forward_eval_dt(dt, y, x, gamma, beta, run_mean, run_var, p, NULL, err),
                lc_mixed_bn_forward_eval(dt, y, x, gamma, beta, run_mean, run_var, p));
}

/* ---- the rest of the CPU library ---- */

int lc_op_relu_forward(const struct lc_device *d, float *y, const float *x, size_t n, struct lc_err *err)
{
    DISPATCH(d, err, api->relu_forward(y, x, n, NULL, err), lc_relu_forward(y, x, n));
}

int lc_op_relu_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, size_t n,
                        struct lc_err *err)
{
    DISPATCH(d, err, api->relu_backward(dx, dy, y, n, NULL, err), lc_relu_backward(dx, dy, y, n));
}

int lc_op_gelu_forward(const struct lc_device *d, float *y, const float *x, size_t n, struct lc_err *err)
{
    DISPATCH(d, err, api->gelu_forward(y, x, n, NULL, err), lc_gelu_forward(y, x, n));
}

int lc_op_gelu_backward(const struct lc_device *d, float *dx, const float *dy, const float *x, size_t n,
                        struct lc_err *err)
{
    DISPATCH(d, err, api->gelu_backward(dx, dy, x, n, NULL, err), lc_gelu_backward(dx, dy, x, n));
}

int lc_op_sigmoid_forward(const struct lc_device *d, float *y, const float *x, size_t n, struct lc_err *err)
{
    DISPATCH(d, err, api->sigmoid_forward(y, x, n, NULL, err), lc_sigmoid_forward(y, x, n));
}

int lc_op_sigmoid_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, size_t n,
                           struct lc_err *err)
{
    DISPATCH(d, err, api->sigmoid_backward(dx, dy, y, n, NULL, err), lc_sigmoid_backward(dx, dy, y, n));
}

int lc_op_mul_forward(const struct lc_device *d, float *y, const float *a, const float *b, size_t n,
                      struct lc_err *err)
{
    DISPATCH(d, err, api->mul_forward(y, a, b, n, NULL, err), lc_mul_forward(y, a, b, n));
}

int lc_op_mul_backward(const struct lc_device *d, float *da, float *db, const float *dy, const float *a,
                       const float *b, size_t n, struct lc_err *err)
{
    DISPATCH(d, err, api->mul_backward(da, db, dy, a, b, n, NULL, err), lc_mul_backward(da, db, dy, a, b, n));
}

int lc_op_concat_forward(const struct lc_device *d, float *y, const float *const *xs, const int *cs, int k, int n,
                         int hw, struct lc_err *err)
{
    DISPATCH(d, err, api->concat_forward(y, xs, cs, k, n, hw, NULL, err), lc_concat_forward(y, xs, cs, k, n, hw));
}

int lc_op_concat_backward(const struct lc_device *d, float *const *dxs, const float *dy, const int *cs, int k, int n,
                          int hw, struct lc_err *err)
{
    DISPATCH(d, err, api->concat_backward(dxs, dy, cs, k, n, hw, NULL, err), lc_concat_backward(dxs, dy, cs, k, n, hw));
}

int lc_op_pixel_shuffle_forward(const struct lc_device *d, float *y, const float *x, int n, int c, int h, int w,
                                int r, struct lc_err *err)
{
    DISPATCH(d, err, api->pixel_shuffle_forward(y, x, n, c, h, w, r, NULL, err), lc_pixel_shuffle_forward(y, x, n, c, h, w, r));
}

int lc_op_pixel_shuffle_backward(const struct lc_device *d, float *dx, const float *dy, int n, int c, int h, int w,
                                 int r, struct lc_err *err)
{
    DISPATCH(d, err, api->pixel_shuffle_backward(dx, dy, n, c, h, w, r, NULL, err), lc_pixel_shuffle_backward(dx, dy, n, c, h, w, r));
}

int lc_op_mul_bcast_forward(const struct lc_device *d, float *y, const float *x, const float *s, int outer, int dim,
                            int inner, int s_over, struct lc_err *err)
{
    DISPATCH(d, err, api->mul_bcast_forward(y, x, s, outer, dim, inner, s_over, NULL, err), lc_mul_bcast_forward(y, x, s, outer, dim, inner, s_over));
}

int lc_op_mul_bcast_backward(const struct lc_device *d, float *dx, float *ds, const float *dy, const float *x,
                             const float *s, int outer, int dim, int inner, int s_over, struct lc_err *err)
{
    DISPATCH(d, err, api->mul_bcast_backward(dx, ds, dy, x, s, outer, dim, inner, s_over, NULL, err), lc_mul_bcast_backward(dx, ds, dy, x, s, outer, dim, inner, s_over));
}

int lc_op_sum_dim_forward(const struct lc_device *d, float *y, const float *x, int outer, int dim, int inner,
                          struct lc_err *err)
{
    DISPATCH(d, err, api->sum_dim_forward(y, x, outer, dim, inner, NULL, err), lc_sum_dim_forward(y, x, outer, dim, inner));
}

int lc_op_sum_dim_backward(const struct lc_device *d, float *dx, const float *dy, int outer, int dim, int inner,
                           struct lc_err *err)
{
    DISPATCH(d, err, api->sum_dim_backward(dx, dy, outer, dim, inner, NULL, err), lc_sum_dim_backward(dx, dy, outer, dim, inner));
}

int lc_op_l2norm_forward(const struct lc_device *d, float *y, float *norm, const float *x, int outer, int dim,
                         int inner, float eps, struct lc_err *err)
{
    DISPATCH(d, err, api->l2norm_forward(y, norm, x, outer, dim, inner, eps, NULL, err), lc_l2norm_forward(y, norm, x, outer, dim, inner, eps));
}

int lc_op_l2norm_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, const float *norm,
                          int outer, int dim, int inner, float eps, struct lc_err *err)
{
    DISPATCH(d, err, api->l2norm_backward(dx, dy, y, norm, outer, dim, inner, eps, NULL, err), lc_l2norm_backward(dx, dy, y, norm, outer, dim, inner, eps));
}

int lc_op_softmax_forward(const struct lc_device *d, float *y, const float *x, int outer, int dim, int inner,
                          struct lc_err *err)
{
    DISPATCH(d, err, api->softmax_forward(y, x, outer, dim, inner, NULL, err), lc_softmax_forward(y, x, outer, dim, inner));
}

int lc_op_softmax_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, int outer, int dim,
                           int inner, struct lc_err *err)
{
    DISPATCH(d, err, api->softmax_backward(dx, dy, y, outer, dim, inner, NULL, err), lc_softmax_backward(dx, dy, y, outer, dim, inner));
}

int lc_op_log_softmax_forward(const struct lc_device *d, float *y, const float *x, int outer, int dim, int inner,
                              struct lc_err *err)
{
    DISPATCH(d, err, api->log_softmax_forward(y, x, outer, dim, inner, NULL, err), lc_log_softmax_forward(y, x, outer, dim, inner));
}

int lc_op_log_softmax_backward(const struct lc_device *d, float *dx, const float *dy, const float *y, int outer,
                               int dim, int inner, struct lc_err *err)
{
    DISPATCH(d, err, api->log_softmax_backward(dx, dy, y, outer, dim, inner, NULL, err), lc_log_softmax_backward(dx, dy, y, outer, dim, inner));
}

int lc_op_maxpool2d_forward(const struct lc_device *d, float *y, int32_t *argmax, const float *x,
                            const struct lc_pool2d *p, struct lc_err *err)
{
    DISPATCH(d, err, api->maxpool2d_forward(y, argmax, x, p, NULL, err), lc_maxpool2d_forward(y, argmax, x, p));
}

int lc_op_maxpool2d_backward(const struct lc_device *d, float *dx, const float *dy, const int32_t *argmax,
                             const struct lc_pool2d *p, struct lc_err *err)
{
    DISPATCH(d, err, api->maxpool2d_backward(dx, dy, argmax, p, NULL, err), lc_maxpool2d_backward(dx, dy, argmax, p));
}

int lc_op_avgpool2d_forward(const struct lc_device *d, float *y, const float *x, const struct lc_pool2d *p,
                            struct lc_err *err)
{
    DISPATCH(d, err, api->avgpool2d_forward(y, x, p, NULL, err), lc_avgpool2d_forward(y, x, p));
}

int lc_op_avgpool2d_backward(const struct lc_device *d, float *dx, const float *dy, const struct lc_pool2d *p,
                             struct lc_err *err)
{
    DISPATCH(d, err, api->avgpool2d_backward(dx, dy, p, NULL, err), lc_avgpool2d_backward(dx, dy, p));
}

int lc_op_gap_forward(const struct lc_device *d, float *y, const float *x, int n, int c, int hw, struct lc_err *err)
{
    DISPATCH(d, err, api->gap_forward(y, x, n, c, hw, NULL, err), lc_gap_forward(y, x, n, c, hw));
}

int lc_op_gap_backward(const struct lc_device *d, float *dx, const float *dy, int n, int c, int hw,
                       struct lc_err *err)
{
    DISPATCH(d, err, api->gap_backward(dx, dy, n, c, hw, NULL, err), lc_gap_backward(dx, dy, n, c, hw));
}

int lc_op_resize_bilinear_forward(const struct lc_device *d, float *y, const float *x, int nc, int h, int w, int ho,
                                  int wo, struct lc_err *err)
{
    DISPATCH(d, err, api->resize_bilinear_forward(y, x, nc, h, w, ho, wo, NULL, err), lc_resize_bilinear_forward(y, x, nc, h, w, ho, wo));
}

int lc_op_resize_bilinear_backward(const struct lc_device *d, float *dx, const float *dy, int nc, int h, int w,
                                   int ho, int wo, struct lc_err *err)
{
    DISPATCH(d, err, api->resize_bilinear_backward(dx, dy, nc, h, w, ho, wo, NULL, err), lc_resize_bilinear_backward(dx, dy, nc, h, w, ho, wo));
}

int lc_op_resize_nearest_forward(const struct lc_device *d, float *y, const float *x, int nc, int h, int w, int ho,
                                 int wo, struct lc_err *err)
{
    DISPATCH(d, err, api->resize_nearest_forward(y, x, nc, h, w, ho, wo, NULL, err), lc_resize_nearest_forward(y, x, nc, h, w, ho, wo));
}

int lc_op_resize_nearest_backward(const struct lc_device *d, float *dx, const float *dy, int nc, int h, int w,
                                  int ho, int wo, struct lc_err *err)
{
    DISPATCH(d, err, api->resize_nearest_backward(dx, dy, nc, h, w, ho, wo, NULL, err), lc_resize_nearest_backward(dx, dy, nc, h, w, ho, wo));
}

int lc_op_resize_nearest_u8(const struct lc_device *d, uint8_t *y, const uint8_t *x, int nc, int h, int w, int ho,
                            int wo, struct lc_err *err)
{
    DISPATCH(d, err, api->resize_nearest_u8(y, x, nc, h, w, ho, wo, NULL, err), lc_resize_nearest_u8(y, x, nc, h, w, ho, wo));
}

int lc_op_matmul_forward(const struct lc_device *d, float *c, const float *a, const float *b, int batch, int m,
                         int n, int k, int ta, int tb, struct lc_err *err)
{
    DISPATCH(d, err, api->matmul_forward(c, a, b, batch, m, n, k, ta, tb, NULL, err), lc_matmul_forward(c, a, b, batch, m, n, k, ta, tb));
}

int lc_op_matmul_backward(const struct lc_device *d, float *da, float *db, const float *dc, const float *a,
                          const float *b, int batch, int m, int n, int k, int ta, int tb, struct lc_err *err)
{
    DISPATCH(d, err, api->matmul_backward(da, db, dc, a, b, batch, m, n, k, ta, tb, NULL, err), lc_matmul_backward(da, db, dc, a, b, batch, m, n, k, ta, tb));
}

int lc_op_adam_update(const struct lc_device *d, float *p, float *m, float *v, const float *g, size_t n,
                      const struct lc_adam_args *a, struct lc_err *err)
{
    DISPATCH(d, err, api->adam_update(p, m, v, g, n, a, NULL, err), lc_adam_update(p, m, v, g, n, a));
}

/* ---- update tables ---- */

struct lc_update_table {
    struct lc_device d;
    struct lc_update_tensor *t; /* the host's copy (the CPU's loop) */
    size_t count;
    void *dev_t, *dev_chunks; /* on a GPU: the tensors and the blocks' chunks */
    size_t chunks;
};

void lc_update_table_free(struct lc_update_table *tab)
{
    if (!tab) return;
    if (tab->dev_t) lc_device_free(&tab->d, tab->dev_t);
    if (tab->dev_chunks) lc_device_free(&tab->d, tab->dev_chunks);
    free(tab->t);
    free(tab);
}

#ifdef LC_CUDA
/* the blocks' chunks of a table on a GPU, uploaded with its tensors */
static int table_upload(struct lc_update_table *tab, struct lc_err *err)
{
    size_t chunks = 0;
    for (size_t k = 0; k < tab->count; k++) chunks += (tab->t[k].n + LC_UPDATE_CHUNK - 1) / LC_UPDATE_CHUNK;
    if (chunks > 0x7fffffff) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "an update table of %zu chunks", chunks);
    struct lc_update_chunk *c = malloc((chunks ? chunks : 1) * sizeof *c);
    if (!c) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    size_t at = 0;
    for (size_t k = 0; k < tab->count; k++)
        for (size_t lo = 0; lo < tab->t[k].n; lo += LC_UPDATE_CHUNK) {
            size_t hi = tab->t[k].n - lo > LC_UPDATE_CHUNK ? lo + LC_UPDATE_CHUNK : tab->t[k].n;
            c[at++] = (struct lc_update_chunk){(int64_t)lo, (int64_t)hi, (int32_t)k, 0};
        }
    tab->chunks = chunks;
    int rc = lc_device_alloc(&tab->d, &tab->dev_t, tab->count * sizeof *tab->t, err);
    if (!rc) rc = lc_device_upload(&tab->d, tab->dev_t, tab->t, tab->count * sizeof *tab->t, err);
    if (!rc) rc = lc_device_alloc(&tab->d, &tab->dev_chunks, chunks * sizeof *c, err);
    if (!rc) rc = lc_device_upload(&tab->d, tab->dev_chunks, c, chunks * sizeof *c, err);
    free(c);
    return rc;
}
#endif

int lc_update_table_create(struct lc_update_table **out, const struct lc_device *d, const struct lc_update_tensor *t,
                           size_t count, struct lc_err *err)
{
    *out = NULL;
    struct lc_update_table *tab = calloc(1, sizeof *tab);
    if (!tab || !(tab->t = malloc((count ? count : 1) * sizeof *t))) {
        free(tab);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    tab->d = *d, tab->count = count;
    if (count) memcpy(tab->t, t, count * sizeof *t);
    int rc = 0;
    if (d->type == LC_DEVICE_CUDA) {
#ifdef LC_CUDA
        rc = table_upload(tab, err);
#else
        rc = lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA not built");
#endif
    } else if (d->type != LC_DEVICE_CPU) {
        rc = lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "unknown device");
    }
    if (rc) {
        lc_update_table_free(tab);
        return rc;
    }
    *out = tab;
    return 0;
}

static void sgd_table_cpu(const struct lc_update_table *tab, const struct lc_sgd_args *a)
{
    for (size_t k = 0; k < tab->count; k++) {
        const struct lc_update_tensor *t = &tab->t[k];
        struct lc_sgd_args ak = *a;
        ak.weight_decay = t->weight_decay;
        lc_sgd_update(t->p, t->s1, t->g, t->n, &ak);
    }
}

static void adam_table_cpu(const struct lc_update_table *tab, const struct lc_adam_args *a)
{
    for (size_t k = 0; k < tab->count; k++) {
        const struct lc_update_tensor *t = &tab->t[k];
        struct lc_adam_args ak = *a;
        ak.weight_decay = t->weight_decay;
        lc_adam_update(t->p, t->s1, t->s2, t->g, t->n, &ak);
    }
}

int lc_op_sgd_update_table(const struct lc_update_table *tab, const struct lc_sgd_args *a, struct lc_err *err)
{
    DISPATCH(&tab->d, err, api->sgd_update_table(tab->dev_t, tab->dev_chunks, tab->chunks, a, NULL, err),
             sgd_table_cpu(tab, a));
}

int lc_op_adam_update_table(const struct lc_update_table *tab, const struct lc_adam_args *a, struct lc_err *err)
{
    DISPATCH(&tab->d, err, api->adam_update_table(tab->dev_t, tab->dev_chunks, tab->chunks, a, NULL, err),
             adam_table_cpu(tab, a));
}

int lc_backend_cuda_props(int index, char *name, size_t size, int *sms, int *clock_khz, int *cc, struct lc_err *err)
{
#ifdef LC_CUDA
    const struct lc_cuda_api *api = cuda_or_err(err);
    return api ? api->device_props(index, name, size, sms, clock_khz, cc, err) : LC_EUNSUPPORTED;
#else
    (void)index, (void)name, (void)size, (void)sms, (void)clock_khz, (void)cc;
    return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "CUDA not built");
#endif
}
