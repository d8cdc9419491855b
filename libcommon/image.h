/* image: decoding and encoding of JPEG (libjpeg-turbo) and PNG (libpng) to
 * and from u8 HWC pixels. Decoding reproduces OpenCV's cv2.imdecode with
 * IMREAD_COLOR pixel for pixel (the reference reads images with cv2): same
 * libjpeg settings, CMYK and 16-bit PNG handled as OpenCV does, alpha
 * dropped without compositing. Channel order is BGR unless asked. */
#ifndef LC_IMAGE_H
#define LC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum lc_image_format { LC_IMAGE_UNKNOWN = 0, LC_IMAGE_JPEG, LC_IMAGE_PNG };

/* Output channel layouts. */
enum lc_pixels {
    LC_PIXELS_BGR = 0, /* 3 channels, OpenCV's order (the default) */
    LC_PIXELS_RGB,     /* 3 channels */
    LC_PIXELS_GRAY,    /* 1 channel */
};

/* u8 pixels, rows of w*c bytes, no padding. data is owned by whoever
 * filled it; cap is its capacity (decoders grow it with realloc). */
struct lc_image {
    int h, w, c;
    uint8_t *data;
    size_t cap;
};

/* Which codec the bytes start with. */
int lc_image_sniff(const void *data, size_t len);
const char *lc_image_format_name(int format);

/* Per-thread decoder state (libjpeg structures reused between images). */
struct lc_image_decoder;
int lc_image_decoder_init(struct lc_image_decoder **d, struct lc_err *err);
void lc_image_decoder_free(struct lc_image_decoder *d);

/* Decode JPEG or PNG bytes into img (img->data grown as needed; start with
 * a zeroed struct). strict: libjpeg warnings (corrupt data, premature end)
 * are errors rather than a partly grey image. Errors name no path: the
 * caller adds it. */
int lc_image_decode(struct lc_image_decoder *d, const void *data, size_t len, int pixels,
                    int strict, struct lc_image *img, struct lc_err *err);
/* Dimensions and stored channel count without decoding. */
int lc_image_probe(const void *data, size_t len, int *h, int *w, int *c, struct lc_err *err);

/* Encode img (whose channels are in order `pixels`) as PNG or JPEG into a
 * malloc'd buffer *out of *len bytes (caller frees). level: zlib level for
 * PNG (0-9, -1 default), quality 1-100 for JPEG (4:2:0, as cv2.imencode). */
int lc_image_encode_png(const struct lc_image *img, int pixels, int level, uint8_t **out,
                        size_t *len, struct lc_err *err);
int lc_image_encode_jpeg(const struct lc_image *img, int pixels, int quality, uint8_t **out,
                         size_t *len, struct lc_err *err);

/* Write img as a PNG or JPEG file chosen by the extension (.png, .jpg,
 * .jpeg), atomically. */
int lc_image_save(const char *path, const struct lc_image *img, int pixels, struct lc_err *err);

void lc_image_release(struct lc_image *img);

#endif
