/* test_sha256: FIPS 180-4 test vectors, split updates, and whole files. */
#include "sha256.h"
#include "testutil.h"

static void hex_of(const char *s, size_t n, char *hex)
{
    struct lc_sha256 h;
    uint8_t d[32];
    lc_sha256_init(&h);
    lc_sha256_update(&h, s, n);
    lc_sha256_final(&h, d, hex);
}

Test(sha256, test_vectors)
{
    char hex[65];
    hex_of("", 0, hex);
    cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m, strlen(m), hex);
    cr_expect_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a', fed in uneven pieces */
    struct lc_sha256 h;
    uint8_t d[32];
    char buf[997];
    memset(buf, 'a', sizeof buf);
    lc_sha256_init(&h);
    size_t left = 1000000;
    for (size_t k = 1; left; k = k % 996 + 1) {
        size_t n = k < left ? k : left;
        lc_sha256_update(&h, buf, n);
        left -= n;
    }
    lc_sha256_final(&h, d, hex);
    cr_expect_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(sha256, files)
{
    const char *dir = tu_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("abc", f);
    fclose(f);
    char hex[65];
    uint64_t bytes;
    struct lc_err err;
    cr_assert_eq(lc_sha256_file(path, hex, &bytes, &err), 0);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_expect_eq(bytes, 3);
    cr_expect_eq(lc_sha256_file("-", hex, &bytes, &err), LC_EUSAGE);
    snprintf(path, sizeof path, "%s/missing", dir);
    cr_expect_eq(lc_sha256_file(path, hex, &bytes, &err), LC_EIO);
}
