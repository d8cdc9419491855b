/* recordio: MXNet RecordIO reading (mapped or streamed), .idx parsing, the
 * dmlc-identical writer, and IRHeader packing. Reading follows dmlc's
 * RecordIOReader::NextRecord; every length is checked against the file
 * before use. */
#include "recordio.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

struct lc_rec_reader {
    const uint8_t *map; /* mapped file or caller memory; NULL when streaming */
    size_t size;
    int unmap;
    struct lc_in *in;   /* streaming (pipes) */
    uint64_t pos;       /* offset of the next record for lc_rec_next */
    uint64_t index;     /* ordinal of the next record */
    uint32_t magic;     /* the file's magic, once seen */
    uint8_t *buf;       /* joined or streamed record bytes */
    size_t cap;
    uint64_t joins;
    uint64_t released; /* mapped bytes before this were handed back to the kernel */
    uint64_t touched;  /* bytes read out of order since the last release */
    uint64_t last_at;
    char name[512];
};

/* A mapped file's pages count in RSS once touched. Hand back what lies
 * behind the reader every 8 MB (or everything after 32 MB read out of
 * order): MADV_DONTNEED on a read-only private file mapping only drops
 * pages, which refault from the file if touched again, so memory stays
 * flat however large the file is. */
#define RELEASE_STEP (8ull << 20)
static void release(struct lc_rec_reader *r, uint64_t at, size_t len)
{
    if (!r->unmap) return;
    const uint64_t page = 4096;
    if (at >= r->last_at) { /* in file order */
        uint64_t behind = at > (1u << 20) ? (at - (1u << 20)) & ~(page - 1) : 0;
        if (behind > r->released + RELEASE_STEP) {
            madvise((void *)(r->map + r->released), behind - r->released, MADV_DONTNEED);
            r->released = behind;
        }
    } else if ((r->touched += len + 8) > 4 * RELEASE_STEP) {
        madvise((void *)r->map, r->size & ~(page - 1), MADV_DONTNEED);
        r->touched = 0;
        r->released = 0;
    }
    r->last_at = at;
}

static int grow(struct lc_rec_reader *r, size_t need, struct lc_err *err)
{
    if (need <= r->cap) return 0;
    size_t cap = r->cap ? r->cap : 65536;
    while (cap < need) cap *= 2;
    uint8_t *b = realloc(r->buf, cap);
    if (!b) return lc_errf(err, LC_ENOMEM, r->name, -1, -1, "out of memory for a %zu-byte record", need);
    r->buf = b;
    r->cap = cap;
    return 0;
}

int lc_rec_open_mem(struct lc_rec_reader **out, const void *data, size_t len, const char *name,
                    struct lc_err *err)
{
    *out = NULL;
    struct lc_rec_reader *r = calloc(1, sizeof *r);
    if (!r) return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
    r->map = data;
    r->size = len;
    snprintf(r->name, sizeof r->name, "%s", name ? name : "<memory>");
    *out = r;
    return 0;
}

int lc_rec_open(struct lc_rec_reader **out, const char *path, struct lc_err *err)
{
    *out = NULL;
    if (path && strcmp(path, "-") != 0) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return lc_errno(err, errno, path, "cannot open");
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            const uint8_t *m = NULL;
            if (st.st_size > 0) {
                m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (m == MAP_FAILED) {
                    int e = errno;
                    close(fd);
                    return lc_errno(err, e, path, "cannot map");
                }
                madvise((void *)m, (size_t)st.st_size, MADV_SEQUENTIAL);
            }
            close(fd);
            int rc = lc_rec_open_mem(out, m ? m : (const uint8_t *)"", (size_t)st.st_size, path, err);
            if (rc) {
                if (m) munmap((void *)m, (size_t)st.st_size);
                return rc;
            }
            (*out)->unmap = m != NULL;
            return 0;
        }
        close(fd);
        if (S_ISDIR(st.st_mode)) return lc_errf(err, LC_EIO, path, -1, -1, "is a directory");
    }
    struct lc_in *in;
    int rc = lc_in_open(&in, path, err);
    if (rc) return rc;
    return lc_rec_open_in(out, in, err);
}

int lc_rec_open_in(struct lc_rec_reader **out, struct lc_in *in, struct lc_err *err)
{
    *out = NULL;
    struct lc_rec_reader *r = calloc(1, sizeof *r);
    if (!r) {
        lc_in_close(in);
        return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    }
    r->in = in;
    snprintf(r->name, sizeof r->name, "%s", lc_in_name(in));
    *out = r;
    return 0;
}

