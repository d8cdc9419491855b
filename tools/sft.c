/* sft: inspect and rearrange tensor streams, the pnmfile/ncdump of the
 * toolkit. Subcommands: info, head, list, count, check, slice, cat, export,
 * pack-npy. Every read verifies checksums, so `sft check` is also the
 * integrity test for a stream that came over a network. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dtype.h"
#include "io.h"
#include "npy.h"
#include "opt.h"
#include "recfile.h"
#include "stream.h"
#include "tool.h"

static int g_argc; /* the whole command line, for history= metadata */
static char **g_argv;

static void fail(const struct lc_err *e) { lc_tool_fail(e); }

static struct lc_reader *open_or_die(const char *path)
{
    struct lc_reader *r;
    struct lc_err err;
    if (lc_reader_open(&r, path, &err)) fail(&err);
    return r;
}

/* Next record, dying on error; returns 0 at the end. */
static int next_or_die(struct lc_reader *r, struct lc_record *rec)
{
    struct lc_err err;
    int rc = lc_reader_next(r, rec, &err);
    if (rc < 0) fail(&err);
    return rc;
}

static void payload_or_die(struct lc_reader *r, struct lc_record *rec)
{
    struct lc_err err;
    if (lc_reader_payload(r, rec, &err)) fail(&err);
}

static char *shape_str(const struct lc_record *r, char *b, size_t n)
{
    size_t k = 0;
    b[0] = '\0';
    if (r->rank == 0) snprintf(b, n, r->dtype == LC_DTYPE_NONE ? "-" : "scalar");
    for (unsigned i = 0; i < r->rank && k < n; i++)
        k += (size_t)snprintf(b + k, n - k, "%s%u", i ? "x" : "", r->dims[i]);
    return b;
}

/* -------------------------------------------------------------- info */

#define MAX_SHAPES 8
struct shape_count {
    int dtype, codec;
    unsigned rank;
    uint32_t dims[LC_STREAM_MAX_RANK];
    uint64_t count;
};

struct summary {
    uint64_t records, payload_bytes, segments;
    struct shape_count shapes[MAX_SHAPES];
    int n_shapes;
    uint64_t other_shapes;
    unsigned min_labels, max_labels, min_floats, max_floats;
    int64_t label_min, label_max;
    int have_label;
    char first_key[128], last_key[128];
};

