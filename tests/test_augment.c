/* augment: cv2.resize's five interpolations and PIL's enhancements against
 * goldens made by OpenCV and PIL (tests/make_golden.py augment), the crop
 * geometry, and the augmenter's probabilities. */
#include <stdlib.h>

#include "augment.h"
#include "cvresize.h"
#include "rng.h"
#include "testutil.h"

static const char *names[5] = {"nearest", "linear", "area", "cubic", "lanczos4"};
static const int codes[5] = {LC_INTER_NEAREST, LC_INTER_LINEAR, LC_INTER_AREA, LC_INTER_CUBIC, LC_INTER_LANCZOS4};

/* Largest per-value difference and how many values differ. */
static int compare(const uint8_t *a, const uint8_t *b, size_t n, int *ndiff)
{
    int worst = 0;
    *ndiff = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs(a[i] - b[i]);
        if (d) (*ndiff)++;
        if (d > worst) worst = d;
    }
    return worst;
}

static void check_resize(const uint8_t *src, int sh, int sw, const char *fixture, int code, const char *what)
{
    struct tu_array want = tu_fixture(fixture);
    int dh = (int)want.h.dims[0], dw = (int)want.h.dims[1];
    uint8_t *got = malloc((size_t)dh * dw * 3);
    void *ws = malloc(lc_cvresize_workspace(sh, sw, dh, dw, 3));
    lc_cvresize_u8(got, dh, dw, src, sh, sw, 3, code, ws);
    int nd, worst = compare(got, want.data, (size_t)dh * dw * 3, &nd);
    /* nearest, area and bilinear shrinking are exact; elsewhere OpenCV's
     * vector paths round a few sums differently: 1 level, under 2% */
    int exact = code == LC_INTER_NEAREST || code == LC_INTER_AREA || (code == LC_INTER_LINEAR && dh <= sh);
    cr_expect_leq(worst, exact ? 0 : 1, "%s: %d of %d values differ from cv2.resize, by up to %d", what, nd, dh * dw * 3, worst);
    cr_expect_leq(nd, dh * dw * 3 / 50, "%s: %d values differ from cv2.resize", what, nd);
    free(got);
    free(ws);
    tu_free(&want);
}

Test(augment, resize_matches_opencv)
{
    struct tu_array img = tu_fixture("augment/img.npy");
    int h = (int)img.h.dims[0];
    const int sides[5] = {13, 21, 32, 33, 57};
    for (int m = 0; m < 5; m++) {
        for (int s = 0; s < 5; s++) {
            char f[96], what[96];
            snprintf(f, sizeof f, "augment/down_%s_%d.npy", names[m], sides[s]);
            snprintf(what, sizeof what, "%s down to %d", names[m], sides[s]);
            check_resize(img.data, h, h, f, codes[m], what);
            struct tu_array small = tu_fixture(f);
            snprintf(f, sizeof f, "augment/up_%s_%d.npy", names[m], sides[s]);
            snprintf(what, sizeof what, "%s up from %d", names[m], sides[s]);
            check_resize(small.data, sides[s], sides[s], f, codes[m], what);
            tu_free(&small);
        }
        char f[96], what[96];
        snprintf(f, sizeof f, "augment/rect_%s.npy", names[m]);
        snprintf(what, sizeof what, "%s, non-square", names[m]);
        check_resize(img.data, 56, h, f, codes[m], what);
    }
    tu_free(&img);
}

