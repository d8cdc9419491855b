/* pickle: an opcode interpreter for Python pickles that builds inert values
 * instead of objects. Every operand is bounds-checked before use, every
 * allocation is charged to a budget proportional to the input, and every
 * error names the offset of the opcode that caused it. Nothing is called:
 * globals are checked against the caller's allowlist and then only named. */
#include "pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the pickle code assumes a little-endian host"
#endif

typedef struct lc_pickle_value value;

const char *const lc_pickle_allow_numpy[] = {
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",       "numpy._core.multiarray.scalar",
    "numpy.ndarray",                      "numpy.dtype",
    "_codecs.encode",                     "__builtin__.bytes",
    "builtins.bytes",                     NULL,
};

/* Values live in chunks (so lc_pickle_free can find the item arrays they
 * own); decoded strings and names live in blobs. */
struct vchunk {
    struct vchunk *next;
    size_t n, cap;
    value v[];
};

struct blob {
    struct blob *next;
    uint8_t data[];
};

struct lc_pickle {
    const value *root;
    size_t end;
    int proto;
    int64_t base;
    char *name;
    uint64_t used, limit; /* bytes charged so far, and the budget */
    struct vchunk *chunks;
    struct blob *blobs;
};

/* ------------------------------------------------------------ memory */

/* Charge n bytes to p's budget; code LC_EUNSUPPORTED when it is spent. */
static int charge(struct lc_pickle *p, uint64_t n, struct lc_err *err, int64_t off)
{
    if (n > p->limit - p->used)
        return lc_errf(err, LC_EUNSUPPORTED, p->name, -1, off,
                       "pickle needs more than %llu bytes of memory to read (the limit)",
                       (unsigned long long)p->limit);
    p->used += n;
    return 0;
}

static void *blob_alloc(struct lc_pickle *p, size_t n, struct lc_err *err, int64_t off)
{
    if (charge(p, (uint64_t)n + sizeof(struct blob), err, off)) return NULL;
    struct blob *b = malloc(sizeof *b + n + 1);
    if (!b) {
        lc_errf(err, LC_ENOMEM, p->name, -1, off, "out of memory reading pickle");
        return NULL;
    }
    b->next = p->blobs;
    p->blobs = b;
    b->data[n] = 0;
    return b->data;
}

static value *value_alloc(struct lc_pickle *p, int type, struct lc_err *err, int64_t off)
{
    struct vchunk *c = p->chunks;
    if (!c || c->n == c->cap) {
        size_t cap = c ? (c->cap < 1024 ? c->cap * 2 : 1024) : 16;
        if (charge(p, sizeof *c + cap * sizeof(value), err, off)) return NULL;
        c = malloc(sizeof *c + cap * sizeof(value));
        if (!c) {
            lc_errf(err, LC_ENOMEM, p->name, -1, off, "out of memory reading pickle");
            return NULL;
        }
        c->n = 0;
        c->cap = cap;
        c->next = p->chunks;
        p->chunks = c;
    }
    value *v = &c->v[c->n++];
    memset(v, 0, sizeof *v);
    v->type = (uint8_t)type;
    v->offset = off;
    return v;
}

/* Make room for need pointers in *arr (capacity *cap), charging growth. */
static int grow(struct lc_pickle *p, value ***arr, size_t *cap, size_t need, struct lc_err *err,
                int64_t off)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 4;
    while (nc < need) nc = nc > SIZE_MAX / 2 / sizeof(value *) ? need : nc * 2;
    if (nc > SIZE_MAX / sizeof(value *))
        return lc_errf(err, LC_EUNSUPPORTED, p->name, -1, off, "pickle container too large");
    int rc = charge(p, (uint64_t)(nc - *cap) * sizeof(value *), err, off);
    if (rc) return rc;
    value **a = realloc(*arr, nc * sizeof(value *));
    if (!a) return lc_errf(err, LC_ENOMEM, p->name, -1, off, "out of memory reading pickle");
    *arr = a;
    *cap = nc;
    return 0;
}

static int has_items(int type)
{
    return type == LC_PICKLE_TUPLE || type == LC_PICKLE_LIST || type == LC_PICKLE_DICT ||
           type == LC_PICKLE_SET;
}

