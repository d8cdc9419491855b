/* source: one iterator over every image dataset the toolkit reads, so each
 * tool (rec-unpack, rec-pack, train-pre, ...) handles them all the same way:
 *   - MXNet RecordIO: a directory with train.rec (+ train.idx, property) or
 *     a .rec path; InsightFace layout (header record 0, images 1..max-1,
 *     identity records) or plain im2rec layout; with an .idx, records come
 *     in .idx order by random access; without, in file order by a scan;
 *   - InsightFace validation sets (.bin pickles): 2N images, pair labels;
 *   - image folders and tar/zip archives in the ImageFolder layout;
 *   - tensor streams of kind images (raw or encoded).
 * Items carry the encoded bytes (or a raw u8 image), key, labels, and the
 * byte offset in the container, for error messages. */
#ifndef LC_SOURCE_H
#define LC_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum lc_source_type {
    LC_SOURCE_RECORDIO = 1,
    LC_SOURCE_VALBIN,
    LC_SOURCE_FOLDER,
    LC_SOURCE_ARCHIVE,
    LC_SOURCE_STREAM,
};

#define LC_SOURCE_MAX_LABELS 8
#define LC_SOURCE_MAX_FLOATS 4096

struct lc_source_item {
    uint64_t index;       /* position in the source's order (0, 1, ...) */
    const char *key;      /* .idx key, `DATASET/I` for .bin, relative path for folders */
    int64_t label;        /* class id; pair label (1 same, 0 different) for .bin; -1 none */
    const int64_t *labels; /* what a stream record carries: see lc_source_open */
    unsigned n_labels;
    const float *floats;  /* RecordIO: the float label(s) exactly as stored */
    unsigned n_floats;
    const uint8_t *data;  /* encoded image (JPEG, PNG, other), or raw pixels */
    size_t len;
    int codec;            /* enum lc_codec of data: JPEG, PNG, BYTES, or NONE = raw */
    int dtype;            /* raw only: element type and shape */
    unsigned rank;
    uint32_t dims[4];
    int64_t offset;       /* byte offset of the record in its file, -1 if none */
    uint64_t id, id2;     /* RecordIO IRHeader ids (0 elsewhere) */
};

struct lc_source;

/* Open a dataset; the type is found from what path is (directory with
 * train.rec, directory of class folders, archive, or a file's first bytes).
 * Labels that items carry into streams:
 *   RecordIO: [class, id, id2]; floats = the stored label array
 *   .bin:     [pair label]     (images 2i and 2i+1 form pair i)
 *   folders:  [class]
 *   streams:  the stream's own labels and floats. */
int lc_source_open(struct lc_source **s, const char *path, struct lc_err *err);
void lc_source_close(struct lc_source *s);
int lc_source_type(const struct lc_source *s);
const char *lc_source_type_name(const struct lc_source *s);
/* Number of items, or -1 when only a full scan could tell (RecordIO without
 * .idx, tensor streams). */
int64_t lc_source_count(const struct lc_source *s);
/* Identity classes (RecordIO header/property, folders), or -1 unknown. */
int64_t lc_source_classes(const struct lc_source *s);
/* Metadata lines describing the source for an output stream (source=...,
 * dataset=..., classes=..., pairs=adjacent, ...), NUL-terminated. */
const char *lc_source_meta(const struct lc_source *s);
/* Class names (folders) or NULL, and the number of images of a class. */
const char *lc_source_class_name(const struct lc_source *s, int64_t label);
uint64_t lc_source_class_images(const struct lc_source *s, int64_t label);

/* Next item: 1, 0 at the end, <0 on error (errors name file, record index
 * and byte offset). After an error, lc_source_recoverable says whether
 * next may be called again (the bad item is then skipped) — true for a bad
 * record reached through an index, false for a broken sequential framing. */
int lc_source_next(struct lc_source *s, struct lc_source_item *it, struct lc_err *err);
int lc_source_recoverable(const struct lc_source *s);
/* Position the source so the next item is `index` (cheap where the source
 * has random access, otherwise by skipping). */
int lc_source_seek(struct lc_source *s, uint64_t index, struct lc_err *err);
/* The file or directory read (for RecordIO: the .rec file). */
const char *lc_source_path(const struct lc_source *s);
/* RecordIO read through an .idx (item offsets are then stable addresses). */
int lc_source_indexed(const struct lc_source *s);
/* Position of the next item. */
uint64_t lc_source_position(const struct lc_source *s);
/* Whether items come without reading their bytes (fast --list). */
int lc_source_set_skip_data(struct lc_source *s, int skip);

/* Validation sets only: pair count and pair labels (NULL otherwise). */
size_t lc_source_pairs(const struct lc_source *s, const uint8_t **issame);

#endif
