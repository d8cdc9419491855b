/* comm: the local communicator (ranks as threads): all-reduce sums in rank
 * order, the same on every rank; broadcast; a failing rank wakes the
 * others with an error; the launcher's environment; the id file; GPU
 * ranks: every GPU there before any starts, a failing rank ends the
 * group's collectives (NCCL, 2 GPUs). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"
#include "tool.h"
#include "train.h"
#include "testutil.h"
#include "timelimit.h"

#define WORLD 3
#define LEN 1003

struct rank_job {
    struct lc_comm *c;
    float *buf, *mean, *bc;
    int rc_sum, rc_mean, rc_bc, fail_at;
};

static float value(int rank, int i) { return (float)((i * 7919 + rank * 104729) % 1000) / 997.0f + 1e-3f * (float)rank; }

static void *rank_main(void *arg)
{
    struct rank_job *j = arg;
    int r = lc_comm_rank(j->c);
    for (int i = 0; i < LEN; i++) j->buf[i] = j->mean[i] = value(r, i), j->bc[i] = (float)r;
    if (j->fail_at == 0) {
        lc_comm_abort(j->c);
        return NULL;
    }
    j->rc_sum = lc_comm_allreduce(j->c, j->buf, LEN, 0, NULL);
    j->rc_mean = lc_comm_allreduce(j->c, j->mean, LEN, 1, NULL);
    j->rc_bc = lc_comm_broadcast(j->c, j->bc, LEN, 1, NULL);
    return NULL;
}

static void run(struct rank_job *jobs, int fail_rank)
{
    struct lc_comm *c[WORLD];
    cr_assert_eq(lc_comm_local_create(c, WORLD, NULL), 0);
    pthread_t t[WORLD];
    for (int r = 0; r < WORLD; r++) {
        jobs[r] = (struct rank_job){c[r], calloc(LEN, 4), calloc(LEN, 4), calloc(LEN, 4), 0, 0, 0, r == fail_rank ? 0 : -1};
        cr_assert_eq(lc_comm_world(c[r]), WORLD);
        pthread_create(&t[r], NULL, rank_main, &jobs[r]);
    }
    for (int r = 0; r < WORLD; r++) pthread_join(t[r], NULL);
    for (int r = 0; r < WORLD; r++) lc_comm_free(c[r]);
}

static void release(struct rank_job *jobs)
{
    for (int r = 0; r < WORLD; r++) free(jobs[r].buf), free(jobs[r].mean), free(jobs[r].bc);
}

Test(comm, local_allreduce_and_broadcast)
{
    struct rank_job j[WORLD];
    run(j, -1);
    for (int r = 0; r < WORLD; r++) {
        cr_assert_eq(j[r].rc_sum, 0);
        cr_assert_eq(j[r].rc_mean, 0);
        cr_assert_eq(j[r].rc_bc, 0);
        for (int i = 0; i < LEN; i++) {
            float want = value(0, i);
            for (int k = 1; k < WORLD; k++) want += value(k, i);
            cr_assert_eq(j[r].buf[i], want, "rank %d, element %d: the sum in rank order", r, i);
            cr_assert_eq(j[r].mean[i], want * (1.0f / WORLD), "rank %d, element %d: the mean", r, i);
            cr_assert_eq(j[r].bc[i], 1.0f, "rank %d: rank 1's buffer", r);
        }
    }
    release(j);
}

Test(comm, a_failing_rank_wakes_the_others)
{
    TEST_TIME_LIMIT(20);
    struct rank_job j[WORLD];
    run(j, 2);
    for (int r = 0; r < 2; r++) cr_expect_eq(j[r].rc_sum, LC_EIO, "rank %d's collective fails instead of waiting", r);
    release(j);
}

Test(comm, launcher_environment)
{
    struct lc_comm_env e;
    struct lc_err err;
    unsetenv("LC_RANK"), unsetenv("LC_WORLD_SIZE"), unsetenv("LC_LOCAL_RANK");
    unsetenv("OMPI_COMM_WORLD_RANK"), unsetenv("OMPI_COMM_WORLD_SIZE"), unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    unsetenv("SLURM_PROCID"), unsetenv("SLURM_NTASKS"), unsetenv("SLURM_LOCALID");
    cr_assert_eq(lc_comm_env(&e, NULL), 0);
    cr_expect(e.rank == 0 && e.world == 1 && e.local_rank == 0);
    setenv("SLURM_PROCID", "3", 1), setenv("SLURM_NTASKS", "8", 1), setenv("SLURM_LOCALID", "1", 1);
    cr_assert_eq(lc_comm_env(&e, NULL), 0);
    cr_expect(e.rank == 3 && e.world == 8 && e.local_rank == 1, "srun's variables");
    setenv("LC_RANK", "5", 1); /* ours first */
    cr_assert_eq(lc_comm_env(&e, NULL), 0);
    cr_expect_eq(e.rank, 5);
    setenv("LC_RANK", "9", 1);
    cr_expect_eq(lc_comm_env(&e, &err), LC_EUSAGE, "rank 9 of 8");
    cr_expect(strstr(err.msg, "outside a world of 8"), "%s", err.msg);
    setenv("LC_RANK", "x", 1);
    cr_expect_eq(lc_comm_env(&e, &err), LC_EUSAGE);
    cr_expect(strstr(err.msg, "LC_RANK='x'"), "%s", err.msg);
    unsetenv("LC_RANK"), unsetenv("SLURM_PROCID"), unsetenv("SLURM_NTASKS"), unsetenv("SLURM_LOCALID");
}

