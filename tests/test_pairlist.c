/* test_pairlist: LFW, CSV, whitespace and stream pair lists as real files
 * write them (float image numbers, Yes/No, headers, quoted fields), the
 * errors with their line numbers, key matching forms and the key map. */
#include "pairlist.h"
#include "stream.h"
#include "testutil.h"

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void expect_pair(const struct lc_pairlist *pl, size_t i, const char *a, const char *b, int label,
                        uint64_t line)
{
    cr_assert_lt(i, pl->n);
    cr_expect_str_eq(pl->pairs[i].a, a);
    cr_expect_str_eq(pl->pairs[i].b, b);
    cr_expect_eq(pl->pairs[i].label, label, "pair %zu label", i);
    cr_expect_eq(pl->pairs[i].line, line, "pair %zu line %llu", i, (unsigned long long)pl->pairs[i].line);
}

Test(pairlist, lfw_with_header_and_float_numbers)
{
    const char *p = write_tmp("pairs.txt", "10\t300\nIrada_Ramadanova\t259.\t246.\n\nAbel_P\t1\tZoe_Q\t12\n  Bo 3.0 4 \r\n");
    struct lc_pairlist pl;
    struct lc_err err;
    cr_assert_eq(lc_pairs_read(&pl, p, NULL, &err), 0, "%s", err.msg);
    cr_expect_str_eq(pl.format, "lfw");
    cr_assert_eq(pl.n, 3);
    expect_pair(&pl, 0, "Irada_Ramadanova/Irada_Ramadanova_0259", "Irada_Ramadanova/Irada_Ramadanova_0246", 1, 2);
    expect_pair(&pl, 1, "Abel_P/Abel_P_0001", "Zoe_Q/Zoe_Q_0012", 0, 4);
    expect_pair(&pl, 2, "Bo/Bo_0003", "Bo/Bo_0004", 1, 5);
    lc_pairlist_free(&pl);
    struct lc_pairs_opts o = {.lfw_key = "{name}-{num}.jpg"};
    cr_assert_eq(lc_pairs_read(&pl, p, &o, &err), 0);
    expect_pair(&pl, 0, "Irada_Ramadanova-259.jpg", "Irada_Ramadanova-246.jpg", 1, 2);
    lc_pairlist_free(&pl);
    o.lfw_key = "{who}";
    cr_expect_eq(lc_pairs_read(&pl, p, &o, &err), LC_EUSAGE);
}

Test(pairlist, lfw_errors_name_the_line)
{
    struct lc_pairlist pl;
    struct lc_err err;
    const char *p = write_tmp("p.txt", "A 1 2\nB 1 x2\n");
    cr_expect_eq(lc_pairs_read(&pl, p, NULL, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "line 2") && strstr(err.msg, "'x2'"), "%s", err.msg);
    p = write_tmp("p.txt", "A 1 2\nA 1 2 B 3 C 4 D 5 E 6 F 7\n");
    struct lc_pairs_opts o = {.format = "lfw"};
    cr_expect_eq(lc_pairs_read(&pl, p, &o, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "line 2") && strstr(err.msg, "more than"), "%s", err.msg);
    p = write_tmp("p.txt", "A 1 2.5\n");
    cr_expect_eq(lc_pairs_read(&pl, p, &o, &err), LC_EFORMAT);
}

Test(pairlist, csv_yes_no_and_columns)
{
    const char *p = write_tmp("master.csv", "file_x,file_y,Decision\nimg20.jpg,img21.jpg,Yes\n\"a,b.jpg\",c.jpg, no \n");
    struct lc_pairlist pl;
    struct lc_err err;
    cr_assert_eq(lc_pairs_read(&pl, p, NULL, &err), 0, "%s", err.msg);
    cr_expect_str_eq(pl.format, "csv");
    cr_assert_eq(pl.n, 2);
    expect_pair(&pl, 0, "img20.jpg", "img21.jpg", 1, 2);
    expect_pair(&pl, 1, "a,b.jpg", "c.jpg", 0, 3);
    lc_pairlist_free(&pl);
    p = write_tmp("p.csv", "score,second,first,verdict\n0.5,b,a,MATCH\n0.2,d,c,nomatch\n");
    struct lc_pairs_opts o = {.col_a = "first", .col_b = "2", .col_label = "Verdict", .same = "match", .diff = "nomatch"};
    cr_assert_eq(lc_pairs_read(&pl, p, &o, &err), 0, "%s", err.msg);
    expect_pair(&pl, 0, "a", "b", 1, 2);
    expect_pair(&pl, 1, "c", "d", 0, 3);
    lc_pairlist_free(&pl);
    o.col_label = "nope";
    cr_expect_eq(lc_pairs_read(&pl, p, &o, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "no column 'nope'"), "%s", err.msg);
}

