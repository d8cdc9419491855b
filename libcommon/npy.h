/* npy: numpy's .npy format (versions 1.0-3.0), the bridge to Python for
 * single tensors: `sft export` writes it, `sft pack-npy` reads it. Only
 * plain little-endian numeric dtypes in C order; object arrays and
 * Fortran order are refused (never unpickled). */
#ifndef LC_NPY_H
#define LC_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LC_NPY_MAX_RANK 8

struct lc_npy {
    int dtype; /* enum lc_dtype */
    unsigned rank;
    uint64_t dims[LC_NPY_MAX_RANK];
    size_t data_offset; /* where the array bytes start */
    uint64_t data_bytes;
};

/* Parse the header at the start of buf (len bytes). */
int lc_npy_parse(const void *buf, size_t len, struct lc_npy *out, struct lc_err *err);

/* Build a version 1.0 header (64-byte aligned data) into hdr (at least
 * 256 bytes); returns its length or a negative LC_E* code. */
int lc_npy_header(char *hdr, size_t size, int dtype, unsigned rank, const uint64_t *dims,
                  struct lc_err *err);

/* Write an .npy file atomically. */
int lc_npy_save(const char *path, int dtype, unsigned rank, const uint64_t *dims, const void *data,
                struct lc_err *err);

#endif
