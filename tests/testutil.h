/* testutil: helpers shared by the Criterion tests: fixture loading (.npy
 * files written by tests/make_golden.py), whole-file reads, a per-test
 * scratch directory, and closeness checks that print the worst index. */
#ifndef LC_TESTUTIL_H
#define LC_TESTUTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "npy.h"

/* Whole file into malloc'd memory; fails the test when unreadable. */
static inline uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

struct tu_array {
    struct lc_npy h;
    uint8_t *file;
    void *data;
    size_t n; /* elements */
};

/* Load tests/fixtures/<rel> (an .npy file). */
static inline struct tu_array tu_fixture(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/%s", rel);
    struct tu_array a = {0};
    size_t len;
    a.file = tu_read_file(path, &len);
    struct lc_err err;
    cr_assert_eq(lc_npy_parse(a.file, len, &a.h, &err), 0, "%s: %s", path, err.msg);
    a.data = a.file + a.h.data_offset;
    a.n = 1;
    for (unsigned i = 0; i < a.h.rank; i++) a.n *= a.h.dims[i];
    return a;
}

static inline void tu_free(struct tu_array *a) { free(a->file); }

/* A fresh scratch directory for the calling test; returns its path. It is
 * removed when the test's process exits, whatever the test did. */
static char tu_dirs[8][64];
static int tu_ndirs;
static inline void tu_rmdirs(void)
{
    for (int i = 0; i < tu_ndirs; i++) {
        char cmd[640];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_dirs[i]);
        if (system(cmd)) {
        }
    }
}
static inline const char *tu_tmpdir(void)
{
    cr_assert_lt(tu_ndirs, 8);
    char *dir = tu_dirs[tu_ndirs];
    snprintf(dir, 64, "/tmp/lc-test-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
    if (tu_ndirs++ == 0) atexit(tu_rmdirs);
    return dir;
}

/* |a-b| <= atol + rtol*|b| everywhere; reports the worst element. */
static inline void tu_expect_close(const float *a, const float *b, size_t n, float atol, float rtol)
{
    size_t worst = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs((double)b[i]);
        double excess = fabs((double)a[i] - (double)b[i]) - tol;
        if (isnan(a[i]) != isnan(b[i])) excess = INFINITY;
        if (excess > worst_excess) worst_excess = excess, worst = i;
    }
    cr_expect(worst_excess <= 0, "worst at %zu: got %.9g, want %.9g", worst, (double)a[worst], (double)b[worst]);
}

/* Finite-difference gradient check. loss(ctx) recomputes a scalar loss
 * from the current inputs; x (n floats) is one input and grad its analytic
 * gradient. Up to `samples` elements (spread over x) are perturbed by +-eps
 * and the central difference is compared with grad: |fd - g| <= atol +
 * rtol * max(|fd|, |g|). Float ops get eps ~1e-2 and rtol ~1e-2 (state the
 * tolerance in the test); the loss should be a double-accumulated sum. */
typedef double (*tu_loss_fn)(void *ctx);
static inline void tu_grad_check(tu_loss_fn loss, void *ctx, float *x, const float *grad, size_t n, size_t samples,
                                 float eps, float rtol, float atol, const char *what)
{
    size_t step = n > samples ? n / samples : 1;
    for (size_t i = 0; i < n; i += step) {
        float keep = x[i];
        x[i] = keep + eps;
        double lp = loss(ctx);
        x[i] = keep - eps;
        double lm = loss(ctx);
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * eps), g = grad[i];
        double tol = atol + rtol * fmax(fabs(fd), fabs(g));
        cr_expect(fabs(fd - g) <= tol, "%s[%zu]: analytic %.7g, finite difference %.7g", what, i, g, fd);
    }
}

#endif
