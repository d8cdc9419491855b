// nccl: the CUDA emulator's NCCL (tests/cudaemu/README.md): communicators
// of ranks that are threads of one process (the ranks of one unique id),
// float32 all-reduce (sum, average) and broadcast. As NCCL's non-blocking
// setup, a communicator is in progress (ncclInProgress) until every rank
// of its id has joined. A collective runs in its stream's turn (the host
// waits for it: runtime.cpp), after the communicator's collective before,
// whatever that one's stream, as NCCL orders them; each rank waits there
// until every rank has run it, so ranks that issue collectives in
// different orders hang, as on GPUs, until an abort (another thread's, as
// the project's watchdog does) ends the aborted rank's wait. A
// non-blocking communicator's finalize, too, is in progress until what was
// issued has run, which an abort can end.
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emu.h"
#include "emu_internal.h"

struct group {
    int nranks, joined, ready; // ready: every rank has joined once
    std::mutex lock;
    std::condition_variable cv;
    // the collective under way: what it is (as the first rank to arrive
    // issued it), the ranks' buffers, how many arrived and left
    std::string what;
    int first;
    unsigned long gen;
    int arrived, left;
    std::vector<const float *> send;
    std::vector<float> result;
};

struct ncclComm {
    group *g;
    int rank, device, blocking;
    emu_pos last;                // where its last collective lies: the next runs after it
    std::atomic<int> aborted{0}; // its collectives end at once, leaving their output as it was
    // NCCL's non-blocking finalize: the device's work issued so far runs on a
    // thread of its own, in progress until it is done (or an abort ends the
    // collective it waits in)
    std::mutex fin_lock; // over finalizer: a finalize, an abort and a destroy may come from different threads
    std::thread finalizer;
    std::atomic<int> finalizing{0};
};

// the end of a finalize, once its work has run (joined by one caller)
static void finalized(ncclComm_t comm)
{
    std::thread t;
    {
        std::lock_guard<std::mutex> l(comm->fin_lock);
        t = std::move(comm->finalizer);
    }
    if (t.joinable()) t.join();
}

static std::mutex registry_lock;
static std::map<std::string, group *> groups;
// destroyed and aborted communicators and their groups stay, since work
// still queued may name them (reachable from pointers that no exit-time
// destructor frees: no leak)
static std::vector<ncclComm *> *const retired_comms = new std::vector<ncclComm *>;
static std::vector<group *> *const retired_groups = new std::vector<group *>;

// the collective of rank r: its buffer posted, the result made by the last to arrive, copied out by each
// (what: the collective's kind and size, which every rank's must match, as NCCL needs)
template <typename Combine, typename Out>
static void collective(ncclComm *c, const std::string &what, const float *send, size_t count, Combine combine, Out out)
{
    group *g = c->g;
    std::unique_lock<std::mutex> l(g->lock);
    g->cv.wait(l, [&] { return g->left == 0 || c->aborted; }); // the previous collective is over for every rank
    if (c->aborted) return;
    if (g->arrived == 0) g->what = what, g->first = c->rank;
    else if (what != g->what)
        emu_fatal("NCCL: rank %d's %s meets rank %d's %s (every rank must issue the same collectives in the same "
                  "order: on GPUs a hang or garbage)", c->rank, what.c_str(), g->first, g->what.c_str());
    const unsigned long gen = g->gen;
    g->send[c->rank] = send;
    if (++g->arrived == g->nranks) {
        g->result.assign(count, 0.0f);
        combine(g->send, g->result);
        g->arrived = 0, g->left = g->nranks, g->gen++;
        g->cv.notify_all();
    } else {
        g->cv.wait(l, [&] { return g->gen != gen || c->aborted; });
        if (g->gen == gen) { // aborted before the others came: its buffer is no longer part of it
            g->arrived--;
            g->send[c->rank] = NULL;
            return;
        }
    }
    out(g->result);
    if (--g->left == 0) g->cv.notify_all();
}

// a rank's buffer: inside one allocation (else 0), of the communicator's device (else fatal)
static int rank_bytes_ok(ncclComm_t comm, const void *p, size_t count)
{
    if (emu_device_range(p, count * sizeof(float)) != 1) return 0;
    emu_check_device(p, comm->device, "an NCCL buffer of rank %d", comm->rank);
    return 1;
}

