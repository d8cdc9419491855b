/* graph.c's policy (warm-up, capture, launch, other keys, a moved scratch
 * epoch, failed captures) on any machine: the link wraps the backend's
 * capture calls (Makefile: --wrap), and these stand-ins log what ran. The
 * log has one letter per event: E the ops ran as they are, C they ran into
 * a capture, L a graph was launched. */
#include <criterion/criterion.h>
#include <string.h>

#include "graph.h"
#include "prof.h"

static struct {
    int capturing, refuse_begin, fail_end;
    unsigned long epoch;
    int live, made, freed, begins;
    char log[64];
} F;

static char graph_token[8]; /* what a captured "graph" points into */

static void note(char c)
{
    size_t n = strlen(F.log);
    cr_assert_lt(n, sizeof F.log - 1);
    F.log[n] = c;
}

int __wrap_lc_gpu_capture_begin(const struct lc_device *d, struct lc_err *err)
{
    (void)d;
    F.begins++;
    cr_assert(!F.capturing, "a capture began inside another");
    if (F.refuse_begin)
        return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "the op profiler cannot time ops inside a CUDA graph");
    F.capturing = 1;
    return 0;
}

int __wrap_lc_gpu_capture_end(const struct lc_device *d, void **graph, int keep, struct lc_err *err)
{
    (void)d;
    cr_assert(F.capturing, "a capture ended that never began");
    F.capturing = 0;
    *graph = NULL;
    if (!keep) return 0;
    if (F.fail_end) return lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: cudaGraphInstantiate: out of memory");
    F.live++, F.made++;
    *graph = &graph_token[F.made % 8];
    return 0;
}

int __wrap_lc_gpu_graph_launch(const struct lc_device *d, void *graph, struct lc_err *err)
{
    (void)d, (void)err;
    cr_assert(graph && F.live == 1, "a launch without its one live graph");
    cr_assert(!F.capturing);
    note('L');
    return 0;
}

void __wrap_lc_gpu_graph_free(const struct lc_device *d, void *graph)
{
    (void)d;
    if (!graph) return;
    cr_assert_gt(F.live, 0, "a graph freed twice");
    F.live--, F.freed++;
}

unsigned long __wrap_lc_gpu_scratch_epoch(const struct lc_device *d)
{
    (void)d;
    return F.epoch;
}

struct ops {
    int fail_in_capture, fail_always, grow_once;
};

static int issue(void *ctx, struct lc_err *err)
{
    struct ops *o = ctx;
    note(F.capturing ? 'C' : 'E');
    if (o->grow_once && !F.capturing) F.epoch++, o->grow_once = 0; /* a scratch buffer grew */
    if (o->fail_always) return lc_errf(err, LC_EIO, NULL, -1, -1, "CUDA: conv kernel: an illegal memory access");
    if (o->fail_in_capture && F.capturing)
        return lc_errf(err, LC_EINVAL, NULL, -1, -1, "the cuDNN workspace growing to 9 bytes inside a CUDA graph capture");
    return 0;
}

static const struct lc_device gpu = {LC_DEVICE_CUDA, 0};

static void setup(void) { memset(&F, 0, sizeof F); }

/* runs key through g; every run must succeed */
static void run_ok(struct lc_graph *g, long key, struct ops *o)
{
    struct lc_err err = {0};
    cr_assert_eq(lc_graph_run(g, &gpu, key, issue, o, &err), 0, "run of key %ld: %s", key, err.msg);
}

TestSuite(graph, .init = setup);

Test(graph, warm_up_then_capture_then_launches)
{
    struct lc_graph g;
    struct ops o = {0};
    lc_graph_init(&g, 1);
    for (int i = 0; i < 4; i++) run_ok(&g, 128, &o);
    cr_assert_str_eq(F.log, "ECLLL");
    cr_assert_eq(g.captures, 1);
    cr_assert_eq(g.launches, 3);
    cr_assert_null(lc_graph_off(&g));
    lc_graph_free(&g, &gpu);
    cr_assert_eq(F.live, 0, "the graph outlived lc_graph_free");
}

Test(graph, other_keys_run_as_they_are_and_keep_the_graph)
{
    struct lc_graph g;
    struct ops o = {0};
    lc_graph_init(&g, 1);
    long keys[] = {128, 128, 50, 128, 50};
    for (int i = 0; i < 5; i++) run_ok(&g, keys[i], &o);
    cr_assert_str_eq(F.log, "ECLELE");
    cr_assert_eq(F.made, 1);
    lc_graph_free(&g, &gpu);
}

Test(graph, the_key_captured_is_the_one_warmed_up_last)
{
    struct lc_graph g;
    struct ops o = {0};
    lc_graph_init(&g, 1);
    long keys[] = {128, 50, 128, 128, 128};
    for (int i = 0; i < 5; i++) run_ok(&g, keys[i], &o);
    cr_assert_str_eq(F.log, "EEECLL");
    lc_graph_free(&g, &gpu);
}

