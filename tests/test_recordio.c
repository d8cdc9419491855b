/* recordio: reading MXNet-written files (goldens from make_golden_mxnet.py)
 * sequentially and by index, re-joining split records; the writer's bytes
 * equal MXNet's; every truncation fails or ends on a record boundary. */
#include "recordio.h"
#include "testutil.h"
#include <zlib.h>

struct expect {
    char key[16];
    unsigned flag;
    float labels[8];
    unsigned n;
    uint64_t id, id2;
    size_t bytes;
    uint32_t crc;
};

static int load_expect(const char *path, struct expect *e, int max)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char line[512];
    int n = 0;
    fgets(line, sizeof line, f); /* header */
    while (n < max && fgets(line, sizeof line, f)) {
        char labels[200];
        unsigned long long id, id2;
        unsigned crc;
        cr_assert_eq(sscanf(line, "%15[^,],%u,%199[^,],%llu,%llu,%zu,%x", e[n].key, &e[n].flag, labels, &id, &id2,
                            &e[n].bytes, &crc), 7, "%s", line);
        e[n].id = id, e[n].id2 = id2, e[n].crc = crc;
        e[n].n = 0;
        for (char *t = strtok(labels, " "); t && e[n].n < 8; t = strtok(NULL, " ")) e[n].labels[e[n].n++] = strtof(t, NULL);
        n++;
    }
    fclose(f);
    return n;
}

static void check_record(const uint8_t *rec, size_t len, const struct expect *e)
{
    struct lc_irheader h;
    const uint8_t *img;
    size_t il;
    cr_assert_eq(lc_irheader_unpack(rec, len, &h, &img, &il, NULL), 0, "key %s", e->key);
    cr_expect_eq(h.flag, e->flag, "key %s", e->key);
    for (unsigned i = 0; i < e->n; i++) cr_expect_eq(lc_irheader_label(&h, i), e->labels[i], "key %s label %u", e->key, i);
    cr_expect_eq(h.id, e->id);
    cr_expect_eq(h.id2, e->id2);
    cr_expect_eq(il, e->bytes, "key %s", e->key);
    cr_expect_eq((uint32_t)crc32_z(0, img, il), e->crc, "key %s: image bytes differ", e->key);
}

Test(recordio, reads_what_mxnet_wrote_sequentially_and_by_index)
{
    struct expect e[16];
    int n = load_expect("tests/fixtures/recordio/plain.expect.csv", e, 16);
    cr_assert_eq(n, 9);
    struct lc_rec_reader *r;
    struct lc_err err;
    cr_assert_eq(lc_rec_open(&r, "tests/fixtures/recordio/plain.rec", &err), 0, "%s", err.msg);
    const uint8_t *rec;
    size_t len;
    uint64_t off;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(lc_rec_next(r, &rec, &len, &off, &err), 1, "record %d: %s", i, err.msg);
        check_record(rec, len, &e[i]);
    }
    cr_expect_eq(lc_rec_next(r, &rec, &len, &off, &err), 0);
    /* aligned magic words put back: records 10 (2), 20 (3), 80 (1); 30 and 50 hold unaligned ones */
    cr_expect_eq(lc_rec_joins(r), 6);
    struct lc_rec_index ix;
    cr_assert_eq(lc_rec_index_load(&ix, "tests/fixtures/recordio/plain.idx", &err), 0, "%s", err.msg);
    cr_assert_eq(ix.n, 9);
    for (int i = n - 1; i >= 0; i--) { /* backwards: real random access */
        int64_t o = lc_rec_index_find(&ix, strtoll(e[i].key, NULL, 10));
        cr_assert_geq(o, 0, "key %s", e[i].key);
        cr_assert_eq(lc_rec_read_at(r, (uint64_t)o, i, &rec, &len, &err), 0, "%s", err.msg);
        check_record(rec, len, &e[i]);
    }
    cr_expect_eq(lc_rec_index_find(&ix, 5), -1);
    lc_rec_index_free(&ix);
    lc_rec_close(r);
}

Test(recordio, early_dmlc_framing)
{
    struct expect e[4];
    int n = load_expect("tests/fixtures/recordio/early.expect.csv", e, 4);
    struct lc_rec_reader *r;
    cr_assert_eq(lc_rec_open(&r, "tests/fixtures/recordio/early.rec", NULL), 0);
    const uint8_t *rec;
    size_t len;
    uint64_t off;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(lc_rec_next(r, &rec, &len, &off, NULL), 1);
        check_record(rec, len, &e[i]);
    }
    cr_expect_eq(lc_rec_next(r, &rec, &len, &off, NULL), 0);
    cr_expect_eq(lc_rec_joins(r), 1);
    lc_rec_close(r);
}

