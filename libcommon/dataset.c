/* dataset: an index over a source's images (labels, keys, and where each
 * image lives: a RecordIO offset, a file, or a slice of an in-memory copy). */
#include "dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "io.h"
#include "recordio.h"
#include "source.h"

enum { MODE_RECORDIO, MODE_FILES, MODE_MEMORY };

struct item {
    int64_t label;
    uint64_t where; /* RecordIO offset, or offset into the memory copy */
    uint32_t key;   /* offset of the key in the key arena */
    uint32_t len;   /* bytes in memory mode */
    uint8_t codec;
    uint16_t dims[3];
};

struct lc_dataset {
    int mode;
    char root[4096];
    struct item *v;
    size_t n, cap;
    char *keys;
    size_t keys_len, keys_cap;
    uint8_t *mem;
    size_t mem_len, mem_cap;
    int64_t classes;
    char *meta;
    struct lc_rec_reader *rec;
    pthread_mutex_t mu;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

int lc_dataset_open(struct lc_dataset **out, const char *path, struct lc_err *err)
{
    *out = NULL;
    struct lc_source *s;
    int rc = lc_source_open(&s, path, err);
    if (rc) return rc;
    struct lc_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        lc_source_close(s);
        return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    }
    pthread_mutex_init(&d->mu, NULL);
    d->mode = lc_source_indexed(s) ? MODE_RECORDIO : lc_source_type(s) == LC_SOURCE_FOLDER ? MODE_FILES : MODE_MEMORY;
    snprintf(d->root, sizeof d->root, "%s", lc_source_path(s));
    d->meta = strdup(lc_source_meta(s));
    if (d->mode == MODE_FILES) lc_source_set_skip_data(s, 1);
    struct lc_source_item it;
    int64_t max_label = -1;
    while ((rc = lc_source_next(s, &it, err)) == 1) {
        size_t kl = strlen(it.key) + 1;
        if (grow((void **)&d->v, &d->cap, d->n + 1, sizeof *d->v) || grow((void **)&d->keys, &d->keys_cap, d->keys_len + kl, 1) ||
            d->keys_len + kl > UINT32_MAX) {
            rc = lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory indexing the dataset");
            break;
        }
        struct item *x = &d->v[d->n];
        memset(x, 0, sizeof *x);
        x->label = it.label;
        x->key = (uint32_t)d->keys_len;
        memcpy(d->keys + d->keys_len, it.key, kl);
        d->keys_len += kl;
        x->codec = (uint8_t)it.codec;
        for (int k = 0; k < 3 && k < (int)it.rank; k++) x->dims[k] = (uint16_t)it.dims[k];
        if (d->mode == MODE_RECORDIO) {
            x->where = (uint64_t)it.offset;
        } else if (d->mode == MODE_MEMORY) {
            if (grow((void **)&d->mem, &d->mem_cap, d->mem_len + it.len, 1) || it.len > UINT32_MAX) {
                rc = lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory loading the dataset (%zu images so far)", d->n);
                break;
            }
            if (it.len) memcpy(d->mem + d->mem_len, it.data, it.len);
            x->where = d->mem_len;
            x->len = (uint32_t)it.len;
            d->mem_len += it.len;
        }
        if (it.label > max_label) max_label = it.label;
        d->n++;
    }
    d->classes = lc_source_classes(s) > 0 ? lc_source_classes(s) : max_label + 1;
    lc_source_close(s);
    if (!rc && d->n == 0) rc = lc_errf(err, LC_EFORMAT, path, -1, -1, "the dataset has no images");
    if (!rc && d->mode == MODE_RECORDIO) rc = lc_rec_open(&d->rec, d->root, err);
    if (rc < 0) {
        lc_dataset_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

void lc_dataset_close(struct lc_dataset *d)
{
    if (!d) return;
    lc_rec_close(d->rec);
    pthread_mutex_destroy(&d->mu);
    free(d->v);
    free(d->keys);
    free(d->mem);
    free(d->meta);
    free(d);
}

size_t lc_dataset_count(const struct lc_dataset *d) { return d->n; }
int64_t lc_dataset_classes(const struct lc_dataset *d) { return d->classes; }
int64_t lc_dataset_label(const struct lc_dataset *d, size_t i) { return d->v[i].label; }
const char *lc_dataset_meta(const struct lc_dataset *d) { return d->meta ? d->meta : ""; }

const char *lc_dataset_key(const struct lc_dataset *d, size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "%s", d->keys + d->v[i].key);
    return buf;
}

static int put(uint8_t **buf, size_t *cap, const void *p, size_t n, struct lc_err *err)
{
    if (grow((void **)buf, cap, n + 1, 1)) return lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
    if (n) memcpy(*buf, p, n);
    return 0;
}

int lc_dataset_read(struct lc_dataset *d, size_t i, uint8_t **buf, size_t *cap, size_t *len, int *codec,
                    uint32_t dims[3], struct lc_err *err)
{
    const struct item *x = &d->v[i];
    *codec = x->codec;
    for (int k = 0; k < 3; k++) dims[k] = x->dims[k];
    if (d->mode == MODE_MEMORY) {
        *len = x->len;
        return put(buf, cap, d->mem + x->where, x->len, err);
    }
    if (d->mode == MODE_RECORDIO) {
        const uint8_t *rec, *img;
        size_t rl, il;
        struct lc_irheader h;
        pthread_mutex_lock(&d->mu); /* the reader's join buffer is shared */
        int rc = lc_rec_read_at(d->rec, x->where, (int64_t)i, &rec, &rl, err);
        if (!rc) rc = lc_irheader_unpack(rec, rl, &h, &img, &il, err);
        if (!rc) {
            *len = il;
            rc = put(buf, cap, img, il, err);
        }
        pthread_mutex_unlock(&d->mu);
        return rc;
    }
    char path[8300];
    snprintf(path, sizeof path, "%s/%s", d->root, d->keys + x->key);
    int rc = lc_file_read(path, buf, cap, len, (size_t)1 << 28, err);
    if (!rc) { /* the scan did not read the files: look at the bytes now */
        int f = lc_image_sniff(*buf, *len);
        *codec = f == LC_IMAGE_JPEG ? 1 : f == LC_IMAGE_PNG ? 2 : 3;
    }
    return rc;
}
