/* ir_gpu_bench: IR-50 on a GPU through the device seam, in float32 (cuDNN
 * with FMA math, cuBLAS with TF32 off), fp16 and bf16 (16-bit activations,
 * float32 arithmetic), in images/s, against PyTorch eager on the same GPU
 * in the same run when Python ($LC_PYTHON, default /usr/bin/python3) has
 * CUDA-enabled torch (bench/ir_peer.py ... cuda, cuda-fp16, cuda-bf16:
 * float32 with TF32 off, or AMP in channels-last memory):
 *   inference at batch 256 (lc_ir_dev: batch norms folded);
 *   a training step at batch 128 (lc_ir_train_dev: forward, backward from
 *   a fixed upstream gradient, SGD with momentum and weight decay), with
 *   the fraction of the card's dense fp16 peak for the 16-bit steps.
 * The 16-bit runs go twice: activations (N, C, H, W) and channels-last.
 * Each configuration is timed again with CUDA graphs (graph.h: the
 * backbone's forward, and in training its backward, replayed as graphs:
 * what launching the ops one by one costs). After the fp16 training runs,
 * two more steps (without graphs) are timed op by op (lc_prof: each op's
 * kernel time, and the time no op ran).
 * Both sides upload the float32 input from page-locked memory each run.
 * With each configuration, the device memory it took (the fall of the
 * driver's free count from after the CUDA context was made to after the
 * timed runs without graphs: workspaces and caches included) against
 * PyTorch's, measured the same way.
 * Each configuration runs in a process of its own (this program again,
 * with --one), so one that fails, even by a fault that ends its CUDA
 * context, is reported and the others still run.
 * Skips with a message where no GPU is usable. Part of `make gpu-check`.
 * Usage: ir_gpu_bench [batch] [repeats] [train batch]. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "devparams.h"
#include "optim.h"
#include "dtype.h"
#include "ir.h"
#include "peer.h"
#include "prof.h"
#include "rng.h"
#include "tool.h"

/* PyTorch's images/s (bench/ir_peer.py, mode train or infer) for dt, or
 * -1, and the device memory its run took (*mem, bytes; -1 unknown) */
static double peer_ips(const char *python, const char *py, const char *mode, int reps, int batch, int dt, double *mem)
{
    const char *peer = dt == LC_DTYPE_F16 ? "cuda-fp16" : dt == LC_DTYPE_BF16 ? "cuda-bf16" : "cuda";
    char cmd[4400];
    double ips = -1;
    *mem = -1;
    snprintf(cmd, sizeof cmd, "'%s' '%s' %s 8 %d %d 50 %s", python, py, mode, reps, batch, peer);
    FILE *f = access(py, R_OK) == 0 ? popen(cmd, "r") : NULL;
    if (f) {
        if (fscanf(f, "%lf", &ips) != 1) ips = -1;
        else if (fscanf(f, "%lf", mem) != 1) *mem = -1;
        pclose(f);
    }
    return ips;
}

/* The driver's count of d's free memory, or 0 with a note (the benchmark
 * goes on: memory is extra). */
static size_t free_memory(const struct lc_device *d)
{
    struct lc_err err;
    size_t free_b, total;
    if (lc_device_memory(d, &free_b, &total, &err)) {
        printf("  device memory unavailable: %s\n", err.msg);
        return 0;
    }
    return free_b;
}

/* The device memory a run took, from the free count at its start (free0),
 * against the peer's (the same measure: bench/ir_peer.py) */
static void memory_line(const struct lc_device *d, size_t free0, double peer_mem)
{
    size_t free1 = free_memory(d);
    if (!free0 || !free1) return;
    double ours = free0 >= free1 ? (double)(free0 - free1) : 0, gib = 1024.0 * 1024 * 1024;
    printf("  device memory taken (after the CUDA context): ours %.2f GiB", ours / gib);
    if (peer_mem > 0) printf(", PyTorch %.2f GiB, ratio %.2f\n", peer_mem / gib, ours / peer_mem);
    else printf("\n");
}

static void peer_line(double torch_ips, double ours, int dt, const char *amp)
{
    if (torch_ips <= 0) {
        printf("  PyTorch peer unavailable (no CUDA-enabled torch, or bench/ir_peer.py failed: its error above)\n");
        return;
    }
    char what[64];
    if (dt == LC_DTYPE_F32) snprintf(what, sizeof what, "float32, TF32 off");
    else snprintf(what, sizeof what, "%s%s, channels-last", amp, dt == LC_DTYPE_F16 ? "fp16" : "bf16");
    printf("  PyTorch eager %-27s %9.1f img/s   ratio %.2f\n", what, torch_ips, ours / torch_ips);
}

