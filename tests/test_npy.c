/* npy: files written by numpy (tests/make_golden.py) parse to the right
 * dtype and shape; our writer's header is the one numpy writes. */
#include "dtype.h"
#include "npy.h"
#include "testutil.h"

Test(npy, numpy_files_parse)
{
    struct {
        const char *name;
        int dtype;
        unsigned rank;
        uint64_t dims[4];
    } cases[] = {
        {"npy/f32_2x3.npy", LC_DTYPE_F32, 2, {2, 3}},       {"npy/u8_4x5x3.npy", LC_DTYPE_U8, 3, {4, 5, 3}},
        {"npy/i64_7.npy", LC_DTYPE_I64, 1, {7}},             {"npy/f16_3x2.npy", LC_DTYPE_F16, 2, {3, 2}},
        {"npy/f64_scalar.npy", LC_DTYPE_F64, 0, {0}},        {"npy/i32_0x4.npy", LC_DTYPE_I32, 2, {0, 4}},
        {"npy/u16_1x2x3x4.npy", LC_DTYPE_U16, 4, {1, 2, 3, 4}}, {"npy/v2_f32_2x3.npy", LC_DTYPE_F32, 2, {2, 3}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tu_array a = tu_fixture(cases[i].name);
        cr_expect_eq(a.h.dtype, cases[i].dtype, "%s", cases[i].name);
        cr_expect_eq(a.h.rank, cases[i].rank, "%s", cases[i].name);
        for (unsigned d = 0; d < a.h.rank; d++) cr_expect_eq(a.h.dims[d], cases[i].dims[d], "%s dim %u", cases[i].name, d);
        tu_free(&a);
    }
    struct tu_array s = tu_fixture("npy/f64_scalar.npy");
    cr_expect_eq(*(double *)s.data, 3.25);
    tu_free(&s);
}

Test(npy, object_and_fortran_arrays_are_refused)
{
    size_t n;
    struct lc_npy h;
    struct lc_err err;
    uint8_t *b = tu_read_file("tests/fixtures/npy/object.npy", &n);
    cr_expect_eq(lc_npy_parse(b, n, &h, &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "never unpickled"), "%s", err.msg);
    free(b);
    b = tu_read_file("tests/fixtures/npy/fortran.npy", &n);
    cr_expect_eq(lc_npy_parse(b, n, &h, &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "Fortran"), "%s", err.msg);
    free(b);
}

Test(npy, header_matches_numpys_bytes)
{
    const char *names[] = {"npy/f32_2x3.npy", "npy/u8_4x5x3.npy", "npy/i64_7.npy", "npy/f64_scalar.npy", "npy/i32_0x4.npy"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        struct tu_array a = tu_fixture(names[i]);
        char hdr[320];
        int n = lc_npy_header(hdr, sizeof hdr, a.h.dtype, a.h.rank, a.h.dims, NULL);
        cr_assert_gt(n, 0);
        cr_expect_eq((size_t)n, a.h.data_offset, "%s", names[i]);
        cr_expect_eq(memcmp(hdr, a.file, (size_t)n), 0, "%s: header differs from numpy's", names[i]);
        tu_free(&a);
    }
}

Test(npy, malformed_headers_fail_cleanly)
{
    const char *bad[] = {
        "\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'}",
        "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }         ",
        "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
        "\x93NUMPY\x09\x00\x40\x00",
        "\x93NUMPX",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct lc_npy h;
        struct lc_err err;
        cr_expect_lt(lc_npy_parse(bad[i], strlen(bad[i]) + (i < 3 ? 0 : 0), &h, &err), 0, "case %zu accepted", i);
    }
}
