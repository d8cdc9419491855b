/* augment: crop, low-resolution, photometric and flip augmentations with
 * the reference's parameters and PIL's integer arithmetic. */
#include "augment.h"

#include <math.h>
#include <string.h>

#include "cvresize.h"
#include "rng.h"

size_t lc_augment_workspace(int h, int w)
{
    size_t img = (size_t)h * w * 3;
    return 2 * img + lc_cvresize_workspace(h, w, h, w, 3) + 64;
}

void lc_augment_rrc_params(struct lc_rng *rng, int h, int w, int *i, int *j, int *ch, int *cw)
{
    const double area = (double)h * w, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int t = 0; t < 10; t++) {
        double target = area * (0.2 + 0.8 * lc_rng_uniform_double(rng));
        double ar = exp(lr0 + (lr1 - lr0) * lc_rng_uniform_double(rng));
        int ww = (int)lround(sqrt(target * ar)), hh = (int)lround(sqrt(target / ar));
        if (ww > 0 && ww <= w && hh > 0 && hh <= h) {
            *i = (int)lc_rng_below(rng, (uint64_t)(h - hh + 1));
            *j = (int)lc_rng_below(rng, (uint64_t)(w - ww + 1));
            *ch = hh, *cw = ww;
            return;
        }
    }
    /* central crop fallback (torchvision) */
    double in_ratio = (double)w / h;
    int ww = w, hh = h;
    if (in_ratio < 3.0 / 4.0) hh = (int)lround(ww / (3.0 / 4.0));
    else if (in_ratio > 4.0 / 3.0) ww = (int)lround(hh * (4.0 / 3.0));
    *ch = hh, *cw = ww, *i = (h - hh) / 2, *j = (w - ww) / 2;
}

void lc_augment_crop_paste(uint8_t *img, int h, int w, int i, int j, int ch, int cw)
{
    for (int y = 0; y < h; y++) {
        uint8_t *row = img + (size_t)y * w * 3;
        if (y < i || y >= i + ch) {
            memset(row, 0, (size_t)w * 3);
            continue;
        }
        memset(row, 0, (size_t)j * 3);
        memset(row + (size_t)(j + cw) * 3, 0, (size_t)(w - j - cw) * 3);
    }
}

/* PIL's Image.blend(degenerate, image, alpha) for u8: interpolation in
 * float truncated to an integer; extrapolation clipped first. alpha is a C
 * float, as PIL receives it. */
static uint8_t blend(int in1, int in2, float alpha)
{
    float v = (float)in1 + alpha * (float)(in2 - in1);
    if (alpha >= 0 && alpha <= 1) return (uint8_t)(int)v;
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(int)v;
}

/* PIL's RGB -> L, on whatever sits in the "R, G, B" slots */
static int pil_gray(const uint8_t *p) { return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16; }

void lc_augment_brightness(uint8_t *img, size_t pixels, float factor)
{
    for (size_t k = 0; k < pixels * 3; k++) img[k] = blend(0, img[k], factor);
}

void lc_augment_contrast(uint8_t *img, size_t pixels, float factor)
{
    double sum = 0; /* ImageStat mean of the L image, then int(mean + 0.5) */
    for (size_t k = 0; k < pixels; k++) sum += pil_gray(img + 3 * k);
    int mean = (int)(sum / (double)pixels + 0.5);
    for (size_t k = 0; k < pixels * 3; k++) img[k] = blend(mean, img[k], factor);
}

void lc_augment_saturation(uint8_t *img, size_t pixels, float factor)
{
    for (size_t k = 0; k < pixels; k++) {
        int g = pil_gray(img + 3 * k);
        for (int c = 0; c < 3; c++) img[3 * k + c] = blend(g, img[3 * k + c], factor);
    }
}

void lc_augment_flip(uint8_t *img, int h, int w)
{
    for (int y = 0; y < h; y++) {
        uint8_t *row = img + (size_t)y * w * 3;
        for (int a = 0, b = w - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
    }
}

void lc_augment_apply(uint8_t *img, int h, int w, const struct lc_augment *a, struct lc_rng *rng, void *ws,
                      struct lc_augment_trace *trace)
{
    struct lc_augment_trace t;
    memset(&t, 0, sizeof t);
    if (lc_rng_uniform(rng) < a->crop_p) {
        t.cropped = 1;
        lc_augment_rrc_params(rng, h, w, &t.crop[0], &t.crop[1], &t.crop[2], &t.crop[3]);
        lc_augment_crop_paste(img, h, w, t.crop[0], t.crop[1], t.crop[2], t.crop[3]);
    }
    if (lc_rng_uniform(rng) < a->lowres_p) {
        static const int interps[5] = {LC_INTER_NEAREST, LC_INTER_LINEAR, LC_INTER_AREA, LC_INTER_CUBIC, LC_INTER_LANCZOS4};
        double r = 0.2 + 0.8 * lc_rng_uniform_double(rng);
        int side = (int)(r * h);
        if (side < 1) side = 1;
        t.lowres = 1, t.side = side;
        t.interp[0] = interps[lc_rng_below(rng, 5)];
        t.interp[1] = interps[lc_rng_below(rng, 5)];
        uint8_t *small = ws, *scratch = small + (size_t)h * w * 3;
        lc_cvresize_u8(small, side, side, img, h, w, 3, t.interp[0], scratch);
        lc_cvresize_u8(img, h, w, small, side, side, 3, t.interp[1], scratch);
    }
    if (lc_rng_uniform(rng) < a->photo_p) {
        t.photo = 1;
        /* torchvision ColorJitter.get_params: a permutation of the four
         * adjustments (hue is off), then the three factors */
        int perm[4] = {0, 1, 2, 3};
        for (int k = 3; k > 0; k--) {
            int m = (int)lc_rng_below(rng, (uint64_t)k + 1), tmp = perm[k];
            perm[k] = perm[m];
            perm[m] = tmp;
        }
        for (int k = 0; k < 3; k++) t.factor[k] = 0.5f + lc_rng_uniform(rng);
        int n = 0;
        for (int k = 0; k < 4; k++) {
            if (perm[k] == 3) continue;
            t.order[n++] = perm[k];
            size_t px = (size_t)h * w;
            if (perm[k] == 0) lc_augment_brightness(img, px, t.factor[0]);
            else if (perm[k] == 1) lc_augment_contrast(img, px, t.factor[1]);
            else lc_augment_saturation(img, px, t.factor[2]);
        }
    }
    if (lc_rng_uniform(rng) < a->flip_p) {
        t.flipped = 1;
        lc_augment_flip(img, h, w);
    }
    if (trace) *trace = t;
}