extern "C" {

ncclResult_t ncclGetVersion(int *version)
{
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

const char *ncclGetErrorString(ncclResult_t r)
{
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    default: return "an error (CUDA emulator)";
    }
}

const char *ncclGetLastError(ncclComm_t comm)
{
    (void)comm;
    return "";
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
    static std::mutex l;
    static unsigned long next;
    std::lock_guard<std::mutex> g(l);
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "cudaemu-%d-%lu", (int)getpid(), ++next);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank, ncclConfig_t *config)
{
    (void)config;
    *comm = NULL;
    if (nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
    std::string key(id.internal, strnlen(id.internal, sizeof id.internal));
    group *g;
    {
        std::lock_guard<std::mutex> l(registry_lock);
        auto it = groups.find(key);
        if (it == groups.end()) {
            g = new group();
            g->nranks = nranks;
            g->send.assign((size_t)nranks, NULL);
            groups[key] = g;
        } else {
            g = it->second;
        }
        if (g->nranks != nranks) return ncclInvalidUsage;
        if (++g->joined == nranks) g->ready = 1;
    }
    ncclComm *c = new ncclComm();
    c->g = g, c->rank = rank, c->blocking = !(config && !config->blocking);
    cudaGetDevice(&c->device);
    *comm = c;
    return c->blocking ? ncclSuccess : ncclInProgress;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *state)
{
    std::lock_guard<std::mutex> l(registry_lock);
    *state = comm->g->ready && !comm->finalizing ? ncclSuccess : ncclInProgress;
    return ncclSuccess;
}

ncclResult_t ncclCommCuDevice(ncclComm_t comm, int *device)
{
    *device = comm->device;
    return ncclSuccess;
}

// the communicator's work issued so far runs (its device's, here), on a
// thread of its own: in progress until then (ncclCommGetAsyncError)
ncclResult_t ncclCommFinalize(ncclComm_t comm)
{
    if (comm->blocking) {
        emu_device_drain(comm->device);
        return ncclSuccess;
    }
    std::lock_guard<std::mutex> l(comm->fin_lock);
    if (comm->finalizing || comm->finalizer.joinable()) return ncclInvalidUsage; // under way already
    comm->finalizing = 1;
    comm->finalizer = std::thread([comm] {
        emu_device_drain(comm->device);
        comm->finalizing = 0;
    });
    return ncclInProgress;
}

static void leave(ncclComm_t comm)
{
    if (!comm) return;
    std::lock_guard<std::mutex> l(registry_lock);
    group *g = comm->g;
    if (--g->joined == 0) {
        for (auto it = groups.begin(); it != groups.end(); ++it)
            if (it->second == g) {
                groups.erase(it);
                break;
            }
        retired_groups->push_back(g);
    }
    retired_comms->push_back(comm);
}

ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
    if (!comm) return ncclInvalidArgument;
    finalized(comm);
    emu_device_drain(comm->device);
    leave(comm);
    return ncclSuccess;
}

// from any thread: the rank's collective waiting for its peers ends
ncclResult_t ncclCommAbort(ncclComm_t comm)
{
    if (!comm) return ncclSuccess;
    {
        std::lock_guard<std::mutex> l(comm->g->lock);
        comm->aborted = 1;
        comm->g->cv.notify_all();
    }
    finalized(comm); // its collectives end now: a finalize under way is done soon
    leave(comm);
    return ncclSuccess;
}

// a collective on stream, after the communicator's last
static void issue(ncclComm_t comm, cudaStream_t stream, std::function<void()> work)
{
    emu_enqueue_wait(stream, comm->last);
    comm->last = emu_enqueue_collective(stream, std::move(work));
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream)
{
    if (type != ncclFloat32 || (op != ncclSum && op != ncclAvg)) return ncclInvalidArgument;
    if (!rank_bytes_ok(comm, send, count) || !rank_bytes_ok(comm, recv, count))
        emu_fatal("ncclAllReduce of %zu floats: a buffer that is not device memory", count);
    const std::string what = std::string("ncclAllReduce (") + (op == ncclAvg ? "average" : "sum") + ") of " +
                             std::to_string(count) + " floats";
    issue(comm, stream, [=] {
        const int n = comm->g->nranks;
        collective(
            comm, what, (const float *)send, count,
            [&](const std::vector<const float *> &all, std::vector<float> &r) {
                for (size_t i = 0; i < count; i++) {
                    float s = 0;
                    for (int k = 0; k < n; k++) s += all[k][i];
                    r[i] = op == ncclAvg ? s / n : s;
                }
            },
            [&](const std::vector<float> &r) { memcpy(recv, r.data(), count * sizeof(float)); });
    });
    return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t type, int root, ncclComm_t comm,
                           cudaStream_t stream)
{
    if (type != ncclFloat32 || root < 0 || root >= comm->g->nranks) return ncclInvalidArgument;
    if ((comm->rank == root && !rank_bytes_ok(comm, send, count)) || !rank_bytes_ok(comm, recv, count))
        emu_fatal("ncclBroadcast of %zu floats: a buffer that is not device memory", count);
    const std::string what =
        "ncclBroadcast from rank " + std::to_string(root) + " of " + std::to_string(count) + " floats";
    issue(comm, stream, [=] {
        collective(
            comm, what, (const float *)send, count,
            [&](const std::vector<const float *> &all, std::vector<float> &r) {
                memcpy(r.data(), all[root], count * sizeof(float));
            },
            [&](const std::vector<float> &r) { memcpy(recv, r.data(), count * sizeof(float)); });
    });
    return ncclSuccess;
}

} // extern "C"
