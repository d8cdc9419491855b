/* io: buffered input and atomic output over plain read/write(2).
 * Plain file descriptors (not stdio) so large payloads bypass the buffer
 * and errors carry errno text. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IN_BUF (1u << 20)
#define OUT_BUF (1u << 20)

struct lc_in {
    int fd;             /* -1 for memory */
    int owns_fd;
    const uint8_t *mem; /* memory input */
    size_t mem_len;
    uint8_t *buf;       /* file input: buffered bytes [pos, len) */
    size_t pos, len;
    uint64_t offset;    /* bytes handed out so far */
    int64_t size;
    int eof;
    char name[512];
};

static void set_name(char *dst, size_t cap, const char *path, const char *dflt)
{
    snprintf(dst, cap, "%s", path ? path : dflt);
}

int lc_in_open(struct lc_in **out, const char *path, struct lc_err *err)
{
    *out = NULL;
    int is_stdin = !path || strcmp(path, "-") == 0;
    struct lc_in *in = calloc(1, sizeof *in);
    if (!in) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    set_name(in->name, sizeof in->name, is_stdin ? NULL : path, "<stdin>");
    in->buf = malloc(IN_BUF);
    if (!in->buf) {
        free(in);
        return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    }
    if (is_stdin) {
        in->fd = 0;
    } else {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0) {
            int e = errno;
            free(in->buf);
            free(in);
            return lc_errno(err, e, path, "cannot open");
        }
        in->owns_fd = 1;
    }
    struct stat st;
    in->size = (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode)) ? (int64_t)st.st_size : -1;
    if (in->owns_fd && fstat(in->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        lc_in_close(in);
        return lc_errf(err, LC_EIO, path, -1, -1, "is a directory");
    }
#ifdef POSIX_FADV_SEQUENTIAL
    if (in->size >= 0) posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    *out = in;
    return 0;
}

int lc_in_open_mem(struct lc_in **out, const void *data, size_t len,
                   const char *name, struct lc_err *err)
{
    *out = NULL;
    struct lc_in *in = calloc(1, sizeof *in);
    if (!in) return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
    in->fd = -1;
    in->mem = data;
    in->mem_len = len;
    in->size = (int64_t)len;
    set_name(in->name, sizeof in->name, name, "<memory>");
    *out = in;
    return 0;
}

/* Refill the buffer, keeping unread bytes. Returns bytes now available. */
static int fill(struct lc_in *in, size_t want, struct lc_err *err)
{
    if (in->pos > 0 && in->pos < in->len) memmove(in->buf, in->buf + in->pos, in->len - in->pos);
    in->len -= in->pos;
    in->pos = 0;
    while (in->len < want && !in->eof) {
        ssize_t k = read(in->fd, in->buf + in->len, IN_BUF - in->len);
        if (k < 0) {
            if (errno == EINTR) continue;
            return lc_errno(err, errno, in->name, "read failed at byte %llu",
                            (unsigned long long)(in->offset + in->len));
        }
        if (k == 0) in->eof = 1;
        in->len += (size_t)k;
    }
    return 0;
}

int lc_in_read(struct lc_in *in, void *dst, size_t n, size_t *got,
               struct lc_err *err)
{
    uint8_t *d = dst;
    size_t done = 0;
    *got = 0;
    if (in->fd < 0) {
        size_t avail = in->mem_len - (size_t)in->offset;
        done = n < avail ? n : avail;
        memcpy(d, in->mem + in->offset, done);
        in->offset += done;
        *got = done;
        return 0;
    }
    size_t have = in->len - in->pos;
    if (have) {
        size_t k = n < have ? n : have;
        memcpy(d, in->buf + in->pos, k);
        in->pos += k;
        done = k;
    }
    /* Large remainders go straight into dst: no double copy of payloads. */
    while (done < n && !in->eof) {
        size_t rest = n - done;
        if (rest >= IN_BUF / 2) {
            ssize_t k = read(in->fd, d + done, rest);
            if (k < 0) {
                if (errno == EINTR) continue;
                in->offset += done;
                *got = done;
                return lc_errno(err, errno, in->name, "read failed at byte %llu",
                                (unsigned long long)in->offset);
            }
            if (k == 0) in->eof = 1;
            done += (size_t)k;
        } else {
            in->pos = in->len = 0;
            int rc = fill(in, rest, err);
            if (rc) {
                in->offset += done;
                *got = done;
                return rc;
            }
            size_t k = rest < in->len ? rest : in->len;
            memcpy(d + done, in->buf, k);
            in->pos = k;
            done += k;
            if (k < rest) break;
        }
    }
    in->offset += done;
    *got = done;
    return 0;
}

