/* gpufix: what the `cuda` suites share: the skip when no GPU is usable,
 * opening one, and device copies of host arrays (freed together) and back
 * (into nf_free's scratch). Needs nnfix.h. */
#ifndef LC_TEST_GPUFIX_H
#define LC_TEST_GPUFIX_H

#include "backend.h"
#include "needgpu.h"
#include "nnfix.h"

static inline struct lc_device open_gpu(void)
{
    need_gpu();
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    cr_assert_eq(lc_device_open(&gpu, &err), 0, "%s", err.msg);
    return gpu;
}

/* device buffers, freed by gfree */
struct gbuf {
    void *p[64];
    int n;
};

/* a device copy of bytes of host */
static inline void *upb(struct gbuf *g, const struct lc_device *d, const void *host, size_t bytes)
{
    struct lc_err err;
    void *p;
    cr_assert_eq(lc_device_alloc(d, &p, bytes ? bytes : 1, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_upload(d, p, host, bytes, &err), 0, "%s", err.msg);
    cr_assert_lt(g->n, 64);
    g->p[g->n++] = p;
    return p;
}

/* a device copy of host (n floats) */
static inline float *up(struct gbuf *g, const struct lc_device *d, const float *host, size_t n)
{
    return (float *)upb(g, d, host, n * 4);
}

/* bytes of dev into host, after the device's work is done */
static inline void downb(const struct lc_device *d, void *host, const void *dev, size_t bytes)
{
    struct lc_err err;
    cr_assert_eq(lc_device_sync(d, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_device_download(d, host, dev, bytes, &err), 0, "%s", err.msg);
}

/* a host copy of bytes of dev, in nf_free's scratch */
static inline void *down_copy(const struct lc_device *d, const void *dev, size_t bytes)
{
    void *h = nf_zeros((bytes + 3) / 4);
    downb(d, h, dev, bytes);
    return h;
}

static inline float *down(const struct lc_device *d, const float *dev, size_t n)
{
    return (float *)down_copy(d, dev, n * 4);
}

static inline void gfree(struct gbuf *g, const struct lc_device *d)
{
    for (int i = 0; i < g->n; i++) lc_device_free(d, g->p[i]);
    g->n = 0;
}

#endif
