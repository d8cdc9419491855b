/* opt: table-driven command-line parsing shared by every tool (getopt_long
 * underneath). The table also generates --help, so the help text can never
 * drift from the options a tool accepts. Usage errors exit with status 2. */
#ifndef LC_OPT_H
#define LC_OPT_H

#include <stdint.h>

#include "err.h"

enum lc_opt_type {
    LC_OPT_END = 0,
    LC_OPT_FLAG,   /* int *dest set to 1 */
    LC_OPT_INT,    /* int *dest */
    LC_OPT_I64,    /* int64_t *dest */
    LC_OPT_DOUBLE, /* double *dest */
    LC_OPT_STRING, /* const char **dest (points into argv) */
    LC_OPT_CALL,   /* call(dest, arg, err) parses the argument */
};

struct lc_opt {
    int type;
    const char *name;    /* long name, without the dashes */
    int short_name;      /* 0 for none */
    void *dest;
    const char *metavar; /* argument name in --help, e.g. "N" */
    const char *help;
    int (*call)(void *dest, const char *arg, struct lc_err *err);
};

/* What a tool says about itself in --help. */
struct lc_tool {
    const char *name;     /* "sft" or "sft info" */
    const char *summary;  /* one line */
    const char *usage;    /* after the name: "[options] [FILE...]" */
    const char *reads;    /* stream kinds read, or NULL */
    const char *writes;   /* stream kinds written, or NULL */
    const char *details;  /* paragraphs after the options, or NULL */
    int subcommands;      /* stop parsing at the first operand */
};

/* Parse argv against opts (terminated by {LC_OPT_END}). Handles -h/--help
 * and -V/--version (print to stdout, exit 0) and usage errors (message on
 * stderr, exit 2). Returns the index of the first operand. */
int lc_opt_parse(const struct lc_tool *t, const struct lc_opt *opts, int argc,
                 char **argv);
/* Print the generated help to stdout. */
void lc_opt_help(const struct lc_tool *t, const struct lc_opt *opts);

/* Strict number parsing for tools and LC_OPT_CALL parsers: the whole string
 * must be a number in [lo, hi]. Return 0 or LC_EUSAGE with a message. */
int lc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out,
                 struct lc_err *err);
int lc_parse_double(const char *s, double *out, struct lc_err *err);

/* An index selection such as "0:10,15,20:" (half-open ranges, open end
 * allowed). Ranges must be ascending and disjoint. */
#define LC_RANGES_MAX 64
struct lc_ranges {
    int n;
    uint64_t lo[LC_RANGES_MAX], hi[LC_RANGES_MAX]; /* hi = UINT64_MAX: open */
};
int lc_ranges_parse(struct lc_ranges *r, const char *s, struct lc_err *err);
/* Is i selected? */
int lc_ranges_has(const struct lc_ranges *r, uint64_t i);
/* Is every index >= i unselected (so a reader may stop)? */
int lc_ranges_done(const struct lc_ranges *r, uint64_t i);

/* "i/n" for --shard: 0 <= i < n. */
int lc_parse_shard(const char *s, int64_t *index, int64_t *count, struct lc_err *err);

#endif
