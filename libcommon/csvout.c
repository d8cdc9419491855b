/* csvout: field quoting via libcsv, buffered by lc_out. */
#include "csvout.h"

#include <csv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lc_csv_field(struct lc_out *o, const char *field, int last, struct lc_err *err)
{
    size_t n = strlen(field);
    int plain = n > 0 && field[0] != ' ' && field[n - 1] != ' ' && !strpbrk(field, ",\"\r\n");
    int rc;
    if (plain || n == 0) {
        rc = lc_out_write(o, field, n, err);
    } else {
        char small[512];
        size_t need = csv_write(NULL, 0, field, n);
        char *buf = need <= sizeof small ? small : malloc(need);
        if (!buf) return lc_errf(err, LC_ENOMEM, lc_out_name(o), -1, -1, "out of memory");
        csv_write(buf, need, field, n);
        rc = lc_out_write(o, buf, need, err);
        if (buf != small) free(buf);
    }
    if (!rc) rc = lc_out_write(o, last ? "\n" : ",", 1, err);
    return rc;
}

int lc_csv_fieldf(struct lc_out *o, int last, struct lc_err *err, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) return lc_errf(err, LC_EINVAL, lc_out_name(o), -1, -1, "CSV field too long");
    return lc_csv_field(o, buf, last, err);
}
