/* tensorfile: safetensors read/write and PyTorch zip checkpoints read. */
#include "tensorfile.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtype.h"
#include "io.h"
#include "pickle.h"

#define ST_MAX_HEADER (100u << 20) /* the reference implementation's limit */

struct owned {
    void *p;
    struct owned *next;
};

struct meta {
    char *key, *val;
};

struct lc_tensor_file {
    const char *format;
    char *name;
    uint8_t *file; /* the whole file when read from a path (safetensors) */
    struct lc_tensor_entry *v;
    size_t n, cap;
    struct meta *meta;
    size_t n_meta, cap_meta;
    struct owned *owned; /* names, storages, gathered views */
};

/* ---- small helpers */

static void *own(struct lc_tensor_file *f, void *p)
{
    if (!p) return NULL;
    struct owned *o = malloc(sizeof *o);
    if (!o) {
        free(p);
        return NULL;
    }
    o->p = p, o->next = f->owned, f->owned = o;
    return p;
}

/* 64-byte aligned, owned by f */
static void *own_alloc(struct lc_tensor_file *f, size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1)) return NULL;
    return own(f, p);
}

static char *own_strndup(struct lc_tensor_file *f, const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return own(f, d);
}

static struct lc_tensor_entry *push_entry(struct lc_tensor_file *f)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        void *v = realloc(f->v, cap * sizeof *f->v);
        if (!v) return NULL;
        f->v = v, f->cap = cap;
    }
    struct lc_tensor_entry *e = &f->v[f->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static int push_meta(struct lc_tensor_file *f, const char *k, size_t kl, const char *v, size_t vl)
{
    if (f->n_meta == f->cap_meta) {
        size_t cap = f->cap_meta ? 2 * f->cap_meta : 16;
        void *m = realloc(f->meta, cap * sizeof *f->meta);
        if (!m) return LC_ENOMEM;
        f->meta = m, f->cap_meta = cap;
    }
    char *ks = own_strndup(f, k, kl), *vs = own_strndup(f, v, vl);
    if (!ks || !vs) return LC_ENOMEM;
    f->meta[f->n_meta++] = (struct meta){ks, vs};
    return 0;
}

static int oom(struct lc_err *err, const char *name)
{
    return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
}

void lc_tensor_file_close(struct lc_tensor_file *f)
{
    if (!f) return;
    for (struct owned *o = f->owned, *next; o; o = next) next = o->next, free(o->p), free(o);
    free(f->v), free(f->meta), free(f->file), free(f->name);
    free(f);
}

const char *lc_tensor_file_format(const struct lc_tensor_file *f) { return f->format; }
size_t lc_tensor_file_count(const struct lc_tensor_file *f) { return f->n; }

const struct lc_tensor_entry *lc_tensor_file_entry(const struct lc_tensor_file *f, size_t i)
{
    return i < f->n ? &f->v[i] : NULL;
}

const struct lc_tensor_entry *lc_tensor_file_find(const struct lc_tensor_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0) return &f->v[i];
    return NULL;
}

const char *lc_tensor_file_meta(const struct lc_tensor_file *f, const char *key)
{
    for (size_t i = f->n_meta; i-- > 0;)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].val;
    return NULL;
}

size_t lc_tensor_file_meta_count(const struct lc_tensor_file *f) { return f->n_meta; }

void lc_tensor_file_meta_pair(const struct lc_tensor_file *f, size_t i, const char **key, const char **val)
{
    *key = i < f->n_meta ? f->meta[i].key : NULL;
    *val = i < f->n_meta ? f->meta[i].val : NULL;
}

/* numel of dims with overflow check against max elements; -1 on overflow */
static int numel_of(const int64_t *dims, unsigned rank, size_t itemsize, size_t *numel)
{
    size_t n = 1;
    for (unsigned i = 0; i < rank; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] && n > (SIZE_MAX / 2) / itemsize / (size_t)dims[i]) return -1;
        n *= (size_t)dims[i];
    }
    *numel = n;
    return 0;
}

/* ---- safetensors */

static const struct {
    const char *name;
    int dtype, is_bool;
} st_dtypes[] = {
    {"BOOL", LC_DTYPE_U8, 1}, {"U8", LC_DTYPE_U8, 0},   {"I8", LC_DTYPE_I8, 0},     {"U16", LC_DTYPE_U16, 0},
    {"I16", LC_DTYPE_I16, 0}, {"U32", LC_DTYPE_U32, 0}, {"I32", LC_DTYPE_I32, 0},   {"U64", LC_DTYPE_U64, 0},
    {"I64", LC_DTYPE_I64, 0}, {"F16", LC_DTYPE_F16, 0}, {"BF16", LC_DTYPE_BF16, 0}, {"F32", LC_DTYPE_F32, 0},
    {"F64", LC_DTYPE_F64, 0},
};