static void summarize(struct lc_reader *r, struct summary *s)
{
    struct lc_record rec;
    memset(s, 0, sizeof *s);
    s->min_labels = s->min_floats = ~0u;
    while (next_or_die(r, &rec)) {
        s->records++;
        s->payload_bytes += rec.payload_len;
        int found = 0;
        for (int i = 0; i < s->n_shapes && !found; i++) {
            struct shape_count *c = &s->shapes[i];
            if (c->dtype == rec.dtype && c->codec == rec.codec && c->rank == rec.rank &&
                memcmp(c->dims, rec.dims, sizeof c->dims) == 0) {
                c->count++;
                found = 1;
            }
        }
        if (!found && s->n_shapes < MAX_SHAPES) {
            struct shape_count *c = &s->shapes[s->n_shapes++];
            c->dtype = rec.dtype, c->codec = rec.codec, c->rank = rec.rank, c->count = 1;
            memcpy(c->dims, rec.dims, sizeof c->dims);
        } else if (!found) {
            s->other_shapes++;
        }
        if (rec.n_labels < s->min_labels) s->min_labels = rec.n_labels;
        if (rec.n_labels > s->max_labels) s->max_labels = rec.n_labels;
        if (rec.n_floats < s->min_floats) s->min_floats = rec.n_floats;
        if (rec.n_floats > s->max_floats) s->max_floats = rec.n_floats;
        if (rec.n_labels) {
            int64_t l = rec.labels[0];
            if (!s->have_label || l < s->label_min) s->label_min = l;
            if (!s->have_label || l > s->label_max) s->label_max = l;
            s->have_label = 1;
        }
        if (s->records == 1) snprintf(s->first_key, sizeof s->first_key, "%s", rec.key);
        snprintf(s->last_key, sizeof s->last_key, "%s", rec.key);
    }
    if (!s->records) s->min_labels = s->min_floats = 0;
    s->segments = lc_reader_segments(r);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c == '\t') printf("\\t");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_info(const char *name, const struct lc_stream_header *h, const struct summary *s,
                       int json)
{
    char shape[64];
    if (json) {
        printf("{\"file\": ");
        json_str(name);
        printf(", \"version\": %u, \"kind\": ", h->version);
        json_str(h->kind);
        printf(", \"segments\": %llu, \"records\": %llu, \"payload_bytes\": %llu, \"shapes\": [",
               (unsigned long long)s->segments, (unsigned long long)s->records,
               (unsigned long long)s->payload_bytes);
        for (int i = 0; i < s->n_shapes; i++) {
            const struct shape_count *c = &s->shapes[i];
            struct lc_record tmp = {.dtype = c->dtype, .rank = c->rank};
            memcpy(tmp.dims, c->dims, sizeof tmp.dims);
            printf("%s{\"dtype\": \"%s\", \"codec\": \"%s\", \"shape\": [", i ? ", " : "",
                   lc_dtype_name(c->dtype), lc_codec_name(c->codec));
            for (unsigned d = 0; d < c->rank; d++) printf("%s%u", d ? ", " : "", c->dims[d]);
            printf("], \"count\": %llu}", (unsigned long long)c->count);
        }
        printf("], \"other_shapes\": %llu, \"labels_per_record\": [%u, %u], \"floats_per_record\": [%u, %u]",
               (unsigned long long)s->other_shapes, s->min_labels, s->max_labels, s->min_floats, s->max_floats);
        if (s->have_label) printf(", \"label0_range\": [%lld, %lld]", (long long)s->label_min, (long long)s->label_max);
        printf(", \"first_key\": ");
        json_str(s->first_key);
        printf(", \"last_key\": ");
        json_str(s->last_key);
        printf(", \"metadata\": ");
        json_str(h->meta);
        printf(", \"verified\": true}\n");
        return;
    }
    printf("file:      %s\n", name);
    printf("format:    tensor stream v%u, kind '%s'%s\n", h->version, h->kind, "");
    if (s->segments > 1) printf("segments:  %llu (concatenated)\n", (unsigned long long)s->segments);
    printf("records:   %llu\n", (unsigned long long)s->records);
    printf("payload:   %llu bytes (%.1f MiB)\n", (unsigned long long)s->payload_bytes,
           (double)s->payload_bytes / 1048576.0);
    for (int i = 0; i < s->n_shapes; i++) {
        const struct shape_count *c = &s->shapes[i];
        struct lc_record tmp = {.dtype = c->dtype, .rank = c->rank};
        memcpy(tmp.dims, c->dims, sizeof tmp.dims);
        printf("%s %-4s %-14s %s%-6s %llu records\n", i ? "          " : "tensors:  ", lc_dtype_name(c->dtype),
               shape_str(&tmp, shape, sizeof shape), c->codec ? "codec " : "", c->codec ? lc_codec_name(c->codec) : "",
               (unsigned long long)c->count);
    }
    if (s->other_shapes) printf("           ... and %llu records of other shapes\n", (unsigned long long)s->other_shapes);
    printf("labels:    %u", s->min_labels);
    if (s->max_labels != s->min_labels) printf(" to %u", s->max_labels);
    printf(" per record");
    if (s->have_label) printf("; label[0] from %lld to %lld", (long long)s->label_min, (long long)s->label_max);
    printf("\nfloats:    %u", s->min_floats);
    if (s->max_floats != s->min_floats) printf(" to %u", s->max_floats);
    printf(" per record\n");
    if (s->records) printf("keys:      first '%s', last '%s'\n", s->first_key, s->last_key);
    printf("metadata:%s\n", h->meta_len ? "" : "  (none)");
    for (const char *p = h->meta; *p;) {
        const char *e = strchr(p, '\n');
        int len = e ? (int)(e - p) : (int)strlen(p);
        printf("  %.*s\n", len, p);
        p += len + (e ? 1 : 0);
    }
    printf("integrity: ok (every checksum verified)\n");
}

static int cmd_info(int argc, char **argv)
{
    int json = 0;
    struct lc_opt opts[] = {
        {LC_OPT_FLAG, "json", 0, &json, NULL, "one JSON object per file instead of text"},
        {LC_OPT_END},
    };
    struct lc_tool t = {"sft info", "Print a stream's header, a summary of its records, and verify it.",
                        "[options] [FILE...]", "any kind", NULL,
                        "Reads every record (so a corrupt or truncated stream is reported). With no FILE, or "
                        "when FILE is -, reads standard input."};
    int i = lc_opt_parse(&t, opts, argc, argv);
    char *stdin_only[] = {"-"};
    char **files = i < argc ? argv + i : stdin_only;
    int n = i < argc ? argc - i : 1;
    for (int f = 0; f < n; f++) {
        struct lc_reader *r = open_or_die(files[f]);
        struct summary s;
        summarize(r, &s);
        if (f && !json) putchar('\n');
        print_info(lc_reader_name(r), lc_reader_header(r), &s, json);
        lc_reader_free(r);
    }
    return 0;
}

