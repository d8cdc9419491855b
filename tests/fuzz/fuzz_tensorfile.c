/* libFuzzer target: checkpoint files (safetensors headers and PyTorch zip
 * archives with their pickles). Every entry a file reports must lie within
 * memory the file owns: touch all of it. */
#include <stddef.h>
#include <stdint.h>

#include "tensorfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lc_tensor_file *f;
    struct lc_err err;
    if (lc_tensor_file_open_mem(&f, data, size, "fuzz", &err) != 0) return 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < lc_tensor_file_count(f); i++) {
        const struct lc_tensor_entry *e = lc_tensor_file_entry(f, i);
        const uint8_t *p = e->data;
        for (size_t k = 0; k < e->bytes; k++) sink ^= p[k];
        if (!e->name) __builtin_trap();
    }
    for (size_t i = 0; i < lc_tensor_file_meta_count(f); i++) {
        const char *k, *v;
        lc_tensor_file_meta_pair(f, i, &k, &v);
        if (!k || !v) __builtin_trap();
    }
    lc_tensor_file_close(f);
    return 0;
}
