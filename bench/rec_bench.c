/* rec_bench: rec-unpack's speed and memory against peers measured in the
 * same run on the same RecordIO file of 112x112 JPEG faces:
 *   - a bare libjpeg-turbo decode loop in C over the same payloads (the limit),
 *   - a Python loop doing what MXNet-free training code does: parse the
 *     records and cv2.imdecode each (skipped when python3-opencv is absent);
 * rec-unpack -j 1 and -j 2 with the stream written to /dev/null; --raw and
 * --list bandwidth; and peak RSS over 10^5 vs 10^6 records.
 * Faces come from ../shared/data (LC_SHARED_DATA) when present, otherwise
 * synthetic 112x112 JPEGs of similar size are made here. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h> /* after stdio.h: it uses FILE */
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image.h"
#include "recordio.h"
#include "tool.h"

static void die(const struct lc_err *e) { lc_tool_fail(e); }

struct blob {
    uint8_t *p;
    size_t n;
};

/* Real faces if we have them: every JPEG under faces/faceid-processing/training. */
static int load_real(struct blob *b, int max)
{
    const char *env = getenv("LC_SHARED_DATA");
    char root[4096];
    snprintf(root, sizeof root, "%s/faces/faceid-processing/training", env ? env : "../shared/data");
    DIR *d = opendir(root);
    if (!d) return 0;
    int n = 0;
    struct dirent *cls;
    while (n < max && (cls = readdir(d))) {
        if (cls->d_name[0] == '.') continue;
        char sub[8200];
        snprintf(sub, sizeof sub, "%s/%s", root, cls->d_name);
        DIR *s = opendir(sub);
        struct dirent *f;
        while (s && n < max && (f = readdir(s))) {
            if (!strstr(f->d_name, ".jpg")) continue;
            char path[8500];
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            FILE *fp = fopen(path, "rb");
            if (!fp) continue;
            fseek(fp, 0, SEEK_END);
            long len = ftell(fp);
            fseek(fp, 0, SEEK_SET);
            b[n].p = malloc((size_t)len);
            if (fread(b[n].p, 1, (size_t)len, fp) == (size_t)len) b[n++].n = (size_t)len;
            fclose(fp);
        }
        if (s) closedir(s);
    }
    closedir(d);
    return n;
}

