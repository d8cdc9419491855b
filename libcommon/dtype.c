/* dtype: sizes, names and conversions of element types. */
#include "dtype.h"

#include <string.h>

static const struct {
    const char *name, *npy;
    size_t size;
} info[LC_DTYPE_COUNT] = {
    [LC_DTYPE_NONE] = {"none", NULL, 0},  [LC_DTYPE_U8] = {"u8", "|u1", 1},
    [LC_DTYPE_I8] = {"i8", "|i1", 1},     [LC_DTYPE_U16] = {"u16", "<u2", 2},
    [LC_DTYPE_I16] = {"i16", "<i2", 2},   [LC_DTYPE_U32] = {"u32", "<u4", 4},
    [LC_DTYPE_I32] = {"i32", "<i4", 4},   [LC_DTYPE_U64] = {"u64", "<u8", 8},
    [LC_DTYPE_I64] = {"i64", "<i8", 8},   [LC_DTYPE_F16] = {"f16", "<f2", 2},
    [LC_DTYPE_BF16] = {"bf16", NULL, 2},  [LC_DTYPE_F32] = {"f32", "<f4", 4},
    [LC_DTYPE_F64] = {"f64", "<f8", 8},
};

size_t lc_dtype_size(int d) { return d > 0 && d < LC_DTYPE_COUNT ? info[d].size : 0; }
const char *lc_dtype_name(int d) { return d >= 0 && d < LC_DTYPE_COUNT ? info[d].name : "?"; }
const char *lc_dtype_npy(int d) { return d > 0 && d < LC_DTYPE_COUNT ? info[d].npy : NULL; }

int lc_dtype_parse(const char *name)
{
    for (int d = 0; d < LC_DTYPE_COUNT; d++)
        if (strcmp(name, info[d].name) == 0) return d;
    return -1;
}

int lc_dtype_from_npy(const char *descr)
{
    if (!descr[0]) return -1;
    char order = descr[0];
    if (order != '<' && order != '|' && order != '=') return -1;
    for (int d = 1; d < LC_DTYPE_COUNT; d++)
        if (info[d].npy && strcmp(descr + 1, info[d].npy + 1) == 0) return d;
    return -1;
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float lc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return u2f(sign | 0x7f800000u | (man << 13)); /* inf, nan */
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t lc_f32_to_f16(float f)
{
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or nan (keep nan quiet and non-zero) */
        return sign | 0x7c00 | (a > 0x7f800000u ? 0x200 | ((a >> 13) & 0x3ff) : 0);
    if (a >= 0x477ff000u) return sign | 0x7c00; /* rounds past 65504 */
    if (a < 0x38800000u) { /* result is subnormal or zero */
        if (a < 0x33000000u) return sign; /* below half the smallest subnormal */
        uint32_t exp = a >> 23, man = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - exp; /* 14..24 */
        uint32_t r = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r;
    }
    uint32_t r = ((a - 0x38000000u) >> 13); /* rebias exponent 127 -> 15 */
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return sign | (uint16_t)r;
}

float lc_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t lc_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

double lc_dtype_get(const void *data, int dtype, size_t i)
{
    switch (dtype) {
    case LC_DTYPE_U8: return ((const uint8_t *)data)[i];
    case LC_DTYPE_I8: return ((const int8_t *)data)[i];
    case LC_DTYPE_U16: return ((const uint16_t *)data)[i];
    case LC_DTYPE_I16: return ((const int16_t *)data)[i];
    case LC_DTYPE_U32: return ((const uint32_t *)data)[i];
    case LC_DTYPE_I32: return ((const int32_t *)data)[i];
    case LC_DTYPE_U64: return (double)((const uint64_t *)data)[i];
    case LC_DTYPE_I64: return (double)((const int64_t *)data)[i];
    case LC_DTYPE_F16: return lc_f16_to_f32(((const uint16_t *)data)[i]);
    case LC_DTYPE_BF16: return lc_bf16_to_f32(((const uint16_t *)data)[i]);
    case LC_DTYPE_F32: return ((const float *)data)[i];
    case LC_DTYPE_F64: return ((const double *)data)[i];
    }
    return 0;
}
