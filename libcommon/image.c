/* image: JPEG and PNG codecs over libjpeg-turbo's libjpeg API and libpng,
 * with OpenCV's decode settings so pixels match cv2.imdecode exactly. */
#include "image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
/* jpeglib.h needs size_t and FILE first */
#include <jerror.h>
#include <jpeglib.h>

#include "io.h"

int lc_image_sniff(const void *data, size_t len)
{
    const uint8_t *b = data;
    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return LC_IMAGE_JPEG;
    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return LC_IMAGE_PNG;
    return LC_IMAGE_UNKNOWN;
}

const char *lc_image_format_name(int f)
{
    return f == LC_IMAGE_JPEG ? "jpeg" : f == LC_IMAGE_PNG ? "png" : "unknown";
}

static int ensure(struct lc_image *img, size_t bytes, struct lc_err *err)
{
    if (bytes <= img->cap && img->data) return 0;
    uint8_t *p = realloc(img->data, bytes ? bytes : 1);
    if (!p) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory for a %zu-byte image", bytes);
    img->data = p;
    img->cap = bytes;
    return 0;
}

void lc_image_release(struct lc_image *img)
{
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* Refuse absurd sizes before allocating: 2^28 pixels is 16k x 16k. */
#define MAX_PIXELS (1u << 28)

/* ------------------------------------------------------------------ JPEG */

struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warnings;
    char msg[JMSG_LENGTH_MAX];
};

static void jpeg_error_exit(j_common_ptr cinfo)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_emit(j_common_ptr cinfo, int level)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    if (level < 0) { /* a warning: remember the first */
        if (!e->warnings++) (*cinfo->err->format_message)(cinfo, e->msg);
    }
}

struct lc_image_decoder {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_err jerr;
    uint8_t *row; /* CMYK scratch */
    size_t row_cap;
};

int lc_image_decoder_init(struct lc_image_decoder **out, struct lc_err *err)
{
    struct lc_image_decoder *d = calloc(1, sizeof *d);
    if (!d) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    d->cinfo.err = jpeg_std_error(&d->jerr.pub);
    d->jerr.pub.error_exit = jpeg_error_exit;
    d->jerr.pub.emit_message = jpeg_emit;
    if (setjmp(d->jerr.jump)) {
        free(d);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "cannot create a JPEG decoder");
    }
    jpeg_create_decompress(&d->cinfo);
    *out = d;
    return 0;
}

void lc_image_decoder_free(struct lc_image_decoder *d)
{
    if (!d) return;
    jpeg_destroy_decompress(&d->cinfo);
    free(d->row);
    free(d);
}

/* OpenCV's icvCvt_CMYK2BGR_8u_C4C3R (inverted Adobe CMYK as libjpeg gives it). */
static void cmyk_row(uint8_t *dst, const uint8_t *cmyk, int w, int pixels)
{
    for (int i = 0; i < w; i++, cmyk += 4) {
        int k = cmyk[3];
        int c = k - ((255 - cmyk[0]) * k >> 8);
        int m = k - ((255 - cmyk[1]) * k >> 8);
        int y = k - ((255 - cmyk[2]) * k >> 8);
        if (pixels == LC_PIXELS_GRAY) { /* cv::cvtColor BGR2GRAY weights, fixed point */
            dst[i] = (uint8_t)((y * 1868 + m * 9617 + c * 4899 + 8192) >> 14);
        } else if (pixels == LC_PIXELS_BGR) {
            dst[3 * i] = (uint8_t)y, dst[3 * i + 1] = (uint8_t)m, dst[3 * i + 2] = (uint8_t)c;
        } else {
            dst[3 * i] = (uint8_t)c, dst[3 * i + 1] = (uint8_t)m, dst[3 * i + 2] = (uint8_t)y;
        }
    }
}

