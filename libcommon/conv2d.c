/* conv2d: 2-D convolution (see conv2d.h). Three engines:
 *  - im2col + SGEMM. Forward: each thread owns a share of the output
 *    columns (image positions) and a share of the scratch, and runs
 *    im2col + a serial SGEMM on cache-sized chunks of its columns.
 *    Backward: each thread owns a share of the input channels, so its dw
 *    columns, its im2col rows and its dx planes are its own: no barriers,
 *    no reductions, results fixed for a given thread count.
 *  - Winograd F(4x4,3x3) (planes of 6x6 and up) or F(2x2,3x3) for 3x3
 *    stride-1 convs (forward and dx).
 *  - a direct kernel for depthwise convs. */
#include "conv2d.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "blas.h"
#include "simd.h"

/* Scratch of the im2col engine, all threads together: about 8 MB (2^21
 * floats), split between threads; a thread's share bounds its chunk of
 * columns. Tuned on the 2-core AVX-512 VM with conv_bench (noisy): shares
 * of 2-4 MB per thread were best; 0.5 MB made GEMMs too narrow. */
#define COLS_BUDGET ((size_t)1 << 21)
/* Backward: floats of one thread's columns per chunk. */
#define BWD_CHUNK ((size_t)1 << 19)
/* Planes smaller than this are processed several images per chunk (the
 * GEMM output goes through scratch and is scattered). */
#define SMALL_PLANE 256

struct plan {
    size_t hwo, hwi, kk, kg, kall; /* kk = kh*kw, kg = Ci/g*kk, kall = Ci*kk */
    int cog, cig;
    int depthwise; /* groups == Ci == Co: direct kernel */
    int direct;    /* 1x1, stride 1, no pad, large planes: x is already the column matrix */
    int crossing;  /* small planes: chunks span images, GEMM output / dy go through scratch */
    size_t st;     /* columns per chunk with one thread (the scratch is (kall + co) x st) */
};

static void make_plan(struct plan *q, const struct lc_conv2d *p)
{
    q->hwo = (size_t)p->ho * p->wo;
    q->hwi = (size_t)p->h * p->w;
    q->kk = (size_t)p->kh * p->kw;
    q->cig = p->ci / p->groups;
    q->cog = p->co / p->groups;
    q->kg = (size_t)q->cig * q->kk;
    q->kall = (size_t)p->ci * q->kk;
    /* (kernels over 1024 taps, never seen in practice, take the GEMM path:
     * the direct kernel keeps its per-tap sums on the stack) */
    q->depthwise = p->groups == p->ci && p->groups == p->co && q->kk <= 1024;
    q->crossing = q->hwo < SMALL_PLANE;
    q->direct = !q->crossing && q->kk == 1 && p->sh == 1 && p->sw == 1 && p->ph == 0 && p->pw == 0;
    size_t st = COLS_BUDGET / (q->kall + (size_t)p->co);
    q->st = st < 64 ? 64 : st > 16384 ? 16384 : st / 16 * 16;
}

static size_t gemm_ws(const struct plan *q, const struct lc_conv2d *p)
{
    if (q->depthwise || q->direct) return 0;
    return (q->kall + (size_t)p->co) * q->st;
}

/* Threads for the im2col engine: at most one per 16 columns of scratch. */
static int gemm_threads(const struct plan *q)
{
    int nt = omp_get_max_threads(), cap = (int)(q->st / 16);
    return nt < cap ? nt : cap;
}

/* [lo, hi) of n at multiples of 16 for part i of parts. */
static void split16(size_t n, int parts, int i, size_t *lo, size_t *hi)
{
    size_t l, h;
    lc_split((n + 15) / 16, parts, i, &l, &h);
    *lo = l * 16 < n ? l * 16 : n;
    *hi = h * 16 < n ? h * 16 : n;
}

/* The next chunk of global columns (image * Ho*Wo + position) from j,
 * at most len long and not past end; one image only unless crossing. */
static size_t chunk_len(const struct plan *q, size_t j, size_t end, size_t most)
{
    size_t len = end - j < most ? end - j : most;
    if (!q->crossing) {
        size_t left = q->hwo - j % q->hwo;
        if (len > left) len = left;
    }
    return len;
}

/* Output columns ow in [ow0, ow1) whose input column ow*s - pad + kj lies in [0, w). */
static inline void valid_ow(int ow0, int ow1, int s, int pad, int kj, int w, int *lo, int *hi)
{
    int a = pad - kj, b = w - 1 + pad - kj;
    int l = a > 0 ? (a + s - 1) / s : 0;
    int h = b < 0 ? 0 : b / s + 1;
    *lo = l > ow0 ? l : ow0;
    *hi = h < ow1 ? h : ow1;
    if (*hi < *lo) *hi = *lo;
}

/* One im2col row segment: dst[ow] for ow in [ow0, ow1) from input row src
 * (NULL: outside the image) at columns ow*s - pad + kj. */
LC_CLONES static void im2col_seg(float *dst, const float *src, int ow0, int ow1, int s, int pad, int kj, int w)
{
    if (!src) {
        for (int ow = ow0; ow < ow1; ow++) dst[ow] = 0;
        return;
    }
    int lo, hi;
    valid_ow(ow0, ow1, s, pad, kj, w, &lo, &hi);
    for (int ow = ow0; ow < lo; ow++) dst[ow] = 0;
    src += kj - pad;
    if (s == 1) {
        memcpy(dst + lo, src + lo, sizeof(float) * (size_t)(hi - lo));
    } else {
LC_SIMD
        for (int ow = lo; ow < hi; ow++) dst[ow] = src[(size_t)ow * s];
    }
    for (int ow = hi; ow < ow1; ow++) dst[ow] = 0;
}

/* im2col of whole output rows [oh, oh + rows) of one image for nc channels
 * from xp, stride 1 with wo = w: each column row is one run of the input
 * plane shifted by (ki - ph) rows and (kj - pw) columns, copied at once
 * (per-row copies of 7 or 14 floats were mostly call overhead), then the
 * rows and columns that fall outside the input zeroed. */
static void im2col_rows(float *cols, size_t ld, const float *xp, const struct lc_conv2d *p, size_t hwi, int oh,
                        int rows, int nc)
{
    const int w = p->w;
    for (int c = 0; c < nc; c++, xp += hwi)
        for (int ki = 0; ki < p->kh; ki++) {
            int r0 = p->ph - ki - oh, r1 = p->h + p->ph - ki - oh; /* rows r with input row inside */
            if (r0 < 0) r0 = 0;
            if (r0 > rows) r0 = rows;
            if (r1 > rows) r1 = rows;
            if (r1 < r0) r1 = r0;
            for (int kj = 0; kj < p->kw; kj++) {
                float *dst = cols + (((size_t)c * p->kh + ki) * p->kw + kj) * ld;
                memset(dst, 0, sizeof(float) * (size_t)r0 * w);
                memset(dst + (size_t)r1 * w, 0, sizeof(float) * (size_t)(rows - r1) * w);
                if (r0 == r1) continue;
                /* run start in the plane; the ends may reach one row outside it,
                 * at positions that are border columns, zeroed below */
                long start = (long)(oh + r0 + ki - p->ph) * w + kj - p->pw, n = (long)(r1 - r0) * w;
                long a = start < 0 ? -start : 0, b = start + n > (long)hwi ? (long)hwi - start : n;
                if (b > a) memcpy(dst + (size_t)r0 * w + a, xp + start + a, sizeof(float) * (size_t)(b - a));
                int lo, hi;
                valid_ow(0, w, 1, p->pw, kj, w, &lo, &hi);
                for (int r = r0; r < r1; r++) {
                    float *d = dst + (size_t)r * w;
                    for (int ow = 0; ow < lo; ow++) d[ow] = 0;
                    for (int ow = hi; ow < w; ow++) d[ow] = 0;
                }
            }
        }
}

/* im2col of whole output rows [oh, oh + rows) of one image for nc channels
 * from xp, any stride: per (channel, ki, kj) the valid output columns are
 * found once and each row is a strided copy between zeroed ends (one call
 * per row segment cost more than the copy on 7- to 56-wide rows). */
LC_CLONES static void im2col_rows_strided(float *cols, size_t ld, const float *xp, const struct lc_conv2d *p,
                                          size_t hwi, int oh, int rows, int nc)
{
    const int wo = p->wo, s = p->sw;
    for (int c = 0; c < nc; c++, xp += hwi)
        for (int ki = 0; ki < p->kh; ki++)
            for (int kj = 0; kj < p->kw; kj++) {
                float *dst = cols + (((size_t)c * p->kh + ki) * p->kw + kj) * ld;
                int lo, hi;
                valid_ow(0, wo, s, p->pw, kj, p->w, &lo, &hi);
                for (int r = 0; r < rows; r++, dst += wo) {
                    int ih = (oh + r) * p->sh - p->ph + ki;
                    if (ih < 0 || ih >= p->h) {
                        for (int ow = 0; ow < wo; ow++) dst[ow] = 0;
                        continue;
                    }
                    const float *src = xp + (size_t)ih * p->w + kj - p->pw;
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0;
                    LC_SIMD
                    for (int ow = lo; ow < hi; ow++) dst[ow] = src[(size_t)ow * s];
                    for (int ow = hi; ow < wo; ow++) dst[ow] = 0;
                }
            }
}

/* im2col of global columns [g0, g0 + len) for input channels [c0, c1) into
 * cols ((c1 - c0)*kh*kw rows, row stride ld). */
