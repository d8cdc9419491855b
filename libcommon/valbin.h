/* valbin: InsightFace verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin,
 * ...): a pickle of (bins, issame_list), 2N encoded images and N booleans,
 * pair i being images 2i and 2i+1. Read with the safe pickle reader, so a
 * hostile .bin can only fail to load; images stay in the file's bytes. */
#ifndef LC_VALBIN_H
#define LC_VALBIN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct lc_valbin {
    size_t n_pairs;         /* N */
    const uint8_t **images; /* 2N pointers to encoded image bytes (JPEG/PNG) */
    const size_t *sizes;    /* 2N byte counts */
    const uint8_t *issame;  /* N values, 0 or 1 */
    /* private fields may follow */
};

/* Accepted: the pickle (protocols 0-5) of a 2-tuple (or 2-list) whose
 * first item is a list (or tuple) of 2N non-empty bytes (Python 3 bytes,
 * Python 2 str, or Python 3 protocol 2's _codecs.encode form) and whose
 * second is N booleans: a list of bool (0/1 ints and numpy.bool_ scalars
 * too) or a 1-D numpy bool array (integer arrays of 0/1 too). N >= 1.
 * Rejected: anything else, any global beyond numpy's and _codecs.encode,
 * and bytes after the pickle's STOP (a .bin file is exactly one pickle).
 * Errors: LC_EFORMAT/LC_ETRUNC/LC_EUNSUPPORTED/LC_ENOMEM with err->offset
 * the byte offset and err->record the image or issame index where known. */

/* Load path ("-" reads stdin); the whole file is read into memory, owned
 * by *out. Errors name the path, the byte offset and the item index. */
int lc_valbin_load(struct lc_valbin **out, const char *path, struct lc_err *err);
/* The same from memory the caller keeps alive for the life of *out (tests,
 * fuzzing); name is used in errors. */
int lc_valbin_parse(struct lc_valbin **out, const void *data, size_t len, const char *name, struct lc_err *err);
/* NULL is a no-op. */
void lc_valbin_free(struct lc_valbin *v);

/* Write a .bin set: the pickle (protocol 3) of (bins, issame_list) with
 * 2N bytes objects and N bools, as Python's pickle.dump would write it;
 * atomically. */
int lc_valbin_write(const char *path, const uint8_t *const *images, const size_t *sizes, size_t n_pairs,
                    const uint8_t *issame, struct lc_err *err);

#endif