void lc_pickle_free(struct lc_pickle *p)
{
    if (!p) return;
    for (struct vchunk *c = p->chunks, *next; c; c = next) {
        next = c->next;
        for (size_t i = 0; i < c->n; i++)
            if (has_items(c->v[i].type)) free(c->v[i].u.seq.items);
        free(c);
    }
    for (struct blob *b = p->blobs, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(p->name);
    free(p);
}

/* ------------------------------------------------------------ parser */

struct parser {
    struct lc_pickle *p;
    struct lc_err *err;
    const uint8_t *b;
    size_t len, pos;
    size_t op; /* offset of the opcode being run */
    const char *opname;
    const char *const *allow;
    size_t max_depth, max_stack, max_memo;
    value **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    value **memo;
    size_t memo_len, memo_cap, memo_count;
};

static int64_t at(const struct parser *P) { return P->p->base + (int64_t)P->op; }

__attribute__((format(printf, 3, 4))) static int perr(struct parser *P, int code, const char *fmt, ...)
{
    if (!P->err) return code;
    char msg[sizeof P->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lc_errf(P->err, code, P->p->name, -1, at(P), "%s", msg);
}

static const char *op_name(unsigned c)
{
    switch (c) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    }
    return NULL;
}

/* The next n operand bytes. */
static int take(struct parser *P, uint64_t n, const uint8_t **out)
{
    *out = NULL;
    if (n > P->len - P->pos)
        return perr(P, LC_ETRUNC, "%s needs %llu bytes but the pickle ends after %zu", P->opname,
                    (unsigned long long)n, P->len - P->pos);
    *out = P->b + P->pos;
    P->pos += (size_t)n;
    return 0;
}

/* A protocol 0 operand: the bytes up to '\n' (not included). */
static int take_line(struct parser *P, const uint8_t **s, size_t *n)
{
    const uint8_t *start = P->b + P->pos;
    *s = NULL;
    *n = 0;
    const uint8_t *nl = memchr(start, '\n', P->len - P->pos);
    if (!nl) return perr(P, LC_ETRUNC, "%s operand has no end of line before the end of the pickle", P->opname);
    *s = start;
    *n = (size_t)(nl - start);
    P->pos += *n + 1;
    return 0;
}

static uint64_t rd_le(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static value *new_value(struct parser *P, int type)
{
    return value_alloc(P->p, type, P->err, at(P));
}

static size_t fence(const struct parser *P) { return P->nmarks ? P->marks[P->nmarks - 1] : 0; }

static int push(struct parser *P, value *v)
{
    if (!v) return P->err ? P->err->code : LC_ENOMEM;
    if (P->sp >= P->max_stack)
        return perr(P, LC_EUNSUPPORTED, "pickle stack holds more than %zu values (the limit)", P->max_stack);
    int rc = grow(P->p, &P->stack, &P->scap, P->sp + 1, P->err, at(P));
    if (rc) return rc;
    P->stack[P->sp++] = v;
    return 0;
}

static int pop(struct parser *P, value **v)
{
    *v = NULL;
    if (P->sp <= fence(P))
        return perr(P, LC_EFORMAT, "%s needs a value on the stack%s", P->opname,
                    P->nmarks ? " above the last MARK" : "");
    *v = P->stack[--P->sp];
    return 0;
}

static int top(struct parser *P, value **v)
{
    *v = NULL;
    if (P->sp <= fence(P))
        return perr(P, LC_EFORMAT, "%s needs a value on the stack%s", P->opname,
                    P->nmarks ? " above the last MARK" : "");
    *v = P->stack[P->sp - 1];
    return 0;
}

/* Pop the last MARK; the values above it are stack[*start .. sp). */
static int pop_mark(struct parser *P, size_t *start)
{
    *start = 0;
    if (!P->nmarks) return perr(P, LC_EFORMAT, "%s without a MARK", P->opname);
    *start = P->marks[--P->nmarks];
    return 0;
}

static const char *type_article(int type)
{
    return type == LC_PICKLE_INT || type == LC_PICKLE_OBJECT ? "an" : "a";
}

/* A new sequence value holding copies of items[0..n). */
static value *new_seq(struct parser *P, int type, value *const *items, size_t n)
{
    value *v = new_value(P, type);
    if (!v) return NULL;
    if (n && grow(P->p, &v->u.seq.items, &v->u.seq.cap, n, P->err, at(P))) return NULL;
    if (n) memcpy(v->u.seq.items, items, n * sizeof *items);
    v->u.seq.len = type == LC_PICKLE_DICT ? n / 2 : n;
    return v;
}

/* Append items[0..n) to the item array of container c. */
static int seq_append(struct parser *P, value *c, value *const *items, size_t n)
{
    size_t have = c->type == LC_PICKLE_DICT ? 2 * c->u.seq.len : c->u.seq.len;
    if (!n) return 0; /* APPENDS with nothing: the item array may still be NULL */
    int rc = grow(P->p, &c->u.seq.items, &c->u.seq.cap, have + n, P->err, at(P));
    if (rc) return rc;
    memcpy(c->u.seq.items + have, items, n * sizeof *items);
    c->u.seq.len += c->type == LC_PICKLE_DICT ? n / 2 : n;
    return 0;
}

static int new_str(struct parser *P, int type, const uint8_t *data, size_t n)
{
    value *v = new_value(P, type);
    if (v) {
        v->u.str.data = data;
        v->u.str.len = n;
    }
    return push(P, v);
}

/* UTF-8 as Python's 'surrogatepass' accepts it (surrogates allowed). */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) k = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef) k = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) k = 3, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (k > n - i - 1) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff) return 0;
        i += k + 1;
    }
    return 1;
}

static size_t utf8_put(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xc0 | cp >> 6); o[1] = (uint8_t)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int unicode_op(struct parser *P, uint64_t n)
{
    const uint8_t *s;
    int rc = take(P, n, &s);
    if (rc) return rc;
    if (!utf8_ok(s, (size_t)n)) return perr(P, LC_EFORMAT, "%s text is not valid UTF-8", P->opname);
    return new_str(P, LC_PICKLE_UNICODE, s, (size_t)n);
}

/* UNICODE (protocol 0): raw-unicode-escape, i.e. latin-1 bytes where an
 * odd run of backslashes before 'u'/'U' starts a \uXXXX/\UXXXXXXXX. */
static int unicode_text_op(struct parser *P)
{
    const uint8_t *s;
    size_t n;
    int rc = take_line(P, &s, &n);
    if (rc) return rc;
    uint8_t *o = blob_alloc(P->p, 2 * n, P->err, at(P)); /* \uXXXX: 6 in, <= 4 out; byte: 1 in, <= 2 out */
    if (!o) return P->err ? P->err->code : LC_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            k += utf8_put(o + k, s[i++]);
            continue;
        }
        size_t run = 0;
        while (i + run < n && s[i + run] == '\\') run++;
        int esc = (run & 1) && i + run < n && (s[i + run] == 'u' || s[i + run] == 'U');
        for (size_t j = 0; j < run - (size_t)esc; j++) o[k++] = '\\';
        i += run;
        if (!esc) continue;
        unsigned digits = s[i] == 'u' ? 4 : 8;
        i++;
        if (n - i < digits) return perr(P, LC_EFORMAT, "UNICODE has a truncated \\%c escape", digits == 4 ? 'u' : 'U');
        uint32_t cp = 0;
        for (unsigned j = 0; j < digits; j++) {
            int h = hexval(s[i + j]);
            if (h < 0) return perr(P, LC_EFORMAT, "UNICODE has a bad \\%c escape", digits == 4 ? 'u' : 'U');
            cp = cp << 4 | (uint32_t)h;
        }
        if (cp > 0x10ffff) return perr(P, LC_EFORMAT, "UNICODE escape beyond U+10FFFF");
        i += digits;
        k += utf8_put(o + k, cp);
    }
    return new_str(P, LC_PICKLE_UNICODE, o, k);
}

/* STRING (protocol 0): a quoted Python 2 repr, decoded as
 * codecs.escape_decode does. */
static int string_text_op(struct parser *P)
{
    const uint8_t *s;
    size_t n;
    int rc = take_line(P, &s, &n);
    if (rc) return rc;
    if (n < 2 || s[0] != s[n - 1] || (s[0] != '\'' && s[0] != '"'))
        return perr(P, LC_EFORMAT, "the STRING operand must be quoted");
    s++;
    n -= 2;
    uint8_t *o = blob_alloc(P->p, n, P->err, at(P));
    if (!o) return P->err ? P->err->code : LC_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            o[k++] = s[i++];
            continue;
        }
        if (++i == n) return perr(P, LC_EFORMAT, "STRING ends with a lone backslash");
        uint8_t c = s[i++];
        switch (c) {
        case '\n': break;
        case '\\': case '\'': case '"': o[k++] = c; break;
        case 'a': o[k++] = 7; break;
        case 'b': o[k++] = 8; break;
        case 'f': o[k++] = 12; break;
        case 'n': o[k++] = 10; break;
        case 'r': o[k++] = 13; break;
        case 't': o[k++] = 9; break;
        case 'v': o[k++] = 11; break;
        case 'x': {
            int h1 = i < n ? hexval(s[i]) : -1, h2 = i + 1 < n ? hexval(s[i + 1]) : -1;
            if (h1 < 0 || h2 < 0) return perr(P, LC_EFORMAT, "STRING has a bad \\x escape");
            o[k++] = (uint8_t)(h1 << 4 | h2);
            i += 2;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = c - '0';
                for (int j = 0; j < 2 && i < n && s[i] >= '0' && s[i] <= '7'; j++) v = v * 8 + (s[i++] - '0');
                o[k++] = (uint8_t)v;
            } else { /* unknown escapes stay as they are */
                o[k++] = '\\';
                o[k++] = c;
            }
        }
    }
    return new_str(P, LC_PICKLE_STR, o, k);
}

