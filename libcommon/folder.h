/* folder: datasets in the ImageFolder layout (`CLASS/.../IMAGE.jpg`), as a
 * directory or as a tar, tar.gz, tar.xz or zip archive (libarchive).
 * Class names sort (bytewise, as Python's sorted) to dense labels 0..C-1,
 * the torchvision convention. A directory yields files sorted by class,
 * then path; an archive cannot seek, so it yields them in archive order
 * (labels still come from the sorted class list, read in a first pass). */
#ifndef LC_FOLDER_H
#define LC_FOLDER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lc_folder;

struct lc_folder_item {
    uint64_t index;      /* ordinal of the item (0, 1, ...) */
    const char *path;    /* path relative to the dataset root, CLASS/... */
    int64_t label;       /* dense class index */
    const uint8_t *data; /* the file's bytes; valid until the next call */
    size_t len;
};

/* Scan path (directory or archive): classes and the list of image files
 * (extensions .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, any case;
 * hidden files and files outside a class directory are left out). */
int lc_folder_open(struct lc_folder **f, const char *path, struct lc_err *err);
void lc_folder_close(struct lc_folder *f);
int lc_folder_is_archive(const struct lc_folder *f);
size_t lc_folder_num_classes(const struct lc_folder *f);
const char *lc_folder_class(const struct lc_folder *f, size_t label);
/* Images per class, and in all. */
uint64_t lc_folder_class_count(const struct lc_folder *f, size_t label);
uint64_t lc_folder_count(const struct lc_folder *f);
/* Files left out because they sit outside any class directory. */
uint64_t lc_folder_ignored(const struct lc_folder *f);
/* Next image with its bytes. Returns 1, 0 at the end, or <0 (errors name
 * the file). */
int lc_folder_next(struct lc_folder *f, struct lc_folder_item *it, struct lc_err *err);
/* Advance without reading the bytes (it->data is NULL). */
int lc_folder_skip(struct lc_folder *f, struct lc_folder_item *it, struct lc_err *err);

/* Is path an archive libarchive can read (by content, not name)? */
int lc_folder_path_is_archive(const char *path);

#endif
