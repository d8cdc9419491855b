/* tool: the conventions every tool shares (docs/tools.md). This is the one
 * module that prints and exits, on behalf of a tool's main: error reports as
 * `tool: path: record N at byte X: what`, exit 1 for runtime errors, 2 for
 * usage; signal handling that removes unfinished outputs; a quiet end when a
 * downstream reader closes the pipe. */
#ifndef LC_TOOL_H
#define LC_TOOL_H

#include "err.h"

/* Call first in main: remembers the name for messages, installs handlers
 * for SIGINT, SIGTERM, SIGHUP and SIGPIPE that remove temporary outputs and
 * then end the process as the signal would have. */
void lc_tool_init(const char *name);
const char *lc_tool_name(void);

/* Report e and exit 1 (a broken pipe exits quietly with 141). Removes
 * temporary outputs first. */
__attribute__((noreturn)) void lc_tool_fail(const struct lc_err *e);
/* Report a usage error ("try NAME --help") and exit 2. */
__attribute__((noreturn)) void lc_tool_usage(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* `tool: warning: ...` on stderr. */
void lc_tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* `tool: ...` on stderr (informational, e.g. summaries). */
void lc_tool_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* From now on SIGINT and SIGTERM only set a flag that lc_tool_interrupted
 * reports, so a long job (training) can save and exit cleanly. A second
 * signal ends the process at once. */
void lc_tool_catch_interrupt(void);
int lc_tool_interrupted(void);

/* Progress on stderr: records/s and ETA, at most 4 updates a second, only
 * when stderr is a terminal or the tool was given --progress. */
struct lc_progress {
    int on, tty;
    double t0, last;
    unsigned long long total; /* 0 when unknown */
    const char *what;         /* "records", "images", ... */
};
void lc_progress_start(struct lc_progress *p, int forced, unsigned long long total,
                       const char *what);
void lc_progress_update(struct lc_progress *p, unsigned long long done);
void lc_progress_end(struct lc_progress *p, unsigned long long done);

/* Seconds on a monotonic clock. */
double lc_now(void);

/* Append `history=<command line>` to *meta (the NetCDF convention: each
 * tool that writes a stream records how it was made). argc/argv: main's,
 * whole (argv[0] is shown by its base name). 0 or LC_ENOMEM. */
int lc_tool_history(char **meta, int argc, char **argv);

#endif