/* the line of a run with CUDA graphs: its images/s against ours without
 * them and the peer's, or why the graphs went off */
static void graphs_line(long launches, long back, const char *off, double ips, double ours, double torch_ips)
{
    if (off || launches == 0) {
        printf("  with CUDA graphs: off (%s)\n", off ? off : "never launched");
        return;
    }
    printf("  ours with CUDA graphs              %9.1f img/s   %.2f x op by op", ips, ips / ours);
    if (torch_ips > 0) printf(", ratio %.2f to PyTorch", ips / torch_ips);
    if (back >= 0) printf(" (%ld forward, %ld backward launches)\n", launches, back);
    else printf(" (%ld launches)\n", launches);
}

/* One training step as train-pre takes it; fp16: the gradients unscaled
 * and checked (a wait for the flag), the step skipped on an overflow. */
struct train_step {
    const struct lc_device *gpu;
    struct lc_ir_train_dev *g;
    struct lc_optim_dev *od;
    struct lc_optim *o;
    struct lc_rng *rng;
    const float *x;
    int tbatch;
    float *ddemb, *dfound, scale;
    int dt;
    float found;
};

static void train_step(struct train_step *s)
{
    struct lc_err err;
    struct lc_dev_params *dp = lc_ir_train_dev_params(s->g);
    if (lc_dev_params_zero_grad(dp, &err) || lc_ir_train_dev_forward(s->g, NULL, s->x, s->tbatch, s->rng, &err) ||
        lc_ir_train_dev_backward(s->g, s->ddemb, &err))
        lc_tool_fail(&err);
    s->found = 0;
    if (s->dt == LC_DTYPE_F16 &&
        (lc_device_zero(s->gpu, s->dfound, sizeof(float), &err) ||
         lc_op_unscale_check(s->gpu, dp->grad_block, dp->grad_floats, 1.0f / s->scale, s->dfound, &err) ||
         lc_device_download(s->gpu, &s->found, s->dfound, sizeof s->found, &err)))
        lc_tool_fail(&err);
    if ((!s->found && lc_optim_dev_step(s->od, s->o, &err)) || lc_device_sync(s->gpu, &err)) lc_tool_fail(&err);
}

/* Training steps with activations of type dt; x holds at least tbatch
 * images. fp16 runs as train-pre does: the upstream gradient scaled (2^16),
 * the gradients unscaled and checked (a wait for the flag), then SGD. The
 * peer (torch_ips, measured by the caller): PyTorch float32 (TF32 off), or
 * autocast to dt in channels-last memory (with GradScaler for fp16).
 * Returns our images/s. */