Test(graph, a_moved_scratch_epoch_drops_the_graph_and_warms_up_again)
{
    struct lc_graph g;
    struct ops o = {0};
    lc_graph_init(&g, 1);
    run_ok(&g, 8, &o), run_ok(&g, 8, &o);
    F.epoch++; /* e.g. the workspace grew for another batch size */
    cr_assert_eq(F.live, 1);
    run_ok(&g, 8, &o);
    cr_assert_eq(F.live, 0, "the stale graph was kept");
    run_ok(&g, 8, &o), run_ok(&g, 8, &o);
    cr_assert_str_eq(F.log, "ECLECLL");
    cr_assert_eq(F.freed, 1);
    lc_graph_free(&g, &gpu);
    cr_assert_eq(F.live, 0);
}

Test(graph, the_warm_up_s_own_growth_does_not_stale_its_graph)
{
    struct lc_graph g;
    struct ops o = {.grow_once = 1};
    lc_graph_init(&g, 1);
    run_ok(&g, 8, &o), run_ok(&g, 8, &o), run_ok(&g, 8, &o);
    cr_assert_str_eq(F.log, "ECLL");
    lc_graph_free(&g, &gpu);
}

Test(graph, a_failed_capture_turns_graphs_off_and_runs_the_ops)
{
    struct lc_graph g;
    struct ops o = {.fail_in_capture = 1};
    lc_graph_init(&g, 1);
    for (int i = 0; i < 4; i++) run_ok(&g, 8, &o);
    cr_assert_str_eq(F.log, "ECEEE");
    cr_assert_eq(F.live, 0);
    cr_assert_eq(F.begins, 1, "a second capture was tried");
    cr_assert_not_null(lc_graph_off(&g));
    cr_assert(strstr(lc_graph_off(&g), "workspace growing"), "reason: %s", lc_graph_off(&g));
}

Test(graph, a_refused_capture_turns_graphs_off)
{
    struct lc_graph g;
    struct ops o = {0};
    lc_graph_init(&g, 1);
    F.refuse_begin = 1;
    for (int i = 0; i < 3; i++) run_ok(&g, 8, &o);
    cr_assert_str_eq(F.log, "EEE");
    cr_assert(lc_graph_off(&g) && strstr(lc_graph_off(&g), "profiler"));
}

Test(graph, a_graph_that_cannot_be_made_turns_graphs_off)
{
    struct lc_graph g;
    struct ops o = {0};
    lc_graph_init(&g, 1);
    F.fail_end = 1;
    for (int i = 0; i < 3; i++) run_ok(&g, 8, &o);
    cr_assert_str_eq(F.log, "ECEE");
    cr_assert(lc_graph_off(&g) && strstr(lc_graph_off(&g), "cudaGraphInstantiate"));
    cr_assert_eq(F.live, 0);
}

Test(graph, the_ops_errors_are_returned_and_nothing_is_warm_after_one)
{
    struct lc_graph g;
    struct ops bad = {.fail_always = 1}, good = {0};
    struct lc_err err = {0};
    lc_graph_init(&g, 1);
    cr_assert_neq(lc_graph_run(&g, &gpu, 8, issue, &bad, &err), 0);
    cr_assert(strstr(err.msg, "illegal memory access"), "%s", err.msg);
    run_ok(&g, 8, &good), run_ok(&g, 8, &good);
    cr_assert_str_eq(F.log, "EECL", "a failed run counted as the warm-up");
    cr_assert_null(lc_graph_off(&g), "an ordinary error turned graphs off");
    lc_graph_free(&g, &gpu);
}

Test(graph, off_or_on_the_cpu_the_ops_always_run_as_they_are)
{
    struct lc_graph off, on;
    struct ops o = {0};
    struct lc_err err = {0};
    const struct lc_device cpu = {LC_DEVICE_CPU, 0};
    lc_graph_init(&off, 0), lc_graph_init(&on, 1);
    for (int i = 0; i < 3; i++) {
        run_ok(&off, 8, &o);
        cr_assert_eq(lc_graph_run(&on, &cpu, 8, issue, &o, &err), 0);
    }
    cr_assert_str_eq(F.log, "EEEEEE");
    cr_assert_eq(F.begins, 0);
}

Test(graph, no_capture_while_the_profiler_times_ops_and_one_after)
{
    struct lc_graph g;
    struct ops o = {0};
    lc_graph_init(&g, 1);
    run_ok(&g, 8, &o);
    lc_prof_start();
    run_ok(&g, 8, &o), run_ok(&g, 8, &o);
    FILE *null = fopen("/dev/null", "w");
    struct lc_err err = {0};
    cr_assert(null);
    cr_assert_geq(lc_prof_report(null, 0, &err), 0, "%s", err.msg);
    fclose(null);
    run_ok(&g, 8, &o), run_ok(&g, 8, &o);
    cr_assert_str_eq(F.log, "EEECLL");
    cr_assert_eq(F.begins, 1);
    cr_assert_null(lc_graph_off(&g), "the profiler turned graphs off");
    lc_graph_free(&g, &gpu);
}