Test(pairlist, csv_bad_label_names_its_line)
{
    const char *p = write_tmp("m.csv", "file_x,file_y,Decision\na,b,Yes\nc,d,maybe\n");
    struct lc_pairlist pl;
    struct lc_err err;
    cr_expect_eq(lc_pairs_read(&pl, p, NULL, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "line 3") && strstr(err.msg, "'maybe'"), "%s", err.msg);
    cr_expect_str_eq(err.path, p);
    p = write_tmp("m.csv", "file_x,file_y,Decision\na,b\n");
    cr_expect_eq(lc_pairs_read(&pl, p, NULL, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "line 2"), "%s", err.msg);
    p = write_tmp("m.csv", "file_x,file_y,Decision\n");
    cr_expect_eq(lc_pairs_read(&pl, p, NULL, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "no pairs"), "%s", err.msg);
}

Test(pairlist, whitespace_lines)
{
    const char *p = write_tmp("pairs_new.txt", "A/A_1.png A/A_2.png 1\nA/A_1.png B/B_7.png 0\n");
    struct lc_pairlist pl;
    struct lc_err err;
    cr_assert_eq(lc_pairs_read(&pl, p, NULL, &err), 0, "%s", err.msg);
    cr_expect_str_eq(pl.format, "ssv");
    expect_pair(&pl, 1, "A/A_1.png", "B/B_7.png", 0, 2);
    lc_pairlist_free(&pl);
    p = write_tmp("p.txt", "img_a img_b label\nx y 1\nx z 3\n");
    cr_expect_eq(lc_pairs_read(&pl, p, NULL, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "line 3") && strstr(err.msg, "'3'"), "%s", err.msg);
}

Test(pairlist, pairs_stream)
{
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/p.sft", dir);
    struct lc_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_writer_open(&w, path, LC_KIND_PAIRS, NULL, &err), 0);
    const char *keys[3] = {"a\tb", "c\td", "e\tf"};
    int64_t labels[3] = {1, 0, 1};
    for (int i = 0; i < 3; i++) {
        struct lc_record r = {.key = keys[i], .labels = &labels[i], .n_labels = 1};
        cr_assert_eq(lc_writer_write(w, &r, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(lc_writer_close(w, &err), 0);
    struct lc_pairlist pl;
    cr_assert_eq(lc_pairs_read(&pl, path, NULL, &err), 0, "%s", err.msg);
    cr_expect_str_eq(pl.format, "sft");
    expect_pair(&pl, 1, "c", "d", 0, 1);
    lc_pairlist_free(&pl);
    /* a stream of another kind is refused */
    cr_assert_eq(lc_writer_open(&w, path, LC_KIND_SCORES, NULL, &err), 0);
    struct lc_record r = {.key = "a\tb", .labels = labels, .n_labels = 1};
    cr_assert_eq(lc_writer_write(w, &r, &err), 0);
    cr_assert_eq(lc_writer_close(w, &err), 0);
    cr_expect_neq(lc_pairs_read(&pl, path, NULL, &err), 0);
    cr_expect(strstr(err.msg, "pairs"), "%s", err.msg);
}

Test(pairlist, labels_and_key_forms)
{
    cr_expect_eq(lc_pairs_label(" YES", NULL), 1);
    cr_expect_eq(lc_pairs_label("False", NULL), 0);
    cr_expect_eq(lc_pairs_label("2", NULL), -1);
    char k[64];
    lc_key_match_form(k, sizeof k, "deepface/tests/dataset/img38.jpg", 1, 1);
    cr_expect_str_eq(k, "img38");
    lc_key_match_form(k, sizeof k, "A.B/c", 0, 1);
    cr_expect_str_eq(k, "A.B/c");
    lc_key_match_form(k, sizeof k, "dir/.hidden", 0, 1);
    cr_expect_str_eq(k, "dir/.hidden");
    lc_key_match_form(k, sizeof k, "x/y.tar.gz", 1, 0);
    cr_expect_str_eq(k, "y.tar.gz");
}

Test(pairlist, keymap)
{
    struct lc_keymap *m;
    struct lc_err err;
    cr_assert_eq(lc_keymap_init(&m, 2, &err), 0);
    char k[32];
    for (size_t i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key%zu", i);
        cr_assert_eq(lc_keymap_put(m, k, i), 0);
    }
    cr_assert_eq(lc_keymap_put(m, "key17", 99), 0);
    cr_expect_eq(lc_keymap_get(m, "key4999"), 4999);
    cr_expect_eq(lc_keymap_get(m, "key17"), LC_KEYMAP_AMBIGUOUS);
    cr_expect_eq(lc_keymap_get(m, "nokey"), LC_KEYMAP_MISSING);
    lc_keymap_free(m);
}
