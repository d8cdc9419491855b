/* opt: strict numbers, index ranges and shards as the tools parse them. */
#include "opt.h"
#include "testutil.h"

Test(opt, integers_are_strict)
{
    int64_t v;
    cr_expect_eq(lc_parse_i64("42", 0, 100, &v, NULL), 0);
    cr_expect_eq(v, 42);
    cr_expect_eq(lc_parse_i64("-3", -5, 5, &v, NULL), 0);
    cr_expect_eq(lc_parse_i64("4x", 0, 100, &v, NULL), LC_EUSAGE);
    cr_expect_eq(lc_parse_i64("", 0, 100, &v, NULL), LC_EUSAGE);
    cr_expect_eq(lc_parse_i64("101", 0, 100, &v, NULL), LC_EUSAGE);
    cr_expect_eq(lc_parse_i64("99999999999999999999", INT64_MIN, INT64_MAX, &v, NULL), LC_EUSAGE);
    double d;
    cr_expect_eq(lc_parse_double("1e-3", &d, NULL), 0);
    cr_expect_eq(d, 1e-3);
    cr_expect_eq(lc_parse_double("nan", &d, NULL), LC_EUSAGE);
}

Test(opt, ranges)
{
    struct lc_ranges r;
    cr_assert_eq(lc_ranges_parse(&r, "5,10:20,100:", NULL), 0);
    cr_expect(lc_ranges_has(&r, 5));
    cr_expect_not(lc_ranges_has(&r, 6));
    cr_expect(lc_ranges_has(&r, 10));
    cr_expect_not(lc_ranges_has(&r, 20), "ranges are half-open");
    cr_expect(lc_ranges_has(&r, 1000000));
    cr_expect_not(lc_ranges_done(&r, 1u << 30), "an open range never ends");
    cr_assert_eq(lc_ranges_parse(&r, ":3", NULL), 0);
    cr_expect(lc_ranges_has(&r, 0));
    cr_expect(lc_ranges_done(&r, 3));
    struct lc_err err;
    cr_expect_eq(lc_ranges_parse(&r, "10:5", &err), LC_EUSAGE);
    cr_expect_eq(lc_ranges_parse(&r, "5,3", &err), LC_EUSAGE, "must ascend");
    cr_expect_eq(lc_ranges_parse(&r, "0:10,5:20", &err), LC_EUSAGE, "must not overlap");
    cr_expect_eq(lc_ranges_parse(&r, "1,", &err), LC_EUSAGE);
    cr_expect_eq(lc_ranges_parse(&r, "-1", &err), LC_EUSAGE);
    cr_expect_eq(lc_ranges_parse(&r, "", &err), LC_EUSAGE);
}

Test(opt, shards)
{
    int64_t i, n;
    cr_expect_eq(lc_parse_shard("0/4", &i, &n, NULL), 0);
    cr_expect(i == 0 && n == 4);
    cr_expect_eq(lc_parse_shard("3/4", &i, &n, NULL), 0);
    cr_expect_eq(lc_parse_shard("4/4", &i, &n, NULL), LC_EUSAGE);
    cr_expect_eq(lc_parse_shard("1/0", &i, &n, NULL), LC_EUSAGE);
    cr_expect_eq(lc_parse_shard("1", &i, &n, NULL), LC_EUSAGE);
}