int lc_in_borrow(struct lc_in *in, size_t n, const void **p, size_t *got,
                 struct lc_err *err)
{
    LC_ASSERT(n <= LC_IN_BORROW_MAX);
    if (in->fd < 0) {
        size_t avail = in->mem_len - (size_t)in->offset;
        size_t k = n < avail ? n : avail;
        *p = in->mem + in->offset;
        in->offset += k;
        *got = k;
        return 0;
    }
    if (in->len - in->pos < n) {
        int rc = fill(in, n, err);
        if (rc) return rc;
    }
    size_t have = in->len - in->pos;
    size_t k = n < have ? n : have;
    *p = in->buf + in->pos;
    in->pos += k;
    in->offset += k;
    *got = k;
    return 0;
}

int lc_in_peek(struct lc_in *in, size_t n, const void **p, size_t *got, struct lc_err *err)
{
    LC_ASSERT(n <= LC_IN_BORROW_MAX);
    if (in->fd < 0) {
        size_t avail = in->mem_len - (size_t)in->offset;
        *p = in->mem + in->offset;
        *got = n < avail ? n : avail;
        return 0;
    }
    if (in->len - in->pos < n) {
        int rc = fill(in, n, err);
        if (rc) return rc;
    }
    size_t have = in->len - in->pos;
    *p = in->buf + in->pos;
    *got = n < have ? n : have;
    return 0;
}

uint64_t lc_in_offset(const struct lc_in *in) { return in->offset; }
const char *lc_in_name(const struct lc_in *in) { return in->name; }
int64_t lc_in_size(const struct lc_in *in) { return in->size; }

void lc_in_close(struct lc_in *in)
{
    if (!in) return;
    if (in->owns_fd) close(in->fd);
    free(in->buf);
    free(in);
}

/* ---- output ---- */

/* Temporary names of uncommitted outputs, for cleanup from signal handlers. */
#define MAX_TMP 256
static char tmp_paths[MAX_TMP][PATH_MAX];
static volatile sig_atomic_t tmp_used[MAX_TMP];

static int tmp_register(const char *path)
{
    for (int i = 0; i < MAX_TMP; i++) {
        if (!__sync_bool_compare_and_swap(&tmp_used[i], 0, 2)) continue;
        snprintf(tmp_paths[i], PATH_MAX, "%s", path);
        __sync_synchronize();
        tmp_used[i] = 1;
        return i;
    }
    return -1;
}

static void tmp_unregister(int slot)
{
    if (slot >= 0) tmp_used[slot] = 0;
}

void lc_out_cleanup_all(void)
{
    for (int i = 0; i < MAX_TMP; i++)
        if (tmp_used[i] == 1) {
            unlink(tmp_paths[i]);
            tmp_used[i] = 0;
        }
}

struct lc_out {
    int fd;          /* -1 for memory */
    int slot;        /* temp registry slot, -1 if none */
    unsigned flags;
    uint8_t *buf;
    size_t len, cap; /* memory outputs grow buf; files flush at OUT_BUF */
    uint64_t offset;
    int is_mem;
    int is_dev; /* an existing device or FIFO: no temporary file */
    char name[PATH_MAX];
    char tmp[PATH_MAX];
};

int lc_write_all(int fd, const void *p, size_t n, const char *name,
                 struct lc_err *err)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return lc_errno(err, errno, name, "write failed");
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static mode_t file_mode(void)
{
    static mode_t mode = (mode_t)-1;
    if (mode == (mode_t)-1) {
        mode_t m = umask(022);
        umask(m);
        mode = 0666 & ~m;
    }
    return mode;
}