/* the id file's name carries the job of the launcher that gave the rank:
 * no job reads another's */
static void id_path_is(const char *want, const char *why)
{
    char p[256];
    struct lc_err err = {0};
    cr_assert_eq(lc_comm_id_path(p, sizeof p, "/shared/nccl.id", &err), 0, "%s", err.msg);
    cr_expect_str_eq(p, want, "%s", why);
}

Test(comm, id_file_per_job)
{
    char p[256];
    struct lc_err err = {0};
    const char *vars[] = {"LC_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID", "SLURM_JOB_ID",
                          "SLURM_STEP_ID", "PMIX_NAMESPACE", "OMPI_MCA_orte_ess_jobid"};
    for (int i = 0; i < 7; i++) unsetenv(vars[i]);
    id_path_is("/shared/nccl.id", "no launcher: the path as given");
    setenv("SLURM_PROCID", "1", 1), setenv("SLURM_JOB_ID", "99", 1), setenv("SLURM_STEP_ID", "3", 1);
    id_path_is("/shared/nccl.id.99.3", "srun: its job and step");
    setenv("OMPI_COMM_WORLD_RANK", "1", 1), setenv("OMPI_MCA_orte_ess_jobid", "1234", 1);
    id_path_is("/shared/nccl.id.1234", "mpirun inside a Slurm job: mpirun's job, not Slurm's step");
    setenv("PMIX_NAMESPACE", "prterun-node1-4242@1", 1);
    id_path_is("/shared/nccl.id.prterun-node1-4242_1", "PMIx's namespace first; '@' is no file name character");
    setenv("LC_RANK", "1", 1);
    id_path_is("/shared/nccl.id", "LC_RANK: no launcher's job");
    cr_expect_eq(lc_comm_id_path(p, 10, "/shared/nccl.id", &err), LC_EUSAGE, "too long for the buffer");
    cr_expect_eq(lc_comm_id_path(p, sizeof p, "", &err), LC_EUSAGE);
    cr_expect(strstr(err.msg, "several processes need LC_NCCL_ID_FILE"), "%s", err.msg);
    for (int i = 0; i < 7; i++) unsetenv(vars[i]);
}

