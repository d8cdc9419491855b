/* csvout: CSV rows written through an lc_out (so CSV outputs are atomic
 * like every other output), quoting by libcsv's csv_write (RFC 4180). */
#ifndef LC_CSVOUT_H
#define LC_CSVOUT_H

#include "err.h"
#include "io.h"

/* Write one field; last ends the row with "\n". Fields are quoted only
 * when they need it (comma, quote, CR/LF, leading/trailing space). */
int lc_csv_field(struct lc_out *o, const char *field, int last, struct lc_err *err);
/* printf-style field. */
int lc_csv_fieldf(struct lc_out *o, int last, struct lc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
