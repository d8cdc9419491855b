/* recordio: MXNet/dmlc RecordIO files (.rec, .idx, .lst, property), read
 * and written without MXNet. Framing per record part: u32 magic, u32 lrec
 * (cflag = lrec >> 29, length = lrec & (2^29-1)), data, zero padding to 4.
 * cflag 1/2/3 = first/middle/last part of a record split where its payload
 * held the magic word; the reader re-joins them with the magic put back.
 * Early dmlc files (magic 0x3ed7230a, 2-bit cflag, 30-bit length) are read
 * too; the writer writes the current form, byte for byte as dmlc does.
 * Payloads hold an IRHeader (<IfQQ: flag, label, id, id2), then `flag`
 * float labels when flag > 0, then the encoded image. */
#ifndef LC_RECORDIO_H
#define LC_RECORDIO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LC_REC_MAGIC 0xced7230au
#define LC_REC_MAGIC_EARLY 0x3ed7230au
#define LC_REC_MAX_PART ((1u << 29) - 1)

struct lc_rec_reader;
struct lc_in;

/* Open a .rec file (NULL or "-": stdin, sequential reading only). Regular
 * files are memory-mapped: records are then read in place, and random
 * access by offset works. */
int lc_rec_open(struct lc_rec_reader **r, const char *path, struct lc_err *err);
/* Sequential reading from an input the reader then owns (stdin after a peek). */
int lc_rec_open_in(struct lc_rec_reader **r, struct lc_in *in, struct lc_err *err);
/* From memory the caller keeps alive (tests, fuzzing); random access works. */
int lc_rec_open_mem(struct lc_rec_reader **r, const void *data, size_t len, const char *name,
                    struct lc_err *err);
void lc_rec_close(struct lc_rec_reader *r);
const char *lc_rec_name(const struct lc_rec_reader *r);
/* File size, or -1 for a pipe. */
int64_t lc_rec_size(const struct lc_rec_reader *r);
/* Whether lc_rec_read_at works (a mapped file or memory). */
int lc_rec_seekable(const struct lc_rec_reader *r);

/* The record after the previous one (sequential scan). *data is valid
 * until the next call. Returns 1, 0 at a clean end of file, or <0; errors
 * name the record's ordinal (`index`, counted from 0) and byte offset. */
int lc_rec_next(struct lc_rec_reader *r, const uint8_t **data, size_t *len, uint64_t *offset,
                struct lc_err *err);
/* The record whose first part starts at offset (from an .idx file). index
 * is used only in error messages (-1 if unknown). Thread-compatible: each
 * thread needs its own reader, or calls serialised. */
int lc_rec_read_at(struct lc_rec_reader *r, uint64_t offset, int64_t index, const uint8_t **data,
                   size_t *len, struct lc_err *err);
/* Number of magic words re-inserted by re-joining split records so far. */
uint64_t lc_rec_joins(const struct lc_rec_reader *r);

/* ---- IRHeader ---- */
#define LC_IRHEADER_SIZE 24
struct lc_irheader {
    uint32_t flag;
    float label;           /* 0 when flag > 0 (the labels array holds them) */
    uint64_t id, id2;
    const uint8_t *labels; /* flag little-endian f32 values (unaligned) */
};
/* Split a record payload into header, labels and the rest (the image).
 * Errors (too short for the header or its labels) have no path: add it. */
int lc_irheader_unpack(const uint8_t *rec, size_t len, struct lc_irheader *h, const uint8_t **rest,
                       size_t *rest_len, struct lc_err *err);
/* Label i as float (i < flag), or the scalar label when flag == 0. */
float lc_irheader_label(const struct lc_irheader *h, uint32_t i);
/* Write an IRHeader (and n labels when n > 0: flag = n, label = 0, as
 * mx.recordio.pack does) into out, which has room for 24 + 4n bytes.
 * Returns the bytes written. */
size_t lc_irheader_pack(uint8_t *out, float label, const float *labels, uint32_t n, uint64_t id,
                        uint64_t id2);

/* ---- .idx files ---- */
struct lc_rec_index_entry {
    int64_t key;
    uint64_t offset;
};
struct lc_rec_index {
    size_t n;
    char **keys;       /* as written in the file, in file order; NULL when
                        * every key is an integer (then see ikeys) */
    uint64_t *offsets;
    int64_t *ikeys;    /* keys as integers when every key is one, else NULL */
    int64_t max_ikey;
    /* lookup by integer key: a dense table, or entries sorted by key */
    int64_t *dense;
    struct lc_rec_index_entry *sorted;
    char *text;        /* owned storage */
};
/* Parse an .idx file: `key<TAB>offset` lines (MXNet's write_idx). Errors
 * name the line. On error *ix must still be freed with lc_rec_index_free. */
int lc_rec_index_load(struct lc_rec_index *ix, const char *path, struct lc_err *err);
void lc_rec_index_free(struct lc_rec_index *ix);
/* Offset of integer key k, or -1. */
int64_t lc_rec_index_find(const struct lc_rec_index *ix, int64_t k);

/* ---- writer ---- */
struct lc_rec_writer;
/* Create rec_path and (if not NULL) idx_path; both appear atomically on
 * close. */
int lc_rec_writer_open(struct lc_rec_writer **w, const char *rec_path, const char *idx_path,
                       struct lc_err *err);
/* Append a record, split where the payload holds the magic word at a
 * 4-byte aligned offset exactly as dmlc's RecordIOWriter::WriteRecord, and
 * an `key<TAB>offset` line to the index. */
int lc_rec_write(struct lc_rec_writer *w, const char *key, const void *data, size_t len,
                 struct lc_err *err);
uint64_t lc_rec_writer_count(const struct lc_rec_writer *w);
int lc_rec_writer_close(struct lc_rec_writer *w, struct lc_err *err);
void lc_rec_writer_abort(struct lc_rec_writer *w);

/* ---- property ---- */
/* `num_classes,height,width` (InsightFace); trailing newline optional. */
int lc_rec_property_load(const char *path, int64_t *classes, int *h, int *w, struct lc_err *err);

#endif