Test(comm, id_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/id", tu_tmpdir());
    uint8_t id[LC_NCCL_ID_SIZE], want[LC_NCCL_ID_SIZE];
    struct lc_err err;
    cr_expect_eq(lc_comm_share_id(id, 0, path, 0.2, &err), LC_EIO, "nobody wrote it");
    cr_expect(strstr(err.msg, "did not write the NCCL id"), "%s", err.msg);
    cr_expect_eq(lc_comm_share_id(id, 0, NULL, 0.2, &err), LC_EUSAGE);
    cr_expect(strstr(err.msg, "LC_NCCL_ID_FILE"), "%s", err.msg);
    for (int i = 0; i < LC_NCCL_ID_SIZE; i++) want[i] = (uint8_t)(i * 37);
    FILE *f = fopen(path, "wb");
    fwrite(want, 1, 100, f);
    fclose(f);
    cr_expect_eq(lc_comm_share_id(id, 0, path, 1, &err), LC_EFORMAT, "a short file");
    f = fopen(path, "wb");
    fwrite(want, 1, sizeof want, f);
    fclose(f);
    cr_assert_eq(lc_comm_share_id(id, 0, path, 1, &err), 0, "%s", err.msg);
    cr_expect_eq(memcmp(id, want, sizeof id), 0);
    if (!lc_backend_cuda_built()) cr_expect_neq(lc_comm_share_id(id, 1, path, 1, &err), 0, "making an id needs NCCL");
}

/* Skips the test below 2 usable GPUs; else a fresh NCCL id. */
static void two_gpus_and_an_id(uint8_t id[LC_NCCL_ID_SIZE])
{
    char why[256] = "";
    struct lc_err err;
    if (!lc_backend_cuda_built()) cr_skip_test("CUDA tests skipped: this build has no CUDA support");
    int n = lc_backend_cuda_devices(why, sizeof why);
    if (n < 2) cr_skip_test("NCCL test skipped: needs 2 GPUs (%d usable%s%s)", n, n ? "" : ": ", n ? "" : why);
    TEST_TIME_LIMIT(120); /* a wait the code under test fails to end kills the test, which then fails */
    cr_assert_eq(lc_nccl_id(id, &err), 0, "%s", err.msg);
}

/* NCCL: the same collectives on 2 GPUs (skipped below 2); the overlapped
 * all-reduce ordered by events both ways with the ops' stream (on the
 * emulator its streams run out of step unless the events order them). */
struct gpu_job {
    int rank;
    const uint8_t *id;
    float out_sum[LEN], out_mean[LEN], out_bc[LEN];
    int rc;
    struct lc_err err;
};

static void *gpu_rank(void *arg)
{
    struct gpu_job *j = arg;
    struct lc_device d = {LC_DEVICE_CUDA, j->rank};
    struct lc_comm *c = NULL;
    float *a = NULL, *b = NULL, *x = NULL, *h = malloc(LEN * 4);
    for (int i = 0; i < LEN; i++) h[i] = value(j->rank, i);
    if ((j->rc = lc_device_open(&d, &j->err)) || (j->rc = lc_comm_nccl_create(&c, j->id, j->rank, 2, NULL, 0, &j->err)) ||
        (j->rc = lc_device_alloc(&d, (void **)&a, LEN * 4, &j->err)) ||
        (j->rc = lc_device_alloc(&d, (void **)&b, LEN * 4, &j->err)) ||
        (j->rc = lc_device_alloc(&d, (void **)&x, LEN * 4, &j->err)) ||
        (j->rc = lc_device_upload(&d, a, h, LEN * 4, &j->err)) || (j->rc = lc_device_upload(&d, x, h, LEN * 4, &j->err)) ||
        (j->rc = lc_comm_allreduce(c, a, LEN, 0, &j->err)) ||
        /* b written by a kernel just before: the overlapped all-reduce, on its own stream, must wait for it */
        (j->rc = lc_op_scale(&d, b, x, 2.0f, LEN, &j->err)) || (j->rc = lc_comm_allreduce_start(c, b, LEN, 1, &j->err)) ||
        (j->rc = lc_comm_wait(c, &j->err)) || (j->rc = lc_device_download(&d, j->out_sum, a, LEN * 4, &j->err)) ||
        (j->rc = lc_device_download(&d, j->out_mean, b, LEN * 4, &j->err)))
        goto out;
    for (int i = 0; i < LEN; i++) h[i] = (float)j->rank;
    if ((j->rc = lc_device_upload(&d, a, h, LEN * 4, &j->err)) || (j->rc = lc_comm_broadcast(c, a, LEN, 1, &j->err)) ||
        (j->rc = lc_device_download(&d, j->out_bc, a, LEN * 4, &j->err)))
        goto out;
out:
    if (j->rc && c) lc_comm_abort(c);
    if (a) lc_device_free(&d, a);
    if (b) lc_device_free(&d, b);
    if (x) lc_device_free(&d, x);
    lc_comm_free(c);
    free(h);
    return NULL;
}

