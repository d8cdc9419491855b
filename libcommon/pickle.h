/* pickle: a safe reader for the part of Python's pickle format that data
 * files use (InsightFace .bin sets, numpy object arrays, PyTorch's data.pkl).
 * It never runs anything: globals must be on the caller's allowlist, and
 * REDUCE/NEWOBJ/BUILD only record an inert "object" value (callable, args,
 * state) for the caller to interpret. Spec and limits: docs/pickle.md. */
#ifndef LC_PICKLE_H
#define LC_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum lc_pickle_type {
    LC_PICKLE_NONE = 1,
    LC_PICKLE_BOOL,    /* u.i is 0 or 1 */
    LC_PICKLE_INT,     /* u.i; ints that do not fit int64_t are refused */
    LC_PICKLE_FLOAT,   /* u.f */
    LC_PICKLE_BYTES,   /* u.str: bytes (flags: LC_PICKLE_BYTEARRAY) */
    LC_PICKLE_STR,     /* u.str: a Python 2 str (8-bit, no encoding) */
    LC_PICKLE_UNICODE, /* u.str: text as UTF-8 (checked; surrogates pass) */
    LC_PICKLE_TUPLE,   /* u.seq */
    LC_PICKLE_LIST,    /* u.seq */
    LC_PICKLE_DICT,    /* u.seq: items[2k] is key k, items[2k+1] its value */
    LC_PICKLE_SET,     /* u.seq (flags: LC_PICKLE_FROZEN) */
    LC_PICKLE_GLOBAL,  /* u.global: a name the allowlist let through */
    LC_PICKLE_OBJECT,  /* u.obj: the inert result of REDUCE/NEWOBJ/INST/OBJ */
    LC_PICKLE_PERSID,  /* u.pid: a persistent id (BINPERSID/PERSID) */
};

/* LC_PICKLE_OBJECT: which opcode made it. */
enum lc_pickle_how {
    LC_PICKLE_REDUCE = 1, /* callable(*args) */
    LC_PICKLE_NEWOBJ,     /* cls.__new__(cls, *args, **kwargs) (NEWOBJ, NEWOBJ_EX) */
    LC_PICKLE_INST,       /* cls(*args) (protocol 0/1 INST and OBJ) */
};

enum lc_pickle_flags {
    LC_PICKLE_BYTEARRAY = 1 << 0, /* BYTES from BYTEARRAY8 */
    LC_PICKLE_FROZEN = 1 << 1,    /* SET from FROZENSET */
};

/* One value. Values belong to their struct lc_pickle and are read-only for
 * callers. The memo makes values shared: a value may appear in several
 * containers, and a container may even contain itself. Never recurse over
 * values without a depth bound. */
struct lc_pickle_value {
    uint8_t type;  /* enum lc_pickle_type */
    uint8_t how;   /* OBJECT: enum lc_pickle_how */
    uint8_t flags; /* enum lc_pickle_flags */
    int64_t offset; /* byte offset of the opcode that made it (plus base_offset) */
    union {
        int64_t i;
        double f;
        struct {
            const uint8_t *data; /* into the input buffer where possible */
            size_t len;
        } str;
        struct {
            struct lc_pickle_value **items;
            size_t len; /* items (DICT: pairs) */
            size_t cap;
        } seq;
        struct {
            const char *module, *name; /* NUL-terminated */
        } global;
        struct {
            struct lc_pickle_value *callable; /* usually a GLOBAL */
            struct lc_pickle_value *args;     /* a TUPLE */
            struct lc_pickle_value *kwargs;   /* NEWOBJ_EX: a DICT; else NULL */
            struct lc_pickle_value *state;    /* from BUILD, or NULL */
            struct lc_pickle_value *listitems; /* LIST of APPEND(S) on it, or NULL */
            struct lc_pickle_value *dictitems; /* DICT of SETITEM(S) on it, or NULL */
            struct lc_pickle_value *conv;     /* private: lc_pickle_as_bytes cache */
        } obj;
        struct lc_pickle_value *pid;
    } u;
};

struct lc_pickle_opts {
    /* Globals that may appear, as "module.name" (e.g. "_codecs.encode"),
     * NULL-terminated; NULL allows none. Names are compared as written in
     * the pickle: Python 2 and protocol <= 2 pickles say `__builtin__`
     * and `copy_reg` where Python 3 says `builtins` and `copyreg`.
     * "module.*" allows a whole module and "*" every global: safe, since
     * nothing is ever called, for files whose odd corners the caller
     * ignores (a Lightning checkpoint's hyper-parameters). */
    const char *const *allow;
    size_t max_depth;   /* open MARKs; 0 = 1024 */
    size_t max_stack;   /* values on the stack; 0 = 1 << 20 */
    size_t max_memo;    /* memo indices must be below this; 0 = max(len, 64) */
    uint64_t max_alloc; /* bytes this parse may allocate; 0 = 1 MiB + 32 * len */
    int64_t base_offset; /* added to every offset (pickles inside other files) */
    int allow_trailing;  /* accept bytes after STOP (lc_pickle_end says where) */
};

/* "module.name" entries for numpy arrays and scalars (numpy 1.x and 2.x
 * module paths) and for Python 3's protocol <= 2 bytes (`_codecs.encode`,
 * `__builtin__.bytes`, `builtins.bytes`). NULL-terminated. */
extern const char *const lc_pickle_allow_numpy[];

