/* mixed: casts, the loss scaler, and the CPU reference of the 16-bit ops:
 * each widens its dt operands into float32 copies, runs the float32 op,
 * and rounds its dt outputs back (a reference for the GPU's kernels and a
 * check of the mixed-precision training path, not a fast CPU path). */
#include "mixed.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "dropout.h"
#include "dtype.h"
#include "err.h"
#include "tensorops.h"

int lc_mixed_type_ok(int dt) { return dt == LC_DTYPE_F32 || dt == LC_DTYPE_F16 || dt == LC_DTYPE_BF16; }

int lc_mixed_parse(const char *name)
{
    if (!strcmp(name, "fp16") || !strcmp(name, "16")) return LC_DTYPE_F16;
    if (!strcmp(name, "bf16")) return LC_DTYPE_BF16;
    if (!strcmp(name, "fp32") || !strcmp(name, "32")) return LC_DTYPE_F32;
    return -1;
}

int lc_mixed_layout(const char *name, int on_gpu, int dt)
{
    if (!name || !strcmp(name, "auto")) return on_gpu && dt != LC_DTYPE_F32;
    if (!strcmp(name, "nchw")) return 0;
    if (strcmp(name, "channels_last")) return -1;
    return dt == LC_DTYPE_F32 ? -2 : 1;
}

int lc_mixed_layout_opts(const char *layout, int channels_last, int on_gpu, int dt, struct lc_err *err)
{
    if (channels_last && dt == LC_DTYPE_F32)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "--channels_last needs --precision fp16 or bf16"), -1;
    if (channels_last && layout && strcmp(layout, "channels_last") && strcmp(layout, "auto"))
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "--channels_last contradicts --layout %s", layout), -1;
    int cl = lc_mixed_layout(channels_last ? "channels_last" : layout, on_gpu, dt);
    if (cl == -2)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "--layout channels_last needs --precision fp16 or bf16"), -1;
    if (cl < 0)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "--layout takes auto, nchw or channels_last, not %s", layout), -1;
    return cl;
}

const char *lc_mixed_name(int dt)
{
    return dt == LC_DTYPE_F16 ? "fp16" : dt == LC_DTYPE_BF16 ? "bf16" : dt == LC_DTYPE_F32 ? "fp32" : "?";
}

static inline float widen1(const void *x, int dt, size_t i)
{
    if (dt == LC_DTYPE_F32) return ((const float *)x)[i];
    uint16_t h = ((const uint16_t *)x)[i];
    return dt == LC_DTYPE_F16 ? lc_f16_to_f32(h) : lc_bf16_to_f32(h);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* IEEE half <-> float with the F16C instructions: round to nearest even,
 * subnormals kept, as lc_f32_to_f16 / lc_f16_to_f32 (NaNs stay NaN). */
__attribute__((target("avx,f16c"))) static void f16_narrow_f16c(uint16_t *h, const float *f, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(f + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = lc_f32_to_f16(f[i]);
}

__attribute__((target("avx,f16c"))) static void f16_widen_f16c(float *f, const uint16_t *h, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) f[i] = lc_f16_to_f32(h[i]);
}

/* F16C from CPUID (leaf 1, ECX bit 29; clang's __builtin_cpu_supports has no "f16c") */
#include <cpuid.h>
static int have_f16c(void)
{
    static int have = -1;
    if (have < 0) {
        unsigned a, b, c, d;
        have = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) && __builtin_cpu_supports("avx");
    }
    return have;
}
#define LC_F16C 1
#endif

void lc_cast(void *y, int ydt, const void *x, int xdt, size_t n)
{
    if (ydt == xdt) {
        memmove(y, x, n * lc_dtype_size(xdt));
        return;
    }
#ifdef LC_F16C
    if (ydt == LC_DTYPE_F16 && xdt == LC_DTYPE_F32 && have_f16c()) {
        f16_narrow_f16c(y, x, n);
        return;
    }
    if (ydt == LC_DTYPE_F32 && xdt == LC_DTYPE_F16 && have_f16c()) {
        f16_widen_f16c(y, x, n);
        return;
    }
#endif
    if (ydt == LC_DTYPE_F32) {
        float *f = y;
        for (size_t i = 0; i < n; i++) f[i] = widen1(x, xdt, i);
        return;
    }
    uint16_t *h = y;
    for (size_t i = 0; i < n; i++) {
        float v = widen1(x, xdt, i);
        h[i] = ydt == LC_DTYPE_F16 ? lc_f32_to_f16(v) : lc_f32_to_bf16(v);
    }
}

