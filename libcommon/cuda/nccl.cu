// nccl: the one unit that talks to NCCL: the version, and the communicator
// calls behind libcommon/comm.c (one rank per GPU, in-place all-reduce and
// broadcast of float32 buffers on the stream the ops run on).
#include <nccl.h>
#include <stdio.h>
#include <string.h>

#include "cuda.h"

extern "C" void lc_nccl_version(char *buf, size_t size)
{
    int v = 0;
    ncclGetVersion(&v); // e.g. 22803 = 2.28.3
    snprintf(buf, size, "NCCL %d.%d.%d", v / 10000, v % 10000 / 100, v % 100);
}

static int nccl_fail(struct lc_err *err, ncclResult_t r, const char *what)
{
    return lc_errf(err, LC_EIO, NULL, -1, -1, "NCCL: %s: %s", what, ncclGetErrorString(r));
}

extern "C" int lc_nccl_unique_id_cuda(uint8_t id[LC_NCCL_ID_BYTES], struct lc_err *err)
{
    ncclUniqueId u;
    static_assert(sizeof u == LC_NCCL_ID_BYTES, "NCCL's unique id size");
    ncclResult_t r = ncclGetUniqueId(&u);
    if (r != ncclSuccess) return nccl_fail(err, r, "ncclGetUniqueId");
    memcpy(id, &u, sizeof u);
    return 0;
}

extern "C" int lc_nccl_comm_init_cuda(void **comm, const uint8_t id[LC_NCCL_ID_BYTES], int rank, int world,
                                 struct lc_err *err)
{
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclComm_t c;
    ncclResult_t r = ncclCommInitRank(&c, world, u, rank);
    if (r != ncclSuccess) return nccl_fail(err, r, "ncclCommInitRank");
    *comm = c;
    return 0;
}

extern "C" void lc_nccl_comm_free_cuda(void *comm, int abort)
{
    if (!comm) return;
    if (abort) ncclCommAbort((ncclComm_t)comm);
    else ncclCommDestroy((ncclComm_t)comm);
}

extern "C" int lc_nccl_allreduce_cuda(void *comm, float *buf, size_t n, int mean, void *stream, struct lc_err *err)
{
    ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat32, mean ? ncclAvg : ncclSum, (ncclComm_t)comm,
                                   (cudaStream_t)stream);
    return r == ncclSuccess ? 0 : nccl_fail(err, r, "ncclAllReduce");
}

extern "C" int lc_nccl_broadcast_cuda(void *comm, float *buf, size_t n, int root, void *stream, struct lc_err *err)
{
    ncclResult_t r = ncclBroadcast(buf, buf, n, ncclFloat32, root, (ncclComm_t)comm, (cudaStream_t)stream);
    return r == ncclSuccess ? 0 : nccl_fail(err, r, "ncclBroadcast");
}
