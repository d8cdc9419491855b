/* err: the one error type every libcommon call fills.
 * Library code never prints or exits; it returns a negative LC_E* code and
 * records where (path, record index, byte offset) and what went wrong, so a
 * tool's main can report `tool: path: record N at byte X: what`. */
#ifndef LC_ERR_H
#define LC_ERR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum lc_errcode {
    LC_OK = 0,
    LC_EIO = -1,          /* read/write/open failed (errno text in msg) */
    LC_EFORMAT = -2,      /* input is not what it claims to be */
    LC_ECORRUPT = -3,     /* checksum or consistency check failed */
    LC_ETRUNC = -4,       /* input ended early */
    LC_ENOMEM = -5,       /* allocation failed */
    LC_EUSAGE = -6,       /* bad argument from the user */
    LC_EPIPE = -7,        /* downstream reader went away: end quietly */
    LC_EUNSUPPORTED = -8, /* valid input that this code does not handle */
    LC_EINVAL = -9,       /* bad argument from the caller (a record, a shape) */
    LC_EINTR = -10,       /* interrupted by a signal the tool asked to see */
};

/* Unknown record or offset is -1. */
struct lc_err {
    int code;
    int64_t record;
    int64_t offset;
    char path[512];
    char msg[512];
};

/* Fill *e (if e is not NULL) and return code. path may be NULL. */
int lc_errf(struct lc_err *e, int code, const char *path, int64_t record,
            int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Same, with strerror(errnum) appended as ": <text>". */
int lc_errno(struct lc_err *e, int errnum, const char *path, const char *fmt,
             ...) __attribute__((format(printf, 4, 5)));

/* Reset to "no error". */
void lc_err_clear(struct lc_err *e);

/* Format as `path: record N at byte X: msg` (parts that are unknown are
 * left out) into buf; returns buf. */
char *lc_err_format(const struct lc_err *e, char *buf, unsigned size);

/* Short name of a code, e.g. "corrupt". */
const char *lc_errcode_name(int code);

#define LC_ASSERT(c)                                                          \
    do {                                                                      \
        if (!(c)) lc_assert_fail(#c, __FILE__, __LINE__);                     \
    } while (0)
/* Programmer bugs only: prints and aborts. */
__attribute__((noreturn)) void lc_assert_fail(const char *what, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
