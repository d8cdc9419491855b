/* libFuzzer target: the .npy header parser (a Python dict literal). */
#include <stddef.h>
#include <stdint.h>

#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lc_npy h;
    struct lc_err err;
    if (lc_npy_parse(data, size, &h, &err) == 0 && h.data_offset > size) __builtin_trap();
    return 0;
}
