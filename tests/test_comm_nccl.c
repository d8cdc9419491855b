/* comm.c's NCCL path (non-blocking setup and launches polled under the
 * group's locks, aborts, LC_NCCL_TIMEOUT, the watchdog, finalizing) on any
 * machine, against a simulated NCCL in this process: the link wraps the
 * backend's NCCL, event, stream and device calls (Makefile: --wrap), so
 * comm.c runs unchanged while these stand-ins decide when a setup or a
 * collective is done.
 *
 * The stand-in: ranks meet by id (a "clique"); a setup is done once every
 * rank of the world has called init; a collective is done on the "GPU"
 * once every rank has posted it, and with lazy connection (as NCCL's
 * default runtime connect) the first one's launch itself waits for that;
 * an abort ends everything of its clique; an error can be injected, as
 * NCCL reports a lost peer. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "comm.h"
#include "tool.h"
#include "timelimit.h"

#define MAX_RANKS 4

struct clique {
    uint8_t id[LC_NCCL_ID_SIZE];
    int world, joined, lazy, error, aborts, destroys, finalized;
    unsigned long posted[MAX_RANKS]; /* collectives posted by each rank */
};

struct fake_comm {
    struct clique *q;
    int rank;
};

/* a collective a thread posted; an event recorded after it is done with it */
struct fake_event {
    struct clique *q;
    unsigned long op;
};

static pthread_mutex_t fmu = PTHREAD_MUTEX_INITIALIZER;
static struct clique cliques[8];
static int n_cliques;
static __thread struct fake_event last_posted;

static struct clique *clique_of(const uint8_t id[LC_NCCL_ID_SIZE], int world)
{
    for (int i = 0; i < n_cliques; i++)
        if (!memcmp(cliques[i].id, id, LC_NCCL_ID_SIZE)) return &cliques[i];
    struct clique *q = &cliques[n_cliques++];
    memcpy(q->id, id, LC_NCCL_ID_SIZE);
    q->world = world;
    return q;
}

/* done on the GPU: every rank posted op, or the clique was aborted */
static int op_done(const struct clique *q, unsigned long op)
{
    if (q->aborts) return 1;
    for (int r = 0; r < q->world; r++)
        if (q->posted[r] < op) return 0;
    return 1;
}

int __wrap_lc_nccl_init(void **comm, const uint8_t id[LC_NCCL_ID_SIZE], int rank, int world, struct lc_err *err)
{
    (void)err;
    struct fake_comm *f = calloc(1, sizeof *f);
    pthread_mutex_lock(&fmu);
    f->q = clique_of(id, world);
    if (!f->q->world) f->q->world = world; /* made beforehand by new_id */
    f->rank = rank;
    f->q->joined++;
    pthread_mutex_unlock(&fmu);
    *comm = f;
    return 0;
}

int __wrap_lc_nccl_poll(void *comm, struct lc_err *err)
{
    struct fake_comm *f = comm;
    pthread_mutex_lock(&fmu);
    const struct clique *q = f->q;
    int rc = q->error ? -1 : q->joined < q->world ? 1 : 0;
    if (!rc && q->lazy && q->posted[f->rank] == 1 && !op_done(q, 1)) rc = 1; /* the first launch connects */
    pthread_mutex_unlock(&fmu);
    if (rc < 0) return lc_errf(err, LC_EIO, NULL, -1, -1, "NCCL: remote process exited or there was a network error");
    return rc;
}

static int post(void *comm)
{
    struct fake_comm *f = comm;
    pthread_mutex_lock(&fmu);
    unsigned long op = ++f->q->posted[f->rank];
    last_posted = (struct fake_event){f->q, op};
    int pending = f->q->lazy && op == 1 && !op_done(f->q, 1);
    pthread_mutex_unlock(&fmu);
    return pending;
}

int __wrap_lc_nccl_allreduce(void *comm, float *buf, size_t n, int mean, void *stream, struct lc_err *err)
{
    (void)buf, (void)n, (void)mean, (void)stream, (void)err;
    return post(comm);
}

int __wrap_lc_nccl_broadcast(void *comm, float *buf, size_t n, int root, struct lc_err *err)
{
    (void)buf, (void)n, (void)root, (void)err;
    return post(comm);
}