static const char *st_dtype_name(int dtype, int is_bool)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
        if (st_dtypes[i].dtype == dtype && st_dtypes[i].is_bool == is_bool) return st_dtypes[i].name;
    return NULL;
}

struct span {
    uint64_t b, e;
    size_t entry;
};

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : x->e < y->e ? -1 : x->e > y->e;
}

static int parse_safetensors(struct lc_tensor_file *f, const uint8_t *d, size_t len, struct lc_err *err)
{
    const char *nm = f->name;
    if (len < 8) return lc_errf(err, LC_ETRUNC, nm, -1, 0, "%zu bytes: too short for a safetensors header", len);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = hn << 8 | d[i];
    if (hn > ST_MAX_HEADER)
        return lc_errf(err, LC_EFORMAT, nm, -1, 0, "safetensors header length %" PRIu64 " exceeds the %u MiB limit", hn,
                       ST_MAX_HEADER >> 20);
    if (hn > len - 8)
        return lc_errf(err, LC_ETRUNC, nm, -1, 8, "safetensors header of %" PRIu64 " bytes runs past the end (%zu bytes)",
                       hn, len);
    if (hn == 0 || d[8] != '{') return lc_errf(err, LC_EFORMAT, nm, -1, 8, "safetensors header is not a JSON object");
    json_error_t je;
    json_t *root = json_loadb((const char *)d + 8, hn, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root)
        return lc_errf(err, LC_EFORMAT, nm, -1, 8 + (int64_t)je.position, "safetensors header: %s", je.text);
    int rc = 0;
    const uint8_t *buf = d + 8 + hn;
    const uint64_t blen = len - 8 - hn;
    struct span *spans = NULL;
    if (!json_is_object(root)) {
        rc = lc_errf(err, LC_EFORMAT, nm, -1, 8, "safetensors header is not a JSON object");
        goto out;
    }
    size_t cap = json_object_size(root);
    if (!(spans = calloc(cap ? cap : 1, sizeof *spans))) {
        rc = oom(err, nm);
        goto out;
    }
    const char *key;
    json_t *val;
    size_t nspans = 0;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) {
                rc = lc_errf(err, LC_EFORMAT, nm, -1, 8, "safetensors __metadata__ is not an object");
                goto out;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv)
            {
                if (!json_is_string(mv)) {
                    rc = lc_errf(err, LC_EFORMAT, nm, -1, 8, "safetensors metadata \"%s\" is not a string", mk);
                    goto out;
                }
                if ((rc = push_meta(f, mk, strlen(mk), json_string_value(mv), json_string_length(mv)))) {
                    rc = oom(err, nm);
                    goto out;
                }
            }
            continue;
        }
        json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
               *jo = json_object_get(val, "data_offsets");
        if (!json_is_object(val) || !json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) ||
            json_array_size(jo) != 2) {
            rc = lc_errf(err, LC_EFORMAT, nm, -1, 8, "tensor \"%s\": needs dtype, shape and data_offsets [begin, end]", key);
            goto out;
        }
        struct lc_tensor_entry *e = push_entry(f);
        if (!e || !(e->name = own_strndup(f, key, strlen(key)))) {
            rc = oom(err, nm);
            goto out;
        }
        e->dtype = -1;
        for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
            if (strcmp(json_string_value(jd), st_dtypes[i].name) == 0) e->dtype = st_dtypes[i].dtype, e->is_bool = st_dtypes[i].is_bool;
        if (e->dtype < 0) {
            rc = lc_errf(err, LC_EUNSUPPORTED, nm, -1, 8, "tensor \"%s\" has dtype %s, which is not supported", key,
                         json_string_value(jd));
            goto out;
        }
        if (json_array_size(js) > LC_TENSOR_MAX_RANK) {
            rc = lc_errf(err, LC_EUNSUPPORTED, nm, -1, 8, "tensor \"%s\" has rank %zu (at most %d)", key,
                         json_array_size(js), LC_TENSOR_MAX_RANK);
            goto out;
        }
        e->rank = (unsigned)json_array_size(js);
        for (unsigned i = 0; i < e->rank; i++) {
            json_t *x = json_array_get(js, i);
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                rc = lc_errf(err, LC_EFORMAT, nm, -1, 8, "tensor \"%s\": shape entries must be integers >= 0", key);
                goto out;
            }
            e->dims[i] = json_integer_value(x);
        }
        size_t isz = lc_dtype_size(e->dtype);
        json_t *jb = json_array_get(jo, 0), *je2 = json_array_get(jo, 1);
        if (numel_of(e->dims, e->rank, isz, &e->numel) || !json_is_integer(jb) || !json_is_integer(je2) ||
            json_integer_value(jb) < 0 || json_integer_value(je2) < json_integer_value(jb)) {
            rc = lc_errf(err, LC_EFORMAT, nm, -1, 8, "tensor \"%s\": bad shape or data_offsets", key);
            goto out;
        }
        uint64_t b = (uint64_t)json_integer_value(jb), en = (uint64_t)json_integer_value(je2);
        e->bytes = e->numel * isz;
        if (en - b != e->bytes) {
            rc = lc_errf(err, LC_EFORMAT, nm, -1, 8, "tensor \"%s\": data_offsets span %" PRIu64 " bytes, its shape needs %zu",
                         key, en - b, e->bytes);
            goto out;
        }
        if (en > blen) {
            rc = lc_errf(err, LC_ETRUNC, nm, -1, (int64_t)(8 + hn + b),
                         "tensor \"%s\" ends at byte %" PRIu64 ", past the end of the file (%zu bytes)", key, 8 + hn + en, len);
            goto out;
        }
        spans[nspans++] = (struct span){b, en, f->n - 1};
        e->data = buf + b; /* fixed up for alignment below */
    }
    /* the buffer is exactly the tensors, back to back (as the reference
     * implementation requires): no gaps, no overlaps, nothing after */
    qsort(spans, nspans, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (size_t i = 0; i < nspans; i++) {
        if (spans[i].b != at) {
            rc = lc_errf(err, LC_EFORMAT, nm, -1, (int64_t)(8 + hn + spans[i].b),
                         "tensor \"%s\" starts at data offset %" PRIu64 ", expected %" PRIu64 " (tensors overlap or leave a gap)",
                         f->v[spans[i].entry].name, spans[i].b, at);
            goto out;
        }
        at = spans[i].e;
    }
    if (at != blen) {
        rc = lc_errf(err, LC_EFORMAT, nm, -1, (int64_t)(8 + hn + at), "%" PRIu64 " bytes after the last tensor", blen - at);
        goto out;
    }
    for (size_t i = 0; i < f->n; i++) {
        struct lc_tensor_entry *e = &f->v[i];
        size_t isz = lc_dtype_size(e->dtype);
        if (e->bytes && (uintptr_t)e->data % isz) {
            void *c = own_alloc(f, e->bytes);
            if (!c) {
                rc = oom(err, nm);
                goto out;
            }
            memcpy(c, e->data, e->bytes);
            e->data = c;
        }
    }
out:
    free(spans);
    json_decref(root);
    return rc;
}

