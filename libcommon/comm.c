/* comm: the local (threads on the CPU) and NCCL communicators. */
#include "comm.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "opt.h"
#include "tool.h"

/* The local group's shared state: an abortable barrier and the buffers
 * each rank posts for the current collective. */
struct shared {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int world, waiting, aborted, refs;
    unsigned long gen;
    float **bufs;
    float *scratch;
    size_t cap;
};

/* NCCL ranks that are threads of one process. Every NCCL call holds the
 * read lock; an abort takes the write lock and aborts every member's
 * communicator, so none is freed under a call and none is left waiting. */
struct lc_comm_group {
    pthread_rwlock_t lock;
    pthread_mutex_t mu; /* refs, why */
    int n, aborted, refs;
    char why[256];      /* the first reason a member gave up for, if one did */
    struct lc_comm **members;
};

struct lc_comm {
    int rank, world;
    struct shared *s;             /* local */
    int gpu;                      /* an NCCL rank (nccl is NULL once it was aborted) */
    void *nccl;                   /* NCCL */
    void *stream, *ready, *done;  /* NCCL: the collectives' own stream, and events ordering it with the ops' */
    int pending;                  /* started collectives not yet waited for */
    struct lc_comm_group *g;      /* NCCL: its group (one of its own when it joined none) */
    double timeout_s;             /* NCCL: how long setup, a launch or a collective may take (0: no limit) */
    /* NCCL: the watchdog, a thread that aborts the group when NCCL reports an error or the last collective
     * posted has run on the GPU for longer than timeout_s */
    int gpu_index;
    pthread_mutex_t nmu;          /* held over every NCCL call on this communicator: NCCL's own polling of a
                                   * launch's state is not safe from two threads at once */
    void *posted;                 /* an event after the last collective posted */
    double posted_at;             /* when it was posted; 0 once seen done (dmu) */
    unsigned long seq;            /* collectives posted (dmu) */
    char why[256];                /* why this rank gave up: the watchdog, or a time limit (dmu) */
    pthread_mutex_t dmu;
    pthread_cond_t dcv;
    pthread_t dog;
    int dog_on, dog_stop;         /* dmu */
};

int lc_comm_group_new(struct lc_comm_group **out, int n, struct lc_err *err)
{
    *out = NULL;
    struct lc_comm_group *g = calloc(1, sizeof *g);
    if (!g || !(g->members = calloc((size_t)(n > 0 ? n : 1), sizeof *g->members))) {
        free(g);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    pthread_rwlock_init(&g->lock, NULL);
    pthread_mutex_init(&g->mu, NULL);
    g->n = n, g->refs = 1;
    *out = g;
    return 0;
}

static void group_unref(struct lc_comm_group *g)
{
    pthread_mutex_lock(&g->mu);
    int last = --g->refs == 0;
    pthread_mutex_unlock(&g->mu);
    if (!last) return;
    pthread_rwlock_destroy(&g->lock);
    pthread_mutex_destroy(&g->mu);
    free(g->members), free(g);
}

void lc_comm_group_free(struct lc_comm_group *g)
{
    if (g) group_unref(g);
}

/* under the write lock: abort every member's communicator */
static void group_abort_locked(struct lc_comm_group *g)
{
    g->aborted = 1;
    for (int i = 0; i < g->n; i++) {
        struct lc_comm *m = g->members[i];
        if (m && m->nccl) {
            lc_nccl_free(m->nccl, 1);
            m->nccl = NULL;
        }
    }
}

void lc_comm_group_abort(struct lc_comm_group *g)
{
    pthread_rwlock_wrlock(&g->lock);
    group_abort_locked(g);
    pthread_rwlock_unlock(&g->lock);
}

static void group_join(struct lc_comm_group *g, int slot, struct lc_comm *c)
{
    pthread_mutex_lock(&g->mu);
    g->refs++;
    pthread_mutex_unlock(&g->mu);
    pthread_rwlock_wrlock(&g->lock);
    g->members[slot] = c;
    c->g = g;
    if (g->aborted) group_abort_locked(g); /* a rank failed while this one was joining */
    pthread_rwlock_unlock(&g->lock);
}

int lc_comm_local_create(struct lc_comm **ranks, int world, struct lc_err *err)
{
    if (world < 1) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "a group of %d ranks", world);
    struct shared *s = calloc(1, sizeof *s);
    if (!s || !(s->bufs = calloc((size_t)world, sizeof *s->bufs))) {
        free(s);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->world = world;
    for (int r = 0; r < world; r++) {
        if (!(ranks[r] = calloc(1, sizeof **ranks))) {
            while (r--) free(ranks[r]);
            free(s->bufs), free(s);
            return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        }
        *ranks[r] = (struct lc_comm){.rank = r, .world = world, .s = s};
    }
    s->refs = world;
    return 0;
}

int lc_comm_timeout(double *seconds, struct lc_err *err)
{
    const char *s = getenv("LC_NCCL_TIMEOUT");
    *seconds = 600;
    if (!s || !*s) return 0;
    int64_t v;
    if (lc_parse_i64(s, 0, 1 << 30, &v, NULL))
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "LC_NCCL_TIMEOUT='%s' is not a number of seconds", s);
    *seconds = (double)v;
    return 0;
}