/* ------------------------------------------------------- head, list */

static void print_values(const struct lc_record *rec, int k)
{
    if (rec->codec != LC_CODEC_NONE || rec->dtype == LC_DTYPE_NONE) return;
    uint64_t n = lc_record_numel(rec);
    printf("\t[");
    for (uint64_t j = 0; j < n && j < (uint64_t)k; j++) {
        double v = lc_dtype_get(rec->payload, rec->dtype, j);
        printf(j ? " %.6g" : "%.6g", v);
    }
    printf(n > (uint64_t)k ? " ...]" : "]");
}

static void print_record(const struct lc_record *rec, int csv)
{
    char shape[64];
    const char *sep = csv ? "," : "\t";
    printf("%llu%s", (unsigned long long)rec->index, sep);
    if (csv) { /* quote keys for CSV */
        putchar('"');
        for (const char *p = rec->key; *p; p++) {
            if (*p == '"') putchar('"');
            putchar(*p);
        }
        putchar('"');
    } else if (!rec->key_len) {
        printf("(no key)");
    } else {
        for (const char *p = rec->key; *p; p++)
            if (*p == '\t') printf("\\t");
            else putchar(*p);
    }
    printf("%s", sep);
    if (csv) putchar('"');
    for (unsigned j = 0; j < rec->n_labels; j++) printf(j ? " %lld" : "%lld", (long long)rec->labels[j]);
    if (csv) putchar('"');
    else if (!rec->n_labels) putchar('-');
    printf("%s", sep);
    if (csv) putchar('"');
    for (unsigned j = 0; j < rec->n_floats && (csv || j < 8); j++) printf(j ? " %.6g" : "%.6g", rec->floats[j]);
    if (!csv && rec->n_floats > 8) printf(" ...(%u)", rec->n_floats);
    if (csv) putchar('"');
    else if (!rec->n_floats) putchar('-');
    printf("%s%s%s%s%s%s%s%llu%s%08x", sep, lc_dtype_name(rec->dtype), sep, shape_str(rec, shape, sizeof shape), sep,
           lc_codec_name(rec->codec), sep, (unsigned long long)rec->payload_len, sep, rec->payload_crc);
}

static int list_records(int argc, char **argv, int is_head)
{
    int64_t n = 10;
    int csv = 0, values = 0;
    const char *input = "-";
    struct lc_opt head_opts[] = {
        {LC_OPT_I64, "lines", 'n', &n, "N", "records to show (default 10)"},
        {LC_OPT_FLAG, "csv", 0, &csv, NULL, "CSV with a header row instead of aligned text"},
        {LC_OPT_INT, "values", 'v', &values, "K", "also show the first K values of each tensor"},
        {LC_OPT_END},
    };
    struct lc_tool t = {is_head ? "sft head" : "sft list",
                        is_head ? "Show the first N records of a stream, one line each."
                                : "Show every record of a stream, one line each.",
                        "[options] [FILE]", "any kind", NULL,
                        "Columns: index, key, labels, floats, dtype, shape, codec, payload bytes, and the "
                        "payload's CRC-32 (zlib.crc32 of the tensor bytes, so equal records show equal values). "
                        "In text output a TAB inside a key (pair keys) shows as \\t."};
    int i = lc_opt_parse(&t, is_head ? head_opts : head_opts + 1, argc, argv);
    if (i < argc) input = argv[i++];
    if (i < argc) lc_tool_usage(t.name, "one input at most (got '%s' too)", argv[i]);
    if (n < 0) lc_tool_usage(t.name, "-n must not be negative");
    struct lc_reader *r = open_or_die(input);
    const struct lc_stream_header *h = lc_reader_header(r);
    if (csv) printf("index,key,labels,floats,dtype,shape,codec,bytes,crc%s\n", values ? ",values" : "");
    else printf("# %s: kind '%s'\n# index\tkey\tlabels\tfloats\tdtype\tshape\tcodec\tbytes\tcrc%s\n",
                lc_reader_name(r), h->kind, values ? "\tvalues" : "");
    struct lc_record rec;
    int64_t shown = 0;
    while ((!is_head || shown < n) && next_or_die(r, &rec)) {
        if (values) payload_or_die(r, &rec);
        print_record(&rec, csv);
        if (values) {
            if (csv) fputc(',', stdout);
            print_values(&rec, values);
        }
        putchar('\n');
        shown++;
    }
    lc_reader_free(r);
    return 0;
}

static int cmd_head(int argc, char **argv) { return list_records(argc, argv, 1); }
static int cmd_list(int argc, char **argv) { return list_records(argc, argv, 0); }

/* ------------------------------------------------------ count, check */