/* ---- PyTorch zip checkpoints */

struct zentry {
    char *name;
    uint8_t *data; /* 64-byte aligned, owned by the file */
    size_t len;
};

struct zip {
    struct zentry *v;
    size_t n, cap;
};

static const struct {
    const char *global;
    int dtype, is_bool;
} torch_storages[] = {
    {"torch.FloatStorage", LC_DTYPE_F32, 0}, {"torch.DoubleStorage", LC_DTYPE_F64, 0},
    {"torch.HalfStorage", LC_DTYPE_F16, 0},  {"torch.BFloat16Storage", LC_DTYPE_BF16, 0},
    {"torch.LongStorage", LC_DTYPE_I64, 0},  {"torch.IntStorage", LC_DTYPE_I32, 0},
    {"torch.ShortStorage", LC_DTYPE_I16, 0}, {"torch.CharStorage", LC_DTYPE_I8, 0},
    {"torch.ByteStorage", LC_DTYPE_U8, 0},   {"torch.BoolStorage", LC_DTYPE_U8, 1},
};

/* Read every entry of the zip into memory owned by f, with a bound on the
 * total (deflated entries could otherwise expand without limit). */
static int read_zip(struct lc_tensor_file *f, struct archive *a, struct zip *z, uint64_t limit, struct lc_err *err)
{
    const char *nm = f->name;
    struct archive_entry *ae;
    uint64_t total = 0;
    int r;
    while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
        const char *path = archive_entry_pathname(ae);
        if (!path) path = "";
        if (archive_entry_filetype(ae) == AE_IFDIR) continue;
        if (z->n == z->cap) {
            size_t cap = z->cap ? 2 * z->cap : 64;
            void *v = realloc(z->v, cap * sizeof *z->v);
            if (!v) return oom(err, nm);
            z->v = v, z->cap = cap;
        }
        struct zentry *ze = &z->v[z->n++];
        memset(ze, 0, sizeof *ze);
        if (!(ze->name = own_strndup(f, path, strlen(path)))) return oom(err, nm);
        size_t cap = archive_entry_size_is_set(ae) && archive_entry_size(ae) >= 0 ? (size_t)archive_entry_size(ae) : 4096;
        if (cap > limit - total)
            return lc_errf(err, LC_EFORMAT, nm, -1, -1, "zip entry %s declares %zu bytes: more than the archive can hold",
                           path, cap);
        uint8_t *buf = NULL;
        if (posix_memalign((void **)&buf, 64, cap ? cap : 1)) return oom(err, nm);
        size_t len = 0;
        for (;;) {
            if (len == cap) {
                /* full (usually at the declared size): is there more? */
                uint8_t probe;
                la_ssize_t g = archive_read_data(a, &probe, 1);
                if (g == 0) break;
                size_t ncap = cap ? cap * 2 : 4096;
                if (ncap > limit - total) ncap = (size_t)(limit - total);
                if (g < 0 || ncap <= cap) {
                    free(buf);
                    if (g < 0) goto bad;
                    return lc_errf(err, LC_EFORMAT, nm, -1, -1, "zip entry %s unpacks to more than the archive can hold",
                                   path);
                }
                uint8_t *nb = NULL;
                if (posix_memalign((void **)&nb, 64, ncap)) {
                    free(buf);
                    return oom(err, nm);
                }
                memcpy(nb, buf, len);
                free(buf);
                buf = nb, cap = ncap;
                buf[len++] = probe;
                continue;
            }
            la_ssize_t g = archive_read_data(a, buf + len, cap - len);
            if (g < 0) {
                free(buf);
                goto bad;
            }
            if (g == 0) break;
            len += (size_t)g;
        }
        if (!own(f, buf)) return oom(err, nm);
        ze->data = buf, ze->len = len;
        total += len;
    }
    if (r == ARCHIVE_EOF) return 0;
