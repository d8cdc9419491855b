/* cuda: C declarations of the CUDA launchers and runtime helpers. Included
 * only by backend.c, and only when LC_CUDA is defined. A launcher takes the
 * CPU function's arguments plus a stream (cudaStream_t passed as void *)
 * and returns 0 or a negative LC_E* code with err filled. */
#ifndef LC_CUDA_H
#define LC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "../err.h"
#include "../normalize.h"

#ifdef __cplusplus
extern "C" {
#endif

/* runtime.cu */
int lc_cuda_device_count(char *why, size_t size);
int lc_cuda_set_device(int index, struct lc_err *err);
int lc_cuda_alloc(void **p, size_t bytes, struct lc_err *err);
void lc_cuda_free(void *p);
int lc_cuda_memcpy(void *dst, const void *src, size_t bytes, int to_device, struct lc_err *err);
int lc_cuda_sync(struct lc_err *err);
/* "runtime 13.0, cuBLAS 13.0.0" */
void lc_cuda_versions(char *buf, size_t size);
/* cudnn.cu */
void lc_cudnn_version(char *buf, size_t size);
/* nccl.cu */
void lc_nccl_version(char *buf, size_t size);

/* normalize.cu */
int lc_normalize_u8_forward_cuda(float *y, const uint8_t *x, const struct lc_normalize *p,
                                 void *stream, struct lc_err *err);

#ifdef __cplusplus
}
#endif
#endif