/* Decimal integer text with an optional sign (and trailing 'L' for LONG).
 * 0, -1 not a number, -2 beyond int64. */
static int parse_dec(const uint8_t *s, size_t n, int long_suffix, int64_t *out)
{
    if (long_suffix && n && s[n - 1] == 'L') n--;
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == n) return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = s[i] - '0';
        if (v > (lim - d) / 10) return -2;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int push_int(struct parser *P, int type, int64_t i)
{
    value *v = new_value(P, type);
    if (v) v->u.i = i;
    return push(P, v);
}

static int push_float(struct parser *P, double f)
{
    value *v = new_value(P, LC_PICKLE_FLOAT);
    if (v) v->u.f = f;
    return push(P, v);
}

/* LONG1/LONG4 operand: little-endian two's complement, n bytes. */
static int long_op(struct parser *P, uint64_t n)
{
    const uint8_t *s;
    int rc = take(P, n, &s);
    if (rc) return rc;
    if (n == 0) return push_int(P, LC_PICKLE_INT, 0);
    uint8_t sign = (s[n - 1] & 0x80) ? 0xff : 0x00;
    uint64_t v;
    if (n <= 8) {
        v = rd_le(s, (unsigned)n);
        if (sign && n < 8) v |= ~(uint64_t)0 << (8 * n);
    } else {
        for (uint64_t i = 8; i < n; i++)
            if (s[i] != sign) return perr(P, LC_EUNSUPPORTED, "%s holds an int beyond 64 bits", P->opname);
        v = rd_le(s, 8);
        if ((v >> 63) != (uint64_t)(sign & 1))
            return perr(P, LC_EUNSUPPORTED, "%s holds an int beyond 64 bits", P->opname);
    }
    return push_int(P, LC_PICKLE_INT, (int64_t)v);
}

static int allowed(const char *const *allow, const uint8_t *mod, size_t ml, const uint8_t *nm, size_t nl)
{
    for (; allow && *allow; allow++) {
        const char *e = *allow;
        size_t el = strlen(e);
        if (el == 1 && e[0] == '*') return 1;
        if (el == ml + 2 && memcmp(e, mod, ml) == 0 && e[ml] == '.' && e[ml + 1] == '*') return 1;
        if (strlen(e) == ml + 1 + nl && memcmp(e, mod, ml) == 0 && e[ml] == '.' && memcmp(e + ml + 1, nm, nl) == 0)
            return 1;
    }
    return 0;
}

/* A printable rendering of a name for error messages. */
static void show(char *o, size_t size, const uint8_t *s, size_t n)
{
    size_t k = 0, i = 0;
    for (; i < n && k + 8 < size; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f) o[k++] = (char)s[i];
        else k += (size_t)snprintf(o + k, size - k, "\\x%02x", s[i]);
    }
    if (i < n) memcpy(o + k, "...", 3), k += 3;
    o[k] = '\0';
}

static int global_op(struct parser *P, const uint8_t *mod, size_t ml, const uint8_t *nm, size_t nl, value **out)
{
    int bad = ml == 0 || nl == 0;
    for (size_t i = 0; i < ml && !bad; i++) bad = mod[i] < 0x20 || mod[i] == 0x7f;
    for (size_t i = 0; i < nl && !bad; i++) bad = nm[i] < 0x20 || nm[i] == 0x7f;
    char sm[160], sn[160];
    show(sm, sizeof sm, mod, ml);
    show(sn, sizeof sn, nm, nl);
    if (bad) return perr(P, LC_EFORMAT, "%s names a bad global '%s' '%s'", P->opname, sm, sn);
    if (!allowed(P->allow, mod, ml, nm, nl))
        return perr(P, LC_EUNSUPPORTED, "pickle refers to %s.%s, which is not allowed", sm, sn);
    char *m = blob_alloc(P->p, ml + 1 + nl, P->err, at(P));
    if (!m) return P->err ? P->err->code : LC_ENOMEM;
    memcpy(m, mod, ml);
    m[ml] = '\0';
    memcpy(m + ml + 1, nm, nl); /* blob_alloc put the final NUL */
    value *v = new_value(P, LC_PICKLE_GLOBAL);
    if (!v) return P->err ? P->err->code : LC_ENOMEM;
    v->u.global.module = m;
    v->u.global.name = m + ml + 1;
    *out = v;
    return 0;
}

static int callable_ok(const value *v)
{
    return v->type == LC_PICKLE_GLOBAL || v->type == LC_PICKLE_OBJECT;
}

static int new_object(struct parser *P, int how, value *callable, value *args, value *kwargs)
{
    if (!callable_ok(callable))
        return perr(P, LC_EFORMAT, "%s calls %s %s", P->opname, type_article(callable->type),
                    lc_pickle_type_name(callable->type));
    if (args->type != LC_PICKLE_TUPLE)
        return perr(P, LC_EFORMAT, "%s arguments are %s %s, not a tuple", P->opname, type_article(args->type),
                    lc_pickle_type_name(args->type));
    if (kwargs && kwargs->type != LC_PICKLE_DICT)
        return perr(P, LC_EFORMAT, "%s keyword arguments are not a dict", P->opname);
    value *v = new_value(P, LC_PICKLE_OBJECT);
    if (!v) return P->err ? P->err->code : LC_ENOMEM;
    v->how = (uint8_t)how;
    v->u.obj.callable = callable;
    v->u.obj.args = args;
    v->u.obj.kwargs = kwargs;
    return push(P, v);
}

