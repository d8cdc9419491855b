/* pickle: values match what Python pickled (tests/make_golden.py renders
 * the same value as text), numpy/PyTorch/OrderedDict layouts come out as
 * their writers meant, and hostile, broken or truncated pickles fail with
 * an error that names the opcode's byte offset, never a crash or a leak. */
#include <stdarg.h>

#include "dtype.h"
#include "pickle.h"
#include "testutil.h"

typedef struct lc_pickle_value value;

static const char *const allow_bytes[] = {"_codecs.encode", "__builtin__.bytes", "builtins.bytes", NULL};

static uint8_t *fx(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/pickle/%s", name);
    return tu_read_file(path, len);
}

static struct lc_pickle *parse_ok(const void *data, size_t len, const struct lc_pickle_opts *o, const char *name)
{
    struct lc_pickle *p;
    struct lc_err err;
    int rc = lc_pickle_parse(&p, data, len, o, name, &err);
    char buf[1200];
    cr_assert_eq(rc, 0, "%s: %s", name, lc_err_format(&err, buf, sizeof buf));
    return p;
}

/* ---- the same rendering as render() in make_golden.py */

struct sb {
    char *s;
    size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void sb_put(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)k + 1 > b->cap) {
        b->cap = (b->n + (size_t)k + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

static void put_escaped(struct sb *b, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' && s[i] != '\'') sb_put(b, "%c", s[i]);
        else sb_put(b, "\\x%02x", s[i]);
    }
}

static void render(struct lc_pickle *p, const value *v, struct sb *b, int depth)
{
    cr_assert_lt(depth, 64, "value nests too deeply for render");
    const uint8_t *data;
    size_t n;
    switch (v->type) {
    case LC_PICKLE_NONE: sb_put(b, "None"); break;
    case LC_PICKLE_BOOL: sb_put(b, v->u.i ? "True" : "False"); break;
    case LC_PICKLE_INT: sb_put(b, "%lld", (long long)v->u.i); break;
    case LC_PICKLE_FLOAT: sb_put(b, "%.17g", v->u.f); break;
    case LC_PICKLE_UNICODE:
        sb_put(b, "u'");
        put_escaped(b, v->u.str.data, v->u.str.len);
        sb_put(b, "'");
        break;
    case LC_PICKLE_TUPLE:
    case LC_PICKLE_LIST:
        sb_put(b, v->type == LC_PICKLE_LIST ? "[" : "(");
        for (size_t i = 0; i < v->u.seq.len; i++) {
            if (i) sb_put(b, ", ");
            render(p, v->u.seq.items[i], b, depth + 1);
        }
        sb_put(b, v->type == LC_PICKLE_LIST ? "]" : ")");
        break;
    case LC_PICKLE_DICT:
        sb_put(b, "{");
        for (size_t i = 0; i < v->u.seq.len; i++) {
            if (i) sb_put(b, ", ");
            render(p, v->u.seq.items[2 * i], b, depth + 1);
            sb_put(b, ": ");
            render(p, v->u.seq.items[2 * i + 1], b, depth + 1);
        }
        sb_put(b, "}");
        break;
    default: /* BYTES, STR and the objects that stand for bytes */
        if (lc_pickle_as_bytes(p, v, &data, &n, NULL) == 0) {
            sb_put(b, "b'");
            put_escaped(b, data, n);
            sb_put(b, "'");
        } else {
            sb_put(b, "<%s>", lc_pickle_type_name(v->type));
        }
    }
}

Test(pickle, nested_value_matches_python_in_every_protocol)
{
    size_t tlen;
    char *want = (char *)fx("nested.txt", &tlen);
    want[tlen] = '\0';
    if (tlen && want[tlen - 1] == '\n') want[--tlen] = '\0';
    struct lc_pickle_opts o = {.allow = allow_bytes};
    for (int proto = 0; proto <= 5; proto++) {
        char name[64];
        size_t len;
        snprintf(name, sizeof name, "nested_p%d.pkl", proto);
        uint8_t *b = fx(name, &len);
        struct lc_pickle *p = parse_ok(b, len, &o, name);
        cr_expect_eq(lc_pickle_proto(p), proto >= 2 ? proto : 0, "%s", name);
        cr_expect_eq(lc_pickle_end(p), len);
        struct sb s = {0};
        render(p, lc_pickle_root(p), &s, 0);
        size_t i = 0;
        while (i < s.n && i < tlen && s.s[i] == want[i]) i++;
        cr_expect(i == s.n && i == tlen, "%s differs at char %zu:\n got ...%.60s\nwant ...%.60s", name, i, s.s + i,
                  want + i);
        free(s.s);
        lc_pickle_free(p);
        free(b);
    }
    free(want);
}

Test(pickle, memo_makes_shared_values)
{
    struct lc_pickle_opts o = {.allow = allow_bytes};
    const char *names[] = {"nested_p0.pkl", "nested_p2.pkl", "nested_p4.pkl"};
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        uint8_t *b = fx(names[i], &len);
        struct lc_pickle *p = parse_ok(b, len, &o, names[i]);
        const value *root = lc_pickle_root(p);
        const value *shared = lc_pickle_get(root, "shared");
        const value *k = lc_pickle_get(lc_pickle_get(root, "nested"), "k");
        cr_assert(shared && k);
        cr_expect_eq(lc_pickle_item(k, 0), shared, "%s", names[i]);
        cr_expect_eq(lc_pickle_item(k, 1), shared, "%s", names[i]);
        cr_expect_eq(lc_pickle_len(shared), 3);
        lc_pickle_free(p);
        free(b);
    }
}

