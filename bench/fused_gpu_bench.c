/* fused_gpu_bench: the fused shortcut ops (backend.h) against the op pairs
 * they replace, on the shapes of IR-50's 24 units (112x112 input), on a
 * GPU, each pass over all 24 units timed as a whole:
 *  - training's forward: the unit's last batch norm and the shortcut's add
 *    (lc_op_bn_add_forward_train_dt; the pair: lc_op_bn_forward_train_dt,
 *    then lc_op_subsample_add_dt, or lc_op_add_dt after a convolution
 *    shortcut);
 *  - training's backward, on the 21 units whose shortcut is not a
 *    convolution: the unit's input gradient (lc_op_bn_backward_shortcut_dt;
 *    the pair: lc_op_subsample_backward_dt writing it, then
 *    lc_op_bn_backward_dt adding to it);
 *  - 16-bit inference: the last convolution's bias and the shortcut's add
 *    (lc_op_bias_add_dt; the pair: lc_op_bias_prelu_dt, then the add);
 *    and that with the next unit's first batch norm
 *    (lc_op_bias_add_bn_eval_dt; the pair: lc_op_bias_add_dt, then
 *    lc_op_bn_forward_eval_dt).
 * In float32 (N, C, H, W) and fp16 in both layouts; milliseconds a pass,
 * the ratio pair / fused, and the activation bytes a training step no
 * longer moves. Skips without a GPU. Part of `make gpu-check`.
 * Usage: fused_gpu_bench [batch] [repeats]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "dtype.h"
#include "mixed.h"
#include "rng.h"
#include "tool.h"

/* one IR-50 unit: input (cin, h, w), output (d, ho, wo), stride s */
struct unit {
    int cin, h, w, d, ho, wo, s, conv_sc;
};

static int ir50_units(struct unit *u)
{
    static const int stages[4][2] = {{64, 3}, {128, 4}, {256, 14}, {512, 3}}; /* depth, units */
    int k = 0, cin = 64, h = 112;
    for (int st = 0; st < 4; st++)
        for (int j = 0; j < stages[st][1]; j++, k++) {
            const int d = stages[st][0], s = j ? 1 : 2, ho = (h - 1) / s + 1;
            u[k] = (struct unit){cin, h, h, d, ho, ho, s, cin != d};
            cin = d, h = ho;
        }
    return k;
}

enum { FORWARD, BACKWARD, INFERENCE, INFERENCE_BN };

struct bufs {
    void *in, *x, *y, *r2, *gin, *gb, *gout; /* activations (dt) */
    float *gamma, *beta, *mean, *istd, *rm, *rv, *dg, *db, *bias; /* per channel */
};

#define OK(call)                                                                                                 \
    do {                                                                                                         \
        if (call) lc_tool_fail(&err);                                                                           \
    } while (0)

/* one pass of kind over every unit it applies to, fused or as the pair */
static void pass(const struct lc_device *d, int dt, int cl, int n, const struct unit *u, int nu, int kind, int fused,
                 const struct bufs *b)
{
    struct lc_err err;
    for (int k = 0; k < nu; k++) {
        const struct unit *t = &u[k];
        const int ohw = t->ho * t->wo;
        /* the shortcut: a convolution's (batch-normed) output of the output's shape, or the input subsampled */
        const void *r = t->conv_sc ? b->r2 : b->in;
        const int rh = t->conv_sc ? t->ho : t->h, rw = t->conv_sc ? t->wo : t->w, s = t->conv_sc ? 1 : t->s;
        struct lc_bn p;
        if (kind == FORWARD) {
            OK(lc_bn_init(&p, n, t->d, ohw, 1e-5f, 0.1f, 1, &err));
            p.channels_last = cl;
            if (fused) {
                OK(lc_op_bn_add_forward_train_dt(d, dt, b->y, b->mean, b->istd, b->rm, b->rv, b->x, b->gamma, b->beta,
                                                 r, rh, rw, s, &p, &err));
                continue;
            }
            OK(lc_op_bn_forward_train_dt(d, dt, b->y, b->mean, b->istd, b->rm, b->rv, b->x, b->gamma, b->beta, &p,
                                         &err));
        } else if (kind == INFERENCE_BN) { /* the next unit's batch norm, of this unit's output, into x */
            OK(lc_bn_init(&p, n, t->d, ohw, 1e-5f, 0.1f, 1, &err));
            p.channels_last = cl;
            if (fused)
                OK(lc_op_bias_add_bn_eval_dt(d, dt, b->y, b->x, b->bias, r, rh, rw, s, b->gamma, b->beta, b->rm, b->rv,
                                             &p, &err));
            else {
                OK(lc_op_bias_add_dt(d, dt, b->y, b->bias, r, n, t->d, rh, rw, s, cl, &err));
                OK(lc_op_bn_forward_eval_dt(d, dt, b->x, b->y, b->gamma, b->beta, b->rm, b->rv, &p, &err));
            }
            continue;
        } else if (kind == INFERENCE) {
            if (fused) {
                OK(lc_op_bias_add_dt(d, dt, b->y, b->bias, r, n, t->d, rh, rw, s, cl, &err));
                continue;
            }
            OK(lc_op_bias_prelu_dt(d, dt, b->y, b->bias, NULL, n, t->d, ohw, cl, &err));
        } else {
            if (t->conv_sc) continue; /* its input gradient comes from the convolution's backward */
            OK(lc_bn_init(&p, n, t->cin, t->h * t->w, 1e-5f, 0.1f, 1, &err));
            p.channels_last = cl;
            if (fused)
                OK(lc_op_bn_backward_shortcut_dt(d, dt, b->gin, b->dg, b->db, b->gb, b->in, b->mean, b->istd, b->gamma,
                                                 b->gout, t->h, t->w, t->s, &p, &err));
            else {
                OK(lc_op_subsample_backward_dt(d, dt, b->gin, b->gout, n, t->cin, t->h, t->w, t->s, cl, 1, &err));
                OK(lc_op_bn_backward_dt(d, dt, b->gin, b->dg, b->db, b->gb, b->in, b->mean, b->istd, b->gamma, &p, 0,
                                        &err));
            }
            continue;
        }
        if (t->conv_sc) OK(lc_op_add_dt(d, dt, b->y, b->y, b->r2, (size_t)n * t->d * ohw, &err));
        else OK(lc_op_subsample_add_dt(d, dt, b->y, b->in, n, t->d, t->h, t->w, t->s, cl, &err));
    }
}