static double train_bench(int tbatch, int reps, const float *x, int dt, int cl, double torch_ips, double peer_mem)
{
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    struct lc_ir *m;
    struct lc_ir_train_dev *g;
    const size_t free0 = free_memory(&gpu); /* the context made: the baseline */
    if (lc_ir_create(&m, 50, tbatch, LC_IR_PARAMS_ONLY, &err)) lc_tool_fail(&err);
    struct lc_rng rng;
    lc_rng_seed(&rng, 2);
    lc_ir_init_weights(m, &rng);
    struct lc_optim o;
    if (lc_optim_init_sgd(&o, 0.1, 0.9f, 5e-4f, 0, &err) || lc_optim_add(&o, lc_ir_params(m), &err)) lc_tool_fail(&err);
    if (lc_ir_train_dev_create(&g, m, &gpu, dt, cl, 0, &err)) lc_tool_fail(&err);
    const struct lc_dev_params *mirrors[1] = {lc_ir_train_dev_params(g)};
    struct lc_optim_dev od;
    if (lc_optim_dev_create(&od, &o, mirrors, 1, &err)) lc_tool_fail(&err);
    const float scale = dt == LC_DTYPE_F16 ? 65536.0f : 1.0f;
    float *demb = malloc((size_t)tbatch * 512 * 4), *ddemb, *dfound;
    for (size_t i = 0; i < (size_t)tbatch * 512; i++) demb[i] = (lc_rng_uniform(&rng) - 0.5f) * scale;
    if (lc_device_alloc(&gpu, (void **)&dfound, sizeof(float), &err) ||
        lc_device_alloc(&gpu, (void **)&ddemb, (size_t)tbatch * 512 * 4, &err) ||
        lc_device_upload(&gpu, ddemb, demb, (size_t)tbatch * 512 * 4, &err))
        lc_tool_fail(&err);
    struct train_step ts = {&gpu, g, &od, &o, &rng, x, tbatch, ddemb, dfound, scale, dt, 0};
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = lc_now();
        train_step(&ts);
        double t = lc_now() - t0;
        if (r && t < best) best = t;
    }
    const int found = ts.found != 0;
    double ours = tbatch / best;
    const char *nm = dt == LC_DTYPE_F16 ? "fp16" : dt == LC_DTYPE_BF16 ? "bf16" : "float32";
    printf("ir_gpu_bench: IR-50 training step (forward, backward, SGD), batch %d, %s%s, dropout 0.4%s\n", tbatch, nm,
           cl ? " channels-last" : "", dt == LC_DTYPE_F16 ? ", loss scaled by 2^16 and checked" : "");
    printf("  ours (lc_ir_train_dev, %-7s)   %9.1f img/s   (includes uploading the input from pinned memory)%s\n", nm, ours,
           found ? " (the last step overflowed)" : "");
    peer_line(torch_ips, ours, dt, "AMP ");
    memory_line(&gpu, free0, peer_mem);
    /* again with graphs: the first step warms them up, the second captures */
    lc_ir_train_dev_use_graphs(g, 1);
    double gbest = 1e30;
    for (int r = 0; r <= reps + 1; r++) {
        double t0 = lc_now();
        train_step(&ts);
        double t = lc_now() - t0;
        if (r > 1 && t < gbest) gbest = t;
    }
    const char *off = NULL;
    long back = 0, launches = lc_ir_train_dev_graph_launches(g, &back, &off);
    graphs_line(launches, back, off, tbatch / gbest, ours, torch_ips);
    lc_ir_train_dev_use_graphs(g, 0); /* the profiler times the ops one by one */
    if (dt == LC_DTYPE_F16) { /* where a step's time goes */
        lc_prof_start();
        double t0 = lc_now();
        for (int r = 0; r < 2; r++) train_step(&ts);
        double wall = lc_now() - t0;
        printf("ir_gpu_bench: op profile of 2 training steps, fp16%s (%.1f ms a step):\n", cl ? " channels-last" : "",
               500 * wall);
        if (lc_prof_report(stdout, 1e3 * wall, &err) < 0) /* the benchmark goes on: the profile is extra */
            printf("  op profile unavailable: %s\n", err.msg);
    }
    lc_device_free(&gpu, ddemb);
    lc_device_free(&gpu, dfound);
    lc_optim_dev_free(&od);
    lc_ir_train_dev_free(g);
    lc_optim_free(&o);
    lc_ir_free(m);
    free(demb);
    return ours;
}

/* Inference with activations of type dt, against PyTorch eager in float32
 * (TF32 off) or the model in dt, channels-last (torch_ips). */