static inline void narrow1(void *y, int dt, size_t i, float v)
{
    if (dt == LC_DTYPE_F32) ((float *)y)[i] = v;
    else ((uint16_t *)y)[i] = dt == LC_DTYPE_F16 ? lc_f32_to_f16(v) : lc_f32_to_bf16(v);
}

void lc_cast_to_channels_last(void *y, int ydt, const void *x, int xdt, int n, int c, int hw)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++)
            for (int j = 0; j < hw; j++)
                narrow1(y, ydt, ((size_t)i * hw + j) * c + k, widen1(x, xdt, ((size_t)i * c + k) * hw + j));
}

void lc_cast_from_channels_last(void *y, int ydt, const void *x, int xdt, int n, int c, int hw)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++)
            for (int j = 0; j < hw; j++)
                narrow1(y, ydt, ((size_t)i * c + k) * hw + j, widen1(x, xdt, ((size_t)i * hw + j) * c + k));
}

void lc_cast_add(float *y, const void *x, int xdt, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] += widen1(x, xdt, i);
}

void lc_unscale_check(float *g, size_t n, float inv_scale, float *found_inf)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad |= !isfinite(g[i]);
        g[i] *= inv_scale;
    }
    if (bad) *found_inf = 1;
}

void lc_loss_scaler_init(struct lc_loss_scaler *s, float init_scale)
{
    *s = (struct lc_loss_scaler){init_scale > 0 ? init_scale : 65536.0f, 2.0f, 0.5f, 2000, 0};
}

void lc_loss_scaler_update(struct lc_loss_scaler *s, int found_inf)
{
    if (found_inf) {
        s->scale *= s->backoff;
        s->tracker = 0;
        return;
    }
    if (++s->tracker == s->interval) {
        float grown = s->scale * s->growth;
        if (isfinite(grown)) s->scale = grown;
        s->tracker = 0;
    }
}

/* ---- the CPU reference of the 16-bit ops ---- */

/* A float32 view of n elements of x: x itself for float32, else a widened
 * copy (a zeroed buffer when x is NULL). Freed by unview. */
static float *view(const void *x, int dt, size_t n)
{
    if (dt == LC_DTYPE_F32 && x) return (float *)x;
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (f && x) lc_cast(f, LC_DTYPE_F32, x, dt, n);
    else if (f) memset(f, 0, n * sizeof *f);
    return f;
}

static void unview(float *f, const void *x, int dt)
{
    if (!(dt == LC_DTYPE_F32 && f == x)) free(f);
}

/* round the float32 result f into y (dt) */
static void store(void *y, int dt, const float *f, size_t n)
{
    if (dt != LC_DTYPE_F32 || (const void *)f != y) lc_cast(y, dt, f, LC_DTYPE_F32, n);
}

/* Up to MAX_VIEWS views; all or none. */
enum { MAX_VIEWS = 5 };
struct views {
    float *f[MAX_VIEWS];
    const void *src[MAX_VIEWS];
    int dt, k;
};

static float *get(struct views *v, const void *x, size_t n)
{
    assert(v->k < MAX_VIEWS);
    float *f = view(x, v->dt, n);
    v->f[v->k] = f, v->src[v->k] = x, v->k++;
    return f;
}

static int ok(const struct views *v)
{
    for (int i = 0; i < v->k; i++)
        if (!v->f[i]) return 0;
    return 1;
}

static int done(struct views *v, int rc)
{
    for (int i = 0; i < v->k; i++) unview(v->f[i], v->src[i], v->dt);
    return rc;
}

