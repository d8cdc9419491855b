/* stream_bench: throughput and memory of the tensor stream against the
 * plain-file peer measured in the same run: writing and reading 112x112x3
 * face images (with checksums and framing) versus write(2)/read(2) of the
 * same bytes, plus the cost of CRC-32 alone; and peak memory of a reader
 * over 10^4 vs 10^6 records (it must not grow). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "stream.h"
#include "tool.h"

static void die(const struct lc_err *e) { lc_tool_fail(e); }

static double write_stream(const char *path, int n, const uint8_t *img, uint32_t bytes)
{
    struct lc_writer *w;
    struct lc_err err;
    double t0 = lc_now();
    if (lc_writer_open(&w, path, "images", "channels=BGR\n", &err)) die(&err);
    uint32_t dims[3] = {112, 112, 3};
    for (int i = 0; i < n; i++) {
        char key[32];
        int64_t label = i % 1000;
        snprintf(key, sizeof key, "img/%08d", i);
        struct lc_record r = {.key = key, .labels = &label, .n_labels = 1};
        lc_record_set_tensor(&r, LC_DTYPE_U8, 3, dims, img + (size_t)(i % 16) * bytes);
        if (lc_writer_write(w, &r, &err)) die(&err);
    }
    if (lc_writer_close(w, &err)) die(&err);
    return lc_now() - t0;
}

static double write_plain(const char *path, int n, const uint8_t *img, uint32_t bytes)
{
    double t0 = lc_now();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint8_t *buf = malloc(1 << 20);
    size_t used = 0;
    for (int i = 0; i < n; i++) { /* buffered like the stream writer */
        if (used + bytes > (1u << 20)) {
            if (write(fd, buf, used) != (ssize_t)used) abort();
            used = 0;
        }
        memcpy(buf + used, img + (size_t)(i % 16) * bytes, bytes);
        used += bytes;
    }
    if (write(fd, buf, used) != (ssize_t)used) abort();
    close(fd);
    free(buf);
    return lc_now() - t0;
}

static double read_stream(const char *path, uint64_t *sum)
{
    struct lc_reader *r;
    struct lc_err err;
    struct lc_record rec;
    double t0 = lc_now();
    if (lc_reader_open(&r, path, &err)) die(&err);
    int rc;
    while ((rc = lc_reader_next(r, &rec, &err)) == 1) {
        if (lc_reader_payload(r, &rec, &err)) die(&err);
        *sum += ((const uint8_t *)rec.payload)[rec.payload_len - 1];
    }
    if (rc < 0) die(&err);
    lc_reader_free(r);
    return lc_now() - t0;
}

static double read_plain(const char *path, uint32_t bytes, uint64_t *sum, int with_crc)
{
    double t0 = lc_now();
    int fd = open(path, O_RDONLY);
    uint8_t *buf = malloc(1 << 20);
    ssize_t k;
    uLong crc = 0;
    while ((k = read(fd, buf, 1 << 20)) > 0) {
        *sum += buf[k - 1];
        if (with_crc) crc = crc32_z(crc, buf, (size_t)k);
    }
    *sum += crc & 1;
    (void)bytes;
    close(fd);
    free(buf);
    return lc_now() - t0;
}

/* Peak RSS (KiB) of a child that reads a stream of n small records. */
static long reader_rss(const char *dir, long n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/pairs-%ld.sft", dir, n);
    struct lc_writer *w;
    struct lc_err err;
    if (lc_writer_open(&w, path, "scores", NULL, &err)) die(&err);
    for (long i = 0; i < n; i++) {
        char key[64];
        int64_t lab = i & 1;
        float score = (float)i * 1e-6f;
        snprintf(key, sizeof key, "a/%ld\tb/%ld", i, i + 1);
        struct lc_record r = {.key = key, .labels = &lab, .n_labels = 1, .floats = &score, .n_floats = 1};
        if (lc_writer_write(w, &r, &err)) die(&err);
    }
    if (lc_writer_close(w, &err)) die(&err);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t s = 0;
        read_stream(path, &s);
        _exit(0);
    }
    int st;
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    unlink(path);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    lc_tool_init("stream_bench");
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char sp[512], pp[512];
    snprintf(sp, sizeof sp, "%s/bench-stream.sft", dir);
    snprintf(pp, sizeof pp, "%s/bench-plain.bin", dir);
    const uint32_t bytes = 112 * 112 * 3;
    uint8_t *img = malloc((size_t)16 * bytes);
    for (size_t i = 0; i < (size_t)16 * bytes; i++) img[i] = (uint8_t)(i * 2654435761u >> 24);
    double mb = (double)n * bytes / 1e6;
    uint64_t sum = 0;
    /* warm-up pass, then the best of 3 for each, interleaved */
    double ws = 1e9, wp = 1e9, rs = 1e9, rp = 1e9, rc = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t;
        if ((t = write_stream(sp, n, img, bytes)) < ws) ws = t;
        if ((t = write_plain(pp, n, img, bytes)) < wp) wp = t;
        if ((t = read_stream(sp, &sum)) < rs) rs = t;
        if ((t = read_plain(pp, bytes, &sum, 0)) < rp) rp = t;
        if ((t = read_plain(pp, bytes, &sum, 1)) < rc) rc = t;
    }
    printf("stream_bench: %d records of 112x112x3 u8 (%.0f MB), page cache, best of 3\n", n, mb);
    printf("  write  stream %7.0f MB/s   plain write(2) %7.0f MB/s   ratio %.2f\n", mb / ws, mb / wp, wp / ws);
    printf("  read   stream %7.0f MB/s   plain read(2)  %7.0f MB/s   ratio %.2f\n", mb / rs, mb / rp, rp / rs);
    printf("         (plain read + zlib crc32 alone: %.0f MB/s; stream / that = %.2f)\n", mb / rc, rc / rs);
    printf("  images/s read from a stream: %.0f\n", n / rs);
    long small = reader_rss(dir, 10000), big = reader_rss(dir, 1000000);
    printf("  reader peak RSS: %ld KiB for 10^4 records, %ld KiB for 10^6 (ratio %.2f; O(1) means ~1)\n", small, big,
           (double)big / (double)small);
    unlink(sp);
    unlink(pp);
    free(img);
    return sum == 42; /* keep the reads alive */
}
