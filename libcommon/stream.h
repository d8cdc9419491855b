/* stream: the toolkit's tensor stream format, version 1 (reader and writer).
 * Normative spec: docs/stream-format.md. Summary of the layout (all integers
 * little-endian; every block starts at a multiple of 64 bytes):
 *
 *   stream  := segment+                  (streams concatenate: cat a b works)
 *   segment := header record* trailer
 *   header  (64 + meta, padded to 64):
 *     0  u8[8]  magic "\x89SFT\r\n\x1a\n"
 *     8  u32    version = 1
 *    12  u32    header_len (bytes, multiple of 64)
 *    16  u8[16] kind, ASCII, NUL-padded ("images", "embeddings", ...)
 *    32  u32    meta_len (bytes of metadata text that follow at 64)
 *    36  u32    flags = 0
 *    40  u8[20] reserved, 0
 *    60  u32    crc32 of header_len bytes with this field as 0
 *    64  meta text ("key=value\n" lines, UTF-8), then zero padding
 *   record (header_len bytes of header, then payload, padded to 64):
 *     0  u8[4]  tag "\x89REC"
 *     4  u32    header_len (multiple of 64) = align64(64 + 8*n_labels
 *               + 4*n_floats + key_len)
 *     8  u64    index of the record within its segment (0, 1, ...)
 *    16  u64    payload_len (bytes, padding excluded)
 *    24  u8     dtype (enum lc_dtype)   25 u8 rank (0..4)
 *    26  u8     codec (enum lc_codec)   27 u8 reserved, 0
 *    28  u16    n_labels    30 u16 n_floats    32 u16 key_len   34 u16 0
 *    36  u32[4] dims (unused dims 0)
 *    52  u32    crc32 of the payload bytes
 *    56  u32    reserved, 0
 *    60  u32    crc32 of header_len bytes with this field as 0
 *    64  i64[n_labels] labels, f32[n_floats] floats, key bytes, zero pad
 *   trailer (64 bytes):
 *     0  u8[4]  tag "\x89END"      4 u32 trailer_len = 64
 *     8  u64    record count of the segment
 *    16  u64    bytes of the segment before the trailer
 *    24  u8[36] reserved, 0        60 u32 crc32 of the trailer, this field 0
 * crc32 is zlib's (the same as Python's zlib.crc32). */
#ifndef LC_STREAM_H
#define LC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "err.h"
#include "io.h"

#define LC_STREAM_VERSION 1
#define LC_STREAM_ALIGN 64
#define LC_STREAM_MAX_RANK 4
#define LC_STREAM_KIND_MAX 16
#define LC_STREAM_META_MAX (1u << 20)

/* How a payload is stored. */
enum lc_codec {
    LC_CODEC_NONE = 0, /* raw tensor: payload_len = numel * dtype size */
    LC_CODEC_JPEG = 1, /* encoded image bytes; dims give the decoded HWC */
    LC_CODEC_PNG = 2,  /* shape when known, else rank 0 */
    LC_CODEC_BYTES = 3,
    LC_CODEC_COUNT
};
const char *lc_codec_name(int codec);

/* Stream kinds the tools exchange (docs/stream-format.md, "Kinds"). */
#define LC_KIND_IMAGES "images"
#define LC_KIND_REGIONS "regions"
#define LC_KIND_EMBEDDINGS "embeddings"
#define LC_KIND_PAIRS "pairs"
#define LC_KIND_SCORES "scores"
#define LC_KIND_TENSORS "tensors"

struct lc_record {
    uint64_t index;         /* reader: index in the whole input (all segments) */
    uint64_t offset;        /* reader: byte offset of the record's start */
    const char *key;        /* NUL-terminated; no NUL, CR or LF inside */
    unsigned key_len;
    const int64_t *labels;
    unsigned n_labels;      /* <= 65535 */
    const float *floats;
    unsigned n_floats;      /* <= 65535 */
    int dtype;              /* enum lc_dtype; NONE: no payload */
    int codec;              /* enum lc_codec */
    unsigned rank;
    uint32_t dims[LC_STREAM_MAX_RANK];
    uint64_t payload_len;
    uint32_t payload_crc;   /* reader: the stored CRC-32 of the payload */
    const void *payload;    /* writer: input; reader: set by lc_reader_payload */
};

