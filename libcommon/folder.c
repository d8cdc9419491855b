/* folder: directory walking and libarchive reading for ImageFolder-layout
 * datasets. Both kinds are scanned once up front (names only), so labels
 * are known before the first image is produced. */
#include "folder.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

#define MAX_FILE (256u << 20)

struct entry {
    char *path; /* relative, with the class as first component */
    int64_t label;
};

struct lc_folder {
    char root[4096];
    int archive;
    struct archive *ar;   /* pass 2 reader */
    size_t strip;         /* bytes of a common top directory to drop (archives) */
    char **classes;
    uint64_t *class_counts;
    size_t n_classes;
    struct entry *entries; /* directories: sorted; archives: archive order */
    size_t n, cap;
    uint64_t ignored, next;
    uint8_t *buf;
    size_t buf_cap;
    char path_buf[8200];
};

static int image_name(const char *name)
{
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (base[0] == '.') return 0;
    const char *dot = strrchr(base, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (strcasecmp(dot, ext[i]) == 0) return 1;
    return 0;
}

static int add_entry(struct lc_folder *f, const char *rel, struct lc_err *err)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        struct entry *e = realloc(f->entries, cap * sizeof *e);
        if (!e) return lc_errf(err, LC_ENOMEM, f->root, -1, -1, "out of memory");
        f->entries = e;
        f->cap = cap;
    }
    char *p = strdup(rel);
    if (!p) return lc_errf(err, LC_ENOMEM, f->root, -1, -1, "out of memory");
    f->entries[f->n++] = (struct entry){p, -1};
    return 0;
}

/* Recursively collect image files under dir (relative prefix rel). */
static int walk(struct lc_folder *f, const char *rel, int depth, struct lc_err *err)
{
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", f->root, rel);
    DIR *d = opendir(full);
    if (!d) return lc_errno(err, errno, full, "cannot list directory");
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char sub[4096];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= sizeof sub) continue;
        char subfull[8192];
        snprintf(subfull, sizeof subfull, "%s/%s", f->root, sub);
        struct stat st;
        if (stat(subfull, &st) != 0) continue; /* dangling link */
        if (S_ISDIR(st.st_mode)) {
            if (depth < 32) rc = walk(f, sub, depth + 1, err);
        } else if (S_ISREG(st.st_mode) && image_name(de->d_name)) {
            if (depth == 0) f->ignored++; /* a file at the root has no class */
            else rc = add_entry(f, sub, err);
        }
    }
    closedir(d);
    return rc;
}