int __wrap_lc_nccl_finalize(void *comm, struct lc_err *err)
{
    (void)err;
    pthread_mutex_lock(&fmu);
    ((struct fake_comm *)comm)->q->finalized++;
    pthread_mutex_unlock(&fmu);
    return 0;
}

void __wrap_lc_nccl_free(void *comm, int abort)
{
    struct fake_comm *f = comm;
    pthread_mutex_lock(&fmu);
    if (abort) f->q->aborts++;
    else f->q->destroys++;
    pthread_mutex_unlock(&fmu);
    free(f);
}

int __wrap_lc_nccl_device(void *comm, int *index, struct lc_err *err)
{
    (void)comm, (void)err;
    *index = 0;
    return 0;
}

int __wrap_lc_gpu_event_new(void **event, struct lc_err *err)
{
    (void)err;
    *event = calloc(1, sizeof(struct fake_event));
    return 0;
}

void __wrap_lc_gpu_event_free(void *event) { free(event); }

int __wrap_lc_gpu_event_record(void *event, void *stream, struct lc_err *err)
{
    (void)stream, (void)err;
    pthread_mutex_lock(&fmu);
    *(struct fake_event *)event = last_posted;
    pthread_mutex_unlock(&fmu);
    return 0;
}

int __wrap_lc_gpu_event_done(void *event, int *done, struct lc_err *err)
{
    (void)err;
    const struct fake_event *e = event;
    pthread_mutex_lock(&fmu);
    *done = !e->q || op_done(e->q, e->op);
    pthread_mutex_unlock(&fmu);
    return 0;
}

int __wrap_lc_gpu_stream_new(void **stream, struct lc_err *err)
{
    (void)err;
    *stream = malloc(1);
    return 0;
}

void __wrap_lc_gpu_stream_free(void *stream) { free(stream); }

int __wrap_lc_gpu_stream_wait(void *stream, void *event, struct lc_err *err)
{
    (void)stream, (void)event, (void)err;
    return 0;
}

int __wrap_lc_device_open(const struct lc_device *d, struct lc_err *err)
{
    (void)d, (void)err;
    return 0;
}

void __wrap_lc_device_thread_release(const struct lc_device *d) { (void)d; }

/* ------------------------------------------------------------ tests */

/* waits, as a download would, until this thread's last collective is done
 * on the "GPU"; 0 when it was, -1 after 30 s */
static int wait_gpu(void)
{
    for (int i = 0; i < 30000; i++) {
        pthread_mutex_lock(&fmu);
        int done = op_done(last_posted.q, last_posted.op);
        pthread_mutex_unlock(&fmu);
        if (done) return 0;
        usleep(1000);
    }
    return -1;
}


static void new_id(uint8_t id[LC_NCCL_ID_SIZE], int lazy)
{
    static int next;
    memset(id, 0, LC_NCCL_ID_SIZE);
    snprintf((char *)id, LC_NCCL_ID_SIZE, "clique %d", ++next);
    pthread_mutex_lock(&fmu);
    clique_of(id, 0)->lazy = lazy; /* its world comes with the first init */
    pthread_mutex_unlock(&fmu);
}

static struct clique *clique(const uint8_t id[LC_NCCL_ID_SIZE])
{
    pthread_mutex_lock(&fmu);
    struct clique *q = clique_of(id, 0);
    pthread_mutex_unlock(&fmu);
    return q;
}

/* One rank's thread. what: 0 an all-reduce and a broadcast, then free; 1 fail
 * (abort) after 0.2 s instead of posting; 2 stall (post nothing) for 3 s;
 * 3 post one all-reduce, wait for it on the "GPU", then try another. */
struct job {
    const uint8_t *id;
    struct lc_comm_group *g;
    int rank, world, what;
    int rc_create, rc_first, rc_wait, rc_next;
    double took;
    struct lc_err err;
};

static void *rank_main(void *arg)
{
    struct job *j = arg;
    struct lc_comm *c = NULL;
    float buf[4] = {0};
    j->rc_first = j->rc_wait = j->rc_next = 99;
    double t0 = lc_now();
    if ((j->rc_create = lc_comm_nccl_create(&c, j->id, j->rank, j->world, j->g, j->rank, &j->err))) goto out;
    if (j->what == 1) {
        usleep(200000);
        lc_comm_abort(c);
    } else if (j->what == 2) {
        usleep(3000000);
    } else if (j->what == 0) {
        j->rc_first = lc_comm_allreduce(c, buf, 4, 1, &j->err);
        if (!j->rc_first) j->rc_next = lc_comm_broadcast(c, buf, 4, 0, &j->err);
    } else {
        if ((j->rc_first = lc_comm_allreduce(c, buf, 4, 1, &j->err))) goto out;
        j->rc_wait = wait_gpu();
        j->rc_next = lc_comm_allreduce(c, buf, 4, 1, &j->err);
    }
out:
    j->took = lc_now() - t0;
    lc_comm_free(c);
    return NULL;
}

