/* opt: getopt_long over an lc_opt table, generated --help, strict number
 * and range parsing. */
#include "opt.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "tool.h"
#include "version.h"

int lc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out, struct lc_err *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE)
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "'%s' is not an integer", s);
    if (v < lo || v > hi)
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "%s is out of range [%lld, %lld]", s,
                       (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int lc_parse_double(const char *s, double *out, struct lc_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v))
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "'%s' is not a finite number", s);
    *out = v;
    return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int lc_ranges_parse(struct lc_ranges *r, const char *s, struct lc_err *err)
{
    r->n = 0;
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        uint64_t lo, hi;
        if (r->n == LC_RANGES_MAX)
            return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "more than %d ranges", LC_RANGES_MAX);
        if (colon) {
            size_t a = (size_t)(colon - p), b = len - a - 1;
            if (a == 0) lo = 0;
            else if (parse_u64(p, a, &lo)) goto bad;
            if (b == 0) hi = UINT64_MAX;
            else if (parse_u64(colon + 1, b, &hi)) goto bad;
        } else {
            if (parse_u64(p, len, &lo)) goto bad;
            hi = lo + 1;
        }
        if (hi <= lo) goto bad;
        if (r->n && lo < r->hi[r->n - 1])
            return lc_errf(err, LC_EUSAGE, NULL, -1, -1,
                           "ranges in '%s' must be ascending and must not overlap", s);
        r->lo[r->n] = lo;
        r->hi[r->n] = hi;
        r->n++;
        p = comma ? comma + 1 : p + len;
        if (comma && !*p) goto bad;
    }
    if (r->n == 0) goto bad;
    return 0;
bad:
    return lc_errf(err, LC_EUSAGE, NULL, -1, -1,
                   "bad index range '%s' (expected e.g. 5, 0:10, 100:, :50 or 0:10,20:30)", s);
}

int lc_ranges_has(const struct lc_ranges *r, uint64_t i)
{
    for (int k = 0; k < r->n; k++)
        if (i >= r->lo[k] && i < r->hi[k]) return 1;
    return 0;
}

int lc_ranges_done(const struct lc_ranges *r, uint64_t i)
{
    return r->n == 0 || i >= r->hi[r->n - 1];
}

int lc_parse_shard(const char *s, int64_t *index, int64_t *count, struct lc_err *err)
{
    const char *slash = strchr(s, '/');
    uint64_t i, n;
    if (!slash || parse_u64(s, (size_t)(slash - s), &i) || parse_u64(slash + 1, strlen(slash + 1), &n) ||
        n == 0 || i >= n || n > (1u << 30))
        return lc_errf(err, LC_EUSAGE, NULL, -1, -1,
                       "bad shard '%s' (expected I/N with 0 <= I < N, e.g. 0/4)", s);
    *index = (int64_t)i;
    *count = (int64_t)n;
    return 0;
}

/* Print text wrapped at width, continuation lines indented; '\n' breaks a
 * line and runs of spaces are kept (so tables in help text stay aligned). */
static void wrap(const char *text, int indent, int width)
{
    int col = indent;
    const char *p = text;
    while (*p) {
        if (*p == '\n') {
            printf("\n%*s", indent, "");
            col = indent;
            p++;
            continue;
        }
        const char *s = p;
        while (*p == ' ') p++;
        int spaces = (int)(p - s);
        const char *w = p;
        while (*w && *w != ' ' && *w != '\n') w++;
        int len = (int)(w - p);
        if (col > indent && col + spaces + len > width) {
            printf("\n%*s", indent, "");
            col = indent;
        } else {
            printf("%*s", spaces, "");
            col += spaces;
        }
        printf("%.*s", len, p);
        col += len;
        p = w;
    }
}

static void print_opt(char s, const char *name, const char *metavar, const char *help)
{
    char left[96];
    int n = 0;
    n += snprintf(left + n, sizeof left - n, "  %s%c%s", s ? "-" : "  ", s ? s : ' ', s ? "," : " ");
    snprintf(left + n, sizeof left - n, " --%s%s%s", name, metavar ? " " : "", metavar ? metavar : "");
    int len = (int)strlen(left);
    printf("%s", left);
    if (len >= 28) {
        printf("\n%*s", 28, "");
    } else {
        printf("%*s", 28 - len, "");
    }
    wrap(help, 28, 79);
    putchar('\n');
}

