/* err: filling and formatting struct lc_err. */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_path(struct lc_err *e, const char *path)
{
    if (!path) {
        e->path[0] = '\0';
        return;
    }
    size_t n = strlen(path);
    if (n >= sizeof e->path) { /* keep the tail: it names the file */
        path += n - (sizeof e->path - 4);
        snprintf(e->path, sizeof e->path, "...%s", path);
    } else {
        memcpy(e->path, path, n + 1);
    }
}

int lc_errf(struct lc_err *e, int code, const char *path, int64_t record,
            int64_t offset, const char *fmt, ...)
{
    if (!e) return code;
    e->code = code;
    e->record = record;
    e->offset = offset;
    set_path(e, path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int lc_errno(struct lc_err *e, int errnum, const char *path, const char *fmt,
             ...)
{
    int code = errnum == EPIPE ? LC_EPIPE : errnum == ENOMEM ? LC_ENOMEM : LC_EIO;
    if (!e) return code;
    e->code = code;
    e->record = -1;
    e->offset = -1;
    set_path(e, path);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof e->msg)
        snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(errnum));
    return code;
}

void lc_err_clear(struct lc_err *e)
{
    if (!e) return;
    e->code = 0;
    e->record = -1;
    e->offset = -1;
    e->path[0] = '\0';
    e->msg[0] = '\0';
}

char *lc_err_format(const struct lc_err *e, char *buf, unsigned size)
{
    size_t n = 0;
    buf[0] = '\0';
#define PUT(...)                                                             \
    do {                                                                     \
        if (n < size) {                                                      \
            int k = snprintf(buf + n, size - n, __VA_ARGS__);                \
            if (k > 0) n += (size_t)k;                                       \
        }                                                                    \
    } while (0)
    if (e->path[0]) PUT("%s: ", e->path);
    if (e->record >= 0 && e->offset >= 0)
        PUT("record %lld at byte %lld: ", (long long)e->record, (long long)e->offset);
    else if (e->record >= 0)
        PUT("record %lld: ", (long long)e->record);
    else if (e->offset >= 0)
        PUT("byte %lld: ", (long long)e->offset);
    PUT("%s", e->msg[0] ? e->msg : lc_errcode_name(e->code));
#undef PUT
    return buf;
}

const char *lc_errcode_name(int code)
{
    switch (code) {
    case LC_OK: return "ok";
    case LC_EIO: return "i/o error";
    case LC_EFORMAT: return "bad format";
    case LC_ECORRUPT: return "corrupt data";
    case LC_ETRUNC: return "truncated input";
    case LC_ENOMEM: return "out of memory";
    case LC_EUSAGE: return "usage error";
    case LC_EPIPE: return "broken pipe";
    case LC_EUNSUPPORTED: return "unsupported";
    case LC_EINVAL: return "invalid argument";
    case LC_EINTR: return "interrupted";
    }
    return "unknown error";
}

void lc_assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "internal error: assertion `%s' failed at %s:%d\n", what, file, line);
    abort();
}