static int aborted(struct lc_comm *c, struct lc_err *err)
{
    char why[sizeof c->why] = "", theirs[sizeof c->g->why] = "";
    if (c->gpu) {
        pthread_mutex_lock(&c->dmu);
        memcpy(why, c->why, sizeof why);
        pthread_mutex_unlock(&c->dmu);
    }
    if (*why) return lc_errf(err, LC_EIO, NULL, -1, -1, "%s", why);
    if (c->g) {
        pthread_mutex_lock(&c->g->mu);
        memcpy(theirs, c->g->why, sizeof theirs);
        pthread_mutex_unlock(&c->g->mu);
    }
    if (*theirs) return lc_errf(err, LC_EIO, NULL, -1, -1, "rank %d: another rank stopped: %.200s", c->rank, theirs);
    return lc_errf(err, LC_EIO, NULL, -1, -1, "rank %d: another rank stopped with an error", c->rank);
}

/* An NCCL call on c: under the group's read lock and c's NCCL mutex
 * (released by nccl_end), or the aborted error (nothing held) */
static int nccl_begin(struct lc_comm *c, struct lc_err *err)
{
    if (c->g) pthread_rwlock_rdlock(&c->g->lock);
    if (c->nccl) {
        pthread_mutex_lock(&c->nmu);
        return 0;
    }
    if (c->g) pthread_rwlock_unlock(&c->g->lock);
    return aborted(c, err);
}

static int nccl_end(struct lc_comm *c, int rc)
{
    pthread_mutex_unlock(&c->nmu);
    if (c->g) pthread_rwlock_unlock(&c->g->lock);
    return rc;
}

/* This rank gives up, for the reason why, which its later collectives
 * report: its group is aborted. */
static void give_up(struct lc_comm *c, const char *why)
{
    pthread_mutex_lock(&c->dmu);
    snprintf(c->why, sizeof c->why, "%s", why);
    pthread_mutex_unlock(&c->dmu);
    if (c->g) { /* the other members' errors name it */
        pthread_mutex_lock(&c->g->mu);
        if (!*c->g->why) snprintf(c->g->why, sizeof c->g->why, "%s", why);
        pthread_mutex_unlock(&c->g->mu);
    }
    lc_comm_abort(c);
}

/* Wait for what NCCL goes on with in the background (setup, a collective's
 * launch, finalizing), taking the group's read lock only to poll, so an
 * abort from another rank ends the wait; past the time limit this rank
 * gives up. A launch takes tens of microseconds: yield at first, then
 * sleep longer and longer. */
static int nccl_settle(struct lc_comm *c, const char *what, struct lc_err *err)
{
    double t0 = lc_now();
    useconds_t nap = 50;
    for (;;) {
        int rc = nccl_begin(c, err);
        if (rc) return rc;
        rc = nccl_end(c, lc_nccl_poll(c->nccl, err));
        if (rc < 0) { /* NCCL failed: the others must not wait for this rank */
            char why[sizeof c->why];
            snprintf(why, sizeof why, "rank %d: %.200s", c->rank, err->msg);
            give_up(c, why);
            return lc_errf(err, rc, NULL, -1, -1, "%s", why);
        }
        if (rc == 0) return 0;
        double t = lc_now() - t0;
        if (c->timeout_s > 0 && t > c->timeout_s) {
            char why[sizeof c->why];
            snprintf(why, sizeof why,
                     "rank %d: %s did not finish in %.0f s (LC_NCCL_TIMEOUT): another rank failed, or never started",
                     c->rank, what, c->timeout_s);
            give_up(c, why);
            return lc_errf(err, LC_EIO, NULL, -1, -1, "%s", why);
        }
        if (t < 2e-4) {
            sched_yield();
        } else {
            usleep(nap);
            if (nap < 2000) nap *= 2;
        }
    }
}