static void im2col(float *cols, size_t ld, const float *x, const struct lc_conv2d *p, const struct plan *q,
                   size_t g0, size_t len, int c0, int c1)
{
    int same = p->sh == 1 && p->sw == 1 && p->wo == p->w; /* output rows are input rows shifted */
    for (size_t j = 0; j < len;) {
        size_t gc = g0 + j, pos = gc % q->hwo;
        int img = (int)(gc / q->hwo), oh = (int)(pos / (size_t)p->wo), ow0 = (int)(pos % (size_t)p->wo);
        if (ow0 == 0 && len - j >= (size_t)p->wo) { /* whole output rows */
            int rows = (int)((len - j) / (size_t)p->wo);
            if (rows > p->ho - oh) rows = p->ho - oh;
            const float *xp = x + ((size_t)img * p->ci + c0) * q->hwi;
            if (same) im2col_rows(cols + j, ld, xp, p, q->hwi, oh, rows, c1 - c0);
            else im2col_rows_strided(cols + j, ld, xp, p, q->hwi, oh, rows, c1 - c0);
            j += (size_t)rows * p->wo;
            continue;
        }
        int seg = p->wo - ow0;
        if ((size_t)seg > len - j) seg = (int)(len - j);
        for (int c = c0; c < c1; c++) {
            const float *xp = x + ((size_t)img * p->ci + c) * q->hwi;
            for (int ki = 0; ki < p->kh; ki++) {
                int ih = oh * p->sh - p->ph + ki;
                const float *src = ih >= 0 && ih < p->h ? xp + (size_t)ih * p->w : NULL;
                for (int kj = 0; kj < p->kw; kj++) {
                    float *dst = cols + (((size_t)(c - c0) * p->kh + ki) * p->kw + kj) * ld + j - ow0;
                    im2col_seg(dst, src, ow0, ow0 + seg, p->sw, p->pw, kj, p->w);
                }
            }
        }
        j += (size_t)seg;
    }
}

/* dx plane += the kh*kw column rows of one channel (rows, stride ld) for
 * the image positions [pa, pb), which sit at columns jb + (pos - pa). */
LC_CLONES static void col2im_plane(float *dxp, const float *rows, size_t ld, const struct lc_conv2d *p, size_t pa,
                                   size_t pb, size_t jb)
{
    for (int ki = 0; ki < p->kh; ki++)
        for (int kj = 0; kj < p->kw; kj++) {
            const float *row = rows + ((size_t)ki * p->kw + kj) * ld + jb;
            for (size_t pos = pa; pos < pb;) {
                int oh = (int)(pos / (size_t)p->wo), ow0 = (int)(pos % (size_t)p->wo);
                int seg = p->wo - ow0;
                if ((size_t)seg > pb - pos) seg = (int)(pb - pos);
                int ih = oh * p->sh - p->ph + ki;
                if (ih >= 0 && ih < p->h) {
                    int lo, hi;
                    valid_ow(ow0, ow0 + seg, p->sw, p->pw, kj, p->w, &lo, &hi);
                    float *d = dxp + (size_t)ih * p->w - p->pw + kj;
                    const float *s = row + (pos - pa) - ow0;
                    if (p->sw == 1) {
LC_SIMD
                        for (int ow = lo; ow < hi; ow++) d[ow] += s[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) d[(size_t)ow * p->sw] += s[ow];
                    }
                }
                pos += (size_t)seg;
            }
        }
}

/* y[i] = prelu(src[i] + bias) + res[i] (slope used when has_slope, res
 * may be NULL); src may be y. */
LC_CLONES static void epilogue(float *y, const float *src, size_t n, float bias, int has_slope, float slope,
                               const float *res)
{
    if (has_slope && res) {
        for (size_t i = 0; i < n; i++) {
            float v = src[i] + bias;
            y[i] = (v < 0 ? v * slope : v) + res[i];
        }
    } else if (has_slope) {
        for (size_t i = 0; i < n; i++) {
            float v = src[i] + bias;
            y[i] = v < 0 ? v * slope : v;
        }
    } else if (res) {
        for (size_t i = 0; i < n; i++) y[i] = src[i] + bias + res[i];
    } else {
        for (size_t i = 0; i < n; i++) y[i] = src[i] + bias;
    }
}

/* ---- depthwise (groups == Ci == Co): one plane at a time */

LC_CLONES static void dw_plane_forward(float *yp, const float *xp, const float *wk, float bias, int has_slope,
                                       float slope, const float *resp, const struct lc_conv2d *p)
{
    for (int oh = 0; oh < p->ho; oh++) {
        float *yr = yp + (size_t)oh * p->wo;
        for (int ow = 0; ow < p->wo; ow++) yr[ow] = 0;
        for (int ki = 0; ki < p->kh; ki++) {
            int ih = oh * p->sh - p->ph + ki;
            if (ih < 0 || ih >= p->h) continue;
            for (int kj = 0; kj < p->kw; kj++) {
                float wv = wk[ki * p->kw + kj];
                int lo, hi;
                valid_ow(0, p->wo, p->sw, p->pw, kj, p->w, &lo, &hi);
                const float *xr = xp + (size_t)ih * p->w - p->pw + kj;
                if (p->sw == 1) {
LC_SIMD
                    for (int ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow];
                } else {
                    for (int ow = lo; ow < hi; ow++) yr[ow] += wv * xr[(size_t)ow * p->sw];
                }
            }
        }
        epilogue(yr, yr, (size_t)p->wo, bias, has_slope, slope, resp ? resp + (size_t)oh * p->wo : NULL);
    }
}

/* dw taps of one channel += sum over the plane (double across rows);
 * dx plane += transposed conv of dy. */
LC_CLONES static void dw_plane_backward(float *dxp, double *acc, const float *dyp, const float *xp,
                                        const float *wk, const struct lc_conv2d *p)
{
    for (int oh = 0; oh < p->ho; oh++) {
        const float *dyr = dyp + (size_t)oh * p->wo;
        for (int ki = 0; ki < p->kh; ki++) {
            int ih = oh * p->sh - p->ph + ki;
            if (ih < 0 || ih >= p->h) continue;
            for (int kj = 0; kj < p->kw; kj++) {
                int lo, hi;
                valid_ow(0, p->wo, p->sw, p->pw, kj, p->w, &lo, &hi);
                size_t off = (size_t)ih * p->w - p->pw + kj;
                if (acc) {
                    const float *xr = xp + off;
                    float s = 0;
                    if (p->sw == 1) {
LC_SIMD_SUM(s)
                        for (int ow = lo; ow < hi; ow++) s += dyr[ow] * xr[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) s += dyr[ow] * xr[(size_t)ow * p->sw];
                    }
                    acc[ki * p->kw + kj] += s;
                }
                if (dxp) {
                    float wv = wk[ki * p->kw + kj], *dr = dxp + off;
                    if (p->sw == 1) {
LC_SIMD
                        for (int ow = lo; ow < hi; ow++) dr[ow] += wv * dyr[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) dr[(size_t)ow * p->sw] += wv * dyr[ow];
                    }
                }
            }
        }
    }
}

/* Depthwise planes are processed in strips of output rows through
 * zero-padded copies kept on the stack, split into stride x stride phase
 * planes (rows and columns by their remainder mod the stride). In a phase
 * plane every tap is one contiguous loop over the whole strip (output
 * computed on the phase width, extra columns dropped), instead of kh*kw
 * short strided loops per output row: 3-10x faster on 7-56 wide planes.
 * A kernel covering the whole unpadded plane (MobileFaceNet's global
 * depthwise conv) is a plain dot product. */
#define DW_BUF 8192 /* floats per stack buffer */

struct dwgeo {
    int s, wp, wph, rows, tail, R; /* stride, padded width, phase width, phase rows per strip, tail, strip rows */
    size_t plane;                  /* floats per phase plane */
};

static int dw_geo(struct dwgeo *g, const struct lc_conv2d *p)
{
    if (p->sh != p->sw) return 0;
    g->s = p->sh;
    g->wp = p->w + 2 * p->pw;
    g->wph = (g->wp + g->s - 1) / g->s;
    g->tail = (p->kw - 1) / g->s + 1;
    int extra = (p->kh - 1) / g->s, ss = g->s * g->s;
    /* s^2 (R + extra) wph + tail <= DW_BUF and R wph <= DW_BUF */
    g->R = ((DW_BUF / ss - g->tail) / g->wph) - extra;
    if (g->R > p->ho) g->R = p->ho;
    if (g->R < 1) return 0;
    g->rows = g->R + extra;
    g->plane = (size_t)g->rows * g->wph + g->tail;
    return 1;
}

static int dw_whole(const struct lc_conv2d *p)
{
    return p->ho == 1 && p->wo == 1 && p->ph == 0 && p->pw == 0 && p->kh == p->h && p->kw == p->w;
}

/* j range of phase b whose input column j*s + b - pad lies in [0, w) */
static inline void dw_jrange(int b, int s, int pad, int w, int wph, int *lo, int *hi)
{
    int a = pad - b, e = w - 1 + pad - b;
    *lo = a > 0 ? (a + s - 1) / s : 0;
    *hi = e < 0 ? 0 : e / s + 1;
    if (*hi > wph) *hi = wph;
    if (*hi < *lo) *hi = *lo;
}

LC_CLONES static void dw_gather(float *d, const float *row, int s, int lo, int hi)
{
LC_SIMD
    for (int j = lo; j < hi; j++) d[j] = row[(size_t)j * s];
}

LC_CLONES static void dw_scatter_add(float *row, const float *d, int s, int lo, int hi)
{
    for (int j = lo; j < hi; j++) row[(size_t)j * s] += d[j];
}