static int count_files(int argc, char **argv, int is_check)
{
    struct lc_tool t = {is_check ? "sft check" : "sft count",
                        is_check ? "Verify streams completely: framing, every checksum, the trailer."
                                 : "Count the records of streams (verifying them).",
                        "[FILE...]", "any kind", NULL,
                        is_check ? "Prints `FILE: ok, N records` or the first problem for each file and "
                                   "goes on with the next; exits 1 if any file failed."
                                 : "One file: prints the count. Several: `count file` lines and a total."};
    struct lc_opt opts[] = {{LC_OPT_END}};
    int i = lc_opt_parse(&t, opts, argc, argv);
    char *stdin_only[] = {"-"};
    char **files = i < argc ? argv + i : stdin_only;
    int n = i < argc ? argc - i : 1, bad = 0;
    uint64_t total = 0;
    for (int f = 0; f < n; f++) {
        struct lc_reader *r;
        struct lc_err err;
        struct lc_record rec;
        uint64_t c = 0;
        int rc = lc_reader_open(&r, files[f], &err);
        if (!rc) {
            while ((rc = lc_reader_next(r, &rec, &err)) == 1) c++;
            lc_reader_free(r);
        }
        if (rc < 0) {
            if (!is_check) fail(&err);
            char buf[1200];
            printf("%s: FAILED: %s\n", files[f], lc_err_format(&err, buf, sizeof buf));
            bad = 1;
            continue;
        }
        total += c;
        if (is_check) printf("%s: ok, %llu records\n", files[f], (unsigned long long)c);
        else if (n == 1) printf("%llu\n", (unsigned long long)c);
        else printf("%llu %s\n", (unsigned long long)c, files[f]);
    }
    if (!is_check && n > 1) printf("%llu total\n", (unsigned long long)total);
    return bad;
}

static int cmd_count(int argc, char **argv) { return count_files(argc, argv, 0); }
static int cmd_check(int argc, char **argv) { return count_files(argc, argv, 1); }

/* ------------------------------------------------------- slice, cat */

static struct lc_writer *writer_like(const char *out, const struct lc_stream_header *h)
{
    char *meta = NULL;
    struct lc_err err;
    if (h->meta_len && !(meta = strdup(h->meta))) {
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        fail(&err);
    }
    if (lc_tool_history(&meta, g_argc, g_argv)) {
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        fail(&err);
    }
    struct lc_writer *w;
    if (lc_writer_open(&w, out, h->kind, meta, &err)) fail(&err);
    free(meta);
    return w;
}

static void copy_record(struct lc_reader *r, struct lc_writer *w, struct lc_record *rec)
{
    struct lc_err err;
    payload_or_die(r, rec);
    if (lc_writer_write(w, rec, &err)) {
        lc_writer_abort(w);
        fail(&err);
    }
}

static int cmd_slice(int argc, char **argv)
{
    const char *input = "-", *output = "-";
    int progress = 0;
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "input", 'i', &input, "FILE", "input stream (default: stdin)"},
        {LC_OPT_STRING, "output", 'o', &output, "FILE", "output stream (default: stdout)"},
        {LC_OPT_FLAG, "progress", 0, &progress, NULL, "report progress on stderr"},
        {LC_OPT_END},
    };
    struct lc_tool t = {"sft slice", "Copy the records whose indices are in RANGES.", "[options] RANGES",
                        "any kind", "the input's kind",
                        "RANGES: comma-separated indices and half-open ranges A:B (A or B may be "
                        "left out), ascending, e.g. 0:100 or 5,10:20,1000:. Reading stops after the last "
                        "range. Indices count across concatenated streams."};
    int i = lc_opt_parse(&t, opts, argc, argv);
    if (i + 1 != argc) lc_tool_usage(t.name, "expected one RANGES operand");
    struct lc_ranges ranges;
    struct lc_err err;
    if (lc_ranges_parse(&ranges, argv[i], &err)) lc_tool_usage(t.name, "%s", err.msg);
    struct lc_reader *r = open_or_die(input);
    struct lc_writer *w = writer_like(output, lc_reader_header(r));
    struct lc_record rec;
    struct lc_progress pr;
    lc_progress_start(&pr, progress, 0, "records");
    uint64_t seen = 0;
    while (!lc_ranges_done(&ranges, seen) && next_or_die(r, &rec)) {
        if (lc_ranges_has(&ranges, rec.index)) copy_record(r, w, &rec);
        lc_progress_update(&pr, ++seen);
    }
    lc_progress_end(&pr, seen);
    if (lc_writer_close(w, &err)) fail(&err);
    lc_reader_free(r);
    return 0;
}