/* The end of an NCCL call made under nccl_begin that returned rc: 1 is a
 * call NCCL goes on with in the background, waited for here. */
static int nccl_finish(struct lc_comm *c, int rc, const char *what, struct lc_err *err)
{
    nccl_end(c, 0);
    return rc == 1 ? nccl_settle(c, what, err) : rc;
}

/* The watchdog's look, once a second: NCCL's errors (a peer process that
 * died is seen as one, where NCCL's transport notices), a fault of the GPU,
 * and the last collective's time on the GPU (on_gpu: its device is
 * current). No lock is held over a CUDA call, which could block behind a
 * stalled kernel. 1 when it is done watching. */
static int watch(struct lc_comm *c, int on_gpu)
{
    struct lc_err e = {0};
    char why[sizeof c->why] = "";
    pthread_mutex_lock(&c->dmu);
    double at = c->posted_at;
    unsigned long seq = c->seq;
    pthread_mutex_unlock(&c->dmu);
    if (at > 0 && on_gpu) {
        int done = 0;
        if (lc_gpu_event_done(c->posted, &done, &e)) {
            snprintf(why, sizeof why, "rank %d: the GPU failed: %.200s", c->rank, e.msg);
        } else if (done) {
            pthread_mutex_lock(&c->dmu);
            if (c->seq == seq) c->posted_at = 0; /* none posted since */
            pthread_mutex_unlock(&c->dmu);
        } else if (c->timeout_s > 0 && lc_now() - at > c->timeout_s) {
            snprintf(why, sizeof why,
                     "rank %d: a collective did not finish in %.0f s on the GPU (LC_NCCL_TIMEOUT): another rank "
                     "failed or stalled", c->rank, c->timeout_s);
        }
    }
    /* NCCL's state, unless the rank is inside an NCCL call (which sees any error itself) */
    pthread_rwlock_rdlock(&c->g->lock);
    int gone = !c->nccl, failed = 0;
    if (!gone && !*why && pthread_mutex_trylock(&c->nmu) == 0) {
        failed = lc_nccl_poll(c->nccl, &e) < 0;
        pthread_mutex_unlock(&c->nmu);
    }
    pthread_rwlock_unlock(&c->g->lock);
    if (gone) return 1;
    if (failed) snprintf(why, sizeof why, "rank %d: %.200s", c->rank, e.msg);
    if (!*why) return 0;
    give_up(c, why); /* the rank's wait on its GPU ends, and its next collective fails with why */
    return 1;
}

static void *watchdog(void *arg)
{
    struct lc_comm *c = arg;
    struct lc_device d = {LC_DEVICE_CUDA, c->gpu_index};
    struct lc_err e;
    int on_gpu = !lc_device_open(&d, &e); /* event queries need the communicator's GPU current */
    pthread_mutex_lock(&c->dmu);
    while (!c->dog_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&c->dcv, &c->dmu, &until);
        if (c->dog_stop) break;
        pthread_mutex_unlock(&c->dmu);
        int done = watch(c, on_gpu);
        pthread_mutex_lock(&c->dmu);
        if (done) break;
    }
    pthread_mutex_unlock(&c->dmu);
    if (on_gpu) lc_device_thread_release(&d);
    return NULL;
}

static void watchdog_stop(struct lc_comm *c)
{
    if (!c->dog_on) return;
    pthread_mutex_lock(&c->dmu);
    c->dog_stop = 1;
    pthread_cond_signal(&c->dcv);
    pthread_mutex_unlock(&c->dmu);
    pthread_join(c->dog, NULL);
    c->dog_on = 0;
}

/* A collective was posted on stream: the watchdog times it from now. */
static int posted(struct lc_comm *c, void *stream, struct lc_err *err)
{
    int rc = lc_gpu_event_record(c->posted, stream, err);
    if (rc) return rc;
    pthread_mutex_lock(&c->dmu);
    c->seq++;
    c->posted_at = lc_now();
    pthread_mutex_unlock(&c->dmu);
    return 0;
}

