/* libFuzzer target: JPEG and PNG decoding (libjpeg-turbo and libpng behind
 * our error handling: longjmp paths, size limits, buffer growth). */
#include <stddef.h>
#include <stdint.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lc_image_decoder *d;
    if (!d && lc_image_decoder_init(&d, NULL)) return 0;
    struct lc_image img = {0};
    struct lc_err err;
    int h, w, c;
    lc_image_probe(data, size, &h, &w, &c, &err);
    if (lc_image_decode(d, data, size, LC_PIXELS_BGR, size % 2, &img, &err) == 0 &&
        (size_t)img.h * img.w * img.c > img.cap)
        __builtin_trap();
    lc_image_release(&img);
    return 0;
}