/* phase planes of the strip whose first output row is oh0 (r rows) */
static void dw_phases(float *buf, const struct dwgeo *g, const float *xp, const struct lc_conv2d *p, int oh0, int r)
{
    int s = g->s, need = (r - 1) * s + p->kh; /* padded rows of the strip */
    memset(buf, 0, sizeof(float) * g->plane * (size_t)s * s);
    for (int k = 0; k < need; k++) {
        int ih = oh0 * s + k - p->ph;
        if (ih < 0 || ih >= p->h) continue;
        const float *row = xp + (size_t)ih * p->w;
        for (int b = 0; b < s; b++) {
            float *d = buf + ((size_t)(k % s) * s + b) * g->plane + (size_t)(k / s) * g->wph;
            int lo, hi;
            dw_jrange(b, s, p->pw, p->w, g->wph, &lo, &hi);
            if (s == 1) memcpy(d + lo, row + lo - p->pw, sizeof(float) * (size_t)(hi - lo));
            else dw_gather(d, row + b - p->pw, s, lo, hi);
        }
    }
}

/* inverse of dw_phases for a gradient: dx rows += the phase planes */
static void dw_unphase(float *dxp, const float *buf, const struct dwgeo *g, const struct lc_conv2d *p, int oh0, int r)
{
    int s = g->s, need = (r - 1) * s + p->kh;
    for (int k = 0; k < need; k++) {
        int ih = oh0 * s + k - p->ph;
        if (ih < 0 || ih >= p->h) continue;
        float *row = dxp + (size_t)ih * p->w;
        for (int b = 0; b < s; b++) {
            const float *d = buf + ((size_t)(k % s) * s + b) * g->plane + (size_t)(k / s) * g->wph;
            int lo, hi;
            dw_jrange(b, s, p->pw, p->w, g->wph, &lo, &hi);
            dw_scatter_add(row + b - p->pw, d, s, lo, hi);
        }
    }
}

/* the phase plane and offset tap (ki, kj) reads */
static inline size_t dw_tap(const struct dwgeo *g, int ki, int kj)
{
    return ((size_t)(ki % g->s) * g->s + kj % g->s) * g->plane + (size_t)(ki / g->s) * g->wph + kj / g->s;
}

LC_CLONES static void dw_axpy(float *y, const float *x, float a, int n)
{
LC_SIMD
    for (int t = 0; t < n; t++) y[t] += a * x[t];
}

LC_CLONES static float dw_dot(const float *a, const float *b, int n)
{
    float s = 0;
LC_SIMD_SUM(s)
    for (int t = 0; t < n; t++) s += a[t] * b[t];
    return s;
}

static void dw_fast_forward(float *yp, const float *xp, const float *wk, float bias, int has_slope, float slope,
                            const float *resp, const struct lc_conv2d *p, const struct dwgeo *g)
{
    if (dw_whole(p)) {
        float v = dw_dot(xp, wk, p->kh * p->kw) + bias;
        if (has_slope && v < 0) v *= slope;
        yp[0] = v + (resp ? resp[0] : 0);
        return;
    }
    float P[DW_BUF], O[DW_BUF];
    for (int oh0 = 0; oh0 < p->ho; oh0 += g->R) {
        int r = g->R < p->ho - oh0 ? g->R : p->ho - oh0, n = r * g->wph;
        dw_phases(P, g, xp, p, oh0, r);
        memset(O, 0, sizeof(float) * (size_t)n);
        for (int ki = 0; ki < p->kh; ki++)
            for (int kj = 0; kj < p->kw; kj++) dw_axpy(O, P + dw_tap(g, ki, kj), wk[ki * p->kw + kj], n);
        for (int i = 0; i < r; i++) {
            size_t o = (size_t)(oh0 + i) * p->wo;
            epilogue(yp + o, O + (size_t)i * g->wph, (size_t)p->wo, bias, has_slope, slope, resp ? resp + o : NULL);
        }
    }
}

/* acc (kh*kw taps) += correlation of x with dy; dx plane += its transpose */
static void dw_fast_backward(float *dxp, double *acc, const float *dyp, const float *xp, const float *wk,
                             const struct lc_conv2d *p, const struct dwgeo *g)
{
    int kk = p->kh * p->kw;
    if (dw_whole(p)) {
        if (acc)
            for (int t = 0; t < kk; t++) acc[t] += (double)dyp[0] * xp[t];
        if (dxp) dw_axpy(dxp, wk, dyp[0], kk);
        return;
    }
    float P[DW_BUF], D[DW_BUF];
    for (int oh0 = 0; oh0 < p->ho; oh0 += g->R) {
        int r = g->R < p->ho - oh0 ? g->R : p->ho - oh0, n = r * g->wph;
        for (int i = 0; i < r; i++) { /* dy rows on the phase width, zeros in the dropped columns */
            memcpy(D + (size_t)i * g->wph, dyp + (size_t)(oh0 + i) * p->wo, sizeof(float) * (size_t)p->wo);
            memset(D + (size_t)i * g->wph + p->wo, 0, sizeof(float) * (size_t)(g->wph - p->wo));
        }
        if (acc) {
            dw_phases(P, g, xp, p, oh0, r);
            for (int ki = 0; ki < p->kh; ki++)
                for (int kj = 0; kj < p->kw; kj++) acc[ki * p->kw + kj] += dw_dot(D, P + dw_tap(g, ki, kj), n);
        }
        if (dxp) {
            memset(P, 0, sizeof(float) * g->plane * (size_t)g->s * g->s);
            for (int ki = 0; ki < p->kh; ki++)
                for (int kj = 0; kj < p->kw; kj++) dw_axpy(P + dw_tap(g, ki, kj), D, wk[ki * p->kw + kj], n);
            dw_unphase(dxp, P, g, p, oh0, r);
        }
    }
}

static void dw_forward(float *y, const float *x, const float *w, const float *b, const float *slope,
                       const float *res, const struct lc_conv2d *p, const struct plan *q)
{
    long planes = (long)p->n * p->co;
    size_t kk = (size_t)p->kh * p->kw;
    struct dwgeo g;
    int flat = dw_geo(&g, p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < planes; i++) {
        int c = (int)(i % p->co);
        float *yp = y + (size_t)i * q->hwo;
        const float *xp = x + (size_t)i * q->hwi, *rp = res ? res + (size_t)i * q->hwo : NULL;
        if (flat)
            dw_fast_forward(yp, xp, w + (size_t)c * kk, b ? b[c] : 0, slope != NULL, slope ? slope[c] : 0, rp, p, &g);
        else
            dw_plane_forward(yp, xp, w + (size_t)c * kk, b ? b[c] : 0, slope != NULL, slope ? slope[c] : 0, rp, p);
    }
}

static void dw_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        const struct lc_conv2d *p, const struct plan *q)
{
    size_t kk = (size_t)p->kh * p->kw;
    struct dwgeo g;
    int flat = dw_geo(&g, p);
    /* one thread owns a channel: its dw taps and its dx planes of every image */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < p->co; c++) {
        double acc[1024];
        double *a = dw ? acc : NULL;
        if (a) memset(acc, 0, sizeof(double) * kk);
        for (int n = 0; n < p->n; n++) {
            size_t i = (size_t)n * p->co + c;
            if (flat)
                dw_fast_backward(dx ? dx + i * q->hwi : NULL, a, dy + i * q->hwo, x + i * q->hwi, w + c * kk, p, &g);
            else
                dw_plane_backward(dx ? dx + i * q->hwi : NULL, a, dy + i * q->hwo, x + i * q->hwi, w + c * kk, p);
        }
        if (a)
            for (size_t t = 0; t < kk; t++) dw[c * kk + t] += (float)acc[t];
    }
}

/* ---- Winograd F(m x m, 3x3) for 3x3 stride-1 convs (groups 1), m = 4 on
 * planes of 6x6 and up, else 2: (m+2)^2 GEMMs of (Co x Ci) by (Ci x tiles)
 * replace one of (Co x 9Ci) by (9Ci x m^2 tiles): 4x (m = 4) or 2.25x
 * (m = 2) fewer multiplies on planes that are multiples of m. F(2x2)'s
 * transforms only add, subtract and halve; F(4x4)'s (points 0, +-1, +-2)
 * scale by up to 8 and lose a few more bits, still far inside float32's
 * 1e-4 agreement with the direct sum (tests/test_conv2d.c). Used for
 * forward and for dx (a 3x3 stride-1 conv of dy with the kernel rotated
 * and transposed, padding 2 - pad). */

/* Tiles per chunk, all threads together: 2^22 / (16 (Ci + Co)) whatever m
 * (16 MB of scratch for m = 2, 36 MB for m = 4). Measured on the 2-core
 * VM: 1-2M floats made the GEMMs of the 256- and 512-channel layers too
 * narrow; 4M and 8M were equal. With 64 channels in and out the GEMMs are
 * cheap and the data should stay in L2, so there chunks stop at 256 tiles
 * (+10%). */
#define WINO_BUDGET ((size_t)1 << 22)

static int wino_ok(const struct lc_conv2d *p)
{
    return p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 && p->groups == 1 && p->ci >= 16 && p->co >= 16 &&
           p->ph <= 2 && p->pw <= 2;
}

/* Output tile side: 4 for inference (prepared weights) on planes of 6x6
 * and up, else 2. Training keeps F(2x2): with F(4x4) in its forward and dx
 * the IR-18 gradients drifted 1e-3 to 1e-2 (relative, L2) from PyTorch's,
 * batch norm's backward amplifying the transforms' rounding. */
static int wino_m(const struct lc_conv2d *p, int infer)
{
    return infer && p->ho >= 6 && p->wo >= 6 ? 4 : 2;
}

/* transformed planes: (m + 2)^2 */
static int wino_np(int m) { return (m + 2) * (m + 2); }

