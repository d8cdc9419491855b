/* Tensor stream v1: round trips, concatenation, validation, and the
 * integrity promises: every truncation and every single-byte corruption
 * of a valid stream is reported, never silently accepted. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <zlib.h>

#include "crc.h"
#include "stream.h"
#include "testutil.h"

/* Build a small but varied stream in memory; caller frees *data. */
static void make_stream(void **data, size_t *len, const char *kind, const char *meta, int n)
{
    struct lc_out *o;
    struct lc_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_out_open_mem(&o, &err), 0);
    cr_assert_eq(lc_writer_open_out(&w, o, kind, meta, &err), 0, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "id%d/img_%03d.jpg", i % 3, i);
        int64_t labels[2] = {i % 3, -(int64_t)i * 1000000007LL};
        float floats[3] = {0.5f * (float)i, -1.0f, 1e-3f};
        uint8_t pix[5 * 3 * 3];
        for (size_t k = 0; k < sizeof pix; k++) pix[k] = (uint8_t)(k * 7 + (size_t)i);
        struct lc_record r = {.key = key, .labels = labels, .n_labels = (unsigned)(i % 3), .floats = floats,
                              .n_floats = (unsigned)(i % 4)};
        uint32_t dims[3] = {5, 3, 3};
        lc_record_set_tensor(&r, LC_DTYPE_U8, 3, dims, pix);
        if (i % 5 == 4) { /* an f32 vector, an empty record */
            float v[7] = {1, 2, 3, 4, 5, 6, 7};
            uint32_t d1[1] = {7};
            lc_record_set_tensor(&r, LC_DTYPE_F32, 1, d1, v);
            cr_assert_eq(lc_writer_write(w, &r, &err), 0, "%s", err.msg);
            continue;
        }
        if (i % 7 == 6) lc_record_set_tensor(&r, LC_DTYPE_NONE, 0, NULL, NULL);
        cr_assert_eq(lc_writer_write(w, &r, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(lc_writer_close(w, &err), 0);
    const void *p;
    lc_out_mem_data(o, &p, len);
    *data = malloc(*len);
    memcpy(*data, p, *len);
    lc_out_free(o);
}

/* Read everything; returns the count or a negative error code. */
static long read_all(const void *data, size_t len, struct lc_err *err, int read_payloads)
{
    struct lc_reader *r;
    int rc = lc_reader_open_mem(&r, data, len, "mem", err);
    if (rc) return rc;
    struct lc_record rec;
    long n = 0;
    while ((rc = lc_reader_next(r, &rec, err)) == 1) {
        if (read_payloads && (rc = lc_reader_payload(r, &rec, err))) break;
        n++;
    }
    lc_reader_free(r);
    return rc < 0 ? rc : n;
}

Test(stream, round_trip_preserves_everything)
{
    void *data;
    size_t len;
    make_stream(&data, &len, "images", "channels=BGR\nsource=unit test\n", 20);
    cr_assert_eq(len % 64, 0, "streams are whole 64-byte blocks");
    struct lc_reader *r;
    struct lc_err err;
    cr_assert_eq(lc_reader_open_mem(&r, data, len, "mem", &err), 0, "%s", err.msg);
    const struct lc_stream_header *h = lc_reader_header(r);
    cr_expect_str_eq(h->kind, "images");
    cr_expect_eq(h->version, 1);
    char v[64];
    cr_expect(lc_meta_get(h->meta, "source", v, sizeof v));
    cr_expect_str_eq(v, "unit test");
    struct lc_record rec;
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(lc_reader_next(r, &rec, &err), 1, "record %d: %s", i, err.msg);
        char key[32];
        snprintf(key, sizeof key, "id%d/img_%03d.jpg", i % 3, i);
        cr_expect_str_eq(rec.key, key);
        cr_expect_eq(rec.index, (uint64_t)i);
        cr_expect_eq(rec.n_labels, (unsigned)(i % 3));
        if (rec.n_labels > 1) cr_expect_eq(rec.labels[1], -(int64_t)i * 1000000007LL);
        cr_expect_eq(rec.n_floats, (unsigned)(i % 4));
        if (rec.n_floats) cr_expect_eq(rec.floats[0], 0.5f * (float)i);
        cr_assert_eq(lc_reader_payload(r, &rec, &err), 0, "%s", err.msg);
        if (i % 5 == 4) {
            cr_expect_eq(rec.dtype, LC_DTYPE_F32);
            cr_expect_eq(((const float *)rec.payload)[6], 7.0f);
        } else if (i % 7 == 6) {
            cr_expect_eq(rec.dtype, LC_DTYPE_NONE);
            cr_expect_eq(rec.payload_len, 0);
        } else {
            cr_expect_eq(rec.rank, 3);
            cr_expect_eq(rec.dims[0], 5);
            cr_expect_eq(rec.payload_len, 45);
            cr_expect_eq(((uintptr_t)rec.payload) % 64, 0, "payloads are 64-byte aligned in memory");
            cr_expect_eq((rec.offset) % 64, 0, "records start on 64-byte boundaries");
            cr_expect_eq(((const uint8_t *)rec.payload)[44], (uint8_t)(44 * 7 + i));
        }
    }
    cr_expect_eq(lc_reader_next(r, &rec, &err), 0, "verified end");
    lc_reader_free(r);
    free(data);
}