Test(pickle, a_list_may_contain_itself)
{
    static const uint8_t b[] = "\x80\x02]q\x00h\x00" "a.";
    struct lc_pickle *p = parse_ok(b, sizeof b - 1, NULL, "cycle");
    const value *root = lc_pickle_root(p);
    cr_expect_eq(root->type, LC_PICKLE_LIST);
    cr_expect_eq(lc_pickle_item(root, 0), root);
    lc_pickle_free(p);
}

struct scalar_case {
    const char *bytes;
    size_t len;
    int type;
    int64_t i;
    double f;
};

#define SC(lit, t, iv, fv) {lit, sizeof lit - 1, t, iv, fv}

Test(pickle, scalars_in_every_encoding)
{
    static const struct scalar_case cases[] = {
        SC("\x80\x02\x8a\x00.", LC_PICKLE_INT, 0, 0),
        SC("\x80\x02\x8a\x01\xff.", LC_PICKLE_INT, -1, 0),
        SC("\x80\x02\x8a\x02\x00\x80.", LC_PICKLE_INT, -32768, 0),
        SC("\x80\x02\x8a\x03\x00\x80\x00.", LC_PICKLE_INT, 32768, 0),
        SC("\x80\x02\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f.", LC_PICKLE_INT, INT64_MAX, 0),
        SC("\x80\x02\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80.", LC_PICKLE_INT, INT64_MIN, 0),
        SC("\x80\x02\x8a\x0a\x00\x00\x00\x00\x00\x00\x00\x80\xff\xff.", LC_PICKLE_INT, INT64_MIN, 0),
        SC("\x80\x02\x8b\x03\x00\x00\x00\x01\x02\x03.", LC_PICKLE_INT, 0x030201, 0),
        SC("\x80\x02J\xfe\xff\xff\xff.", LC_PICKLE_INT, -2, 0),
        SC("\x80\x02K\xff.", LC_PICKLE_INT, 255, 0),
        SC("\x80\x02M\xff\xff.", LC_PICKLE_INT, 65535, 0),
        SC("I-5\n.", LC_PICKLE_INT, -5, 0),
        SC("I01\n.", LC_PICKLE_BOOL, 1, 0),
        SC("I00\n.", LC_PICKLE_BOOL, 0, 0),
        SC("L-9223372036854775808L\n.", LC_PICKLE_INT, INT64_MIN, 0),
        SC("L123\n.", LC_PICKLE_INT, 123, 0),
        SC("\x80\x02\x88.", LC_PICKLE_BOOL, 1, 0),
        SC("\x80\x02\x89.", LC_PICKLE_BOOL, 0, 0),
        SC("F-1.5e3\n.", LC_PICKLE_FLOAT, 0, -1500.0),
        SC("G\x3f\xf8\x00\x00\x00\x00\x00\x00.", LC_PICKLE_FLOAT, 0, 1.5),
        SC("N.", LC_PICKLE_NONE, 0, 0),
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct lc_pickle *p;
        struct lc_err err;
        int rc = lc_pickle_parse(&p, cases[i].bytes, cases[i].len, NULL, "case", &err);
        cr_assert_eq(rc, 0, "case %zu: %s", i, err.msg);
        const value *v = lc_pickle_root(p);
        cr_expect_eq(v->type, cases[i].type, "case %zu: type %s", i, lc_pickle_type_name(v->type));
        if (v->type == LC_PICKLE_FLOAT) cr_expect_eq(v->u.f, cases[i].f, "case %zu: %g", i, v->u.f);
        else if (v->type != LC_PICKLE_NONE) cr_expect_eq(v->u.i, cases[i].i, "case %zu: %lld", i, (long long)v->u.i);
        lc_pickle_free(p);
    }
}

struct text_case {
    const char *in;
    size_t in_len;
    const char *want;
    size_t want_len;
    int type;
};

#define TC(in, want, t) {in, sizeof in - 1, want, sizeof want - 1, t}

