/* prof: per-op time of the device seam (see prof.h). Per thread: the ops
 * seen (by name), the CPU op in progress, and on a GPU the event pairs
 * recorded since the start, read at the report (reading them earlier would
 * wait for the GPU after every op). */
#include "prof.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

#define MAX_OPS 256

struct op_time {
    const char *name;
    long calls;
    double ms;
};

struct gpu_mark {
    int op;
    void *ev[2];
};

struct prof {
    int on, failed;
    struct op_time ops[MAX_OPS];
    int n_ops;
    double t0; /* the CPU op in progress */
    struct gpu_mark *marks;
    size_t n_marks, cap_marks;
    void **pool; /* timing events not in use */
    size_t n_pool, cap_pool;
};

static _Thread_local struct prof P;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void event_put(void *ev);

void lc_prof_start(void)
{
    for (size_t i = 0; i < P.n_marks; i++) event_put(P.marks[i].ev[0]), event_put(P.marks[i].ev[1]); /* unreported */
    P.on = 1, P.failed = 0, P.n_ops = 0, P.n_marks = 0;
}

int lc_prof_active(void) { return P.on; }

static int op_index(const char *name)
{
    for (int i = 0; i < P.n_ops; i++)
        if (P.ops[i].name == name || strcmp(P.ops[i].name, name) == 0) return i;
    if (P.n_ops == MAX_OPS) return -1;
    P.ops[P.n_ops] = (struct op_time){name, 0, 0};
    return P.n_ops++;
}

/* a timing event from the pool, or a new one; NULL on failure */
static void *event_get(void)
{
    if (P.n_pool) return P.pool[--P.n_pool];
    void *ev = NULL;
    struct lc_err err;
    return lc_gpu_timer_new(&ev, &err) ? NULL : ev;
}

static void event_put(void *ev)
{
    if (!ev) return;
    if (P.n_pool == P.cap_pool) {
        size_t cap = P.cap_pool ? 2 * P.cap_pool : 256;
        void **p = realloc(P.pool, cap * sizeof *p);
        if (!p) {
            lc_gpu_event_free(ev);
            return;
        }
        P.pool = p, P.cap_pool = cap;
    }
    P.pool[P.n_pool++] = ev;
}

/* The handle: 2 x the op's index for a CPU op (timed by the clock), 2 x
 * the mark's index + 1 for a GPU op (its events). */
int lc_prof_begin(const char *op, int gpu)
{
    if (!P.on) return -1;
    int k = op_index(op);
    if (k < 0) return -1;
    P.ops[k].calls++;
    if (!gpu) {
        P.t0 = now_s();
        return 2 * k;
    }
    if (P.n_marks == P.cap_marks) {
        size_t cap = P.cap_marks ? 2 * P.cap_marks : 1024;
        struct gpu_mark *m = realloc(P.marks, cap * sizeof *m);
        if (!m) return P.failed = 1, -1;
        P.marks = m, P.cap_marks = cap;
    }
    struct gpu_mark *m = &P.marks[P.n_marks];
    struct lc_err err;
    m->op = k, m->ev[0] = event_get(), m->ev[1] = event_get();
    if (!m->ev[0] || !m->ev[1] || lc_gpu_event_record(m->ev[0], NULL, &err)) {
        event_put(m->ev[0]), event_put(m->ev[1]);
        P.failed = 1;
        return -1;
    }
    return (int)(2 * P.n_marks++ + 1);
}

void lc_prof_end(int handle)
{
    if (handle < 0 || !P.on) return;
    if (!(handle & 1)) {
        P.ops[handle / 2].ms += 1e3 * (now_s() - P.t0);
        return;
    }
    struct lc_err err;
    if ((size_t)(handle / 2) >= P.n_marks || lc_gpu_event_record(P.marks[handle / 2].ev[1], NULL, &err)) P.failed = 1;
}

static int by_time(const void *a, const void *b)
{
    double x = ((const struct op_time *)a)->ms, y = ((const struct op_time *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

double lc_prof_report(FILE *f, double wall_ms, struct lc_err *err)
{
    int rc = 0;
    P.on = 0;
    if (P.n_marks) {
        struct lc_device gpu = {LC_DEVICE_CUDA, 0}; /* the sync waits for this thread's current GPU */
        rc = lc_device_sync(&gpu, err);
        for (size_t i = 0; i < P.n_marks; i++) {
            float ms = 0;
            if (!rc) rc = lc_gpu_event_elapsed(&ms, P.marks[i].ev[0], P.marks[i].ev[1], err);
            P.ops[P.marks[i].op].ms += ms;
            event_put(P.marks[i].ev[0]), event_put(P.marks[i].ev[1]);
        }
        P.n_marks = 0;
    }
    if (!rc && P.failed) rc = lc_errf(err, LC_EIO, NULL, -1, -1, "an op's GPU timing could not be recorded");
    if (rc) return -1;
    qsort(P.ops, (size_t)P.n_ops, sizeof P.ops[0], by_time);
    double total = 0;
    for (int i = 0; i < P.n_ops; i++) total += P.ops[i].ms;
    const double base = wall_ms > total ? wall_ms : total;
    fprintf(f, "  %10s %6s %8s  %s\n", "ms", "share", "calls", "op");
    for (int i = 0; i < P.n_ops; i++)
        fprintf(f, "  %10.3f %5.1f%% %8ld  %s\n", P.ops[i].ms, base > 0 ? 100 * P.ops[i].ms / base : 0.0,
                P.ops[i].calls, P.ops[i].name);
    if (wall_ms > 0)
        fprintf(f, "  %10.3f %5.1f%% %8s  (no op running: launches, copies, host work)\n",
                wall_ms > total ? wall_ms - total : 0.0, wall_ms > total ? 100 * (wall_ms - total) / wall_ms : 0.0,
                "");
    fprintf(f, "  %10.3f in ops%s\n", total, wall_ms > 0 ? "" : " (no wall time given)");
    P.n_ops = 0;
    return total;
}
