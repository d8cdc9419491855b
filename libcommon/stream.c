/* stream: tensor stream v1 reader and writer (layout in stream.h, spec in
 * docs/stream-format.md). The reader never seeks and holds one record at a
 * time; every header, payload and trailer is checked before it is used. */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the stream code assumes a little-endian host"
#endif

static const uint8_t MAGIC[8] = {0x89, 'S', 'F', 'T', '\r', '\n', 0x1a, '\n'};
static const uint8_t TAG_REC[4] = {0x89, 'R', 'E', 'C'};
static const uint8_t TAG_END[4] = {0x89, 'E', 'N', 'D'};
static const char *BINDING_KEYS[] = {"channels", "layout", "normalization"};

#define FIXED 64
#define MAX_RECORD_HEADER (FIXED + 8 * 65535 + 4 * 65535 + 65535 + 63)

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* crc32 of a block whose 4-byte checksum field at crc_at reads as zero. */
static uint32_t block_crc(const uint8_t *p, size_t len, size_t crc_at)
{
    static const uint8_t zero[4];
    uint32_t c = lc_crc32(0, p, crc_at);
    c = lc_crc32(c, zero, 4);
    return lc_crc32(c, p + crc_at + 4, len - crc_at - 4);
}

const char *lc_codec_name(int codec)
{
    static const char *names[] = {"none", "jpeg", "png", "bytes"};
    return codec >= 0 && codec < LC_CODEC_COUNT ? names[codec] : "?";
}

uint64_t lc_record_numel(const struct lc_record *r)
{
    uint64_t n = 1;
    for (unsigned i = 0; i < r->rank && i < LC_STREAM_MAX_RANK; i++) n *= r->dims[i];
    return n;
}

void lc_record_set_tensor(struct lc_record *r, int dtype, unsigned rank,
                          const uint32_t *dims, const void *payload)
{
    r->dtype = dtype;
    r->codec = LC_CODEC_NONE;
    r->rank = rank;
    memset(r->dims, 0, sizeof r->dims);
    for (unsigned i = 0; i < rank; i++) r->dims[i] = dims[i];
    r->payload_len = dtype == LC_DTYPE_NONE ? 0 : lc_record_numel(r) * lc_dtype_size(dtype);
    r->payload = payload;
}

/* numel * size with overflow detection; 0 on overflow sets *ok = 0. */
static uint64_t tensor_bytes(int dtype, unsigned rank, const uint32_t *dims, int *ok)
{
    unsigned __int128 n = lc_dtype_size(dtype);
    for (unsigned i = 0; i < rank; i++) {
        n *= dims[i];
        if (n > UINT64_MAX) {
            *ok = 0;
            return 0;
        }
    }
    *ok = 1;
    return (uint64_t)n;
}

/* ---------------------------------------------------------------- meta */

static int key_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

int lc_meta_validate(const char *meta, size_t len, struct lc_err *err)
{
    size_t line = 1, i = 0;
    while (i < len) {
        size_t k = i;
        while (k < len && key_char((unsigned char)meta[k])) k++;
        if (k == i || k >= len || meta[k] != '=')
            return lc_errf(err, LC_EINVAL, NULL, -1, -1,
                           "metadata line %zu is not key=value", line);
        while (k < len && meta[k] != '\n') {
            if (meta[k] == '\0')
                return lc_errf(err, LC_EINVAL, NULL, -1, -1, "metadata line %zu has a NUL byte", line);
            k++;
        }
        i = k + 1;
        line++;
    }
    return 0;
}

