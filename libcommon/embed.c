/* embed: inference with flip fusion. */
#include "embed.h"

#include <math.h>
#include <string.h>

#include "ir.h"

#define PX (3 * 112 * 112)

size_t lc_embed_workspace(int batch) { return (size_t)batch * (PX + 2 * 512 + 2); }

/* A model's eval forward: the CPU model or its device copy. */
typedef int (*forward_fn)(void *model, float *emb, float *norm, const float *x, int n, struct lc_err *err);

static int cpu_forward(void *model, float *emb, float *norm, const float *x, int n, struct lc_err *err)
{
    (void)err;
    lc_ir_forward(model, emb, norm, x, n, 0, NULL);
    return 0;
}

static int dev_forward(void *model, float *emb, float *norm, const float *x, int n, struct lc_err *err)
{
    return lc_ir_dev_forward(model, emb, norm, x, n, err);
}

static int embed_with(forward_fn fwd, void *model, float *emb, float *norm, const float *x, int n, int flip, float *ws,
                      struct lc_err *err)
{
    int rc = fwd(model, emb, norm, x, n, err);
    if (rc || !flip) return rc;
    float *xf = ws, *e2 = xf + (size_t)n * PX, *n2 = e2 + (size_t)n * 512;
    for (int i = 0; i < n; i++) /* torch.flip(images, dims=[3]): mirror every row of every channel */
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 112; y++) {
                const float *src = x + (size_t)i * PX + (size_t)c * 112 * 112 + (size_t)y * 112;
                float *dst = xf + (size_t)i * PX + (size_t)c * 112 * 112 + (size_t)y * 112;
                for (int k = 0; k < 112; k++) dst[k] = src[111 - k];
            }
    if ((rc = fwd(model, e2, n2, xf, n, err))) return rc;
    for (int i = 0; i < n; i++) {
        float *a = emb + (size_t)i * 512, *b = e2 + (size_t)i * 512;
        double ss = 0;
        for (int k = 0; k < 512; k++) {
            a[k] = a[k] * norm[i] + b[k] * n2[i];
            ss += (double)a[k] * a[k];
        }
        float nn = (float)sqrt(ss);
        for (int k = 0; k < 512; k++) a[k] /= nn;
        norm[i] = nn;
    }
    return 0;
}

void lc_embed(struct lc_ir *m, float *emb, float *norm, const float *x, int n, int flip, float *ws)
{
    embed_with(cpu_forward, m, emb, norm, x, n, flip, ws, NULL);
}

int lc_embed_dev(struct lc_ir_dev *g, float *emb, float *norm, const float *x, int n, int flip, float *ws,
                 struct lc_err *err)
{
    return embed_with(dev_forward, g, emb, norm, x, n, flip, ws, err);
}