/* Face-sized synthetic JPEGs: smooth shapes plus noise, quality 90. */
static int make_synthetic(struct blob *b, int n, int side)
{
    struct lc_image img = {side, side, 3, malloc((size_t)side * side * 3), 0};
    uint32_t s = 1;
    for (int k = 0; k < n; k++) {
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
                for (int c = 0; c < 3; c++) {
                    s = s * 1103515245u + 12345u;
                    int dx = x - side / 2, dy = y - side / 2 - k % 7;
                    int v = (dx * dx + dy * dy < side * side / 6 ? 170 : 60) + 40 * c + (x * k) % 50 - (int)(s >> 28);
                    img.data[((size_t)y * side + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
        struct lc_err err;
        if (lc_image_encode_jpeg(&img, LC_PIXELS_BGR, 90, &b[k].p, &b[k].n, &err)) die(&err);
    }
    free(img.data);
    return n;
}

static void write_rec(const char *rec, const char *idx, const struct blob *b, int nb, long n)
{
    struct lc_rec_writer *w;
    struct lc_err err;
    if (lc_rec_writer_open(&w, rec, idx, &err)) die(&err);
    uint8_t *buf = malloc(1 << 20);
    for (long i = 0; i < n; i++) {
        const struct blob *x = &b[i % nb];
        size_t h = lc_irheader_pack(buf, (float)(i % 1000), NULL, 0, (uint64_t)i, 0);
        memcpy(buf + h, x->p, x->n);
        char key[32];
        snprintf(key, sizeof key, "%ld", i);
        if (lc_rec_write(w, key, buf, h + x->n, &err)) die(&err);
    }
    if (lc_rec_writer_close(w, &err)) die(&err);
    free(buf);
}

/* The peer that sets the limit: libjpeg-turbo alone, decoding to BGR. */
static double bare_decode(const char *rec, long *count)
{
    struct lc_rec_reader *r;
    struct lc_err err;
    if (lc_rec_open(&r, rec, &err)) die(&err);
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&ci);
    uint8_t *out = malloc(4096 * 4096 * 3);
    const uint8_t *p;
    size_t len;
    uint64_t off;
    long n = 0;
    double t0 = lc_now();
    while (lc_rec_next(r, &p, &len, &off, &err) == 1) {
        jpeg_mem_src(&ci, p + 24, (unsigned long)(len - 24));
        jpeg_read_header(&ci, TRUE);
        ci.out_color_space = JCS_EXT_BGR;
        jpeg_start_decompress(&ci);
        while (ci.output_scanline < ci.output_height) {
            JSAMPROW row = out + (size_t)ci.output_scanline * ci.output_width * 3;
            jpeg_read_scanlines(&ci, &row, 1);
        }
        jpeg_finish_decompress(&ci);
        n++;
    }
    double dt = lc_now() - t0;
    jpeg_destroy_decompress(&ci);
    free(out);
    lc_rec_close(r);
    *count = n;
    return dt;
}

/* Run a command; wall seconds, peak RSS in KiB; -1 if it failed. */
static double run(char *const argv[], long *rss_kib)
{
    double t0 = lc_now();
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    if (rss_kib) *rss_kib = ru.ru_maxrss;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? lc_now() - t0 : -1;
}

static const char *PY =
    "import struct, sys, time\n"
    "import numpy as np\n"
    "try:\n    import cv2\nexcept ImportError:\n    print('none'); sys.exit(0)\n"
    "cv2.setNumThreads(1)\n"
    "blob = open(sys.argv[1], 'rb').read()\n"
    "offs = [int(l.split('\\t')[1]) for l in open(sys.argv[2])]\n"
    "t0 = time.perf_counter(); n = 0\n"
    "for o in offs:\n"
    "    magic, lrec = struct.unpack_from('<II', blob, o)\n"
    "    payload = blob[o + 8:o + 8 + (lrec & 0x1fffffff)]\n"
    "    flag, label, i, i2 = struct.unpack_from('<IfQQ', payload)\n"
    "    img = cv2.imdecode(np.frombuffer(payload, np.uint8, offset=24 + 4 * flag), cv2.IMREAD_COLOR)\n"
    "    n += 1\n"
    "print(n / (time.perf_counter() - t0))\n";

int main(int argc, char **argv)
{
    lc_tool_init("rec_bench");
    long n = argc > 1 ? atol(argv[1]) : 20000;
    const char *bin = getenv("LC_BIN") ? getenv("LC_BIN") : "bin";
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char tool[4200], rec[512], idx[512], py[512];
    snprintf(tool, sizeof tool, "%s/rec-unpack", bin);
    snprintf(rec, sizeof rec, "%s/rec_bench.rec", tmp);
    snprintf(idx, sizeof idx, "%s/rec_bench.idx", tmp);
    snprintf(py, sizeof py, "%s/rec_bench.py", tmp);

    static struct blob faces[2048];
    int nf = load_real(faces, 2048);
    const char *what = "real 112x112 faces (faceid-processing)";
    if (!nf) {
        nf = make_synthetic(faces, 64, 112);
        what = "synthetic 112x112 JPEGs (real data not found)";
    }
    size_t bytes = 0;
    for (int i = 0; i < nf; i++) bytes += faces[i].n;
    write_rec(rec, idx, faces, nf, n);
    struct stat st;
    stat(rec, &st);
    double mb = (double)st.st_size / 1e6;
    printf("rec_bench: %ld records of %s, %d distinct, mean %.0f bytes; file %.0f MB\n", n, what, nf,
           (double)bytes / nf, mb);

    long cnt;
    bare_decode(rec, &cnt); /* warm the page cache */
    double best_bare = 1e9, best0 = 1e9, best1 = 1e9, best2 = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t = bare_decode(rec, &cnt);
        if (t < best_bare) best_bare = t;
        char *a0[] = {tool, "-j", "0", "-o", "/dev/null", rec, NULL};
        char *a1[] = {tool, "-j", "1", "-o", "/dev/null", rec, NULL};
        char *a2[] = {tool, "-j", "2", "-o", "/dev/null", rec, NULL};
        if ((t = run(a0, NULL)) > 0 && t < best0) best0 = t;
        if ((t = run(a1, NULL)) > 0 && t < best1) best1 = t;
        if ((t = run(a2, NULL)) > 0 && t < best2) best2 = t;
    }
    double bare = n / best_bare, zero = n / best0, one = n / best1, two = n / best2;
    FILE *f = fopen(py, "w");
    fputs(PY, f);
    fclose(f);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", py, rec, idx);
    double python = 0;
    FILE *p = popen(cmd, "r");
    char line[128] = "";
    if (p && fgets(line, sizeof line, p)) python = atof(line);
    if (p) pclose(p);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  decode to BGR (rec-unpack includes reading, checksumming and writing the stream to /dev/null):\n");
    printf("    bare libjpeg-turbo loop        %8.0f images/s   (the limit, one thread)\n", bare);
    printf("    rec-unpack -j 0 (one thread)   %8.0f images/s   %.2fx of the bare loop (target >= 0.91)\n", zero, zero / bare);
    if (python > 0) printf("    Python + cv2.imdecode          %8.0f images/s   rec-unpack -j 0 is %.2fx faster\n", python, zero / python);
    else printf("    Python + cv2.imdecode          skipped (python3-opencv not installed)\n");
    printf("    rec-unpack -j 1 (2 threads)    %8.0f images/s   %.2fx of -j 0\n", one, one / zero);
    printf("    rec-unpack -j 2 (3 threads)    %8.0f images/s   %.2fx of -j 0 (%ld cores)\n", two, two / zero, cpus);

    double raw = 1e9, list = 1e9, t;
    for (int rep = 0; rep < 3; rep++) {
        char *ar[] = {tool, "--raw", "-o", "/dev/null", rec, NULL};
        char *al[] = {tool, "--list", "-o", "/dev/null", rec, NULL};
        if ((t = run(ar, NULL)) > 0 && t < raw) raw = t;
        if ((t = run(al, NULL)) > 0 && t < list) list = t;
    }
    printf("  no decoding, page cache: --raw %.0f MB/s, --list %.0f MB/s of .rec (target >= 1000)\n", mb / raw, mb / list);

    /* memory: tiny records so that 10^6 of them stay small on disk */
    struct blob tiny[4];
    make_synthetic(tiny, 4, 8);
    long sizes[2] = {100000, 1000000}, rss_dec[2], rss_raw[2], rss_idx[2];
    char hidden[600];
    snprintf(hidden, sizeof hidden, "%s.hidden", idx);
    for (int k = 0; k < 2; k++) {
        write_rec(rec, idx, tiny, 4, sizes[k]);
        char *ad[] = {tool, "-j", "1", "-o", "/dev/null", rec, NULL};
        char *ar[] = {tool, "--raw", "-o", "/dev/null", rec, NULL};
        run(ad, &rss_idx[k]);
        rename(idx, hidden); /* without the .idx: a sequential scan */
        run(ad, &rss_dec[k]);
        run(ar, &rss_raw[k]);
        rename(hidden, idx);
    }
    printf("  peak RSS, 10^5 vs 10^6 records: decode %ld / %ld KiB, --raw %ld / %ld KiB (scan without .idx);\n"
           "    with the .idx loaded %ld / %ld KiB (24 bytes per record of index, like MXNet's own reader)\n",
           rss_dec[0], rss_dec[1], rss_raw[0], rss_raw[1], rss_idx[0], rss_idx[1]);
    unlink(rec);
    unlink(idx);
    unlink(py);
    return 0;
}