Test(stream, payload_skipped_is_still_verified)
{
    void *data;
    size_t len;
    make_stream(&data, &len, "images", NULL, 3);
    struct lc_err err;
    cr_expect_eq(read_all(data, len, &err, 0), 3);
    /* Flip a byte inside record 1's payload: located from record offsets. */
    struct lc_reader *r;
    struct lc_record rec;
    cr_assert_eq(lc_reader_open_mem(&r, data, len, "mem", &err), 0);
    lc_reader_next(r, &rec, &err);
    lc_reader_next(r, &rec, &err);
    uint64_t at = rec.offset + 128 + 10; /* header of record 1 is 128 bytes */
    lc_reader_free(r);
    ((uint8_t *)data)[at] ^= 0x40;
    cr_expect_eq(read_all(data, len, &err, 0), LC_ECORRUPT, "got %s", err.msg);
    cr_expect_eq(err.record, 1);
    cr_expect(strstr(err.msg, "payload checksum"), "%s", err.msg);
    free(data);
}

Test(stream, every_truncation_fails_cleanly)
{
    void *data;
    size_t len;
    make_stream(&data, &len, "images", "channels=BGR\n", 9);
    for (size_t cut = 0; cut < len; cut++) {
        struct lc_err err;
        lc_err_clear(&err);
        long n = read_all(data, cut, &err, cut % 2);
        cr_assert_lt(n, 0, "a stream cut at byte %zu of %zu was accepted", cut, len);
        cr_assert(n == LC_ETRUNC || n == LC_EFORMAT, "cut %zu: code %ld (%s)", cut, n, err.msg);
        cr_assert(err.offset >= 0 && (size_t)err.offset <= cut, "cut %zu: offset %lld", cut, (long long)err.offset);
        cr_assert(strcmp(err.path, "mem") == 0);
    }
    free(data);
}

Test(stream, every_byte_flip_is_detected)
{
    void *data;
    size_t len;
    make_stream(&data, &len, "embeddings", "k=v\n", 6);
    uint8_t *b = data;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            b[i] ^= (uint8_t)(1u << bit);
            struct lc_err err;
            long n = read_all(data, len, &err, i % 2);
            cr_assert_lt(n, 0, "flipping bit %d of byte %zu went unnoticed", bit, i);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    struct lc_err err;
    cr_expect_eq(read_all(data, len, &err, 1), 6);
    free(data);
}

Test(stream, concatenated_streams_read_as_one)
{
    void *a, *b;
    size_t la, lb;
    make_stream(&a, &la, "images", "channels=BGR\nsource=a\n", 4);
    make_stream(&b, &lb, "images", "channels=BGR\nsource=b\n", 5);
    uint8_t *ab = malloc(la + lb);
    memcpy(ab, a, la);
    memcpy(ab + la, b, lb);
    struct lc_err err;
    struct lc_reader *r;
    cr_assert_eq(lc_reader_open_mem(&r, ab, la + lb, "ab", &err), 0);
    struct lc_record rec;
    int n = 0;
    while (lc_reader_next(r, &rec, &err) == 1) {
        cr_expect_eq(rec.index, (uint64_t)n, "indices continue across segments");
        n++;
    }
    cr_expect_eq(n, 9);
    cr_expect_eq(lc_reader_segments(r), 2);
    char v[16];
    lc_meta_get(lc_reader_header(r)->meta, "source", v, sizeof v);
    cr_expect_str_eq(v, "a", "the first header's metadata wins");
    lc_reader_free(r);
    free(ab);
    free(a);
    free(b);
}

