/* valbin: InsightFace verification .bin sets through the safe pickle
 * reader. The pickle layer does the parsing and the bounds; this file only
 * checks the shape (bins, issame_list) and gathers pointers, so images are
 * not copied unless Python 3's protocol 2 stored them as latin-1 text. */
#include "valbin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "pickle.h"

typedef struct lc_pickle_value value;

struct valbin {
    struct lc_valbin pub; /* first: lc_valbin_free casts back */
    struct lc_pickle *doc;
    uint8_t *file; /* lc_valbin_load's copy of the file */
    const uint8_t **images;
    size_t *sizes;
    uint8_t *issame;
};

void lc_valbin_free(struct lc_valbin *v)
{
    if (!v) return;
    struct valbin *b = (struct valbin *)v;
    lc_pickle_free(b->doc);
    free(b->images);
    free(b->sizes);
    free(b->issame);
    free(b->file);
    free(b);
}

static int is_seq(const value *v)
{
    return v && (v->type == LC_PICKLE_TUPLE || v->type == LC_PICKLE_LIST);
}

/* Re-label an error from the pickle helpers with the item it concerns. */
static int item_err(struct lc_err *err, int rc, const char *what, size_t i)
{
    if (err) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s item %zu: %.440s", what, i, err->msg);
        memcpy(err->msg, msg, sizeof msg);
        err->record = (int64_t)i;
    }
    return rc;
}

/* A little-endian unsigned integer of k bytes must be 0 or 1. */
static int bool_bytes(const uint8_t *p, unsigned k, uint8_t *out)
{
    for (unsigned j = 1; j < k; j++)
        if (p[j]) return -1;
    if (p[0] > 1) return -1;
    *out = p[0];
    return 0;
}

static int bool_kind(char kind) { return kind == 'b' || kind == 'i' || kind == 'u'; }

/* issame_list: a list/tuple of bools (or 0/1 ints, or numpy.bool_), or a
 * 1-D numpy array of bools (or 0/1 ints). */
static int read_issame(struct valbin *b, const value *v, const char *name, struct lc_err *err)
{
    struct lc_pickle_ndarray a;
    size_t n;
    if (is_seq(v)) {
        n = lc_pickle_len(v);
        if (!(b->issame = malloc(n ? n : 1))) return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const value *x = lc_pickle_item(v, i);
            int64_t iv;
            if (lc_pickle_int(x, &iv) == 0) {
                if (iv != 0 && iv != 1)
                    return lc_errf(err, LC_EFORMAT, name, (int64_t)i, x->offset, "issame item %zu is %lld, not a bool",
                                   i, (long long)iv);
                b->issame[i] = (uint8_t)iv;
                continue;
            }
            if (x->type != LC_PICKLE_OBJECT)
                return lc_errf(err, LC_EFORMAT, name, (int64_t)i, x->offset, "issame item %zu is a %s, not a bool", i,
                               lc_pickle_type_name(x->type));
            int rc = lc_pickle_ndarray(b->doc, x, &a, err);
            if (rc) return item_err(err, rc, "issame", i);
            if (!bool_kind(a.kind) || a.rank != 0 || bool_bytes(a.data, a.itemsize, &b->issame[i]))
                return lc_errf(err, LC_EFORMAT, name, (int64_t)i, x->offset,
                               "issame item %zu is a numpy value that is not a bool", i);
        }
    } else {
        int rc = lc_pickle_ndarray(b->doc, v, &a, err);
        if (rc) {
            if (err) {
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "issame_list: %.440s", err->msg);
                memcpy(err->msg, msg, sizeof msg);
            }
            return rc;
        }
        if (!bool_kind(a.kind) || a.rank != 1)
            return lc_errf(err, LC_EFORMAT, name, -1, v->offset,
                           "issame_list is a numpy array of kind '%c' and rank %u, not a 1-D bool array", a.kind, a.rank);
        n = a.dims[0];
        if (!(b->issame = malloc(n ? n : 1))) return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
        for (size_t i = 0; i < n; i++)
            if (bool_bytes(a.data + i * a.itemsize, a.itemsize, &b->issame[i]))
                return lc_errf(err, LC_EFORMAT, name, (int64_t)i, v->offset, "issame item %zu is not 0 or 1", i);
    }
    b->pub.n_pairs = n;
    b->pub.issame = b->issame;
    return 0;
}