void lc_rec_close(struct lc_rec_reader *r)
{
    if (!r) return;
    if (r->unmap) munmap((void *)r->map, r->size);
    lc_in_close(r->in);
    free(r->buf);
    free(r);
}

const char *lc_rec_name(const struct lc_rec_reader *r) { return r->name; }
int64_t lc_rec_size(const struct lc_rec_reader *r) { return r->in ? lc_in_size(r->in) : (int64_t)r->size; }
int lc_rec_seekable(const struct lc_rec_reader *r) { return r->map != NULL; }
uint64_t lc_rec_joins(const struct lc_rec_reader *r) { return r->joins; }

/* Check a part header; fills cflag and length. */
static int part_header(struct lc_rec_reader *r, const uint8_t *h, uint64_t at, int64_t index, int first,
                       uint32_t *cflag, uint32_t *len, struct lc_err *err)
{
    uint32_t magic = rd32(h), lrec = rd32(h + 4);
    int known = magic == LC_REC_MAGIC || magic == LC_REC_MAGIC_EARLY;
    if (!r->magic && known) r->magic = magic;
    if (!known || magic != r->magic) {
        if (known)
            return lc_errf(err, LC_ECORRUPT, r->name, index, (int64_t)at,
                           "record magic %08x differs from the file's %08x", magic, r->magic);
        return lc_errf(err, LC_EFORMAT, r->name, index, (int64_t)at,
                       "no RecordIO record here (found %08x, expected magic %08x)%s", magic,
                       r->magic ? r->magic : LC_REC_MAGIC,
                       at == 0 ? ": not a RecordIO file" : ": a corrupt file or a wrong .idx offset");
    }
    if (magic == LC_REC_MAGIC) {
        *cflag = lrec >> 29;
        *len = lrec & LC_REC_MAX_PART;
    } else { /* early dmlc-core: 2-bit flag, 30-bit length */
        *cflag = lrec >> 30;
        *len = lrec & ((1u << 30) - 1);
    }
    if (first ? (*cflag != 0 && *cflag != 1) : (*cflag != 2 && *cflag != 3))
        return lc_errf(err, LC_ECORRUPT, r->name, index, (int64_t)at,
                       first ? "record starts with a continuation part (cflag %u)"
                             : "split record continues with cflag %u (expected 2 or 3)",
                       *cflag);
    return 0;
}

static int read_mapped(struct lc_rec_reader *r, uint64_t off, int64_t index, const uint8_t **data,
                       size_t *len, uint64_t *end, struct lc_err *err)
{
    uint64_t pos = off;
    size_t total = 0;
    for (int first = 1;; first = 0) {
        if (pos + 8 > r->size)
            return lc_errf(err, LC_ETRUNC, r->name, index, (int64_t)pos,
                           "truncated: file ends inside a record header (file has %zu bytes)", r->size);
        uint32_t cflag, n;
        int rc = part_header(r, r->map + pos, pos, index, first, &cflag, &n, err);
        if (rc) return rc;
        uint64_t padded = ((uint64_t)n + 3) & ~3ull;
        if (pos + 8 + padded > r->size)
            return lc_errf(err, LC_ETRUNC, r->name, index, (int64_t)pos,
                           "truncated: a record part of %u bytes runs past the end of the file (%zu bytes)", n,
                           r->size);
        const uint8_t *p = r->map + pos + 8;
        pos += 8 + padded;
        if (first && cflag == 0) { /* the common case: in place, no copy */
            *data = p;
            *len = n;
            *end = pos;
            return 0;
        }
        if ((rc = grow(r, total + n + 4, err))) return rc;
        memcpy(r->buf + total, p, n);
        total += n;
        if (cflag == 3) break;
        wr32(r->buf + total, r->magic);
        total += 4;
        r->joins++;
    }
    *data = r->buf;
    *len = total;
    *end = pos;
    return 0;
}

static int read_streamed(struct lc_rec_reader *r, int64_t index, const uint8_t **data, size_t *len,
                         uint64_t *offset, struct lc_err *err)
{
    size_t total = 0;
    *offset = lc_in_offset(r->in);
    for (int first = 1;; first = 0) {
        uint8_t h[8];
        size_t got;
        uint64_t at = lc_in_offset(r->in);
        int rc = lc_in_read(r->in, h, 8, &got, err);
        if (rc) return rc;
        if (got == 0 && first) return 1; /* clean end */
        if (got < 8)
            return lc_errf(err, LC_ETRUNC, r->name, index, (int64_t)at, "truncated: input ends inside a record header");
        uint32_t cflag, n;
        if ((rc = part_header(r, h, at, index, first, &cflag, &n, err))) return rc;
        size_t padded = ((size_t)n + 3) & ~(size_t)3;
        if ((rc = grow(r, total + padded + 4, err))) return rc;
        if ((rc = lc_in_read(r->in, r->buf + total, padded, &got, err))) return rc;
        if (got < padded)
            return lc_errf(err, LC_ETRUNC, r->name, index, (int64_t)at,
                           "truncated: input ends inside a record part of %u bytes", n);
        total += n;
        if (cflag == 0 || cflag == 3) break;
        wr32(r->buf + total, r->magic);
        total += 4;
        r->joins++;
    }
    *data = r->buf;
    *len = total;
    return 0;
}

