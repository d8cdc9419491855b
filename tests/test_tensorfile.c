/* tensorfile: files made by the safetensors library and by torch.save
 * (tests/make_golden_ckpt.py) read back to the values torch holds; our
 * writer byte-identical to the library's; broken files refused with the
 * right code and offset, never crashing (every truncation of a checkpoint). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dtype.h"
#include "tensorfile.h"
#include "testutil.h"

static const char *const FIX = "tests/fixtures/ckpt";

/* Compare entry e with the .npy its case holds (dots in names are
 * underscores there). bf16 entries were saved as float32. */
static void expect_entry(const char *cas, const struct lc_tensor_entry *e)
{
    char rel[256], nm[128];
    snprintf(nm, sizeof nm, "%s", e->name);
    for (char *c = nm; *c; c++)
        if (*c == '.') *c = '_';
    snprintf(rel, sizeof rel, "ckpt/%s/%s.npy", cas, nm);
    struct tu_array want = tu_fixture(rel);
    cr_assert_eq(e->rank, want.h.rank, "%s: rank %u, want %u", e->name, e->rank, want.h.rank);
    for (unsigned i = 0; i < e->rank; i++) cr_expect_eq((uint64_t)e->dims[i], want.h.dims[i], "%s dim %u", e->name, i);
    cr_assert_eq(e->numel, want.n, "%s", e->name);
    cr_assert_eq((uintptr_t)e->data % (lc_dtype_size(e->dtype) ? lc_dtype_size(e->dtype) : 1), 0, "%s is misaligned",
                 e->name);
    if (e->dtype == LC_DTYPE_BF16) {
        cr_assert_eq(want.h.dtype, LC_DTYPE_F32);
        const uint16_t *b = e->data;
        for (size_t i = 0; i < e->numel; i++) cr_expect_eq(lc_bf16_to_f32(b[i]), ((float *)want.data)[i], "%s[%zu]", e->name, i);
    } else {
        cr_assert_eq(e->dtype, want.h.dtype, "%s: dtype %s, want %s", e->name, lc_dtype_name(e->dtype),
                     lc_dtype_name(want.h.dtype));
        cr_expect_eq(e->bytes, (size_t)want.h.data_bytes, "%s", e->name);
        cr_expect(e->bytes == 0 || memcmp(e->data, want.data, e->bytes) == 0, "%s: values differ", e->name);
    }
    tu_free(&want);
}

static struct lc_tensor_file *open_ok(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", FIX, file);
    struct lc_tensor_file *f = NULL;
    struct lc_err err;
    cr_assert_eq(lc_tensor_file_open(&f, path, &err), 0, "%s: %s", path, err.msg);
    return f;
}

Test(tensorfile, reads_the_safetensors_library_output)
{
    struct lc_tensor_file *f = open_ok("st_torch.safetensors");
    cr_expect_str_eq(lc_tensor_file_format(f), "safetensors");
    cr_assert_eq(lc_tensor_file_count(f), 9);
    for (size_t i = 0; i < lc_tensor_file_count(f); i++) expect_entry("st_torch", lc_tensor_file_entry(f, i));
    cr_expect_str_eq(lc_tensor_file_meta(f, "arch"), "ir_18");
    cr_expect_str_eq(lc_tensor_file_meta(f, "format"), "pt");
    cr_expect_null(lc_tensor_file_meta(f, "nope"));
    const struct lc_tensor_entry *m = lc_tensor_file_find(f, "mask"), *n = lc_tensor_file_find(f, "bn.num_batches_tracked");
    cr_assert(m && n);
    cr_expect(m->is_bool);
    cr_expect_eq(n->rank, 0);
    cr_expect_eq(*(const int64_t *)n->data, 17);
    cr_expect_null(lc_tensor_file_find(f, "missing"));
    lc_tensor_file_close(f);
}

