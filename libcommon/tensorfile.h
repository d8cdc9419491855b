/* tensorfile: named tensors on disk, read and written.
 *
 * Reading (lc_tensor_file_open) takes either
 *   - safetensors (https://huggingface.co/docs/safetensors): an 8-byte
 *     little-endian header length, a JSON header (Jansson) naming each
 *     tensor's dtype, shape and byte range, then the bytes; or
 *   - PyTorch's zip checkpoints (torch.save since 1.6; .pt, .pth, .ckpt):
 *     a zip (libarchive) holding data.pkl, a pickle of the object, and one
 *     entry per storage. The pickle is read with lc_pickle, which never
 *     runs code. Tensors are the `torch._utils._rebuild_tensor_v2` (and
 *     `_rebuild_parameter`) calls in the state dict: the root dict itself,
 *     or its "state_dict" entry (PyTorch Lightning checkpoints, whose
 *     other scalar entries - epoch, global_step - become metadata).
 *     Views (storage offsets, strides, shared storages) are honoured.
 * The pre-1.6 legacy format is refused with a message saying how to
 * convert it. Every offset and length is checked against the file before
 * use; errors name the file, the tensor and the byte offset.
 *
 * Writing (lc_st_writer) produces safetensors as the reference library
 * does, byte for byte (with at most one metadata entry; it orders several
 * by hash): tensors by dtype, then name, so each is aligned to its element
 * size; the header padded with spaces to 8 bytes. The file is written to a
 * temporary name, synced and renamed into place. */
#ifndef LC_TENSORFILE_H
#define LC_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LC_TENSOR_MAX_RANK 8

struct lc_tensor_entry {
    const char *name;
    int dtype;       /* enum lc_dtype */
    int is_bool;     /* BOOL in safetensors, torch.bool: stored as u8 0/1 */
    unsigned rank;
    int64_t dims[LC_TENSOR_MAX_RANK];
    size_t numel;
    const void *data; /* numel elements, little-endian, contiguous row-major;
                         owned by the file, aligned to the element size */
    size_t bytes;
};

struct lc_tensor_file;

/* Open path (format detected from its first bytes). */
int lc_tensor_file_open(struct lc_tensor_file **f, const char *path, struct lc_err *err);
/* The same from memory the caller keeps alive while f is open; name is
 * used in errors. */
int lc_tensor_file_open_mem(struct lc_tensor_file **f, const void *data, size_t len, const char *name,
                            struct lc_err *err);
void lc_tensor_file_close(struct lc_tensor_file *f); /* NULL is a no-op */

/* "safetensors" or "pytorch" */
const char *lc_tensor_file_format(const struct lc_tensor_file *f);
size_t lc_tensor_file_count(const struct lc_tensor_file *f);
/* Entries in file order (safetensors: the header's; pytorch: the dict's). */
const struct lc_tensor_entry *lc_tensor_file_entry(const struct lc_tensor_file *f, size_t i);
const struct lc_tensor_entry *lc_tensor_file_find(const struct lc_tensor_file *f, const char *name);
/* A metadata value (safetensors __metadata__; pytorch top-level scalars as
 * text), or NULL. */
const char *lc_tensor_file_meta(const struct lc_tensor_file *f, const char *key);
size_t lc_tensor_file_meta_count(const struct lc_tensor_file *f);
void lc_tensor_file_meta_pair(const struct lc_tensor_file *f, size_t i, const char **key, const char **val);

struct lc_st_writer;

/* Begin a safetensors file at path (written on close). */
int lc_st_writer_open(struct lc_st_writer **w, const char *path, struct lc_err *err);
/* Add a tensor. The name is copied; data (numel * dtype size bytes) is
 * not: it must stay valid until lc_st_writer_close. Duplicate names,
 * unknown dtypes and negative dims are LC_EINVAL. */
int lc_st_add(struct lc_st_writer *w, const char *name, int dtype, unsigned rank, const int64_t *dims,
              const void *data, struct lc_err *err);
/* Same for a 0/1 byte tensor stored as safetensors BOOL. */
int lc_st_add_bool(struct lc_st_writer *w, const char *name, unsigned rank, const int64_t *dims,
                   const uint8_t *data, struct lc_err *err);
/* Add a metadata entry (both strings copied; a key set twice keeps the
 * last value). */
int lc_st_meta(struct lc_st_writer *w, const char *key, const char *value, struct lc_err *err);
/* Write, fsync, rename into place; frees w whatever happens. */
int lc_st_writer_close(struct lc_st_writer *w, struct lc_err *err);
/* Discard without writing; frees w. NULL is a no-op. */
void lc_st_writer_abort(struct lc_st_writer *w);

#endif