Test(stream, concatenation_refuses_mixed_kinds_and_channels)
{
    void *a, *b, *c;
    size_t la, lb, lc;
    make_stream(&a, &la, "images", "channels=BGR\n", 2);
    make_stream(&b, &lb, "regions", "channels=BGR\n", 2);
    make_stream(&c, &lc, "images", "channels=RGB\n", 2);
    uint8_t *ab = malloc(la + lb + lc);
    memcpy(ab, a, la);
    memcpy(ab + la, b, lb);
    struct lc_err err;
    cr_expect_eq(read_all(ab, la + lb, &err, 1), LC_EFORMAT);
    cr_expect(strstr(err.msg, "kind 'regions'"), "%s", err.msg);
    cr_expect_eq(err.offset, (int64_t)la, "error names the second header's offset");
    memcpy(ab + la, c, lc);
    cr_expect_eq(read_all(ab, la + lc, &err, 1), LC_EFORMAT);
    cr_expect(strstr(err.msg, "channels=RGB"), "%s", err.msg);
    free(ab);
    free(a);
    free(b);
    free(c);
}

Test(stream, other_formats_get_a_hint)
{
    struct lc_err err;
    struct lc_reader *r;
    const uint8_t rec[8] = {0x0a, 0x23, 0xd7, 0xce, 8, 0, 0, 0};
    cr_expect_eq(lc_reader_open_mem(&r, rec, sizeof rec, "train.rec", &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "RecordIO"), "%s", err.msg);
    const uint8_t npy[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    cr_expect_eq(lc_reader_open_mem(&r, npy, sizeof npy, "x.npy", &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, ".npy"), "%s", err.msg);
    cr_expect_eq(lc_reader_open_mem(&r, npy, 0, "empty", &err), LC_ETRUNC);
    cr_expect(strstr(err.msg, "empty input"), "%s", err.msg);
}

Test(stream, newer_version_is_refused_with_a_hint)
{
    void *data;
    size_t len;
    make_stream(&data, &len, "images", NULL, 1);
    ((uint8_t *)data)[8] = 2;
    struct lc_err err;
    cr_expect_eq(read_all(data, len, &err, 1), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "version 2"), "%s", err.msg);
    free(data);
}

Test(stream, writer_validates_records)
{
    struct lc_out *o;
    struct lc_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_out_open_mem(&o, &err), 0);
    cr_expect_eq(lc_writer_open_out(&w, o, "Bad Kind", NULL, &err), LC_EINVAL);
    cr_expect_eq(lc_writer_open_out(&w, o, "x", "no equals sign\n", &err), LC_EINVAL);
    cr_assert_eq(lc_writer_open_out(&w, o, "tensors", "a=1\n", &err), 0);
    uint8_t px[6] = {0};
    uint32_t dims[2] = {2, 3};
    struct lc_record r = {.key = "line\nbreak"};
    lc_record_set_tensor(&r, LC_DTYPE_U8, 2, dims, px);
    cr_expect_eq(lc_writer_write(w, &r, &err), LC_EINVAL, "keys may not hold newlines");
    r.key = "ok";
    r.payload_len = 5;
    cr_expect_eq(lc_writer_write(w, &r, &err), LC_EINVAL, "payload must match the shape");
    cr_expect(strstr(err.msg, "does not match"), "%s", err.msg);
    r.payload_len = 6;
    r.dims[3] = 1;
    cr_expect_eq(lc_writer_write(w, &r, &err), LC_EINVAL, "dims beyond rank must be 0");
    r.dims[3] = 0;
    r.codec = LC_CODEC_JPEG;
    r.dtype = LC_DTYPE_F32;
    cr_expect_eq(lc_writer_write(w, &r, &err), LC_EINVAL, "encoded payloads are u8");
    r.dtype = LC_DTYPE_U8;
    cr_expect_eq(lc_writer_write(w, &r, &err), 0, "an encoded payload may have any length: %s", err.msg);
    cr_expect_eq(lc_writer_count(w), 1);
    cr_assert_eq(lc_writer_close(w, &err), 0);
    lc_out_free(o);
}