int lc_comm_nccl_create(struct lc_comm **out, const uint8_t id[LC_NCCL_ID_SIZE], int rank, int world,
                        struct lc_comm_group *g, int slot, struct lc_err *err)
{
    *out = NULL;
    struct lc_comm *c = calloc(1, sizeof *c);
    if (!c) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    *c = (struct lc_comm){.rank = rank, .world = world, .gpu = 1};
    pthread_mutex_init(&c->nmu, NULL);
    pthread_mutex_init(&c->dmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->dcv, &ca);
    pthread_condattr_destroy(&ca);
    /* every NCCL rank is in a group, so that an abort (another rank's, or the watchdog's) never frees the
     * communicator under a call */
    struct lc_comm_group *own = NULL;
    int rc = 0;
    const char *blocking = getenv("NCCL_COMM_BLOCKING");
    if (blocking && atoi(blocking) == 1) /* NCCL's setting would make every call block, where no abort can end it */
        rc = lc_errf(err, LC_EUSAGE, NULL, -1, -1,
                     "NCCL_COMM_BLOCKING=1: ranks need NCCL's non-blocking calls, so that a rank waiting for a lost "
                     "peer can be ended; unset it");
    if (!rc && g && (slot < 0 || slot >= g->n))
        rc = lc_errf(err, LC_EINVAL, NULL, -1, -1, "slot %d of a group of %d", slot, g->n);
    if (!rc && !g) rc = lc_comm_group_new(&own, 1, err);
    if (!rc) rc = lc_comm_timeout(&c->timeout_s, err);
    if (!rc) rc = lc_nccl_init(&c->nccl, id, rank, world, err);
    if (!rc) group_join(g ? g : own, g ? slot : 0, c); /* before the setup is waited for: an abort can end it */
    lc_comm_group_free(own);                             /* the member holds it now */
    if (!rc) rc = nccl_settle(c, "NCCL's setup", err);
    if (!rc && (rc = lc_gpu_stream_new(&c->stream, err)) == 0 && (rc = lc_gpu_event_new(&c->ready, err)) == 0 &&
        (rc = lc_gpu_event_new(&c->done, err)) == 0 && (rc = lc_gpu_event_new(&c->posted, err)) == 0) {
        rc = nccl_begin(c, err);
        if (!rc) rc = nccl_end(c, lc_nccl_device(c->nccl, &c->gpu_index, err));
    }
    if (!rc && world > 1) {
        if (pthread_create(&c->dog, NULL, watchdog, c)) rc = lc_errf(err, LC_ENOMEM, NULL, -1, -1, "cannot start a thread");
        else c->dog_on = 1;
    }
    if (rc) {
        lc_comm_free(c); /* a communicator in error is aborted, not destroyed */
        return rc;
    }
    *out = c;
    return 0;
}

void lc_comm_free(struct lc_comm *c)
{
    if (!c) return;
    if (c->gpu) { /* what it started finishes (or the time limit ends it) while it is in its group and watched */
        struct lc_err e;
        if (!nccl_begin(c, &e)) (void)nccl_finish(c, lc_nccl_finalize(c->nccl, &e), "NCCL's finalize", &e);
    }
    watchdog_stop(c);
    void *nccl = c->g ? NULL : c->nccl;
    if (c->g) { /* leave the group first: an abort from now on leaves this one alone */
        pthread_rwlock_wrlock(&c->g->lock);
        for (int i = 0; i < c->g->n; i++)
            if (c->g->members[i] == c) c->g->members[i] = NULL;
        nccl = c->nccl, c->nccl = NULL;
        pthread_rwlock_unlock(&c->g->lock);
        group_unref(c->g);
    }
    if (nccl) lc_nccl_free(nccl, 0);
    lc_gpu_event_free(c->ready), lc_gpu_event_free(c->done), lc_gpu_event_free(c->posted);
    lc_gpu_stream_free(c->stream);
    if (c->gpu) pthread_mutex_destroy(&c->nmu), pthread_mutex_destroy(&c->dmu), pthread_cond_destroy(&c->dcv);
    if (c->s) {
        struct shared *s = c->s;
        pthread_mutex_lock(&s->mu);
        int last = --s->refs == 0;
        pthread_mutex_unlock(&s->mu);
        if (last) {
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
            free(s->bufs), free(s->scratch), free(s);
        }
    }
    free(c);
}

int lc_comm_rank(const struct lc_comm *c) { return c->rank; }
int lc_comm_world(const struct lc_comm *c) { return c->world; }