static int cmd_cat(int argc, char **argv)
{
    const char *output = "-";
    int progress = 0;
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "output", 'o', &output, "FILE", "output stream (default: stdout)"},
        {LC_OPT_FLAG, "progress", 0, &progress, NULL, "report progress on stderr"},
        {LC_OPT_END},
    };
    struct lc_tool t = {"sft cat", "Join streams into one stream with one header and one trailer.",
                        "[options] FILE...", "any kind (all inputs the same)", "the inputs' kind",
                        "Unlike cat(1), which makes a valid multi-segment stream, this renumbers the "
                        "records into a single segment. All inputs must have the same kind and the same "
                        "channels, layout and normalization metadata; the output keeps the first input's "
                        "metadata."};
    int i = lc_opt_parse(&t, opts, argc, argv);
    if (i >= argc) lc_tool_usage(t.name, "expected at least one input");
    struct lc_reader *first = open_or_die(argv[i]);
    struct lc_writer *w = writer_like(output, lc_reader_header(first));
    struct lc_progress pr;
    lc_progress_start(&pr, progress, 0, "records");
    uint64_t n = 0;
    struct lc_err err;
    for (int f = i; f < argc; f++) {
        struct lc_reader *r = f == i ? first : open_or_die(argv[f]);
        if (r != first) { /* same rule as concatenated segments */
            const struct lc_stream_header *a = lc_reader_header(first), *b = lc_reader_header(r);
            if (strcmp(a->kind, b->kind) != 0) {
                lc_errf(&err, LC_EFORMAT, argv[f], -1, -1, "kind '%s' differs from '%s' of %s", b->kind,
                        a->kind, argv[i]);
                lc_writer_abort(w);
                fail(&err);
            }
            static const char *keys[] = {"channels", "layout", "normalization"};
            for (int k = 0; k < 3; k++) {
                char va[256] = "", vb[256] = "";
                int ha = lc_meta_get(a->meta, keys[k], va, sizeof va), hb = lc_meta_get(b->meta, keys[k], vb, sizeof vb);
                if (ha != hb || strcmp(va, vb) != 0) {
                    lc_errf(&err, LC_EFORMAT, argv[f], -1, -1, "%s=%s differs from %s=%s of %s", keys[k],
                            hb ? vb : "(unset)", keys[k], ha ? va : "(unset)", argv[i]);
                    lc_writer_abort(w);
                    fail(&err);
                }
            }
        }
        struct lc_record rec;
        while (next_or_die(r, &rec)) {
            copy_record(r, w, &rec);
            lc_progress_update(&pr, ++n);
        }
        if (r != first) lc_reader_free(r);
    }
    lc_progress_end(&pr, n);
    if (lc_writer_close(w, &err)) fail(&err);
    lc_reader_free(first);
    return 0;
}

/* ------------------------------------------------------------- export */

/* A file name from a key: path separators and odd bytes become '_'. */
static void key_filename(char *dst, size_t n, const struct lc_record *rec, const char *ext)
{
    char base[200];
    size_t k = 0;
    for (const char *p = rec->key; *p && k < sizeof base - 1; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        base[k++] = ok ? c : '_';
    }
    base[k] = '\0';
    if (!k || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) snprintf(dst, n, "%llu.%s", (unsigned long long)rec->index, ext);
    else snprintf(dst, n, "%llu_%s.%s", (unsigned long long)rec->index, base, ext);
}

