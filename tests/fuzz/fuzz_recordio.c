/* libFuzzer target: the RecordIO reader (framing, multi-part re-joining,
 * both magics) and IRHeader parsing, sequentially and at arbitrary offsets
 * as a hostile .idx could give them. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "recordio.h"

static void parse(const uint8_t *rec, size_t len)
{
    struct lc_irheader h;
    const uint8_t *img;
    size_t n;
    if (lc_irheader_unpack(rec, len, &h, &img, &n, NULL) == 0) {
        if (img + n != rec + len) __builtin_trap();
        for (uint32_t i = 0; i < h.flag && i < 64; i++) (void)lc_irheader_label(&h, i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lc_rec_reader *r;
    if (lc_rec_open_mem(&r, data, size, "fuzz", NULL)) return 0;
    const uint8_t *rec;
    size_t len;
    uint64_t off;
    int n = 0;
    while (n++ < 10000 && lc_rec_next(r, &rec, &len, &off, NULL) == 1) parse(rec, len);
    lc_rec_close(r);
    /* random access at offsets taken from the input itself */
    if (lc_rec_open_mem(&r, data, size, "fuzz", NULL)) return 0;
    for (size_t i = 0; i + 4 <= size && i < 64; i += 4) {
        uint32_t o;
        memcpy(&o, data + i, 4);
        if (lc_rec_read_at(r, o % (size + 8), (int64_t)i, &rec, &len, NULL) == 0) parse(rec, len);
    }
    lc_rec_close(r);
    return 0;
}