static int decode_jpeg(struct lc_image_decoder *d, const uint8_t *data, size_t len, int pixels,
                       int strict, struct lc_image *img, struct lc_err *err)
{
    struct jpeg_decompress_struct *ci = &d->cinfo;
    d->jerr.warnings = 0;
    d->jerr.msg[0] = '\0';
    if (setjmp(d->jerr.jump)) {
        jpeg_abort_decompress(ci);
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "undecodable JPEG: %s", d->jerr.msg);
    }
    jpeg_mem_src(ci, data, (unsigned long)len);
    jpeg_read_header(ci, TRUE);
    int cmyk = ci->num_components == 4;
    if (cmyk) {
        ci->out_color_space = JCS_CMYK;
    } else if (pixels == LC_PIXELS_GRAY) {
        ci->out_color_space = JCS_GRAYSCALE;
    } else {
        ci->out_color_space = pixels == LC_PIXELS_BGR ? JCS_EXT_BGR : JCS_EXT_RGB;
    }
    if ((uint64_t)ci->image_width * ci->image_height > MAX_PIXELS) {
        jpeg_abort_decompress(ci);
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "JPEG of %ux%u pixels is too large",
                       ci->image_width, ci->image_height);
    }
    jpeg_start_decompress(ci);
    int c = pixels == LC_PIXELS_GRAY ? 1 : 3;
    img->h = (int)ci->output_height;
    img->w = (int)ci->output_width;
    img->c = c;
    size_t stride = (size_t)img->w * c;
    int rc = ensure(img, stride * img->h, err);
    if (!rc && cmyk && d->row_cap < (size_t)img->w * 4) {
        free(d->row);
        d->row = malloc((size_t)img->w * 4);
        d->row_cap = d->row ? (size_t)img->w * 4 : 0;
        if (!d->row) rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    if (rc) {
        jpeg_abort_decompress(ci);
        return rc;
    }
    while (ci->output_scanline < ci->output_height) {
        uint8_t *dst = img->data + stride * ci->output_scanline;
        JSAMPROW row = cmyk ? d->row : dst;
        if (jpeg_read_scanlines(ci, &row, 1) != 1) break;
        if (cmyk) cmyk_row(dst, d->row, img->w, pixels);
    }
    jpeg_finish_decompress(ci);
    if (strict && d->jerr.warnings)
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "corrupt JPEG: %s", d->jerr.msg);
    return 0;
}

/* ------------------------------------------------------------------- PNG */

struct png_src {
    const uint8_t *data;
    size_t len, pos;
};

struct png_ctx {
    jmp_buf jump;
    char msg[256];
};