Test(pickle, strings_in_every_encoding)
{
    static const struct text_case cases[] = {
        TC("S'a\\x41\\n\\'\\101\\q\\\\'\n.", "aA\n'A\\q\\", LC_PICKLE_STR),
        TC("S\"it's\"\n.", "it's", LC_PICKLE_STR),
        TC("Vx\\u00e9\\U0001f600\\\\u0041\\\\\\u0042\n.", "x\xc3\xa9\xf0\x9f\x98\x80\\\\u0041\\\\B", LC_PICKLE_UNICODE),
        TC("V\xe9\n.", "\xc3\xa9", LC_PICKLE_UNICODE),
        TC("\x80\x03X\x02\x00\x00\x00\xc3\xa9.", "\xc3\xa9", LC_PICKLE_UNICODE),
        TC("\x80\x04\x8c\x03\xed\xa0\x80.", "\xed\xa0\x80", LC_PICKLE_UNICODE), /* a lone surrogate passes */
        TC("\x80\x04\x8d\x01\x00\x00\x00\x00\x00\x00\x00z.", "z", LC_PICKLE_UNICODE),
        TC("\x80\x02U\x03" "a\x00" "b.", "a\x00" "b", LC_PICKLE_STR),
        TC("\x80\x02T\x01\x00\x00\x00" "c.", "c", LC_PICKLE_STR),
        TC("\x80\x03" "C\x01" "d.", "d", LC_PICKLE_BYTES),
        TC("\x80\x03" "B\x01\x00\x00\x00" "e.", "e", LC_PICKLE_BYTES),
        TC("\x80\x04\x8e\x01\x00\x00\x00\x00\x00\x00\x00" "f.", "f", LC_PICKLE_BYTES),
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct lc_pickle *p = parse_ok(cases[i].in, cases[i].in_len, NULL, "case");
        const value *v = lc_pickle_root(p);
        cr_expect_eq(v->type, cases[i].type, "case %zu", i);
        cr_expect(v->u.str.len == cases[i].want_len && memcmp(v->u.str.data, cases[i].want, cases[i].want_len) == 0,
                  "case %zu: got '%.*s'", i, (int)v->u.str.len, v->u.str.data);
        if (v->type != LC_PICKLE_STR && v->type != LC_PICKLE_UNICODE)
            cr_expect(v->u.str.data >= (const uint8_t *)cases[i].in &&
                          v->u.str.data < (const uint8_t *)cases[i].in + cases[i].in_len,
                      "case %zu: bytes are not zero-copy", i);
        lc_pickle_free(p);
    }
    static const struct text_case bad[] = {
        TC("S'unquoted\n.", "", 0),
        TC("Vbad\\u12\n.", "", 0),
        TC("Vbad\\U00110000\n.", "", 0),
        TC("S'trailing\\'\n.", "", 0),
        TC("\x80\x03X\x01\x00\x00\x00\xff.", "", 0),
        TC("\x80\x03X\x03\x00\x00\x00\xe0\x80\x80.", "", 0),
        TC("\x80\x03X\x02\x00\x00\x00\xc3.", "", 0),
        TC("S'\\x4'\n.", "", 0),
        TC("F1.5x\n.", "", 0),
        TC("Iabc\n.", "", 0),
        TC("\x80\x02T\xff\xff\xff\xff.", "", 0),
        TC("\x80\x02\x8b\xff\xff\xff\xff.", "", 0),
        TC("P\xc3\xa9\n.", "", 0),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct lc_pickle *p;
        struct lc_err err;
        cr_expect_eq(lc_pickle_parse(&p, bad[i].in, bad[i].in_len, NULL, "bad", &err), LC_EFORMAT, "bad %zu: %s", i,
                     err.msg);
    }
}

Test(pickle, globals_need_the_allowlist)
{
    struct {
        const char *file, *global;
        int64_t offset;
    } cases[] = {
        {"evil_os_system_p0.pkl", "os.system", 0},
        {"evil_inst_p0.pkl", "os.system", 15},
        {"evil_eval_p4.pkl", "builtins.eval", 29},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        uint8_t *b = fx(cases[i].file, &len);
        struct lc_pickle *p;
        struct lc_err err;
        cr_expect_eq(lc_pickle_parse(&p, b, len, NULL, cases[i].file, &err), LC_EUNSUPPORTED, "%s", cases[i].file);
        char want[128];
        snprintf(want, sizeof want, "refers to %s, which is not allowed", cases[i].global);
        cr_expect(strstr(err.msg, want), "%s: %s", cases[i].file, err.msg);
        cr_expect_eq(err.offset, cases[i].offset, "%s: offset %lld", cases[i].file, (long long)err.offset);
        cr_expect_str_eq(err.path, cases[i].file);
        /* allowed, it is only named: an inert object for the caller */
        const char *allow[] = {cases[i].global, NULL};
        struct lc_pickle_opts o = {.allow = allow};
        p = parse_ok(b, len, &o, cases[i].file);
        const value *root = lc_pickle_root(p);
        cr_expect(lc_pickle_is_call(root, cases[i].global), "%s", cases[i].file);
        cr_expect_eq(root->how, i == 1 ? LC_PICKLE_INST : LC_PICKLE_REDUCE);
        cr_expect_eq(lc_pickle_len(root->u.obj.args), 1);
        lc_pickle_free(p);
        /* wildcards: the module's "*" and the catch-all; another module's
         * "*" does not match, nor does a prefix of the module name */
        char modstar[64];
        snprintf(modstar, sizeof modstar, "%.*s.*", (int)(strchr(cases[i].global, '.') - cases[i].global),
                 cases[i].global);
        const char *allow_mod[] = {"numpy.*", "o.*", modstar, NULL}, *allow_any[] = {"*", NULL},
                   *allow_other[] = {"numpy.*", "o.*", "builtin.*", NULL};
        o.allow = allow_mod;
        lc_pickle_free(parse_ok(b, len, &o, cases[i].file));
        o.allow = allow_any;
        lc_pickle_free(parse_ok(b, len, &o, cases[i].file));
        o.allow = allow_other;
        cr_expect_eq(lc_pickle_parse(&p, b, len, &o, cases[i].file, &err), LC_EUNSUPPORTED, "%s", cases[i].file);
        free(b);
    }
}

