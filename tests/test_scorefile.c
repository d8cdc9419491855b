/* test_scorefile: score streams and CSV written the way verify-pairs writes
 * them read back exactly (float64 through labels[1], 17-digit CSV), with
 * datasets, pair order, and errors naming the record or line. */
#include <math.h>

#include "scorefile.h"
#include "testutil.h"

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    return path;
}

Test(scorefile, stream_round_trip_is_exact)
{
    const char *path = tmp_path("s.sft");
    struct lc_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_writer_open(&w, path, LC_KIND_SCORES, "score=sqeuclidean\ndataset=lfw\norder=pairs\n", &err), 0);
    double v[4] = {0.1, 1.0 / 3.0, 3.999999999999, 0.0};
    for (int i = 0; i < 4; i++) {
        struct lc_record rec;
        char key[64];
        int64_t labels[2];
        float f;
        cr_assert_eq(lc_score_record(&rec, key, sizeof key, "a", "b/c.jpg", i % 2, v[i], labels, &f, &err), 0);
        cr_assert_eq(lc_writer_write(w, &rec, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(lc_writer_close(w, &err), 0);
    struct lc_scorefile sf;
    cr_assert_eq(lc_scorefile_load(&sf, path, NULL, &err), 0, "%s", err.msg);
    cr_expect_str_eq(sf.kind, "sqeuclidean");
    cr_expect(sf.distance && sf.is_stream);
    cr_assert_eq(sf.nsets, 1);
    cr_expect_str_eq(sf.sets[0].name, "lfw");
    cr_expect(sf.sets[0].pair_order);
    cr_assert_eq(sf.sets[0].n, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(sf.sets[0].score[i], v[i], "score %d", i);
        cr_expect_eq(sf.sets[0].label[i], i % 2);
    }
    lc_scorefile_free(&sf);
    struct lc_scorefile_opts o = {.dataset = "other", .distance = 0};
    cr_assert_eq(lc_scorefile_load(&sf, path, &o, &err), 0);
    cr_expect_str_eq(sf.sets[0].name, "other");
    cr_expect(!sf.distance);
    lc_scorefile_free(&sf);
}

Test(scorefile, record_keys_are_checked)
{
    struct lc_record rec;
    char key[16];
    int64_t labels[2];
    float f;
    struct lc_err err;
    cr_expect_eq(lc_score_record(&rec, key, sizeof key, "a\tx", "b", 1, 0.5, labels, &f, &err), LC_EINVAL);
    cr_expect_eq(lc_score_record(&rec, key, sizeof key, "aaaaaaaaaa", "bbbbbbbbbb", 1, 0.5, labels, &f, &err), LC_EINVAL);
}

static void write_csv(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

Test(scorefile, csv_datasets_and_pair_order)
{
    const char *path = tmp_path("s.csv");
    struct lc_out *o;
    struct lc_err err;
    cr_assert_eq(lc_out_open(&o, path, 0, &err), 0);
    const char *rows[][6] = {{"dataset", "pair", "key_a", "key_b", "label", "cosine"},
                             {"lfw", "0", "a,1", "b \"q\"", "1", "0.30000000000000004"},
                             {"lfw", "1", "c", "d", "0", "-0.5"},
                             {"cfp", "0", "e", "f", "1", "1e-300"},
                             {"cfp", "2", "g", "h", "0", "0.25"}};
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 6; c++) cr_assert_eq(lc_csvw_field(o, rows[r][c], c == 5, &err), 0);
    cr_assert_eq(lc_out_commit(o, &err), 0);
    struct lc_scorefile sf;
    cr_assert_eq(lc_scorefile_load(&sf, path, NULL, &err), 0, "%s", err.msg);
    cr_expect(!sf.is_stream && !sf.distance);
    cr_expect_str_eq(sf.kind, "cosine");
    cr_assert_eq(sf.nsets, 2);
    cr_expect_str_eq(sf.sets[0].name, "lfw");
    cr_expect_eq(sf.sets[0].score[0], 0.30000000000000004);
    cr_expect(sf.sets[0].pair_order, "lfw rows are pairs 0, 1");
    cr_expect(!sf.sets[1].pair_order, "cfp skips pair 1");
    cr_expect_eq(sf.sets[1].score[0], 1e-300);
    lc_scorefile_free(&sf);
}

Test(scorefile, csv_errors_name_the_line)
{
    const char *path = tmp_path("bad.csv");
    struct lc_scorefile sf;
    struct lc_err err;
    write_csv(path, "label,score\n1,0.5\n0,nan\n");
    cr_expect_eq(lc_scorefile_load(&sf, path, NULL, &err), LC_EINVAL);
    cr_expect(strstr(err.msg, "line 3") && strstr(err.msg, "'nan'"), "%s", err.msg);
    write_csv(path, "label,score\n1,0.5\n2,0.1\n");
    cr_expect_eq(lc_scorefile_load(&sf, path, NULL, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "line 3") && strstr(err.msg, "'2'"), "%s", err.msg);
    write_csv(path, "label,value\n1,0.5\n");
    cr_expect_eq(lc_scorefile_load(&sf, path, NULL, &err), LC_EFORMAT);
    struct lc_scorefile_opts o = {.score_col = "value", .distance = -1};
    cr_expect_eq(lc_scorefile_load(&sf, path, &o, &err), 0);
    cr_expect_str_eq(sf.sets[0].name, "bad");
    lc_scorefile_free(&sf);
    write_csv(path, "label,score\n1,0.5,7\n");
    cr_expect_eq(lc_scorefile_load(&sf, path, NULL, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "line 2"), "%s", err.msg);
    write_csv(path, "");
    cr_expect_neq(lc_scorefile_load(&sf, path, NULL, &err), 0);
}

Test(scorefile, stream_errors_name_the_record)
{
    const char *path = tmp_path("bad.sft");
    struct lc_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_writer_open(&w, path, LC_KIND_SCORES, NULL, &err), 0);
    int64_t l1[2] = {1, 0}, l2[1] = {2};
    float f = 0.5f;
    struct lc_record a = {.key = "a\tb", .labels = l1, .n_labels = 1, .floats = &f, .n_floats = 1};
    struct lc_record b = {.key = "c\td", .labels = l2, .n_labels = 1, .floats = &f, .n_floats = 1};
    cr_assert_eq(lc_writer_write(w, &a, &err), 0);
    cr_assert_eq(lc_writer_write(w, &b, &err), 0);
    cr_assert_eq(lc_writer_close(w, &err), 0);
    struct lc_scorefile sf;
    cr_expect_eq(lc_scorefile_load(&sf, path, NULL, &err), LC_EFORMAT);
    cr_expect_eq(err.record, 1);
    /* an exact score that disagrees with its f32 copy */
    cr_assert_eq(lc_writer_open(&w, path, LC_KIND_SCORES, NULL, &err), 0);
    double d = 0.25;
    memcpy(&l1[1], &d, 8);
    a.n_labels = 2;
    cr_assert_eq(lc_writer_write(w, &a, &err), 0);
    cr_assert_eq(lc_writer_close(w, &err), 0);
    cr_expect_eq(lc_scorefile_load(&sf, path, NULL, &err), LC_ECORRUPT);
    /* the wrong kind */
    cr_assert_eq(lc_writer_open(&w, path, LC_KIND_EMBEDDINGS, NULL, &err), 0);
    cr_assert_eq(lc_writer_close(w, &err), 0);
    cr_expect_neq(lc_scorefile_load(&sf, path, NULL, &err), 0);
    cr_expect(strstr(err.msg, "scores"), "%s", err.msg);
}