static int cmd_export(int argc, char **argv)
{
    const char *input = "-", *output = NULL, *key = NULL, *dir = NULL, *format = "png", *range = NULL;
    int64_t index = -1;
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "input", 'i', &input, "FILE", "input stream (default: stdin)"},
        {LC_OPT_I64, "index", 'n', &index, "N", "export the record with index N"},
        {LC_OPT_STRING, "key", 'k', &key, "KEY", "export the first record with key KEY"},
        {LC_OPT_STRING, "output", 'o', &output, "FILE", "where to write it; the extension picks the format"},
        {LC_OPT_STRING, "dir", 'd', &dir, "DIR", "export many records into DIR (created if needed)"},
        {LC_OPT_STRING, "format", 'f', &format, "EXT", "with --dir: png (default), jpg, npy or bin"},
        {LC_OPT_STRING, "range", 'r', &range, "RANGES", "with --dir: which records (default: all)"},
        {LC_OPT_END},
    };
    struct lc_tool t = {"sft export", "Write records out as image, .npy or raw files.", "[options] [FILE]",
                        "any kind", NULL,
                        "One record: -n N or -k KEY, and -o OUT.png|.jpg|.npy|.bin. Many: --dir DIR "
                        "[--format EXT] [--range RANGES]; files are named INDEX_KEY.EXT.\n"
                        "Images: u8 records shaped (H,W), (H,W,C) or (1,H,W,C) with C = 1, 3 or 4, in "
                        "the channel order the stream's `channels` metadata names (BGR when unset); "
                        "JPEG/PNG payloads are copied as they are when the format matches and decoded "
                        "otherwise. .npy keeps dtype and shape (bf16 becomes f32). .bin writes the "
                        "payload bytes."};
    int i = lc_opt_parse(&t, opts, argc, argv);
    if (i < argc) input = argv[i++];
    if (i < argc) lc_tool_usage(t.name, "one input at most");
    struct lc_ranges ranges = {0};
    struct lc_err err;
    if (dir) {
        if (output || index >= 0 || key) lc_tool_usage(t.name, "--dir does not combine with -o, -n or -k");
        if (strcmp(format, "png") && strcmp(format, "jpg") && strcmp(format, "npy") && strcmp(format, "bin"))
            lc_tool_usage(t.name, "--format must be png, jpg, npy or bin");
        if (range && lc_ranges_parse(&ranges, range, &err)) lc_tool_usage(t.name, "%s", err.msg);
        if (lc_mkdirs(dir, &err)) fail(&err);
    } else {
        if (!output) lc_tool_usage(t.name, "-o OUT is required (or --dir DIR)");
        if ((index >= 0) == (key != NULL)) lc_tool_usage(t.name, "give exactly one of -n N and -k KEY");
    }
    struct lc_reader *r = open_or_die(input);
    int pixels = lc_meta_pixels(lc_reader_header(r)->meta);
    struct lc_record rec;
    struct lc_image_decoder *dec;
    if (lc_image_decoder_init(&dec, &err)) fail(&err);
    uint64_t written = 0;
    while (next_or_die(r, &rec)) {
        char path[4300];
        if (dir) {
            if (range && lc_ranges_done(&ranges, rec.index)) break;
            if (range && !lc_ranges_has(&ranges, rec.index)) continue;
            char name[256];
            key_filename(name, sizeof name, &rec, format);
            snprintf(path, sizeof path, "%s/%s", dir, name);
        } else {
            if (index >= 0 ? rec.index != (uint64_t)index : strcmp(rec.key, key) != 0) continue;
            snprintf(path, sizeof path, "%s", output);
        }
        payload_or_die(r, &rec);
        if (lc_record_save(path, &rec, pixels, dec, &err)) {
            if (err.record < 0) err.record = (int64_t)rec.index;
            fail(&err);
        }
        written++;
        if (!dir) break;
    }
    lc_image_decoder_free(dec);
    lc_reader_free(r);
    if (!dir && !written) {
        if (key) lc_errf(&err, LC_EINVAL, input, -1, -1, "no record has key '%s'", key);
        else lc_errf(&err, LC_EINVAL, input, -1, -1, "no record has index %lld", (long long)index);
        fail(&err);
    }
    if (dir) lc_tool_note("wrote %llu files to %s", (unsigned long long)written, dir);
    return 0;
}

/* ----------------------------------------------------------- pack-npy */

struct meta_list {
    const char *items[64];
    int n;
};

static int add_meta(void *dest, const char *arg, struct lc_err *err)
{
    struct meta_list *m = dest;
    if (m->n == 64) return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "at most 64 --meta options");
    if (!strchr(arg, '=')) return lc_errf(err, LC_EUSAGE, NULL, -1, -1, "expected KEY=VALUE, got '%s'", arg);
    m->items[m->n++] = arg;
    return 0;
}

