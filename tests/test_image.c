/* image: decoding matches cv2.imdecode pixel for pixel (goldens from
 * tests/make_golden.py), encoders round-trip, bad bytes fail cleanly. */
#include "image.h"
#include "testutil.h"

static void check_decode(const char *name, const char *suffix, int pixels)
{
    char path[256], gold[256];
    snprintf(path, sizeof path, "tests/fixtures/image/%s", name);
    snprintf(gold, sizeof gold, "image/%s.%s.npy", name, suffix);
    size_t len;
    uint8_t *bytes = tu_read_file(path, &len);
    struct tu_array want = tu_fixture(gold);
    struct lc_image_decoder *d;
    struct lc_image img = {0};
    struct lc_err err;
    cr_assert_eq(lc_image_decoder_init(&d, &err), 0);
    cr_assert_eq(lc_image_decode(d, bytes, len, pixels, 1, &img, &err), 0, "%s: %s", name, err.msg);
    cr_assert_eq(img.h, (int)want.h.dims[0], "%s", name);
    cr_assert_eq(img.w, (int)want.h.dims[1], "%s", name);
    cr_assert_eq(img.c, want.h.rank == 3 ? (int)want.h.dims[2] : 1, "%s", name);
    size_t n = (size_t)img.h * img.w * img.c, bad = 0, first = 0;
    const uint8_t *w = want.data;
    for (size_t i = 0; i < n; i++)
        if (img.data[i] != w[i] && !bad++) first = i;
    cr_expect_eq(bad, 0, "%s (%s): %zu of %zu values differ from OpenCV, first at %zu: %d vs %d", name, suffix, bad, n,
                 first, img.data[first], w[first]);
    int h, wd, c;
    cr_expect_eq(lc_image_probe(bytes, len, &h, &wd, &c, &err), 0);
    cr_expect(h == img.h && wd == img.w, "probe agrees on the size");
    lc_image_release(&img);
    lc_image_decoder_free(d);
    tu_free(&want);
    free(bytes);
}

Test(image, jpeg_decodes_like_opencv)
{
    const char *jpegs[] = {"jpeg420.jpg", "jpeg444.jpg", "jpeg422.jpg", "jpeggray.jpg", "jpegprog.jpg"};
    for (size_t i = 0; i < 5; i++) {
        check_decode(jpegs[i], "bgr", LC_PIXELS_BGR);
        check_decode(jpegs[i], "gray", LC_PIXELS_GRAY);
    }
}

Test(image, png_decodes_like_opencv)
{
    const char *pngs[] = {"png8.png", "pnggray.png", "pngalpha.png", "png16.png", "pnggray16.png"};
    for (size_t i = 0; i < 5; i++) check_decode(pngs[i], "bgr", LC_PIXELS_BGR);
}

Test(image, rgb_is_bgr_reversed)
{
    size_t len;
    uint8_t *bytes = tu_read_file("tests/fixtures/image/jpeg444.jpg", &len);
    struct lc_image_decoder *d;
    struct lc_image bgr = {0}, rgb = {0};
    cr_assert_eq(lc_image_decoder_init(&d, NULL), 0);
    cr_assert_eq(lc_image_decode(d, bytes, len, LC_PIXELS_BGR, 1, &bgr, NULL), 0);
    cr_assert_eq(lc_image_decode(d, bytes, len, LC_PIXELS_RGB, 1, &rgb, NULL), 0);
    for (int i = 0; i < bgr.h * bgr.w; i++)
        cr_assert(bgr.data[3 * i] == rgb.data[3 * i + 2] && bgr.data[3 * i + 2] == rgb.data[3 * i]);
    lc_image_release(&bgr);
    lc_image_release(&rgb);
    lc_image_decoder_free(d);
    free(bytes);
}

Test(image, png_round_trip_is_exact)
{
    struct lc_image img = {.h = 7, .w = 9, .c = 3};
    img.data = malloc(7 * 9 * 3);
    for (int i = 0; i < 7 * 9 * 3; i++) img.data[i] = (uint8_t)(i * 37);
    uint8_t *png;
    size_t len;
    cr_assert_eq(lc_image_encode_png(&img, LC_PIXELS_BGR, 6, &png, &len, NULL), 0);
    struct lc_image_decoder *d;
    struct lc_image back = {0};
    cr_assert_eq(lc_image_decoder_init(&d, NULL), 0);
    cr_assert_eq(lc_image_decode(d, png, len, LC_PIXELS_BGR, 1, &back, NULL), 0);
    cr_expect(back.h == 7 && back.w == 9 && back.c == 3);
    cr_expect_eq(memcmp(back.data, img.data, 7 * 9 * 3), 0);
    uint8_t *jpg;
    cr_assert_eq(lc_image_encode_jpeg(&img, LC_PIXELS_BGR, 90, &jpg, &len, NULL), 0);
    cr_expect_eq(lc_image_sniff(jpg, len), LC_IMAGE_JPEG);
    cr_assert_eq(lc_image_decode(d, jpg, len, LC_PIXELS_BGR, 1, &back, NULL), 0);
    cr_expect(back.h == 7 && back.w == 9);
    free(jpg);
    free(png);
    free(img.data);
    lc_image_release(&back);
    lc_image_decoder_free(d);
}

Test(image, damaged_images_fail_with_a_reason)
{
    size_t len;
    uint8_t *bytes = tu_read_file("tests/fixtures/image/jpeg420.jpg", &len);
    struct lc_image_decoder *d;
    struct lc_image img = {0};
    struct lc_err err;
    cr_assert_eq(lc_image_decoder_init(&d, NULL), 0);
    /* Every truncation: an error (strict), never a crash. */
    for (size_t cut = 0; cut < len; cut += 7) {
        int rc = lc_image_decode(d, bytes, cut, LC_PIXELS_BGR, 1, &img, &err);
        cr_expect_neq(rc, 0, "a JPEG cut at %zu of %zu bytes decoded", cut, len);
    }
    cr_expect_eq(lc_image_decode(d, bytes, len, LC_PIXELS_BGR, 1, &img, &err), 0, "the decoder recovers: %s", err.msg);
    cr_expect_eq(lc_image_decode(d, "GIF89a....", 10, LC_PIXELS_BGR, 1, &img, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "not a JPEG or PNG"), "%s", err.msg);
    free(bytes);
    bytes = tu_read_file("tests/fixtures/image/png8.png", &len);
    for (size_t cut = 8; cut < len; cut += 5)
        cr_expect_neq(lc_image_decode(d, bytes, cut, LC_PIXELS_BGR, 1, &img, &err), 0, "PNG cut at %zu decoded", cut);
    free(bytes);
    lc_image_release(&img);
    lc_image_decoder_free(d);
}