int lc_rec_next(struct lc_rec_reader *r, const uint8_t **data, size_t *len, uint64_t *offset,
                struct lc_err *err)
{
    int64_t index = (int64_t)r->index;
    int rc;
    if (r->in) {
        rc = read_streamed(r, index, data, len, offset, err);
        if (rc == 1) return 0;
    } else {
        if (r->pos == r->size) return 0;
        *offset = r->pos;
        release(r, r->pos, 0);
        rc = read_mapped(r, r->pos, index, data, len, &r->pos, err);
    }
    if (rc) return rc;
    r->index++;
    return 1;
}

int lc_rec_read_at(struct lc_rec_reader *r, uint64_t offset, int64_t index, const uint8_t **data,
                   size_t *len, struct lc_err *err)
{
    if (!r->map) return lc_errf(err, LC_EUSAGE, r->name, index, -1, "random access needs a regular file, not a pipe");
    if (offset >= r->size)
        return lc_errf(err, LC_EFORMAT, r->name, index, (int64_t)offset,
                       "offset is past the end of the file (%zu bytes): a wrong .idx?", r->size);
    if (offset % 4)
        return lc_errf(err, LC_EFORMAT, r->name, index, (int64_t)offset,
                       "offset is not 4-byte aligned, so no record starts there: a wrong .idx?");
    uint64_t end;
    int rc = read_mapped(r, offset, index, data, len, &end, err);
    if (!rc) release(r, offset, *len);
    return rc;
}

/* ------------------------------------------------------------- IRHeader */

int lc_irheader_unpack(const uint8_t *rec, size_t len, struct lc_irheader *h, const uint8_t **rest,
                       size_t *rest_len, struct lc_err *err)
{
    if (len < LC_IRHEADER_SIZE)
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "record of %zu bytes is too short for an IRHeader (24)", len);
    memcpy(&h->flag, rec, 4);
    memcpy(&h->label, rec + 4, 4);
    memcpy(&h->id, rec + 8, 8);
    memcpy(&h->id2, rec + 16, 8);
    size_t lab = (size_t)h->flag * 4;
    if (h->flag > (len - LC_IRHEADER_SIZE) / 4)
        return lc_errf(err, LC_EFORMAT, NULL, -1, -1, "IRHeader flag %u promises more labels than the %zu-byte record holds",
                       h->flag, len);
    h->labels = rec + LC_IRHEADER_SIZE;
    *rest = rec + LC_IRHEADER_SIZE + lab;
    *rest_len = len - LC_IRHEADER_SIZE - lab;
    return 0;
}

float lc_irheader_label(const struct lc_irheader *h, uint32_t i)
{
    if (h->flag == 0) return h->label;
    float v;
    memcpy(&v, h->labels + 4 * (size_t)i, 4);
    return v;
}

size_t lc_irheader_pack(uint8_t *out, float label, const float *labels, uint32_t n, uint64_t id, uint64_t id2)
{
    float l = n ? 0.0f : label;
    memcpy(out, &n, 4);
    memcpy(out + 4, &l, 4);
    memcpy(out + 8, &id, 8);
    memcpy(out + 16, &id2, 8);
    if (n) memcpy(out + LC_IRHEADER_SIZE, labels, 4 * (size_t)n);
    return LC_IRHEADER_SIZE + 4 * (size_t)n;
}

/* ---------------------------------------------------------------- .idx */

/* An .idx or property file: text, at most 1 GiB. */
static char *slurp(const char *path, size_t *len, struct lc_err *err)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    if (lc_file_read(path, &buf, &cap, len, (size_t)1 << 30, err)) {
        free(buf);
        return NULL;
    }
    return (char *)buf;
}

static int parse_u64(const char *s, const char *e, uint64_t *v)
{
    if (s == e || e - s > 19) return -1;
    uint64_t x = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    int64_t x = ((const struct lc_rec_index_entry *)a)->key, y = ((const struct lc_rec_index_entry *)b)->key;
    return (x > y) - (x < y);
}