void lc_comm_abort(struct lc_comm *c)
{
    if (c->g) {
        lc_comm_group_abort(c->g);
    } else if (c->nccl) {
        lc_nccl_free(c->nccl, 1);
        c->nccl = NULL;
    }
    if (c->s) {
        pthread_mutex_lock(&c->s->mu);
        c->s->aborted = 1;
        pthread_cond_broadcast(&c->s->cv);
        pthread_mutex_unlock(&c->s->mu);
    }
}

/* 0 when every rank arrived; -1 if the group was aborted */
static int barrier(struct shared *s)
{
    pthread_mutex_lock(&s->mu);
    unsigned long gen = s->gen;
    if (!s->aborted && ++s->waiting == s->world) {
        s->waiting = 0;
        s->gen++;
        pthread_cond_broadcast(&s->cv);
    } else {
        while (s->gen == gen && !s->aborted) pthread_cond_wait(&s->cv, &s->mu);
    }
    int rc = s->aborted ? -1 : 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int lc_comm_allreduce(struct lc_comm *c, float *buf, size_t n, int mean, struct lc_err *err)
{
    if (c->world == 1) return 0;
    if (c->gpu) {
        int rc = nccl_begin(c, err);
        if (!rc) rc = nccl_finish(c, lc_nccl_allreduce(c->nccl, buf, n, mean, NULL, err), "an all-reduce's launch", err);
        return rc ? rc : posted(c, NULL, err);
    }
    if (!c->s) return aborted(c, err);
    struct shared *s = c->s;
    s->bufs[c->rank] = buf;
    if (barrier(s)) return aborted(c, err);
    if (c->rank == 0 && n > s->cap) { /* every rank is past reading the last result */
        float *p = realloc(s->scratch, n * sizeof *p);
        if (!p) {
            lc_comm_abort(c);
            return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        }
        s->scratch = p, s->cap = n;
    }
    if (barrier(s)) return aborted(c, err);
    /* each rank sums its slice, ranks in order */
    size_t lo = n * (size_t)c->rank / (size_t)c->world, hi = n * (size_t)(c->rank + 1) / (size_t)c->world;
    const float inv = 1.0f / (float)c->world;
    for (size_t i = lo; i < hi; i++) {
        float acc = s->bufs[0][i];
        for (int r = 1; r < c->world; r++) acc += s->bufs[r][i];
        s->scratch[i] = mean ? acc * inv : acc;
    }
    if (barrier(s)) return aborted(c, err);
    memcpy(buf, s->scratch, n * sizeof *buf);
    return 0;
}

int lc_comm_allreduce_start(struct lc_comm *c, float *buf, size_t n, int mean, struct lc_err *err)
{
    if (c->world == 1) return 0;
    if (!c->gpu) return lc_comm_allreduce(c, buf, n, mean, err);
    /* the rank's own events and stream need no lock (a CUDA call could block behind a stalled kernel) */
    int rc = lc_gpu_event_record(c->ready, NULL, err);
    if (!rc) rc = lc_gpu_stream_wait(c->stream, c->ready, err);
    if (!rc) rc = nccl_begin(c, err);
    if (!rc) rc = nccl_finish(c, lc_nccl_allreduce(c->nccl, buf, n, mean, c->stream, err), "an all-reduce's launch", err);
    if (!rc) rc = posted(c, c->stream, err);
    if (!rc) c->pending = 1;
    return rc;
}

int lc_comm_wait(struct lc_comm *c, struct lc_err *err)
{
    if (!c->gpu || !c->pending) return 0;
    int rc = lc_gpu_event_record(c->done, c->stream, err);
    if (!rc) rc = lc_gpu_stream_wait(NULL, c->done, err);
    if (!rc) c->pending = 0;
    if (!rc && !(rc = nccl_begin(c, err))) nccl_end(c, 0); /* an abort meanwhile: the sums are not whole */
    return rc;
}

int lc_comm_broadcast(struct lc_comm *c, float *buf, size_t n, int root, struct lc_err *err)
{
    if (c->world == 1) return 0;
    if (c->gpu) {
        int rc = nccl_begin(c, err);
        if (!rc) rc = nccl_finish(c, lc_nccl_broadcast(c->nccl, buf, n, root, err), "a broadcast's launch", err);
        return rc ? rc : posted(c, NULL, err);
    }
    if (!c->s) return aborted(c, err);
    struct shared *s = c->s;
    s->bufs[c->rank] = buf;
    if (barrier(s)) return aborted(c, err);
    if (c->rank != root) memcpy(buf, s->bufs[root], n * sizeof *buf);
    if (barrier(s)) return aborted(c, err); /* root's buffer stays until all have copied */
    return 0;
}

/* ---------------------------------------------------------- processes */

static int env_int(const char *const names[3], int *v, int *found, struct lc_err *err)
{
    for (int k = 0; k < 3; k++) {
        const char *s = getenv(names[k]);
        if (!s || !*s) continue;
        int64_t x;
        if (lc_parse_i64(s, 0, 1 << 20, &x, NULL))
            return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "%s='%s' is not a rank or a count", names[k], s);
        *v = (int)x, *found = 1;
        return 0;
    }
    return 0;
}

