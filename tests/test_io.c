/* io: buffered reads that cross buffer boundaries, atomic outputs, and
 * error messages that name the file. */
#include <sys/stat.h>

#include "io.h"
#include "testutil.h"

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

Test(io, reads_cross_the_buffer_in_odd_steps)
{
    const char *dir = tu_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/data", dir);
    size_t n = (5u << 20) + 7;
    uint8_t *b = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 131 + (i >> 11));
    write_file(path, b, n);
    struct lc_in *in;
    struct lc_err err;
    cr_assert_eq(lc_in_open(&in, path, &err), 0);
    cr_expect_eq(lc_in_size(in), (int64_t)n);
    size_t pos = 0, step = 1;
    while (pos < n) {
        size_t g;
        if (step % 3 == 0 && step < LC_IN_BORROW_MAX) {
            const void *p;
            cr_assert_eq(lc_in_borrow(in, step, &p, &g, &err), 0);
            memcpy(got + pos, p, g);
        } else {
            cr_assert_eq(lc_in_read(in, got + pos, step, &g, &err), 0);
        }
        pos += g;
        cr_assert_eq(lc_in_offset(in), pos);
        if (g < step) break;
        step = step * 7 % 1999993 + 1;
    }
    cr_expect_eq(pos, n);
    cr_expect_eq(memcmp(b, got, n), 0);
    size_t g;
    cr_expect_eq(lc_in_read(in, got, 10, &g, &err), 0);
    cr_expect_eq(g, 0, "a clean end reads nothing");
    lc_in_close(in);
    free(b);
    free(got);
}

Test(io, open_errors_name_the_file)
{
    struct lc_in *in;
    struct lc_err err;
    cr_expect_eq(lc_in_open(&in, "/nonexistent/file.sft", &err), LC_EIO);
    cr_expect_str_eq(err.path, "/nonexistent/file.sft");
    cr_expect(strstr(err.msg, "No such file"), "%s", err.msg);
    char buf[1200];
    cr_expect(strstr(lc_err_format(&err, buf, sizeof buf), "/nonexistent/file.sft: cannot open"), "%s", buf);
    cr_expect_eq(lc_in_open(&in, "/tmp", &err), LC_EIO);
    cr_expect(strstr(err.msg, "directory"), "%s", err.msg);
}

Test(io, atomic_output_commit_abort_and_mode)
{
    const char *dir = tu_tmpdir();
    char path[300], cmd[400];
    snprintf(path, sizeof path, "%s/result.bin", dir);
    write_file(path, "old", 3);
    struct lc_out *o;
    struct lc_err err;
    cr_assert_eq(lc_out_open(&o, path, 0, &err), 0);
    cr_assert_eq(lc_out_write(o, "new contents", 12, &err), 0);
    lc_out_abort(o);
    size_t n;
    uint8_t *b = tu_read_file(path, &n);
    cr_expect(n == 3 && memcmp(b, "old", 3) == 0, "an aborted write keeps the old file");
    free(b);
    cr_assert_eq(lc_out_open(&o, path, LC_OUT_FSYNC, &err), 0);
    cr_assert_eq(lc_out_write(o, "new contents", 12, &err), 0);
    cr_assert_eq(lc_out_commit(o, &err), 0);
    b = tu_read_file(path, &n);
    cr_expect(n == 12 && memcmp(b, "new contents", 12) == 0);
    free(b);
    struct stat st;
    stat(path, &st);
    mode_t um = umask(0);
    umask(um);
    cr_expect_eq(st.st_mode & 0777, 0666 & ~um, "mode follows the umask, not mkstemp's 0600");
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    cr_expect_eq(system(cmd), 0, "no temporary file left");
    cr_expect_eq(lc_out_open(&o, dir, 0, &err), LC_EUSAGE, "a directory is not an output");
    snprintf(path, sizeof path, "%s/missing/x", dir);
    cr_expect_eq(lc_out_open(&o, path, 0, &err), LC_EIO);
    cr_expect_str_eq(err.path, path);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}

Test(io, cleanup_all_removes_uncommitted_files)
{
    const char *dir = tu_tmpdir();
    char path[300], cmd[400];
    snprintf(path, sizeof path, "%s/a", dir);
    struct lc_out *o;
    cr_assert_eq(lc_out_open(&o, path, 0, NULL), 0);
    lc_out_write(o, "x", 1, NULL);
    lc_out_cleanup_all(); /* what a signal handler does */
    lc_out_abort(o);      /* only frees now: the file is already gone */
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 0", dir);
    cr_expect_eq(system(cmd), 0, "the temporary file is gone");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}

Test(io, mkdirs_creates_parents_and_names_what_fails)
{
    const char *dir = tu_tmpdir();
    char path[256];
    struct lc_err err;
    struct stat st;
    snprintf(path, sizeof path, "%s/a//b/c/", dir);
    cr_assert_eq(lc_mkdirs(path, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    cr_expect(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    cr_expect_eq(lc_mkdirs(path, &err), 0, "an existing directory is fine");
    snprintf(path, sizeof path, "%s/file", dir);
    write_file(path, "x", 1);
    snprintf(path, sizeof path, "%s/file/sub", dir);
    cr_expect_neq(lc_mkdirs(path, &err), 0);
    cr_expect(strstr(err.path, "/file") && !strstr(err.path, "sub"), "names the blocking component: %s", err.path);
    cr_expect_neq(lc_mkdirs("", &err), 0);
}