/* Elements implied by rank and dims (1 for rank 0). */
uint64_t lc_record_numel(const struct lc_record *r);
/* Fill shape and payload_len of a raw tensor record. */
void lc_record_set_tensor(struct lc_record *r, int dtype, unsigned rank,
                          const uint32_t *dims, const void *payload);

struct lc_stream_header {
    uint32_t version;
    char kind[LC_STREAM_KIND_MAX + 1];
    const char *meta;       /* NUL-terminated metadata text */
    size_t meta_len;
};

/* ---- reader ---- */
struct lc_reader;

/* Open a stream (NULL or "-" = stdin) and read its header. */
int lc_reader_open(struct lc_reader **r, const char *path, struct lc_err *err);
/* Read from an input that the reader then owns (closes), e.g. stdin after
 * a peek at its first bytes. */
int lc_reader_open_in(struct lc_reader **r, struct lc_in *in, struct lc_err *err);
/* Read from memory the caller keeps alive. */
int lc_reader_open_mem(struct lc_reader **r, const void *data, size_t len,
                       const char *name, struct lc_err *err);
/* Header of the first segment; later segments must have the same kind and
 * the same binding metadata (channels, layout, normalization). */
const struct lc_stream_header *lc_reader_header(const struct lc_reader *r);
const char *lc_reader_name(const struct lc_reader *r);
/* Next record's header into *rec (pointers valid until the next call).
 * Returns 1 for a record, 0 at the verified end of the input, <0 on error.
 * An unread payload of the previous record is skipped (and verified). */
int lc_reader_next(struct lc_reader *r, struct lc_record *rec,
                   struct lc_err *err);
/* Read and verify the current record's payload; sets rec->payload (64-byte
 * aligned, owned by the reader, valid until the next lc_reader_next). */
int lc_reader_payload(struct lc_reader *r, struct lc_record *rec,
                      struct lc_err *err);
/* Same, into caller memory of rec->payload_len bytes. */
int lc_reader_payload_into(struct lc_reader *r, struct lc_record *rec,
                           void *dst, struct lc_err *err);
/* Segments seen so far (concatenated streams). */
uint64_t lc_reader_segments(const struct lc_reader *r);
void lc_reader_free(struct lc_reader *r);

/* Require the stream's kind (tools refuse streams of the wrong kind). */
int lc_reader_expect_kind(const struct lc_reader *r, const char *kind,
                          struct lc_err *err);

/* ---- writer ---- */
struct lc_writer;

/* Create path (NULL or "-" = stdout, refused if a terminal). A named file
 * appears only when lc_writer_close succeeds. kind: 1-16 of [a-z0-9_-].
 * meta: "key=value" lines or NULL. */
int lc_writer_open(struct lc_writer **w, const char *path, const char *kind,
                   const char *meta, struct lc_err *err);
/* Write to an output the caller owns (and commits after lc_writer_close). */
int lc_writer_open_out(struct lc_writer **w, struct lc_out *out,
                       const char *kind, const char *meta, struct lc_err *err);
/* Validate and append one record. */
int lc_writer_write(struct lc_writer *w, const struct lc_record *rec,
                    struct lc_err *err);
/* Records written so far. */
uint64_t lc_writer_count(const struct lc_writer *w);
/* Write the trailer, commit the file (if owned) and free w, also on error. */
int lc_writer_close(struct lc_writer *w, struct lc_err *err);
/* Discard everything written (removes the temporary file); frees w. */
void lc_writer_abort(struct lc_writer *w);

/* ---- metadata text ---- */
/* Copy the value of key into val (NUL-terminated, truncated to size).
 * Returns 1 if present, 0 if not. */
int lc_meta_get(const char *meta, const char *key, char *val, size_t size);
/* Set key=value in *meta (malloc'd, may be NULL), replacing an existing
 * line with that key. value must not contain a newline. Returns 0 or
 * LC_ENOMEM/LC_EINVAL. */
int lc_meta_set(char **meta, const char *key, const char *value);
/* Append key=value even if key exists (repeatable keys such as history). */
int lc_meta_add(char **meta, const char *key, const char *value);
/* Check "key=value" lines: keys [A-Za-z0-9_.-]+, no NUL. */
int lc_meta_validate(const char *meta, size_t len, struct lc_err *err);

#endif