/* Integer keys: a dense table when they are nearly 0..n (InsightFace sets),
 * else a sorted array. Duplicate keys are an error: MXNet would silently
 * keep the last one, which hides a broken index. */
static int build_lookup(struct lc_rec_index *ix, const char *path, struct lc_err *err)
{
    ix->max_ikey = 0;
    for (size_t i = 0; i < ix->n; i++)
        if (ix->ikeys[i] > ix->max_ikey) ix->max_ikey = ix->ikeys[i];
    if (ix->max_ikey < (int64_t)ix->n * 2 + 1024) {
        ix->dense = malloc(((size_t)ix->max_ikey + 1) * sizeof *ix->dense);
        if (!ix->dense) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
        for (int64_t i = 0; i <= ix->max_ikey; i++) ix->dense[i] = -1;
        for (size_t i = 0; i < ix->n; i++) {
            if (ix->dense[ix->ikeys[i]] >= 0)
                return lc_errf(err, LC_EFORMAT, path, (int64_t)i, -1, "line %zu repeats key %lld", i + 1,
                               (long long)ix->ikeys[i]);
            ix->dense[ix->ikeys[i]] = (int64_t)ix->offsets[i];
        }
        return 0;
    }
    ix->sorted = malloc(ix->n * sizeof *ix->sorted);
    if (!ix->sorted) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    for (size_t i = 0; i < ix->n; i++) ix->sorted[i] = (struct lc_rec_index_entry){ix->ikeys[i], ix->offsets[i]};
    qsort(ix->sorted, ix->n, sizeof *ix->sorted, cmp_entry);
    for (size_t i = 1; i < ix->n; i++)
        if (ix->sorted[i].key == ix->sorted[i - 1].key)
            return lc_errf(err, LC_EFORMAT, path, -1, -1, "key %lld appears twice", (long long)ix->sorted[i].key);
    return 0;
}

int lc_rec_index_load(struct lc_rec_index *ix, const char *path, struct lc_err *err)
{
    memset(ix, 0, sizeof *ix);
    size_t len;
    ix->text = slurp(path, &len, err);
    if (!ix->text) return err ? err->code : LC_EIO;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += ix->text[i] == '\n';
    ix->keys = malloc(lines * sizeof *ix->keys);
    ix->offsets = malloc(lines * sizeof *ix->offsets);
    ix->ikeys = malloc(lines * sizeof *ix->ikeys);
    if (!ix->keys || !ix->offsets || !ix->ikeys) {
        return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    }
    int all_int = 1;
    char *p = ix->text, *end = ix->text + len;
    for (size_t line = 1; p < end; line++) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        char *e = eol;
        if (e > p && e[-1] == '\r') e--;
        if (e == p) { /* blank line: allowed only at the end */
            p = eol + 1;
            continue;
        }
        char *tab = memchr(p, '\t', (size_t)(e - p));
        uint64_t off;
        if (!tab || tab == p || parse_u64(tab + 1, e, &off)) {
            return lc_errf(err, LC_EFORMAT, path, (int64_t)line - 1, -1,
                           "line %zu is not KEY<TAB>OFFSET as MXNet writes it", line);
        }
        *tab = '\0';
        ix->keys[ix->n] = p;
        ix->offsets[ix->n] = off;
        uint64_t k;
        if (all_int && parse_u64(p, tab, &k) == 0 && k < (1ull << 62)) ix->ikeys[ix->n] = (int64_t)k;
        else all_int = 0;
        ix->n++;
        p = eol + 1;
    }
    if (!all_int || ix->n == 0) {
        free(ix->ikeys);
        ix->ikeys = NULL;
        return 0;
    }
    /* integer keys (every MXNet-written index): drop the text, keep numbers */
    free(ix->keys);
    free(ix->text);
    ix->keys = NULL;
    ix->text = NULL;
    return build_lookup(ix, path, err);
}

void lc_rec_index_free(struct lc_rec_index *ix)
{
    free(ix->dense);
    free(ix->sorted);
    free(ix->keys);
    free(ix->offsets);
    free(ix->ikeys);
    free(ix->text);
    memset(ix, 0, sizeof *ix);
}

int64_t lc_rec_index_find(const struct lc_rec_index *ix, int64_t k)
{
    if (!ix->ikeys || k < 0) return -1;
    if (ix->dense) return k <= ix->max_ikey ? ix->dense[k] : -1;
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ix->sorted[mid].key < k) lo = mid + 1;
        else hi = mid;
    }
    return lo < ix->n && ix->sorted[lo].key == k ? (int64_t)ix->sorted[lo].offset : -1;
}

