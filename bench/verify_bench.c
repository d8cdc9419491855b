/* verify_bench: verify-pairs all-vs-all on 10^4 x 10^4 embeddings of
 * dimension 512 (the whole tool: reading the stream, normalising, blocked
 * SGEMM, ranking, writing) against the machine's SGEMM rate measured in the
 * same run on one call of the same shape. Override with VERIFY_BENCH_N and
 * VERIFY_BENCH_D. Needs LC_BIN (make bench sets it). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dtype.h"
#include "stream.h"
#include "tool.h"

static void die(const struct lc_err *e) { lc_tool_fail(e); }

static uint64_t g_x = 88172645463325252ull;
static float gauss(void)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        g_x ^= g_x << 13, g_x ^= g_x >> 7, g_x ^= g_x << 17;
        u[k] = ((double)(g_x >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

/* Run argv, return wall seconds (and peak RSS in MB of the child). */
static double run(char *const argv[], double *rss_mb)
{
    double t0 = lc_now();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/tmp/verify-bench.log", "w", stderr)) _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    double t = lc_now() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "verify_bench: %s failed (see /tmp/verify-bench.log)\n", argv[0]);
        exit(1);
    }
    if (rss_mb) *rss_mb = (double)ru.ru_maxrss / 1024.0;
    return t;
}

int main(void)
{
    lc_tool_init("verify_bench");
    size_t N = getenv("VERIFY_BENCH_N") ? strtoull(getenv("VERIFY_BENCH_N"), NULL, 10) : 10000;
    size_t D = getenv("VERIFY_BENCH_D") ? strtoull(getenv("VERIFY_BENCH_D"), NULL, 10) : 512;
    const char *bin = getenv("LC_BIN");
    if (!bin) {
        printf("verify_bench: skipped (LC_BIN not set; run it through make bench)\n");
        return 0;
    }
    char dir[] = "/tmp/verify-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    /* N embeddings of N/10 identities (10 images each), as an embeddings stream */
    size_t classes = N / 10 ? N / 10 : 1;
    float *id = malloc(classes * D * sizeof *id), *E = malloc(N * D * sizeof *E);
    for (size_t i = 0; i < classes * D; i++) id[i] = gauss();
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < D; k++) E[i * D + k] = id[(i % classes) * D + k] + 1.2f * gauss();
    char emb[300], out[300], mat[300];
    snprintf(emb, sizeof emb, "%s/emb.sft", dir);
    snprintf(out, sizeof out, "%s/top.sft", dir);
    snprintf(mat, sizeof mat, "%s/matrix.sft", dir);
    struct lc_writer *w;
    struct lc_err err;
    if (lc_writer_open(&w, emb, LC_KIND_EMBEDDINGS, NULL, &err)) die(&err);
    for (size_t i = 0; i < N; i++) {
        char key[64];
        snprintf(key, sizeof key, "id%05zu/%zu", i % classes, i);
        int64_t lab = (int64_t)(i % classes);
        uint32_t dims[1] = {(uint32_t)D};
        struct lc_record r = {.key = key, .labels = &lab, .n_labels = 1};
        lc_record_set_tensor(&r, LC_DTYPE_F32, 1, dims, E + i * D);
        if (lc_writer_write(w, &r, &err)) die(&err);
    }
    if (lc_writer_close(w, &err)) die(&err);
    free(id);

    /* the machine's SGEMM rate: one call of the whole job's shape */
    float *S = malloc(N * N * sizeof *S);
    double flop = 2.0 * (double)N * (double)N * (double)D, sgemm = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = lc_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)N, (int)D, 1.0f, E, (int)D, E, (int)D, 0.0f,
                    S, (int)N);
        double t = lc_now() - t0;
        if (t < sgemm) sgemm = t;
    }
    free(S);
    free(E);
    printf("verify_bench: all-vs-all %zu x %zu embeddings, D = %zu: %.3g GFLOP\n", N, N, D, flop / 1e9);
    printf("  cblas_sgemm alone (one %zux%zux%zu call, best of 3): %.3f s = %.1f GFLOP/s\n", N, N, D, sgemm,
           flop / sgemm / 1e9);
    char tool[600];
    snprintf(tool, sizeof tool, "%s/verify-pairs", bin);
    struct {
        const char *what;
        char *argv[10];
    } runs[2] = {
        {"--top 5 (rank-1 and 5 best matches per probe as pairs)", {tool, "--gallery", emb, "--top", "5", "-o", out, NULL}},
        {"--matrix (all 10^8 scores written)", {tool, "--gallery", emb, "--matrix", mat, NULL}},
    };
    for (int k = 0; k < 2; k++) {
        double best = 1e30, rss = 0;
        for (int rep = 0; rep < 2; rep++) {
            double r, t = run(runs[k].argv, &r);
            if (t < best) best = t, rss = r;
        }
        printf("  verify-pairs %-58s %.3f s, peak RSS %.0f MB: %.2fx the SGEMM time (target <= 2x)\n", runs[k].what,
               best, rss, best / sgemm);
        unlink(out);
        unlink(mat);
    }
    unlink(emb);
    unlink("/tmp/verify-bench.log");
    rmdir(dir);
    return 0;
}
