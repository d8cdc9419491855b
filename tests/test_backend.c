/* backend: device parsing, the CPU normalisation against PyTorch (bit
 * exact), and the CUDA twin against the CPU (suite cuda, skipped with a
 * message where no GPU is usable). */
#include "backend.h"
#include "testutil.h"

Test(backend, device_names)
{
    struct lc_device d;
    char b[32];
    cr_expect_eq(lc_device_parse(&d, "cpu", NULL), 0);
    cr_expect_eq(d.type, LC_DEVICE_CPU);
    cr_expect_eq(lc_device_parse(&d, "cuda:3", NULL), 0);
    cr_expect(d.type == LC_DEVICE_CUDA && d.index == 3);
    cr_expect_str_eq(lc_device_format(&d, b, sizeof b), "cuda:3");
    cr_expect_eq(lc_device_parse(&d, "cuda", NULL), 0);
    cr_expect_eq(d.index, 0);
    cr_expect_eq(lc_device_parse(&d, "gpu", NULL), LC_EUSAGE);
    cr_expect_eq(lc_device_parse(&d, "cuda:-1", NULL), LC_EUSAGE);
    cr_expect_eq(lc_device_parse(&d, "cuda:x", NULL), LC_EUSAGE);
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    cr_expect_eq(lc_device_open(&cpu, NULL), 0);
}

Test(backend, unusable_cuda_device_is_a_clear_error)
{
    char why[256];
    if (lc_backend_cuda_devices(why, sizeof why) > 0) cr_skip_test("a GPU is present");
    struct lc_device d = {LC_DEVICE_CUDA, 0};
    struct lc_err err;
    cr_expect_eq(lc_device_open(&d, &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "cuda:0 is not available"), "%s", err.msg);
}

static void check_normalize(const char *golden, int reverse, const float *mean, const float *std)
{
    struct tu_array x = tu_fixture("normalize/x.npy"), y = tu_fixture(golden);
    struct lc_normalize p;
    lc_normalize_init_reference(&p, (int)x.h.dims[0], (int)x.h.dims[1], (int)x.h.dims[2], (int)x.h.dims[3]);
    p.reverse_channels = reverse;
    if (mean)
        for (int k = 0; k < 3; k++) p.mean[k] = mean[k], p.std[k] = std[k];
    float *out = malloc(y.n * sizeof *out);
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    cr_assert_eq(lc_op_normalize_u8(&cpu, out, x.data, &p, NULL), 0);
    if (!mean) /* mean = std = 0.5 is exact in float: demand identical bits */
        cr_expect_eq(memcmp(out, y.data, y.n * sizeof *out), 0, "%s: not bit-identical to torch", golden);
    tu_expect_close(out, y.data, y.n, 0, 1e-6f);
    free(out);
    tu_free(&x);
    tu_free(&y);
}

Test(backend, normalize_matches_torch)
{
    check_normalize("normalize/y_bgr.npy", 0, NULL, NULL);
    check_normalize("normalize/y_rgb.npy", 1, NULL, NULL);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    check_normalize("normalize/y_imagenet.npy", 0, mean, std);
}

static void need_gpu(void)
{
    char why[256] = "";
    if (!lc_backend_cuda_built()) cr_skip_test("CUDA tests skipped: this build has no CUDA support");
    if (lc_backend_cuda_devices(why, sizeof why) == 0) cr_skip_test("CUDA tests skipped: no usable GPU (%s)", why);
}

Test(cuda, normalize_matches_cpu_bit_for_bit)
{
    need_gpu();
    struct tu_array x = tu_fixture("normalize/x.npy");
    struct lc_normalize p;
    lc_normalize_init_reference(&p, (int)x.h.dims[0], (int)x.h.dims[1], (int)x.h.dims[2], (int)x.h.dims[3]);
    struct lc_device gpu = {LC_DEVICE_CUDA, 0}, cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    cr_assert_eq(lc_device_open(&gpu, &err), 0, "%s", err.msg);
    for (int reverse = 0; reverse < 2; reverse++) {
        p.reverse_channels = reverse;
        float *want = malloc(x.n * 4), *got = malloc(x.n * 4);
        void *dx, *dy;
        cr_assert_eq(lc_device_alloc(&gpu, &dx, x.n, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_alloc(&gpu, &dy, x.n * 4, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_upload(&gpu, dx, x.data, x.n, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_op_normalize_u8(&gpu, dy, dx, &p, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_device_download(&gpu, got, dy, x.n * 4, &err), 0, "%s", err.msg);
        lc_op_normalize_u8(&cpu, want, x.data, &p, NULL);
        cr_expect_eq(memcmp(got, want, x.n * 4), 0, "GPU and CPU differ (reverse=%d)", reverse);
        lc_device_free(&gpu, dx);
        lc_device_free(&gpu, dy);
        free(want);
        free(got);
    }
    tu_free(&x);
}