/* -------------------------------------------------------------- writer */

struct lc_rec_writer {
    struct lc_out *rec, *idx;
    uint64_t count;
};

int lc_rec_writer_open(struct lc_rec_writer **out, const char *rec_path, const char *idx_path,
                       struct lc_err *err)
{
    *out = NULL;
    struct lc_rec_writer *w = calloc(1, sizeof *w);
    if (!w) return lc_errf(err, LC_ENOMEM, rec_path, -1, -1, "out of memory");
    int rc = lc_out_open(&w->rec, rec_path, LC_OUT_BINARY, err);
    if (!rc && idx_path) rc = lc_out_open(&w->idx, idx_path, 0, err);
    if (rc) {
        lc_rec_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int put_part(struct lc_out *o, uint32_t cflag, const uint8_t *p, uint32_t n, struct lc_err *err)
{
    uint8_t h[8];
    wr32(h, LC_REC_MAGIC);
    wr32(h + 4, cflag << 29 | n);
    int rc = lc_out_write(o, h, 8, err);
    if (!rc && n) rc = lc_out_write(o, p, n, err);
    return rc;
}

int lc_rec_write(struct lc_rec_writer *w, const char *key, const void *data, size_t size, struct lc_err *err)
{
    if (size > LC_REC_MAX_PART)
        return lc_errf(err, LC_EINVAL, lc_out_name(w->rec), (int64_t)w->count, -1,
                       "RecordIO records must be smaller than 2^29 bytes (%zu)", size);
    if (key && (strchr(key, '\t') || strchr(key, '\n')))
        return lc_errf(err, LC_EINVAL, lc_out_name(w->rec), (int64_t)w->count, -1, "an .idx key may not hold a tab or newline");
    const uint8_t *b = data;
    uint32_t len = (uint32_t)size, lower = len & ~3u, dptr = 0;
    uint64_t start = lc_out_offset(w->rec);
    int rc = 0;
    uint8_t magic[4];
    wr32(magic, LC_REC_MAGIC);
    /* dmlc RecordIOWriter::WriteRecord: split at every aligned magic word */
    for (uint32_t i = 0; i < lower && !rc; i += 4) {
        if (memcmp(b + i, magic, 4) != 0) continue;
        rc = put_part(w->rec, dptr == 0 ? 1u : 2u, b + dptr, i - dptr, err);
        dptr = i + 4;
    }
    if (!rc) rc = put_part(w->rec, dptr != 0 ? 3u : 0u, b + dptr, len - dptr, err);
    static const uint8_t zero[4];
    uint32_t upper = (len + 3) & ~3u;
    if (!rc && upper != len) rc = lc_out_write(w->rec, zero, upper - len, err);
    if (!rc && w->idx) {
        char line[600];
        int n = key ? snprintf(line, sizeof line, "%s\t%llu\n", key, (unsigned long long)start)
                    : snprintf(line, sizeof line, "%llu\t%llu\n", (unsigned long long)w->count,
                               (unsigned long long)start);
        if (n >= (int)sizeof line) return lc_errf(err, LC_EINVAL, lc_out_name(w->idx), -1, -1, "key too long");
        rc = lc_out_write(w->idx, line, (size_t)n, err);
    }
    if (!rc) w->count++;
    return rc;
}

uint64_t lc_rec_writer_count(const struct lc_rec_writer *w) { return w->count; }

int lc_rec_writer_close(struct lc_rec_writer *w, struct lc_err *err)
{
    int rc = lc_out_commit(w->rec, err);
    w->rec = NULL;
    if (w->idx) {
        if (rc) lc_out_abort(w->idx);
        else rc = lc_out_commit(w->idx, err);
    }
    free(w);
    return rc;
}

void lc_rec_writer_abort(struct lc_rec_writer *w)
{
    if (!w) return;
    lc_out_abort(w->rec);
    lc_out_abort(w->idx);
    free(w);
}

/* ------------------------------------------------------------ property */

int lc_rec_property_load(const char *path, int64_t *classes, int *h, int *w, struct lc_err *err)
{
    size_t len;
    char *t = slurp(path, &len, err);
    if (!t) return err ? err->code : LC_EIO;
    long long c;
    int hh, ww, used = 0;
    int ok = sscanf(t, " %lld , %d , %d %n", &c, &hh, &ww, &used) == 3 && (size_t)used == len && c > 0 && hh > 0 && ww > 0;
    free(t);
    if (!ok) return lc_errf(err, LC_EFORMAT, path, -1, -1, "expected `num_classes,height,width`");
    *classes = c;
    *h = hh;
    *w = ww;
    return 0;
}