static int parse(struct valbin *b, const void *data, size_t len, const char *name, struct lc_err *err)
{
    struct lc_pickle_opts opts = {.allow = lc_pickle_allow_numpy};
    int rc = lc_pickle_parse(&b->doc, data, len, &opts, name, err);
    if (rc) return rc;
    const value *root = lc_pickle_root(b->doc);
    if (!is_seq(root) || lc_pickle_len(root) != 2)
        return lc_errf(err, LC_EFORMAT, name, -1, root->offset,
                       "expected a pickled pair (bins, issame_list), found a %s of length %zu",
                       lc_pickle_type_name(root->type), lc_pickle_len(root));
    const value *bins = lc_pickle_item(root, 0);
    if (!is_seq(bins))
        return lc_errf(err, LC_EFORMAT, name, -1, bins->offset, "bins is a %s, not a list of images",
                       lc_pickle_type_name(bins->type));
    if ((rc = read_issame(b, lc_pickle_item(root, 1), name, err))) return rc;
    size_t n = b->pub.n_pairs, nb = lc_pickle_len(bins);
    if (n == 0) return lc_errf(err, LC_EFORMAT, name, -1, root->offset, "the set has no pairs");
    if (nb / 2 != n || nb % 2)
        return lc_errf(err, LC_EFORMAT, name, -1, bins->offset,
                       "bins has %zu images but issame_list has %zu values (2 images per pair)", nb, n);
    b->images = malloc(nb * sizeof *b->images);
    b->sizes = malloc(nb * sizeof *b->sizes);
    if (!b->images || !b->sizes) return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
    for (size_t i = 0; i < nb; i++) {
        const value *x = lc_pickle_item(bins, i);
        if ((rc = lc_pickle_as_bytes(b->doc, x, &b->images[i], &b->sizes[i], err))) return item_err(err, rc, "bins", i);
        if (b->sizes[i] == 0) return lc_errf(err, LC_EFORMAT, name, (int64_t)i, x->offset, "bins item %zu is empty", i);
    }
    b->pub.images = b->images;
    b->pub.sizes = b->sizes;
    return 0;
}

int lc_valbin_parse(struct lc_valbin **out, const void *data, size_t len, const char *name, struct lc_err *err)
{
    *out = NULL;
    struct valbin *b = calloc(1, sizeof *b);
    if (!b) return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
    int rc = parse(b, data, len, name, err);
    if (rc) {
        lc_valbin_free(&b->pub);
        return rc;
    }
    *out = &b->pub;
    return 0;
}

/* The whole input into one malloc'd buffer. */
static int read_all(const char *path, uint8_t **data, size_t *len, struct lc_err *err)
{
    struct lc_in *in;
    int rc = lc_in_open(&in, path, err);
    if (rc) return rc;
    int64_t size = lc_in_size(in);
    size_t cap = size >= 0 ? (size_t)size + 1 : 1 << 20, n = 0, got;
    uint8_t *buf = NULL;
    for (;;) {
        if (n == cap || !buf) {
            if (buf) cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                rc = lc_errf(err, LC_ENOMEM, lc_in_name(in), -1, -1, "out of memory reading the whole file");
                break;
            }
            buf = nb;
        }
        if ((rc = lc_in_read(in, buf + n, cap - n, &got, err))) break;
        n += got;
        if (got == 0) break;
    }
    lc_in_close(in);
    if (rc) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return 0;
}

int lc_valbin_load(struct lc_valbin **out, const char *path, struct lc_err *err)
{
    *out = NULL;
    uint8_t *data;
    size_t len;
    int rc = read_all(path, &data, &len, err);
    if (rc) return rc;
    const char *name = path && strcmp(path, "-") ? path : "<stdin>";
    rc = lc_valbin_parse(out, data, len, name, err);
    if (rc) {
        free(data);
        return rc;
    }
    ((struct valbin *)*out)->file = data;
    return 0;
}

int lc_valbin_write(const char *path, const uint8_t *const *images, const size_t *sizes, size_t n_pairs,
                    const uint8_t *issame, struct lc_err *err)
{
    struct lc_out *o;
    int rc = lc_out_open(&o, path, LC_OUT_BINARY, err);
    if (rc) return rc;
    /* PROTO 3, EMPTY_LIST, MARK, BINBYTES..., APPENDS, EMPTY_LIST, MARK, NEWTRUE/NEWFALSE..., APPENDS, TUPLE2, STOP */
    static const uint8_t head[] = {0x80, 3, ']', '('};
    rc = lc_out_write(o, head, sizeof head, err);
    for (size_t i = 0; !rc && i < 2 * n_pairs; i++) {
        uint8_t op[5];
        size_t ol;
        if (sizes[i] > UINT32_MAX) {
            rc = lc_errf(err, LC_EINVAL, path, (int64_t)i, -1, "image larger than 4 GiB");
            break;
        }
        if (sizes[i] < 256) op[0] = 'C', op[1] = (uint8_t)sizes[i], ol = 2;
        else {
            uint32_t n = (uint32_t)sizes[i];
            op[0] = 'B';
            memcpy(op + 1, &n, 4);
            ol = 5;
        }
        rc = lc_out_write(o, op, ol, err);
        if (!rc && sizes[i]) rc = lc_out_write(o, images[i], sizes[i], err);
    }
    static const uint8_t mid[] = {'e', ']', '('};
    if (!rc) rc = lc_out_write(o, mid, sizeof mid, err);
    for (size_t i = 0; !rc && i < n_pairs; i++) {
        uint8_t b = issame[i] ? 0x88 : 0x89;
        rc = lc_out_write(o, &b, 1, err);
    }
    static const uint8_t tail[] = {'e', 0x86, '.'};
    if (!rc) rc = lc_out_write(o, tail, sizeof tail, err);
    if (rc) {
        lc_out_abort(o);
        return rc;
    }
    return lc_out_commit(o, err);
}