/* tiles per block: the same for forward and dx so one workspace size fits */
static size_t wino_tb(const struct lc_conv2d *p, int m)
{
    size_t tb = WINO_BUDGET / (16 * ((size_t)p->ci + p->co));
    tb = tb < 32 ? 32 : tb / 16 * 16;
    if (p->ci + p->co <= 128 && tb > 256) tb = 256;
    size_t most = (size_t)p->n * ((p->h + m - 1) / m) * ((p->w + m - 1) / m);
    size_t fwd = (size_t)p->n * ((p->ho + m - 1) / m) * ((p->wo + m - 1) / m);
    if (fwd > most) most = fwd;
    return tb < most ? tb : (most + 15) / 16 * 16;
}

/* Planes of the transformed arrays are padded by WINO_PAD floats: their
 * natural sizes are multiples of 4 KB, and 16 streams 4 KB apart evict one
 * another from L1 (4K aliasing). */
#define WINO_PAD 32

static size_t wino_uplane(const struct lc_conv2d *p) { return (size_t)p->ci * p->co + WINO_PAD; }

static size_t wino_ws_m(const struct lc_conv2d *p, int m)
{
    size_t np = (size_t)wino_np(m);
    return np * wino_uplane(p) + np * ((size_t)p->ci + p->co) * wino_tb(p, m);
}

/* enough for training (m = 2) and inference */
static size_t wino_ws(const struct lc_conv2d *p)
{
    size_t a = wino_ws_m(p, 2), b = wino_ws_m(p, wino_m(p, 1));
    return a > b ? a : b;
}

/* Row r of U (16, rows, cols) from 3x3 kernels g: U[xi][r][c] = (G g G^T)[xi]
 * with g = w[r][c] (forward) or w[c][r] rotated by 180 degrees (dx);
 * vectorised across c (strided loads, contiguous stores). */
/* g = the 3x3 kernel at row r, column c of U: w[r][c] (forward) or w[c][r]
 * rotated by 180 degrees (dx); w is (rows, cols, 3, 3) or (cols, rows, 3, 3) */
static inline void wino_kernel(float g[9], const float *w, int r, int c, int rows, int cols, int dx)
{
    const float *k = dx ? w + ((size_t)c * rows + r) * 9 : w + ((size_t)r * cols + c) * 9;
    for (int i = 0; i < 9; i++) g[i] = dx ? k[8 - i] : k[i];
}

LC_CLONES static void wino_filter_row(float *U, size_t plane, const float *w, int r, int rows, int cols, int dx)
{
    float *u = U + (size_t)r * cols;
LC_SIMD /* (gathers) */
    for (int c = 0; c < cols; c++) {
        float g[9], t[4][3];
        wino_kernel(g, w, r, c, rows, cols, dx);
        for (int b = 0; b < 3; b++) {
            t[0][b] = g[b];
            t[1][b] = 0.5f * (g[b] + g[3 + b] + g[6 + b]);
            t[2][b] = 0.5f * (g[b] - g[3 + b] + g[6 + b]);
            t[3][b] = g[6 + b];
        }
        for (int a = 0; a < 4; a++) {
            u[(size_t)(4 * a) * plane + c] = t[a][0];
            u[(size_t)(4 * a + 1) * plane + c] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
            u[(size_t)(4 * a + 2) * plane + c] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
            u[(size_t)(4 * a + 3) * plane + c] = t[a][2];
        }
    }
}

/* F(4x4): U[xi][r][c] = (G g G^T)[xi], 6x6, G = [1/4 0 0; -1/6 -1/6 -1/6;
 * -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1] */
LC_CLONES static void wino4_filter_row(float *U, size_t plane, const float *w, int r, int rows, int cols, int dx)
{
    float *u = U + (size_t)r * cols;
LC_SIMD /* (gathers) */
    for (int c = 0; c < cols; c++) {
        float g[9], t[6][3];
        wino_kernel(g, w, r, c, rows, cols, dx);
        for (int b = 0; b < 3; b++) {
            float g0 = g[b], g1 = g[3 + b], g2 = g[6 + b];
            t[0][b] = g0 * (1.0f / 4);
            t[1][b] = -(g0 + g1 + g2) * (1.0f / 6);
            t[2][b] = -(g0 - g1 + g2) * (1.0f / 6);
            t[3][b] = g0 * (1.0f / 24) + g1 * (1.0f / 12) + g2 * (1.0f / 6);
            t[4][b] = g0 * (1.0f / 24) - g1 * (1.0f / 12) + g2 * (1.0f / 6);
            t[5][b] = g2;
        }
        for (int a = 0; a < 6; a++) {
            float t0 = t[a][0], t1 = t[a][1], t2 = t[a][2];
            u[(size_t)(6 * a) * plane + c] = t0 * (1.0f / 4);
            u[(size_t)(6 * a + 1) * plane + c] = -(t0 + t1 + t2) * (1.0f / 6);
            u[(size_t)(6 * a + 2) * plane + c] = -(t0 - t1 + t2) * (1.0f / 6);
            u[(size_t)(6 * a + 3) * plane + c] = t0 * (1.0f / 24) + t1 * (1.0f / 12) + t2 * (1.0f / 6);
            u[(size_t)(6 * a + 4) * plane + c] = t0 * (1.0f / 24) - t1 * (1.0f / 12) + t2 * (1.0f / 6);
            u[(size_t)(6 * a + 5) * plane + c] = t2;
        }
    }
}

/* U (np planes of rows x cols, each padded by WINO_PAD) from the kernels */
static void wino_filter(float *U, const float *w, int rows, int cols, int dx, int m)
{
    size_t plane = (size_t)rows * cols + WINO_PAD;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        if (m == 4) wino4_filter_row(U, plane, w, r, rows, cols, dx);
        else wino_filter_row(U, plane, w, r, rows, cols, dx);
    }
}

struct wino {
    int m, n, ci, h, w, co, ho, wo, ph, pw, th, tw;
    size_t tb;             /* tiles per chunk (for all threads together; per thread inside wino_run) */
    size_t vplane, mplane; /* floats per xi plane of V (ci rows of tb) and M (co rows of tb) */
};

#define WINO_TX 64 /* tiles of one tile row transformed at a time (stack arrays) */
/* F(2x2): tile rows at least this long are transformed row by row, shorter
 * ones gathered across rows. Forward / dx at batch 32, row-wise against
 * gathered: 64@56x56 (28 tiles a row) 40 / 44 ms against 52 / 56 (each
 * window of 64 tiles copies its planes whole), 128@28 35 / 38 against
 * 34 / 35, 256@14 35 / 38 against 30 / 32, 512@7 46 / 46 against 41 / 42. */
#define WINO_ROWWISE 16

#define WINO_PP 8192 /* floats of zero-bordered planes on the stack (32 KB): planes up to 56x56 */

/* d[P r + k][j] = pp[off[j] + r wp + k] for the P x P elements of the
 * patches of n tiles (P = 4 or 6): with AVX-512, 16 tiles a gather
 * instruction (GCC's tuning does not emit gathers by itself) */
static void patch_gather_c(float (*d)[WINO_TX], const float *pp, const int *off, int n, int wp, int P)
{
    for (int r = 0; r < P; r++)
        for (int k = 0; k < P; k++)
            for (int j = 0; j < n; j++) d[P * r + k][j] = pp[off[j] + r * wp + k];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static void patch_gather_avx512(float (*d)[WINO_TX], const float *pp,
                                                                   const int *off, int n, int wp, int P)
{
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512i idx = _mm512_loadu_si512((const void *)(off + j));
        for (int r = 0; r < P; r++)
            for (int k = 0; k < P; k++)
                _mm512_storeu_ps(d[P * r + k] + j, _mm512_i32gather_ps(idx, pp + r * wp + k, 4));
    }
    if (j < n) {
        __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        __m512i idx = _mm512_maskz_loadu_epi32(m, off + j);
        for (int r = 0; r < P; r++)
            for (int k = 0; k < P; k++)
                _mm512_mask_storeu_ps(d[P * r + k] + j, m,
                                      _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, pp + r * wp + k, 4));
    }
}

static void patch_gather(float (*d)[WINO_TX], const float *pp, const int *off, int n, int wp, int P)
{
    static int avx512 = -1;
    if (avx512 < 0) avx512 = __builtin_cpu_supports("avx512f");
    if (avx512) patch_gather_avx512(d, pp, off, n, wp, P);
    else patch_gather_c(d, pp, off, n, wp, P);
}
#else
#define patch_gather patch_gather_c
#endif

/* The (m + 2)^2 input patch elements of tiles [t, t + n) of channel c,
 * d[P r + k][j] for patch row r and column k of tile t + j (P = m + 2). */