int lc_out_open(struct lc_out **out, const char *path, unsigned flags,
                struct lc_err *err)
{
    *out = NULL;
    int is_stdout = !path || strcmp(path, "-") == 0;
    if (is_stdout && (flags & LC_OUT_BINARY) && isatty(1))
        return lc_errf(err, LC_EUSAGE, "<stdout>", -1, -1,
                       "refusing to write binary data to a terminal "
                       "(redirect it, pipe it, or use -o FILE)");
    struct lc_out *o = calloc(1, sizeof *o);
    if (!o) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    o->slot = -1;
    o->flags = flags;
    o->cap = OUT_BUF;
    o->buf = malloc(o->cap);
    if (!o->buf) {
        free(o);
        return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    }
    if (is_stdout) {
        o->fd = 1;
        snprintf(o->name, sizeof o->name, "<stdout>");
        *out = o;
        return 0;
    }
    if (strlen(path) + 32 >= PATH_MAX) {
        free(o->buf);
        free(o);
        return lc_errf(err, LC_EUSAGE, path, -1, -1, "path too long");
    }
    snprintf(o->name, sizeof o->name, "%s", path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        free(o->buf);
        free(o);
        return lc_errf(err, LC_EUSAGE, path, -1, -1, "is a directory");
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* /dev/null, a FIFO: write in place */
        o->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0) {
            int e = errno;
            free(o->buf);
            free(o);
            return lc_errno(err, e, path, "cannot open");
        }
        o->is_dev = 1;
        *out = o;
        return 0;
    }
    /* Same directory as the target, so rename(2) is atomic. */
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
    snprintf(o->tmp, sizeof o->tmp, "%.*s.%s.tmp-XXXXXX", (int)dirlen, path,
             slash ? slash + 1 : path);
    o->fd = mkostemp(o->tmp, O_CLOEXEC);
    if (o->fd < 0) {
        int e = errno;
        free(o->buf);
        free(o);
        return lc_errno(err, e, path, "cannot create output");
    }
    o->slot = tmp_register(o->tmp);
    if (o->slot < 0) {
        unlink(o->tmp);
        close(o->fd);
        free(o->buf);
        free(o);
        return lc_errf(err, LC_EIO, path, -1, -1, "too many outputs open at once");
    }
    fchmod(o->fd, file_mode());
    *out = o;
    return 0;
}

int lc_out_open_mem(struct lc_out **out, struct lc_err *err)
{
    *out = NULL;
    struct lc_out *o = calloc(1, sizeof *o);
    if (!o) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    o->fd = -1;
    o->slot = -1;
    o->is_mem = 1;
    snprintf(o->name, sizeof o->name, "<memory>");
    *out = o;
    return 0;
}

static int flush(struct lc_out *o, struct lc_err *err)
{
    if (o->is_mem || !o->len) return 0;
    int rc = lc_write_all(o->fd, o->buf, o->len, o->name, err);
    o->len = 0;
    return rc;
}

int lc_out_write(struct lc_out *o, const void *p, size_t n, struct lc_err *err)
{
    if (o->is_mem) {
        if (o->len + n > o->cap) {
            size_t cap = o->cap ? o->cap : 4096;
            while (cap < o->len + n) cap *= 2;
            uint8_t *b = realloc(o->buf, cap);
            if (!b) return lc_errf(err, LC_ENOMEM, o->name, -1, -1, "out of memory");
            o->buf = b;
            o->cap = cap;
        }
        memcpy(o->buf + o->len, p, n);
        o->len += n;
        o->offset += n;
        return 0;
    }
    if (o->len + n <= o->cap) {
        memcpy(o->buf + o->len, p, n);
        o->len += n;
    } else {
        int rc = flush(o, err);
        if (rc) return rc;
        if (n >= o->cap / 2) {
            rc = lc_write_all(o->fd, p, n, o->name, err);
            if (rc) return rc;
        } else {
            memcpy(o->buf, p, n);
            o->len = n;
        }
    }
    o->offset += n;
    return 0;
}

uint64_t lc_out_offset(const struct lc_out *o) { return o->offset; }
const char *lc_out_name(const struct lc_out *o) { return o->name; }

void lc_out_mem_data(struct lc_out *o, const void **data, size_t *len)
{
    *data = o->buf;
    *len = o->len;
}