/* f rounded to dt's precision in place: what storing it in dt and widening it back gives */
static void round_to(float *f, int dt, size_t n)
{
    if (dt != LC_DTYPE_F32)
        for (size_t i = 0; i < n; i++) f[i] = dt == LC_DTYPE_F16 ? lc_f16_to_f32(lc_f32_to_f16(f[i]))
                                                                 : lc_bf16_to_f32(lc_f32_to_bf16(f[i]));
}

/* the float32 weight gradient of a dt weight: rounded to dt, then added */
static void add_weight_grad(float *dw, float *g, int dt, size_t n)
{
    round_to(g, dt, n);
    for (size_t i = 0; i < n; i++) dw[i] += g[i];
}

/* A float32 (n, c, hw) view of x (zeros when x is NULL); x is (n, hw, c)
 * when cl, and the view always a copy. */
static float *get_nchw(struct views *v, const void *x, int n, int c, int hw, int cl)
{
    size_t len = (size_t)n * c * hw;
    if (!cl) return get(v, x, len);
    assert(v->k < MAX_VIEWS);
    float *f = malloc((len ? len : 1) * sizeof *f);
    if (f && x) lc_cast_from_channels_last(f, LC_DTYPE_F32, x, v->dt, n, c, hw);
    else if (f) memset(f, 0, len * sizeof *f);
    v->f[v->k] = f, v->src[v->k] = NULL, v->k++;
    return f;
}

/* round the float32 (n, c, hw) result f into y, which is (n, hw, c) when cl */
static void store_nchw(void *y, int dt, const float *f, int n, int c, int hw, int cl)
{
    if (cl) lc_cast_to_channels_last(y, dt, f, LC_DTYPE_F32, n, c, hw);
    else store(y, dt, f, (size_t)n * c * hw);
}

/* an output's float32 view: y itself for float32 in (n, c, hw), else a zeroed copy */
static float *get_out(struct views *v, void *y, int n, int c, int hw, int cl)
{
    return v->dt == LC_DTYPE_F32 && !cl ? y : get_nchw(v, NULL, n, c, hw, cl);
}

static size_t conv_w(const struct lc_conv2d *p) { return (size_t)p->co * (p->ci / p->groups) * p->kh * p->kw; }

/* the convolution's x, y and w as (n, c, hw) views */
#define CONV_X(p) (p)->n, (p)->ci, (p)->h *(p)->w, (p)->channels_last
#define CONV_Y(p) (p)->n, (p)->co, (p)->ho *(p)->wo, (p)->channels_last
#define CONV_W(p) (p)->co, (p)->ci / (p)->groups, (p)->kh *(p)->kw, (p)->channels_last

int lc_mixed_conv2d_forward(int dt, void *y, const void *x, const void *w, const struct lc_conv2d *p, float *ws)
{
    struct views v = {.dt = dt};
    float *fx = get_nchw(&v, x, CONV_X(p)), *fw = get_nchw(&v, w, CONV_W(p)), *fy = get_out(&v, y, CONV_Y(p));
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_conv2d_forward(fy, fx, fw, NULL, p, ws);
    store_nchw(y, dt, fy, CONV_Y(p));
    return done(&v, 0);
}

int lc_mixed_conv2d_backward(int dt, void *dx, float *dw, const void *dy, const void *x, const void *w,
                             const struct lc_conv2d *p, float *ws)
{
    if (dt == LC_DTYPE_F32 && !p->channels_last) {
        lc_conv2d_backward(dx, dw, NULL, dy, x, w, p, ws);
        return 0;
    }
    struct views v = {.dt = dt};
    float *fdy = get_nchw(&v, dy, CONV_Y(p)), *fx = get_nchw(&v, x, CONV_X(p)), *fw = get_nchw(&v, w, CONV_W(p));
    float *fdx = dx ? get_nchw(&v, dx, CONV_X(p)) : NULL, *gw = dw ? calloc(conv_w(p), sizeof *gw) : NULL;
    if (!ok(&v) || (dw && !gw)) return free(gw), done(&v, LC_ENOMEM);
    lc_conv2d_backward(fdx, gw, NULL, fdy, fx, fw, p, ws);
    if (dx) store_nchw(dx, dt, fdx, CONV_X(p));
    if (dw) add_weight_grad(dw, gw, dt, conv_w(p));
    free(gw);
    return done(&v, 0);
}

