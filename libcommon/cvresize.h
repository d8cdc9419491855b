/* cvresize: cv2.resize for u8 images (H, W, C), the five interpolations the
 * reference's low-resolution augmentation draws from. Same sampling
 * positions, kernels and fixed-point arithmetic as OpenCV's scalar paths:
 *   NEAREST  src = floor(dst * src_size / dst_size)                  (exact)
 *   LINEAR   src = (dst + 0.5) * scale - 0.5, 11-bit weights, rows
 *            combined with the rounding of OpenCV's vector loop
 *   AREA     shrinking: pixel-area averages; enlarging: OpenCV's
 *            area-upscale weights through the linear path
 *   CUBIC    Keys' cubic, a = -0.75, 4 taps, 11-bit weights
 *   LANCZOS4 8 taps, 11-bit weights
 * Borders replicate the edge pixels, as cv2.resize does. Against OpenCV
 * 4.6: nearest, area and bilinear shrinking are exact; cubic, Lanczos and
 * bilinear enlarging differ by at most 1 level in under 2% of values
 * (OpenCV's vector code paths round a few sums differently). */
#ifndef LC_CVRESIZE_H
#define LC_CVRESIZE_H

#include <stddef.h>
#include <stdint.h>

enum lc_interp {
    LC_INTER_NEAREST = 0, /* the values of cv2.INTER_* */
    LC_INTER_LINEAR = 1,
    LC_INTER_CUBIC = 2,
    LC_INTER_AREA = 3,
    LC_INTER_LANCZOS4 = 4,
};

/* Scratch bytes the resize needs (to pass as ws). */
size_t lc_cvresize_workspace(int sh, int sw, int dh, int dw, int c);
/* src (sh,sw,c) -> dst (dh,dw,c), c <= 4; src and dst must not overlap. */
void lc_cvresize_u8(uint8_t *dst, int dh, int dw, const uint8_t *src, int sh, int sw, int c, int interp, void *ws);

#endif
