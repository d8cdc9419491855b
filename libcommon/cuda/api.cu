// api: the single exported entry point of libsarface-cuda.so; backend.c
// dlopens the library and calls it to get every CUDA function at once.
#include <string.h>

#include "cuda.h"

extern "C" __attribute__((visibility("default"))) int lc_cuda_api_get(struct lc_cuda_api *api)
{
    memset(api, 0, sizeof *api);
    api->size = sizeof *api;
    api->device_count = lc_cuda_device_count;
    api->set_device = lc_cuda_set_device;
    api->alloc = lc_cuda_alloc;
    api->free = lc_cuda_free;
    api->memcpy = lc_cuda_memcpy;
    api->sync = lc_cuda_sync;
    api->versions = lc_cuda_versions;
    api->cudnn_version = lc_cudnn_version;
    api->nccl_version = lc_nccl_version;
    api->normalize_u8_forward = lc_normalize_u8_forward_cuda;
    return 0;
}
