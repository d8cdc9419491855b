/* crc: the CRC-32 of zlib, Python's zlib.crc32 and PNG (ISO-HDLC), which
 * the stream format uses, computed by Intel's ISA-L (PCLMULQDQ folding,
 * about 20x zlib's speed), so checksums cost little beside decoding. */
#ifndef LC_CRC_H
#define LC_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Continue crc (0 to start) over n bytes: lc_crc32(lc_crc32(0, a, na), b, nb)
 * equals the CRC of a followed by b, as zlib's crc32. */
uint32_t lc_crc32(uint32_t crc, const void *p, size_t n);

#endif