bad:
    return lc_errf(err, LC_EFORMAT, nm, -1, -1, "not a readable zip archive: %s",
                   archive_error_string(a) ? archive_error_string(a) : "unknown libarchive error");
}

static const struct zentry *zfind(const struct zip *z, const char *prefix, size_t pl, const char *rest)
{
    size_t rl = strlen(rest);
    for (size_t i = 0; i < z->n; i++) {
        const char *n = z->v[i].name;
        if (strlen(n) == pl + rl && memcmp(n, prefix, pl) == 0 && memcmp(n + pl, rest, rl) == 0) return &z->v[i];
    }
    return NULL;
}

static int text_of(const struct lc_pickle_value *v, const char **s, size_t *n)
{
    if (!v || (v->type != LC_PICKLE_UNICODE && v->type != LC_PICKLE_STR)) return -1;
    *s = (const char *)v->u.str.data, *n = v->u.str.len;
    return 0;
}

/* One tensor: v is a _rebuild_tensor_v2 call (args storage, offset, size,
 * stride, ...). */
static int torch_tensor(struct lc_tensor_file *f, const struct zip *z, const char *prefix, size_t pl,
                        const struct lc_pickle_value *v, const char *key, struct lc_err *err)
{
    const char *nm = f->name;
    const struct lc_pickle_value *args = v->u.obj.args, *st = lc_pickle_item(args, 0), *off = lc_pickle_item(args, 1),
                                 *size = lc_pickle_item(args, 2), *stride = lc_pickle_item(args, 3);
    int64_t offset;
    if (!st || st->type != LC_PICKLE_PERSID || lc_pickle_int(off, &offset) || offset < 0 || !size ||
        size->type != LC_PICKLE_TUPLE || !stride || stride->type != LC_PICKLE_TUPLE ||
        lc_pickle_len(size) != lc_pickle_len(stride))
        return lc_errf(err, LC_EFORMAT, nm, -1, v->offset, "tensor %s: malformed _rebuild_tensor_v2 arguments", key);
    const struct lc_pickle_value *pid = st->u.pid, *kind = lc_pickle_item(pid, 0), *type = lc_pickle_item(pid, 1),
                                 *skey = lc_pickle_item(pid, 2);
    int64_t snumel;
    const char *ks;
    size_t kl;
    if (!lc_pickle_str_eq(kind, "storage") || !type || type->type != LC_PICKLE_GLOBAL || text_of(skey, &ks, &kl) ||
        lc_pickle_int(lc_pickle_item(pid, 4), &snumel) || snumel < 0 || kl > 64 || memchr(ks, '/', kl))
        return lc_errf(err, LC_EFORMAT, nm, -1, st->offset, "tensor %s: malformed storage reference", key);
    char qual[160];
    snprintf(qual, sizeof qual, "%s.%s", type->u.global.module, type->u.global.name);
    int dtype = -1, is_bool = 0;
    for (size_t i = 0; i < sizeof torch_storages / sizeof *torch_storages; i++)
        if (strcmp(qual, torch_storages[i].global) == 0) dtype = torch_storages[i].dtype, is_bool = torch_storages[i].is_bool;
    if (dtype < 0)
        return lc_errf(err, LC_EUNSUPPORTED, nm, -1, type->offset, "tensor %s is stored as %s, which is not supported",
                       key, qual);
    char rest[80];
    snprintf(rest, sizeof rest, "data/%.*s", (int)kl, ks);
    const struct zentry *ze = zfind(z, prefix, pl, rest);
    if (!ze) return lc_errf(err, LC_EFORMAT, nm, -1, st->offset, "tensor %s: the archive has no %.*s%s", key, (int)pl, prefix, rest);
    size_t isz = lc_dtype_size(dtype);
    if ((uint64_t)snumel > ze->len / isz)
        return lc_errf(err, LC_ETRUNC, nm, -1, st->offset, "tensor %s: storage %s holds %zu bytes, %" PRId64 " elements of %zu expected",
                       key, ze->name, ze->len, snumel, isz);
    unsigned rank = (unsigned)lc_pickle_len(size);
    if (rank > LC_TENSOR_MAX_RANK)
        return lc_errf(err, LC_EUNSUPPORTED, nm, -1, v->offset, "tensor %s has rank %u (at most %d)", key, rank, LC_TENSOR_MAX_RANK);
    struct lc_tensor_entry *e = push_entry(f);
    if (!e || !(e->name = own_strndup(f, key, strlen(key)))) return oom(err, nm);
    e->dtype = dtype, e->is_bool = is_bool, e->rank = rank;
    int64_t strides[LC_TENSOR_MAX_RANK];
    for (unsigned i = 0; i < rank; i++) {
        if (lc_pickle_int(lc_pickle_item(size, i), &e->dims[i]) || e->dims[i] < 0 ||
            lc_pickle_int(lc_pickle_item(stride, i), &strides[i]) || strides[i] < 0 || strides[i] > ((int64_t)1 << 48))
            return lc_errf(err, LC_EFORMAT, nm, -1, v->offset, "tensor %s: bad size or stride", key);
    }
    if (numel_of(e->dims, rank, isz, &e->numel))
        return lc_errf(err, LC_EFORMAT, nm, -1, v->offset, "tensor %s: its size overflows", key);
    e->bytes = e->numel * isz;
    if (!e->numel) {
        e->data = ze->data;
        return 0;
    }
    /* last element reached must lie inside the storage */
    uint64_t last = (uint64_t)offset;
    int contiguous = 1;
    int64_t want = 1;
    for (unsigned i = rank; i-- > 0;) {
        last += (uint64_t)(e->dims[i] - 1) * (uint64_t)strides[i];
        if (e->dims[i] != 1 && strides[i] != want) contiguous = 0;
        want *= e->dims[i];
    }
    if ((uint64_t)offset > (uint64_t)snumel || last >= (uint64_t)snumel)
        return lc_errf(err, LC_EFORMAT, nm, -1, v->offset,
                       "tensor %s reaches element %" PRIu64 " of a storage of %" PRId64, key, last, snumel);
    const uint8_t *base = ze->data + (size_t)offset * isz;
    if (contiguous) {
        e->data = base;
        return 0;
    }
    uint8_t *dst = own_alloc(f, e->bytes);
    if (!dst) return oom(err, nm);
    int64_t idx[LC_TENSOR_MAX_RANK] = {0};
    for (size_t k = 0; k < e->numel; k++) {
        uint64_t s = 0;
        for (unsigned i = 0; i < rank; i++) s += (uint64_t)idx[i] * (uint64_t)strides[i];
        memcpy(dst + k * isz, base + s * isz, isz);
        for (unsigned i = rank; i-- > 0;) {
            if (++idx[i] < e->dims[i]) break;
            idx[i] = 0;
        }
    }
    e->data = dst;
    return 0;
}

