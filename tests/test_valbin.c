/* valbin: .bin verification sets as every writer lays them out (Python 3
 * protocols 2-4, Python 2 protocols 0 and 2, numpy issame) load to the
 * images and flags make_golden.py put in; malformed and hostile sets fail
 * with the item index and byte offset; the real faceid-processing sets
 * hold exactly the JPEG files of their source repository. */
#include <ftw.h>
#include <strings.h>

#include "testutil.h"
#include "valbin.h"

static uint8_t *fx(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/pickle/%s", name);
    return tu_read_file(path, len);
}

static int inside(const void *p, const uint8_t *b, size_t len)
{
    return (const uint8_t *)p >= b && (const uint8_t *)p < b + len;
}

Test(valbin, every_writer_layout_loads)
{
    /* what make_golden.py pickled: valbin_expect.txt names the images */
    size_t elen;
    char *expect = (char *)fx("valbin_expect.txt", &elen);
    expect[elen] = '\0';
    uint8_t *img[6];
    size_t img_len[6], n_img = 0;
    uint8_t issame[3];
    for (char *line = strtok(expect, "\n"); line; line = strtok(NULL, "\n")) {
        char path[256];
        if (strncmp(line, "image ", 6) == 0) {
            cr_assert_lt(n_img, 6);
            snprintf(path, sizeof path, "tests/fixtures/image/%s", line + 6);
            img[n_img] = tu_read_file(path, &img_len[n_img]);
            n_img++;
        } else {
            cr_assert_eq(sscanf(line, "issame %hhu %hhu %hhu", &issame[0], &issame[1], &issame[2]), 3);
        }
    }
    cr_assert_eq(n_img, 6);
    struct {
        const char *file;
        int zero_copy;
    } cases[] = {
        {"valbin_p2.bin", 0},          {"valbin_p3.bin", 1},         {"valbin_p4.bin", 1},
        {"valbin_py2_p0.bin", 0},      {"valbin_py2_p2.bin", 1},     {"valbin_npbool_p2.bin", 0},
        {"valbin_npbool_p4.bin", 1},   {"valbin_npscalar_p4.bin", 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t len;
        uint8_t *b = fx(cases[c].file, &len);
        struct lc_valbin *v;
        struct lc_err err;
        int rc = lc_valbin_parse(&v, b, len, cases[c].file, &err);
        char buf[1200];
        cr_assert_eq(rc, 0, "%s", lc_err_format(&err, buf, sizeof buf));
        cr_assert_eq(v->n_pairs, 3, "%s", cases[c].file);
        for (size_t i = 0; i < 6; i++) {
            cr_expect(v->sizes[i] == img_len[i] && memcmp(v->images[i], img[i], img_len[i]) == 0,
                      "%s: image %zu differs", cases[c].file, i);
            cr_expect_eq(inside(v->images[i], b, len), cases[c].zero_copy, "%s: image %zu", cases[c].file, i);
        }
        for (size_t i = 0; i < 3; i++) cr_expect_eq(v->issame[i], issame[i], "%s: issame %zu", cases[c].file, i);
        lc_valbin_free(v);
        free(b);
    }
    for (size_t i = 0; i < 6; i++) free(img[i]);
    free(expect);
    lc_valbin_free(NULL);
}

Test(valbin, load_reads_a_path)
{
    struct lc_valbin *v;
    struct lc_err err;
    cr_assert_eq(lc_valbin_load(&v, "tests/fixtures/pickle/valbin_p4.bin", &err), 0, "%s", err.msg);
    cr_expect_eq(v->n_pairs, 3);
    cr_expect_eq(v->images[0][0], 0xff);
    lc_valbin_free(v);
    cr_expect_eq(lc_valbin_load(&v, "tests/fixtures/pickle/no-such.bin", &err), LC_EIO);
    cr_expect_null(v);
    cr_expect_str_eq(err.path, "tests/fixtures/pickle/no-such.bin");
    cr_expect_eq(lc_valbin_load(&v, "tests/fixtures/pickle/valbin_int_item.bin", &err), LC_EFORMAT);
    cr_expect_str_eq(err.path, "tests/fixtures/pickle/valbin_int_item.bin");
    cr_expect_eq(err.record, 3);
}

Test(valbin, bad_sets_name_the_item_and_offset)
{
    struct {
        const char *file;
        int code;
        const char *text;
        int64_t record;
    } cases[] = {
        {"valbin_count_mismatch.bin", LC_EFORMAT, "bins has 5 images but issame_list has 3 values", -1},
        {"valbin_int_item.bin", LC_EFORMAT, "bins item 3: expected bytes, found an int", 3},
        {"valbin_text_item.bin", LC_EFORMAT, "bins item 2: expected bytes, found a unicode", 2},
        {"valbin_empty_item.bin", LC_EFORMAT, "bins item 5 is empty", 5},
        {"valbin_not_bool.bin", LC_EFORMAT, "issame item 1 is 2, not a bool", 1},
        {"valbin_trailing.bin", LC_EFORMAT, "5 bytes of trailing data after STOP", -1},
        {"valbin_evil.bin", LC_EUNSUPPORTED, "posix.system, which is not allowed", -1},
        {"nested_p4.pkl", LC_EFORMAT, "expected a pickled pair (bins, issame_list), found a dict", -1},
        {"ordereddict_p4.pkl", LC_EUNSUPPORTED, "collections.OrderedDict, which is not allowed", -1},
        {"deep_marks.pkl", LC_EUNSUPPORTED, "MARKs nested deeper", -1},
        {"binbytes_past_end.pkl", LC_ETRUNC, "BINBYTES", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        uint8_t *b = fx(cases[i].file, &len);
        struct lc_valbin *v = (struct lc_valbin *)1;
        struct lc_err err;
        int rc = lc_valbin_parse(&v, b, len, cases[i].file, &err);
        cr_expect_eq(rc, cases[i].code, "%s: %d %s", cases[i].file, rc, err.msg);
        cr_expect_null(v);
        cr_expect(strstr(err.msg, cases[i].text), "%s: %s", cases[i].file, err.msg);
        cr_expect_eq(err.record, cases[i].record, "%s: record %lld", cases[i].file, (long long)err.record);
        cr_expect(err.offset >= 0 && err.offset <= (int64_t)len, "%s: offset %lld", cases[i].file,
                  (long long)err.offset);
        cr_expect_str_eq(err.path, cases[i].file);
        free(b);
    }
}

Test(valbin, a_list_of_sets_in_memory)
{
    /* hand-made: ([b'x', b'y'], [True]) with issame as an int, and cases
     * the pickle layer accepts but a .bin must not be */
    static const uint8_t ok[] = "\x80\x03]q\x00(C\x01xC\x01ye]K\x01" "a\x86.";
    static const uint8_t none[] = "\x80\x03]]\x86.";
    static const uint8_t three[] = "\x80\x03]]N\x87.";
    static const uint8_t issame_str[] = "\x80\x03]C\x01x\x86.";
    struct lc_valbin *v;
    struct lc_err err;
    cr_assert_eq(lc_valbin_parse(&v, ok, sizeof ok - 1, "ok", &err), 0, "%s", err.msg);
    cr_expect(v->n_pairs == 1 && v->issame[0] == 1 && v->sizes[0] == 1 && v->images[1][0] == 'y');
    lc_valbin_free(v);
    cr_expect_eq(lc_valbin_parse(&v, none, sizeof none - 1, "none", &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "no pairs"), "%s", err.msg);
    cr_expect_eq(lc_valbin_parse(&v, three, sizeof three - 1, "three", &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "tuple of length 3"), "%s", err.msg);
    cr_expect_eq(lc_valbin_parse(&v, issame_str, sizeof issame_str - 1, "str", &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "issame_list: expected a numpy array, found a bytes"), "%s", err.msg);
}

Test(valbin, truncation_at_every_byte_fails_cleanly)
{
    const char *files[] = {"valbin_p2.bin", "valbin_p4.bin", "valbin_py2_p0.bin", "valbin_py2_p2.bin",
                           "valbin_npbool_p2.bin", "valbin_npscalar_p4.bin"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t len;
        uint8_t *b = fx(files[f], &len);
        for (size_t k = 0; k < len; k++) {
            uint8_t *cut = malloc(k ? k : 1); /* the prefix ends its allocation: ASan sees overreads */
            memcpy(cut, b, k);
            struct lc_valbin *v = NULL;
            struct lc_err err;
            int rc = lc_valbin_parse(&v, cut, k, files[f], &err);
            cr_expect_lt(rc, 0, "%s cut at %zu was accepted", files[f], k);
            if (rc < 0) cr_expect(err.offset >= 0 && err.offset <= (int64_t)k, "%s cut at %zu", files[f], k);
            lc_valbin_free(v);
            free(cut);
        }
        free(b);
    }
}

/* ---- real data: faceid-processing's training.bin and validation.bin */

static const char *shared_data(void)
{
    const char *d = getenv("LC_SHARED_DATA");
    return d && *d ? d : "../shared/data";
}

struct jpg {
    uint64_t hash;
    size_t len;
    uint8_t *data;
};

static struct jpg *jpgs;
static size_t n_jpgs, cap_jpgs;

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int add_jpg(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 4 || strcasecmp(path + n - 4, ".jpg") != 0) return 0;
    if (n_jpgs == cap_jpgs) {
        cap_jpgs = cap_jpgs ? cap_jpgs * 2 : 1024;
        jpgs = realloc(jpgs, cap_jpgs * sizeof *jpgs);
    }
    struct jpg *j = &jpgs[n_jpgs++];
    j->data = tu_read_file(path, &j->len);
    j->hash = fnv1a(j->data, j->len);
    return 0;
}

static int by_hash(const void *a, const void *b)
{
    const struct jpg *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

Test(valbin, real_sets_hold_the_source_jpegs)
{
    char dir[1024], path[1024];
    snprintf(dir, sizeof dir, "%s/faces/faceid-processing", shared_data());
    snprintf(path, sizeof path, "%s/verification_bin/faceid-processing/training.bin", shared_data());
    if (access(path, R_OK) != 0 || access(dir, R_OK) != 0)
        cr_skip_test("real data not found under %s (set LC_SHARED_DATA)", shared_data());
    cr_assert_eq(nftw(dir, add_jpg, 16, FTW_PHYS), 0);
    cr_assert_gt(n_jpgs, 2000, "only %zu JPEGs under %s", n_jpgs, dir);
    qsort(jpgs, n_jpgs, sizeof *jpgs, by_hash);
    const char *sets[] = {"training.bin", "validation.bin"};
    for (size_t s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/verification_bin/faceid-processing/%s", shared_data(), sets[s]);
        struct lc_valbin *v;
        struct lc_err err;
        char buf[1200];
        cr_assert_eq(lc_valbin_load(&v, path, &err), 0, "%s", lc_err_format(&err, buf, sizeof buf));
        cr_expect_eq(v->n_pairs, 749, "%s", sets[s]);
        size_t same = 0, found = 0;
        for (size_t i = 0; i < v->n_pairs; i++) same += v->issame[i];
        cr_expect_eq(same, 749, "%s: all pairs are positive", sets[s]);
        for (size_t i = 0; i < 2 * v->n_pairs; i++) {
            struct jpg key = {.hash = fnv1a(v->images[i], v->sizes[i])};
            struct jpg *j = bsearch(&key, jpgs, n_jpgs, sizeof *jpgs, by_hash);
            while (j && j > jpgs && j[-1].hash == key.hash) j--;
            int hit = 0;
            for (; j && j < jpgs + n_jpgs && j->hash == key.hash && !hit; j++)
                hit = j->len == v->sizes[i] && memcmp(j->data, v->images[i], j->len) == 0;
            found += (size_t)hit;
            cr_expect(hit, "%s: image %zu (%zu bytes) is not byte-identical to any source JPEG", sets[s], i,
                      v->sizes[i]);
        }
        cr_expect_eq(found, 1498, "%s", sets[s]);
        lc_valbin_free(v);
    }
    for (size_t i = 0; i < n_jpgs; i++) free(jpgs[i].data);
    free(jpgs);
}

Test(valbin, written_sets_read_back_and_python_reads_them)
{
    const char *dir = tu_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/pairs.bin", dir);
    size_t la, lb;
    uint8_t *a = tu_read_file("tests/fixtures/image/jpeg420.jpg", &la), *b = tu_read_file("tests/fixtures/image/png8.png", &lb);
    const uint8_t *imgs[6] = {a, b, b, a, (const uint8_t *)"tiny", a};
    size_t sizes[6] = {la, lb, lb, la, 4, la};
    uint8_t same[3] = {1, 0, 1};
    struct lc_err err;
    cr_assert_eq(lc_valbin_write(path, imgs, sizes, 3, same, &err), 0, "%s", err.msg);
    struct lc_valbin *v;
    cr_assert_eq(lc_valbin_load(&v, path, &err), 0, "%s", err.msg);
    cr_expect_eq(v->n_pairs, 3);
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(v->sizes[i], sizes[i]);
        cr_expect_eq(memcmp(v->images[i], imgs[i], sizes[i]), 0);
    }
    cr_expect(v->issame[0] == 1 && v->issame[1] == 0 && v->issame[2] == 1);
    lc_valbin_free(v);
    char cmd[800];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import pickle,sys; b,s=pickle.load(open('%s','rb')); "
             "sys.exit(0 if len(b)==6 and list(s)==[True,False,True] and b[4]==b'tiny' else 1)\"",
             path);
    cr_expect_eq(system(cmd), 0, "Python's pickle reads the set");
    free(a), free(b);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}