Test(tensorfile, reads_a_torch_state_dict_with_views_and_shared_storage)
{
    struct lc_tensor_file *f = open_ok("state_dict.pth");
    cr_expect_str_eq(lc_tensor_file_format(f), "pytorch");
    static const char *const names[] = {"linear.weight", "linear.bias", "bn.running_mean", "bn.num_batches_tracked",
                                        "view.transposed", "view.slice", "view.row", "half", "mask", "scalar"};
    cr_assert_eq(lc_tensor_file_count(f), 10);
    for (size_t i = 0; i < 10; i++) {
        const struct lc_tensor_entry *e = lc_tensor_file_entry(f, i);
        cr_expect_str_eq(e->name, names[i]); /* the dict's order */
        expect_entry("state_dict", e);
    }
    const struct lc_tensor_entry *n = lc_tensor_file_find(f, "bn.num_batches_tracked");
    cr_expect_eq(n->dtype, LC_DTYPE_I64);
    cr_expect_eq(*(const int64_t *)n->data, 42);
    cr_expect(lc_tensor_file_find(f, "mask")->is_bool);
    cr_expect_eq(lc_tensor_file_meta_count(f), 0);
    lc_tensor_file_close(f);
}

Test(tensorfile, reads_a_lightning_checkpoint)
{
    struct lc_tensor_file *f = open_ok("lightning.ckpt");
    cr_assert_eq(lc_tensor_file_count(f), 2, "only the state_dict's tensors, not the optimiser's");
    expect_entry("lightning", lc_tensor_file_find(f, "model.layer.weight"));
    expect_entry("lightning", lc_tensor_file_find(f, "head.kernel"));
    cr_expect_str_eq(lc_tensor_file_meta(f, "epoch"), "3");
    cr_expect_str_eq(lc_tensor_file_meta(f, "global_step"), "120");
    cr_expect_str_eq(lc_tensor_file_meta(f, "pytorch-lightning_version"), "1.8.6");
    lc_tensor_file_close(f);
}

static void expect_refused(const char *file, int code, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", FIX, file);
    struct lc_tensor_file *f = NULL;
    struct lc_err err;
    cr_assert_eq(lc_tensor_file_open(&f, path, &err), code, "%s: %s", file, err.msg);
    cr_expect(strstr(err.msg, text), "%s: %s", file, err.msg);
    cr_expect_str_eq(err.path, path);
}

Test(tensorfile, refuses_legacy_files_and_pickled_modules)
{
    expect_refused("legacy.pth", LC_EUNSUPPORTED, "legacy (PyTorch < 1.6)");
    expect_refused("module.pth", LC_EUNSUPPORTED, "a pickled torch.nn.modules.linear.Linear object, not a state dict");
}

Test(tensorfile, writer_matches_the_library_byte_for_byte)
{
    const char *dir = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    float a[6], b[3] = {1.5f, -2.25f, 3.0f}, d[5];
    for (int i = 0; i < 6; i++) a[i] = (float)i / 7;
    for (int i = 0; i < 5; i++) d[i] = (float)i;
    int64_t c = 5, da[2] = {2, 3}, db[1] = {3}, dd[1] = {5};
    struct lc_st_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_st_writer_open(&w, path, &err), 0);
    /* any order in, the library's order out */
    cr_assert_eq(lc_st_add(w, "d.odd", LC_DTYPE_F32, 1, dd, d, &err), 0);
    cr_assert_eq(lc_st_add(w, "c.count", LC_DTYPE_I64, 0, NULL, &c, &err), 0);
    cr_assert_eq(lc_st_add(w, "b.bias", LC_DTYPE_F32, 1, db, b, &err), 0);
    cr_assert_eq(lc_st_add(w, "a.weight", LC_DTYPE_F32, 2, da, a, &err), 0);
    cr_assert_eq(lc_st_meta(w, "arch", "test", &err), 0);
    cr_assert_eq(lc_st_writer_close(w, &err), 0, "%s", err.msg);
    size_t got_len, want_len;
    uint8_t *got = tu_read_file(path, &got_len), *want = tu_read_file("tests/fixtures/ckpt/st_writer.safetensors", &want_len);
    cr_assert_eq(got_len, want_len);
    cr_expect(memcmp(got, want, got_len) == 0, "bytes differ from the safetensors library's");
    free(got), free(want);
}

