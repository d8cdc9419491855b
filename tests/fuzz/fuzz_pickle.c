/* libFuzzer target: the pickle reader and the .bin loader on arbitrary
 * bytes. Parsing must never crash, hang, leak or over-allocate; on success
 * every value reachable from the root is walked (within a visit budget,
 * since the memo makes shared and cyclic values) and fed to the helpers,
 * and all the bytes they hand out are read so ASan checks them. Seeds:
 * tests/fixtures/pickle (tests/fuzz/run.sh copies them). */
#include <stddef.h>
#include <stdint.h>

#include "pickle.h"
#include "valbin.h"

static const char *const allow[] = {
    "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar", "numpy.ndarray", "numpy.dtype",
    "_codecs.encode", "__builtin__.bytes", "builtins.bytes", "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2", "torch.FloatStorage", "os.system", NULL,
};

static volatile uint8_t sink;

static void touch(const uint8_t *p, uint64_t n)
{
    if (n) sink ^= p[0] ^ p[n - 1] ^ p[n / 2];
}

static void check(struct lc_pickle *p, const struct lc_pickle_value *v, size_t size)
{
    if (v->offset < 0 || v->offset > (int64_t)size) __builtin_trap();
    const uint8_t *d;
    size_t n;
    if (lc_pickle_as_bytes(p, v, &d, &n, NULL) == 0) touch(d, n);
    struct lc_pickle_ndarray a;
    if (lc_pickle_ndarray(p, v, &a, NULL) == 0) {
        if (a.kind == 'O') {
            if (!a.objects || lc_pickle_len(a.objects) != a.numel) __builtin_trap();
        } else {
            if (a.nbytes != a.numel * a.itemsize) __builtin_trap();
            touch(a.data, a.nbytes);
        }
    }
    lc_pickle_get(v, "w");
    const struct lc_pickle_value *k, *val;
    if (lc_pickle_pair(v, 0, &k, &val) == 0 && (!k || !val)) __builtin_trap();
    if (v->type == LC_PICKLE_BYTES || v->type == LC_PICKLE_STR || v->type == LC_PICKLE_UNICODE)
        touch(v->u.str.data, v->u.str.len);
}

static void walk(struct lc_pickle *p, size_t size)
{
    const struct lc_pickle_value *todo[256];
    size_t n = 0, budget = 4096;
    todo[n++] = lc_pickle_root(p);
    while (n && budget--) {
        const struct lc_pickle_value *v = todo[--n];
        check(p, v, size);
        const struct lc_pickle_value *kids[8] = {0};
        size_t nk = 0;
        if (v->type == LC_PICKLE_OBJECT) {
            kids[nk++] = v->u.obj.callable;
            kids[nk++] = v->u.obj.args;
            kids[nk++] = v->u.obj.kwargs;
            kids[nk++] = v->u.obj.state;
            kids[nk++] = v->u.obj.listitems;
            kids[nk++] = v->u.obj.dictitems;
        } else if (v->type == LC_PICKLE_PERSID) {
            kids[nk++] = v->u.pid;
        } else if (v->type >= LC_PICKLE_TUPLE && v->type <= LC_PICKLE_SET) {
            size_t items = v->type == LC_PICKLE_DICT ? 2 * v->u.seq.len : v->u.seq.len;
            for (size_t i = 0; i < items && n < 256; i++) todo[n++] = v->u.seq.items[i];
        }
        for (size_t i = 0; i < nk && n < 256; i++)
            if (kids[i]) todo[n++] = kids[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lc_pickle_opts o = {.allow = allow, .allow_trailing = size % 3 == 0};
    if (size % 7 == 0) o.max_alloc = 4096; /* the budget paths */
    struct lc_pickle *p;
    struct lc_err err;
    if (lc_pickle_parse(&p, data, size, &o, "fuzz", &err) == 0) {
        if (lc_pickle_end(p) > size || (!o.allow_trailing && lc_pickle_end(p) != size)) __builtin_trap();
        walk(p, size);
        lc_pickle_free(p);
    } else if (err.offset < 0 || err.offset > (int64_t)size || !err.msg[0]) {
        __builtin_trap();
    }
    struct lc_valbin *v;
    if (lc_valbin_parse(&v, data, size, "fuzz", &err) == 0) {
        for (size_t i = 0; i < 2 * v->n_pairs; i++) touch(v->images[i], v->sizes[i]);
        for (size_t i = 0; i < v->n_pairs; i++)
            if (v->issame[i] > 1) __builtin_trap();
        lc_valbin_free(v);
    }
    return 0;
}
