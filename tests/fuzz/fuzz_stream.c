/* libFuzzer target: the tensor stream reader on arbitrary bytes. It must
 * never crash, hang, leak or over-allocate; it either reads records or
 * returns an error. Seeds: valid streams (tests/fuzz/run.sh makes them). */
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lc_reader *r;
    struct lc_err err;
    if (lc_reader_open_mem(&r, data, size, "fuzz", &err)) return 0;
    struct lc_record rec;
    int n = 0;
    while (lc_reader_next(r, &rec, &err) == 1) {
        if (n++ % 2 == 0 && lc_reader_payload(r, &rec, &err)) break; /* also the skip path */
        if (rec.key[rec.key_len] != '\0') __builtin_trap();
    }
    lc_reader_free(r);
    return 0;
}
