/* allreduce_gpu_bench: the data-parallel gradient all-reduce of train-pre
 * --gpus N (comm.h on NCCL: one thread and communicator per GPU, in place,
 * float32, averaged) for the IR-50 backbone's gradient size, in algorithm
 * and bus bandwidth (bus = algorithm x 2 (N-1)/N, NCCL's convention),
 * against NCCL's own all_reduce_perf (nccl-tests) at the same size when it
 * is on PATH. Below 2 GPUs (one is enough), the host time one collective's
 * launch takes on a non-blocking communicator (NCCL starts a thread for
 * each; comm.h polls until it is done), on a world of one: the cost per
 * gradient bucket of making an NCCL wait abortable. Skips without a GPU.
 * Part of `make gpu-check`.
 * Usage: allreduce_gpu_bench [gpus] [iterations]. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "comm.h"
#include "ir.h"
#include "tool.h"

struct job {
    int rank, world, iters;
    size_t n;
    const uint8_t *id;
    double seconds;
    int rc;
    struct lc_err err;
};

static void *rank_main(void *arg)
{
    struct job *j = arg;
    struct lc_device d = {LC_DEVICE_CUDA, j->rank};
    struct lc_comm *c = NULL;
    float *buf = NULL;
    if ((j->rc = lc_device_open(&d, &j->err)) || (j->rc = lc_comm_nccl_create(&c, j->id, j->rank, j->world, NULL, 0, &j->err)) ||
        (j->rc = lc_device_alloc(&d, (void **)&buf, j->n * sizeof *buf, &j->err)) ||
        (j->rc = lc_device_zero(&d, buf, j->n * sizeof *buf, &j->err)))
        goto out;
    for (int w = 0; w < 3; w++)
        if ((j->rc = lc_comm_allreduce(c, buf, j->n, 1, &j->err))) goto out;
    if ((j->rc = lc_device_sync(&d, &j->err))) goto out;
    double t0 = lc_now();
    for (int i = 0; i < j->iters; i++)
        if ((j->rc = lc_comm_allreduce(c, buf, j->n, 1, &j->err))) goto out;
    if ((j->rc = lc_device_sync(&d, &j->err))) goto out;
    j->seconds = (lc_now() - t0) / j->iters;
out:
    if (j->rc && c) lc_comm_abort(c);
    if (buf) lc_device_free(&d, buf);
    lc_comm_free(c);
    return NULL;
}

/* One GPU: microseconds of host time per launch (call and poll until NCCL's
 * launch is done) of a 4-byte all-reduce, world of one, raw NCCL calls
 * (comm.h skips collectives of a world of one). */
static void launch_latency(void)
{
    struct lc_device d = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    uint8_t id[LC_NCCL_ID_SIZE];
    void *comm = NULL;
    float *buf = NULL;
    int rc;
    if (lc_device_open(&d, &err) || lc_nccl_id(id, &err) || lc_nccl_init(&comm, id, 0, 1, &err)) lc_tool_fail(&err);
    while ((rc = lc_nccl_poll(comm, &err)) == 1) usleep(100);
    if (rc || lc_device_alloc(&d, (void **)&buf, sizeof *buf, &err)) lc_tool_fail(&err);
    const int calls = 400;
    double t0 = 0;
    for (int i = -20; i < calls; i++) { /* 20 to warm up */
        if (i == 0) t0 = lc_now();
        if ((rc = lc_nccl_allreduce(comm, buf, 1, 1, NULL, &err)) < 0) lc_tool_fail(&err);
        while (rc == 1 && (rc = lc_nccl_poll(comm, &err)) == 1) sched_yield();
        if (rc < 0) lc_tool_fail(&err);
    }
    double us = (lc_now() - t0) / calls * 1e6;
    if (lc_device_sync(&d, &err)) lc_tool_fail(&err);
    printf("allreduce_gpu_bench: one GPU: an NCCL launch on a non-blocking communicator takes %.1f us of host time "
           "(4-byte all-reduce, world of one, mean of %d; NCCL starts a thread per launch)\n", us, calls);
    lc_device_free(&d, buf);
    lc_nccl_free(comm, 0);
}

int main(int argc, char **argv)
{
    lc_tool_init("allreduce_gpu_bench");
    char why[256] = "";
    int have = lc_backend_cuda_devices(why, sizeof why);
    int gpus = argc > 1 ? atoi(argv[1]) : have, iters = argc > 2 ? atoi(argv[2]) : 20;
    if (have < 2 || gpus < 2) {
        printf("allreduce_gpu_bench: the all-reduce skipped: needs 2 or more GPUs (%d usable%s%s)\n", have,
               have ? "" : ": ", have ? "" : why);
        if (have == 1) launch_latency();
        return 0;
    }
    if (gpus > have) gpus = have;
    struct lc_err err;
    struct lc_ir *m;
    if (lc_ir_create(&m, 50, 1, LC_IR_PARAMS_ONLY, &err)) lc_tool_fail(&err);
    size_t n = lc_params_count(lc_ir_params(m));
    lc_ir_free(m);
    uint8_t id[LC_NCCL_ID_SIZE];
    if (lc_nccl_id(id, &err)) lc_tool_fail(&err);
    struct job jobs[64];
    pthread_t t[64];
    if (gpus > 64) gpus = 64;
    for (int r = 0; r < gpus; r++) {
        jobs[r] = (struct job){r, gpus, iters, n, id, 0, 0, {0}};
        pthread_create(&t[r], NULL, rank_main, &jobs[r]);
    }
    double worst = 0;
    for (int r = 0; r < gpus; r++) {
        pthread_join(t[r], NULL);
        if (jobs[r].rc) lc_tool_fail(&jobs[r].err);
        if (jobs[r].seconds > worst) worst = jobs[r].seconds;
    }
    double bytes = (double)n * 4, alg = bytes / worst / 1e9, bus = alg * 2 * (gpus - 1) / gpus;
    printf("allreduce_gpu_bench: IR-50 gradient, %zu floats (%.1f MB), %d GPUs, mean of %d all-reduces\n", n, bytes / 1e6,
           gpus, iters);
    printf("  ours (comm.h over NCCL)      %8.3f ms   algbw %7.1f GB/s   busbw %7.1f GB/s\n", worst * 1e3, alg, bus);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "all_reduce_perf -b %zu -e %zu -g %d -d float -o sum -n %d -w 3 2>/dev/null", (size_t)bytes,
             (size_t)bytes, gpus, iters);
    FILE *f = popen(cmd, "r");
    double peer = -1;
    char line[512];
    while (f && fgets(line, sizeof line, f)) { /* the size row: size count type redop root time algbw busbw ... */
        double size, count, time, algbw, busbw;
        char type[32], op[32];
        int root;
        if (sscanf(line, "%lf %lf %31s %31s %d %lf %lf %lf", &size, &count, type, op, &root, &time, &algbw, &busbw) == 8 &&
            size == (double)(size_t)bytes)
            peer = busbw;
    }
    if (f) pclose(f);
    if (peer > 0) printf("  NCCL all_reduce_perf          busbw %7.1f GB/s   ratio %.2f\n", peer, bus / peer);
    else printf("  NCCL's all_reduce_perf (nccl-tests) not on PATH: compare busbw with its figure for %.0f bytes\n", bytes);
    return 0;
}