static void wino_gather(float (*d)[WINO_TX], const float *x, const struct wino *q, int c, size_t t, int n)
{
    size_t per = (size_t)q->th * q->tw;
    const int m = q->m, P = m + 2;
    int img = (int)(t / per), ty = (int)(t % per / q->tw), tx = (int)(t % q->tw);
    /* Most tiles of a small plane touch its border (12 of 16 at 14x14):
     * copy the planes of the chunk's images once into a zero border of
     * the tiles' reach, then patch element e of tile j is at a fixed
     * offset from the tile's origin off[j]: d[e][j] = pp[off[j] + o(e)],
     * one indexed load across tiles per element. The border holds all of
     * the padding: m tw + 2 >= wo + 2 = w + 2 pw. */
    int wp = m * q->tw + 2, hp = m * q->th + 2, images = (int)((t + (size_t)n - 1) / per) - img + 1;
    size_t plane = (size_t)wp * hp;
    if ((size_t)images * plane <= WINO_PP) {
        float pp[WINO_PP];
        int off[WINO_TX];
        memset(pp, 0, (size_t)images * plane * sizeof *pp);
        for (int i = 0; i < images; i++) {
            const float *xp = x + ((size_t)(img + i) * q->ci + c) * q->h * q->w;
            for (int yy = 0; yy < q->h; yy++)
                memcpy(pp + i * plane + (size_t)(yy + q->ph) * wp + q->pw, xp + (size_t)yy * q->w,
                       (size_t)q->w * sizeof *pp);
        }
        for (int j = 0, i = 0; j < n; j++) {
            off[j] = (int)(i * plane) + m * ty * wp + m * tx;
            if (++tx == q->tw) {
                tx = 0;
                if (++ty == q->th) ty = 0, i++;
            }
        }
        patch_gather(d, pp, off, n, wp, P);
        return;
    }
    for (int j = 0; j < n; j++) {
        const float *xp = x + ((size_t)img * q->ci + c) * q->h * q->w;
        int y0 = m * ty - q->ph, x0 = m * tx - q->pw;
        if (y0 >= 0 && x0 >= 0 && y0 + P <= q->h && x0 + P <= q->w) {
            for (int r = 0; r < P; r++) {
                const float *row = xp + (size_t)(y0 + r) * q->w + x0;
                for (int k = 0; k < P; k++) d[P * r + k][j] = row[k];
            }
        } else {
            for (int r = 0; r < P; r++) {
                int yy = y0 + r;
                const float *row = yy >= 0 && yy < q->h ? xp + (size_t)yy * q->w : NULL;
                for (int k = 0; k < P; k++) {
                    int xx = x0 + k;
                    d[P * r + k][j] = row && xx >= 0 && xx < q->w ? row[xx] : 0;
                }
            }
        }
        if (++tx == q->tw) {
            tx = 0;
            if (++ty == q->th) ty = 0, img++;
        }
    }
}

/* F(2x2) input transform, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 * for planes with short tile rows (28x28 has 14 tiles a row, 7x7 four):
 * patches gathered across tile rows (wino_gather), WINO_TX tiles at a
 * time, both 1-D transforms across tiles. The same sums in the same order
 * as the row-wise transform below. */
LC_CLONES static void wino_in_gathered(float *V, const float *x, const struct wino *q, int c, size_t t0, size_t t1)
{
    size_t plane = q->vplane;
    float d[16][WINO_TX], hz[16][WINO_TX];
    for (size_t t = t0; t < t1;) {
        int n = t1 - t < WINO_TX ? (int)(t1 - t) : WINO_TX;
        wino_gather(d, x, q, c, t, n);
        for (int r = 0; r < 4; r++) { /* d B along each patch row */
            float *h0 = hz[4 * r], *h1 = hz[4 * r + 1], *h2 = hz[4 * r + 2], *h3 = hz[4 * r + 3];
            const float *e0 = d[4 * r], *e1 = d[4 * r + 1], *e2 = d[4 * r + 2], *e3 = d[4 * r + 3];
            LC_SIMD
            for (int j = 0; j < n; j++) {
                h0[j] = e0[j] - e2[j];
                h1[j] = e1[j] + e2[j];
                h2[j] = e2[j] - e1[j];
                h3[j] = e1[j] - e3[j];
            }
        }
        float *v = V + (size_t)c * q->tb + (t - t0);
        for (int b = 0; b < 4; b++) { /* B^T along each patch column */
            float *v0 = v + (size_t)b * plane, *v1 = v + (size_t)(4 + b) * plane;
            float *v2 = v + (size_t)(8 + b) * plane, *v3 = v + (size_t)(12 + b) * plane;
            const float *h0 = hz[b], *h1 = hz[4 + b], *h2 = hz[8 + b], *h3 = hz[12 + b];
            LC_SIMD
            for (int j = 0; j < n; j++) {
                v0[j] = h0[j] - h2[j];
                v1[j] = h1[j] + h2[j];
                v2[j] = h2[j] - h1[j];
                v3[j] = h1[j] - h3[j];
            }
        }
        t += (size_t)n;
    }
}

/* V[xi][c][t - t0] = (B^T d B)[xi] for the input patches of tiles [t0, t1)
 * of channel c. A tile row at a time: four zero-padded input rows are
 * split into even and odd columns, so both 1-D transforms run over
 * contiguous arrays of tiles (vectorised) and each xi gets a contiguous run. */
LC_CLONES static void wino_in(float *V, const float *x, const struct wino *q, int c, size_t t0, size_t t1)
{
    if (q->tw < WINO_ROWWISE) {
        wino_in_gathered(V, x, q, c, t0, t1);
        return;
    }
    size_t plane = q->vplane, per = (size_t)q->th * q->tw;
    float ev[4][WINO_TX + 1], od[4][WINO_TX + 1], hz[4][4][WINO_TX];
    for (size_t t = t0; t < t1;) {
        int img = (int)(t / per), ty = (int)(t % per / q->tw), tx0 = (int)(t % q->tw);
        int n = q->tw - tx0;
        if (n > WINO_TX) n = WINO_TX;
        if ((size_t)n > t1 - t) n = (int)(t1 - t);
        const float *xp = x + ((size_t)img * q->ci + c) * q->h * q->w;
        int x0 = 2 * tx0 - q->pw; /* input column of the first tile's first tap */
        /* columns j in [jlo, jhi) have both taps inside the row: loaded
         * without checks (a vectorised even/odd split) */
        int jlo = x0 >= 0 ? 0 : (1 - x0) / 2, jhi = (q->w - x0) / 2;
        if (jhi > n + 1) jhi = n + 1;
        if (jlo > jhi) jlo = jhi;
        for (int r = 0; r < 4; r++) {
            int yy = 2 * ty - q->ph + r;
            const float *row = yy >= 0 && yy < q->h ? xp + (size_t)yy * q->w : NULL;
            if (!row) {
                for (int j = 0; j <= n; j++) ev[r][j] = od[r][j] = 0;
            } else {
                for (int j = 0; j <= n; j++) {
                    if (j == jlo) j = jhi;
                    if (j > n) break;
                    int xe = x0 + 2 * j, xo = xe + 1;
                    ev[r][j] = xe >= 0 && xe < q->w ? row[xe] : 0;
                    od[r][j] = xo >= 0 && xo < q->w ? row[xo] : 0;
                }
                const float *in = row + x0;
                for (int j = jlo; j < jhi; j++) {
                    ev[r][j] = in[2 * j];
                    od[r][j] = in[2 * j + 1];
                }
            }
            for (int j = 0; j < n; j++) { /* d B along the row: columns e_j, o_j, e_j+1, o_j+1 */
                hz[r][0][j] = ev[r][j] - ev[r][j + 1];
                hz[r][1][j] = od[r][j] + ev[r][j + 1];
                hz[r][2][j] = ev[r][j + 1] - od[r][j];
                hz[r][3][j] = od[r][j] - od[r][j + 1];
            }
        }
        float *v = V + (size_t)c * q->tb + (t - t0);
        for (int b = 0; b < 4; b++) { /* B^T along the column */
            float *v0 = v + (size_t)b * plane, *v1 = v + (size_t)(4 + b) * plane;
            float *v2 = v + (size_t)(8 + b) * plane, *v3 = v + (size_t)(12 + b) * plane;
            for (int j = 0; j < n; j++) {
                v0[j] = hz[0][b][j] - hz[2][b][j];
                v1[j] = hz[1][b][j] + hz[2][b][j];
                v2[j] = hz[2][b][j] - hz[1][b][j];
                v3[j] = hz[1][b][j] - hz[3][b][j];
            }
        }
        t += (size_t)n;
    }
}

/* y = prelu((A^T m A) + bias) + res for the tiles [t0, t1) of output
 * channel o, a tile row at a time. */
LC_CLONES static void wino_out(float *y, const float *M, const struct wino *q, int o, size_t t0, size_t t1, float bias,
                               int has_slope, float slope, const float *res)
{
    size_t plane = q->mplane, per = (size_t)q->th * q->tw;
    float s[2][4][WINO_TX], out[2][2 * WINO_TX];
    for (size_t t = t0; t < t1;) {
        int img = (int)(t / per), ty = (int)(t % per / q->tw), tx0 = (int)(t % q->tw);
        int n = q->tw - tx0;
        if (n > WINO_TX) n = WINO_TX;
        if ((size_t)n > t1 - t) n = (int)(t1 - t);
        const float *m = M + (size_t)o * q->tb + (t - t0);
        for (int b = 0; b < 4; b++) { /* A^T m */
            const float *m0 = m + (size_t)b * plane, *m1 = m + (size_t)(4 + b) * plane;
            const float *m2 = m + (size_t)(8 + b) * plane, *m3 = m + (size_t)(12 + b) * plane;
            for (int j = 0; j < n; j++) {
                s[0][b][j] = m0[j] + m1[j] + m2[j];
                s[1][b][j] = m1[j] - m2[j] - m3[j];
            }
        }
        for (int a = 0; a < 2; a++) /* (.) A, interleaved into output columns */
            for (int j = 0; j < n; j++) {
                out[a][2 * j] = s[a][0][j] + s[a][1][j] + s[a][2][j];
                out[a][2 * j + 1] = s[a][1][j] - s[a][2][j] - s[a][3][j];
            }
        int ox0 = 2 * tx0, cols = 2 * n;
        if (ox0 + cols > q->wo) cols = q->wo - ox0;
        for (int a = 0; a < 2; a++) {
            int oy = 2 * ty + a;
            if (oy >= q->ho) break;
            size_t i0 = (((size_t)img * q->co + o) * q->ho + oy) * q->wo + ox0;
            epilogue(y + i0, out[a], (size_t)cols, bias, has_slope, slope, res ? res + i0 : NULL);
        }
        t += (size_t)n;
    }
}

