/* augment: the reference's training augmentation (AdaFace's Augmenter plus
 * the random horizontal flip), on u8 (H, W, 3) BGR images, REFERENCE.md
 * section 1. In order, each with its probability:
 *   crop:        torchvision RandomResizedCrop parameters (scale 0.2-1,
 *                ratio 3/4-4/3, ten tries then the central fallback); the
 *                crop stays where it was on a black canvas (no resize);
 *   low-res:     side ratio r ~ U(0.2, 1); cv2.resize down to int(r*H)
 *                square and back to (H, W), each with an interpolation
 *                drawn from nearest, linear, area, cubic, lanczos4;
 *   photometric: brightness, contrast, saturation factors ~ U(0.5, 1.5),
 *                applied in a random order (hue 0), as PIL's ImageEnhance
 *                computes them (blend with a degenerate image, truncated);
 *   flip:        horizontal, p = 0.5.
 * Quirk kept: the reference holds BGR pixels in a PIL image that PIL takes
 * for RGB, so the grey level behind contrast and saturation weighs the
 * blue channel with red's 0.299 and red with blue's 0.114. The random draws
 * come from lc_rng, not numpy's or torch's generators: the distributions
 * match, the sequences do not. */
#ifndef LC_AUGMENT_H
#define LC_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

struct lc_rng;

struct lc_augment {
    float crop_p, lowres_p, photo_p, flip_p; /* the reference: flip 0.5, the others per run */
};

/* What one call did (for tests and logging). */
struct lc_augment_trace {
    int cropped, crop[4];        /* i, j, h, w */
    int lowres, side, interp[2];
    int photo, order[3];
    float factor[3];             /* brightness, contrast, saturation */
    int flipped;
};

/* Scratch bytes for an (h, w) image. */
size_t lc_augment_workspace(int h, int w);
/* Augment img (h, w, 3) in place. trace may be NULL. */
void lc_augment_apply(uint8_t *img, int h, int w, const struct lc_augment *a, struct lc_rng *rng, void *ws,
                      struct lc_augment_trace *trace);

/* The parts, for tests. RandomResizedCrop.get_params: */
void lc_augment_rrc_params(struct lc_rng *rng, int h, int w, int *i, int *j, int *ch, int *cw);
/* Zero everything outside rows [i, i+ch) and columns [j, j+cw). */
void lc_augment_crop_paste(uint8_t *img, int h, int w, int i, int j, int ch, int cw);
/* PIL ImageEnhance on an image PIL would call RGB (here: BGR data). */
void lc_augment_brightness(uint8_t *img, size_t pixels, float factor);
void lc_augment_contrast(uint8_t *img, size_t pixels, float factor);
void lc_augment_saturation(uint8_t *img, size_t pixels, float factor);
void lc_augment_flip(uint8_t *img, int h, int w);

#endif
