/* loader_bench: the training loader alone (decode JPEG, augment with the
 * reference's probabilities, normalise, batch) in images/s, so train-pre's
 * throughput can be seen against what feeding it costs
 * (bench/pipeline_bench.sh prints them side by side).
 *   loader_bench DATASET [workers] [batch] [batches]
 * Prints one line: "<images/s> <workers>". */
#include <stdio.h>
#include <stdlib.h>

#include "dataset.h"
#include "loader.h"
#include "tool.h"

int main(int argc, char **argv)
{
    lc_tool_init("loader_bench");
    if (argc < 2) {
        fprintf(stderr, "usage: loader_bench DATASET [workers] [batch] [batches]\n");
        return 2;
    }
    int workers = argc > 2 ? atoi(argv[2]) : 2, batch = argc > 3 ? atoi(argv[3]) : 32;
    long want = argc > 4 ? atol(argv[4]) : 40;
    struct lc_err err;
    struct lc_dataset *d;
    struct lc_loader *l;
    if (lc_dataset_open(&d, argv[1], &err)) lc_tool_fail(&err);
    /* the reference's recipe: crop 0.2, low-res 0.2, photometric 0.2, flip 0.5 */
    struct lc_loader_opts o = {.batch = batch, .threads = workers, .seed = 1, .shuffle = 1, .drop_last = 1,
                               .aug = {0.2f, 0.2f, 0.2f, 0.5f}};
    if (lc_loader_init(&l, d, &o, &err)) lc_tool_fail(&err);
    long got = 0;
    double t0 = lc_now();
    for (int epoch = 0; got < want * batch; epoch++) {
        if (lc_loader_start(l, epoch, 0, &err)) lc_tool_fail(&err);
        struct lc_batch *b;
        int rc = 0;
        while (got < want * batch && (rc = lc_loader_next(l, &b, &err)) == 1) got += b->n;
        if (got < want * batch && rc < 0) lc_tool_fail(&err);
    }
    printf("%.1f %d\n", (double)got / (lc_now() - t0), workers);
    lc_loader_free(l);
    lc_dataset_close(d);
    return 0;
}