static void *read_file(const char *path, size_t *len, struct lc_err *err)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    if (lc_file_read(path, &buf, &cap, len, SIZE_MAX - 1, err)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A per-record side array (--labels, --floats): rows of `width` values. */
struct side {
    const char *path;
    uint8_t *file;
    struct lc_npy h;
    const void *data;
    uint64_t rows, width;
};

static void side_load(struct side *s, const char *what, int want_int)
{
    struct lc_err err;
    size_t len;
    if (!s->path) return;
    s->file = read_file(s->path, &len, &err);
    if (!s->file || lc_npy_parse(s->file, len, &s->h, &err)) {
        if (!err.path[0]) snprintf(err.path, sizeof err.path, "%s", s->path);
        fail(&err);
    }
    int d = s->h.dtype;
    int is_int = d == LC_DTYPE_U8 || d == LC_DTYPE_I8 || d == LC_DTYPE_U16 || d == LC_DTYPE_I16 || d == LC_DTYPE_U32 ||
                 d == LC_DTYPE_I32 || d == LC_DTYPE_I64 || d == LC_DTYPE_U64;
    if (s->h.rank < 1 || s->h.rank > 2 || (want_int && !is_int) || s->h.data_bytes > len - s->h.data_offset) {
        lc_errf(&err, LC_EUSAGE, s->path, -1, -1, "%s must be a complete %s array of shape (N,) or (N,K)", what,
                want_int ? "integer" : "numeric");
        fail(&err);
    }
    s->data = s->file + s->h.data_offset;
    s->rows = s->h.dims[0];
    s->width = s->h.rank == 2 ? s->h.dims[1] : 1;
    if (s->width > 65535) {
        lc_errf(&err, LC_EUSAGE, s->path, -1, -1, "%s: at most 65535 values per record", what);
        fail(&err);
    }
}

static int cmd_pack_npy(int argc, char **argv)
{
    const char *output = "-", *kind = LC_KIND_TENSORS;
    int split = 0;
    struct meta_list meta = {0};
    struct side labels = {0}, floats = {0};
    struct lc_opt opts[] = {
        {LC_OPT_STRING, "output", 'o', &output, "FILE", "output stream (default: stdout)"},
        {LC_OPT_STRING, "kind", 'k', &kind, "KIND", "stream kind (default: tensors)"},
        {LC_OPT_FLAG, "split", 's', &split, NULL, "one record per entry of the first axis, keyed NAME/I"},
        {LC_OPT_CALL, "meta", 'm', &meta, "KEY=VALUE", "add a metadata line (repeatable)", add_meta},
        {LC_OPT_STRING, "labels", 'l', &labels.path, "L.npy", "integer labels, one row per record: shape (N,) or (N,K)"},
        {LC_OPT_STRING, "floats", 0, &floats.path, "F.npy", "float vectors, one row per record (stored as f32)"},
        {LC_OPT_END},
    };
    struct lc_tool t = {"sft pack-npy", "Turn .npy files into one stream.", "[options] FILE.npy...", NULL,
                        "tensors (or --kind)",
                        "Each file becomes a record keyed by its name without .npy, or with --split one "
                        "record per row. Only plain numeric dtypes in C order are read; object arrays are "
                        "refused. --labels and --floats give row r to record r, and must have as many rows "
                        "as records are written."};
    int i = lc_opt_parse(&t, opts, argc, argv);
    if (i >= argc) lc_tool_usage(t.name, "expected at least one .npy file");
    side_load(&labels, "--labels", 1);
    side_load(&floats, "--floats", 0);
    int64_t *lab = malloc(sizeof *lab * (labels.width ? labels.width : 1));
    float *flo = malloc(sizeof *flo * (floats.width ? floats.width : 1));
    uint64_t written = 0;
    char *m = NULL;
    struct lc_err err;
    for (int k = 0; k < meta.n; k++) {
        const char *eq = strchr(meta.items[k], '=');
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - meta.items[k]), meta.items[k]);
        if (lc_meta_add(&m, key, eq + 1)) lc_tool_usage(t.name, "bad --meta '%s'", meta.items[k]);
    }
    if (lc_tool_history(&m, g_argc, g_argv)) {
        lc_errf(&err, LC_ENOMEM, NULL, -1, -1, "out of memory");
        fail(&err);
    }
    struct lc_writer *w;
    if (lc_writer_open(&w, output, kind, m, &err)) fail(&err);
    free(m);
    for (int f = i; f < argc; f++) {
        size_t len;
        uint8_t *buf = read_file(argv[f], &len, &err);
        struct lc_npy h;
        if (!buf || lc_npy_parse(buf, len, &h, &err)) goto bad;
        if (h.data_bytes > len - h.data_offset) {
            lc_errf(&err, LC_ETRUNC, argv[f], -1, (int64_t)len, "truncated: array data needs %llu bytes",
                    (unsigned long long)h.data_bytes);
            goto bad;
        }
        unsigned rank = split ? h.rank - 1 : h.rank;
        if ((split && h.rank == 0) || rank > LC_STREAM_MAX_RANK) {
            lc_errf(&err, LC_EUSAGE, argv[f], -1, -1, "rank %u cannot be stored (records hold rank 0 to 4%s)", h.rank,
                    split ? " after the split axis" : "");
            goto bad;
        }
        char name[512];
        const char *base = strrchr(argv[f], '/') ? strrchr(argv[f], '/') + 1 : argv[f];
        snprintf(name, sizeof name, "%s", base);
        size_t nl = strlen(name);
        if (nl > 4 && strcmp(name + nl - 4, ".npy") == 0) name[nl - 4] = '\0';
        uint32_t dims[LC_STREAM_MAX_RANK] = {0};
        for (unsigned d = 0; d < rank; d++) {
            uint64_t v = h.dims[d + (split ? 1 : 0)];
            if (v > UINT32_MAX) {
                lc_errf(&err, LC_EUSAGE, argv[f], -1, -1, "dimension %llu exceeds 2^32-1", (unsigned long long)v);
                goto bad;
            }
            dims[d] = (uint32_t)v;
        }
        uint64_t rows = split ? h.dims[0] : 1, row_bytes = rows ? h.data_bytes / (rows ? rows : 1) : 0;
        for (uint64_t row = 0; row < rows; row++) {
            char key[600];
            if (split) snprintf(key, sizeof key, "%s/%llu", name, (unsigned long long)row);
            else snprintf(key, sizeof key, "%s", name);
            struct lc_record rec = {.key = key};
            lc_record_set_tensor(&rec, h.dtype, rank, dims, buf + h.data_offset + row * row_bytes);
            if ((labels.path && written >= labels.rows) || (floats.path && written >= floats.rows)) {
                lc_errf(&err, LC_EUSAGE, labels.path && written >= labels.rows ? labels.path : floats.path, -1, -1,
                        "has %llu rows but more records are being written", (unsigned long long)written);
                goto bad;
            }
            if (labels.path) {
                for (uint64_t k = 0; k < labels.width; k++)
                    lab[k] = labels.h.dtype == LC_DTYPE_I64 || labels.h.dtype == LC_DTYPE_U64
                                 ? ((const int64_t *)labels.data)[written * labels.width + k]
                                 : (int64_t)lc_dtype_get(labels.data, labels.h.dtype, written * labels.width + k);
                rec.labels = lab;
                rec.n_labels = (unsigned)labels.width;
            }
            if (floats.path) {
                for (uint64_t k = 0; k < floats.width; k++)
                    flo[k] = (float)lc_dtype_get(floats.data, floats.h.dtype, written * floats.width + k);
                rec.floats = flo;
                rec.n_floats = (unsigned)floats.width;
            }
            if (lc_writer_write(w, &rec, &err)) goto bad;
            written++;
        }
        free(buf);
        continue;
    bad:
        free(buf);
        lc_writer_abort(w);
        if (!err.path[0]) snprintf(err.path, sizeof err.path, "%s", argv[f]);
        fail(&err);
    }
    if ((labels.path && written != labels.rows) || (floats.path && written != floats.rows)) {
        int l = labels.path && written != labels.rows;
        lc_errf(&err, LC_EUSAGE, l ? labels.path : floats.path, -1, -1, "has %llu rows but %llu records were written",
                (unsigned long long)(l ? labels.rows : floats.rows), (unsigned long long)written);
        lc_writer_abort(w);
        fail(&err);
    }
    if (lc_writer_close(w, &err)) fail(&err);
    free(lab);
    free(flo);
    free(labels.file);
    free(floats.file);
    return 0;
}