static void png_read_mem(png_structp png, png_bytep out, png_size_t n)
{
    struct png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "unexpected end of PNG data");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    struct png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    longjmp(c->jump, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int decode_png(const uint8_t *data, size_t len, int pixels, struct lc_image *img,
                      struct lc_err *err)
{
    struct png_ctx ctx = {.msg = ""};
    struct png_src src = {data, len, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *volatile rows = NULL; /* volatile: freed after a longjmp */
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    if (setjmp(ctx.jump)) {
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "undecodable PNG: %s", ctx.msg);
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_set_user_limits(png, 1u << 16, 1u << 16);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, type;
    png_get_IHDR(png, info, &w, &h, &depth, &type, NULL, NULL, NULL);
    if ((uint64_t)w * h > MAX_PIXELS) png_error(png, "image too large");
    /* The transformations of OpenCV's PngDecoder::readData, in its order. */
    if (depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((type & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (pixels == LC_PIXELS_GRAY) {
        if (type & PNG_COLOR_MASK_COLOR) png_set_rgb_to_gray(png, 1, 0.299, 0.587);
    } else {
        if (type & PNG_COLOR_MASK_COLOR) {
            if (pixels == LC_PIXELS_BGR) png_set_bgr(png);
        } else {
            png_set_gray_to_rgb(png);
        }
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = pixels == LC_PIXELS_GRAY ? 1 : 3;
    if (png_get_channels(png, info) != c || png_get_bit_depth(png, info) != 8)
        png_error(png, "unexpected channel layout after conversion");
    int rc = ensure(img, (size_t)w * h * c, err);
    if (rc) {
        png_destroy_read_struct(&png, &info, NULL);
        return rc;
    }
    img->h = (int)h;
    img->w = (int)w;
    img->c = c;
    rows = malloc(sizeof *rows * (h ? h : 1));
    if (!rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = img->data + (size_t)y * w * c;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int lc_image_decode(struct lc_image_decoder *d, const void *data, size_t len, int pixels,
                    int strict, struct lc_image *img, struct lc_err *err)
{
    switch (lc_image_sniff(data, len)) {
    case LC_IMAGE_JPEG: return decode_jpeg(d, data, len, pixels, strict, img, err);
    case LC_IMAGE_PNG: return decode_png(data, len, pixels, img, err);
    }
    const uint8_t *b = data;
    return lc_errf(err, LC_EFORMAT, NULL, -1, -1,
                   "not a JPEG or PNG image (first bytes %02x %02x %02x %02x)", len > 0 ? b[0] : 0,
                   len > 1 ? b[1] : 0, len > 2 ? b[2] : 0, len > 3 ? b[3] : 0);
}

int lc_image_probe(const void *data, size_t len, int *h, int *w, int *c, struct lc_err *err)
{
    const uint8_t *b = data;
    int f = lc_image_sniff(data, len);
    if (f == LC_IMAGE_PNG) {
        if (len < 33 || memcmp(b + 12, "IHDR", 4) != 0)
            return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "PNG without an IHDR chunk");
        *w = (int)((uint32_t)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19]);
        *h = (int)((uint32_t)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23]);
        int type = b[25];
        *c = (type & 2 ? 3 : 1) + (type & 4 ? 1 : 0);
        return 0;
    }
    if (f == LC_IMAGE_JPEG) { /* walk the markers to the first SOFn */
        size_t i = 2;
        while (i + 4 <= len) {
            if (b[i] != 0xff) return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "bad JPEG marker");
            int m = b[i + 1];
            if (m == 0xff) { i++; continue; }
            size_t seg = (size_t)b[i + 2] << 8 | b[i + 3];
            if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
                if (i + 10 > len) break;
                *h = b[i + 5] << 8 | b[i + 6];
                *w = b[i + 7] << 8 | b[i + 8];
                *c = b[i + 9];
                return 0;
            }
            i += 2 + seg;
        }
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "JPEG without a frame header");
    }
    return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "not a JPEG or PNG image");
}

/* --------------------------------------------------------------- encoding */

struct png_dst {
    uint8_t *buf;
    size_t len, cap;
    int oom;
};

static void png_write_mem(png_structp png, png_bytep p, png_size_t n)
{
    struct png_dst *d = png_get_io_ptr(png);
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 65536;
        while (cap < d->len + n) cap *= 2;
        uint8_t *b = realloc(d->buf, cap);
        if (!b) png_error(png, "out of memory");
        d->buf = b;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

int lc_image_encode_png(const struct lc_image *img, int pixels, int level, uint8_t **out,
                        size_t *len, struct lc_err *err)
{
    *out = NULL;
    *len = 0;
    if (img->c != 1 && img->c != 3 && img->c != 4)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "PNG needs 1, 3 or 4 channels, not %d", img->c);
    struct png_ctx ctx = {.msg = ""};
    struct png_dst dst = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    if (setjmp(ctx.jump)) {
        png_destroy_write_struct(&png, &info);
        free(dst.buf);
        return lc_errf(err, LC_EIO, NULL, -1, -1, "PNG encoding failed: %s", ctx.msg);
    }
    png_set_write_fn(png, &dst, png_write_mem, png_flush_mem);
    if (level >= 0) png_set_compression_level(png, level);
    int type = img->c == 1 ? PNG_COLOR_TYPE_GRAY : img->c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (img->c >= 3 && pixels == LC_PIXELS_BGR) png_set_bgr(png);
    for (int y = 0; y < img->h; y++)
        png_write_row(png, img->data + (size_t)y * img->w * img->c);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = dst.buf;
    *len = dst.len;
    return 0;
}

int lc_image_encode_jpeg(const struct lc_image *img, int pixels, int quality, uint8_t **out,
                         size_t *len, struct lc_err *err)
{
    *out = NULL;
    *len = 0;
    if (img->c != 1 && img->c != 3)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "JPEG needs 1 or 3 channels, not %d", img->c);
    struct jpeg_compress_struct ci;
    struct jpeg_err jerr = {0};
    ci.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_error_exit;
    jerr.pub.emit_message = jpeg_emit;
    unsigned char *buf = NULL;
    unsigned long size = 0;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_compress(&ci);
        free(buf);
        return lc_errf(err, LC_EIO, NULL, -1, -1, "JPEG encoding failed: %s", jerr.msg);
    }
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &buf, &size);
    ci.image_width = (JDIMENSION)img->w;
    ci.image_height = (JDIMENSION)img->h;
    ci.input_components = img->c;
    ci.in_color_space = img->c == 1 ? JCS_GRAYSCALE : pixels == LC_PIXELS_BGR ? JCS_EXT_BGR : JCS_EXT_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = img->data + (size_t)ci.next_scanline * img->w * img->c;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *out = buf;
    *len = size;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int lc_image_save(const char *path, const struct lc_image *img, int pixels, struct lc_err *err)
{
    uint8_t *bytes;
    size_t len;
    int rc;
    if (ends_with(path, ".png")) rc = lc_image_encode_png(img, pixels, -1, &bytes, &len, err);
    else if (ends_with(path, ".jpg") || ends_with(path, ".jpeg"))
        rc = lc_image_encode_jpeg(img, pixels, 95, &bytes, &len, err);
    else return lc_errf(err, LC_EUSAGE, path, -1, -1, "unknown image extension (use .png or .jpg)");
    if (rc) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return lc_errf(err, rc, path, -1, -1, "%s", msg);
    }
    struct lc_out *o;
    rc = lc_out_open(&o, path, LC_OUT_BINARY, err);
    if (!rc) {
        rc = lc_out_write(o, bytes, len, err);
        if (rc) lc_out_abort(o);
        else rc = lc_out_commit(o, err);
    }
    free(bytes);
    return rc;
}