static int scalar_text(const struct lc_pickle_value *v, char *buf, size_t n)
{
    switch (v->type) {
    case LC_PICKLE_INT:
    case LC_PICKLE_BOOL: snprintf(buf, n, "%" PRId64, v->u.i); return 0;
    case LC_PICKLE_FLOAT: snprintf(buf, n, "%.17g", v->u.f); return 0;
    case LC_PICKLE_UNICODE:
    case LC_PICKLE_STR: snprintf(buf, n, "%.*s", (int)(v->u.str.len < n - 1 ? v->u.str.len : n - 1), (const char *)v->u.str.data); return 0;
    default: return -1;
    }
}

static int parse_torch_zip(struct lc_tensor_file *f, struct archive *a, uint64_t limit, struct lc_err *err)
{
    const char *nm = f->name;
    struct zip z = {0};
    struct lc_pickle *p = NULL;
    int rc = read_zip(f, a, &z, limit, err);
    if (rc) goto out;
    const struct zentry *pk = NULL;
    for (size_t i = 0; i < z.n && !pk; i++) {
        size_t l = strlen(z.v[i].name);
        if (l >= 8 && strcmp(z.v[i].name + l - 8, "data.pkl") == 0 && (l == 8 || z.v[i].name[l - 9] == '/')) pk = &z.v[i];
    }
    if (!pk) {
        rc = lc_errf(err, LC_EFORMAT, nm, -1, -1, "a zip archive without data.pkl: not a PyTorch checkpoint");
        goto out;
    }
    const char *prefix = pk->name;
    size_t pl = strlen(pk->name) - 8;
    const struct zentry *bo = zfind(&z, prefix, pl, "byteorder");
    if (bo && !(bo->len == 6 && memcmp(bo->data, "little", 6) == 0)) {
        rc = lc_errf(err, LC_EUNSUPPORTED, nm, -1, -1, "a big-endian PyTorch checkpoint (byteorder %.*s)",
                     (int)(bo->len < 16 ? bo->len : 16), (const char *)bo->data);
        goto out;
    }
    /* Any global may be named (a Lightning checkpoint's hyper-parameters
     * hold arbitrary classes); nothing is called, and only the tensor
     * rebuild calls below are interpreted. */
    static const char *const any[] = {"*", NULL};
    struct lc_pickle_opts o = {.allow = any};
    char pkname[600];
    snprintf(pkname, sizeof pkname, "%s:%s", nm, pk->name);
    if ((rc = lc_pickle_parse(&p, pk->data, pk->len, &o, pkname, err))) goto out;
    const struct lc_pickle_value *root = lc_pickle_root(p), *sd = root;
    const struct lc_pickle_value *inner = lc_pickle_get(root, "state_dict");
    if (inner && lc_pickle_dict(inner)) {
        sd = inner;
        /* a Lightning checkpoint: its scalar entries are metadata */
        const struct lc_pickle_value *k, *v;
        for (size_t i = 0; lc_pickle_pair(root, i, &k, &v) == 0; i++) {
            const char *ks;
            size_t kl;
            char val[256];
            if (text_of(k, &ks, &kl) || scalar_text(v, val, sizeof val)) continue;
            if (push_meta(f, ks, kl, val, strlen(val))) {
                rc = oom(err, nm);
                goto out;
            }
        }
    }
    if (!lc_pickle_dict(sd)) {
        const char *what = "a non-dict value";
        char buf[160];
        if (sd->type == LC_PICKLE_OBJECT && sd->u.obj.callable && sd->u.obj.callable->type == LC_PICKLE_GLOBAL) {
            snprintf(buf, sizeof buf, "a pickled %s.%s object", sd->u.obj.callable->u.global.module,
                     sd->u.obj.callable->u.global.name);
            what = buf;
        }
        rc = lc_errf(err, LC_EUNSUPPORTED, nm, -1, -1, "holds %s, not a state dict (save model.state_dict() instead)", what);
        goto out;
    }
    const struct lc_pickle_value *k, *v;
    for (size_t i = 0; lc_pickle_pair(sd, i, &k, &v) == 0; i++) {
        const char *ks;
        size_t kl;
        if (text_of(k, &ks, &kl)) continue;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(kl < 255 ? kl : 255), ks);
        if (lc_pickle_is_call(v, "torch._utils._rebuild_parameter") ||
            lc_pickle_is_call(v, "torch._utils._rebuild_parameter_with_state"))
            v = lc_pickle_item(v->u.obj.args, 0);
        if (lc_pickle_is_call(v, "torch._utils._rebuild_tensor_v2")) {
            if ((rc = torch_tensor(f, &z, prefix, pl, v, key, err))) goto out;
        } else if (v && v->type == LC_PICKLE_OBJECT && v->u.obj.callable &&
                   v->u.obj.callable->type == LC_PICKLE_GLOBAL &&
                   strcmp(v->u.obj.callable->u.global.module, "torch._utils") == 0) {
            rc = lc_errf(err, LC_EUNSUPPORTED, nm, -1, v->offset, "tensor %s is built by torch._utils.%s (not a plain dense tensor)",
                         key, v->u.obj.callable->u.global.name);
            goto out;
        }
    }
