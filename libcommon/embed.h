/* embed: face embeddings from an IR backbone with the reference's flip
 * fusion (AdaFace's fuse_features_with_norm): run the image and its
 * horizontal mirror, add the two un-normalised features (embedding x norm),
 * and return the sum's direction and length. */
#ifndef LC_EMBED_H
#define LC_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lc_ir;
struct lc_ir_dev;

/* Floats of scratch for up to `batch` images. */
size_t lc_embed_workspace(int batch);
/* x (n, 3, 112, 112) normalised images -> emb (n, 512) unit rows, norm (n).
 * flip: fuse with the mirrored image (the reference's evaluation). The
 * model runs in inference mode; n <= the model's batch. */
void lc_embed(struct lc_ir *m, float *emb, float *norm, const float *x, int n, int flip, float *ws);
/* The same on a device copy of the model (lc_ir_dev_create): x, emb, norm
 * and ws on the host. Returns 0 or the device's error. */
int lc_embed_dev(struct lc_ir_dev *g, float *emb, float *norm, const float *x, int n, int flip, float *ws,
                 struct lc_err *err);

#endif
