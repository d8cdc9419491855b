/* dataset: random access to the images of a training set, for shuffled
 * epochs. Built on lc_source: RecordIO with an .idx and image folders are
 * read in place (offsets or paths are kept); every other source (a RecordIO
 * scan, archives, .bin sets, streams) is loaded into memory once, encoded.
 * Reads are thread-safe. */
#ifndef LC_DATASET_H
#define LC_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lc_dataset;

/* Scan path (anything lc_source_open takes). */
int lc_dataset_open(struct lc_dataset **d, const char *path, struct lc_err *err);
void lc_dataset_close(struct lc_dataset *d);
size_t lc_dataset_count(const struct lc_dataset *d);
/* Classes: the source's count, else max label + 1. */
int64_t lc_dataset_classes(const struct lc_dataset *d);
int64_t lc_dataset_label(const struct lc_dataset *d, size_t i);
const char *lc_dataset_key(const struct lc_dataset *d, size_t i, char *buf, size_t size);
/* Metadata lines of the source (source=, classes=, ...). */
const char *lc_dataset_meta(const struct lc_dataset *d);
/* Copy item i's encoded image (or raw u8 HWC pixels: *codec == 0 with
 * dims) into *buf (grown with realloc; *cap its size). */
int lc_dataset_read(struct lc_dataset *d, size_t i, uint8_t **buf, size_t *cap, size_t *len, int *codec,
                    uint32_t dims[3], struct lc_err *err);

#endif