Test(pickle, hostile_and_broken_pickles_fail_with_the_opcode_offset)
{
    struct {
        const char *file;
        int code;
        const char *text;
        int64_t offset;
    } cases[] = {
        {"deep_marks.pkl", LC_EUNSUPPORTED, "MARKs nested deeper than 1024", 2 + 1024},
        {"binbytes_past_end.pkl", LC_ETRUNC, "BINBYTES needs 2147483647 bytes", 2},
        {"binbytes8_huge.pkl", LC_ETRUNC, "BINBYTES8 needs", 2},
        {"memo_put_huge.pkl", LC_EUNSUPPORTED, "memo index 4294967295 is beyond the limit", 3},
        {"memo_get_missing.pkl", LC_EFORMAT, "memo index 4294967280 was never stored", 5},
        {"long_too_big.pkl", LC_EUNSUPPORTED, "beyond 64 bits", 2},
        {"unknown_opcode.pkl", LC_EFORMAT, "unknown pickle opcode 0xff", 3},
        {"no_stop.pkl", LC_ETRUNC, "ends without STOP", 3},
        {"stack_left_over.pkl", LC_EFORMAT, "STOP with 2 values on the stack", 4},
        {"ext_registry.pkl", LC_EUNSUPPORTED, "EXT1", 2},
        {"stack_underflow.pkl", LC_EFORMAT, "APPEND needs a value on the stack above the last MARK", 3},
        {"valbin_trailing.bin", LC_EFORMAT, "5 bytes of trailing data after STOP", -5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        uint8_t *b = fx(cases[i].file, &len);
        struct lc_pickle *p = (struct lc_pickle *)1;
        struct lc_err err;
        int rc = lc_pickle_parse(&p, b, len, NULL, cases[i].file, &err);
        cr_expect_eq(rc, cases[i].code, "%s: %d %s", cases[i].file, rc, err.msg);
        cr_expect_null(p);
        cr_expect(strstr(err.msg, cases[i].text), "%s: %s", cases[i].file, err.msg);
        int64_t off = cases[i].offset < 0 ? (int64_t)len + cases[i].offset : cases[i].offset;
        cr_expect_eq(err.offset, off, "%s: offset %lld", cases[i].file, (long long)err.offset);
        free(b);
    }
}

Test(pickle, trailing_bytes_allowed_on_request)
{
    size_t len;
    uint8_t *b = fx("valbin_trailing.bin", &len);
    struct lc_pickle_opts o = {.allow_trailing = 1};
    struct lc_pickle *p = parse_ok(b, len, &o, "trailing");
    cr_expect_eq(lc_pickle_end(p), len - 5);
    lc_pickle_free(p);
    free(b);
}

Test(pickle, limits_bound_the_stack_memo_and_memory)
{
    /* one list, DUP'ed: the stack limit */
    size_t n = ((size_t)1 << 20) + 5;
    uint8_t *b = malloc(n);
    memcpy(b, "\x80\x02]", 3);
    memset(b + 3, '2', n - 4);
    b[n - 1] = '.';
    struct lc_pickle *p;
    struct lc_err err;
    cr_expect_eq(lc_pickle_parse(&p, b, n, NULL, "dups", &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "stack holds more than 1048576 values"), "%s", err.msg);
    cr_expect_eq(err.offset, 2 + (1 << 20));
    struct lc_pickle_opts o = {.max_stack = 10};
    cr_expect_eq(lc_pickle_parse(&p, b, n, &o, "dups", &err), LC_EUNSUPPORTED);
    cr_expect_eq(err.offset, 12);
    /* a million new lists, nested by APPENDs: the memory budget */
    memset(b + 2, ']', n / 2);
    memset(b + 2 + n / 2, 'a', n - 3 - n / 2);
    cr_expect_eq(lc_pickle_parse(&p, b, n, NULL, "lists", &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "bytes of memory"), "%s", err.msg);
    cr_expect_lt(err.offset, 2 + (int64_t)n / 2);
    free(b);

    size_t len;
    b = fx("nested_p4.pkl", &len);
    struct lc_pickle_opts small = {.allow = allow_bytes, .max_alloc = 4096};
    cr_expect_eq(lc_pickle_parse(&p, b, len, &small, "nested", &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "bytes of memory"), "%s", err.msg);
    struct lc_pickle_opts memo = {.allow = allow_bytes, .max_memo = 5};
    cr_expect_eq(lc_pickle_parse(&p, b, len, &memo, "nested", &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "memo index 5 is beyond the limit (5)"), "%s", err.msg);
    struct lc_pickle_opts shallow = {.allow = allow_bytes, .max_depth = 1};
    cr_expect_eq(lc_pickle_parse(&p, b, len, &shallow, "nested", &err), LC_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "deeper than 1"), "%s", err.msg);
    free(b);
}

/* Every proper prefix must fail without reading past it: the prefix is
 * copied to the end of its own allocation, so ASan sees any overread. */
static void expect_prefixes_fail(const char *name, const struct lc_pickle_opts *o)
{
    size_t len;
    uint8_t *b = fx(name, &len);
    for (size_t k = 0; k < len; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, b, k);
        struct lc_pickle *p = NULL;
        struct lc_err err;
        int rc = lc_pickle_parse(&p, cut, k, o, name, &err);
        cr_expect_lt(rc, 0, "%s cut at %zu was accepted", name, k);
        if (rc < 0) {
            cr_expect(err.offset >= 0 && err.offset <= (int64_t)k, "%s cut at %zu: offset %lld", name, k,
                      (long long)err.offset);
            cr_expect(err.msg[0], "%s cut at %zu: empty message", name, k);
        } else {
            lc_pickle_free(p);
        }
        free(cut);
    }
    free(b);
}

Test(pickle, truncation_at_every_byte_fails_cleanly)
{
    static const char *const allow_torch[] = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                              "torch.FloatStorage", "torch.LongStorage", NULL};
    struct lc_pickle_opts bytes = {.allow = allow_bytes}, np = {.allow = lc_pickle_allow_numpy},
                          torch = {.allow = allow_torch};
    const char *nested[] = {"nested_p0.pkl", "nested_p1.pkl", "nested_p2.pkl",
                            "nested_p3.pkl", "nested_p4.pkl", "nested_p5.pkl"};
    for (size_t i = 0; i < 6; i++) expect_prefixes_fail(nested[i], &bytes);
    expect_prefixes_fail("ndarray_p2.pkl", &np);
    expect_prefixes_fail("ndarray_p4.pkl", &np);
    expect_prefixes_fail("torch_state_dict.pkl", &torch);
    const char *od_allow[] = {"collections.OrderedDict", NULL};
    struct lc_pickle_opts od = {.allow = od_allow};
    expect_prefixes_fail("ordereddict_p2.pkl", &od);
    expect_prefixes_fail("set_p4.pkl", NULL);
}

