/* recfile: one stream record as a file of its own (.png, .jpg, .npy or raw
 * bytes), as `sft export` and the image-folder writers need it. */
#ifndef LC_RECFILE_H
#define LC_RECFILE_H

#include "err.h"
#include "image.h"
#include "stream.h"

/* Channel order of a stream's u8 images from its metadata (`channels=`):
 * LC_PIXELS_BGR (the toolkit's default when unset) or LC_PIXELS_RGB. */
int lc_meta_pixels(const char *meta);

/* Save rec (payload read) to path, the format chosen by its extension:
 *   .png/.jpg/.jpeg  u8 images: (H,W), (H,W,C) or (1,H,W,C), C in 1,3,4
 *                    (.jpg: 1 or 3); encoded payloads are copied unchanged
 *                    when the codec matches, otherwise decoded and
 *                    re-encoded;
 *   .npy             raw tensors as they are (bf16 widened to f32),
 *                    encoded images decoded to u8 (H,W,C);
 *   anything else    the payload bytes unchanged.
 * pixels: channel order of u8 images in the stream (lc_meta_pixels).
 * dec may be NULL (one is made when decoding is needed). Atomic. */
int lc_record_save(const char *path, const struct lc_record *rec, int pixels,
                   struct lc_image_decoder *dec, struct lc_err *err);

#endif
