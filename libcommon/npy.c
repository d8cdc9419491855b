/* npy: header parsing and writing for numpy's .npy files. The header is a
 * Python dict literal; we accept exactly the form numpy writes (keys in any
 * order, optional trailing commas and spaces) and nothing else. */
#include "npy.h"

#include <stdio.h>
#include <string.h>

#include "dtype.h"
#include "io.h"

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n')) p++;
    return p;
}

static int bad(struct lc_err *err, const char *what)
{
    return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "bad .npy header: %s", what);
}

int lc_npy_parse(const void *buf, size_t len, struct lc_npy *out, struct lc_err *err)
{
    const uint8_t *b = buf;
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return lc_errf(err, LC_EFORMAT, NULL, -1, 0, "not a .npy file (bad magic)");
    int major = b[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return bad(err, "truncated");
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        start = 12;
    } else {
        return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, 6, ".npy version %d.%d is not supported", major, b[7]);
    }
    if (hlen > len - start || hlen > (1u << 20)) return lc_errf(err, LC_ETRUNC, NULL, -1, 8, ".npy header runs past the end");
    const char *p = (const char *)b + start, *end = p + hlen;
    p = skip_ws(p, end);
    if (p >= end || *p++ != '{') return bad(err, "expected '{'");
    int have_descr = 0, have_order = 0, have_shape = 0;
    for (;;) {
        p = skip_ws(p, end);
        if (p < end && *p == '}') break;
        char key[32];
        if (p >= end || (*p != '\'' && *p != '"')) return bad(err, "expected a key");
        char q = *p++;
        size_t k = 0;
        while (p < end && *p != q && k < sizeof key - 1) key[k++] = *p++;
        key[k] = '\0';
        if (p >= end || *p++ != q) return bad(err, "unterminated key");
        p = skip_ws(p, end);
        if (p >= end || *p++ != ':') return bad(err, "expected ':'");
        p = skip_ws(p, end);
        if (strcmp(key, "descr") == 0) {
            if (p >= end || (*p != '\'' && *p != '"')) return bad(err, "descr must be a string (structured dtypes are not supported)");
            char dq = *p++, descr[16];
            size_t n = 0;
            while (p < end && *p != dq && n < sizeof descr - 1) descr[n++] = *p++;
            descr[n] = '\0';
            if (p >= end || *p++ != dq) return bad(err, "unterminated descr");
            out->dtype = lc_dtype_from_npy(descr);
            if (out->dtype < 0)
                return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, ".npy dtype '%s' is not supported%s", descr,
                               strcmp(descr, "|O") == 0 ? " (object arrays are never unpickled)" : "");
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if ((size_t)(end - p) >= 5 && memcmp(p, "False", 5) == 0) p += 5;
            else if ((size_t)(end - p) >= 4 && memcmp(p, "True", 4) == 0)
                return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "Fortran-order .npy is not supported (save with np.ascontiguousarray)");
            else return bad(err, "fortran_order must be False or True");
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (p >= end || *p++ != '(') return bad(err, "shape must be a tuple");
            out->rank = 0;
            for (;;) {
                p = skip_ws(p, end);
                if (p < end && *p == ')') { p++; break; }
                if (out->rank == LC_NPY_MAX_RANK) return bad(err, "too many dimensions");
                uint64_t v = 0;
                const char *d0 = p;
                while (p < end && *p >= '0' && *p <= '9') {
                    if (v > (UINT64_MAX - 9) / 10) return bad(err, "dimension overflows");
                    v = v * 10 + (uint64_t)(*p++ - '0');
                }
                if (p == d0) return bad(err, "expected a dimension");
                out->dims[out->rank++] = v;
                p = skip_ws(p, end);
                if (p < end && *p == ',') p++;
                else if (p < end && *p == ')') { p++; break; }
                else return bad(err, "expected ',' or ')' in shape");
            }
            have_shape = 1;
        } else {
            return bad(err, "unknown key");
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') { p++; continue; }
        if (p < end && *p == '}') break;
        return bad(err, "expected ',' or '}'");
    }
    if (!have_descr || !have_order || !have_shape) return bad(err, "missing descr, fortran_order or shape");
    unsigned __int128 bytes = lc_dtype_size(out->dtype);
    for (unsigned i = 0; i < out->rank; i++) {
        bytes *= out->dims[i];
        if (bytes > UINT64_MAX) return bad(err, "array size overflows");
    }
    out->data_offset = start + hlen;
    out->data_bytes = (uint64_t)bytes;
    return 0;
}

int lc_npy_header(char *hdr, size_t size, int dtype, unsigned rank, const uint64_t *dims,
                  struct lc_err *err)
{
    const char *descr = lc_dtype_npy(dtype);
    if (!descr) return lc_errf(err, LC_EUNSUPPORTED, NULL, -1, -1, "dtype %s has no numpy equivalent", lc_dtype_name(dtype));
    if (rank > LC_NPY_MAX_RANK) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "rank %u too large", rank);
    char dict[256], shape[200] = "";
    size_t n = 0;
    for (unsigned i = 0; i < rank; i++)
        n += (size_t)snprintf(shape + n, sizeof shape - n, "%llu%s", (unsigned long long)dims[i],
                              rank == 1 ? "," : i + 1 < rank ? ", " : "");
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    size_t total = (10 + (size_t)dl + 1 + 63) & ~(size_t)63; /* + '\n', padded to 64 */
    if (total > size) return lc_errf(err, LC_EINVAL, NULL, -1, -1, "npy header buffer too small");
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    size_t hl = total - 10;
    hdr[8] = (char)(hl & 0xff);
    hdr[9] = (char)(hl >> 8);
    memcpy(hdr + 10, dict, (size_t)dl);
    memset(hdr + 10 + dl, ' ', total - 10 - (size_t)dl - 1);
    hdr[total - 1] = '\n';
    return (int)total;
}

int lc_npy_save(const char *path, int dtype, unsigned rank, const uint64_t *dims, const void *data,
                struct lc_err *err)
{
    char hdr[320];
    int hl = lc_npy_header(hdr, sizeof hdr, dtype, rank, dims, err);
    if (hl < 0) return hl;
    uint64_t bytes = lc_dtype_size(dtype);
    for (unsigned i = 0; i < rank; i++) bytes *= dims[i];
    struct lc_out *o;
    int rc = lc_out_open(&o, path, LC_OUT_BINARY, err);
    if (rc) return rc;
    rc = lc_out_write(o, hdr, (size_t)hl, err);
    if (!rc && bytes) rc = lc_out_write(o, data, bytes, err);
    if (rc) {
        lc_out_abort(o);
        return rc;
    }
    return lc_out_commit(o, err);
}
