// nccl: the one unit that talks to NCCL: the version, and the communicator
// calls behind libcommon/comm.c (one rank per GPU, in-place all-reduce and
// broadcast of float32 buffers on the stream the ops run on).
//
// Communicators are non-blocking (NCCL's config.blocking = 0): setup and a
// collective's launch go on in NCCL's own thread, and a call returns 1 while
// they do; the caller polls lc_nccl_poll_cuda until 0, and may abort the
// communicator meanwhile from any thread. So a rank waiting in setup, or in
// the first collective's connection, for a peer that failed can be ended,
// which a blocking call never could. (NCCL_COMM_BLOCKING=1 in the
// environment would override this; comm.c refuses it.)
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

// 0 done, 1 going on in NCCL's thread (poll), else the error
static int started(struct lc_err *err, ncclResult_t r, const char *what)
{
    if (r == ncclSuccess) return 0;
    if (r == ncclInProgress) return 1;
    return nccl_fail(err, r, what);
}

extern "C" int lc_nccl_comm_init_cuda(void **comm, const uint8_t id[LC_NCCL_ID_BYTES], int rank, int world,
                                 struct lc_err *err)
{
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclComm_t c = NULL;
    ncclResult_t r = ncclCommInitRankConfig(&c, world, u, rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
        if (c) ncclCommAbort(c);
        return nccl_fail(err, r, "ncclCommInitRankConfig");
    }
    *comm = c;
    return 0; // setup may still be going on: poll
}

extern "C" int lc_nccl_poll_cuda(void *comm, struct lc_err *err)
{
    ncclResult_t state = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError((ncclComm_t)comm, &state);
    if (r != ncclSuccess) return nccl_fail(err, r, "ncclCommGetAsyncError");
    if (state == ncclSuccess) return 0;
    if (state == ncclInProgress) return 1;
    // NCCL's last message is one for the whole process: with several ranks in it, maybe another rank's
    const char *last = ncclGetLastError((ncclComm_t)comm);
    return lc_errf(err, LC_EIO, NULL, -1, -1, "NCCL: %s%s%s%s", ncclGetErrorString(state),
                   last && *last ? " (NCCL's last message: " : "", last && *last ? last : "", last && *last ? ")" : "");
}

// waits (poll) for what the communicator started; then a destroy has nothing left to wait for
extern "C" int lc_nccl_finalize_cuda(void *comm, struct lc_err *err)
{
    return started(err, ncclCommFinalize((ncclComm_t)comm), "ncclCommFinalize");
}

// the GPU of a communicator whose setup has finished
extern "C" int lc_nccl_device_cuda(void *comm, int *index, struct lc_err *err)
{
    ncclResult_t r = ncclCommCuDevice((ncclComm_t)comm, index);
    return r == ncclSuccess ? 0 : nccl_fail(err, r, "ncclCommCuDevice");
}

extern "C" void lc_nccl_comm_free_cuda(void *comm, int abort)
{
    if (!comm) return;
    ncclResult_t state = ncclSuccess;
    // a destroy waits for what the communicator started, and refuses one in error or still busy: abort those
    if (!abort && (ncclCommGetAsyncError((ncclComm_t)comm, &state) != ncclSuccess || state != ncclSuccess)) abort = 1;
    if (abort) ncclCommAbort((ncclComm_t)comm);
    else ncclCommDestroy((ncclComm_t)comm);
}

extern "C" int lc_nccl_allreduce_cuda(void *comm, float *buf, size_t n, int mean, void *stream, struct lc_err *err)
{
    return started(err, ncclAllReduce(buf, buf, n, ncclFloat32, mean ? ncclAvg : ncclSum, (ncclComm_t)comm,
                                      LC_STREAM(stream)), "ncclAllReduce");
}

extern "C" int lc_nccl_broadcast_cuda(void *comm, float *buf, size_t n, int root, void *stream, struct lc_err *err)
{
    return started(err, ncclBroadcast(buf, buf, n, ncclFloat32, root, (ncclComm_t)comm, LC_STREAM(stream)),
                   "ncclBroadcast");
}