static void expect_array_matches(struct lc_pickle *p, const value *root, const char *name)
{
    const value *v = lc_pickle_get(root, name);
    cr_assert(v, "no key %s", name);
    struct lc_pickle_ndarray a;
    struct lc_err err;
    int rc = lc_pickle_ndarray(p, v, &a, &err);
    cr_assert_eq(rc, 0, "%s: %s", name, err.msg);
    if (strcmp(name, "bool") == 0) {
        static const uint8_t want[] = {1, 0, 1, 1};
        cr_expect(a.is_bool && a.dtype == LC_DTYPE_U8 && a.kind == 'b' && a.rank == 1 && a.dims[0] == 4);
        cr_expect_eq(a.nbytes, 4);
        cr_expect_eq(memcmp(a.data, want, 4), 0);
        return;
    }
    char rel[128];
    snprintf(rel, sizeof rel, "pickle/ndarray/%s.npy", name);
    struct tu_array ref = tu_fixture(rel);
    int fortran = strcmp(name, "fortran") == 0;
    cr_expect_eq(a.dtype, ref.h.dtype, "%s: dtype %d", name, a.dtype);
    cr_expect_eq(a.fortran, fortran, "%s", name);
    cr_expect_eq(a.rank, ref.h.rank, "%s: rank %u", name, a.rank);
    for (unsigned d = 0; d < a.rank && d < ref.h.rank; d++)
        cr_expect_eq(a.dims[d], ref.h.dims[fortran ? a.rank - 1 - d : d], "%s: dim %u", name, d);
    cr_expect_eq(a.itemsize, lc_dtype_size(a.dtype));
    cr_expect_eq(a.numel, ref.n, "%s", name);
    cr_expect_eq(a.nbytes, ref.h.data_bytes, "%s", name);
    if (a.nbytes == ref.h.data_bytes) cr_expect_eq(memcmp(a.data, ref.data, a.nbytes), 0, "%s: data differs", name);
    tu_free(&ref);
}

Test(pickle, numpy_arrays_and_scalars_match_numpy)
{
    const char *files[] = {"ndarray_p2.pkl", "ndarray_p4.pkl"};
    const char *names[] = {"f32", "u8", "i64", "f16", "bool", "f64scalar", "i32scalar", "fortran", "empty", "u16_4d"};
    struct lc_pickle_opts o = {.allow = lc_pickle_allow_numpy};
    for (size_t f = 0; f < 2; f++) {
        size_t len;
        uint8_t *b = fx(files[f], &len);
        struct lc_pickle *p = parse_ok(b, len, &o, files[f]);
        const value *root = lc_pickle_root(p);
        cr_expect_eq(lc_pickle_len(root), sizeof names / sizeof *names);
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) expect_array_matches(p, root, names[i]);
        /* not arrays */
        struct lc_pickle_ndarray a;
        struct lc_err err;
        cr_expect_eq(lc_pickle_ndarray(p, root, &a, &err), LC_EFORMAT);
        cr_expect(strstr(err.msg, "expected a numpy array, found a dict"), "%s", err.msg);
        lc_pickle_free(p);
        free(b);
    }
}

/* The payload after an object .npy's header: a pickled 0-d object array. */
static size_t npy_payload(const uint8_t *b, size_t len)
{
    cr_assert(len > 12 && memcmp(b, "\x93NUMPY", 6) == 0);
    return b[6] == 1 ? 10 + (b[8] | (size_t)b[9] << 8) : 12 + (b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16);
}

static const value *object_npy_dict(struct lc_pickle *p)
{
    struct lc_pickle_ndarray a;
    struct lc_err err;
    cr_assert_eq(lc_pickle_ndarray(p, lc_pickle_root(p), &a, &err), 0, "%s", err.msg);
    cr_assert(a.kind == 'O' && a.dtype == -1 && a.rank == 0 && a.numel == 1 && !a.data);
    const value *d = lc_pickle_item(a.objects, 0);
    cr_assert(lc_pickle_dict(d));
    return d;
}

Test(pickle, object_npy_holds_a_dict_of_arrays)
{
    size_t len;
    uint8_t *b = tu_read_file("tests/fixtures/pickle/objarray.npy", &len);
    size_t off = npy_payload(b, len);
    struct lc_pickle_opts o = {.allow = lc_pickle_allow_numpy, .base_offset = (int64_t)off};
    struct lc_pickle *p = parse_ok(b + off, len - off, &o, "objarray.npy");
    const value *d = object_npy_dict(p);
    cr_expect_eq(lc_pickle_len(d), 2);
    cr_expect_geq(lc_pickle_get(d, "w")->offset, (int64_t)off);
    struct lc_pickle_ndarray a;
    cr_assert_eq(lc_pickle_ndarray(p, lc_pickle_get(d, "w"), &a, NULL), 0);
    struct tu_array ref = tu_fixture("pickle/ndarray/f32.npy");
    cr_expect(a.dtype == LC_DTYPE_F32 && a.rank == 2 && a.dims[0] == 2 && a.dims[1] == 3);
    cr_expect_eq(memcmp(a.data, ref.data, 24), 0);
    tu_free(&ref);
    cr_assert_eq(lc_pickle_ndarray(p, lc_pickle_get(d, "b"), &a, NULL), 0);
    cr_expect(a.dtype == LC_DTYPE_I64 && a.rank == 1 && a.dims[0] == 7);
    lc_pickle_free(p);
    /* errors are reported at file offsets */
    struct lc_pickle_opts strict = {.base_offset = (int64_t)off};
    struct lc_err err;
    cr_expect_eq(lc_pickle_parse(&p, b + off, len - off, &strict, "objarray.npy", &err), LC_EUNSUPPORTED);
    cr_expect_geq(err.offset, (int64_t)off);
    free(b);
}