/* F(4x4) input transform: V[xi][c][t - t0] = (B^T d B)[xi] for the 6x6
 * input patches d of tiles [t0, t1) of channel c, with B^T = [4 0 -5 0 1 0;
 * 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
 * Tiles go WINO_TX at a time: their patches are gathered into d[36][tile]
 * (a plane of 14x14 has only 4 tiles per row, too few to vectorise along
 * a row), then both 1-D transforms run across tiles. */
/* out[i][j] for i = 0..5: B^T applied to the six vectors in[k * stride][j] */
#define WINO4_BT(out, in, stride, n)                                                                             \
    do {                                                                                                         \
        LC_SIMD                                                                                                  \
        for (int j = 0; j < (n); j++) {                                                                          \
            float d0 = in[0][j], d1 = in[(stride)][j], d2 = in[2 * (stride)][j], d3 = in[3 * (stride)][j];       \
            float d4 = in[4 * (stride)][j], d5 = in[5 * (stride)][j];                                            \
            out(0)[j] = 4 * d0 - 5 * d2 + d4;                                                                    \
            out(1)[j] = d3 + d4 - 4 * (d1 + d2);                                                                 \
            out(2)[j] = 4 * (d1 - d2) + d4 - d3;                                                                 \
            out(3)[j] = 2 * (d3 - d1) + d4 - d2;                                                                 \
            out(4)[j] = 2 * (d1 - d3) + d4 - d2;                                                                 \
            out(5)[j] = 4 * d1 - 5 * d3 + d5;                                                                    \
        }                                                                                                        \
    } while (0)

LC_CLONES static void wino4_in(float *V, const float *x, const struct wino *q, int c, size_t t0, size_t t1)
{
    size_t plane = q->vplane;
    float d[36][WINO_TX], hz[36][WINO_TX];
    for (size_t t = t0; t < t1;) {
        int n = t1 - t < WINO_TX ? (int)(t1 - t) : WINO_TX;
        wino_gather(d, x, q, c, t, n);
        for (int r = 0; r < 6; r++) { /* d B along each patch row */
            float(*in)[WINO_TX] = d + 6 * r;
#define HZ_OUT(b) hz[6 * r + (b)]
            WINO4_BT(HZ_OUT, in, 1, n);
#undef HZ_OUT
        }
        float *v = V + (size_t)c * q->tb + (t - t0);
        for (int b = 0; b < 6; b++) { /* B^T along each patch column */
            float(*in)[WINO_TX] = hz + b;
#define V_OUT(a) (v + (size_t)(6 * (a) + b) * plane)
            WINO4_BT(V_OUT, in, 6, n);
#undef V_OUT
        }
        t += (size_t)n;
    }
}

/* F(4x4) output transform, A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0;
 * 0 1 -1 8 -8 1]: y = prelu((A^T m A) + bias) + res for the tiles [t0, t1)
 * of output channel o, across tiles then scattered (res may be y). */
LC_CLONES static void wino4_out(float *y, const float *M, const struct wino *q, int o, size_t t0, size_t t1,
                                float bias, int has_slope, float slope, const float *res)
{
    size_t plane = q->mplane, per = (size_t)q->th * q->tw;
    float s[24][WINO_TX], out[16][WINO_TX];
    for (size_t t = t0; t < t1;) {
        int n = t1 - t < WINO_TX ? (int)(t1 - t) : WINO_TX;
        const float *m = M + (size_t)o * q->tb + (t - t0);
        for (int b = 0; b < 6; b++) { /* A^T m, s[4a + ..] */
            const float *m0 = m + (size_t)b * plane, *m1 = m0 + 6 * plane, *m2 = m1 + 6 * plane;
            const float *m3 = m2 + 6 * plane, *m4 = m3 + 6 * plane, *m5 = m4 + 6 * plane;
LC_SIMD
            for (int j = 0; j < n; j++) {
                float p12 = m1[j] + m2[j], d12 = m1[j] - m2[j], p34 = m3[j] + m4[j], d34 = m3[j] - m4[j];
                s[b][j] = m0[j] + p12 + p34;
                s[6 + b][j] = d12 + 2 * d34;
                s[12 + b][j] = p12 + 4 * p34;
                s[18 + b][j] = d12 + 8 * d34 + m5[j];
            }
        }
        for (int a = 0; a < 4; a++) { /* (.) A, then bias and PReLU */
            const float *s0 = s[6 * a], *s1 = s[6 * a + 1], *s2 = s[6 * a + 2];
            const float *s3 = s[6 * a + 3], *s4 = s[6 * a + 4], *s5 = s[6 * a + 5];
LC_SIMD
            for (int j = 0; j < n; j++) {
                float p12 = s1[j] + s2[j], d12 = s1[j] - s2[j], p34 = s3[j] + s4[j], d34 = s3[j] - s4[j];
                float v0 = s0[j] + p12 + p34 + bias, v1 = d12 + 2 * d34 + bias;
                float v2 = p12 + 4 * p34 + bias, v3 = d12 + 8 * d34 + s5[j] + bias;
                if (has_slope) {
                    v0 = v0 < 0 ? v0 * slope : v0, v1 = v1 < 0 ? v1 * slope : v1;
                    v2 = v2 < 0 ? v2 * slope : v2, v3 = v3 < 0 ? v3 * slope : v3;
                }
                out[4 * a][j] = v0, out[4 * a + 1][j] = v1, out[4 * a + 2][j] = v2, out[4 * a + 3][j] = v3;
            }
        }
        int img = (int)(t / per), ty = (int)(t % per / q->tw), tx = (int)(t % q->tw);
        for (int j = 0; j < n; j++) {
            int oy0 = 4 * ty, ox0 = 4 * tx, rows = q->ho - oy0 < 4 ? q->ho - oy0 : 4;
            int cols = q->wo - ox0 < 4 ? q->wo - ox0 : 4;
            size_t i0 = (((size_t)img * q->co + o) * q->ho + oy0) * q->wo + ox0;
            if (rows == 4 && cols == 4) { /* a whole tile: four rows of four, no bounds */
                for (int a = 0; a < 4; a++) {
                    float *yr = y + i0 + (size_t)a * q->wo;
                    const float *rr = res ? res + i0 + (size_t)a * q->wo : NULL;
                    float r0 = rr ? rr[0] : 0, r1 = rr ? rr[1] : 0, r2 = rr ? rr[2] : 0, r3 = rr ? rr[3] : 0;
                    yr[0] = out[4 * a][j] + r0, yr[1] = out[4 * a + 1][j] + r1;
                    yr[2] = out[4 * a + 2][j] + r2, yr[3] = out[4 * a + 3][j] + r3;
                }
            } else {
                for (int a = 0; a < rows; a++)
                    for (int k = 0; k < cols; k++) {
                        size_t i = i0 + (size_t)a * q->wo + k;
                        y[i] = out[4 * a + k][j] + (res ? res[i] : 0);
                    }
            }
            if (++tx == q->tw) {
                tx = 0;
                if (++ty == q->th) ty = 0, img++;
            }
        }
        t += (size_t)n;
    }
}

/* y (n, co, ho, wo) = conv3x3 stride 1 of x (n, ci, h, w) with filters
 * already transformed into U (16, co, ci), then the epilogue. res may be y
 * (accumulation: each element is read before it is written). Each thread
 * owns an equal share of the tiles and of the scratch (V, M for as many
 * tiles as its share of q->tb) and runs transform, 16 GEMMs and inverse
 * transform on its own chunks: no barriers, data stays in its cache. */
static void wino_run(float *y, const float *x, const float *U, const struct wino *q, const float *b,
                     const float *slope, const float *res, float *ws)
{
    size_t tiles = (size_t)q->n * q->th * q->tw, np = (size_t)wino_np(q->m);
    int prev = lc_blas_serial_begin();
#pragma omp parallel
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        struct wino my = *q;
        size_t a, e, lo, hi, per = np * ((size_t)q->ci + q->co);
        lc_split(q->tb, nth, tid, &lo, &hi);
        /* this thread's region of the scratch: padded planes if it is large enough */
        size_t region = per * (hi - lo), pad = region >= 2 * np * WINO_PAD + 4 * per ? WINO_PAD : 0;
        my.tb = (region - 2 * np * pad) / per;
        my.vplane = (size_t)q->ci * my.tb + pad, my.mplane = (size_t)q->co * my.tb + pad;
        float *V = ws + per * lo, *M = V + np * my.vplane;
        size_t uplane = (size_t)q->co * q->ci + WINO_PAD;
        lc_split(tiles, nth, tid, &a, &e);
        for (size_t t0 = a; my.tb && t0 < e; t0 += my.tb) {
            size_t t1 = t0 + my.tb < e ? t0 + my.tb : e;
            for (int c = 0; c < q->ci; c++) {
                if (q->m == 4) wino4_in(V, x, &my, c, t0, t1);
                else wino_in(V, x, &my, c, t0, t1);
            }
            for (size_t k = 0; k < np; k++)
                lc_sgemm(0, 0, q->co, (int)(t1 - t0), q->ci, 1, U + k * uplane, q->ci, V + k * my.vplane,
                         (int)my.tb, 0, M + k * my.mplane, (int)my.tb);
            for (int o = 0; o < q->co; o++) {
                float bo = b ? b[o] : 0, so = slope ? slope[o] : 0;
                if (q->m == 4) wino4_out(y, M, &my, o, t0, t1, bo, slope != NULL, so, res);
                else wino_out(y, M, &my, o, t0, t1, bo, slope != NULL, so, res);
            }
        }
    }
    lc_blas_serial_end(prev);
}

