/* recfile: export of a record to an image, .npy or raw file. */
#include "recfile.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dtype.h"
#include "io.h"
#include "npy.h"

int lc_meta_pixels(const char *meta)
{
    char v[16];
    if (lc_meta_get(meta, "channels", v, sizeof v) && strcasecmp(v, "RGB") == 0) return LC_PIXELS_RGB;
    return LC_PIXELS_BGR;
}

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

static int save_bytes(const char *path, const void *p, size_t n, struct lc_err *err)
{
    struct lc_out *o;
    int rc = lc_out_open(&o, path, LC_OUT_BINARY, err);
    if (rc) return rc;
    rc = lc_out_write(o, p, n, err);
    if (rc) {
        lc_out_abort(o);
        return rc;
    }
    return lc_out_commit(o, err);
}

/* View a raw u8 tensor record as an image, if its shape is one. */
static int as_image(const struct lc_record *r, struct lc_image *img)
{
    if (r->dtype != LC_DTYPE_U8 || r->codec != LC_CODEC_NONE) return 0;
    const uint32_t *d = r->dims;
    unsigned rank = r->rank;
    if (rank == 4 && d[0] == 1) d++, rank--;
    if (rank == 2) *img = (struct lc_image){(int)d[0], (int)d[1], 1, (uint8_t *)r->payload, 0};
    else if (rank == 3 && (d[2] == 1 || d[2] == 3 || d[2] == 4))
        *img = (struct lc_image){(int)d[0], (int)d[1], (int)d[2], (uint8_t *)r->payload, 0};
    else return 0;
    return 1;
}

static int decode(const struct lc_record *r, int pixels, struct lc_image_decoder *dec,
                  struct lc_image *img, struct lc_err *err)
{
    struct lc_image_decoder *own = NULL;
    int rc = 0;
    if (!dec) {
        rc = lc_image_decoder_init(&own, err);
        if (rc) return rc;
        dec = own;
    }
    rc = lc_image_decode(dec, r->payload, r->payload_len, pixels, 1, img, err);
    lc_image_decoder_free(own);
    return rc;
}

int lc_record_save(const char *path, const struct lc_record *rec, int pixels,
                   struct lc_image_decoder *dec, struct lc_err *err)
{
    const char *ext = ext_of(path);
    int is_png = strcasecmp(ext, "png") == 0;
    int is_jpg = strcasecmp(ext, "jpg") == 0 || strcasecmp(ext, "jpeg") == 0;
    int encoded = rec->codec == LC_CODEC_JPEG || rec->codec == LC_CODEC_PNG;
    int rc;
    if ((is_png && rec->codec == LC_CODEC_PNG) || (is_jpg && rec->codec == LC_CODEC_JPEG))
        return save_bytes(path, rec->payload, rec->payload_len, err);
    if (is_png || is_jpg) {
        struct lc_image img = {0};
        if (encoded) {
            rc = decode(rec, pixels, dec, &img, err);
            if (!rc) rc = lc_image_save(path, &img, pixels, err);
            lc_image_release(&img);
            return rc;
        }
        if (!as_image(rec, &img))
            return lc_errf(err, LC_EUSAGE, path, (int64_t)rec->index, -1,
                           "record '%s' (%s, rank %u) is not a u8 image: export it as .npy", rec->key,
                           lc_dtype_name(rec->dtype), rec->rank);
        return lc_image_save(path, &img, pixels, err);
    }
    if (strcasecmp(ext, "npy") == 0) {
        if (encoded) {
            struct lc_image img = {0};
            rc = decode(rec, pixels, dec, &img, err);
            uint64_t dims[3] = {(uint64_t)img.h, (uint64_t)img.w, (uint64_t)img.c};
            if (!rc) rc = lc_npy_save(path, LC_DTYPE_U8, 3, dims, img.data, err);
            lc_image_release(&img);
            return rc;
        }
        if (rec->codec == LC_CODEC_BYTES || rec->dtype == LC_DTYPE_NONE)
            return lc_errf(err, LC_EUSAGE, path, (int64_t)rec->index, -1, "record '%s' holds no tensor", rec->key);
        uint64_t dims[LC_STREAM_MAX_RANK];
        for (unsigned i = 0; i < rec->rank; i++) dims[i] = rec->dims[i];
        if (rec->dtype != LC_DTYPE_BF16) return lc_npy_save(path, rec->dtype, rec->rank, dims, rec->payload, err);
        uint64_t n = lc_record_numel(rec);
        float *f = malloc(n * sizeof *f + 1);
        if (!f) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
        for (uint64_t i = 0; i < n; i++) f[i] = lc_bf16_to_f32(((const uint16_t *)rec->payload)[i]);
        rc = lc_npy_save(path, LC_DTYPE_F32, rec->rank, dims, f, err);
        free(f);
        return rc;
    }
    return save_bytes(path, rec->payload, rec->payload_len, err);
}