#define BN_X(p) (p)->n, (p)->c, (p)->hw, (p)->channels_last

int lc_mixed_bn_forward_train(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean, float *run_var,
                              const void *x, const float *gamma, const float *beta, const struct lc_bn *p)
{
    struct views v = {.dt = dt};
    float *fx = get_nchw(&v, x, BN_X(p)), *fy = get_out(&v, y, BN_X(p));
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_bn_forward_train(fy, save_mean, save_invstd, run_mean, run_var, fx, gamma, beta, p);
    store_nchw(y, dt, fy, BN_X(p));
    return done(&v, 0);
}

int lc_mixed_bn_backward(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                         const float *save_mean, const float *save_invstd, const float *gamma, const struct lc_bn *p)
{
    struct views v = {.dt = dt};
    float *fdy = get_nchw(&v, dy, BN_X(p)), *fx = get_nchw(&v, x, BN_X(p)), *fdx = dx ? get_nchw(&v, dx, BN_X(p)) : NULL;
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_bn_backward(fdx, dgamma, dbeta, fdy, fx, save_mean, save_invstd, gamma, p);
    if (dx) store_nchw(dx, dt, fdx, BN_X(p));
    return done(&v, 0);
}

int lc_mixed_bn_prelu_forward_train(int dt, void *z, float *save_ab, const float *slope, float *save_mean,
                                    float *save_invstd, float *run_mean, float *run_var, const void *x,
                                    const float *gamma, const float *beta, const struct lc_bn *p)
{
    struct views v = {.dt = dt};
    float *fx = get_nchw(&v, x, BN_X(p)), *fy = get_out(&v, z, BN_X(p)); /* y, then z in place */
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_bn_forward_train_ab(fy, save_ab, save_mean, save_invstd, run_mean, run_var, fx, gamma, beta, p);
    round_to(fy, dt, (size_t)p->n * p->c * p->hw); /* the y batch norm stores */
    lc_prelu_forward(fy, fy, slope, p->n, p->c, p->hw);
    store_nchw(z, dt, fy, BN_X(p));
    return done(&v, 0);
}

int lc_mixed_bn_prelu_backward(int dt, void *dx, float *dgamma, float *dbeta, float *dslope, const void *dz,
                               const void *x, const float *save_ab, const float *save_mean, const float *save_invstd,
                               const float *gamma, const float *slope, const struct lc_bn *p)
{
    struct views v = {.dt = dt};
    size_t len = (size_t)p->n * p->c * p->hw;
    float *fdz = get_nchw(&v, dz, BN_X(p)), *fx = get_nchw(&v, x, BN_X(p)), *fy = get_nchw(&v, NULL, BN_X(p)),
          *fdy = get_nchw(&v, NULL, BN_X(p)), *fdx = dx ? get_nchw(&v, dx, BN_X(p)) : NULL;
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_bn_apply_ab(fy, fx, save_ab, p);
    round_to(fy, dt, len);
    lc_prelu_backward(fdy, dslope, fdz, fy, slope, p->n, p->c, p->hw); /* into zeros: the SET gradient */
    round_to(fdy, dt, len);                                            /* as PReLU's backward stores it */
    lc_bn_backward(fdx, dgamma, dbeta, fdy, fx, save_mean, save_invstd, gamma, p);
    if (dx) store_nchw(dx, dt, fdx, BN_X(p));
    return done(&v, 0);
}

int lc_mixed_bn_add_forward_train(int dt, void *y, float *save_mean, float *save_invstd, float *run_mean,
                                  float *run_var, const void *x, const float *gamma, const float *beta, const void *r,
                                  int rh, int rw, int s, const struct lc_bn *p)
{
    struct views v = {.dt = dt};
    float *fx = get_nchw(&v, x, BN_X(p)), *fr = get_nchw(&v, r, p->n, p->c, rh * rw, p->channels_last),
          *fy = get_out(&v, y, BN_X(p));
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_bn_forward_train(fy, save_mean, save_invstd, run_mean, run_var, fx, gamma, beta, p);
    round_to(fy, dt, (size_t)p->n * p->c * p->hw); /* the y batch norm stores */
    lc_subsample_add(fy, fr, p->n, p->c, rh, rw, s);
    store_nchw(y, dt, fy, BN_X(p));
    return done(&v, 0);
}

