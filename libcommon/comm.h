/* comm: the collectives of data-parallel training (train-pre --gpus N, and
 * several processes launched by mpirun or srun). A communicator is one
 * rank's handle in a group of `world` ranks; every rank calls the same
 * collectives in the same order with buffers of the same size.
 *  - NCCL: one rank per GPU, buffers on that GPU, in-place all-reduce and
 *    broadcast on the ops' stream; the group meets through a 128-byte
 *    unique id (made by rank 0, passed to the others: in memory for the
 *    threads of one process, through a shared file between processes).
 *  - local: ranks as threads of this process on the CPU device, a check of
 *    the data-parallel path on any machine. Sums run in rank order, so
 *    results are deterministic and the same on every rank.
 * If one rank fails, lc_comm_abort wakes the others, whose collectives
 * then fail instead of waiting forever. An NCCL rank of a world above 1
 * also has a watchdog thread that aborts its group when NCCL reports an
 * error (a peer process lost) or the last collective posted has not
 * finished on the GPU within LC_NCCL_TIMEOUT seconds; its collectives then
 * fail with that reason. */
#ifndef LC_COMM_H
#define LC_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "err.h"

struct lc_comm;
struct lc_comm_group;

/* world handles, ranks[r] for the thread of rank r. */
int lc_comm_local_create(struct lc_comm **ranks, int world, struct lc_err *err);
/* On the thread that drives rank's GPU (current device set), with the
 * group's id; returns once every rank has joined. g: NULL, or this
 * process's group (below), which the handle joins as slot before it waits
 * for NCCL's setup, so that another rank's abort ends that wait too.
 * Setup and each collective's launch may take LC_NCCL_TIMEOUT seconds
 * (lc_comm_timeout); past that, the rank aborts and fails, naming the wait. */
int lc_comm_nccl_create(struct lc_comm **c, const uint8_t id[LC_NCCL_ID_SIZE], int rank, int world,
                        struct lc_comm_group *g, int slot, struct lc_err *err);
/* LC_NCCL_TIMEOUT from the environment: whole seconds, 0 for no limit;
 * 600 when unset. */
int lc_comm_timeout(double *seconds, struct lc_err *err);
/* Free one rank's handle (the local group's shared state goes with the last). */
void lc_comm_free(struct lc_comm *c);
int lc_comm_rank(const struct lc_comm *c);
int lc_comm_world(const struct lc_comm *c);

/* buf (n floats on the rank's device) <- the sum over ranks, or the mean
 * (mean != 0), the same on every rank. */
int lc_comm_allreduce(struct lc_comm *c, float *buf, size_t n, int mean, struct lc_err *err);
/* The same, overlapped with the ops that follow (NCCL: on the group's own
 * stream, after the ops queued so far have produced buf); buf must not be
 * touched until lc_comm_wait, which makes later ops wait for every
 * all-reduce started (an abort that ends it later, on the GPU, is reported
 * by the next collective). The local group reduces at once. */
int lc_comm_allreduce_start(struct lc_comm *c, float *buf, size_t n, int mean, struct lc_err *err);
int lc_comm_wait(struct lc_comm *c, struct lc_err *err);
/* buf <- root's buf */
int lc_comm_broadcast(struct lc_comm *c, float *buf, size_t n, int root, struct lc_err *err);
/* This rank gives up: the group's pending and later collectives fail
 * (NCCL: this process's ranks' at once when they joined a group; other
 * processes' when their NCCL sees the loss). */
void lc_comm_abort(struct lc_comm *c);

/* NCCL ranks that are threads of one process: a group made before the
 * threads start (n ranks), which each thread's handle joins as it is made
 * (lc_comm_nccl_create), so that lc_comm_abort on any of them aborts all of
 * their communicators (NCCL ends no peer's collectives by itself: they
 * would wait forever). The group lives until it and every member are
 * freed. */
struct lc_comm_group;
int lc_comm_group_new(struct lc_comm_group **g, int n, struct lc_err *err);
/* A rank that failed before it could join: the members' collectives fail,
 * and so will those of ranks that join later. */
void lc_comm_group_abort(struct lc_comm_group *g);
void lc_comm_group_free(struct lc_comm_group *g);

/* Several processes: which one this is, from the launcher's environment
 * (LC_RANK/LC_WORLD_SIZE/LC_LOCAL_RANK, else mpirun's OMPI_COMM_WORLD_RANK/
 * _SIZE/_LOCAL_RANK, else srun's SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID);
 * world 1 when none is set. */
struct lc_comm_env {
    int rank, world, local_rank;
};
int lc_comm_env(struct lc_comm_env *e, struct lc_err *err);
/* The id file of this job: base (LC_NCCL_ID_FILE) with the job of the
 * launcher that gave the rank appended (".JOB.STEP" under srun,
 * ".NAMESPACE" or ".JOBID" under mpirun; nothing for LC_RANK), so that a
 * file an earlier job left is never read; LC_EUSAGE when base is NULL or
 * empty. */
int lc_comm_id_path(char *out, size_t size, const char *base, struct lc_err *err);
/* The group's id between processes through a file every process can read:
 * the root makes the id and writes it (atomically: temporary, then rename);
 * the others wait for it, up to timeout_s seconds. */
int lc_comm_share_id(uint8_t id[LC_NCCL_ID_SIZE], int root, const char *path, double timeout_s, struct lc_err *err);

#endif