void lc_opt_help(const struct lc_tool *t, const struct lc_opt *opts)
{
    printf("Usage: %s %s\n", t->name, t->usage ? t->usage : "[options]");
    if (t->summary) printf("%s\n", t->summary);
    if (t->reads || t->writes) {
        printf("\n");
        if (t->reads) printf("Reads:  %s\n", t->reads);
        if (t->writes) printf("Writes: %s\n", t->writes);
    }
    printf("\nOptions:\n");
    for (const struct lc_opt *o = opts; o && o->type != LC_OPT_END; o++)
        print_opt((char)o->short_name, o->name,
                  o->type == LC_OPT_FLAG ? NULL : (o->metavar ? o->metavar : "ARG"), o->help);
    print_opt('h', "help", NULL, "show this help and exit");
    print_opt('V', "version", NULL, "show version and build configuration and exit");
    if (t->details) {
        printf("\n");
        wrap(t->details, 0, 79);
        printf("\n");
    }
    printf("\nExit status: 0 success, 1 runtime error, 2 usage error.\n");
}

static void print_version(const struct lc_tool *t)
{
    char b[512];
    const char *space = strchr(t->name, ' ');
    printf("%.*s (%s) %s\n", space ? (int)(space - t->name) : (int)strlen(t->name), t->name,
           LC_TOOLKIT, LC_VERSION);
    printf("%s\n", lc_backend_describe(b, sizeof b));
}

static int store(const struct lc_opt *o, const char *arg, struct lc_err *err)
{
    int64_t v;
    int rc;
    switch (o->type) {
    case LC_OPT_FLAG: *(int *)o->dest = 1; return 0;
    case LC_OPT_INT:
        rc = lc_parse_i64(arg, -2147483647 - 1, 2147483647, &v, err);
        if (!rc) *(int *)o->dest = (int)v;
        return rc;
    case LC_OPT_I64:
        rc = lc_parse_i64(arg, INT64_MIN, INT64_MAX, &v, err);
        if (!rc) *(int64_t *)o->dest = v;
        return rc;
    case LC_OPT_DOUBLE: return lc_parse_double(arg, o->dest, err);
    case LC_OPT_STRING: *(const char **)o->dest = arg; return 0;
    case LC_OPT_CALL: return o->call(o->dest, arg, err);
    }
    return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "bad option table");
}

int lc_opt_parse(const struct lc_tool *t, const struct lc_opt *opts, int argc, char **argv)
{
    int n = 0;
    while (opts && opts[n].type != LC_OPT_END) n++;
    struct option *lo = calloc((size_t)n + 3, sizeof *lo);
    char *so = calloc((size_t)n * 2 + 8, 1);
    LC_ASSERT(lo && so);
    size_t k = 0;
    if (t->subcommands) so[k++] = '+'; /* the subcommand parses the rest */
    so[k++] = ':';
    for (int i = 0; i < n; i++) {
        lo[i].name = opts[i].name;
        lo[i].has_arg = opts[i].type == LC_OPT_FLAG ? no_argument : required_argument;
        lo[i].val = 256 + i;
        if (opts[i].short_name) {
            so[k++] = (char)opts[i].short_name;
            if (opts[i].type != LC_OPT_FLAG) so[k++] = ':';
        }
    }
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n + 1] = (struct option){"version", no_argument, NULL, 'V'};
    so[k++] = 'h';
    so[k++] = 'V';
    optind = 0; /* 0, not 1: glibc then resets its permutation state */
    opterr = 0;
    int c, li;
    while ((c = getopt_long(argc, argv, so, lo, &li)) != -1) {
        const struct lc_opt *o = NULL;
        if (c == 'h') {
            lc_opt_help(t, opts);
            exit(0);
        }
        if (c == 'V') {
            print_version(t);
            exit(0);
        }
        if (c == '?' || c == ':') {
            const char *what = argv[optind - 1];
            if (c == ':') lc_tool_usage(t->name, "option %s needs an argument", what);
            if (optopt && optopt < 256) lc_tool_usage(t->name, "unknown option -%c", optopt);
            lc_tool_usage(t->name, "unknown option %s", what);
        }
        if (c >= 256) o = &opts[c - 256];
        else
            for (int i = 0; i < n; i++)
                if (opts[i].short_name == c) o = &opts[i];
        LC_ASSERT(o);
        struct lc_err err;
        lc_err_clear(&err);
        if (store(o, optarg, &err)) lc_tool_usage(t->name, "--%s: %s", o->name, err.msg);
    }
    free(lo);
    free(so);
    return optind;
}