/* An alarm past the skip (timelimit.h) and LC_NCCL_TIMEOUT bound these. */
Test(cuda, nccl_allreduce_and_broadcast_on_two_gpus)
{
    setenv("LC_NCCL_TIMEOUT", "60", 1);
    uint8_t id[LC_NCCL_ID_SIZE];
    two_gpus_and_an_id(id);
    static struct gpu_job j[2];
    pthread_t t[2];
    for (int r = 0; r < 2; r++) {
        j[r].rank = r, j[r].id = id;
        pthread_create(&t[r], NULL, gpu_rank, &j[r]);
    }
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(j[r].rc, 0, "rank %d: %s", r, j[r].err.msg);
        for (int i = 0; i < LEN; i++) {
            float want = value(0, i) + value(1, i);
            cr_expect_float_eq(j[r].out_sum[i], want, 1e-6f, "rank %d, %d: sum", r, i);
            cr_expect_float_eq(j[r].out_mean[i], want, 1e-6f, "rank %d, %d: mean of the doubled", r, i);
            cr_expect_eq(j[r].out_bc[i], 1.0f, "rank %d, %d: broadcast", r, i);
        }
        cr_expect_eq(memcmp(j[r].out_sum, j[0].out_sum, sizeof j[r].out_sum), 0, "the same on every rank");
    }
}

/* NCCL ranks of one process in a group, rank 1 never joining rank 0's
 * all-reduce: it fails and aborts after 0.5 s, or (stall) sleeps past the
 * time limit without failing. Rank 0's all-reduce, waiting for its peer
 * (in its launch, where NCCL connects on first use, or on its GPU), ends:
 * by the group's abort, or by rank 0's watchdog; and its next collective
 * fails instead of waiting for ever (skipped below 2 GPUs). */
struct pair_job {
    int rank, stall;
    const uint8_t *id;
    struct lc_comm_group *g;
    int rc_wait, rc_next;
    double waited;
    struct lc_err err;
};

static void *pair_rank(void *arg)
{
    struct pair_job *j = arg;
    struct lc_device d = {LC_DEVICE_CUDA, j->rank};
    struct lc_comm *c = NULL;
    float *a = NULL, h[LEN];
    j->rc_wait = j->rc_next = -1;
    if (lc_device_open(&d, &j->err) || lc_comm_nccl_create(&c, j->id, j->rank, 2, j->g, j->rank, &j->err) ||
        lc_device_alloc(&d, (void **)&a, LEN * 4, &j->err))
        goto out;
    if (j->rank == 1) {
        usleep(j->stall ? 12000000 : 500000);
        if (!j->stall) lc_comm_abort(c);
        j->rc_wait = j->rc_next = 0;
        goto out;
    }
    double t0 = lc_now();
    if (lc_comm_allreduce(c, a, LEN, 0, &j->err)) { /* the abort ended its launch */
        j->rc_next = 1;
        goto out;
    }
    j->rc_wait = lc_device_download(&d, h, a, LEN * 4, &j->err); /* returns once an abort ended the kernel */
    j->waited = lc_now() - t0;
    j->rc_next = lc_comm_allreduce(c, a, LEN, 0, &j->err);
out:
    lc_device_sync(&d, &(struct lc_err){0});
    if (a) lc_device_free(&d, a);
    lc_comm_free(c);
    lc_device_thread_release(&d);
    return NULL;
}