Test(tensorfile, writer_round_trips_every_dtype_and_refuses_bad_calls)
{
    const char *dir = tu_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/all.safetensors", dir);
    struct lc_st_writer *w;
    struct lc_err err;
    cr_assert_eq(lc_st_writer_open(&w, path, &err), 0);
    uint8_t raw[8 * 6];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)(i * 37 + 1);
    int64_t dims[2] = {2, 3}, zero[1] = {0};
    char name[32];
    for (int t = LC_DTYPE_U8; t <= LC_DTYPE_F64; t++) {
        snprintf(name, sizeof name, "t.%s", lc_dtype_name(t));
        cr_assert_eq(lc_st_add(w, name, t, 2, dims, raw, &err), 0, "%s", err.msg);
    }
    uint8_t bits[6] = {1, 0, 1, 1, 0, 0};
    cr_assert_eq(lc_st_add_bool(w, "bits", 2, dims, bits, &err), 0);
    cr_assert_eq(lc_st_add(w, "empty", LC_DTYPE_F32, 1, zero, NULL, &err), 0);
    cr_expect_eq(lc_st_add(w, "bits", LC_DTYPE_F32, 2, dims, raw, &err), LC_EINVAL);
    cr_expect(strstr(err.msg, "added twice"), "%s", err.msg);
    cr_expect_eq(lc_st_add(w, "__metadata__", LC_DTYPE_F32, 2, dims, raw, &err), LC_EINVAL);
    int64_t neg[1] = {-1};
    cr_expect_eq(lc_st_add(w, "neg", LC_DTYPE_F32, 1, neg, raw, &err), LC_EINVAL);
    cr_expect_eq(lc_st_add(w, "none", LC_DTYPE_NONE, 1, dims, raw, &err), LC_EINVAL);
    cr_expect_eq(lc_st_meta(w, "k", "\xff\xfe", &err), LC_EINVAL);
    cr_assert_eq(lc_st_meta(w, "k", "v1", &err), 0);
    cr_assert_eq(lc_st_meta(w, "k", "v2", &err), 0);
    cr_assert_eq(lc_st_writer_close(w, &err), 0, "%s", err.msg);
    struct lc_tensor_file *f;
    cr_assert_eq(lc_tensor_file_open(&f, path, &err), 0, "%s", err.msg);
    cr_expect_eq(lc_tensor_file_count(f), 14);
    for (int t = LC_DTYPE_U8; t <= LC_DTYPE_F64; t++) {
        snprintf(name, sizeof name, "t.%s", lc_dtype_name(t));
        const struct lc_tensor_entry *e = lc_tensor_file_find(f, name);
        cr_assert(e, "%s", name);
        cr_expect_eq(e->dtype, t);
        cr_expect_eq(e->rank, 2);
        cr_expect(memcmp(e->data, raw, e->bytes) == 0 && e->bytes == 6 * lc_dtype_size(t), "%s", name);
    }
    const struct lc_tensor_entry *bb = lc_tensor_file_find(f, "bits");
    cr_expect(bb->is_bool && memcmp(bb->data, bits, 6) == 0);
    cr_expect_eq(lc_tensor_file_find(f, "empty")->numel, 0);
    cr_expect_str_eq(lc_tensor_file_meta(f, "k"), "v2");
    lc_tensor_file_close(f);

    /* an unwritable destination fails on close and leaves nothing behind */
    snprintf(path, sizeof path, "%s/missing/x.safetensors", dir);
    cr_assert_eq(lc_st_writer_open(&w, path, &err), 0);
    cr_expect_neq(lc_st_writer_close(w, &err), 0);
    struct stat sb;
    cr_expect_neq(stat(path, &sb), 0);
    /* abort writes nothing */
    snprintf(path, sizeof path, "%s/aborted.safetensors", dir);
    cr_assert_eq(lc_st_writer_open(&w, path, &err), 0);
    cr_assert_eq(lc_st_add(w, "x", LC_DTYPE_U8, 2, dims, raw, &err), 0);
    lc_st_writer_abort(w);
    cr_expect_neq(stat(path, &sb), 0);
}