out:
    lc_pickle_free(p);
    free(z.v);
    return rc;
}

static int new_file(struct lc_tensor_file **out, const char *name, struct lc_err *err)
{
    struct lc_tensor_file *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name ? name : "?"))) {
        free(f);
        return oom(err, name);
    }
    *out = f;
    return 0;
}

static int is_zip(const uint8_t *d, size_t len)
{
    return len >= 4 && d[0] == 'P' && d[1] == 'K' && d[2] == 3 && d[3] == 4;
}

/* The pickle protocol-2 magic number torch.save wrote before 1.6. */
static int is_legacy_torch(const uint8_t *d, size_t len)
{
    return len >= 2 && d[0] == 0x80 && d[1] == 2;
}

static int open_zip(struct lc_tensor_file *f, const void *data, size_t len, const char *path, struct lc_err *err)
{
    struct archive *a = archive_read_new();
    if (!a) return oom(err, f->name);
    archive_read_support_format_zip(a);
    archive_read_support_filter_none(a);
    int r = data ? archive_read_open_memory(a, data, len) : archive_read_open_filename(a, path, 1 << 16);
    int rc;
    if (r != ARCHIVE_OK)
        rc = lc_errf(err, LC_EFORMAT, f->name, -1, -1, "not a readable zip archive: %s",
                     archive_error_string(a) ? archive_error_string(a) : "unknown libarchive error");
    else rc = parse_torch_zip(f, a, (uint64_t)len * 16 + (1u << 20), err);
    archive_read_free(a);
    f->format = "pytorch";
    return rc;
}