static void run_pair(struct pair_job j[2], int stall)
{
    uint8_t id[LC_NCCL_ID_SIZE];
    struct lc_err err;
    two_gpus_and_an_id(id);
    struct lc_comm_group *g;
    cr_assert_eq(lc_comm_group_new(&g, 2, &err), 0);
    pthread_t t[2];
    for (int r = 0; r < 2; r++) {
        j[r] = (struct pair_job){.rank = r, .stall = stall, .id = id, .g = g};
        pthread_create(&t[r], NULL, pair_rank, &j[r]);
    }
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
    lc_comm_group_free(g);
    cr_expect_eq(j[1].rc_wait, 0, "rank 1 set up: %s", j[1].err.msg);
    cr_expect_neq(j[0].rc_next, 0, "rank 0's collective after the abort failed");
}

Test(cuda, a_failing_rank_ends_the_groups_collectives)
{
    setenv("LC_NCCL_TIMEOUT", "30", 1); /* far above the abort's 0.5 s */
    static struct pair_job j[2];
    run_pair(j, 0);
    cr_expect(strstr(j[0].err.msg, "another rank stopped") != NULL, "rank 0: %s", j[0].err.msg);
}

Test(cuda, a_stalled_rank_is_timed_out_by_the_watchdog)
{
    setenv("NCCL_RUNTIME_CONNECT", "0", 1); /* rank 0's launch completes; its kernel waits on the GPU */
    setenv("LC_NCCL_TIMEOUT", "5", 1);
    static struct pair_job j[2];
    run_pair(j, 1);
    cr_expect_eq(j[0].rc_wait, 0, "rank 0's wait on its GPU ended: %s", j[0].err.msg);
    cr_expect(j[0].waited >= 4.5 && j[0].waited < 30, "after %.1f s", j[0].waited);
    cr_expect(strstr(j[0].err.msg, "rank 0: a collective did not finish in 5 s on the GPU (LC_NCCL_TIMEOUT)") != NULL,
              "rank 0: %s", j[0].err.msg);
}

/* A rank freed while its collective waits for a peer that never issues
 * it: lc_comm_free's finalize ends by the time limit (the watchdog's, or
 * the finalize's own wait), not waiting for the peer (skipped below 2
 * GPUs). */
struct free_job {
    int rank;
    const uint8_t *id;
    struct lc_comm_group *g;
    int rc;
    double freed; /* seconds lc_comm_free took */
    struct lc_err err;
};

static void *free_rank(void *arg)
{
    struct free_job *j = arg;
    struct lc_device d = {LC_DEVICE_CUDA, j->rank};
    struct lc_comm *c = NULL;
    float *a = NULL;
    j->rc = -1;
    if (lc_device_open(&d, &j->err) || lc_comm_nccl_create(&c, j->id, j->rank, 2, j->g, j->rank, &j->err) ||
        lc_device_alloc(&d, (void **)&a, LEN * 4, &j->err))
        goto out;
    if (j->rank == 1) usleep(12000000); /* far past rank 0's time limit, then frees without a collective */
    else if ((j->rc = lc_comm_allreduce(c, a, LEN, 0, &j->err))) goto out;
    j->rc = 0;
    double t0 = lc_now();
    lc_comm_free(c);
    c = NULL;
    j->freed = lc_now() - t0;
out:
    lc_comm_free(c);
    lc_device_sync(&d, &(struct lc_err){0});
    if (a) lc_device_free(&d, a);
    lc_device_thread_release(&d);
    return NULL;
}

Test(cuda, a_rank_freed_while_its_peer_never_comes_is_timed_out)
{
    setenv("NCCL_RUNTIME_CONNECT", "0", 1);
    setenv("LC_NCCL_TIMEOUT", "5", 1);
    uint8_t id[LC_NCCL_ID_SIZE];
    struct lc_err err;
    two_gpus_and_an_id(id);
    struct lc_comm_group *g;
    cr_assert_eq(lc_comm_group_new(&g, 2, &err), 0);
    static struct free_job j[2];
    pthread_t t[2];
    for (int r = 0; r < 2; r++) {
        j[r] = (struct free_job){.rank = r, .id = id, .g = g};
        pthread_create(&t[r], NULL, free_rank, &j[r]);
    }
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
    lc_comm_group_free(g);
    for (int r = 0; r < 2; r++) cr_expect_eq(j[r].rc, 0, "rank %d: %s", r, j[r].err.msg);
    cr_expect(j[0].freed >= 4 && j[0].freed < 11, "rank 0 freed after %.1f s (its time limit 5 s, its peer 12 s)",
              j[0].freed);
}