/* A safetensors file from a header text and n data bytes. */
static size_t make_st(uint8_t *buf, const char *hdr, size_t data_bytes)
{
    size_t hl = strlen(hdr);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    memset(buf + 8 + hl, 0x3c, data_bytes);
    return 8 + hl + data_bytes;
}

Test(tensorfile, broken_safetensors_are_refused_with_offsets)
{
    struct {
        const char *hdr;
        size_t data;
        int code;
        const char *text;
        int64_t offset;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "", -1},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7, LC_ETRUNC, "past the end", 62},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9, LC_EFORMAT, "1 bytes after the last", 70},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, LC_EFORMAT, "its shape needs 12", 8},
        {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, LC_EUNSUPPORTED, "dtype F8_E4M3", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, LC_EFORMAT, "overlap or leave a gap", 66},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
         8, LC_EFORMAT, "overlap or leave a gap", -1},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, LC_EFORMAT, "duplicate", -1},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, LC_EFORMAT, "shape entries", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, LC_EFORMAT, "needs dtype, shape and data_offsets", 8},
        {"{\"__metadata__\":{\"k\":3}}", 0, LC_EFORMAT, "metadata \"k\" is not a string", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, LC_EFORMAT, "safetensors header:", -1},
        {"[1,2]", 0, LC_EFORMAT, "not a JSON object", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8, LC_EFORMAT,
         "bad shape", 8},
    };
    uint8_t buf[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len = make_st(buf, cases[i].hdr, cases[i].data);
        struct lc_tensor_file *f = NULL;
        struct lc_err err = {0};
        int rc = lc_tensor_file_open_mem(&f, buf, len, "case", &err);
        cr_expect_eq(rc, cases[i].code, "case %zu: %d %s", i, rc, err.msg);
        if (!rc) {
            lc_tensor_file_close(f);
            continue;
        }
        cr_expect(strstr(err.msg, cases[i].text), "case %zu: %s", i, err.msg);
        if (cases[i].offset >= 0) cr_expect_eq(err.offset, cases[i].offset, "case %zu: offset %lld", i, (long long)err.offset);
        cr_expect_str_eq(err.path, "case");
    }
    /* header length past the end, and absurd */
    uint8_t small[12] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    struct lc_tensor_file *f;
    struct lc_err err;
    cr_expect_eq(lc_tensor_file_open_mem(&f, small, sizeof small, "s", &err), LC_ETRUNC);
    small[6] = 1;
    cr_expect_eq(lc_tensor_file_open_mem(&f, small, sizeof small, "s", &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "exceeds"), "%s", err.msg);
    cr_expect_eq(lc_tensor_file_open_mem(&f, small, 5, "s", &err), LC_ETRUNC);
}

/* Every prefix of a checkpoint, and every single-byte corruption of its
 * pickle, either opens or fails with an error: no crash, no leak (the
 * sanitizer build runs this too). */
static void torture(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", FIX, file);
    size_t len;
    uint8_t *b = tu_read_file(path, &len);
    size_t failed = 0;
    for (size_t cut = 0; cut < len; cut++) {
        struct lc_tensor_file *f = NULL;
        struct lc_err err;
        if (lc_tensor_file_open_mem(&f, b, cut, file, &err) == 0) lc_tensor_file_close(f);
        else {
            failed++;
            cr_assert(err.msg[0], "%s cut at %zu: empty message", file, cut);
        }
    }
    cr_expect_gt(failed, len / 2, "%s: most truncations must fail", file);
    for (size_t i = 0; i < len; i++) {
        uint8_t keep = b[i];
        b[i] ^= 0x5a;
        struct lc_tensor_file *f = NULL;
        struct lc_err err;
        if (lc_tensor_file_open_mem(&f, b, len, file, &err) == 0) lc_tensor_file_close(f);
        b[i] = keep;
    }
    free(b);
}

Test(tensorfile, truncated_and_corrupted_files_fail_cleanly)
{
    torture("state_dict.pth");
    torture("lightning.ckpt");
    torture("st_torch.safetensors");
}