struct lc_pickle;

/* Parse the pickle in data[0..len) (opts may be NULL for the defaults).
 * *out owns every value; bytes-like values point into data, which the
 * caller keeps alive and unchanged for the life of *out. name is used in
 * errors. Errors (err->offset is the opcode's offset plus base_offset):
 * LC_ETRUNC input ends inside an opcode or before STOP; LC_EFORMAT bad
 * opcode, operand, stack use, or trailing bytes; LC_EUNSUPPORTED a global
 * not on the allowlist, an opcode outside the subset, an int beyond 64
 * bits, or a limit exceeded; LC_ENOMEM. */
int lc_pickle_parse(struct lc_pickle **out, const void *data, size_t len,
                    const struct lc_pickle_opts *opts, const char *name,
                    struct lc_err *err);
/* NULL is a no-op. */
void lc_pickle_free(struct lc_pickle *p);

/* The value STOP returned. */
const struct lc_pickle_value *lc_pickle_root(const struct lc_pickle *p);
/* Offset just past STOP (relative to data, without base_offset). */
size_t lc_pickle_end(const struct lc_pickle *p);
/* Highest PROTO seen (0 when none: protocol 0 or 1). */
int lc_pickle_proto(const struct lc_pickle *p);

/* "none", "bool", ..., "object"; "?" for other codes. */
const char *lc_pickle_type_name(int type);

/* ---- access helpers. All take NULL and the wrong type quietly. */

/* Items of a TUPLE/LIST/SET, pairs of a DICT, bytes of BYTES/STR/UNICODE;
 * 0 for other types. */
size_t lc_pickle_len(const struct lc_pickle_value *v);
/* Item i of a TUPLE/LIST/SET; NULL if v is not one or i is out of range. */
const struct lc_pickle_value *lc_pickle_item(const struct lc_pickle_value *v, size_t i);
/* The pairs of v: v itself if it is a DICT, the SETITEM(S) of an OBJECT
 * (collections.OrderedDict pickles so); NULL otherwise. */
const struct lc_pickle_value *lc_pickle_dict(const struct lc_pickle_value *v);
/* Pair i of lc_pickle_dict(v), in pickle order; 0 or -1 if out of range. */
int lc_pickle_pair(const struct lc_pickle_value *v, size_t i,
                   const struct lc_pickle_value **key, const struct lc_pickle_value **val);
/* Value of the string key (UNICODE, STR or BYTES, compared bytewise) in
 * lc_pickle_dict(v); duplicate keys are kept, the last one wins; NULL. */
const struct lc_pickle_value *lc_pickle_get(const struct lc_pickle_value *v, const char *key);
/* 1 if v is UNICODE or STR equal to s. */
int lc_pickle_str_eq(const struct lc_pickle_value *v, const char *s);
/* 1 if v is the GLOBAL "module.name". */
int lc_pickle_is_global(const struct lc_pickle_value *v, const char *qualname);
/* 1 if v is an OBJECT whose callable is the GLOBAL "module.name". */
int lc_pickle_is_call(const struct lc_pickle_value *v, const char *qualname);
/* INT or BOOL into *out: 0, or -1 for other types. */
int lc_pickle_int(const struct lc_pickle_value *v, int64_t *out);

/* The bytes v stands for: BYTES and STR as they are; Python 3's protocol
 * <= 2 spelling `_codecs.encode(text, 'latin1')` decoded (each code point
 * must be below 256); `bytes()` as empty. The bytes belong to p (decoded
 * ones are made once and cached, so calls on one p must not run
 * concurrently). Errors: LC_EFORMAT (naming v's offset) for anything else. */
int lc_pickle_as_bytes(struct lc_pickle *p, const struct lc_pickle_value *v,
                       const uint8_t **data, size_t *len, struct lc_err *err);

#define LC_PICKLE_MAX_RANK 16

/* A numpy array or scalar as pickled by numpy: an OBJECT calling
 * `numpy.core.multiarray._reconstruct` with BUILD state (version, shape,
 * dtype, is_fortran, rawdata) (the version may be missing), or calling
 * `numpy.core.multiarray.scalar` with (dtype, rawdata) (rank 0); the dtype
 * is an OBJECT calling `numpy.dtype` with its own BUILD state. */
struct lc_pickle_ndarray {
    int dtype;          /* enum lc_dtype; bool is LC_DTYPE_U8 with is_bool;
                           -1 for object arrays */
    int is_bool;
    char kind;          /* numpy's dtype.kind: 'f', 'i', 'u', 'b' or 'O' */
    unsigned itemsize;
    unsigned rank;
    uint64_t dims[LC_PICKLE_MAX_RANK];
    uint64_t numel;
    int fortran;        /* data is in column-major order */
    const uint8_t *data; /* numel * itemsize little-endian bytes, unaligned,
                            owned by p or the input; NULL for object arrays */
    uint64_t nbytes;
    const struct lc_pickle_value *objects; /* object arrays: the LIST of numel items */
};

/* Describe the numpy array v (see above). Errors (naming v's offset):
 * LC_EFORMAT not an array, or state and data disagree; LC_EUNSUPPORTED
 * big-endian, structured, string, complex or datetime dtypes. */
int lc_pickle_ndarray(struct lc_pickle *p, const struct lc_pickle_value *v,
                      struct lc_pickle_ndarray *out, struct lc_err *err);

#endif
