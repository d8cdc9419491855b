/* io: buffered byte input (file, stdin, memory) and atomic byte output.
 * Inputs never need to seek, so pipes work; outputs to a named file go to a
 * temporary name in the same directory and are renamed only on commit, so an
 * interrupted or failed run leaves no half-written file. */
#ifndef LC_IO_H
#define LC_IO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lc_in;
struct lc_out;

/* Open path for reading; NULL or "-" means stdin. */
int lc_in_open(struct lc_in **in, const char *path, struct lc_err *err);
/* Read from memory the caller keeps alive; name is used in errors. */
int lc_in_open_mem(struct lc_in **in, const void *data, size_t len,
                   const char *name, struct lc_err *err);
/* Read n bytes into dst. Fewer than n only at end of input: *got says how
 * many (0 at a clean end). */
int lc_in_read(struct lc_in *in, void *dst, size_t n, size_t *got,
               struct lc_err *err);
/* Borrow a pointer to the next n bytes without copying, advancing past them
 * (n at most LC_IN_BORROW_MAX). Fewer only at end: *got says. The pointer is
 * valid until the next call on in. */
#define LC_IN_BORROW_MAX (1u << 16)
int lc_in_borrow(struct lc_in *in, size_t n, const void **p, size_t *got,
                 struct lc_err *err);
/* Look at up to n bytes (n <= LC_IN_BORROW_MAX) without consuming them:
 * *got is less than n only at end of input. */
int lc_in_peek(struct lc_in *in, size_t n, const void **p, size_t *got, struct lc_err *err);
/* Bytes consumed so far (the offset of the next byte). */
uint64_t lc_in_offset(const struct lc_in *in);
/* Name used in errors ("-" for stdin shows as "<stdin>"). */
const char *lc_in_name(const struct lc_in *in);
/* Size of a regular file or memory input; -1 for pipes and terminals. */
int64_t lc_in_size(const struct lc_in *in);
/* Closes the file unless it is stdin; NULL is a no-op. */
void lc_in_close(struct lc_in *in);

enum lc_out_flags {
    LC_OUT_BINARY = 1 << 0, /* refuse a terminal as destination */
    LC_OUT_FSYNC = 1 << 1,  /* fsync before rename (checkpoints) */
};

/* Open path for writing; NULL or "-" means stdout. A named file is written
 * under a temporary name and appears only on lc_out_commit; an existing
 * device or FIFO (/dev/null, a named pipe) is written directly. */
int lc_out_open(struct lc_out **out, const char *path, unsigned flags,
                struct lc_err *err);
/* An in-memory output (tests, fuzzing); read it with lc_out_mem_data. */
int lc_out_open_mem(struct lc_out **out, struct lc_err *err);
int lc_out_write(struct lc_out *o, const void *p, size_t n, struct lc_err *err);
uint64_t lc_out_offset(const struct lc_out *o);
const char *lc_out_name(const struct lc_out *o);
/* Memory outputs only: the bytes written so far (flushed), owned by o. */
void lc_out_mem_data(struct lc_out *o, const void **data, size_t *len);
/* Flush, close and rename into place; frees o (also on error, after
 * removing the temporary file). Memory outputs: flush only, o stays. */
int lc_out_commit(struct lc_out *o, struct lc_err *err);
/* Discard: remove the temporary file, free o. NULL is a no-op. */
void lc_out_abort(struct lc_out *o);
/* Free a committed memory output. */
void lc_out_free(struct lc_out *o);

/* Remove every temporary file not yet committed. Async-signal-safe: the
 * tool layer calls it from its signal handlers and before exiting on error. */
void lc_out_cleanup_all(void);

/* Read the whole file at path (NULL or "-": stdin) into *buf, grown with
 * realloc (*cap is its size; start with NULL and 0), NUL-terminated. Files
 * larger than max bytes are refused. *len gets the size. */
int lc_file_read(const char *path, uint8_t **buf, size_t *cap, size_t *len, size_t max, struct lc_err *err);

/* mkdir -p: create dir and any missing parents (mode 0777 before umask);
 * an existing directory is fine. Errors name the component that failed. */
int lc_mkdirs(const char *dir, struct lc_err *err);

/* Write all of p to fd, retrying on EINTR and short writes. */
int lc_write_all(int fd, const void *p, size_t n, const char *name,
                 struct lc_err *err);

#endif