Test(stream, large_payload_through_a_pipe)
{
    /* 3 MiB f32 records exceed the reader's buffer: the direct-read path. */
    const uint32_t n = 3u << 18;
    float *v = malloc(n * sizeof *v);
    for (uint32_t i = 0; i < n; i++) v[i] = (float)i * 0.25f;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        struct lc_out *o;
        struct lc_writer *w;
        struct lc_err err;
        char path[64];
        snprintf(path, sizeof path, "/dev/fd/%d", fds[1]);
        if (lc_out_open_mem(&o, &err) || lc_writer_open_out(&w, o, "tensors", NULL, &err)) _exit(3);
        for (int k = 0; k < 3; k++) {
            struct lc_record r = {.key = "big"};
            lc_record_set_tensor(&r, LC_DTYPE_F32, 1, &n, v);
            if (lc_writer_write(w, &r, &err)) _exit(4);
        }
        if (lc_writer_close(w, &err)) _exit(5);
        const void *p;
        size_t len;
        lc_out_mem_data(o, &p, &len);
        if (lc_write_all(fds[1], p, len, "pipe", &err)) _exit(6);
        _exit(0);
    }
    close(fds[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    struct lc_reader *r;
    struct lc_err err;
    cr_assert_eq(lc_reader_open(&r, path, &err), 0, "%s", err.msg);
    struct lc_record rec;
    int k = 0;
    float *into = malloc(n * sizeof *into);
    int rc;
    while ((rc = lc_reader_next(r, &rec, &err)) == 1) {
        if (k == 1) {
            cr_assert_eq(lc_reader_payload_into(r, &rec, into, &err), 0, "%s", err.msg);
            cr_expect_eq(into[n - 1], (float)(n - 1) * 0.25f);
        } else if (k == 0) {
            cr_assert_eq(lc_reader_payload(r, &rec, &err), 0, "%s", err.msg);
            cr_expect_eq(memcmp(rec.payload, v, n * sizeof *v), 0);
        }
        k++;
    }
    cr_expect_eq(rc, 0, "%s", err.msg);
    cr_expect_eq(k, 3);
    lc_reader_free(r);
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(v);
    free(into);
}

Test(stream, named_output_appears_only_on_close)
{
    const char *dir = tu_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/out.sft", dir);
    struct lc_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_writer_open(&w, path, "images", NULL, &err), 0, "%s", err.msg);
    cr_expect_neq(access(path, F_OK), 0, "no file under the final name while writing");
    lc_writer_abort(w);
    cr_expect_neq(access(path, F_OK), 0, "an aborted stream leaves nothing");
    cr_assert_eq(lc_writer_open(&w, path, "images", NULL, &err), 0);
    cr_assert_eq(lc_writer_close(w, &err), 0);
    cr_expect_eq(access(path, F_OK), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    cr_expect_eq(system(cmd), 0, "no temporary files left behind");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}

Test(meta, get_set_add)
{
    char *m = NULL;
    char v[32];
    cr_assert_eq(lc_meta_set(&m, "channels", "BGR"), 0);
    cr_assert_eq(lc_meta_add(&m, "history", "a b"), 0);
    cr_assert_eq(lc_meta_add(&m, "history", "c"), 0);
    cr_assert_eq(lc_meta_set(&m, "channels", "RGB"), 0);
    cr_expect_str_eq(m, "history=a b\nhistory=c\nchannels=RGB\n");
    cr_expect(lc_meta_get(m, "history", v, sizeof v));
    cr_expect_str_eq(v, "a b");
    cr_expect_not(lc_meta_get(m, "chan", v, sizeof v), "a prefix is not a key");
    cr_expect_eq(lc_meta_set(&m, "bad key", "x"), LC_EINVAL);
    cr_expect_eq(lc_meta_set(&m, "k", "two\nlines"), LC_EINVAL);
    cr_expect_eq(lc_meta_validate(m, strlen(m), NULL), 0);
    cr_expect_neq(lc_meta_validate("=x\n", 3, NULL), 0);
    free(m);
}

Test(crc, equals_zlib_for_any_length_and_alignment)
{
    uint8_t buf[4200];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 2654435761u >> 13);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += len < 300 ? 1 : 97) {
            uint32_t want = (uint32_t)crc32_z(0, buf + off, len);
            cr_assert_eq(lc_crc32(0, buf + off, len), want, "off %zu len %zu", off, len);
            size_t cut = len / 3;
            cr_assert_eq(lc_crc32(lc_crc32(0, buf + off, cut), buf + off + cut, len - cut), want, "chained");
        }
}