static void out_free(struct lc_out *o)
{
    free(o->buf);
    free(o);
}

int lc_out_commit(struct lc_out *o, struct lc_err *err)
{
    if (o->is_mem) return 0;
    int rc = flush(o, err);
    if (o->is_dev && close(o->fd) != 0 && !rc) rc = lc_errno(err, errno, o->name, "close failed");
    if (o->slot < 0) { /* stdout or a device */
        out_free(o);
        return rc;
    }
    if (!rc && (o->flags & LC_OUT_FSYNC) && fsync(o->fd) != 0)
        rc = lc_errno(err, errno, o->name, "fsync failed");
    if (close(o->fd) != 0 && !rc) rc = lc_errno(err, errno, o->name, "close failed");
    o->fd = -1;
    if (!rc && rename(o->tmp, o->name) != 0)
        rc = lc_errno(err, errno, o->name, "cannot rename %s into place", o->tmp);
    if (rc) unlink(o->tmp);
    tmp_unregister(o->slot);
    out_free(o);
    return rc;
}

void lc_out_abort(struct lc_out *o)
{
    if (!o) return;
    if (o->is_dev) close(o->fd);
    if (o->slot >= 0) {
        close(o->fd);
        unlink(o->tmp);
        tmp_unregister(o->slot);
    }
    out_free(o);
}

void lc_out_free(struct lc_out *o)
{
    if (o) out_free(o);
}

int lc_file_read(const char *path, uint8_t **buf, size_t *cap, size_t *len, size_t max, struct lc_err *err)
{
    int is_stdin = !path || strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lc_errno(err, errno, path, "cannot open");
    struct stat st;
    int64_t size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    int rc = 0;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) rc = lc_errf(err, LC_EIO, name, -1, -1, "is a directory");
    else if (size >= 0 && (uint64_t)size > max)
        rc = lc_errf(err, LC_EFORMAT, name, -1, -1, "file of %lld bytes is larger than the %zu accepted", (long long)size, max);
    size_t n = 0;
    while (!rc) {
        if (size >= 0 && n == (size_t)size) { /* all that stat promised: confirm the end without growing */
            uint8_t t;
            ssize_t k = read(fd, &t, 1);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                if (k < 0) rc = lc_errno(err, errno, name, "read failed at byte %zu", n);
                break;
            }
            size = -1; /* the file grew while we read it: go on without a size */
            if (n + 1 >= *cap) {
                uint8_t *b = realloc(*buf, *cap * 2 + 2);
                if (!b) {
                    rc = lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
                    break;
                }
                *buf = b;
                *cap = *cap * 2 + 2;
            }
            (*buf)[n++] = t;
            continue;
        }
        if (n + 1 >= *cap) { /* room for the data and a NUL */
            size_t want = size >= 0 && (size_t)size + 1 > n + 1 ? (size_t)size + 1 : (*cap ? *cap * 2 : 65536);
            uint8_t *b = realloc(*buf, want);
            if (!b) {
                rc = lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
                break;
            }
            *buf = b;
            *cap = want;
        }
        ssize_t k = read(fd, *buf + n, *cap - 1 - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) rc = lc_errno(err, errno, name, "read failed at byte %zu", n);
        else if (k == 0) break;
        else if ((n += (size_t)k) > max) rc = lc_errf(err, LC_EFORMAT, name, -1, (int64_t)n, "file larger than the %zu bytes accepted", max);
    }
    if (!is_stdin) close(fd);
    if (!rc) {
        (*buf)[n] = 0;
        *len = n;
    }
    return rc;
}

int lc_mkdirs(const char *dir, struct lc_err *err)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) return lc_errf(err, LC_EINVAL, dir, -1, -1, "bad directory name");
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        if (path[i - 1] == '/') continue; /* repeated slashes */
        char c = path[i];
        path[i] = '\0';
        struct stat st;
        if (mkdir(path, 0777) != 0) {
            int e = errno;
            if (e != EEXIST) return lc_errno(err, e, path, "cannot create directory");
            if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                return lc_errf(err, LC_EIO, path, -1, -1, "cannot create directory: a file of that name exists");
        }
        path[i] = c;
    }
    return 0;
}