int lc_tensor_file_open_mem(struct lc_tensor_file **out, const void *data, size_t len, const char *name,
                            struct lc_err *err)
{
    struct lc_tensor_file *f;
    int rc = new_file(&f, name, err);
    if (rc) return rc;
    const uint8_t *d = data;
    if (is_zip(d, len)) rc = open_zip(f, data, len, NULL, err);
    else if (is_legacy_torch(d, len))
        rc = lc_errf(err, LC_EUNSUPPORTED, f->name, -1, 0,
                     "a legacy (PyTorch < 1.6) checkpoint: re-save it with torch.save(obj, path) from PyTorch >= 1.6");
    else {
        f->format = "safetensors";
        rc = parse_safetensors(f, d, len, err);
    }
    if (rc) {
        lc_tensor_file_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int lc_tensor_file_open(struct lc_tensor_file **out, const char *path, struct lc_err *err)
{
    uint8_t head[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lc_errf(err, LC_EIO, path, -1, -1, "cannot open: %s", strerror(errno));
    ssize_t got = read(fd, head, sizeof head);
    off_t size = lseek(fd, 0, SEEK_END);
    close(fd);
    if (got < 0 || size < 0) return lc_errf(err, LC_EIO, path, -1, -1, "cannot read: %s", strerror(errno));
    struct lc_tensor_file *f;
    int rc;
    if (is_zip(head, (size_t)got)) {
        /* storages are copied out entry by entry: no second whole-file copy */
        if ((rc = new_file(&f, path, err))) return rc;
        if ((rc = open_zip(f, NULL, (size_t)size, path, err))) {
            lc_tensor_file_close(f);
            return rc;
        }
        *out = f;
        return 0;
    }
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    if ((rc = lc_file_read(path, &buf, &cap, &len, SIZE_MAX, err))) return rc;
    if ((rc = lc_tensor_file_open_mem(&f, buf, len, path, err))) {
        free(buf);
        return rc;
    }
    f->file = buf; /* entries point into it */
    *out = f;
    return 0;
}

/* ---- safetensors writer */

struct wentry {
    char *name;
    int dtype, is_bool;
    unsigned rank;
    int64_t dims[LC_TENSOR_MAX_RANK];
    const void *data;
    size_t bytes;
};

struct lc_st_writer {
    char *path;
    struct wentry *v;
    size_t n, cap;
    json_t *meta;
};

int lc_st_writer_open(struct lc_st_writer **out, const char *path, struct lc_err *err)
{
    struct lc_st_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->meta = json_object())) {
        if (w) free(w->path), free(w);
        return oom(err, path);
    }
    *out = w;
    return 0;
}

void lc_st_writer_abort(struct lc_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->v[i].name);
    free(w->v), free(w->path);
    json_decref(w->meta);
    free(w);
}