int lc_mixed_bn_backward_shortcut(int dt, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                                  const float *save_mean, const float *save_invstd, const float *gamma, const void *dr,
                                  int h, int w, int s, const struct lc_bn *p)
{
    memset(dx, 0, (size_t)p->n * p->c * p->hw * lc_dtype_size(dt)); /* +0 in every type */
    int rc = lc_mixed_subsample_backward(dt, dx, dr, p->n, p->c, h, w, s, p->channels_last);
    return rc ? rc : lc_mixed_bn_backward(dt, dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, p);
}

int lc_mixed_prelu_forward(int dt, void *y, const void *x, const float *a, int n, int c, int hw, int channels_last)
{
    struct views v = {.dt = dt};
    float *fx = get_nchw(&v, x, n, c, hw, channels_last), *fy = get_out(&v, y, n, c, hw, channels_last);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_prelu_forward(fy, fx, a, n, c, hw);
    store_nchw(y, dt, fy, n, c, hw, channels_last);
    return done(&v, 0);
}

int lc_mixed_prelu_backward(int dt, void *dx, float *da, const void *dy, const void *x, const float *a, int n, int c,
                            int hw, int channels_last)
{
    struct views v = {.dt = dt};
    float *fdy = get_nchw(&v, dy, n, c, hw, channels_last), *fx = get_nchw(&v, x, n, c, hw, channels_last),
          *fdx = get_nchw(&v, dx, n, c, hw, channels_last);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_prelu_backward(fdx, da, fdy, fx, a, n, c, hw);
    store_nchw(dx, dt, fdx, n, c, hw, channels_last);
    return done(&v, 0);
}

int lc_mixed_add(int dt, void *y, const void *a, const void *b, size_t n)
{
    struct views v = {.dt = dt};
    float *fa = get(&v, a, n), *fb = get(&v, b, n), *fy = dt == LC_DTYPE_F32 ? y : get(&v, NULL, n);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_add_forward(fy, fa, fb, n);
    store(y, dt, fy, n);
    return done(&v, 0);
}

int lc_mixed_subsample_add(int dt, void *y, const void *x, int n, int c, int h, int w, int s, int channels_last)
{
    struct views v = {.dt = dt};
    int hwo = ((h - 1) / s + 1) * ((w - 1) / s + 1);
    float *fx = get_nchw(&v, x, n, c, h * w, channels_last), *fy = get_nchw(&v, y, n, c, hwo, channels_last);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_subsample_add(fy, fx, n, c, h, w, s);
    store_nchw(y, dt, fy, n, c, hwo, channels_last);
    return done(&v, 0);
}

int lc_mixed_subsample_backward(int dt, void *dx, const void *dy, int n, int c, int h, int w, int s,
                                int channels_last)
{
    struct views v = {.dt = dt};
    int hwo = ((h - 1) / s + 1) * ((w - 1) / s + 1);
    float *fdy = get_nchw(&v, dy, n, c, hwo, channels_last), *fdx = get_nchw(&v, dx, n, c, h * w, channels_last);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_subsample_backward(fdx, fdy, n, c, h, w, s);
    store_nchw(dx, dt, fdx, n, c, h * w, channels_last);
    return done(&v, 0);
}

int lc_mixed_dropout_apply(int dt, void *y, const void *x, const unsigned char *mask, size_t n, float p)
{
    struct views v = {.dt = dt};
    float *fx = get(&v, x, n), *fy = dt == LC_DTYPE_F32 ? y : get(&v, NULL, n);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_dropout_apply(fy, fx, mask, n, p);
    store(y, dt, fy, n);
    return done(&v, 0);
}

