/* ir_bench: the IR backbones on the CPU against PyTorch measured in the
 * same run, same machine, same thread count:
 *   - IR-50 inference, batch 16, 112x112 (eval mode), images/s and peak RSS;
 *   - IR-18 training step (forward, backward, SGD), batch 32, images/s and
 *     peak RSS;
 *   - the machine's SGEMM rate (OpenBLAS, large square product) and the
 *     fraction of it each reaches (IR-50 costs 12.6 GFLOP per image forward;
 *     a training step about 3x the forward).
 * Each measurement runs in a child process so peak RSS is its own.
 * Each side runs `rounds` times, alternating, and keeps its best (this VM's
 * speed drifts by 20% within minutes).
 * Usage: ir_bench [threads] [repeats] [rounds]. */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blas.h"
#include "ir.h"
#include "optim.h"
#include "peer.h"
#include "params.h"
#include "rng.h"
#include "threads.h"
#include "tool.h"

/* with the kernel the ops use: OpenBLAS's own pick on this VM is its
 * generic one (Prescott, ~7x slower), which made the fractions meaningless */
static double sgemm_gflops(void)
{
    lc_blas_init();
    const int n = 2048;
    float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    double best = 1e9;
    for (int r = 0; r < 4; r++) {
        double t0 = lc_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double t = lc_now() - t0;
        if (r && t < best) best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

/* Child: run and print "images/s" on stdout. */
static int child(const char *mode, int threads, int reps)
{
    lc_threads_set(threads);
    int train = strcmp(mode, "train") == 0, layers = train ? 18 : 50, batch = train ? 32 : 16;
    struct lc_ir *m;
    struct lc_err err;
    if (lc_ir_create(&m, layers, batch, train, &err)) lc_tool_fail(&err);
    struct lc_rng rng;
    lc_rng_seed(&rng, 1);
    lc_ir_init_weights(m, &rng);
    size_t nx = (size_t)batch * 3 * 112 * 112;
    float *x = malloc(nx * 4), *emb = malloc((size_t)batch * 512 * 4), *norm = malloc((size_t)batch * 4);
    float *demb = malloc((size_t)batch * 512 * 4);
    for (size_t i = 0; i < nx; i++) x[i] = 2 * lc_rng_uniform(&rng) - 1;
    for (size_t i = 0; i < (size_t)batch * 512; i++) demb[i] = lc_rng_uniform(&rng) - 0.5f;
    struct lc_optim opt;
    lc_optim_init_sgd(&opt, 0.1, 0.9f, 5e-4f, 0, NULL);
    if (train && lc_optim_add(&opt, lc_ir_params(m), &err)) lc_tool_fail(&err);
    double best = 1e9;
    for (int r = 0; r <= reps; r++) { /* the first run warms up */
        double t0 = lc_now();
        if (train) {
            lc_params_zero_grad(lc_ir_params(m));
            lc_ir_forward(m, emb, norm, x, batch, 1, &rng);
            lc_ir_backward(m, demb, NULL);
            lc_optim_step(&opt);
        } else {
            lc_ir_forward(m, emb, norm, x, batch, 0, NULL);
        }
        double t = lc_now() - t0;
        if (r && t < best) best = t;
    }
    printf("%.3f\n", batch / best);
    lc_optim_free(&opt);
    lc_ir_free(m);
    free(x), free(emb), free(norm), free(demb);
    return 0;
}

static double run_child(char *const argv[], long *rss)
{
    int fds[2];
    if (pipe(fds)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[128] = "";
    ssize_t k = 0, got;
    while ((size_t)k < sizeof buf - 1 && ((got = read(fds[0], buf + k, sizeof buf - 1 - (size_t)k)) > 0 ||
                                           (got < 0 && errno == EINTR)))
        if (got > 0) k += got; /* until EOF: a read can be interrupted or come short */
    close(fds[0]);
    int st;
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    *rss = ru.ru_maxrss;
    if (k <= 0 || !WIFEXITED(st) || WEXITSTATUS(st)) return -1;
    buf[k] = 0;
    return atof(buf);
}

int main(int argc, char **argv)
{
    lc_tool_init("ir_bench");
    if (argc > 1 && (strcmp(argv[1], "infer") == 0 || strcmp(argv[1], "train") == 0))
        return child(argv[1], argc > 2 ? atoi(argv[2]) : 0, argc > 3 ? atoi(argv[3]) : 3);
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int reps = argc > 2 ? atoi(argv[2]) : 3, rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (rounds < 1) rounds = 1;
    lc_threads_set(threads);
    double gf = sgemm_gflops();
    char t[16], r[16], self[4096];
    snprintf(t, sizeof t, "%d", threads);
    snprintf(r, sizeof r, "%d", reps);
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    self[k > 0 ? k : 0] = 0;
    char py[4200];
    bench_peer_path(py, sizeof py, "ir_peer.py");
    if (access(py, R_OK)) {
        fprintf(stderr, "ir_bench: %s: the PyTorch peer is missing (set LC_BENCH_DIR)\n", py);
        return 1;
    }
    printf("ir_bench: %d threads; SGEMM %.1f GFLOP/s (OpenBLAS %s, 2048^3); best of %d alternating rounds\n", threads,
           gf, lc_blas_core(), rounds);
    const char *modes[2] = {"infer", "train"};
    const double gflop_per_image[2] = {12.6, 3 * 5.2}; /* IR-50 forward; IR-18 forward + backward (2x) */
    for (int i = 0; i < 2; i++) {
        char *ours[] = {self, (char *)modes[i], t, r, NULL};
        char *torch[] = {"/usr/bin/python3", py, (char *)modes[i], t, r, NULL};
        long rss_ours = 0, rss_torch = 0, ro, rt;
        double a = -1, b = -1;
        for (int round = 0; round < rounds; round++) { /* alternate; keep the best of each (a noisy VM) */
            double x = run_child(ours, &ro), y = run_child(torch, &rt);
            if (x > a) a = x;
            if (y > b) b = y;
            if (ro > rss_ours) rss_ours = ro;
            if (rt > rss_torch) rss_torch = rt;
        }
        const char *what = i ? "IR-18 training step, batch 32" : "IR-50 inference, batch 16";
        printf("  %-31s ours %7.2f img/s (%.0f%% of SGEMM)  PyTorch %7.2f img/s (%.0f%%)  ratio %.2f\n", what, a,
               100 * a * gflop_per_image[i] / gf, b, 100 * b * gflop_per_image[i] / gf, b > 0 ? a / b : 0);
        printf("  %-31s peak RSS ours %.0f MB, PyTorch %.0f MB\n", "", rss_ours / 1024.0, rss_torch / 1024.0);
    }
    return 0;
}