static int add_any(struct lc_st_writer *w, const char *name, int dtype, int is_bool, unsigned rank,
                   const int64_t *dims, const void *data, struct lc_err *err)
{
    if (!st_dtype_name(dtype, is_bool))
        return lc_errf(err, LC_EINVAL, w->path, -1, -1, "tensor %s: dtype %s has no safetensors name", name, lc_dtype_name(dtype));
    if (rank > LC_TENSOR_MAX_RANK) return lc_errf(err, LC_EINVAL, w->path, -1, -1, "tensor %s: rank %u", name, rank);
    if (strcmp(name, "__metadata__") == 0 || !*name)
        return lc_errf(err, LC_EINVAL, w->path, -1, -1, "\"%s\" cannot name a tensor", name);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->v[i].name, name) == 0) return lc_errf(err, LC_EINVAL, w->path, -1, -1, "tensor %s added twice", name);
    size_t numel;
    if (numel_of(dims, rank, lc_dtype_size(dtype), &numel))
        return lc_errf(err, LC_EINVAL, w->path, -1, -1, "tensor %s: bad shape", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        void *v = realloc(w->v, cap * sizeof *w->v);
        if (!v) return oom(err, w->path);
        w->v = v, w->cap = cap;
    }
    struct wentry *e = &w->v[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) return oom(err, w->path);
    e->dtype = dtype, e->is_bool = is_bool, e->rank = rank, e->data = data;
    e->bytes = numel * lc_dtype_size(dtype);
    for (unsigned i = 0; i < rank; i++) e->dims[i] = dims[i];
    w->n++;
    return 0;
}

int lc_st_add(struct lc_st_writer *w, const char *name, int dtype, unsigned rank, const int64_t *dims,
              const void *data, struct lc_err *err)
{
    return add_any(w, name, dtype, 0, rank, dims, data, err);
}

int lc_st_add_bool(struct lc_st_writer *w, const char *name, unsigned rank, const int64_t *dims, const uint8_t *data,
                   struct lc_err *err)
{
    return add_any(w, name, LC_DTYPE_U8, 1, rank, dims, data, err);
}

int lc_st_meta(struct lc_st_writer *w, const char *key, const char *value, struct lc_err *err)
{
    json_t *s = json_string(value);
    if (!s || json_object_set_new(w->meta, key, s))
        return lc_errf(err, LC_EINVAL, w->path, -1, -1, "metadata %s: key and value must be UTF-8 text", key);
    return 0;
}

/* The reference writer's order: dtype (in the order of its Dtype enum)
 * descending, then name. Element sizes come out descending, so every
 * tensor is aligned, and our files are byte-identical to its files. */
static int st_rank(int dtype, int is_bool)
{
    static const char *const order[] = {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"};
    const char *n = st_dtype_name(dtype, is_bool);
    for (int i = 0; i < (int)(sizeof order / sizeof *order); i++)
        if (strcmp(order[i], n) == 0) return i;
    return -1;
}

static int cmp_went(const void *a, const void *b)
{
    const struct wentry *x = a, *y = b;
    int rx = st_rank(x->dtype, x->is_bool), ry = st_rank(y->dtype, y->is_bool);
    if (rx != ry) return rx > ry ? -1 : 1;
    return strcmp(x->name, y->name);
}

int lc_st_writer_close(struct lc_st_writer *w, struct lc_err *err)
{
    int rc = 0;
    char *hdr = NULL;
    struct lc_out *o = NULL;
    json_t *root = json_object();
    if (!root) {
        rc = oom(err, w->path);
        goto out;
    }
    if (w->n) qsort(w->v, w->n, sizeof *w->v, cmp_went);
    if (json_object_size(w->meta)) json_object_set(root, "__metadata__", w->meta);
    uint64_t at = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct wentry *e = &w->v[i];
        json_t *t = json_object(), *shape = json_array();
        if (!t || !shape) {
            json_decref(t), json_decref(shape);
            rc = oom(err, w->path);
            goto out;
        }
        for (unsigned k = 0; k < e->rank; k++) json_array_append_new(shape, json_integer(e->dims[k]));
        json_object_set_new(t, "dtype", json_string(st_dtype_name(e->dtype, e->is_bool)));
        json_object_set_new(t, "shape", shape);
        json_object_set_new(t, "data_offsets", json_pack("[II]", (json_int_t)at, (json_int_t)(at + e->bytes)));
        if (json_object_set_new(root, e->name, t)) {
            rc = lc_errf(err, LC_EINVAL, w->path, -1, -1, "tensor name %s is not UTF-8 text", e->name);
            goto out;
        }
        at += e->bytes;
    }
    if (!(hdr = json_dumps(root, JSON_COMPACT))) {
        rc = oom(err, w->path);
        goto out;
    }
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    static const char spaces[8] = "        ";
    if ((rc = lc_out_open(&o, w->path, LC_OUT_BINARY | LC_OUT_FSYNC, err))) goto out;
    if ((rc = lc_out_write(o, len8, 8, err)) || (rc = lc_out_write(o, hdr, hl, err)) ||
        (rc = lc_out_write(o, spaces, padded - hl, err)))
        goto out;
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].bytes && (rc = lc_out_write(o, w->v[i].data, w->v[i].bytes, err))) goto out;
    rc = lc_out_commit(o, err);
    o = NULL;
out:
    lc_out_abort(o);
    free(hdr);
    json_decref(root);
    lc_st_writer_abort(w);
    return rc;
}