static void infer_bench(int batch, int reps, const float *x, int dt, int cl, double torch_ips, double peer_mem)
{
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    struct lc_ir *m;
    struct lc_ir_dev *g;
    const size_t free0 = free_memory(&gpu); /* the context made: the baseline */
    if (lc_ir_create(&m, 50, batch, LC_IR_PARAMS_ONLY, &err)) lc_tool_fail(&err);
    struct lc_rng rng;
    lc_rng_seed(&rng, 1);
    lc_ir_init_weights(m, &rng);
    double t0 = lc_now();
    if (lc_ir_dev_create(&g, m, &gpu, dt, cl, &err)) lc_tool_fail(&err);
    double t_up = lc_now() - t0;
    float *emb = malloc((size_t)batch * 512 * 4), *norm = malloc((size_t)batch * 4);
    double best = 1e30;
    for (int r = 0; r <= reps; r++) { /* the first run warms up (cuDNN's algorithm choice, allocations) */
        t0 = lc_now();
        if (lc_ir_dev_forward(g, emb, norm, x, batch, &err)) lc_tool_fail(&err);
        double t = lc_now() - t0;
        if (r && t < best) best = t;
    }
    double ours = batch / best;
    const char *nm = dt == LC_DTYPE_F16 ? "fp16" : dt == LC_DTYPE_BF16 ? "bf16" : "float32";
    printf("ir_gpu_bench: IR-50 inference, batch %d, %s%s (weights uploaded and folded in %.2f s)\n", batch, nm,
           cl ? " channels-last" : "", t_up);
    printf("  ours (lc_ir_dev, %-7s)         %9.1f img/s   (includes uploading the input from pinned memory)\n", nm, ours);
    peer_line(torch_ips, ours, dt, "");
    memory_line(&gpu, free0, peer_mem);
    printf("  of which the model's own buffers and weights (lc_ir_dev_bytes) %.2f GiB\n",
           lc_ir_dev_bytes(g) / (1024.0 * 1024 * 1024));
    lc_ir_dev_use_graphs(g, 1); /* again with a graph: warmed up, captured, then timed */
    double gbest = 1e30;
    for (int r = 0; r <= reps + 1; r++) {
        t0 = lc_now();
        if (lc_ir_dev_forward(g, emb, norm, x, batch, &err)) lc_tool_fail(&err);
        double t = lc_now() - t0;
        if (r > 1 && t < gbest) gbest = t;
    }
    const char *off = NULL;
    long launches = lc_ir_dev_graph_launches(g, &off);
    graphs_line(launches, -1, off, batch / gbest, ours, torch_ips);
    lc_ir_dev_use_graphs(g, 0); /* the profiler times the ops one by one */
    if (dt == LC_DTYPE_F16) { /* where a batch's time goes */
        lc_prof_start();
        t0 = lc_now();
        for (int r = 0; r < 2; r++)
            if (lc_ir_dev_forward(g, emb, norm, x, batch, &err)) lc_tool_fail(&err);
        double wall = lc_now() - t0;
        printf("ir_gpu_bench: op profile of 2 inference batches, fp16%s (%.1f ms a batch):\n", cl ? " channels-last" : "",
               500 * wall);
        if (lc_prof_report(stdout, 1e3 * wall, &err) < 0) printf("  op profile unavailable: %s\n", err.msg);
    }
    lc_ir_dev_free(g);
    lc_ir_free(m);
    free(emb), free(norm);
}

/* the card, and its dense fp16 tensor-core peak in flop/s at the peak
 * clock: 4096 flops per clock per SM on sm_90, 2048 on sm_80/86/89 */
static double card_peak16(char *card, size_t size, int print)
{
    struct lc_err err;
    int sms = 0, khz = 0, cc = 0;
    if (lc_backend_cuda_props(0, card, size, &sms, &khz, &cc, &err)) lc_tool_fail(&err);
    double peak16 = (double)sms * khz * 1e3 * (cc >= 90 ? 4096 : 2048);
    if (print)
        printf("ir_gpu_bench: %s, %d SMs at %.2f GHz, compute capability %d.%d: dense fp16 peak %.0f TFLOP/s\n", card,
               sms, khz / 1e6, cc / 10, cc % 10, peak16 / 1e12);
    return peak16;
}

/* --one infer|train DT CL BATCH REPS TBATCH PEER_IPS PEER_MEM: one
 * configuration, in this process */
static int run_one(char **a)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* a pipe under gpu-check: lines out as they come, none lost if killed */
    int train = !strcmp(a[0], "train"), dt = atoi(a[1]), cl = atoi(a[2]), batch = atoi(a[3]), reps = atoi(a[4]),
        tbatch = atoi(a[5]);
    double torch_ips = atof(a[6]), peer_mem = atof(a[7]);
    char card[256] = "?";
    double peak16 = card_peak16(card, sizeof card, 0);
    size_t nx = (size_t)(train ? tbatch : batch) * 3 * 112 * 112;
    /* page-locked, as train-pre's loader hands batches over: an upload from
     * pageable memory ran at 7 GB/s on an H200 machine, 8% of an fp16 step */
    struct lc_device gpu = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    float *x;
    if (lc_host_alloc(&gpu, (void **)&x, nx * 4, &err)) lc_tool_fail(&err);
    struct lc_rng rng;
    lc_rng_seed(&rng, 1);
    for (size_t i = 0; i < nx; i++) x[i] = 2 * lc_rng_uniform(&rng) - 1;
    if (!train) {
        infer_bench(batch, reps, x, dt, cl, torch_ips, peer_mem);
    } else {
        /* IR-50 at 112x112: 12.6 GFLOP an image forward (6.3 G multiply-adds, conv_bench), three times that a
         * training step */
        double ips = train_bench(tbatch, reps, x, dt, cl, torch_ips, peer_mem);
        if (dt != LC_DTYPE_F32)
            printf("  %.1f TFLOP/s (3 x 12.6 GFLOP an image): %.1f%% of the dense fp16 peak\n", ips * 37.8e9 / 1e12,
                   100 * ips * 37.8e9 / peak16);
    }
    lc_host_free(&gpu, x);
    return 0;
}