Test(pickle, ordereddict_items_are_reachable)
{
    const char *allow[] = {"collections.OrderedDict", NULL};
    struct lc_pickle_opts o = {.allow = allow};
    const char *files[] = {"ordereddict_p2.pkl", "ordereddict_p4.pkl"};
    for (size_t f = 0; f < 2; f++) {
        size_t len;
        uint8_t *b = fx(files[f], &len);
        struct lc_pickle *p = parse_ok(b, len, &o, files[f]);
        const value *root = lc_pickle_root(p);
        cr_expect(lc_pickle_is_call(root, "collections.OrderedDict"));
        cr_expect_eq(lc_pickle_len(lc_pickle_dict(root)), 3);
        const value *k, *v;
        const char *order[] = {"b", "a", "c"};
        for (size_t i = 0; i < 3; i++) {
            cr_assert_eq(lc_pickle_pair(root, i, &k, &v), 0);
            cr_expect(lc_pickle_str_eq(k, order[i]), "%s pair %zu", files[f], i);
        }
        cr_expect_eq(lc_pickle_pair(root, 3, &k, &v), -1);
        int64_t iv;
        cr_expect(lc_pickle_int(lc_pickle_get(root, "b"), &iv) == 0 && iv == 1);
        const value *a = lc_pickle_get(root, "a");
        cr_expect(a && a->type == LC_PICKLE_LIST && lc_pickle_len(a) == 1);
        cr_expect_eq(lc_pickle_get(root, "c")->type, LC_PICKLE_NONE);
        cr_expect_null(lc_pickle_get(root, "missing"));
        lc_pickle_free(p);
        free(b);
    }
}

static void expect_int_tuple(const value *t, const int64_t *want, size_t n, const char *what)
{
    cr_assert(t && t->type == LC_PICKLE_TUPLE && lc_pickle_len(t) == n, "%s", what);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        cr_expect(lc_pickle_int(lc_pickle_item(t, i), &v) == 0 && v == want[i], "%s[%zu]", what, i);
    }
}

Test(pickle, torch_data_pkl_keeps_persistent_ids)
{
    static const char *const allow[] = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                        "torch.FloatStorage", "torch.LongStorage", NULL};
    struct lc_pickle_opts o = {.allow = allow};
    size_t len;
    uint8_t *b = fx("torch_state_dict.pkl", &len);
    struct lc_pickle *p = parse_ok(b, len, &o, "torch");
    const value *root = lc_pickle_root(p);
    cr_expect(lc_pickle_is_call(root, "collections.OrderedDict"));
    struct {
        const char *key, *storage, *id;
        int64_t numel;
        size_t rank;
        int64_t size[4], stride[4];
    } cases[] = {
        {"conv.weight", "torch.FloatStorage", "0", 18, 4, {2, 1, 3, 3}, {9, 9, 3, 1}},
        {"bn.num_batches_tracked", "torch.LongStorage", "1", 1, 0, {0}, {0}},
        {"fc.weight", "torch.FloatStorage", "2", 12, 2, {4, 3}, {1, 4}},
    };
    cr_expect_eq(lc_pickle_len(lc_pickle_dict(root)), 3);
    for (size_t i = 0; i < 3; i++) {
        const value *t = lc_pickle_get(root, cases[i].key);
        cr_assert(lc_pickle_is_call(t, "torch._utils._rebuild_tensor_v2"), "%s", cases[i].key);
        const value *args = t->u.obj.args, *pid = lc_pickle_item(args, 0);
        cr_assert(pid && pid->type == LC_PICKLE_PERSID);
        const value *key = pid->u.pid;
        cr_expect(lc_pickle_str_eq(lc_pickle_item(key, 0), "storage"));
        cr_expect(lc_pickle_is_global(lc_pickle_item(key, 1), cases[i].storage), "%s", cases[i].key);
        cr_expect(lc_pickle_str_eq(lc_pickle_item(key, 2), cases[i].id), "%s", cases[i].key);
        cr_expect(lc_pickle_str_eq(lc_pickle_item(key, 3), "cpu"));
        int64_t numel = -1, off = -1;
        lc_pickle_int(lc_pickle_item(key, 4), &numel);
        cr_expect_eq(numel, cases[i].numel, "%s", cases[i].key);
        lc_pickle_int(lc_pickle_item(args, 1), &off);
        cr_expect_eq(off, 0);
        expect_int_tuple(lc_pickle_item(args, 2), cases[i].size, cases[i].rank, cases[i].key);
        expect_int_tuple(lc_pickle_item(args, 3), cases[i].stride, cases[i].rank, cases[i].key);
        cr_expect_eq(lc_pickle_item(args, 4)->type, LC_PICKLE_BOOL);
        cr_expect(lc_pickle_is_call(lc_pickle_item(args, 5), "collections.OrderedDict"));
    }
    lc_pickle_free(p);
    free(b);
}