/* runs n ranks (what[r] each) of one clique in one group */
static void run(struct job *j, int n, const int *what, int lazy)
{
    static uint8_t id[LC_NCCL_ID_SIZE];
    struct lc_err err;
    new_id(id, lazy);
    struct lc_comm_group *g;
    cr_assert_eq(lc_comm_group_new(&g, n, &err), 0);
    pthread_t t[MAX_RANKS];
    for (int r = 0; r < n; r++) {
        j[r] = (struct job){.id = id, .g = g, .rank = r, .world = n, .what = what[r]};
        pthread_create(&t[r], NULL, rank_main, &j[r]);
    }
    for (int r = 0; r < n; r++) pthread_join(t[r], NULL);
    lc_comm_group_free(g);
}

static void fake_nccl_limit(void) { TEST_TIME_LIMIT(60); }
TestSuite(fake_nccl, .init = fake_nccl_limit);

Test(fake_nccl, ranks_set_up_reduce_and_are_finalized_then_destroyed)
{
    struct job j[3];
    const int what[3] = {0, 0, 0};
    run(j, 3, what, 1);
    for (int r = 0; r < 3; r++) {
        cr_expect_eq(j[r].rc_create, 0, "rank %d: %s", r, j[r].err.msg);
        cr_expect_eq(j[r].rc_first, 0, "rank %d's all-reduce: %s", r, j[r].err.msg);
        cr_expect_eq(j[r].rc_next, 0, "rank %d's broadcast: %s", r, j[r].err.msg);
    }
    const struct clique *q = clique(j[0].id);
    cr_expect_eq(q->finalized, 3);
    cr_expect_eq(q->destroys, 3, "destroyed, none aborted");
    cr_expect_eq(q->aborts, 0);
}

Test(fake_nccl, a_setup_whose_peer_never_comes_times_out)
{
    setenv("LC_NCCL_TIMEOUT", "1", 1);
    uint8_t id[LC_NCCL_ID_SIZE]; /* a world of 2 of which only rank 0 comes */
    new_id(id, 0);
    struct lc_comm *c = NULL;
    struct lc_err err = {0};
    double t0 = lc_now();
    int rc = lc_comm_nccl_create(&c, id, 0, 2, NULL, 0, &err);
    double took = lc_now() - t0;
    unsetenv("LC_NCCL_TIMEOUT");
    cr_assert_neq(rc, 0);
    cr_expect_null(c);
    cr_expect(strstr(err.msg, "rank 0: NCCL's setup did not finish in 1 s (LC_NCCL_TIMEOUT)") != NULL, "%s", err.msg);
    cr_expect(took >= 0.9 && took < 10, "gave up after %.2f s", took);
    cr_expect_eq(clique(id)->aborts, 1, "the setup was aborted, not destroyed");
    cr_expect_eq(clique(id)->destroys, 0);
}

/* rank 1 joins late... never: the group is aborted 0.2 s into rank 0's setup */
static void *abort_soon(void *arg)
{
    usleep(200000);
    lc_comm_group_abort(arg);
    return NULL;
}

Test(fake_nccl, an_abort_ends_a_setup_that_waits)
{
    uint8_t id[LC_NCCL_ID_SIZE];
    new_id(id, 0);
    struct lc_comm_group *g;
    struct lc_err err = {0};
    cr_assert_eq(lc_comm_group_new(&g, 2, &err), 0);
    pthread_t t;
    pthread_create(&t, NULL, abort_soon, g);
    struct lc_comm *c = NULL;
    double t0 = lc_now();
    int rc = lc_comm_nccl_create(&c, id, 0, 2, g, 0, &err);
    double took = lc_now() - t0;
    pthread_join(t, NULL);
    lc_comm_group_free(g);
    cr_assert_neq(rc, 0);
    cr_expect(strstr(err.msg, "rank 0: another rank stopped with an error") != NULL, "%s", err.msg);
    cr_expect(took < 5, "%.2f s", took);
    cr_expect_eq(clique(id)->aborts, 1);
}