/* One GPU is enough for NCCL's setup of a world of 2 whose second rank
 * never comes: it ends by the time limit, or when the group is aborted,
 * never waits for ever (skipped without a GPU). */
static void one_gpu_and_an_id(uint8_t id[LC_NCCL_ID_SIZE])
{
    char why[256] = "";
    struct lc_err err;
    if (!lc_backend_cuda_built()) cr_skip_test("CUDA tests skipped: this build has no CUDA support");
    int n = lc_backend_cuda_devices(why, sizeof why);
    if (n < 1) cr_skip_test("NCCL test skipped: no usable GPU: %s", why);
    TEST_TIME_LIMIT(120); /* a wait the code under test fails to end kills the test, which then fails */
    cr_assert_eq(lc_nccl_id(id, &err), 0, "%s", err.msg);
}

/* one_gpu_and_an_id, and cuda:0 opened on this thread */
static struct lc_device open_one_gpu(uint8_t id[LC_NCCL_ID_SIZE])
{
    one_gpu_and_an_id(id);
    struct lc_device d = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    cr_assert_eq(lc_device_open(&d, &err), 0, "%s", err.msg);
    return d;
}


/* A world of one: setup, the communicator's GPU, the watchdog-free path,
 * finalizing and destroying (skipped without a GPU). */