Test(pickle, sets_frozensets_and_bytearrays)
{
    size_t len;
    uint8_t *b = fx("set_p4.pkl", &len);
    struct lc_pickle *p = parse_ok(b, len, NULL, "set");
    const value *root = lc_pickle_root(p);
    cr_assert_eq(lc_pickle_len(root), 3);
    const value *s = lc_pickle_item(root, 0), *fs = lc_pickle_item(root, 1), *ba = lc_pickle_item(root, 2);
    cr_expect(s->type == LC_PICKLE_SET && !(s->flags & LC_PICKLE_FROZEN) && lc_pickle_len(s) == 1);
    cr_expect(fs->type == LC_PICKLE_SET && (fs->flags & LC_PICKLE_FROZEN) && lc_pickle_len(fs) == 1);
    cr_expect(ba->type == LC_PICKLE_BYTES && (ba->flags & LC_PICKLE_BYTEARRAY) && lc_pickle_len(ba) == 2);
    cr_expect_eq(lc_pickle_proto(p), 5);
    lc_pickle_free(p);
    free(b);
}

Test(pickle, helpers_take_null_and_wrong_types)
{
    cr_expect_eq(lc_pickle_len(NULL), 0);
    cr_expect_null(lc_pickle_item(NULL, 0));
    cr_expect_null(lc_pickle_dict(NULL));
    cr_expect_null(lc_pickle_get(NULL, "x"));
    cr_expect_eq(lc_pickle_pair(NULL, 0, NULL, NULL), -1);
    cr_expect(!lc_pickle_is_global(NULL, "a.b") && !lc_pickle_is_call(NULL, "a.b") && !lc_pickle_str_eq(NULL, "x"));
    int64_t v;
    cr_expect_eq(lc_pickle_int(NULL, &v), -1);
    struct lc_pickle *p = parse_ok("\x80\x02K\x05.", 5, NULL, "int");
    const value *root = lc_pickle_root(p);
    cr_expect_null(lc_pickle_item(root, 0));
    cr_expect_null(lc_pickle_get(root, "x"));
    const uint8_t *d;
    size_t n;
    struct lc_err err;
    cr_expect_eq(lc_pickle_as_bytes(p, root, &d, &n, &err), LC_EFORMAT);
    cr_expect(strstr(err.msg, "expected bytes, found an int"), "%s", err.msg);
    cr_expect_eq(err.offset, 2);
    cr_expect_str_eq(lc_pickle_type_name(LC_PICKLE_PERSID), "persistent id");
    cr_expect_str_eq(lc_pickle_type_name(99), "?");
    lc_pickle_free(p);
    lc_pickle_free(NULL);
}

/* ---- real third-party data (skipped when ../shared/data is absent) */

static const char *shared_data(void)
{
    const char *d = getenv("LC_SHARED_DATA");
    return d && *d ? d : "../shared/data";
}

struct expect_array {
    const char *key;
    unsigned rank;
    uint64_t dims[4];
    double sum;
};

/* Shapes and float64 sums from numpy 1.24:
 *   d = np.load(p, allow_pickle=True)[()]
 *   for k, v in d.items(): print(k, v.shape, v.astype(np.float64).sum()) */
static const struct expect_array PNET[] = {
    {"features.conv1.weight", 4, {10, 3, 3, 3}, 2.34876704},  {"features.conv1.bias", 1, {10}, 2.81667852},
    {"features.prelu1.weight", 1, {10}, -2.30457546},         {"features.conv2.weight", 4, {16, 10, 3, 3}, -38.5657889},
    {"features.conv2.bias", 1, {16}, 20.1702463},             {"features.prelu2.weight", 1, {16}, 1.45917064},
    {"features.conv3.weight", 4, {32, 16, 3, 3}, -43.2797315}, {"features.conv3.bias", 1, {32}, 14.9049552},
    {"features.prelu3.weight", 1, {32}, -0.137406015},        {"conv4_1.weight", 4, {2, 32, 1, 1}, -0.618073249},
    {"conv4_1.bias", 1, {2}, 2.25834665e-05},                 {"conv4_2.weight", 4, {4, 32, 1, 1}, 0.174966573},
    {"conv4_2.bias", 1, {4}, -0.0945487954},                  {NULL, 0, {0}, 0},
};
static const struct expect_array RNET[] = {
    {"features.conv1.weight", 4, {28, 3, 3, 3}, 0.235486531},  {"features.conv1.bias", 1, {28}, -0.675033576},
    {"features.prelu1.weight", 1, {28}, 2.55902451},          {"features.conv2.weight", 4, {48, 28, 3, 3}, -81.3515734},
    {"features.conv2.bias", 1, {48}, 3.21918492},             {"features.prelu2.weight", 1, {48}, 9.67431877},
    {"features.conv3.weight", 4, {64, 48, 2, 2}, -32.827753},  {"features.conv3.bias", 1, {64}, 6.38150731},
    {"features.prelu3.weight", 1, {64}, -6.75026063},         {"features.conv4.weight", 2, {128, 576}, -73.5947546},
    {"features.conv4.bias", 1, {128}, 10.9472221},            {"features.prelu4.weight", 1, {128}, -15.9860979},
    {"conv5_1.weight", 2, {2, 128}, 0.00268435932},           {"conv5_1.bias", 1, {2}, 2.98023224e-08},
    {"conv5_2.weight", 2, {4, 128}, -0.0600924191},           {"conv5_2.bias", 1, {4}, -0.280413114},
    {NULL, 0, {0}, 0},
};
static const struct expect_array ONET[] = {
    {"features.conv1.weight", 4, {32, 3, 3, 3}, -0.929808928}, {"features.conv1.bias", 1, {32}, -2.21234441},
    {"features.prelu1.weight", 1, {32}, 2.32769541},          {"features.conv2.weight", 4, {64, 32, 3, 3}, -118.872776},
    {"features.conv2.bias", 1, {64}, 2.58551319},             {"features.prelu2.weight", 1, {64}, 5.45508484},
    {"features.conv3.weight", 4, {64, 64, 3, 3}, -52.3570587}, {"features.conv3.bias", 1, {64}, 0.339375049},
    {"features.prelu3.weight", 1, {64}, 7.24156895},          {"features.conv4.weight", 4, {128, 64, 2, 2}, -56.9071},
    {"features.conv4.bias", 1, {128}, 7.31736731},            {"features.prelu4.weight", 1, {128}, -10.44719},
    {"features.conv5.weight", 2, {256, 1152}, -147.486701},   {"features.conv5.bias", 1, {256}, 13.9706453},
    {"features.prelu5.weight", 1, {256}, -10.840622},         {"conv6_1.weight", 2, {2, 256}, 0.0149076856},
    {"conv6_1.bias", 1, {2}, 2.5331974e-07},                  {"conv6_2.weight", 2, {4, 256}, 1.76356831},
    {"conv6_2.bias", 1, {4}, 0.0185512695},                   {"conv6_3.weight", 2, {10, 256}, -0.837648061},
    {"conv6_3.bias", 1, {10}, 5.41747501},                    {NULL, 0, {0}, 0},
};