Test(fake_nccl, a_failing_rank_ends_a_launch_that_waits_to_connect)
{
    struct job j[2];
    const int what[2] = {0, 1}; /* rank 1 aborts instead of posting */
    run(j, 2, what, 1);
    cr_expect_eq(j[1].rc_create, 0, "%s", j[1].err.msg);
    cr_expect_neq(j[0].rc_first, 0, "rank 0's first all-reduce, waiting in its launch, failed");
    cr_expect(strstr(j[0].err.msg, "rank 0: another rank stopped with an error") != NULL, "%s", j[0].err.msg);
    cr_expect(j[0].took < 5, "%.2f s", j[0].took);
    cr_expect_eq(clique(j[0].id)->aborts, 2, "both communicators aborted");
}

Test(fake_nccl, a_launch_that_waits_to_connect_times_out)
{
    setenv("LC_NCCL_TIMEOUT", "1", 1);
    struct job j[2];
    const int what[2] = {0, 2}; /* rank 1 stalls for 3 s */
    run(j, 2, what, 1);
    unsetenv("LC_NCCL_TIMEOUT");
    cr_expect_neq(j[0].rc_first, 0);
    cr_expect(strstr(j[0].err.msg, "rank 0: an all-reduce's launch did not finish in 1 s (LC_NCCL_TIMEOUT)") != NULL,
              "%s", j[0].err.msg);
}

Test(fake_nccl, the_watchdog_ends_a_collective_stalled_on_the_gpu)
{
    setenv("LC_NCCL_TIMEOUT", "1", 1);
    struct job j[2];
    const int what[2] = {3, 2}; /* connected at setup: rank 0's launch is done, its kernel waits for rank 1 */
    run(j, 2, what, 0);
    unsetenv("LC_NCCL_TIMEOUT");
    cr_expect_eq(j[0].rc_first, 0, "%s", j[0].err.msg);
    cr_expect_eq(j[0].rc_wait, 0, "the wait on the GPU ended (the abort ends the kernels)");
    cr_expect_neq(j[0].rc_next, 0, "the next collective fails");
    cr_expect(strstr(j[0].err.msg, "rank 0: a collective did not finish in 1 s on the GPU (LC_NCCL_TIMEOUT)") != NULL,
              "%s", j[0].err.msg);
    cr_expect(j[0].took > 0.9 && j[0].took < 5, "%.2f s", j[0].took);
}

/* the peer is lost as NCCL sees it: an asynchronous error, 0.3 s after
 * rank 0 posted its all-reduce */
static void *fail_soon(void *arg)
{
    struct clique *q = arg;
    for (int posted = 0, i = 0; !posted && i < 10000; usleep(1000), i++) {
        pthread_mutex_lock(&fmu);
        posted = q->posted[0] >= 1;
        pthread_mutex_unlock(&fmu);
    }
    usleep(300000);
    pthread_mutex_lock(&fmu);
    q->error = 1;
    pthread_mutex_unlock(&fmu);
    return NULL;
}

Test(fake_nccl, the_watchdog_reports_nccls_error)
{
    uint8_t id[LC_NCCL_ID_SIZE];
    new_id(id, 0);
    struct lc_comm_group *g;
    struct lc_err err = {0};
    cr_assert_eq(lc_comm_group_new(&g, 2, &err), 0);
    static struct job j[2];
    pthread_t t[2], e;
    const int what[2] = {3, 2};
    for (int r = 0; r < 2; r++) {
        j[r] = (struct job){.id = id, .g = g, .rank = r, .world = 2, .what = what[r]};
        pthread_create(&t[r], NULL, rank_main, &j[r]);
    }
    pthread_create(&e, NULL, fail_soon, clique(id));
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
    pthread_join(e, NULL);
    lc_comm_group_free(g);
    cr_expect_eq(j[0].rc_wait, 0, "the wait on the GPU ended");
    cr_expect_neq(j[0].rc_next, 0);
    /* rank 0's watchdog saw it, or rank 1's did and rank 0's error names it */
    cr_expect(strstr(j[0].err.msg, "NCCL: remote process exited or there was a network error") != NULL, "%s",
              j[0].err.msg);
    cr_expect(j[0].took < 3, "seen by the watchdog within its second: %.2f s", j[0].took);
}