/* milliseconds one pass takes, the mean of reps after one to warm up */
static double timed(const struct lc_device *d, int dt, int cl, int n, const struct unit *u, int nu, int kind, int fused,
                    const struct bufs *b, int reps)
{
    struct lc_err err;
    pass(d, dt, cl, n, u, nu, kind, fused, b);
    OK(lc_device_sync(d, &err));
    double t0 = lc_now();
    for (int i = 0; i < reps; i++) pass(d, dt, cl, n, u, nu, kind, fused, b);
    OK(lc_device_sync(d, &err));
    return (lc_now() - t0) * 1e3 / reps;
}

int main(int argc, char **argv)
{
    lc_tool_init("fused_gpu_bench");
    const int n = argc > 1 ? atoi(argv[1]) : 128, reps = argc > 2 ? atoi(argv[2]) : 20;
    if (n < 1 || reps < 1) {
        fprintf(stderr, "usage: fused_gpu_bench [batch] [repeats]\n");
        return 2;
    }
    char why[256] = "";
    if (lc_backend_cuda_devices(why, sizeof why) == 0) {
        printf("fused_gpu_bench: skipped: no usable GPU (%s)\n", why);
        return 0;
    }
    struct unit u[24];
    const int nu = ir50_units(u);
    struct lc_err err;
    struct lc_device d = {LC_DEVICE_CUDA, 0};
    OK(lc_device_open(&d, &err));
    /* every activation buffer as large as the largest tensor: the first unit's input */
    const size_t most = (size_t)n * 64 * 112 * 112;
    float *host = malloc(most * sizeof *host);
    void *typed = malloc(most * sizeof(float));
    if (!host || !typed) {
        fprintf(stderr, "fused_gpu_bench: out of memory\n");
        return 1;
    }
    struct lc_rng rng;
    lc_rng_seed(&rng, 1);
    for (size_t i = 0; i < most; i++) host[i] = (float)lc_rng_normal(&rng);
    float ones[512], zeros[512] = {0};
    for (int k = 0; k < 512; k++) ones[k] = 1;
    struct bufs b;
    float **chan[9] = {&b.gamma, &b.beta, &b.mean, &b.istd, &b.rm, &b.rv, &b.dg, &b.db, &b.bias};
    const float *init[9] = {ones, zeros, zeros, ones, zeros, ones, zeros, zeros, zeros};
    for (int i = 0; i < 9; i++) {
        OK(lc_device_alloc(&d, (void **)chan[i], sizeof ones, &err));
        OK(lc_device_upload(&d, *chan[i], init[i], sizeof ones, &err));
    }
    const struct {
        int dt, cl;
    } configs[3] = {{LC_DTYPE_F32, 0}, {LC_DTYPE_F16, 0}, {LC_DTYPE_F16, 1}};
    void **act[7] = {&b.in, &b.x, &b.y, &b.r2, &b.gin, &b.gb, &b.gout};
    for (int c = 0; c < 3; c++) {
        const int dt = configs[c].dt, cl = configs[c].cl;
        const size_t bytes = most * lc_dtype_size(dt);
        lc_cast(typed, dt, host, LC_DTYPE_F32, most);
        for (int i = 0; i < 7; i++) {
            OK(lc_device_alloc(&d, act[i], bytes, &err));
            OK(lc_device_upload(&d, *act[i], typed, bytes, &err));
        }
        /* the activation bytes a training step saves: y written and read back in the forward, the input
         * gradient written and read back in the backward */
        double saved = 0;
        for (int k = 0; k < nu; k++) {
            saved += 2.0 * n * u[k].d * u[k].ho * u[k].wo;
            if (!u[k].conv_sc) saved += 2.0 * n * u[k].cin * u[k].h * u[k].w;
        }
        printf("fused_gpu_bench: IR-50's %d units, batch %d, %s%s (%.2f GB of activation traffic saved a training "
               "step)\n", nu, n, lc_mixed_name(dt), cl ? " channels-last" : "", saved * lc_dtype_size(dt) / 1e9);
        static const char *what[4] = {"training forward: bn + add", "training backward: shortcut's dx",
                                      "inference: bias + add", "inference: bias + add + next bn"};
        for (int kind = FORWARD; kind <= INFERENCE_BN; kind++) {
            if (kind >= INFERENCE && dt == LC_DTYPE_F32) continue; /* float32 adds its bias in the convolution */
            double pair = timed(&d, dt, cl, n, u, nu, kind, 0, &b, reps);
            double fused = timed(&d, dt, cl, n, u, nu, kind, 1, &b, reps);
            printf("  %-34s pair %8.3f ms   fused %8.3f ms   ratio %.2f\n", what[kind], pair, fused, pair / fused);
        }
        for (int i = 0; i < 7; i++) lc_device_free(&d, *act[i]);
    }
    for (int i = 0; i < 9; i++) lc_device_free(&d, *chan[i]);
    free(host);
    free(typed);
    return 0;
}
