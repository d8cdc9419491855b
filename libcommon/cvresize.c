/* cvresize: OpenCV's resize for u8, transcribed from its algorithm
 * (coordinate mapping, kernels, 11-bit fixed-point weights, replicated
 * borders, the area tables and the 2x2 fast path), written fresh. */
#include "cvresize.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COEF_BITS 11
#define COEF_SCALE (1 << COEF_BITS)

static int ifloor(double x) { return (int)floor(x); }

static uint8_t sat_u8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

static uint8_t round_u8(float v) /* saturate_cast<uchar>(float): round half to even */
{
    int i = (int)lrintf(v);
    return sat_u8(i);
}

static void cubic_coeffs(float x, float *c)
{
    const float A = -0.75f;
    c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = 1.f - c[0] - c[1] - c[2];
}

static void lanczos4_coeffs(float x, float *c)
{
    static const double s45 = 0.70710678118654752440084436210485;
    static const double cs[8][2] = {{1, 0}, {-s45, -s45}, {0, 1}, {s45, -s45}, {-1, 0}, {s45, s45}, {0, -1}, {-s45, s45}};
    if (x < FLT_EPSILON) {
        for (int i = 0; i < 8; i++) c[i] = 0;
        c[3] = 1;
        return;
    }
    float sum = 0;
    double y0 = -(x + 3) * M_PI * 0.25, s0 = sin(y0), c0 = cos(y0);
    for (int i = 0; i < 8; i++) {
        double y = -(x + 3 - i) * M_PI * 0.25;
        c[i] = (float)((cs[i][0] * s0 + cs[i][1] * c0) / (y * y));
        sum += c[i];
    }
    sum = 1.f / sum;
    for (int i = 0; i < 8; i++) c[i] *= sum;
}

/* Source index and fixed-point weights of every destination index along
 * one axis (resizeGeneric's coefficient tables). */