static int memo_put(struct parser *P, uint64_t idx)
{
    value *v;
    int rc = top(P, &v);
    if (rc) return rc;
    if (idx >= P->max_memo)
        return perr(P, LC_EUNSUPPORTED, "memo index %llu is beyond the limit (%zu)", (unsigned long long)idx,
                    P->max_memo);
    if (idx >= P->memo_len) {
        rc = grow(P->p, &P->memo, &P->memo_cap, (size_t)idx + 1, P->err, at(P));
        if (rc) return rc;
        memset(P->memo + P->memo_len, 0, ((size_t)idx + 1 - P->memo_len) * sizeof *P->memo);
        P->memo_len = (size_t)idx + 1;
    }
    if (!P->memo[idx]) P->memo_count++;
    P->memo[idx] = v;
    return 0;
}

static int memo_get(struct parser *P, uint64_t idx)
{
    if (idx >= P->memo_len || !P->memo[idx])
        return perr(P, LC_EFORMAT, "memo index %llu was never stored", (unsigned long long)idx);
    return push(P, P->memo[idx]);
}

static int text_index(struct parser *P, uint64_t *idx)
{
    const uint8_t *s;
    size_t n;
    int64_t v;
    int rc = take_line(P, &s, &n);
    if (rc) return rc;
    if (parse_dec(s, n, 0, &v) || v < 0) return perr(P, LC_EFORMAT, "%s index is not a number", P->opname);
    *idx = (uint64_t)v;
    return 0;
}

/* APPEND(S) target: a list, or an object (collects them in listitems). */
static int append_to(struct parser *P, value *target, value *const *items, size_t n)
{
    if (target->type == LC_PICKLE_OBJECT) {
        if (!target->u.obj.listitems) {
            target->u.obj.listitems = new_value(P, LC_PICKLE_LIST);
            if (!target->u.obj.listitems) return P->err ? P->err->code : LC_ENOMEM;
        }
        target = target->u.obj.listitems;
    }
    if (target->type != LC_PICKLE_LIST)
        return perr(P, LC_EFORMAT, "%s to %s %s", P->opname, type_article(target->type), lc_pickle_type_name(target->type));
    return seq_append(P, target, items, n);
}

static int setitems_to(struct parser *P, value *target, value *const *items, size_t n)
{
    if (n % 2) return perr(P, LC_EFORMAT, "%s has an odd number of values", P->opname);
    if (target->type == LC_PICKLE_OBJECT) {
        if (!target->u.obj.dictitems) {
            target->u.obj.dictitems = new_value(P, LC_PICKLE_DICT);
            if (!target->u.obj.dictitems) return P->err ? P->err->code : LC_ENOMEM;
        }
        target = target->u.obj.dictitems;
    }
    if (target->type != LC_PICKLE_DICT)
        return perr(P, LC_EFORMAT, "%s on %s %s", P->opname, type_article(target->type), lc_pickle_type_name(target->type));
    return seq_append(P, target, items, n);
}

/* The opcodes that pop to a MARK and operate on what lies below it. */
static int marked_into(struct parser *P, unsigned c)
{
    size_t start;
    int rc = pop_mark(P, &start);
    if (rc) return rc;
    if (start <= fence(P))
        return perr(P, LC_EFORMAT, "%s has nothing below its MARK to add to", P->opname);
    value *target = P->stack[start - 1];
    value **items = P->stack + start;
    size_t n = P->sp - start;
    if (c == 'e') rc = append_to(P, target, items, n);
    else if (c == 'u') rc = setitems_to(P, target, items, n);
    else if (target->type != LC_PICKLE_SET || (target->flags & LC_PICKLE_FROZEN))
        rc = perr(P, LC_EFORMAT, "ADDITEMS to %s %s", type_article(target->type), lc_pickle_type_name(target->type));
    else rc = seq_append(P, target, items, n);
    P->sp = start;
    return rc;
}

