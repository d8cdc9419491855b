/* sha256: SHA-256 (FIPS 180-4), so reports can name the exact inputs they
 * were made from (roc-report prints the checksum of every score file). */
#ifndef LC_SHA256_H
#define LC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lc_sha256 {
    uint32_t h[8];
    uint64_t len;   /* bytes hashed so far */
    uint8_t buf[64];
    size_t used;
};

void lc_sha256_init(struct lc_sha256 *s);
void lc_sha256_update(struct lc_sha256 *s, const void *p, size_t n);
/* Finish: 32 bytes into digest, and (if hex is not NULL) 64 lowercase hex
 * digits and a NUL into hex (65 bytes). */
void lc_sha256_final(struct lc_sha256 *s, uint8_t digest[32], char *hex);

/* Hash a whole file (not stdin: "-" is refused with LC_EUSAGE). hex: 65
 * bytes; *bytes (may be NULL) gets the file's size. */
int lc_sha256_file(const char *path, char *hex, uint64_t *bytes, struct lc_err *err);

#endif
