/* tool: reporting, exit codes, signals and progress for tools. */
#include "tool.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "stream.h"

static const char *tool_name = "sarface";
static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t catch_interrupt;

static void on_fatal_signal(int sig)
{
    if (catch_interrupt && (sig == SIGINT || sig == SIGTERM) && !interrupted) {
        interrupted = sig;
        return;
    }
    lc_out_cleanup_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void lc_tool_init(const char *name)
{
    const char *slash = strrchr(name, '/');
    tool_name = slash ? slash + 1 : name;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old;
        /* A shell running us in the background ignores SIGINT: keep that. */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN && sigs[i] != SIGPIPE)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

const char *lc_tool_name(void) { return tool_name; }

void lc_tool_fail(const struct lc_err *e)
{
    lc_out_cleanup_all();
    if (e->code == LC_EPIPE) exit(128 + SIGPIPE);
    char buf[1200];
    fprintf(stderr, "%s: %s\n", tool_name, lc_err_format(e, buf, sizeof buf));
    exit(e->code == LC_EUSAGE ? 2 : 1);
}

void lc_tool_usage(const char *name, const char *fmt, ...)
{
    lc_out_cleanup_all();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", name ? name : tool_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", name ? name : tool_name);
    va_end(ap);
    exit(2);
}

void lc_tool_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: warning: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void lc_tool_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void lc_tool_catch_interrupt(void) { catch_interrupt = 1; }
int lc_tool_interrupted(void) { return interrupted != 0; }

double lc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_time(char *b, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

void lc_progress_start(struct lc_progress *p, int forced, unsigned long long total,
                       const char *what)
{
    p->tty = isatty(2);
    p->on = forced || p->tty;
    p->t0 = p->last = lc_now();
    p->total = total;
    p->what = what ? what : "records";
}

static void progress_line(struct lc_progress *p, unsigned long long done, double now, int final)
{
    double dt = now - p->t0;
    double rate = dt > 0 ? (double)done / dt : 0;
    char eta[64] = "";
    if (p->total && rate > 0 && !final) {
        char t[32];
        fmt_time(t, sizeof t, (double)(p->total - (done < p->total ? done : p->total)) / rate);
        snprintf(eta, sizeof eta, ", %.0f%%, ETA %s", 100.0 * (double)done / (double)p->total, t);
    }
    char el[24];
    fmt_time(el, sizeof el, dt);
    if (p->tty)
        fprintf(stderr, "\r%s: %llu %s, %.0f/s, %s%s\033[K%s", tool_name, done, p->what, rate, el,
                eta, final ? "\n" : "");
    else /* a log file: whole lines, no terminal control codes */
        fprintf(stderr, "%s: %llu %s, %.0f/s, %s%s\n", tool_name, done, p->what, rate, el, eta);
}

void lc_progress_update(struct lc_progress *p, unsigned long long done)
{
    if (!p->on) return;
    double now = lc_now();
    if (now - p->last < (p->tty ? 0.25 : 5.0)) return;
    p->last = now;
    progress_line(p, done, now, 0);
}

void lc_progress_end(struct lc_progress *p, unsigned long long done)
{
    if (!p->on) return;
    progress_line(p, done, lc_now(), 1);
}

int lc_tool_history(char **meta, int argc, char **argv)
{
    const char *prog = argc > 0 && strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argc > 0 ? argv[0] : tool_name;
    size_t n = strlen(prog) + 1;
    for (int i = 1; i < argc; i++) n += 4 * strlen(argv[i]) + 3;
    char *line = malloc(n + 1), *p = line;
    if (!line) return LC_ENOMEM;
    p += sprintf(p, "%s", prog);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int plain = *a != '\0';
        for (const char *c = a; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@%", *c)) plain = 0;
        *p++ = ' ';
        if (plain) {
            p += sprintf(p, "%s", a);
            continue;
        }
        *p++ = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\n' || *c == '\r') *p++ = ' ';
            else if (*c == '\'') p += sprintf(p, "'\\''");
            else *p++ = *c;
        }
        *p++ = '\'';
    }
    *p = '\0';
    int rc = lc_meta_add(meta, "history", line);
    free(line);
    return rc;
}
