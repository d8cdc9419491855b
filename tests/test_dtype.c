/* dtype: sizes and names, and half-precision conversion checked against
 * the compiler's own _Float16 (IEEE binary16, round to nearest even). */
#include "dtype.h"
#include "testutil.h"

Test(dtype, names_sizes_and_numpy_spellings_round_trip)
{
    for (int d = 1; d < LC_DTYPE_COUNT; d++) {
        cr_expect_eq(lc_dtype_parse(lc_dtype_name(d)), d);
        cr_expect_gt(lc_dtype_size(d), 0);
        const char *npy = lc_dtype_npy(d);
        if (npy) cr_expect_eq(lc_dtype_from_npy(npy), d, "%s", npy);
    }
    cr_expect_eq(lc_dtype_from_npy(">f4"), -1, "big-endian is refused");
    cr_expect_eq(lc_dtype_from_npy("|O"), -1);
    cr_expect_eq(lc_dtype_size(LC_DTYPE_F16), 2);
    cr_expect_eq(lc_dtype_size(LC_DTYPE_NONE), 0);
}

Test(dtype, every_half_widens_exactly)
{
    for (uint32_t h = 0; h < 65536; h++) {
        _Float16 ref;
        uint16_t hb = (uint16_t)h;
        memcpy(&ref, &hb, 2);
        float want = (float)ref, got = lc_f16_to_f32(hb);
        if (isnan(want)) {
            cr_assert(isnan(got), "0x%04x", h);
            continue;
        }
        cr_assert(memcmp(&want, &got, 4) == 0, "0x%04x: %a vs %a", h, (double)got, (double)want);
        cr_assert_eq(lc_f32_to_f16(got), hb, "0x%04x does not survive a round trip", h);
    }
}

Test(dtype, float_to_half_rounds_like_the_hardware)
{
    uint32_t s = 12345;
    for (int i = 0; i < 2000000; i++) {
        s = s * 1664525u + 1013904223u;
        uint32_t u = s;
        if (i % 4 == 0) u = (s & 0x807fffffu) | ((uint32_t)(100 + (s >> 23) % 60) << 23); /* near half range */
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f)) continue;
        _Float16 ref = (_Float16)f;
        uint16_t want;
        memcpy(&want, &ref, 2);
        cr_assert_eq(lc_f32_to_f16(f), want, "%a: got 0x%04x want 0x%04x", (double)f, lc_f32_to_f16(f), want);
    }
    cr_expect_eq(lc_f32_to_f16(65520.0f), 0x7c00, "rounds up to infinity");
    cr_expect_eq(lc_f32_to_f16(65519.0f), 0x7bff);
    cr_expect_eq(lc_f32_to_f16(-0.0f), 0x8000);
}

Test(dtype, bfloat16_rounds_to_nearest_even)
{
    cr_expect_eq(lc_f32_to_bf16(1.0f), 0x3f80);
    float f;
    uint32_t u = 0x3f808000u; /* exactly halfway: stays even */
    memcpy(&f, &u, 4);
    cr_expect_eq(lc_f32_to_bf16(f), 0x3f80);
    u = 0x3f818000u; /* halfway, odd below: rounds up */
    memcpy(&f, &u, 4);
    cr_expect_eq(lc_f32_to_bf16(f), 0x3f82);
    cr_expect_eq(lc_bf16_to_f32(0xc000), -2.0f);
    cr_expect(isnan(lc_bf16_to_f32(lc_f32_to_bf16(NAN))));
}