int lc_mixed_dropout_backward(int dt, void *dx, const void *dy, const unsigned char *mask, size_t n, float p)
{
    struct views v = {.dt = dt};
    float *fdy = get(&v, dy, n), *fdx = get(&v, dx, n);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_dropout_backward(fdx, fdy, mask, n, p);
    store(dx, dt, fdx, n);
    return done(&v, 0);
}

int lc_mixed_linear_forward(int dt, void *y, const void *x, const void *w, const float *b, const struct lc_linear *p)
{
    struct views v = {.dt = dt};
    size_t nx = (size_t)p->n * p->in, ny = (size_t)p->n * p->out, nw = (size_t)p->out * p->in;
    float *fx = get(&v, x, nx), *fw = get(&v, w, nw), *fy = dt == LC_DTYPE_F32 ? y : get(&v, NULL, ny);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_linear_forward(fy, fx, fw, b, p);
    store(y, dt, fy, ny);
    return done(&v, 0);
}

int lc_mixed_linear_backward(int dt, void *dx, float *dw, float *db, const void *dy, const void *x, const void *w,
                             const struct lc_linear *p)
{
    if (dt == LC_DTYPE_F32) {
        lc_linear_backward(dx, dw, db, dy, x, w, p);
        return 0;
    }
    struct views v = {.dt = dt};
    size_t nx = (size_t)p->n * p->in, ny = (size_t)p->n * p->out, nw = (size_t)p->out * p->in;
    float *fdy = get(&v, dy, ny), *fx = get(&v, x, nx), *fw = get(&v, w, nw);
    float *fdx = dx ? get(&v, dx, nx) : NULL, *gw = dw ? calloc(nw, sizeof *gw) : NULL;
    if (!ok(&v) || (dw && !gw)) return free(gw), done(&v, LC_ENOMEM);
    lc_linear_backward(fdx, gw, db, fdy, fx, fw, p);
    if (dx) store(dx, dt, fdx, nx);
    if (dw) add_weight_grad(dw, gw, dt, nw);
    free(gw);
    return done(&v, 0);
}

int lc_mixed_bias_prelu(int dt, void *y, const float *b, const float *a, int n, int c, int hw, int channels_last)
{
    struct views v = {.dt = dt};
    float *fy = get_nchw(&v, y, n, c, hw, channels_last);
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            float *row = fy + ((size_t)i * c + k) * hw, bk = b ? b[k] : 0, ak = a ? a[k] : 1;
            for (int j = 0; j < hw; j++) {
                float t = row[j] + bk;
                row[j] = t > 0 ? t : ak * t;
            }
        }
    store_nchw(y, dt, fy, n, c, hw, channels_last);
    return done(&v, 0);
}

int lc_mixed_bias_add(int dt, void *y, const float *b, const void *r, int n, int c, int rh, int rw, int s,
                      int channels_last)
{
    int rc = lc_mixed_bias_prelu(dt, y, b, NULL, n, c, ((rh - 1) / s + 1) * ((rw - 1) / s + 1), channels_last);
    return rc ? rc : lc_mixed_subsample_add(dt, y, r, n, c, rh, rw, s, channels_last);
}

int lc_mixed_bn_forward_eval(int dt, void *y, const void *x, const float *gamma, const float *beta,
                             const float *run_mean, const float *run_var, const struct lc_bn *p)
{
    struct views v = {.dt = dt};
    float *fx = get_nchw(&v, x, BN_X(p)), *fy = get_out(&v, y, BN_X(p));
    if (!ok(&v)) return done(&v, LC_ENOMEM);
    lc_bn_forward_eval(fy, fx, gamma, beta, run_mean, run_var, p);
    store_nchw(y, dt, fy, BN_X(p));
    return done(&v, 0);
}

int lc_mixed_bias_add_bn_eval(int dt, void *y, void *z, const float *b, const void *r, int rh, int rw, int s,
                              const float *gamma, const float *beta, const float *run_mean, const float *run_var,
                              const struct lc_bn *p)
{
    int rc = lc_mixed_bias_add(dt, y, b, r, p->n, p->c, rh, rw, s, p->channels_last);
    return rc ? rc : lc_mixed_bn_forward_eval(dt, z, y, gamma, beta, run_mean, run_var, p);
}