/* Sort as torchvision does: by class, then directory, then file name. */
static int cmp_path(const void *a, const void *b)
{
    const char *x = ((const struct entry *)a)->path, *y = ((const struct entry *)b)->path;
    const char *sx = strrchr(x, '/'), *sy = strrchr(y, '/');
    size_t dx = (size_t)(sx - x), dy = (size_t)(sy - y);
    size_t n = dx < dy ? dx : dy;
    int c = memcmp(x, y, n);
    if (c) return c;
    if (dx != dy) return dx < dy ? -1 : 1;
    return strcmp(sx + 1, sy + 1);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Class names from the entries' first components; then label each entry. */
static int assign_labels(struct lc_folder *f, struct lc_err *err)
{
    char **names = malloc((f->n ? f->n : 1) * sizeof *names);
    if (!names) return lc_errf(err, LC_ENOMEM, f->root, -1, -1, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        const char *p = f->entries[i].path + f->strip;
        const char *slash = strchr(p, '/');
        names[k] = strndup(p, (size_t)(slash - p));
        if (!names[k]) {
            for (size_t j = 0; j < k; j++) free(names[j]);
            free(names);
            return lc_errf(err, LC_ENOMEM, f->root, -1, -1, "out of memory");
        }
        k++;
    }
    qsort(names, k, sizeof *names, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u && strcmp(names[u - 1], names[i]) == 0) {
            free(names[i]);
            continue;
        }
        names[u++] = names[i];
    }
    f->classes = names;
    f->n_classes = u;
    f->class_counts = calloc(u ? u : 1, sizeof *f->class_counts);
    if (!f->class_counts) return lc_errf(err, LC_ENOMEM, f->root, -1, -1, "out of memory");
    for (size_t i = 0; i < f->n; i++) {
        const char *p = f->entries[i].path + f->strip;
        size_t len = (size_t)(strchr(p, '/') - p);
        size_t lo = 0, hi = u;
        while (lo < hi) { /* binary search among sorted class names */
            size_t mid = (lo + hi) / 2;
            int c = strncmp(names[mid], p, len);
            if (c == 0 && names[mid][len]) c = 1;
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        f->entries[i].label = (int64_t)lo;
        f->class_counts[lo]++;
    }
    return 0;
}

int lc_folder_path_is_archive(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_cpio(a);
    int ok = archive_read_open_filename(a, path, 65536) == ARCHIVE_OK;
    struct archive_entry *e;
    if (ok) ok = archive_read_next_header(a, &e) == ARCHIVE_OK || archive_errno(a) == 0;
    archive_read_free(a);
    return ok;
}

static struct archive *open_archive(const char *path, struct lc_err *err)
{
    struct archive *a = archive_read_new();
    if (!a) {
        lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
        return NULL;
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_cpio(a);
    if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
        lc_errf(err, LC_EFORMAT, path, -1, -1, "cannot read as an archive: %s", archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static int scan_archive(struct lc_folder *f, struct lc_err *err)
{
    struct archive *a = open_archive(f->root, err);
    if (!a) return err ? err->code : LC_EFORMAT;
    struct archive_entry *e;
    int r, rc = 0;
    size_t min_depth = SIZE_MAX;
    while (!rc && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const char *name = archive_entry_pathname(e);
        if (!name) continue;
        while (name[0] == '.' && name[1] == '/') name += 2;
        if (!image_name(name)) continue;
        size_t depth = 1;
        for (const char *c = name; *c; c++) depth += *c == '/';
        if (depth < 2) {
            f->ignored++;
            continue;
        }
        if (depth < min_depth) min_depth = depth;
        rc = add_entry(f, name, err);
    }
    if (!rc && r != ARCHIVE_EOF)
        rc = lc_errf(err, LC_EFORMAT, f->root, (int64_t)f->n, -1, "bad archive: %s", archive_error_string(a));
    archive_read_free(a);
    if (rc) return rc;
    /* `faces/CLASS/x.jpg` for every entry: the common top directory is not a class */
    if (f->n && min_depth >= 3) {
        const char *first = f->entries[0].path;
        size_t top = (size_t)(strchr(first, '/') - first) + 1;
        int common = 1;
        for (size_t i = 1; i < f->n && common; i++) common = strncmp(f->entries[i].path, first, top) == 0;
        if (common) f->strip = top;
    }
    return 0;
}

int lc_folder_open(struct lc_folder **out, const char *path, struct lc_err *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return lc_errno(err, errno, path, "cannot open");
    struct lc_folder *f = calloc(1, sizeof *f);
    if (!f) return lc_errf(err, LC_ENOMEM, path, -1, -1, "out of memory");
    snprintf(f->root, sizeof f->root, "%s", path);
    size_t rl = strlen(f->root);
    while (rl > 1 && f->root[rl - 1] == '/') f->root[--rl] = '\0';
    int rc;
    if (S_ISDIR(st.st_mode)) {
        rc = walk(f, "", 0, err);
        if (!rc) qsort(f->entries, f->n, sizeof *f->entries, cmp_path);
    } else {
        f->archive = 1;
        rc = scan_archive(f, err);
    }
    if (!rc) rc = assign_labels(f, err);
    if (!rc && f->n == 0)
        rc = lc_errf(err, LC_EFORMAT, path, -1, -1,
                     "no images in CLASS/IMAGE layout found (%llu image files outside class directories)",
                     (unsigned long long)f->ignored);
    if (rc) {
        lc_folder_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void lc_folder_close(struct lc_folder *f)
{
    if (!f) return;
    if (f->ar) archive_read_free(f->ar);
    for (size_t i = 0; i < f->n; i++) free(f->entries[i].path);
    for (size_t i = 0; i < f->n_classes; i++) free(f->classes[i]);
    free(f->entries);
    free(f->classes);
    free(f->class_counts);
    free(f->buf);
    free(f);
}

int lc_folder_is_archive(const struct lc_folder *f) { return f->archive; }
size_t lc_folder_num_classes(const struct lc_folder *f) { return f->n_classes; }
const char *lc_folder_class(const struct lc_folder *f, size_t i) { return i < f->n_classes ? f->classes[i] : NULL; }
uint64_t lc_folder_class_count(const struct lc_folder *f, size_t i) { return i < f->n_classes ? f->class_counts[i] : 0; }
uint64_t lc_folder_count(const struct lc_folder *f) { return f->n; }
uint64_t lc_folder_ignored(const struct lc_folder *f) { return f->ignored; }

static int grow(struct lc_folder *f, size_t n, const char *name, struct lc_err *err)
{
    if (n <= f->buf_cap) return 0;
    size_t cap = f->buf_cap ? f->buf_cap : 1 << 16;
    while (cap < n) cap *= 2;
    uint8_t *b = realloc(f->buf, cap);
    if (!b) return lc_errf(err, LC_ENOMEM, name, -1, -1, "out of memory");
    f->buf = b;
    f->buf_cap = cap;
    return 0;
}

static int read_file(struct lc_folder *f, const char *rel, struct lc_folder_item *it, struct lc_err *err)
{
    snprintf(f->path_buf, sizeof f->path_buf, "%s/%s", f->root, rel);
    size_t len;
    int rc = lc_file_read(f->path_buf, &f->buf, &f->buf_cap, &len, MAX_FILE, err);
    it->data = f->buf;
    it->len = rc ? 0 : len;
    return rc;
}

static int next(struct lc_folder *f, struct lc_folder_item *it, int want_data, struct lc_err *err)
{
    if (f->next >= f->n) return 0;
    struct entry *e = &f->entries[f->next];
    it->index = f->next;
    it->path = e->path + f->strip;
    it->label = e->label;
    it->data = NULL;
    it->len = 0;
    if (!f->archive) {
        int rc = want_data ? read_file(f, e->path, it, err) : 0;
        f->next++;
        return rc ? rc : 1;
    }
    if (!f->ar && !(f->ar = open_archive(f->root, err))) return err ? err->code : LC_EFORMAT;
    /* advance the second pass to this entry (archive order = entry order) */
    struct archive_entry *ae;
    int r;
    while ((r = archive_read_next_header(f->ar, &ae)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(ae);
        if (archive_entry_filetype(ae) != AE_IFREG || !name) continue;
        while (name[0] == '.' && name[1] == '/') name += 2;
        if (strcmp(name, e->path) != 0) continue;
        f->next++;
        if (!want_data) return 1;
        int64_t size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1;
        if (size > (int64_t)MAX_FILE)
            return lc_errf(err, LC_EFORMAT, f->root, (int64_t)it->index, -1, "%s: entry larger than 256 MiB", name);
        size_t got = 0;
        for (;;) {
            int rc = grow(f, got + 65536, f->root, err);
            if (rc) return rc;
            la_ssize_t k = archive_read_data(f->ar, f->buf + got, f->buf_cap - got);
            if (k < 0)
                return lc_errf(err, LC_EFORMAT, f->root, (int64_t)it->index, -1, "%s: %s", name, archive_error_string(f->ar));
            if (k == 0) break;
            got += (size_t)k;
            if (got > MAX_FILE) return lc_errf(err, LC_EFORMAT, f->root, (int64_t)it->index, -1, "%s: entry larger than 256 MiB", name);
        }
        it->data = f->buf;
        it->len = got;
        return 1;
    }
    return lc_errf(err, LC_EFORMAT, f->root, (int64_t)it->index, -1,
                   "archive changed between passes: %s not found again (%s)", e->path,
                   r == ARCHIVE_EOF ? "end of archive" : archive_error_string(f->ar));
}

int lc_folder_next(struct lc_folder *f, struct lc_folder_item *it, struct lc_err *err) { return next(f, it, 1, err); }
int lc_folder_skip(struct lc_folder *f, struct lc_folder_item *it, struct lc_err *err) { return next(f, it, 0, err); }