/* wino_run with the work split by channels instead of tiles: for each
 * chunk of tiles, the threads transform a share of the input channels
 * each, meet once, then run the GEMMs and the inverse transform of a
 * share of the output channels. For layers with few tiles (deep stages:
 * 64 tiles at 7x7 in a batch of 16) a split by tiles gives each thread
 * GEMMs a few dozen columns wide that stream all of U; here U is read
 * once per chunk, in halves. */
static void wino_run_by_channel(float *y, const float *x, const float *U, const struct wino *q, const float *b,
                                const float *slope, const float *res, float *ws)
{
    size_t tiles = (size_t)q->n * q->th * q->tw, np = (size_t)wino_np(q->m), per = np * ((size_t)q->ci + q->co);
    struct wino my = *q;
    size_t region = per * q->tb, pad = region >= 2 * np * WINO_PAD + 4 * per ? WINO_PAD : 0;
    my.tb = (region - 2 * np * pad) / per;
    my.vplane = (size_t)q->ci * my.tb + pad, my.mplane = (size_t)q->co * my.tb + pad;
    float *V = ws, *M = V + np * my.vplane;
    size_t uplane = (size_t)q->co * q->ci + WINO_PAD;
    int prev = lc_blas_serial_begin();
#pragma omp parallel
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        size_t c0, c1, o0, o1;
        lc_split((size_t)q->ci, nth, tid, &c0, &c1);
        lc_split((size_t)q->co, nth, tid, &o0, &o1);
        for (size_t t0 = 0; t0 < tiles; t0 += my.tb) {
            size_t t1 = t0 + my.tb < tiles ? t0 + my.tb : tiles;
            for (size_t c = c0; c < c1; c++) {
                if (q->m == 4) wino4_in(V, x, &my, (int)c, t0, t1);
                else wino_in(V, x, &my, (int)c, t0, t1);
            }
#pragma omp barrier
            for (size_t k = 0; o1 > o0 && k < np; k++)
                lc_sgemm(0, 0, (int)(o1 - o0), (int)(t1 - t0), q->ci, 1, U + k * uplane + o0 * q->ci, q->ci,
                         V + k * my.vplane, (int)my.tb, 0, M + k * my.mplane + o0 * my.tb, (int)my.tb);
            for (size_t o = o0; o < o1; o++) {
                float bo = b ? b[o] : 0, so = slope ? slope[o] : 0;
                if (q->m == 4) wino4_out(y, M, &my, (int)o, t0, t1, bo, slope != NULL, so, res);
                else wino_out(y, M, &my, (int)o, t0, t1, bo, slope != NULL, so, res);
            }
            if (t1 < tiles) {
#pragma omp barrier
            }
        }
    }
    lc_blas_serial_end(prev);
}

/* Split by channel where a chunk has fewer tiles than output channels:
 * splitting by tile, every thread streams all of U (co x ci per point) for
 * its few columns; splitting by channel, each thread streams its share of
 * U and all of V (ci x tiles). On the 2-core VM (alternating pairs): 512
 * channels at 7x7 (64 tiles) 1.27-1.36x, 256->512 at 14x14 1.05-1.16x,
 * 256 at 14x14 (co = tiles) 0.94-1.07x, 128 at 28x28 0.82x. */
static int wino_by_channel(const struct wino *q)
{
    size_t tiles = (size_t)q->n * q->th * q->tw;
    return (size_t)q->co > (tiles < q->tb ? tiles : q->tb) && omp_get_max_threads() > 1;
}

static void wino_dispatch(float *y, const float *x, const float *U, const struct wino *q, const float *b,
                          const float *slope, const float *res, float *ws)
{
    if (wino_by_channel(q)) wino_run_by_channel(y, x, U, q, b, slope, res, ws);
    else wino_run(y, x, U, q, b, slope, res, ws);
}

/* U: the transformed filters (wino_filter), or NULL: transform w into ws;
 * m: tile side (wino_m) */
static void wino_forward(float *y, const float *x, const float *w, const float *U, const float *b,
                         const float *slope, const float *res, const struct lc_conv2d *p, float *ws, int m)
{
    struct wino q = {m, p->n, p->ci, p->h, p->w, p->co, p->ho, p->wo, p->ph, p->pw, (p->ho + m - 1) / m,
                     (p->wo + m - 1) / m, wino_tb(p, m), 0, 0};
    if (!U) {
        wino_filter(ws, w, p->co, p->ci, 0, m);
        U = ws;
    }
    float *scratch = ws + (size_t)wino_np(m) * wino_uplane(p);
    wino_dispatch(y, x, U, &q, b, slope, res, scratch);
}

/* dx += conv3x3(dy, rot180(w)^T, pad 2 - pad), or (set) dx = that + 0,
 * which is what adding it to zeros gives */
static void wino_dx(float *dx, const float *dy, const float *w, const struct lc_conv2d *p, float *ws, int set)
{
    int m = wino_m(p, 0);
    struct wino q = {m, p->n, p->co, p->ho, p->wo, p->ci, p->h, p->w, 2 - p->ph, 2 - p->pw, (p->h + m - 1) / m,
                     (p->w + m - 1) / m, wino_tb(p, m), 0, 0};
    float *U = ws;
    wino_filter(U, w, p->ci, p->co, 1, m);
    wino_dispatch(dx, dy, U, &q, NULL, NULL, set ? NULL : dx, ws + (size_t)wino_np(m) * wino_uplane(p));
}

/* ---- public */

int lc_conv2d_init(struct lc_conv2d *p, int n, int ci, int h, int w, int co, int k, int stride, int pad,
                   int groups, int bias, struct lc_err *err)
{
    memset(p, 0, sizeof *p);
    if (n < 1 || ci < 1 || h < 1 || w < 1 || co < 1 || k < 1 || stride < 1 || pad < 0 || groups < 1)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1,
                       "conv2d: bad sizes n=%d ci=%d h=%d w=%d co=%d k=%d stride=%d pad=%d groups=%d", n, ci, h, w,
                       co, k, stride, pad, groups);
    if (ci % groups || co % groups)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "conv2d: ci=%d and co=%d must be multiples of groups=%d", ci,
                       co, groups);
    if (bias != 0 && bias != 1) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "conv2d: bias must be 0 or 1");
    if ((long)h + 2L * pad < k || (long)w + 2L * pad < k)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "conv2d: kernel %d larger than padded input %dx%d", k,
                       h + 2 * pad, w + 2 * pad);
    int ho = (int)(((long)h + 2L * pad - k) / stride + 1), wo = (int)(((long)w + 2L * pad - k) / stride + 1);
    double big = 2147483648.0;
    if ((double)n * ci * h * w >= big || (double)n * co * ho * wo >= big || (double)co * (ci / groups) * k * k >= big)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "conv2d: tensor of 2^31 elements or more");
    *p = (struct lc_conv2d){.n = n, .ci = ci, .h = h, .w = w, .co = co, .kh = k, .kw = k, .sh = stride,
                            .sw = stride, .ph = pad, .pw = pad, .groups = groups, .bias = bias, .ho = ho, .wo = wo};
    return 0;
}

size_t lc_conv2d_workspace(const struct lc_conv2d *p)
{
    struct plan q;
    make_plan(&q, p);
    size_t gemm = gemm_ws(&q, p), wino = wino_ok(p) ? wino_ws(p) : 0;
    return gemm > wino ? gemm : wino;
}

/* infer: Winograd layers use the inference tile (wino_m) */
static void conv_forward(float *y, const float *x, const float *w, const float *b, const float *slope,
                         const float *res, const struct lc_conv2d *p, float *ws, int infer)
{
    struct plan q;
    make_plan(&q, p);
    if (q.depthwise) {
        dw_forward(y, x, w, b, slope, res, p, &q);
        return;
    }
    if (wino_ok(p)) {
        wino_forward(y, x, w, NULL, b, slope, res, p, ws, wino_m(p, infer));
        return;
    }
    int prev = lc_blas_serial_begin(), epi = b || slope || res;
    size_t total = (size_t)p->n * q.hwo, scratch = gemm_ws(&q, p);
#pragma omp parallel num_threads(gemm_threads(&q))
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        size_t a, e, lo, hi;
        split16(total, nth, tid, &a, &e);
        lc_split(scratch, nth, tid, &lo, &hi);
        /* this thread's scratch: cols (kall x st) then the GEMM output (co x st) */
        size_t st = (hi - lo) / (q.kall + (size_t)p->co);
        float *cols = ws ? ws + lo : NULL, *tmp = cols ? cols + q.kall * st : NULL;
        if (q.direct) st = e - a;
        for (size_t j = a; j < e;) {
            size_t len = chunk_len(&q, j, e, st), img = j / q.hwo, pos = j % q.hwo;
            const float *B;
            size_t ldb;
            if (q.direct) {
                B = x + img * p->ci * q.hwi + pos;
                ldb = q.hwi;
            } else {
                im2col(cols, len, x, p, &q, j, len, 0, p->ci);
                B = cols;
                ldb = len;
            }
            for (int g = 0; g < p->groups; g++) {
                const float *A = w + (size_t)g * q.cog * q.kg, *Bg = B + (size_t)g * q.kg * ldb;
                if (!q.crossing)
                    lc_sgemm(0, 0, q.cog, (int)len, (int)q.kg, 1, A, (int)q.kg, Bg, (int)ldb, 0,
                             y + (img * p->co + (size_t)g * q.cog) * q.hwo + pos, (int)q.hwo);
                else
                    lc_sgemm(0, 0, q.cog, (int)len, (int)q.kg, 1, A, (int)q.kg, Bg, (int)ldb, 0,
                             tmp + (size_t)g * q.cog * len, (int)len);
            }
            if (!q.crossing) {
                for (int m = 0; epi && m < p->co; m++) {
                    size_t o = (img * p->co + m) * q.hwo + pos;
                    epilogue(y + o, y + o, len, b ? b[m] : 0, slope != NULL, slope ? slope[m] : 0,
                             res ? res + o : NULL);
                }
            } else { /* scatter the chunk's columns to their images */
                for (size_t k = 0; k < len;) {
                    size_t gc = j + k, im = gc / q.hwo, ps = gc % q.hwo, n = q.hwo - ps;
                    if (n > len - k) n = len - k;
                    for (int m = 0; m < p->co; m++) {
                        size_t o = (im * p->co + m) * q.hwo + ps;
                        epilogue(y + o, tmp + (size_t)m * len + k, n, b ? b[m] : 0, slope != NULL,
                                 slope ? slope[m] : 0, res ? res + o : NULL);
                    }
                    k += n;
                }
            }
            j += len;
        }
    }
    lc_blas_serial_end(prev);
}