Test(augment, enhancements_match_pil_on_bgr_data)
{
    struct tu_array img = tu_fixture("augment/img.npy");
    size_t px = img.n / 3;
    const float factors[5] = {0.5f, 0.73f, 1.0f, 1.27f, 1.5f};
    void (*fn[3])(uint8_t *, size_t, float) = {lc_augment_brightness, lc_augment_contrast, lc_augment_saturation};
    const char *fname[3] = {"brightness", "contrast", "saturation"};
    uint8_t *got = malloc(img.n);
    for (int k = 0; k < 3; k++)
        for (int f = 0; f < 5; f++) {
            char path[96];
            snprintf(path, sizeof path, "augment/%s_%.2f.npy", fname[k], (double)factors[f]);
            struct tu_array want = tu_fixture(path);
            memcpy(got, img.data, img.n);
            fn[k](got, px, factors[f]);
            int nd, worst = compare(got, want.data, img.n, &nd);
            cr_expect_eq(nd, 0, "%s %.2f: %d values differ from PIL (worst %d)", fname[k], (double)factors[f], nd, worst);
            tu_free(&want);
        }
    free(got);
    tu_free(&img);
}

Test(augment, crop_geometry_and_paste)
{
    struct lc_rng r;
    lc_rng_seed(&r, 3);
    double area = 0;
    for (int t = 0; t < 2000; t++) {
        int i, j, h, w;
        lc_augment_rrc_params(&r, 112, 112, &i, &j, &h, &w);
        cr_assert(h > 0 && w > 0 && i >= 0 && j >= 0 && i + h <= 112 && j + w <= 112);
        double ratio = (double)w / h;
        cr_assert(ratio > 0.7 && ratio < 1.4, "aspect %g", ratio);
        area += (double)h * w / (112.0 * 112) / 2000;
    }
    cr_expect(area > 0.5 && area < 0.65, "mean kept area %.3f (U(0.2, 1) -> 0.6)", area);
    uint8_t img[8 * 6 * 3];
    memset(img, 9, sizeof img);
    lc_augment_crop_paste(img, 8, 6, 2, 1, 3, 4);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 6; x++) {
            int in = y >= 2 && y < 5 && x >= 1 && x < 5;
            cr_expect_eq(img[(y * 6 + x) * 3], in ? 9 : 0, "(%d,%d)", y, x);
        }
}

Test(augment, probabilities_and_flip)
{
    struct lc_rng r;
    lc_rng_seed(&r, 4);
    struct lc_augment a = {0.2f, 0.2f, 0.2f, 0.5f};
    uint8_t *img = malloc(112 * 112 * 3), *ws = malloc(lc_augment_workspace(112, 112));
    int n = 3000, c = 0, l = 0, p = 0, f = 0;
    for (int t = 0; t < n; t++) {
        for (int k = 0; k < 112 * 112 * 3; k++) img[k] = (uint8_t)(k * 7);
        struct lc_augment_trace tr;
        lc_augment_apply(img, 112, 112, &a, &r, ws, &tr);
        c += tr.cropped, l += tr.lowres, p += tr.photo, f += tr.flipped;
        if (tr.lowres) cr_assert(tr.side >= 22 && tr.side <= 112);
        if (tr.photo)
            for (int k = 0; k < 3; k++) cr_assert(tr.factor[k] >= 0.5f && tr.factor[k] <= 1.5f);
    }
    cr_expect(abs(c - 600) < 90 && abs(l - 600) < 90 && abs(p - 600) < 90, "%d %d %d of 3000 (p = 0.2)", c, l, p);
    cr_expect(abs(f - 1500) < 120, "%d flips", f);
    uint8_t row[4 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    lc_augment_flip(row, 1, 4);
    const uint8_t want[12] = {10, 11, 12, 7, 8, 9, 4, 5, 6, 1, 2, 3};
    cr_expect_eq(memcmp(row, want, 12), 0, "pixels reversed, channels kept");
    struct lc_augment none = {0, 0, 0, 0};
    for (int k = 0; k < 112 * 112 * 3; k++) img[k] = (uint8_t)(k * 7);
    lc_augment_apply(img, 112, 112, &none, &r, ws, NULL);
    for (int k = 0; k < 112 * 112 * 3; k++) cr_assert_eq(img[k], (uint8_t)(k * 7), "probability 0 changes nothing");
    free(img), free(ws);
}