/* Runs one configuration as a child process; 0 when it succeeded. */
static int spawn_one(const char *kind, int dt, int cl, int batch, int reps, int tbatch, double torch_ips,
                     double peer_mem)
{
    char a[8][64];
    snprintf(a[0], sizeof a[0], "%s", kind);
    snprintf(a[1], sizeof a[1], "%d", dt);
    snprintf(a[2], sizeof a[2], "%d", cl);
    snprintf(a[3], sizeof a[3], "%d", batch);
    snprintf(a[4], sizeof a[4], "%d", reps);
    snprintf(a[5], sizeof a[5], "%d", tbatch);
    snprintf(a[6], sizeof a[6], "%.17g", torch_ips);
    snprintf(a[7], sizeof a[7], "%.17g", peer_mem);
    char *argv[] = {"ir_gpu_bench", "--one", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL};
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { /* a fresh process image: no CUDA state crosses the fork */
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* ends with the parent, GPU and all */
        execv("/proc/self/exe", argv);
        fprintf(stderr, "ir_gpu_bench: cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        printf("ir_gpu_bench: %s %s%s: cannot start its process\n", kind, lc_dtype_name(dt), cl ? " channels-last" : "");
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFSIGNALED(status))
        printf("ir_gpu_bench: %s %s%s FAILED: killed by signal %d (%s); the other configurations go on\n", kind,
               lc_dtype_name(dt), cl ? " channels-last" : "", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        printf("ir_gpu_bench: %s %s%s FAILED (exit %d, its error above); the other configurations go on\n", kind,
               lc_dtype_name(dt), cl ? " channels-last" : "", WEXITSTATUS(status));
    return -1;
}

int main(int argc, char **argv)
{
    lc_tool_init("ir_gpu_bench");
    if (argc == 10 && !strcmp(argv[1], "--one")) return run_one(argv + 2);
    int batch = argc > 1 ? atoi(argv[1]) : 256, reps = argc > 2 ? atoi(argv[2]) : 5,
        tbatch = argc > 3 ? atoi(argv[3]) : 128;
    if (batch < 1 || reps < 1 || tbatch < 1) {
        fprintf(stderr, "usage: ir_gpu_bench [batch] [repeats] [train batch]\n");
        return 2;
    }
    char why[256] = "";
    if (lc_backend_cuda_devices(why, sizeof why) == 0) {
        printf("ir_gpu_bench: skipped: no usable GPU (%s)\n", why);
        return 0;
    }
    char card[256] = "?";
    card_peak16(card, sizeof card, 1);
    char py[4200];
    bench_peer_path(py, sizeof py, "ir_peer.py");
    const char *python = getenv("LC_PYTHON") ? getenv("LC_PYTHON") : "/usr/bin/python3";
    /* the 16-bit types in both layouts, against one peer measurement each (PyTorch alone on the GPU) */
    const int types[3] = {LC_DTYPE_F32, LC_DTYPE_F16, LC_DTYPE_BF16};
    int failed = 0;
    for (int k = 0; k < 3; k++) {
        double mem, peer = peer_ips(python, py, "infer", reps, batch, types[k], &mem);
        for (int cl = 0; cl <= (types[k] != LC_DTYPE_F32); cl++)
            failed += spawn_one("infer", types[k], cl, batch, reps, tbatch, peer, mem) != 0;
    }
    for (int k = 0; k < 3; k++) {
        double mem, peer = peer_ips(python, py, "train", reps, tbatch, types[k], &mem);
        for (int cl = 0; cl <= (types[k] != LC_DTYPE_F32); cl++)
            failed += spawn_one("train", types[k], cl, batch, reps, tbatch, peer, mem) != 0;
    }
    if (failed) printf("ir_gpu_bench: %d of 10 configurations failed\n", failed);
    return failed != 0;
}