Test(cuda, a_world_of_one_is_set_up_finalized_and_freed)
{
    uint8_t id[LC_NCCL_ID_SIZE];
    struct lc_device d = open_one_gpu(id);
    struct lc_comm *c = NULL;
    struct lc_err err = {0};
    float *a = NULL;
    cr_assert_eq(lc_comm_nccl_create(&c, id, 0, 1, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_comm_rank(c), 0);
    cr_assert_eq(lc_comm_world(c), 1);
    cr_assert_eq(lc_device_alloc(&d, (void **)&a, LEN * 4, &err), 0, "%s", err.msg);
    cr_expect_eq(lc_comm_allreduce(c, a, LEN, 1, &err), 0, "%s", err.msg);
    lc_comm_free(c);
    lc_device_free(&d, a);
    lc_device_thread_release(&d);
}

/* NCCL's blocking calls, where no abort could end a rank's wait, are
 * refused before anything starts (on any machine) */
Test(comm, nccl_blocking_calls_are_refused)
{
    uint8_t id[LC_NCCL_ID_SIZE] = {0};
    struct lc_comm *c = NULL;
    struct lc_err err = {0};
    setenv("NCCL_COMM_BLOCKING", "1", 1);
    cr_expect_eq(lc_comm_nccl_create(&c, id, 0, 2, NULL, 0, &err), LC_EUSAGE, "%s", err.msg);
    cr_expect_null(c);
    cr_expect(strstr(err.msg, "NCCL_COMM_BLOCKING=1: ranks need NCCL's non-blocking calls") != NULL, "%s", err.msg);
    unsetenv("NCCL_COMM_BLOCKING");
}

Test(cuda, a_setup_whose_peer_never_comes_times_out)
{
    uint8_t id[LC_NCCL_ID_SIZE];
    struct lc_device d = open_one_gpu(id);
    struct lc_comm *c = NULL;
    struct lc_err err = {0};
    setenv("LC_NCCL_TIMEOUT", "2", 1);
    double t0 = lc_now();
    int rc = lc_comm_nccl_create(&c, id, 0, 2, NULL, 0, &err);
    double took = lc_now() - t0;
    unsetenv("LC_NCCL_TIMEOUT");
    cr_assert_neq(rc, 0, "a world of 2 with one rank cannot be set up");
    cr_expect_null(c);
    cr_expect(strstr(err.msg, "rank 0: NCCL's setup did not finish in 2 s (LC_NCCL_TIMEOUT)") != NULL, "%s", err.msg);
    cr_expect(took >= 1.9 && took < 30, "gave up after %.1f s", took);
    lc_device_thread_release(&d);
}

struct setup_job {
    const uint8_t *id;
    struct lc_comm_group *g;
    struct lc_device d;
    int rc;
    struct lc_err err;
};

static void *setup_rank(void *arg)
{
    struct setup_job *j = arg;
    struct lc_comm *c = NULL;
    j->rc = lc_device_open(&j->d, &j->err);
    if (!j->rc) j->rc = lc_comm_nccl_create(&c, j->id, 0, 2, j->g, 0, &j->err);
    lc_comm_free(c);
    lc_device_thread_release(&j->d);
    return NULL;
}

Test(cuda, an_abort_ends_a_setup_that_waits_for_its_peer)
{
    static struct setup_job j;
    struct lc_err err;
    uint8_t id[LC_NCCL_ID_SIZE];
    one_gpu_and_an_id(id);
    setenv("LC_NCCL_TIMEOUT", "20", 1); /* were the abort to miss, the time limit ends it, and the test fails */
    cr_assert_eq(lc_comm_group_new(&j.g, 2, &err), 0);
    j.id = id, j.d = (struct lc_device){LC_DEVICE_CUDA, 0};
    pthread_t t;
    double t0 = lc_now();
    pthread_create(&t, NULL, setup_rank, &j);
    usleep(1000000); /* rank 0 is in NCCL's setup by now */
    lc_comm_group_abort(j.g); /* as rank 1 does when it fails */
    pthread_join(t, NULL);
    double took = lc_now() - t0;
    lc_comm_group_free(j.g);
    cr_assert_neq(j.rc, 0, "the setup ended with an error");
    cr_expect(strstr(j.err.msg, "another rank stopped") != NULL, "%s", j.err.msg);
    cr_expect(took < 30, "ended %.1f s after it started", took);
}

/* NCCL's time limit comes from the environment: whole seconds, 0 for none */
Test(comm, nccl_time_limit_from_the_environment)
{
    double s;
    struct lc_err err = {0};
    unsetenv("LC_NCCL_TIMEOUT");
    cr_assert_eq(lc_comm_timeout(&s, &err), 0);
    cr_expect_eq(s, 600);
    setenv("LC_NCCL_TIMEOUT", "5", 1);
    cr_assert_eq(lc_comm_timeout(&s, &err), 0);
    cr_expect_eq(s, 5);
    setenv("LC_NCCL_TIMEOUT", "0", 1);
    cr_assert_eq(lc_comm_timeout(&s, &err), 0);
    cr_expect_eq(s, 0);
    setenv("LC_NCCL_TIMEOUT", "10 min", 1);
    cr_expect_eq(lc_comm_timeout(&s, &err), LC_EUSAGE);
    cr_expect(strstr(err.msg, "LC_NCCL_TIMEOUT='10 min' is not a number of seconds") != NULL, "%s", err.msg);
    unsetenv("LC_NCCL_TIMEOUT");
}

/* GPU ranks need every GPU they name, checked before any rank waits in
 * NCCL's setup for one that never comes (no machine has 64). */
Test(comm, gpu_ranks_need_every_gpu)
{
    struct lc_train_opts o = {.data = "unused", .out = "unused", .layers = 18, .gpus = 64, .batch = 2, .epochs = 1};
    o.device = (struct lc_device){LC_DEVICE_CUDA, 0};
    struct lc_err err = {0};
    cr_assert_eq(lc_train_run(&o, &err), LC_EUSAGE, "%s", err.msg);
    cr_expect(strstr(err.msg, "--gpus 64 needs GPUs cuda:0 to cuda:63; this machine has") != NULL, "%s", err.msg);
}
