/* graph: replaying a fixed run of device ops as one CUDA graph (a
 * training step's forward or backward, an inference forward), where the
 * launches' host time would otherwise show between the kernels. The
 * caller's issue function queues the ops; lc_graph_run decides how they
 * run, by a key that names what varies between runs (the batch size):
 *   - on the CPU, or with graphs off: issue runs as it is;
 *   - the first run of a key runs issue (the warm-up: convolution plans,
 *     scratch buffers), the next captures it into a graph and launches
 *     that, and later runs of the key only launch it;
 *   - one graph is kept: runs of other keys run issue;
 *   - when the backend's scratch epoch has moved (a scratch buffer the
 *     graph reads was reallocated), the graph is dropped and the warm-up
 *     starts over;
 *   - while the op profiler (prof.h) times this thread's ops, issue runs
 *     as it is instead of being captured (a graph's ops cannot be timed);
 *   - when a capture fails, graphs go off for good with the reason kept
 *     (lc_graph_off) and issue runs as it is.
 * issue must only queue device ops, the same ones on the same buffers
 * with the same arguments for a given key, and leave host state alone: a
 * failed capture is followed by an ordinary run of it. */
#ifndef LC_GRAPH_H
#define LC_GRAPH_H

#include "backend.h"

typedef int (*lc_graph_issue_fn)(void *ctx, struct lc_err *err);

struct lc_graph {
    int on;              /* wanted, and no capture failed */
    void *exec;          /* the captured graph, or NULL */
    long key;            /* exec's key, or the warmed-up one */
    int warm;            /* issue ran with key since the epoch below */
    unsigned long epoch; /* the scratch epoch of the warm-up */
    long captures, launches;
    char off[512]; /* why a capture failed ("" if none did) */
};

void lc_graph_init(struct lc_graph *g, int on);
int lc_graph_run(struct lc_graph *g, const struct lc_device *d, long key, lc_graph_issue_fn issue, void *ctx,
                 struct lc_err *err);
/* why graphs went off after a capture failed, or NULL */
const char *lc_graph_off(const struct lc_graph *g);
void lc_graph_free(struct lc_graph *g, const struct lc_device *d);

#endif
