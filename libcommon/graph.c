/* graph: the warm-up, capture and launch policy of graph.h over the
 * backend's capture calls. */
#include "graph.h"

#include <stdio.h>
#include <string.h>

#include "prof.h"

void lc_graph_init(struct lc_graph *g, int on)
{
    memset(g, 0, sizeof *g);
    g->on = on;
}

const char *lc_graph_off(const struct lc_graph *g) { return g->off[0] ? g->off : NULL; }

void lc_graph_free(struct lc_graph *g, const struct lc_device *d)
{
    lc_gpu_graph_free(d, g->exec);
    g->exec = NULL, g->warm = 0;
}

/* issue into a new graph; on any failure graphs go off with the reason */
static int capture(struct lc_graph *g, const struct lc_device *d, lc_graph_issue_fn issue, void *ctx)
{
    struct lc_err e = {0};
    int rc = lc_gpu_capture_begin(d, &e);
    if (!rc) {
        rc = issue(ctx, &e);
        struct lc_err e2 = {0};
        int rc2 = lc_gpu_capture_end(d, &g->exec, rc == 0, &e2);
        if (!rc && rc2) rc = rc2, e = e2;
    }
    if (rc) {
        g->exec = NULL, g->on = 0;
        snprintf(g->off, sizeof g->off, "%.*s", (int)sizeof g->off - 1, e.msg[0] ? e.msg : "the capture failed");
        return rc;
    }
    g->captures++;
    return 0;
}

int lc_graph_run(struct lc_graph *g, const struct lc_device *d, long key, lc_graph_issue_fn issue, void *ctx,
                 struct lc_err *err)
{
    if (!g->on || d->type != LC_DEVICE_CUDA) return issue(ctx, err);
    unsigned long epoch = lc_gpu_scratch_epoch(d);
    if (g->warm && epoch != g->epoch) lc_graph_free(g, d); /* the graph's scratch is gone */
    if (g->exec && key != g->key) return issue(ctx, err);
    if (!g->exec) {
        if (!g->warm || key != g->key) {
            int rc = issue(ctx, err);
            if (!rc) g->warm = 1, g->key = key, g->epoch = lc_gpu_scratch_epoch(d);
            return rc;
        }
        if (lc_prof_active()) return issue(ctx, err); /* its events cannot time a graph's ops: capture later */
        if (capture(g, d, issue, ctx)) return issue(ctx, err);
    }
    g->launches++;
    return lc_gpu_graph_launch(d, g->exec, err);
}