static int run(struct parser *P)
{
    const uint8_t *s;
    size_t n;
    value *a, *b, *c3;
    int rc;
    int64_t iv;
    size_t start;
    for (;;) {
        P->op = P->pos;
        if (P->pos >= P->len) return perr(P, LC_ETRUNC, "pickle ends without STOP");
        unsigned c = P->b[P->pos++];
        P->opname = op_name(c);
        if (!P->opname) return perr(P, LC_EFORMAT, "unknown pickle opcode 0x%02x", c);
        switch (c) {
        case 0x80: /* PROTO */
            if ((rc = take(P, 1, &s))) return rc;
            if (s[0] > 5) return perr(P, LC_EUNSUPPORTED, "pickle protocol %u is not supported (0-5 are)", s[0]);
            if (s[0] > P->p->proto) P->p->proto = s[0];
            break;
        case 0x95: /* FRAME: only a length hint; check it and go on */
            if ((rc = take(P, 8, &s))) return rc;
            if (rd_le(s, 8) > P->len - P->pos)
                return perr(P, LC_ETRUNC, "FRAME of %llu bytes runs past the end of the pickle",
                            (unsigned long long)rd_le(s, 8));
            break;
        case '.': /* STOP */
            if (P->nmarks) return perr(P, LC_EFORMAT, "STOP with %zu MARK(s) still open", P->nmarks);
            if (P->sp != 1)
                return perr(P, LC_EFORMAT, "STOP with %zu values on the stack (1 expected)", P->sp);
            P->p->root = P->stack[0];
            P->p->end = P->pos;
            return 0;
        case '(': /* MARK */
            if (P->nmarks >= P->max_depth)
                return perr(P, LC_EUNSUPPORTED, "MARKs nested deeper than %zu (the limit)", P->max_depth);
            if (P->nmarks == P->mcap) {
                size_t nc = P->mcap ? P->mcap * 2 : 16;
                if ((rc = charge(P->p, (nc - P->mcap) * sizeof(size_t), P->err, at(P)))) return rc;
                size_t *m = realloc(P->marks, nc * sizeof(size_t));
                if (!m) return perr(P, LC_ENOMEM, "out of memory reading pickle");
                P->marks = m;
                P->mcap = nc;
            }
            P->marks[P->nmarks++] = P->sp;
            break;
        case '0': /* POP: the top value, or the mark when nothing is above it */
            if (P->sp > fence(P)) P->sp--;
            else if ((rc = pop_mark(P, &start))) return rc;
            break;
        case '1': /* POP_MARK */
            if ((rc = pop_mark(P, &start))) return rc;
            P->sp = start;
            break;
        case '2': /* DUP */
            if ((rc = top(P, &a)) || (rc = push(P, a))) return rc;
            break;
        case 'N':
            if ((rc = push(P, new_value(P, LC_PICKLE_NONE)))) return rc;
            break;
        case 0x88:
        case 0x89:
            if ((rc = push_int(P, LC_PICKLE_BOOL, c == 0x88))) return rc;
            break;
        case 'I': /* INT: decimal; "01"/"00" are True/False */
            if ((rc = take_line(P, &s, &n))) return rc;
            if (n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) rc = push_int(P, LC_PICKLE_BOOL, s[1] == '1');
            else if ((rc = parse_dec(s, n, 0, &iv)) == 0) rc = push_int(P, LC_PICKLE_INT, iv);
            else if (rc == -2) return perr(P, LC_EUNSUPPORTED, "INT beyond 64 bits");
            else return perr(P, LC_EFORMAT, "INT operand is not a decimal number");
            if (rc) return rc;
            break;
        case 'L':
            if ((rc = take_line(P, &s, &n))) return rc;
            if ((rc = parse_dec(s, n, 1, &iv)) == -2) return perr(P, LC_EUNSUPPORTED, "LONG beyond 64 bits");
            if (rc) return perr(P, LC_EFORMAT, "LONG operand is not a decimal number");
            if ((rc = push_int(P, LC_PICKLE_INT, iv))) return rc;
            break;
        case 'J':
            if ((rc = take(P, 4, &s))) return rc;
            if ((rc = push_int(P, LC_PICKLE_INT, (int32_t)(uint32_t)rd_le(s, 4)))) return rc;
            break;
        case 'K':
        case 'M':
            if ((rc = take(P, c == 'K' ? 1 : 2, &s))) return rc;
            if ((rc = push_int(P, LC_PICKLE_INT, (int64_t)rd_le(s, c == 'K' ? 1 : 2)))) return rc;
            break;
        case 0x8a:
            if ((rc = take(P, 1, &s)) || (rc = long_op(P, s[0]))) return rc;
            break;
        case 0x8b: {
            if ((rc = take(P, 4, &s))) return rc;
            int32_t len = (int32_t)(uint32_t)rd_le(s, 4);
            if (len < 0) return perr(P, LC_EFORMAT, "LONG4 has a negative length");
            if ((rc = long_op(P, (uint64_t)len))) return rc;
            break;
        }
        case 'F': {
            if ((rc = take_line(P, &s, &n))) return rc;
            char buf[64];
            if (n == 0 || n >= sizeof buf) return perr(P, LC_EFORMAT, "FLOAT operand is not a number");
            memcpy(buf, s, n);
            buf[n] = '\0';
            char *end;
            double f = strtod(buf, &end);
            if (end != buf + n) return perr(P, LC_EFORMAT, "FLOAT operand is not a number");
            if ((rc = push_float(P, f))) return rc;
            break;
        }
        case 'G': {
            if ((rc = take(P, 8, &s))) return rc;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = u << 8 | s[i];
            double f;
            memcpy(&f, &u, 8);
            if ((rc = push_float(P, f))) return rc;
            break;
        }
        case 'S':
            if ((rc = string_text_op(P))) return rc;
            break;
        case 'T':
        case 'U': {
            if ((rc = take(P, c == 'T' ? 4 : 1, &s))) return rc;
            int64_t len = c == 'T' ? (int32_t)(uint32_t)rd_le(s, 4) : s[0];
            if (len < 0) return perr(P, LC_EFORMAT, "BINSTRING has a negative length");
            if ((rc = take(P, (uint64_t)len, &s)) || (rc = new_str(P, LC_PICKLE_STR, s, (size_t)len))) return rc;
            break;
        }
        case 'B':
        case 'C':
        case 0x8e:
        case 0x96: {
            unsigned w = c == 'C' ? 1 : c == 'B' ? 4 : 8;
            if ((rc = take(P, w, &s))) return rc;
            uint64_t len = rd_le(s, w);
            if ((rc = take(P, len, &s)) || (rc = new_str(P, LC_PICKLE_BYTES, s, (size_t)len))) return rc;
            if (c == 0x96) P->stack[P->sp - 1]->flags |= LC_PICKLE_BYTEARRAY;
            break;
        }
        case 'V':
            if ((rc = unicode_text_op(P))) return rc;
            break;
        case 'X':
        case 0x8c:
        case 0x8d: {
            unsigned w = c == 0x8c ? 1 : c == 'X' ? 4 : 8;
            if ((rc = take(P, w, &s)) || (rc = unicode_op(P, rd_le(s, w)))) return rc;
            break;
        }
        case ')':
        case ']':
        case '}':
        case 0x8f: {
            int t = c == ')' ? LC_PICKLE_TUPLE : c == ']' ? LC_PICKLE_LIST : c == '}' ? LC_PICKLE_DICT : LC_PICKLE_SET;
            if ((rc = push(P, new_value(P, t)))) return rc;
            break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {
            size_t k = c - 0x84;
            if (P->sp - fence(P) < k)
                return perr(P, LC_EFORMAT, "%s needs %zu values on the stack%s", P->opname, k,
                            P->nmarks ? " above the last MARK" : "");
            value *t = new_seq(P, LC_PICKLE_TUPLE, P->stack + P->sp - k, k);
            P->sp -= k;
            if ((rc = push(P, t))) return rc;
            break;
        }
        case 't':
        case 'l':
        case 'd':
        case 0x91: {
            if ((rc = pop_mark(P, &start))) return rc;
            n = P->sp - start;
            if (c == 'd' && n % 2) return perr(P, LC_EFORMAT, "DICT has an odd number of values");
            int t = c == 't' ? LC_PICKLE_TUPLE : c == 'l' ? LC_PICKLE_LIST : c == 'd' ? LC_PICKLE_DICT : LC_PICKLE_SET;
            value *v = new_seq(P, t, P->stack + start, n);
            P->sp = start;
            if (v && c == 0x91) v->flags |= LC_PICKLE_FROZEN;
            if ((rc = push(P, v))) return rc;
            break;
        }
        case 'a':
            if ((rc = pop(P, &a)) || (rc = top(P, &b)) || (rc = append_to(P, b, &a, 1))) return rc;
            break;
        case 's': {
            value *kv[2];
            if ((rc = pop(P, &kv[1])) || (rc = pop(P, &kv[0])) || (rc = top(P, &b)) || (rc = setitems_to(P, b, kv, 2)))
                return rc;
            break;
        }
        case 'e':
        case 'u':
        case 0x90:
            if ((rc = marked_into(P, c))) return rc;
            break;
        case 'p':
        case 'q':
        case 'r': {
            uint64_t idx;
            if (c == 'p') rc = text_index(P, &idx);
            else if (!(rc = take(P, c == 'q' ? 1 : 4, &s))) idx = rd_le(s, c == 'q' ? 1 : 4);
            if (rc || (rc = memo_put(P, idx))) return rc;
            break;
        }
        case 0x94:
            if ((rc = memo_put(P, P->memo_count))) return rc;
            break;
        case 'g':
        case 'h':
        case 'j': {
            uint64_t idx;
            if (c == 'g') rc = text_index(P, &idx);
            else if (!(rc = take(P, c == 'h' ? 1 : 4, &s))) idx = rd_le(s, c == 'h' ? 1 : 4);
            if (rc || (rc = memo_get(P, idx))) return rc;
            break;
        }
        case 'c':
        case 'i': {
            const uint8_t *m, *nm;
            size_t ml, nl;
            if ((rc = take_line(P, &m, &ml)) || (rc = take_line(P, &nm, &nl)) || (rc = global_op(P, m, ml, nm, nl, &a)))
                return rc;
            if (c == 'c') {
                if ((rc = push(P, a))) return rc;
                break;
            }
            if ((rc = pop_mark(P, &start))) return rc; /* INST: args above the mark */
            b = new_seq(P, LC_PICKLE_TUPLE, P->stack + start, P->sp - start);
            P->sp = start;
            if (!b) return P->err ? P->err->code : LC_ENOMEM;
            if ((rc = new_object(P, LC_PICKLE_INST, a, b, NULL))) return rc;
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if ((rc = pop(P, &b)) || (rc = pop(P, &a))) return rc;
            if (a->type != LC_PICKLE_UNICODE || b->type != LC_PICKLE_UNICODE)
                return perr(P, LC_EFORMAT, "STACK_GLOBAL needs two strings");
            if ((rc = global_op(P, a->u.str.data, a->u.str.len, b->u.str.data, b->u.str.len, &c3)) ||
                (rc = push(P, c3)))
                return rc;
            break;
        case 'o': /* OBJ: MARK cls args... */
            if ((rc = pop_mark(P, &start))) return rc;
            if (P->sp == start) return perr(P, LC_EFORMAT, "OBJ without a class");
            b = new_seq(P, LC_PICKLE_TUPLE, P->stack + start + 1, P->sp - start - 1);
            a = P->stack[start];
            P->sp = start;
            if (!b) return P->err ? P->err->code : LC_ENOMEM;
            if ((rc = new_object(P, LC_PICKLE_INST, a, b, NULL))) return rc;
            break;
        case 'R':
        case 0x81:
            if ((rc = pop(P, &b)) || (rc = pop(P, &a)) ||
                (rc = new_object(P, c == 'R' ? LC_PICKLE_REDUCE : LC_PICKLE_NEWOBJ, a, b, NULL)))
                return rc;
            break;
        case 0x92:
            if ((rc = pop(P, &c3)) || (rc = pop(P, &b)) || (rc = pop(P, &a)) ||
                (rc = new_object(P, LC_PICKLE_NEWOBJ, a, b, c3)))
                return rc;
            break;
        case 'b': /* BUILD: record the state on the object */
            if ((rc = pop(P, &b)) || (rc = top(P, &a))) return rc;
            if (a->type != LC_PICKLE_OBJECT)
                return perr(P, LC_EFORMAT, "BUILD on %s %s", type_article(a->type), lc_pickle_type_name(a->type));
            if (a->u.obj.state)
                return perr(P, LC_EUNSUPPORTED, "a second BUILD on the object made at byte %lld",
                            (long long)a->offset);
            a->u.obj.state = b;
            break;
        case 'Q':
        case 'P':
            if (c == 'Q') {
                if ((rc = pop(P, &a))) return rc;
            } else {
                if ((rc = take_line(P, &s, &n))) return rc;
                for (size_t i = 0; i < n; i++)
                    if (s[i] >= 0x80) return perr(P, LC_EFORMAT, "PERSID operand is not ASCII");
                if ((rc = new_str(P, LC_PICKLE_UNICODE, s, n))) return rc;
                a = P->stack[--P->sp];
            }
            b = new_value(P, LC_PICKLE_PERSID);
            if (b) b->u.pid = a;
            if ((rc = push(P, b))) return rc;
            break;
        case 0x82:
        case 0x83:
        case 0x84:
            if ((rc = take(P, c == 0x82 ? 1 : c == 0x83 ? 2 : 4, &s))) return rc;
            return perr(P, LC_EUNSUPPORTED, "%s (the copyreg extension registry) is not supported", P->opname);
        default: /* NEXT_BUFFER, READONLY_BUFFER */
            return perr(P, LC_EUNSUPPORTED, "%s (out-of-band buffers) is not supported", P->opname);
        }
    }
}

int lc_pickle_parse(struct lc_pickle **out, const void *data, size_t len,
                    const struct lc_pickle_opts *opts, const char *name, struct lc_err *err)
{
    static const struct lc_pickle_opts defaults;
    const struct lc_pickle_opts *o = opts ? opts : &defaults;
    struct lc_err local;
    if (!err) err = &local; /* the parser reads codes back from it */
    *out = NULL;
    struct lc_pickle *p = calloc(1, sizeof *p);
    if (!p) return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
    if (name && !(p->name = strdup(name))) {
        free(p);
        return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
    }
    p->base = o->base_offset;
    p->limit = o->max_alloc ? o->max_alloc
               : len > (UINT64_MAX - (1u << 20)) / 32 ? UINT64_MAX : (1u << 20) + 32 * (uint64_t)len;
    struct parser P = {
        .p = p,
        .err = err,
        .b = data,
        .len = len,
        .allow = o->allow,
        .max_depth = o->max_depth ? o->max_depth : 1024,
        .max_stack = o->max_stack ? o->max_stack : (size_t)1 << 20,
        .max_memo = o->max_memo ? o->max_memo : len > 64 ? len : 64,
    };
    /* a stack from the start: `P.stack + start` on an empty stack must not
     * be arithmetic on a null pointer */
    int rc = grow(p, &P.stack, &P.scap, 1, err, 0);
    if (!rc) rc = run(&P);
    if (!rc && P.pos != len && !o->allow_trailing) {
        P.op = P.pos;
        rc = perr(&P, LC_EFORMAT, "%zu bytes of trailing data after STOP", len - P.pos);
    }
    free(P.stack);
    free(P.marks);
    free(P.memo);
    p->used -= (uint64_t)P.scap * sizeof(value *) + (uint64_t)P.mcap * sizeof(size_t) +
               (uint64_t)P.memo_cap * sizeof(value *);
    if (rc) {
        lc_pickle_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

const struct lc_pickle_value *lc_pickle_root(const struct lc_pickle *p) { return p->root; }
size_t lc_pickle_end(const struct lc_pickle *p) { return p->end; }
int lc_pickle_proto(const struct lc_pickle *p) { return p->proto; }

const char *lc_pickle_type_name(int type)
{
    static const char *names[] = {"?",     "none",  "bool", "int",  "float",  "bytes",  "str",   "unicode",
                                  "tuple", "list",  "dict", "set",  "global", "object", "persistent id"};
    return type > 0 && type < (int)(sizeof names / sizeof *names) ? names[type] : "?";
}

/* ------------------------------------------------------------ helpers */

size_t lc_pickle_len(const value *v)
{
    if (!v) return 0;
    if (has_items(v->type)) return v->u.seq.len;
    if (v->type == LC_PICKLE_BYTES || v->type == LC_PICKLE_STR || v->type == LC_PICKLE_UNICODE) return v->u.str.len;
    return 0;
}

const value *lc_pickle_item(const value *v, size_t i)
{
    if (!v || (v->type != LC_PICKLE_TUPLE && v->type != LC_PICKLE_LIST && v->type != LC_PICKLE_SET)) return NULL;
    return i < v->u.seq.len ? v->u.seq.items[i] : NULL;
}

const value *lc_pickle_dict(const value *v)
{
    if (!v) return NULL;
    if (v->type == LC_PICKLE_DICT) return v;
    if (v->type == LC_PICKLE_OBJECT) return v->u.obj.dictitems;
    return NULL;
}

int lc_pickle_pair(const value *v, size_t i, const value **key, const value **val)
{
    v = lc_pickle_dict(v);
    if (!v || i >= v->u.seq.len) return -1;
    if (key) *key = v->u.seq.items[2 * i];
    if (val) *val = v->u.seq.items[2 * i + 1];
    return 0;
}

static int str_eq(const value *v, const char *s, int bytes_too)
{
    if (!v || !s) return 0;
    if (v->type != LC_PICKLE_UNICODE && v->type != LC_PICKLE_STR && !(bytes_too && v->type == LC_PICKLE_BYTES))
        return 0;
    size_t n = strlen(s);
    return v->u.str.len == n && memcmp(v->u.str.data, s, n) == 0;
}

int lc_pickle_str_eq(const value *v, const char *s) { return str_eq(v, s, 0); }

const value *lc_pickle_get(const value *v, const char *key)
{
    v = lc_pickle_dict(v);
    if (!v) return NULL;
    for (size_t i = v->u.seq.len; i-- > 0;)
        if (str_eq(v->u.seq.items[2 * i], key, 1)) return v->u.seq.items[2 * i + 1];
    return NULL;
}

int lc_pickle_is_global(const value *v, const char *qualname)
{
    if (!v || v->type != LC_PICKLE_GLOBAL || !qualname) return 0;
    size_t ml = strlen(v->u.global.module);
    return strncmp(qualname, v->u.global.module, ml) == 0 && qualname[ml] == '.' &&
           strcmp(qualname + ml + 1, v->u.global.name) == 0;
}

int lc_pickle_is_call(const value *v, const char *qualname)
{
    return v && v->type == LC_PICKLE_OBJECT && lc_pickle_is_global(v->u.obj.callable, qualname);
}

int lc_pickle_int(const value *v, int64_t *out)
{
    if (!v || (v->type != LC_PICKLE_INT && v->type != LC_PICKLE_BOOL)) return -1;
    *out = v->u.i;
    return 0;
}

/* "a list", "an object made by numpy.dtype", ... for error messages. */
static const char *describe(const value *v, char *buf, size_t size)
{
    if (!v) return "nothing";
    if (v->type == LC_PICKLE_OBJECT && v->u.obj.callable->type == LC_PICKLE_GLOBAL)
        snprintf(buf, size, "an object made by %s.%s", v->u.obj.callable->u.global.module,
                 v->u.obj.callable->u.global.name);
    else if (v->type == LC_PICKLE_GLOBAL)
        snprintf(buf, size, "the global %s.%s", v->u.global.module, v->u.global.name);
    else
        snprintf(buf, size, "%s %s", type_article(v->type), lc_pickle_type_name(v->type));
    return buf;
}

int lc_pickle_as_bytes(struct lc_pickle *p, const value *v, const uint8_t **data, size_t *len,
                       struct lc_err *err)
{
    static const uint8_t empty[1];
    char what[400];
    struct lc_err local;
    if (!err) err = &local;
    if (v && (v->type == LC_PICKLE_BYTES || v->type == LC_PICKLE_STR)) {
        *data = v->u.str.data;
        *len = v->u.str.len;
        return 0;
    }
    if (v && v->type == LC_PICKLE_OBJECT && v->how == LC_PICKLE_REDUCE && !v->u.obj.state &&
        !v->u.obj.listitems && !v->u.obj.dictitems) {
        if (v->u.obj.conv) {
            *data = v->u.obj.conv->u.str.data;
            *len = v->u.obj.conv->u.str.len;
            return 0;
        }
        const value *args = v->u.obj.args;
        if ((lc_pickle_is_call(v, "builtins.bytes") || lc_pickle_is_call(v, "__builtin__.bytes")) &&
            args->u.seq.len == 0) {
            *data = empty;
            *len = 0;
            return 0;
        }
        const value *text = lc_pickle_item(args, 0), *enc = lc_pickle_item(args, 1);
        if (lc_pickle_is_call(v, "_codecs.encode") && args->u.seq.len == 2 && text &&
            text->type == LC_PICKLE_UNICODE && (lc_pickle_str_eq(enc, "latin1") || lc_pickle_str_eq(enc, "latin-1"))) {
            const uint8_t *s = text->u.str.data;
            size_t n = text->u.str.len, k = 0;
            uint8_t *o = blob_alloc(p, n, err, v->offset);
            if (!o) return err ? err->code : LC_ENOMEM;
            for (size_t i = 0; i < n; k++) { /* text is valid UTF-8: only the range needs a check */
                if (s[i] < 0x80) o[k] = s[i++];
                else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n) {
                    o[k] = (uint8_t)((s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f));
                    i += 2;
                } else
                    return lc_errf(err, LC_EFORMAT, p->name, -1, v->offset,
                                   "_codecs.encode(..., 'latin1') text has a character beyond U+00FF");
            }
            value *conv = value_alloc(p, LC_PICKLE_BYTES, err, v->offset);
            if (!conv) return err ? err->code : LC_ENOMEM;
            conv->u.str.data = o;
            conv->u.str.len = k;
            ((value *)v)->u.obj.conv = conv; /* a cache: p owns v */
            *data = o;
            *len = k;
            return 0;
        }
    }
    return lc_errf(err, LC_EFORMAT, p->name, -1, v ? v->offset : -1, "expected bytes, found %s",
                   describe(v, what, sizeof what));
}

static int np_err(struct lc_pickle *p, const value *v, struct lc_err *err, int code, const char *what)
{
    return lc_errf(err, code, p->name, -1, v ? v->offset : -1, "numpy array: %s", what);
}

/* dtype(kind+size) with BUILD state (version, byteorder, subarray, names,
 * fields, elsize, alignment, flags[, metadata]). */
static int np_dtype(struct lc_pickle *p, const value *d, struct lc_pickle_ndarray *out, struct lc_err *err)
{
    if (!lc_pickle_is_call(d, "numpy.dtype")) {
        char what[400];
        char msg[480];
        snprintf(msg, sizeof msg, "dtype is %s", describe(d, what, sizeof what));
        return np_err(p, d, err, LC_EFORMAT, msg);
    }
    const value *spec = lc_pickle_item(d->u.obj.args, 0), *st = d->u.obj.state;
    if (!spec || (spec->type != LC_PICKLE_UNICODE && spec->type != LC_PICKLE_STR) || spec->u.str.len < 2 ||
        spec->u.str.len > 6)
        return np_err(p, d, err, LC_EFORMAT, "dtype without a type code");
    char code[8];
    memcpy(code, spec->u.str.data, spec->u.str.len);
    code[spec->u.str.len] = '\0';
    char kind = code[0];
    unsigned size = 0;
    for (const char *c = code + 1; *c; c++) {
        if (*c < '0' || *c > '9') return np_err(p, d, err, LC_EUNSUPPORTED, "dtype code not understood");
        size = size * 10 + (unsigned)(*c - '0');
    }
    if (!st || st->type != LC_PICKLE_TUPLE || st->u.seq.len < 2) return np_err(p, d, err, LC_EFORMAT, "dtype without its state");
    const value *order = st->u.seq.items[1];
    if ((order->type != LC_PICKLE_UNICODE && order->type != LC_PICKLE_STR) || order->u.str.len != 1)
        return np_err(p, d, err, LC_EFORMAT, "dtype byte order is not a character");
    for (size_t i = 2; i < 5 && i < st->u.seq.len; i++)
        if (st->u.seq.items[i]->type != LC_PICKLE_NONE)
            return np_err(p, d, err, LC_EUNSUPPORTED, "structured and sub-array dtypes are not supported");
    char bo = (char)order->u.str.data[0];
    if (bo == '>' && size > 1) return np_err(p, d, err, LC_EUNSUPPORTED, "big-endian data is not supported");
    if (bo != '<' && bo != '|' && bo != '=' && bo != '>') return np_err(p, d, err, LC_EFORMAT, "dtype byte order not understood");
    out->kind = kind;
    out->itemsize = size;
    if (kind == 'O') {
        out->dtype = -1;
        return 0;
    }
    char descr[16];
    snprintf(descr, sizeof descr, "<%c%u", kind == 'b' ? 'u' : kind, size);
    out->dtype = (kind == 'b' && size != 1) || (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
                     ? -1
                     : lc_dtype_from_npy(descr);
    out->is_bool = kind == 'b';
    if (out->dtype < 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "dtype '%s' is not supported", code);
        return np_err(p, d, err, LC_EUNSUPPORTED, msg);
    }
    return 0;
}

int lc_pickle_ndarray(struct lc_pickle *p, const value *v, struct lc_pickle_ndarray *out, struct lc_err *err)
{
    memset(out, 0, sizeof *out);
    const value *shape = NULL, *dtype, *raw, *fort = NULL;
    if (lc_pickle_is_call(v, "numpy.core.multiarray._reconstruct") ||
        lc_pickle_is_call(v, "numpy._core.multiarray._reconstruct")) {
        const value *st = v->u.obj.state;
        if (!st || st->type != LC_PICKLE_TUPLE || (st->u.seq.len != 5 && st->u.seq.len != 4))
            return np_err(p, v, err, LC_EFORMAT, "state is not (version, shape, dtype, is_fortran, data)");
        value *const *it = st->u.seq.items + (st->u.seq.len == 5);
        shape = it[0], dtype = it[1], fort = it[2], raw = it[3];
        if (shape->type != LC_PICKLE_TUPLE) return np_err(p, v, err, LC_EFORMAT, "shape is not a tuple");
        if (fort->type != LC_PICKLE_BOOL && fort->type != LC_PICKLE_INT)
            return np_err(p, v, err, LC_EFORMAT, "is_fortran is not a bool");
    } else if (lc_pickle_is_call(v, "numpy.core.multiarray.scalar") ||
               lc_pickle_is_call(v, "numpy._core.multiarray.scalar")) {
        if (v->u.obj.args->u.seq.len != 2) return np_err(p, v, err, LC_EFORMAT, "scalar arguments are not (dtype, data)");
        dtype = v->u.obj.args->u.seq.items[0];
        raw = v->u.obj.args->u.seq.items[1];
    } else {
        char what[400], msg[480];
        snprintf(msg, sizeof msg, "expected a numpy array, found %s", describe(v, what, sizeof what));
        return lc_errf(err, LC_EFORMAT, p->name, -1, v ? v->offset : -1, "%s", msg);
    }
    int rc = np_dtype(p, dtype, out, err);
    if (rc) return rc;
    out->fortran = fort && fort->u.i != 0;
    unsigned __int128 numel = 1;
    if (shape) {
        if (shape->u.seq.len > LC_PICKLE_MAX_RANK) return np_err(p, v, err, LC_EUNSUPPORTED, "too many dimensions");
        out->rank = (unsigned)shape->u.seq.len;
        for (unsigned i = 0; i < out->rank; i++) {
            const value *d = shape->u.seq.items[i];
            if (d->type != LC_PICKLE_INT || d->u.i < 0) return np_err(p, v, err, LC_EFORMAT, "shape is not a tuple of sizes");
            out->dims[i] = (uint64_t)d->u.i;
            numel *= out->dims[i];
            if (numel > UINT64_MAX) return np_err(p, v, err, LC_EFORMAT, "array size overflows");
        }
    }
    out->numel = (uint64_t)numel;
    if (out->kind == 'O') {
        if (!shape) return np_err(p, v, err, LC_EUNSUPPORTED, "object scalars are not supported");
        if (raw->type != LC_PICKLE_LIST || raw->u.seq.len != out->numel)
            return np_err(p, v, err, LC_EFORMAT, "object array data is not a list of its items");
        out->objects = raw;
        return 0;
    }
    size_t n;
    if ((rc = lc_pickle_as_bytes(p, raw, &out->data, &n, err))) return rc;
    out->nbytes = n;
    if (numel * out->itemsize != n) {
        char msg[128];
        snprintf(msg, sizeof msg, "data has %zu bytes; shape and dtype need %llu", n,
                 (unsigned long long)(numel * out->itemsize));
        return np_err(p, v, err, LC_EFORMAT, msg);
    }
    return 0;
}