void lc_conv2d_forward_fused(float *y, const float *x, const float *w, const float *b, const float *slope,
                             const float *res, const struct lc_conv2d *p, float *ws)
{
    conv_forward(y, x, w, b, slope, res, p, ws, 1);
}

size_t lc_conv2d_prepared_size(const struct lc_conv2d *p)
{
    return wino_ok(p) ? (size_t)wino_np(wino_m(p, 1)) * wino_uplane(p)
                      : (size_t)p->co * (p->ci / p->groups) * p->kh * p->kw;
}

void lc_conv2d_prepare(float *pw, const float *w, const struct lc_conv2d *p)
{
    if (wino_ok(p)) {
        int m = wino_m(p, 1);
        wino_filter(pw, w, p->co, p->ci, 0, m);
        size_t plane = wino_uplane(p); /* zero the padding: the buffer is then fully defined */
        for (int k = 0; k < wino_np(m); k++) memset(pw + k * plane + (plane - WINO_PAD), 0, WINO_PAD * sizeof(float));
    } else {
        memcpy(pw, w, lc_conv2d_prepared_size(p) * sizeof(float));
    }
}

void lc_conv2d_forward_prepared(float *y, const float *x, const float *pw, const float *b, const float *slope,
                                const float *res, const struct lc_conv2d *p, float *ws)
{
    if (wino_ok(p)) wino_forward(y, x, NULL, pw, b, slope, res, p, ws, wino_m(p, 1));
    else lc_conv2d_forward_fused(y, x, pw, b, slope, res, p, ws);
}

void lc_conv2d_forward(float *y, const float *x, const float *w, const float *b, const struct lc_conv2d *p,
                       float *ws)
{
    conv_forward(y, x, w, b, NULL, NULL, p, ws, 0);
}

void lc_conv2d_forward_prelu(float *y, const float *x, const float *w, const float *b, const float *slope,
                             const struct lc_conv2d *p, float *ws)
{
    lc_conv2d_forward_fused(y, x, w, b, slope, NULL, p, ws);
}

static void conv_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                          const struct lc_conv2d *p, float *ws, int set)
{
    struct plan q;
    make_plan(&q, p);
    if (set && dx && !wino_ok(p)) /* Winograd writes dx itself; the other paths accumulate */
        memset(dx, 0, sizeof(float) * (size_t)p->n * p->ci * q.hwi);
    if (db) {
#pragma omp parallel for schedule(static)
        for (int c = 0; c < p->co; c++) {
            double s = 0;
            for (int n = 0; n < p->n; n++) {
                const float *d = dy + ((size_t)n * p->co + c) * q.hwo;
                float part = 0; /* one plane in float, planes summed in double */
                for (size_t i = 0; i < q.hwo; i++) part += d[i];
                s += part;
            }
            db[c] += (float)s;
        }
    }
    if (!dx && !dw) return;
    if (q.depthwise) {
        dw_backward(dx, dw, dy, x, w, p, &q);
        return;
    }
    if (dx && wino_ok(p)) {
        wino_dx(dx, dy, w, p, ws, set);
        dx = NULL;
        if (!dw) return;
    }
    int prev = lc_blas_serial_begin();
    size_t total = (size_t)p->n * q.hwo, scratch = gemm_ws(&q, p);
#pragma omp parallel num_threads(gemm_threads(&q))
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        size_t c0, c1, lo, hi;
        lc_split((size_t)p->ci, nth, tid, &c0, &c1); /* this thread's input channels */
        lc_split(scratch, nth, tid, &lo, &hi);
        size_t kc = (c1 - c0) * q.kk;
        /* scratch: cols / dcols of my channels (kc x st), then dy gathered (co x st) */
        size_t st = kc ? (hi - lo) / (kc + (q.crossing ? (size_t)p->co : 0)) : 0;
        /* chunks of at most 2 MB of columns, so that dcols is still in L2 when
         * col2im reads it (longer chunks for dw alone were not faster) */
        if (kc && st > BWD_CHUNK / kc) st = BWD_CHUNK / kc;
        if (st > 16) st = st / 16 * 16;
        float *cols = ws ? ws + lo : NULL, *dyt = cols ? cols + kc * st : NULL;
        if (q.direct) st = total;
        for (size_t j = 0; kc && st && j < total;) {
            size_t len = chunk_len(&q, j, total, st), img = j / q.hwo, pos = j % q.hwo;
            /* dy of the chunk as a (Co, len) matrix */
            const float *dY = dy + img * p->co * q.hwo + pos;
            size_t lddy = q.hwo;
            if (q.crossing) {
                for (size_t k = 0; k < len;) {
                    size_t gc = j + k, im = gc / q.hwo, ps = gc % q.hwo, n = q.hwo - ps;
                    if (n > len - k) n = len - k;
                    for (int m = 0; m < p->co; m++)
                        memcpy(dyt + (size_t)m * len + k, dy + (im * p->co + m) * q.hwo + ps, sizeof(float) * n);
                    k += n;
                }
                dY = dyt;
                lddy = len;
            }
            for (int pass = 0; pass < 2; pass++) {
                if (pass == 0 ? !dw : !dx) continue;
                const float *X = cols;
                size_t ldx = len;
                if (q.direct) {
                    X = x + (img * p->ci + c0) * q.hwi + pos;
                    ldx = q.hwi;
                } else if (pass == 0) {
                    im2col(cols, len, x, p, &q, j, len, (int)c0, (int)c1);
                }
                for (int g = 0; g < p->groups; g++) { /* the groups my channels fall in */
                    size_t cs = (size_t)g * q.cig > c0 ? (size_t)g * q.cig : c0;
                    size_t ce = (size_t)(g + 1) * q.cig < c1 ? (size_t)(g + 1) * q.cig : c1;
                    if (cs >= ce) continue;
                    const float *dYg = dY + (size_t)g * q.cog * lddy;
                    size_t wcol = (cs - (size_t)g * q.cig) * q.kk; /* first column of W_g / dw_g */
                    int rows = (int)((ce - cs) * q.kk);
                    if (pass == 0) /* dw_g[:, mine] += dy_g X_mine^T */
                        lc_sgemm(0, 1, q.cog, rows, (int)len, 1, dYg, (int)lddy, X + (cs - c0) * q.kk * ldx,
                                 (int)ldx, 1, dw + (size_t)g * q.cog * q.kg + wcol, (int)q.kg);
                    else if (q.direct) /* dx[mine] += W_g[:, mine]^T dy_g */
                        lc_sgemm(1, 0, rows, (int)len, q.cog, 1, w + (size_t)g * q.cog * q.kg + wcol, (int)q.kg,
                                 dYg, (int)lddy, 1, dx + (img * p->ci + cs) * q.hwi + pos, (int)q.hwi);
                    else /* dcols[mine] = W_g[:, mine]^T dy_g */
                        lc_sgemm(1, 0, rows, (int)len, q.cog, 1, w + (size_t)g * q.cog * q.kg + wcol, (int)q.kg,
                                 dYg, (int)lddy, 0, cols + (cs - c0) * q.kk * len, (int)len);
                }
                if (pass == 1 && !q.direct) /* col2im into my channels' planes */
                    for (size_t k = 0; k < len;) {
                        size_t gc = j + k, im = gc / q.hwo, ps = gc % q.hwo, n = q.hwo - ps;
                        if (n > len - k) n = len - k;
                        for (size_t c = c0; c < c1; c++)
                            col2im_plane(dx + (im * p->ci + c) * q.hwi, cols + (c - c0) * q.kk * len, len, p, ps,
                                         ps + n, k);
                        k += n;
                    }
            }
            j += len;
        }
    }
    lc_blas_serial_end(prev);
}

void lc_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const struct lc_conv2d *p, float *ws)
{
    conv_backward(dx, dw, db, dy, x, w, p, ws, 0);
}

void lc_conv2d_backward_set(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            const struct lc_conv2d *p, float *ws)
{
    conv_backward(dx, dw, db, dy, x, w, p, ws, 1);
}

void lc_conv2d_fold_bn(float *w_out, float *b_out, const float *w, const float *b, const float *gamma,
                       const float *beta, const float *run_mean, const float *run_var, float eps,
                       const struct lc_conv2d *p)
{
    size_t per = (size_t)(p->ci / p->groups) * p->kh * p->kw;
    for (int c = 0; c < p->co; c++) {
        double s = (gamma ? gamma[c] : 1.0) / sqrt((double)run_var[c] + eps);
        for (size_t i = 0; i < per; i++) w_out[c * per + i] = (float)(w[c * per + i] * s);
        b_out[c] = (float)(((b ? b[c] : 0.0) - run_mean[c]) * s + (beta ? beta[c] : 0.0));
    }
}