static void taps(int *ofs, short *w, int dsize, int ssize, double scale, double inv_scale, int interp, int ksize, int area_mode)
{
    int ksize2 = ksize / 2;
    for (int d = 0; d < dsize; d++) {
        float f;
        int s;
        if (!area_mode) {
            f = (float)((d + 0.5) * scale - 0.5);
            s = ifloor(f);
            f -= (float)s;
        } else {
            s = ifloor(d * scale);
            f = (float)((d + 1) - (s + 1) * inv_scale);
            f = f <= 0 ? 0.f : f - (float)ifloor(f);
        }
        int cubic_like = interp == LC_INTER_CUBIC || interp == LC_INTER_LANCZOS4;
        if (s < ksize2 - 1 && s < 0 && !cubic_like) f = 0, s = 0;
        if (s + ksize2 >= ssize && s >= ssize - 1 && !cubic_like) f = 0, s = ssize - 1;
        float cb[8];
        if (interp == LC_INTER_CUBIC) cubic_coeffs(f, cb);
        else if (interp == LC_INTER_LANCZOS4) lanczos4_coeffs(f, cb);
        else cb[0] = 1.f - f, cb[1] = f;
        ofs[d] = s;
        for (int k = 0; k < ksize; k++) {
            float v = cb[k] * COEF_SCALE;
            int iv = (int)lrintf(v);
            w[d * ksize + k] = (short)(iv < -32768 ? -32768 : iv > 32767 ? 32767 : iv);
        }
    }
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void resize_generic(uint8_t *dst, int dh, int dw, const uint8_t *src, int sh, int sw, int c, int interp,
                           double sx_scale, double sx_inv, double sy_scale, double sy_inv, int area_mode, void *wsv)
{
    int ksize = interp == LC_INTER_CUBIC ? 4 : interp == LC_INTER_LANCZOS4 ? 8 : 2, k2 = ksize / 2;
    char *ws = wsv;
    int *xofs = (int *)ws, *yofs = xofs + dw;
    short *alpha = (short *)(yofs + dh), *beta = alpha + (size_t)dw * ksize;
    int *rows = (int *)(beta + (size_t)dh * ksize + 8); /* ksize rows of dw*c ints */
    rows = (int *)(((uintptr_t)rows + 15) & ~(uintptr_t)15);
    taps(xofs, alpha, dw, sw, sx_scale, sx_inv, interp, ksize, area_mode);
    taps(yofs, beta, dh, sh, sy_scale, sy_inv, interp, ksize, area_mode);
    for (int dy = 0; dy < dh; dy++) {
        for (int k = 0; k < ksize; k++) { /* horizontal pass of each source row this output needs */
            const uint8_t *S = src + (size_t)clampi(yofs[dy] - k2 + 1 + k, 0, sh - 1) * sw * c;
            int *D = rows + (size_t)k * dw * c;
            for (int dx = 0; dx < dw; dx++) {
                const short *a = alpha + (size_t)dx * ksize;
                for (int ch = 0; ch < c; ch++) {
                    int acc = 0;
                    for (int t = 0; t < ksize; t++) acc += S[clampi(xofs[dx] - k2 + 1 + t, 0, sw - 1) * c + ch] * a[t];
                    D[dx * c + ch] = acc;
                }
            }
        }
        const short *b = beta + (size_t)dy * ksize;
        uint8_t *out = dst + (size_t)dy * dw * c;
        int x0 = 0;
        if (ksize == 2) { /* bilinear: OpenCV's vector loop rounds in two steps */
            const int *S0 = rows, *S1 = rows + (size_t)dw * c;
            for (int x = 0; x < dw * c; x++)
                out[x] = sat_u8((((b[0] * (S0[x] >> 4)) >> 16) + ((b[1] * (S1[x] >> 4)) >> 16) + 2) >> 2);
            x0 = dw * c;
        }
        for (int x = x0; x < dw * c; x++) {
            int64_t acc = 0;
            for (int k = 0; k < ksize; k++) acc += (int64_t)rows[(size_t)k * dw * c + x] * b[k];
            /* FixedPtCast<int, uchar, 22>: round, shift, saturate */
            out[x] = sat_u8((int)((acc + (1 << (2 * COEF_BITS - 1))) >> (2 * COEF_BITS)));
        }
    }
}

/* Area averaging for shrinking by non-integer factors (computeResizeAreaTab). */
struct atab {
    int di, si;
    float a;
};

static int area_tab(struct atab *t, int ssize, int dsize, double scale)
{
    int k = 0;
    for (int d = 0; d < dsize; d++) {
        double f1 = d * scale, f2 = f1 + scale;
        double cell = fmin(scale, ssize - f1);
        int s1 = (int)ceil(f1), s2 = ifloor(f2);
        s2 = s2 < ssize - 1 ? s2 : ssize - 1;
        s1 = s1 < s2 ? s1 : s2;
        if (s1 - f1 > 1e-3) t[k++] = (struct atab){d, s1 - 1, (float)((s1 - f1) / cell)};
        for (int s = s1; s < s2; s++) t[k++] = (struct atab){d, s, (float)(1.0 / cell)};
        if (f2 - s2 > 1e-3) t[k++] = (struct atab){d, s2, (float)(fmin(fmin(f2 - s2, 1.0), cell) / cell)};
    }
    return k;
}

static void resize_area(uint8_t *dst, int dh, int dw, const uint8_t *src, int sh, int sw, int c, double sx, double sy,
                        void *wsv)
{
    struct atab *xt = wsv, *yt = xt + (size_t)sw * 2 + 4;
    float *buf = (float *)(yt + (size_t)sh * 2 + 4), *sum = buf + (size_t)dw * c;
    int nx = area_tab(xt, sw, dw, sx), ny = area_tab(yt, sh, dh, sy);
    int cur = -1;
    for (int j = 0; j < ny; j++) {
        int dy = yt[j].di;
        if (dy != cur) {
            if (cur >= 0)
                for (int x = 0; x < dw * c; x++) dst[(size_t)cur * dw * c + x] = round_u8(sum[x]);
            memset(sum, 0, sizeof(float) * dw * c);
            cur = dy;
        }
        memset(buf, 0, sizeof(float) * dw * c);
        const uint8_t *S = src + (size_t)yt[j].si * sw * c;
        for (int i = 0; i < nx; i++)
            for (int ch = 0; ch < c; ch++) buf[xt[i].di * c + ch] += S[xt[i].si * c + ch] * xt[i].a;
        for (int x = 0; x < dw * c; x++) sum[x] += buf[x] * yt[j].a;
    }
    if (cur >= 0)
        for (int x = 0; x < dw * c; x++) dst[(size_t)cur * dw * c + x] = round_u8(sum[x]);
}

/* Integer shrink factors (resizeAreaFast): block means; 2x2 as OpenCV's
 * vector code rounds it, (a+b+c+d+2)>>2. */
static void resize_area_fast(uint8_t *dst, int dh, int dw, const uint8_t *src, int sw, int c, int fx, int fy)
{
    int area = fx * fy;
    float scale = 1.f / (float)area;
    for (int dy = 0; dy < dh; dy++)
        for (int dx = 0; dx < dw; dx++)
            for (int ch = 0; ch < c; ch++) {
                int s = 0;
                for (int y = 0; y < fy; y++)
                    for (int x = 0; x < fx; x++) s += src[((size_t)(dy * fy + y) * sw + (size_t)(dx * fx + x)) * c + ch];
                dst[((size_t)dy * dw + dx) * c + ch] = area == 4 ? (uint8_t)((s + 2) >> 2) : round_u8((float)s * scale);
            }
}

size_t lc_cvresize_workspace(int sh, int sw, int dh, int dw, int c)
{
    size_t generic = (size_t)(dw + dh) * sizeof(int) + (size_t)(dw + dh) * 8 * sizeof(short) + 64 +
                     (size_t)8 * dw * c * sizeof(int);
    size_t area = ((size_t)sw * 2 + (size_t)sh * 2 + 8) * sizeof(struct atab) + (size_t)2 * dw * c * sizeof(float);
    return generic > area ? generic : area;
}

void lc_cvresize_u8(uint8_t *dst, int dh, int dw, const uint8_t *src, int sh, int sw, int c, int interp, void *ws)
{
    double inv_x = (double)dw / sw, inv_y = (double)dh / sh, sx = 1. / inv_x, sy = 1. / inv_y;
    if (interp == LC_INTER_NEAREST) {
        for (int dy = 0; dy < dh; dy++) {
            int y = ifloor(dy * sy);
            y = y < sh - 1 ? y : sh - 1;
            for (int dx = 0; dx < dw; dx++) {
                int x = ifloor(dx * sx);
                x = x < sw - 1 ? x : sw - 1;
                memcpy(dst + ((size_t)dy * dw + dx) * c, src + ((size_t)y * sw + x) * c, (size_t)c);
            }
        }
        return;
    }
    int ix = (int)lrint(sx), iy = (int)lrint(sy);
    int area_fast = fabs(sx - ix) < DBL_EPSILON && fabs(sy - iy) < DBL_EPSILON;
    if (interp == LC_INTER_LINEAR && area_fast && ix == 2 && iy == 2) interp = LC_INTER_AREA; /* OpenCV does this too */
    if (interp == LC_INTER_AREA && sx >= 1 && sy >= 1) {
        if (area_fast) resize_area_fast(dst, dh, dw, src, sw, c, ix, iy);
        else resize_area(dst, dh, dw, src, sh, sw, c, sx, sy, ws);
        return;
    }
    /* enlarging with INTER_AREA: linear with OpenCV's area-upscale weights */
    int area_mode = interp == LC_INTER_AREA;
    resize_generic(dst, dh, dw, src, sh, sw, c, area_mode ? LC_INTER_LINEAR : interp, sx, inv_x, sy, inv_y, area_mode, ws);
}