static const char *meta_find(const char *meta, const char *key, size_t *vlen)
{
    size_t kl = strlen(key);
    for (const char *p = meta; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > kl && memcmp(p, key, kl) == 0 && p[kl] == '=') {
            *vlen = ll - kl - 1;
            return p + kl + 1;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

int lc_meta_get(const char *meta, const char *key, char *val, size_t size)
{
    size_t vl;
    const char *v = meta ? meta_find(meta, key, &vl) : NULL;
    if (!v) return 0;
    if (size) {
        size_t n = vl < size - 1 ? vl : size - 1;
        memcpy(val, v, n);
        val[n] = '\0';
    }
    return 1;
}

int lc_meta_add(char **meta, const char *key, const char *value)
{
    for (const char *k = key; *k; k++)
        if (!key_char((unsigned char)*k)) return LC_EINVAL;
    if (!*key || strchr(value, '\n')) return LC_EINVAL;
    size_t old = *meta ? strlen(*meta) : 0;
    int need_nl = old && (*meta)[old - 1] != '\n';
    size_t n = old + need_nl + strlen(key) + 1 + strlen(value) + 2;
    char *m = realloc(*meta, n);
    if (!m) return LC_ENOMEM;
    snprintf(m + old, n - old, "%s%s=%s\n", need_nl ? "\n" : "", key, value);
    *meta = m;
    return 0;
}

int lc_meta_set(char **meta, const char *key, const char *value)
{
    size_t vl;
    const char *v = *meta ? meta_find(*meta, key, &vl) : NULL;
    if (v) { /* drop the old line, then append */
        char *line = (char *)v - strlen(key) - 1;
        const char *next = v + vl;
        if (*next == '\n') next++;
        memmove(line, next, strlen(next) + 1);
    }
    return lc_meta_add(meta, key, value);
}

/* --------------------------------------------------------------- reader */

enum { ST_RECORD, ST_PAYLOAD_PENDING, ST_PAYLOAD_DONE, ST_END };

struct lc_reader {
    struct lc_in *in;
    struct lc_stream_header hdr;
    char *meta;
    uint8_t *rh; /* record header bytes */
    char *key;
    uint8_t *payload;
    size_t payload_cap;
    int state;
    int failed; /* sticky: after an error the reader only reports it */
    uint64_t seg_start, seg_count, segments, total;
    struct lc_record cur;
};

static const char *format_hint(const uint8_t *b, size_t n)
{
    if (n >= 4 && rd32(b) == 0xced7230au) return " (this is an MXNet RecordIO file: use rec-unpack)";
    if (n >= 4 && rd32(b) == 0x3ed7230au) return " (this is an early dmlc RecordIO file: use rec-unpack)";
    if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
        return " (this looks like a Python pickle, e.g. an InsightFace .bin: use rec-unpack)";
    if (n >= 6 && memcmp(b, "\x93NUMPY", 6) == 0) return " (this is a .npy file: use `sft pack-npy`)";
    if (n >= 2 && b[0] == 'P' && b[1] == 'K') return " (this is a zip archive)";
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return " (this is a JPEG image)";
    if (n >= 4 && memcmp(b, "\x89PNG", 4) == 0) return " (this is a PNG image)";
    if (n >= 4 && b[0] == 0x89 && b[1] == 'S' && b[2] == 'F' && b[3] == 'T')
        return " (the magic is damaged: was the stream transferred in text mode?)";
    return "";
}

static int read_exact(struct lc_reader *r, void *dst, size_t n, const char *what,
                      int64_t record, uint64_t start, struct lc_err *err)
{
    size_t got;
    int rc = lc_in_read(r->in, dst, n, &got, err);
    if (rc) return rc;
    if (got < n)
        return lc_errf(err, LC_ETRUNC, lc_in_name(r->in), record, (int64_t)start,
                       "truncated: input ends inside %s (%zu of %zu bytes)", what, got, n);
    return 0;
}

static int check_binding(struct lc_reader *r, const char *meta, uint64_t off, struct lc_err *err)
{
    for (size_t i = 0; i < sizeof BINDING_KEYS / sizeof *BINDING_KEYS; i++) {
        char a[256] = "", b[256] = "";
        int ha = lc_meta_get(r->meta, BINDING_KEYS[i], a, sizeof a);
        int hb = lc_meta_get(meta, BINDING_KEYS[i], b, sizeof b);
        if (ha != hb || strcmp(a, b) != 0)
            return lc_errf(err, LC_EFORMAT, lc_in_name(r->in), -1, (int64_t)off,
                           "concatenated stream %llu has %s=%s but the first has %s=%s",
                           (unsigned long long)r->segments + 1, BINDING_KEYS[i],
                           hb ? b : "(unset)", BINDING_KEYS[i], ha ? a : "(unset)");
    }
    return 0;
}

/* Parse a stream header whose first 4 bytes are already in first4. */
static int read_header(struct lc_reader *r, const uint8_t *first4, uint64_t start,
                       struct lc_err *err)
{
    const char *name = lc_in_name(r->in);
    uint8_t fixed[FIXED];
    memcpy(fixed, first4, 4);
    size_t got;
    int rc = lc_in_read(r->in, fixed + 4, FIXED - 4, &got, err);
    if (rc) return rc;
    size_t have = got + 4;
    if (memcmp(fixed, MAGIC, have < 8 ? have : 8) != 0)
        return lc_errf(err, LC_EFORMAT, name, -1, (int64_t)start,
                       "not a tensor stream: bad magic%s", format_hint(fixed, have));
    if (have < FIXED)
        return lc_errf(err, LC_ETRUNC, name, -1, (int64_t)start,
                       "truncated: input ends inside the stream header");
    uint32_t version = rd32(fixed + 8), hlen = rd32(fixed + 12), mlen = rd32(fixed + 32);
    if (version != LC_STREAM_VERSION)
        return lc_errf(err, LC_EUNSUPPORTED, name, -1, (int64_t)start,
                       "stream version %u is not supported (this reader knows version %d%s)",
                       version, LC_STREAM_VERSION,
                       version > LC_STREAM_VERSION ? "; upgrade the toolkit" : "");
    if (mlen > LC_STREAM_META_MAX || hlen != align64(FIXED + mlen))
        return lc_errf(err, LC_ECORRUPT, name, -1, (int64_t)start,
                       "stream header: inconsistent lengths (header %u, metadata %u)", hlen, mlen);
    uint8_t *h = malloc(hlen + 1);
    if (!h) return lc_errf(err, LC_ENOMEM, name, -1, (int64_t)start, "out of memory");
    memcpy(h, fixed, FIXED);
    rc = read_exact(r, h + FIXED, hlen - FIXED, "the stream header's metadata", -1, start, err);
    if (rc) goto fail;
    if (block_crc(h, hlen, 60) != rd32(h + 60)) {
        rc = lc_errf(err, LC_ECORRUPT, name, -1, (int64_t)start, "stream header: checksum mismatch");
        goto fail;
    }
    char kind[LC_STREAM_KIND_MAX + 1];
    memcpy(kind, h + 16, LC_STREAM_KIND_MAX);
    kind[LC_STREAM_KIND_MAX] = '\0';
    char *meta = (char *)h + FIXED;
    if (rd32(h + 36) != 0 || !all_zero(h + 40, 20) || memchr(meta, 0, mlen) ||
        !all_zero(h + FIXED + mlen, hlen - FIXED - mlen) || !kind[0]) {
        rc = lc_errf(err, LC_EFORMAT, name, -1, (int64_t)start,
                     "stream header: reserved fields, kind or metadata malformed");
        goto fail;
    }
    meta[mlen] = '\0';
    if (!r->meta) { /* first segment */
        r->meta = malloc(mlen + 1);
        if (!r->meta) {
            rc = lc_errf(err, LC_ENOMEM, name, -1, (int64_t)start, "out of memory");
            goto fail;
        }
        memcpy(r->meta, meta, mlen + 1);
        memcpy(r->hdr.kind, kind, sizeof kind);
        r->hdr.version = version;
        r->hdr.meta = r->meta;
        r->hdr.meta_len = mlen;
    } else {
        if (strcmp(kind, r->hdr.kind) != 0) {
            rc = lc_errf(err, LC_EFORMAT, name, -1, (int64_t)start,
                         "concatenated stream %llu is of kind '%s', the first is '%s'",
                         (unsigned long long)r->segments + 1, kind, r->hdr.kind);
            goto fail;
        }
        rc = check_binding(r, meta, start, err);
        if (rc) goto fail;
    }
    free(h);
    r->segments++;
    r->seg_start = start;
    r->seg_count = 0;
    r->state = ST_RECORD;
    return 0;
fail:
    free(h);
    return rc;
}

static int reader_init(struct lc_reader *r, struct lc_err *err)
{
    r->rh = malloc(MAX_RECORD_HEADER);
    r->key = malloc(65536);
    if (!r->rh || !r->key) return lc_errf(err, LC_ENOMEM, lc_in_name(r->in), -1, -1, "out of memory");
    uint8_t first[4];
    size_t got;
    int rc = lc_in_read(r->in, first, 4, &got, err);
    if (rc) return rc;
    if (got == 0)
        return lc_errf(err, LC_ETRUNC, lc_in_name(r->in), -1, 0, "empty input: not a tensor stream");
    if (got < 4 && memcmp(first, MAGIC, got) != 0)
        return lc_errf(err, LC_EFORMAT, lc_in_name(r->in), -1, 0, "not a tensor stream: bad magic");
    if (got < 4)
        return lc_errf(err, LC_ETRUNC, lc_in_name(r->in), -1, 0,
                       "truncated: input ends inside the stream header");
    return read_header(r, first, 0, err);
}

int lc_reader_open_in(struct lc_reader **out, struct lc_in *in, struct lc_err *err)
{
    *out = NULL;
    struct lc_reader *r = calloc(1, sizeof *r);
    if (!r) {
        lc_in_close(in);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    r->in = in;
    int rc = reader_init(r, err);
    if (rc) {
        lc_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int lc_reader_open(struct lc_reader **out, const char *path, struct lc_err *err)
{
    struct lc_in *in;
    int rc = lc_in_open(&in, path, err);
    if (rc) return rc;
    return lc_reader_open_in(out, in, err);
}

int lc_reader_open_mem(struct lc_reader **out, const void *data, size_t len,
                       const char *name, struct lc_err *err)
{
    struct lc_in *in;
    int rc = lc_in_open_mem(&in, data, len, name, err);
    if (rc) return rc;
    return lc_reader_open_in(out, in, err);
}

const struct lc_stream_header *lc_reader_header(const struct lc_reader *r) { return &r->hdr; }
const char *lc_reader_name(const struct lc_reader *r) { return lc_in_name(r->in); }
uint64_t lc_reader_segments(const struct lc_reader *r) { return r->segments; }

int lc_reader_expect_kind(const struct lc_reader *r, const char *kind, struct lc_err *err)
{
    if (strcmp(r->hdr.kind, kind) == 0) return 0;
    return lc_errf(err, LC_EUSAGE, lc_in_name(r->in), -1, -1,
                   "expected a stream of kind '%s', got '%s'", kind, r->hdr.kind);
}

void lc_reader_free(struct lc_reader *r)
{
    if (!r) return;
    lc_in_close(r->in);
    free(r->meta);
    free(r->rh);
    free(r->key);
    free(r->payload);
    free(r);
}

/* Read the padding after a payload and require zeros. */
static int read_pad(struct lc_reader *r, struct lc_err *err)
{
    size_t pad = align64(r->cur.payload_len) - r->cur.payload_len;
    if (!pad) return 0;
    uint8_t z[64];
    uint64_t at = lc_in_offset(r->in);
    int rc = read_exact(r, z, pad, "the padding after a payload", (int64_t)r->cur.index, at, err);
    if (rc) return rc;
    if (!all_zero(z, pad))
        return lc_errf(err, LC_ECORRUPT, lc_in_name(r->in), (int64_t)r->cur.index, (int64_t)at,
                       "non-zero bytes in the padding after the payload");
    return 0;
}

static int payload_truncated(struct lc_reader *r, uint64_t got, struct lc_err *err)
{
    return lc_errf(err, LC_ETRUNC, lc_in_name(r->in), (int64_t)r->cur.index,
                   (int64_t)r->cur.offset,
                   "truncated: input ends inside the payload (%llu of %llu bytes)",
                   (unsigned long long)got, (unsigned long long)r->cur.payload_len);
}

static int payload_check(struct lc_reader *r, uint32_t crc, uint64_t at, struct lc_err *err)
{
    if (crc != rd32(r->rh + 52))
        return lc_errf(err, LC_ECORRUPT, lc_in_name(r->in), (int64_t)r->cur.index, (int64_t)at,
                       "payload checksum mismatch (stored %08x, computed %08x)",
                       rd32(r->rh + 52), crc);
    return read_pad(r, err);
}

/* Skip an unread payload, still verifying its checksum. */
static int skip_payload(struct lc_reader *r, struct lc_err *err)
{
    uint64_t left = r->cur.payload_len, at = lc_in_offset(r->in);
    uint32_t crc = 0;
    while (left) {
        const void *p;
        size_t got, want = left < LC_IN_BORROW_MAX ? (size_t)left : LC_IN_BORROW_MAX;
        int rc = lc_in_borrow(r->in, want, &p, &got, err);
        if (rc) return rc;
        crc = lc_crc32(crc, p, got);
        left -= got;
        if (got < want) return payload_truncated(r, r->cur.payload_len - left, err);
    }
    return payload_check(r, crc, at, err);
}

static int grow_payload(struct lc_reader *r, size_t need, size_t keep, struct lc_err *err)
{
    if (need <= r->payload_cap) return 0;
    size_t cap = r->payload_cap ? r->payload_cap : 4096;
    while (cap < need) cap *= 2;
    void *p;
    if (posix_memalign(&p, LC_STREAM_ALIGN, cap) != 0)
        return lc_errf(err, LC_ENOMEM, lc_in_name(r->in), (int64_t)r->cur.index, -1,
                       "out of memory for a %zu-byte payload", need);
    if (keep) memcpy(p, r->payload, keep);
    free(r->payload);
    r->payload = p;
    r->payload_cap = cap;
    return 0;
}

static int read_payload(struct lc_reader *r, uint8_t *dst, struct lc_err *err)
{
    uint64_t len = r->cur.payload_len, at = lc_in_offset(r->in);
    int64_t size = lc_in_size(r->in);
    if (size >= 0 && len > (uint64_t)size - at) { /* fail before allocating */
        return lc_errf(err, LC_ETRUNC, lc_in_name(r->in), (int64_t)r->cur.index,
                       (int64_t)r->cur.offset,
                       "truncated: payload of %llu bytes runs past the end of the input",
                       (unsigned long long)len);
    }
    /* Grow the buffer only as data arrives: a corrupt length on a pipe cannot
     * make us allocate more than about twice what was actually sent. */
    uint64_t done = 0;
    uint32_t crc = 0;
    while (done < len) {
        size_t chunk = len - done < (64u << 20) ? (size_t)(len - done) : (64u << 20);
        uint8_t *to = dst;
        if (!dst) {
            int rc = grow_payload(r, done + chunk, done, err);
            if (rc) return rc;
            to = r->payload;
        }
        size_t got;
        int rc = lc_in_read(r->in, to + done, chunk, &got, err);
        if (rc) return rc;
        crc = lc_crc32(crc, to + done, got);
        done += got;
        if (got < chunk) return payload_truncated(r, done, err);
    }
    return payload_check(r, crc, at, err);
}

/* Parse and validate a record header whose tag is already read. */
static int read_record_header(struct lc_reader *r, uint64_t start, struct lc_record *rec,
                              struct lc_err *err)
{
    const char *name = lc_in_name(r->in);
    int64_t idx = (int64_t)r->total;
    uint8_t *h = r->rh;
    memcpy(h, TAG_REC, 4);
    int rc = read_exact(r, h + 4, FIXED - 4, "a record header", idx, start, err);
    if (rc) return rc;
    uint32_t hlen = rd32(h + 4);
    if (hlen < FIXED || hlen % 64 || hlen > MAX_RECORD_HEADER)
        return lc_errf(err, LC_ECORRUPT, name, idx, (int64_t)start,
                       "record header length %u is invalid", hlen);
    rc = read_exact(r, h + FIXED, hlen - FIXED, "a record header", idx, start, err);
    if (rc) return rc;
    if (block_crc(h, hlen, 60) != rd32(h + 60))
        return lc_errf(err, LC_ECORRUPT, name, idx, (int64_t)start, "record header checksum mismatch");

    struct lc_record c = {0};
    c.index = r->total;
    c.offset = start;
    c.payload_len = rd64(h + 16);
    c.dtype = h[24];
    c.rank = h[25];
    c.codec = h[26];
    c.n_labels = rd16(h + 28);
    c.n_floats = rd16(h + 30);
    c.key_len = rd16(h + 32);
    for (int i = 0; i < LC_STREAM_MAX_RANK; i++) c.dims[i] = rd32(h + 36 + 4 * i);
    c.payload_crc = rd32(h + 52);
    uint64_t seg_index = rd64(h + 8);
    size_t used = FIXED + 8 * (size_t)c.n_labels + 4 * (size_t)c.n_floats + c.key_len;
#define BAD(...) return lc_errf(err, LC_EFORMAT, name, idx, (int64_t)start, __VA_ARGS__)
    if (align64(used) != hlen) BAD("record header length %u does not match its contents", hlen);
    if (h[27] || rd16(h + 34) || rd32(h + 56) || !all_zero(h + used, hlen - used))
        BAD("record header has non-zero reserved bytes");
    if (seg_index != r->seg_count)
        BAD("record index %llu where %llu was expected (lost or reordered records)",
            (unsigned long long)seg_index, (unsigned long long)r->seg_count);
    if (c.dtype >= LC_DTYPE_COUNT) BAD("unknown dtype code %d", c.dtype);
    if (c.codec >= LC_CODEC_COUNT) BAD("unknown codec code %d", c.codec);
    if (c.rank > LC_STREAM_MAX_RANK) BAD("rank %u exceeds %d", c.rank, LC_STREAM_MAX_RANK);
    for (unsigned i = c.rank; i < LC_STREAM_MAX_RANK; i++)
        if (c.dims[i]) BAD("dimension %u is set beyond rank %u", i, c.rank);
    if (c.dtype == LC_DTYPE_NONE) {
        if (c.rank || c.payload_len || c.codec) BAD("a record without a tensor has a shape or payload");
    } else if (c.codec == LC_CODEC_NONE) {
        int ok;
        uint64_t want = tensor_bytes(c.dtype, c.rank, c.dims, &ok);
        if (!ok || want != c.payload_len)
            BAD("payload of %llu bytes does not match %s shape of %llu elements",
                (unsigned long long)c.payload_len, lc_dtype_name(c.dtype),
                (unsigned long long)lc_record_numel(&c));
    } else if (c.dtype != LC_DTYPE_U8) {
        BAD("an encoded (%s) payload must have dtype u8", lc_codec_name(c.codec));
    }
    c.labels = (const int64_t *)(h + FIXED);
    c.floats = (const float *)(h + FIXED + 8 * c.n_labels);
    const uint8_t *key = h + FIXED + 8 * c.n_labels + 4 * c.n_floats;
    for (unsigned i = 0; i < c.key_len; i++)
        if (key[i] == 0 || key[i] == '\n' || key[i] == '\r') BAD("record key contains a NUL or newline byte");
#undef BAD
    memcpy(r->key, key, c.key_len);
    r->key[c.key_len] = '\0';
    c.key = r->key;
    r->cur = c;
    *rec = c;
    r->state = ST_PAYLOAD_PENDING;
    return 0;
}

static int read_trailer(struct lc_reader *r, uint64_t start, struct lc_err *err)
{
    const char *name = lc_in_name(r->in);
    uint8_t t[64];
    memcpy(t, TAG_END, 4);
    int rc = read_exact(r, t + 4, 60, "the stream trailer", -1, start, err);
    if (rc) return rc;
    if (block_crc(t, 64, 60) != rd32(t + 60))
        return lc_errf(err, LC_ECORRUPT, name, -1, (int64_t)start, "trailer checksum mismatch");
    if (rd32(t + 4) != 64 || !all_zero(t + 24, 36))
        return lc_errf(err, LC_EFORMAT, name, -1, (int64_t)start, "trailer is malformed");
    uint64_t count = rd64(t + 8), bytes = rd64(t + 16);
    if (count != r->seg_count)
        return lc_errf(err, LC_ECORRUPT, name, -1, (int64_t)start,
                       "trailer says %llu records but %llu were read",
                       (unsigned long long)count, (unsigned long long)r->seg_count);
    if (bytes != start - r->seg_start)
        return lc_errf(err, LC_ECORRUPT, name, -1, (int64_t)start,
                       "trailer says the stream has %llu bytes but %llu were read",
                       (unsigned long long)bytes, (unsigned long long)(start - r->seg_start));
    r->state = ST_END;
    return 0;
}

static int reader_next(struct lc_reader *r, struct lc_record *rec, struct lc_err *err);

int lc_reader_next(struct lc_reader *r, struct lc_record *rec, struct lc_err *err)
{
    if (r->failed)
        return lc_errf(err, r->failed, lc_in_name(r->in), -1, -1, "stream reader already failed");
    int rc = reader_next(r, rec, err);
    if (rc < 0) r->failed = rc;
    return rc;
}

static int reader_next(struct lc_reader *r, struct lc_record *rec, struct lc_err *err)
{
    int rc;
    if (r->state == ST_PAYLOAD_PENDING) {
        rc = skip_payload(r, err);
        if (rc) return rc;
        r->state = ST_PAYLOAD_DONE;
    }
    if (r->state == ST_PAYLOAD_DONE) {
        r->seg_count++;
        r->total++;
        r->state = ST_RECORD;
    }
    for (;;) {
        uint64_t start = lc_in_offset(r->in);
        uint8_t tag[4];
        size_t got;
        rc = lc_in_read(r->in, tag, 4, &got, err);
        if (rc) return rc;
        if (r->state == ST_END) {
            if (got == 0) return 0; /* verified end */
            if (got < 4 || memcmp(tag, MAGIC, 4) != 0)
                return lc_errf(err, LC_EFORMAT, lc_in_name(r->in), -1, (int64_t)start,
                               "unexpected data after the end of the stream%s",
                               format_hint(tag, got));
            rc = read_header(r, tag, start, err);
            if (rc) return rc;
            continue;
        }
        if (got < 4) {
            if (got == 0)
                return lc_errf(err, LC_ETRUNC, lc_in_name(r->in), (int64_t)r->total, (int64_t)start,
                               "truncated: input ends after %llu records without the stream trailer",
                               (unsigned long long)r->seg_count);
            return lc_errf(err, LC_ETRUNC, lc_in_name(r->in), (int64_t)r->total, (int64_t)start,
                           "truncated: input ends inside a record tag");
        }
        if (memcmp(tag, TAG_REC, 4) == 0) {
            rc = read_record_header(r, start, rec, err);
            return rc ? rc : 1;
        }
        if (memcmp(tag, TAG_END, 4) == 0) {
            rc = read_trailer(r, start, err);
            if (rc) return rc;
            continue;
        }
        return lc_errf(err, LC_ECORRUPT, lc_in_name(r->in), (int64_t)r->total, (int64_t)start,
                       "expected a record or the trailer, found bytes %02x %02x %02x %02x",
                       tag[0], tag[1], tag[2], tag[3]);
    }
}

int lc_reader_payload(struct lc_reader *r, struct lc_record *rec, struct lc_err *err)
{
    if (r->failed)
        return lc_errf(err, r->failed, lc_in_name(r->in), -1, -1, "stream reader already failed");
    if (r->state == ST_PAYLOAD_PENDING) {
        int rc = read_payload(r, NULL, err);
        if (rc) return r->failed = rc;
        r->state = ST_PAYLOAD_DONE;
    } else if (r->state != ST_PAYLOAD_DONE) {
        return lc_errf(err, LC_EINVAL, lc_in_name(r->in), -1, -1, "no current record");
    }
    rec->payload = r->cur.payload_len ? r->payload : NULL;
    return 0;
}

int lc_reader_payload_into(struct lc_reader *r, struct lc_record *rec, void *dst,
                           struct lc_err *err)
{
    if (r->state != ST_PAYLOAD_PENDING)
        return lc_errf(err, LC_EINVAL, lc_in_name(r->in), -1, -1, "payload already read or no current record");
    int rc = read_payload(r, dst, err);
    if (rc) return r->failed = rc;
    r->state = ST_PAYLOAD_DONE;
    rec->payload = dst;
    return 0;
}

/* --------------------------------------------------------------- writer */

struct lc_writer {
    struct lc_out *out;
    int owns_out;
    uint64_t count, seg_start;
    uint8_t *hb; /* record header scratch */
};

static int kind_ok(const char *kind)
{
    size_t n = strlen(kind);
    if (n == 0 || n > LC_STREAM_KIND_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = kind[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
    }
    return 1;
}

int lc_writer_open_out(struct lc_writer **out, struct lc_out *o, const char *kind,
                       const char *meta, struct lc_err *err)
{
    *out = NULL;
    const char *name = lc_out_name(o);
    if (!kind_ok(kind))
        return lc_errf(err, LC_EINVAL, name, -1, -1, "invalid stream kind '%s'", kind);
    size_t mlen = meta ? strlen(meta) : 0;
    if (mlen > LC_STREAM_META_MAX)
        return lc_errf(err, LC_EINVAL, name, -1, -1, "metadata exceeds %u bytes", LC_STREAM_META_MAX);
    int rc = lc_meta_validate(meta, mlen, err);
    if (rc) return rc;
    struct lc_writer *w = calloc(1, sizeof *w);
    size_t hlen = align64(FIXED + mlen);
    uint8_t *h = calloc(1, hlen);
    if (w) w->hb = malloc(MAX_RECORD_HEADER);
    if (!w || !h || !w->hb) {
        if (w) free(w->hb);
        free(w);
        free(h);
        return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
    }
    memcpy(h, MAGIC, 8);
    wr32(h + 8, LC_STREAM_VERSION);
    wr32(h + 12, (uint32_t)hlen);
    memcpy(h + 16, kind, strlen(kind));
    wr32(h + 32, (uint32_t)mlen);
    if (mlen) memcpy(h + FIXED, meta, mlen);
    wr32(h + 60, block_crc(h, hlen, 60));
    w->out = o;
    w->seg_start = lc_out_offset(o);
    rc = lc_out_write(o, h, hlen, err);
    free(h);
    if (rc) {
        free(w->hb);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int lc_writer_open(struct lc_writer **out, const char *path, const char *kind,
                   const char *meta, struct lc_err *err)
{
    struct lc_out *o;
    int rc = lc_out_open(&o, path, LC_OUT_BINARY, err);
    if (rc) return rc;
    rc = lc_writer_open_out(out, o, kind, meta, err);
    if (rc) {
        lc_out_abort(o);
        return rc;
    }
    (*out)->owns_out = 1;
    return 0;
}

uint64_t lc_writer_count(const struct lc_writer *w) { return w->count; }

int lc_writer_write(struct lc_writer *w, const struct lc_record *rec, struct lc_err *err)
{
    const char *name = lc_out_name(w->out);
    int64_t idx = (int64_t)w->count;
#define BAD(...) return lc_errf(err, LC_EINVAL, name, idx, -1, __VA_ARGS__)
    unsigned key_len = rec->key ? (unsigned)strlen(rec->key) : 0;
    if (key_len > 65535) BAD("key longer than 65535 bytes");
    for (unsigned i = 0; i < key_len; i++)
        if (rec->key[i] == '\n' || rec->key[i] == '\r') BAD("key '%s' contains a newline", rec->key);
    if (rec->n_labels > 65535 || rec->n_floats > 65535) BAD("too many labels or floats");
    if (rec->dtype < 0 || rec->dtype >= LC_DTYPE_COUNT) BAD("unknown dtype %d", rec->dtype);
    if (rec->codec < 0 || rec->codec >= LC_CODEC_COUNT) BAD("unknown codec %d", rec->codec);
    if (rec->rank > LC_STREAM_MAX_RANK) BAD("rank %u exceeds %d", rec->rank, LC_STREAM_MAX_RANK);
    for (unsigned i = rec->rank; i < LC_STREAM_MAX_RANK; i++)
        if (rec->dims[i]) BAD("dimension %u set beyond rank %u", i, rec->rank);
    if (rec->dtype == LC_DTYPE_NONE) {
        if (rec->rank || rec->payload_len || rec->codec) BAD("a record without a tensor has a shape or payload");
    } else if (rec->codec == LC_CODEC_NONE) {
        int ok;
        uint64_t want = tensor_bytes(rec->dtype, rec->rank, rec->dims, &ok);
        if (!ok || want != rec->payload_len)
            BAD("payload of %llu bytes does not match the %s shape",
                (unsigned long long)rec->payload_len, lc_dtype_name(rec->dtype));
    } else if (rec->dtype != LC_DTYPE_U8) {
        BAD("an encoded payload must have dtype u8");
    }
    if (rec->payload_len && !rec->payload) BAD("payload pointer is NULL");
    if ((rec->n_labels && !rec->labels) || (rec->n_floats && !rec->floats)) BAD("labels or floats pointer is NULL");
#undef BAD
    size_t used = FIXED + 8 * (size_t)rec->n_labels + 4 * (size_t)rec->n_floats + key_len;
    size_t hlen = align64(used);
    uint8_t *h = w->hb;
    memset(h, 0, hlen);
    memcpy(h, TAG_REC, 4);
    wr32(h + 4, (uint32_t)hlen);
    wr64(h + 8, w->count);
    wr64(h + 16, rec->payload_len);
    h[24] = (uint8_t)rec->dtype;
    h[25] = (uint8_t)rec->rank;
    h[26] = (uint8_t)rec->codec;
    wr16(h + 28, (uint16_t)rec->n_labels);
    wr16(h + 30, (uint16_t)rec->n_floats);
    wr16(h + 32, (uint16_t)key_len);
    for (int i = 0; i < LC_STREAM_MAX_RANK; i++) wr32(h + 36 + 4 * i, rec->dims[i]);
    uint32_t crc = 0;
    if (rec->payload_len) crc = lc_crc32(crc, rec->payload, rec->payload_len);
    wr32(h + 52, (uint32_t)crc);
    if (rec->n_labels) memcpy(h + FIXED, rec->labels, 8 * (size_t)rec->n_labels);
    if (rec->n_floats) memcpy(h + FIXED + 8 * rec->n_labels, rec->floats, 4 * (size_t)rec->n_floats);
    if (key_len) memcpy(h + FIXED + 8 * rec->n_labels + 4 * rec->n_floats, rec->key, key_len);
    wr32(h + 60, block_crc(h, hlen, 60));
    int rc = lc_out_write(w->out, h, hlen, err);
    if (!rc && rec->payload_len) rc = lc_out_write(w->out, rec->payload, rec->payload_len, err);
    size_t pad = align64(rec->payload_len) - rec->payload_len;
    static const uint8_t zeros[64];
    if (!rc && pad) rc = lc_out_write(w->out, zeros, pad, err);
    if (rc) return rc;
    w->count++;
    return 0;
}

int lc_writer_close(struct lc_writer *w, struct lc_err *err)
{
    uint8_t t[64] = {0};
    memcpy(t, TAG_END, 4);
    wr32(t + 4, 64);
    wr64(t + 8, w->count);
    wr64(t + 16, lc_out_offset(w->out) - w->seg_start);
    wr32(t + 60, block_crc(t, 64, 60));
    int rc = lc_out_write(w->out, t, 64, err);
    if (w->owns_out) {
        if (rc) lc_out_abort(w->out);
        else rc = lc_out_commit(w->out, err);
    }
    free(w->hb);
    free(w);
    return rc;
}

void lc_writer_abort(struct lc_writer *w)
{
    if (!w) return;
    if (w->owns_out) lc_out_abort(w->out);
    free(w->hb);
    free(w);
}
