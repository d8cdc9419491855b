/* dtype: element types of tensors and stream records, their sizes, names,
 * numpy spellings, and half-precision conversion. The numeric codes are
 * part of the stream format (docs/stream-format.md): never renumber. */
#ifndef LC_DTYPE_H
#define LC_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum lc_dtype {
    LC_DTYPE_NONE = 0, /* record without a tensor */
    LC_DTYPE_U8 = 1,
    LC_DTYPE_I8 = 2,
    LC_DTYPE_U16 = 3,
    LC_DTYPE_I16 = 4,
    LC_DTYPE_U32 = 5,
    LC_DTYPE_I32 = 6,
    LC_DTYPE_U64 = 7,
    LC_DTYPE_I64 = 8,
    LC_DTYPE_F16 = 9,
    LC_DTYPE_BF16 = 10,
    LC_DTYPE_F32 = 11,
    LC_DTYPE_F64 = 12,
    LC_DTYPE_COUNT
};

/* Bytes per element; 0 for NONE and unknown codes. */
size_t lc_dtype_size(int dtype);
/* "u8", "f32", ...; "?" for unknown codes. */
const char *lc_dtype_name(int dtype);
/* Inverse of lc_dtype_name; -1 if unknown. */
int lc_dtype_parse(const char *name);
/* numpy descr, e.g. "<f4", "|u1"; NULL where numpy has none (bf16). */
const char *lc_dtype_npy(int dtype);
/* Inverse of lc_dtype_npy (accepts "<", "|" and "=" byte orders); -1. */
int lc_dtype_from_npy(const char *descr);

/* IEEE half and bfloat16, round to nearest even; NaN stays NaN. */
float lc_f16_to_f32(uint16_t h);
uint16_t lc_f32_to_f16(float f);
float lc_bf16_to_f32(uint16_t h);
uint16_t lc_f32_to_bf16(float f);

/* Element i of a typed buffer as double (for printing and summaries). */
double lc_dtype_get(const void *data, int dtype, size_t i);

#endif