static void expect_weights(struct lc_pickle *p, const value *d, const struct expect_array *want, const char *file)
{
    size_t n = 0;
    for (; want[n].key; n++) {
        const value *v = lc_pickle_get(d, want[n].key);
        cr_assert(v, "%s: no %s", file, want[n].key);
        struct lc_pickle_ndarray a;
        struct lc_err err;
        cr_assert_eq(lc_pickle_ndarray(p, v, &a, &err), 0, "%s %s: %s", file, want[n].key, err.msg);
        cr_expect(a.dtype == LC_DTYPE_F32 && !a.fortran, "%s %s", file, want[n].key);
        cr_assert_eq(a.rank, want[n].rank, "%s %s", file, want[n].key);
        for (unsigned i = 0; i < a.rank; i++) cr_expect_eq(a.dims[i], want[n].dims[i], "%s %s dim %u", file, want[n].key, i);
        double sum = 0;
        for (uint64_t i = 0; i < a.numel; i++) {
            float f;
            memcpy(&f, a.data + 4 * i, 4);
            sum += f;
        }
        cr_expect(fabs(sum - want[n].sum) <= 1e-6 + 1e-7 * fabs(want[n].sum), "%s %s: sum %.9g, numpy %.9g", file,
                  want[n].key, sum, want[n].sum);
    }
    cr_expect_eq(lc_pickle_len(lc_pickle_dict(d)), n, "%s", file);
}

Test(pickle, real_mtcnn_weights_match_numpy)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/weights/mtcnn/pnet.npy", shared_data());
    if (access(path, R_OK) != 0) cr_skip_test("real data not found at %s (set LC_SHARED_DATA)", path);
    struct {
        const char *file;
        const struct expect_array *want;
    } nets[] = {{"pnet.npy", PNET}, {"rnet.npy", RNET}, {"onet.npy", ONET}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/weights/mtcnn/%s", shared_data(), nets[i].file);
        size_t len;
        uint8_t *b = tu_read_file(path, &len);
        struct lc_npy h;
        cr_expect_eq(lc_npy_parse(b, len, &h, NULL), LC_EUNSUPPORTED, "the plain .npy reader refuses |O");
        size_t off = npy_payload(b, len);
        struct lc_pickle_opts o = {.allow = lc_pickle_allow_numpy, .base_offset = (int64_t)off};
        struct lc_pickle *p = parse_ok(b + off, len - off, &o, path);
        expect_weights(p, object_npy_dict(p), nets[i].want, nets[i].file);
        lc_pickle_free(p);
        free(b);
    }
    /* facenet's copy, written by Python 2: str keys, nested dicts, HWIO */
    snprintf(path, sizeof path, "%s/weights/facenet_mtcnn_npy/det1.npy", shared_data());
    if (access(path, R_OK) != 0) return;
    size_t len;
    uint8_t *b = tu_read_file(path, &len);
    size_t off = npy_payload(b, len);
    struct lc_pickle_opts o = {.allow = lc_pickle_allow_numpy, .base_offset = (int64_t)off};
    struct lc_pickle *p = parse_ok(b + off, len - off, &o, path);
    const value *d = object_npy_dict(p);
    static const struct expect_array conv1[] = {{"weights", 4, {3, 3, 3, 10}, 2.3487670375034213},
                                                {"biases", 1, {10}, 2.8166785170324147},
                                                {NULL, 0, {0}, 0}};
    expect_weights(p, lc_pickle_get(d, "conv1"), conv1, "det1.npy conv1");
    const value *k;
    cr_assert_eq(lc_pickle_pair(lc_pickle_get(d, "conv1"), 0, &k, NULL), 0);
    cr_expect_eq(k->type, LC_PICKLE_STR, "Python 2 keys are str");
    lc_pickle_free(p);
    free(b);
}