Test(recordio, writer_is_byte_identical_to_mxnet)
{
    size_t want_len, want_idx_len;
    uint8_t *want = tu_read_file("tests/fixtures/recordio/plain.rec", &want_len);
    uint8_t *want_idx = tu_read_file("tests/fixtures/recordio/plain.idx", &want_idx_len);
    const char *dir = tu_tmpdir();
    char rec_path[300], idx_path[300];
    snprintf(rec_path, sizeof rec_path, "%s/x.rec", dir);
    snprintf(idx_path, sizeof idx_path, "%s/x.idx", dir);
    struct lc_rec_reader *r;
    struct lc_rec_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_rec_open_mem(&r, want, want_len, "plain", &err), 0);
    cr_assert_eq(lc_rec_writer_open(&w, rec_path, idx_path, &err), 0, "%s", err.msg);
    const uint8_t *rec;
    size_t len;
    uint64_t off;
    int k = 0;
    while (lc_rec_next(r, &rec, &len, &off, &err) == 1) {
        char key[16];
        snprintf(key, sizeof key, "%d", 10 * k++);
        cr_assert_eq(lc_rec_write(w, key, rec, len, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(lc_rec_writer_close(w, &err), 0, "%s", err.msg);
    size_t got_len, got_idx_len;
    uint8_t *got = tu_read_file(rec_path, &got_len), *got_idx = tu_read_file(idx_path, &got_idx_len);
    cr_expect_eq(got_len, want_len);
    cr_expect(got_len == want_len && memcmp(got, want, want_len) == 0, ".rec differs from MXNet's");
    cr_expect(got_idx_len == want_idx_len && memcmp(got_idx, want_idx, want_idx_len) == 0, ".idx differs from MXNet's");
    lc_rec_close(r);
    free(want), free(want_idx), free(got), free(got_idx);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}

Test(recordio, every_truncation_fails_or_ends_on_a_record_boundary)
{
    size_t len;
    uint8_t *data = tu_read_file("tests/fixtures/recordio/plain.rec", &len);
    struct lc_rec_index ix;
    cr_assert_eq(lc_rec_index_load(&ix, "tests/fixtures/recordio/plain.idx", NULL), 0);
    for (size_t cut = 0; cut < len; cut++) {
        struct lc_rec_reader *r;
        struct lc_err err;
        cr_assert_eq(lc_rec_open_mem(&r, data, cut, "cut", &err), 0);
        const uint8_t *rec;
        size_t l;
        uint64_t off;
        int rc, n = 0;
        while ((rc = lc_rec_next(r, &rec, &l, &off, &err)) == 1) n++;
        if (rc == 0) { /* only a cut exactly between records reads cleanly */
            int boundary = cut == 0;
            for (size_t i = 0; i < ix.n; i++) boundary |= ix.offsets[i] == cut;
            cr_assert(boundary, "cut at %zu read %d records without error", cut, n);
        } else {
            cr_assert_eq(rc, LC_ETRUNC, "cut %zu: %s", cut, err.msg);
            cr_assert_eq(err.record, n, "cut %zu names record %lld, not %d", cut, (long long)err.record, n);
        }
        lc_rec_close(r);
    }
    lc_rec_index_free(&ix);
    free(data);
}

Test(recordio, bad_offsets_and_magic_are_named)
{
    size_t len;
    uint8_t *data = tu_read_file("tests/fixtures/recordio/plain.rec", &len);
    struct lc_rec_reader *r;
    struct lc_err err;
    const uint8_t *rec;
    size_t l;
    cr_assert_eq(lc_rec_open_mem(&r, data, len, "plain.rec", &err), 0);
    cr_expect_eq(lc_rec_read_at(r, 8, 3, &rec, &l, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "wrong .idx offset"), "%s", err.msg);
    cr_expect_eq(err.offset, 8);
    cr_expect_eq(err.record, 3);
    cr_expect_eq(lc_rec_read_at(r, 6, 3, &rec, &l, &err), LC_EFORMAT, "unaligned");
    cr_expect_eq(lc_rec_read_at(r, len + 4, 3, &rec, &l, &err), LC_EFORMAT, "past the end");
    lc_rec_close(r);
    cr_assert_eq(lc_rec_open_mem(&r, "GIF89a..", 8, "x.gif", &err), 0);
    uint64_t off;
    cr_expect_eq(lc_rec_next(r, &rec, &l, &off, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "not a RecordIO file"), "%s", err.msg);
    lc_rec_close(r);
    free(data);
}

Test(recordio, irheader_round_trip)
{
    uint8_t buf[64];
    float labels[3] = {1, 2.5f, -3};
    size_t n = lc_irheader_pack(buf, 0, labels, 3, 42, 7);
    cr_assert_eq(n, 36);
    struct lc_irheader h;
    const uint8_t *rest;
    size_t rl;
    cr_assert_eq(lc_irheader_unpack(buf, n, &h, &rest, &rl, NULL), 0);
    cr_expect(h.flag == 3 && h.label == 0 && h.id == 42 && h.id2 == 7 && rl == 0);
    cr_expect_eq(lc_irheader_label(&h, 1), 2.5f);
    n = lc_irheader_pack(buf, 9, NULL, 0, 1, 0);
    cr_assert_eq(lc_irheader_unpack(buf, n, &h, &rest, &rl, NULL), 0);
    cr_expect(h.flag == 0 && lc_irheader_label(&h, 0) == 9);
    cr_expect_eq(lc_irheader_unpack(buf, 23, &h, &rest, &rl, NULL), LC_EFORMAT);
    buf[0] = 200; /* more labels than bytes */
    cr_expect_eq(lc_irheader_unpack(buf, 30, &h, &rest, &rl, NULL), LC_EFORMAT);
}

Test(recordio, index_errors_name_the_line)
{
    const char *dir = tu_tmpdir();
    char path[300];
    struct lc_rec_index ix;
    struct lc_err err;
    const char *bad[] = {"0\t0\n1\t24\n2\tx\n", "0\t0\n1 24\n", "0\t0\n1\t24\n1\t48\n"};
    const char *what[] = {"line 3", "line 2", "repeats key 1"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%d.idx", dir, i);
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        cr_expect_eq(lc_rec_index_load(&ix, path, &err), LC_EFORMAT, "case %d", i);
        cr_expect(strstr(err.msg, what[i]), "case %d: %s", i, err.msg);
        lc_rec_index_free(&ix);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}