int lc_comm_env(struct lc_comm_env *e, struct lc_err *err)
{
    static const char *const rank[3] = {"LC_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID"};
    static const char *const world[3] = {"LC_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"};
    static const char *const local[3] = {"LC_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"};
    *e = (struct lc_comm_env){0, 1, 0};
    int fr = 0, fw = 0, fl = 0, rc;
    if ((rc = env_int(rank, &e->rank, &fr, err)) || (rc = env_int(world, &e->world, &fw, err)) ||
        (rc = env_int(local, &e->local_rank, &fl, err)))
        return rc;
    if (!fl) e->local_rank = 0;
    if (fw && e->world < 1) return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "a world of %d processes", e->world);
    if (e->rank >= e->world)
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "rank %d is outside a world of %d processes", e->rank, e->world);
    return 0;
}

int lc_comm_id_path(char *out, size_t size, const char *base, struct lc_err *err)
{
    if (!base || !*base)
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1,
                       "several processes need LC_NCCL_ID_FILE: a path on a file system every process can read");
    /* the job of the launcher that gave the rank (lc_comm_env's order): none for LC_RANK; mpirun's (PMIx
     * namespace, or Open MPI 4's job id), even inside a Slurm job, whose step differs between mpirun's nodes;
     * srun's job and step */
    const char *job = NULL, *step = NULL, *lc = getenv("LC_RANK"), *ompi = getenv("OMPI_COMM_WORLD_RANK");
    char tag[200] = "";
    if (lc && *lc) {
    } else if (ompi && *ompi) {
        if (!(job = getenv("PMIX_NAMESPACE")) || !*job) job = getenv("OMPI_MCA_orte_ess_jobid");
    } else if ((step = getenv("SLURM_PROCID")) && *step) {
        job = getenv("SLURM_JOB_ID"), step = getenv("SLURM_STEP_ID");
    }
    if (job && *job) snprintf(tag, sizeof tag, ".%s%s%s", job, step && *step ? "." : "", step && *step ? step : "");
    for (char *p = tag; *p; p++) /* a file name's characters only */
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_')) *p = '_';
    if ((size_t)snprintf(out, size, "%s%s", base, tag) >= size)
        return lc_errf(err, LC_EUSAGE, base, -1, -1, "LC_NCCL_ID_FILE is too long a path");
    return 0;
}

int lc_comm_share_id(uint8_t id[LC_NCCL_ID_SIZE], int root, const char *path, double timeout_s, struct lc_err *err)
{
    if (!path || !*path)
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1,
                       "several processes need LC_NCCL_ID_FILE: a path on a file system every process can read");
    if (root) {
        int rc = lc_nccl_id(id, err);
        struct lc_out *o = NULL;
        if (!rc) rc = lc_out_open(&o, path, LC_OUT_FSYNC, err);
        if (!rc && (rc = lc_out_write(o, id, LC_NCCL_ID_SIZE, err))) lc_out_abort(o);
        else if (!rc) rc = lc_out_commit(o, err);
        return rc;
    }
    const double t0 = lc_now();
    for (;;) {
        FILE *f = fopen(path, "rb");
        if (f) {
            size_t got = fread(id, 1, LC_NCCL_ID_SIZE, f);
            fclose(f);
            if (got == LC_NCCL_ID_SIZE) return 0;
            return lc_errf(err, LC_EFORMAT, path, -1, -1, "%zu bytes, not an NCCL id of %d", got, LC_NCCL_ID_SIZE);
        }
        if (lc_now() - t0 > timeout_s)
            return lc_errf(err, LC_EIO, path, -1, -1, "rank 0 did not write the NCCL id within %.0f s", timeout_s);
        usleep(100000);
    }
}
