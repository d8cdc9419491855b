/* crc: zlib-compatible CRC-32 through ISA-L's crc32_gzip_refl. */
#include "crc.h"

#include <isa-l/crc.h>

uint32_t lc_crc32(uint32_t crc, const void *p, size_t n)
{
    return n ? crc32_gzip_refl(crc, (const unsigned char *)p, (uint64_t)n) : crc;
}