/* --------------------------------------------------------------- main */

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    {"info", cmd_info, "header, record summary and verification"},
    {"head", cmd_head, "the first N records, one line each"},
    {"list", cmd_list, "every record, one line each"},
    {"count", cmd_count, "number of records"},
    {"check", cmd_check, "verify streams completely"},
    {"slice", cmd_slice, "copy records by index ranges"},
    {"cat", cmd_cat, "join streams into one"},
    {"export", cmd_export, "records to .png/.jpg/.npy/raw files"},
    {"pack-npy", cmd_pack_npy, ".npy files to a stream"},
};
#define N_COMMANDS (sizeof commands / sizeof *commands)

int main(int argc, char **argv)
{
    static char details[2048];
    size_t k = (size_t)snprintf(details, sizeof details, "Commands:\n");
    for (size_t c = 0; c < N_COMMANDS; c++)
        k += (size_t)snprintf(details + k, sizeof details - k, "  %-9s %s\n", commands[c].name, commands[c].what);
    snprintf(details + k, sizeof details - k, "\n'sft COMMAND --help' describes each. The format: docs/stream-format.md.");
    struct lc_tool t = {"sft", "Inspect, check, slice, join and export tensor streams.",
                        "COMMAND [options] [FILE...]", NULL, NULL, details, 1};
    struct lc_opt opts[] = {{LC_OPT_END}};
    lc_tool_init("sft");
    g_argc = argc;
    g_argv = argv;
    int i = lc_opt_parse(&t, opts, argc, argv);
    if (i >= argc) lc_tool_usage("sft", "missing COMMAND (info, head, list, count, check, slice, cat, export, pack-npy)");
    for (size_t c = 0; c < N_COMMANDS; c++)
        if (strcmp(argv[i], commands[c].name) == 0) return commands[c].run(argc - i, argv + i);
    lc_tool_usage("sft", "unknown command '%s'", argv[i]);
}
